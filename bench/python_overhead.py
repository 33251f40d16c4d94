"""The Python package's overhead over the command line on the same job, side by side.

Times, in alternation, `recur fit` (default: MiniRocket + ridge) on JapaneseVowels and the
same fit from Python (`recur.read_ts` + `SequenceClassifier().fit`), then `recur run` on the
test file against `predict_proba`; each as a whole process (interpreter start and imports
included) and, for Python, the imports and the calls alone. Prints medians and both test accuracies.

    python bench/python_overhead.py --recur target/release/recur --data ../shared/data/uea_japanese_vowels
"""

import argparse
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
    for name, times in rows.items():
        print(f"{name:16} median {statistics.median(times):.3f} s  (min {min(times):.3f}, max {max(times):.3f})")
    print(f"python test accuracy {py_acc:.4f}; recur eval: {evaluated.splitlines()[0]}")


if __name__ == "__main__":
    main()
