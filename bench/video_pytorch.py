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
"""
import argparse
import json
import time

import torch
from torch import nn


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


def rate(seconds, step):
    step()
    start, n = time.perf_counter(), 0
    while n < 3 or time.perf_counter() - start < seconds:
        step()
        n += 1
    return n / (time.perf_counter() - start)


def measure(model, shape, args):
    x = torch.rand(args.batch, *shape)
    y = torch.randint(0, 2, (args.batch,))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def train():
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

    def infer():
        with torch.no_grad():
            model(x)

    model.train()
    tr = rate(args.seconds, train) * args.batch
    model.eval()
    inf = rate(args.seconds, infer) * args.batch
    return {"train_clips_per_s": round(tr, 1), "infer_clips_per_s": round(inf, 1)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", choices=["frames", "diff", "c3d", "all"], default="all")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    t, s = args.frames, args.size
    models = {
        "frames": lambda: measure(FrameLstm(False), (t, 3, s, s), args),
        "diff": lambda: measure(FrameLstm(True), (t, 3, s, s), args),
        "c3d": lambda: measure(C3d(), (3, t, s, s), args),
    }
    names = list(models) if args.model == "all" else [args.model]
    out = {name: models[name]() for name in names}
    out.update({"torch": torch.__version__, "threads": args.threads, "batch": args.batch, "length": t, "size": s})
    print(json.dumps(out) if args.json else json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
