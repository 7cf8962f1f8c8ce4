//! The API with no store behind it ([`Stores::offline`]): what is decided
//! before any store is asked — a body's bad fields, a missing or bad token, a
//! role that may not write — answers exactly as with the real stores, through
//! `app()` and `oneshot`, no socket and no service.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};
use shopflow_api::auth::{Auth, Role};
use shopflow_api::{app, AppState, Services, Stores};
use std::time::Duration;
use tower::ServiceExt;

fn state() -> AppState {
    AppState::from(Services {
        stores: Stores::offline(),
        auth: Auth::hs256(b"offline-secret-0123456789", "shopflow", "shopflow-api"),
        ready_checks: vec![],
        max_staleness: Duration::from_secs(60),
        consistency_wait: Duration::from_secs(1),
        hold_ttl: Duration::from_secs(600),
        limits: Default::default(),
        metrics: Default::default(),
        breakers: Default::default(),
        payment_secret: None,
        public_url: None,
        answers: Default::default(),
        shipping: Default::default(),
        sealer: None,
        cors: shopflow_api::cors::Cors::new(&["https://shop.example".to_string()]).unwrap(),
    })
}

fn send(state: &AppState, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut request = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let body = match body {
        Some(json) => {
            request = request.header("content-type", "application/json");
            Body::from(json.to_string())
        }
        None => Body::empty(),
    };
    runtime.block_on(async {
        let response = app(state.clone()).oneshot(request.body(body).unwrap()).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    })
}

fn fields(body: &Value) -> Vec<&str> {
    body["error"]["fields"].as_array().map_or_else(Vec::new, |f| f.iter().filter_map(|f| f["field"].as_str()).collect())
}

#[test]
fn bad_bodies_answer_400_naming_every_bad_field() {
    let state = state();
    let shopper = state.auth.mint("usr-1", Role::Shopper, None, 300);
    let (status, body) =
        send(&state, "POST", "/api/v1/cart/items", Some(&shopper), Some(json!({"productId": "no spaces allowed"})));
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "validation_failed");
    assert_eq!(fields(&body), ["productId", "quantity"]);

    let (status, body) = send(&state, "POST", "/api/v1/orders", Some(&shopper), Some(json!({"items": []})));
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(fields(&body), ["items", "shippingAddress"]);

    let (status, body) = send(&state, "POST", "/api/v1/reviews", Some(&shopper), Some(json!({"rating": 9})));
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(fields(&body).contains(&"rating") && fields(&body).contains(&"productId"), "{body}");
}

#[test]
fn missing_and_bad_tokens_answer_401_and_the_wrong_role_403() {
    let state = state();
    let (status, body) = send(&state, "GET", "/api/v1/cart", None, None);
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")));
    let (status, _) = send(&state, "GET", "/api/v1/cart", Some("not-a-token"), None);
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let other =
        Auth::hs256(b"another-secret-0123456789", "shopflow", "shopflow-api").mint("usr-1", Role::Admin, None, 300);
    let (status, _) = send(&state, "GET", "/api/v1/cart", Some(&other), None);
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a token signed with another key");

    let shopper = state.auth.mint("usr-1", Role::Shopper, None, 300);
    let (status, body) = send(&state, "POST", "/api/v1/admin/categories", Some(&shopper), Some(json!({})));
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));
}

#[test]
fn what_needs_a_store_answers_503_without_one() {
    let state = state();
    let shopper = state.auth.mint("usr-1", Role::Shopper, None, 300);
    let (status, body) = send(&state, "GET", "/api/v1/cart", Some(&shopper), None);
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("store_unavailable")));
    assert_eq!(send(&state, "GET", "/health", None, None).0, StatusCode::OK);
}

/// A request with `headers`: (status, response headers).
fn headers_of(
    state: &AppState,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, axum::http::HeaderMap) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut request = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = runtime.block_on(app(state.clone()).oneshot(request.body(Body::empty()).unwrap())).unwrap();
    (response.status(), response.headers().clone())
}

#[test]
fn browsers_on_allowed_origins_get_cors_answers_and_preflights_are_answered() {
    let state = state();
    let preflight = |origin: &str| {
        headers_of(
            &state,
            "OPTIONS",
            "/api/v1/cart/items",
            &[
                ("origin", origin),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "authorization, content-type"),
            ],
        )
    };
    let (status, headers) = preflight("https://shop.example");
    assert_eq!(status, StatusCode::NO_CONTENT, "no more 405 to a preflight");
    assert_eq!(headers["access-control-allow-origin"], "https://shop.example");
    assert!(headers["access-control-allow-methods"].to_str().unwrap().contains("POST"));
    assert!(headers["access-control-allow-headers"].to_str().unwrap().contains("authorization"));
    assert!(headers.contains_key("x-request-id"));
    let (status, headers) = preflight("https://evil.example");
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(
        !headers.contains_key("access-control-allow-origin") && !headers.contains_key("access-control-allow-methods")
    );

    let (status, headers) = headers_of(&state, "GET", "/health", &[("origin", "https://shop.example")]);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["access-control-allow-origin"], "https://shop.example");
    assert!(headers["access-control-expose-headers"].to_str().unwrap().contains("x-request-id"));
    let (_, headers) = headers_of(&state, "GET", "/health", &[("origin", "https://evil.example")]);
    assert!(!headers.contains_key("access-control-allow-origin"));
    let (_, headers) = headers_of(&state, "GET", "/health", &[]);
    assert!(!headers.contains_key("access-control-allow-origin") && !headers.contains_key("vary"));
}
