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
//! - `form` — request bodies checked field by field, every bad field reported.
//! - `cors` — `--cors-origins`: answers to browsers on other origins, preflights included.
//! - `consistency` — `?after=<consistencyToken>` on reads (read-your-writes).
//! - `breaker` — timeouts and circuit breakers around every store.
//! - `jwks` — tokens of an external OpenID Connect provider, by its published keys.
//! - `identity` — password hashes (argon2id), sealed secrets, TOTP, reset tokens.
//! - `limits` — rate limits shared through Redis, the body size limit.
//! - `metrics` — `GET /metrics` (Prometheus) and the middleware counting requests.
//! - `stores` — the stores behind the API as small traits (Redis, ClickHouse,
//!   Kafka in production; `Offline` where a test needs none).
//! - `routes/` — one module per family of routes, each with its handlers and
//!   their descriptions; the router and `/openapi.json` are made from them.
//! - `write/` — the write engine every write route uses (idempotent produce,
//!   consistency tokens, HMAC) and the writes by the table (`write::table`).
//! - `request_id` — `X-Request-Id` on every response and in error bodies.

#![warn(missing_docs)]

pub mod answers;
pub mod auth;
pub mod breaker;
mod consistency;
pub mod cors;
pub mod error;
pub mod form;
pub mod identity;
pub mod jwks;
pub mod limits;
pub mod metrics;
pub mod openapi;
mod request_id;
pub mod routes;
pub mod stores;
pub mod write;

use axum::Router;
use openapi::Doc;
use std::sync::Arc;
use std::time::Duration;

pub use stores::Stores;

/// A check `/ready` runs (e.g. "can Kafka be reached"), given by the binary.
pub type ReadyCheck = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// What every handler shares: [`Services`] behind an `Arc`, so the clone each
/// middleware and extractor takes is a reference count, not a copy of keys,
/// clients and maps (it was a fifth of the CPU of a point read).
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl From<Services> for AppState {
    fn from(services: Services) -> AppState {
        AppState(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// The stores, clients and settings of the API.
#[derive(Clone)]
pub struct Services {
    /// Served state, request bookkeeping, analytics, and where writes go.
    pub stores: Stores,
    /// Token verification.
    pub auth: auth::Auth,
    /// Extra readiness checks (Kafka).
    pub ready_checks: Vec<(&'static str, ReadyCheck)>,
    /// `/ready` fails when the published state is older than this.
    pub max_staleness: Duration,
    /// How long a read with `?after=` waits for the served state to include the write.
    pub consistency_wait: Duration,
    /// How long a checkout's stock stays held when the pipeline has not counted the order.
    pub hold_ttl: Duration,
    /// Rate and body size limits.
    pub limits: limits::Limits,
    /// Request metrics of this process.
    pub metrics: metrics::Metrics,
    /// Timeouts and circuit breakers of Redis, ClickHouse and Kafka.
    pub breakers: breaker::Breakers,
    /// The secret the payment provider signs its callbacks with (`X-Signature`).
    pub payment_secret: Option<String>,
    /// The public address of the storefront's pages (sitemap, JSON-LD); the request's Host without one.
    pub public_url: Option<String>,
    /// Listing and search answers, kept while their lists are unchanged.
    pub answers: answers::Answers,
    /// What checkout charges for shipping.
    pub shipping: Shipping,
    /// Seals second-factor secrets (`--seal-key`); without one, second factors are off.
    pub sealer: Option<identity::Sealer>,
    /// The origins browsers may call the API from (`--cors-origins`).
    pub cors: cors::Cors,
}

/// What checkout charges for shipping, in minor units: `fee`, nothing when
/// the subtotal after discount is at least `free_from`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shipping {
    /// The fee.
    pub fee: i64,
    /// The subtotal after discount from which shipping is free.
    pub free_from: i64,
}

impl Default for Shipping {
    fn default() -> Shipping {
        Shipping { fee: 499, free_from: 5_000 }
    }
}

impl Shipping {
    /// The shipping of an order whose subtotal after discount is `amount`.
    pub fn of(&self, amount: i64) -> i64 {
        if amount >= self.free_from {
            0
        } else {
            self.fee
        }
    }
}

/// The descriptions of every route.
pub fn docs() -> Vec<Doc> {
    routes::all().into_iter().map(|(doc, _)| doc).collect()
}

/// The router: every route of the API.
pub fn app(state: AppState) -> Router {
    let mut api = Router::new();
    let mut top = Router::new();
    for (doc, handler) in routes::all() {
        match doc.path.strip_prefix("/api/v1") {
            Some(path) => api = api.route(path, handler),
            None => top = top.route(doc.path, handler),
        }
    }
    let api = api
        .layer(axum::middleware::from_fn_with_state(state.clone(), consistency::after))
        .layer(axum::middleware::from_fn_with_state(state.clone(), limits::limit))
        .layer(axum::extract::DefaultBodyLimit::max(state.limits.body_bytes))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track));
    top.nest("/api/v1", api)
        .fallback(routes::not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), cors::cors))
        .layer(axum::middleware::from_fn(request_id::request_id))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_route_is_documented_once() {
        let docs = super::docs();
        let mut seen = std::collections::BTreeSet::new();
        for doc in &docs {
            assert!(seen.insert((doc.method, doc.path)), "{} {} twice", doc.method, doc.path);
        }
        // Spot checks that the list is the API of api.md.
        for route in [
            ("POST", "/api/v1/orders"),
            ("GET", "/api/v1/orders/{id}"),
            ("POST", "/api/v1/auth/refresh"),
            ("GET", "/metrics"),
        ] {
            assert!(seen.contains(&route), "{route:?} missing");
        }
        let document = super::openapi::document(&docs);
        assert_eq!(
            document["paths"].as_object().unwrap().values().map(|p| p.as_object().unwrap().len()).sum::<usize>(),
            docs.len()
        );
    }
}
