"""``SketchClassifier``: ``recur train`` and ``recur predict`` as a scikit-learn classifier of
Quick, Draw! drawings.

A drawing is Quick, Draw!'s element form ``[[[x...], [y...]], ...]`` (simplified, or raw with
a third list of times, which recur simplifies as Google did), as JSON text or nested Python
lists, or a dict as ``recur.read_quickdraw`` returns it. The drawings reach the very parser
and the very training job and predictor the command line uses, so a model trained here is a
directory ``recur predict --model DIR`` reads, and the other way round.
"""

import json
import os
import sys

import numpy as np

from recur import _recur
from recur._data import class_labels
from recur._model_dir import ModelDirectory, not_fitted, temporary_model_dir
from recur._progress import listener

try:
    from sklearn.base import BaseEstimator, ClassifierMixin
except ImportError:  # pragma: no cover - exercised only without scikit-learn
    from recur._sklearn_free import BaseEstimator, ClassifierMixin

# `recur train`'s settings named as parameters (its flags, `_` for `-`; `augment=False` is
# `--no-augment`); None keeps recur's default, which the library holds for both front ends.
SETTINGS = (
    "preset",
    "config",
    "epochs",
    "ensemble",
    "patience",
    "batch_size",
    "lr",
    "label_smoothing",
    "augment",
    "encoding",
    "normalization",
    "max_points",
    "val_percent",
    "test_percent",
    "seed",
    "threads",
)


class SketchClassifier(ClassifierMixin, ModelDirectory, BaseEstimator):
    """The class of each drawing, trained as ``recur train`` trains it (the ``recur`` preset:
    convolutions and bidirectional LSTMs over stroke-3 points, at most 40 epochs with early
    stopping on the validation part's top-1).

    The parameters are ``recur train``'s options of the same names: ``preset`` (``recur``,
    ``geron`` or ``tf-tutorial``), ``config`` (a model config file or dict instead), ``epochs``,
    ``ensemble``, ``patience``, ``batch_size``, ``lr``, ``label_smoothing``, ``augment``
    (False for ``--no-augment``), ``encoding`` (``stroke3``/``stroke5``), ``normalization``
    (``bbox``/``std``), ``max_points``, ``val_percent`` and ``test_percent`` (the parts held
    out by key_id, as ``recur train`` splits: the drawings' ``key_id`` when every one has one,
    else their index), ``seed`` and ``threads``; None keeps recur's default.

    Learned: ``classes_`` (sorted labels), ``sketch_model_`` (the loaded model),
    ``model_dir_``, ``summary_`` (the held-out part's scores).
    """

    _NATIVE = "sketch_model_"
    _open = staticmethod(_recur.SketchModel)

    def __init__(
        self,
        preset=None,
        *,
        config=None,
        epochs=None,
        ensemble=None,
        patience=None,
        batch_size=None,
        lr=None,
        label_smoothing=None,
        augment=None,
        encoding=None,
        normalization=None,
        max_points=None,
        val_percent=None,
        test_percent=None,
        seed=None,
        threads=None,
        progress=None,
        verbose=False,
    ):
        self.preset = preset
        self.config = config
        self.epochs = epochs
        self.ensemble = ensemble
        self.patience = patience
        self.batch_size = batch_size
        self.lr = lr
        self.label_smoothing = label_smoothing
        self.augment = augment
        self.encoding = encoding
        self.normalization = normalization
        self.max_points = max_points
        self.val_percent = val_percent
        self.test_percent = test_percent
        self.seed = seed
        self.threads = threads
        self.progress = progress
        self.verbose = verbose

    def fit(self, X, y):
        """Trains on drawings X and their labels y (numbers or strings, one type)."""
        drawings, keys = _drawings(X)
        classes, codes = class_labels(y)
        names = [str(c) for c in classes]
        if len(set(names)) != len(names):
            raise ValueError(f"the labels {list(classes)} read alike as class names: give labels that differ as text")
        workdir, out = temporary_model_dir()
        self.summary_ = _recur.fit_sketches(
            drawings,
            [names[k] for k in codes],
            out,
            key_ids=keys,
            settings=json.dumps(self._settings(workdir.name)),
            progress=listener(self.progress, self.verbose),
        )
        if self.verbose:
            print(self.summary_, file=sys.stderr)
        self.classes_ = classes
        self._adopt(_recur.SketchModel(out), workdir)
        return self

    def _settings(self, workdir):
        """The settings given, a config dict written to a file in ``workdir`` (recur train
        takes a file)."""
        settings = {name: getattr(self, name) for name in SETTINGS if getattr(self, name) is not None}
        config = settings.get("config")
        if isinstance(config, dict):
            path = os.path.join(workdir, "config.json")
            with open(path, "w", encoding="utf-8") as f:
                json.dump(config, f)
            settings["config"] = path
        elif config is not None:
            if not isinstance(config, (str, os.PathLike)):
                raise TypeError(f"config must be a model config file or dict, not {type(config).__name__}")
            settings["config"] = os.fspath(config)
        return settings

    def _adopt(self, model, workdir=None):
        """Takes a loaded model as this estimator's learned state; ``classes_`` (the model's
        class names, unless fitted with labels of their own) order the probabilities."""
        self.sketch_model_ = model
        self.model_dir_ = model.dir
        # A temporary model directory lives as long as the estimator.
        self._workdir = workdir
        if not hasattr(self, "classes_"):
            self.classes_ = np.array(model.classes)
        names = list(model.classes)
        self._columns = np.array([names.index(str(c)) for c in self.classes_], dtype=np.int64)

    def predict_proba(self, X):
        """Class probabilities ``[n, classes]`` in the order of ``classes_``: the numbers
        ``recur predict --model DIR --json`` prints."""
        if not hasattr(self, "sketch_model_"):
            raise not_fitted(self)
        drawings, _keys = _drawings(X)
        probabilities = self.sketch_model_.probabilities(drawings, threads=self.threads)
        if np.array_equal(self._columns, np.arange(len(self._columns))):
            return probabilities
        return probabilities[:, self._columns]

    def predict(self, X):
        """The most probable class of each drawing."""
        probabilities = self.predict_proba(X)
        return self.classes_[np.argmax(probabilities, axis=1)]


def load_sketch_classifier(path):
    """A sketch classifier directory ``recur train`` wrote (or ``SketchClassifier.save``) as a
    fitted SketchClassifier, its ``classes_`` the model's class names (strings)."""
    estimator = SketchClassifier()
    estimator._adopt(_recur.SketchModel(os.fspath(path)))
    return estimator


def _drawings(X):
    """``(drawings, key_ids)`` for the native module: each drawing as JSON text in the element
    form, or a dict's strokes as float32 ``[points, 2]`` arrays; the key_ids when every drawing
    is a dict with one, else None."""
    if isinstance(X, (str, bytes, dict)) or not hasattr(X, "__iter__"):
        raise TypeError(f"X must be a list of drawings, not {type(X).__name__}")
    drawings, keys = [], []
    for i, d in enumerate(X):
        if isinstance(d, dict):
            keys.append(d.get("key_id"))
            drawings.append(_dict_drawing(i, d))
            continue
        keys.append(None)
        if isinstance(d, str):
            drawings.append(d)
        elif isinstance(d, bytes):
            drawings.append(d.decode("utf-8", errors="replace"))
        elif isinstance(d, (list, tuple, np.ndarray)):
            try:
                drawings.append(json.dumps(d, default=_plain))
            except (TypeError, ValueError) as e:
                raise TypeError(f"drawings[{i}] holds something other than numbers ({e})") from None
        else:
            raise TypeError(
                f"drawings[{i}] is a {type(d).__name__}: a drawing is [[[x...], [y...]], ...] "
                "as JSON text or lists, or a dict from recur.read_quickdraw"
            )
    if not drawings:
        raise ValueError("X holds no drawings")
    return drawings, (None if any(k is None for k in keys) else [str(k) for k in keys])


def _dict_drawing(i, d):
    """A dict as ``read_quickdraw`` returns it (``strokes``), or an ndjson record
    (``drawing``)."""
    if "strokes" in d:
        strokes = [np.asarray(s, dtype=np.float32) for s in d["strokes"]]
        for k, s in enumerate(strokes):
            if s.ndim != 2 or s.shape[1] != 2:
                raise ValueError(f"drawings[{i}]: stroke {k} must be [points, 2] (x, y), not shape {s.shape}")
        return strokes
    if "drawing" in d:
        return json.dumps(d["drawing"], default=_plain)
    raise ValueError(f"drawings[{i}] is a dict without `strokes` (recur.read_quickdraw's) or `drawing` (an ndjson record)")


def _plain(value):
    """numpy values inside nested lists, as JSON takes them."""
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not a number")
