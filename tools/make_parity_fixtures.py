"""Writes the PyTorch parity fixtures used by crates/recur-nn/tests/parity.rs.

Each fixture is a directory holding a recur model directory written by PyTorch
(config.json + model.safetensors with the torch state_dict under `layers.{i}.`) and
io.safetensors: an input batch with lengths, the loss weights w, and PyTorch's output y,
input gradient dx and parameter gradients (`grad.<name>`) for loss = sum(w * y).
Everything is float64 so the comparison is tight.

    pip install torch safetensors numpy && python tools/make_parity_fixtures.py

`python tools/make_parity_fixtures.py frames` writes only the fixtures of frame models (conv2d,
pooling and batch norm over frames in time_distributed, feeding a recurrent layer; x is then
[batch, time, height, width, channels]);
`python tools/make_parity_fixtures.py clips` writes only the fixtures of 3D CNNs over clips (conv3d,
batch norm over clips, max_pool3d, global_avg_pool3d; x is [batch, time, height, width, channels]);
`python tools/make_parity_fixtures.py attention` writes only the attention fixtures used by
crates/recur-nn/tests/attention_parity.rs (see write_attention_fixtures);
`python tools/make_parity_fixtures.py seq2seq` only the encoder-decoder fixtures used by
crates/recur-seq2seq/tests/parity.rs (see write_seq2seq_fixtures).
"""
import json
import pathlib
import sys

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


class Block(nn.Module):
    """One WaveNet block: a dilated causal conv to twice the channels, the gate over its two
    halves, a 1x1 residual conv added to the input, and a 1x1 skip conv."""

    def __init__(self, c, dilation):
        super().__init__()
        self.dilation = dilation
        self.dilated = nn.Conv1d(c, 2 * c, 2, dilation=dilation)
        self.residual = nn.Conv1d(c, c, 1)
        self.skip = nn.Conv1d(c, c, 1)

    def forward(self, h):
        a, b = self.dilated(nn.functional.pad(h, (self.dilation, 0))).chunk(2, dim=1)
        z = torch.tanh(a) * torch.sigmoid(b)
        return h + self.residual(z), self.skip(z)


class Graph(nn.Module):
    """recur's graph config below, node for node: WaveNet blocks (residual and skip adds), a
    two-input gate, a Linear applied twice (shared weights) and multiplied, a concatenation,
    a packed GRU, a repeated vector and a per-step Linear."""

    def __init__(self):
        super().__init__()
        self.input_conv = nn.Conv1d(3, 4, 1)
        self.blocks = nn.ModuleList([Block(4, 1), Block(4, 2)])
        self.filt = nn.Conv1d(4, 4, 2)
        self.gate = nn.Conv1d(4, 4, 2)
        self.proj = nn.Linear(4, 4)
        self.rnn = nn.GRU(8, 3, batch_first=True)
        self.out = nn.Linear(3, 2)

    def forward(self, x, lengths):
        h = self.input_conv(x.transpose(1, 2))
        skips = []
        for block in self.blocks:
            h, s = block(h)
            skips.append(s)
        skip_sum = (skips[0] + skips[1]).transpose(1, 2)
        hp = nn.functional.pad(h, (1, 0))
        gated = (torch.tanh(self.filt(hp)) * torch.sigmoid(self.gate(hp))).transpose(1, 2)
        both = torch.cat([self.proj(gated) * self.proj(skip_sum), h.transpose(1, 2)], dim=-1)
        packed = pack_padded_sequence(both, lengths, batch_first=True, enforce_sorted=False)
        _, h_n = self.rnn(packed)
        return self.out(h_n[0].unsqueeze(1).repeat(1, 2, 1))


GRAPH_CONFIG = {
    "inputs": [{"name": "x", "size": 3}],
    "nodes": [
        {"name": "input_conv", "type": "conv1d", "filters": 4, "kernel_size": 1},
        *[n for i, d in enumerate([1, 2]) for n in [
            {"name": f"blocks.{i}.dilated", "type": "conv1d", "filters": 8, "kernel_size": 2, "dilation_rate": d,
             "padding": "causal", "inputs": ["input_conv" if i == 0 else "blocks.0.out"]},
            {"name": f"blocks.{i}.gated", "type": "gated_activation"},
            {"name": f"blocks.{i}.residual", "type": "conv1d", "filters": 4, "kernel_size": 1},
            {"name": f"blocks.{i}.skip", "type": "conv1d", "filters": 4, "kernel_size": 1, "inputs": [f"blocks.{i}.gated"]},
            {"name": f"blocks.{i}.out", "type": "add",
             "inputs": ["input_conv" if i == 0 else "blocks.0.out", f"blocks.{i}.residual"]}]],
        {"name": "skip_sum", "type": "add", "inputs": ["blocks.0.skip", "blocks.1.skip"]},
        {"name": "filt", "type": "conv1d", "filters": 4, "kernel_size": 2, "padding": "causal", "inputs": ["blocks.1.out"]},
        {"name": "gate", "type": "conv1d", "filters": 4, "kernel_size": 2, "padding": "causal", "inputs": ["blocks.1.out"]},
        {"name": "gated", "type": "gated_activation", "inputs": ["filt", "gate"]},
        {"name": "proj", "type": "dense", "units": 4, "inputs": ["gated"]},
        {"name": "proj_skips", "share": "proj", "inputs": ["skip_sum"]},
        {"name": "product", "type": "multiply", "inputs": ["proj", "proj_skips"]},
        {"name": "both", "type": "concatenate", "inputs": ["product", "blocks.1.out"]},
        {"name": "rnn", "type": "gru", "units": 3},
        {"name": "repeated", "type": "repeat_vector", "n": 2},
        {"name": "out", "type": "time_distributed", "layer": {"type": "dense", "units": 2}},
    ],
    "outputs": ["out"],
}


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


class FrameModel(nn.Module):
    """A CNN over every real frame of each clip feeding a packed recurrent layer, as recur's
    time_distributed runs it: the clips' real frames are one batch of images (padded frames
    never seen, so batch norm's statistics are over real frames only), laid back on the time
    axis after pooling. `layers` holds torch's modules at recur's layer indices (None where
    recur's layer has no tensors)."""

    def __init__(self, layers, image_layers, rnn_kind, return_sequences):
        super().__init__()
        self.layers = nn.ModuleList([m if m is not None else nn.Identity() for m in layers])
        self.image_layers, self.rnn_kind, self.return_sequences = image_layers, rnn_kind, return_sequences

    def forward(self, x, lengths):
        b, t = x.shape[:2]
        mask = torch.arange(t)[None, :] < lengths[:, None]
        h = x[mask].permute(0, 3, 1, 2)
        for i, act in self.image_layers:
            h = self.layers[i](h)
            h = {"relu": torch.relu, "tanh": torch.tanh, None: lambda v: v}[act](h)
        per_step = torch.zeros(b, t, h.shape[1])
        per_step[mask] = h.flatten(1)
        rnn = self.layers[len(self.image_layers)]
        packed = pack_padded_sequence(per_step, lengths, batch_first=True, enforce_sorted=False)
        out, state = rnn(packed)
        if self.return_sequences:
            y, _ = pad_packed_sequence(out, batch_first=True, total_length=t)
        else:
            y = (state[0] if self.rnn_kind == "lstm" else state)[0]
        y = self.layers[len(self.image_layers) + 1](y)
        # recur keeps padded steps at zero; torch's Linear would put its bias there.
        return y * mask.unsqueeze(-1) if self.return_sequences else y


def write_frame_fixtures():
    """fixtures/frames_*: frame CNNs feeding recurrent layers, on clips of several lengths."""
    td = lambda layer: {"type": "time_distributed", "layer": layer}
    torch.manual_seed(5)
    lengths = torch.tensor([3, 1, 2])
    x = torch.rand(3, 3, 8, 7, 2) * 2 - 1
    for b, n in enumerate(lengths.tolist()):
        x[b, n:] = 0
    config = {"input_shape": [8, 7, 2], "layers": [
        td({"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": "same", "activation": "relu"}),
        {"type": "batch_norm"},
        td({"type": "max_pool2d", "pool_size": 2}),
        td({"type": "conv2d", "filters": 3, "kernel_size": [2, 3], "strides": [1, 2], "dilation_rate": [2, 1],
            "activation": "tanh"}),
        td({"type": "global_avg_pool2d"}),
        {"type": "lstm", "units": 4},
        {"type": "dense", "units": 3}]}
    module = FrameModel([nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.MaxPool2d(2),
                         nn.Conv2d(4, 3, (2, 3), stride=(1, 2), dilation=(2, 1)), nn.AdaptiveAvgPool2d(1),
                         nn.LSTM(3, 4, batch_first=True), nn.Linear(4, 3)],
                        [(0, "relu"), (1, None), (2, None), (3, "tanh"), (4, None)], "lstm", False)
    module.train()
    write("frames_conv_bn_lstm", config, module, lambda k: k, x, lengths)

    lengths = torch.tensor([2, 4, 3])
    x = torch.rand(3, 4, 7, 7, 1) * 2 - 1
    for b, n in enumerate(lengths.tolist()):
        x[b, n:] = 0
    config = {"input_shape": [7, 7, 1], "layers": [
        td({"type": "conv2d", "filters": 3, "kernel_size": 3, "strides": 2}),
        td({"type": "avg_pool2d", "pool_size": 2, "strides": 1}),
        td({"type": "global_max_pool2d"}),
        {"type": "gru", "units": 3, "return_sequences": True},
        {"type": "dense", "units": 2}]}
    module = FrameModel([nn.Conv2d(1, 3, 3, stride=2), nn.AvgPool2d(2, stride=1), nn.AdaptiveMaxPool2d(1),
                         nn.GRU(3, 3, batch_first=True), nn.Linear(3, 2)],
                        [(0, None), (1, None), (2, None)], "gru", True)
    write("frames_avgpool_gru_seq", config, module, lambda k: k, x, lengths)


class ClipModel(nn.Module):
    """A 3D CNN over clips as recur runs it: each clip convolved and pooled alone over its real
    frames (so `same` pads it at its own ends and `valid` shortens it), batch norm's statistics
    over every real frame of every clip (the clips laid end to end on the time axis), the global
    pool a mean over each clip's real frames and pixels. `layers` holds torch's modules at recur's
    layer indices; `kinds` says what each does ("clip": on each clip, "bn", "relu", "mean",
    "dense")."""

    def __init__(self, layers, kinds):
        super().__init__()
        self.layers = nn.ModuleList([m if m is not None else nn.Identity() for m in layers])
        self.kinds = kinds

    def forward(self, x, lengths):
        clips = [x[b, :n].permute(3, 0, 1, 2)[None] for b, n in enumerate(lengths.tolist())]
        for layer, kind in zip(self.layers, self.kinds):
            if kind == "clip":
                clips = [layer(c) for c in clips]
            elif kind == "bn":
                steps = [c.shape[2] for c in clips]
                clips = list(torch.split(layer(torch.cat(clips, dim=2)), steps, dim=2))
            elif kind == "relu":
                clips = [torch.relu(c) for c in clips]
            elif kind == "mean":
                h = torch.stack([c.mean(dim=(2, 3, 4))[0] for c in clips])
            else:
                h = layer(h)
        return h


def write_clip_fixtures():
    """fixtures/clips_c3d: a small C3D (conv3d+bn+relu+max_pool3d twice, global_avg_pool3d,
    dense) on clips of 6, 4 and 5 frames."""
    torch.manual_seed(6)
    lengths = torch.tensor([6, 4, 5])
    x = torch.rand(3, 6, 8, 8, 2) * 2 - 1
    for b, n in enumerate(lengths.tolist()):
        x[b, n:] = 0
    relu = {"type": "activation", "activation": "relu"}
    config = {"input_shape": [8, 8, 2], "layers": [
        {"type": "conv3d", "filters": 4, "kernel_size": 3, "padding": "same"},
        {"type": "batch_norm"}, relu,
        {"type": "max_pool3d", "pool_size": 2},
        {"type": "conv3d", "filters": 3, "kernel_size": [2, 3, 3]},
        {"type": "batch_norm"}, relu,
        {"type": "max_pool3d", "pool_size": [1, 2, 2]},
        {"type": "global_avg_pool3d"},
        {"type": "dense", "units": 3}]}
    module = ClipModel([nn.Conv3d(2, 4, 3, padding=1), nn.BatchNorm3d(4), None, nn.MaxPool3d(2),
                        nn.Conv3d(4, 3, (2, 3, 3)), nn.BatchNorm3d(3), None, nn.MaxPool3d((1, 2, 2)), None,
                        nn.Linear(3, 3)],
                       ["clip", "bn", "relu", "clip", "clip", "bn", "relu", "clip", "mean", "dense"])
    module.train()
    write("clips_c3d", config, module, lambda k: k, x, lengths)


class Attention(nn.Module):
    """OpenNMT-py's GlobalAttention scores (dot, general = linear_in, additive = its mlp with
    `units` hidden), the source padding masked, a zero context at padded query steps."""

    def __init__(self, kind, q_dim, mem_dim, units):
        super().__init__()
        self.kind = kind
        if kind == "general":
            self.linear_in = nn.Linear(q_dim, mem_dim, bias=False)
        elif kind == "additive":
            self.linear_query = nn.Linear(q_dim, units)
            self.linear_context = nn.Linear(mem_dim, units, bias=False)
            self.v = nn.Linear(units, 1, bias=False)

    def forward(self, q, m, q_lengths, m_lengths):
        if self.kind == "dot":
            s = q @ m.transpose(1, 2)
        elif self.kind == "general":
            s = self.linear_in(q) @ m.transpose(1, 2)
        else:
            s = self.v(torch.tanh(self.linear_query(q).unsqueeze(2) + self.linear_context(m).unsqueeze(1))).squeeze(-1)
        src_mask = torch.arange(m.shape[1])[None, None, :] < m_lengths[:, None, None]
        a = torch.softmax(s.masked_fill(~src_mask, float("-inf")), dim=-1)
        a = a * (torch.arange(q.shape[1])[None, :] < q_lengths[:, None]).unsqueeze(-1)
        return a @ m, a


def write_attention_fixtures():
    """fixtures_attention/{dot,general,additive}/: the module's state_dict (model.safetensors)
    and io.safetensors with padded queries and memory, their lengths, the loss weights w, and
    torch's context, attention weights and gradients of loss = sum(w * context)."""
    torch.manual_seed(11)
    out = OUT.parent / "fixtures_attention"
    q_lengths, m_lengths = torch.tensor([4, 2, 3]), torch.tensor([5, 3, 1])
    for kind in ["dot", "general", "additive"]:
        q_dim, mem_dim, units = (3 if kind == "dot" else 4), 3, 6
        module = Attention(kind, q_dim, mem_dim, units)
        for p in module.parameters():
            with torch.no_grad():
                p.uniform_(-0.6, 0.6)
        q = torch.rand(3, 4, q_dim) * 2 - 1
        m = torch.rand(3, 5, mem_dim) * 2 - 1
        for b in range(3):
            q[b, q_lengths[b]:] = 0
            m[b, m_lengths[b]:] = 0
        q.requires_grad_(True)
        m.requires_grad_(True)
        context, weights = module(q, m, q_lengths, m_lengths)
        w = torch.rand_like(context) * 2 - 1
        for b in range(3):
            w[b, q_lengths[b]:] = 0
        (w * context).sum().backward()
        d = out / kind
        d.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().contiguous() for k, v in module.state_dict().items()}
        save_file(state, str(d / "model.safetensors"), metadata={"format": "pt"})
        io = {"queries": q.detach(), "memory": m.detach(), "q_lengths": q_lengths.to(torch.float64),
              "m_lengths": m_lengths.to(torch.float64), "w": w, "context": context.detach(),
              "weights": weights.detach(), "d_queries": q.grad, "d_memory": m.grad}
        for k, p in module.named_parameters():
            io[f"grad.{k}"] = p.grad
        save_file({k: v.contiguous() for k, v in io.items()}, str(d / "io.safetensors"))
        print("wrote", d)


class Seq2Seq(nn.Module):
    """recur's encoder-decoder as a torch Module with the same attribute names: an encoder
    ModuleList (embedding, then bidirectional recurrent layers), a tanh bridge from the final
    states to the decoder's initial h (and c), and a decoder that embeds the previous token,
    steps its recurrent layer on [embedding; last attentional state] (input feeding), attends
    over the encoder outputs and forms h~ = tanh(linear_out([context; h])); the generator
    gives logits."""

    def __init__(self, c):
        super().__init__()
        rnn = nn.LSTM if c["cell"] == "lstm" else nn.GRU
        layers = [nn.Embedding(c["source_vocab"], c["embedding"])]
        width = c["embedding"]
        for _ in range(c["encoder_layers"]):
            layers.append(rnn(width, c["encoder_units"], batch_first=True, bidirectional=True))
            width = 2 * c["encoder_units"]
        self.encoder = nn.Module()
        self.encoder.layers = nn.ModuleList(layers)
        hd, self.c = c["decoder_units"], c
        self.bridge = nn.Linear(width, hd * (2 if c["cell"] == "lstm" else 1))
        self.decoder = nn.Module()
        self.decoder.embedding = nn.Embedding(c["target_vocab"], c["embedding"])
        self.decoder.rnn = rnn(c["embedding"] + (hd if c["input_feeding"] else 0), hd, batch_first=True)
        self.decoder.attention = Attention(c["attention"], hd, width, hd)
        self.decoder.linear_out = nn.Linear(width + hd, hd, bias=False)
        self.generator = nn.Linear(hd, c["target_vocab"])

    def forward(self, src, src_len, dec_in, dec_len):
        x = self.encoder.layers[0](src)
        for layer in self.encoder.layers[1:]:
            packed = pack_padded_sequence(x, src_len, batch_first=True, enforce_sorted=False)
            x, _ = pad_packed_sequence(layer(packed)[0], batch_first=True, total_length=src.shape[1])
        units = self.c["encoder_units"]
        b = torch.arange(src.shape[0])
        summary = torch.cat([x[b, src_len - 1, :units], x[:, 0, units:]], dim=1)
        z = torch.tanh(self.bridge(summary))
        hd = self.c["decoder_units"]
        state = (z[:, :hd].unsqueeze(0).contiguous(), z[:, hd:].unsqueeze(0).contiguous()) if self.c["cell"] == "lstm" else z.unsqueeze(0).contiguous()
        feed = torch.zeros(src.shape[0], hd)
        emb = self.decoder.embedding(dec_in)
        logits = []
        for t in range(dec_in.shape[1]):
            step_in = torch.cat([emb[:, t], feed], dim=1) if self.c["input_feeding"] else emb[:, t]
            h, state = self.decoder.rnn(step_in.unsqueeze(1), state)
            ctx, _ = self.decoder.attention(h, x, torch.ones(src.shape[0], dtype=torch.long), src_len)
            feed = torch.tanh(self.decoder.linear_out(torch.cat([ctx[:, 0], h[:, 0]], dim=1)))
            logits.append(self.generator(feed))
        return torch.stack(logits, dim=1)


def write_seq2seq_fixtures():
    """crates/recur-seq2seq/tests/fixtures_seq2seq/<name>/: config.json (recur's Seq2SeqConfig),
    model.safetensors (the state_dict) and io.safetensors with source and target ids, their
    lengths, the decoder's log-probabilities at every teacher-forced step, the summed
    cross-entropy over the real target steps and every parameter's gradient of it."""
    out = OUT.parent.parent.parent / "recur-seq2seq/tests/fixtures_seq2seq"
    cases = {
        "lstm_general_feeding": dict(cell="lstm", attention="general", input_feeding=True),
        "gru_additive": dict(cell="gru", attention="additive", input_feeding=False),
    }
    for name, case in cases.items():
        torch.manual_seed(21)
        c = dict(source_vocab=9, target_vocab=8, embedding=3, encoder_units=3, encoder_layers=2,
                 bidirectional=True, decoder_units=5, dropout=0.0, **case)
        module = Seq2Seq(c)
        for p in module.parameters():
            with torch.no_grad():
                p.uniform_(-0.5, 0.5)
        targets = [[5, 4, 7], [6, 4, 5, 7, 4], [7]]
        sources = [[4, 5, 6, 8], [6, 5], [5, 8, 4]]
        src_len = torch.tensor([len(s) for s in sources])
        src = torch.tensor([s + [0] * (4 - len(s)) for s in sources])
        dec_len = torch.tensor([len(t) + 1 for t in targets])
        dec_in = torch.tensor([[1] + t + [0] * (5 - len(t)) for t in targets])
        gold = torch.tensor([t + [2] + [0] * (5 - len(t)) for t in targets])
        logits = module(src, src_len, dec_in, dec_len)
        log_probs = torch.log_softmax(logits, dim=-1)
        mask = (torch.arange(6)[None, :] < dec_len[:, None]).to(torch.float64)
        loss = -(log_probs.gather(2, gold.unsqueeze(-1)).squeeze(-1) * mask).sum()
        loss.backward()
        d = out / name
        d.mkdir(parents=True, exist_ok=True)
        (d / "config.json").write_text(json.dumps(c, indent=2) + "\n")
        state = {k: v.detach().contiguous() for k, v in module.state_dict().items()}
        save_file(state, str(d / "model.safetensors"), metadata={"format": "pt"})
        io = {"source": src.to(torch.float64), "source_lengths": src_len.to(torch.float64),
              "target": gold.to(torch.float64), "target_lengths": (dec_len - 1).to(torch.float64),
              "log_probs": (log_probs * mask.unsqueeze(-1)).detach(), "loss": loss.detach().reshape(1)}
        for k, p in module.named_parameters():
            io[f"grad.{k}"] = p.grad
        save_file({k: v.contiguous() for k, v in io.items()}, str(d / "io.safetensors"))
        print("wrote", d)


def main():
    if sys.argv[1:] == ["frames"]:
        write_frame_fixtures()
        return
    if sys.argv[1:] == ["clips"]:
        write_clip_fixtures()
        return
    if sys.argv[1:] == ["attention"]:
        write_attention_fixtures()
        return
    if sys.argv[1:] == ["seq2seq"]:
        write_seq2seq_fixtures()
        return
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
    write("graph_wavenet_gru", GRAPH_CONFIG, Graph(), lambda k: k, x, lengths)
    write_frame_fixtures()
    write_clip_fixtures()
    write_attention_fixtures()
    write_seq2seq_fixtures()


if __name__ == "__main__":
    main()
