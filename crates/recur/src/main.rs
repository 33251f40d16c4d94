//! `recur`: build, inspect, run and benchmark sequence models from the command line.

// `println!` and `eprintln!` panic when the reader has gone (`recur run … | head -3`): output
// goes through `commands::write_stdout` and `recur_core::stderr_line!`, which stop quietly.
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod commands;
mod distributed;
mod progress;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::process::ExitCode;

// Layers allocate multi-megabyte activation buffers every step; glibc hands such blocks back
// to the OS and page-faults them in again (≈10% of a training step). mimalloc keeps them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Sequence models (LSTM, GRU, SimpleRNN, Conv1D) trained and run fast on the CPU.
///
/// A model is a directory holding `config.json` (the layers, Keras-style) and
/// `model.safetensors` (weights named and shaped as PyTorch's state_dict).
#[derive(Parser)]
#[command(name = "recur", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The whole sketch job on generated doodles: data, training, evaluation, a report.
    Demo(commands::sketch_train::DemoArgs),
    /// Train a sketch classifier on Quick, Draw! drawings.
    Train(Box<commands::sketch_train::TrainArgs>),
    /// Train a classifier, regressor or per-step tagger on labelled sequences (.ts or .npy).
    Fit(Box<commands::fit::FitArgs>),
    /// Score a sketch classifier on drawings, or a `recur fit` model on labelled sequences.
    ///
    /// Drawings: top-1/3/5, per class, confusion matrix, mistakes. Sequences (--test, or --x
    /// and --y): accuracy, per class and confusion matrix, or MAE and RMSE.
    Eval(Box<commands::sketch_use::EvalArgs>),
    /// Ranked classes with probabilities for each drawing.
    Predict(commands::sketch_use::PredictArgs),
    /// Draw sketches as SVG or PNG, one or a labelled grid.
    Render(commands::sketch_use::RenderArgs),
    /// Data sets: download Quick, Draw! classes, or generate the doodle set or the video task.
    #[command(subcommand)]
    Data(DataCommand),
    /// Create a freshly initialised model directory from a config.
    Init(commands::model::InitArgs),
    /// Print a model's layers, output shapes and parameter counts.
    Summary(commands::model::SummaryArgs),
    /// Run a model on a float32 [batch, time, features] .npy array (or, for a fitted model, a .ts file).
    Run(commands::model::RunArgs),
    /// Write a model as an ONNX file (inputs x [batch, time, features] and int32 lengths).
    Export(commands::export::ExportArgs),
    /// Encoder–decoder with attention: train on pairs, predict with beam search, evaluate.
    #[command(subcommand)]
    Seq2seq(commands::seq2seq::Seq2SeqCommand),
    /// sketch-rnn: train a drawing generator (unconditional, VAE, by class), score it, sample.
    #[command(subcommand, name = "sketch-rnn")]
    SketchRnn(commands::sketch_rnn::SketchRnnCommand),
    /// Forecast a daily series several days ahead; compare with naive baselines.
    Forecast(Box<commands::forecast::ForecastArgs>),
    /// Measure training and inference throughput (batch 64, length 100).
    Bench(commands::bench::BenchArgs),
    /// Answer sketch classifiers and `recur fit` models over HTTP (Open Inference Protocol, v2).
    Serve(commands::serve::ServeArgs),
}

#[derive(Subcommand)]
enum DataCommand {
    /// Write the generated doodles (12 classes) as simplified ndjson, one file per class.
    Synth(commands::data::SynthArgs),
    /// Fetch simplified ndjson classes from the dataset's public bucket (resumable).
    Download(commands::data::DownloadArgs),
    /// Write the generated video task (a square moving down, left, right or up) as .mp4
    /// clips, one folder per direction (needs FFmpeg).
    Squares(commands::video::SquaresArgs),
}

/// mimalloc's `mi_option_purge_delay` (the Rust bindings do not name it; stable since 2.1).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> ExitCode {
    // Keep freed memory mapped instead of returning it to the OS after 10 ms: every training
    // step frees and reallocates the same multi-MB buffers, and re-faulting them measured
    // 5–10% of an LSTM step.
    // SAFETY: sets a plain integer option; called before any other thread exists.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    let matches = negative_numbers_reach_validation(Cli::command()).get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let session = match distributed::start() {
        Ok(s) => s,
        Err(e) => {
            recur_core::stderr_line!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(cli.command)));
    session.finish(outcome)
}

/// Lets every option's value look like a negative number (`--lr -1`): clap otherwise takes
/// it for an unknown flag ("unexpected argument '-1'"), while the check behind the option says
/// what range the setting takes.
fn negative_numbers_reach_validation(command: clap::Command) -> clap::Command {
    command
        .mut_args(|a| {
            let takes_values = a.get_action().takes_values();
            a.allow_negative_numbers(takes_values)
        })
        .mut_subcommands(negative_numbers_reach_validation)
}

/// Runs one subcommand.
fn run(command: Command) -> anyhow::Result<()> {
    let spread = matches!(
        command,
        Command::Train(_)
            | Command::Fit(_)
            | Command::Bench(_)
            | Command::Seq2seq(commands::seq2seq::Seq2SeqCommand::Train(_))
    );
    if !spread && recur_train::distributed::group().is_some() {
        anyhow::bail!("only `recur train`, `recur fit`, `recur seq2seq train` and `recur bench --scaling` run across MPI ranks; run this command without mpirun");
    }
    match command {
        Command::Demo(a) => commands::sketch_train::demo(a),
        Command::Train(a) => commands::sketch_train::train(*a),
        Command::Fit(a) => commands::fit::fit(*a),
        Command::Eval(a) => commands::sketch_use::eval(*a),
        Command::Predict(a) => commands::sketch_use::predict(a),
        Command::Render(a) => commands::sketch_use::render(a),
        Command::Data(DataCommand::Synth(a)) => commands::data::synth(a),
        Command::Data(DataCommand::Download(a)) => commands::data::download(a),
        Command::Data(DataCommand::Squares(a)) => commands::video::squares(a),
        Command::Init(a) => commands::model::init(a),
        Command::Summary(a) => commands::model::summary(a),
        Command::Run(a) => commands::model::run(a),
        Command::Export(a) => commands::export::export(a),
        Command::Bench(a) => commands::bench::bench(a),
        Command::Forecast(a) if recur_forecast::Forecaster::is_saved(std::path::Path::new(&a.model)) => {
            commands::forecast_use::forecast_ahead(&a)
        }
        Command::Forecast(a) => commands::forecast::forecast(*a),
        Command::Seq2seq(c) => commands::seq2seq::run(c),
        Command::SketchRnn(c) => commands::sketch_rnn::run(c),
        Command::Serve(a) => commands::serve::serve(a),
    }
}
