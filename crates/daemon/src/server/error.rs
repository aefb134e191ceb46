//! THE mapping from error kinds to HTTP status codes, and the JSON error body. Every error any
//! handler, extractor or middleware answers with goes through [`ApiError`], so a client always gets
//! `{"message": "..."}` with Docker's status for that kind.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_api::ErrorResponse;

use crate::error::{DaemonError, ErrorKind};

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError(pub DaemonError);

impl<E: Into<DaemonError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl ApiError {
    /// A 400 for a malformed request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError(DaemonError::InvalidArgument(message.into()))
    }
}

/// The status code of an error kind: the one place this decision is made.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorKind::InvalidArgument => StatusCode::BAD_REQUEST,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::NotImplemented => StatusCode::NOT_IMPLEMENTED,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = status_of(self.0.kind());
        if status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED {
            tracing::error!(error = %self.0, "request failed");
        } else {
            tracing::debug!(error = %self.0, "request refused");
        }
        (status, Json(ErrorResponse::new(self.0.to_string()))).into_response()
    }
}

impl From<berth_api::FiltersError> for DaemonError {
    fn from(e: berth_api::FiltersError) -> Self {
        DaemonError::InvalidArgument(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_dockers_statuses() {
        assert_eq!(status_of(ErrorKind::NotFound), StatusCode::NOT_FOUND);
        assert_eq!(status_of(ErrorKind::Conflict), StatusCode::CONFLICT);
        assert_eq!(status_of(ErrorKind::Forbidden), StatusCode::FORBIDDEN);
        assert_eq!(status_of(ErrorKind::Unauthorized), StatusCode::UNAUTHORIZED);
        assert_eq!(
            status_of(ErrorKind::InvalidArgument),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status_of(ErrorKind::NotImplemented),
            StatusCode::NOT_IMPLEMENTED
        );
        assert_eq!(
            status_of(ErrorKind::Unavailable),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            status_of(ErrorKind::Internal),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
