//! Video in `recur fit`, `eval`, `run` and `predict`: clips from a folder with one subfolder
//! per class or a CSV of `path,label[,group]`, read through FFmpeg as recur-video reads them.

use anyhow::{bail, Context, Result};
use clap::Args;
use recur_fit::FitOutcome;
use recur_train::Reporter;
use recur_video::train::mean_std;
use recur_video::{
    read_clips, video_config, video_settings, Architecture, ClipList, Ffmpeg, FrameSpec, Motion, Resize, VideoData,
    VideoFit, VideoMeta, VideoPredictor,
};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// How `recur fit` reads clips (for --train given as a class folder or a CSV of clips).
#[derive(Args, Default)]
pub struct VideoArgs {
    /// Video: frames sampled uniformly over each clip (a shorter clip keeps all its frames)
    /// [default: 16].
    #[arg(long, value_parser = super::at_least_one)]
    frames: Option<usize>,
    /// Video: frame height and width after resizing [default: 32 32].
    #[arg(long, num_args = 2, value_names = ["H", "W"], value_parser = super::at_least_one)]
    size: Option<Vec<usize>>,
    /// Video: one grayscale channel instead of RGB.
    #[arg(long)]
    grayscale: bool,
    /// Video: scale each frame to cover the size and cut out its middle (keeping its aspect
    /// ratio) instead of squashing the whole frame to the size.
    #[arg(long)]
    centre_crop: bool,
    /// Video: what the model sees, `differences` of consecutive frames (motion) or the
    /// `frames` [default: differences].
    #[arg(long)]
    motion: Option<String>,
    /// Video: the built-in model when no --config is given: `crnn` (a CNN over each frame
    /// feeding a bidirectional GRU) or `c3d` (a 3D CNN) [default: c3d].
    #[arg(long)]
    architecture: Option<String>,
    /// Video: the CSV column holding each clip's group (e.g. its source video); validation
    /// and cross-validation folds then keep each group on one side [default: a `group`
    /// column, if any].
    #[arg(long)]
    groups: Option<String>,
    /// Video: K-fold cross-validation (grouped when the clips have groups) instead of one
    /// model: each fold trained into OUT/folds/k and scored; prints the mean ± std accuracy.
    #[arg(long, value_parser = super::at_least_one)]
    cv: Option<usize>,
    /// Video: train on the clips as they are, without the default flips, crops, brightness
    /// and temporal jitter (an --augment-* flag given still applies). Needed where a mirror
    /// image changes the class (left against right).
    #[arg(long)]
    no_augment: bool,
}

impl VideoArgs {
    /// Whether any video setting was given (they are refused for sequence files).
    pub fn any_given(&self) -> bool {
        self.frames.is_some()
            || self.size.is_some()
            || self.grayscale
            || self.centre_crop
            || self.motion.is_some()
            || self.architecture.is_some()
            || self.groups.is_some()
            || self.cv.is_some()
            || self.no_augment
    }

    /// How clips are read, from the flags and their defaults.
    fn meta(&self) -> Result<VideoMeta> {
        let defaults = FrameSpec::default();
        let (height, width) = match self.size.as_deref() {
            Some([h, w]) => (*h, *w),
            _ => (defaults.height, defaults.width),
        };
        let frames = FrameSpec {
            frames: self.frames.unwrap_or(defaults.frames),
            height,
            width,
            grayscale: self.grayscale,
            resize: if self.centre_crop {
                Resize::CentreCrop
            } else {
                Resize::Squash
            },
        };
        frames.check()?;
        let motion = match &self.motion {
            Some(m) => Motion::parse(m)?,
            None => Motion::default(),
        };
        Ok(VideoMeta { frames, motion })
    }
}

/// Whether `path` names clips (a folder of class folders, or a `.csv` list) rather than a
/// sequence file.
pub fn is_clip_list(path: &Path) -> bool {
    path.is_dir() || path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"))
}

/// What a video fit gave: one model, or the folds' accuracies.
pub enum VideoOutcome {
    /// The model trained on all clips.
    Model(Box<FitOutcome>),
    /// Each fold's test accuracy.
    Folds(Vec<f64>),
}

/// Reads `list` through FFmpeg, saying on stderr how many clips were skipped (and why the
/// first was) and how fast they decoded.
fn read(list: &ClipList, meta: &VideoMeta, threads: usize, progress: &Reporter) -> Result<VideoData> {
    let started = Instant::now();
    let data = read_clips(&Ffmpeg::default(), list, meta, threads)?;
    let seconds = started.elapsed().as_secs_f64();
    progress.note(&format!(
        "decoded {} clips of {} ({} frames, {:.0} frames/s){}",
        data.set.len(),
        list.source,
        data.frames,
        data.frames as f64 / seconds.max(1e-9),
        match data.skipped.first() {
            Some(first) => format!("; skipped {}, the first: {first}", data.skipped.len()),
            None => String::new(),
        }
    ));
    Ok(data)
}

/// Trains on the clips of `train` (or cross-validates): `model` is a config file's model part
/// with its source, `training` the settings given (config section and flags).
pub fn fit(
    train: &Path,
    video: &VideoArgs,
    model: Option<(Value, String)>,
    training: Value,
    (out, resume): (&Path, bool),
    progress: Reporter,
) -> Result<VideoOutcome> {
    let meta = video.meta()?;
    let settings = video_settings(training, !video.no_augment)?;
    let config = match model {
        Some((m, source)) => Some(video_config(m, &meta, &source)?),
        None => None,
    };
    let list = ClipList::open(train, video.groups.as_deref())?;
    let threads = settings.threads.unwrap_or_else(recur_core::parallel::default_threads);
    let data = read(&list, &meta, threads, &progress)?;
    let architecture = match &video.architecture {
        Some(name) if config.is_some() => {
            bail!("--architecture {name} picks a built-in model; --config gives one already")
        }
        Some(name) => Architecture::parse(name)?,
        None => Architecture::default(),
    };
    let job = VideoFit {
        data: &data,
        meta,
        config,
        architecture,
        settings,
        out: out.to_path_buf(),
        resume,
        progress,
    };
    Ok(match video.cv {
        Some(k) => VideoOutcome::Folds(job.cross_validate(k, threads)?),
        None => VideoOutcome::Model(Box::new(job.fit()?)),
    })
}

/// The line `recur fit --cv K` prints.
pub fn folds_line(out: &Path, accuracies: &[f64]) -> String {
    let (mean, std) = mean_std(accuracies);
    let each: Vec<String> = accuracies.iter().map(|a| format!("{a:.3}")).collect();
    format!(
        "{}: {}-fold cross-validation accuracy {mean:.3} ± {std:.3} (folds: {})",
        out.display(),
        accuracies.len(),
        each.join(", ")
    )
}

/// Loads a video model with its folder named in any error.
fn load(model: &Path, precision: super::PrecisionArg) -> Result<VideoPredictor> {
    let mut predictor =
        VideoPredictor::load(model).with_context(|| format!("cannot load the model in {}", model.display()))?;
    precision.apply(|p| predictor.fitted.prepare_inference(p));
    Ok(predictor)
}

/// `recur eval` on clips: decoded as the model was trained, scored and reported as a fitted
/// model's scores are.
pub fn eval(
    model: &Path,
    test: &Path,
    json: bool,
    confusion: Option<&Path>,
    threads: usize,
    precision: super::PrecisionArg,
) -> Result<()> {
    let predictor = load(model, precision)?;
    let list = ClipList::open(test, None)?;
    let (scores, data) = predictor.score(&Ffmpeg::default(), &list, threads)?;
    if let Some(first) = data.skipped.first() {
        recur_core::stderr_line!(
            "skipped {} clips that could not be read, the first: {first}",
            data.skipped.len()
        );
    }
    super::fit_use::report_scores(&predictor.fitted, &scores, &list.source, json, confusion)
}

/// `recur run` and `recur predict` on clip files: each clip's label and class probabilities,
/// one line each (JSON with `json`); `output` also gets the probabilities `[clips, classes]`.
pub fn classify(
    model: &Path,
    clips: &[PathBuf],
    output: Option<&Path>,
    json: bool,
    threads: usize,
    precision: super::PrecisionArg,
) -> Result<()> {
    let predictor = load(model, precision)?;
    let ffmpeg = Ffmpeg::default();
    let classes = predictor.fitted.classes().to_vec();
    let mut guesses = Vec::with_capacity(clips.len());
    for clip in clips {
        guesses.push(predictor.classify(&ffmpeg, clip, threads)?);
    }
    if let Some(path) = output {
        let data: Vec<f32> = guesses
            .iter()
            .flat_map(|g| g.probabilities.iter().map(|&p| p as f32))
            .collect();
        recur_data::npy::write_npy_f32(path, &[guesses.len(), classes.len()], &data)?;
    }
    super::write_stdout(|out| {
        for (clip, g) in clips.iter().zip(&guesses) {
            let probabilities: serde_json::Map<String, Value> = classes
                .iter()
                .cloned()
                .zip(g.probabilities.iter().map(|&p| p.into()))
                .collect();
            if json {
                let line = serde_json::json!({"clip": clip.display().to_string(), "label": g.label, "probabilities": probabilities});
                writeln!(out, "{line}")?;
            } else {
                let each: Vec<String> = classes
                    .iter()
                    .zip(&g.probabilities)
                    .map(|(c, p)| format!("{c} {p:.3}"))
                    .collect();
                writeln!(out, "{}\t{}\t{}", clip.display(), g.label, each.join("  "))?;
            }
        }
        Ok(())
    })
}

/// Refuses the video settings for a training file that is not clips.
pub fn refuse_for_sequences(video: &VideoArgs) -> Result<()> {
    if video.any_given() {
        bail!("--frames, --size, --grayscale, --centre-crop, --motion, --architecture, --groups, --cv and --no-augment are for video: give --train a folder of class folders or a CSV of clips");
    }
    Ok(())
}

/// Arguments of `recur data squares`.
#[derive(Args)]
pub struct SquaresArgs {
    /// Folder to write the clips into, one subfolder per direction (`left/0003.mp4`).
    #[arg(long)]
    out: PathBuf,
    /// Clips per direction.
    #[arg(long, default_value_t = 40, value_parser = super::at_least_one)]
    per_class: usize,
    /// Frames per clip.
    #[arg(long, default_value_t = 12, value_parser = super::at_least_one)]
    frames: usize,
    /// Frame side in pixels (even).
    #[arg(long, default_value_t = 32, value_parser = super::at_least_one)]
    side: usize,
    /// Seed.
    #[arg(long, default_value_t = 1, value_parser = super::whole::<u64>)]
    seed: u64,
}

/// Runs `recur data squares`: the generated moving-squares clips as `.mp4` files.
pub fn squares(args: SquaresArgs) -> Result<()> {
    let spec = FrameSpec {
        frames: args.frames,
        height: args.side,
        width: args.side,
        ..FrameSpec::default()
    };
    let written =
        recur_video::synthetic::write_moving_squares(&Ffmpeg::default(), &args.out, args.per_class, &spec, args.seed)?;
    recur_core::stderr_line!(
        "wrote {written} clips of a square moving down, left, right or up to {}",
        args.out.display()
    );
    Ok(())
}
