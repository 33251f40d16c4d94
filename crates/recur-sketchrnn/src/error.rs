//! The one error type of the crate: every message names what is wrong, in words a user can
//! act on.

use recur_data::quickdraw::LoadError;
use recur_nn::NnError;

/// Why a sketch-rnn job cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum SketchRnnError {
    /// Input (data, flags, a model directory) that cannot be used.
    #[error("{0}")]
    Input(String),
    /// A drawing file that cannot be read.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The network, its weights or its training.
    #[error(transparent)]
    Nn(#[from] NnError),
}

/// A result of this crate.
pub type Result<T> = std::result::Result<T, SketchRnnError>;

/// An [`SketchRnnError::Input`] from anything printable.
pub fn input(message: impl Into<String>) -> SketchRnnError {
    SketchRnnError::Input(message.into())
}
