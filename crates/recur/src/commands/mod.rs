//! One module per group of subcommands.

pub mod bench;
pub mod data;
pub mod fit;
pub mod fit_use;
pub mod forecast;
pub mod forecast_plot;
pub mod forecast_use;
pub mod model;
pub mod seq2seq;
pub mod sketch_train;
pub mod sketch_use;

use std::io::Write;

/// Writes a command's output through `write` on a locked, buffered stdout. A reader that has
/// closed the pipe (`recur predict … | head -1`) ends the output quietly and successfully, as
/// ripgrep does, instead of panicking in `println!`.
pub fn write_stdout(write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match write(&mut out).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        result => Ok(result?),
    }
}
