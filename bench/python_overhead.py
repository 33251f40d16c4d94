"""The Python package's overhead over the command line on the same job, side by side.

Times, in alternation, `recur fit` (default: MiniRocket + ridge) on JapaneseVowels and the
same fit from Python (`recur.read_ts` + `SequenceClassifier().fit`), then `recur run` on the
test file against `predict_proba`; each as a whole process (interpreter start and imports
included) and, for Python, the imports and the calls alone. Prints medians and both test accuracies.
With --forecast (the CTA ridership CSV), also `recur forecast` training a linear model with
weekday features (then forecasting the week after the data with `--model`) against
`Forecaster.fit` and `predict` on the same days, and checks both forecasts are equal.
With --sketch N, also `recur predict --json` of a sketch classifier (the default preset,
trained for one epoch by `recur train` on the generated doodles) on N doodles per class
against `recur.load` + `read_quickdraw` + `predict_proba` on the same file, and checks both
give the same probabilities. With --seq2seq, also `recur seq2seq predict` (beam 5) on 2,000
letter strings with a small model the command line trained to reverse them, against
`recur.load(model).predict`, and checks both give the same outputs.

    python bench/python_overhead.py --recur target/release/recur --data ../shared/data/uea_japanese_vowels \
        [--forecast ../shared/data/cta_ridership_daily/CTA_-_Ridership_-_Daily_Boarding_Totals.csv] [--sketch 100] \
        [--seq2seq]
"""

import argparse
import csv
import json
import random
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


# Sketches: the model directory and the drawings' ndjson file; prints the probabilities of
# each drawing by class name, as `recur predict --json` gives them.
PY_SKETCH = """
import json, sys, time
start = time.perf_counter()
import recur
load = recur.load  # imports scikit-learn's bases
t0 = time.perf_counter()
clf = load(sys.argv[1])
X, _ = recur.read_quickdraw(sys.argv[2])
t1 = time.perf_counter()
p = clf.predict_proba(X)
t2 = time.perf_counter()
print(t0 - start, t1 - t0, t2 - t1, json.dumps([dict(zip(clf.classes_.tolist(), row)) for row in p.tolist()]))
"""


def sketch_rows(args, tmp, rows):
    """Times `recur predict --json` of a sketch classifier and the Python calls on the same
    drawings; returns whether they gave the same probabilities."""
    data, model, drawings = Path(tmp) / "doodles", Path(tmp) / "sketch", Path(tmp) / "doodles.ndjson"
    wall([args.recur, "data", "synth", "--out", data, "--per-class", str(args.sketch)])
    drawings.write_text("".join(f.read_text() for f in sorted(data.glob("*.ndjson"))))
    wall([args.recur, "train", "--data", data, "--out", model, "--epochs", "1", "--quiet"])
    classes = json.loads((model / "config.json").read_text())["classes"]
    for _ in range(args.repeats):
        t, out = wall([args.recur, "predict", "--model", model, "--input", drawings, "--top", str(len(classes)), "--json"])
        rows["cli predict"].append(t)
        cli = [{p["class"]: p["probability"] for p in json.loads(line)["predictions"]} for line in out.splitlines()]
        t, line = wall([sys.executable, "-c", PY_SKETCH, str(model), str(drawings)])
        imports, load_call, predict_call, py = line.split(" ", 3)
        rows["py sketch process"].append(t)
        rows["py load+read call"].append(float(load_call))
        rows["py predict_proba call"].append(float(predict_call))
    return cli == json.loads(py)


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


# Seq2seq: a small model (trained once, by the command line) and the strings it reverses.
SEQ2SEQ_FLAGS = ["--embedding", "32", "--encoder-units", "64", "--encoder-layers", "1", "--decoder-units", "64",
                 "--epochs", "3", "--seed", "3"]
SEQ2SEQ_SOURCES = 2000
PY_SEQ2SEQ = """
import json, sys, time
start = time.perf_counter()
import recur
Seq2Seq = recur.Seq2Seq
t0 = time.perf_counter()
sources = open(sys.argv[2], encoding="utf-8").read().splitlines()
outputs = recur.load(sys.argv[1]).predict(sources, beam=5)
t1 = time.perf_counter()
print(t0 - start, t1 - t0, json.dumps(outputs))
"""


def letter_strings(n, rng):
    return ["".join(rng.choice("abcdefgh") for _ in range(rng.randint(3, 8))) for _ in range(n)]


def seq2seq_rows(args, tmp, rows):
    """Times `recur seq2seq predict` on a model it trained against `recur.load` + `predict`."""
    rng = random.Random(5)
    pairs, inputs, model = Path(tmp) / "rev.tsv", Path(tmp) / "rev.txt", Path(tmp) / "s2s"
    pairs.write_text("".join(f"{w}\t{w[::-1]}\n" for w in letter_strings(3000, rng)))
    sources = letter_strings(SEQ2SEQ_SOURCES, rng)
    inputs.write_text("".join(w + "\n" for w in sources))
    wall([args.recur, "seq2seq", "train", "--pairs", pairs, "--out", model, *SEQ2SEQ_FLAGS])
    for _ in range(args.repeats):
        t, out = wall([args.recur, "seq2seq", "predict", "--model", model, "--input", inputs, "--beam", "5"])
        rows["cli seq2seq predict"].append(t)
        cli_outputs = [line.split("\t", 1)[1] for line in out.splitlines()]
        t, line = wall([sys.executable, "-c", PY_SEQ2SEQ, str(model), str(inputs)])
        imports, predict_call, py_outputs = line.split(" ", 2)
        rows["py seq2seq process"].append(t)
        rows["py seq2seq call"].append(float(predict_call))
    return cli_outputs == json.loads(py_outputs)


def wall(cmd):
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(done.stderr)
    return time.perf_counter() - start, done.stdout


def fit_rows(args, tmp, rows):
    """Times `recur fit` and `recur run` on JapaneseVowels and the Python calls; returns the
    Python test accuracy and `recur eval`'s line."""
    train = Path(args.data) / "JapaneseVowels_TRAIN.ts"
    test = Path(args.data) / "JapaneseVowels_TEST.ts"
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
    return py_acc, evaluated.splitlines()[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recur", required=True, help="the recur binary")
    ap.add_argument("--data", help="folder with JapaneseVowels_TRAIN.ts and _TEST.ts (the fit case)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--forecast", help="the CTA ridership CSV: also time recur forecast against Forecaster")
    ap.add_argument("--sketch", type=int, help="doodles per class: also time recur predict against SketchClassifier")
    ap.add_argument("--seq2seq", action="store_true", help="also time recur seq2seq predict against Seq2Seq.predict")
    args = ap.parse_args()
    # Each case's rows, in the order they print.
    cases = {
        "data": ("cli fit", "cli run", "py process", "py imports", "py fit call", "py predict call"),
        "forecast": ("cli forecast fit", "cli forecast", "py forecast process", "py forecast fit call", "py forecast call"),
        "sketch": ("cli predict", "py sketch process", "py load+read call", "py predict_proba call"),
        "seq2seq": ("cli seq2seq predict", "py seq2seq process", "py seq2seq call"),
    }
    rows = {k: [] for case, names in cases.items() if getattr(args, case) for k in names}
    with tempfile.TemporaryDirectory() as tmp:
        fitted = fit_rows(args, tmp, rows) if args.data else None
        same_forecast = forecast_rows(args, tmp, rows) if args.forecast else None
        same_sketch = sketch_rows(args, tmp, rows) if args.sketch else None
        same_outputs = seq2seq_rows(args, tmp, rows) if args.seq2seq else None
    for name, times in rows.items():
        print(f"{name:20} median {statistics.median(times):.3f} s  (min {min(times):.3f}, max {max(times):.3f})")
    if fitted is not None:
        print(f"python test accuracy {fitted[0]:.4f}; recur eval: {fitted[1]}")
    if same_forecast is not None:
        print(f"forecasts of the week after the data equal: {same_forecast}")
    if same_sketch is not None:
        print(f"sketch probabilities equal to recur predict's: {same_sketch}")
    if same_outputs is not None:
        print(f"seq2seq outputs of the {SEQ2SEQ_SOURCES} strings equal: {same_outputs}")


if __name__ == "__main__":
    main()
