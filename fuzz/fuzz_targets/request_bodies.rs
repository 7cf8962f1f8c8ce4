//! Every request body decoder: any bytes as the body of any write route of
//! the API (`/openapi.json`'s), sent as a shopper, a vendor or an admin,
//! through the router with no store behind it (`Stores::offline`): the
//! answer is never a 500 (a body the API cannot take is a 4xx naming why;
//! one it takes reaches a store and, with none, answers 503).
#![no_main]

use axum::body::Body;
use axum::http::Request;
use libfuzzer_sys::fuzz_target;
use shopflow_api::auth::{Auth, Role};
use shopflow_api::{app, AppState, Services, Stores};
use std::sync::OnceLock;
use std::time::Duration;
use tower::ServiceExt;

struct Setting {
    runtime: tokio::runtime::Runtime,
    state: AppState,
    routes: Vec<(String, String)>,
    tokens: [String; 3],
}

fn setting() -> &'static Setting {
    static SETTING: OnceLock<Setting> = OnceLock::new();
    SETTING.get_or_init(|| {
        let auth = Auth::hs256(b"fuzz-secret-0123456789", "shopflow", "shopflow-api");
        let tokens = [
            auth.mint("usr-fuzz", Role::Shopper, None, 900),
            auth.mint("usr-vendor", Role::Vendor, Some("ven-fuzz"), 900),
            auth.mint("usr-admin", Role::Admin, None, 900),
        ];
        let state = AppState::from(Services {
            stores: Stores::offline(),
            auth,
            ready_checks: vec![],
            max_staleness: Duration::from_secs(60),
            consistency_wait: Duration::from_millis(1),
            hold_ttl: Duration::from_secs(600),
            limits: Default::default(),
            metrics: Default::default(),
            breakers: Default::default(),
            payment_secret: Some("fuzz-provider-secret".to_string()),
            public_url: None,
            answers: Default::default(),
            shipping: Default::default(),
            sealer: None,
            cors: Default::default(),
        });
        let document = shopflow_api::openapi::document(&shopflow_api::docs());
        let mut routes = Vec::new();
        for (path, item) in document["paths"].as_object().expect("paths") {
            for method in ["post", "put", "patch", "delete"] {
                if item.get(method).is_some() {
                    let path = path.replace('{', "").replace('}', "-1");
                    routes.push((method.to_uppercase(), path));
                }
            }
        }
        assert!(routes.len() > 20, "the write routes: {routes:?}");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        Setting { runtime, state, routes, tokens }
    })
}

fuzz_target!(|data: &[u8]| {
    let setting = setting();
    let [route, caller, body @ ..] = data else { return };
    let (method, path) = &setting.routes[usize::from(*route) % setting.routes.len()];
    let token = &setting.tokens[usize::from(*caller) % setting.tokens.len()];
    let request = Request::builder()
        .method(method.as_str())
        .uri(path.as_str())
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_vec()))
        .expect("a request");
    let response = setting.runtime.block_on(app(setting.state.clone()).oneshot(request)).expect("an answer");
    assert_ne!(response.status().as_u16(), 500, "{method} {path} answered 500 to {:?}", String::from_utf8_lossy(body));
});
