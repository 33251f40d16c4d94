//! A whole training job on text pairs, as `recur seq2seq train` runs it: hold out a share of
//! the sources, build the vocabularies, encode, build the model ([`TrainJob::prepare`]); then
//! train with a checkpoint after every epoch, the best epoch's model written as training goes
//! so a killed run leaves a usable one, score the kept model with the default beam and write
//! it with its history and validation scores ([`Prepared::train`]). Under MPI rank 0 alone
//! writes; every rank trains.

use crate::metrics::Scores;
use crate::model::{Seq2Seq, Seq2SeqConfig};
use crate::options::{EpochRecord, TrainOptions};
use crate::pairs::{group_by_source, split_by_source, split_by_source_hash, Pair, PairFormat};
use crate::search::SearchOptions;
use crate::store::{Settings, StoreError, Translator};
use crate::train::{evaluate, train, IdPair, Reference, Run};
use crate::vocab::{Tokenizer, Vocab};
use recur_nn::model_dir::write_atomic;
use recur_nn::NnError;
use recur_train::distributed::{self, Collective};
use recur_train::Reporter;
use std::path::PathBuf;
use std::rc::Rc;

/// The training history written beside a trained model.
pub const HISTORY_FILE: &str = "history.json";
/// The kept model's validation scores (with the default beam) written beside it.
pub const VALIDATION_FILE: &str = "validation.json";

/// Longest source accepted and target searched for, relative to the longest in training.
const OUTPUT_SLACK: usize = 2;

/// What to train on and how.
pub struct TrainJob {
    /// The pairs (under MPI with `parts`, this rank's part of them).
    pub pairs: Vec<Pair>,
    /// The format they were read in (kept with the model for `eval`).
    pub format: PairFormat,
    /// How sources were cut into tokens.
    pub source_tokenizer: Tokenizer,
    /// How targets were cut into tokens.
    pub target_tokenizer: Tokenizer,
    /// Share of the sources held out to score each epoch (all pairs of a source go together).
    pub val_split: f64,
    /// The architecture; its vocabulary sizes are set from the data.
    pub model: Seq2SeqConfig,
    /// Training settings (their seed also draws the held-out sources and the weights).
    pub options: TrainOptions,
    /// The model directory written.
    pub out: PathBuf,
    /// Continue the run checkpointed in `out`.
    pub resume: bool,
    /// Under MPI, the ranks holding the other parts of the pairs (`None`: every rank holds
    /// them all, or there is no MPI).
    pub parts: Option<Rc<dyn Collective>>,
}

/// A job with its data encoded and its model built, ready to train.
pub struct Prepared {
    /// Training pairs over all the parts.
    pub pairs: usize,
    /// Validation sources over all the parts.
    pub sources: usize,
    /// The model before training.
    pub translator: Translator,
    train_ids: Vec<IdPair>,
    validation: Vec<Reference>,
    out: PathBuf,
    resume: bool,
    parts: bool,
}

/// What a finished job gives.
pub struct Outcome {
    /// Every epoch's figures (those before a resume included).
    pub history: Vec<EpochRecord>,
    /// The kept model's validation scores with `beam`.
    pub scores: Scores,
    /// The beam of those scores (the default of predict and eval).
    pub beam: usize,
}

impl TrainJob {
    /// Holds out the validation sources, builds the vocabularies (over all the parts) and the
    /// model.
    pub fn prepare(self) -> Result<Prepared, StoreError> {
        let parts = self.parts.as_deref();
        let seed = self.options.seed;
        // Parts are split by a hash of each source, so a source is on the same side in every part.
        let (train_pairs, val_pairs) = match parts {
            Some(_) => split_by_source_hash(self.pairs, self.val_split, seed),
            None => split_by_source(self.pairs, self.val_split, seed),
        };
        if train_pairs.is_empty() || val_pairs.is_empty() {
            return Err(NnError::Input(format!(
                "too few pairs to hold out --val-split {} of the sources",
                self.val_split
            ))
            .into());
        }
        let (source, target) = vocabularies(&train_pairs, parts);
        let train_ids: Vec<IdPair> = train_pairs
            .iter()
            .map(|p| (source.encode(&p.source).0, target.encode(&p.target).0))
            .collect();
        let validation: Vec<Reference> = group_by_source(&val_pairs)
            .into_iter()
            .map(|(s, refs)| (source.encode(&s).0, refs.iter().map(|r| target.encode(r).0).collect()))
            .collect();
        let mut counts = [train_ids.len() as f64, validation.len() as f64];
        let longest = |f: fn(&Pair) -> usize| {
            let mine = train_pairs.iter().map(f).max().unwrap_or(1);
            parts.map_or(mine, |g| g.max_u64(mine as u64) as usize)
        };
        let (max_source, max_target) = (longest(|p| p.source.len()), longest(|p| p.target.len()));
        if let Some(g) = parts {
            g.sum_f64(&mut counts);
        }
        let config = Seq2SeqConfig {
            source_vocab: source.len(),
            target_vocab: target.len(),
            ..self.model
        };
        let model = Seq2Seq::<f32>::new(config.clone(), seed)?;
        let settings = Settings {
            model: config,
            format: self.format,
            source_tokenizer: self.source_tokenizer,
            target_tokenizer: self.target_tokenizer,
            max_source_len: max_source * OUTPUT_SLACK,
            max_target_len: max_target * OUTPUT_SLACK + 2,
            training: TrainOptions {
                rank_local: parts.is_some(),
                ..self.options
            },
        };
        Ok(Prepared {
            pairs: counts[0] as usize,
            sources: counts[1] as usize,
            translator: Translator {
                settings,
                source,
                target,
                model,
            },
            train_ids,
            validation,
            out: self.out,
            resume: self.resume,
            parts: parts.is_some(),
        })
    }
}

/// The source and target vocabularies of `pairs` (with parts, of every part's tokens).
fn vocabularies(pairs: &[Pair], parts: Option<&dyn Collective>) -> (Vocab, Vocab) {
    let sources = pairs.iter().map(|p| p.source.as_slice());
    let targets = pairs.iter().map(|p| p.target.as_slice());
    match parts {
        Some(g) => (Vocab::build_across(sources, 1, g), Vocab::build_across(targets, 1, g)),
        None => (Vocab::build(sources, 1), Vocab::build(targets, 1)),
    }
}

impl Prepared {
    /// Trains, telling `progress` what happens; writes the best epoch's model as it goes (rank 0)
    /// and at the end the kept model, `history.json` and `validation.json`.
    pub fn train(self, progress: Reporter) -> Result<Outcome, StoreError> {
        let Prepared {
            mut translator,
            train_ids,
            validation,
            out,
            ..
        } = self;
        let lead = distributed::is_leader();
        let options = translator.settings.training.clone();
        let run = Run {
            out: Some(out.clone()),
            resume: self.resume,
            progress,
        };
        // A failed write of the best model so far is reported when training ends.
        let mut save_failed = None;
        let mut model = translator.model.clone();
        let history = train(&mut model, &train_ids, &validation, &options, &run, |m| {
            if lead && save_failed.is_none() {
                let best = Translator {
                    model: m.clone(),
                    ..translator.clone()
                };
                save_failed = best.save(&out).err();
            }
        })?;
        if let Some(e) = save_failed {
            return Err(e);
        }
        translator.model = model;
        let beam = SearchOptions::default().beam;
        let scores = evaluate(&translator.model, &validation, beam, options.threads, self.parts)?;
        if lead {
            translator.save(&out)?;
            let history_json = serde_json::to_string_pretty(&history).map_err(|e| NnError::Config(e.to_string()))?;
            write_atomic(&out.join(HISTORY_FILE), history_json.as_bytes())?;
            let summary =
                serde_json::json!({"sources": scores.words, "beam": beam, "wer": scores.wer, "per": scores.per});
            write_atomic(&out.join(VALIDATION_FILE), format!("{summary}\n").as_bytes())?;
        }
        Ok(Outcome { history, scores, beam })
    }
}
