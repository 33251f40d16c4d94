"""PyTorch port of Magenta's sketch-rnn (Ha & Eck 2017) for `recur sketch-rnn`: the same model,
data handling, training schedule and evaluation, to set beside recur's rate and held-out losses.

Model (Magenta's `model.py` with `get_default_hparams`, tensor names as recur's sketch-rnn model):
  * encoder (vae and class modes): bidirectional LSTM (`--enc`, 256 per direction) over the
    drawing's real stroke-5 points; its final forward and backward h go to `mu` and `sigma`
    (linear layers; `sigma` gives log sigma^2); z = mu + exp(log sigma^2 / 2) * eps;
  * decoder: LSTM (`--dec`, 512) whose input each step is [previous stroke-5 point, z, class
    embedding]; its initial (c, h) is tanh(init_state(z)) split c first, as Magenta's LSTMCell
    keeps its state; zeros in unconditional mode (decoder only, input = the stroke-5 point);
  * output: a linear layer to 6M + 3 columns: 3 pen logits, then M each of mixture logits, mu_x,
    mu_y, log sigma_x, log sigma_y and rho before tanh (`--mixtures` M, 20).
Modes: `unconditional` (Magenta's conditional=False), `vae` (Magenta's default) and `class`
(not in Magenta: the vae plus a class embedding (`--emb`) in every decoder step; a folder of .npz
files gives one class per file, named by the file stem).

Initialisation as Magenta's: input weights Glorot-uniform, recurrent weights orthogonal per
gate, LSTM bias zero but 1 on the forget gate (Magenta adds forget_bias = 1 inside the cell),
mu/sigma/init_state weights N(0, 0.001^2) with zero bias, the output layer's weight and bias
Glorot-uniform (tf.get_variable's default, which for a bias of n values is U(+-sqrt(3/n))).

Loss (Magenta's get_lossfunc): per step, L_s = -log(sum_k pi_k N(dx, dy | k) + 1e-6) masked to
0 where the target is the end-of-sketch state, plus the pen cross-entropy at every step (no
mask, as Magenta trains and evaluates in `load_dataset`); L_R is their mean over batch x N_max
steps. L_KL = -0.5 * mean over batch and z's dimensions of (1 + log sigma^2 - mu^2 - sigma^2).
Training minimises L_R + w_KL * max(L_KL, kl_tolerance), w_KL annealed
(w = 0.5 - (0.5 - 0.01) * 0.99995^step), Adam with lr = (1e-3 - 1e-5) * 0.9999^step + 1e-5, each
gradient element clipped to +-1.

Data (Magenta's `utils.DataLoader` and `load_dataset`): stroke-3 arrays from an .npz (keys
train/valid/test; an .npz with only `sketches` is split here: `--holdout-percent` of it, chosen
by numpy's RandomState(seed), is the test part); offsets clamped to +-1000; N_max = the longest
drawing over every split; the scale factor is numpy's float32 std of all training dx and dy
values (drawings sorted by length as Magenta sorts them), every split divided by it; training
batches of `--batch` drawings drawn without replacement, each scaled in x and y by
U(0.85, 1.15) and with points dropped with probability 0.1 (Magenta's augment_strokes);
padded to stroke-5 of N_max + 1 rows behind the start token (0, 0, 1, 0, 0).

Recurrent dropout (Magenta: on, keep 0.9) is off by default, as in the measurement the issue
quotes; `--recurrent-dropout-keep 0.9` turns it on (dropout of the cell candidate without memory
loss, in encoder and decoder; the recurrent loop then runs in Python and is slower).

Evaluation (Magenta's evaluate_model): the held-out split (`test` if the file has one, else
`valid`) in batches, no augmentation, z sampled with eps ~ N(0, I) from a seeded generator;
L_R averaged over drawings (each the mean over its N_max steps as above) and L_KL averaged over
drawings and z's dimensions before the tolerance floor. The last line on stdout is one JSON object.

Throughput: training steps per second of training wall time (batch assembly, forward,
backward, clipping and Adam); loading and evaluation excluded. Say whether OMP_WAIT_POLICY=PASSIVE
was set when quoting a rate on a busy machine.

    pip install "torch==2.*" numpy
    python bench/sketch_rnn_pytorch.py --data ../shared/data/sketchrnn_aaron_sheep/aaron_sheep.npz \\
        [--mode unconditional|vae|class] [--minutes 20] [--threads 2] [--batch 100] [--dec 512] \\
        [--enc 256] [--nz 128] [--mixtures 20] [--emb 32] [--seed 1] [--max-len N] [--steps N]
"""
import argparse
import json
import os
import pickle
import sys
import time

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

LIMIT = 1000.0  # Magenta's DataLoader.limit: offsets are clamped to +-LIMIT.
START = [0.0, 0.0, 1.0, 0.0, 0.0]  # S_0, the start token.
PDF_EPSILON = 1e-6  # Magenta adds it inside the log of the mixture density.
LSTM_TENSORS = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
HPARAMS = dict(kl_weight=0.5, kl_weight_start=0.01, kl_tolerance=0.2, grad_clip=1.0, learning_rate=1e-3,
               decay_rate=0.9999, kl_decay_rate=0.99995, min_learning_rate=1e-5, random_scale_factor=0.15,
               augment_stroke_prob=0.10)


# ---------------------------------------------------------------- data, as Magenta's utils.py


def load_npz(path):
    """The stroke-3 splits of one .npz: {split: list of arrays}; exits naming what is wrong."""
    try:
        # Google's files are Python 2 pickles (latin1); newer ones read the same way.
        data = np.load(path, allow_pickle=True, encoding="latin1")
    except (OSError, ValueError, pickle.UnpicklingError) as e:
        sys.exit(f"error: {path}: not a readable .npz ({e})")
    keys = [k for k in ("train", "valid", "test", "sketches") if k in data.files]
    if not keys:
        sys.exit(f"error: {path}: no stroke arrays (expected keys train/valid/test or sketches)")
    splits = {k: list(data[k]) for k in keys}
    for k, drawings in splits.items():
        for i, d in enumerate(drawings):
            d = np.asarray(d)
            if d.ndim != 2 or d.shape[1] != 3 or len(d) < 2 or not np.isfinite(d).all():
                sys.exit(f"error: {path}: {k}[{i}] is not a stroke-3 array of 2 or more finite points")
    return splits


def split_sketches(splits, holdout_percent, seed):
    """An .npz holding only `sketches` split into train and test by a seeded permutation."""
    if "sketches" not in splits:
        return splits
    drawings = splits["sketches"]
    order = np.random.RandomState(seed).permutation(len(drawings))
    n_test = int(round(len(drawings) * holdout_percent / 100.0))
    return {"test": [drawings[i] for i in order[:n_test]], "train": [drawings[i] for i in order[n_test:]]}


def read_data(path, holdout_percent, seed):
    """(classes, {split: [(stroke-3 array, class id)]}) from an .npz or a folder of them."""
    if os.path.isdir(path):
        files = sorted(os.path.join(path, f) for f in os.listdir(path) if f.endswith(".npz"))
        if not files:
            sys.exit(f"error: {path}: no .npz files in the folder")
    elif os.path.isfile(path):
        files = [path]
    else:
        sys.exit(f"error: {path}: no such file or folder")
    classes, merged = [], {}
    for class_id, f in enumerate(files):
        classes.append(os.path.splitext(os.path.basename(f))[0])
        for split, drawings in split_sketches(load_npz(f), holdout_percent, seed).items():
            merged.setdefault(split, []).extend((d, class_id) for d in drawings)
    return classes, merged


def preprocess(drawings, max_len):
    """Magenta's DataLoader.preprocess: clamp to +-LIMIT, float32, drop drawings longer than
    max_len, sort by length (numpy's default argsort, as Magenta)."""
    kept = [(np.array(np.maximum(np.minimum(d, LIMIT), -LIMIT), dtype=np.float32), c)
            for d, c in drawings if len(d) <= max_len]
    order = np.argsort(np.array([len(d) for d, _ in kept]))
    return [kept[i] for i in order], len(drawings) - len(kept)


def scale_factor(train):
    """Magenta's calculate_normalizing_scale_factor: numpy's float32 std of every dx and dy."""
    values = np.array([v for d, _ in train for row in d for v in (row[0], row[1])], dtype=np.float32)
    return np.std(values)


def normalize(drawings, factor):
    """Divides every offset by the training set's scale factor, in float32 as Magenta does."""
    for d, _ in drawings:
        d[:, 0:2] /= factor


def augment_strokes(strokes, prob, rs):
    """Magenta's augment_strokes: drops points inside a stroke (never its first two or its end)
    with probability prob, adding their offsets to the point kept before them."""
    result = []
    prev_stroke = [0, 0, 1]
    count = 0
    stroke = [0, 0, 1]
    for row in strokes:
        candidate = [row[0], row[1], row[2]]
        count = 0 if candidate[2] == 1 or prev_stroke[2] == 1 else count + 1
        urnd = rs.rand()
        if candidate[2] == 0 and prev_stroke[2] == 0 and count > 2 and urnd < prob:
            stroke[0] += candidate[0]  # stroke is the last list appended to result
            stroke[1] += candidate[1]
        else:
            stroke = candidate
            prev_stroke = stroke
            result.append(stroke)
    return np.array(result)


def random_scale(data, factor, rs):
    """Magenta's DataLoader.random_scale: x and y stretched by U(1 - factor, 1 + factor)."""
    x_scale = (rs.random_sample() - 0.5) * 2 * factor + 1.0
    y_scale = (rs.random_sample() - 0.5) * 2 * factor + 1.0
    result = np.copy(data)
    result[:, 0] *= x_scale
    result[:, 1] *= y_scale
    return result


def pad_batch(batch, max_len):
    """Magenta's pad_batch: stroke-5 [len(batch), max_len + 1, 5], the start token first, then
    the points (pen down, pen up), then end-of-sketch rows (0, 0, 0, 0, 1)."""
    result = np.zeros((len(batch), max_len + 1, 5), dtype=float)
    for i, d in enumerate(batch):
        n = len(d)
        result[i, 1:n + 1, 0:2] = d[:, 0:2]
        result[i, 1:n + 1, 3] = d[:, 2]
        result[i, 1:n + 1, 2] = 1 - d[:, 2]
        result[i, n + 1:, 4] = 1
        result[i, 0] = START
    return result


def training_batch(train, batch_size, max_len, rs):
    """Magenta's random_batch: batch_size distinct drawings, scaled and point-dropped."""
    idx = rs.permutation(len(train))[:batch_size]
    drawings, lengths, classes = [], [], []
    for i in idx:
        d, c = train[i]
        d = random_scale(d, HPARAMS["random_scale_factor"], rs)
        d = augment_strokes(d, HPARAMS["augment_stroke_prob"], rs)
        drawings.append(d)
        lengths.append(len(d))
        classes.append(c)
    return pad_batch(drawings, max_len), lengths, classes


# ---------------------------------------------------------------- the model


class SketchRNN(nn.Module):
    """sketch-rnn with recur's tensor names; `forward` returns the output head's values for
    every step [B, N_max, 6M+3], and mu and log sigma^2 of z (None when unconditional)."""

    def __init__(self, mode, enc=256, dec=512, nz=128, mixtures=20, classes=0, emb=32, keep=1.0):
        super().__init__()
        self.mode, self.dec, self.nz, self.mixtures, self.keep = mode, dec, nz, mixtures, keep
        width = 5
        if mode != "unconditional":
            self.encoder = nn.LSTM(5, enc, bidirectional=True, batch_first=True)
            # A one-direction LSTM run with either direction's weights (a list, so that it is
            # no submodule and its own tensors stay out of the state_dict).
            self.one_direction = [nn.LSTM(5, enc, batch_first=True)]
            self.mu = nn.Linear(2 * enc, nz)
            self.sigma = nn.Linear(2 * enc, nz)
            self.init_state = nn.Linear(nz, 2 * dec)
            width += nz
        if mode == "class":
            self.class_embedding = nn.Embedding(classes, emb)
            width += emb
        self.decoder = nn.LSTM(width, dec, batch_first=True)
        self.output = nn.Linear(dec, 6 * mixtures + 3)

    def encode(self, points, lengths):
        """mu and log sigma^2 from the final h of both directions over the real points: the
        backward direction reads each drawing reversed within its length, and each direction's h
        is taken at the drawing's last real point (what a packed sequence gives; torch's packed
        LSTM backward pass on the CPU is 5 to 15 times slower than this)."""
        b, t = points.shape[:2]
        rows, steps = torch.arange(b), torch.arange(t)[None, :]
        reverse = torch.where(steps < lengths[:, None], lengths[:, None] - 1 - steps, steps)
        finals = []
        for suffix, x in (("", points), ("_reverse", points[rows[:, None], reverse])):
            if self.keep < 1.0 and self.training:
                zeros = points.new_zeros(b, self.encoder.hidden_size)
                hidden = dropout_lstm(lstm_weights(self.encoder, suffix), x, zeros, zeros, self.keep)
            else:
                weights = {name: getattr(self.encoder, name + suffix) for name in LSTM_TENSORS}
                hidden, _ = functional_call(self.one_direction[0], weights, (x,))
            finals.append(hidden[rows, lengths - 1])
        h = torch.cat(finals, 1)
        return self.mu(h), self.sigma(h)

    def forward(self, strokes, lengths, class_ids=None, eps=None):
        """strokes: [B, N_max + 1, 5] (start token first); eps: [B, nz] (drawn when None)."""
        inputs, targets = strokes[:, :-1], strokes[:, 1:]
        b, steps = inputs.shape[:2]
        mu = logvar = None
        state = None
        if self.mode != "unconditional":
            mu, logvar = self.encode(targets, lengths)
            eps = torch.randn_like(mu) if eps is None else eps
            z = mu + torch.exp(logvar / 2) * eps
            c0, h0 = torch.tanh(self.init_state(z)).split(self.dec, 1)
            state = (h0.unsqueeze(0).contiguous(), c0.unsqueeze(0).contiguous())
            extra = [z] if self.mode == "vae" else [z, self.class_embedding(class_ids)]
            inputs = torch.cat([inputs, torch.cat(extra, 1).unsqueeze(1).expand(b, steps, -1)], 2)
        if state is None:
            state = tuple(torch.zeros(1, b, self.dec, dtype=inputs.dtype) for _ in range(2))
        if self.keep < 1.0 and self.training:
            hidden = dropout_lstm(lstm_weights(self.decoder, ""), inputs, state[0][0], state[1][0], self.keep)
        else:
            hidden, _ = self.decoder(inputs, state)
        # The mixture head in f32 even under --bf16: with its outputs rounded to bfloat16
        # (autocast's linear) the loss turned NaN within 500 steps on omniglot.
        with torch.autocast("cpu", enabled=False):
            return self.output(hidden.float()), mu, logvar


def lstm_weights(lstm, suffix):
    """One direction's (W_ih, W_hh, b_ih + b_hh) of a torch LSTM."""
    return (getattr(lstm, f"weight_ih_l0{suffix}"), getattr(lstm, f"weight_hh_l0{suffix}"),
            getattr(lstm, f"bias_ih_l0{suffix}") + getattr(lstm, f"bias_hh_l0{suffix}"))


def dropout_lstm(weights, x, h, c, keep):
    """An LSTM over x [B, T, in] from (h, c) with Magenta's recurrent dropout (the candidate g
    dropped, no memory loss); torch's gate order i, f, g, o. Returns h at every step."""
    w_ih, w_hh, bias = weights
    xw = x @ w_ih.T + bias
    out = []
    for t in range(x.shape[1]):
        i, f, g, o = (xw[:, t] + h @ w_hh.T).chunk(4, 1)
        g = nn.functional.dropout(torch.tanh(g), 1.0 - keep)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * g
        h = torch.sigmoid(o) * torch.tanh(c)
        out.append(h)
    return torch.stack(out, 1)


def glorot_(weight):
    """TF's default glorot_uniform for a [in, out] variable (torch stores [out, in]); a 1-D
    variable of n values has fan_in = fan_out = n."""
    fan = sum(weight.shape) if weight.dim() == 2 else 2 * weight.shape[0]
    bound = (6.0 / fan) ** 0.5
    nn.init.uniform_(weight, -bound, bound)


def magenta_init_(model):
    """Magenta's initialisation (see the module docstring), in place."""
    with torch.no_grad():
        for lstm in [m for m in (getattr(model, "encoder", None), model.decoder) if m is not None]:
            for name, p in lstm.named_parameters():
                if name.startswith("weight_ih"):
                    glorot_(p)
                elif name.startswith("weight_hh"):
                    for block in p.chunk(4, 0):
                        nn.init.orthogonal_(block)
                else:
                    p.zero_()
                    if name.startswith("bias_ih"):
                        p[lstm.hidden_size:2 * lstm.hidden_size] = 1.0  # the forget gate
        for name in ("mu", "sigma", "init_state"):
            if hasattr(model, name):
                nn.init.normal_(getattr(model, name).weight, std=0.001)
                getattr(model, name).bias.zero_()
        glorot_(model.output.weight)
        glorot_(model.output.bias)


# ---------------------------------------------------------------- losses, as Magenta's get_lossfunc


def split_head(out, mixtures):
    """The output head's columns: pen logits, then mixture logits, mu_x, mu_y, log sigma_x,
    log sigma_y and rho before tanh, M of each."""
    pen_logits = out[..., :3]
    pi, mu_x, mu_y, log_sx, log_sy, rho = out[..., 3:].split(mixtures, -1)
    return pen_logits, pi, mu_x, mu_y, log_sx, log_sy, rho


def step_loss_parts(out, targets, mixtures):
    """Magenta's per-step loss terms, each [B, N_max]: the offset term -log(sum_k pi_k N_k + 1e-6)
    (0 where the target is the end-of-sketch state) and the pen cross-entropy (every step). The
    log is taken through logsumexp with log(1e-6) as one more term: the same value, no overflow."""
    pen_logits, pi, mu_x, mu_y, log_sx, log_sy, rho = split_head(out, mixtures)
    rho = torch.tanh(rho)
    nx = (targets[..., 0:1] - mu_x) / torch.exp(log_sx)
    ny = (targets[..., 1:2] - mu_y) / torch.exp(log_sy)
    one_minus = 1 - rho * rho
    log_density = (-(nx * nx + ny * ny - 2 * rho * nx * ny) / (2 * one_minus)
                   - np.log(2 * np.pi) - log_sx - log_sy - 0.5 * torch.log(one_minus))
    terms = torch.log_softmax(pi, -1) + log_density
    floor = torch.full_like(terms[..., :1], np.log(PDF_EPSILON))
    offset = -torch.logsumexp(torch.cat([terms, floor], -1), -1) * (1 - targets[..., 4])
    pen = -(targets[..., 2:5] * torch.log_softmax(pen_logits, -1)).sum(-1)
    return offset, pen


def step_losses(out, targets, mixtures):
    """Magenta's per-step loss [B, N_max]: the offset term plus the pen term."""
    offset, pen = step_loss_parts(out, targets, mixtures)
    return offset + pen


def kl_loss(mu, logvar):
    """L_KL averaged over the batch and z's dimensions, before Magenta's tolerance floor."""
    return -0.5 * torch.mean(1 + logvar - mu * mu - torch.exp(logvar))


# ---------------------------------------------------------------- training and evaluation


def batch_tensors(strokes, lengths, classes):
    """numpy batch parts to the tensors SketchRNN.forward takes."""
    return (torch.tensor(strokes, dtype=torch.float32), torch.tensor(lengths),
            torch.tensor(classes, dtype=torch.long))


def train(model, train_set, max_len, args, rs):
    """Magenta's training loop for args.minutes of wall time (or args.steps); returns
    (steps, training seconds)."""
    opt = torch.optim.Adam(model.parameters(), lr=HPARAMS["learning_rate"])
    hp, step, spent = HPARAMS, 0, 0.0
    model.train()
    while spent < args.minutes * 60 and (args.steps == 0 or step < args.steps):
        started = time.perf_counter()
        lr = (hp["learning_rate"] - hp["min_learning_rate"]) * hp["decay_rate"] ** step + hp["min_learning_rate"]
        kl_w = hp["kl_weight"] - (hp["kl_weight"] - hp["kl_weight_start"]) * hp["kl_decay_rate"] ** step
        for group in opt.param_groups:
            group["lr"] = lr
        strokes, lengths, classes = batch_tensors(*training_batch(train_set, args.batch, max_len, rs))
        # --bf16: PyTorch's own mixed precision on CPUs (autocast: bf16 products, f32 weights).
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            out, mu, logvar = model(strokes, lengths, classes)
        out = out.float()
        mu, logvar = (None, None) if mu is None else (mu.float(), logvar.float())
        recon = step_losses(out, strokes[:, 1:], model.mixtures).mean()
        kl = kl_loss(mu, logvar) if mu is not None else torch.zeros(())
        # Magenta's cost: the KL term is floored at kl_tolerance (its gradient then vanishes).
        loss = (recon + kl_w * torch.clamp(kl, min=hp["kl_tolerance"])) if mu is not None else recon
        opt.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.grad.clamp_(-hp["grad_clip"], hp["grad_clip"])
        opt.step()
        step += 1
        spent += time.perf_counter() - started
        if step % 20 == 0:
            print(f"step {step}  {step / spent:.2f} steps/s  lr {lr:.6f}  kl_w {kl_w:.4f}  "
                  f"recon {recon.item():.4f}  kl {kl.item():.4f}", file=sys.stderr, flush=True)
    return step, spent


@torch.no_grad()
def evaluate(model, drawings, max_len, batch_size, seed):
    """Held-out (L_R, L_KL) in Magenta's convention, averaged over drawings."""
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    total_r = total_kl = 0.0
    for start in range(0, len(drawings), batch_size):
        part = drawings[start:start + batch_size]
        strokes, lengths, classes = batch_tensors(pad_batch([d for d, _ in part], max_len),
                                                  [len(d) for d, _ in part], [c for _, c in part])
        eps = torch.randn(len(part), model.nz, generator=gen)
        out, mu, logvar = model(strokes, lengths, classes, eps)
        total_r += step_losses(out, strokes[:, 1:], model.mixtures).mean(1).sum().item()
        if mu is not None:
            total_kl += (-0.5 * (1 + logvar - mu * mu - torch.exp(logvar))).mean(1).sum().item()
    return total_r / len(drawings), total_kl / len(drawings)


def prepare(args):
    """Reads the data as Magenta's load_dataset does: (classes, train, held-out, held-out split
    name, N_max, scale factor, drawings dropped as too long)."""
    classes, splits = read_data(args.data, args.holdout_percent, args.seed)
    if "train" not in splits:
        sys.exit(f"error: {args.data}: no training drawings")
    held_name = "test" if "test" in splits else "valid" if "valid" in splits else None
    if held_name is None:
        sys.exit(f"error: {args.data}: no held-out split (test or valid)")
    max_len = args.max_len or max(len(d) for drawings in splits.values() for d, _ in drawings)
    train_set, dropped = preprocess(splits["train"], max_len)
    held, held_dropped = preprocess(splits[held_name], max_len)
    factor = scale_factor(train_set)
    normalize(train_set, factor)
    normalize(held, factor)
    return classes, train_set, held, held_name, max_len, factor, dropped + held_dropped


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="a sketch-rnn .npz, or a folder of them (one per class)")
    ap.add_argument("--mode", choices=["unconditional", "vae", "class"], default="unconditional")
    ap.add_argument("--minutes", type=float, default=20.0, help="training wall time")
    ap.add_argument("--steps", type=int, default=0, help="stop after this many steps too (0: no bound)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--enc", type=int, default=256)
    ap.add_argument("--dec", type=int, default=512)
    ap.add_argument("--nz", type=int, default=128)
    ap.add_argument("--mixtures", type=int, default=20)
    ap.add_argument("--emb", type=int, default=32, help="class embedding width (class mode)")
    ap.add_argument("--recurrent-dropout-keep", type=float, default=1.0, help="Magenta: 0.9 (1: off)")
    ap.add_argument("--max-len", type=int, default=0, help="N_max (0: the longest drawing in the data)")
    ap.add_argument("--holdout-percent", type=float, default=10.0, help="test part of an .npz without splits")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--bf16", action="store_true",
                    help="train under torch.autocast(cpu, bfloat16): bf16 products, f32 weights")
    args = ap.parse_args()
    if args.minutes <= 0 or args.batch < 1 or args.threads < 1 or not 0 < args.recurrent_dropout_keep <= 1:
        ap.error("--minutes, --batch and --threads must be positive and --recurrent-dropout-keep in (0, 1]")
    return args


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rs = np.random.RandomState(args.seed)
    classes, train_set, held, held_name, max_len, factor, dropped = prepare(args)
    print(f"{len(train_set)} training and {len(held)} {held_name} drawings, N_max {max_len}, "
          f"scale factor {factor:.6f}, {dropped} dropped as longer than N_max, classes {classes}",
          file=sys.stderr)
    model = SketchRNN(args.mode, args.enc, args.dec, args.nz, args.mixtures, len(classes), args.emb,
                      args.recurrent_dropout_keep)
    magenta_init_(model)
    steps, spent = train(model, train_set, max_len, args, rs)
    recon, kl = evaluate(model, held, max_len, args.batch, args.seed)
    print(json.dumps({"mode": args.mode, "data": os.path.basename(os.path.normpath(args.data)),
                      "split": held_name, "drawings": len(held), "recon_loss": round(recon, 6),
                      "kl_loss": round(kl, 6), "steps": steps, "train_seconds": round(spent, 1),
                      "steps_per_sec": round(steps / spent, 3), "threads": args.threads,
                      "max_len": max_len, "scale_factor": float(factor), "dec": args.dec,
                      "mixtures": args.mixtures, "batch": args.batch,
                      "recurrent_dropout_keep": args.recurrent_dropout_keep, "bf16": args.bf16}))


if __name__ == "__main__":
    main()
