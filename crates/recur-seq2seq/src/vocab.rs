//! Token vocabularies: how text becomes tokens ([`Tokenizer`]) and tokens become ids ([`Vocab`]),
//! with the four special ids every sequence-to-sequence model needs at fixed places.

use recur_nn::model_dir::write_atomic;
use recur_nn::NnError;
use recur_train::distributed::Collective;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// How often each token occurs in `seqs`.
fn token_counts<'a>(seqs: impl IntoIterator<Item = &'a [String]>) -> HashMap<String, u64> {
    let mut counts: HashMap<&'a str, u64> = HashMap::new();
    for seq in seqs {
        for t in seq {
            *counts.entry(t.as_str()).or_insert(0) += 1;
        }
    }
    counts.into_iter().map(|(t, c)| (t.to_string(), c)).collect()
}

/// Token counts as 64-bit words for a gather across ranks: per token its count, its length in
/// bytes, then its UTF-8 bytes eight to a word (sorted, so the words do not depend on hashing).
fn pack_counts(counts: &HashMap<String, u64>) -> Vec<u64> {
    let mut sorted: Vec<(&String, &u64)> = counts.iter().collect();
    sorted.sort();
    let mut words = Vec::new();
    for (token, &count) in sorted {
        words.extend([count, token.len() as u64]);
        words.extend(token.as_bytes().chunks(8).map(|c| {
            let mut b = [0u8; 8];
            b[..c.len()].copy_from_slice(c);
            u64::from_le_bytes(b)
        }));
    }
    words
}

/// The (token, count) pairs of one or more [`pack_counts`] outputs one after another.
fn unpack_counts(words: &[u64]) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 2 <= words.len() {
        let (count, len) = (words[at], words[at + 1] as usize);
        let chunks = len.div_ceil(8);
        let Some(body) = words.get(at + 2..at + 2 + chunks) else {
            break;
        };
        let mut bytes: Vec<u8> = body.iter().flat_map(|w| w.to_le_bytes()).collect();
        bytes.truncate(len);
        out.push((String::from_utf8_lossy(&bytes).into_owned(), count));
        at += 2 + chunks;
    }
    out
}

/// How a text is cut into tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tokenizer {
    /// Every Unicode scalar value is a token (spaces included); tokens join with "".
    Chars,
    /// Runs of non-whitespace are tokens; tokens join with one space.
    Whitespace,
}

impl Tokenizer {
    /// The tokens of `text`.
    pub fn tokenize(&self, text: &str) -> Vec<String> {
        match self {
            Tokenizer::Chars => text.chars().map(String::from).collect(),
            Tokenizer::Whitespace => text.split_whitespace().map(String::from).collect(),
        }
    }

    /// How many tokens `text` has, without allocating them (to refuse an over-long line first).
    pub fn count(&self, text: &str) -> usize {
        match self {
            Tokenizer::Chars => text.chars().count(),
            Tokenizer::Whitespace => text.split_whitespace().count(),
        }
    }

    /// Tokens back to text (the inverse of [`Tokenizer::tokenize`] up to whitespace runs).
    pub fn join(&self, tokens: &[String]) -> String {
        match self {
            Tokenizer::Chars => tokens.concat(),
            Tokenizer::Whitespace => tokens.join(" "),
        }
    }
}

impl std::str::FromStr for Tokenizer {
    type Err = String;

    /// Parses "chars" or "whitespace" (as written on a command line).
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "chars" | "char" => Ok(Tokenizer::Chars),
            "whitespace" | "words" => Ok(Tokenizer::Whitespace),
            _ => Err(format!("unknown tokenizer `{s}` (expected chars or whitespace)")),
        }
    }
}

impl std::fmt::Display for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Tokenizer::Chars => "chars",
            Tokenizer::Whitespace => "whitespace",
        })
    }
}

/// The largest vocabulary read from a file; anything bigger is taken for a wrong file.
pub const MAX_VOCAB: usize = 1_000_000;

/// The largest vocabulary file read (bytes), checked before reading it.
pub const MAX_VOCAB_FILE_BYTES: u64 = 64 << 20;

/// What can go wrong saving or loading a vocabulary.
#[derive(Debug, thiserror::Error)]
pub enum VocabError {
    /// The file could not be read or written.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// The system's reason, written in the message (so not a `source`: see `NnError::Io`).
        error: std::io::Error,
    },
    /// The file is not the JSON a vocabulary is saved as.
    #[error("{path}: not a vocabulary file: {error}")]
    Json {
        /// The file.
        path: String,
        /// The parser's reason, written in the message (so not a `source`: see `NnError::Io`).
        error: serde_json::Error,
    },
    /// The file parsed but does not describe a usable vocabulary.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// A token ↔ id map. Ids 0..4 are the specials [`Vocab::PAD`], [`Vocab::SOS`], [`Vocab::EOS`] and
/// [`Vocab::UNK`]; the data's tokens follow, most frequent first.
#[derive(Clone, Debug)]
pub struct Vocab {
    tokens: Vec<String>,
    ids: HashMap<String, u32>,
}

/// The saved form: the tokens in id order.
#[derive(Serialize, Deserialize)]
struct VocabFile {
    tokens: Vec<String>,
}

impl PartialEq for Vocab {
    fn eq(&self, other: &Self) -> bool {
        // The id map is derived from the token list.
        self.tokens == other.tokens
    }
}

impl Vocab {
    /// Padding: fills batches to one length; never predicted, never scored.
    pub const PAD: u32 = 0;
    /// Start of sequence: the decoder's first input.
    pub const SOS: u32 = 1;
    /// End of sequence: the decoder's last target; decoding stops there.
    pub const EOS: u32 = 2;
    /// A token not in the vocabulary.
    pub const UNK: u32 = 3;
    /// The specials' spellings, in id order.
    pub const SPECIALS: [&'static str; 4] = ["<pad>", "<s>", "</s>", "<unk>"];

    /// A vocabulary of the tokens seen at least `min_count` times (0 counts as 1) in `seqs`,
    /// ordered by count (descending), then by token, so the same data always gives the same ids.
    /// A data token spelled like a special is not added: it stays unknown, so text can never
    /// inject a PAD or EOS.
    pub fn build<'a>(seqs: impl IntoIterator<Item = &'a [String]>, min_count: usize) -> Vocab {
        Self::from_counts(token_counts(seqs), min_count)
    }

    /// [`Vocab::build`] over the sequences of every MPI rank in `group`, each holding a part of
    /// the data: the ranks' token counts are added, so every rank gets the same vocabulary, the
    /// one a single process would build from all the parts.
    pub fn build_across<'a>(
        seqs: impl IntoIterator<Item = &'a [String]>,
        min_count: usize,
        group: &dyn Collective,
    ) -> Vocab {
        let mut counts: HashMap<String, u64> = HashMap::new();
        let words = group.gather_u64s(&pack_counts(&token_counts(seqs)));
        for (token, count) in unpack_counts(&words) {
            *counts.entry(token).or_insert(0) += count;
        }
        Self::from_counts(counts, min_count)
    }

    /// The vocabulary of tokens counted at least `min_count` times, ordered as [`Vocab::build`]
    /// says.
    fn from_counts(counts: HashMap<String, u64>, min_count: usize) -> Vocab {
        let mut kept: Vec<(String, u64)> = counts
            .into_iter()
            .filter(|(t, c)| *c >= min_count.max(1) as u64 && !Self::SPECIALS.contains(&t.as_str()))
            .collect();
        kept.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let tokens = Self::SPECIALS
            .iter()
            .map(|s| s.to_string())
            .chain(kept.into_iter().map(|(t, _)| t))
            .collect();
        Self::from_tokens(tokens)
    }

    /// Builds the id map of a token list already checked for duplicates.
    fn from_tokens(tokens: Vec<String>) -> Vocab {
        let ids = tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
        Vocab { tokens, ids }
    }

    /// Number of ids, the specials included.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Always false: the specials are always there (kept for the `len` convention).
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// All tokens in id order, the specials first.
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    /// The id of a data token, `None` for unknown tokens and for the specials' spellings.
    pub fn id(&self, token: &str) -> Option<u32> {
        self.ids.get(token).copied().filter(|&i| i > Self::UNK)
    }

    /// The ids of `tokens` (no SOS or EOS added) and how many were unknown (mapped to UNK).
    pub fn encode(&self, tokens: &[String]) -> (Vec<u32>, usize) {
        let mut unknown = 0;
        let ids = tokens
            .iter()
            .map(|t| {
                self.id(t).unwrap_or_else(|| {
                    unknown += 1;
                    Self::UNK
                })
            })
            .collect();
        (ids, unknown)
    }

    /// The tokens of `ids` up to the first EOS, skipping PAD and SOS; UNK and ids out of range
    /// read as `"<unk>"`.
    pub fn decode(&self, ids: &[u32]) -> Vec<String> {
        ids.iter()
            .take_while(|&&i| i != Self::EOS)
            .filter(|&&i| i != Self::PAD && i != Self::SOS)
            .map(|&i| self.token(i).to_string())
            .collect()
    }

    /// The spelling of `id` (`"<unk>"` for an id out of range).
    pub fn token(&self, id: u32) -> &str {
        self.tokens
            .get(id as usize)
            .map_or(Self::SPECIALS[Self::UNK as usize], String::as_str)
    }

    /// Saves as JSON (`{"tokens": [...]}` in id order), atomically: a temporary file, then rename.
    pub fn save(&self, path: &Path) -> Result<(), VocabError> {
        let io = |source| VocabError::Io {
            path: path.display().to_string(),
            error: source,
        };
        let file = VocabFile {
            tokens: self.tokens.clone(),
        };
        let text = serde_json::to_string_pretty(&file).map_err(|source| VocabError::Json {
            path: path.display().to_string(),
            error: source,
        })?;
        write_atomic(path, (text + "\n").as_bytes()).map_err(|e| match e {
            NnError::Io { error, .. } => io(error),
            other => io(std::io::Error::other(other.to_string())),
        })
    }

    /// Loads a vocabulary saved by [`Vocab::save`], checking its size, that ids 0..4 are the
    /// specials, and that no token appears twice.
    pub fn load(path: &Path) -> Result<Vocab, VocabError> {
        let name = path.display().to_string();
        let io = |source| VocabError::Io {
            path: name.clone(),
            error: source,
        };
        let invalid = |message: String| VocabError::Invalid {
            path: name.clone(),
            message,
        };
        let size = std::fs::metadata(path).map_err(io)?.len();
        if size > MAX_VOCAB_FILE_BYTES {
            return Err(invalid(format!(
                "{size} bytes is more than a vocabulary file may hold ({MAX_VOCAB_FILE_BYTES})"
            )));
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        let file: VocabFile = serde_json::from_str(&text).map_err(|source| VocabError::Json {
            path: name.clone(),
            error: source,
        })?;
        if file.tokens.len() > MAX_VOCAB {
            return Err(invalid(format!(
                "{} tokens, more than the limit of {MAX_VOCAB}",
                file.tokens.len()
            )));
        }
        for (i, special) in Self::SPECIALS.iter().enumerate() {
            if file.tokens.get(i).map(String::as_str) != Some(*special) {
                return Err(invalid(format!("id {i} must be the special token `{special}`")));
            }
        }
        let vocab = Self::from_tokens(file.tokens);
        if vocab.ids.len() != vocab.tokens.len() {
            let mut seen = std::collections::HashSet::new();
            let dup = vocab
                .tokens
                .iter()
                .find(|t| !seen.insert(t.as_str()))
                .cloned()
                .unwrap_or_default();
            return Err(invalid(format!("token `{dup}` appears more than once")));
        }
        Ok(vocab)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<String> {
        Tokenizer::Whitespace.tokenize(s)
    }

    /// A group of one process: every collective returns its input.
    struct Alone;

    impl Collective for Alone {
        fn rank(&self) -> usize {
            0
        }
        fn size(&self) -> usize {
            1
        }
        fn sum_f32(&self, _: &mut [f32]) {}
        fn sum_f64(&self, _: &mut [f64]) {}
        fn gather_u64(&self, value: u64) -> Vec<u64> {
            vec![value]
        }
    }

    #[test]
    fn vocab_counts_packed_for_ranks_come_back_whole_and_add_up() {
        let part = |text: &str| vec![toks(text)];
        let a = token_counts(part("ab ab héllo-wörld-long ").iter().map(Vec::as_slice));
        let b = token_counts(part("ab zz").iter().map(Vec::as_slice));
        let words = [pack_counts(&a), pack_counts(&b)].concat();
        let mut merged: Vec<(String, u64)> = unpack_counts(&words);
        merged.sort();
        let expected = [("ab", 1), ("ab", 2), ("héllo-wörld-long", 1), ("zz", 1)];
        let expected: Vec<(String, u64)> = expected.iter().map(|(t, c)| (t.to_string(), *c)).collect();
        assert_eq!(merged, expected);
        let seqs = [toks("x y y z"), toks("y q")];
        let alone = Vocab::build_across(seqs.iter().map(Vec::as_slice), 1, &Alone);
        assert_eq!(alone, Vocab::build(seqs.iter().map(Vec::as_slice), 1));
    }

    #[test]
    fn vocab_tokenizer_chars_and_whitespace_round_trip() {
        let c = Tokenizer::Chars.tokenize("ab c");
        assert_eq!(c, ["a", "b", " ", "c"]);
        assert_eq!(Tokenizer::Chars.join(&c), "ab c");
        let w = Tokenizer::Whitespace.tokenize("  HH  AH L OW ");
        assert_eq!(w, ["HH", "AH", "L", "OW"]);
        assert_eq!(Tokenizer::Whitespace.join(&w), "HH AH L OW");
        assert_eq!(
            (Tokenizer::Chars.count("ab c"), Tokenizer::Whitespace.count(" a  b ")),
            (4, 2)
        );
        assert_eq!("chars".parse::<Tokenizer>(), Ok(Tokenizer::Chars));
        assert_eq!("Whitespace".parse::<Tokenizer>(), Ok(Tokenizer::Whitespace));
        assert!("bytes".parse::<Tokenizer>().is_err());
        assert_eq!(serde_json::to_string(&Tokenizer::Chars).unwrap(), "\"chars\"");
    }

    #[test]
    fn vocab_build_orders_by_count_then_token_and_drops_rare() {
        let seqs = [toks("b a c a b a"), toks("d b <s>")];
        let v = Vocab::build(seqs.iter().map(Vec::as_slice), 1);
        assert_eq!(v.tokens()[..4], Vocab::SPECIALS.map(String::from));
        // a×3, b×3 (tie broken by token), c×1, d×1; the data's "<s>" is not a new token.
        assert_eq!(v.tokens()[4..], ["a", "b", "c", "d"]);
        assert_eq!(v.len(), 8);
        let v2 = Vocab::build(seqs.iter().map(Vec::as_slice), 2);
        assert_eq!(v2.tokens()[4..], ["a", "b"]);
        // Deterministic whatever the hash map's order.
        assert_eq!(v, Vocab::build(seqs.iter().map(Vec::as_slice), 0));
    }

    #[test]
    fn vocab_encode_counts_unknown_and_decode_stops_at_eos() {
        let seqs = [toks("x y y")];
        let v = Vocab::build(seqs.iter().map(Vec::as_slice), 1);
        let (ids, unk) = v.encode(&toks("y x z </s>"));
        // A data token spelled like a special is unknown, never EOS.
        assert_eq!((ids.as_slice(), unk), ([4, 5, Vocab::UNK, Vocab::UNK].as_slice(), 2));
        let out = v.decode(&[Vocab::SOS, 5, Vocab::PAD, 4, Vocab::UNK, 99, Vocab::EOS, 4]);
        assert_eq!(out, ["x", "y", "<unk>", "<unk>"]);
        assert_eq!(v.token(Vocab::EOS), "</s>");
        assert_eq!(v.token(1000), "<unk>");
        assert_eq!(v.id("y"), Some(4));
        assert_eq!(v.id("<pad>"), None);
    }

    #[test]
    fn vocab_save_load_round_trip_and_validation() {
        let dir = std::env::temp_dir().join(format!("recur-vocab-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("vocab.json");
        let seqs = [Tokenizer::Chars.tokenize("héllo wörld")];
        let v = Vocab::build(seqs.iter().map(Vec::as_slice), 1);
        v.save(&path).unwrap();
        assert_eq!(Vocab::load(&path).unwrap(), v);

        let bad = |text: &str, want: &str| {
            std::fs::write(&path, text).unwrap();
            let e = Vocab::load(&path).unwrap_err().to_string();
            assert!(e.contains(want) && e.contains("vocab.json"), "{e}");
        };
        bad(
            r#"{"tokens": ["<pad>", "<s>", "</s>"]}"#,
            "id 3 must be the special token `<unk>`",
        );
        bad(r#"{"tokens": ["<s>", "<pad>", "</s>", "<unk>"]}"#, "id 0 must be");
        bad(
            r#"{"tokens": ["<pad>", "<s>", "</s>", "<unk>", "a", "b", "a"]}"#,
            "`a` appears more than once",
        );
        bad(r#"{"tokens": "abc"}"#, "not a vocabulary file");
        bad("", "not a vocabulary file");
        let e = Vocab::load(&dir.join("missing.json")).unwrap_err().to_string();
        assert!(e.contains("missing.json"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
