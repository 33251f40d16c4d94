"""Ctrl-C (SIGINT) during training raises KeyboardInterrupt promptly: training runs with
the GIL released and checks for signals between steps."""

import os
import signal
import time

import numpy as np
import pytest

import recur
from conftest import bounded, trends


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name == "nt", reason="needs POSIX signals")
def test_ctrl_c_interrupts_gradient_training(ctrl_c_after):
    X, labels, _ = trends(64, steps=40)
    config = {"layers": [{"type": "gru", "units": 32}, {"type": "dense", "units": 2}]}
    clf = recur.SequenceClassifier(config, epochs=10_000, batch_size=4, progress=bounded(2_000))
    ctrl_c_after(1.0)
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, labels)
    assert time.monotonic() - start < 30
    assert not hasattr(clf, "predictor_")


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name == "nt", reason="needs POSIX signals")
def test_ctrl_c_interrupts_seq2seq_training(ctrl_c_after):
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
    ctrl_c_after(1.0)
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        model.fit(words, [w[::-1] for w in words])
    assert time.monotonic() - start < 30
    assert not hasattr(model, "translator_")
