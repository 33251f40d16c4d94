//! sketch-rnn (Ha & Eck 2017, "A Neural Representation of Sketch Drawings"; Magenta's
//! `sketch_rnn`): the canonical vector-to-sequence RNN. Drawings are stroke-5 sequences; a
//! bidirectional LSTM encodes one into a latent `z`; an LSTM decoder, started from `z` (or from
//! nothing, or from a class), writes a drawing one point at a time as a mixture of bivariate
//! normals over the next offset and three pen states.
//!
//! - [`data`]: sketch-rnn `.npz` splits and Quick, Draw! ndjson folders as raw stroke-3, the
//!   longest drawing kept (`N_max`), offsets scaled by the training set's spread, Magenta's
//!   augmentation, stroke-5 batches.
//! - [`mdn`]: the mixture-density loss with its backward.
//! - [`model`]: the network, its forward and backward over a padded batch.
//! - [`train`]: training through recur-train's one `Trainer` and epoch loop (checkpoints,
//!   resume, time limit), with Magenta's KL annealing and learning-rate decay.
//! - [`sample`]: Magenta's sampler (temperature on the mixture weights, the pen and σ).
//! - [`generate`]: reconstruction, completion and interpolation of given drawings.
//! - [`eval`]: held-out scores in Magenta's convention; samples as Quick, Draw! drawings.
//! - [`store`]: a trained model on disk.

pub mod batch;
pub mod data;
pub mod error;
pub mod eval;
pub mod generate;
pub mod mdn;
pub mod model;
pub mod sample;
pub mod store;
pub mod train;

pub use error::{Result, SketchRnnError};
pub use model::{Mode, SketchRnn, SketchRnnConfig};
pub use store::SketchRnnModel;
