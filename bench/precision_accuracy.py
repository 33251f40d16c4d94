"""Accuracy at each inference precision: the same trained models scored at fp32, bf16 and int8
(`--precision`), for the accuracy targets of docs/inference.md beside the sketch table there.

    python bench/precision_accuracy.py --recur target/release/recur --data ../shared/data \\
        --work precision_runs [--only ucr,g2p,cta] [--g2p-minutes 12] [--threads 2]

- UCR: `recur fit --train X_TRAIN.ts` (the default model) on the three variable-length sets,
  then `recur eval --test X_TEST.ts --precision P --json`: test accuracy.
- G2P: the CMUdict training file split by word (3,000 words held out, seed 27; every
  pronunciation of a word on one side), the fast recipe of docs/seq2seq.md trained on the rest
  for --g2p-minutes, then `recur seq2seq eval --pairs held-out.dict --beam 5 --precision P
  --json`: WER and PER on the held-out words.
- CTA: the univariate rail forecaster of docs/forecasting.md (train to 2018-12-31, MAE loss,
  seed 42) saved with --out, then `recur forecast --model M --from D --precision P --json` from
  every origin of split S (2019-01-01..05-25): mean absolute error over each forecast's days
  against the recorded boardings, averaged over the origins. The fp32 figure must equal the
  one the training command prints for S (checked: it is printed beside).

A step whose model is already in --work is not trained again. Prints one markdown table.
"""
import argparse
import csv
import datetime as dt
import json
import os
import random
import re
import subprocess
import sys

PRECISIONS = ["fp32", "bf16", "int8"]
UCR_SETS = [
    ("JapaneseVowels", "uea_japanese_vowels"),
    ("PickupGestureWiimoteZ", "ucr_pickup_gesture_wiimote_z"),
    ("PLAID", "ucr_plaid"),
]
CTA_FILE = "cta_ridership_daily/CTA_-_Ridership_-_Daily_Boarding_Totals.csv"


def run(command):
    """Runs one recur command; its stdout, or the script stops with the command's error."""
    print("$", " ".join(command), file=sys.stderr, flush=True)
    result = subprocess.run(command, stdout=subprocess.PIPE, text=True)
    if result.returncode != 0:
        sys.exit(f"error: {' '.join(command)} failed with status {result.returncode}")
    return result.stdout


def last_json(text):
    """The last line of a command's output that is a JSON object."""
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    sys.exit("error: the command printed no JSON line")


def ucr_rows(args):
    rows = []
    for name, folder in UCR_SETS:
        data = os.path.join(args.data, folder)
        model = os.path.join(args.work, f"fit_{name}")
        if not os.path.exists(os.path.join(model, "config.json")):
            run([args.recur, "fit", "--train", os.path.join(data, f"{name}_TRAIN.ts"), "--out", model,
                 "--threads", str(args.threads), "--quiet"])
        scores = [last_json(run([args.recur, "eval", "--model", model, "--test", os.path.join(data, f"{name}_TEST.ts"),
                                 "--precision", p, "--json", "--threads", str(args.threads)]))["accuracy"]
                  for p in PRECISIONS]
        rows.append((f"{name} test accuracy", [f"{s:.4f}" for s in scores]))
    return rows


def split_cmudict(source, work):
    """The training file split by word: 3,000 held-out words (seed 27), every variant of a word
    (`WORD(1)`) on the same side. Returns the two files' paths."""
    train, test = os.path.join(work, "g2p-train.dict"), os.path.join(work, "g2p-held-out.dict")
    if os.path.exists(train) and os.path.exists(test):
        return train, test
    words = {}
    with open(source, encoding="latin-1") as f:
        for line in f:
            if line.strip() and not line.startswith(";;;"):
                words.setdefault(re.sub(r"\(\d+\)$", "", line.split()[0]), []).append(line)
    keys = list(words)
    random.Random(27).shuffle(keys)
    held_out = set(keys[:3000])
    with open(train, "w", encoding="latin-1") as tr, open(test, "w", encoding="latin-1") as te:
        for word, lines in words.items():
            (te if word in held_out else tr).writelines(lines)
    return train, test


def g2p_rows(args):
    train, test = split_cmudict(os.path.join(args.data, "cmudict", "cmudict-train.dict"), args.work)
    model = os.path.join(args.work, "g2p")
    if not os.path.exists(os.path.join(model, "validation.json")):
        run([args.recur, "seq2seq", "train", "--format", "cmudict", "--pairs", train, "--out", model, "--force",
             "--encoder-units", "96", "--decoder-units", "192", "--max-minutes", str(args.g2p_minutes),
             "--threads", str(args.threads)])
    scores = [last_json(run([args.recur, "seq2seq", "eval", "--model", model, "--pairs", test, "--beam", "5",
                             "--precision", p, "--json", "--threads", str(args.threads)])) for p in PRECISIONS]
    return [("G2P WER, held-out words, beam 5", [f"{100 * s['wer']:.2f}%" for s in scores]),
            ("G2P PER", [f"{100 * s['per']:.2f}%" for s in scores])]


def read_cta(path):
    """Rail boardings by date."""
    values = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            day = dt.datetime.strptime(row["service_date"], "%m/%d/%Y").date()
            values[day] = float(row["rail_boardings"])
    return values


def cta_rows(args):
    path = os.path.join(args.data, CTA_FILE)
    model = os.path.join(args.work, "cta")
    trained = os.path.join(args.work, "cta_training.json")
    if not os.path.exists(trained):
        out = run([args.recur, "forecast", "--csv", path, "--date-col", "service_date", "--value-col", "rail_boardings",
                   "--train-until", "2018-12-31", "--test-until", "2019-05-31", "--seed", "42", "--threads",
                   str(args.threads), "--json", "--out", model, "--force", "--quiet"])
        with open(trained, "w") as f:
            json.dump(last_json(out), f)
    with open(trained) as f:
        printed = json.load(f)
    actual = read_cta(path)
    first, last = dt.date(2019, 1, 1), dt.date(2019, 5, 25)
    origins = [first + dt.timedelta(days=d) for d in range((last - first).days + 1)]
    maes = []
    for p in PRECISIONS:
        errors = []
        for origin in origins:
            known = (origin - dt.timedelta(days=1)).isoformat()
            answer = last_json(run([args.recur, "forecast", "--model", model, "--csv", path, "--from", known,
                                    "--precision", p, "--json"]))
            days = [dt.date.fromisoformat(d) for d in answer["dates"]]
            errors.append(sum(abs(v - actual[day]) for day, v in zip(days, answer["forecast"])) / len(days))
        maes.append(sum(errors) / len(errors))
    name = f"CTA split S mean MAE ({len(origins)} origins; the training command printed {printed['mean_mae']:,.0f})"
    return [(name, [f"{m:,.0f}" for m in maes])]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recur", default="target/release/recur")
    ap.add_argument("--data", required=True, help="the shared data folder")
    ap.add_argument("--work", required=True, help="folder for the models")
    ap.add_argument("--only", default="ucr,g2p,cta", help="which of ucr, g2p, cta to run")
    ap.add_argument("--g2p-minutes", type=float, default=12.0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    parts = {"ucr": ucr_rows, "g2p": g2p_rows, "cta": cta_rows}
    asked = args.only.split(",")
    unknown = [p for p in asked if p not in parts]
    if unknown:
        sys.exit(f"error: --only takes ucr, g2p and cta, not {', '.join(unknown)}")
    os.makedirs(args.work, exist_ok=True)
    rows = []
    for part, measure in parts.items():
        if part in asked:
            rows += measure(args)
    print("| measure | " + " | ".join(PRECISIONS) + " |")
    print("|---|" + "---|" * len(PRECISIONS))
    for name, values in rows:
        print(f"| {name} | " + " | ".join(values) + " |")


if __name__ == "__main__":
    main()
