//! One module per group of subcommands.

pub mod bench;
pub mod forecast;
pub mod forecast_plot;
pub mod model;
