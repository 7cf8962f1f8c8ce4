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
//! - `write` — producing events once per `Idempotency-Key`, consistency tokens.
//! - `consistency` — `?after=<consistencyToken>` on reads (read-your-writes).
//! - `breaker` — timeouts and circuit breakers around every store.
//! - `limits` — rate limits shared through Redis, the body size limit.
//! - `metrics` — `GET /metrics` (Prometheus) and the middleware counting requests.
//! - `routes/` — one module per family of routes (`writes` for every write).
//! - `request_id` — `X-Request-Id` on every response and in error bodies.

#![warn(missing_docs)]

pub mod auth;
pub mod breaker;
mod consistency;
pub mod error;
pub mod form;
pub mod limits;
pub mod metrics;
mod request_id;
mod routes;
pub mod write;

use auth::Caller;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::{delete, get, post, put, MethodRouter};
use axum::Router;
use routes::writes::{self, Spec, Who};
use shopflow_sinks::clickhouse::ClickHouseReader;
use shopflow_sinks::redis::{RedisReader, Requests};
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
    /// Produces the events of writes.
    pub writer: write::Writer,
    /// Idempotency records and stock holds, shared by every replica.
    pub requests: Requests,
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
}

/// A clickstream route: anyone may send it.
fn clickstream(type_name: &'static str, route: &'static str) -> MethodRouter<AppState> {
    post(move |State(state): State<AppState>, caller: Option<Caller>, headers: HeaderMap, bytes: Bytes| {
        writes::clickstream(state, caller, headers, bytes, type_name, route)
    })
}

/// The method of a route.
#[derive(Clone, Copy)]
enum Verb {
    Post,
    Put,
    Delete,
}

/// A write of the table (`routes::writes::by_table`): `route` is "METHOD /path", `{id}` the path's id.
fn table(
    verb: Verb,
    type_name: &'static str,
    route: &'static str,
    who: Who,
    path_field: Option<&'static str>,
    generated: Option<(&'static str, &'static str)>,
) -> MethodRouter<AppState> {
    let spec = Spec { type_name, route, who, path_field, generated };
    let by_id = move |State(state): State<AppState>,
                      caller: Caller,
                      Path(id): Path<String>,
                      headers: HeaderMap,
                      bytes: Bytes| { writes::by_table(state, caller, Some(id), headers, bytes, spec) };
    let plain = move |State(state): State<AppState>, caller: Caller, headers: HeaderMap, bytes: Bytes| {
        writes::by_table(state, caller, None, headers, bytes, spec)
    };
    match (verb, path_field.is_some()) {
        (Verb::Post, true) => post(by_id),
        (Verb::Put, true) => put(by_id),
        (Verb::Delete, true) => delete(by_id),
        (Verb::Post, false) => post(plain),
        (Verb::Put, false) => put(plain),
        (Verb::Delete, false) => delete(plain),
    }
}

/// The router: every route of the API.
pub fn app(state: AppState) -> Router {
    let reads = Router::new()
        .route("/status", get(routes::status::status))
        .route("/auth/refresh", post(routes::session::refresh))
        .route("/products/{id}", get(routes::products::product))
        .route("/products/{id}/reviews", get(routes::products::reviews))
        .route("/products/{id}/bought-together", get(routes::recommend::bought_together))
        .route("/products/{id}/viewed-together", get(routes::recommend::viewed_together))
        .route("/trending", get(routes::recommend::trending))
        .route("/recommendations", get(routes::recommend::recommendations))
        .route("/inventory/{id}", get(routes::products::inventory))
        .route("/cart", get(routes::orders::cart))
        .route("/orders", get(routes::orders::list).post(writes::checkout))
        .route("/orders/{id}", get(routes::orders::one))
        .route("/admin/analytics/{relation}", get(routes::analytics::relation));
    use Verb::{Delete, Post, Put};
    use Who::{Admin, User, Vendor};
    let shoppers = Router::new()
        .route("/cart/items", post(writes::cart_add))
        .route(
            "/cart/items/{id}",
            table(Put, "Cart.ItemUpdated", "PUT /cart/items/{id}", User, Some("productId"), None).merge(table(
                Delete,
                "Cart.ItemRemoved",
                "DELETE /cart/items/{id}",
                User,
                Some("productId"),
                None,
            )),
        )
        .route("/orders/{id}/cancel", put(writes::cancel))
        .route("/orders/{id}/return", post(writes::request_return))
        .route("/payments/initiate", post(writes::initiate_payment))
        .route("/wallets/topup", post(writes::top_up))
        .route("/reviews", post(writes::post_review))
        .route(
            "/vendors/apply",
            table(Post, "Vendor.Applied", "POST /vendors/apply", User, None, Some(("vendorId", "ven"))),
        )
        .route("/events/view", clickstream("Product.Viewed", "POST /events/view"))
        .route("/events/search", clickstream("Search.Performed", "POST /events/search"))
        .route("/events/click", clickstream("Search.ResultClicked", "POST /events/click"));
    let vendors = Router::new()
        .route(
            "/vendor/products",
            table(Post, "Product.Created", "POST /vendor/products", Vendor, None, Some(("productId", "prd"))),
        )
        .route("/vendor/products/{id}", put(writes::vendor_update_product))
        .route("/vendor/inventory", post(writes::vendor_stock))
        .route(
            "/vendor/payouts",
            table(Post, "Payout.Requested", "POST /vendor/payouts", Vendor, None, Some(("payoutId", "pyo"))),
        );
    let admin = |verb, type_name, route, path_field| table(verb, type_name, route, Admin, path_field, None);
    let admins = Router::new()
        .route(
            "/admin/products",
            table(Post, "Product.Created", "POST /admin/products", Admin, None, Some(("productId", "prd"))),
        )
        .route(
            "/admin/products/{id}",
            admin(Put, "Product.Updated", "PUT /admin/products/{id}", Some("productId")).merge(admin(
                Delete,
                "Product.Deleted",
                "DELETE /admin/products/{id}",
                Some("productId"),
            )),
        )
        .route(
            "/admin/categories",
            table(Post, "Category.Upserted", "POST /admin/categories", Admin, None, Some(("categoryId", "cat"))),
        )
        .route("/admin/inventory", admin(Post, "Inventory.StockReceived", "POST /admin/inventory", None))
        .route("/admin/inventory/adjust", admin(Post, "Inventory.Adjusted", "POST /admin/inventory/adjust", None))
        .route(
            "/admin/vendors/{id}/approve",
            admin(Post, "Vendor.Approved", "POST /admin/vendors/{id}/approve", Some("vendorId")),
        )
        .route(
            "/admin/vendors/{id}/suspend",
            admin(Post, "Vendor.Suspended", "POST /admin/vendors/{id}/suspend", Some("vendorId")),
        )
        .route(
            "/admin/payouts/{id}/process",
            admin(Post, "Payout.Processed", "POST /admin/payouts/{id}/process", Some("payoutId")),
        )
        .route("/admin/promotions", admin(Post, "Promotion.Created", "POST /admin/promotions", None))
        .route(
            "/admin/promotions/{id}/end",
            admin(Post, "Promotion.Ended", "POST /admin/promotions/{id}/end", Some("code")),
        )
        .route(
            "/admin/delivery-partners",
            table(
                Post,
                "DeliveryPartner.Registered",
                "POST /admin/delivery-partners",
                Admin,
                None,
                Some(("partnerId", "dlp")),
            ),
        )
        .route(
            "/admin/delivery-partners/{id}/availability",
            admin(
                Put,
                "DeliveryPartner.AvailabilityChanged",
                "PUT /admin/delivery-partners/{id}/availability",
                Some("partnerId"),
            ),
        )
        .route(
            "/admin/reviews/{id}/moderate",
            admin(Post, "Review.Moderated", "POST /admin/reviews/{id}/moderate", Some("reviewId")),
        )
        .route(
            "/admin/shipments",
            table(Post, "Shipment.Created", "POST /admin/shipments", Admin, None, Some(("shipmentId", "shp"))),
        )
        .route(
            "/admin/shipments/{id}/status",
            admin(Post, "Shipment.StatusUpdated", "POST /admin/shipments/{id}/status", Some("shipmentId")),
        )
        .route(
            "/admin/shipments/{id}/delivered",
            admin(Post, "Shipment.Delivered", "POST /admin/shipments/{id}/delivered", Some("shipmentId")),
        )
        .route(
            "/payments/{id}/refund",
            admin(Post, "Payment.Refunded", "POST /payments/{id}/refund", Some("paymentId")),
        );
    let api = reads
        .merge(shoppers)
        .merge(vendors)
        .merge(admins)
        .layer(axum::middleware::from_fn_with_state(state.clone(), consistency::after))
        .layer(axum::middleware::from_fn_with_state(state.clone(), limits::limit))
        .layer(axum::extract::DefaultBodyLimit::max(state.limits.body_bytes))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track));
    Router::new()
        .nest("/api/v1", api)
        .route("/health", get(routes::status::health))
        .route("/ready", get(routes::status::ready))
        .route("/metrics", get(metrics::metrics))
        .fallback(routes::not_found)
        .layer(axum::middleware::from_fn(request_id::request_id))
        .with_state(state)
}
