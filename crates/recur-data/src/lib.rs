//! recur's data formats. For now: NumPy `.npy` arrays, the interchange format of `recur run`.

pub mod npy;

pub use npy::{read_npy, write_npy_f32, NpyArray, NpyError};
