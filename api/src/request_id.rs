//! `X-Request-Id`: taken from the request when a client sends a sane one,
//! made up otherwise; echoed on every response and put in error bodies.

use crate::error::{ErrorDetail, ErrorMarker};
use crate::metrics::Route;
use axum::body::Body;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use shopflow_sinks::otlp::{self, Span};
use std::sync::atomic::{AtomicU64, Ordering};

static NEXT: AtomicU64 = AtomicU64::new(1);

fn new_id() -> String {
    let started = std::process::id() as u64;
    format!("req-{started:x}-{:x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The middleware.
pub async fn request_id(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(new_id);
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let started = std::time::Instant::now();
    // Every line logged while answering carries the request id (the span's field).
    let span = tracing::info_span!("request", request_id = %id);
    let answering = tracing::Instrument::instrument(next.run(request), span.clone());
    // A sampled request is traced (OTLP): its Redis and Kafka calls become its children.
    let (mut response, trace) = match otlp::sample() {
        Some(trace) => (otlp::in_trace(trace, answering).await, Some((trace, otlp::now_ns()))),
        None => (answering.await, None),
    };
    if let Some((trace, ended)) = trace {
        let route = response.extensions().get::<Route>().map_or("unmatched", |r| r.0.as_str());
        let elapsed = u64::try_from(started.elapsed().as_nanos()).unwrap_or(0);
        let mut root = Span::root(trace, format!("{method} {route}"), ended.saturating_sub(elapsed), ended)
            .with("http.request.method", method.as_str())
            .with("http.route", route)
            .with("url.path", path.as_str())
            .with("http.response.status_code", i64::from(response.status().as_u16()))
            .with("shopflow.request_id", id.as_str());
        root.kind = 2;
        root.error = response.status().is_server_error();
        otlp::record(root);
    }
    span.in_scope(|| {
        if let Some(ErrorDetail(detail)) = response.extensions().get::<ErrorDetail>() {
            tracing::error!(%method, path, status = response.status().as_u16(), "{detail}");
        }
        tracing::info!(%method, path, status = response.status().as_u16(), micros = started.elapsed().as_micros() as u64, "answered");
    });
    let json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"application/json"));
    if response.status().as_u16() >= 400 && !json && response.extensions().get::<ErrorMarker>().is_none() {
        // A rejection made by axum itself (a query or path that does not parse, a
        // method the route lacks): the same error body as every other error.
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
        let code = match parts.status.as_u16() {
            400 => "bad_request",
            404 => "not_found",
            405 => "method_not_allowed",
            413 => "payload_too_large",
            415 => "unsupported_media_type",
            422 => "unprocessable",
            _ => "error",
        };
        let message = String::from_utf8_lossy(&bytes).chars().take(500).collect::<String>();
        let mut error = crate::error::AppError::new(parts.status, code, message).into_response();
        *error.headers_mut() = parts.headers;
        error.headers_mut().insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        error.headers_mut().remove(axum::http::header::CONTENT_LENGTH);
        response = error;
    }
    if response.extensions().get::<ErrorMarker>().is_some() {
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
        let mut value: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        value["error"]["requestId"] = serde_json::Value::String(id.clone());
        response = Response::from_parts(parts, Body::from(value.to_string()));
    }
    // The id is printable ASCII (checked above, or made here): always a valid header value.
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}
