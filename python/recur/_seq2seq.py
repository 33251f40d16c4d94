"""``Seq2Seq``: ``recur seq2seq train`` and ``recur seq2seq predict`` as an estimator.

``fit(sources, targets)`` trains an encoder–decoder with attention on pairs of strings through
the same library job as ``recur seq2seq train`` (the texts are cut into tokens as a TSV file's
lines are, and ``val_split`` of the sources is held out to score each epoch and keep the best
one); ``predict(sources)`` searches as ``recur seq2seq predict`` does. The model directory is
the command line's: ``save(dir)`` writes what ``--model DIR`` reads, and ``recur.load(dir)``
opens what ``recur seq2seq train --out DIR`` wrote.
"""

import json
import os
import sys
import warnings

import numpy as np

from recur import _recur
from recur._model_dir import ModelDirectory, not_fitted, temporary_model_dir
from recur._progress import listener

try:
    from sklearn.base import BaseEstimator
except ImportError:  # pragma: no cover - exercised only without scikit-learn
    from recur._sklearn_free import BaseEstimator

# `recur seq2seq train`'s settings named as parameters (its flags, `_` for `-`); None keeps
# recur's default, which the library holds for both front ends.
SETTINGS = (
    "source_tokens",
    "target_tokens",
    "val_split",
    "embedding",
    "cell",
    "encoder_units",
    "encoder_layers",
    "unidirectional",
    "decoder_units",
    "attention",
    "no_input_feeding",
    "dropout",
    "epochs",
    "batch",
    "lr",
    "label_smoothing",
    "clip",
    "lr_patience",
    "patience",
    "max_minutes",
    "val_beam",
    "threads",
    "seed",
    "scheduled_sampling",
)


class Seq2Seq(ModelDirectory, BaseEstimator):
    """Maps strings to strings (spelling to pronunciation, date formats, transliteration) with
    an encoder–decoder with attention, trained as ``recur seq2seq train`` trains it: a 2-layer
    bidirectional LSTM encoder, an LSTM decoder with Luong attention, 30 epochs at most with
    early stopping on the held-out sources' exact-match error, unless told.

    The parameters are ``recur seq2seq train``'s options of the same names (``-`` becomes
    ``_``): ``source_tokens``/``target_tokens`` (``"chars"``, the default, or
    ``"whitespace"``), ``val_split``, the architecture (``embedding``, ``cell``,
    ``encoder_units``, ``encoder_layers``, ``unidirectional``, ``decoder_units``,
    ``attention``, ``no_input_feeding``, ``dropout``) and the training (``epochs``, ``batch``,
    ``lr``, ``label_smoothing``, ``clip``, ``lr_patience``, ``patience``, ``max_minutes``,
    ``val_beam``, ``threads``, ``seed``, ``scheduled_sampling``); None keeps recur's default.
    ``strict`` refuses sources holding characters (tokens) never seen in training instead of
    reading them as ``<unk>``, as ``recur seq2seq predict --strict`` does.

    Learned: ``translator_`` (the loaded model), ``model_dir_``, ``summary_``.
    """

    _NATIVE = "translator_"
    _open = staticmethod(_recur.Seq2SeqModel)

    def __init__(
        self,
        *,
        source_tokens=None,
        target_tokens=None,
        val_split=None,
        embedding=None,
        cell=None,
        encoder_units=None,
        encoder_layers=None,
        unidirectional=None,
        decoder_units=None,
        attention=None,
        no_input_feeding=None,
        dropout=None,
        epochs=None,
        batch=None,
        lr=None,
        label_smoothing=None,
        clip=None,
        lr_patience=None,
        patience=None,
        max_minutes=None,
        val_beam=None,
        threads=None,
        seed=None,
        scheduled_sampling=None,
        strict=False,
        progress=None,
        verbose=False,
    ):
        self.source_tokens = source_tokens
        self.target_tokens = target_tokens
        self.val_split = val_split
        self.embedding = embedding
        self.cell = cell
        self.encoder_units = encoder_units
        self.encoder_layers = encoder_layers
        self.unidirectional = unidirectional
        self.decoder_units = decoder_units
        self.attention = attention
        self.no_input_feeding = no_input_feeding
        self.dropout = dropout
        self.epochs = epochs
        self.batch = batch
        self.lr = lr
        self.label_smoothing = label_smoothing
        self.clip = clip
        self.lr_patience = lr_patience
        self.patience = patience
        self.max_minutes = max_minutes
        self.val_beam = val_beam
        self.threads = threads
        self.seed = seed
        self.scheduled_sampling = scheduled_sampling
        self.strict = strict
        self.progress = progress
        self.verbose = verbose

    def fit(self, sources, targets):
        """Trains on the pairs ``sources[i]`` → ``targets[i]`` (lists or arrays of str; each
        side stripped of surrounding whitespace, as a TSV line's fields are). ``val_split`` of
        the distinct sources is held out to pick the best epoch; training stops early, at
        ``epochs``, or after ``max_minutes``. Ctrl-C stops it (``KeyboardInterrupt``)."""
        settings = {name: getattr(self, name) for name in SETTINGS if getattr(self, name) is not None}
        workdir, out = temporary_model_dir()
        self.summary_ = _recur.fit_seq2seq(
            _texts(sources, "sources"),
            _texts(targets, "targets"),
            out,
            settings=json.dumps(settings),
            progress=listener(self.progress, self.verbose),
        )
        if self.verbose:
            print(self.summary_, file=sys.stderr)
        self._adopt(_recur.Seq2SeqModel(out), workdir)
        return self

    def _adopt(self, translator, workdir=None):
        """Takes a loaded model as this estimator's learned state."""
        self.translator_ = translator
        self.model_dir_ = translator.dir
        self._workdir = workdir

    def predict(self, sources, beam=5, nbest=1, *, alpha=None, max_len=None):
        """The outputs for ``sources`` (a list or array of str), searched as ``recur seq2seq
        predict`` searches: a beam of ``beam`` (1 = greedy), the GNMT length penalty ``alpha``
        (recur's 0.6 by default), at most ``max_len`` tokens (default: twice the longest
        training target).

        With ``nbest == 1``, a list of str: each source's best output (what the command line
        prints after the tab). With ``nbest > 1``, a list of lists of ``(text, score)`` tuples,
        the ``min(nbest, beam)`` best outputs of each source, best first, the score the
        length-normalised log-probability they are ranked by (``--json``'s ``score``)."""
        translator = self._fitted()
        outputs, unknown = translator.predict(
            _texts(sources, "sources"),
            beam=beam,
            nbest=nbest,
            alpha=alpha,
            max_len=max_len,
            strict=self.strict,
            threads=self.threads,
        )
        if unknown:
            warnings.warn(f"recur: {unknown} input tokens never seen in training were read as <unk>", stacklevel=2)
        if nbest == 1:
            return [hyps[0][0] if hyps else "" for hyps in outputs]
        return outputs

    def score(self, sources, targets, beam=5):
        """Sequence accuracy: the share of sources whose best output (with ``beam``) equals
        their target exactly, token for token; that is 1 − WER over whole outputs, ``recur
        seq2seq eval``'s exact match with one reference per source."""
        return self._fitted().score(
            _texts(sources, "sources"),
            _texts(targets, "targets"),
            beam=beam,
            strict=self.strict,
            threads=self.threads,
        )

    def _fitted(self):
        translator = getattr(self, "translator_", None)
        if translator is None:
            raise not_fitted(self)
        return translator


def load_seq2seq(path):
    """A model directory ``recur seq2seq train --out`` wrote (or ``Seq2Seq.save``) as a fitted
    Seq2Seq, its architecture's parameters set as it was trained."""
    native = _recur.Seq2SeqModel(os.fspath(path))
    saved = json.loads(native.settings)
    model = saved["model"]
    estimator = Seq2Seq(
        source_tokens=saved["source_tokenizer"],
        target_tokens=saved["target_tokenizer"],
        embedding=model["embedding"],
        cell=model["cell"],
        encoder_units=model["encoder_units"],
        encoder_layers=model["encoder_layers"],
        unidirectional=not model["bidirectional"],
        decoder_units=model["decoder_units"],
        attention=model["attention"],
        no_input_feeding=not model["input_feeding"],
        dropout=model["dropout"],
    )
    estimator._adopt(native)
    return estimator


def _texts(values, what):
    """``values`` as a list of str: a list, tuple or 1-D array of strings, not one string."""
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{what} must be a list of strings, not one {type(values).__name__}")
    if isinstance(values, np.ndarray) and values.ndim != 1:
        raise ValueError(f"{what} must be a 1-D array of strings; got shape {values.shape}")
    try:
        texts = list(values)
    except TypeError:
        raise TypeError(f"{what} must be a list of strings, not {type(values).__name__}") from None
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"{what}[{i}] is {type(text).__name__}, not str: give text")
    return [str(t) for t in texts]
