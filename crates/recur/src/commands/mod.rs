//! One module per group of subcommands.

pub mod bench;
pub mod data;
pub mod fit;
pub mod fit_use;
pub mod forecast;
pub mod forecast_plot;
pub mod model;
pub mod sketch_train;
pub mod sketch_use;
