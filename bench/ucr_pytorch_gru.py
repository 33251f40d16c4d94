"""PyTorch baseline for `recur fit` on variable-length UEA/UCR sequence classification.

A bidirectional GRU(64) over the raw (standardised) steps, with packed sequences so that padding
is never read, masked mean pooling over each sequence's own steps, and a linear classifier
(`--arch gru`); or the same behind a Conv1D(64, k5, same)+ReLU front end (`--arch conv-gru`).
Trained as a practitioner would: Adam lr 1e-3, batch 32, cross-entropy, early stopping on the
loss of a stratified 20% validation part of the *_TRAIN.ts file (best weights restored), inputs
standardised per channel with the mean and deviation of the TRAIN file. The *_TEST.ts file is
read only to score the final model; it chooses nothing.

Throughput is training sequences per second of training-step time (forward, backward and Adam
step; batch assembly and validation excluded), so that it can be set beside recur's at the same
thread count. `--max-seconds` bounds each dataset's training wall time (checked between batches).

On a machine with more runnable work than cores, PyTorch's OpenMP threads spin at every barrier
waiting for a descheduled sibling, and 2 threads can run several times slower than 1; setting
`OMP_WAIT_POLICY=PASSIVE` in the environment (before Python starts) makes them sleep instead.
The script leaves PyTorch's defaults alone; say which was used when quoting a rate.

Install (a virtual environment outside the repository is best):

    pip install "torch==2.*" "numpy==2.*"

Usage (the default data folder is shared/data beside the repository, or beside its parent):

    python bench/ucr_pytorch_gru.py [--data DIR] [--datasets JapaneseVowels PickupGestureWiimoteZ PLAID]
        [--arch gru|conv-gru] [--threads 2] [--max-seconds 300] [--patience 20] [--max-epochs 500]
        [--seed 1] [--json]
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ucr_data import FOLDERS, dataset_files, default_data_dir  # noqa: E402 (beside this script)


def read_ts(path):
    """Read a .ts file: a list of float32 arrays [length, channels] and a list of label strings.

    Handles the plain data layout (`v,v,...:v,v,...:label`, one line per series, dimensions
    separated by ':'); timestamped or missing values are reported, not guessed at.
    """
    series, labels, channels, in_data = [], [], None, False
    with open(path, encoding="utf-8") as f:
        for line_no, raw in enumerate(f, start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if not in_data:
                if line.lower().startswith("@timestamps") and line.split()[-1].lower() == "true":
                    sys.exit(f"error: {path} line {line_no}: timestamped .ts data is not supported")
                in_data = line.lower() == "@data"
                continue
            *dims, label = line.split(":")
            if channels is None:
                channels = len(dims)
            if len(dims) != channels or channels == 0:
                sys.exit(f"error: {path} line {line_no}: {len(dims)} dimensions, expected {channels}")
            try:
                cols = [[float(v) for v in d.split(",")] for d in dims]
            except ValueError as e:
                sys.exit(f"error: {path} line {line_no}: {e}")
            if len({len(c) for c in cols}) != 1:
                sys.exit(f"error: {path} line {line_no}: dimensions of different lengths {[len(c) for c in cols]}")
            x = np.asarray(cols, dtype=np.float32).T
            if not np.isfinite(x).all():
                sys.exit(f"error: {path} line {line_no}: missing or non-finite values")
            series.append(x)
            labels.append(label.strip())
    if not series:
        sys.exit(f"error: {path}: no series after @data")
    return series, labels


def stratified_split(y, fraction, rng):
    """Indices (fit, validation): `fraction` of each class, at least one, goes to validation."""
    fit, val = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        k = max(1, int(round(fraction * len(idx)))) if len(idx) > 1 else 0
        val.extend(idx[:k])
        fit.extend(idx[k:])
    return np.array(sorted(fit)), np.array(sorted(val))


class Classifier(nn.Module):
    """[Conv1D(64, k5, same)+ReLU] -> BiGRU(64), packed -> mean over each sequence's steps -> Linear."""

    def __init__(self, channels, classes, conv):
        super().__init__()
        self.conv = nn.Conv1d(channels, 64, 5, padding=2) if conv else None
        self.gru = nn.GRU(64 if conv else channels, 64, batch_first=True, bidirectional=True)
        self.dense = nn.Linear(128, classes)

    def forward(self, x, lengths):
        if self.conv is not None:
            # Padding is zero, as 'same' padding would be at a sequence's end, so valid steps see
            # exactly what they would see unpadded; the GRU below never reads the padded steps.
            x = torch.relu(self.conv(x.transpose(1, 2))).transpose(1, 2)
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.gru(packed)
        out, _ = pad_packed_sequence(out, batch_first=True)  # padded steps come back as zeros
        return self.dense(out.sum(1) / lengths.unsqueeze(1).to(out.dtype))


def make_batch(xs, ys, idx):
    """Zero-padded [batch, max_len, channels] inputs, their lengths and labels."""
    lengths = torch.tensor([len(xs[i]) for i in idx])
    x = torch.zeros(len(idx), int(lengths.max()), xs[idx[0]].shape[1])
    for k, i in enumerate(idx):
        x[k, :len(xs[i])] = torch.from_numpy(xs[i])
    return x, lengths, torch.from_numpy(ys[idx])


def evaluate(model, xs, ys, idx):
    """(mean cross-entropy, accuracy) over the sequences `idx`."""
    model.eval()
    loss, hits = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(idx), 256):
            x, lengths, y = make_batch(xs, ys, idx[i:i + 256])
            logits = model(x, lengths)
            loss += nn.functional.cross_entropy(logits, y, reduction="sum").item()
            hits += (logits.argmax(1) == y).sum().item()
    return loss / len(idx), hits / len(idx)


def run(name, paths, args):
    """Train on TRAIN (early stopping on its validation part), score on TEST; a result dict."""
    train_x, train_labels = read_ts(paths[0])
    test_x, test_labels = read_ts(paths[1])
    classes = sorted(set(train_labels))
    unknown = sorted(set(test_labels) - set(classes))
    if unknown:
        sys.exit(f"error: {paths[1]}: labels {unknown} do not occur in {paths[0]}")
    if test_x[0].shape[1] != train_x[0].shape[1]:
        sys.exit(f"error: {paths[1]} has {test_x[0].shape[1]} channels, {paths[0]} has {train_x[0].shape[1]}")
    y_train = np.array([classes.index(l) for l in train_labels], dtype=np.int64)
    y_test = np.array([classes.index(l) for l in test_labels], dtype=np.int64)

    # Per-channel standardisation from every step of the TRAIN file.
    steps = np.concatenate(train_x)
    mean, std = steps.mean(0), steps.std(0)
    std[std == 0] = 1.0
    train_x = [(s - mean) / std for s in train_x]
    test_x = [(s - mean) / std for s in test_x]

    rng = np.random.default_rng(args.seed)
    torch.manual_seed(args.seed)
    fit_idx, val_idx = stratified_split(y_train, 0.2, rng)
    if len(val_idx) == 0:
        sys.exit(f"error: {paths[0]}: no class has two series, so there is no validation part for early stopping")
    model = Classifier(train_x[0].shape[1], len(classes), args.arch == "conv-gru")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    best_loss, best_epoch, best_state = math.inf, 0, None
    step_seconds, seqs, epochs, stopped = 0.0, 0, 0, "max-epochs"
    start = time.perf_counter()
    for epoch in range(1, args.max_epochs + 1):
        model.train()
        order = fit_idx[rng.permutation(len(fit_idx))]
        out_of_time = False
        for i in range(0, len(order), 32):
            x, lengths, y = make_batch(train_x, y_train, order[i:i + 32])
            t = time.perf_counter()
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x, lengths), y)
            loss.backward()
            opt.step()
            step_seconds += time.perf_counter() - t
            seqs += len(y)
            if time.perf_counter() - start > args.max_seconds:
                out_of_time = True
                break
        epochs = epoch
        val_loss, val_acc = evaluate(model, train_x, y_train, val_idx)
        if val_loss < best_loss:
            best_loss, best_epoch = val_loss, epoch
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        if args.verbose:
            print(f"{name} epoch {epoch} val_loss {val_loss:.4f} val_acc {val_acc:.4f} "
                  f"({time.perf_counter() - start:.0f}s)", file=sys.stderr, flush=True)
        if out_of_time:
            stopped = "budget"
            break
        if epoch - best_epoch >= args.patience:
            stopped = "patience"
            break
    train_seconds = time.perf_counter() - start
    if best_state is not None:  # None only if every validation loss was NaN
        model.load_state_dict(best_state)
    _, accuracy = evaluate(model, test_x, y_test, np.arange(len(test_x)))
    return {"dataset": name, "arch": args.arch, "accuracy": round(accuracy, 4),
            "train_seconds": round(train_seconds, 1), "seqs_per_s": round(seqs / step_seconds, 1),
            "epochs": epochs, "best_epoch": best_epoch, "stopped": stopped, "threads": args.threads,
            "n_fit": len(fit_idx), "n_val": len(val_idx), "n_test": len(test_x)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=default_data_dir(), help="folder holding the dataset folders")
    p.add_argument("--datasets", nargs="+", default=list(FOLDERS))
    p.add_argument("--arch", choices=["gru", "conv-gru"], default="gru")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--max-seconds", type=float, default=300.0, help="training wall-time budget per dataset")
    p.add_argument("--patience", type=int, default=20, help="epochs without a lower validation loss before stopping")
    p.add_argument("--max-epochs", type=int, default=500)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true", help="one JSON line per dataset")
    p.add_argument("--verbose", action="store_true", help="per-epoch validation lines on stderr")
    args = p.parse_args()
    if not os.path.isdir(args.data):
        sys.exit(f"error: data folder {args.data} not found (give it with --data)")
    torch.set_num_threads(args.threads)
    paths = {name: dataset_files(args.data, name) for name in args.datasets}
    for name in args.datasets:
        r = run(name, paths[name], args)
        if args.json:
            print(json.dumps(r), flush=True)
        else:
            print(f"{name:24} {args.arch:8} test acc {r['accuracy']:.4f}  {r['seqs_per_s']:8.1f} seq/s  "
                  f"{r['epochs']} epochs (best {r['best_epoch']}, {r['stopped']})  {r['train_seconds']:.0f} s",
                  flush=True)


if __name__ == "__main__":
    main()
