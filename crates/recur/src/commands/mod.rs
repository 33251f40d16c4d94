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
use std::path::PathBuf;

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

/// Written in training paths, the rank of the process reading them.
pub const RANK_PLACEHOLDER: &str = "{rank}";

/// Puts this process's rank for `{rank}` in training `paths` (`what` names them in the error:
/// every one must hold it, or none). True when, under MPI, each rank thus reads its own part
/// of the training data; outside mpirun `{rank}` reads as 0.
pub fn own_paths_per_rank(paths: &mut [String], what: &str) -> anyhow::Result<bool> {
    let marked = paths.iter().filter(|p| p.contains(RANK_PLACEHOLDER)).count();
    if marked == 0 {
        return Ok(false);
    }
    if marked < paths.len() {
        anyhow::bail!("give {RANK_PLACEHOLDER} in every {what} or in none");
    }
    let group = recur_train::distributed::group();
    let rank = group.as_ref().map_or(0, |g| g.rank()).to_string();
    for p in paths.iter_mut() {
        *p = p.replace(RANK_PLACEHOLDER, &rank);
    }
    Ok(group.is_some())
}

/// [`own_paths_per_rank`] for file paths (changed only where they hold `{rank}`).
pub fn own_files_per_rank(paths: Vec<&mut PathBuf>, what: &str) -> anyhow::Result<bool> {
    let mut texts: Vec<String> = paths.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let own = own_paths_per_rank(&mut texts, what)?;
    for (path, text) in paths.into_iter().zip(texts) {
        if path.to_string_lossy() != text {
            *path = PathBuf::from(text);
        }
    }
    Ok(own)
}
