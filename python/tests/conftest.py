"""Shared fixtures: the UEA JapaneseVowels set from the shared data folder beside the
repository (skipped, saying so, when absent), small synthetic sets, and the `recur` binary of
this checkout for the command-line comparisons."""

import os
import shutil
import signal
import threading
from pathlib import Path

import numpy as np
import pytest

import recur

REPO = Path(__file__).resolve().parents[2]
VOWELS = REPO.parent / "shared" / "data" / "uea_japanese_vowels"


@pytest.fixture(scope="session")
def vowels():
    """(X_train, y_train, X_test, y_test) of JapaneseVowels: lists of [time, 12] arrays."""
    train, test = VOWELS / "JapaneseVowels_TRAIN.ts", VOWELS / "JapaneseVowels_TEST.ts"
    if not train.exists() or not test.exists():
        pytest.skip(f"JapaneseVowels is not in {VOWELS} (see ../shared/data/README.md): skipping the tests on it")
    return recur.read_ts(train) + recur.read_ts(test)


@pytest.fixture(scope="session")
def vowels_files(vowels):
    """The .ts files of JapaneseVowels (train, test)."""
    return VOWELS / "JapaneseVowels_TRAIN.ts", VOWELS / "JapaneseVowels_TEST.ts"


@pytest.fixture(scope="session")
def recur_cli():
    """The command line of this checkout (RECUR_BIN, else target/release/recur, else PATH)."""
    candidates = [os.environ.get("RECUR_BIN"), str(REPO / "target" / "release" / "recur"), shutil.which("recur")]
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    pytest.skip("no recur binary (build it with `cargo build --release` or set RECUR_BIN): skipping the CLI comparisons")


def trends(n, steps=30, channels=2, seed=0):
    """Equal-length sequences [n, steps, channels] whose class is the sign of channel 0's slope,
    and whose value target is that slope."""
    rng = np.random.default_rng(seed)
    slope = rng.uniform(-1, 1, size=n)
    t = np.linspace(0, 1, steps)
    X = rng.normal(0, 0.1, size=(n, steps, channels))
    X[:, :, 0] += slope[:, None] * t[None, :] * 3
    labels = np.where(slope > 0, "up", "down")
    return X.astype(np.float32), labels, slope


@pytest.fixture
def ctrl_c_after():
    """A function that sends this process Ctrl-C (SIGINT) after some seconds, with Python's
    own SIGINT handler installed for the test. A shell that starts the suite in the background
    (as CI may) hands it SIGINT ignored, and Python then leaves it ignored, so without this
    the Ctrl-C never arrives. Timers not yet fired are cancelled, and the handler restored,
    when the test ends."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timers = []

    def send(seconds=1.0):
        timer = threading.Timer(seconds, lambda: os.kill(os.getpid(), signal.SIGINT))
        timers.append(timer)
        timer.start()

    yield send
    for timer in timers:
        timer.cancel()
    signal.signal(signal.SIGINT, previous)


def bounded(epochs):
    """A progress callback that ends a run after `epochs` epochs, so a missed Ctrl-C fails the
    test within seconds instead of training on (and writing checkpoints) for hours."""

    def listen(event):
        if event["event"] == "epoch_ended" and event["epoch"] >= epochs:
            raise RuntimeError(f"Ctrl-C was not heard within {epochs} epochs")

    return listen
