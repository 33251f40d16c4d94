"""Class-conditional sketch-rnn, measured: are its drawings recognisable as the class asked for,
and are they varied?

Repeats the whole measurement of docs/generation.md with the `recur` binary alone:
  1. `recur sketch-rnn train --mode class` (or `--mode class-only`) on a folder of class files (one .npz per class, e.g.
     the four Quick, Draw! classes of quickdraw_sketchrnn_stroke3_4class) for --minutes;
  2. `recur train` of a sketch classifier on the real drawings of the same files only (recur reads
     sketch-rnn .npz files directly, each file's stem its class; its own 80/10/10 split);
  3. `recur sketch-rnn sample --class C --temperature 0.5` for every class, then `recur predict`
     on the samples: the share whose top guess is the class asked for;
  4. diversity: every drawing rasterised (64 x 64, after scaling its bounding box into the frame),
     the mean pairwise Jaccard distance (1 - IoU of the inked pixels) within each class, for the
     samples and for as many real drawings of the class; the number of identical pairs among
     the samples of two or more points, and how many are empty (ended before their first
     point: the classifier cannot read them, so they count as not recognised) or one point.

A step whose output is already in --work is not run again (delete it, or for the trainings
NAME.done, to redo it). Prints a
table and writes --work/summary.json.

    python bench/sketch_rnn_class_measure.py --data ../shared/data/quickdraw_sketchrnn_stroke3_4class \\
        --work class_run [--mode class|class-only] [--recur target/release/recur] [--minutes 20] [--classifier-epochs 20] \\
        [--classifier-preset recur] [--count 100] [--temperature 0.5] [--seed 7] [--threads 1]

Needs numpy and opencv-python (for the rasterising).
"""
import argparse
import itertools
import json
import os
import subprocess
import sys

import cv2
import numpy as np

SIDE = 64  # raster side for the diversity figure


def run(command, stdout=None):
    """Runs one recur command, stopping with its error when it fails."""
    print("$", " ".join(command), file=sys.stderr, flush=True)
    result = subprocess.run(command, stdout=stdout, text=True)
    if result.returncode != 0:
        sys.exit(f"error: {' '.join(command)} failed with status {result.returncode}")
    return result


def train_models(args):
    """The class-conditional sketch-rnn and the classifier, each unless already in --work; the
    two train at the same time, one thread each. `NAME.done` in --work marks a finished one (a
    model directory alone may be a killed run's)."""
    model = os.path.join(args.work, "sketch_rnn")
    classifier = os.path.join(args.work, "classifier")
    commands = []
    if not os.path.exists(model + ".done"):
        commands.append([args.recur, "sketch-rnn", "train", "--data", args.data, "--out", model, "--mode", args.mode,
                         "--max-minutes", str(args.minutes), "--threads", str(args.threads), "--seed", str(args.seed),
                         "--precision", args.precision])
    if not os.path.exists(classifier + ".done"):
        commands.append([args.recur, "train", "--data", args.data, "--out", classifier, "--preset",
                         args.classifier_preset, "--epochs", str(args.classifier_epochs), "--threads",
                         str(args.threads), "--seed", str(args.seed)])
    running = []
    for command in commands:
        print("$", " ".join(command), file=sys.stderr, flush=True)
        running.append((command, subprocess.Popen(command)))
    for command, process in running:
        if process.wait() != 0:
            sys.exit(f"error: {' '.join(command)} failed with status {process.returncode}")
        open(command[command.index("--out") + 1] + ".done", "w").close()
    return model, classifier


def sample_and_classify(args, model, classifier, name):
    """(ndjson lines of the samples, the top guess of each drawing the classifier could read, by
    key_id; an empty drawing has none and counts as not recognised)."""
    samples = os.path.join(args.work, f"samples_{name}.ndjson")
    if not os.path.exists(samples):
        run([args.recur, "sketch-rnn", "sample", "--model", model, "--class", name, "--count",
                   str(args.count), "--temperature", str(args.temperature), "--seed", str(args.seed),
                   "--out", samples])
    with open(samples) as f:
        drawings = [json.loads(line) for line in f if line.strip()]
    with open(os.path.join(args.work, f"predictions_{name}.jsonl"), "w") as out:
        run([args.recur, "predict", "--model", classifier, "--input", samples, "--json", "--top", "1"],
            stdout=out)
    with open(os.path.join(args.work, f"predictions_{name}.jsonl")) as f:
        # By key_id: predict skips empty drawings, so its indices need not be the file's lines.
        guesses = {p["key_id"]: p["predictions"][0]["class"] for p in map(json.loads, f) if p["predictions"]}
    return drawings, guesses


def raster(strokes):
    """A drawing's strokes ([[xs], [ys]] each) as a SIDE x SIDE boolean picture, its bounding
    box scaled into the frame keeping its aspect."""
    points = [np.stack([np.asarray(s[0], float), np.asarray(s[1], float)], 1) for s in strokes if len(s[0])]
    picture = np.zeros((SIDE, SIDE), np.uint8)
    if not points:
        return picture.astype(bool)
    every = np.concatenate(points)
    low, size = every.min(0), max(float((every.max(0) - every.min(0)).max()), 1e-6)
    for p in points:
        scaled = np.round((p - low) / size * (SIDE - 5) + 2).astype(np.int32)
        cv2.polylines(picture, [scaled.reshape(-1, 1, 2)], False, 1, 1)
    return picture.astype(bool)


def diversity(pictures):
    """Mean pairwise Jaccard distance (1 - IoU of inked pixels) over every pair."""
    distances = []
    for a, b in itertools.combinations(pictures, 2):
        union = np.logical_or(a, b).sum()
        distances.append(0.0 if union == 0 else 1.0 - np.logical_and(a, b).sum() / union)
    return float(np.mean(distances)) if distances else float("nan")


def real_strokes(npz_path, count, seed):
    """`count` real drawings of a class file as [[xs], [ys]] strokes (stroke-3 offsets summed)."""
    data = np.load(npz_path, allow_pickle=True, encoding="latin1")
    key = next(k for k in ("test", "sketches", "train") if k in data.files)
    chosen = np.random.RandomState(seed).permutation(len(data[key]))[:count]
    drawings = []
    for i in chosen:
        d = np.asarray(data[key][i], float)
        xy = np.cumsum(d[:, :2], 0)
        ends = np.flatnonzero(d[:, 2] == 1)
        starts = np.concatenate([[0], ends[:-1] + 1]) if len(ends) else np.array([0])
        stops = ends + 1 if len(ends) else np.array([len(d)])
        drawings.append([[xy[a:b, 0].tolist(), xy[a:b, 1].tolist()] for a, b in zip(starts, stops)])
    return drawings


def same_class(guess, name):
    """Whether the classifier's class is the file stem `name`: recur train names a file's class
    by its word, the stem with hyphens as spaces (`alarm clock` for `alarm-clock.npz`)."""
    return guess.replace("-", " ") == name.replace("-", " ")


def points(drawing):
    """Points in an ndjson drawing."""
    return sum(len(stroke[0]) for stroke in drawing["drawing"])


def identical_pairs(drawings):
    """Pairs of drawings of two or more points with exactly the same strokes (empty and
    one-point drawings, all alike, are counted apart)."""
    keys = [json.dumps(d["drawing"]) for d in drawings if points(d) >= 2]
    return sum(1 for a, b in itertools.combinations(keys, 2) if a == b)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="a folder of class files (.npz), one per class")
    ap.add_argument("--work", required=True, help="folder for the models, samples and summary")
    ap.add_argument("--recur", default="target/release/recur")
    ap.add_argument("--mode", choices=["class", "class-only"], default="class",
                    help="class: the VAE plus a class embedding; class-only: the class embedding alone")
    ap.add_argument("--minutes", type=float, default=20.0, help="sketch-rnn training time")
    ap.add_argument("--classifier-epochs", type=int, default=20)
    ap.add_argument("--classifier-preset", default="recur",
                    help="recur train's preset (recur, its default: the more accurate on real drawings, about "
                         "11 minutes on one core; geron: strided convolutions, under a minute)")
    ap.add_argument("--count", type=int, default=100, help="samples per class")
    ap.add_argument("--temperature", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                    help="the sketch-rnn's training products (recur sketch-rnn train --precision)")
    args = ap.parse_args()
    if not os.path.isdir(args.data):
        sys.exit(f"error: {args.data}: not a folder of class files")
    files = sorted(f for f in os.listdir(args.data) if f.endswith(".npz"))
    if not files:
        sys.exit(f"error: {args.data}: no .npz class files")
    os.makedirs(args.work, exist_ok=True)
    model, classifier = train_models(args)
    rows = []
    for f in files:
        name = os.path.splitext(f)[0]
        drawings, guesses = sample_and_classify(args, model, classifier, name)
        recognised = sum(1 for d in drawings if same_class(guesses.get(d["key_id"], ""), name))
        real = real_strokes(os.path.join(args.data, f), len(drawings), args.seed)
        empty = sum(1 for d in drawings if points(d) == 0)
        rows.append({"class": name, "samples": len(drawings), "recognised": recognised,
                     "share": recognised / max(len(drawings), 1), "empty": empty,
                     "one_point": sum(1 for d in drawings if points(d) == 1),
                     "share_of_drawn": recognised / max(len(drawings) - empty, 1),
                     "identical_pairs": identical_pairs(drawings),
                     "diversity_samples": diversity([raster(d["drawing"]) for d in drawings]),
                     "diversity_real": diversity([raster(d) for d in real])})
    total = sum(r["samples"] for r in rows)
    summary = {"temperature": args.temperature, "seed": args.seed, "classes": rows,
               "share": sum(r["recognised"] for r in rows) / max(total, 1)}
    with open(os.path.join(args.work, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print("| class | recognised | empty | one point | recognised of the non-empty | identical pairs "
          "| diversity (samples) | diversity (real) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['class']} | {r['recognised']}/{r['samples']} ({100 * r['share']:.0f}%) | {r['empty']} | "
              f"{r['one_point']} | {100 * r['share_of_drawn']:.0f}% | {r['identical_pairs']} | "
              f"{r['diversity_samples']:.3f} | {r['diversity_real']:.3f} |")
    print(f"| all | {100 * summary['share']:.1f}% | | | | | | |")


if __name__ == "__main__":
    main()
