//! `X-Request-Id`: taken from the request when a client sends a sane one,
//! made up otherwise; echoed on every response and put in error bodies.

use crate::error::ErrorMarker;
use axum::body::Body;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
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
    let mut response = tracing::Instrument::instrument(next.run(request), span.clone()).await;
    span.in_scope(|| {
        tracing::info!(%method, path, status = response.status().as_u16(), micros = started.elapsed().as_micros() as u64, "answered");
    });
    if response.extensions().get::<ErrorMarker>().is_some() {
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
        let mut value: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        value["error"]["requestId"] = serde_json::Value::String(id.clone());
        response = Response::from_parts(parts, Body::from(value.to_string()));
    }
    response.headers_mut().insert("x-request-id", HeaderValue::from_str(&id).expect("ascii id"));
    response
}
