//! recur's layers. Each file holds one layer: its forward, its backward, and the tests that
//! check the backward against finite differences (in f64) and the variable-length rule.

pub mod activation;
pub mod dense;
pub mod init;
pub mod layer;
pub mod recurrent;

#[cfg(test)]
mod gradcheck;

pub use activation::{Activation, ActivationLayer};
pub use dense::Dense;
pub use layer::{Ctx, Layer, Param};
pub use recurrent::{Gru, Lstm, Recurrent, RecurrentOptions, RnnState, SimpleRnn};
