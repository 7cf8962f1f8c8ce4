//! # shopflow-api: the HTTP API
//!
//! A thin axum service over what the pipeline publishes
//! (`shared/contract/api.md`): point reads from Redis, analytics from
//! ClickHouse. It holds no state of its own, so any number of replicas can
//! serve. [`app`] builds the router, so tests call it without a socket:
//!
//! ```no_run
//! # async fn demo(state: shopflow_api::AppState) {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await.unwrap();
//! axum::serve(listener, shopflow_api::app(state)).await.unwrap();
//! # }
//! ```
//!
//! ## Layout
//! - `auth` — JWT verification and minting, the `Caller` extractor.
//! - `error` — `AppError`, the uniform error body.
//! - `routes/` — one module per family of routes.
//! - `request_id` — `X-Request-Id` on every response and in error bodies.

#![warn(missing_docs)]

pub mod auth;
pub mod error;
mod request_id;
mod routes;

use axum::routing::get;
use axum::Router;
use shopflow_sinks::clickhouse::ClickHouseReader;
use shopflow_sinks::redis::RedisReader;
use std::sync::Arc;
use std::time::Duration;

/// A check `/ready` runs (e.g. "can Kafka be reached"), given by the binary.
pub type ReadyCheck = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// Served state.
    pub redis: RedisReader,
    /// Analytics.
    pub clickhouse: ClickHouseReader,
    /// Token verification.
    pub auth: auth::Auth,
    /// Extra readiness checks (Kafka).
    pub ready_checks: Vec<(&'static str, ReadyCheck)>,
    /// `/ready` fails when the published state is older than this.
    pub max_staleness: Duration,
}

/// The router: every route of the API.
pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .route("/status", get(routes::status::status))
        .route("/products/{id}", get(routes::products::product))
        .route("/products/{id}/reviews", get(routes::products::reviews))
        .route("/products/{id}/bought-together", get(routes::recommend::bought_together))
        .route("/products/{id}/viewed-together", get(routes::recommend::viewed_together))
        .route("/trending", get(routes::recommend::trending))
        .route("/recommendations", get(routes::recommend::recommendations))
        .route("/inventory/{id}", get(routes::products::inventory))
        .route("/cart", get(routes::orders::cart))
        .route("/orders", get(routes::orders::list))
        .route("/orders/{id}", get(routes::orders::one))
        .route("/admin/analytics/{relation}", get(routes::analytics::relation));
    Router::new()
        .nest("/api/v1", api)
        .route("/health", get(routes::status::health))
        .route("/ready", get(routes::status::ready))
        .fallback(routes::not_found)
        .layer(axum::middleware::from_fn(request_id::request_id))
        .with_state(state)
}
