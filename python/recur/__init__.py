"""recur from Python: scikit-learn estimators over recur's Rust library.

The estimators are thin: they turn numpy arrays into recur's sequence sets and call the very
library functions the ``recur`` command line calls (``recur fit`` to train, ``recur run`` to
predict, ``recur forecast`` to forecast), so a model trained here is a model directory the command line reads, and the other
way round.
"""

from recur._recur import __version__, default_threads
from recur._data import read_quickdraw, read_ts
from recur._data import make_doodles

__all__ = [
    "SequenceClassifier",
    "SequenceRegressor",
    "Forecaster",
    "SketchClassifier",
    "Seq2Seq",
    "load",
    "read_ts",
    "read_quickdraw",
    "make_doodles",
    "default_threads",
    "__version__",
]

# The estimators build on scikit-learn's bases, whose import takes seconds; `import recur`
# stays quick and pays for it only when an estimator is first used.
_ESTIMATORS = ("SequenceClassifier", "SequenceRegressor", "load")
_FORECASTING = ("Forecaster",)
_SKETCHES = ("SketchClassifier",)
_SEQ2SEQ = ("Seq2Seq",)


def __getattr__(name):
    if name in _ESTIMATORS:
        from recur import _estimators

        return getattr(_estimators, name)
    if name in _FORECASTING:
        from recur import _forecaster

        return getattr(_forecaster, name)
    if name in _SKETCHES:
        from recur import _sketch

        return getattr(_sketch, name)
    if name in _SEQ2SEQ:
        from recur import _seq2seq

        return getattr(_seq2seq, name)
    raise AttributeError(f"module 'recur' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_ESTIMATORS) + list(_FORECASTING) + list(_SKETCHES) + list(_SEQ2SEQ))
