//! `recur init`, `recur summary` and `recur run`.

use super::fit_use::RunInput;
use super::kind::{self, Kind};
use anyhow::{bail, Context, Result};
use clap::Args;
use recur_core::parallel::default_threads;
use recur_core::{Seq, Shape};
use recur_data::npy::{read_npy, write_npy_f32, NpyData};
use recur_nn::spec::describe;
use recur_nn::{model_dir, Model};
use recur_train::predict_parallel_inputs;
use std::path::{Path, PathBuf};

/// Arguments of `recur init`.
#[derive(Args)]
pub struct InitArgs {
    /// Model config (JSON).
    #[arg(long)]
    config: PathBuf,
    /// Directory to create.
    #[arg(long)]
    out: PathBuf,
    /// Seed for the initial weights.
    #[arg(long, default_value_t = 0, value_parser = super::whole::<u64>)]
    seed: u64,
    /// Replace a model already in the directory.
    #[arg(long)]
    force: bool,
}

/// Arguments of `recur summary`.
#[derive(Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["model", "config"])))]
pub struct SummaryArgs {
    /// Model directory.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Model config (JSON).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Channels per step of the data a `recur fit` config is for: its input size then follows
    /// from them and the config's `training` settings, as `recur fit` sets it.
    #[arg(long, value_parser = super::whole::<usize>, requires = "config")]
    channels: Option<usize>,
}

/// Arguments of `recur run`.
#[derive(Args)]
pub struct RunArgs {
    /// Model directory.
    #[arg(long)]
    model: PathBuf,
    /// float32 array [batch, time, features] ([batch, time, height, width, channels] for a
    /// model whose input_shape is frames; [batch, features] for an input declared static), or
    /// (for a model trained by `recur fit`) a .ts file, scaled as in training. A model with
    /// several inputs takes --input once per input, in the order of its config's `inputs`.
    /// For a model trained on video: clip files (each one's label is printed; --output gets
    /// the probabilities [clips, classes]).
    #[arg(long, required = true)]
    input: Vec<PathBuf>,
    /// int64 array [batch] of valid steps per sequence (default: all steps).
    #[arg(long)]
    lengths: Option<PathBuf>,
    /// Where to write the float32 output ([batch, units] or [batch, time, units]; frames keep
    /// their [height, width, channels]).
    #[arg(long)]
    output: PathBuf,
    /// Cores to use.
    #[arg(long, default_value_t = default_threads(), value_parser = super::whole::<usize>)]
    threads: usize,
    /// Print each sequence's predicted label (or values) on a line (`recur fit` models).
    #[arg(long)]
    labels: bool,
    #[command(flatten)]
    precision: super::PrecisionArg,
}

pub fn init(a: InitArgs) -> Result<()> {
    let config = model_dir::read_config(&a.config)?;
    if a.out.join(model_dir::WEIGHTS_FILE).exists() && !a.force {
        bail!("{} already holds a model (pass --force to replace it)", a.out.display());
    }
    let model = Model::<f32>::new(config, a.seed)?;
    model_dir::save(&model, &a.out)?;
    super::write_stdout(|out| {
        writeln!(
            out,
            "initialised {} ({} trainable parameters)",
            a.out.display(),
            model.trainable_count()
        )
    })
}

pub fn summary(a: SummaryArgs) -> Result<()> {
    // What the input's features are, when a fit's encoding makes them more than the channels.
    let mut encoding = None;
    let model: Model<f32> = match (a.model, a.config) {
        (Some(dir), _) => {
            kind::expect(&dir, &[Kind::Plain, Kind::Fit, Kind::Sketch, Kind::Forecast])?;
            let model: Model<f32> = model_dir::load(&dir)?;
            if let Some(meta) = recur_fit::FitMeta::of(model.config()) {
                let meta = meta?;
                encoding = meta.first.sequence_norm.explain(meta.first.dims);
            }
            model
        }
        (None, Some(c)) => {
            let text = std::fs::read_to_string(&c).with_context(|| format!("cannot read {}", c.display()))?;
            let source = c.display().to_string();
            let config = match a.channels {
                Some(channels) => {
                    let (config, explained) = recur_fit::config_for_channels(&text, &source, channels)?;
                    encoding = explained;
                    config
                }
                None => {
                    // A `training` section is a fit config's; the model part is summarised.
                    let (model, _) = recur_fit::split_config(&text, &source)?;
                    if model.get("input_size").is_none() && model.get("inputs").is_none() {
                        bail!(
                            "{source} has no input_size: a `recur fit` config takes it from the data; \
                             give --channels N (the data's channels per step) to see it as `recur fit` \
                             builds it"
                        );
                    }
                    recur_fit::model_config(model, 0, &source)?
                }
            };
            Model::new(config, 0)?
        }
        (None, None) => bail!("give --model or --config"),
    };
    let width = model.input_shapes().first().map(|s| s.features).unwrap_or_default();
    super::write_stdout(|out| {
        write!(out, "{}", model.summary())?;
        match &encoding {
            Some(why) => writeln!(out, "input: {width} features per step: {why}"),
            None => Ok(()),
        }
    })
}

pub fn run(a: RunArgs) -> Result<()> {
    kind::expect(&a.model, &[Kind::Plain, Kind::Fit])?;
    if recur_video::VideoPredictor::is_video_model(&a.model) {
        let json = false;
        return super::video::classify(&a.model, &a.input, Some(&a.output), json, a.threads, a.precision);
    }
    let mut model: Model<f32> = model_dir::load(&a.model)?;
    let ts = matches!(&a.input[..], [one] if one.extension().is_some_and(|e| e == "ts"));
    if recur_fit::FitMeta::of(model.config()).is_some() {
        let input = match ts {
            true => RunInput::Ts(a.input[0].clone()),
            false => RunInput::Npy {
                xs: a.input.clone(),
                lengths: a.lengths.clone(),
            },
        };
        return super::fit_use::run(&a.model, &input, &a.output, a.labels, a.threads, a.precision);
    }
    a.precision.apply(|p| model.prepare_inference(p));
    if a.labels || ts {
        bail!("--labels and .ts input are for models trained by `recur fit`");
    }
    let inputs = &model.plan().inputs;
    if a.input.len() != inputs.len() {
        let each: Vec<String> = inputs
            .iter()
            .map(|(name, shape)| format!("`{name}` {}", describe(*shape)))
            .collect();
        bail!(
            "the model takes {} input{}, {}: give --input once for each, in this order ({} given)",
            inputs.len(),
            if inputs.len() == 1 { "" } else { "s" },
            each.join(", "),
            a.input.len()
        );
    }
    let several = inputs.len() > 1;
    let xs = a
        .input
        .iter()
        .zip(inputs)
        .map(|(path, (name, shape))| {
            let name = several.then_some(name.as_str());
            load_input(path, a.lengths.as_ref(), *shape, name)
        })
        .collect::<Result<Vec<_>>>()?;
    let y = predict_parallel_inputs(&model, &xs, a.threads)?;
    let mut shape = vec![y.batch];
    if y.sequential {
        shape.push(y.time);
    }
    shape.extend(step_dims(model.output_shape()));
    write_npy_f32(&a.output, &shape, &y.data)?;
    super::write_stdout(|out| writeln!(out, "wrote {} {:?}", a.output.display(), shape))
}

/// The axes of one step's value: `[features]`, or `[height, width, channels]` for frames.
fn step_dims(shape: Shape) -> Vec<usize> {
    match shape.frame {
        Some(f) => vec![f.height, f.width, f.channels],
        None => vec![shape.features],
    }
}

/// Reads one input array of the model (`name`d in errors when it has several) and, for a
/// sequence input, the optional lengths, checking dtypes, shapes and ranges against `shape`:
/// per step `[features]` or a frame's `[height, width, channels]`; a static input is one such
/// value per example.
fn load_input(input: &Path, lengths: Option<&PathBuf>, shape: Shape, name: Option<&str>) -> Result<Seq<f32>> {
    let which = name.map_or(String::new(), |n| format!("input `{n}`: "));
    let step = step_dims(shape);
    let arr = read_npy(input)?;
    let NpyData::F32(data) = arr.data.clone() else {
        bail!(
            "{}: {which}input must be float32, found {}",
            input.display(),
            arr.dtype()
        );
    };
    let wanted = match (shape.sequential, step.len()) {
        (true, 1) => "3-D [batch, time, features]",
        (true, _) => "5-D [batch, time, height, width, channels]",
        (false, 1) => "2-D [batch, features] (one vector per example)",
        (false, _) => "4-D [batch, height, width, channels] (one frame per example)",
    };
    let axes = step.len() + if shape.sequential { 2 } else { 1 };
    if arr.shape.len() != axes {
        bail!(
            "{}: {which}input must be {wanted}, found shape {:?}",
            input.display(),
            arr.shape
        );
    }
    let (batch, time, given) = (arr.shape[0], arr.shape[1], &arr.shape[axes - step.len()..]);
    if given != step {
        bail!(
            "{}: {which}the model takes {} per {}, the input has {}",
            input.display(),
            describe_step(&step),
            if shape.sequential { "step" } else { "example" },
            describe_step(given)
        );
    }
    if !shape.sequential {
        return Ok(Seq::vectors(data, batch, step.iter().product())?);
    }
    let features = step.iter().product();
    let lengths = match lengths {
        None => vec![time; batch],
        Some(p) => {
            let l = read_npy(p)?;
            let values: Vec<i64> = match l.data {
                NpyData::I64(v) => v,
                NpyData::I32(v) => v.into_iter().map(i64::from).collect(),
                _ => bail!("{}: lengths must be int64, found {}", p.display(), l.dtype()),
            };
            if l.shape != [batch] {
                bail!(
                    "{}: lengths must have shape [{batch}], found {:?}",
                    p.display(),
                    l.shape
                );
            }
            values
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    usize::try_from(v)
                        .ok()
                        .filter(|&v| v <= time)
                        .with_context(|| format!("{}: length {v} of sequence {i} is outside 0..={time}", p.display()))
                })
                .collect::<Result<Vec<usize>>>()?
        }
    };
    Ok(Seq::new(data, batch, time, features, lengths)?)
}

/// `3 features` or `a 64×64×3 frame`, as the errors about a step's shape say it.
fn describe_step(dims: &[usize]) -> String {
    match dims {
        [features] => format!("{features} features"),
        [height, width, channels] => format!("a {height}×{width}×{channels} frame"),
        other => format!("{other:?}"),
    }
}
