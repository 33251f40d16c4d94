//! `recur serve` with a forecaster and a seq2seq model: their answers over HTTP equal
//! `recur forecast --model` and `recur seq2seq predict` on the same inputs, and bad inputs get a
//! 400 naming what is wrong.

mod common;

use common::server::{browser, percent_encode, Server};
use common::{ok, recur, s, temp_dir, SEQ2SEQ_SMALL};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A daily CSV from 2020-01-01: `rows` days with a value and `ahead` more with only the known
/// covariate `kind` (weekday or weekend); returns its text's rows as (day, kind, value).
fn daily_rows(rows: usize, ahead: usize) -> Vec<(String, String, String)> {
    (0..rows + ahead)
        .map(|i| {
            let day = format!("2020-{}", month_day(i));
            let kind = if (i + 2) % 7 >= 5 { "E" } else { "W" };
            let value = if i < rows {
                format!("{}", 100 + 30 * usize::from(kind == "W") + i % 3)
            } else {
                String::new()
            };
            (day, kind.to_string(), value)
        })
        .collect()
}

/// `MM-DD` of day `i` of 2020 (a leap year), for i < 366.
fn month_day(i: usize) -> String {
    let lengths = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let (mut month, mut day) = (0, i);
    while day >= lengths[month] {
        day -= lengths[month];
        month += 1;
    }
    format!("{:02}-{:02}", month + 1, day + 1)
}

fn write_csv(path: &Path, rows: &[(String, String, String)]) {
    let text: String = rows.iter().map(|(d, k, v)| format!("{d},{k},{v}\n")).collect();
    std::fs::write(path, format!("day,kind,y\n{text}")).unwrap();
}

/// A forecaster trained in `d` on 200 days with a known covariate, and a CSV of those days
/// plus the 7 to forecast; returns the model, the CSV and its rows.
fn train_forecaster(d: &Path) -> (PathBuf, PathBuf, Vec<(String, String, String)>) {
    let (train, ahead, model) = (d.join("train.csv"), d.join("ahead.csv"), d.join("m"));
    write_csv(&train, &daily_rows(200, 0));
    let rows = daily_rows(200, 7);
    write_csv(&ahead, &rows);
    ok(recur(&[
        "forecast",
        "--csv",
        s(&train),
        "--date-col",
        "day",
        "--value-col",
        "y",
        "--covariates",
        "known:kind,weekday",
        "--window",
        "14",
        "--train-until",
        "2020-06-01",
        "--test-until",
        "2020-07-18",
        "--epochs",
        "2",
        "--interval",
        "0.8",
        "--threads",
        "1",
        "--out",
        s(&model),
        "--json",
    ]));
    (model, ahead, rows)
}

/// `recur forecast --model`'s JSON answer for the CSV `ahead`.
fn forecast_json(model: &Path, ahead: &Path) -> Value {
    let said = ok(recur(&["forecast", "--model", s(model), "--csv", s(ahead), "--json"]));
    serde_json::from_str(&said).unwrap()
}

#[test]
fn serve_forecast_infer_equals_forecast_model() {
    let d = temp_dir("serve-forecast");
    let (model, ahead, rows) = train_forecaster(&d);
    let cli = forecast_json(&model, &ahead);
    let server = Server::start(&["--model", &format!("trips={}", s(&model))]);
    let (status, meta) = server.get("/v2/models/trips");
    assert_eq!(status, 200, "{meta}");
    assert_eq!(meta["parameters"]["kind"], "forecast");
    let names: Vec<&str> = meta["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["day", "y", "kind"]);
    let days: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    let kinds: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    let values: Vec<f64> = rows
        .iter()
        .filter(|r| !r.2.is_empty())
        .map(|r| r.2.parse().unwrap())
        .collect();
    let request = |values: &[f64]| {
        json!({"inputs": [
            {"name": "day", "datatype": "BYTES", "shape": [days.len()], "data": days},
            {"name": "y", "datatype": "FP64", "shape": [values.len()], "data": values},
            {"name": "kind", "datatype": "BYTES", "shape": [kinds.len()], "data": kinds},
        ]})
    };
    let (status, answer) = server.infer("trips", &request(&values));
    assert_eq!(status, 200, "{answer}");
    let outputs = &answer["outputs"];
    assert_eq!(outputs[0]["data"], cli["dates"]);
    assert_eq!(outputs[1]["data"], cli["forecast"]);
    assert_eq!(outputs[2]["data"], cli["interval"]["lower"]);
    assert_eq!(outputs[3]["data"], cli["interval"]["upper"]);
    // More values than days, and a date that is not one: 400s naming them.
    let (status, e) = server.infer("trips", &request(&[values.clone(), vec![1.0; 8]].concat()));
    assert_eq!(status, 400, "{e}");
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("input `y` has 208 values for 207 dates"),
        "{e}"
    );
    let mut bad = request(&values);
    bad["inputs"][0]["data"][3] = json!("2020-13-01");
    let (status, e) = server.infer("trips", &bad);
    assert_eq!(status, 400, "{e}");
    assert!(e["error"].as_str().unwrap().contains("2020-13-01"), "{e}");
}

/// A small date-normalising seq2seq model trained in `d/dates`.
fn train_dates(d: &Path) -> PathBuf {
    let model = d.join("dates");
    let train = [
        "seq2seq",
        "train",
        "--out",
        s(&model),
        "--dates",
        "300",
        "--epochs",
        "1",
    ];
    ok(recur(&[&train[..], &SEQ2SEQ_SMALL].concat()));
    model
}

/// `recur seq2seq predict --json`'s answers for `texts` with a beam and an n-best list.
fn predict_json(d: &Path, model: &Path, texts: &[&str], beam: &str, nbest: &str) -> Vec<Value> {
    let input = d.join("in.txt");
    std::fs::write(&input, texts.join("\n") + "\n").unwrap();
    let args = ["seq2seq", "predict", "--model", s(model), "--input", s(&input)];
    let options = ["--beam", beam, "--nbest", nbest, "--json", "--threads", "1"];
    ok(recur(&[&args[..], &options].concat()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn serve_seq2seq_infer_equals_seq2seq_predict() {
    let d = temp_dir("serve-seq2seq");
    let model = train_dates(&d);
    let texts = ["March 3, 2001", "4/22/19"];
    let predicted = predict_json(&d, &model, &texts, "3", "2");
    let server = Server::start(&["--model", s(&model)]);
    let request = json!({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [2], "data": texts}],
                         "parameters": {"beam": 3, "nbest": 2}});
    let (status, answer) = server.infer("dates", &request);
    assert_eq!(status, 200, "{answer}");
    let (outputs, scores) = (&answer["outputs"][0], &answer["outputs"][1]);
    assert_eq!(outputs["shape"], json!([2, 2]));
    for (i, line) in predicted.iter().enumerate() {
        for (k, best) in line["outputs"].as_array().unwrap().iter().enumerate() {
            assert_eq!(outputs["data"][i * 2 + k], best["text"], "text {i}, rank {k}");
            assert_eq!(scores["data"][i * 2 + k], best["score"], "text {i}, rank {k}");
        }
    }
    let bad = json!({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": [""]}]});
    let (status, e) = server.infer("dates", &bad);
    assert_eq!(status, 400, "{e}");
    assert!(e["error"].as_str().unwrap().contains("text 0: empty input"), "{e}");
    let (status, e) = server.infer(
        "dates",
        &json!({"inputs": request["inputs"], "parameters": {"beam": 0}}),
    );
    assert_eq!(status, 400, "{e}");
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("parameter `beam` must be a whole number ≥ 1"),
        "{e}"
    );
}

/// The page's Forecast and Seq2seq tabs in a headless browser: a series pasted as CSV and a
/// text typed in (through `#tab=…&input=…`) show what `recur forecast --model` and `recur
/// seq2seq predict` answer for them.
#[test]
fn serve_page_tabs_forecast_and_translate_in_headless_chromium() {
    let Some(browser) = browser() else {
        eprintln!("skipped: no Chromium (install Debian's `chromium` to run the page in a browser)");
        return;
    };
    let d = temp_dir("serve-tabs");
    let (forecaster, ahead, _) = train_forecaster(&d);
    let dates = train_dates(&d);
    let cli = forecast_json(&forecaster, &ahead);
    let text = "March 3, 2001";
    // The page asks for a beam of 5 and the 3 best.
    let predicted = predict_json(&d, &dates, &[text], "5", "3");
    let server = Server::start(&["--model", &format!("trips={}", s(&forecaster)), "--model", s(&dates)]);
    let page = |hash: String| {
        let url = format!("http://{}/#{hash}", server.address);
        let flags = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=20000",
            "--dump-dom",
        ];
        let dom = Command::new(browser).args(flags).arg(url).output().unwrap();
        String::from_utf8_lossy(&dom.stdout).to_string()
    };
    let csv = std::fs::read_to_string(&ahead).unwrap();
    let dom = page(format!("tab=forecast&input={}", percent_encode(&csv)));
    let shown = dom.split("data-forecast=\"").nth(1).and_then(|r| r.split('"').next());
    let shown: Vec<f64> = shown
        .unwrap_or_else(|| panic!("no forecast on the page: {dom}"))
        .split(',')
        .map(|v| v.parse().unwrap())
        .collect();
    let want: Vec<f64> = cli["forecast"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(shown, want);
    let dom = page(format!("tab=translate&input={}", percent_encode(text)));
    let first = dom.split("<td>").nth(1).and_then(|r| r.split("</td>").next());
    assert_eq!(first, predicted[0]["outputs"][0]["text"].as_str(), "the page: {dom}");
}
