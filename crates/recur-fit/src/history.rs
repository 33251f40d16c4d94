//! What a finished fit leaves beside its model, for whichever front end ran it: every
//! member's `history.json` (each epoch's figures) and, for gradient training, its
//! `learning_curve.png`; and the one-line summary of the run.

use crate::{member_dir, FitOutcome};
use recur_nn::model_dir::write_atomic;
use recur_nn::{NnError, Result};
use recur_train::FitReport;
use recur_viz::{write_picture, Line, LineChart};
use serde_json::json;
use std::path::Path;

/// Every epoch's figures, in the model directory.
pub const HISTORY_FILE: &str = "history.json";
/// The learning-curve picture, in the model directory.
pub const CURVE_FILE: &str = "learning_curve.png";

/// Writes every member's history (and, after gradient training, its learning curve) into the
/// model directory `out` of `outcome`.
pub fn write_histories(out: &Path, outcome: &FitOutcome) -> Result<()> {
    for (k, report) in outcome.reports.iter().enumerate() {
        write_history(&member_dir(out, k), report, !outcome.ridge)?;
    }
    Ok(())
}

/// Writes `history.json` (every epoch's figures) and, for epochs of gradient training
/// (`curve`), `learning_curve.png` into `dir`.
fn write_history(dir: &Path, report: &FitReport, curve: bool) -> Result<()> {
    let history = json!({
        "best_epoch": report.best_epoch,
        "stopped_early": report.stopped_early,
        "epochs": report.history,
    });
    let text = serde_json::to_string_pretty(&history).map_err(|e| NnError::Setting(e.to_string()))?;
    write_atomic(&dir.join(HISTORY_FILE), text.as_bytes())?;
    if curve {
        let path = dir.join(CURVE_FILE);
        write_picture(&path, &learning_curve(report).to_svg()).map_err(|e| NnError::Io {
            path: path.display().to_string(),
            error: std::io::Error::other(e.to_string()),
        })?;
    }
    Ok(())
}

/// The chart of every epoch's losses and validation metrics, the kept epoch marked.
fn learning_curve(report: &FitReport) -> LineChart {
    let series = |name: &str| -> Vec<(f64, f64)> {
        report
            .history
            .iter()
            .filter_map(|e| {
                e.metrics
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| (e.epoch as f64, *v))
            })
            .collect()
    };
    let mut lines = vec![Line {
        name: "training loss".into(),
        points: report.history.iter().map(|e| (e.epoch as f64, e.loss)).collect(),
        color: "#1f77b4".into(),
        width: 2.0,
        ..Line::default()
    }];
    // The losses share the left axis; accuracy (a share) or the errors in the data's units
    // (beside a loss on standardised targets) are read on the right, each on its own scale.
    let mut right_label = "";
    for (name, color, right) in [
        ("val_loss", "#ff7f0e", ""),
        ("val_accuracy", "#2ca02c", "accuracy"),
        ("val_mae", "#2ca02c", "MAE, RMSE (data units)"),
        ("val_rmse", "#d62728", "MAE, RMSE (data units)"),
    ] {
        let points = series(name);
        if !points.is_empty() {
            right_label = if right.is_empty() { right_label } else { right };
            lines.push(Line {
                name: name.into(),
                points,
                color: color.into(),
                dashed: name != "val_loss",
                width: 2.0,
                right_axis: !right.is_empty(),
            });
        }
    }
    // Regression trains on standardised targets; its MAE is in the data's units.
    let regression = !series("val_mae").is_empty();
    LineChart {
        title: format!("Learning curve (kept epoch {})", report.best_epoch),
        x_label: "epoch".into(),
        y_label: if regression {
            "loss (standardised targets)"
        } else {
            "loss"
        }
        .into(),
        y2_label: right_label.into(),
        lines,
        markers: vec![(report.best_epoch as f64, "kept".into())],
        ..LineChart::default()
    }
}

/// The line a finished fit prints: the model folder, the task, the epoch kept (or the closed
/// form) and its validation figures, and the ensemble's size and score if there is one.
pub fn summary_line(out: &Path, outcome: &FitOutcome) -> String {
    let r = &outcome.reports[0];
    let best = r.history.iter().find(|e| e.epoch == r.best_epoch);
    let figures: Vec<String> = best
        .map(|e| {
            e.metrics
                .iter()
                .filter(|(n, _)| n != "steps")
                .map(|(n, v)| format!("{n} {v:.4}"))
                .collect()
        })
        .unwrap_or_default();
    let kept = if outcome.ridge {
        "ridge fitted in closed form".to_string()
    } else {
        format!("kept epoch {} of {}", r.best_epoch, r.history.len())
    };
    format!(
        "{} ({}): {kept}{}{}",
        out.display(),
        outcome.meta.task.describe(),
        if figures.is_empty() {
            String::new()
        } else {
            format!(": {}", figures.join("  "))
        },
        match (outcome.models.len(), outcome.ensemble_loo_accuracy) {
            (1, _) => String::new(),
            (n, Some(acc)) => format!(" (member 1 of {n}; the ensemble's loo_accuracy {acc:.4})"),
            (n, None) => format!(" (member 1 of {n})"),
        }
    )
}
