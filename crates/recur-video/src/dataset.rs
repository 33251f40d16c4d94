//! Labelled clips as users keep them: a folder with one subfolder per class
//! (`fight/fi001.mp4`), or a CSV of `path,label[,group]` whose paths are relative to the CSV's
//! folder; a group column (a source video's id) keeps each group on one side of a split.

use crate::error::{Result, VideoError};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// File extensions read as video in a class folder.
pub const VIDEO_EXTENSIONS: [&str; 8] = ["mp4", "avi", "webm", "mkv", "mov", "m4v", "mpg", "mpeg"];

/// The column a CSV's groups are read from when none is named.
pub const DEFAULT_GROUP_COLUMN: &str = "group";

/// One labelled clip.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClipEntry {
    /// The video file.
    pub path: PathBuf,
    /// Index into [`ClipList::classes`].
    pub label: usize,
    /// The clip's group (e.g. its source video), if the list has groups.
    pub group: Option<String>,
}

/// A labelled list of clips.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClipList {
    /// The clips, in the folder's (sorted) or the CSV's order.
    pub clips: Vec<ClipEntry>,
    /// Class names, sorted.
    pub classes: Vec<String>,
    /// Where the list came from, for messages.
    pub source: String,
}

impl ClipList {
    /// Reads a class folder, or a CSV (a file) with its groups in `group_column` (default: a
    /// column named `group`, if there is one). Missing files are refused, naming them.
    pub fn open(path: &Path, group_column: Option<&str>) -> Result<ClipList> {
        if path.is_dir() {
            if let Some(column) = group_column {
                return Err(VideoError::Input(format!(
                    "{}: a class folder has no group column `{column}`; give a CSV of path,label,{column} instead",
                    path.display()
                )));
            }
            Self::from_folder(path)
        } else if path.is_file() {
            Self::from_csv(path, group_column)
        } else {
            Err(VideoError::Input(format!(
                "{}: no such folder or CSV file",
                path.display()
            )))
        }
    }

    /// Group of each clip (`None` if the list has none).
    pub fn groups(&self) -> Option<Vec<String>> {
        self.clips.iter().map(|c| c.group.clone()).collect()
    }

    /// Class index of each clip.
    pub fn labels(&self) -> Vec<usize> {
        self.clips.iter().map(|c| c.label).collect()
    }

    /// One subfolder per class, holding that class's video files.
    fn from_folder(dir: &Path) -> Result<ClipList> {
        let source = dir.display().to_string();
        let listing = |d: &Path| -> Result<Vec<PathBuf>> {
            let read = std::fs::read_dir(d).map_err(|e| VideoError::Input(format!("{}: {e}", d.display())))?;
            let mut paths: Vec<PathBuf> = read.filter_map(|e| e.ok().map(|e| e.path())).collect();
            paths.sort();
            Ok(paths)
        };
        let mut named = Vec::new();
        for class_dir in listing(dir)?.into_iter().filter(|p| p.is_dir()) {
            let videos: Vec<PathBuf> = listing(&class_dir)?.into_iter().filter(|p| is_video_name(p)).collect();
            if !videos.is_empty() {
                let name = class_dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                named.extend(videos.into_iter().map(|p| (p, name.clone(), None)));
            }
        }
        Self::labelled(named, source)
    }

    /// A CSV with a header naming `path` and `label` columns (and the group column).
    fn from_csv(csv_path: &Path, group_column: Option<&str>) -> Result<ClipList> {
        let source = csv_path.display().to_string();
        let bad = |why: String| VideoError::Input(format!("{source}: {why}"));
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_path(csv_path)
            .map_err(|e| bad(e.to_string()))?;
        let header = reader.headers().map_err(|e| bad(e.to_string()))?.clone();
        let column = |name: &str| header.iter().position(|h| h.eq_ignore_ascii_case(name));
        let (Some(path_at), Some(label_at)) = (column("path"), column("label")) else {
            return Err(bad(format!(
                "a clip list needs `path` and `label` columns (its header is: {})",
                header.iter().collect::<Vec<_>>().join(",")
            )));
        };
        let group_at = match group_column {
            Some(name) => Some(column(name).ok_or_else(|| {
                bad(format!(
                    "no group column `{name}` (its columns: {})",
                    header.iter().collect::<Vec<_>>().join(",")
                ))
            })?),
            None => column(DEFAULT_GROUP_COLUMN),
        };
        let base = csv_path.parent().unwrap_or(Path::new("."));
        let mut named = Vec::new();
        for (row, record) in reader.records().enumerate() {
            let record = record.map_err(|e| bad(e.to_string()))?;
            let field = |k: usize| record.get(k).unwrap_or("").to_string();
            let (path, label) = (field(path_at), field(label_at));
            if path.is_empty() || label.is_empty() {
                return Err(bad(format!("row {} has no path or no label", row + 2)));
            }
            named.push((base.join(path), label, group_at.map(field)));
        }
        let missing: Vec<String> = named
            .iter()
            .filter(|(p, _, _)| !p.is_file())
            .map(|(p, _, _)| p.display().to_string())
            .collect();
        if !missing.is_empty() {
            return Err(bad(format!(
                "{} listed clips are missing: {}{}",
                missing.len(),
                missing[..missing.len().min(3)].join(", "),
                if missing.len() > 3 { ", …" } else { "" }
            )));
        }
        Self::labelled(named, source)
    }

    /// The list of `(path, class name, group)`, the classes sorted by name; at least two.
    fn labelled(named: Vec<(PathBuf, String, Option<String>)>, source: String) -> Result<ClipList> {
        let classes: Vec<String> = named
            .iter()
            .map(|(_, c, _)| c.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if named.is_empty() {
            return Err(VideoError::Input(format!(
                "{source}: no video clips found ({} in one subfolder per class, or a CSV of path,label)",
                VIDEO_EXTENSIONS.join(", ")
            )));
        }
        if classes.len() < 2 {
            return Err(VideoError::Input(format!(
                "{source}: all {} clips are of one class ({}); a classifier needs at least two",
                named.len(),
                classes[0]
            )));
        }
        let clips = named
            .into_iter()
            .map(|(path, class, group)| ClipEntry {
                path,
                label: classes.binary_search(&class).unwrap_or(0),
                group,
            })
            .collect();
        Ok(ClipList { clips, classes, source })
    }
}

/// Whether `path` names a video file by its extension.
fn is_video_name(path: &Path) -> bool {
    path.is_file()
        && path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| VIDEO_EXTENSIONS.iter().any(|v| v.eq_ignore_ascii_case(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"x").unwrap();
    }

    #[test]
    fn class_folders_and_csv_lists_give_the_same_clips() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["fight/a.mp4", "fight/b.avi", "noFight/c.mp4", "noFight/notes.txt"] {
            touch(&dir.path().join(name));
        }
        let folder = ClipList::open(dir.path(), None).unwrap();
        assert_eq!(folder.classes, vec!["fight", "noFight"]);
        assert_eq!(folder.labels(), vec![0, 0, 1]);
        let csv = dir.path().join("clips.csv");
        std::fs::write(
            &csv,
            "path,label,source_video\nfight/a.mp4,fight,1\nfight/b.avi,fight,2\nnoFight/c.mp4,noFight,2\n",
        )
        .unwrap();
        let listed = ClipList::open(&csv, Some("source_video")).unwrap();
        assert_eq!(listed.labels(), vec![0, 0, 1]);
        assert_eq!(listed.groups().unwrap(), vec!["1", "2", "2"]);
        assert_eq!(listed.clips[2].path, dir.path().join("noFight/c.mp4"));
    }

    #[test]
    fn clip_list_refuses_one_class_missing_files_and_unknown_group_column() {
        let dir = tempfile::tempdir().unwrap();
        touch(&dir.path().join("fight/a.mp4"));
        let e = ClipList::open(dir.path(), None).unwrap_err().to_string();
        assert!(e.contains("all 1 clips are of one class (fight)"), "{e}");
        let csv = dir.path().join("clips.csv");
        std::fs::write(&csv, "path,label\nfight/a.mp4,fight\nnoFight/gone.mp4,noFight\n").unwrap();
        let e = ClipList::open(&csv, None).unwrap_err().to_string();
        assert!(
            e.contains("1 listed clips are missing") && e.contains("gone.mp4"),
            "{e}"
        );
        let e = ClipList::open(&csv, Some("source_video")).unwrap_err().to_string();
        assert!(e.contains("no group column `source_video`"), "{e}");
    }
}
