//! Using a model trained by `recur fit`: scoring labelled sequences (`recur eval --test`) and
//! predicting (`recur run` on a `.ts` file or on arrays, with the model's own scaling).

use super::sequences::{describe_inputs, read_inputs, read_set, NpyArgs};
use anyhow::{bail, Context, Result};
use recur_data::npy::write_npy_f32;
use recur_data::read_ts;
use recur_data::sequences::InputSpec;
use recur_fit::{FitMeta, FitPredictor, Outputs, Scores, Task};
use recur_nn::model_dir;
use recur_nn::model_dir::CONFIG_FILE;
use recur_viz::sketch::confusion_svg;
use recur_viz::write_picture;
use std::io::Write;
use std::path::{Path, PathBuf};

/// True if the model directory holds a model trained by `recur fit`.
pub fn is_fit_model(dir: &Path) -> bool {
    model_dir::read_config(&dir.join(CONFIG_FILE)).is_ok_and(|c| FitMeta::of(&c).is_some())
}

/// The fitted model in `dir`, with the folder named in any error.
fn load(dir: &Path, precision: super::PrecisionArg) -> Result<FitPredictor> {
    let mut fitted = FitPredictor::load(dir).with_context(|| format!("cannot load the model in {}", dir.display()))?;
    precision.apply(|p| fitted.prepare_inference(p));
    Ok(fitted)
}

/// Runs `recur eval` for a fitted model: accuracy, per-class accuracy and a confusion picture
/// for classes; MAE and RMSE for values.
pub fn eval(
    model: &Path,
    test: Option<&Path>,
    npy: &NpyArgs,
    json: bool,
    confusion: Option<&Path>,
    threads: usize,
    precision: super::PrecisionArg,
) -> Result<()> {
    let fitted = load(model, precision)?;
    let set = read_set(test, npy, fitted.input_specs(), "test sequences")?
        .context("give the sequences to score: --test FILE.ts, or --x and --y arrays")?;
    let (s, _) = fitted.score(&set, threads)?;
    report_scores(&fitted, &s, &set.source, json, confusion)
}

/// Prints a fitted model's scores on the labelled data from `source`: accuracy and per-class
/// accuracy (drawing the confusion matrix to `confusion`), or MAE and RMSE; one JSON line with
/// `json`.
pub fn report_scores(
    fitted: &FitPredictor,
    s: &Scores,
    source: &str,
    json: bool,
    confusion: Option<&Path>,
) -> Result<()> {
    let classes = fitted.classes();
    let what = if fitted.meta().task.per_step() {
        "steps"
    } else {
        "sequences"
    };
    if fitted.meta().task.is_classification() {
        if let Some(path) = confusion {
            write_picture(path, &confusion_svg(classes, &s.confusion))?;
        }
        let per_class: serde_json::Map<String, serde_json::Value> = classes
            .iter()
            .zip(s.per_class())
            .filter_map(|(name, (acc, _))| acc.map(|a| (name.clone(), a.into())))
            .collect();
        let accuracy = s.accuracy.unwrap_or(0.0);
        super::write_stdout(|out| {
            if json {
                let line = serde_json::json!({"n": s.n, "accuracy": accuracy, "loss": s.loss, "per_class": per_class,
                    "classes": classes, "confusion": s.confusion, "members": fitted.members()});
                return writeln!(out, "{line}");
            }
            writeln!(
                out,
                "{} {what} ({source}): accuracy {accuracy:.4}  loss {:.4}",
                s.n, s.loss
            )?;
            for (name, (acc, n)) in classes.iter().zip(s.per_class()) {
                if let Some(a) = acc {
                    writeln!(out, "  {name:<24} {a:.3}  ({n})")?;
                }
            }
            Ok(())
        })
    } else {
        if confusion.is_some() {
            bail!("--confusion is for classifiers; this model predicts values");
        }
        let (mae, rmse) = (s.mae.unwrap_or(0.0), s.rmse.unwrap_or(0.0));
        super::write_stdout(|out| {
            if json {
                let line = serde_json::json!({"n": s.n, "mae": mae, "rmse": rmse, "loss": s.loss, "members": fitted.members()});
                writeln!(out, "{line}")
            } else {
                writeln!(out, "{} {what} ({source}): MAE {mae:.4}  RMSE {rmse:.4}", s.n)
            }
        })
    }
}

/// What `recur run` feeds a fitted model: a `.ts` file, or an `.npy` array per model input.
pub enum RunInput {
    /// A `.ts` file (for a model of one sequence input).
    Ts(PathBuf),
    /// An array per input, in the config's order, with the sequences' optional lengths.
    Npy {
        /// The arrays.
        xs: Vec<PathBuf>,
        /// int array [n] of valid steps per sequence.
        lengths: Option<PathBuf>,
    },
}

/// Runs a fitted model on `input` (a `.ts` file, or an array per input), writing the
/// predictions as `.npy` (probabilities or values, `[n, k]` or `[n, time, k]`, zero past a
/// sequence's end) and, if asked, printing one line per sequence: the predicted label (per
/// step: the labels separated by spaces) or the predicted values.
pub fn run(
    model: &Path,
    input: &RunInput,
    output: &Path,
    labels: bool,
    threads: usize,
    precision: super::PrecisionArg,
) -> Result<()> {
    let fitted = load(model, precision)?;
    let set = match input {
        RunInput::Ts(path) if fitted.input_specs() == InputSpec::one_sequence() => read_ts(path)?,
        RunInput::Ts(path) => bail!(
            "{}: a .ts file holds one sequence input; this model reads {}: give an .npy array per input",
            path.display(),
            describe_inputs(fitted.input_specs())
        ),
        RunInput::Npy { xs, lengths } => read_inputs(xs, lengths.as_deref(), None, fitted.input_specs())?,
    };
    let outputs = fitted.predict(&set, threads)?;
    let (k, task) = (fitted.outputs(), fitted.meta().task);
    let shape = write_outputs(output, &fitted, &outputs)?;
    if labels {
        super::write_stdout(|out| print_labels(out, &outputs, fitted.classes(), task, k))?;
    }
    recur_core::stderr_line!("wrote {} {shape:?}", output.display());
    Ok(())
}

fn write_outputs(path: &Path, fitted: &FitPredictor, outputs: &Outputs) -> Result<Vec<usize>> {
    let (shape, data) = fitted.outputs_array(outputs);
    write_npy_f32(path, &shape, &data)?;
    Ok(shape)
}

fn print_labels(
    out: &mut dyn Write,
    outputs: &Outputs,
    classes: &[String],
    task: Task,
    k: usize,
) -> std::io::Result<()> {
    for o in outputs {
        let items: Vec<String> = o
            .chunks(k.max(1))
            .map(|p| {
                if task.is_classification() {
                    let best = recur_fit::evaluate::argmax(p);
                    classes.get(best).cloned().unwrap_or_else(|| best.to_string())
                } else {
                    p.iter().map(|v| format!("{v:.6}")).collect::<Vec<_>>().join(",")
                }
            })
            .collect();
        writeln!(out, "{}", items.join(" "))?;
    }
    Ok(())
}
