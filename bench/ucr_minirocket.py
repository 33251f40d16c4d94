"""MiniRocket baseline for `recur fit` on variable-length UEA/UCR sequence classification.

sktime's `MiniRocketMultivariateVariable` (10,000 kernels; series shorter than its minimum of 9
steps are padded with 0.0 through its `pad_value_short_series`, as sktime requires) fitted on
each *_TRAIN.ts file, its features standardised (`StandardScaler`, fitted on TRAIN), then
`RidgeClassifierCV(alphas=np.logspace(-3, 3, 10))`, whose alpha is chosen by leave-one-out on
TRAIN; the *_TEST.ts file is only scored. Files are read with sktime's `load_from_tsfile`.
`train_seconds` covers the transform's fit, the TRAIN transform, scaling and the ridge fit;
`test_seconds` the TEST transform and prediction. Neither includes numba's compilation (cached on
disk after a first run): a fit on a few TRAIN series before the clock starts compiles the kernels,
and its time is reported as `warmup_seconds`.

Install (a virtual environment outside the repository is best):

    pip install "sktime==1.*" "numba==0.*" "scikit-learn==1.*" "numpy==2.*"

Usage (the default data folder is shared/data beside the repository, or beside its parent):

    python bench/ucr_minirocket.py [--data DIR] [--datasets JapaneseVowels PickupGestureWiimoteZ PLAID]
        [--threads 2] [--seed 1] [--json]
"""
import argparse
import json
import os
import sys
import time
import warnings

import numpy as np
from sklearn.linear_model import RidgeClassifierCV
from sklearn.preprocessing import StandardScaler
from sktime.datasets import load_from_tsfile

try:  # sktime >= 1.0
    from sktime.transformations.rocket import MiniRocketMultivariateVariable
except ImportError:  # sktime 0.x kept it under panel/
    from sktime.transformations.panel.rocket import MiniRocketMultivariateVariable

# sktime suggests its univariate MiniRocket for univariate data; this baseline is the variable-length one.
warnings.filterwarnings("ignore", message="X is univariate")

from ucr_data import FOLDERS, dataset_files, default_data_dir  # noqa: E402 (beside this script)


def load(path):
    """A nested DataFrame (one row per series) and its labels, or exit naming the file."""
    try:
        return load_from_tsfile(path, return_data_type="nested_univ")
    except (OSError, ValueError) as e:
        sys.exit(f"error: {path}: {e}")


def run(name, paths, args):
    """Fit on TRAIN, score on TEST; a result dict."""
    x_train, y_train = load(paths[0])
    x_test, y_test = load(paths[1])
    def minirocket():
        return MiniRocketMultivariateVariable(num_kernels=10_000, pad_value_short_series=0.0,
                                              n_jobs=args.threads, random_state=args.seed)

    start = time.perf_counter()
    minirocket().fit_transform(x_train.iloc[:4])
    warmup_seconds = time.perf_counter() - start
    start = time.perf_counter()
    rocket = minirocket()
    features = rocket.fit_transform(x_train)
    scaler = StandardScaler()
    ridge = RidgeClassifierCV(alphas=np.logspace(-3, 3, 10))
    ridge.fit(scaler.fit_transform(features), y_train)
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    predicted = ridge.predict(scaler.transform(rocket.transform(x_test)))
    test_seconds = time.perf_counter() - start
    return {"dataset": name, "accuracy": round(float(np.mean(predicted == y_test)), 4),
            "train_seconds": round(train_seconds, 1), "test_seconds": round(test_seconds, 1),
            "warmup_seconds": round(warmup_seconds, 1),
            "alpha": float(ridge.alpha_), "features": int(features.shape[1]), "threads": args.threads,
            "n_train": len(y_train), "n_test": len(y_test)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=default_data_dir(), help="folder holding the dataset folders")
    p.add_argument("--datasets", nargs="+", default=list(FOLDERS))
    p.add_argument("--threads", type=int, default=2, help="MiniRocket's n_jobs")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true", help="one JSON line per dataset")
    args = p.parse_args()
    if not os.path.isdir(args.data):
        sys.exit(f"error: data folder {args.data} not found (give it with --data)")
    paths = {name: dataset_files(args.data, name) for name in args.datasets}
    for name in args.datasets:
        r = run(name, paths[name], args)
        if args.json:
            print(json.dumps(r), flush=True)
        else:
            print(f"{name:24} MiniRocket test acc {r['accuracy']:.4f}  train {r['train_seconds']:.1f} s  "
                  f"test {r['test_seconds']:.1f} s  (alpha {r['alpha']:.3g})", flush=True)


if __name__ == "__main__":
    main()
