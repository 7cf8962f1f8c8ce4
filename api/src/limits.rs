//! Limits every replica enforces together: token-bucket rate limits per
//! subject (the token's `sub`, or the client's address without a token) and
//! route class (reads, writes), kept in Redis; and a request body size limit.

use crate::auth::Caller;
use crate::error::AppError;
use crate::AppState;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;

/// One token bucket: `burst` requests at once, refilled at `per_second`; a burst of 0
/// turns the limit off (e.g. behind a gateway that limits already).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    /// The bucket's capacity.
    pub burst: u32,
    /// Tokens added per second.
    pub per_second: f64,
}

/// The limits of an API.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    /// Reads (GET) per subject.
    pub reads: Rate,
    /// Writes (every other method) per subject.
    pub writes: Rate,
    /// The largest request body, in bytes.
    pub body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            reads: Rate { burst: 200, per_second: 100.0 },
            writes: Rate { burst: 40, per_second: 10.0 },
            body_bytes: 64 * 1024,
        }
    }
}

/// Who a request counts against: the token's subject when it carries a valid one, else its
/// address. A verified token is kept in the request, so the `Caller` extractor does not verify
/// it again.
fn subject(state: &AppState, request: &mut Request) -> String {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "));
    if let Some(claims) = token.and_then(|t| state.auth.verify(t.trim()).ok()) {
        let subject = format!("sub:{}", claims.sub);
        request.extensions_mut().insert(Caller(claims));
        return subject;
    }
    match request.extensions().get::<ConnectInfo<SocketAddr>>() {
        Some(ConnectInfo(address)) => format!("ip:{}", address.ip()),
        None => "ip:unknown".to_string(),
    }
}

/// The middleware: 413 for a body over the limit, 429 with `Retry-After` over the rate.
pub async fn limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let too_large = || {
        AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request bodies are at most {} bytes", state.limits.body_bytes),
        )
        .into_response()
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > state.limits.body_bytes) {
        return too_large();
    }
    // A body without a declared length is read up to the limit here, so it gets the same answer.
    let request = if declared.is_none() && request.method() != Method::GET {
        let (parts, body) = request.into_parts();
        match axum::body::to_bytes(body, state.limits.body_bytes).await {
            Ok(bytes) => Request::from_parts(parts, axum::body::Body::from(bytes)),
            Err(_) => return too_large(),
        }
    } else {
        request
    };
    let (class, rate) =
        if request.method() == Method::GET { ("read", state.limits.reads) } else { ("write", state.limits.writes) };
    if rate.burst == 0 {
        return next.run(request).await;
    }
    let mut request = request;
    let bucket = format!("{class}:{}", subject(&state, &mut request));
    let now = chrono::Utc::now().timestamp_millis();
    match state.breakers.redis.call(state.stores.requests.take(&bucket, rate.burst, rate.per_second, now)).await {
        Ok(None) => next.run(request).await,
        Ok(Some(wait_ms)) => {
            let seconds = wait_ms.div_ceil(1000).max(1);
            let mut response = AppError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many {class}s; retry in {seconds} s"),
            )
            .into_response();
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            response
        }
        Err(e) => {
            // The limiter protects the API; it must not take it down with Redis.
            tracing::warn!("rate limiter unavailable, letting the request through: {e}");
            next.run(request).await
        }
    }
}
