//! Money end to end, against the real broker, pipeline, Redis and
//! ClickHouse: a known history gives exact wallets, payments, vendor
//! balances and promotion figures through the API and ClickHouse; wallet
//! payments spread over two API processes never overdraw; payouts beyond the
//! balance, and another user's payment, are refused; a burst of orders is
//! flagged by the fraud rules.

mod support;

use axum::http::StatusCode;
use serde_json::{json, Value};
use shopflow_api::auth::Role;
use std::time::Duration;
use support::api::{Answer, Api};
use support::{http, live_space, serve_twice, wait_until};

fn address() -> Value {
    json!({"street": "1 Main St", "city": "Salem", "zipcode": "97301", "country": "US"})
}

/// Sends a write and expects 202: its answer's body.
fn accepted(api: &Api, method: &str, path: &str, token: &str, body: Value) -> Value {
    let answer: Answer = api.send(method, path, Some(token), &[], Some(&body));
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{method} {path}: {}", answer.body);
    answer.body
}

/// `GET path` once the served state includes the write that answered `written`.
fn read_after(api: &Api, path: &str, token: Option<&str>, written: &Value) -> Value {
    let after = written["consistencyToken"].as_str().unwrap();
    let separator = if path.contains('?') { '&' } else { '?' };
    let (status, body) = api.get(&format!("{path}{separator}after={after}"), token);
    assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
    body
}

/// The error code of a refused write.
fn refused(api: &Api, method: &str, path: &str, token: &str, body: Value) -> (StatusCode, String) {
    let answer = api.send(method, path, Some(token), &[], Some(&body));
    (answer.status, answer.body["error"]["code"].as_str().unwrap_or_default().to_string())
}

/// A category and a product of `vendor` at `price` with 100 units, served.
fn product_of(api: &Api, admin: &str, vendor: &str, price: i64) -> String {
    accepted(
        api,
        "POST",
        "/api/v1/admin/categories",
        admin,
        json!({"categoryId": "cat-1", "name": "Lamps", "parentId": null}),
    );
    let product = json!({
        "vendorId": vendor, "name": "Lamp", "description": "A lamp", "categoryId": "cat-1",
        "price": price, "currency": "USD", "attributes": {}, "images": []
    });
    let created = accepted(api, "POST", "/api/v1/admin/products", admin, product);
    let product_id = created["productId"].as_str().unwrap().to_string();
    let stock = json!({"productId": product_id, "warehouseId": "wh-1", "quantity": 100});
    let received = accepted(api, "POST", "/api/v1/admin/inventory", admin, stock);
    read_after(api, &format!("/api/v1/inventory/{product_id}"), None, &received);
    read_after(api, &format!("/api/v1/products/{product_id}"), None, &created);
    product_id
}

#[test]
fn a_known_history_gives_exact_wallets_payments_vendor_balances_and_promotion_figures() {
    let (space, _pipeline) = live_space("money");
    let api = Api::new(&space, Duration::from_secs(60));
    let admin = api.token("adm-1", Role::Admin);
    let (alice, bob) = (api.token("usr-alice", Role::Shopper), api.token("usr-bob", Role::Shopper));

    // A seller applies, is approved at 15% commission, and sells a lamp at 10.00.
    let seller = api.token("usr-seller", Role::Shopper);
    let applied = accepted(&api, "POST", "/api/v1/vendors/apply", &seller, json!({"storeName": "Lamp Co"}));
    let vendor = applied["vendorId"].as_str().unwrap().to_string();
    let application = read_after(&api, "/api/v1/vendors/application-status", Some(&seller), &applied);
    assert_eq!(
        (application["vendorId"].as_str(), application["status"].as_str()),
        (Some(vendor.as_str()), Some("Applied"))
    );
    let approved = accepted(
        &api,
        "POST",
        &format!("/api/v1/admin/vendors/{vendor}/approve"),
        &admin,
        json!({"commissionBps": 1500}),
    );
    let application = read_after(&api, "/api/v1/vendors/application-status", Some(&seller), &approved);
    assert_eq!((application["status"].as_str(), application["commissionBps"].as_i64()), (Some("Approved"), Some(1500)));
    assert_eq!(api.get("/api/v1/vendors/application-status", Some(&bob)).0, StatusCode::NOT_FOUND);
    let vendor_token = api.vendor_token("usr-seller", &vendor);
    let lamp = product_of(&api, &admin, &vendor, 1_000);

    // Promotions: 10% off from an hour ago; one that needs more than any order.
    let now = chrono::Utc::now();
    let window = |hours: i64| {
        (now - chrono::Duration::hours(1)).to_rfc3339() + "|" + &(now + chrono::Duration::hours(hours)).to_rfc3339()
    };
    let (starts, ends) = window(24).split_once('|').map(|(a, b)| (a.to_string(), b.to_string())).unwrap();
    accepted(
        &api,
        "POST",
        "/api/v1/admin/promotions",
        &admin,
        json!({"code": "TENOFF", "percentOff": 10, "minSubtotal": 0, "startsAt": starts, "endsAt": ends}),
    );
    let big = accepted(
        &api,
        "POST",
        "/api/v1/admin/promotions",
        &admin,
        json!({"code": "BIGSPEND", "amountOff": 500, "minSubtotal": 1_000_000, "startsAt": starts, "endsAt": ends}),
    );
    read_after(&api, "/api/v1/wallet", Some(&alice), &big);

    // Alice tops up 100.00 and checks out three lamps with TENOFF:
    // 3000 − 300 discount + 4.99 shipping (under 50.00 after discount) = 3199.
    let topped = accepted(&api, "POST", "/api/v1/wallets/topup", &alice, json!({"amount": 10_000}));
    assert_eq!(read_after(&api, "/api/v1/wallet", Some(&alice), &topped)["balance"], 10_000);
    let order = |code: &str| json!({"items": [{"productId": lamp, "quantity": 3}], "shippingAddress": address(), "promoCode": code});
    assert_eq!(
        refused(&api, "POST", "/api/v1/orders", &alice, order("NOPE")),
        (StatusCode::UNPROCESSABLE_ENTITY, "unknown_promotion".into())
    );
    assert_eq!(
        refused(&api, "POST", "/api/v1/orders", &alice, order("BIGSPEND")),
        (StatusCode::UNPROCESSABLE_ENTITY, "promotion_minimum_not_met".into())
    );
    let created = accepted(&api, "POST", "/api/v1/orders", &alice, order("TENOFF"));
    assert_eq!(
        (
            created["subtotal"].as_i64(),
            created["discount"].as_i64(),
            created["shipping"].as_i64(),
            created["total"].as_i64()
        ),
        (Some(3_000), Some(300), Some(499), Some(3_199))
    );
    let order_id = created["orderId"].as_str().unwrap().to_string();
    let served = read_after(&api, &format!("/api/v1/orders/{order_id}"), Some(&alice), &created);
    assert_eq!((served["discount"].as_i64(), served["promoCode"].as_str()), (Some(300), Some("TENOFF")));

    // A wallet payment settles at once.
    let paid =
        accepted(&api, "POST", "/api/v1/payments/initiate", &alice, json!({"orderId": order_id, "method": "wallet"}));
    let payment = paid["paymentId"].as_str().unwrap().to_string();
    let served = read_after(&api, &format!("/api/v1/payments/{payment}"), Some(&alice), &paid);
    assert_eq!(
        (served["status"].as_str(), served["amount"].as_i64(), served["method"].as_str(), served["orderId"].as_str()),
        (Some("Completed"), Some(3_199), Some("wallet"), Some(order_id.as_str()))
    );
    assert_eq!(read_after(&api, "/api/v1/wallet", Some(&alice), &paid)["balance"], 10_000 - 3_199);
    assert_eq!(read_after(&api, &format!("/api/v1/orders/{order_id}"), Some(&alice), &paid)["status"], "Paid");
    // BOLA: Bob cannot see Alice's payment; his wallet is his own, empty.
    assert_eq!(api.get(&format!("/api/v1/payments/{payment}"), Some(&bob)).0, StatusCode::NOT_FOUND);
    let (status, bobs) = api.get("/api/v1/wallet", Some(&bob));
    assert_eq!((status, bobs["userId"].as_str(), bobs["balance"].as_i64()), (StatusCode::OK, Some("usr-bob"), Some(0)));
    assert_eq!(api.get(&format!("/api/v1/payments/{payment}"), Some(&admin)).0, StatusCode::OK);

    // Shipped and delivered: the seller earns ⌊3000 × 8500 / 10000⌋ = 2550.
    let shipment = accepted(
        &api,
        "POST",
        "/api/v1/admin/shipments",
        &admin,
        json!({"orderId": order_id, "warehouseId": "wh-1", "carrier": "UPS", "trackingNumber": "T1"}),
    );
    let shipment_id = shipment["shipmentId"].as_str().unwrap().to_string();
    read_after(&api, &format!("/api/v1/orders/{order_id}"), Some(&alice), &shipment);
    let delivered = accepted(
        &api,
        "POST",
        &format!("/api/v1/admin/shipments/{shipment_id}/delivered"),
        &admin,
        json!({"orderId": order_id}),
    );
    let payouts = read_after(&api, "/api/v1/vendor/payouts", Some(&vendor_token), &delivered);
    assert_eq!(
        (payouts["sales"].as_i64(), payouts["earnings"].as_i64(), payouts["balance"].as_i64()),
        (Some(3_000), Some(2_550), Some(2_550)),
        "{payouts}"
    );
    let orders = read_after(&api, "/api/v1/vendor/orders", Some(&vendor_token), &delivered);
    assert_eq!((orders["total"].as_i64(), orders["items"][0]["orderId"].as_str()), (Some(1), Some(order_id.as_str())));
    assert_eq!(orders["items"][0]["status"], "Delivered");
    // Another vendor's view of its orders does not hold this one.
    let other = api.vendor_token("usr-other", "ven-other");
    assert_eq!(api.get("/api/v1/vendor/orders", Some(&other)).1["total"], 0);

    // Payouts: beyond the balance 409; 2000 held, so 600 more is beyond it too.
    let payout = |amount: i64| json!({"amount": amount});
    assert_eq!(
        refused(&api, "POST", "/api/v1/vendor/payouts", &vendor_token, payout(2_551)),
        (StatusCode::CONFLICT, "insufficient_balance".into())
    );
    let requested = accepted(&api, "POST", "/api/v1/vendor/payouts", &vendor_token, payout(2_000));
    let payout_id = requested["payoutId"].as_str().unwrap().to_string();
    assert_eq!(
        refused(&api, "POST", "/api/v1/vendor/payouts", &vendor_token, payout(600)),
        (StatusCode::CONFLICT, "insufficient_balance".into())
    );
    let pending = read_after(&api, "/api/v1/vendor/payouts", Some(&vendor_token), &requested);
    assert_eq!((pending["pendingPayouts"].as_i64(), pending["balance"].as_i64()), (Some(2_000), Some(2_550)));
    let processed = accepted(
        &api,
        "POST",
        &format!("/api/v1/admin/payouts/{payout_id}/process"),
        &admin,
        json!({"vendorId": vendor, "amount": 2_000}),
    );
    let done = read_after(&api, "/api/v1/vendor/payouts", Some(&vendor_token), &processed);
    assert_eq!(
        (
            done["payouts"].as_i64(),
            done["pendingPayouts"].as_i64(),
            done["balance"].as_i64(),
            done["items"][0]["status"].as_str()
        ),
        (Some(2_000), Some(0), Some(550), Some("processed"))
    );

    // Refunds: 10.00 back to the wallet; a refund beyond what is left is listed, not applied.
    let refund = accepted(
        &api,
        "POST",
        &format!("/api/v1/payments/{payment}/refund"),
        &admin,
        json!({"orderId": order_id, "amount": 1_000}),
    );
    let over = accepted(
        &api,
        "POST",
        &format!("/api/v1/payments/{payment}/refund"),
        &admin,
        json!({"orderId": order_id, "amount": 2_200}),
    );
    read_after(&api, "/api/v1/wallet", Some(&alice), &refund);
    let served = read_after(&api, &format!("/api/v1/payments/{payment}"), Some(&alice), &over);
    assert_eq!(
        (served["refunded"].as_i64(), served["anomalies"][0]["reason"].as_str()),
        (Some(1_000), Some("over_refund"))
    );
    let wallet = read_after(&api, "/api/v1/wallets/transactions", Some(&alice), &over);
    assert_eq!(wallet["balance"], 10_000 - 3_199 + 1_000);
    let kinds: Vec<&str> = wallet["items"].as_array().unwrap().iter().map(|i| i["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["refund", "payment", "topup"], "newest first");
    let page = api.get("/api/v1/wallets/transactions?page=2&pageSize=2", Some(&alice)).1;
    assert_eq!((page["items"].as_array().map(Vec::len), page["total"].as_i64()), (Some(1), Some(3)));
    assert_eq!(api.get("/api/v1/wallets/transactions?page=0", Some(&alice)).0, StatusCode::BAD_REQUEST);

    // ClickHouse: vendor_balances, promotion_performance, the vendor's sales by day.
    let rows = |path: &str, token: &str| api.get(path, Some(token)).1["items"].clone();
    wait_until("ClickHouse to hold the payout", 60, || {
        rows("/api/v1/admin/analytics/vendors", &admin)
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r["vendorId"] == vendor.as_str() && r["payouts"] == 2_000))
    });
    let balances = rows("/api/v1/admin/analytics/vendors", &admin);
    let row = balances.as_array().unwrap().iter().find(|r| r["vendorId"] == vendor.as_str()).unwrap();
    assert_eq!(row, &json!({"vendorId": vendor, "sales": 3_000, "earnings": 2_550, "payouts": 2_000, "balance": 550}));
    let promotions = rows("/api/v1/admin/promotions", &admin);
    assert_eq!(promotions, json!([{"code": "TENOFF", "orders": 1, "discount": 300, "revenue": 3_199}]));
    let sales = rows("/api/v1/vendor/analytics", &vendor_token);
    assert_eq!(sales.as_array().map(Vec::len), Some(1), "{sales}");
    assert_eq!(
        (sales[0]["productId"].as_str(), sales[0]["units"].as_i64(), sales[0]["revenue"].as_i64()),
        (Some(lamp.as_str()), Some(3), Some(3_000))
    );
    assert_eq!(rows("/api/v1/vendor/analytics", &other), json!([]));

    // A suspended vendor's writes answer 403.
    let suspended =
        accepted(&api, "POST", &format!("/api/v1/admin/vendors/{vendor}/suspend"), &admin, json!({"reason": "audit"}));
    read_after(&api, "/api/v1/vendor/payouts", Some(&vendor_token), &suspended);
    assert_eq!(
        refused(&api, "POST", "/api/v1/vendor/payouts", &vendor_token, payout(10)),
        (StatusCode::FORBIDDEN, "vendor_suspended".into())
    );
    let product = json!({"name": "Shade", "description": "A shade", "categoryId": "cat-1", "price": 500, "currency": "USD", "attributes": {}, "images": []});
    assert_eq!(
        refused(&api, "POST", "/api/v1/vendor/products", &vendor_token, product),
        (StatusCode::FORBIDDEN, "vendor_suspended".into())
    );
}

#[test]
fn concurrent_wallet_payments_over_two_api_processes_never_overdraw() {
    let (space, _pipeline) = live_space("wallets");
    let api = Api::new(&space, Duration::from_secs(60));
    let admin = api.token("adm-1", Role::Admin);
    let alice = api.token("usr-alice", Role::Shopper);
    let lamp = product_of(&api, &admin, "ven-1", 1_000);
    // 50.00 in the wallet; each order is 10.00 + 4.99 shipping: three fit, a fourth does not.
    let topped = accepted(&api, "POST", "/api/v1/wallets/topup", &alice, json!({"amount": 5_000}));
    let mut orders = Vec::new();
    let mut last = topped;
    for _ in 0..20 {
        let order = json!({"items": [{"productId": lamp, "quantity": 1}], "shippingAddress": address()});
        last = accepted(&api, "POST", "/api/v1/orders", &alice, order);
        assert_eq!(last["total"], 1_499);
        orders.push(last["orderId"].as_str().unwrap().to_string());
    }
    read_after(&api, &format!("/api/v1/orders/{}", orders[19]), Some(&alice), &last);
    assert_eq!(api.get("/api/v1/wallet", Some(&alice)).1["balance"], 5_000);

    let (ports, _logs, _servers) = serve_twice(&space);
    let start = std::sync::Arc::new(std::sync::Barrier::new(20));
    let payers: Vec<_> = orders
        .iter()
        .enumerate()
        .map(|(i, order_id)| {
            let (token, start, port) = (alice.clone(), start.clone(), ports[i % 2]);
            let body = json!({"orderId": order_id, "method": "wallet"});
            std::thread::spawn(move || {
                start.wait();
                http(port, "POST", "/api/v1/payments/initiate", &token, &body)
            })
        })
        .collect();
    let answers: Vec<(u16, String, String)> = payers.into_iter().map(|p| p.join().unwrap()).collect();
    let paid: Vec<Value> = answers
        .iter()
        .filter(|(status, _, _)| *status == 202)
        .map(|(_, body, _)| serde_json::from_str(body).unwrap())
        .collect();
    let short =
        answers.iter().filter(|(status, body, _)| *status == 409 && body.contains("insufficient_funds")).count();
    assert_eq!((paid.len(), short), (3, 17), "{answers:?}");
    // Served: three completed payments, a balance that never went below zero.
    for written in &paid {
        let payment = written["paymentId"].as_str().unwrap();
        let served = read_after(&api, &format!("/api/v1/payments/{payment}"), Some(&alice), written);
        assert_eq!((served["status"].as_str(), served["completed"].as_i64()), (Some("Completed"), Some(1_499)));
    }
    let wallet = read_after(&api, "/api/v1/wallets/transactions", Some(&alice), &paid[2]);
    assert_eq!(wallet["balance"], 5_000 - 3 * 1_499);
    assert_eq!(wallet["total"], 4, "one top-up, three payments");
    // The refused orders are unpaid; once the payments are served the holds give
    // way to the balance, and paying one of them is still short.
    let paid_orders: Vec<&str> = paid.iter().map(|p| p["orderId"].as_str().unwrap()).collect();
    let unpaid: Vec<&String> = orders.iter().filter(|o| !paid_orders.contains(&o.as_str())).collect();
    assert_eq!(unpaid.len(), 17);
    for order_id in &unpaid {
        assert_eq!(api.get(&format!("/api/v1/orders/{order_id}"), Some(&alice)).1["status"], "Created");
    }
    let again = json!({"orderId": unpaid[0], "method": "wallet"});
    let (status, body, _) = http(ports[0], "POST", "/api/v1/payments/initiate", &alice, &again);
    assert!(status == 409 && body.contains("insufficient_funds"), "{status} {body}");
}

#[test]
fn a_burst_of_orders_is_flagged_for_admins() {
    let (space, _pipeline) = live_space("fraud");
    let api = Api::new(&space, Duration::from_secs(60));
    let admin = api.token("adm-1", Role::Admin);
    let (mallory, alice) = (api.token("usr-mallory", Role::Shopper), api.token("usr-alice", Role::Shopper));
    let lamp = product_of(&api, &admin, "ven-1", 1_000);
    let order = json!({"items": [{"productId": lamp, "quantity": 1}], "shippingAddress": address()});
    accepted(&api, "POST", "/api/v1/orders", &alice, order.clone());
    let mut last = Value::Null;
    let mut placed = Vec::new();
    for _ in 0..6 {
        last = accepted(&api, "POST", "/api/v1/orders", &mallory, order.clone());
        placed.push(last["orderId"].as_str().unwrap().to_string());
    }
    let flagged = read_after(&api, "/api/v1/admin/fraud", Some(&admin), &last);
    assert_eq!(flagged["total"], 1, "{flagged}");
    let user = &flagged["items"][0];
    assert_eq!(user["userId"], "usr-mallory");
    let flags = user["flags"].as_array().unwrap();
    assert_eq!(flags.len(), 1, "the sixth order within the hour: {flags:?}");
    assert_eq!(
        (flags[0]["rule"].as_str(), flags[0]["orderId"].as_str()),
        (Some("order_burst"), placed.last().map(String::as_str))
    );
    assert_eq!(api.get("/api/v1/admin/fraud", Some(&alice)).0, StatusCode::FORBIDDEN);
    assert_eq!(api.get("/api/v1/admin/fraud?pageSize=0", Some(&admin)).0, StatusCode::BAD_REQUEST);

    // Once the watermark passes it (the partitions go idle when the shop is quiet), the flag
    // is emitted as Fraud.Suspected on shop.alerts, at the event time of the order.
    let mut suspected = Vec::new();
    wait_until("Fraud.Suspected among the alerts", 60, || {
        let (status, alerts) = api.get("/api/v1/admin/alerts", Some(&admin));
        assert_eq!(status, StatusCode::OK, "{alerts}");
        suspected =
            alerts["items"].as_array().unwrap().iter().filter(|a| a["type"] == "Fraud.Suspected").cloned().collect();
        !suspected.is_empty()
    });
    assert_eq!(suspected.len(), 1, "{suspected:?}");
    let alert = &suspected[0];
    assert_eq!((alert["subject"].as_str(), alert["data"]["rule"].as_str()), (Some("usr-mallory"), Some("order_burst")));
    assert_eq!(alert["data"]["orderId"].as_str(), placed.last().map(String::as_str));
    assert_eq!(alert["time"], flags[0]["at"], "stamped with the order's event time");
    assert_eq!(api.get("/api/v1/admin/alerts", Some(&alice)).0, StatusCode::FORBIDDEN);
}

#[test]
fn a_paid_order_gets_a_delivery_partner_of_its_city_and_its_shipment_is_tracked() {
    let (space, _pipeline) = live_space("delivery");
    let api = Api::new(&space, Duration::from_secs(60));
    let admin = api.token("adm-1", Role::Admin);
    let (alice, bob) = (api.token("usr-alice", Role::Shopper), api.token("usr-bob", Role::Shopper));
    // Two partners: one serves the order's city (written another way), one does not.
    let partner = |name: &str, areas: Value| {
        let body = json!({"name": name, "serviceAreas": areas, "capacity": 40});
        accepted(&api, "POST", "/api/v1/admin/delivery-partners", &admin, body)
    };
    let local = partner("Salem Couriers", json!([" salem ", "Eugene"]));
    let elsewhere = partner("Far Away", json!(["Portland"]));
    let local_id = local["partnerId"].as_str().unwrap().to_string();
    let lamp = product_of(&api, &admin, "ven-1", 1_000);
    let order = accepted(
        &api,
        "POST",
        "/api/v1/orders",
        &alice,
        json!({"items": [{"productId": lamp, "quantity": 1}], "shippingAddress": address()}),
    );
    let order_id = order["orderId"].as_str().unwrap().to_string();
    let served = read_after(&api, &format!("/api/v1/orders/{order_id}"), Some(&alice), &order);
    assert_eq!(served["deliveryPartnerId"], Value::Null, "not paid yet: {served}");
    let topped = accepted(&api, "POST", "/api/v1/wallets/topup", &alice, json!({"amount": 10_000}));
    read_after(&api, "/api/v1/wallet", Some(&alice), &topped);
    let paid =
        accepted(&api, "POST", "/api/v1/payments/initiate", &alice, json!({"orderId": order_id, "method": "wallet"}));
    let served = read_after(&api, &format!("/api/v1/orders/{order_id}"), Some(&alice), &paid);
    assert_eq!(served["status"], "Paid", "{served}");
    assert_eq!(served["deliveryPartnerId"].as_str(), Some(local_id.as_str()), "{served}");
    let listed = read_after(&api, "/api/v1/orders", Some(&alice), &paid);
    assert_eq!(listed["items"][0]["deliveryPartnerId"].as_str(), Some(local_id.as_str()));

    let partners = read_after(&api, "/api/v1/admin/delivery-partners", Some(&admin), &elsewhere);
    let open = |partners: &Value, id: &str| {
        partners["items"].as_array().unwrap().iter().find(|p| p["partnerId"] == id).unwrap()["openAssignments"].clone()
    };
    assert_eq!(partners["total"], 2, "{partners}");
    assert_eq!(open(&partners, &local_id), 1);
    assert_eq!(open(&partners, elsewhere["partnerId"].as_str().unwrap()), 0);

    // Shipped, moving, delivered: tracked in order; delivered closes the assignment.
    let tracking = format!("/api/v1/orders/{order_id}/tracking");
    let before = read_after(&api, &tracking, Some(&alice), &paid);
    assert_eq!((before["status"].clone(), before["events"].as_array().unwrap().len()), (Value::Null, 0));
    let shipment = accepted(
        &api,
        "POST",
        "/api/v1/admin/shipments",
        &admin,
        json!({"orderId": order_id, "warehouseId": "wh-1", "carrier": "UPS", "trackingNumber": "1Z999"}),
    );
    let shipment_id = shipment["shipmentId"].as_str().unwrap().to_string();
    let path = format!("/api/v1/admin/shipments/{shipment_id}/status");
    let body = json!({"orderId": order_id, "status": "in_transit", "location": "Albany"});
    accepted(&api, "POST", &path, &admin, body);
    let path = format!("/api/v1/admin/shipments/{shipment_id}/delivered");
    let delivered = accepted(&api, "POST", &path, &admin, json!({"orderId": order_id}));
    let tracked = read_after(&api, &tracking, Some(&alice), &delivered);
    assert_eq!(
        (tracked["shipmentId"].as_str(), tracked["carrier"].as_str()),
        (Some(shipment_id.as_str()), Some("UPS"))
    );
    assert_eq!((tracked["trackingNumber"].as_str(), tracked["status"].as_str()), (Some("1Z999"), Some("delivered")));
    let events: Vec<(&str, Option<&str>)> = tracked["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["status"].as_str().unwrap(), e["location"].as_str()))
        .collect();
    assert_eq!(events, [("created", None), ("in_transit", Some("Albany")), ("delivered", None)]);
    assert_eq!(tracked["deliveryPartnerId"].as_str(), Some(local_id.as_str()), "kept after delivery");
    let partners = read_after(&api, "/api/v1/admin/delivery-partners", Some(&admin), &delivered);
    assert_eq!(open(&partners, &local_id), 0, "delivered: no longer open");
    // Someone else's order is not found; the admin list is for admins.
    assert_eq!(api.get(&tracking, Some(&bob)).0, StatusCode::NOT_FOUND);
    assert_eq!(api.get("/api/v1/admin/delivery-partners", Some(&alice)).0, StatusCode::FORBIDDEN);
}

#[test]
fn an_orders_life_requests_one_notification_per_transition_and_channel_the_user_allows() {
    use shopflow_topics::events::{Role as EventRole, UserRegistered};
    use shopflow_topics::{Envelope, Event, EventTime};
    let (space, _pipeline) = live_space("notify");
    let api = Api::new(&space, Duration::from_secs(60));
    let admin = api.token("adm-1", Role::Admin);
    let (alice, bob) = (api.token("usr-alice", Role::Shopper), api.token("usr-bob", Role::Shopper));
    // Alice and Bob register; Bob wants no e-mail.
    let producer = shopflow_ingest::producer::RecordProducer::new(&support::brokers()).unwrap();
    let start = EventTime::now().plus(-60 * EventTime::SECOND);
    let registered = |user: &str, name: &str| UserRegistered {
        user_id: user.into(),
        email: format!("{user}@example.com"),
        name: name.into(),
        role: EventRole::Shopper,
        address: None,
        phone: None,
    };
    let events: Vec<Envelope> = vec![
        Envelope::new("evt-reg-alice", "test", start, registered("usr-alice", "Alice")),
        Envelope::new("evt-reg-bob", "test", start, registered("usr-bob", "Bob")),
    ];
    for envelope in &events {
        producer.send(&space.topic("shop.users"), envelope.key(), &envelope.to_json()).unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    // Bob turns e-mail and push off through the API.
    let path = "/api/v1/notifications/preferences";
    let wanted = json!({"email": false, "sms": true, "push": false});
    let set = accepted(&api, "PUT", path, &bob, wanted.clone());
    let mut read = read_after(&api, path, Some(&bob), &set);
    read.as_object_mut().unwrap().remove("asOf");
    assert_eq!(read, wanted);
    let (status, _) = api.get(path, Some(&api.token("usr-nobody", Role::Shopper)));
    assert_eq!(status, StatusCode::NOT_FOUND, "no profile, no preferences");
    let refused = api.send("PUT", path, Some(&bob), &[], Some(&json!({"email": "no"})));
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);

    let lamp = product_of(&api, &admin, "ven-1", 1_000);
    let order = json!({"items": [{"productId": lamp, "quantity": 1}], "shippingAddress": address()});
    let placed = accepted(&api, "POST", "/api/v1/orders", &alice, order.clone());
    let order_id = placed["orderId"].as_str().unwrap().to_string();
    let bobs = accepted(&api, "POST", "/api/v1/orders", &bob, order);
    let topped = accepted(&api, "POST", "/api/v1/wallets/topup", &alice, json!({"amount": 10_000}));
    read_after(&api, "/api/v1/wallet", Some(&alice), &topped);
    read_after(&api, &format!("/api/v1/orders/{order_id}"), Some(&alice), &placed);
    accepted(&api, "POST", "/api/v1/payments/initiate", &alice, json!({"orderId": order_id, "method": "wallet"}));
    let body = json!({"orderId": order_id, "warehouseId": "wh-1", "carrier": "UPS", "trackingNumber": "1Z1"});
    let shipment = accepted(&api, "POST", "/api/v1/admin/shipments", &admin, body);
    let shipment_id = shipment["shipmentId"].as_str().unwrap().to_string();
    let body = json!({"orderId": order_id, "status": "out_for_delivery", "location": "Salem"});
    accepted(&api, "POST", &format!("/api/v1/admin/shipments/{shipment_id}/status"), &admin, body);
    let body = json!({"orderId": order_id});
    let delivered = accepted(&api, "POST", &format!("/api/v1/admin/shipments/{shipment_id}/delivered"), &admin, body);
    let served = read_after(&api, &format!("/api/v1/orders/{order_id}"), Some(&alice), &delivered);
    assert_eq!(served["status"], "Delivered", "{served}");
    let bobs_order = bobs["orderId"].as_str().unwrap().to_string();

    // Once the quiet partitions go idle, everything is settled and requested, once.
    let alice_templates = [
        "welcome",
        "order_created",
        "payment_completed",
        "order_paid",
        "order_shipped",
        "shipment_update",
        "order_delivered",
    ];
    let requested = |read: &[Envelope]| -> Vec<(String, String, String)> {
        read.iter()
            .filter_map(|e| match &e.event {
                Event::NotificationRequested(n) => {
                    Some((n.user_id.clone(), n.template.clone(), n.channel.as_str().to_string()))
                }
                _ => None,
            })
            .collect()
    };
    let read = support::read_topic(&space.topic("shop.notifications"), |read| {
        let seen = requested(read);
        alice_templates.iter().all(|t| seen.iter().any(|(u, tt, _)| u == "usr-alice" && tt == t))
            && seen.iter().any(|(u, t, _)| u == "usr-bob" && t == "order_created")
    });
    let seen = requested(&read);
    let mut expected: Vec<(String, String, String)> = Vec::new();
    for template in alice_templates {
        let channels: &[&str] = if template == "welcome" { &["email"] } else { &["email", "sms", "push"] };
        for channel in channels {
            expected.push(("usr-alice".into(), template.into(), channel.to_string()));
        }
    }
    expected.push(("usr-bob".into(), "welcome".into(), "email".into()));
    expected.push(("usr-bob".into(), "order_created".into(), "sms".into()));
    let (mut seen_sorted, mut expected_sorted) = (seen.clone(), expected.clone());
    seen_sorted.sort();
    expected_sorted.sort();
    assert_eq!(
        seen_sorted, expected_sorted,
        "exactly these, each once (Bob: welcomed by e-mail before he opted out, then SMS only)"
    );
    // Rendered from the templates, addressed by subject to the user.
    let paid = read
        .iter()
        .find_map(|e| match &e.event {
            Event::NotificationRequested(n) if n.template == "order_paid" && n.channel.as_str() == "email" => {
                Some((e.subject.clone(), n.subject.clone(), n.body.clone()))
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(paid.0, "usr-alice", "keyed by the user");
    assert_eq!(paid.1, format!("Your order {order_id} is paid"));
    assert!(paid.2.starts_with("Hello Alice,"), "{}", paid.2);
    let update = read
        .iter()
        .find_map(|e| match &e.event {
            Event::NotificationRequested(n) if n.template == "shipment_update" => Some(n.body.clone()),
            _ => None,
        })
        .unwrap();
    assert!(update.contains("out for delivery (Salem)"), "{update}");
    assert!(!bobs_order.is_empty());
}
