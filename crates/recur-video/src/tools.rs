//! The FFmpeg programs recur runs to read video: `ffprobe` to learn a clip's length and size,
//! `ffmpeg` to decode its frames. Running the programs keeps the default build free of any
//! native video library; a machine without them gets [`VideoError::Missing`] on the first clip.

use crate::error::{Result, VideoError};
use std::ffi::OsString;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

/// Environment variable naming the `ffmpeg` program to run (default: `ffmpeg` on the `PATH`).
pub const FFMPEG_VARIABLE: &str = "RECUR_FFMPEG";
/// Environment variable naming the `ffprobe` program to run (default: `ffprobe` on the `PATH`).
pub const FFPROBE_VARIABLE: &str = "RECUR_FFPROBE";

/// The two programs, as found on this machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ffmpeg {
    /// The decoder.
    pub ffmpeg: OsString,
    /// The prober.
    pub ffprobe: OsString,
}

impl Default for Ffmpeg {
    /// `ffmpeg` and `ffprobe` on the `PATH`, or the programs [`FFMPEG_VARIABLE`] and
    /// [`FFPROBE_VARIABLE`] name.
    fn default() -> Self {
        let named = |variable, program: &str| std::env::var_os(variable).unwrap_or_else(|| program.into());
        Ffmpeg {
            ffmpeg: named(FFMPEG_VARIABLE, "ffmpeg"),
            ffprobe: named(FFPROBE_VARIABLE, "ffprobe"),
        }
    }
}

impl Ffmpeg {
    /// Whether both programs start (`-version`), so callers can skip video work up front.
    pub fn available(&self) -> bool {
        let runs = |program: &OsString| {
            Command::new(program)
                .arg("-version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        runs(&self.ffmpeg) && runs(&self.ffprobe)
    }

    /// Runs `ffprobe` with `args` to the end, capturing its output.
    pub(crate) fn probe_output(&self, args: &[&str], clip: &Path) -> Result<Output> {
        Command::new(&self.ffprobe)
            .args(args)
            .arg(clip)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| self.start_error(e, &self.ffprobe, FFPROBE_VARIABLE, clip))
    }

    /// Starts `ffmpeg` with `args`, its output piped.
    pub(crate) fn spawn_decoder(&self, args: &[OsString], clip: &Path) -> Result<Child> {
        Command::new(&self.ffmpeg)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| self.start_error(e, &self.ffmpeg, FFMPEG_VARIABLE, clip))
    }

    /// Starts `ffmpeg` with `args` to encode frames written to its input.
    pub(crate) fn spawn_encoder(&self, args: &[OsString], clip: &Path) -> Result<Child> {
        Command::new(&self.ffmpeg)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| self.start_error(e, &self.ffmpeg, FFMPEG_VARIABLE, clip))
    }

    /// The error for a program that did not start: missing, or something else about the clip.
    fn start_error(&self, e: std::io::Error, program: &OsString, variable: &'static str, clip: &Path) -> VideoError {
        match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => VideoError::Missing {
                program: program.to_string_lossy().into_owned(),
                variable,
            },
            _ => VideoError::clip(clip, format!("could not run {}: {e}", program.to_string_lossy())),
        }
    }
}

/// The first lines a program wrote to stderr, for an error message (at most 300 characters).
pub(crate) fn first_lines(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let joined = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(3)
        .collect::<Vec<_>>()
        .join("; ");
    match joined.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &joined[..cut]),
        None => joined,
    }
}
