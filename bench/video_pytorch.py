"""PyTorch eager CPU reference for recur's video models: the same architectures, batch, clip
length, loss and optimiser as `recur bench --config bench/video_*.json`, timed the same way (one
warm-up step, then repeat for a fixed time), reporting training and inference clips/s.

    python bench/video_pytorch.py [--model frames|diff|c3d|all] [--threads 2] [--batch 8]
        [--frames 16] [--size 64] [--seconds 5] [--json]

- frames: a frame CNN (3 blocks of Conv2d 3x3 same, BatchNorm2d, ReLU, MaxPool2d 2; 16, 32, 64
  filters) over every RGB frame, global average pooling, LSTM(64), Linear(2): recur's
  bench/video_frame_lstm.json.
- diff: the same model on frame differences (x[t+1] - x[t], one frame fewer; the differences are
  taken inside the timed step): recur's bench/video_frame_lstm.json on `--length 15` clips.
- c3d: a small 3D CNN (3 blocks of Conv3d 3x3x3 same, BatchNorm3d, ReLU, MaxPool3d; 16, 32, 64
  filters; the first pool keeps time, [1, 2, 2], then 2 and 2), global average pooling,
  Linear(2): recur's bench/video_c3d.json.

Clips are channels first (PyTorch's layout): [batch, time, 3, H, W] for the frame models,
[batch, 3, time, H, W] for the 3D CNN. Adam (lr 1e-3), cross-entropy over 2 classes.

Grouped cross-validation on real clips, the same clips and folds as recur's (decoded once by
`cargo run --release -p recur-video --example video_cv -- CLIPS.csv source_video T SIDE CACHE`,
which leaves CACHE/fT_sSIDExSIDE.bin and CACHE/folds.json), trained as `recur fit` trains
(AdamW lr 3e-3, weight decay 0.01, 2 warm-up epochs then cosine to 1%, batches of 16, label
smoothing 0.1, gradient norm clipped at 1, the last epoch kept):

    python bench/video_pytorch.py --cv CACHE --model crnn|c3d [--motion differences|frames]
        [--augment] [--epochs 20] [--frames 16] [--size 64] [--threads 2]

- crnn: recur's default model: the frame CNN above, a bidirectional GRU(32) over the frames,
  the mean of its outputs, Linear(2).
- c3d: the 3D CNN above (recur's `--architecture c3d`).
`--augment` distorts the training clips as recur's defaults do (flip, zoom 0.2, brightness
0.1, temporal jitter 0.1).
"""
import argparse
import json
import math
import os
import sys
import time

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_bench import train_and_infer_rates  # noqa: E402  (the training baseline's timing loop)


def block2d(c_in, c_out):
    return [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2)]


def block3d(c_in, c_out, pool):
    return [nn.Conv3d(c_in, c_out, 3, padding=1), nn.BatchNorm3d(c_out), nn.ReLU(), nn.MaxPool3d(pool)]


class FrameLstm(nn.Module):
    """A CNN over every frame (the clips' frames one batch of images), an LSTM over the clip."""

    def __init__(self, differences):
        super().__init__()
        self.differences = differences
        self.cnn = nn.Sequential(*block2d(3, 16), *block2d(16, 32), *block2d(32, 64), nn.AdaptiveAvgPool2d(1))
        self.lstm = nn.LSTM(64, 64, batch_first=True)
        self.dense = nn.Linear(64, 2)

    def forward(self, x):
        if self.differences:
            x = x[:, 1:] - x[:, :-1]
        b, t = x.shape[:2]
        h = self.cnn(x.reshape(b * t, *x.shape[2:])).reshape(b, t, 64)
        _, (h_n, _) = self.lstm(h)
        return self.dense(h_n[-1])


class C3d(nn.Module):
    """Three Conv3d blocks, global average pooling over time and pixels, a linear head."""

    def __init__(self):
        super().__init__()
        self.cnn = nn.Sequential(*block3d(3, 16, (1, 2, 2)), *block3d(16, 32, 2), *block3d(32, 64, 2),
                                 nn.AdaptiveAvgPool3d(1))
        self.dense = nn.Linear(64, 2)

    def forward(self, x):
        return self.dense(self.cnn(x).flatten(1))


class Crnn(nn.Module):
    """recur's default video model: the frame CNN, a bidirectional GRU(32), the mean over time."""

    def __init__(self):
        super().__init__()
        self.cnn = nn.Sequential(*block2d(3, 16), *block2d(16, 32), *block2d(32, 64), nn.AdaptiveAvgPool2d(1))
        self.gru = nn.GRU(64, 32, batch_first=True, bidirectional=True)
        self.dense = nn.Linear(64, 2)

    def forward(self, x):
        b, t = x.shape[:2]
        h = self.cnn(x.reshape(b * t, *x.shape[2:])).reshape(b, t, 64)
        return self.dense(self.gru(h)[0].mean(1))


def measure(model, shape, args):
    x = torch.rand(args.batch, *shape)
    y = torch.randint(0, 2, (args.batch,))
    tr, inf = train_and_infer_rates(model, x, y, nn.CrossEntropyLoss(), args.seconds)
    return {"train_clips_per_s": tr, "infer_clips_per_s": inf}


def read_cache(args):
    """The clips recur decoded ([clips, T, H, W, 3] floats in [0, 1]), labels and folds."""
    import numpy as np
    with open(os.path.join(args.cv, "folds.json")) as f:
        folds = json.load(f)
    raw = open(os.path.join(args.cv, f"f{args.frames}_s{args.size}x{args.size}.bin"), "rb").read()
    frame, at, clips = args.size * args.size * 3, 0, []
    while at < len(raw):
        n = int.from_bytes(raw[at:at + 4], "little")
        clips.append(np.frombuffer(raw[at + 4:at + 4 + n * frame], np.uint8).reshape(n, args.size, args.size, 3))
        at += 4 + n * frame
    kept = [clips[i] for i in folds["clips"]]
    if len({c.shape[0] for c in kept}) != 1:
        raise SystemExit("clips of different lengths: this reference does not mask")
    x = torch.from_numpy(np.stack(kept)).float() / 255.0
    return x, torch.tensor(folds["labels"]), folds["folds"]


def distort(x, gen):
    """recur's default augmentation of a batch [b, T, H, W, C] of frames or differences."""
    b, t, h, w, _ = x.shape
    out = []
    for clip in x:
        pick = torch.arange(t)
        moved = torch.rand(t, generator=gen) < 0.1
        step = torch.where(torch.rand(t, generator=gen) < 0.5, -1, 1)
        pick = torch.where(moved, (pick + step).clamp(0, t - 1), pick)
        clip = clip[pick].permute(0, 3, 1, 2)
        share = 1 - 0.2 * torch.rand(1, generator=gen).item()
        ch, cw = round(h * share), round(w * share)
        top = int(torch.randint(0, h - ch + 1, (1,), generator=gen))
        left = int(torch.randint(0, w - cw + 1, (1,), generator=gen))
        clip = nn.functional.interpolate(clip[:, :, top:top + ch, left:left + cw], size=(h, w), mode="bilinear")
        if torch.rand(1, generator=gen).item() < 0.5:
            clip = clip.flip(3)
        clip = clip * (1 + 0.1 * torch.randn(1, generator=gen).item())
        out.append(clip.permute(0, 2, 3, 1))
    return torch.stack(out)


def as_model_input(x, args):
    """[b, T, H, W, C] frames or differences in the layout of `args.model`."""
    x = x.permute(0, 1, 4, 2, 3)
    return x.permute(0, 2, 1, 3, 4) if args.model == "c3d" else x


def train_fold(x, y, train_idx, test_idx, args, seed):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = C3d() if args.model == "c3d" else Crnn()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    steps = -(-len(train_idx) // 16)
    total, warm = args.epochs * steps, 2 * steps
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: (s + 1) / warm if s < warm else 0.01 + 0.99 * 0.5 * (
        1 + math.cos(math.pi * (s - warm) / max(1, total - warm))))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    train_idx = torch.tensor(train_idx)
    for _ in range(args.epochs):
        model.train()
        for batch in train_idx[torch.randperm(len(train_idx), generator=gen)].split(16):
            xb = distort(x[batch], gen) if args.augment else x[batch]
            opt.zero_grad()
            loss_fn(model(as_model_input(xb, args)), y[batch]).backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
    model.eval()
    with torch.no_grad():
        guess = torch.cat([model(as_model_input(x[b], args)).argmax(1) for b in torch.tensor(test_idx).split(32)])
    return (guess == y[test_idx]).float().mean().item()


def cross_validate(args):
    x, y, folds = read_cache(args)
    if args.motion == "differences":
        x = x[:, 1:] - x[:, :-1]
    started, accuracies = time.perf_counter(), []
    for k, test in enumerate(folds):
        train = sorted(set(range(len(y))) - set(test))
        accuracies.append(train_fold(x, y, train, test, args, seed=k + 1))
    mean = sum(accuracies) / len(accuracies)
    std = (sum((a - mean) ** 2 for a in accuracies) / max(1, len(accuracies) - 1)) ** 0.5
    print(json.dumps({"model": args.model, "motion": args.motion, "augment": args.augment, "epochs": args.epochs,
                      "accuracy_mean": round(mean, 3), "accuracy_std": round(std, 3),
                      "folds": [round(a, 3) for a in accuracies], "seconds": round(time.perf_counter() - started)}))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cv", help="grouped cross-validation on recur's decoded clips in this folder")
    p.add_argument("--motion", choices=["differences", "frames"], default="differences")
    p.add_argument("--augment", action="store_true")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--model", choices=["frames", "diff", "c3d", "crnn", "all"], default="all")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.cv:
        return cross_validate(args)
    t, s = args.frames, args.size
    models = {
        "frames": lambda: measure(FrameLstm(False), (t, 3, s, s), args),
        "diff": lambda: measure(FrameLstm(True), (t, 3, s, s), args),
        "c3d": lambda: measure(C3d(), (3, t, s, s), args),
        "crnn": lambda: measure(Crnn(), (t, 3, s, s), args),
    }
    names = list(models) if args.model == "all" else [args.model]
    out = {name: models[name]() for name in names}
    out.update({"torch": torch.__version__, "threads": args.threads, "batch": args.batch, "length": t, "size": s})
    print(json.dumps(out) if args.json else json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
