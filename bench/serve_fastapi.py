"""The Python server a practitioner would write instead of `recur serve`: FastAPI + uvicorn +
PyTorch eager, answering the same Open Inference Protocol route for a sketch model, so that
`bench/serve_load.py` can load both side by side.

It loads a model directory written by `recur train` with the default architecture (Conv1D
48/64/96 'same', three bidirectional LSTM(128), a masked sum over time, dense): recur's
checkpoints are named as this module's state_dict, so the weights are recur's own. Drawings are
turned into stroke-3 offsets divided by the drawing's larger side, as recur does (simplified
drawings; raw ones are not re-simplified here).

    python bench/serve_fastapi.py --model DIR [--port 8081] [--threads 1]

OpenMP's threads wait passively: on 2 shared cores their default busy-waiting made one drawing
take 1.5 s instead of 5 ms (measured), which would compare recur with a broken server.
"""
import argparse
import json
import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from safetensors.torch import load_file
from torch import nn

sys.path.insert(0, os.path.dirname(__file__))
from sketch_baselines import stroke3  # noqa: E402


class DefaultSketch(nn.Module):
    """recur's default sketch classifier, named as its checkpoint (`layers.N.*`)."""

    def __init__(self, inputs, classes):
        super().__init__()
        self.layers = nn.ModuleList([
            nn.Conv1d(inputs, 48, 5, padding=2), nn.Conv1d(48, 64, 5, padding=2), nn.Conv1d(64, 96, 3, padding=1),
            nn.LSTM(96, 128, batch_first=True, bidirectional=True),
            nn.LSTM(256, 128, batch_first=True, bidirectional=True),
            nn.LSTM(256, 128, batch_first=True, bidirectional=True),
            nn.Identity(),
            nn.Linear(256, classes),
        ])

    def forward(self, x, lengths):
        h = x.transpose(1, 2)
        for conv in self.layers[:3]:
            h = conv(h)
        h = h.transpose(1, 2)
        for lstm in self.layers[3:6]:
            packed = nn.utils.rnn.pack_padded_sequence(h, lengths, batch_first=True, enforce_sorted=False)
            h, _ = nn.utils.rnn.pad_packed_sequence(lstm(packed)[0], batch_first=True, total_length=x.shape[1])
        return self.layers[7](h.sum(dim=1))


def load(model_dir):
    config = json.load(open(os.path.join(model_dir, "config.json")))
    weights = load_file(os.path.join(model_dir, "model.safetensors"))
    classes = weights["layers.7.weight"].shape[0]
    model = DefaultSketch(config["input_size"], classes)
    model.load_state_dict({k: v.float() for k, v in weights.items()})
    model.eval()
    names = json.load(open(os.path.join(model_dir, "config.json"))).get("classes")
    return model, names or [str(i) for i in range(classes)]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, classes = load(args.model)
    app = FastAPI()

    @app.post("/v2/models/{name}/infer")
    async def infer(name: str, request: Request):
        body = await request.json()
        tensor = next(t for t in body["inputs"] if t["name"] == "drawing")
        top = int(body.get("parameters", {}).get("top", 5))
        drawings = [json.loads(d) if isinstance(d, str) else d for d in tensor["data"]]
        rows = [stroke3(d) for d in drawings]
        lengths = torch.tensor([len(r) for r in rows])
        x = torch.zeros(len(rows), int(lengths.max()), 3)
        for i, r in enumerate(rows):
            x[i, : len(r)] = torch.tensor(r)
        with torch.inference_mode():
            p = torch.softmax(model(x, lengths), dim=1)
        best = p.topk(min(top, p.shape[1]), dim=1)
        return JSONResponse({
            "model_name": name,
            "outputs": [
                {"name": "classes", "datatype": "BYTES", "shape": list(best.indices.shape),
                 "data": [classes[i] for i in best.indices.flatten().tolist()]},
                {"name": "probabilities", "datatype": "FP32", "shape": list(best.values.shape),
                 "data": best.values.flatten().tolist()},
            ],
        })

    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
