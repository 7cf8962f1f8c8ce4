//! The HTTP API over state the real pipeline published to the real Redis and ClickHouse.

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use shopflow_api::auth::{Auth, Role};
use shopflow_api::{app, AppState};
use shopflow_sinks::clickhouse::ClickHouseReader;
use shopflow_sinks::redis::RedisReader;
use std::time::Duration;
use support::Space;
use tower::ServiceExt;

const SECRET: &[u8] = b"test-secret-0123456789";

struct Api {
    state: AppState,
    runtime: tokio::runtime::Runtime,
}

impl Api {
    fn new(space: &Space) -> Api {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let redis = runtime.block_on(RedisReader::connect(&support::redis_url(), &space.name)).unwrap();
        let state = AppState {
            redis,
            clickhouse: ClickHouseReader::new(&support::clickhouse_url(), &space.name),
            auth: Auth::hs256(SECRET, "shopflow", "shopflow-api"),
            ready_checks: vec![],
            max_staleness: Duration::from_secs(3600),
        };
        Api { state, runtime }
    }

    fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut request = Request::get(path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let response =
            self.runtime.block_on(app(self.state.clone()).oneshot(request.body(Body::empty()).unwrap())).unwrap();
        let status = response.status();
        assert!(response.headers().contains_key("x-request-id"), "{path}: no X-Request-Id");
        let bytes = self.runtime.block_on(axum::body::to_bytes(response.into_body(), 1 << 24)).unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    fn token(&self, sub: &str, role: Role) -> String {
        self.state.auth.mint(sub, role, None, 300)
    }
}

#[test]
fn reads_serve_the_published_state_with_object_level_checks() {
    let space = Space::new("api");
    space.run_ok(&["topics", "create", "--partitions", "3"]);
    space.run_ok(&["generate", "--quiet", "--seed", "12", "--orders", "60"]);
    space.run_ok(&["pipeline", "--exit-when-caught-up"]);
    let (_, objects) = space.redis_objects();
    let api = Api::new(&space);

    // Pick an order and its owner from what was published.
    let (order_key, order_json) = objects.iter().find(|(k, _)| k.starts_with("order:")).unwrap();
    let order_id = order_key.strip_prefix("order:").unwrap();
    let published: Value = serde_json::from_str(order_json).unwrap();
    let owner = published["userId"].as_str().unwrap();
    let owner_token = api.token(owner, Role::Shopper);
    let other_token = api.token("usr-nobody", Role::Shopper);
    let admin_token = api.token("admin-1", Role::Admin);

    let (status, order) = api.get(&format!("/api/v1/orders/{order_id}"), Some(&owner_token));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(order["status"], published["status"]);
    assert_eq!(order["history"], published["history"]);
    assert!(order["asOf"].as_i64().unwrap() > 0);

    // Another shopper: 404 and nothing of the order.
    let (status, body) = api.get(&format!("/api/v1/orders/{order_id}"), Some(&other_token));
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!body.to_string().contains(owner), "a 404 leaked the owner");
    assert_eq!(body["error"]["code"], "not_found");
    assert!(body["error"]["requestId"].as_str().unwrap().starts_with("req-"));
    // An admin sees it.
    assert_eq!(api.get(&format!("/api/v1/orders/{order_id}"), Some(&admin_token)).0, StatusCode::OK);
    // No token, a bad token: 401.
    assert_eq!(api.get(&format!("/api/v1/orders/{order_id}"), None).0, StatusCode::UNAUTHORIZED);
    let forged =
        Auth::hs256(b"another-secret-987654321", "shopflow", "shopflow-api").mint(owner, Role::Admin, None, 300);
    assert_eq!(api.get("/api/v1/cart", Some(&forged)).0, StatusCode::UNAUTHORIZED);

    // The owner's order list holds exactly their orders.
    let (status, list) = api.get("/api/v1/orders?userId=someone-else", Some(&owner_token));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["userId"], owner, "a shopper's userId comes from the token, not the query");
    let ids: Vec<&str> = list["items"].as_array().unwrap().iter().map(|o| o["orderId"].as_str().unwrap()).collect();
    assert!(ids.contains(&order_id));
    assert!(list["items"].as_array().unwrap().iter().all(|o| o["userId"] == owner));
    let (status, _) = api.get("/api/v1/orders", Some(&admin_token));
    assert_eq!(status, StatusCode::BAD_REQUEST, "an admin names the user");

    // Inventory and products, for anyone.
    let (inventory_key, inventory_json) = objects.iter().find(|(k, _)| k.starts_with("inventory:")).unwrap();
    let product_id = inventory_key.strip_prefix("inventory:").unwrap();
    let (status, inventory) = api.get(&format!("/api/v1/inventory/{product_id}"), None);
    assert_eq!(status, StatusCode::OK);
    let expected: Value = serde_json::from_str(inventory_json).unwrap();
    assert_eq!(inventory["available"], expected["available"]);
    assert_eq!(inventory["warehouses"], expected["warehouses"]);
    let (status, product) = api.get(&format!("/api/v1/products/{product_id}"), None);
    if status == StatusCode::OK {
        assert_eq!(product["available"], expected["available"]);
        let rating = objects.get(&format!("rating:{product_id}")).map(|r| serde_json::from_str::<Value>(r).unwrap());
        assert_eq!(product["rating"]["count"], rating.as_ref().map_or(Value::from(0), |r| r["count"].clone()));
    } else {
        assert_eq!(status, StatusCode::NOT_FOUND, "only a deleted product may be missing");
    }
    assert_eq!(api.get("/api/v1/inventory/no%20such", None).0, StatusCode::BAD_REQUEST);
    assert_eq!(api.get("/api/v1/inventory/prd-unknown", None).0, StatusCode::NOT_FOUND);

    // A product with reviews shows their count and mean.
    let (rating_key, rating_json) =
        objects.iter().find(|(k, _)| k.starts_with("rating:")).expect("some product has reviews");
    let rated: Value = serde_json::from_str(rating_json).unwrap();
    let (status, product) = api.get(&format!("/api/v1/products/{}", rating_key.strip_prefix("rating:").unwrap()), None);
    if status == StatusCode::OK {
        let mean = rated["sum"].as_f64().unwrap() / rated["count"].as_f64().unwrap();
        assert_eq!(product["rating"]["count"], rated["count"]);
        assert!((product["rating"]["mean"].as_f64().unwrap() - mean).abs() < 0.006);
    }

    // The cart is the caller's own.
    let (status, cart) = api.get("/api/v1/cart", Some(&other_token));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cart["userId"], "usr-nobody");
    assert_eq!(cart["items"], serde_json::json!([]));

    // Analytics: admins only, from ClickHouse.
    assert_eq!(api.get("/api/v1/admin/analytics/sales", Some(&owner_token)).0, StatusCode::FORBIDDEN);
    let (status, sales) = api.get("/api/v1/admin/analytics/sales?from=2026-11-01&to=2026-12-31", Some(&admin_token));
    assert_eq!(status, StatusCode::OK);
    assert!(!sales["items"].as_array().unwrap().is_empty());
    let (status, body) = api.get("/api/v1/admin/analytics/sales?from=yesterday", Some(&admin_token));
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"]["message"].as_str().unwrap().starts_with("from"));
    assert_eq!(api.get("/api/v1/admin/analytics/nope", Some(&admin_token)).0, StatusCode::NOT_FOUND);

    // Status: the offsets the served state covers.
    let (status, body) = api.get("/api/v1/status", None);
    assert_eq!(status, StatusCode::OK);
    let covered: i64 = body["offsets"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|p| p.as_object().unwrap().values().map(|o| o.as_i64().unwrap()))
        .sum();
    assert!(covered > 1000, "covered offsets: {covered}");
    assert_eq!(api.get("/health", None).0, StatusCode::OK);
    let (status, ready) = api.get("/ready", None);
    assert_eq!(status, StatusCode::OK, "{ready}");
}
