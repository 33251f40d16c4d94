//! recur's numeric core: the [`Float`] trait that lets every layer run in f32 (for speed) and
//! f64 (for gradient checks), the one GEMM entry point, fast vectorisable activation math,
//! padded sequence batches ([`Seq`]), a small deterministic RNG and batch sharding across cores.

// Kernels index several parallel arrays with one loop variable, as the math is written.
#![allow(clippy::needless_range_loop)]

pub mod error;
pub mod float;
pub mod math;
pub mod matmul;
pub mod parallel;
pub mod rng;
pub mod seq;

pub use error::{CoreError, Result};
pub use float::Float;
pub use matmul::{matmul, Transpose};
pub use rng::Rng;
pub use seq::{Seq, Shape};
