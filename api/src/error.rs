//! One error type for every handler: a status, a stable code and a message,
//! rendered as `{"error": {"code", "message", "requestId"}}`. Internals are
//! logged, never shown: an error carries them as `detail`, which the
//! request-id middleware logs with the request's id (making an error has no
//! side effects).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable snake_case code.
    pub code: &'static str,
    /// For people.
    pub message: String,
    /// For 400: every bad field with what is wrong with it.
    pub fields: Vec<(String, String)>,
    /// What went wrong inside (a store's error): logged, never answered.
    pub detail: Option<String>,
}

impl AppError {
    /// Any status with a code.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> AppError {
        AppError { status, code, message: message.into(), fields: Vec::new(), detail: None }
    }

    /// 400 listing every bad field: (field, what is wrong).
    pub fn invalid_fields(fields: Vec<(String, String)>) -> AppError {
        let message =
            fields.iter().map(|(field, problem)| format!("{field}: {problem}")).collect::<Vec<_>>().join("; ");
        AppError { status: StatusCode::BAD_REQUEST, code: "validation_failed", message, fields, detail: None }
    }

    /// 400 with a message naming the bad fields.
    pub fn bad_request(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::BAD_REQUEST, "validation_failed", message.into())
    }

    /// 401.
    pub fn unauthorized(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::UNAUTHORIZED, "unauthorized", message.into())
    }

    /// 403.
    pub fn forbidden(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::FORBIDDEN, "forbidden", message.into())
    }

    /// 404 (also for other users' objects, so ids cannot be probed).
    pub fn not_found(what: &str) -> AppError {
        AppError::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }

    /// 503: a backing store is down or nothing is published yet.
    pub fn unavailable(code: &'static str, message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
    }

    /// 503 for a store failure; the detail goes to the log only.
    pub fn store(store: &'static str, detail: impl std::fmt::Display) -> AppError {
        AppError {
            detail: Some(format!("{store}: {detail}")),
            ..AppError::unavailable("store_unavailable", format!("{store} is unavailable"))
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        // The request id is filled in by the request-id middleware, which knows it.
        let mut body = json!({"error": {"code": self.code, "message": self.message, "requestId": null}});
        if !self.fields.is_empty() {
            let fields: Vec<_> =
                self.fields.iter().map(|(field, problem)| json!({"field": field, "message": problem})).collect();
            body["error"]["fields"] = json!(fields);
        }
        let mut response = (self.status, Json(body)).into_response();
        response.extensions_mut().insert(ErrorMarker);
        if let Some(detail) = self.detail {
            response.extensions_mut().insert(ErrorDetail(detail));
        }
        response
    }
}

/// Marks error responses so the middleware can add the request id to the body.
#[derive(Clone, Copy, Debug)]
pub struct ErrorMarker;

/// The internal detail of an error response, for the middleware to log.
#[derive(Clone, Debug)]
pub struct ErrorDetail(pub String);

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}
