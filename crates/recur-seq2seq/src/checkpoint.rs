//! Resumable checkpoints of [`crate::train::train_with_checkpoints`]: after every epoch
//! `OUT/checkpoint/` holds the current weights (`model.safetensors`), the best epoch's
//! (`best.safetensors`), Adam's moments (`optimizer.safetensors`) and the loop's state
//! (`state.json`: the settings and data digest it was made with, epochs and steps done,
//! learning rate, patience counters, the best epoch and its scores, the scheduled-sampling
//! ramp, the history). The folder is written and swapped in whole by recur-train's helpers
//! ([`recur_train::checkpoint::save_with`]), so a run killed at any moment leaves one complete
//! checkpoint.
//!
//! Nothing random needs saving: an epoch's shuffle is derived from the seed and the epoch, and
//! the dropout and sampling streams from the seed, the step and the shard, so the state's
//! counters restore them.

use crate::model::{Seq2Seq, Seq2SeqConfig};
use crate::options::{EpochRecord, TrainOptions};
use crate::store::{read_weights, weights_to_bytes};
use recur_nn::model_dir::{write_atomic, WEIGHTS_FILE};
use recur_nn::NnError;
use recur_train::checkpoint::{self as common, OPTIMIZER_FILE, STATE_FILE};
use recur_train::optim::Optimizer;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;

/// The best epoch's weights in a checkpoint folder (the current ones are `model.safetensors`).
pub const BEST_FILE: &str = "best.safetensors";

/// Every file a checkpoint folder holds.
pub const FILES: [&str; 4] = [WEIGHTS_FILE, BEST_FILE, OPTIMIZER_FILE, STATE_FILE];

/// What a run was given: a resumed run must be given the same (see [`RunState::differences`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Setup {
    /// The training settings.
    pub options: TrainOptions,
    /// The architecture.
    pub model: Seq2SeqConfig,
    /// Shards each batch is cut into (threads × ranks): the sums, and so the bits, depend on it.
    pub shards: usize,
    /// Training pairs.
    pub pairs: usize,
    /// Validation sources.
    pub validation: usize,
    /// A digest of the training pairs' and validation references' ids.
    pub data: u64,
}

/// The best epoch so far.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Best {
    /// 1-based epoch.
    pub epoch: usize,
    /// Its validation WER.
    pub wer: f64,
    /// Its validation PER (breaks WER ties).
    pub per: f64,
}

/// The training loop's state between epochs: `state.json` of a checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct RunState {
    /// The settings and data of the run that wrote it.
    pub setup: Setup,
    /// Epochs finished.
    pub epochs_done: usize,
    /// Optimiser steps taken (dropout and sampling streams are numbered by it).
    pub step: u64,
    /// Learning rate of the next epoch.
    pub lr: f64,
    /// Epochs since the best one.
    pub since_best: usize,
    /// Epochs since the best one or the last halving of the learning rate.
    pub since_decay: usize,
    /// The best epoch so far (`None` before the first).
    pub best: Option<Best>,
    /// Where the scheduled-sampling ramp starts: (epoch, share). It runs linearly from there
    /// to `scheduled_sampling` at the last epoch; (1, 0) unless a resume changed `epochs`.
    pub sampling_from: (usize, f64),
    /// Every epoch's figures.
    pub history: Vec<EpochRecord>,
}

impl RunState {
    /// The state before the first epoch.
    pub fn new(setup: Setup) -> Self {
        RunState {
            lr: setup.options.lr,
            setup,
            epochs_done: 0,
            step: 0,
            since_best: 0,
            since_decay: 0,
            best: None,
            sampling_from: (1, 0.0),
            history: Vec::new(),
        }
    }

    /// The share of decoder inputs replaced by predictions in `epoch` (1-based).
    pub fn sampling_share(&self, epoch: usize) -> f64 {
        let (from, share) = self.sampling_from;
        let o = &self.setup.options;
        // With the default start (1, 0) this is `P · (epoch − 1) / (epochs − 1)` to the bit.
        share + (o.scheduled_sampling - share) * (epoch - from) as f64 / (o.epochs.max(from + 1) - from) as f64
    }

    /// The settings of `now` that differ from this (saved) state's, as command-line flags;
    /// `--epochs`, `--patience` and `--max-minutes` may change, as they only say when to stop.
    fn differences(&self, now: &Setup) -> Vec<String> {
        let saved = &self.setup;
        let mut found = Vec::new();
        let value = |v: Result<Value, serde_json::Error>| v.unwrap_or_default();
        compare(
            &mut found,
            value(serde_json::to_value(&saved.options)),
            value(serde_json::to_value(&now.options)),
            &["epochs", "patience", "max_seconds", "threads"],
        );
        compare(
            &mut found,
            value(serde_json::to_value(&saved.model)),
            value(serde_json::to_value(&now.model)),
            &["source_vocab", "target_vocab"],
        );
        if saved.shards != now.shards {
            found.push(format!(
                "{} shards per batch (--threads × ranks; the checkpoint's run had {}, and the result depends on it)",
                now.shards, saved.shards
            ));
        }
        if (saved.pairs, saved.validation, saved.data) != (now.pairs, now.validation, now.data) {
            found.push(format!(
                "the data: {} training pairs and {} validation sources{} (the checkpoint's: {} and {}; \
                 --pairs, --dates, --val-split, --seed and the tokenizers decide them)",
                now.pairs,
                now.validation,
                if (saved.pairs, saved.validation) == (now.pairs, now.validation) {
                    ", but other ones"
                } else {
                    ""
                },
                saved.pairs,
                saved.validation
            ));
        }
        found
    }
}

/// Adds to `found` each field of the objects `saved` and `now` that differs, but those `free`.
fn compare(found: &mut Vec<String>, saved: Value, now: Value, free: &[&str]) {
    let (Value::Object(saved), Value::Object(now)) = (saved, now) else {
        return;
    };
    for (key, value) in &now {
        let old = saved.get(key).unwrap_or(&Value::Null);
        if free.contains(&key.as_str()) || old == value {
            continue;
        }
        found.push(format!("{} (the checkpoint's: {})", flag(key, value), flag(key, old)));
    }
}

/// A setting as the command line gives it.
fn flag(key: &str, value: &Value) -> String {
    match (key, value) {
        ("bidirectional", Value::Bool(false)) => "--unidirectional".into(),
        ("bidirectional", _) => "no --unidirectional".into(),
        ("input_feeding", Value::Bool(false)) => "--no-input-feeding".into(),
        ("input_feeding", _) => "no --no-input-feeding".into(),
        (_, Value::String(s)) => format!("--{} {s}", key.replace('_', "-")),
        (_, Value::Null) => format!("no --{}", key.replace('_', "-")),
        _ => format!("--{} {value}", key.replace('_', "-")),
    }
}

/// Writes `out/checkpoint/`: the weights, the best weights, the optimiser and `state`.
pub(crate) fn save(
    out: &Path,
    state: &RunState,
    model: &Seq2Seq<f32>,
    optimizer: &Optimizer,
    best: Option<&Seq2Seq<f32>>,
) -> Result<(), NnError> {
    std::fs::create_dir_all(out).map_err(NnError::io(out))?;
    common::save_with(out, |dir| {
        write_atomic(&dir.join(WEIGHTS_FILE), &weights_to_bytes(model)?)?;
        if let Some(best) = best {
            write_atomic(&dir.join(BEST_FILE), &weights_to_bytes(best)?)?;
        }
        common::write_optimizer(dir, optimizer)?;
        common::write_state(
            dir,
            &Saved {
                optimizer_step: optimizer.step,
                run: state,
            },
        )
    })
}

/// `state.json`: the run's state and the optimiser's step count.
#[derive(Serialize)]
struct Saved<'a> {
    optimizer_step: u64,
    #[serde(flatten)]
    run: &'a RunState,
}

#[derive(Deserialize)]
struct Loaded {
    optimizer_step: u64,
    #[serde(flatten)]
    run: RunState,
}

/// Reads `out/checkpoint/` into `model` and `optimizer` after checking that it was made with
/// the settings and data of `now`; returns the state and the best epoch's weights.
pub(crate) fn load(
    out: &Path,
    now: &Setup,
    model: &mut Seq2Seq<f32>,
    optimizer: &mut Optimizer,
) -> Result<(RunState, Option<Seq2Seq<f32>>), NnError> {
    let dir = common::find(out)?;
    let Loaded { optimizer_step, run } = common::read_state(&dir)?;
    let differences = run.differences(now);
    if !differences.is_empty() {
        return Err(NnError::Checkpoint {
            path: dir.display().to_string(),
            message: format!(
                "made with other settings or data than these, so it cannot be resumed: {} \
                 (only --epochs, --patience and --max-minutes may change)",
                differences.join("; ")
            ),
        });
    }
    let read = |model: &mut Seq2Seq<f32>, file: &str| {
        read_weights(model, &dir.join(file)).map_err(|e| NnError::Checkpoint {
            path: dir.display().to_string(),
            message: e.to_string(),
        })
    };
    let mut run = run;
    if run.setup.options.epochs != now.options.epochs && run.epochs_done >= run.sampling_from.0 {
        // The ramp goes on from where it got to, up to its top at the new last epoch.
        run.sampling_from = (run.epochs_done, run.sampling_share(run.epochs_done));
    }
    run.setup = now.clone();
    read(model, WEIGHTS_FILE)?;
    let best = match run.best {
        Some(_) => {
            let mut best = model.clone();
            read(&mut best, BEST_FILE)?;
            Some(best)
        }
        None => None,
    };
    common::read_optimizer(&dir, optimizer, optimizer_step)?;
    Ok((run, best))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(epochs: usize, share: f64) -> RunState {
        let options = TrainOptions {
            epochs,
            scheduled_sampling: share,
            ..TrainOptions::default()
        };
        let model = Seq2SeqConfig {
            source_vocab: 8,
            target_vocab: 8,
            embedding: 4,
            cell: crate::CellKind::Lstm,
            encoder_units: 4,
            encoder_layers: 1,
            bidirectional: true,
            decoder_units: 8,
            attention: "general".into(),
            input_feeding: true,
            dropout: 0.0,
        };
        RunState::new(Setup {
            options,
            model,
            shards: 1,
            pairs: 1,
            validation: 1,
            data: 0,
        })
    }

    #[test]
    fn seq2seq_sampling_ramp_is_the_linear_schedule_and_goes_on_after_more_epochs() {
        for (epochs, p) in [(1, 0.5), (2, 0.3), (7, 0.25), (30, 0.1), (5, 0.0)] {
            let s = state(epochs, p);
            for epoch in 1..=epochs {
                // The schedule before checkpoints, to the bit.
                let plain = p * (epoch - 1) as f64 / (epochs.max(2) - 1) as f64;
                assert_eq!(
                    s.sampling_share(epoch).to_bits(),
                    plain.to_bits(),
                    "{epochs} {p} {epoch}"
                );
            }
        }
        // Resumed with more epochs after 3 of 5: from where the ramp got to, up to P at the end.
        let mut s = state(5, 0.4);
        let at3 = s.sampling_share(3);
        assert!((at3 - 0.2).abs() < 1e-12);
        s.epochs_done = 3;
        s.sampling_from = (3, at3);
        s.setup.options.epochs = 9;
        let shares: Vec<f64> = (4..=9).map(|e| s.sampling_share(e)).collect();
        assert!(shares.windows(2).all(|w| w[0] < w[1]) && shares[0] > at3, "{shares:?}");
        assert!((shares[5] - 0.4).abs() < 1e-12, "{shares:?}");
    }

    #[test]
    fn seq2seq_checkpoint_names_the_settings_that_differ() {
        let saved = state(5, 0.0);
        let mut now = saved.setup.clone();
        assert!(saved.differences(&now).is_empty());
        // Only when to stop may change.
        now.options.epochs = 50;
        now.options.patience = 9;
        now.options.max_seconds = 60.0;
        assert!(saved.differences(&now).is_empty());
        now.options.lr = 0.01;
        now.model.input_feeding = false;
        now.data = 1;
        let found = saved.differences(&now).join("; ");
        assert!(found.contains("--lr 0.01 (the checkpoint's: --lr 0.002)"), "{found}");
        assert!(
            found.contains("--no-input-feeding (the checkpoint's: no --no-input-feeding)"),
            "{found}"
        );
        assert!(found.contains("but other ones"), "{found}");
    }
}
