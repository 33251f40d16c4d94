"""Forecaster: `recur forecast` in sktime's style. Its forecasts equal `recur forecast --model`
on the directory it saved, on the shared CTA ridership series (with a known covariate and
intervals) and on a generated series given as numpy arrays."""

import json
import pickle
import subprocess
import warnings

import numpy as np
import pytest

import recur
from conftest import REPO

CTA = REPO.parent / "shared" / "data" / "cta_ridership_daily" / "CTA_-_Ridership_-_Daily_Boarding_Totals.csv"
# Small and quick: a linear model, a few epochs.
QUICK = dict(model="linear", window=21, horizon=7, early_stop_days=28, epochs=3, seed=1)


def generated(days=300, seed=0):
    """A daily series with a weekly cycle (dates, values)."""
    rng = np.random.default_rng(seed)
    t = np.arange(days)
    values = 100 + 20 * np.sin(2 * np.pi * t / 7) + t * 0.05 + rng.normal(0, 2, days)
    return np.datetime64("2015-03-01") + t, values


def cli_forecast(cli, model_dir, csv_path):
    done = subprocess.run(
        [cli, "forecast", "--model", str(model_dir), "--csv", str(csv_path), "--json"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_forecaster_answers_as_recur_forecast_on_cta_ridership(recur_cli, tmp_path):
    pd = pytest.importorskip("pandas")
    if not CTA.exists():
        pytest.skip(f"the CTA ridership series is not in {CTA.parent} (see ../shared/data/README.md): skipping")
    df = pd.read_csv(CTA).drop_duplicates()
    df["date"] = pd.to_datetime(df.pop("service_date"), format="%m/%d/%Y")
    df = df.set_index("date").sort_index().loc["2018-01-01":"2019-06-07"]
    history, ahead = df.iloc[:-7], df.iloc[-7:]
    y = history["rail_boardings"]
    f = recur.Forecaster(**QUICK, covariates=["known:day_type", "weekday"], interval=0.8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean series: no notes
        f.fit(y, X=history[["day_type"]])
    forecast = f.predict(7, X=ahead[["day_type"]])
    assert list(forecast.index) == list(ahead.index) and forecast.name == "rail_boardings"
    band = f.predict_interval(X=ahead[["day_type"]], coverage=0.8)
    assert list(band.columns) == [("rail_boardings", 0.8, "lower"), ("rail_boardings", 0.8, "upper")]
    saved = f.save(tmp_path / "cta")
    # The command line reads the directory and the same days, written by pandas.
    csv_path = tmp_path / "cta.csv"
    both = pd.concat([history[["day_type", "rail_boardings"]], ahead[["day_type"]]])
    both.to_csv(csv_path, date_format="%Y-%m-%d")
    cli = cli_forecast(recur_cli, saved, csv_path)
    assert cli["dates"] == [d.strftime("%Y-%m-%d") for d in ahead.index]
    assert cli["forecast"] == forecast.tolist()
    assert cli["interval"]["lower"] == band.iloc[:, 0].tolist()
    assert cli["interval"]["upper"] == band.iloc[:, 1].tolist()
    # Steps picked out of the seven.
    np.testing.assert_array_equal(f.predict([1, 3, 7], X=ahead[["day_type"]]).to_numpy(), forecast.to_numpy()[[0, 2, 6]])


def test_forecaster_on_numpy_arrays_saves_what_recur_forecast_reads(recur_cli, tmp_path):
    dates, values = generated()
    f = recur.Forecaster(**QUICK).fit(values, dates=dates)
    forecast = f.predict()
    assert isinstance(forecast, np.ndarray) and forecast.shape == (7,)
    assert f.cutoff_ == dates[-1] and "best epoch" in f.summary_
    saved = f.save(tmp_path / "gen")
    csv_path = tmp_path / "gen.csv"
    csv_path.write_text("date,value\n" + "".join(f"{d},{v!r}\n" for d, v in zip(dates, values.tolist())))
    assert cli_forecast(recur_cli, saved, csv_path)["forecast"] == forecast.tolist()
    # And the other way: recur.load opens the directory; given the series, it answers the same.
    loaded = recur.load(saved)
    assert isinstance(loaded, recur.Forecaster) and loaded.get_params()["horizon"] == 7
    np.testing.assert_array_equal(loaded.update(values, dates=dates).predict(), forecast)


def test_forecaster_steps_clone_and_pickle():
    from sklearn.base import clone

    dates, values = generated(seed=1)
    f = recur.Forecaster(**QUICK).fit(values, dates=dates)
    full = f.predict()
    np.testing.assert_array_equal(f.predict(3), full[:3])
    np.testing.assert_array_equal(f.predict(np.array([2, 5])), full[[1, 4]])
    assert clone(f).get_params() == f.get_params() and not hasattr(clone(f), "forecaster_")
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(f)).predict(), full)


def test_forecaster_bad_input_says_what_is_wrong():
    dates, values = generated(120)
    with pytest.raises(ValueError, match="needs its days: dates="):
        recur.Forecaster(**QUICK).fit(values)
    bad = values.copy()
    bad[5] = np.nan
    with pytest.raises(ValueError, match=r"y\[5\] is nan"):
        recur.Forecaster(**QUICK).fit(bad, dates=dates)
    with pytest.raises(ValueError, match="one column per covariate column declared"):
        recur.Forecaster(**QUICK, covariates=["known:kind"]).fit(values, dates=dates, X=np.zeros((120, 2)))
    with pytest.raises(ValueError, match="interval_adapt is a step between 0 and 1"):
        recur.Forecaster(**QUICK, interval_adapt=2.0).fit(values, dates=dates)
    with pytest.raises(ValueError, match="too little history"):
        recur.Forecaster(**QUICK).fit(values[:50], dates=dates[:50])
    f = recur.Forecaster(**QUICK).fit(values, dates=dates)
    with pytest.raises(ValueError, match="the model forecasts 7"):
        f.predict(8)
    with pytest.raises(ValueError, match="trained without intervals"):
        f.predict_interval()
    with pytest.raises(ValueError, match="`l1` is not a loss|unknown variant `l1`"):
        recur.Forecaster(**QUICK, loss="l1").fit(values, dates=dates)


def test_forecaster_verbose_and_progress_show_each_epoch(capsys):
    dates, values = generated(150, seed=2)
    events = []
    recur.Forecaster(**QUICK, verbose=True, progress=events.append).fit(values, dates=dates)
    err = capsys.readouterr().err
    assert "epoch 1/3  loss" in err and "early_stop_mae" in err and "best epoch" in err
    assert [e["epoch"] for e in events if e["event"] == "epoch_ended"] == [1, 2, 3]
