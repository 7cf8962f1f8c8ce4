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
use shopflow_sinks::redis::Bucket;
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
    /// Sign-in attempts (and password reset requests) per account and per client address.
    pub logins: Rate,
    /// The largest request body, in bytes.
    pub body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            reads: Rate { burst: 200, per_second: 100.0 },
            writes: Rate { burst: 40, per_second: 10.0 },
            logins: Rate { burst: 10, per_second: 0.05 },
            body_bytes: 64 * 1024,
        }
    }
}

/// The note kind that marks a suspended user: their access tokens are refused
/// until it expires, which is after the longest access token they could hold.
pub const SUSPENDED: &str = "suspended";

/// Who a request counts against: the token's subject when it carries a valid one, else its
/// address. A verified token is kept in the request, so the `Caller` extractor does not verify
/// it again. The second value is the subject of a valid token.
async fn subject(state: &AppState, request: &mut Request) -> (String, Option<String>) {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string());
    let claims = match token {
        Some(token) => state.auth.verify_access(&token).await.ok(),
        None => None,
    };
    if let Some(claims) = claims {
        let subject = format!("sub:{}", claims.sub);
        let user = claims.sub.clone();
        request.extensions_mut().insert(Caller(claims));
        return (subject, Some(user));
    }
    (format!("ip:{}", client_address(request.extensions())), None)
}

/// The client's address, as the connection says (`unknown` without one, in tests).
pub fn client_address(extensions: &axum::http::Extensions) -> String {
    match extensions.get::<ConnectInfo<SocketAddr>>() {
        Some(ConnectInfo(address)) => address.ip().to_string(),
        None => "unknown".to_string(),
    }
}

/// 429 `rate_limited` with `Retry-After`.
pub fn too_many(what: &str, wait_ms: u64) -> Response {
    let seconds = wait_ms.div_ceil(1000).max(1);
    let mut response =
        AppError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", format!("too many {what}; retry in {seconds} s"))
            .into_response();
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

fn suspended() -> Response {
    AppError::unauthorized("this account is suspended").into_response()
}

/// The middleware: 413 for a body over the limit, 429 with `Retry-After` over the rate,
/// 401 for a suspended user's token.
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
    let mut request = request;
    let (bucket, user) = subject(&state, &mut request).await;
    if rate.burst == 0 {
        // No limit, but a suspended user is still refused.
        if let Some(user) = &user {
            match state.breakers.redis.call(state.stores.requests.note(SUSPENDED, user)).await {
                Ok(Some(_)) => return suspended(),
                Ok(None) => {}
                Err(e) => tracing::warn!("suspensions unavailable, letting the request through: {e}"),
            }
        }
        return next.run(request).await;
    }
    let bucket = format!("{class}:{bucket}");
    let now = chrono::Utc::now().timestamp_millis();
    let blocked = user.as_deref().map(|user| (SUSPENDED, user));
    match state
        .breakers
        .redis
        .call(state.stores.requests.take(&bucket, blocked, rate.burst, rate.per_second, now))
        .await
    {
        Ok(Bucket::Taken) => next.run(request).await,
        Ok(Bucket::Empty(wait_ms)) => too_many(&format!("{class}s"), wait_ms),
        Ok(Bucket::Blocked) => suspended(),
        Err(e) => {
            // The limiter protects the API; it must not take it down with Redis.
            tracing::warn!("rate limiter unavailable, letting the request through: {e}");
            next.run(request).await
        }
    }
}
