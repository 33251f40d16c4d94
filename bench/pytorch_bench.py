"""PyTorch eager CPU baseline for `recur bench`: the same two models, batch, length, loss and
optimiser, timed the same way (one warm-up step, then repeat for a fixed time).

    python bench/pytorch_bench.py [--threads 2] [--seconds 3] [--json]
    python bench/pytorch_bench.py --frames --batch 16 --length 16   # recur bench --frames's model
"""
import argparse
import json
import time

import torch
from torch import nn


class Sketch(nn.Module):
    """3 Conv1D+ReLU+BatchNorm, LSTM(128) x2, Dense(345): recur's SKETCH_MODEL."""

    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv1d(3, 32, 5, padding=2), nn.Conv1d(32, 64, 5, padding=2), nn.Conv1d(64, 128, 3, padding=1)])
        self.norms = nn.ModuleList([nn.BatchNorm1d(32), nn.BatchNorm1d(64), nn.BatchNorm1d(128)])
        self.lstm1 = nn.LSTM(128, 128, batch_first=True)
        self.lstm2 = nn.LSTM(128, 128, batch_first=True)
        self.dense = nn.Linear(128, 345)

    def forward(self, x):
        h = x.transpose(1, 2)
        for conv, norm in zip(self.convs, self.norms):
            h = norm(torch.relu(conv(h)))
        h, _ = self.lstm1(h.transpose(1, 2))
        _, (h_n, _) = self.lstm2(h)
        return self.dense(h_n[-1])


class Lstm128(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(128, 128, batch_first=True)

    def forward(self, x):
        _, (h_n, _) = self.lstm(x)
        return h_n[-1]


class Frames(nn.Module):
    """recur's FRAME_MODEL: three Conv2d (two with 2x2 max pooling) over every frame, global
    average pooling, LSTM(64), Dense(10); the clips' frames are one batch of images (NCHW,
    PyTorch's default layout)."""

    def __init__(self):
        super().__init__()
        self.cnn = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        self.lstm = nn.LSTM(64, 64, batch_first=True)
        self.dense = nn.Linear(64, 10)

    def forward(self, x):
        b, t = x.shape[:2]
        h = self.cnn(x.reshape(b * t, 3, 32, 32)).reshape(b, t, 64)
        _, (h_n, _) = self.lstm(h)
        return self.dense(h_n[-1])


def rate(seconds, step):
    step()
    start, n = time.perf_counter(), 0
    while n < 3 or time.perf_counter() - start < seconds:
        step()
        n += 1
    return n / (time.perf_counter() - start)


def train_and_infer_rates(model, x, y, loss_fn, seconds):
    """Items per second through one Adam training step and through inference, on batch `x`."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def train():
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

    def infer():
        with torch.no_grad():
            model(x)

    model.train()
    tr = rate(seconds, train) * len(x)
    model.eval()
    inf = rate(seconds, infer) * len(x)
    return round(tr, 1), round(inf, 1)


def measure(model, features, loss_fn, args, classes=345):
    shape = features if isinstance(features, tuple) else (features,)
    x = torch.rand(args.batch, args.length, *shape) * 2 - 1
    y = torch.randint(0, classes, (args.batch,))
    tr, inf = train_and_infer_rates(model, x, y, loss_fn, args.seconds)
    return {"train_seq_per_s": tr, "infer_seq_per_s": inf}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--length", type=int, default=100)
    p.add_argument("--json", action="store_true")
    p.add_argument("--frames", action="store_true", help="time only the frame model")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.frames:
        out = {"frames": measure(Frames(), (3, 32, 32), nn.CrossEntropyLoss(), args, classes=10),
               "torch": torch.__version__, "threads": args.threads}
        print(json.dumps(out) if args.json else json.dumps(out, indent=2))
        return
    out = {
        "sketch": measure(Sketch(), 3, nn.CrossEntropyLoss(), args),
        "lstm128": measure(Lstm128(), 128, lambda out, _y: out.mean(), args),
        "torch": torch.__version__,
        "threads": args.threads,
    }
    print(json.dumps(out) if args.json else json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
