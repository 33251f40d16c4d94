"""Inference anchors for `recur bench`: every CPU path a practitioner would deploy the two bench
models with (PyTorch eager, TorchScript, torch.compile, ONNX Runtime, OpenVINO, and their bf16
and int8 forms), each timed in a fresh process on the same shapes and threads, side by side with
`recur bench` run just before and just after them.

    python bench/inference_anchors.py --recur target/release/recur [--threads 2] [--seconds 3]
                                      [--paths torch_eager,ort_fp32,...] [--json]

A path whose package is missing (OpenVINO, onnxruntime) is reported as skipped, not failed.
`ort_recur_export` times ONNX Runtime on the sketch model as `recur export` writes it (from a
freshly initialised model directory: the same layers and shapes, random weights).
Prints a markdown table (or one JSON line) of sequences per second; quote only ratios from one
run: the machine may be shared. The children inherit the environment, so
`ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16` caps PyTorch's oneDNN at the instructions an AMD Zen 4/5
has (no AMX) on an Intel CPU that has AMX.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_bench import rate  # noqa: E402  (the same timing loop as the training baseline)

FP32_PATHS = ["torch_eager", "torch_script", "torch_compile", "ort_fp32", "openvino_fp32"]
REDUCED_PATHS = ["torch_dynamic_int8", "torch_bf16_autocast", "torch_bf16_weights", "ort_int8_dynamic"]
# Not an anchor: recur's own export run by ONNX Runtime (how far a model travels intact).
EXPORT_PATHS = ["ort_recur_export"]
MODELS = ["sketch", "lstm128"]


def torch_model(name):
    import torch
    from pytorch_bench import Lstm128, Sketch

    torch.manual_seed(0)
    model = (Sketch() if name == "sketch" else Lstm128()).eval()
    features = 3 if name == "sketch" else 128
    return model, torch.rand(ARGS.batch, ARGS.length, features) * 2 - 1


def export_onnx(model, x, path):
    import torch

    torch.onnx.export(model, (x,), path, input_names=["x"], output_names=["y"], opset_version=17,
                      dynamo=False)


def ort_session(path):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = ARGS.threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def time_torch(name, path):
    import torch

    model, x = torch_model(name)
    if path == "torch_script":
        with torch.no_grad():
            model = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(model, x)))
    elif path == "torch_compile":
        model = torch.compile(model)
    elif path == "torch_dynamic_int8":
        model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.LSTM, torch.nn.Linear},
                                                      dtype=torch.qint8)
    elif path == "torch_bf16_weights":
        model, x = model.to(torch.bfloat16), x.to(torch.bfloat16)

    def infer():
        with torch.no_grad():
            if path == "torch_bf16_autocast":
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    model(x)
            else:
                model(x)

    return rate(ARGS.seconds, infer)


def time_ort(name, path, folder):
    model, x = torch_model(name)
    onnx_path = os.path.join(folder, "model.onnx")
    export_onnx(model, x, onnx_path)
    if path == "ort_int8_dynamic":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantized = os.path.join(folder, "model_int8.onnx")
        quantize_dynamic(onnx_path, quantized, weight_type=QuantType.QInt8)
        onnx_path = quantized
    session = ort_session(onnx_path)
    feed = {"x": x.numpy()}
    return rate(ARGS.seconds, lambda: session.run(None, feed))


def time_openvino(name):
    import openvino as ov

    model, x = torch_model(name)
    compiled = ov.Core().compile_model(ov.convert_model(model, example_input=x), "CPU", {
        "INFERENCE_NUM_THREADS": ARGS.threads, "INFERENCE_PRECISION_HINT": "f32"})
    request = compiled.create_infer_request()
    data = x.numpy()
    return rate(ARGS.seconds, lambda: request.infer([data]))


def time_recur_export(name, folder):
    """ONNX Runtime on recur's own export of the model (random weights, full-length batch)."""
    import numpy as np

    config = SKETCH_CONFIG if name == "sketch" else LSTM_CONFIG
    config_path, model_dir = os.path.join(folder, "config.json"), os.path.join(folder, "m")
    with open(config_path, "w") as f:
        json.dump(config, f)
    subprocess.run([ARGS.recur, "init", "--config", config_path, "--out", model_dir], check=True,
                   capture_output=True)
    onnx_path = os.path.join(folder, "recur.onnx")
    subprocess.run([ARGS.recur, "export", "--model", model_dir, "--onnx", onnx_path], check=True,
                   capture_output=True)
    session = ort_session(onnx_path)
    features = config["input_size"]
    rng = np.random.default_rng(0)
    feed = {"x": rng.uniform(-1, 1, (ARGS.batch, ARGS.length, features)).astype(np.float32),
            "lengths": np.full(ARGS.batch, ARGS.length, dtype=np.int32)}
    return rate(ARGS.seconds, lambda: session.run(None, feed))


# recur bench's two models as recur configs (its SKETCH_MODEL and LSTM_MODEL).
LSTM_CONFIG = {"input_size": 128, "layers": [{"type": "lstm", "units": 128}]}
SKETCH_CONFIG = {"input_size": 3, "layers": [
    {"type": "conv1d", "filters": 32, "kernel_size": 5, "padding": "same", "activation": "relu"},
    {"type": "batch_norm"},
    {"type": "conv1d", "filters": 64, "kernel_size": 5, "padding": "same", "activation": "relu"},
    {"type": "batch_norm"},
    {"type": "conv1d", "filters": 128, "kernel_size": 3, "padding": "same", "activation": "relu"},
    {"type": "batch_norm"},
    {"type": "lstm", "units": 128, "return_sequences": True}, {"type": "lstm", "units": 128},
    {"type": "dense", "units": 345}]}


def run_one(name, path):
    """Times one path in this process: batches per second (the caller multiplies by batch)."""
    import torch

    torch.set_num_threads(ARGS.threads)
    with tempfile.TemporaryDirectory() as folder:
        if path.startswith("torch_"):
            return time_torch(name, path)
        if path == "ort_recur_export":
            return time_recur_export(name, folder)
        if path.startswith("ort_"):
            return time_ort(name, path, folder)
        if path == "openvino_fp32":
            return time_openvino(name)
    raise SystemExit(f"unknown path {path}")


def child(name, path):
    try:
        print(json.dumps({"seq_per_s": round(run_one(name, path) * ARGS.batch, 1)}))
    except ImportError as e:
        print(json.dumps({"skipped": f"{e.name or e} not installed"}))


def spawn(name, path):
    env = dict(os.environ, OMP_NUM_THREADS=str(ARGS.threads), OMP_WAIT_POLICY="PASSIVE")
    cmd = [sys.executable, os.path.abspath(__file__), "--child", f"{name}:{path}",
           "--threads", str(ARGS.threads), "--seconds", str(ARGS.seconds), "--batch",
           str(ARGS.batch), "--length", str(ARGS.length), "--recur", ARGS.recur]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"failed": tail[:200]}
    return json.loads(lines[-1])


def recur_bench():
    cmd = [ARGS.recur, "bench", "--json", "--seconds", str(ARGS.seconds), "--threads",
           str(ARGS.threads), "--batch", str(ARGS.batch), "--length", str(ARGS.length)]
    out = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    keys = {"infer_seq_per_s": "recur_fp32", "infer_bf16_seq_per_s": "recur_bf16",
            "infer_int8_seq_per_s": "recur_int8"}
    return {m: {label: out[m][k] for k, label in keys.items() if k in out[m]} for m in MODELS}


def markdown(results, paths):
    lines = ["| path | " + " | ".join(f"{m} seq/s" for m in MODELS) + " |",
             "|---|" + "---:|" * len(MODELS)]
    for path in paths:
        cells = []
        for m in MODELS:
            r = results[m].get(path, {})
            cells.append(f"{r['seq_per_s']:,.0f}" if "seq_per_s" in r else
                         r.get("skipped") or r.get("failed") or "—")
        lines.append(f"| {path} | " + " | ".join(cells) + " |")
    lines.append("")
    for m in MODELS:
        for group, members in (("fp32", FP32_PATHS), ("reduced", REDUCED_PATHS)):
            best = max(((results[m][p]["seq_per_s"], p) for p in members
                        if "seq_per_s" in results[m].get(p, {})), default=None)
            if best:
                lines.append(f"- {m}: best {group} anchor {best[1]} {best[0]:,.0f} seq/s; "
                             + ", ".join(f"{k} {v['seq_per_s'] / best[0]:.2f}×"
                                         for k, v in results[m].items()
                                         if k.startswith("recur") and "seq_per_s" in v))
    return "\n".join(lines)


def main():
    selected = ARGS.paths.split(",") if ARGS.paths else FP32_PATHS + REDUCED_PATHS + EXPORT_PATHS
    results = {m: {} for m in MODELS}
    before = recur_bench()
    for m in MODELS:
        for path in selected:
            results[m][path] = spawn(m, path)
            print(f"{m} {path}: {results[m][path]}", file=sys.stderr)
    after = recur_bench()
    # recur's figure is the better of its runs just before and after the anchors.
    for m in MODELS:
        for label in before[m]:
            best = max(before[m][label], after[m].get(label, 0.0))
            results[m][label] = {"seq_per_s": best, "before": before[m][label],
                                 "after": after[m].get(label)}
    labels = [label for label in ("recur_fp32", "recur_bf16", "recur_int8") if label in before["sketch"]]
    if ARGS.json:
        print(json.dumps({"threads": ARGS.threads, "batch": ARGS.batch, "length": ARGS.length,
                          "results": results}))
    else:
        print(markdown(results, selected + labels))


def parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--recur", default="target/release/recur", help="the recur binary to compare")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--length", type=int, default=100)
    p.add_argument("--paths", help="comma-separated subset of: " + ",".join(FP32_PATHS + REDUCED_PATHS + EXPORT_PATHS))
    p.add_argument("--json", action="store_true")
    p.add_argument("--child", help=argparse.SUPPRESS)
    return p.parse_args()


ARGS = parse()

if __name__ == "__main__":
    if ARGS.child:
        child(*ARGS.child.split(":"))
    else:
        main()
