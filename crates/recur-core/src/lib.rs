//! recur's numeric core: the [`Float`] trait that lets every layer run in f32 (for speed) and
//! f64 (for gradient checks), the one GEMM entry point, fast vectorisable activation math,
//! padded sequence batches ([`Seq`]), a small deterministic RNG and batch sharding across cores.

// Kernels index several parallel arrays with one loop variable, as the math is written.
#![allow(clippy::needless_range_loop)]

pub mod aligned;
pub mod error;
pub mod float;
pub mod lowp;
pub mod math;
pub mod matmul;
pub mod parallel;
pub mod rng;
pub mod scratch;
pub mod seq;

pub use error::{CoreError, Result};

/// Prints a line to stderr as `eprintln!` does, but a closed or broken stderr (`recur … 2>&-`,
/// a log reader that went away) drops the line instead of panicking: progress and notes are
/// never worth failing a run for. The line goes out in one write, so lines of processes that
/// share a terminal (MPI ranks) do not interleave within a line.
#[macro_export]
macro_rules! stderr_line {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let line = format!("{}\n", format_args!($($arg)*));
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }};
}
pub use float::Float;
pub use matmul::{matmul, Transpose};
pub use rng::Rng;
pub use seq::{Frame, Seq, Shape};
