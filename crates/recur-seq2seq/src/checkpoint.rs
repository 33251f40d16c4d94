//! What an encoder–decoder's checkpoints hold beyond what recur-train's epoch loop keeps
//! (weights, best weights, Adam's moments, the loop's state; see
//! [`recur_train::checkpoint`]): the run's [`Setup`] (settings, architecture, shards and a
//! digest of the data), which a resumed run must match, and the scheduled-sampling [`Ramp`].
//!
//! Nothing random needs saving: an epoch's shuffle is derived from the seed and the epoch, and
//! the dropout and sampling streams from the seed, the step and the shard, so the loop's
//! counters restore them.

use crate::model::Seq2SeqConfig;
use crate::options::TrainOptions;
use serde::{Deserialize, Serialize};
use serde_json::Value;

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

/// The scheduled-sampling ramp: the share of decoder inputs replaced by the model's own
/// predictions rises linearly from `from` (epoch, share) to `scheduled_sampling` at the last
/// epoch; (1, 0) unless a resume changed `epochs`. Kept in checkpoints.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Ramp {
    /// Where it starts: (1-based epoch, share).
    pub from: (usize, f64),
}

impl Default for Ramp {
    fn default() -> Self {
        Ramp { from: (1, 0.0) }
    }
}

impl Ramp {
    /// The share in `epoch` (1-based) of a run with `options`.
    pub fn share(&self, options: &TrainOptions, epoch: usize) -> f64 {
        let (from, share) = self.from;
        // With the default start (1, 0) this is `P · (epoch − 1) / (epochs − 1)` to the bit.
        share
            + (options.scheduled_sampling - share) * (epoch - from) as f64
                / (options.epochs.max(from + 1) - from) as f64
    }

    /// The ramp a run resumed after `epochs_done` goes on with, when the checkpoint's run had
    /// `saved` and this one `now`: if `epochs` changed, from where it got to, up to its top at
    /// the new last epoch.
    pub fn resumed(self, saved: &TrainOptions, now: &TrainOptions, epochs_done: usize) -> Ramp {
        if saved.epochs != now.epochs && epochs_done >= self.from.0 {
            return Ramp {
                from: (epochs_done, self.share(saved, epochs_done)),
            };
        }
        self
    }

    /// The ramp as kept in a checkpoint's state.
    pub fn to_state(self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

impl Setup {
    /// The settings of `now` that differ from this (saved) state's, as command-line flags;
    /// `--epochs`, `--patience` and `--max-minutes` may change, as they only say when to stop.
    pub(crate) fn differences(&self, now: &Setup) -> Vec<String> {
        let saved = self;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(epochs: usize, share: f64) -> Setup {
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
        Setup {
            options,
            model,
            shards: 1,
            pairs: 1,
            validation: 1,
            data: 0,
        }
    }

    #[test]
    fn seq2seq_sampling_ramp_is_the_linear_schedule_and_goes_on_after_more_epochs() {
        for (epochs, p) in [(1, 0.5), (2, 0.3), (7, 0.25), (30, 0.1), (5, 0.0)] {
            let s = setup(epochs, p);
            for epoch in 1..=epochs {
                // The schedule before checkpoints, to the bit.
                let plain = p * (epoch - 1) as f64 / (epochs.max(2) - 1) as f64;
                assert_eq!(
                    Ramp::default().share(&s.options, epoch).to_bits(),
                    plain.to_bits(),
                    "{epochs} {p} {epoch}"
                );
            }
        }
        // Resumed with more epochs after 3 of 5: from where the ramp got to, up to P at the end.
        let saved = setup(5, 0.4).options;
        let at3 = Ramp::default().share(&saved, 3);
        assert!((at3 - 0.2).abs() < 1e-12);
        let now = TrainOptions {
            epochs: 9,
            ..saved.clone()
        };
        let ramp = Ramp::default().resumed(&saved, &now, 3);
        assert_eq!(ramp.from, (3, at3));
        let shares: Vec<f64> = (4..=9).map(|e| ramp.share(&now, e)).collect();
        assert!(shares.windows(2).all(|w| w[0] < w[1]) && shares[0] > at3, "{shares:?}");
        assert!((shares[5] - 0.4).abs() < 1e-12, "{shares:?}");
    }

    #[test]
    fn seq2seq_checkpoint_names_the_settings_that_differ() {
        let saved = setup(5, 0.0);
        let mut now = saved.clone();
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
