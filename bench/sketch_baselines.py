"""PyTorch runs of the published sketch architectures, for comparison with `recur train`.

Trains `geron` (Hands-On ML: Conv1D 32/64/128 k5/5/3 strides 2 + BatchNorm, LSTM(128) x2, dense)
and `tf-tutorial` (TensorFlow's Quick, Draw! tutorial: Conv1D 48/64/96 same, 3 bidirectional
LSTM(128), masked sum over time, dense) on the same drawings, the same key_id split (FNV-1a hash
mod 100: < 10 test, < 20 validation, rest training) and the same stroke-3 input (offsets divided
by the drawing's larger bounding-box side) as recur. Adam, clip-norm 1, best epoch by validation
top-1, then scored on the test part.

    python bench/sketch_baselines.py --data DIR_OF_NDJSON [--epochs 30] [--patience 0] [--threads N]
                                     [--arch geron tf-tutorial]
"""
import argparse, glob, json, os, time

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def fnv1a(s):
    h = 0xCBF29CE484222325
    for b in s.encode():
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def load(folder):
    drawings = []
    for path in sorted(glob.glob(os.path.join(folder, "*.ndjson"))):
        for line in open(path):
            if line.strip():
                d = json.loads(line)
                drawings.append((d["word"], str(d["key_id"]), d["drawing"]))
    return drawings


def stroke3(strokes, max_points=250):
    pts = [(x, y, i == len(s[0]) - 1) for s in strokes for i, (x, y) in enumerate(zip(s[0], s[1]))]
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    x0, y0 = min(xs), min(ys)
    scale = max(max(xs) - x0, max(ys) - y0, 1e-6)
    out, px, py = [], x0, y0
    for x, y, lifted in pts:
        out.append([(x - px) / scale, (y - py) / scale, float(lifted)])
        px, py = x, y
    return out[:max_points]


class Geron(nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv1d(3, 32, 5, stride=2), nn.Conv1d(32, 64, 5, stride=2), nn.Conv1d(64, 128, 3, stride=2)])
        self.bns = nn.ModuleList([nn.BatchNorm1d(c) for c in (32, 64, 128)])
        self.lstm = nn.LSTM(128, 128, num_layers=2, batch_first=True)
        self.dense = nn.Linear(128, classes)

    def forward(self, x, lengths):
        h = x.transpose(1, 2)
        # Sequences shorter than the receptive field are padded at the end, as a padded Keras batch is.
        need = 5 + 2 * (5 - 1) + 4 * (3 - 1) + 4
        if h.shape[2] < need:
            h = nn.functional.pad(h, (0, need - h.shape[2]))
        for conv, bn in zip(self.convs, self.bns):
            h = bn(torch.relu(conv(h)))
            lengths = torch.clamp((lengths - conv.kernel_size[0]) // 2 + 1, min=1)
        h = h.transpose(1, 2)
        packed = pack_padded_sequence(h, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, (hn, _) = self.lstm(packed)
        return self.dense(hn[-1])


class TfTutorial(nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv1d(3, 48, 5, padding=2), nn.Conv1d(48, 64, 5, padding=2), nn.Conv1d(64, 96, 3, padding=1)])
        self.lstm = nn.LSTM(96, 128, num_layers=3, batch_first=True, bidirectional=True)
        self.dense = nn.Linear(256, classes)

    def forward(self, x, lengths):
        h = x.transpose(1, 2)
        for conv in self.convs:
            h = conv(h)
        h = h.transpose(1, 2)
        packed = pack_padded_sequence(h, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True)
        return self.dense(out.sum(1))


def batches(items, size, shuffle, gen):
    order = torch.randperm(len(items), generator=gen).tolist() if shuffle else list(range(len(items)))
    for i in range(0, len(order), size):
        chunk = [items[j] for j in order[i:i + size]]
        lengths = torch.tensor([len(c[0]) for c in chunk])
        x = torch.zeros(len(chunk), int(lengths.max()), 3)
        for k, (seq, _) in enumerate(chunk):
            x[k, :len(seq)] = torch.tensor(seq)
        yield x, lengths, torch.tensor([c[1] for c in chunk])


def accuracy(model, items):
    model.eval()
    hits = 0
    with torch.no_grad():
        for x, lengths, y in batches(items, 256, False, None):
            hits += (model(x, lengths).argmax(1) == y).sum().item()
    return hits / max(len(items), 1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--arch", nargs="+", default=["geron", "tf-tutorial"])
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--patience", type=int, default=0, help="stop after this many epochs without a better val top-1 (0: never)")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    drawings = load(args.data)
    classes = sorted({w for w, _, _ in drawings})
    parts = {"train": [], "val": [], "test": []}
    for word, key, strokes in drawings:
        h = fnv1a(key) % 100
        part = "test" if h < 10 else "val" if h < 20 else "train"
        parts[part].append((stroke3(strokes), classes.index(word)))
    results = {}
    for arch in args.arch:
        torch.manual_seed(args.seed)
        gen = torch.Generator().manual_seed(args.seed)
        model = (Geron if arch == "geron" else TfTutorial)(len(classes))
        opt = torch.optim.Adam(model.parameters(), lr=args.lr)
        best, best_epoch, best_state, start = -1.0, 0, None, time.time()
        for epoch in range(args.epochs):
            if args.patience and epoch - best_epoch >= args.patience:
                break
            model.train()
            for x, lengths, y in batches(parts["train"], 64, True, gen):
                opt.zero_grad()
                loss = nn.functional.cross_entropy(model(x, lengths), y)
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
            val = accuracy(model, parts["val"])
            if val > best:
                best, best_epoch, best_state = val, epoch, {k: v.clone() for k, v in model.state_dict().items()}
            print(f"{arch} epoch {epoch + 1} val_top1 {val:.4f} ({time.time() - start:.0f}s)", flush=True)
        model.load_state_dict(best_state)
        results[arch] = {"val_top1": best, "best_epoch": best_epoch + 1, "test_top1": accuracy(model, parts["test"]),
                         "n_test": len(parts["test"]), "seconds": round(time.time() - start)}
        print(json.dumps({arch: results[arch]}), flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
