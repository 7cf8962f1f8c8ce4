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
pub mod openapi;
mod request_id;
mod routes;
pub mod write;

use auth::Caller;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::{delete, get, post, put, MethodRouter};
use axum::Router;
use openapi::{Access, Doc, Input, Output};
use routes::writes::{self, Spec, Who};
use shopflow_sinks::clickhouse::ClickHouseReader;
use shopflow_sinks::redis::{RedisReader, Requests};
use std::sync::Arc;
use std::time::Duration;

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
    /// The secret the payment provider signs its callbacks with (`X-Signature`).
    pub payment_secret: Option<String>,
}

/// A clickstream route: anyone may send it.
fn clickstream(type_name: &'static str, route: &'static str) -> MethodRouter<AppState> {
    post(move |State(state): State<AppState>, caller: Option<Caller>, headers: HeaderMap, bytes: Bytes| {
        writes::clickstream(state, caller, headers, bytes, type_name, route)
    })
}

/// The method of a write.
#[derive(Clone, Copy)]
enum Verb {
    Post,
    Put,
    Delete,
}

impl Verb {
    fn name(self) -> &'static str {
        match self {
            Verb::Post => "POST",
            Verb::Put => "PUT",
            Verb::Delete => "DELETE",
        }
    }
}

/// A write of the table (`routes::writes::by_table`) at `path` (below `/api/v1`, `{id}` the path's id).
fn table(
    verb: Verb,
    type_name: &'static str,
    path: &'static str,
    who: Who,
    path_field: Option<&'static str>,
    generated: Option<(&'static str, &'static str)>,
) -> MethodRouter<AppState> {
    let spec = Spec { type_name, method: verb.name(), path, who, path_field, generated };
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

const fn doc(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    access: Access,
    input: Input,
    output: Output,
) -> Doc {
    Doc { method, path, summary, access, input, output, query: &[] }
}

/// A read: GET, a JSON object.
const fn read(path: &'static str, summary: &'static str, access: Access) -> Doc {
    doc("GET", path, summary, access, Input::Nothing, Output::Object)
}

/// Every route with its description: the router and `/openapi.json` are both made from this.
fn routes() -> Vec<(Doc, MethodRouter<AppState>)> {
    use routes::{analytics, orders, products, recommend, session, status};
    use Access::{Anyone, Caller as Own, Optional};
    use Verb::{Delete, Post, Put};
    use Who::{Admin, User, Vendor};
    const ORDER: &[(&str, &str, bool)] =
        &[("items", "array", true), ("shippingAddress", "object", true), ("promoCode", "string", false)];
    let written = |method, path, summary, access, input| doc(method, path, summary, access, input, Output::Written);
    // A write of the table: its doc says which event it makes.
    let tabled = |verb: Verb,
                  path: &'static str,
                  summary: &'static str,
                  type_name: &'static str,
                  who: Who,
                  path_field,
                  generated| {
        let method = verb.name();
        let access = match who {
            User => Own,
            Vendor => Access::Vendor,
            Admin => Access::Admin,
        };
        let below = path.trim_start_matches("/api/v1");
        (
            written(method, path, summary, access, Input::Event(type_name)),
            table(verb, type_name, below, who, path_field, generated),
        )
    };
    vec![
        (read("/health", "the process is up", Anyone), get(status::health)),
        (
            read("/ready", "Redis, ClickHouse and Kafka answer and the served state is fresh", Anyone),
            get(status::ready),
        ),
        (doc("GET", "/metrics", "Prometheus metrics", Anyone, Input::Nothing, Output::Text), get(metrics::metrics)),
        (read("/openapi.json", "this document", Anyone), get(openapi_json)),
        (read("/api/v1/status", "the served frontier: generation, asOf, offsets", Anyone), get(status::status)),
        (
            doc(
                "POST",
                "/api/v1/auth/refresh",
                "a new access token (and refresh token) for a refresh token, once",
                Anyone,
                Input::Fields(&[("refreshToken", "string", true)]),
                Output::Object,
            ),
            post(session::refresh),
        ),
        (read("/api/v1/products/{id}", "a product with available stock and rating", Anyone), get(products::product)),
        (read("/api/v1/products/{id}/reviews", "a product's reviews and rating", Anyone), get(products::reviews)),
        (
            read("/api/v1/products/{id}/bought-together", "products bought with this one", Anyone),
            get(recommend::bought_together),
        ),
        (
            read("/api/v1/products/{id}/viewed-together", "products viewed with this one", Anyone),
            get(recommend::viewed_together),
        ),
        (read("/api/v1/trending", "trending products", Anyone), get(recommend::trending)),
        (read("/api/v1/recommendations", "the caller's recommendations", Own), get(recommend::recommendations)),
        (read("/api/v1/inventory/{id}", "stock of a product", Anyone), get(products::inventory)),
        (read("/api/v1/cart", "the caller's cart", Own), get(orders::cart)),
        (
            Doc { query: &[("userId", "admins: whose orders")], ..read("/api/v1/orders", "the caller's orders", Own) },
            get(orders::list),
        ),
        (read("/api/v1/orders/{id}", "one of the caller's orders (admins: any)", Own), get(orders::one)),
        (
            Doc {
                query: &[("from", "first day, YYYY-MM-DD"), ("to", "last day"), ("limit", "rows, 1-10000")],
                ..read("/api/v1/admin/analytics/{relation}", "sales, funnel or products from ClickHouse", Access::Admin)
            },
            get(analytics::relation),
        ),
        (
            written(
                "POST",
                "/api/v1/orders",
                "check out: priced, stock held, Order.Created and Cart.CheckedOut",
                Own,
                Input::Fields(ORDER),
            ),
            post(writes::checkout),
        ),
        (
            written(
                "POST",
                "/api/v1/cart/items",
                "Cart.ItemAdded",
                Own,
                Input::Fields(&[("productId", "string", true), ("quantity", "integer", true)]),
            ),
            post(writes::cart_add),
        ),
        tabled(
            Put,
            "/api/v1/cart/items/{id}",
            "Cart.ItemUpdated (0 removes)",
            "Cart.ItemUpdated",
            User,
            Some("productId"),
            None,
        ),
        tabled(
            Delete,
            "/api/v1/cart/items/{id}",
            "Cart.ItemRemoved",
            "Cart.ItemRemoved",
            User,
            Some("productId"),
            None,
        ),
        (
            written(
                "PUT",
                "/api/v1/orders/{id}/cancel",
                "Order.Cancelled",
                Own,
                Input::Fields(&[("reason", "string", false)]),
            ),
            put(writes::cancel),
        ),
        (
            written(
                "POST",
                "/api/v1/orders/{id}/return",
                "Order.ReturnRequested",
                Own,
                Input::Fields(&[("reason", "string", true)]),
            ),
            post(writes::request_return),
        ),
        (
            written(
                "POST",
                "/api/v1/payments/initiate",
                "Payment.Initiated for an own order's total",
                Own,
                Input::Fields(&[("orderId", "string", true), ("method", "string", true)]),
            ),
            post(writes::initiate_payment),
        ),
        (
            doc(
                "POST",
                "/api/v1/payments/confirm",
                "the payment provider's callback (X-Signature: hex HMAC-SHA256 of the body): Payment.Completed or Payment.Failed",
                Anyone,
                Input::Fields(&[("paymentId", "string", true), ("orderId", "string", true), ("success", "boolean", true), ("reason", "string", false)]),
                Output::Written,
            ),
            post(writes::confirm_payment),
        ),
        (
            written(
                "POST",
                "/api/v1/wallets/topup",
                "Wallet.ToppedUp",
                Own,
                Input::Fields(&[("amount", "integer", true), ("currency", "string", false)]),
            ),
            post(writes::top_up),
        ),
        (
            written(
                "POST",
                "/api/v1/reviews",
                "Review.Posted",
                Own,
                Input::Fields(&[
                    ("productId", "string", true),
                    ("rating", "integer", true),
                    ("title", "string", true),
                    ("body", "string", true),
                ]),
            ),
            post(writes::post_review),
        ),
        tabled(
            Post,
            "/api/v1/vendors/apply",
            "Vendor.Applied",
            "Vendor.Applied",
            User,
            None,
            Some(("vendorId", "ven")),
        ),
        (
            written(
                "POST",
                "/api/v1/events/view",
                "Product.Viewed",
                Optional,
                Input::Fields(&[("productId", "string", true), ("sessionId", "string", true)]),
            ),
            clickstream("Product.Viewed", "POST /events/view"),
        ),
        (
            written(
                "POST",
                "/api/v1/events/search",
                "Search.Performed",
                Optional,
                Input::Fields(&[
                    ("query", "string", true),
                    ("sessionId", "string", true),
                    ("resultCount", "integer", true),
                ]),
            ),
            clickstream("Search.Performed", "POST /events/search"),
        ),
        (
            written(
                "POST",
                "/api/v1/events/click",
                "Search.ResultClicked",
                Optional,
                Input::Fields(&[
                    ("query", "string", true),
                    ("sessionId", "string", true),
                    ("productId", "string", true),
                    ("position", "integer", true),
                ]),
            ),
            clickstream("Search.ResultClicked", "POST /events/click"),
        ),
        tabled(
            Post,
            "/api/v1/vendor/products",
            "Product.Created for the caller's store",
            "Product.Created",
            Vendor,
            None,
            Some(("productId", "prd")),
        ),
        (
            written(
                "PUT",
                "/api/v1/vendor/products/{id}",
                "Product.Updated of an own product",
                Access::Vendor,
                Input::Event("Product.Updated"),
            ),
            put(writes::vendor_update_product),
        ),
        (
            written(
                "POST",
                "/api/v1/vendor/inventory",
                "Inventory.StockReceived of an own product",
                Access::Vendor,
                Input::Event("Inventory.StockReceived"),
            ),
            post(writes::vendor_stock),
        ),
        tabled(
            Post,
            "/api/v1/vendor/payouts",
            "Payout.Requested",
            "Payout.Requested",
            Vendor,
            None,
            Some(("payoutId", "pyo")),
        ),
        tabled(
            Post,
            "/api/v1/admin/products",
            "Product.Created",
            "Product.Created",
            Admin,
            None,
            Some(("productId", "prd")),
        ),
        tabled(
            Put,
            "/api/v1/admin/products/{id}",
            "Product.Updated",
            "Product.Updated",
            Admin,
            Some("productId"),
            None,
        ),
        tabled(
            Delete,
            "/api/v1/admin/products/{id}",
            "Product.Deleted",
            "Product.Deleted",
            Admin,
            Some("productId"),
            None,
        ),
        tabled(
            Post,
            "/api/v1/admin/categories",
            "Category.Upserted",
            "Category.Upserted",
            Admin,
            None,
            Some(("categoryId", "cat")),
        ),
        tabled(
            Post,
            "/api/v1/admin/inventory",
            "Inventory.StockReceived",
            "Inventory.StockReceived",
            Admin,
            None,
            None,
        ),
        tabled(Post, "/api/v1/admin/inventory/adjust", "Inventory.Adjusted", "Inventory.Adjusted", Admin, None, None),
        tabled(
            Post,
            "/api/v1/admin/vendors/{id}/approve",
            "Vendor.Approved",
            "Vendor.Approved",
            Admin,
            Some("vendorId"),
            None,
        ),
        tabled(
            Post,
            "/api/v1/admin/vendors/{id}/suspend",
            "Vendor.Suspended",
            "Vendor.Suspended",
            Admin,
            Some("vendorId"),
            None,
        ),
        tabled(
            Post,
            "/api/v1/admin/payouts/{id}/process",
            "Payout.Processed",
            "Payout.Processed",
            Admin,
            Some("payoutId"),
            None,
        ),
        tabled(Post, "/api/v1/admin/promotions", "Promotion.Created", "Promotion.Created", Admin, None, None),
        tabled(
            Post,
            "/api/v1/admin/promotions/{id}/end",
            "Promotion.Ended",
            "Promotion.Ended",
            Admin,
            Some("code"),
            None,
        ),
        tabled(
            Post,
            "/api/v1/admin/delivery-partners",
            "DeliveryPartner.Registered",
            "DeliveryPartner.Registered",
            Admin,
            None,
            Some(("partnerId", "dlp")),
        ),
        tabled(
            Put,
            "/api/v1/admin/delivery-partners/{id}/availability",
            "DeliveryPartner.AvailabilityChanged",
            "DeliveryPartner.AvailabilityChanged",
            Admin,
            Some("partnerId"),
            None,
        ),
        tabled(
            Post,
            "/api/v1/admin/reviews/{id}/moderate",
            "Review.Moderated",
            "Review.Moderated",
            Admin,
            Some("reviewId"),
            None,
        ),
        tabled(
            Post,
            "/api/v1/admin/shipments",
            "Shipment.Created",
            "Shipment.Created",
            Admin,
            None,
            Some(("shipmentId", "shp")),
        ),
        tabled(
            Post,
            "/api/v1/admin/shipments/{id}/status",
            "Shipment.StatusUpdated",
            "Shipment.StatusUpdated",
            Admin,
            Some("shipmentId"),
            None,
        ),
        tabled(
            Post,
            "/api/v1/admin/shipments/{id}/delivered",
            "Shipment.Delivered",
            "Shipment.Delivered",
            Admin,
            Some("shipmentId"),
            None,
        ),
        tabled(
            Post,
            "/api/v1/payments/{id}/refund",
            "Payment.Refunded",
            "Payment.Refunded",
            Admin,
            Some("paymentId"),
            None,
        ),
    ]
}

/// The descriptions of every route.
pub fn docs() -> Vec<Doc> {
    routes().into_iter().map(|(doc, _)| doc).collect()
}

async fn openapi_json() -> axum::Json<serde_json::Value> {
    static DOCUMENT: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    axum::Json(DOCUMENT.get_or_init(|| openapi::document(&docs())).clone())
}

/// The router: every route of the API.
pub fn app(state: AppState) -> Router {
    let mut api = Router::new();
    let mut top = Router::new();
    for (doc, handler) in routes() {
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
