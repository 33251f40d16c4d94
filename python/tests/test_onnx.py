"""A model trained from Python leaves recur as ONNX: `recur export` on the directory the
estimator saved gives a file whose `probabilities`, in ONNX Runtime (and in tract, where its
wheel is installed), are the estimator's `predict_proba` on a padded batch of sequences of
different lengths."""

import numpy as np
import pytest

import recur
from conftest import trends
from test_cli import run_cli


def padded(sequences):
    """A padded batch [n, time, channels] and its int32 lengths."""
    lengths = np.array([len(s) for s in sequences], np.int32)
    x = np.zeros((len(sequences), lengths.max(), sequences[0].shape[1]), np.float32)
    for i, s in enumerate(sequences):
        x[i, : len(s)] = s
    return x, lengths


def ragged():
    """Sequences of 30, 21, 12 and 5 steps of the synthetic trends."""
    X, _, _ = trends(4, seed=5)
    return [X[i, :n] for i, n in enumerate([30, 21, 12, 5])]


def exported_probabilities(recur_cli, model, tmp_path, runtime, *flags):
    """`probabilities` of the exported model on `ragged()` in `runtime`."""
    onnx_file = tmp_path / "model.onnx"
    run_cli(recur_cli, "export", "--model", model, "--onnx", onnx_file, *flags)
    x, lengths = padded(ragged())
    if runtime == "tract":
        tract = pytest.importorskip("tract", reason="tract's wheel is not installed")
        onnx = pytest.importorskip("onnx")
        outputs = [o.name for o in onnx.load(onnx_file).graph.output]
        model = tract.onnx().model_for_path(str(onnx_file))
        # The batch's own sizes: MiniRocket pads short sequences to its nine taps, a size tract
        # cannot work out for a symbolic time axis.
        model.set_input_fact(0, ",".join(map(str, x.shape)) + ",f32")
        model.set_input_fact(1, f"{len(lengths)},i32")
        values = model.into_optimized().into_runnable().run([x, lengths])
        return values[outputs.index("probabilities")].to_numpy()
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    return session.run(["probabilities"], {"x": x, "lengths": lengths})[0]


@pytest.mark.parametrize("runtime", ["onnxruntime", "tract"])
def test_a_gradient_trained_classifier_exports_with_its_probabilities(recur_cli, tmp_path, runtime):
    X, labels, _ = trends(60)
    config = {"layers": [{"type": "lstm", "units": 6, "bidirectional": True}, {"type": "dense", "units": 2}]}
    # Inputs as they are (no scaling or added channels, which stay outside the file).
    plain = {"standardize": False, "log_inputs": "off", "sequence_norm": "off"}
    clf = recur.SequenceClassifier(config, epochs=2, batch_size=16, seed=1, training=plain).fit(X, labels)
    model = clf.save(tmp_path / "model")
    # tract runs recurrent layers on padded batches when they are written as Scan loops.
    flags = ["--recurrence", "scan"] if runtime == "tract" else []
    got = exported_probabilities(recur_cli, model, tmp_path, runtime, *flags)
    np.testing.assert_allclose(got, clf.predict_proba(ragged()), atol=1e-5)


@pytest.mark.parametrize("runtime", ["onnxruntime", "tract"])
def test_the_default_classifier_exports_with_its_probabilities(recur_cli, tmp_path, runtime):
    X, labels, _ = trends(60)
    clf = recur.SequenceClassifier(seed=1).fit(X, labels)
    model = clf.save(tmp_path / "model")
    got = exported_probabilities(recur_cli, model, tmp_path, runtime)
    want = clf.predict_proba(ragged())
    # MiniRocket's features sum thousands of float32 terms in the runtime's own order.
    np.testing.assert_allclose(got, want, atol=1e-5 if runtime == "onnxruntime" else 1e-4)
    assert (got.argmax(1) == want.argmax(1)).all()
