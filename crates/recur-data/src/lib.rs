//! recur's data: Quick, Draw! drawings in all their formats, NumPy `.npy` arrays (the
//! interchange format of `recur run`), calendar dates and daily time series read from CSV.

pub mod dates;
pub mod npy;
pub mod pickle;
pub mod quickdraw;
pub mod series;

pub use npy::{read_npy, write_npy_f32, NpyArray, NpyError};
pub use series::{read_daily_csv, Covariate, DailySeries, SeriesError, SeriesSpec};
