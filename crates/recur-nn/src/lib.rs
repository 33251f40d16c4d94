//! recur's layers. Each file holds one layer: its settings and their [`LayerSpec`] (what the
//! layer checks, outputs and holds before it exists), its forward, its backward, and the tests
//! that check the backward against finite differences (in f64) and the variable-length rule.

// Kernels index several parallel arrays with one loop variable, as the math is written.
#![allow(clippy::needless_range_loop)]

pub mod activation;
pub mod attention;
pub mod batch_norm;
pub mod config;
pub mod conv1d;
pub mod conv2d;
pub mod conv3d;
pub mod dense;
pub mod dropout;
pub mod embedding;
pub mod error;
pub mod gated;
pub mod graph;
pub mod init;
pub mod layer;
pub mod layer_norm;
pub mod linear;
pub mod merge;
pub mod minirocket;
pub mod model;
pub mod model_dir;
pub mod pool2d;
pub mod pool3d;
pub mod pooling;
pub mod precision;
pub mod recurrent;
pub mod repeat_vector;
pub mod spec;
pub mod time_distributed;
pub mod written;

#[cfg(test)]
mod gradcheck;

pub use activation::{Activation, ActivationConfig, ActivationLayer};
pub use attention::{Attention, AttentionKind, MemoryGrad, PreparedMemory};
pub use batch_norm::{BatchNorm, BatchNormConfig};
pub use config::{InputConfig, LayerConfig, ModelConfig, NodeConfig, NodeOp};
pub use conv1d::{Conv1d, Conv1dConfig, ConvGeometry, Padding};
pub use conv2d::{Conv2d, Conv2dConfig, Padding2d, Size, Size2, Size3, Window2d};
pub use conv3d::{Conv3d, Conv3dConfig, Window3d};
pub use dense::{Dense, DenseConfig};
pub use dropout::{Dropout, DropoutConfig};
pub use embedding::{Embedding, EmbeddingConfig};
pub use error::{NnError, Result};
pub use gated::{GatedActivation, GatedActivationConfig};
pub use graph::Plan;
pub use layer::{CloneLayer, Ctx, Layer, Param, Tape};
pub use layer_norm::{LayerNorm, LayerNormConfig};
pub use linear::Linear;
pub use merge::Merge;
pub use minirocket::{MiniRocket, MiniRocketOptions};
pub use model::{Model, ModelTape};
pub use pool2d::{Pool2d, Pool2dConfig, Pool2dMode};
pub use pool3d::{GlobalPool3d, Pool3d, Pool3dConfig};
pub use pooling::{GlobalPool, PoolMode};
pub use precision::{fallback_note, kernel_note, prepare_models, InferencePath, Precision};
pub use recurrent::{
    Gru, GruConfig, Lstm, LstmConfig, Recurrent, RecurrentOptions, RnnState, SimpleRnn, SimpleRnnConfig, StepGradients,
    StepTape, StepWeights, Stepping,
};
pub use repeat_vector::{RepeatVector, RepeatVectorConfig};
pub use spec::LayerSpec;
pub use time_distributed::{TimeDistributed, TimeDistributedConfig};
