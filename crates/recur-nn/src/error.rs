//! Errors from building, running, saving and loading models.

/// Everything that can go wrong with a model because of what a user gave it.
#[derive(Debug, thiserror::Error)]
pub enum NnError {
    /// The model config is malformed or inconsistent.
    #[error("model config: {0}")]
    Config(String),
    /// A setting of a job (training, forecasting, resuming), or the data it meets, does not
    /// work; the message names the setting. Not [`NnError::Config`]: the model's config is
    /// fine, and a "model config:" label sent users looking in the wrong file.
    #[error("{0}")]
    Setting(String),
    /// An input does not fit the model.
    #[error("input: {0}")]
    Input(String),
    /// A checkpoint is unreadable or does not match the config.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error, written in the message. Not a `source` (as a field of
        /// that name would make it): `{:#}` prints a source after the message, and every
        /// missing file said "No such file or directory" twice.
        error: std::io::Error,
    },
    /// The front end asked the run to stop (see `recur_train::Reporter::with_stop`).
    #[error("training was interrupted")]
    Interrupted,
}

impl NnError {
    /// Turns an I/O error on `path` into [`NnError::Io`] naming the file (for `map_err`).
    pub fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> NnError + '_ {
        move |source| NnError::Io {
            path: path.display().to_string(),
            error: source,
        }
    }
}

/// Result alias for model operations.
pub type Result<T> = std::result::Result<T, NnError>;
