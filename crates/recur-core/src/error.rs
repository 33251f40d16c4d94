//! Errors raised by the numeric core.

/// Errors raised by the numeric core: always about shapes or values a caller passed in.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// A buffer or shape did not match what the operation needs.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// An input held a value the operation cannot use (NaN, a length beyond the time axis…).
    #[error("invalid value: {0}")]
    Value(String),
}

/// Result alias for the numeric core.
pub type Result<T> = std::result::Result<T, CoreError>;
