//! One module per group of subcommands.

pub mod bench;
pub mod data;
pub mod export;
pub mod fit;
pub mod fit_use;
pub mod forecast;
pub mod forecast_plot;
pub mod forecast_use;
pub mod kind;
pub mod model;
pub mod seq2seq;
pub mod sequences;
pub mod serve;
pub mod sketch_rnn;
pub mod sketch_train;
pub mod sketch_use;
pub mod video;

use recur_nn::model_dir::{CONFIG_FILE, WEIGHTS_FILE};
use recur_nn::written::Written;
use recur_nn::{fallback_note, kernel_note, Precision};
use recur_sketch::TRAINING_KEYS_FILE;
use recur_train::checkpoint::{self, OPTIMIZER_FILE, STATE_FILE};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Files a training command writes into a model folder, an ensemble member's or a checkpoint.
const MODEL_FILES: [&str; 5] = [
    CONFIG_FILE,
    WEIGHTS_FILE,
    STATE_FILE,
    OPTIMIZER_FILE,
    TRAINING_KEYS_FILE,
];

/// Removes what an earlier `recur train` or `recur fit` wrote into `out` (model, checkpoints,
/// ensemble members, temporaries of an interrupted write) and nothing else: `--force` with
/// `--out .` must not wipe the user's folder. `extra` names further files the command writes
/// at the top of `out` (reports, histories).
pub fn clear_output(out: &Path, extra: &[&str]) -> anyhow::Result<()> {
    let top: Vec<&str> = MODEL_FILES.iter().chain(extra).copied().collect();
    let written = Written {
        top: &top,
        members: &MODEL_FILES,
        checkpoint: &checkpoint::FILES,
    };
    report_kept(written.remove(out)?);
    Ok(())
}

/// Says which folders `--force` kept because they hold files recur did not write.
pub fn report_kept(kept: Vec<PathBuf>) {
    for dir in kept {
        recur_core::stderr_line!("kept {}: it holds files recur did not write", dir.display());
    }
}

/// Writes a command's output through `write` on a locked, buffered stdout. A reader that has
/// closed the pipe (`recur predict … | head -1`) ends the output quietly and successfully, as
/// ripgrep does, instead of panicking in `println!`.
/// `--precision`, shared by the commands that run a trained model.
#[derive(clap::Args, Clone, Copy, Debug)]
pub struct PrecisionArg {
    /// Number format of the weight products at inference: fp32 (the model as trained), bf16 or
    /// int8, converted at load in memory (the model directory is never written). Layers
    /// without a bf16/int8 kernel run in fp32 and are named once; so is a CPU that runs the
    /// precision no faster than fp32 (bf16 without AVX512-BF16).
    #[arg(long, default_value = "fp32")]
    pub precision: Precision,
}

impl PrecisionArg {
    /// Prepares a loaded model with `prepare` (which returns the layers left in fp32) and
    /// prints, once each, the notes naming those layers and saying when this CPU runs the
    /// precision no faster than fp32.
    pub fn apply(self, prepare: impl FnOnce(Precision) -> Vec<String>) {
        let fallbacks = fallback_note(self.precision, &prepare(self.precision));
        for note in [kernel_note(self.precision), fallbacks].into_iter().flatten() {
            recur_core::stderr_line!("note: {note}");
        }
    }
}

pub fn write_stdout(write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match write(&mut out).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        result => Ok(result?),
    }
}

/// Reads a count that must be at least 1, for clap (`value_parser = at_least_one`). Every
/// `--epochs` goes through it: 0 epochs trained nothing, yet `recur train` wrote a report of
/// the untrained model, `forecast` printed its forecasts and `demo` succeeded.
pub fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) | Err(_) => Err("must be a whole number, at least 1".into()),
        Ok(n) => Ok(n),
    }
}

/// Reads a count or seed for clap (`value_parser = whole::<usize>`): `-1` or `2.5` are told
/// what the option takes, where Rust's own parser said "invalid digit found in string".
pub fn whole<T: std::str::FromStr<Err = std::num::ParseIntError>>(text: &str) -> Result<T, String> {
    text.parse::<T>().map_err(|e| match e.kind() {
        std::num::IntErrorKind::PosOverflow => format!("is too large ({e})"),
        std::num::IntErrorKind::Empty => "needs a whole number".into(),
        _ => "must be a whole number, 0 or more".into(),
    })
}

/// Reads a number for clap that `within` accepts; `range` says in the error what it takes. Every
/// option's value may look negative (see `main`), so each numeric setting without a check
/// further on is read through one of the parsers below.
fn number_in(text: &str, within: impl Fn(f64) -> bool, range: &str) -> Result<f64, String> {
    let v: f64 = text.parse().map_err(|e: std::num::ParseFloatError| e.to_string())?;
    if v.is_finite() && within(v) {
        Ok(v)
    } else {
        Err(format!("must be {range}"))
    }
}

/// Reads a number above 0 (a learning rate, a clipping norm, a duration), for clap.
pub fn positive(text: &str) -> Result<f64, String> {
    number_in(text, |v| v > 0.0, "a positive number")
}

/// Reads a number of at least 0 (0 turning the setting off), for clap.
pub fn at_least_zero(text: &str) -> Result<f64, String> {
    number_in(text, |v| v >= 0.0, "at least 0")
}

/// Reads a share in [0, 1) (label smoothing), for clap.
pub fn share(text: &str) -> Result<f64, String> {
    number_in(text, |v| (0.0..1.0).contains(&v), "in [0, 1)")
}

/// A setting's flag, as the library's messages name it (`label_smoothing` is
/// `--label-smoothing`).
pub fn flag_name(setting: &str) -> String {
    format!("--{}", setting.replace('_', "-"))
}

/// Written in training paths, the rank of the process reading them.
pub const RANK_PLACEHOLDER: &str = "{rank}";

/// Puts this process's rank for `{rank}` in training `paths` (`what` names them in the error:
/// every one must hold it, or none). True when, under MPI, each rank thus reads its own part
/// of the training data; outside mpirun `{rank}` reads as 0.
pub fn own_paths_per_rank(paths: &mut [String], what: &str) -> anyhow::Result<bool> {
    let marked = paths.iter().filter(|p| p.contains(RANK_PLACEHOLDER)).count();
    if marked == 0 {
        return Ok(false);
    }
    if marked < paths.len() {
        anyhow::bail!("give {RANK_PLACEHOLDER} in every {what} or in none");
    }
    let group = recur_train::distributed::group();
    let rank = group.as_ref().map_or(0, |g| g.rank()).to_string();
    for p in paths.iter_mut() {
        *p = p.replace(RANK_PLACEHOLDER, &rank);
    }
    Ok(group.is_some())
}

/// [`own_paths_per_rank`] for file paths (changed only where they hold `{rank}`).
pub fn own_files_per_rank(paths: Vec<&mut PathBuf>, what: &str) -> anyhow::Result<bool> {
    let mut texts: Vec<String> = paths.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let own = own_paths_per_rank(&mut texts, what)?;
    for (path, text) in paths.into_iter().zip(texts) {
        if path.to_string_lossy() != text {
            *path = PathBuf::from(text);
        }
    }
    Ok(own)
}
