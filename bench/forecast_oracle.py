"""How low can a 7-day forecast's error go on a validation range? Oracles that cheat.

Scores forecasters that are *given the answers* on the same origins `recur forecast` uses (every
validation day d whose 7 targets lie in the range; MAE per horizon, then the mean):

- seasonal naive (same weekday last week), the honest baseline, as a check against recur;
- in-sample oracles: each target day is forecast by the median of the validation days that share
  its weekday, its day type and its calendar block (a month, four weeks, two weeks), computed
  from the validation data itself, i.e. they know every level shift and every day type in advance;
- the part of an oracle's error that a few named days (weather, holidays) contribute.

No model that sees only the past can be expected to beat the two-week oracle by much, at least
beyond the first horizon: it knows the level of each fortnight exactly, after the fact.

    python bench/forecast_oracle.py --csv CTA_-_Ridership_-_Daily_Boarding_Totals.csv \\
        --date-col service_date --value-col rail_boardings --type-col day_type \\
        --train-until 2018-12-31 --val-until 2019-05-31

Standard library only.
"""

import argparse
import csv
import datetime as dt
import statistics
import sys
from collections import defaultdict

HORIZON = 7


def read(path, date_col, value_col, type_col):
    rows = {}
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in (date_col, value_col, type_col) if c and c not in (reader.fieldnames or [])]
        if missing:
            sys.exit(f"error: {path} has no column {', '.join(missing)} (it has {', '.join(reader.fieldnames or [])})")
        for line, r in enumerate(reader, start=2):
            try:
                day = dt.datetime.strptime(r[date_col], "%m/%d/%Y").date()
                rows[day] = (float(r[value_col]), r[type_col] if type_col else "")
            except ValueError as e:
                sys.exit(f"error: {path} line {line}: {e}")
    return rows


def mean_mae(origins, forecast, actual):
    """Mean over horizons of the MAE over origins."""
    per_h = [statistics.fmean(abs(forecast(o, h) - actual[o + dt.timedelta(h)]) for o in origins) for h in range(HORIZON)]
    return statistics.fmean(per_h), per_h


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--csv", required=True)
    p.add_argument("--date-col", default="service_date")
    p.add_argument("--value-col", default="rail_boardings")
    p.add_argument("--type-col", default="day_type", help="a known-in-advance category; '' for none")
    p.add_argument("--train-until", default="2018-12-31")
    p.add_argument("--val-until", default="2019-05-31")
    p.add_argument("--top", type=int, default=8, help="days that cost the two-week oracle most")
    a = p.parse_args()

    rows = read(a.csv, a.date_col, a.value_col, a.type_col)
    first = dt.date.fromisoformat(a.train_until) + dt.timedelta(1)
    last = dt.date.fromisoformat(a.val_until)
    days = [first + dt.timedelta(i) for i in range((last - first).days + 1)]
    absent = [d for d in days + [first - dt.timedelta(7)] if d not in rows]
    if len(days) < HORIZON or absent:
        sys.exit(f"error: the range {first}..{last} needs {HORIZON}+ days of data and the week before it; missing e.g. {absent[:3]}")
    origins = days[: len(days) - HORIZON + 1]
    actual = {d: v for d, (v, _) in rows.items()}
    kind = {d: t for d, (_, t) in rows.items()}
    print(f"{len(origins)} origins, {first} .. {origins[-1]}")

    seasonal, per_h = mean_mae(origins, lambda o, h: actual[o + dt.timedelta(h - 7 * (h // 7 + 1))], actual)
    print(f"seasonal naive                      mean MAE {seasonal:>9,.0f}   per horizon {[round(x) for x in per_h]}")

    blocks = {
        "month": lambda d: d.month,
        "four weeks": lambda d: (d - first).days // 28,
        "two weeks": lambda d: (d - first).days // 14,
    }
    for name, block in blocks.items():
        key = lambda d: (block(d), d.weekday(), kind[d])
        groups = defaultdict(list)
        for d in days:
            groups[key(d)].append(actual[d])
        oracle = {k: statistics.median(v) for k, v in groups.items()}
        score, _ = mean_mae(origins, lambda o, h: oracle[key(o + dt.timedelta(h))], actual)
        print(f"oracle: median per {name:<10} x weekday x type, in-sample: mean MAE {score:>9,.0f}")

    # Where the two-week oracle's error comes from: each day's share of the mean MAE.
    share = defaultdict(float)
    for o in origins:
        for h in range(HORIZON):
            d = o + dt.timedelta(h)
            share[d] += abs(oracle[key(d)] - actual[d]) / (len(origins) * HORIZON)
    print(f"days that cost the two-week oracle most (share of its mean MAE {score:,.0f}):")
    for d, s in sorted(share.items(), key=lambda kv: -kv[1])[: a.top]:
        print(f"  {d} {d.strftime('%a')} {kind[d] or '-':>2} {actual[d]:>11,.0f}   {s:>7,.0f}")


if __name__ == "__main__":
    main()
