//! Using a model trained by `recur fit`: scoring labelled sequences (`recur eval --test`) and
//! predicting (`recur run` on a `.ts` file or on arrays, with the model's own scaling).

use super::fit::{read_set, NpyArgs};
use anyhow::{bail, Context, Result};
use recur_core::Seq;
use recur_data::npy::write_npy_f32;
use recur_data::sequences::{SequenceSet, SequenceTargets};
use recur_fit::{align, member_dir, predict, score, Examples, FitMeta, Outputs, Task};
use recur_nn::model_dir::CONFIG_FILE;
use recur_nn::{model_dir, Model, ModelConfig};
use recur_viz::sketch::confusion_svg;
use recur_viz::write_picture;
use std::path::Path;

/// True if the model directory holds a model trained by `recur fit`.
pub fn is_fit_model(dir: &Path) -> bool {
    model_dir::read_config(&dir.join(CONFIG_FILE)).is_ok_and(|c| FitMeta::of(&c).is_some())
}

/// A fitted model (all its ensemble members), its metadata and class names.
pub struct Fitted {
    models: Vec<Model<f32>>,
    meta: FitMeta,
    classes: Vec<String>,
}

impl Fitted {
    /// Loads `dir` and its `members/k` folders, checking they were trained alike.
    pub fn load(dir: &Path) -> Result<Fitted> {
        let mut models: Vec<Model<f32>> = Vec::new();
        for k in 0.. {
            let d = member_dir(dir, k);
            if k > 0 && !d.is_dir() {
                break;
            }
            let m: Model<f32> =
                model_dir::load(&d).with_context(|| format!("cannot load the model in {}", d.display()))?;
            if let Some(first) = models.first() {
                if first.config().metadata != m.config().metadata || first.config().classes != m.config().classes {
                    bail!(
                        "ensemble member {} was trained differently from {}",
                        d.display(),
                        dir.display()
                    );
                }
            }
            models.push(m);
        }
        let config: &ModelConfig = models[0].config();
        let meta = FitMeta::of(config).with_context(|| {
            format!(
                "{} was not trained by `recur fit` (its config has no `fit` metadata)",
                dir.display()
            )
        })??;
        let classes = config.classes.clone();
        Ok(Fitted { models, meta, classes })
    }

    fn outputs(&self) -> usize {
        self.models[0].output_shape().features
    }
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
) -> Result<()> {
    let fitted = Fitted::load(model)?;
    let set = read_set(test, npy, "test sequences")?
        .context("give the sequences to score: --test FILE.ts, or --x and --y arrays")?;
    let labels = align(&set, &fitted.meta, &fitted.classes)?;
    let all: Vec<usize> = (0..set.len()).collect();
    let ex = Examples::new(&set, &fitted.meta, &all, labels.as_deref());
    let outputs = predict(&fitted.models, &ex, &fitted.meta, threads.max(1))?;
    let s = score(&outputs, &ex, &fitted.meta, fitted.outputs());
    let what = if fitted.meta.task.per_step() {
        "steps"
    } else {
        "sequences"
    };
    if fitted.meta.task.is_classification() {
        if let Some(path) = confusion {
            write_picture(path, &confusion_svg(&fitted.classes, &s.confusion))?;
        }
        let per_class: serde_json::Map<String, serde_json::Value> = fitted
            .classes
            .iter()
            .zip(s.per_class())
            .filter_map(|(name, (acc, _))| acc.map(|a| (name.clone(), a.into())))
            .collect();
        let accuracy = s.accuracy.unwrap_or(0.0);
        if json {
            println!(
                "{}",
                serde_json::json!({"n": s.n, "accuracy": accuracy, "loss": s.loss, "per_class": per_class,
                    "classes": fitted.classes, "confusion": s.confusion, "members": fitted.models.len()})
            );
        } else {
            println!(
                "{} {what} ({}): accuracy {accuracy:.4}  loss {:.4}",
                s.n, set.source, s.loss
            );
            for (name, (acc, n)) in fitted.classes.iter().zip(s.per_class()) {
                if let Some(a) = acc {
                    println!("  {name:<24} {a:.3}  ({n})");
                }
            }
        }
    } else {
        if confusion.is_some() {
            bail!("--confusion is for classifiers; this model predicts values");
        }
        let (mae, rmse) = (s.mae.unwrap_or(0.0), s.rmse.unwrap_or(0.0));
        if json {
            println!(
                "{}",
                serde_json::json!({"n": s.n, "mae": mae, "rmse": rmse, "loss": s.loss, "members": fitted.models.len()})
            );
        } else {
            println!("{} {what} ({}): MAE {mae:.4}  RMSE {rmse:.4}", s.n, set.source);
        }
    }
    Ok(())
}

/// Sequences without targets (for prediction) from a padded batch.
pub fn unlabelled(x: &Seq<f32>, source: &str) -> SequenceSet {
    SequenceSet {
        dims: x.features,
        series: (0..x.batch)
            .map(|b| (0..x.lengths[b]).flat_map(|t| x.step(b, t).iter().copied()).collect())
            .collect(),
        targets: SequenceTargets::Values {
            width: 0,
            values: Vec::new(),
        },
        source: source.to_string(),
    }
}

/// Runs a fitted model on `set` (a `.ts` file, or arrays turned into sequences), writing the
/// predictions as `.npy` (probabilities or values, `[n, k]` or `[n, time, k]`, zero past a
/// sequence's end) and, if asked, printing one line per sequence: the predicted label (per
/// step: the labels separated by spaces) or the predicted values.
pub fn run(model: &Path, set: &SequenceSet, output: &Path, labels: bool, threads: usize) -> Result<()> {
    let fitted = Fitted::load(model)?;
    let meta = &fitted.meta;
    if set.dims != meta.dims {
        bail!(
            "{}: the model was trained on {} channels per step, the input has {}",
            set.source,
            meta.dims,
            set.dims
        );
    }
    if let Some(i) = (0..set.len()).find(|&i| set.steps(i) == 0) {
        bail!("{}: sequence {} has no steps", set.source, i + 1);
    }
    let all: Vec<usize> = (0..set.len()).collect();
    let mut ex = Examples::new(set, meta, &all, None);
    ex.targets.iter_mut().for_each(|t| *t = recur_fit::task::Target::None);
    let outputs = predict(&fitted.models, &ex, meta, threads.max(1))?;
    let k = fitted.outputs();
    let shape = write_outputs(output, &outputs, &ex.lengths, meta.task, k)?;
    if labels {
        print_labels(&outputs, &fitted.classes, meta.task, k);
    }
    recur_core::stderr_line!("wrote {} {shape:?}", output.display());
    Ok(())
}

fn write_outputs(path: &Path, outputs: &Outputs, lengths: &[usize], task: Task, k: usize) -> Result<Vec<usize>> {
    let n = outputs.len();
    if !task.per_step() {
        let data: Vec<f32> = outputs.iter().flat_map(|o| o.iter().map(|&v| v as f32)).collect();
        write_npy_f32(path, &[n, k], &data)?;
        return Ok(vec![n, k]);
    }
    let time = lengths.iter().copied().max().unwrap_or(0);
    let mut data = vec![0f32; n * time * k];
    for (i, o) in outputs.iter().enumerate() {
        data[i * time * k..i * time * k + o.len()]
            .iter_mut()
            .zip(o)
            .for_each(|(d, &v)| *d = v as f32);
    }
    write_npy_f32(path, &[n, time, k], &data)?;
    Ok(vec![n, time, k])
}

fn print_labels(outputs: &Outputs, classes: &[String], task: Task, k: usize) {
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
        println!("{}", items.join(" "));
    }
}
