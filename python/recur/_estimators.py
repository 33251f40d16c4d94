"""``SequenceClassifier`` and ``SequenceRegressor``: ``recur fit`` and ``recur run`` as
scikit-learn estimators.

Following scikit-learn's rules, ``__init__`` only stores its parameters; ``fit`` trains into a
model directory (a temporary one unless saved) through the same library call as ``recur fit``,
and keeps what it learned in attributes ending in ``_``.
"""

import json
import os
import sys

import numpy as np

from recur import _recur
from recur._data import class_labels, sequences
from recur._model_dir import ModelDirectory, not_fitted, temporary_model_dir
from recur._progress import listener

try:  # scikit-learn's bases give clone, Pipeline and search tools everything they look for.
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
except ImportError:  # pragma: no cover - exercised only without scikit-learn
    from recur._sklearn_free import BaseEstimator, ClassifierMixin, RegressorMixin

# The settings named as estimator parameters; each is `recur fit`'s option of the same name
# (and the config's `training` field). Any other field goes in `training`.
NAMED_SETTINGS = ("solver", "epochs", "batch_size", "lr", "val_split", "ensemble", "seed", "threads")


class _SequenceEstimator(ModelDirectory, BaseEstimator):
    """What the classifier and the regressor share: settings, fitting, predicting."""

    _NATIVE = "predictor_"
    _open = staticmethod(_recur.Predictor)

    def __init__(
        self,
        config=None,
        *,
        solver=None,
        epochs=None,
        batch_size=None,
        lr=None,
        val_split=None,
        ensemble=None,
        seed=None,
        threads=None,
        training=None,
        layout="tsc",
        allow_nan=False,
        progress=None,
        verbose=False,
    ):
        self.config = config
        self.solver = solver
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.val_split = val_split
        self.ensemble = ensemble
        self.seed = seed
        self.threads = threads
        self.training = training
        self.layout = layout
        self.allow_nan = allow_nan
        self.progress = progress
        self.verbose = verbose

    # -- training ---------------------------------------------------------------------------

    def _settings(self):
        """The `training` settings given: the `training` dict, the named parameters over it
        (those left None keep recur's defaults)."""
        given = dict(self.training or {})
        for name in NAMED_SETTINGS:
            value = getattr(self, name)
            if value is not None:
                given[name] = value
        return given

    def _config_text(self):
        """The model config as JSON text: a dict, a path to a JSON file, or None (recur's
        built-in model: MiniRocket with a ridge head for classes)."""
        if self.config is None:
            return None
        if isinstance(self.config, dict):
            return json.dumps(self.config)
        if isinstance(self.config, (str, os.PathLike)):
            with open(self.config, encoding="utf-8") as f:
                return f.read()
        raise TypeError(f"config must be a dict, a path to a JSON file or None, not {type(self.config).__name__}")

    def _fit(self, X, y, class_names):
        x, lengths, channels_first = sequences(X, self.layout, self.allow_nan)
        workdir, out = temporary_model_dir()
        self.summary_ = _recur.fit_sequences(
            x,
            y,
            out,
            lengths=lengths,
            class_names=class_names,
            channels_first=channels_first,
            config=self._config_text(),
            training=json.dumps(self._settings()),
            progress=listener(self.progress, self.verbose),
        )
        if self.verbose:
            print(self.summary_, file=sys.stderr)
        self._adopt(_recur.Predictor(out), workdir)
        return self

    def _adopt(self, predictor, workdir=None):
        """Takes a loaded model as this estimator's learned state."""
        self.predictor_ = predictor
        self.model_dir_ = predictor.dir
        self.n_channels_in_ = predictor.channels
        # A temporary model directory lives as long as the estimator.
        self._workdir = workdir

    # -- using ------------------------------------------------------------------------------

    def _outputs(self, X):
        """Class probabilities or values, as ``recur run`` writes them."""
        if not hasattr(self, "predictor_"):
            raise not_fitted(self)
        x, lengths, channels_first = sequences(X, self.layout, self.allow_nan)
        return self.predictor_.predict(x, lengths=lengths, channels_first=channels_first, threads=self.threads)


class SequenceClassifier(ClassifierMixin, _SequenceEstimator):
    """One class per sequence, trained as ``recur fit`` trains it.

    By default MiniRocket's features with a ridge head fitted in closed form (recur fit's
    default for classes); ``config`` (a dict or a JSON file, Keras-like layers and an optional
    ``training`` section) or ``solver="gradient"`` train a network by gradient instead. The
    named parameters are ``recur fit``'s options of the same names; ``training`` holds any
    other (e.g. ``{"optimizer": "adam", "patience": 10}``); None keeps recur's default.

    Learned: ``classes_`` (sorted labels), ``predictor_``, ``model_dir_``, ``n_channels_in_``,
    ``summary_`` (``recur fit``'s summary line).
    """

    def fit(self, X, y):
        """Trains on sequences X and their labels y (numbers or strings, one type)."""
        classes, codes = class_labels(y)
        self._fit(X, codes, [str(c) for c in classes])
        self.classes_ = classes
        return self

    def predict_proba(self, X):
        """Class probabilities ``[n, classes]`` in the order of ``classes_``."""
        return self._outputs(X)

    def predict(self, X):
        """The most probable class of each sequence."""
        outputs = self._outputs(X)
        return self.classes_[np.argmax(outputs, axis=-1)]


class SequenceRegressor(RegressorMixin, _SequenceEstimator):
    """One value (or a vector of values) per sequence, trained as ``recur fit`` trains it.

    By default MiniRocket's features with a ridge head (recur fit's default where ridge
    applies); see :class:`SequenceClassifier` for ``config`` and the settings. ``score`` is R².
    """

    def fit(self, X, y):
        """Trains on sequences X and targets y: ``[n]`` or ``[n, k]`` numbers."""
        y = np.asarray(y)
        if y.dtype.kind not in "iuf":
            raise TypeError(f"y must hold numbers for a regressor, not {y.dtype}")
        if y.ndim not in (1, 2):
            raise ValueError(f"y must be [n] or [n, k] values; got shape {y.shape}")
        self._fit(X, y.astype(np.float64), None)
        self.n_targets_ = 1 if y.ndim == 1 else y.shape[1]
        self._one_target = y.ndim == 1
        return self

    def predict(self, X):
        """Predicted values: ``[n]`` when trained on ``[n]`` targets, else ``[n, k]``."""
        out = self._outputs(X)
        if getattr(self, "_one_target", out.shape[-1] == 1) and out.ndim == 2:
            return out[:, 0]
        return out


def load(path):
    """Opens a model directory ``recur fit``, ``recur forecast --out`` or ``recur train``
    wrote (or an estimator saved) as a fitted estimator: a SequenceClassifier (``classes_`` are
    the model's class names, strings), a SequenceRegressor, a Forecaster, or a
    SketchClassifier; a directory ``recur seq2seq train --out`` wrote as a Seq2Seq."""
    if os.path.isfile(os.path.join(os.fspath(path), "seq2seq.json")):
        from recur._seq2seq import load_seq2seq

        return load_seq2seq(path)
    if os.path.isfile(os.path.join(os.fspath(path), "forecast.json")):
        from recur._forecaster import load_forecaster

        return load_forecaster(path)
    if _recur.is_sketch_model(os.fspath(path)):
        from recur._sketch import load_sketch_classifier

        return load_sketch_classifier(path)
    predictor = _recur.Predictor(os.fspath(path))
    if predictor.task in ("classify", "tag_steps"):
        estimator = SequenceClassifier()
        estimator.classes_ = np.array(predictor.classes)
    else:
        estimator = SequenceRegressor()
        estimator.n_targets_ = predictor.outputs
    estimator._adopt(predictor)
    return estimator
