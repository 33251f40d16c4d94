//! Using a sketch classifier: `recur eval` (scores, per-class accuracy, confusion matrix, worst
//! mistakes), `recur predict` (ranked classes per drawing) and `recur render` (draw sketches).

use super::data::{load_drawings, DataArgs};
use super::kind::{self, Kind};
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use recur_core::parallel::default_threads;
use recur_data::npy::{read_npy, NpyData};
use recur_data::quickdraw::strokes::strokes_from_offsets;
use recur_data::quickdraw::{self, check_strokes, Drawing, LoadOptions, Stroke, MAX_COORDINATE};
use recur_nn::{model_dir, ModelConfig};
use recur_sketch::{examples, split_spec, Example, Part, PartScores, SketchPredictor, TrainingKeys};
use recur_viz::sketch::{confusion_svg, grid_svg, mistakes_svg};
use recur_viz::write_picture;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Scores of a model on some drawings, with what is needed to show them.
pub struct EvalSummary {
    /// The part scored, its classes and figures, and the training's epochs.
    pub scores: PartScores,
    /// How the scored drawings relate to what the model was trained on (`recur eval` only).
    pub coverage: Option<Coverage>,
}

impl std::ops::Deref for EvalSummary {
    type Target = PartScores;
    fn deref(&self) -> &PartScores {
        &self.scores
    }
}

/// Which of the drawings given to `recur eval` the model had seen, and what was scored.
#[derive(Clone, Copy, Debug)]
pub struct Coverage {
    /// Drawings of classes the model knows.
    pub given: usize,
    /// How many of them were in the model's training part (`None`: the model does not record
    /// what it was trained on).
    pub trained_on: Option<usize>,
    /// Whether the part scored was chosen by default rather than by `--split`.
    pub by_default: bool,
}

impl Coverage {
    /// One line saying what was given and what was scored.
    fn describe(&self, part: &str) -> String {
        let how = if self.by_default { " (by default)" } else { "" };
        match self.trained_on {
            Some(seen) => format!(
                "of {} drawings given, {seen} were in the model's training part; scored: {part}{how}",
                self.given
            ),
            None => format!(
                "of {} drawings given, how many the model was trained on is unknown (it does not \
                 record it); scored: {part}{how}",
                self.given
            ),
        }
    }
}

impl EvalSummary {
    /// Writes the headline figures and per-class accuracy.
    pub fn print(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let r = &self.report;
        if self.epochs > 0 {
            writeln!(out, "best epoch {} of {}", self.best_epoch, self.epochs)?;
        }
        if let Some(c) = &self.coverage {
            writeln!(out, "{}", c.describe(self.part))?;
        }
        let top: Vec<String> = r.top_k().iter().map(|(k, v)| format!("top-{k} {v:.4}")).collect();
        writeln!(
            out,
            "{} drawings ({}): {}  loss {:.4}",
            r.n,
            self.part,
            top.join("  "),
            r.loss
        )?;
        for (name, (acc, n)) in self.classes.iter().zip(r.per_class()) {
            if let Some(a) = acc {
                writeln!(out, "  {name:<24} {a:.3}  ({n})")?;
            }
        }
        Ok(())
    }

    /// The one-line JSON of `recur eval --json`.
    pub fn json(&self) -> serde_json::Value {
        let per_class: serde_json::Map<String, serde_json::Value> = self
            .classes
            .iter()
            .zip(self.report.per_class())
            .filter_map(|(name, (acc, _))| acc.map(|a| (name.clone(), a.into())))
            .collect();
        let r = &self.report;
        let mut json = serde_json::json!({"split": self.part, "n": r.n, "top1": r.top1, "top3": null, "top5": null, "loss": r.loss, "per_class": per_class});
        // A top-k of k classes or more is null: it is 1 whatever the model does.
        for (k, v) in r.top_k() {
            json[format!("top{k}")] = v.into();
        }
        if let Some(c) = &self.coverage {
            json["given"] = c.given.into();
            json["trained_on"] = c.trained_on.into();
        }
        json
    }

    /// A Markdown report linking the pictures.
    fn markdown(&self, model: &Path, confusion: &str, mistakes: &str) -> String {
        let r = &self.report;
        let mut s = format!("# Sketch classifier report\n\nModel: `{}`", model.display());
        if self.epochs > 0 {
            s += &format!(" (best epoch {} of {})", self.best_epoch, self.epochs);
        }
        s += ".\n\n";
        if let Some(c) = &self.coverage {
            let line = c.describe(self.part);
            // The line starts with ASCII "of": a sentence here.
            s += &format!("{}{}.\n\n", line[..1].to_uppercase(), &line[1..]);
        }
        let top = r.top_k();
        let heads: String = top.iter().map(|(k, _)| format!(" top-{k} |")).collect();
        let values: String = top.iter().map(|(_, v)| format!(" {v:.4} |")).collect();
        s += &format!(
            "| drawings ({}) |{heads} loss |\n|---|{}---|\n| {} |{values} {:.4} |\n\n\
             | class | accuracy | drawings |\n|---|---|---|\n",
            self.part,
            "---|".repeat(top.len()),
            r.n,
            r.loss
        );
        for (name, (acc, n)) in self.classes.iter().zip(r.per_class()) {
            s += &format!("| {name} | {} | {n} |\n", acc.map_or("-".into(), |a| format!("{a:.3}")));
        }
        s += &format!(
            "\n## Confusion matrix\n\n![confusion]({confusion})\n\n## Most confident mistakes\n\n![mistakes]({mistakes})\n"
        );
        s
    }
}

/// The report's Markdown file, and the pictures written beside it.
const REPORT_FILES: [&str; 3] = ["report.md", "confusion.svg", "mistakes.svg"];

/// Writes a report of `summary` (scores of `model` on `examples`) into `dir`: `report.md` with
/// the scores and per-class accuracy, linking `confusion.svg` (the confusion matrix) and
/// `mistakes.svg` (the most confident mistakes). Returns the path of `report.md`.
pub fn write_report(dir: &Path, summary: &EvalSummary, examples: &[Example], model: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let [report, confusion, mistakes] = REPORT_FILES;
    write_eval_pictures(summary, examples, Some(&dir.join(confusion)), Some(&dir.join(mistakes)))?;
    let path = dir.join(report);
    model_dir::write_atomic(&path, summary.markdown(model, confusion, mistakes).as_bytes())?;
    Ok(path)
}

/// Writes the confusion matrix and a grid of the most confident mistakes.
pub fn write_eval_pictures(
    s: &EvalSummary,
    examples: &[Example],
    confusion: Option<&Path>,
    mistakes: Option<&Path>,
) -> Result<()> {
    if let Some(path) = confusion {
        write_picture(path, &confusion_svg(&s.classes, &s.report.confusion))?;
    }
    if let Some(path) = mistakes {
        let items: Vec<_> = s
            .report
            .mistakes
            .iter()
            .take(36)
            .map(|&(i, predicted, p)| {
                let e = &examples[i];
                (
                    e.strokes.clone(),
                    format!("{} → {} {:.0}%", s.classes[e.class], s.classes[predicted], 100.0 * p),
                )
            })
            .collect();
        write_picture(path, &mistakes_svg(&items, s.report.mistakes.len()))?;
    }
    Ok(())
}

/// The sketch classifier in `dir`, with the folder named in any error.
fn load_predictor(dir: &Path, precision: super::PrecisionArg) -> Result<SketchPredictor> {
    let mut predictor =
        SketchPredictor::load(dir).with_context(|| format!("cannot load the model in {}", dir.display()))?;
    precision.apply(|p| predictor.prepare_inference(p));
    Ok(predictor)
}

/// Arguments of `recur eval`.
#[derive(Args)]
pub struct EvalArgs {
    /// Model directory.
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Which drawings to score: the model's held-out `test` part of the key_id split it was
    /// trained with, its `validation` part, or `all`. Default: `test` when some of the drawings
    /// are ones the model was trained on, `all` when none are.
    #[arg(long, value_enum)]
    split: Option<SplitArg>,
    /// Print one line of JSON: {"split", "n", "given", "trained_on", "top1", "top3", "top5",
    /// "loss", "per_class"}.
    #[arg(long)]
    json: bool,
    /// Draw the confusion matrix (.svg or .png).
    #[arg(long)]
    confusion: Option<PathBuf>,
    /// Draw the most confident mistakes as a grid (.svg or .png).
    #[arg(long)]
    mistakes: Option<PathBuf>,
    /// Write a report into this folder: report.md (scores, per-class accuracy) with
    /// confusion.svg and mistakes.svg.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Cores.
    #[arg(long, default_value_t = default_threads(), value_parser = super::whole::<usize>)]
    threads: usize,
    #[command(flatten)]
    precision: super::PrecisionArg,
    /// Labelled sequences (.ts) to score a model trained by `recur fit`, or, for a model
    /// trained on video, labelled clips (a folder of class folders or a CSV of path,label).
    #[arg(long)]
    test: Option<std::path::PathBuf>,
    #[command(flatten)]
    sequences: super::sequences::NpyArgs,
}

/// The parts `recur eval --split` chooses from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SplitArg {
    /// The model's held-out test part (never trained on, never used for a choice).
    Test,
    /// The model's validation part (chose its best epoch).
    Validation,
    /// Every drawing given.
    All,
}

/// Picks what `recur eval` scores from `examples` (those of `drawings` whose class the model
/// knows, in order): the part of the model's split asked for, or by default its test part when
/// some of the drawings are ones it was trained on and all of them when none are.
fn choose_part(
    split: Option<SplitArg>,
    dir: &Path,
    config: &ModelConfig,
    drawings: &[Drawing],
    examples: Vec<Example>,
) -> Result<(&'static str, Vec<Example>, Coverage)> {
    let known: Vec<&str> = drawings
        .iter()
        .filter(|d| config.classes.contains(&d.word))
        .map(|d| d.key_id.as_str())
        .collect();
    let keys = TrainingKeys::read(dir)?;
    let trained_on = keys.map(|k| known.iter().filter(|key| k.contains(key)).count());
    let chosen = split.unwrap_or(match trained_on {
        Some(seen) if seen > 0 => SplitArg::Test,
        _ => SplitArg::All,
    });
    let coverage = Coverage {
        given: known.len(),
        trained_on,
        by_default: split.is_none(),
    };
    let (name, part) = match chosen {
        SplitArg::Test => ("test", Part::Test),
        SplitArg::Validation => ("validation", Part::Validation),
        SplitArg::All => {
            match trained_on {
                Some(seen) if seen > 0 => recur_core::stderr_line!(
                    "warning: {seen} of the {} drawings scored are ones the model was trained on: \
                     the scores flatter it (--split test scores only its held-out part)",
                    known.len()
                ),
                None if split.is_none() => recur_core::stderr_line!(
                    "note: {} does not record which drawings it was trained on (trained by an \
                     older recur): scoring all of them",
                    dir.display()
                ),
                _ => {}
            }
            return Ok(("all", examples, coverage));
        }
    };
    let Some(spec) = split_spec(config)? else {
        bail!(
            "{} does not record the split it was trained with (trained by an older recur): only \
             --split all can be scored",
            dir.display()
        );
    };
    let picked: Vec<Example> = examples
        .into_iter()
        .zip(&known)
        .filter(|(_, key)| spec.part(key) == part)
        .map(|(e, _)| e)
        .collect();
    if picked.is_empty() {
        bail!(
            "none of the {} drawings is in the model's {name} part (by key_id hash, {}% test and \
             {}% validation): --split all scores them all",
            known.len(),
            spec.test_percent,
            spec.val_percent
        );
    }
    Ok((name, picked, coverage))
}

/// Runs `recur eval`.
pub fn eval(args: EvalArgs) -> Result<()> {
    kind::expect(&args.model, &[Kind::Sketch, Kind::Fit, Kind::Plain])?;
    if let Some(test) = args.test.as_deref().filter(|t| super::video::is_clip_list(t)) {
        let confusion = args.confusion.as_deref();
        return super::video::eval(&args.model, test, args.json, confusion, args.threads, args.precision);
    }
    if args.test.is_some() || !args.sequences.x.is_empty() || super::fit_use::is_fit_model(&args.model) {
        let (test, confusion) = (args.test.as_deref(), args.confusion.as_deref());
        let (json, threads) = (args.json, args.threads);
        return super::fit_use::eval(
            &args.model,
            test,
            &args.sequences,
            json,
            confusion,
            threads,
            args.precision,
        );
    }
    let predictor = load_predictor(&args.model, args.precision)?;
    let classes = predictor.classes().to_vec();
    let drawings = load_drawings(&args.data, false)?;
    let (examples, unknown) = examples(&drawings, &classes);
    if unknown > 0 {
        let mut words: Vec<&str> = drawings
            .iter()
            .map(|d| d.word.as_str())
            .filter(|w| !classes.iter().any(|c| c == w))
            .collect();
        words.sort();
        words.dedup();
        let message = format!(
            "{unknown} drawings are of classes the model does not know ({})",
            words.join(", ")
        );
        if args.data.strict {
            bail!("{message}");
        }
        recur_core::stderr_line!("skipped {message}");
    }
    if examples.is_empty() {
        bail!(
            "none of the drawings is of a class the model knows ({})",
            classes.join(", ")
        );
    }
    let config = predictor.models()[0].config();
    let (part, examples, coverage) = choose_part(args.split, &args.model, config, &drawings, examples)?;
    recur_core::stderr_line!("evaluating {} drawings ({part})…", examples.len());
    let report = predictor.evaluate(&examples, args.threads)?;
    let scores = PartScores {
        part,
        classes,
        report,
        best_epoch: 0,
        epochs: 0,
    };
    let summary = EvalSummary {
        scores,
        coverage: Some(coverage),
    };
    write_eval_pictures(&summary, &examples, args.confusion.as_deref(), args.mistakes.as_deref())?;
    if let Some(dir) = &args.report {
        let path = write_report(dir, &summary, &examples, &args.model)?;
        recur_core::stderr_line!("report: {}", path.display());
    }
    super::write_stdout(|out| {
        if args.json {
            writeln!(out, "{}", summary.json())
        } else {
            summary.print(out)
        }
    })
}

/// Arguments of `recur predict`.
#[derive(Args)]
pub struct PredictArgs {
    /// Model directory.
    #[arg(long)]
    model: PathBuf,
    /// Drawings: ndjson (or .bin/.npz), or a stroke-3 .npy of shape [points, 3] or
    /// [drawings, points, 3] (rows of all zeros after a drawing are padding). For a model
    /// trained on video: a clip file (its label and class probabilities are printed).
    #[arg(long)]
    input: PathBuf,
    /// Classes to list per drawing.
    #[arg(long, default_value_t = 3, value_parser = super::whole::<usize>)]
    top: usize,
    /// One JSON object per line: {"index", "key_id", "predictions": [{"class", "probability"}]}.
    #[arg(long)]
    json: bool,
    /// Cores.
    #[arg(long, default_value_t = default_threads(), value_parser = super::whole::<usize>)]
    threads: usize,
    #[command(flatten)]
    precision: super::PrecisionArg,
}

/// Drawings from any supported file, as (id, strokes).
fn read_any(path: &Path) -> Result<Vec<(String, String, Vec<Stroke>)>> {
    if path.extension().and_then(|e| e.to_str()) == Some("npy") {
        let array = read_npy(path)?;
        let values: Vec<f32> = match array.data {
            NpyData::F32(v) => v,
            NpyData::F64(v) => v.into_iter().map(|x| x as f32).collect(),
            NpyData::I32(v) => v.into_iter().map(|x| x as f32).collect(),
            NpyData::I64(v) => v.into_iter().map(|x| x as f32).collect(),
        };
        let (count, points) = match array.shape.as_slice() {
            [p, 3] => (1, *p),
            [n, p, 3] => (*n, *p),
            other => bail!(
                "{}: a stroke-3 array is [points, 3] or [drawings, points, 3], not {other:?}",
                path.display()
            ),
        };
        return Ok((0..count)
            .map(|i| {
                let rows: Vec<[f32; 3]> = values[i * points * 3..(i + 1) * points * 3]
                    .chunks_exact(3)
                    .map(|r| [r[0], r[1], r[2]])
                    .collect();
                let used = rows.iter().rposition(|r| *r != [0.0; 3]).map_or(0, |k| k + 1);
                (i.to_string(), String::new(), strokes_from_offsets(&rows[..used]))
            })
            .collect());
    }
    let (drawings, report) = quickdraw::load(&[path.display().to_string()], &LoadOptions::default())?;
    for p in report.problems.iter().take(5) {
        recur_core::stderr_line!("skipped {p}");
    }
    Ok(drawings.into_iter().map(|d| (d.key_id, d.word, d.strokes)).collect())
}

/// Runs `recur predict`.
pub fn predict(args: PredictArgs) -> Result<()> {
    if recur_video::VideoPredictor::is_video_model(&args.model) {
        let clips = [args.input.clone()];
        return super::video::classify(&args.model, &clips, None, args.json, args.threads, args.precision);
    }
    kind::expect(&args.model, &[Kind::Sketch, Kind::Plain])?;
    let predictor = load_predictor(&args.model, args.precision)?;
    let drawings = read_any(&args.input)?;
    let (mut usable, mut ids) = (Vec::new(), Vec::new());
    for (i, (key, word, strokes)) in drawings.into_iter().enumerate() {
        if let Err(e) = check_strokes(&strokes, MAX_COORDINATE) {
            recur_core::stderr_line!("skipped drawing {i}: {e}");
            continue;
        }
        usable.push(strokes);
        ids.push((i, key, word));
    }
    if usable.is_empty() {
        bail!("{}: no usable drawings to predict", args.input.display());
    }
    let rankings = predictor.predict(&usable, args.top, args.threads)?;
    super::write_stdout(|out| {
        for ((i, key, word), guesses) in ids.iter().zip(rankings) {
            if args.json {
                let line = serde_json::json!({"index": i, "key_id": key, "word": word, "predictions": guesses});
                writeln!(out, "{line}")?;
            } else {
                let list: Vec<String> = guesses
                    .iter()
                    .map(|g| format!("{} {:.3}", g.class, g.probability))
                    .collect();
                let label = if word.is_empty() {
                    String::new()
                } else {
                    format!(" ({word})")
                };
                writeln!(out, "{i}{label}: {}", list.join(", "))?;
            }
        }
        Ok(())
    })
}

/// Arguments of `recur render`.
#[derive(Args)]
pub struct RenderArgs {
    /// Drawings: ndjson, .bin, .npz or a stroke-3 .npy.
    #[arg(long)]
    input: PathBuf,
    /// Picture to write (.svg or .png).
    #[arg(long)]
    out: PathBuf,
    /// Draw many drawings in a labelled grid (default: the first drawing alone).
    #[arg(long)]
    grid: bool,
    /// Most drawings in the grid.
    #[arg(long, default_value_t = 64, value_parser = super::whole::<usize>)]
    limit: usize,
    /// Grid columns.
    #[arg(long, default_value_t = 8, value_parser = super::whole::<usize>)]
    columns: usize,
}

/// The drawings taken one of each class in turn (classes in order of first appearance): a
/// folder is read class after class, and the grid's first `--limit` drawings showed the first
/// class only.
fn every_class_in_turn<T>(drawings: &[(String, String, T)]) -> Vec<&(String, String, T)> {
    // Each class's word and the indices of its drawings.
    let mut classes: Vec<(&str, Vec<usize>)> = Vec::new();
    for (i, d) in drawings.iter().enumerate() {
        match classes.iter_mut().find(|(word, _)| *word == d.1) {
            Some((_, members)) => members.push(i),
            None => classes.push((&d.1, vec![i])),
        }
    }
    let longest = classes.iter().map(|(_, m)| m.len()).max().unwrap_or(0);
    (0..longest)
        .flat_map(|k| classes.iter().filter_map(move |(_, m)| m.get(k)))
        .map(|&i| &drawings[i])
        .collect()
}

/// Runs `recur render`.
pub fn render(args: RenderArgs) -> Result<()> {
    let mut drawings = read_any(&args.input)?;
    drawings.retain(|(id, _, strokes)| {
        let fits = check_strokes(strokes, MAX_COORDINATE);
        if let Err(e) = &fits {
            recur_core::stderr_line!("skipped drawing {id}: {e}");
        }
        fits.is_ok()
    });
    let Some(first) = drawings.first() else {
        bail!("{} holds no drawings to draw", args.input.display());
    };
    let svg = if args.grid {
        let items: Vec<_> = every_class_in_turn(&drawings)
            .into_iter()
            .take(args.limit.max(1))
            .map(|(id, word, s)| (s.clone(), if word.is_empty() { id.clone() } else { word.clone() }))
            .collect();
        grid_svg(&items, args.columns, 120.0)
    } else {
        recur_viz::sketch::drawing_svg(&first.2, 256.0)
    };
    write_picture(&args.out, &svg)?;
    Ok(())
}
