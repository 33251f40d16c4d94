//! The settings of a seq2seq training run with their defaults, as `recur seq2seq train` and the
//! Python package's `Seq2Seq` both take them, their checks, and their translation into the
//! architecture ([`Seq2SeqConfig`]) and training options ([`TrainOptions`]) of a [`TrainJob`]:
//! one definition for every front end, so the same settings train the same model from either.

use crate::job::TrainJob;
use crate::model::{CellKind, Seq2SeqConfig};
use crate::options::TrainOptions;
use crate::pairs::{Pair, PairFormat};
use crate::vocab::Tokenizer;
use recur_nn::NnError;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Share of the sources held out to score each epoch unless told.
pub const VAL_SPLIT: f64 = 0.05;
/// Minutes after which no epoch starts unless told.
pub const MAX_MINUTES: f64 = 40.0;

/// A seq2seq training run's settings; read from JSON (the Python package), every field is
/// optional and takes its default. `recur seq2seq train`'s flags of the same names (`-` for
/// `_`) set them. The architecture's and the optimiser's defaults are those of
/// [`Seq2SeqConfig::default`] and [`TrainOptions::default`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainSettings {
    /// How sources split into tokens (default: the pair format's, characters).
    pub source_tokens: Option<Tokenizer>,
    /// How targets split into tokens (default: the pair format's, characters for TSV and
    /// whitespace-separated phonemes for CMUdict).
    pub target_tokens: Option<Tokenizer>,
    /// Share of the sources held out to score each epoch (all pairs of a source go together).
    pub val_split: f64,
    /// Width of the source and target embeddings.
    pub embedding: usize,
    /// Recurrent cell of encoder and decoder.
    pub cell: CellKind,
    /// Units per direction of each encoder layer.
    pub encoder_units: usize,
    /// Encoder layers.
    pub encoder_layers: usize,
    /// Read the source one way only (the default reads it both ways).
    pub unidirectional: bool,
    /// Units of the decoder.
    pub decoder_units: usize,
    /// Attention score: `dot`, `general` (Luong) or `additive` (Bahdanau).
    pub attention: String,
    /// Do not feed the attentional state into the next decoder step.
    pub no_input_feeding: bool,
    /// Dropout on embeddings, between encoder layers and on the attentional state.
    pub dropout: f64,
    /// Passes over the training pairs at most.
    pub epochs: usize,
    /// Pairs per step.
    pub batch: usize,
    /// Adam's learning rate.
    pub lr: f64,
    /// Label smoothing of the cross-entropy.
    pub label_smoothing: f64,
    /// Clip the global gradient norm to this.
    pub clip: f64,
    /// Halve the learning rate after this many epochs without a better validation WER.
    pub lr_patience: usize,
    /// Stop after this many epochs without a better validation WER.
    pub patience: usize,
    /// Start no epoch after this many minutes (0: no limit).
    pub max_minutes: f64,
    /// Beam for the validation score (1 = greedy, fastest).
    pub val_beam: usize,
    /// Cores to train on.
    pub threads: usize,
    /// Seed of initialisation, shuffling, dropout and the held-out sources.
    pub seed: u64,
    /// Scheduled sampling: the largest share of decoder inputs fed the model's own previous
    /// prediction, reached at the last epoch from 0 at the first (0: teacher forcing only).
    pub scheduled_sampling: f64,
}

impl Default for TrainSettings {
    fn default() -> Self {
        let model = Seq2SeqConfig::default();
        let options = TrainOptions::default();
        TrainSettings {
            source_tokens: None,
            target_tokens: None,
            val_split: VAL_SPLIT,
            embedding: model.embedding,
            cell: model.cell,
            encoder_units: model.encoder_units,
            encoder_layers: model.encoder_layers,
            unidirectional: !model.bidirectional,
            decoder_units: model.decoder_units,
            attention: model.attention,
            no_input_feeding: !model.input_feeding,
            dropout: model.dropout,
            epochs: options.epochs,
            batch: options.batch,
            lr: options.lr,
            label_smoothing: options.label_smoothing,
            clip: options.clip,
            lr_patience: options.lr_patience,
            patience: options.patience,
            max_minutes: MAX_MINUTES,
            val_beam: options.val_beam,
            threads: options.threads,
            seed: options.seed,
            scheduled_sampling: options.scheduled_sampling,
        }
    }
}

impl TrainSettings {
    /// Refuses settings that cannot work; `name` spells a setting as the front end's user
    /// gives it (`val_split` or `--val-split`). The architecture's sizes and rates are checked
    /// as the model checks them (named as its fields are).
    pub fn check(&self, name: impl Fn(&str) -> String) -> Result<(), NnError> {
        let bad = |setting: &str, what: &str, value: String| {
            Err(NnError::Setting(format!(
                "{} must be {what}, got {value}",
                name(setting)
            )))
        };
        if !(self.val_split > 0.0 && self.val_split < 1.0) {
            return bad("val_split", "in (0, 1)", self.val_split.to_string());
        }
        if !(0.0..=1.0).contains(&self.scheduled_sampling) {
            return bad("scheduled_sampling", "in [0, 1]", self.scheduled_sampling.to_string());
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return bad("label_smoothing", "in [0, 1)", self.label_smoothing.to_string());
        }
        for (setting, value) in [("lr", self.lr), ("clip", self.clip)] {
            if !(value > 0.0 && value.is_finite()) {
                return bad(setting, "a positive number", value.to_string());
            }
        }
        if !(self.max_minutes >= 0.0 && self.max_minutes.is_finite()) {
            return bad("max_minutes", "at least 0", self.max_minutes.to_string());
        }
        for (setting, value) in [
            ("epochs", self.epochs),
            ("batch", self.batch),
            ("val_beam", self.val_beam),
        ] {
            if value == 0 {
                return bad(setting, "at least 1", value.to_string());
            }
        }
        // The vocabularies come from the data; the smallest valid size stands in for them.
        let smallest = Seq2SeqConfig {
            source_vocab: 5,
            target_vocab: 5,
            ..self.model_config()
        };
        smallest.validate().map(drop)
    }

    /// The tokenizers of pairs in `format`: those set, else the format's own.
    pub fn tokenizers(&self, format: PairFormat) -> (Tokenizer, Tokenizer) {
        let (source, target) = format.default_tokenizers();
        (
            self.source_tokens.unwrap_or(source),
            self.target_tokens.unwrap_or(target),
        )
    }

    /// The architecture asked for (vocabulary sizes come from the data).
    pub fn model_config(&self) -> Seq2SeqConfig {
        Seq2SeqConfig {
            source_vocab: 0,
            target_vocab: 0,
            embedding: self.embedding,
            cell: self.cell,
            encoder_units: self.encoder_units,
            encoder_layers: self.encoder_layers,
            bidirectional: !self.unidirectional,
            decoder_units: self.decoder_units,
            attention: self.attention.clone(),
            input_feeding: !self.no_input_feeding,
            dropout: self.dropout,
        }
    }

    /// The training options asked for.
    pub fn train_options(&self) -> TrainOptions {
        TrainOptions {
            epochs: self.epochs,
            batch: self.batch,
            lr: self.lr,
            label_smoothing: self.label_smoothing,
            clip: self.clip,
            lr_patience: self.lr_patience,
            patience: self.patience,
            max_seconds: self.max_minutes * 60.0,
            val_beam: self.val_beam,
            threads: self.threads.max(1),
            seed: self.seed,
            scheduled_sampling: self.scheduled_sampling,
            rank_local: false,
        }
    }

    /// A fresh training job (not resumed, every pair on this process) on `pairs` read in
    /// `format`, writing its model to `out`; the settings checked first ([`TrainSettings::check`]).
    pub fn job(
        &self,
        pairs: Vec<Pair>,
        format: PairFormat,
        out: PathBuf,
        name: impl Fn(&str) -> String,
    ) -> Result<TrainJob, NnError> {
        self.check(name)?;
        let (source_tokenizer, target_tokenizer) = self.tokenizers(format);
        Ok(TrainJob {
            pairs,
            format,
            source_tokenizer,
            target_tokenizer,
            val_split: self.val_split,
            model: self.model_config(),
            options: self.train_options(),
            out,
            resume: false,
            parts: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq2seq_settings_from_json_take_the_command_line_defaults() {
        let given: TrainSettings = serde_json::from_str(r#"{"epochs": 3, "cell": "gru"}"#).unwrap();
        let expected = TrainSettings {
            epochs: 3,
            cell: CellKind::Gru,
            ..TrainSettings::default()
        };
        assert_eq!(given, expected);
        assert_eq!(
            (
                given.embedding,
                given.batch,
                given.val_split,
                given.max_minutes,
                given.attention.as_str()
            ),
            (64, 128, 0.05, 40.0, "general")
        );
        let unknown = serde_json::from_str::<TrainSettings>(r#"{"epoch": 3}"#).unwrap_err();
        assert!(unknown.to_string().contains("unknown field `epoch`"), "{unknown}");
    }

    #[test]
    fn seq2seq_settings_checks_name_the_setting_as_the_front_end_spells_it() {
        let flag = |n: &str| format!("--{}", n.replace('_', "-"));
        let cases = [
            (
                TrainSettings {
                    val_split: 0.0,
                    ..TrainSettings::default()
                },
                "--val-split must be in (0, 1)",
            ),
            (
                TrainSettings {
                    batch: 0,
                    ..TrainSettings::default()
                },
                "--batch must be at least 1",
            ),
            (
                TrainSettings {
                    lr: f64::NAN,
                    ..TrainSettings::default()
                },
                "--lr must be a positive number",
            ),
            (
                TrainSettings {
                    scheduled_sampling: 2.0,
                    ..TrainSettings::default()
                },
                "--scheduled-sampling must be in [0, 1]",
            ),
            (
                TrainSettings {
                    attention: "luong".into(),
                    ..TrainSettings::default()
                },
                "unknown attention `luong`",
            ),
        ];
        for (settings, message) in cases {
            let e = settings.check(flag).unwrap_err().to_string();
            assert!(e.contains(message), "{e}");
        }
        assert!(TrainSettings::default().check(flag).is_ok());
    }

    #[test]
    fn seq2seq_settings_build_the_default_architecture_and_options() {
        let s = TrainSettings::default();
        assert_eq!(s.model_config(), Seq2SeqConfig::default());
        let options = TrainOptions {
            max_seconds: MAX_MINUTES * 60.0,
            ..TrainOptions::default()
        };
        assert_eq!(s.train_options(), options);
        assert_eq!(
            s.tokenizers(PairFormat::Cmudict),
            (Tokenizer::Chars, Tokenizer::Whitespace)
        );
    }
}
