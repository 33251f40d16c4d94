//! Errors as the server answers them: a status and `{"error": "..."}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use recur_nn::NnError;

/// A refused or failed request: its HTTP status and what is wrong.
#[derive(Clone, Debug)]
pub struct ApiError {
    /// The status answered.
    pub status: StatusCode,
    /// What is wrong, for the caller.
    pub message: String,
}

impl ApiError {
    /// A 400: the request is wrong (bad JSON, datatype, shape or values).
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// A 404: no such model or route.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }

    /// A 503: the server cannot take the request now (too many waiting).
    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: message.into(),
        }
    }

    /// A 500: the server failed on a request it accepted.
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
        }
    }
}

impl From<NnError> for ApiError {
    /// A model's refusal of its input is the caller's mistake (400); anything else is ours.
    fn from(e: NnError) -> Self {
        match e {
            NnError::Input(_) | NnError::Setting(_) => ApiError::bad_request(e.to_string()),
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(serde_json::json!({"error": self.message}))).into_response()
    }
}
