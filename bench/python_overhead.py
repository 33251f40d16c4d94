"""The Python package's overhead over the command line on the same job, side by side.

Times, in alternation, `recur fit` (default: MiniRocket + ridge) on JapaneseVowels and the
same fit from Python (`recur.read_ts` + `SequenceClassifier().fit`), then `recur run` on the
test file against `predict_proba`; each as a whole process (interpreter start and imports
included) and, for Python, the imports and the calls alone. Prints medians and both test accuracies.
With --forecast (the CTA ridership CSV), also `recur forecast` training a linear model with
weekday features (then forecasting the week after the data with `--model`) against
`Forecaster.fit` and `predict` on the same days, and checks both forecasts are equal.

    python bench/python_overhead.py --recur target/release/recur --data ../shared/data/uea_japanese_vowels \
        [--forecast ../shared/data/cta_ridership_daily/CTA_-_Ridership_-_Daily_Boarding_Totals.csv]
"""

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PY_FIT = """
import sys, time
start = time.perf_counter()
import recur
SequenceClassifier = recur.SequenceClassifier  # imports scikit-learn's bases
t0 = time.perf_counter()
X, y = recur.read_ts(sys.argv[1])
clf = SequenceClassifier().fit(X, y)
t1 = time.perf_counter()
Xt, yt = recur.read_ts(sys.argv[2])
p = clf.predict_proba(Xt)
t2 = time.perf_counter()
print(t0 - start, t1 - t0, t2 - t1, clf.score(Xt, yt))
"""


# Forecasting: the settings both front ends train with (small enough to repeat).
FORECAST_SETTINGS = {"model": "linear", "covariates": ["weekday"], "epochs": 20, "seed": 3}
PY_FORECAST = """
import json, sys, time
import numpy as np
start = time.perf_counter()
import recur
Forecaster = recur.Forecaster
t0 = time.perf_counter()
days, values = [], []
for line in open(sys.argv[1]).read().splitlines()[1:]:
    d, v = line.split(",")
    days.append(d)
    values.append(float(v))
f = Forecaster(**json.loads(sys.argv[2])).fit(np.array(values[:-7]), dates=np.array(days[:-7], dtype="datetime64[D]"))
t1 = time.perf_counter()
forecast = f.update(np.array(values), dates=np.array(days, dtype="datetime64[D]")).predict()
t2 = time.perf_counter()
print(t0 - start, t1 - t0, t2 - t1, json.dumps(forecast.tolist()))
"""


def rail_series(cta, out):
    """The CTA rail boardings of 2016-01-01..2019-06-30, deduplicated and sorted, as
    `date,value` CSV; returns the last training day (a week before the end)."""
    rows = {}
    with open(cta, newline="") as f:
        for row in csv.DictReader(f):
            m, d, y = row["service_date"].split("/")
            rows[f"{y}-{m}-{d}"] = row["rail_boardings"]
    days = sorted(d for d in rows if "2016-01-01" <= d <= "2019-06-30")
    out.write_text("date,value\n" + "".join(f"{d},{rows[d]}\n" for d in days))
    return days[-8], days[-1]


def forecast_rows(args, tmp, rows):
    """Times `recur forecast` (train, then forecast with --model) and the Python calls."""
    series, model = Path(tmp) / "rail.csv", Path(tmp) / "f"
    train_until, last = rail_series(args.forecast, series)
    flags = ["--model", "linear", "--covariates", "weekday", "--epochs", "20", "--seed", "3"]
    for _ in range(args.repeats):
        t, _ = wall([args.recur, "forecast", "--csv", series, *flags, "--train-until", train_until,
                     "--test-until", last, "--out", model, "--force", "--quiet", "--json"])
        rows["cli forecast fit"].append(t)
        t, out = wall([args.recur, "forecast", "--model", model, "--csv", series, "--json"])
        rows["cli forecast"].append(t)
        cli_forecast = json.loads(out)["forecast"]
        t, line = wall([sys.executable, "-c", PY_FORECAST, str(series), json.dumps(FORECAST_SETTINGS)])
        imports, fit_call, predict_call, py_forecast = line.split(" ", 3)
        rows["py forecast process"].append(t)
        rows["py forecast fit call"].append(float(fit_call))
        rows["py forecast call"].append(float(predict_call))
    return cli_forecast == json.loads(py_forecast)


def wall(cmd):
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(done.stderr)
    return time.perf_counter() - start, done.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recur", required=True, help="the recur binary")
    ap.add_argument("--data", required=True, help="folder with JapaneseVowels_TRAIN.ts and _TEST.ts")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--forecast", help="the CTA ridership CSV: also time recur forecast against Forecaster")
    args = ap.parse_args()
    train = Path(args.data) / "JapaneseVowels_TRAIN.ts"
    test = Path(args.data) / "JapaneseVowels_TEST.ts"
    rows = {k: [] for k in ("cli fit", "cli run", "py process", "py imports", "py fit call", "py predict call")}
    with tempfile.TemporaryDirectory() as tmp:
        model, out = Path(tmp) / "m", Path(tmp) / "p.npy"
        for _ in range(args.repeats):
            t, _ = wall([args.recur, "fit", "--train", train, "--out", model, "--quiet", "--force"])
            rows["cli fit"].append(t)
            t, _ = wall([args.recur, "run", "--model", model, "--input", test, "--output", out])
            rows["cli run"].append(t)
            t, line = wall([sys.executable, "-c", PY_FIT, str(train), str(test)])
            imports, fit_call, predict_call, py_acc = map(float, line.split())
            rows["py process"].append(t)
            rows["py imports"].append(imports)
            rows["py fit call"].append(fit_call)
            rows["py predict call"].append(predict_call)
        _, evaluated = wall([args.recur, "eval", "--model", model, "--test", test])
        same_forecast = None
        if args.forecast:
            for k in ("cli forecast fit", "cli forecast", "py forecast process", "py forecast fit call", "py forecast call"):
                rows[k] = []
            same_forecast = forecast_rows(args, tmp, rows)
    for name, times in rows.items():
        print(f"{name:20} median {statistics.median(times):.3f} s  (min {min(times):.3f}, max {max(times):.3f})")
    print(f"python test accuracy {py_acc:.4f}; recur eval: {evaluated.splitlines()[0]}")
    if same_forecast is not None:
        print(f"forecasts of the week after the data equal: {same_forecast}")


if __name__ == "__main__":
    main()
