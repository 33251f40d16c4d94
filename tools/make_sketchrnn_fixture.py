"""Writes the PyTorch parity fixtures of recur's sketch-rnn model to
crates/recur-sketchrnn/tests/fixtures/<case>/ (cases: unconditional, vae, class), using the
model and loss of bench/sketch_rnn_pytorch.py (a port of Magenta's sketch_rnn). What each file
holds and the exact loss definitions are in that folder's README.md.

    pip install "torch==2.*" numpy safetensors && python tools/make_sketchrnn_fixture.py

`python tools/make_sketchrnn_fixture.py data DATA_DIR` instead writes fixtures/data_checks.json
(and prints it): what Magenta's data handling gives for the sketch-rnn sets under DATA_DIR (the
shared data folder), per set the drawings per split, N_max and the scale factor.
"""
import json
import pathlib
import sys

import numpy as np
import torch
from safetensors.torch import save_file

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from sketch_rnn_pytorch import (  # noqa: E402 (the bench script is the one definition of the model)
    SketchRNN, kl_loss, load_npz, pad_batch, preprocess, scale_factor, step_loss_parts)

OUT = ROOT / "crates/recur-sketchrnn/tests/fixtures"
SIZES = dict(enc=8, dec=12, nz=4, mixtures=3, classes=3, emb=3)
N_MAX = 12
LENGTHS = [12, 7, 4]  # one drawing as long as N_max (no end-of-sketch step), two shorter
CLASS_IDS = [2, 0, 1]
KL_WEIGHT = 0.37
DATA_SETS = {
    "sketchrnn_aaron_sheep": ["aaron_sheep.npz"],
    "sketchrnn_omniglot": ["omniglot.npz"],
    "quickdraw_sketchrnn_stroke3_4class": ["alarm-clock.npz", "face.npz", "pig.npz", "radio.npz"],
}


def drawing(rs, n):
    """A stroke-3 drawing of n points: N(0, 1) offsets rounded to 1/64, pen lifted at random
    and on the last point (as every sketch-rnn drawing ends)."""
    d = np.zeros((n, 3))
    d[:, 0:2] = np.round(rs.normal(0.0, 1.0, (n, 2)) * 64) / 64
    d[:, 2] = rs.random_sample(n) < 0.3
    d[-1, 2] = 1
    return d


def write_case(mode, seed):
    """One fixture folder: the state_dict in float32, the inputs and torch's float64 results on
    those weights (widened)."""
    torch.manual_seed(seed)
    rs = np.random.RandomState(seed)
    model = SketchRNN(mode, SIZES["enc"], SIZES["dec"], SIZES["nz"], SIZES["mixtures"], SIZES["classes"],
                      SIZES["emb"])
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-0.5, 0.5)
    d = OUT / mode
    d.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(d / "weights.safetensors"),
              metadata={"format": "pt"})
    model = model.double()
    strokes = torch.tensor(pad_batch([drawing(rs, n) for n in LENGTHS], N_MAX))
    lengths = torch.tensor(LENGTHS)
    class_ids = torch.tensor(CLASS_IDS)
    eps = torch.randn(len(LENGTHS), SIZES["nz"], dtype=torch.float64)
    out, mu, logvar = model(strokes, lengths, class_ids, eps)
    offset, pen = step_loss_parts(out, strokes[:, 1:], SIZES["mixtures"])
    recon = (offset + pen).mean()
    inputs = {"strokes": strokes, "lengths": lengths.double(),
              "kl_weight": torch.tensor([KL_WEIGHT], dtype=torch.float64)}
    expected = {"output": out, "offset_losses": offset, "pen_losses": pen, "recon_loss": recon.reshape(1)}
    loss = recon
    if mu is not None:
        kl = kl_loss(mu, logvar)
        loss = recon + KL_WEIGHT * kl
        inputs["eps"] = eps
        expected.update(mu=mu, logvar=logvar, z=mu + torch.exp(logvar / 2) * eps, kl_loss=kl.reshape(1))
    if mode == "class":
        inputs["class_ids"] = class_ids.double()
    loss.backward()
    expected["loss"] = loss.reshape(1)
    for k, p in model.named_parameters():
        expected[f"grad.{k}"] = p.grad
    for name, tensors in (("inputs", inputs), ("expected", expected)):
        save_file({k: v.detach().clone() for k, v in tensors.items()}, str(d / f"{name}.safetensors"))
    print("wrote", d)


def data_checks(data_dir):
    """Magenta's load_dataset numbers for each set: drawings per split, N_max over every split,
    the float32 scale factor (numpy's std over the training dx and dy, drawings sorted by length)
    and the same std in float64. A set without splits (the 4-class files) counts every drawing
    as training data."""
    checks = {}
    for folder, files in DATA_SETS.items():
        splits = {}
        for f in files:
            for split, drawings in load_npz(str(pathlib.Path(data_dir) / folder / f)).items():
                splits.setdefault("train" if split == "sketches" else split, []).extend((d, 0) for d in drawings)
        max_len = max(len(d) for drawings in splits.values() for d, _ in drawings)
        train, _ = preprocess(splits["train"], max_len)
        values = np.array([v for d, _ in train for v in d[:, 0:2].ravel()], dtype=np.float64)
        factor = scale_factor(train)
        checks[folder] = {
            "files": files, "drawings": {k: len(v) for k, v in splits.items()}, "max_len": max_len,
            "points_clamped": int(sum((np.abs(d[:, 0:2]) > 1000).sum() for d, _ in splits["train"])),
            "scale_factor_f32": float(factor), "scale_factor_f32_bits": f"0x{np.float32(factor).view(np.uint32):08x}",
            "scale_factor_f64": float(np.std(values)), "offsets": int(values.size),
        }
    return checks


def main():
    torch.set_default_dtype(torch.float32)
    if len(sys.argv) == 3 and sys.argv[1] == "data":
        text = json.dumps(data_checks(sys.argv[2]), indent=2) + "\n"
        (OUT / "data_checks.json").write_text(text)
        print(text, end="")
        return
    if len(sys.argv) != 1:
        sys.exit("usage: make_sketchrnn_fixture.py [data DATA_DIR]")
    for seed, mode in enumerate(["unconditional", "vae", "class"], start=31):
        write_case(mode, seed)


if __name__ == "__main__":
    main()
