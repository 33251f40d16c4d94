//! `recur forecast` end to end on the generated series and on a small CSV: it beats the
//! seasonal-naive baseline, writes JSON, forecasts and a chart, saves a model that forecasts the
//! days after the data, and names bad input clearly. With the CTA ridership data present it also
//! checks the documented quality.

mod common;

use common::{fails_with, recur, shared_data, temp_dir};
use std::path::PathBuf;
use std::process::Output;

fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).expect("one line of JSON")
}

#[test]
fn forecast_generated_series_beats_seasonal_naive_and_writes_outputs() {
    let d = temp_dir("synthetic");
    let (plot, csv) = (d.join("f.svg"), d.join("f.csv"));
    let args = [
        "forecast",
        "--json",
        "--covariates",
        "known:day_type",
        "--plot",
        plot.to_str().unwrap(),
        "--forecasts",
        csv.to_str().unwrap(),
    ];
    let r = json(&recur(&args));
    let mae: Vec<f64> = serde_json::from_value(r["mae"].clone()).unwrap();
    let naive: Vec<f64> = serde_json::from_value(r["baselines"]["seasonal_naive"]["mae"].clone()).unwrap();
    assert_eq!(mae.len(), 7);
    for (h, (m, n)) in mae.iter().zip(&naive).enumerate() {
        assert!(m < n, "horizon {}: model {m} vs seasonal naive {n}", h + 1);
    }
    assert!(std::fs::read_to_string(&plot).unwrap().contains("seasonal naive"));
    let rows = std::fs::read_to_string(&csv).unwrap();
    assert!(rows.starts_with("origin,date,horizon,actual,forecast,naive,seasonal_naive"));
    assert_eq!(rows.lines().count(), 1 + 7 * r["origins"].as_u64().unwrap() as usize);
}

#[test]
fn forecast_bad_input_is_named() {
    let d = temp_dir("bad");
    let csv = d.join("s.csv");
    let mut text = String::from("day,y\n");
    for i in 0..60 {
        text += &format!("2020-{:02}-{:02},{}\n", 1 + i / 28, 1 + i % 28, 100 + i % 7);
    }
    std::fs::write(&csv, &text).unwrap();
    let c = csv.to_str().unwrap();
    let base = [
        "forecast",
        "--csv",
        c,
        "--date-col",
        "day",
        "--window",
        "14",
        "--epochs",
        "1",
        "--early-stop-days",
        "7",
    ];
    let with = |extra: &[&str]| recur(&[&base[..], &["--value-col", "y"], extra].concat());
    let ok = recur(
        &[
            &base[..],
            &[
                "--value-col",
                "y",
                "--train-until",
                "2020-02-10",
                "--val-until",
                "2020-02-28",
                "--json",
            ],
        ]
        .concat(),
    );
    assert!(json(&ok)["mean_mae"].as_f64().is_some());
    fails_with(
        recur(
            &[
                &base[..],
                &[
                    "--train-until",
                    "2020-02-10",
                    "--val-until",
                    "2020-02-28",
                    "--value-col",
                    "z",
                ],
            ]
            .concat(),
        ),
        "no column `z`",
    );
    fails_with(
        with(&["--train-until", "2020-02-10"]),
        "--csv needs --train-until and --test-until",
    );
    fails_with(
        with(&["--train-until", "10 Feb", "--val-until", "2020-02-28"]),
        "--train-until: `10 Feb` is not a date",
    );
    fails_with(
        with(&["--train-until", "2020-02-10", "--val-until", "2021-01-01"]),
        "--test-until 2021-01-01 is outside the data",
    );
    fails_with(
        with(&["--train-until", "2020-01-20", "--val-until", "2020-02-28"]),
        "too little history",
    );
    fails_with(
        with(&[
            "--train-until",
            "2020-02-10",
            "--val-until",
            "2020-02-28",
            "--model",
            "tree",
        ]),
        "unknown forecasting model `tree`",
    );
    let dated = ["--train-until", "2020-02-10", "--val-until", "2020-02-28"];
    fails_with(
        with(&[&dated[..], &["--interval", "0.8", "--interval-days", "0"]].concat()),
        "--interval-days must be at least 1",
    );
    fails_with(
        with(&[&dated[..], &["--interval", "0.8", "--interval-adapt", "2"]].concat()),
        "--interval-adapt is a step between 0 and 1",
    );
    fails_with(
        with(&[&dated[..], &["--loss", "hinge"]].concat()),
        "invalid value 'hinge' for '--loss",
    );
    fails_with(
        with(&[&dated[..], &["--units", "0"]].concat()),
        "layers[0] (gru): units must be at least 1",
    );
    fails_with(
        with(&[&dated[..], &["--units", "8", "--model", "linear"]].concat()),
        "the `linear` preset has no recurrent layer to size",
    );
    let config = d.join("gru.json");
    std::fs::write(&config, r#"{"input_size": 1, "layers": [{"type": "gru", "units": 4}]}"#).unwrap();
    fails_with(
        with(&[&dated[..], &["--units", "8", "--model", config.to_str().unwrap()]].concat()),
        "--units sizes a preset; a model config file sets its own units",
    );
    fails_with(
        with(&[&dated[..], &["--units", "100000000"]].concat()),
        "units 100000000 is more than recur allows",
    );
    // 2020-01-29..31 are not in the file (28 days a month above): filled by default, fatal if strict.
    fails_with(
        with(&["--train-until", "2020-02-10", "--val-until", "2020-02-28", "--strict"]),
        "missing days",
    );
    std::fs::write(&csv, text.replace("2020-01-05,104", "2020-01-05,oops")).unwrap();
    let o = with(&["--train-until", "2020-02-10", "--val-until", "2020-02-28", "--quiet"]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success() && e.contains("interpolated 1 non-numeric cells (line 6 `oops`)"),
        "{e}"
    );
}

/// The CTA ridership CSV of the shared data.
fn cta_csv() -> Option<PathBuf> {
    shared_data("cta_ridership_daily/CTA_-_Ridership_-_Daily_Boarding_Totals.csv")
}

/// Quality on real data (`shared/data/cta_ridership_daily`): every horizon beats seasonal naive
/// without peeking, and 80% intervals cover about 80% of the test range.
#[test]
fn forecast_cta_rail_beats_seasonal_naive_at_every_horizon() {
    let Some(path) = cta_csv() else {
        return;
    };
    let r = json(&recur(&[
        "forecast",
        "--json",
        "--csv",
        path.to_str().unwrap(),
        "--date-col",
        "service_date",
        "--value-col",
        "rail_boardings",
        "--train-until",
        "2018-12-31",
        "--test-until",
        "2019-05-31",
        "--interval",
        "0.8",
    ]));
    let cover = r["interval"]["mean_coverage"].as_f64().unwrap();
    assert!((cover - 0.8).abs() < 0.1, "80% intervals cover {cover}");
    let mae: Vec<f64> = serde_json::from_value(r["mae"].clone()).unwrap();
    let naive: Vec<f64> = serde_json::from_value(r["baselines"]["seasonal_naive"]["mae"].clone()).unwrap();
    let sn_mean = r["baselines"]["seasonal_naive"]["mean_mae"].as_f64().unwrap();
    assert!((sn_mean - 63_148.0).abs() < 1.0, "seasonal naive {sn_mean}");
    for (h, (m, n)) in mae.iter().zip(&naive).enumerate() {
        assert!(m < n, "horizon {}: model {m} vs seasonal naive {n}", h + 1);
    }
}

/// Real boardings through the COVID-19 drop of March 2020 (`shared/data/cta_ridership_daily`):
/// the symmetric intervals of a series never negative would reach far below 0; every lower end
/// written (`--forecasts`, the saved model's forecast ahead) is 0 or more, and the chart's legend
/// says why.
#[test]
fn forecast_cta_rail_intervals_are_clipped_at_zero_through_covid() {
    let Some(path) = cta_csv() else {
        return;
    };
    let d = temp_dir("covid-floor");
    let (csv, plot, model) = (d.join("f.csv"), d.join("f.svg"), d.join("model"));
    let cta = path.to_str().unwrap();
    let columns = [
        "--csv",
        cta,
        "--date-col",
        "service_date",
        "--value-col",
        "rail_boardings",
    ];
    let run = |extra: &[&str]| json(&recur(&[&["forecast", "--json"][..], &columns, extra].concat()));
    let r = run(&[
        "--train-until",
        "2020-02-29",
        "--test-until",
        "2020-06-30",
        "--model",
        "linear",
        "--epochs",
        "8",
        "--interval",
        "0.8",
        "--threads",
        "1",
        "--forecasts",
        csv.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
        "--out",
        model.to_str().unwrap(),
    ]);
    assert_eq!(r["interval"]["floor"], 0.0);
    let text = std::fs::read_to_string(&csv).unwrap();
    let lower: Vec<f64> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(5).unwrap().parse().unwrap())
        .collect();
    assert!(lower.iter().all(|&l| l >= 0.0), "a lower end below 0 in --forecasts");
    assert!(lower.contains(&0.0), "no interval reached 0: the check shows nothing");
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.contains("80% interval, clipped at 0 (never below it in training)"));
    let ahead = run(&["--model", model.to_str().unwrap(), "--from", "2020-04-12"]);
    let lower: Vec<f64> = serde_json::from_value(ahead["interval"]["lower"].clone()).unwrap();
    assert!(lower.iter().all(|&l| l >= 0.0) && lower.contains(&0.0), "{lower:?}");
    assert_eq!(ahead["interval"]["floor"], 0.0);
}

fn small_csv(d: &std::path::Path, rows: usize, ahead: usize) -> PathBuf {
    let csv = d.join(format!("s{rows}-{ahead}.csv"));
    let mut text = String::from("day,kind,y\n");
    let first = 18262; // 2020-01-01
    for i in 0..rows + ahead {
        let (y, m, dd) = civil(first + i as i64);
        let kind = if (i + 2) % 7 >= 5 { "E" } else { "W" };
        let value = if i < rows {
            format!("{}", 100 + 30 * usize::from(kind == "W") + i % 3)
        } else {
            String::new()
        };
        text += &format!("{y}-{m:02}-{dd:02},{kind},{value}\n");
    }
    std::fs::write(&csv, text).unwrap();
    csv
}

/// Civil date of a day number (days since 1970-01-01), for writing test CSVs.
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[test]
fn forecast_saves_a_model_that_forecasts_the_days_ahead_with_intervals() {
    let d = temp_dir("saved");
    let train = small_csv(&d, 200, 0);
    let (t, model) = (train.to_str().unwrap(), d.join("model"));
    let m = model.to_str().unwrap();
    let common = ["--date-col", "day", "--value-col", "y", "--window", "14"];
    let fit = |extra: &[&str]| {
        let args = [
            &["forecast", "--csv", t, "--covariates", "known:kind,weekday,holidays:US"][..],
            &common,
            &[
                "--train-until",
                "2020-06-01",
                "--test-until",
                "2020-07-18",
                "--early-stop-days",
                "21",
            ],
            &[
                "--epochs",
                "3",
                "--interval",
                "0.8",
                "--ensemble",
                "2",
                "--json",
                "--out",
                m,
            ],
            extra,
        ]
        .concat();
        recur(&args)
    };
    let r = json(&fit(&[]));
    assert_eq!(r["members"], 2);
    let cover = r["interval"]["mean_coverage"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&cover), "{r}");
    assert!(r["early_stop_mean_mae"].as_f64().is_some());
    assert!(model.join("forecast.json").is_file() && model.join("members/1/model.safetensors").is_file());
    fails_with(fit(&[]), "already holds a model; add --force");
    // A refit keeps the first fit's epochs, early-stopping errors and intervals, and trains on
    // the early-stopping days, so its forecasts differ.
    let refit = json(&fit(&["--force", "--refit"]));
    assert_eq!((&r["refit"], &refit["refit"]), (&false.into(), &true.into()));
    for same in ["best_epochs", "early_stop_mae"] {
        assert_eq!(r[same], refit[same], "{same}");
    }
    assert_eq!(r["interval"]["half_width"], refit["interval"]["half_width"]);
    assert_ne!(r["mae"], refit["mae"]);
    // Intervals from the two members' pooled errors: the same forecasts, other half-widths.
    let pooled = json(&fit(&["--force", "--member-residuals"]));
    assert_eq!(r["mae"], pooled["mae"]);
    assert_ne!(r["interval"]["half_width"], pooled["interval"]["half_width"]);
    // Forecast the week after the last value: the day types ahead are in the CSV.
    let ahead = small_csv(&d, 200, 7);
    let a = ahead.to_str().unwrap();
    let plot = d.join("ahead.svg");
    let use_model = |csv: &str, extra: &[&str]| recur(&[&["forecast", "--model", m, "--csv", csv][..], extra].concat());
    let f = json(&use_model(a, &["--json", "--plot", plot.to_str().unwrap()]));
    assert_eq!(f["last_day"], "2020-07-18");
    assert_eq!(f["dates"][0], "2020-07-19");
    let forecast: Vec<f64> = serde_json::from_value(f["forecast"].clone()).unwrap();
    let lower: Vec<f64> = serde_json::from_value(f["interval"]["lower"].clone()).unwrap();
    assert_eq!(forecast.len(), 7);
    assert!(forecast.iter().zip(&lower).all(|(f, l)| l <= f));
    assert!(std::fs::read_to_string(&plot).unwrap().contains("80% interval"));
    let table = use_model(a, &["--from", "2020-07-10"]);
    assert!(
        String::from_utf8_lossy(&table.stdout).contains("2020-07-11  Sat"),
        "{table:?}"
    );
    // Bad use: no day types for the days ahead, another series' column, training flags.
    fails_with(
        use_model(t, &[]),
        "covariate `kind` is needed for the days forecast, 2020-07-19..2020-07-25",
    );
    fails_with(
        use_model(a, &["--value-col", "z"]),
        "--value-col z differs from the model in",
    );
    fails_with(
        use_model(a, &["--train-until", "2020-06-01"]),
        "--train-until train a model",
    );
    fails_with(use_model(a, &["--refit"]), "--refit train a model");
    fails_with(use_model(a, &["--loss", "mse"]), "--loss train a model");
    fails_with(use_model(a, &["--units", "8"]), "--units train a model");
    fails_with(use_model(a, &["--from", "2020-07-20"]), "--from 2020-07-20:");
    let other = d.join("other.csv");
    std::fs::write(
        &other,
        std::fs::read_to_string(&ahead).unwrap().replace(",1", ",9000001"),
    )
    .unwrap();
    fails_with(use_model(other.to_str().unwrap(), &[]), "is this that series?");
    fails_with(
        recur(&["forecast", "--model", d.to_str().unwrap(), "--csv", a]),
        "a directory without a saved forecasting model",
    );
    // A model with the units asked for keeps them in its config and forecasts ahead.
    json(&fit(&["--force", "--units", "16"]));
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(model.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        (&config["layers"][0]["type"], &config["layers"][0]["units"]),
        (&"gru".into(), &16.into())
    );
    assert_eq!(
        json(&use_model(a, &["--json"]))["forecast"].as_array().unwrap().len(),
        7
    );
    // A hand-edited settings file with an impossible interval level is refused by name.
    let settings = model.join("forecast.json");
    let mut saved: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    saved["interval"]["level"] = serde_json::json!(2.0);
    std::fs::write(&settings, saved.to_string()).unwrap();
    fails_with(
        use_model(a, &[]),
        "the interval's level 2, step 0.05 or 56 calibration days are out of range",
    );
}

/// The reader's errors as `recur forecast` shows them: a mistyped date leaving months without
/// rows, and one date given twice with different values.
#[test]
fn forecast_bad_dates_are_named() {
    let d = temp_dir("dates");
    let csv = d.join("g.csv");
    let run = |text: &str| {
        std::fs::write(&csv, text).unwrap();
        recur(&[
            "forecast",
            "--csv",
            csv.to_str().unwrap(),
            "--train-until",
            "2020-01-02",
            "--test-until",
            "2020-01-03",
        ])
    };
    fails_with(
        run("date,value\n2020-01-01,1\n2020-01-02,2\n2020-04-03,3\n"),
        "91 days without data between 2020-01-02 (line 3) and 2020-04-03 (line 4)",
    );
    fails_with(
        run("date,value\n2020-01-01,1\n2020-01-02,2\n2020-01-01,3\n"),
        "lines 2 and 4 give different rows for 2020-01-01",
    );
}

/// Every CSV covariate says whether it is known in advance or only observed; an observed one
/// needs no rows for the days ahead, and the seattle-style weather column is refused bare.
#[test]
fn forecast_covariates_must_be_declared_known_or_observed() {
    let d = temp_dir("declared");
    let train = small_csv(&d, 200, 0);
    let t = train.to_str().unwrap();
    let model = d.join("model");
    let base = [
        "forecast",
        "--csv",
        t,
        "--date-col",
        "day",
        "--value-col",
        "y",
        "--window",
        "14",
        "--train-until",
        "2020-06-01",
        "--test-until",
        "2020-07-18",
        "--early-stop-days",
        "21",
        "--epochs",
        "2",
        "--json",
    ];
    let with = |covariates: &str, extra: &[&str]| recur(&[&base[..], &["--covariates", covariates], extra].concat());
    fails_with(with("kind", &[]), "say `known:kind` if its values are known in advance");
    fails_with(with("kind", &[]), "or `observed:kind`");
    fails_with(with("future:kind", &[]), "`future` is not a kind of covariate");
    fails_with(with("known:", &[]), "covariate `known:` names no column");
    // Observed: trained and used on data without rows for the days ahead.
    json(&with("observed:kind,weekday", &["--out", model.to_str().unwrap()]));
    let m = model.to_str().unwrap();
    let f = json(&recur(&["forecast", "--model", m, "--csv", t, "--json"]));
    assert_eq!(f["dates"][0], "2020-07-19");
    let saved = std::fs::read_to_string(model.join("forecast.json")).unwrap();
    assert!(saved.contains("observed:kind"), "{saved}");
}
