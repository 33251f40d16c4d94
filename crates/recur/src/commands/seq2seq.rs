//! `recur seq2seq train|predict|eval`: an encoder–decoder with attention on pairs of token
//! sequences (a TSV file, the CMU Pronouncing Dictionary, or the generated date-format task).

use super::{own_files_per_rank, write_stdout};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use recur_nn::model_dir::WEIGHTS_FILE;
use recur_nn::written::Written;
use recur_seq2seq::dates::{check_date_count, DATES};
use recur_seq2seq::job::{TrainJob, HISTORY_FILE, VALIDATION_FILE};
use recur_seq2seq::store::{EncodedTexts, Translator, SETTINGS_FILE};
use recur_seq2seq::store::{SOURCE_VOCAB_FILE, TARGET_VOCAB_FILE};
use recur_seq2seq::train::MONITORED;
use recur_seq2seq::{
    date_pairs, group_by_source, read_pairs, CellKind, Pair, PairFormat, SearchOptions, Tokenizer, TrainSettings, Vocab,
};
use recur_train::epochs::lookup;
use recur_train::{checkpoint, EpochRecord};
use serde_json::json;
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// The `seq2seq` subcommands.
#[derive(Subcommand)]
pub enum Seq2SeqCommand {
    /// Train on pairs (TSV `source<TAB>target`, or CMUdict); without --pairs, on the generated
    /// date-format task ("April 22, 2019" → "2019-04-22").
    Train(Box<TrainArgs>),
    /// Outputs for each input line: the input, a tab, the best output's tokens.
    Predict(PredictArgs),
    /// Exact-match accuracy and token error rate (for CMUdict: WER and PER) on pairs.
    Eval(EvalArgs),
}

/// Runs a `seq2seq` subcommand.
pub fn run(command: Seq2SeqCommand) -> Result<()> {
    match command {
        Seq2SeqCommand::Train(a) => train_command(*a),
        Seq2SeqCommand::Predict(a) => predict(a),
        Seq2SeqCommand::Eval(a) => eval(a),
    }
}

/// The pair file and how to read it.
#[derive(Args, Clone)]
pub struct PairsArgs {
    /// Pair file: `source<TAB>target` lines (tsv) or `word PH PH …` lines (cmudict). For
    /// `seq2seq train` under mpirun, `{rank}` in it (e.g. `part-{rank}.tsv`) gives each rank its
    /// own part of the pairs.
    #[arg(long)]
    pairs: Option<PathBuf>,
    /// Format of --pairs (default: cmudict for a .dict file, else tsv).
    #[arg(long, value_parser = ["tsv", "cmudict"])]
    format: Option<String>,
}

impl PairsArgs {
    fn format(&self) -> PairFormat {
        let by_name = self.format.as_deref().map(|f| f == "cmudict");
        let by_ext = self
            .pairs
            .as_deref()
            .and_then(|p| p.extension())
            .is_some_and(|e| e == "dict");
        if by_name.unwrap_or(by_ext) {
            PairFormat::Cmudict
        } else {
            PairFormat::Tsv
        }
    }
}

/// Arguments of `recur seq2seq train`.
#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pairs: PairsArgs,
    /// Model directory to write (the model, history.json, validation.json, and checkpoint/
    /// after every epoch).
    #[arg(long)]
    out: PathBuf,
    /// Continue the run checkpointed in --out (after a kill, a time limit, or with more
    /// --epochs): same settings and data; --epochs, --patience and --max-minutes may change.
    #[arg(long)]
    resume: bool,
    /// Start over: remove what an earlier run wrote to --out (model, history, checkpoint; no
    /// other file).
    #[arg(long)]
    force: bool,
    /// How TSV sources split into tokens: chars or whitespace (default chars).
    #[arg(long)]
    source_tokens: Option<Tokenizer>,
    /// How TSV targets split into tokens: chars or whitespace (default chars; CMUdict's
    /// phonemes are always whitespace-separated).
    #[arg(long)]
    target_tokens: Option<Tokenizer>,
    /// Generated date pairs when no --pairs is given.
    #[arg(long, default_value_t = DATES, value_parser = super::whole::<usize>)]
    dates: usize,
    /// Share of the sources held out to score each epoch (all pairs of a source go together).
    #[arg(long, default_value_t = defaults().val_split)]
    val_split: f64,
    /// Width of the source and target embeddings.
    #[arg(long, default_value_t = defaults().embedding, value_parser = super::whole::<usize>)]
    embedding: usize,
    /// Recurrent cell of encoder and decoder: lstm or gru.
    #[arg(long, default_value_t = defaults().cell)]
    cell: CellKind,
    /// Units per direction of each encoder layer.
    #[arg(long, default_value_t = defaults().encoder_units, value_parser = super::whole::<usize>)]
    encoder_units: usize,
    /// Encoder layers.
    #[arg(long, default_value_t = defaults().encoder_layers, value_parser = super::whole::<usize>)]
    encoder_layers: usize,
    /// Read the source one way only (default: both ways).
    #[arg(long)]
    unidirectional: bool,
    /// Units of the decoder.
    #[arg(long, default_value_t = defaults().decoder_units, value_parser = super::whole::<usize>)]
    decoder_units: usize,
    /// Attention score: dot, general (Luong) or additive (Bahdanau).
    #[arg(long, default_value_t = defaults().attention, value_parser = ["dot", "general", "additive"])]
    attention: String,
    /// Do not feed the attentional state into the next decoder step.
    #[arg(long)]
    no_input_feeding: bool,
    /// Dropout on embeddings, between encoder layers and on the attentional state.
    #[arg(long, default_value_t = defaults().dropout)]
    dropout: f64,
    /// Passes over the training pairs at most.
    #[arg(long, default_value_t = defaults().epochs, value_parser = super::at_least_one)]
    epochs: usize,
    /// Pairs per step.
    #[arg(long, default_value_t = defaults().batch, value_parser = super::whole::<usize>)]
    batch: usize,
    /// Adam's learning rate.
    #[arg(long, default_value_t = defaults().lr, value_parser = super::positive)]
    lr: f64,
    /// Label smoothing of the cross-entropy.
    #[arg(long, default_value_t = defaults().label_smoothing, value_parser = super::share)]
    label_smoothing: f64,
    /// Clip the global gradient norm to this.
    #[arg(long, default_value_t = defaults().clip, value_parser = super::positive)]
    clip: f64,
    /// Halve the learning rate after this many epochs without a better validation WER.
    #[arg(long, default_value_t = defaults().lr_patience, value_parser = super::whole::<usize>)]
    lr_patience: usize,
    /// Stop after this many epochs without a better validation WER.
    #[arg(long, default_value_t = defaults().patience, value_parser = super::whole::<usize>)]
    patience: usize,
    /// Start no epoch after this many minutes (0: no limit); counted afresh by --resume, and
    /// every run trains at least one epoch.
    #[arg(long, default_value_t = defaults().max_minutes, value_parser = super::at_least_zero)]
    max_minutes: f64,
    /// Beam for the validation score (1 = greedy, fastest).
    #[arg(long, default_value_t = defaults().val_beam, value_parser = super::whole::<usize>)]
    val_beam: usize,
    /// Threads (default: the machine's cores).
    #[arg(long, value_parser = super::whole::<usize>)]
    threads: Option<usize>,
    /// Seed of initialisation, shuffling and dropout.
    #[arg(long, default_value_t = defaults().seed, value_parser = super::whole::<u64>)]
    seed: u64,
    /// Scheduled sampling: feed the model's own previous prediction instead of the true token
    /// for up to this share of decoder inputs, rising from 0 at the first epoch to it at the
    /// last (0: teacher forcing only).
    #[arg(long, default_value_t = defaults().scheduled_sampling)]
    scheduled_sampling: f64,
}

/// The library's settings with their defaults, which the flags' defaults show.
fn defaults() -> TrainSettings {
    TrainSettings::default()
}

fn train_command(mut args: TrainArgs) -> Result<()> {
    // Under MPI rank 0 alone prints and writes; every rank trains.
    let lead = recur_train::distributed::is_leader();
    let own = own_files_per_rank(args.pairs.pairs.iter_mut().collect(), "--pairs path")?;
    let parts = own.then(recur_train::distributed::group).flatten();
    if (args.out.join(SETTINGS_FILE).exists() || checkpoint::exists(&args.out)) && !args.resume && !args.force {
        bail!(
            "{} already holds a seq2seq model or checkpoint: pass --resume to continue its training or --force to start over",
            args.out.display()
        );
    }
    let settings = settings(&args);
    let flag = |name: &str| format!("--{}", name.replace('_', "-"));
    settings.check(flag)?;
    if args.pairs.pairs.is_none() {
        check_date_count(args.dates, "--dates")?;
    }
    // Before the pairs are read or generated, which can take a while.
    if args.resume {
        recur_train::ensemble::require_checkpoint(&args.out)?;
    }
    let format = args.pairs.format();
    let pairs = training_pairs(&args, settings.tokenizers(format), lead)?;
    let job = TrainJob {
        resume: args.resume,
        parts,
        ..settings.job(pairs, format, args.out.clone(), flag)?
    };
    let prepared = job.prepare()?;
    if lead && args.force && !args.resume && args.out.is_dir() {
        // Only what this command wrote: `--out . --force` must not wipe the user's folder.
        remove_written(&args.out).with_context(|| format!("cannot clear {}", args.out.display()))?;
    }
    if lead {
        let t = &prepared.translator;
        let threads = t.settings.training.threads;
        let ranks =
            recur_train::distributed::group().map_or(String::new(), |g| format!(" on each of {} ranks", g.size()));
        recur_core::stderr_line!(
            "{} training pairs, {} validation sources{}; vocabularies {} → {}; {} parameters; {threads} threads{ranks}",
            prepared.pairs,
            prepared.sources,
            if t.settings.training.rank_local {
                " in all the parts"
            } else {
                ""
            },
            t.source.len(),
            t.target.len(),
            t.model.parameter_count(),
        );
    }
    let pairs = prepared.pairs;
    let progress = crate::progress::on_stderr_with(move |r, epochs, _| epoch_line(r, epochs, pairs));
    let outcome = prepared.train(progress)?;
    if !lead {
        return Ok(());
    }
    let (scores, beam) = (&outcome.scores, outcome.beam);
    if let Some(best) = outcome.history.iter().min_by(|a, b| {
        (a.val_wer, a.val_per)
            .partial_cmp(&(b.val_wer, b.val_per))
            .unwrap_or(std::cmp::Ordering::Equal)
    }) {
        recur_core::stderr_line!(
            "kept epoch {} (validation WER {:.2}%, PER {:.2}% greedy; {:.2}% and {:.2}% with beam {beam}); model in {}",
            best.epoch,
            100.0 * best.val_wer,
            100.0 * best.val_per,
            100.0 * scores.wer,
            100.0 * scores.per,
            args.out.display()
        );
    }
    Ok(())
}

/// The pairs of --pairs cut by `tokenizers`, or without it the generated date pairs (said
/// on the `lead` rank).
fn training_pairs(args: &TrainArgs, (source, target): (Tokenizer, Tokenizer), lead: bool) -> Result<Vec<Pair>> {
    Ok(match &args.pairs.pairs {
        Some(path) => read_pairs(path, args.pairs.format(), source, target)?,
        None => {
            if lead {
                recur_core::stderr_line!("no --pairs: training on {} generated date pairs", args.dates);
            }
            date_pairs(args.dates, args.seed)
        }
    })
}

/// The settings the flags give (the library's defaults for those not given).
fn settings(args: &TrainArgs) -> TrainSettings {
    TrainSettings {
        source_tokens: args.source_tokens,
        target_tokens: args.target_tokens,
        val_split: args.val_split,
        embedding: args.embedding,
        cell: args.cell,
        encoder_units: args.encoder_units,
        encoder_layers: args.encoder_layers,
        unidirectional: args.unidirectional,
        decoder_units: args.decoder_units,
        attention: args.attention.clone(),
        no_input_feeding: args.no_input_feeding,
        dropout: args.dropout,
        epochs: args.epochs,
        batch: args.batch,
        lr: args.lr,
        label_smoothing: args.label_smoothing,
        clip: args.clip,
        lr_patience: args.lr_patience,
        patience: args.patience,
        max_minutes: args.max_minutes,
        val_beam: args.val_beam,
        threads: args.threads.unwrap_or(defaults().threads),
        seed: args.seed,
        scheduled_sampling: args.scheduled_sampling,
    }
}

/// The files `seq2seq train` writes at the top of its --out.
const WRITTEN: [&str; 6] = [
    SETTINGS_FILE,
    SOURCE_VOCAB_FILE,
    TARGET_VOCAB_FILE,
    WEIGHTS_FILE,
    HISTORY_FILE,
    VALIDATION_FILE,
];

/// Removes what an earlier `seq2seq train` wrote into `out` (model, history, scores,
/// checkpoints, temporary files of an interrupted write) and nothing else.
fn remove_written(out: &Path) -> Result<()> {
    let written = Written {
        top: &WRITTEN,
        members: &[],
        checkpoint: &checkpoint::FILES,
    };
    super::report_kept(written.remove(out)?);
    Ok(())
}

/// An epoch's line: training loss and token accuracy, validation WER and PER, the learning
/// rate, training throughput over the `pairs` and the time since training began.
fn epoch_line(r: &EpochRecord, epochs: Option<usize>, pairs: usize) -> String {
    let metric = |name| lookup(&r.metrics, name).unwrap_or(f64::NAN);
    // `epoch  6/8`: the number padded to two places, as the tests and logs expect.
    let of = epochs.map_or_else(String::new, |n| format!("/{n}"));
    format!(
        "epoch {:>2}{of}  loss {:.4}  token acc {:.4}  val WER {:.2}%  PER {:.2}%  lr {:.2e}  {:.0} pairs/s  {:.0}s",
        r.epoch,
        r.loss,
        r.accuracy.unwrap_or(0.0),
        100.0 * metric(MONITORED[0]),
        100.0 * metric(MONITORED[1]),
        r.lr,
        pairs as f64 / r.train_seconds,
        r.elapsed
    )
}

/// Search settings shared by predict and eval.
#[derive(Args, Clone)]
pub struct SearchArgs {
    /// Beam width (1 = greedy).
    #[arg(long, default_value_t = 5, value_parser = super::whole::<usize>)]
    beam: usize,
    /// GNMT length-penalty α (0 = raw log-probability).
    #[arg(long, default_value_t = 0.6, value_parser = super::at_least_zero)]
    alpha: f64,
    /// Longest output in tokens (default: twice the longest training target).
    #[arg(long, value_parser = super::whole::<usize>)]
    max_len: Option<usize>,
    /// Refuse inputs holding tokens never seen in training (default: map them to <unk>).
    #[arg(long)]
    strict: bool,
    /// Threads (default: the machine's cores).
    #[arg(long, value_parser = super::whole::<usize>)]
    threads: Option<usize>,
    #[command(flatten)]
    precision: super::PrecisionArg,
}

/// Arguments of `recur seq2seq predict`.
#[derive(Args)]
pub struct PredictArgs {
    /// Model directory.
    #[arg(long)]
    model: PathBuf,
    /// Input file, one source per line, or - for stdin.
    #[arg(long)]
    input: PathBuf,
    #[command(flatten)]
    search: SearchArgs,
    /// Outputs per input (at most --beam).
    #[arg(long, default_value_t = 1, value_parser = super::whole::<usize>)]
    nbest: usize,
    /// Draw the first input's attention weights as a heat map (.png or .svg).
    #[arg(long)]
    attention: Option<PathBuf>,
    /// One JSON object per line with the n-best outputs and their scores.
    #[arg(long)]
    json: bool,
}

/// Encodes source lines numbered from 1, naming a refused one `file:line`.
fn encode_sources(t: &Translator, lines: Vec<(usize, String)>, name: &str, strict: bool) -> Result<EncodedTexts> {
    let placed = lines.into_iter().map(|(line, text)| (format!("{name}:{line}"), text));
    Ok(t.encode_all(placed, strict)?)
}

fn search_options(t: &Translator, args: &SearchArgs, nbest: usize, attention: bool) -> Result<SearchOptions> {
    t.search_options(args.beam, nbest, args.alpha, args.max_len, attention)
        .map_err(|e| anyhow::anyhow!("--{e}"))
}

fn predict(args: PredictArgs) -> Result<()> {
    super::kind::expect(&args.model, &[super::kind::Kind::Seq2seq])?;
    let mut t = Translator::load(&args.model)?;
    args.search.precision.apply(|p| t.model.prepare_inference(p));
    let name = args.input.display().to_string();
    let lines: Vec<String> = if args.input == Path::new("-") {
        std::io::stdin().lock().lines().collect::<std::io::Result<_>>()?
    } else {
        let file = std::fs::File::open(&args.input).with_context(|| format!("cannot open {name}"))?;
        std::io::BufReader::new(file)
            .lines()
            .collect::<std::io::Result<_>>()
            .with_context(|| format!("cannot read {name} as UTF-8 text"))?
    };
    let numbered = lines.into_iter().enumerate().map(|(i, l)| (i + 1, l)).collect();
    let inputs = encode_sources(&t, numbered, &name, args.search.strict)?;
    if inputs.unknown > 0 {
        recur_core::stderr_line!(
            "{} input tokens never seen in training were read as <unk>",
            inputs.unknown
        );
    }
    let options = search_options(&t, &args.search, args.nbest, args.attention.is_some())?;
    let threads = args
        .search
        .threads
        .unwrap_or_else(recur_core::parallel::default_threads);
    let outputs = t.translate(&inputs.sources, &options, threads)?;
    if let (Some(path), Some(best)) = (&args.attention, outputs.first().and_then(|h| h.first())) {
        let mut rows = best.tokens.clone();
        rows.push(Vocab::SPECIALS[Vocab::EOS as usize].to_string());
        let svg = recur_viz::attention_svg(&rows, &inputs.sources[0].tokens, &best.attention);
        recur_viz::write_picture(path, &svg)?;
    }
    write_stdout(|out| {
        for (text, outputs) in inputs.texts.iter().zip(&outputs) {
            if args.json {
                let list: Vec<_> = outputs
                    .iter()
                    .map(|o| json!({"tokens": o.tokens, "text": o.text, "score": o.score, "log_prob": o.log_prob}))
                    .collect();
                writeln!(out, "{}", json!({"input": text, "outputs": list}))?;
            } else {
                // Joined as the target side is tokenised: characters without spaces
                // (`2019-04-22`), words and phonemes with them.
                let best = outputs.first().map(|o| o.text.as_str()).unwrap_or_default();
                writeln!(out, "{text}\t{best}")?;
            }
        }
        Ok(())
    })
}

/// Arguments of `recur seq2seq eval`.
#[derive(Args)]
pub struct EvalArgs {
    /// Model directory.
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    pairs: PairsArgs,
    #[command(flatten)]
    search: SearchArgs,
    /// One JSON line with the scores.
    #[arg(long)]
    json: bool,
}

fn eval(args: EvalArgs) -> Result<()> {
    super::kind::expect(&args.model, &[super::kind::Kind::Seq2seq])?;
    let mut t = Translator::load(&args.model)?;
    args.search.precision.apply(|p| t.model.prepare_inference(p));
    let Some(path) = &args.pairs.pairs else {
        bail!("--pairs is required");
    };
    let format = if args.pairs.format.is_some() || path.extension().is_some_and(|e| e == "dict") {
        args.pairs.format()
    } else {
        t.settings.format
    };
    let pairs = read_pairs(path, format, t.settings.source_tokenizer, t.settings.target_tokenizer)?;
    let grouped = group_by_source(&pairs);
    let name = path.display().to_string();
    // Lines of each group's first pair, for messages.
    let first_line = |s: &[String]| pairs.iter().find(|p| p.source == s).map_or(0, |p| p.line);
    let lines = grouped
        .iter()
        .map(|(s, _)| (first_line(s), t.settings.source_tokenizer.join(s)))
        .collect();
    let inputs = encode_sources(&t, lines, &name, args.search.strict)?;
    let options = search_options(&t, &args.search, 1, false)?;
    let threads = args
        .search
        .threads
        .unwrap_or_else(recur_core::parallel::default_threads);
    let started = std::time::Instant::now();
    let outputs = t.translate(&inputs.sources, &options, threads)?;
    let seconds = started.elapsed().as_secs_f64();
    let scored: Vec<(Vec<String>, Vec<Vec<String>>)> = outputs
        .into_iter()
        .zip(&grouped)
        .map(|(outputs, (_, refs))| {
            let best = outputs.into_iter().next().map(|o| o.tokens).unwrap_or_default();
            (best, refs.clone())
        })
        .collect();
    let s = recur_seq2seq::score(&scored);
    if args.json {
        let line = json!({
            "sources": s.words, "exact_match": s.exact_match, "token_error_rate": s.token_error_rate,
            "wer": s.wer, "per": s.per, "beam": options.beam, "unknown_tokens": inputs.unknown,
            "seconds": seconds,
        });
        return write_stdout(|out| writeln!(out, "{line}"));
    }
    write_stdout(|out| {
        writeln!(out, "sources           {}", s.words)?;
        writeln!(out, "exact match       {:.2}%", 100.0 * s.exact_match)?;
        writeln!(out, "token error rate  {:.2}%", 100.0 * s.token_error_rate)?;
        if format == PairFormat::Cmudict {
            writeln!(out, "WER               {:.2}%", 100.0 * s.wer)?;
            writeln!(out, "PER               {:.2}%", 100.0 * s.per)?;
        }
        if inputs.unknown > 0 {
            writeln!(out, "unknown tokens    {} (read as <unk>)", inputs.unknown)?;
        }
        writeln!(out, "beam {}, {:.1} s", options.beam, seconds)
    })
}
