"""Ctrl-C (SIGINT) during training raises KeyboardInterrupt promptly: training runs with
the GIL released and checks for signals between steps."""

import os
import signal
import threading
import time

import numpy as np
import pytest

import recur
from conftest import trends


def bounded(epochs):
    """A progress callback that ends a run after `epochs` epochs, so a missed Ctrl-C fails the
    test within seconds instead of training on (and writing checkpoints) for hours."""

    def listen(event):
        if event["event"] == "epoch_ended" and event["epoch"] >= epochs:
            raise RuntimeError(f"Ctrl-C was not heard within {epochs} epochs")

    return listen


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name == "nt", reason="needs POSIX signals")
def test_ctrl_c_interrupts_gradient_training():
    X, labels, _ = trends(64, steps=40)
    config = {"layers": [{"type": "gru", "units": 32}, {"type": "dense", "units": 2}]}
    clf = recur.SequenceClassifier(config, epochs=10_000, batch_size=4, progress=bounded(2_000))
    threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, labels)
    assert time.monotonic() - start < 30
    assert not hasattr(clf, "predictor_")


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name == "nt", reason="needs POSIX signals")
def test_ctrl_c_interrupts_seq2seq_training():
    # Distinct random words and no early stopping, so the run cannot end before the Ctrl-C
    # (thirty-odd distinct words were learnt, and the run stopped early, within a second).
    rng = np.random.default_rng(0)
    words = ["".join(rng.choice(list("abcdefgh"), size=rng.integers(3, 9))) for _ in range(2000)]
    # A time limit, so a missed Ctrl-C fails the test in half a minute instead of hanging it.
    model = recur.Seq2Seq(
        embedding=16,
        encoder_units=24,
        encoder_layers=1,
        decoder_units=32,
        epochs=10_000,
        batch=8,
        patience=10_000,
        max_minutes=0.5,
    )
    threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        model.fit(words, [w[::-1] for w in words])
    assert time.monotonic() - start < 30
    assert not hasattr(model, "translator_")
