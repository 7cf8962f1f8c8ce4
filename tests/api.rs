//! The HTTP API over state the real pipeline published to the real Redis and ClickHouse.

mod support;

use axum::http::StatusCode;
use serde_json::{json, Value};
use shopflow_api::auth::{Auth, Role};
use shopflow_topics::{Envelope, EventTime};
use std::time::Duration;
use support::api::Api;
use support::Space;

#[test]
fn reads_serve_the_published_state_with_object_level_checks() {
    let space = Space::new("api");
    space.run_ok(&["topics", "create", "--partitions", "3"]);
    space.run_ok(&["generate", "--quiet", "--seed", "12", "--orders", "60"]);
    space.run_ok(&["pipeline", "--exit-when-caught-up"]);
    let (_, objects) = space.redis_objects();
    let api = Api::new(&space, Duration::from_secs(5));

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

/// An event of the contract at `minutes` past a fixed start.
fn event(id: &str, minutes: i64, kind: &str, subject: &str, data: Value) -> Envelope {
    let time = EventTime::parse("2026-11-20T10:00:00Z").unwrap().plus(minutes * 60 * EventTime::SECOND);
    let envelope = json!({"specversion": "1.0", "id": id, "source": "test", "type": kind, "time": time.to_string(),
        "subject": subject, "datacontenttype": "application/json", "data": data});
    Envelope::from_value(&envelope).unwrap_or_else(|e| panic!("{id}: {e}"))
}

/// Order `order` of `user` for one unit of each of `products`, created at `minutes`.
fn order(order: &str, user: &str, minutes: i64, products: &[&str]) -> Envelope {
    let items: Vec<Value> = products
        .iter()
        .map(|p| json!({"productId": p, "vendorId": "ven-1", "quantity": 1, "unitPrice": 1000}))
        .collect();
    let total = 1000 * products.len() as i64;
    let address = json!({"street": "1 Main St", "city": "Salem", "zipcode": "12345", "country": "US"});
    let data = json!({"orderId": order, "userId": user, "items": items, "subtotal": total, "discount": 0, "shipping": 0,
        "total": total, "currency": "USD", "shippingAddress": address});
    event(&format!("evt-{order}"), minutes, "Order.Created", order, data)
}

fn paid(order: &str, minutes: i64) -> Envelope {
    let data = json!({"paymentId": format!("pay-{order}"), "orderId": order, "amount": 1000});
    event(&format!("evt-{order}-paid"), minutes, "Payment.Completed", order, data)
}

fn publish(space: &Space, events: &[Envelope]) {
    let producer = shopflow_ingest::producer::RecordProducer::new(&support::brokers()).unwrap();
    for envelope in events {
        producer.send(&space.topic(envelope.topic().name()), envelope.key(), &envelope.to_json()).unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

fn scored(list: &Value) -> Vec<(String, i64)> {
    let items = list.as_array().unwrap_or_else(|| panic!("not a list: {list}"));
    items.iter().map(|i| (i["productId"].as_str().unwrap().to_string(), i["score"].as_i64().unwrap())).collect()
}

fn pairs(expected: &[(&str, i64)]) -> Vec<(String, i64)> {
    expected.iter().map(|(p, s)| (p.to_string(), *s)).collect()
}

#[test]
fn recommendations_trending_and_reviews_follow_known_purchases() {
    let space = Space::new("recs");
    space.run_ok(&["topics", "create", "--partitions", "2"]);
    let mut events = Vec::new();
    for (i, product) in ["prd-1", "prd-2", "prd-3", "prd-4"].iter().enumerate() {
        let data = json!({"productId": product, "vendorId": "ven-1", "name": format!("Product {i}"),
            "description": "A thing.", "categoryId": "cat-1", "price": 1000, "currency": "USD",
            "attributes": {}, "images": []});
        events.push(event(&format!("evt-{product}"), i as i64, "Product.Created", product, data));
    }
    // usr-1 buys 1 and 2, usr-2 buys 1, 2 and 3, usr-4 buys 3; usr-3's order of 1 and 4 is cancelled.
    events.extend([
        order("ord-1", "usr-1", 10, &["prd-1", "prd-2"]),
        paid("ord-1", 11),
        order("ord-2", "usr-2", 12, &["prd-1", "prd-2", "prd-3"]),
        paid("ord-2", 13),
        order("ord-3", "usr-3", 14, &["prd-1", "prd-4"]),
        event(
            "evt-ord-3-cancel",
            15,
            "Order.Cancelled",
            "ord-3",
            json!({"orderId": "ord-3", "reason": "changed mind"}),
        ),
        order("ord-4", "usr-4", 16, &["prd-3"]),
        paid("ord-4", 17),
    ]);
    // usr-1 and usr-2 both view 1 and 4.
    for (i, (user, product)) in
        [("usr-1", "prd-1"), ("usr-1", "prd-4"), ("usr-2", "prd-1"), ("usr-2", "prd-4")].iter().enumerate()
    {
        let data = json!({"userId": user, "sessionId": format!("ses-{user}"), "productId": product});
        events.push(event(&format!("evt-view-{i}"), 20 + i as i64, "Product.Viewed", user, data));
    }
    // Reviews of prd-1: a buyer's 5, a non-buyer's 2, and a 1 that moderation rejects.
    for (i, (review, user, rating)) in
        [("rev-1", "usr-1", 5), ("rev-2", "usr-5", 2), ("rev-3", "usr-2", 1)].iter().enumerate()
    {
        let data = json!({"reviewId": review, "productId": "prd-1", "userId": user, "rating": rating,
            "title": format!("Review {i}"), "body": "Words."});
        events.push(event(&format!("evt-{review}"), 30 + i as i64, "Review.Posted", "prd-1", data));
    }
    events.push(event(
        "evt-rev-1-ok",
        34,
        "Review.Moderated",
        "prd-1",
        json!({"reviewId": "rev-1", "productId": "prd-1", "action": "approve"}),
    ));
    events.push(event(
        "evt-rev-3-no",
        35,
        "Review.Moderated",
        "prd-1",
        json!({"reviewId": "rev-3", "productId": "prd-1", "action": "reject"}),
    ));
    publish(&space, &events);
    space.run_ok(&["pipeline", "--exit-when-caught-up", "--workers", "2"]);
    let api = Api::new(&space, Duration::from_secs(5));

    let get_ok = |path: &str, token: Option<&str>| {
        let (status, body) = api.get(path, token);
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert!(body["asOf"].as_i64().unwrap() > 0, "{path}: no asOf");
        body
    };
    let together = get_ok("/api/v1/products/prd-1/bought-together", None);
    assert_eq!(together["productId"], "prd-1");
    // The cancelled order adds nothing: prd-4 is not bought with prd-1.
    assert_eq!(scored(&together["items"]), pairs(&[("prd-2", 2), ("prd-3", 1)]));
    assert_eq!(
        scored(&get_ok("/api/v1/products/prd-3/bought-together", None)["items"]),
        pairs(&[("prd-1", 1), ("prd-2", 1)])
    );
    assert_eq!(scored(&get_ok("/api/v1/products/prd-4/bought-together", None)["items"]), pairs(&[]));
    assert_eq!(scored(&get_ok("/api/v1/products/prd-1/viewed-together", None)["items"]), pairs(&[("prd-4", 2)]));
    assert_eq!(api.get("/api/v1/products/prd-404/bought-together", None).0, StatusCode::NOT_FOUND);
    assert_eq!(api.get("/api/v1/products/bad%20id/viewed-together", None).0, StatusCode::BAD_REQUEST);

    // Views, plus 5 per purchased unit: prd-1 2 + 2×5, prd-2 2×5, prd-3 2×5, prd-4 2 views.
    let trending = pairs(&[("prd-1", 12), ("prd-2", 10), ("prd-3", 10), ("prd-4", 2)]);
    assert_eq!(scored(&get_ok("/api/v1/trending", None)["items"]), trending);

    // usr-1: prd-3 through both purchases (1 + 1); usr-4: what prd-3 was bought with.
    let mine = get_ok("/api/v1/recommendations", Some(&api.token("usr-1", Role::Shopper)));
    assert_eq!((scored(&mine["items"]), mine["basedOn"].as_str()), (pairs(&[("prd-3", 2)]), Some("purchases")));
    let mine = get_ok("/api/v1/recommendations", Some(&api.token("usr-4", Role::Shopper)));
    assert_eq!(scored(&mine["items"]), pairs(&[("prd-1", 1), ("prd-2", 1)]));
    // No purchase (usr-3's was cancelled): trending.
    let mine = get_ok("/api/v1/recommendations", Some(&api.token("usr-3", Role::Shopper)));
    assert_eq!((scored(&mine["items"]), mine["basedOn"].as_str()), (trending.clone(), Some("trending")));
    assert_eq!(api.get("/api/v1/recommendations", None).0, StatusCode::UNAUTHORIZED);

    // Reviews: the rejected one is gone; the buyer's is a verified purchase; newest first.
    let reviews = get_ok("/api/v1/products/prd-1/reviews", None);
    assert_eq!((reviews["count"].as_i64(), reviews["mean"].as_f64()), (Some(2), Some(3.5)));
    let listed: Vec<(&str, bool, &str)> = reviews["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["reviewId"].as_str().unwrap(),
                r["verifiedPurchase"].as_bool().unwrap(),
                r["moderation"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(listed, vec![("rev-2", false, "pending"), ("rev-1", true, "approved")]);
    let product = get_ok("/api/v1/products/prd-1", None);
    assert_eq!(product["rating"], json!({"count": 2, "mean": 3.5}));
    let none = get_ok("/api/v1/products/prd-2/reviews", None);
    assert_eq!((none["count"].as_i64(), none["items"].clone()), (Some(0), json!([])));
    assert_eq!(api.get("/api/v1/products/prd-404/reviews", None).0, StatusCode::NOT_FOUND);

    // ClickHouse product_stats carries the rating.
    let admin = api.token("admin-1", Role::Admin);
    let stats = get_ok("/api/v1/admin/analytics/products?limit=100", Some(&admin));
    let row =
        stats["items"].as_array().unwrap().iter().find(|r| r["productId"] == "prd-1").expect("prd-1 stats").clone();
    assert_eq!((row["ratingCount"].as_i64(), row["ratingMean"].as_f64()), (Some(2), Some(3.5)), "{row}");

    // usr-2's payment is refunded: their pairs go, and the lists shrink.
    let refund = json!({"paymentId": "pay-ord-2", "orderId": "ord-2", "amount": 3000});
    publish(&space, &[event("evt-ord-2-refund", 40, "Payment.Refunded", "ord-2", refund)]);
    space.run_ok(&["pipeline", "--exit-when-caught-up"]);
    assert_eq!(scored(&get_ok("/api/v1/products/prd-1/bought-together", None)["items"]), pairs(&[("prd-2", 1)]));
    assert_eq!(scored(&get_ok("/api/v1/products/prd-3/bought-together", None)["items"]), pairs(&[]));
    let reviews = get_ok("/api/v1/products/prd-1/reviews", None);
    assert_eq!(reviews["items"][1]["verifiedPurchase"], json!(true), "usr-1 still bought prd-1");
}
