//! recur's sequence-to-sequence task: an encoder reads a variable-length source, a decoder
//! that attends to the encoder's outputs writes a variable-length target token by token, and
//! greedy or beam search turns the decoder into outputs. Around the model: token vocabularies
//! with PAD/SOS/EOS/UNK, pair files (`source<TAB>target` lines or the CMU Pronouncing
//! Dictionary), the generated date-format task, and the grapheme-to-phoneme scores (word and
//! phoneme error rates against several references).

mod checkpoint;
pub mod dates;
pub mod decoder;
pub mod job;
pub mod metrics;
pub mod model;
pub mod options;
pub mod pairs;
pub mod sampling;
pub mod search;
pub mod settings;
pub mod store;
pub mod train;
pub mod vocab;

pub use dates::{date_pairs, generate_dates, DateStyle};
pub use metrics::{edit_distance, score, Scores};
pub use model::{CellKind, Seq2Seq, Seq2SeqConfig};
pub use pairs::{
    group_by_source, parse_pairs, read_pairs, split_by_source, split_by_source_hash, text_pairs, Pair, PairError,
    PairFormat,
};
pub use search::{decode_parallel, search, Hypothesis, SearchOptions};
pub use settings::TrainSettings;
pub use store::{EncodedSource, EncodedTexts, Translation, Translator};
pub use vocab::{Tokenizer, Vocab, VocabError};
