//! Source → target pairs read from text files: `source<TAB>target` lines, or the CMU Pronouncing
//! Dictionary's own format (`word PH PH …`, alternates as `word(2) …`, `# comment` tails), scored
//! as grapheme-to-phoneme papers do (stress digits removed, each word with all its references).

use crate::vocab::Tokenizer;
use recur_core::Rng;
use recur_train::distributed::Fingerprint;
use std::collections::HashMap;
use std::path::Path;

/// The most tokens one side of a pair may have; a longer line is taken for a broken file.
pub const MAX_LEN: usize = 1_000;

/// The largest pairs file read (bytes), checked before reading it.
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// How a pairs file is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PairFormat {
    /// One pair per line: `source<TAB>target`; blank lines are skipped.
    Tsv,
    /// The CMU Pronouncing Dictionary: `word PH PH …`; `word(2)` is another pronunciation of
    /// `word`; `# …` tails and `;;;` comment lines are ignored; stress digits are removed
    /// (`AH0` → `AH`); the source is the lowercased word, the target its phonemes.
    Cmudict,
}

impl PairFormat {
    /// The usual tokenizers of the format: characters → characters for TSV, characters →
    /// whitespace-separated phonemes for CMUdict.
    pub fn default_tokenizers(&self) -> (Tokenizer, Tokenizer) {
        match self {
            PairFormat::Tsv => (Tokenizer::Chars, Tokenizer::Chars),
            PairFormat::Cmudict => (Tokenizer::Chars, Tokenizer::Whitespace),
        }
    }
}

impl std::str::FromStr for PairFormat {
    type Err = String;

    /// Parses "tsv" or "cmudict" (as written on a command line).
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "tsv" => Ok(PairFormat::Tsv),
            "cmudict" => Ok(PairFormat::Cmudict),
            _ => Err(format!("unknown pair format `{s}` (expected tsv or cmudict)")),
        }
    }
}

impl std::fmt::Display for PairFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PairFormat::Tsv => "tsv",
            PairFormat::Cmudict => "cmudict",
        })
    }
}

/// One training or evaluation example.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pair {
    /// The input tokens.
    pub source: Vec<String>,
    /// The output tokens (no SOS/EOS).
    pub target: Vec<String>,
    /// The 1-based line it came from, for messages.
    pub line: usize,
}

/// What can go wrong reading pairs.
#[derive(Debug, thiserror::Error)]
pub enum PairError {
    /// The file could not be read.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// The system's reason, written in the message (so not a `source`: see `NnError::Io`).
        error: std::io::Error,
    },
    /// The file is larger than [`MAX_FILE_BYTES`].
    #[error("{path}: {size} bytes is more than a pairs file may hold ({limit})")]
    TooLarge {
        /// The file.
        path: String,
        /// Its size in bytes.
        size: u64,
        /// The limit in bytes.
        limit: u64,
    },
    /// A line is not a pair of the format.
    #[error("{path}:{line}: {message}")]
    Malformed {
        /// The file.
        path: String,
        /// The 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// One side of a line has more than `max_len` tokens.
    #[error("{path}:{line}: the {side} has {len} tokens, more than the limit of {max_len}")]
    TooLong {
        /// The file.
        path: String,
        /// The 1-based line.
        line: usize,
        /// "source" or "target".
        side: &'static str,
        /// Its number of tokens.
        len: usize,
        /// The limit.
        max_len: usize,
    },
    /// The file holds no pair at all.
    #[error("{path}: no pairs in the file")]
    Empty {
        /// The file.
        path: String,
    },
}

/// Reads the pairs of a file, cutting each side with its tokenizer (for CMUdict the target
/// tokenizer cuts the space-separated, stress-free phonemes: use [`Tokenizer::Whitespace`]).
pub fn read_pairs(
    path: &Path,
    format: PairFormat,
    source_tok: Tokenizer,
    target_tok: Tokenizer,
) -> Result<Vec<Pair>, PairError> {
    let name = path.display().to_string();
    let io = |source| PairError::Io {
        path: name.clone(),
        error: source,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > MAX_FILE_BYTES {
        return Err(PairError::TooLarge {
            path: name,
            size,
            limit: MAX_FILE_BYTES,
        });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = 1 + e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count();
        PairError::Malformed {
            path: name.clone(),
            line,
            message: "not UTF-8 text".into(),
        }
    })?;
    parse_pairs(&text, &name, format, source_tok, target_tok)
}

/// Parses the pairs of `text`; `origin` names it in messages (a path, or "-" for stdin).
pub fn parse_pairs(
    text: &str,
    origin: &str,
    format: PairFormat,
    source_tok: Tokenizer,
    target_tok: Tokenizer,
) -> Result<Vec<Pair>, PairError> {
    let mut pairs = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let malformed = |message: String| PairError::Malformed {
            path: origin.to_string(),
            line,
            message,
        };
        let fields = match format {
            PairFormat::Tsv => tsv_fields(raw),
            PairFormat::Cmudict => cmudict_fields(raw),
        }
        .map_err(malformed)?;
        let Some((source_text, target_text)) = fields else {
            continue;
        };
        pairs.push(tokenized_pair(
            &source_text,
            &target_text,
            (origin, line),
            source_tok,
            target_tok,
        )?);
    }
    if pairs.is_empty() {
        return Err(PairError::Empty {
            path: origin.to_string(),
        });
    }
    Ok(pairs)
}

/// Pairs given as texts rather than read from a file (the Python package's `fit`), cut and
/// checked as [`parse_pairs`] cuts and checks a TSV file's: surrounding whitespace dropped, no
/// side empty or longer than [`MAX_LEN`]. Messages name a pair `origin:N`, N counted from 1.
/// No pairs give none (the caller says what an empty list means to its user).
pub fn text_pairs(
    texts: &[(String, String)],
    origin: &str,
    source_tok: Tokenizer,
    target_tok: Tokenizer,
) -> Result<Vec<Pair>, PairError> {
    texts
        .iter()
        .enumerate()
        .map(|(i, (s, t))| tokenized_pair(s.trim(), t.trim(), (origin, i + 1), source_tok, target_tok))
        .collect()
}

/// One pair's sides cut into tokens, refusing an empty side or one over [`MAX_LEN`] tokens;
/// `(origin, line)` place it in messages.
fn tokenized_pair(
    source_text: &str,
    target_text: &str,
    (origin, line): (&str, usize),
    source_tok: Tokenizer,
    target_tok: Tokenizer,
) -> Result<Pair, PairError> {
    let side = |tok: Tokenizer, text: &str, side: &'static str| {
        let len = tok.count(text);
        if len == 0 {
            return Err(PairError::Malformed {
                path: origin.to_string(),
                line,
                message: format!("the {side} is empty"),
            });
        }
        if len > MAX_LEN {
            return Err(PairError::TooLong {
                path: origin.to_string(),
                line,
                side,
                len,
                max_len: MAX_LEN,
            });
        }
        Ok(tok.tokenize(text))
    };
    let source = side(source_tok, source_text, "source")?;
    let target = side(target_tok, target_text, "target")?;
    Ok(Pair { source, target, line })
}

/// The source and target text of a TSV line; `None` for a blank line. Surrounding whitespace of
/// each field is dropped (a stray space or `\r` is never a token).
fn tsv_fields(raw: &str) -> Result<Option<(String, String)>, String> {
    if raw.trim().is_empty() {
        return Ok(None);
    }
    let fields: Vec<&str> = raw.split('\t').collect();
    match fields.as_slice() {
        [s, t] => Ok(Some((s.trim().to_string(), t.trim().to_string()))),
        [_] => Err("no tab: expected `source<TAB>target`".into()),
        _ => Err(format!("{} tabs: expected one, `source<TAB>target`", fields.len() - 1)),
    }
}

/// The lowercased word and the stress-free phonemes (joined by spaces) of a CMUdict line;
/// `None` for a blank or comment line.
fn cmudict_fields(raw: &str) -> Result<Option<(String, String)>, String> {
    let body = raw.split('#').next().unwrap_or("");
    if body.trim().is_empty() || raw.starts_with(";;;") {
        return Ok(None);
    }
    let mut parts = body.split_whitespace();
    let word = parts.next().unwrap_or("");
    let word = strip_alternate(word).to_lowercase();
    let mut phones = Vec::new();
    for p in parts {
        let base = p.trim_end_matches(['0', '1', '2']);
        if base.is_empty() || !base.bytes().all(|b| b.is_ascii_uppercase()) || p.len() > base.len() + 1 {
            return Err(format!("`{p}` is not an ARPAbet phoneme (expected e.g. AH0 or K)"));
        }
        phones.push(base);
    }
    if phones.is_empty() {
        return Err(format!("`{word}` has no phonemes: expected `word PH PH …`"));
    }
    Ok(Some((word, phones.join(" "))))
}

/// `word` of an alternate pronunciation's `word(2)`; other words unchanged.
fn strip_alternate(word: &str) -> &str {
    match word.strip_suffix(')').and_then(|w| w.rsplit_once('(')) {
        Some((base, n)) if !base.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => base,
        _ => word,
    }
}

/// Each distinct source once, in order of first appearance, with all its targets (its
/// references), in file order.
pub fn group_by_source(pairs: &[Pair]) -> Vec<(Vec<String>, Vec<Vec<String>>)> {
    let mut at: HashMap<&[String], usize> = HashMap::new();
    let mut groups: Vec<(Vec<String>, Vec<Vec<String>>)> = Vec::new();
    for p in pairs {
        let k = *at.entry(p.source.as_slice()).or_insert_with(|| {
            groups.push((p.source.clone(), Vec::new()));
            groups.len() - 1
        });
        groups[k].1.push(p.target.clone());
    }
    groups
}

/// Splits into (train, validation) by source: `round(val_fraction × distinct sources)` sources,
/// drawn by a seeded shuffle, go to validation with all their pairs, so no word is on both sides.
/// Both parts keep file order. `val_fraction` is clamped to [0, 1] (NaN counts as 0).
///
/// The draw: distinct sources in order of first appearance, shuffled by [`Rng::shuffle`] with
/// `Rng::new(seed)`; the first ones are validation (`bench/seq2seq_pytorch.py` repeats it).
pub fn split_by_source(pairs: Vec<Pair>, val_fraction: f64, seed: u64) -> (Vec<Pair>, Vec<Pair>) {
    let mut index: HashMap<&[String], usize> = HashMap::new();
    let group: Vec<usize> = pairs
        .iter()
        .map(|p| {
            let next = index.len();
            *index.entry(p.source.as_slice()).or_insert(next)
        })
        .collect();
    let distinct = index.len();
    let fraction = if val_fraction.is_nan() {
        0.0
    } else {
        val_fraction.clamp(0.0, 1.0)
    };
    let n_val = ((distinct as f64 * fraction).round() as usize).min(distinct);
    let mut order: Vec<usize> = (0..distinct).collect();
    Rng::new(seed).shuffle(&mut order);
    let mut in_val = vec![false; distinct];
    for &g in &order[..n_val] {
        in_val[g] = true;
    }
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for (p, g) in pairs.into_iter().zip(group) {
        if in_val[g] { &mut val } else { &mut train }.push(p);
    }
    (train, val)
}

/// Splits into (train, validation) by a seeded hash of each source: a source goes to
/// validation, with all its pairs, when its hash falls in the lowest `val_fraction` of the
/// range. Unlike [`split_by_source`] the side of a source does not depend on the rest of the
/// file, so parts of a data set held apart (one per MPI rank) are split alike: a source is on
/// the same side in whichever part it appears.
pub fn split_by_source_hash(pairs: Vec<Pair>, val_fraction: f64, seed: u64) -> (Vec<Pair>, Vec<Pair>) {
    let fraction = if val_fraction.is_nan() {
        0.0
    } else {
        val_fraction.clamp(0.0, 1.0)
    };
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for p in pairs {
        let mut digest = Fingerprint::default();
        digest.word(seed);
        p.source.iter().for_each(|t| {
            digest.text(t);
        });
        // The top 53 bits as a number in [0, 1).
        let point = (digest.finish() >> 11) as f64 / (1u64 << 53) as f64;
        if point < fraction { &mut val } else { &mut train }.push(p);
    }
    (train, val)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, format: PairFormat) -> Result<Vec<Pair>, PairError> {
        let (s, t) = format.default_tokenizers();
        parse_pairs(text, "f.txt", format, s, t)
    }

    fn err(text: &str, format: PairFormat) -> String {
        parse(text, format).unwrap_err().to_string()
    }

    #[test]
    fn text_pairs_cut_and_check_pairs_as_a_tsv_file_does() {
        let texts = vec![(" ab ".to_string(), "x y".to_string()), ("c d".into(), "z".into())];
        let (s, t) = (Tokenizer::Chars, Tokenizer::Whitespace);
        let given = text_pairs(&texts, "pairs", s, t).unwrap();
        let read: Vec<Pair> = parse_pairs(" ab \tx y\nc d\tz\n", "f", PairFormat::Tsv, s, t).unwrap();
        assert_eq!(given, read);
        let empty = vec![("ab".to_string(), "x".to_string()), ("ab".into(), "  ".into())];
        let e = text_pairs(&empty, "pairs", s, t).unwrap_err().to_string();
        assert_eq!(e, "pairs:2: the target is empty");
        assert!(text_pairs(&[], "pairs", s, t).unwrap().is_empty());
    }

    #[test]
    fn pairs_tsv_reads_lines_and_skips_blank_ones() {
        let p = parse("ab\tx y\r\n\n  \nc d\tz\n", PairFormat::Tsv).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(
            (p[0].source.concat(), p[0].target.concat(), p[0].line),
            ("ab".into(), "x y".into(), 1)
        );
        assert_eq!(p[1].source, ["c", " ", "d"]);
        assert_eq!(p[1].line, 4);
        let w = parse_pairs(
            "a b\tc d",
            "-",
            PairFormat::Tsv,
            Tokenizer::Whitespace,
            Tokenizer::Whitespace,
        )
        .unwrap();
        assert_eq!((w[0].source.len(), w[0].target.len()), (2, 2));
    }

    #[test]
    fn pairs_tsv_bad_lines_name_file_and_line() {
        assert_eq!(
            err("a\tb\nno tab here\n", PairFormat::Tsv),
            "f.txt:2: no tab: expected `source<TAB>target`"
        );
        assert!(err("a\tb\tc", PairFormat::Tsv).contains("f.txt:1: 2 tabs"));
        assert_eq!(err("a\tb\n\tb", PairFormat::Tsv), "f.txt:2: the source is empty");
        assert_eq!(err("a\t  ", PairFormat::Tsv), "f.txt:1: the target is empty");
        assert_eq!(err("\n\n", PairFormat::Tsv), "f.txt: no pairs in the file");
        let long = format!("{}\tb", "a".repeat(MAX_LEN + 1));
        match parse(&long, PairFormat::Tsv) {
            Err(PairError::TooLong {
                line,
                side,
                len,
                max_len,
                ..
            }) => {
                assert_eq!((line, side, len, max_len), (1, "source", MAX_LEN + 1, MAX_LEN))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pairs_cmudict_strips_stress_comments_and_alternates() {
        let text =
            ";;; header\nhello HH AH0 L OW1\nhello(2) HH EH0 L OW1 # informal\nAalto AA1 L T OW2 # name\nr(2)d2 AA1\n";
        let p = parse(text, PairFormat::Cmudict).unwrap();
        assert_eq!(p.len(), 4);
        assert_eq!(p[0].source.concat(), "hello");
        assert_eq!(p[0].target, ["HH", "AH", "L", "OW"]);
        assert_eq!(
            (p[1].source.concat(), p[1].target.join(" "), p[1].line),
            ("hello".into(), "HH EH L OW".into(), 3)
        );
        assert_eq!(p[2].source.concat(), "aalto");
        // Only a final `(digits)` marks an alternate.
        assert_eq!(p[3].source.concat(), "r(2)d2");
    }

    #[test]
    fn pairs_cmudict_bad_lines_name_file_and_line() {
        assert!(err("a AH0\nword\n", PairFormat::Cmudict).starts_with("f.txt:2: `word` has no phonemes"));
        assert!(err("word w er1 d", PairFormat::Cmudict).contains("`w` is not an ARPAbet phoneme"));
        assert!(err("word W ER12 D", PairFormat::Cmudict).contains("`ER12`"));
        assert!(err("# only a comment\n", PairFormat::Cmudict).contains("no pairs"));
    }

    #[test]
    fn pairs_read_file_errors_name_the_file() {
        let dir = std::env::temp_dir().join(format!("recur-pairs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.tsv");
        std::fs::write(&path, b"ok\tfine\n\xff\xfe\tx\n").unwrap();
        let (s, t) = PairFormat::Tsv.default_tokenizers();
        let e = read_pairs(&path, PairFormat::Tsv, s, t).unwrap_err().to_string();
        assert!(e.ends_with("bad.tsv:2: not UTF-8 text"), "{e}");
        let e = read_pairs(&dir.join("none.tsv"), PairFormat::Tsv, s, t)
            .unwrap_err()
            .to_string();
        assert!(e.contains("none.tsv"), "{e}");
        std::fs::write(&path, "a\tb\n").unwrap();
        assert_eq!(read_pairs(&path, PairFormat::Tsv, s, t).unwrap().len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!("CMUdict".parse::<PairFormat>(), Ok(PairFormat::Cmudict));
        assert!("csv".parse::<PairFormat>().is_err());
    }

    #[test]
    fn pairs_group_by_source_keeps_first_appearance_order() {
        let p = parse("b\t1\na\t2\nb\t3\nc\t4\na\t5\n", PairFormat::Tsv).unwrap();
        let g = group_by_source(&p);
        let flat: Vec<(String, Vec<String>)> = g
            .iter()
            .map(|(s, ts)| (s.concat(), ts.iter().map(|t| t.concat()).collect()))
            .collect();
        assert_eq!(
            flat,
            [
                ("b".into(), vec!["1".into(), "3".into()]),
                ("a".into(), vec!["2".into(), "5".into()]),
                ("c".into(), vec!["4".into()])
            ]
        );
    }

    #[test]
    fn pairs_split_by_source_keeps_words_together_and_is_deterministic() {
        let text: String = (0..200)
            .flat_map(|i| [format!("w{i}\tx\n"), format!("w{i}\ty\n")])
            .collect();
        let p = parse(&text, PairFormat::Tsv).unwrap();
        let (train, val) = split_by_source(p.clone(), 0.1, 7);
        assert_eq!((train.len(), val.len()), (360, 40));
        let words = |v: &[Pair]| {
            v.iter()
                .map(|p| p.source.concat())
                .collect::<std::collections::HashSet<_>>()
        };
        assert!(words(&train).is_disjoint(&words(&val)));
        assert_eq!(words(&val).len(), 20);
        assert!(val.windows(2).all(|w| w[0].line < w[1].line), "file order kept");
        assert_eq!(split_by_source(p.clone(), 0.1, 7), (train, val.clone()));
        assert_ne!(split_by_source(p.clone(), 0.1, 8).1, val);
        assert_eq!(split_by_source(p.clone(), f64::NAN, 7).1.len(), 0);
        assert_eq!(split_by_source(p, 2.0, 7).0.len(), 0);
    }

    #[test]
    fn pairs_split_by_source_hash_puts_a_source_on_one_side_in_every_part() {
        let text: String = (0..2000)
            .flat_map(|i| [format!("w{i}\tx\n"), format!("w{i}\ty\n")])
            .collect();
        let p = parse(&text, PairFormat::Tsv).unwrap();
        let (train, val) = split_by_source_hash(p.clone(), 0.1, 7);
        let share = val.len() as f64 / p.len() as f64;
        assert!((0.08..0.12).contains(&share), "{share}");
        // Two parts (odd and even lines) split alike: each part's validation is its share of
        // the whole file's.
        let (odd, even): (Vec<Pair>, Vec<Pair>) = p.iter().cloned().partition(|p| p.line % 2 == 1);
        let (_, v1) = split_by_source_hash(odd, 0.1, 7);
        let (_, v2) = split_by_source_hash(even, 0.1, 7);
        assert_eq!(v1.len() + v2.len(), val.len());
        assert!(v1.iter().chain(&v2).all(|x| val.contains(x)));
        assert_eq!(train.len() + val.len(), p.len());
        assert_ne!(split_by_source_hash(p, 0.1, 8).1, val);
    }
}
