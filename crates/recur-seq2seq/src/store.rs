//! A trained encoder–decoder on disk: `seq2seq.json` (architecture, tokenizers, length limits,
//! the training settings for the record), `source_vocab.json`, `target_vocab.json` and
//! `model.safetensors` (PyTorch-style names; its metadata repeats the architecture, so files
//! from two different saves are refused rather than half-loaded). Every file is written to a
//! temporary name and renamed into place.

use crate::model::{Seq2Seq, Seq2SeqConfig};
use crate::options::TrainOptions;
use crate::pairs::PairFormat;
use crate::search::{decode_parallel, Hypothesis, SearchOptions};
use crate::vocab::{Tokenizer, Vocab, VocabError};
use recur_nn::model_dir::{read_params, tensors_to_bytes, write_atomic, WEIGHTS_FILE};
use recur_nn::NnError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The settings file of a model directory.
pub const SETTINGS_FILE: &str = "seq2seq.json";
/// The source vocabulary's file.
pub const SOURCE_VOCAB_FILE: &str = "source_vocab.json";
/// The target vocabulary's file.
pub const TARGET_VOCAB_FILE: &str = "target_vocab.json";
/// Metadata key of the architecture inside the weights.
const ARCHITECTURE_METADATA: &str = "recur_seq2seq";
/// Largest settings file read (it is a few hundred bytes).
const MAX_SETTINGS_BYTES: u64 = 1 << 20;

/// What besides the weights a model directory holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The architecture.
    pub model: Seq2SeqConfig,
    /// The pair format trained on (how `eval` reads pairs by default).
    pub format: PairFormat,
    /// How source text becomes tokens.
    pub source_tokenizer: Tokenizer,
    /// How target text becomes tokens (and outputs are joined).
    pub target_tokenizer: Tokenizer,
    /// Longest source accepted, in tokens.
    pub max_source_len: usize,
    /// Longest output searched for, in tokens.
    pub max_target_len: usize,
    /// The training settings, for the record.
    pub training: TrainOptions,
}

/// Why a model directory cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file could not be read or written.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause, written in the message (so not a `source`: see `NnError::Io`).
        error: std::io::Error,
    },
    /// A file was read but is not what it must be.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A vocabulary file.
    #[error(transparent)]
    Vocab(#[from] VocabError),
    /// The weights.
    #[error(transparent)]
    Nn(#[from] NnError),
}

/// A trained model with what it needs to read text and write text.
#[derive(Clone)]
pub struct Translator {
    /// Tokenizers, limits, architecture.
    pub settings: Settings,
    /// Source tokens.
    pub source: Vocab,
    /// Target tokens.
    pub target: Vocab,
    /// The network.
    pub model: Seq2Seq<f32>,
}

/// One output for a source.
#[derive(Clone, Debug, PartialEq)]
pub struct Translation {
    /// The target tokens (EOS excluded).
    pub tokens: Vec<String>,
    /// The tokens joined as the target tokenizer writes text.
    pub text: String,
    /// The length-normalised score outputs are ranked by.
    pub score: f64,
    /// The summed log-probability of the tokens and the EOS.
    pub log_prob: f64,
    /// Per output step (EOS included), the weights over the source tokens (when asked for).
    pub attention: Vec<Vec<f32>>,
}

/// One source made ready for the decoder: its tokens and their ids.
#[derive(Clone, Debug, PartialEq)]
pub struct EncodedSource {
    /// The source's tokens, as the model's source tokenizer cuts them.
    pub tokens: Vec<String>,
    /// Their ids in the source vocabulary (`<unk>` for tokens never seen in training).
    pub ids: Vec<u32>,
    /// How many tokens were never seen in training.
    pub unknown: usize,
}

/// Source texts encoded together ([`Translator::encode_all`]).
#[derive(Clone, Debug, PartialEq)]
pub struct EncodedTexts {
    /// The texts, in order.
    pub texts: Vec<String>,
    /// Each one encoded.
    pub sources: Vec<EncodedSource>,
    /// Tokens never seen in training over all of them (read as `<unk>`).
    pub unknown: usize,
}

impl Translator {
    /// Encodes source texts as [`Translator::encode`] does, each given with the place that
    /// names it in a message (`in.txt:3`, `sources[2]`): the first one refused is an input
    /// error `place: why`.
    pub fn encode_all(
        &self,
        texts: impl IntoIterator<Item = (String, String)>,
        strict: bool,
    ) -> Result<EncodedTexts, NnError> {
        let mut encoded = EncodedTexts {
            texts: Vec::new(),
            sources: Vec::new(),
            unknown: 0,
        };
        for (place, text) in texts {
            let source = self
                .encode(&text, strict)
                .map_err(|e| NnError::Setting(format!("{place}: {e}")))?;
            encoded.unknown += source.unknown;
            encoded.texts.push(text);
            encoded.sources.push(source);
        }
        Ok(encoded)
    }

    /// Tokenises and encodes one source text, refusing an empty one, one longer than the model
    /// accepts and (with `strict`) one with tokens never seen in training, in words a caller
    /// can put after the source's place (`file:line: …`).
    pub fn encode(&self, text: &str, strict: bool) -> Result<EncodedSource, String> {
        let tokens = self.settings.source_tokenizer.tokenize(text);
        if tokens.is_empty() {
            return Err("empty input".into());
        }
        if tokens.len() > self.settings.max_source_len {
            return Err(format!(
                "{} tokens, longer than this model accepts ({})",
                tokens.len(),
                self.settings.max_source_len
            ));
        }
        let (ids, unknown) = self.source.encode(&tokens);
        if unknown > 0 && strict {
            let bad: Vec<&str> = tokens
                .iter()
                .filter(|tok| self.source.id(tok).is_none())
                .map(String::as_str)
                .collect();
            return Err(format!("tokens never seen in training: {}", bad.join(" ")));
        }
        Ok(EncodedSource { tokens, ids, unknown })
    }

    /// Beam-search settings for this model, checked: a `beam` of 1..=100 (1: greedy), the
    /// `nbest` outputs wanted (at most the beam), the length penalty `alpha`, at most `max_len`
    /// output tokens (default: the model's own limit) and whether to keep the attention weights.
    pub fn search_options(
        &self,
        beam: usize,
        nbest: usize,
        alpha: f64,
        max_len: Option<usize>,
        attention: bool,
    ) -> Result<SearchOptions, String> {
        if beam == 0 || beam > 100 {
            return Err(format!("beam must be in 1..=100, got {beam}"));
        }
        Ok(SearchOptions {
            beam,
            nbest: nbest.clamp(1, beam),
            alpha,
            max_len: max_len.unwrap_or(self.settings.max_target_len).clamp(1, 10_000),
            attention,
        })
    }

    /// Translates encoded sources ([`Translator::encode`]) on `threads` cores: for each, its
    /// `options.nbest` best outputs, best first.
    pub fn translate(
        &self,
        sources: &[EncodedSource],
        options: &SearchOptions,
        threads: usize,
    ) -> Result<Vec<Vec<Translation>>, NnError> {
        let ids: Vec<Vec<u32>> = sources.iter().map(|s| s.ids.clone()).collect();
        let outputs = decode_parallel(&self.model, &ids, options, threads)?;
        Ok(outputs
            .into_iter()
            .map(|hyps| hyps.into_iter().map(|h| self.translation(h)).collect())
            .collect())
    }

    /// A hypothesis as target tokens and text.
    fn translation(&self, h: Hypothesis) -> Translation {
        let tokens = self.target.decode(&h.tokens);
        Translation {
            text: self.settings.target_tokenizer.join(&tokens),
            tokens,
            score: h.score,
            log_prob: h.log_prob,
            attention: h.attention,
        }
    }

    /// Writes the directory (created if needed).
    pub fn save(&self, dir: &Path) -> Result<(), StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            path: dir.to_path_buf(),
            error: source,
        })?;
        write_atomic(&dir.join(WEIGHTS_FILE), &weights_to_bytes(&self.model)?)?;
        self.source.save(&dir.join(SOURCE_VOCAB_FILE))?;
        self.target.save(&dir.join(TARGET_VOCAB_FILE))?;
        let settings = serde_json::to_string_pretty(&self.settings).expect("settings serialise");
        write_atomic(&dir.join(SETTINGS_FILE), settings.as_bytes())?;
        Ok(())
    }

    /// Reads a directory written by [`Translator::save`], checking that its parts agree.
    pub fn load(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join(SETTINGS_FILE);
        let invalid = |path: &Path, message: String| StoreError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Io { path, error: source }
        };
        let size = std::fs::metadata(&path).map_err(io(&path))?.len();
        if size > MAX_SETTINGS_BYTES {
            return Err(invalid(&path, format!("{size} bytes is too large for a settings file")));
        }
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        let settings: Settings =
            serde_json::from_str(&text).map_err(|e| invalid(&path, format!("not a seq2seq settings file ({e})")))?;
        settings.model.validate().map_err(|e| invalid(&path, e.to_string()))?;
        let source = Vocab::load(&dir.join(SOURCE_VOCAB_FILE))?;
        let target = Vocab::load(&dir.join(TARGET_VOCAB_FILE))?;
        for (vocab, size, file) in [
            (&source, settings.model.source_vocab, SOURCE_VOCAB_FILE),
            (&target, settings.model.target_vocab, TARGET_VOCAB_FILE),
        ] {
            if vocab.len() != size {
                return Err(invalid(
                    &dir.join(file),
                    format!("{} tokens, but {SETTINGS_FILE} says {size}", vocab.len()),
                ));
            }
        }
        let mut model = Seq2Seq::for_loading(settings.model.clone())?;
        read_weights(&mut model, &dir.join(WEIGHTS_FILE))?;
        Ok(Translator {
            settings,
            source,
            target,
            model,
        })
    }
}

/// The model's weights as safetensors bytes, its architecture in the metadata.
pub(crate) fn weights_to_bytes(model: &Seq2Seq<f32>) -> Result<Vec<u8>, NnError> {
    let architecture = serde_json::to_string(model.config()).expect("config serialises");
    tensors_to_bytes(model.named_params(), &[(ARCHITECTURE_METADATA, architecture)])
}

/// Reads weights written by [`weights_to_bytes`] from `path` into `model`, refusing tensors of
/// other names or shapes and weights saved with another architecture.
pub(crate) fn read_weights(model: &mut Seq2Seq<f32>, path: &Path) -> Result<(), StoreError> {
    let bytes = std::fs::read(path).map_err(|source| StoreError::Io {
        path: path.to_path_buf(),
        error: source,
    })?;
    let names = model.named_params().into_iter().map(|(n, _)| n).collect();
    let config = model.config().clone();
    let metadata = read_params(names, model.params_mut(), &bytes, &path.display().to_string())?;
    let same = metadata
        .get(ARCHITECTURE_METADATA)
        .is_none_or(|saved| serde_json::from_str::<Seq2SeqConfig>(saved).is_ok_and(|s| s == config));
    if !same {
        return Err(StoreError::Invalid {
            path: path.to_path_buf(),
            message: format!("these weights were saved with another architecture than {SETTINGS_FILE} describes"),
        });
    }
    Ok(())
}
