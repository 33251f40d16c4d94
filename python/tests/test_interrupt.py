"""Ctrl-C (SIGINT) during training raises KeyboardInterrupt promptly: training runs with
the GIL released and checks for signals between steps."""

import os
import signal
import threading
import time

import pytest

import recur
from conftest import trends


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name == "nt", reason="needs POSIX signals")
def test_ctrl_c_interrupts_gradient_training():
    X, labels, _ = trends(64, steps=40)
    config = {"layers": [{"type": "gru", "units": 32}, {"type": "dense", "units": 2}]}
    clf = recur.SequenceClassifier(config, epochs=10_000, batch_size=4)
    threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, labels)
    assert time.monotonic() - start < 30
    assert not hasattr(clf, "predictor_")


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name == "nt", reason="needs POSIX signals")
def test_ctrl_c_interrupts_seq2seq_training():
    words = ["".join("abcdef"[(i * 7 + k * 3) % 6] for k in range(2 + i % 5)) for i in range(2000)]
    # A time limit, so a missed Ctrl-C fails the test in half a minute instead of hanging it.
    model = recur.Seq2Seq(
        embedding=16, encoder_units=24, encoder_layers=1, decoder_units=32, epochs=10_000, batch=8, max_minutes=0.5
    )
    threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        model.fit(words, [w[::-1] for w in words])
    assert time.monotonic() - start < 30
    assert not hasattr(model, "translator_")
