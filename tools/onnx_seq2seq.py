#!/usr/bin/env python3
"""Greedy decoding with a seq2seq model that `recur export` wrote as two ONNX graphs, in ONNX
Runtime (or tract) alone: the loop a caller writes around the decoder step (a beam search is the
same loop keeping several rows per source).

    python3 tools/onnx_seq2seq.py FOLDER INPUT.txt [--batch] [--runtime onnxruntime|tract]

FOLDER holds `encoder.onnx` and `decoder_step.onnx`; INPUT.txt one source per line. Prints one
JSON line per source as `recur seq2seq predict --beam 1 --json` does:
{"input": ..., "outputs": [{"tokens": [...], "text": ..., "log_prob": ...}]}. With --batch every
source is encoded and decoded in one padded batch (the padding must change nothing); without,
one at a time. Tokenisation follows the model's settings (`chars` or `whitespace`), read from the
files' metadata with the two vocabularies. Needs `onnxruntime` and `numpy`; `--runtime tract`
needs tract's wheel and `onnx` instead (and an encoder exported with `--recurrence scan`, as
tract's own recurrent operators take `sequence_lens` only as a constant).
"""

import argparse
import json
import os
import sys

import numpy as np

PAD, SOS, EOS, UNK = 0, 1, 2, 3


def tokenize(text, how):
    return text.split() if how == "whitespace" else list(text)


def join(tokens, how):
    return " ".join(tokens) if how == "whitespace" else "".join(tokens)


class OrtGraph:
    """One graph in ONNX Runtime: its input names, metadata, and a run giving outputs by name."""

    def __init__(self, path):
        import onnxruntime as ort

        self.session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.metadata = self.session.get_modelmeta().custom_metadata_map
        self.outputs = [o.name for o in self.session.get_outputs()]

    def run(self, feeds):
        return dict(zip(self.outputs, self.session.run(None, feeds)))


class TractGraph:
    """One graph in tract, optimised once for the symbolic sizes the file declares."""

    def __init__(self, path):
        try:
            import onnx
            import tract
        except ImportError as e:
            sys.exit(f"error: --runtime tract needs tract's wheel and onnx (pip install tract==0.22.4 onnx): {e}")

        graph = onnx.load(path)
        self.inputs = [i.name for i in graph.graph.input]
        self.metadata = {p.key: p.value for p in graph.metadata_props}
        self.outputs = [o.name for o in graph.graph.output]
        self.runnable = tract.onnx().model_for_path(path).into_optimized().into_runnable()

    def run(self, feeds):
        # Every output of these graphs is float32, the type tract's wheel hands back.
        values = self.runnable.run([feeds[name] for name in self.inputs])
        return {name: value.to_numpy() for name, value in zip(self.outputs, values)}


class Model:
    """The two graphs and what their metadata says."""

    def __init__(self, folder, runtime="onnxruntime"):
        load = lambda name: (TractGraph if runtime == "tract" else OrtGraph)(os.path.join(folder, name))
        self.encoder, self.decoder = load("encoder.onnx"), load("decoder_step.onnx")
        meta = self.encoder.metadata
        self.settings = json.loads(meta["recur_seq2seq"])
        self.source = {t: i for i, t in enumerate(json.loads(meta["source_vocab"]))}
        self.target = json.loads(meta["target_vocab"])
        self.inputs = set(self.decoder.inputs)

    def decode(self, texts):
        """Greedy outputs (tokens, summed log-probability with the EOS) for a batch of texts."""
        ids = [[self.source.get(t, UNK) for t in tokenize(text, self.settings["source_tokenizer"])]
               for text in texts]
        time = max(len(row) for row in ids)
        x = np.zeros((len(ids), time, 1), np.float32)
        for b, row in enumerate(ids):
            x[b, :len(row), 0] = row
        lengths = np.array([len(row) for row in ids], np.int32)
        encoded = self.encoder.run({"x": x, "lengths": lengths})
        state = {"h": encoded["h0"], "memory": encoded["memory"], "memory_lengths": lengths}
        if "c" in self.inputs:
            state["c"] = encoded["c0"]
        if "feed" in self.inputs:
            state["feed"] = np.zeros_like(encoded["h0"])
        token = np.full(len(ids), SOS, np.int64)
        outputs = [[] for _ in ids]
        scores = np.zeros(len(ids))
        done = np.zeros(len(ids), bool)
        for _ in range(self.settings["max_target_len"] + 1):
            got = self.decoder.run({**state, "token": token})
            token = got["log_probs"].argmax(axis=1).astype(np.int64)
            for b in np.flatnonzero(~done):
                scores[b] += float(got["log_probs"][b, token[b]])
                if token[b] == EOS:
                    done[b] = True
                else:
                    outputs[b].append(self.target[token[b]])
            if done.all():
                break
            state["h"] = got["h_out"]
            if "c" in state:
                state["c"] = got["c_out"]
            if "feed" in state:
                state["feed"] = got["feed_out"]
        return list(zip(outputs, scores))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", help="the folder `recur export` wrote")
    parser.add_argument("input", help="one source per line")
    parser.add_argument("--batch", action="store_true", help="decode all sources in one padded batch")
    parser.add_argument("--runtime", choices=["onnxruntime", "tract"], default="onnxruntime")
    args = parser.parse_args()
    model = Model(args.folder, args.runtime)
    with open(args.input, encoding="utf-8") as f:
        texts = [line.rstrip("\n") for line in f if line.strip()]
    if not texts:
        sys.exit(f"error: {args.input} holds no source")
    results = model.decode(texts) if args.batch else [model.decode([t])[0] for t in texts]
    how = model.settings["target_tokenizer"]
    for text, (tokens, log_prob) in zip(texts, results):
        out = {"tokens": tokens, "text": join(tokens, how), "log_prob": log_prob}
        print(json.dumps({"input": text, "outputs": [out]}))


if __name__ == "__main__":
    main()
