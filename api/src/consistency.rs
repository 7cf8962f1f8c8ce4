//! Read-your-writes: a read with `?after=<consistencyToken>` waits until the
//! served state includes every record the token names, up to a bound, then
//! answers 503 `not_caught_up` rather than serve state older than the write.

use crate::error::AppError;
use crate::write::{includes, parse_token};
use crate::AppState;
use axum::extract::{Query, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::time::Duration;

/// How often a waiting read looks at the published offsets again.
const POLL: Duration = Duration::from_millis(20);

/// The middleware.
pub async fn after(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mentions_after = request.uri().query().is_some_and(|q| q.contains("after="));
    if request.method() != Method::GET || !mentions_after {
        return next.run(request).await;
    }
    let token = match Query::<HashMap<String, String>>::try_from_uri(request.uri()) {
        Ok(Query(query)) => query.get("after").cloned(),
        Err(_) => None,
    };
    if let Some(token) = token {
        if let Err(error) = wait_for(&state, &token).await {
            return error.into_response();
        }
    }
    next.run(request).await
}

async fn wait_for(state: &AppState, token: &str) -> Result<(), AppError> {
    let records = parse_token(token).ok_or_else(|| {
        AppError::invalid_fields(vec![("after".to_string(), "not a consistency token of this API".to_string())])
    })?;
    let deadline = tokio::time::Instant::now() + state.consistency_wait;
    loop {
        let status = state.breakers.redis.call(state.stores.views.status()).await?;
        if status.is_some_and(|s| includes(&s.offsets, &records)) {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(AppError::unavailable(
                "not_caught_up",
                format!(
                    "the served state did not include the write within {} ms; retry later",
                    state.consistency_wait.as_millis()
                ),
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}
