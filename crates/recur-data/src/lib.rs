//! recur's data: Quick, Draw! drawings in all their formats, NumPy `.npy` arrays (the
//! interchange format of `recur run`), calendar dates and public holidays, daily time series read
//! from CSV, and
//! labelled sequence sets from sktime/aeon `.ts` files or `.npy` arrays.

pub mod dates;
pub mod holidays;
pub mod npy;
pub mod pickle;
pub mod quickdraw;
pub mod sequences;
pub mod series;
pub mod ts;

pub use npy::{read_npy, write_npy_f32, NpyArray, NpyError};
pub use sequences::{
    from_npy_arrays, read_npy_inputs, read_npy_set, InputFile, InputLayout, InputSeries, InputSpec, InputView,
    SequenceError, SequenceSet, SequenceTargets,
};
pub use series::{parse_daily_csv, read_daily_csv, Covariate, DailySeries, SeriesError, SeriesSpec};
pub use ts::{parse_ts, read_ts};
