//! What can go wrong reading video, each error naming the file (or the program) at fault.

use thiserror::Error;

/// An error reading video.
#[derive(Debug, Error)]
pub enum VideoError {
    /// The `ffmpeg` or `ffprobe` program could not be started.
    #[error(
        "`{program}` was not found: reading video files needs FFmpeg's `ffmpeg` and `ffprobe` programs \
         (Debian/Ubuntu: `apt-get install ffmpeg`; macOS: `brew install ffmpeg`; or set {variable} to the program)"
    )]
    Missing {
        /// The program that was asked for.
        program: String,
        /// The environment variable that names it.
        variable: &'static str,
    },
    /// One clip cannot be read (not a video, corrupt, too large, no frames).
    #[error("{path}: {why}")]
    Clip {
        /// The clip's file.
        path: String,
        /// What is wrong with it.
        why: String,
    },
    /// A data set, a setting or an output that cannot be used.
    #[error("{0}")]
    Input(String),
}

impl VideoError {
    /// An error about the clip at `path`.
    pub fn clip(path: &std::path::Path, why: impl Into<String>) -> VideoError {
        VideoError::Clip {
            path: path.display().to_string(),
            why: why.into(),
        }
    }
}

/// A result with a [`VideoError`].
pub type Result<T> = std::result::Result<T, VideoError>;

impl From<recur_nn::NnError> for VideoError {
    /// A model or training error, as its own message.
    fn from(e: recur_nn::NnError) -> Self {
        VideoError::Input(e.to_string())
    }
}
