//! Removing what an earlier training run wrote into an output folder (for `--force`), and
//! nothing else: `--out .` must not wipe the user's folder. Files are recognised by name,
//! with the temporaries of their interrupted writes ([`is_written_name`]); links are never
//! followed; a folder left holding other files is kept and reported.

use crate::error::{NnError, Result};
use crate::model_dir::{is_written_name, MEMBERS_DIR};
use std::path::{Path, PathBuf};

/// The checkpoint folder and the two names it takes while being replaced.
pub const CHECKPOINT_DIRS: [&str; 3] = ["checkpoint", "checkpoint.new", "checkpoint.old"];

/// What a run writes into its output folder: `top` at the top (model files, reports), `files`
/// in each ensemble member's folder (`members/k`) and `checkpoint` in the checkpoint folders.
pub struct Written<'a> {
    /// Files at the top of the output folder.
    pub top: &'a [&'a str],
    /// Files of each further ensemble member.
    pub members: &'a [&'a str],
    /// Files of a checkpoint folder.
    pub checkpoint: &'a [&'a str],
}

impl Written<'_> {
    /// Removes them from `out`, with the members' and checkpoints' folders once empty; returns
    /// the folders kept because they hold files recur did not write.
    pub fn remove(&self, out: &Path) -> Result<Vec<PathBuf>> {
        let mut kept = Vec::new();
        remove_listed(out, self.top, self.checkpoint, &mut kept)?;
        let members = out.join(MEMBERS_DIR);
        if is_real_dir(&members) {
            for entry in std::fs::read_dir(&members).map_err(NnError::io(&members))? {
                let path = entry.map_err(NnError::io(&members))?.path();
                let numbered = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.parse::<usize>().is_ok());
                if numbered && is_real_dir(&path) {
                    remove_listed(&path, self.members, self.checkpoint, &mut kept)?;
                    remove_if_empty(&path, &mut kept);
                }
            }
            remove_if_empty(&members, &mut kept);
        }
        Ok(kept)
    }
}

/// Removes the files named in `files` from `dir`, with the temporaries of their interrupted
/// writes, and the checkpoint folders holding only `checkpoint_files`.
fn remove_listed(dir: &Path, files: &[&str], checkpoint_files: &[&str], kept: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(NnError::io(dir))? {
        let path = entry.map_err(NnError::io(dir))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let is_file = path.symlink_metadata().map_err(NnError::io(&path))?.is_file();
        if is_file && files.iter().any(|f| is_written_name(name, f)) {
            std::fs::remove_file(&path).map_err(NnError::io(&path))?;
        } else if CHECKPOINT_DIRS.contains(&name) && is_real_dir(&path) {
            remove_listed(&path, checkpoint_files, &[], kept)?;
            remove_if_empty(&path, kept);
        }
    }
    Ok(())
}

/// A folder, not a link to one.
fn is_real_dir(path: &Path) -> bool {
    path.symlink_metadata().is_ok_and(|m| m.is_dir())
}

/// Removes a folder if nothing is left in it; otherwise notes it as kept.
fn remove_if_empty(dir: &Path, kept: &mut Vec<PathBuf>) {
    if std::fs::remove_dir(dir).is_err() {
        kept.push(dir.to_path_buf());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_names_include_interrupted_writes_only() {
        assert!(is_written_name("model.safetensors", "model.safetensors"));
        assert!(is_written_name("model.tmp-123", "model.safetensors"));
        assert!(is_written_name("source_vocab.tmp-9", "source_vocab.json"));
        assert!(!is_written_name("model.tmp-", "model.safetensors"));
        assert!(!is_written_name("model.tmp-12x", "model.safetensors"));
        assert!(!is_written_name("notes.txt", "model.safetensors"));
    }

    #[test]
    fn written_files_go_and_other_files_stay() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        let member = out.join(MEMBERS_DIR).join("1");
        std::fs::create_dir_all(member.join("checkpoint")).unwrap();
        for f in ["config.json", "model.tmp-77", "mine.txt"] {
            std::fs::write(out.join(f), "x").unwrap();
        }
        std::fs::write(member.join("model.safetensors"), "x").unwrap();
        std::fs::write(member.join("checkpoint").join("state.json"), "x").unwrap();
        let written = Written {
            top: &["config.json", "model.safetensors"],
            members: &["model.safetensors"],
            checkpoint: &["state.json"],
        };
        assert_eq!(written.remove(out).unwrap(), Vec::<PathBuf>::new());
        let left: Vec<String> = std::fs::read_dir(out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, vec!["mine.txt".to_string()]);
    }
}
