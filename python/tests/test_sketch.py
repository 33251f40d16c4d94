"""SketchClassifier: Quick, Draw! drawings in, the sketch classifier `recur train` trains and
`recur predict` runs; the package and the command line read each other's model directories
and answer alike. Trained on the generated doodles of `recur demo`, with a small model for a
couple of epochs."""

import json
import os
import pickle
import signal
import subprocess

import numpy as np
import pytest

import recur
from conftest import bounded

# A small network for the 12 doodle classes (the presets take far longer to train).
SMALL = {
    "input_size": 3,
    "layers": [
        {"type": "conv1d", "filters": 16, "kernel_size": 3, "padding": "same", "activation": "relu"},
        {"type": "gru", "units": 24},
        {"type": "dense", "units": 12},
    ],
}
SETTINGS = {"config": SMALL, "epochs": 2, "batch_size": 32}


def run_cli(cli, *args):
    done = subprocess.run([cli, *map(str, args)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def element_form(drawing):
    """A read_quickdraw dict's strokes as Quick, Draw!'s element form [[[x...], [y...]], ...]."""
    return [[s[:, 0].tolist(), s[:, 1].tolist()] for s in drawing["strokes"]]


def cli_probabilities(cli, model, drawings, classes, tmp_path):
    """`recur predict --json` on `drawings` (element form) written as ndjson: the probability
    of each of `classes` (labels, in this order) for each drawing."""
    path = tmp_path / "drawings.ndjson"
    lines = [json.dumps({"word": "?", "key_id": str(i), "drawing": d}) for i, d in enumerate(drawings)]
    path.write_text("\n".join(lines) + "\n")
    out = run_cli(cli, "predict", "--model", model, "--input", path, "--top", len(classes), "--json")
    rows = [json.loads(line)["predictions"] for line in out.splitlines()]
    by_class = [{p["class"]: p["probability"] for p in row} for row in rows]
    return np.array([[row[str(c)] for c in classes] for row in by_class])


@pytest.fixture(scope="session")
def doodles():
    """300 generated doodles (25 per class) and their words."""
    return recur.make_doodles(25, seed=1)


@pytest.fixture(scope="session")
def fitted(doodles):
    """A SketchClassifier trained on the doodles labelled by numbers, whose order as numbers
    (2 before 10) is not their order as the model's class names ("10" before "2")."""
    X, words = doodles
    codes = np.unique(words, return_inverse=True)[1]
    return recur.SketchClassifier(**SETTINGS).fit(X, codes), codes


def test_a_saved_sketch_classifier_answers_as_recur_predict(fitted, doodles, recur_cli, tmp_path):
    clf, codes = fitted
    assert clf.classes_.tolist() == list(range(12)) and "drawings (test)" in clf.summary_
    saved = clf.save(tmp_path / "py_model")
    drawings = [element_form(d) for d in doodles[0][:40]]
    proba = clf.predict_proba(drawings)
    np.testing.assert_array_equal(proba, cli_probabilities(recur_cli, saved, drawings, clf.classes_, tmp_path))
    np.testing.assert_array_equal(clf.predict(drawings), clf.classes_[proba.argmax(axis=1)])
    # The same drawings as JSON text and as read_quickdraw's dicts answer the same.
    np.testing.assert_array_equal(clf.predict_proba([json.dumps(d) for d in drawings]), proba)
    np.testing.assert_array_equal(clf.predict_proba(doodles[0][:40]), proba)


def test_a_model_recur_train_wrote_answers_the_same_through_recur_load(recur_cli, tmp_path):
    data, model, config = tmp_path / "data", tmp_path / "cli_model", tmp_path / "small.json"
    config.write_text(json.dumps(SMALL))
    run_cli(recur_cli, "data", "synth", "--out", data, "--per-class", 25)
    run_cli(recur_cli, "train", "--data", data, "--out", model, "--config", config, "--epochs", 2,
            "--batch-size", 32, "--quiet")
    loaded = recur.load(model)
    assert isinstance(loaded, recur.SketchClassifier)
    X, y = recur.read_quickdraw(data)
    drawings = [element_form(d) for d in X[:40]]
    proba = loaded.predict_proba(drawings)
    np.testing.assert_array_equal(proba, cli_probabilities(recur_cli, model, drawings, loaded.classes_, tmp_path))
    # Both front ends train the same model on the same drawings (split by the same key_ids).
    clf = recur.SketchClassifier(**SETTINGS).fit(X, y)
    np.testing.assert_allclose(clf.predict_proba(drawings), proba, atol=1e-6)
    assert 0 <= clf.score(X, y) <= 1


def test_sketch_classifier_clones_pickles_and_takes_settings(fitted, doodles):
    from sklearn.base import clone
    from sklearn.model_selection import cross_val_score

    clf, codes = fitted
    copy = clone(clf)
    assert copy.get_params() == clf.get_params() and not hasattr(copy, "classes_")
    scores = cross_val_score(copy, doodles[0], codes, cv=2)
    assert scores.shape == (2,) and ((0 <= scores) & (scores <= 1)).all()
    assert copy.set_params(epochs=5).epochs == 5
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(doodles[0][:10]), clf.predict_proba(doodles[0][:10]))
    events = []
    small = recur.SketchClassifier(config=SMALL, epochs=1, progress=events.append, test_percent=0)
    small.fit(*recur.make_doodles(8, seed=2))
    assert any(e["event"] == "epoch_ended" for e in events) and "(validation)" in small.summary_


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name == "nt", reason="needs POSIX signals")
def test_ctrl_c_interrupts_sketch_training(doodles, ctrl_c_after):
    # Early stopping must not end the run first: on a quiet machine 8 epochs pass in a second.
    # A callback ends the run after 2,000 epochs, so a missed Ctrl-C fails the test instead
    # of training for hours.
    clf = recur.SketchClassifier(
        config=SMALL, epochs=10_000, patience=10_000, batch_size=4, progress=bounded(2_000)
    )
    ctrl_c_after(1.0)
    with pytest.raises(KeyboardInterrupt):
        clf.fit(*doodles)
    assert not hasattr(clf, "sketch_model_")


@pytest.mark.parametrize(
    "drawing, error, message",
    [
        ("[[[0, 1], [2", ValueError, r"drawings\[1\]: not JSON"),
        ([[0, 1], [2, 3]], ValueError, r"drawings\[1\]: stroke 0: coordinates are not a list"),
        ([[[0, 1, 2]]], ValueError, r"drawings\[1\]: stroke 0 is not \[\[x…\],\[y…\]\]"),
        ([], ValueError, r"drawings\[1\]: empty drawing \(no points\)"),
        (3, TypeError, r"drawings\[1\] is a int"),
    ],
)
def test_bad_drawings_are_refused_by_their_index(fitted, drawing, error, message):
    clf, _ = fitted
    with pytest.raises(error, match=message):
        clf.predict([[[[0, 5], [0, 5]]], drawing])


def test_bad_labels_and_settings_are_refused_with_recur_s_message(doodles):
    X, words = doodles
    with pytest.raises(TypeError, match="mixes labels of different types"):
        recur.SketchClassifier(**SETTINGS).fit(X[:3], ["cat", 1, "dog"])
    with pytest.raises(ValueError, match="300 drawings need as many labels"):
        recur.SketchClassifier(**SETTINGS).fit(X, words[:10])
    with pytest.raises(ValueError, match="unknown field `epoch`"):
        recur._recur.fit_sketches(["[[[0], [0]]]"], ["cat"], "unused", settings='{"epoch": 1}')
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        recur.SketchClassifier(label_smoothing=1.5).fit(X, words)
    with pytest.raises(ValueError, match="at least two classes"):
        recur.SketchClassifier(**SETTINGS).fit(X[:5], ["cat"] * 5)
    with pytest.raises(ValueError, match="not fitted"):
        recur.SketchClassifier().predict(X[:1])
