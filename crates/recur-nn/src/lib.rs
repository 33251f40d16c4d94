//! recur's layers. Each file holds one layer: its forward, its backward, and the tests that
//! check the backward against finite differences (in f64) and the variable-length rule.

// Kernels index several parallel arrays with one loop variable, as the math is written.
#![allow(clippy::needless_range_loop)]

pub mod activation;
pub mod attention;
pub mod batch_norm;
pub mod config;
pub mod conv1d;
pub mod dense;
pub mod dropout;
pub mod embedding;
pub mod error;
pub mod gated;
pub mod graph;
pub mod init;
pub mod layer;
pub mod layer_norm;
pub mod merge;
pub mod minirocket;
pub mod model;
pub mod model_dir;
pub mod pooling;
pub mod recurrent;
pub mod repeat_vector;

#[cfg(test)]
mod gradcheck;

pub use activation::{Activation, ActivationLayer};
pub use attention::{Attention, AttentionKind, MemoryGrad, PreparedMemory};
pub use batch_norm::BatchNorm;
pub use config::{LayerConfig, ModelConfig};
pub use conv1d::{Conv1d, ConvGeometry, Padding};
pub use dense::Dense;
pub use dropout::Dropout;
pub use embedding::Embedding;
pub use error::{NnError, Result};
pub use gated::GatedActivation;
pub use graph::{InputConfig, NodeConfig, NodeOp, Plan};
pub use layer::{CloneLayer, Ctx, Layer, Param, Tape};
pub use layer_norm::LayerNorm;
pub use merge::Merge;
pub use minirocket::{MiniRocket, MiniRocketOptions};
pub use model::{Model, ModelTape};
pub use pooling::{GlobalPool, PoolMode};
pub use recurrent::{
    Gru, Lstm, Recurrent, RecurrentOptions, RnnState, SimpleRnn, StepGradients, StepTape, StepWeights, Stepping,
};
pub use repeat_vector::RepeatVector;
