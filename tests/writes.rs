//! Writes through the API into the real broker, read back through the real
//! pipeline, Redis and the API: validation, idempotency, read-your-writes,
//! object-level checks and the safe checkout.

mod support;

use axum::http::StatusCode;
use serde_json::{json, Value};
use shopflow_api::auth::Role;
use std::process::Stdio;
use std::time::Duration;
use support::api::Api;
use support::{free_port, http, live_space, records_on, Running, Space};

fn address() -> Value {
    json!({"street": "1 Main St", "city": "Salem", "zipcode": "97301", "country": "US"})
}

fn fields(body: &Value) -> Vec<String> {
    body["error"]["fields"]
        .as_array()
        .map_or_else(Vec::new, |fields| fields.iter().map(|f| f["field"].as_str().unwrap().to_string()).collect())
}

/// An admin-made product with `stock` units, served; returns its id.
fn stocked_product(api: &Api, admin: &str, price: i64, stock: i64) -> String {
    let body = json!({"categoryId": "cat-1", "name": "Cat", "parentId": null});
    assert_eq!(
        api.send("POST", "/api/v1/admin/categories", Some(admin), &[], Some(&body)).status,
        StatusCode::ACCEPTED
    );
    let product = json!({
        "vendorId": "ven-1", "name": "Lamp", "description": "A lamp", "categoryId": "cat-1",
        "price": price, "currency": "USD", "attributes": {"color": "red"}, "images": []
    });
    let created = api.send("POST", "/api/v1/admin/products", Some(admin), &[], Some(&product));
    assert_eq!(created.status, StatusCode::ACCEPTED, "{}", created.body);
    let product_id = created.body["productId"].as_str().unwrap().to_string();
    let stock = json!({"productId": product_id, "warehouseId": "wh-1", "quantity": stock});
    let received = api.send("POST", "/api/v1/admin/inventory", Some(admin), &[], Some(&stock));
    assert_eq!(received.status, StatusCode::ACCEPTED, "{}", received.body);
    // Read-your-writes: the product and its stock are served once the reads return.
    let token = received.body["consistencyToken"].as_str().unwrap();
    let (status, inventory) = api.get(&format!("/api/v1/inventory/{product_id}?after={token}"), None);
    assert_eq!(status, StatusCode::OK, "{inventory}");
    let token = created.body["consistencyToken"].as_str().unwrap();
    let (status, served) = api.get(&format!("/api/v1/products/{product_id}?after={token}"), None);
    assert_eq!(status, StatusCode::OK, "{served}");
    product_id
}

#[test]
fn writes_are_checked_written_once_and_read_back_after_their_token() {
    let (space, _pipeline) = live_space("writes");
    let api = Api::new(&space, Duration::from_secs(60));
    let admin = api.token("adm-1", Role::Admin);
    let alice = api.token("usr-alice", Role::Shopper);
    let bob = api.token("usr-bob", Role::Shopper);
    let product = stocked_product(&api, &admin, 1250, 5);
    let (_, served) = api.get(&format!("/api/v1/products/{product}"), None);
    assert_eq!((served["name"].as_str(), served["available"].as_i64()), (Some("Lamp"), Some(5)));

    // The same request three times with one Idempotency-Key: one record, one answer.
    let add = json!({"productId": product, "quantity": 2});
    let key = [("idempotency-key", "cart-add-1")];
    let answers: Vec<_> =
        (0..3).map(|_| api.send("POST", "/api/v1/cart/items", Some(&alice), &key, Some(&add))).collect();
    for answer in &answers {
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
        assert_eq!(answer.body, answers[0].body);
    }
    assert_eq!(answers[0].body["eventId"], "cart-add-1", "the key is the event id");
    assert_eq!(answers[0].body["topic"], space.topic("shop.carts"));
    assert!(answers[1].headers.contains_key("idempotent-replayed"));
    assert_eq!(records_on(&space, "shop.carts"), 1, "three tries, one record");
    // The key with another body, or by another user, is refused.
    let other = json!({"productId": product, "quantity": 3});
    let reused = api.send("POST", "/api/v1/cart/items", Some(&alice), &key, Some(&other));
    assert_eq!(
        (reused.status, reused.body["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("idempotency_key_reused"))
    );
    assert_eq!(
        api.send("POST", "/api/v1/cart/items", Some(&bob), &key, Some(&add)).status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(records_on(&space, "shop.carts"), 1);

    // Read-your-writes on the cart.
    let token = answers[0].body["consistencyToken"].as_str().unwrap();
    let (status, cart) = api.get(&format!("/api/v1/cart?after={token}"), Some(&alice));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cart["items"][0]["productId"], product.as_str());
    assert_eq!(cart["items"][0]["quantity"], 2);

    // Validation: every bad field at once, named.
    let bad = api.send(
        "POST",
        "/api/v1/cart/items",
        Some(&alice),
        &[],
        Some(&json!({"productId": "no spaces", "quantity": 0})),
    );
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(fields(&bad.body), ["productId", "quantity"]);
    let bad = api.send("POST", "/api/v1/reviews", Some(&alice), &[], Some(&json!({"rating": 9})));
    assert_eq!(fields(&bad.body), ["productId", "rating", "title", "body"]);
    let bad = api.send("POST", "/api/v1/orders", Some(&alice), &[], Some(&json!({})));
    assert_eq!(fields(&bad.body), ["items", "shippingAddress"]);
    let bad = api.send(
        "POST",
        "/api/v1/orders",
        Some(&alice),
        &[],
        Some(&json!({"items": [{"productId": product, "quantity": 0}], "shippingAddress": address()})),
    );
    assert_eq!(fields(&bad.body), ["items[0].quantity"]);
    let bad = api.send(
        "POST",
        "/api/v1/cart/items",
        Some(&alice),
        &[],
        Some(&json!({"productId": "prd-none", "quantity": 1})),
    );
    assert_eq!((bad.status, fields(&bad.body)), (StatusCode::BAD_REQUEST, vec!["productId".to_string()]));
    let bad = api.send("POST", "/api/v1/cart/items", Some(&alice), &[("idempotency-key", "not ok!")], Some(&add));
    assert_eq!(fields(&bad.body), ["Idempotency-Key"]);
    let bad = api.send("POST", "/api/v1/admin/products", Some(&admin), &[], Some(&json!({"price": 1.5})));
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(fields(&bad.body).contains(&"price".to_string()) && fields(&bad.body).contains(&"name".to_string()));
    assert_eq!(
        api.send("POST", "/api/v1/admin/inventory", Some(&alice), &[], Some(&json!({}))).status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(api.send("POST", "/api/v1/cart/items", None, &[], Some(&add)).status, StatusCode::UNAUTHORIZED);
    assert_eq!(records_on(&space, "shop.carts"), 1, "refused writes write nothing");

    // Checkout: priced from the catalog, the cart checked out, the stock reserved.
    let order = json!({"items": [{"productId": product, "quantity": 2}], "shippingAddress": address()});
    let placed = api.send("POST", "/api/v1/orders", Some(&alice), &[], Some(&order));
    assert_eq!(placed.status, StatusCode::ACCEPTED, "{}", placed.body);
    // 2 × 12.50, and 4.99 shipping below 50.00.
    assert_eq!((placed.body["subtotal"].as_i64(), placed.body["shipping"].as_i64()), (Some(2500), Some(499)));
    assert_eq!(placed.body["total"], 2999);
    let order_id = placed.body["orderId"].as_str().unwrap().to_string();
    let token = placed.body["consistencyToken"].as_str().unwrap().to_string();
    assert!(token.contains("shop.orders") && token.contains("shop.carts"), "{token}");
    let (status, served) = api.get(&format!("/api/v1/orders/{order_id}?after={token}"), Some(&alice));
    assert_eq!(status, StatusCode::OK);
    assert_eq!((served["status"].as_str(), served["total"].as_i64()), (Some("Created"), Some(2999)));
    assert_eq!(api.get(&format!("/api/v1/cart?after={token}"), Some(&alice)).1["items"], json!([]));
    let (_, inventory) = api.get(&format!("/api/v1/inventory/{product}?after={token}"), None);
    assert_eq!((inventory["reserved"].as_i64(), inventory["available"].as_i64()), (Some(2), Some(3)));
    // More than is left: 409, nothing written.
    let orders_before = records_on(&space, "shop.orders");
    let greedy = json!({"items": [{"productId": product, "quantity": 4}], "shippingAddress": address()});
    let refused = api.send("POST", "/api/v1/orders", Some(&bob), &[], Some(&greedy));
    assert_eq!(
        (refused.status, refused.body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("insufficient_stock"))
    );
    assert_eq!(records_on(&space, "shop.orders"), orders_before);

    // Another shopper's order: 404 and nothing of it; the owner's cancel goes through once.
    for (method, path, body) in [
        ("PUT", format!("/api/v1/orders/{order_id}/cancel"), json!({})),
        ("POST", format!("/api/v1/orders/{order_id}/return"), json!({"reason": "x"})),
        ("POST", "/api/v1/payments/initiate".to_string(), json!({"orderId": order_id, "method": "card"})),
    ] {
        let answer = api.send(method, &path, Some(&bob), &[], Some(&body));
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{method} {path}: {}", answer.body);
        assert!(!answer.body.to_string().contains("usr-alice"));
    }
    let paid = api.send(
        "POST",
        "/api/v1/payments/initiate",
        Some(&alice),
        &[],
        Some(&json!({"orderId": order_id, "method": "card"})),
    );
    assert_eq!(paid.status, StatusCode::ACCEPTED, "{}", paid.body);
    assert_eq!(paid.body["amount"], 2999);
    // The provider's signed callback completes the payment; unsigned or mis-signed ones are refused.
    let callback = json!({"paymentId": paid.body["paymentId"], "orderId": order_id, "success": true});
    let bytes = callback.to_string();
    let good = shopflow_api::write::signature(support::api::PAYMENT_SECRET.as_bytes(), bytes.as_bytes());
    let bad = shopflow_api::write::signature(b"someone else", bytes.as_bytes());
    for signature in ["", bad.as_str()] {
        let refused =
            api.send("POST", "/api/v1/payments/confirm", None, &[("x-signature", signature)], Some(&callback));
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    }
    let confirmed = api.send("POST", "/api/v1/payments/confirm", None, &[("x-signature", &good)], Some(&callback));
    assert_eq!(confirmed.status, StatusCode::ACCEPTED, "{}", confirmed.body);
    let token = confirmed.body["consistencyToken"].as_str().unwrap();
    let (_, served) = api.get(&format!("/api/v1/orders/{order_id}?after={token}"), Some(&alice));
    assert_eq!(served["status"], "Paid");
    let cancelled = api.send("PUT", &format!("/api/v1/orders/{order_id}/cancel"), Some(&alice), &[], None);
    assert_eq!(cancelled.status, StatusCode::ACCEPTED, "{}", cancelled.body);
    let token = cancelled.body["consistencyToken"].as_str().unwrap();
    let (_, served) = api.get(&format!("/api/v1/orders/{order_id}?after={token}"), Some(&alice));
    assert_eq!(served["status"], "Cancelled");
    let again = api.send("PUT", &format!("/api/v1/orders/{order_id}/cancel"), Some(&alice), &[], None);
    assert_eq!((again.status, again.body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("invalid_state")));

    // Vendors write only their own products.
    let update = json!({"price": 1400});
    let other_vendor = api.vendor_token("usr-v2", "ven-2");
    let answer =
        api.send("PUT", &format!("/api/v1/vendor/products/{product}"), Some(&other_vendor), &[], Some(&update));
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    let stock = json!({"productId": product, "warehouseId": "wh-1", "quantity": 1});
    assert_eq!(
        api.send("POST", "/api/v1/vendor/inventory", Some(&other_vendor), &[], Some(&stock)).status,
        StatusCode::NOT_FOUND
    );
    let owner = api.vendor_token("usr-v1", "ven-1");
    let updated = api.send("PUT", &format!("/api/v1/vendor/products/{product}"), Some(&owner), &[], Some(&update));
    assert_eq!(updated.status, StatusCode::ACCEPTED, "{}", updated.body);
    let token = updated.body["consistencyToken"].as_str().unwrap();
    assert_eq!(api.get(&format!("/api/v1/products/{product}?after={token}"), None).1["price"], 1400);

    // Clickstream from anyone; the user comes from the token, never the body.
    let view = json!({"productId": product, "sessionId": "ses-1", "userId": "usr-forged"});
    assert_eq!(api.send("POST", "/api/v1/events/view", None, &[], Some(&view)).status, StatusCode::ACCEPTED);

    // Tokens: nonsense is 400; one the pipeline cannot reach in time is 503.
    let (status, body) = api.get("/api/v1/cart?after=nonsense", Some(&alice));
    assert_eq!((status, fields(&body)), (StatusCode::BAD_REQUEST, vec!["after".to_string()]));
    let short = Api::new(&space, Duration::from_millis(200));
    let future = format!("{}:0:999999", space.topic("shop.carts"));
    let (status, body) = short.get(&format!("/api/v1/cart?after={future}"), Some(&alice));
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("not_caught_up")));
}

#[test]
fn concurrent_checkouts_over_two_api_processes_sell_the_last_unit_once() {
    let (space, _pipeline) = live_space("lastunit");
    let api = Api::new(&space, Duration::from_secs(60));
    let admin = api.token("adm-1", Role::Admin);
    let product = stocked_product(&api, &admin, 999, 1);

    let (ports, logs, _servers) = support::serve_twice(&space);

    let order = json!({"items": [{"productId": product, "quantity": 1}], "shippingAddress": address()});
    let start = std::sync::Arc::new(std::sync::Barrier::new(20));
    let shoppers: Vec<_> = (0..20)
        .map(|i| {
            let token = api.token(&format!("usr-{i}"), Role::Shopper);
            let (order, start, port) = (order.clone(), start.clone(), ports[i % 2]);
            std::thread::spawn(move || {
                start.wait();
                http(port, "POST", "/api/v1/orders", &token, &order)
            })
        })
        .collect();
    let answers: Vec<(u16, String, String)> = shoppers.into_iter().map(|s| s.join().unwrap()).collect();
    let sold = answers.iter().filter(|(status, _, _)| *status == 202).count();
    let refused =
        answers.iter().filter(|(status, body, _)| *status == 409 && body.contains("insufficient_stock")).count();
    assert_eq!((sold, refused), (1, 19), "{answers:?}");
    assert_eq!(records_on(&space, "shop.orders"), 1);

    // Once the pipeline has counted the order, the hold gives way to the reservation.
    let (_, body, sold_request) = answers.iter().find(|(status, _, _)| *status == 202).unwrap();
    let token = serde_json::from_str::<Value>(body).unwrap()["consistencyToken"].as_str().unwrap().to_string();
    let (_, inventory) = api.get(&format!("/api/v1/inventory/{product}?after={token}"), None);
    assert_eq!((inventory["reserved"].as_i64(), inventory["available"].as_i64()), (Some(1), Some(0)));
    let late = api.send("POST", "/api/v1/orders", Some(&api.token("usr-late", Role::Shopper)), &[], Some(&order));
    assert_eq!(late.status, StatusCode::CONFLICT);

    // Metrics: the two processes counted 1 sale and 19 refusals by route, and see the pipeline.
    let metric = |text: &str, name: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(name))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
            .sum()
    };
    let scrapes: Vec<String> = ports.iter().map(|port| http(*port, "GET", "/metrics", "", &json!({})).1).collect();
    let all = scrapes.join("\n");
    let orders = "shopflow_http_requests_total{method=\"POST\",route=\"/api/v1/orders\"";
    assert_eq!(metric(&all, &format!("{orders},status=\"202\"}}")), 1.0, "{all}");
    assert_eq!(metric(&all, &format!("{orders},status=\"409\"}}")), 19.0);
    assert_eq!(
        metric(&all, "shopflow_http_request_duration_seconds_count{method=\"POST\",route=\"/api/v1/orders\"}"),
        20.0
    );
    assert!(scrapes
        .iter()
        .all(|s| s.contains("shopflow_frontier_age_seconds ") && s.contains("shopflow_consumer_lag_records{")));
    // Logs: JSON lines, each answer with its request id.
    let lines: Vec<Value> = logs
        .iter()
        .flat_map(|log| std::fs::read_to_string(log).unwrap().lines().map(str::to_string).collect::<Vec<_>>())
        .map(|line| serde_json::from_str(&line).unwrap_or_else(|_| panic!("not a JSON log line: {line}")))
        .collect();
    let answered: Vec<&Value> = lines.iter().filter(|l| l["fields"]["message"] == "answered").collect();
    assert!(answered.len() >= 20, "{} answer lines", answered.len());
    assert!(answered.iter().all(|l| l["span"]["request_id"].as_str().is_some_and(|id| !id.is_empty())));
    assert!(
        answered.iter().any(|l| l["span"]["request_id"] == sold_request.as_str()),
        "the sale's request id is logged"
    );
}

#[test]
fn rate_and_body_limits_answer_429_and_413_with_the_uniform_error() {
    use shopflow_api::limits::{Limits, Rate};
    let space = Space::new("limits");
    space.run_ok(&["topics", "create", "--partitions", "3"]);
    let limits = Limits {
        reads: Rate { burst: 1_000, per_second: 1_000.0 },
        writes: Rate { burst: 3, per_second: 0.01 },
        body_bytes: 512,
        ..Limits::default()
    };
    let api = Api::limited(&space, Duration::from_secs(5), limits);
    let (alice, bob) = (api.token("usr-alice", Role::Shopper), api.token("usr-bob", Role::Shopper));
    let view = json!({"productId": "prd-1", "sessionId": "ses-1"});
    // Under the quota: never 429.
    for _ in 0..3 {
        assert_eq!(
            api.send("POST", "/api/v1/events/view", Some(&alice), &[], Some(&view)).status,
            StatusCode::ACCEPTED
        );
    }
    // Over it: 429 with Retry-After, and nothing written.
    let over = api.send("POST", "/api/v1/events/view", Some(&alice), &[], Some(&view));
    assert_eq!(
        (over.status, over.body["error"]["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited"))
    );
    let retry: u64 = over.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1, "Retry-After {retry}");
    assert_eq!(records_on(&space, "shop.clickstream"), 3);
    // Buckets are per subject and per class: Bob writes, Alice still reads.
    assert_eq!(api.send("POST", "/api/v1/events/view", Some(&bob), &[], Some(&view)).status, StatusCode::ACCEPTED);
    assert_ne!(api.get("/api/v1/cart", Some(&alice)).0, StatusCode::TOO_MANY_REQUESTS);
    // A body over the limit: 413.
    let big = json!({"productId": "prd-1", "sessionId": "x".repeat(600)});
    let answer = api.send("POST", "/api/v1/events/view", Some(&bob), &[], Some(&big));
    assert_eq!(
        (answer.status, answer.body["error"]["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large"))
    );
}

#[test]
fn refresh_tokens_rotate_once_and_rs256_keys_work_end_to_end() {
    let space = Space::new("refresh");
    let api = Api::new(&space, Duration::from_secs(5));
    let first = api.state.auth.mint_refresh("usr-carol", Role::Shopper, None);
    let refreshed = api.send("POST", "/api/v1/auth/refresh", None, &[], Some(&json!({"refreshToken": first})));
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
    let access = refreshed.body["accessToken"].as_str().unwrap();
    let (status, cart) = api.get("/api/v1/cart", Some(access));
    assert_ne!(status, StatusCode::UNAUTHORIZED, "{cart}");
    assert_eq!(api.state.auth.verify(access).unwrap().sub, "usr-carol");
    // A refresh token is good once; the new one works.
    let replay = api.send("POST", "/api/v1/auth/refresh", None, &[], Some(&json!({"refreshToken": first})));
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    let next = refreshed.body["refreshToken"].as_str().unwrap();
    assert_eq!(
        api.send("POST", "/api/v1/auth/refresh", None, &[], Some(&json!({"refreshToken": next}))).status,
        StatusCode::OK
    );
    // An access token is no refresh token, and a refresh token opens no door.
    assert_eq!(
        api.send("POST", "/api/v1/auth/refresh", None, &[], Some(&json!({"refreshToken": access}))).status,
        StatusCode::UNAUTHORIZED
    );
    let another = api.state.auth.mint_refresh("usr-carol", Role::Shopper, None);
    assert_eq!(api.get("/api/v1/cart", Some(&another)).0, StatusCode::UNAUTHORIZED);
    let missing = api.send("POST", "/api/v1/auth/refresh", None, &[], Some(&json!({})));
    assert_eq!((missing.status, fields(&missing.body)), (StatusCode::BAD_REQUEST, vec!["refreshToken".to_string()]));

    // RS256 from the command line: the token `shopflow token` signs verifies with the public key.
    let keys = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("api/tests/keys");
    let output = space
        .shopflow()
        .env_remove("SHOPFLOW_JWT_SECRET")
        .env("SHOPFLOW_JWT_PUBLIC_KEY", keys.join("test-rs256.pub"))
        .env("SHOPFLOW_JWT_PRIVATE_KEY", keys.join("test-rs256.key"))
        .args(["token", "--sub", "usr-dave", "--role", "shopper"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let token = String::from_utf8(output.stdout).unwrap();
    let public = std::fs::read(keys.join("test-rs256.pub")).unwrap();
    let rs = shopflow_api::auth::Auth::rs256(&public, None, "shopflow", "shopflow-api").unwrap();
    assert_eq!(rs.verify(token.trim()).unwrap().sub, "usr-dave");
    assert!(api.state.auth.verify(token.trim()).is_err(), "an RS256 token at an HS256 API");
}

#[test]
fn a_store_that_is_down_answers_503_and_opens_its_circuit() {
    let space = Space::new("breaker");
    let mut api = Api::new(&space, Duration::from_secs(5));
    // Nothing listens on port 1: every ClickHouse call fails.
    let mut services = shopflow_api::Services::clone(&api.state);
    services.stores.analytics =
        std::sync::Arc::new(shopflow_sinks::clickhouse::ClickHouseReader::new("http://127.0.0.1:1/", &space.name));
    api.state = services.into();
    let admin = api.token("adm-1", Role::Admin);
    let path = "/api/v1/admin/analytics/sales";
    for _ in 0..5 {
        let (status, body) = api.get(path, Some(&admin));
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, Some("store_unavailable"))
        );
        assert!(!body.to_string().contains("127.0.0.1"), "internals stay in the log: {body}");
    }
    let (status, body) = api.get(path, Some(&admin));
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("circuit_open")));
    // Redis-backed reads are not affected by ClickHouse's circuit (this space has published nothing).
    assert_eq!(api.get("/api/v1/cart", Some(&admin)).1["error"]["code"], "not_ready");
}

/// (caller's token, method, path, a valid body, its topic, a bad body, the fields the 400 names).
type Case<'a> = (&'a str, &'a str, &'a str, Value, &'a str, Value, Vec<&'a str>);

#[test]
fn every_table_write_route_takes_its_event_and_lists_what_is_missing() {
    let space = Space::new("routes");
    space.run_ok(&["topics", "create", "--partitions", "3"]);
    let api = Api::new(&space, Duration::from_secs(5));
    let admin = api.token("adm-1", Role::Admin);
    let shopper = api.token("usr-erin", Role::Shopper);
    let vendor = api.vendor_token("usr-v1", "ven-1");
    let window = json!({"code": "FALL10", "percentOff": 10, "minSubtotal": 0,
        "startsAt": "2026-11-01T00:00:00Z", "endsAt": "2026-12-01T00:00:00Z"});
    let routes: Vec<Case> = vec![
        (
            &shopper,
            "PUT",
            "/api/v1/cart/items/prd-1",
            json!({"quantity": 3}),
            "shop.carts",
            json!({"quantity": "3"}),
            vec!["quantity"],
        ),
        (&shopper, "DELETE", "/api/v1/cart/items/prd-1", json!({}), "shop.carts", json!(null), vec![]),
        (
            &shopper,
            "POST",
            "/api/v1/wallets/topup",
            json!({"amount": 500}),
            "shop.payments",
            json!({"amount": 0}),
            vec!["amount"],
        ),
        (
            &shopper,
            "POST",
            "/api/v1/vendors/apply",
            json!({"storeName": "Lamps"}),
            "shop.vendors",
            json!({}),
            vec!["storeName"],
        ),
        (
            &shopper,
            "POST",
            "/api/v1/events/search",
            json!({"query": "lamp", "sessionId": "ses-1", "resultCount": 3}),
            "shop.clickstream",
            json!({"resultCount": 1.5}),
            vec!["sessionId", "query", "resultCount"],
        ),
        (
            &shopper,
            "POST",
            "/api/v1/events/click",
            json!({"query": "lamp", "sessionId": "ses-1", "productId": "prd-1", "position": 1}),
            "shop.clickstream",
            json!({"query": "lamp", "sessionId": "ses-1", "productId": "prd 1", "position": 1}),
            vec!["productId"],
        ),
        (
            &vendor,
            "POST",
            "/api/v1/vendor/products",
            json!({"name": "Desk", "description": "oak", "categoryId": "cat-1", "price": 9900, "currency": "USD", "attributes": {}, "images": []}),
            "shop.catalog",
            json!({"name": "Desk"}),
            vec!["description", "categoryId", "price"],
        ),
        (
            &admin,
            "PUT",
            "/api/v1/admin/products/prd-1",
            json!({"price": 1500}),
            "shop.catalog",
            json!({"price": "cheap"}),
            vec!["price"],
        ),
        (&admin, "DELETE", "/api/v1/admin/products/prd-1", json!({}), "shop.catalog", json!(null), vec![]),
        (
            &admin,
            "POST",
            "/api/v1/admin/inventory/adjust",
            json!({"productId": "prd-1", "warehouseId": "wh-1", "delta": -2, "reason": "damaged"}),
            "shop.inventory",
            json!({"productId": "prd-1", "delta": "x"}),
            vec!["warehouseId", "delta", "reason"],
        ),
        (
            &admin,
            "POST",
            "/api/v1/admin/vendors/ven-1/approve",
            json!({"commissionBps": 1000}),
            "shop.vendors",
            json!({}),
            vec!["commissionBps"],
        ),
        (
            &admin,
            "POST",
            "/api/v1/admin/vendors/ven-1/suspend",
            json!({"reason": "fraud"}),
            "shop.vendors",
            json!({}),
            vec!["reason"],
        ),
        (
            &admin,
            "POST",
            "/api/v1/admin/payouts/pyo-1/process",
            json!({"vendorId": "ven-1", "amount": 1000}),
            "shop.vendors",
            json!({"vendorId": "ven-1"}),
            vec!["amount"],
        ),
        (
            &admin,
            "POST",
            "/api/v1/admin/promotions",
            window.clone(),
            "shop.promotions",
            json!({"code": "X"}),
            vec!["minSubtotal", "startsAt", "endsAt"],
        ),
        (&admin, "POST", "/api/v1/admin/promotions/FALL10/end", json!({}), "shop.promotions", json!(null), vec![]),
        (
            &admin,
            "POST",
            "/api/v1/admin/delivery-partners",
            json!({"name": "Fast", "serviceAreas": ["Salem"], "capacity": 5}),
            "shop.shipments",
            json!({"name": "Fast", "serviceAreas": "Salem", "capacity": 5}),
            vec!["serviceAreas"],
        ),
        (
            &admin,
            "PUT",
            "/api/v1/admin/delivery-partners/dlp-1/availability",
            json!({"available": false}),
            "shop.shipments",
            json!({"available": "no"}),
            vec!["available"],
        ),
        (
            &admin,
            "POST",
            "/api/v1/admin/reviews/rev-1/moderate",
            json!({"productId": "prd-1", "action": "approve"}),
            "shop.reviews",
            json!({"productId": "prd-1", "action": "hide"}),
            vec!["action"],
        ),
        (
            &admin,
            "POST",
            "/api/v1/admin/shipments",
            json!({"orderId": "ord-1", "warehouseId": "wh-1", "carrier": "UPS", "trackingNumber": "1Z"}),
            "shop.shipments",
            json!({"orderId": "ord-1"}),
            vec!["warehouseId", "carrier", "trackingNumber"],
        ),
        (
            &admin,
            "POST",
            "/api/v1/admin/shipments/shp-1/status",
            json!({"orderId": "ord-1", "status": "in_transit"}),
            "shop.shipments",
            json!({"orderId": "ord-1", "status": "lost"}),
            vec!["status"],
        ),
        (
            &admin,
            "POST",
            "/api/v1/admin/shipments/shp-1/delivered",
            json!({"orderId": "ord-1"}),
            "shop.shipments",
            json!({}),
            vec!["orderId"],
        ),
        (
            &admin,
            "POST",
            "/api/v1/payments/pay-1/refund",
            json!({"orderId": "ord-1", "amount": 500}),
            "shop.payments",
            json!({"orderId": "ord-1", "amount": 5.5}),
            vec!["amount"],
        ),
    ];
    for (token, method, path, good, topic, bad, bad_fields) in routes {
        let answer = api.send(method, path, Some(token), &[], Some(&good));
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{method} {path}: {}", answer.body);
        assert_eq!(answer.body["topic"], space.topic(topic), "{method} {path}");
        assert!(answer.body["consistencyToken"].as_str().unwrap().starts_with(&space.topic(topic)));
        if !bad_fields.is_empty() {
            let refused = api.send(method, path, Some(token), &[], Some(&bad));
            assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{method} {path}: {}", refused.body);
            let named = fields(&refused.body);
            for field in bad_fields {
                assert!(named.iter().any(|f| f == field), "{method} {path}: {field} not named in {named:?}");
            }
        }
        // Only admins use admin routes; only vendors the vendor routes.
        if path.contains("/admin/") || path.contains("/refund") || path.contains("/vendor/") {
            assert_eq!(
                api.send(method, path, Some(&shopper), &[], Some(&good)).status,
                StatusCode::FORBIDDEN,
                "{method} {path}"
            );
        }
    }
    // A payout is checked like the others, then held against the balance: with nothing
    // served the balance is 0 (`tests/money.rs` has payouts that fit).
    let payout = |body: Value| api.send("POST", "/api/v1/vendor/payouts", Some(&vendor), &[], Some(&body));
    let bad = payout(json!({}));
    assert_eq!((bad.status, fields(&bad.body)), (StatusCode::BAD_REQUEST, vec!["amount".to_string()]));
    let short = payout(json!({"amount": 1000}));
    assert_eq!(
        (short.status, short.body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("insufficient_balance"))
    );
    assert_eq!(
        api.send("POST", "/api/v1/vendor/payouts", Some(&shopper), &[], Some(&json!({"amount": 1}))).status,
        StatusCode::FORBIDDEN
    );
}

#[test]
fn a_quiet_shop_reads_each_write_after_its_token() {
    // `shopflow run` with nothing else happening: every write must become
    // visible within the default consistency wait (5 s), one at a time.
    let space = Space::new("quiet");
    space.run_ok(&["topics", "create", "--partitions", "3"]);
    let port = free_port();
    let _run = Running(
        space
            .shopflow()
            .args(["run", "--workers", "2", "--http-addr", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    support::wait_until("the API to answer", 60, || support::answers_ok(port, "/api/v1/status"));
    let api = Api::new(&space, Duration::from_secs(5));
    let admin = api.token("adm-1", Role::Admin);
    let product = stocked_product(&api, &admin, 250, 100);
    let alice = api.token("usr-quiet", Role::Shopper);
    for quantity in 1..=20 {
        let body = json!({"quantity": quantity});
        let (status, written, _) = http(port, "PUT", &format!("/api/v1/cart/items/{product}"), &alice, &body);
        assert_eq!(status, 202, "{written}");
        let token = serde_json::from_str::<Value>(&written).unwrap()["consistencyToken"].as_str().unwrap().to_string();
        let (status, cart, _) = http(port, "GET", &format!("/api/v1/cart?after={token}"), &alice, &json!({}));
        assert_eq!(status, 200, "write {quantity}: {cart}");
        let cart: Value = serde_json::from_str(&cart).unwrap();
        assert_eq!(cart["items"][0]["quantity"], quantity, "write {quantity} not in {cart}");
    }
}

#[test]
fn search_and_listings_answer_exactly_and_follow_vendor_suspension() {
    let (space, _pipeline) = live_space("search");
    let api = Api::new(&space, Duration::from_secs(30));
    let admin = api.token("adm-1", Role::Admin);
    let write = |path: &str, body: Value| -> String {
        let answer = api.send("POST", path, Some(&admin), &[], Some(&body));
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{path}: {}", answer.body);
        answer.body["consistencyToken"].as_str().unwrap().to_string()
    };
    write("/api/v1/admin/categories", json!({"categoryId": "cat-home", "name": "Home", "parentId": null}));
    write("/api/v1/admin/categories", json!({"categoryId": "cat-lamps", "name": "Lamps", "parentId": "cat-home"}));
    write("/api/v1/admin/categories", json!({"categoryId": "cat-desks", "name": "Desks", "parentId": "cat-home"}));
    let product = |id: &str, vendor: &str, name: &str, description: &str, category: &str, price: i64| {
        json!({"productId": id, "vendorId": vendor, "name": name, "description": description, "categoryId": category,
               "price": price, "currency": "USD", "attributes": {"color": "red"}, "images": []})
    };
    write("/api/v1/admin/products", product("prd-s1", "ven-a", "Red Lamp", "A bright lamp", "cat-lamps", 2_500));
    write(
        "/api/v1/admin/products",
        product("prd-s2", "ven-b", "Oak Desk", "Solid oak, a lamp hook", "cat-desks", 30_000),
    );
    write("/api/v1/admin/products", product("prd-s3", "ven-a", "Blue Lamp", "Calm light", "cat-lamps", 4_500));
    let token =
        write("/api/v1/admin/products", product("prd-s4", "ven-b", "Desk Lamp", "Steel arm", "cat-lamps", 7_500));

    let ids = |body: &Value| -> Vec<String> {
        body["items"].as_array().unwrap().iter().map(|i| i["productId"].as_str().unwrap().to_string()).collect()
    };
    let (status, found) = api.get(&format!("/api/v1/products?q=lamp&after={token}"), None);
    assert_eq!(status, StatusCode::OK, "{found}");
    // prd-s1 holds "lamp" in its name and description; the others in one field each, then by productId.
    assert_eq!(ids(&found), ["prd-s1", "prd-s2", "prd-s3", "prd-s4"]);
    assert_eq!(found["total"], 4);
    assert_eq!(found["facets"]["category"], json!({"cat-desks": 1, "cat-lamps": 3}));
    assert_eq!(found["facets"]["vendor"], json!({"ven-a": 2, "ven-b": 2}));
    assert_eq!(found["facets"]["priceBand"], json!({"10-50": 2, "50-100": 1, "100-500": 1}));
    assert_eq!(found["items"][0]["name"], "Red Lamp");
    // Every word must match; case and punctuation do not matter.
    assert_eq!(ids(&api.get("/api/v1/products?q=BRIGHT%20lamp!", None).1), ["prd-s1"]);
    assert_eq!(api.get("/api/v1/products?q=lamp%20nowhere", None).1["total"], 0);
    // Two words: the entries shown and counted are whole (prices, vendors), whichever list is shorter.
    let (_, both) = api.get("/api/v1/products?q=calm+lamp+red&sort=-price", None);
    assert_eq!((ids(&both), both["facets"]["vendor"].clone()), (vec!["prd-s3".to_string()], json!({"ven-a": 1})));
    let (_, both) = api.get("/api/v1/products?q=lamp+red&sort=price", None);
    assert_eq!(ids(&both), ["prd-s1", "prd-s3", "prd-s4", "prd-s2"]);
    assert_eq!(both["facets"]["priceBand"], json!({"10-50": 2, "50-100": 1, "100-500": 1}));
    // A category's listing includes its descendants; filters, sort and pages.
    let (_, listed) = api.get("/api/v1/products?category=cat-home&minPrice=4000&sort=-price", None);
    assert_eq!(ids(&listed), ["prd-s2", "prd-s4", "prd-s3"]);
    let (_, page) = api.get("/api/v1/categories/cat-lamps/products?sort=price&pageSize=2&page=2", None);
    assert_eq!((ids(&page), page["total"].as_i64()), (vec!["prd-s4".to_string()], Some(3)));
    let (status, past) = api.get("/api/v1/products?page=99", None);
    assert_eq!(
        (status, past["items"].as_array().map(Vec::len), past["total"].as_i64()),
        (StatusCode::OK, Some(0), Some(4))
    );
    let (_, tree) = api.get("/api/v1/categories", None);
    assert_eq!(tree["items"][0]["categoryId"], "cat-home");
    assert_eq!(tree["items"][0]["productCount"], 4);
    let children: Vec<(String, i64)> = tree["items"][0]["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["categoryId"].as_str().unwrap().to_string(), c["productCount"].as_i64().unwrap()))
        .collect();
    assert_eq!(children, [("cat-desks".to_string(), 1), ("cat-lamps".to_string(), 3)]);
    // For search engines: the sitemap, and a product as schema.org JSON-LD.
    let (status, kind, sitemap) = api.get_text("/sitemap.xml", &[]);
    assert_eq!((status, kind.as_str()), (StatusCode::OK, "application/xml; charset=utf-8"));
    let locations: Vec<&str> = sitemap.split("<loc>").skip(1).filter_map(|l| l.split("</loc>").next()).collect();
    assert_eq!(
        locations,
        [
            "https://shop.example/categories/cat-desks",
            "https://shop.example/categories/cat-home",
            "https://shop.example/categories/cat-lamps",
            "https://shop.example/products/prd-s1",
            "https://shop.example/products/prd-s2",
            "https://shop.example/products/prd-s3",
            "https://shop.example/products/prd-s4",
        ]
    );
    let (status, kind, ld) = api.get_text("/api/v1/products/prd-s2", &[("accept", "application/ld+json")]);
    assert_eq!((status, kind.as_str()), (StatusCode::OK, "application/ld+json"));
    let ld: Value = serde_json::from_str(&ld).unwrap();
    assert_eq!((ld["@type"].as_str(), ld["name"].as_str()), (Some("Product"), Some("Oak Desk")));
    assert_eq!(ld["offers"]["price"], "300.00");
    assert_eq!(ld["offers"]["availability"], "https://schema.org/OutOfStock", "no stock was received");
    // Bad parameters are named.
    let (status, bad) = api.get("/api/v1/products?pageSize=0&sort=cheap&minPrice=x", None);
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(fields(&bad), ["minPrice", "pageSize", "sort"]);

    // A suspended vendor's products leave search, listings and counts; they come back with the approval.
    let token = write("/api/v1/admin/vendors/ven-a/suspend", json!({"reason": "audit"}));
    let (_, found) = api.get(&format!("/api/v1/products?q=lamp&after={token}"), None);
    assert_eq!(ids(&found), ["prd-s2", "prd-s4"]);
    assert_eq!(api.get("/api/v1/categories", None).1["items"][0]["productCount"], 2);
    let token = write("/api/v1/admin/vendors/ven-a/approve", json!({"commissionBps": 1000}));
    let (_, found) = api.get(&format!("/api/v1/products?q=lamp&after={token}"), None);
    assert_eq!(found["total"], 4);

    // What shoppers search: suggestions, trending searches, and search_terms in ClickHouse.
    let searches = [("Red Lamp", 1), ("Red Lamp", 1), ("Red Lamp", 1), ("  red LAMP ", 1), ("lamp", 4), ("lamp", 4)];
    let mut token = String::new();
    for (query, results) in searches.into_iter().chain([("unicorn", 0), ("Unicorn", 0)]) {
        let body = json!({"query": query, "sessionId": "ses-1", "resultCount": results});
        let answer = api.send("POST", "/api/v1/events/search", None, &[], Some(&body));
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
        token = answer.body["consistencyToken"].as_str().unwrap().to_string();
    }
    let click = json!({"query": "red lamp", "sessionId": "ses-1", "productId": "prd-s1", "position": 0});
    assert_eq!(api.send("POST", "/api/v1/events/click", None, &[], Some(&click)).status, StatusCode::ACCEPTED);
    let (status, suggested) = api.get(&format!("/api/v1/search/suggestions?prefix=RE&after={token}"), None);
    assert_eq!(status, StatusCode::OK, "{suggested}");
    assert_eq!(suggested["items"], json!([{"query": "red lamp", "searches": 4}]));
    assert_eq!(
        api.get("/api/v1/search/suggestions?prefix=l", None).1["items"],
        json!([{"query": "lamp", "searches": 2}])
    );
    assert_eq!(fields(&api.get("/api/v1/search/suggestions?prefix=%20", None).1), ["prefix"]);
    let (_, trending) = api.get("/api/v1/search/trending", None);
    assert_eq!(
        trending["items"],
        json!([{"query": "red lamp", "searches": 4}, {"query": "lamp", "searches": 2}, {"query": "unicorn", "searches": 2}])
    );
    // ClickHouse is written beside Redis, a little later: wait for the click to be counted.
    let mut rows = Value::Null;
    support::wait_until("search_terms to count the click", 60, || {
        rows = api.get("/api/v1/admin/analytics/search", Some(&admin)).1["items"].clone();
        rows.as_array().is_some_and(|r| r.iter().any(|row| row["clicks"] == 1))
    });
    assert_eq!(
        rows,
        json!([
            {"query": "unicorn", "searches": 2, "zeroResultSearches": 2, "clicks": 0},
            {"query": "red lamp", "searches": 4, "zeroResultSearches": 0, "clicks": 1},
            {"query": "lamp", "searches": 2, "zeroResultSearches": 0, "clicks": 0},
        ])
    );
}

#[test]
fn a_dead_letter_is_listed_and_its_corrected_record_replayed_into_the_views() {
    let (space, _pipeline) = live_space("replay");
    let api = Api::new(&space, Duration::from_secs(60));
    let (admin, shopper) = (api.token("adm-1", Role::Admin), api.token("usr-1", Role::Shopper));
    // An Order.Created from another producer whose total is text: the pipeline sends it to the
    // dead-letter topic with the reason and goes on.
    let mut order = json!({
        "specversion": "1.0", "id": "evt-replay-1", "type": "Order.Created", "source": "pos-terminal",
        "time": "2026-12-01T10:00:00Z", "subject": "ord-replay-1",
        "data": {
            "orderId": "ord-replay-1", "userId": "usr-1",
            "items": [{"productId": "prd-1", "vendorId": "ven-1", "quantity": 1, "unitPrice": 700}],
            "subtotal": 700, "discount": 0, "shipping": 0, "total": "seven hundred", "currency": "USD",
            "shippingAddress": address()
        }
    });
    let producer = shopflow_ingest::producer::RecordProducer::new(&support::brokers()).unwrap();
    let topic = space.topic("shop.orders");
    producer.send(&topic, "ord-replay-1", order.to_string().as_bytes()).unwrap();
    producer.flush(Duration::from_secs(30)).unwrap();

    let mut letter = Value::Null;
    support::wait_until("the dead letter to be listed", 60, || {
        let (status, body) = api.get("/api/v1/admin/dead-letters", Some(&admin));
        assert_eq!(status, StatusCode::OK, "{body}");
        letter = body["items"].as_array().unwrap().iter().find(|l| l["topic"] == topic).cloned().unwrap_or_default();
        !letter.is_null()
    });
    assert!(letter["reason"].as_str().unwrap().contains("total"), "{letter}");
    assert_eq!(letter["key"], "ord-replay-1");
    assert!(letter["payload"].as_str().unwrap().contains("seven hundred"));
    assert_eq!(api.get("/api/v1/admin/dead-letters", Some(&shopper)).0, StatusCode::FORBIDDEN);
    let path = format!("/api/v1/admin/dead-letters/{topic}/{}/{}/replay", letter["partition"], letter["offset"]);

    // Still wrong: refused, naming the field and why; nowhere else: 404.
    let again = api.send("POST", &path, Some(&admin), &[], Some(&json!({"value": order.clone()})));
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "{}", again.body);
    assert!(again.body["error"]["message"].as_str().unwrap().starts_with("value: "), "{}", again.body);
    let nowhere = format!("/api/v1/admin/dead-letters/{topic}/0/999999/replay");
    assert_eq!(
        api.send("POST", &nowhere, Some(&admin), &[], Some(&json!({"value": order.clone()}))).status,
        StatusCode::NOT_FOUND
    );

    // Mended: produced to its topic, and the order is served.
    order["data"]["total"] = json!(700);
    let replayed = api.send("POST", &path, Some(&admin), &[], Some(&json!({"value": order})));
    assert_eq!(replayed.status, StatusCode::ACCEPTED, "{}", replayed.body);
    assert_eq!(replayed.body["replayedFrom"]["offset"], letter["offset"]);
    let after = replayed.body["consistencyToken"].as_str().unwrap();
    assert!(after.starts_with(&format!("{topic}:")), "produced to the source topic: {after}");
    let (status, served) = api.get(&format!("/api/v1/orders/ord-replay-1?after={after}"), Some(&admin));
    assert_eq!(status, StatusCode::OK, "{served}");
    assert_eq!((served["total"].as_i64(), served["status"].as_str()), (Some(700), Some("Created")));
}
