//! `recur forecast` end to end on the generated series and on a small CSV: it beats the
//! seasonal-naive baseline, writes JSON, forecasts and a chart, and names bad input clearly.
//! With the CTA ridership data present it also checks the documented quality.

mod common;

use common::{fails_with, recur, temp_dir};
use std::path::PathBuf;
use std::process::Output;

fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).expect("one line of JSON")
}

#[test]
fn generated_series_beats_seasonal_naive_and_writes_outputs() {
    let d = temp_dir("synthetic");
    let (plot, csv) = (d.join("f.svg"), d.join("f.csv"));
    let args = [
        "forecast",
        "--json",
        "--covariates",
        "day_type",
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
fn bad_input_is_named() {
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
        "--csv needs --train-until and --val-until",
    );
    fails_with(
        with(&["--train-until", "10 Feb", "--val-until", "2020-02-28"]),
        "--train-until: `10 Feb` is not a date",
    );
    fails_with(
        with(&["--train-until", "2020-02-10", "--val-until", "2021-01-01"]),
        "--val-until 2021-01-01 is outside the data",
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

/// Quality on real data (`../shared/data/cta_ridership_daily`): every horizon beats seasonal naive.
#[test]
fn cta_rail_beats_seasonal_naive_at_every_horizon() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/cta_ridership_daily/CTA_-_Ridership_-_Daily_Boarding_Totals.csv");
    if !path.is_file() {
        eprintln!("skipped: {} is absent (real-data check)", path.display());
        return;
    }
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
        "--val-until",
        "2019-05-31",
    ]));
    let mae: Vec<f64> = serde_json::from_value(r["mae"].clone()).unwrap();
    let naive: Vec<f64> = serde_json::from_value(r["baselines"]["seasonal_naive"]["mae"].clone()).unwrap();
    let sn_mean = r["baselines"]["seasonal_naive"]["mean_mae"].as_f64().unwrap();
    assert!((sn_mean - 63_148.0).abs() < 1.0, "seasonal naive {sn_mean}");
    for (h, (m, n)) in mae.iter().zip(&naive).enumerate() {
        assert!(m < n, "horizon {}: model {m} vs seasonal naive {n}", h + 1);
    }
}
