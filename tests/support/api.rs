//! The API in-process over a test space: the real Redis, ClickHouse and
//! broker, requests sent straight to the router (no socket).

use super::Space;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use shopflow_api::auth::{Auth, Role};
use shopflow_api::limits::Limits;
use shopflow_api::stores::StoreConfig;
use shopflow_api::{app, AppState, Services, Stores};
use std::time::Duration;
use tower::ServiceExt;

/// The secret every test token is signed with (also given to `shopflow` commands).
pub const SECRET: &[u8] = b"test-secret-0123456789";

/// The secret test payment callbacks are signed with.
pub const PAYMENT_SECRET: &str = "payment-provider-secret";

/// An answer: status, headers, JSON body (null when not JSON).
pub struct Answer {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Value,
}

/// The API of one space.
pub struct Api {
    pub state: AppState,
    pub runtime: tokio::runtime::Runtime,
}

impl Api {
    /// The API of `space`; reads with `?after=` wait at most `consistency_wait`.
    pub fn new(space: &Space, consistency_wait: Duration) -> Api {
        Api::limited(space, consistency_wait, Limits::default())
    }

    /// The API of `space` with `limits`.
    pub fn limited(space: &Space, consistency_wait: Duration, limits: Limits) -> Api {
        Api::build(space, consistency_wait, limits, Auth::hs256(SECRET, "shopflow", "shopflow-api"))
    }

    /// The API of `space` verifying tokens with `auth`.
    pub fn build(space: &Space, consistency_wait: Duration, limits: Limits, auth: Auth) -> Api {
        Api::on(space, consistency_wait, limits, auth, &super::redis_url(), &super::brokers(), Duration::from_secs(10))
    }

    /// The API of `space` on the Redis at `redis` and the broker at `brokers`, giving up a
    /// write after `produce_timeout`.
    pub fn on(
        space: &Space,
        consistency_wait: Duration,
        limits: Limits,
        auth: Auth,
        redis: &str,
        brokers: &str,
        produce_timeout: Duration,
    ) -> Api {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let config = StoreConfig {
            redis_url: redis.to_string(),
            namespace: space.name.clone(),
            clickhouse_url: super::clickhouse_url(),
            clickhouse_database: space.name.clone(),
            brokers: brokers.to_string(),
            topic_prefix: format!("{}.", space.name),
            produce_timeout,
        };
        let stores = runtime.block_on(Stores::connect(&config)).unwrap();
        let state = AppState::from(Services {
            stores,
            auth,
            ready_checks: vec![],
            max_staleness: Duration::from_secs(3600),
            consistency_wait,
            hold_ttl: Duration::from_secs(600),
            limits,
            metrics: Default::default(),
            breakers: Default::default(),
            payment_secret: Some(PAYMENT_SECRET.to_string()),
            public_url: Some("https://shop.example".to_string()),
            answers: Default::default(),
            shipping: Default::default(),
            sealer: Some(shopflow_api::identity::Sealer::new(b"test sealing key 0123456789")),
            cors: Default::default(),
        });
        Api { state, runtime }
    }

    /// Sends a request; every answer must carry `X-Request-Id`.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Answer {
        self.send_bytes(method, path, token, headers, body.map(|json| json.to_string().into_bytes()))
    }

    /// Sends a request whose body is `body` as it is (labelled JSON); every answer must
    /// carry `X-Request-Id`.
    pub fn send_bytes(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let body = match body {
            Some(bytes) => {
                request = request.header("content-type", "application/json");
                Body::from(bytes)
            }
            None => Body::empty(),
        };
        let response = self.runtime.block_on(app(self.state.clone()).oneshot(request.body(body).unwrap())).unwrap();
        let status = response.status();
        assert!(response.headers().contains_key("x-request-id"), "{method} {path}: no X-Request-Id");
        let headers = response.headers().clone();
        let bytes = self.runtime.block_on(axum::body::to_bytes(response.into_body(), 1 << 24)).unwrap();
        Answer { status, headers, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
    }

    /// `GET path` with `headers`: (status, content type, the body as text).
    pub fn get_text(&self, path: &str, headers: &[(&str, &str)]) -> (StatusCode, String, String) {
        let mut request = Request::builder().method("GET").uri(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response =
            self.runtime.block_on(app(self.state.clone()).oneshot(request.body(Body::empty()).unwrap())).unwrap();
        let status = response.status();
        let content_type =
            response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let bytes = self.runtime.block_on(axum::body::to_bytes(response.into_body(), 1 << 24)).unwrap();
        (status, content_type, String::from_utf8_lossy(&bytes).into_owned())
    }

    /// `GET path`: (status, body).
    pub fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let answer = self.send("GET", path, token, &[], None);
        (answer.status, answer.body)
    }

    /// A token of `sub` with `role`.
    pub fn token(&self, sub: &str, role: Role) -> String {
        self.state.auth.mint(sub, role, None, 300)
    }

    /// A vendor's token.
    pub fn vendor_token(&self, sub: &str, vendor: &str) -> String {
        self.state.auth.mint(sub, Role::Vendor, Some(vendor), 300)
    }
}
