//! The error body every Docker API error answers with: `{"message": "..."}`. The CLI prints it as
//! `Error response from daemon: <message>`.

use serde::{Deserialize, Serialize};

/// Docker's error body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub message: String,
}

impl ErrorResponse {
    pub fn new(message: impl Into<String>) -> Self {
        ErrorResponse {
            message: message.into(),
        }
    }
}
