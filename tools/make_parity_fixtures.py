"""Writes the PyTorch parity fixtures used by crates/recur-nn/tests/parity.rs.

Each fixture is a directory holding a recur model directory written by PyTorch
(config.json + model.safetensors with the torch state_dict under `layers.{i}.`) and
io.safetensors: an input batch with lengths, the loss weights w, and PyTorch's output y,
input gradient dx and parameter gradients (`grad.<name>`) for loss = sum(w * y).
Everything is float64 so the comparison is tight.

    pip install torch safetensors numpy && python tools/make_parity_fixtures.py
"""
import json
import pathlib

import torch
from safetensors.torch import save_file
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

OUT = pathlib.Path(__file__).resolve().parent.parent / "crates/recur-nn/tests/fixtures"
torch.manual_seed(0)
torch.set_default_dtype(torch.float64)


class Recurrent(nn.Module):
    """A torch RNN wrapped to behave like recur's layer: packed by lengths, zeros at padding,
    final state when return_sequences is false."""

    def __init__(self, kind, n_in, units, bidirectional, return_sequences):
        super().__init__()
        cls = {"lstm": nn.LSTM, "gru": nn.GRU, "simple_rnn": nn.RNN}[kind]
        self.rnn = cls(n_in, units, batch_first=True, bidirectional=bidirectional)
        self.kind, self.return_sequences = kind, return_sequences

    def forward(self, x, lengths):
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, state = self.rnn(packed)
        if self.return_sequences:
            y, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
            return y
        h_n = state[0] if self.kind == "lstm" else state
        return torch.cat(list(h_n), dim=-1)


class ConvStack(nn.Module):
    """conv1d(same, relu) -> batch_norm -> conv1d(causal, dilated) -> dense, on full-length input."""

    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Conv1d(3, 5, 3, padding=1), nn.BatchNorm1d(5), nn.Conv1d(5, 4, 2, dilation=2), nn.Linear(4, 3)])

    def forward(self, x, _lengths):
        h = torch.relu(self.layers[0](x.transpose(1, 2)))
        h = self.layers[1](h)
        h = self.layers[2](nn.functional.pad(h, (2, 0)))
        return self.layers[3](h.transpose(1, 2))


def write(name, config, module, prefix, x, lengths):
    d = OUT / name
    d.mkdir(parents=True, exist_ok=True)
    for p in module.parameters():
        with torch.no_grad():
            p.uniform_(-0.6, 0.6)
    x = x.clone().requires_grad_(True)
    y = module(x, lengths)
    w = torch.rand_like(y) * 2 - 1
    mask = torch.zeros_like(y)
    if y.dim() == 3:
        for b, n in enumerate(lengths.tolist()):
            mask[b, :n] = 1
    else:
        mask[:] = 1
    (w * mask * y).sum().backward()
    state = {f"{prefix(k)}": v.detach().contiguous() for k, v in module.state_dict().items()}
    save_file(state, str(d / "model.safetensors"), metadata={"format": "pt"})
    (d / "config.json").write_text(json.dumps(config, indent=2))
    io = {"x": x.detach(), "lengths": lengths.to(torch.float64), "w": w * mask, "y": y.detach(), "dx": x.grad}
    for k, p in module.named_parameters():
        io[f"grad.{prefix(k)}"] = p.grad
    save_file({k: v.contiguous() for k, v in io.items()}, str(d / "io.safetensors"))
    print("wrote", d)


def main():
    lengths = torch.tensor([6, 3, 5])
    x = torch.rand(3, 6, 3) * 2 - 1
    for b, n in enumerate(lengths.tolist()):
        x[b, n:] = 0
    for kind in ["lstm", "gru", "simple_rnn"]:
        for bidi, seqs in [(False, False), (True, True), (True, False)]:
            name = f"{kind}{'_bidi' if bidi else ''}{'_seq' if seqs else '_last'}"
            config = {"input_size": 3, "layers": [{"type": kind, "units": 4, "bidirectional": bidi, "return_sequences": seqs}]}
            write(name, config, Recurrent(kind, 3, 4, bidi, seqs), lambda k: "layers.0." + k.removeprefix("rnn."), x, lengths)
    full = torch.tensor([6, 6, 6])
    conv_config = {"input_size": 3, "layers": [
        {"type": "conv1d", "filters": 5, "kernel_size": 3, "padding": "same", "activation": "relu"},
        {"type": "batch_norm"},
        {"type": "conv1d", "filters": 4, "kernel_size": 2, "dilation_rate": 2, "padding": "causal"},
        {"type": "dense", "units": 3}]}
    module = ConvStack()
    module.train()
    write("conv_bn_dense", conv_config, module, lambda k: k, torch.rand(3, 6, 3) * 2 - 1, full)


if __name__ == "__main__":
    main()
