"""The models a practitioner would use instead of `recur forecast`, scored on the same origins.

Trains, once, at the end of the training range (no refit as the test range goes by):

- statsforecast AutoARIMA (season 7), AutoETS (season 7) and MSTL (seasons 7 and 365, AutoETS
  trend), each then applied to the history before every origin with its fitted parameters
  (`forward`), as a deployed model would be. MSTL decomposes the whole history again at every
  origin (a minute per origin on 18 years here), so it is fitted on, and applied to, the last
  `--mstl-days` days (default three years: it needs two yearly periods);
- LightGBM direct: one model per horizon h, whose row at origin d holds the last 28 days
  (d-1 .. d-28) and the target day's weekday and month, with or without its day type (and with
  `--holidays US`, a third model also given whether the target day is a public holiday, from
  the `holidays` package: the information `recur forecast --covariates known:day_type,holidays:US`
  has).
  Its boosting rounds are chosen on the training range's last `--early-stop-days` (as recur's
  early stopping), then it is refit on the whole training range with that many rounds.

Origins are every day d from `--test-from` (default: the day after --train-until) whose
`horizon` targets lie on or before --test-until; errors are MAE per horizon, then their mean.
`--recur LABEL=FILE` reads a `recur forecast --forecasts FILE` CSV and prints its mean MAE on the
same origins next to the anchors (and its intervals' coverage, if it has them). Several --test-from dates score several origin ranges.

    pip install statsforecast lightgbm
    python bench/forecast_anchors.py --csv CTA_-_Ridership_-_Daily_Boarding_Totals.csv \\
        --date-col service_date --value-col rail_boardings --type-col day_type \\
        --train-until 2018-12-31 --test-until 2019-05-31 --test-from 2019-01-01 2019-02-26 \\
        --recur univariate=univ.csv --recur day_type=dt.csv
"""

import argparse
import csv
import datetime as dt
import sys
import time

import numpy as np

LAGS = 28


def read(path, date_col, value_col, type_col):
    """Days in order, values and day types; exact duplicates dropped, gaps and conflicts refused."""
    rows = {}
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in (date_col, value_col, type_col) if c and c not in (reader.fieldnames or [])]
        if missing:
            sys.exit(f"error: {path} has no column {', '.join(missing)}")
        for line, r in enumerate(reader, start=2):
            text = r[date_col].strip()
            try:
                day = dt.datetime.strptime(text, "%m/%d/%Y").date() if "/" in text else dt.date.fromisoformat(text)
                row = (float(r[value_col]), r[type_col] if type_col else "")
            except ValueError as e:
                sys.exit(f"error: {path} line {line}: {e}")
            if day in rows and rows[day][1] != row:
                sys.exit(f"error: {path} lines {rows[day][0]} and {line} give different rows for {day}")
            rows.setdefault(day, (line, row))
    days = sorted(rows)
    for a, b in zip(days, days[1:]):
        if (b - a).days != 1:
            sys.exit(f"error: {path} has no rows between {a} and {b}")
    values = np.array([rows[d][1][0] for d in days])
    types = [rows[d][1][1] for d in days]
    return days, values, types


def lightgbm_direct(values, types, days, train_end, early_stop_days, horizon, use_type, seed, holiday=None):
    """Forecasts (a function of the origin index) of one LightGBM model per horizon; `holiday`,
    if given, flags each day that is a public holiday."""
    import lightgbm as lgb

    kinds = sorted(set(types))
    type_code = np.array([kinds.index(t) for t in types])
    weekday = np.array([d.weekday() for d in days])
    month = np.array([d.month for d in days])

    def row(o, h):
        target = o + h
        calendar = [weekday[target], month[target]] + ([type_code[target]] if use_type else [])
        if holiday is not None:
            calendar.append(holiday[target])
        return np.concatenate([values[o - LAGS : o][::-1], calendar])

    categorical = [LAGS, LAGS + 1] + ([LAGS + 2] if use_type else [])
    params = dict(
        objective="l1",
        learning_rate=0.1,
        num_leaves=31,
        min_data_in_leaf=20,
        feature_fraction=0.9,
        bagging_fraction=0.9,
        bagging_freq=1,
        seed=seed,
        deterministic=True,
        # One thread: with two, LightGBM's OpenMP workers stalled on a busy shared machine.
        num_threads=1,
        verbose=-1,
    )
    models = []
    for h in range(horizon):
        # Origin o forecasts day o + h; training targets end before train_end.
        origins = np.arange(LAGS, train_end - h)
        x = np.array([row(o, h) for o in origins])
        y = values[origins + h]
        fit = origins < train_end - early_stop_days - h
        dtrain = lgb.Dataset(x[fit], y[fit], categorical_feature=categorical, free_raw_data=False)
        dval = lgb.Dataset(x[~fit], y[~fit], categorical_feature=categorical, reference=dtrain)
        probe = lgb.train(
            params, dtrain, 1000, valid_sets=[dval], callbacks=[lgb.early_stopping(50, verbose=False)]
        )
        full = lgb.Dataset(x, y, categorical_feature=categorical)
        models.append(lgb.train(params, full, max(probe.best_iteration, 1)))

    def forecast(o):
        return np.array([models[h].predict(row(o, h)[None, :])[0] for h in range(horizon)])

    return forecast


def statsforecast_models(values, train_end, horizon, mstl_days):
    """(name, make) of the statsforecast anchors: `make()` fits one on values[:train_end] (MSTL:
    on its last `mstl_days`) and returns its forecast(origin)."""
    from statsforecast.models import MSTL, AutoARIMA, AutoETS

    anchors = [
        ("AutoETS (season 7)", lambda: AutoETS(season_length=7), train_end),
        (
            "MSTL (7, 365) + AutoETS trend",
            lambda: MSTL(season_length=[7, 365], trend_forecaster=AutoETS(model="ZZN")),
            mstl_days,
        ),
        ("AutoARIMA (season 7)", lambda: AutoARIMA(season_length=7), train_end),
    ]

    def make(new, days):
        model = new()
        model.fit(values[train_end - days : train_end])
        return lambda o: model.forward(y=values[o - days : o], h=horizon)["mean"]

    return [(name, lambda n=new, d=days: make(n, d)) for name, new, days in anchors]


def cached(cache, name, origins, make):
    """Forecasts at the origins, read from `cache/NAME.json` when an earlier run saved them, else
    made by the forecast function `make()` fits."""
    import json
    import os
    import re

    path = os.path.join(cache, re.sub(r"[^A-Za-z0-9]+", "_", name) + ".json") if cache else None
    if path and os.path.exists(path):
        with open(path) as f:
            saved = {int(o): np.array(v) for o, v in json.load(f).items()}
        if all(o in saved for o in origins):
            return saved
    start = time.time()
    forecast = make()
    fitted = time.time()
    out = {o: np.asarray(forecast(o)) for o in origins}
    print(
        f"  {name}: fitted in {fitted - start:.0f} s, forecast {len(origins)} origins in {time.time() - fitted:.0f} s",
        file=sys.stderr,
    )
    if path:
        os.makedirs(cache, exist_ok=True)
        with open(path, "w") as f:
            json.dump({str(o): v.tolist() for o, v in out.items()}, f)
    return out


def read_recur(path, days):
    """{origin index: forecasts by horizon} and {origin index: covered by horizon} (empty
    without intervals) from a `recur forecast --forecasts` CSV."""
    index = {d: i for i, d in enumerate(days)}
    out, covered = {}, {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            o, h = index[dt.date.fromisoformat(r["origin"])], int(r["horizon"]) - 1
            out.setdefault(o, {})[h] = float(r["forecast"])
            if "lower" in r:
                covered.setdefault(o, {})[h] = float(r["lower"]) <= float(r["actual"]) <= float(r["upper"])
    as_arrays = lambda d: {o: np.array([f[h] for h in sorted(f)]) for o, f in d.items()}
    return as_arrays(out), as_arrays(covered)


def mean_mae(forecasts, values, origins, horizon):
    per_h = np.mean([np.abs(forecasts[o] - values[o : o + horizon]) for o in origins], axis=0)
    return per_h.mean(), per_h


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--csv", required=True)
    p.add_argument("--date-col", default="service_date")
    p.add_argument("--value-col", default="rail_boardings")
    p.add_argument("--type-col", default="day_type", help="a known-in-advance category; '' for none")
    p.add_argument("--train-until", default="2018-12-31")
    p.add_argument("--test-until", default="2019-05-31")
    p.add_argument("--test-from", nargs="+", help="first scored origin(s)")
    p.add_argument("--horizon", type=int, default=7)
    p.add_argument("--early-stop-days", type=int, default=56)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--recur", action="append", default=[], metavar="LABEL=FILE")
    p.add_argument("--mstl-days", type=int, default=1096)
    p.add_argument("--cache", help="folder keeping each anchor's forecasts between runs (same data and split)")
    p.add_argument("--skip-statsforecast", action="store_true")
    p.add_argument("--holidays", metavar="COUNTRY", help="also LightGBM with day type and this country's holidays")
    a = p.parse_args()

    days, values, types = read(a.csv, a.date_col, a.value_col, a.type_col)
    index = {d: i for i, d in enumerate(days)}
    train_until, test_until = dt.date.fromisoformat(a.train_until), dt.date.fromisoformat(a.test_until)
    if train_until not in index or test_until not in index:
        sys.exit(f"error: --train-until and --test-until must lie in {days[0]}..{days[-1]}")
    train_end, last = index[train_until] + 1, index[test_until]
    starts = [dt.date.fromisoformat(d) for d in a.test_from] if a.test_from else [train_until + dt.timedelta(1)]
    splits = []
    for s in starts:
        if s <= train_until or s not in index:
            sys.exit(f"error: --test-from {s} must come after --train-until and lie in the data")
        splits.append((s, list(range(index[s], last - a.horizon + 2))))
    every = sorted({o for _, origins in splits for o in origins})

    forecasts = {}
    for use_type in [False, True] if a.type_col else [False]:
        name = "LightGBM direct, lags 28 + weekday, month" + (f" + {a.type_col}" if use_type else "")
        make = lambda u=use_type: lightgbm_direct(
            values, types, days, train_end, a.early_stop_days, a.horizon, u, a.seed
        )
        forecasts[name] = cached(a.cache, name, every, make)
    if a.holidays and a.type_col:
        import holidays

        try:
            known = holidays.country_holidays(a.holidays, years=range(days[0].year, days[-1].year + 2))
        except NotImplementedError:
            sys.exit(f"error: --holidays {a.holidays}: no public holidays known for that country code")
        flags = np.array([float(d in known) for d in days])
        name = f"LightGBM direct, lags 28 + weekday, month + {a.type_col} + holidays {a.holidays}"
        make = lambda: lightgbm_direct(
            values, types, days, train_end, a.early_stop_days, a.horizon, True, a.seed, flags
        )
        forecasts[name] = cached(a.cache, name, every, make)
    if not a.skip_statsforecast:
        for name, make in statsforecast_models(values, train_end, a.horizon, a.mstl_days):
            forecasts[name] = cached(a.cache, name, every, make)
    forecasts["seasonal naive"] = {
        o: np.array([values[o + h - 7 * (h // 7 + 1)] for h in range(a.horizon)]) for o in every
    }
    coverage = {}
    for spec in a.recur:
        label, _, path = spec.partition("=")
        forecasts[f"recur {label}"], coverage[f"recur {label}"] = read_recur(path, days)

    for s, origins in splits:
        print(f"\norigins {days[origins[0]]}..{days[origins[-1]]} ({len(origins)}), trained until {train_until}")
        print(f"{'model':<58} {'mean MAE':>10}   per horizon")
        for name, f in forecasts.items():
            if not all(o in f for o in origins):
                print(f"{name:<58} {'(origins missing)':>10}")
                continue
            m, per_h = mean_mae(f, values, origins, a.horizon)
            covered = coverage.get(name)
            cover = f"   interval coverage {np.mean([covered[o] for o in origins]):.1%}" if covered else ""
            print(f"{name:<58} {m:>10,.0f}   {' '.join(f'{x:,.0f}' for x in per_h)}{cover}")


if __name__ == "__main__":
    main()
