#!/usr/bin/env python3
"""Runs an ONNX file that `recur export` wrote in ONNX Runtime (or tract) and compares its
outputs with recur's.

    python3 tools/check_onnx.py MODEL.onnx CASE.json [--tolerance 1e-5] [--relative]
                                [--runtime onnxruntime|tract]

CASE.json holds the inputs to feed and the outputs recur gave for them, each as
{"shape": [...], "dtype": "float32" | "int32", "data": [flat values, row-major]}:

    {"inputs": {"x": ..., "lengths": ...}, "expected": {"y": ..., "y_lengths": ...}}

The file is first checked with `onnx.checker` (full check, shapes inferred). Every expected
output must come back with the same shape and differ nowhere by more than the tolerance
(absolute; with --relative, times the output's largest |value| where that is above 1).
Prints one line per output with its largest difference and largest value; exits 1 on a mismatch,
2 on unusable input. Needs `onnxruntime`, `onnx` and `numpy` (pip install onnxruntime onnx);
`--runtime tract` runs the file in tract instead, the pure-Rust runtime, through its own Python
wheel (pip install tract), with the shapes of CASE's inputs.
"""

import argparse
import json
import sys

import numpy as np


def array(spec, what):
    try:
        values = np.asarray(spec["data"], dtype=spec["dtype"])
        return values.reshape(spec["shape"])
    except (KeyError, TypeError, ValueError) as e:
        sys.exit(f"error: {what}: needs shape, dtype and data that fit ({e})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="the .onnx file")
    parser.add_argument("case", help="JSON with inputs and recur's outputs")
    parser.add_argument("--tolerance", type=float, default=1e-5, help="largest absolute difference allowed")
    parser.add_argument(
        "--relative",
        action="store_true",
        help="scale the tolerance by each output's largest |value| (when above 1): for outputs summed "
        "over thousands of features, whose float32 rounding grows with their size",
    )
    parser.add_argument("--runtime", choices=["onnxruntime", "tract"], default="onnxruntime")
    args = parser.parse_args()

    import onnx

    try:
        onnx.checker.check_model(onnx.load(args.model), full_check=True)
    except Exception as e:  # the checker raises several types; any of them means a bad file
        print(f"error: {args.model} fails onnx.checker: {e}", file=sys.stderr)
        sys.exit(1)
    try:
        with open(args.case) as f:
            case = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        print(f"error: {args.case}: {e}", file=sys.stderr)
        sys.exit(2)
    feeds = {name: array(spec, f"input {name}") for name, spec in case.get("inputs", {}).items()}
    expected = {name: array(spec, f"output {name}") for name, spec in case.get("expected", {}).items()}
    names = list(expected)
    run = run_in_tract if args.runtime == "tract" else run_in_onnxruntime
    try:
        got = run(args.model, feeds, names)
    except Exception as e:  # each runtime raises its own types; any of them is a refusal
        print(f"error: {args.runtime} cannot run {args.model}: {str(e).split('Stack backtrace')[0].strip()}",
              file=sys.stderr)
        sys.exit(1)
    failed = False
    for name in names:
        want, have = expected[name], got[name]
        if want.shape != have.shape:
            print(f"{name}: shape {list(have.shape)}, recur gave {list(want.shape)}")
            failed = True
            continue
        diff = float(np.max(np.abs(want.astype(np.float64) - have.astype(np.float64)), initial=0.0))
        largest = float(np.max(np.abs(want.astype(np.float64)), initial=0.0))
        tolerance = args.tolerance * max(1.0, largest) if args.relative else args.tolerance
        ok = diff <= tolerance
        failed |= not ok
        verdict = "ok" if ok else f"over {tolerance:.3g}"
        print(f"{name}: max |difference| {diff:.3g}, largest |value| {largest:.3g} ({verdict})")
    sys.exit(1 if failed else 0)


def run_in_onnxruntime(model, feeds, names):
    """The outputs `names` of `model` run on `feeds` in ONNX Runtime."""
    import onnxruntime

    session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
    return dict(zip(names, session.run(names, feeds)))


# tract's fact strings name element types so.
TRACT_TYPES = {"float32": "f32", "int32": "i32", "int64": "i64"}


def run_in_tract(model, feeds, names):
    """The outputs `names` of `model` run on `feeds` in tract, typed with the inputs' shapes."""
    import onnx
    import tract

    graph = onnx.load(model).graph
    runnable = tract.onnx().model_for_path(model)
    inputs = []
    for i, spec in enumerate(graph.input):
        x = feeds[spec.name]
        runnable.set_input_fact(i, ",".join([str(d) for d in x.shape] + [TRACT_TYPES[str(x.dtype)]]))
        inputs.append(x)
    values = runnable.into_optimized().into_runnable().run(inputs)
    outputs = {}
    for spec, value in zip(graph.output, values):
        # tract's Python wheel hands every tensor over as float32 bytes: an integer output
        # (the lengths) is read back as the int32 it is.
        got = value.to_numpy()
        if spec.type.tensor_type.elem_type == onnx.TensorProto.INT32:
            got = got.view(np.int32)
        outputs[spec.name] = got
    return {name: outputs[name] for name in names}


if __name__ == "__main__":
    main()
