//! Sequence to sequence: an encoder reads a variable-length source, a decoder that attends to
//! the encoder's outputs writes a variable-length target token by token, and greedy or beam
//! search turns the decoder into outputs.

pub mod decoder;
pub mod model;

pub use model::{CellKind, Seq2Seq, Seq2SeqConfig};
