"""Sequences and labels as recur's library takes them.

X is a 3-D array ``[n, time, channels]``, a 2-D array ``[n, time]`` (one channel), or a list
of 2-D arrays ``[time, channels]`` of different lengths (aeon's unequal-length collections);
``layout="aeon"`` reads aeon's ``[n, channels, time]`` (and ``[channels, time]`` items).
"""

import warnings

import numpy as np

from recur import _recur

LAYOUTS = ("tsc", "aeon")


def sequences(X, layout, allow_nan=False):
    """``(x, lengths, channels_first)`` for the native module.

    A float32/float64 array is passed on as it is (recur reads numpy's buffer, transposing
    aeon's layout while it copies); integer arrays become float64; a list is padded into one
    array with its lengths. NaN is refused (scikit-learn's rule) unless ``allow_nan``, when it
    marks a missing value as in ``.ts`` files; infinite values are always refused.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, not {layout!r}")
    channels_first = layout == "aeon"
    if isinstance(X, (list, tuple)):
        x, lengths = _padded(X, channels_first)
        _check_finite(x, allow_nan, listed=True)
        return x, lengths, False
    X = np.asarray(X)
    X = _floats(X, "X")
    if X.ndim not in (2, 3):
        raise ValueError(
            "X must be a 3-D array [n, time, channels], a 2-D array [n, time] (one channel) "
            f"or a list of 2-D arrays [time, channels]; got shape {X.shape}"
        )
    _check_finite(X, allow_nan, listed=False)
    return X, None, channels_first


def _check_finite(x, allow_nan, listed):
    """Refuses NaN (unless ``allow_nan``) and infinite values, naming the first one's place:
    ``X[i][t, c]`` in a list (as padded, ``[n, time, channels]``), ``X[i, ...]`` in an array."""
    finite = np.isfinite(x)
    if finite.all():
        return
    bad = ~finite & ~np.isnan(x) if allow_nan else ~finite
    if not bad.any():
        return
    at = tuple(int(k) for k in np.argwhere(bad)[0])
    where = f"X[{at[0]}][{', '.join(map(str, at[1:]))}]" if listed else f"X[{', '.join(map(str, at))}]"
    value = x[at]
    if np.isnan(value):
        raise ValueError(
            f"{where} is NaN. Sequences of different lengths go in as a list of arrays of their own "
            "lengths, not padded with NaN; for missing values inside a sequence give allow_nan=True "
            "(recur fit's treatment of .ts files: the channel's mean after standardisation)"
        )
    raise ValueError(f"{where} is {value}: X must hold finite numbers")


def _floats(a, name):
    """``a`` as float32 or float64 (integers and booleans as float64); anything else refused."""
    if a.dtype == np.float32 or a.dtype == np.float64:
        return a
    if a.dtype.kind in "iub":
        return a.astype(np.float64)
    if a.dtype.kind == "f":
        return a.astype(np.float32)
    raise TypeError(f"{name} must hold numbers, not {a.dtype}")


def _padded(items, channels_first):
    """A list of sequences as one zero-padded ``[n, longest, channels]`` array and lengths."""
    if len(items) == 0:
        raise ValueError("X holds no sequences")
    seqs = []
    for i, item in enumerate(items):
        try:
            s = np.asarray(item)
        except ValueError as e:
            raise ValueError(f"X[{i}] is ragged: each sequence is one 2-D array ({e})") from None
        s = _floats(s, f"X[{i}]")
        if s.ndim == 1:
            s = s[:, None]
        elif s.ndim == 2 and channels_first:
            s = s.T
        elif s.ndim != 2:
            raise ValueError(f"X[{i}] must be 2-D [time, channels] or 1-D [time], not shape {s.shape}")
        if s.shape[0] == 0:
            raise ValueError(f"X[{i}] has no steps")
        seqs.append(s)
    channels = {s.shape[1] for s in seqs}
    if len(channels) > 1:
        raise ValueError(f"the sequences of X have different numbers of channels: {sorted(channels)}")
    dtype = np.float32 if all(s.dtype == np.float32 for s in seqs) else np.float64
    lengths = np.array([s.shape[0] for s in seqs], dtype=np.int64)
    x = np.zeros((len(seqs), int(lengths.max()), channels.pop()), dtype=dtype)
    for i, s in enumerate(seqs):
        x[i, : len(s)] = s
    return x, lengths


def class_labels(y):
    """``(classes, codes)`` of classification labels: the sorted distinct labels and each
    label's index among them, refusing labels of mixed types and missing labels."""
    # A list is looked at before numpy makes one type of it (["a", 1] would be two strings).
    if isinstance(y, (list, tuple)):
        _one_kind(y)
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D, one label per sequence; got shape {y.shape}")
    if y.dtype == object and _one_kind(y) == "str":
        y = y.astype(str)
    if y.dtype.kind == "f" and np.isnan(y).any():
        raise ValueError(f"y[{int(np.flatnonzero(np.isnan(y))[0])}] is NaN: every sequence needs a label")
    classes, codes = np.unique(y, return_inverse=True)
    return classes, codes.astype(np.int64).reshape(-1)


def _one_kind(labels):
    """The one type of ``labels``; labels of mixed types are a TypeError."""
    kinds = {_label_kind(v) for v in labels}
    if len(kinds) > 1:
        raise TypeError(f"y mixes labels of different types ({', '.join(sorted(kinds))}); give one type")
    return kinds.pop() if kinds else None


def _label_kind(v):
    if isinstance(v, str):
        return "str"
    if isinstance(v, (bool, np.bool_)):
        return "bool"
    if isinstance(v, (int, np.integer)):
        return "int"
    if isinstance(v, (float, np.floating)):
        return "float"
    if v is None:
        return "None"
    return type(v).__name__


def read_ts(path):
    """Reads a UEA/UCR ``.ts`` file as ``(X, y)``: X a list of float32 ``[time, channels]``
    arrays (missing values NaN), y a numpy array of the class labels as the file writes them
    (or float32 values for regression files)."""
    X, y = _recur.read_ts(str(path))
    if isinstance(y, list):
        y = np.array(y)
    elif y.shape[1] == 1:
        y = y[:, 0]
    return X, y


def read_quickdraw(inputs, *, classes=None, max_per_class=None, recognized_only=False, strict=False):
    """Reads Quick, Draw! drawings as ``recur sketch`` loads them: ``.ndjson`` (raw or
    simplified), ``.bin`` or sketch-rnn ``.npz`` files, folders or globs (one or a list).

    Returns ``(X, y)`` as ``SketchClassifier.fit`` takes them: X a list of dicts with
    ``word``, ``key_id``, ``recognized``, ``countrycode`` and ``strokes`` (float32 ``[points,
    2]`` arrays of absolute x, y), y a numpy array of their words. Bad drawings are skipped
    with a warning naming the first ones (``strict=True`` raises on the first instead).
    """
    if isinstance(inputs, (str, bytes)) or not hasattr(inputs, "__iter__"):
        inputs = [inputs]
    drawings, skipped, problems = _recur.read_quickdraw(
        [str(i) for i in inputs],
        classes=list(classes or []),
        max_per_class=max_per_class,
        recognized_only=recognized_only,
        strict=strict,
    )
    if skipped:
        warnings.warn(f"skipped {skipped} bad drawings: " + "; ".join(problems), stacklevel=2)
    return drawings, _words(drawings)


def make_doodles(per_class=20, *, seed=1):
    """The generated doodles ``recur demo`` trains on (``recur data synth`` writes them):
    ``per_class`` drawings of each of 12 classes, reproducible from ``seed``, as ``(X, y)``
    like ``read_quickdraw``'s."""
    drawings = _recur.make_doodles(per_class, seed=seed)
    return drawings, _words(drawings)


def _words(drawings):
    """The labels of drawings as ``read_quickdraw`` gives them: their words."""
    return np.array([d["word"] for d in drawings], dtype=str)
