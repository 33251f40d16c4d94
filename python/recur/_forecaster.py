"""``Forecaster``: ``recur forecast`` as an estimator in sktime's style.

``fit(y, X=None)`` trains on a daily series (a pandas Series with a daily DatetimeIndex, or a
numpy array with ``dates=``) and its covariates; ``predict(fh)`` forecasts the days after the
series' last value; ``predict_interval(fh)`` gives the conformal interval the model was
trained with. The series goes to recur as the CSV text ``recur forecast --csv`` reads, so the
command line's parser, cleaning and notes apply as they are.
"""

import csv
import io
import json
import math
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

# `recur forecast`'s settings named as parameters (its flags, `_` for `-`); None keeps recur's
# default, which the library holds for both front ends.
SETTINGS = (
    "model",
    "horizon",
    "window",
    "covariates",
    "absolute",
    "early_stop_days",
    "units",
    "epochs",
    "patience",
    "batch_size",
    "lr",
    "loss",
    "seed",
    "ensemble",
    "interval",
    "interval_days",
    "interval_adapt",
    "refit",
    "member_residuals",
    "threads",
)


class Forecaster(ModelDirectory, BaseEstimator):
    """Forecasts the ``horizon`` days after a daily series, trained as ``recur forecast``
    trains it (the ``seq2seq`` preset, a 56-day window, 7 days ahead unless told).

    The parameters are ``recur forecast``'s options of the same names: ``model`` (a preset
    name, a model config file or a config dict), ``horizon``, ``window``, ``covariates`` (a list
    such as ``["known:day_type", "weekday"]``; the columns come from ``X``), ``interval`` (the
    coverage of conformal intervals, e.g. 0.8), and the training settings; None keeps recur's
    default. ``strict`` refuses missing days instead of interpolating them.

    Learned: ``forecaster_`` (the loaded model), ``model_dir_``, ``cutoff_`` (the last day
    with a value), ``summary_``.
    """

    _NATIVE = "forecaster_"
    _open = staticmethod(_recur.ForecastModel)

    def __init__(
        self,
        model=None,
        *,
        horizon=None,
        window=None,
        covariates=None,
        absolute=None,
        early_stop_days=None,
        units=None,
        epochs=None,
        patience=None,
        batch_size=None,
        lr=None,
        loss=None,
        seed=None,
        ensemble=None,
        interval=None,
        interval_days=None,
        interval_adapt=None,
        refit=None,
        member_residuals=None,
        threads=None,
        strict=False,
        progress=None,
        verbose=False,
    ):
        self.model = model
        self.horizon = horizon
        self.window = window
        self.covariates = covariates
        self.absolute = absolute
        self.early_stop_days = early_stop_days
        self.units = units
        self.epochs = epochs
        self.patience = patience
        self.batch_size = batch_size
        self.lr = lr
        self.loss = loss
        self.seed = seed
        self.ensemble = ensemble
        self.interval = interval
        self.interval_days = interval_days
        self.interval_adapt = interval_adapt
        self.refit = refit
        self.member_residuals = member_residuals
        self.threads = threads
        self.strict = strict
        self.progress = progress
        self.verbose = verbose

    # -- training ---------------------------------------------------------------------------

    def fit(self, y, X=None, *, dates=None):
        """Trains on the daily series ``y`` (every day of it: early stopping uses its last
        ``early_stop_days``) with the covariate columns of ``X`` named in ``covariates``."""
        series = _Series.of(y, X, dates, self._declared_columns())
        settings = {name: getattr(self, name) for name in SETTINGS if getattr(self, name) is not None}
        workdir, out = temporary_model_dir()
        with _model_file(settings) as settings:
            self.summary_, notes = _recur.fit_forecaster_csv(
                series.csv(),
                out,
                value_col=series.name,
                settings=json.dumps(settings),
                strict=self.strict,
                progress=listener(self.progress, self.verbose),
            )
        _warn(notes)
        if self.verbose:
            print(self.summary_, file=sys.stderr)
        self._adopt(_recur.ForecastModel(out), workdir)
        self._series = series
        return self

    def _declared_columns(self):
        """The CSV columns ``covariates`` declares (``known:COL``, ``observed:COL``)."""
        declared = []
        for name in self.covariates or []:
            kind, _, column = name.partition(":")
            if kind in ("known", "observed") and column:
                declared.append(column)
        return declared

    def _adopt(self, forecaster, workdir=None):
        """Takes a loaded model as this estimator's learned state."""
        self.forecaster_ = forecaster
        self.model_dir_ = forecaster.dir
        self._workdir = workdir

    def update(self, y, X=None, *, dates=None):
        """Sets the series the forecasts start after (the model is not trained again): what a
        loaded forecaster needs before ``predict``, or newer data for a fitted one."""
        if not hasattr(self, "forecaster_"):
            raise not_fitted(self)
        self._series = _Series.of(y, X, dates, self._model_columns(), name=self.forecaster_.columns[1])
        return self

    def _model_columns(self):
        declared = self.forecaster_.columns[2]
        return [c.partition(":")[2] for c in declared if c.partition(":")[0] in ("known", "observed")]

    # -- forecasting ------------------------------------------------------------------------

    @property
    def cutoff_(self):
        """The last day with a value of the series forecast from (numpy datetime64[D])."""
        return self._history().dates[-1]

    def _history(self):
        if not hasattr(self, "forecaster_"):
            raise not_fitted(self)
        series = getattr(self, "_series", None)
        if series is None:
            raise ValueError("this Forecaster was loaded without its series: call update(y, X) with the series to forecast from")
        return series

    def _forecast(self, fh, X):
        """The steps asked for (1-based), the native forecast, and the series forecast from."""
        series = self._history()
        steps = _steps(fh, self.forecaster_.horizon)
        text = series.csv(future=_Series.future(X, series, self._model_columns()))
        # The reader's notes were shown at fit; here they would only say that X's rows are
        # the days ahead.
        days, values, band, _notes = self.forecaster_.forecast(text, strict=self.strict, threads=self.threads)
        return steps, np.array(days, dtype="datetime64[D]"), np.asarray(values), band, series

    def predict(self, fh=None, X=None):
        """The forecast of the days after the series' last value: ``fh`` an int h (days 1..h),
        a list or array of steps from 1 to ``horizon``, or None (every day of the horizon).
        ``X`` gives the covariates known in advance for the days forecast (its rows are those
        days, in order). A pandas Series indexed by the days when ``y`` was one, else an array."""
        steps, days, values, _band, series = self._forecast(fh, X)
        picked = values[steps - 1]
        if series.pandas:
            import pandas as pd

            return pd.Series(picked, index=pd.DatetimeIndex(days[steps - 1], name=series.index_name), name=series.label)
        return picked

    def predict_interval(self, fh=None, X=None, coverage=None):
        """The conformal interval around the forecast, as trained (``interval=``): a pandas
        DataFrame with sktime's columns ``(name, coverage, "lower"/"upper")`` indexed by the
        days when ``y`` was a Series, else an array ``[steps, 2]`` of lower and upper ends.
        ``coverage`` may only restate the trained one: the interval is calibrated for it."""
        steps, days, _values, band, series = self._forecast(fh, X)
        level = self.forecaster_.level
        if band is None:
            raise ValueError("this Forecaster was trained without intervals: set interval=0.8 (any coverage) before fit")
        for c in np.atleast_1d(coverage if coverage is not None else level):
            if abs(float(c) - level) > 1e-9:
                raise ValueError(f"the intervals were calibrated for coverage {level}, not {c}: fit with interval={c}")
        bounds = np.column_stack([np.asarray(band[0])[steps - 1], np.asarray(band[1])[steps - 1]])
        if series.pandas:
            import pandas as pd

            columns = pd.MultiIndex.from_tuples([(series.label, level, "lower"), (series.label, level, "upper")])
            return pd.DataFrame(bounds, index=pd.DatetimeIndex(days[steps - 1], name=series.index_name), columns=columns)
        return bounds


def load_forecaster(path):
    """A forecaster directory ``recur forecast --out`` wrote (or ``Forecaster.save``) as a
    fitted Forecaster; give it the series to forecast from with ``update(y, X)``."""
    native = _recur.ForecastModel(os.fspath(path))
    estimator = Forecaster(horizon=native.horizon, window=native.window, covariates=native.columns[2] or None)
    estimator._adopt(native)
    return estimator


def _steps(fh, horizon):
    """``fh`` as a sorted array of 1-based steps within the horizon."""
    if fh is None:
        return np.arange(1, horizon + 1)
    if np.ndim(fh) == 0:
        if int(fh) != fh or fh < 1:
            raise ValueError(f"fh must be a number of days ahead, at least 1; got {fh!r}")
        steps = np.arange(1, int(fh) + 1)
    else:
        steps = np.asarray(fh)
        if steps.size == 0 or steps.dtype.kind not in "iu" or steps.min() < 1:
            raise ValueError(f"fh must list steps ahead, each at least 1; got {fh!r}")
    if steps.max() > horizon:
        raise ValueError(
            f"fh reaches {int(steps.max())} days ahead, but the model forecasts {horizon} (horizon={horizon}): fit with a longer horizon"
        )
    return steps.astype(np.int64)


def _warn(notes):
    for note in notes:
        warnings.warn(f"recur: {note}", stacklevel=3)


class _model_file:
    """Context: a ``model`` config dict written to a temporary file (``recur forecast
    --model`` takes a file), the settings then naming that file."""

    def __init__(self, settings):
        self.settings, self.path = settings, None

    def __enter__(self):
        model = self.settings.get("model")
        if isinstance(model, dict):
            import tempfile

            fd, self.path = tempfile.mkstemp(prefix="recur-forecast-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(model, f)
            return {**self.settings, "model": self.path}
        if model is not None and not isinstance(model, (str, os.PathLike)):
            raise TypeError(f"model must be a preset name, a config file or a config dict, not {type(model).__name__}")
        return {**self.settings, "model": os.fspath(model)} if model is not None else self.settings

    def __exit__(self, *exc):
        if self.path is not None:
            os.unlink(self.path)


class _Series:
    """A daily series and its covariate columns, as ``recur forecast --csv`` reads them."""

    def __init__(self, dates, values, columns, name, pandas, index_name, label):
        self.dates, self.values, self.columns = dates, values, columns
        self.name, self.pandas, self.index_name, self.label = name, pandas, index_name, label

    @classmethod
    def of(cls, y, X, dates, declared, name=None):
        """``y`` (a pandas Series with a DatetimeIndex, or numbers with ``dates``) and ``X``."""
        pandas = _is_pandas(y)
        if pandas:
            if dates is not None:
                raise ValueError("dates= is for numpy arrays: a pandas Series carries its dates in its index")
            days = _days(y.index, "y's index")
            values, label, index_name = y.to_numpy(), y.name, y.index.name
        else:
            if dates is None:
                raise ValueError("a numpy y needs its days: dates= an array of datetime64[D] (or give a pandas Series)")
            days, values, label, index_name = _days(dates, "dates"), np.asarray(y), None, None
        values = _values(values, len(days))
        name = name or (str(label) if label is not None else "value")
        if name == "date" or name in declared:
            raise ValueError(f"y is named {name!r}, a name the date or a covariate column takes: rename it")
        columns = _columns(X, declared, len(days), "X")
        return cls(days, values, columns, name, pandas, index_name, label)

    @staticmethod
    def future(X, series, declared):
        """The covariates of the days after the series (rows of X, in order), or None."""
        if X is None:
            return None
        rows = len(X)
        days = series.dates[-1] + np.arange(1, rows + 1)
        if _is_pandas(X) and hasattr(X.index, "normalize"):
            given = _days(X.index, "X's index")
            if not np.array_equal(given, days):
                raise ValueError(f"X's rows must be the days after the series' last value, {days[0]} on; X starts on {given[0]}")
        return days, _columns(X, declared, rows, "X")

    def csv(self, future=None):
        """The CSV text: date, value and covariate columns, one row a day; rows of
        ``future`` (days, columns) after them with the value left empty."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        names = list(self.columns)
        writer.writerow(["date", self.name, *names])
        # Whole columns at a time (numpy's day strings, Python floats): a row at a time through
        # numpy scalars took 9 ms for 1,277 days, several times the forecast itself.
        values = [repr(v) for v in self.values.tolist()]
        writer.writerows(zip(_day_strings(self.dates), values, *(_cells(self.columns[c]) for c in names)))
        if future is not None:
            days, columns = future
            if sorted(columns) != sorted(names):
                raise ValueError(f"X for the days ahead has columns {sorted(columns)}, the series {sorted(names)}")
            empty = [""] * len(days)
            writer.writerows(zip(_day_strings(days), empty, *(_cells(columns[c]) for c in names)))
        return out.getvalue()


def _is_pandas(obj):
    return type(obj).__module__.startswith("pandas")


def _days(dates, what):
    """Dates as datetime64[D], refusing times of day."""
    try:
        days = np.asarray(dates, dtype="datetime64[ns]")
    except (TypeError, ValueError):
        raise TypeError(f"{what} must hold dates (datetime64), not {np.asarray(dates).dtype}") from None
    if days.ndim != 1 or len(days) == 0:
        raise ValueError(f"{what} must be one date per value")
    whole = days.astype("datetime64[D]")
    if (whole != days).any():
        raise ValueError(f"{what} holds times of day: a daily series has one value per date")
    return whole


def _values(values, n):
    if values.dtype.kind not in "iuf":
        raise TypeError(f"y must hold numbers, not {values.dtype}")
    if values.ndim != 1 or len(values) != n:
        raise ValueError(f"y must be one value per date ({n} dates); got shape {values.shape}")
    if not np.isfinite(values.astype(np.float64)).all():
        bad = int(np.flatnonzero(~np.isfinite(values.astype(np.float64)))[0])
        raise ValueError(f"y[{bad}] is {values[bad]}: leave a missing day out (recur interpolates it) instead")
    return values.astype(np.float64)


def _columns(X, declared, n, what):
    """X's columns by name: a DataFrame's own (they must be those ``covariates`` declares),
    or a 2-D array's, named in the order declared."""
    if X is None:
        if declared:
            raise ValueError(f"covariates declare columns {declared}: give them as X")
        return {}
    if _is_pandas(X):
        columns = {str(c): X[c].to_numpy() for c in X.columns}
    else:
        a = np.asarray(X)
        a = a[:, None] if a.ndim == 1 else a
        if a.ndim != 2 or a.shape[1] != len(declared):
            raise ValueError(f"{what} must have one column per covariate column declared ({declared}); got shape {a.shape}")
        columns = {name: a[:, k] for k, name in enumerate(declared)}
    if sorted(columns) != sorted(declared):
        raise ValueError(
            f"{what} has columns {sorted(columns)} but covariates declare {sorted(declared)}: "
            "declare each as known:COLUMN or observed:COLUMN"
        )
    for name, column in columns.items():
        if len(column) != n:
            raise ValueError(f"{what}[{name!r}] has {len(column)} rows for {n} days")
    return columns


def _day_strings(days):
    """``YYYY-MM-DD`` of each datetime64[D] day."""
    return np.datetime_as_string(np.asarray(days, dtype="datetime64[D]"), unit="D").tolist()


def _cells(column):
    """A covariate column's CSV cells."""
    a = np.asarray(column)
    if a.dtype.kind == "f":
        return [repr(v) if math.isfinite(v) else "" for v in a.tolist()]
    return [_cell(v) for v in a.tolist()]


def _cell(v):
    if isinstance(v, (float, np.floating)):
        return repr(float(v)) if np.isfinite(v) else ""
    return str(v)
