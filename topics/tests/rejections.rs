//! One rejection per kind of failure, each with its exact reason.

use serde_json::{json, Value};
use shopflow_topics::{DecodeError, Envelope};

fn order_created() -> Value {
    json!({
        "specversion": "1.0", "id": "evt-1", "source": "storefront", "type": "Order.Created",
        "time": "2026-11-21T10:15:00.123Z", "subject": "ord-1", "datacontenttype": "application/json",
        "data": {
            "orderId": "ord-1", "userId": "usr-1",
            "items": [{"productId": "prd-1", "vendorId": "ven-1", "quantity": 2, "unitPrice": 500}],
            "subtotal": 1000, "discount": 0, "shipping": 0, "total": 1000, "currency": "USD",
            "shippingAddress": {"street": "s", "city": "c", "zipcode": "z", "country": "US"}
        }
    })
}

fn reason(value: &Value) -> (String, &'static str) {
    let bytes = serde_json::to_vec(value).unwrap();
    let err = Envelope::decode_record("shop.orders", Some(b"ord-1"), &bytes).expect_err("must be rejected");
    (err.to_string(), err.code())
}

fn with(path: &[&str], value: Value) -> Value {
    let mut v = order_created();
    let mut slot = &mut v;
    for p in &path[..path.len() - 1] {
        slot = match p.parse::<usize>() {
            Ok(i) => &mut slot[i],
            Err(_) => &mut slot[*p],
        };
    }
    slot[path[path.len() - 1]] = value;
    v
}

fn without(path: &[&str]) -> Value {
    let mut v = order_created();
    let mut slot = &mut v;
    for p in &path[..path.len() - 1] {
        slot = &mut slot[*p];
    }
    slot.as_object_mut().unwrap().remove(path[path.len() - 1]);
    v
}

#[test]
fn the_base_sample_is_valid() {
    let bytes = serde_json::to_vec(&order_created()).unwrap();
    Envelope::decode_record("shop.orders", Some(b"ord-1"), &bytes).unwrap();
}

#[test]
fn not_json() {
    let err = Envelope::decode(b"{\"specversion\": ").unwrap_err();
    assert_eq!(err.code(), "not_json");
    assert!(err.to_string().starts_with("not valid JSON: EOF while parsing"), "{err}");
    assert_eq!(Envelope::decode(b"\xff\xfe").unwrap_err().code(), "not_json");
}

#[test]
fn not_an_object() {
    assert_eq!(Envelope::decode(b"[1,2]").unwrap_err().to_string(), "record: expected a JSON object");
}

#[test]
fn missing_field() {
    assert_eq!(reason(&without(&["id"])), ("missing field id".into(), "missing_field"));
    assert_eq!(reason(&without(&["data"])), ("missing field data".into(), "missing_field"));
    assert_eq!(reason(&without(&["data", "total"])), ("missing field data.total".into(), "missing_field"));
    assert_eq!(
        reason(&without(&["data", "shippingAddress", "city"])),
        ("missing field data.shippingAddress.city".into(), "missing_field")
    );
}

#[test]
fn wrong_type() {
    assert_eq!(
        reason(&with(&["data", "userId"], json!(42))),
        ("wrong type of data.userId: expected string, found number".into(), "wrong_type")
    );
    assert_eq!(
        reason(&with(&["data", "items"], json!({"a": 1}))),
        ("wrong type of data.items: expected array, found object".into(), "wrong_type")
    );
    assert_eq!(
        reason(&with(&["data", "items", "0", "quantity"], json!("2"))),
        ("wrong type of data.items[0].quantity: expected integer, found string".into(), "wrong_type")
    );
    assert_eq!(
        reason(&with(&["data"], json!("text"))),
        ("wrong type of data: expected object, found string".into(), "wrong_type")
    );
}

#[test]
fn unknown_type() {
    assert_eq!(
        reason(&with(&["type"], json!("Order.Teleported"))),
        ("unknown type \"Order.Teleported\"".into(), "unknown_type")
    );
}

#[test]
fn bad_specversion_and_content_type() {
    assert_eq!(reason(&with(&["specversion"], json!("0.3"))).1, "bad_specversion");
    assert_eq!(
        reason(&with(&["datacontenttype"], json!("text/xml"))),
        ("unsupported datacontenttype \"text/xml\" (expected \"application/json\")".into(), "bad_datacontenttype")
    );
}

#[test]
fn bad_id() {
    assert_eq!(
        reason(&with(&["data", "items", "0", "productId"], json!("prd 1"))),
        ("bad id in data.items[0].productId: \"prd 1\" (ids are 1-64 characters of [A-Za-z0-9._:-])".into(), "bad_id")
    );
    assert_eq!(reason(&with(&["id"], json!(""))).1, "bad_id");
    assert_eq!(reason(&with(&["id"], json!("x".repeat(65)))).1, "bad_id");
}

#[test]
fn money_not_an_integer() {
    assert_eq!(
        reason(&with(&["data", "total"], json!(10.5))),
        ("money not an integer in data.total: 10.5 (money is an integer in minor units)".into(), "money_not_integer")
    );
    assert_eq!(reason(&with(&["data", "items", "0", "unitPrice"], json!(5.0))).1, "money_not_integer");
}

#[test]
fn out_of_range() {
    assert_eq!(
        reason(&with(&["data", "items", "0", "quantity"], json!(0))),
        ("out of range in data.items[0].quantity: 0 (must be a positive integer)".into(), "out_of_range")
    );
    assert_eq!(
        reason(&with(&["data", "discount"], json!(-1))),
        ("out of range in data.discount: -1 (money must not be negative)".into(), "out_of_range")
    );
    assert_eq!(reason(&with(&["data", "total"], json!(u64::MAX))).1, "out_of_range");
    let review = json!({"specversion": "1.0", "id": "e", "source": "s", "type": "Review.Posted", "time": "2026-11-21T10:15:00Z",
        "subject": "prd-1", "data": {"reviewId": "r", "productId": "prd-1", "userId": "u", "rating": 6, "title": "t", "body": "b"}});
    let err = Envelope::decode(&serde_json::to_vec(&review).unwrap()).unwrap_err();
    assert_eq!(err.to_string(), "out of range in data.rating: 6 (rating is 1..5)");
}

#[test]
fn not_an_integer() {
    let adjusted = json!({"specversion": "1.0", "id": "e", "source": "s", "type": "Inventory.Adjusted", "time": "2026-11-21T10:15:00Z",
        "subject": "prd-1", "data": {"productId": "prd-1", "warehouseId": "w", "delta": 1.5, "reason": "count"}});
    let err = Envelope::decode(&serde_json::to_vec(&adjusted).unwrap()).unwrap_err();
    assert_eq!(err.to_string(), "not an integer in data.delta: 1.5");
}

#[test]
fn bad_enum_value() {
    let payment = json!({"specversion": "1.0", "id": "e", "source": "s", "type": "Payment.Initiated", "time": "2026-11-21T10:15:00Z",
        "subject": "ord-1", "data": {"paymentId": "p", "orderId": "ord-1", "userId": "u", "amount": 1, "currency": "USD", "method": "cash"}});
    let err = Envelope::decode(&serde_json::to_vec(&payment).unwrap()).unwrap_err();
    assert_eq!(err.to_string(), "bad value in data.method: \"cash\" (expected one of card, wallet, paypal)");
}

#[test]
fn bad_time() {
    let (text, code) = reason(&with(&["time"], json!("2026-11-21 10:15")));
    assert_eq!(code, "bad_time");
    assert!(text.starts_with("bad time in time: \"2026-11-21 10:15\": not an RFC 3339 time"), "{text}");
    let (text, _) = reason(&with(&["time"], json!("2026-11-21T10:15:00+01:00")));
    assert!(text.ends_with("time must be in UTC (offset Z or +00:00)"), "{text}");
}

#[test]
fn invalid_values() {
    assert_eq!(
        reason(&with(&["data", "items"], json!([]))),
        ("invalid data.items: an order needs at least one item".into(), "invalid")
    );
    assert_eq!(reason(&with(&["data", "currency"], json!("dollars"))).1, "invalid");
    let promo = json!({"specversion": "1.0", "id": "e", "source": "s", "type": "Promotion.Created", "time": "2026-11-21T10:15:00Z",
        "subject": "P", "data": {"code": "P", "percentOff": 10, "amountOff": 100, "minSubtotal": 0,
        "startsAt": "2026-11-01T00:00:00Z", "endsAt": "2026-12-01T00:00:00Z"}});
    let err = Envelope::decode(&serde_json::to_vec(&promo).unwrap()).unwrap_err();
    assert_eq!(err.to_string(), "invalid data.percentOff: exactly one of percentOff / amountOff must be given");
}

#[test]
fn wrong_topic() {
    let bytes = serde_json::to_vec(&order_created()).unwrap();
    let err = Envelope::decode_record("shop.carts", Some(b"ord-1"), &bytes).unwrap_err();
    assert_eq!(err.to_string(), "type Order.Created does not belong on topic shop.carts (it belongs on shop.orders)");
}

#[test]
fn subject_and_key_mismatch() {
    assert_eq!(
        reason(&with(&["subject"], json!("ord-2"))),
        ("subject \"ord-2\" does not match the entity id \"ord-1\" of the data".into(), "subject_mismatch")
    );
    let bytes = serde_json::to_vec(&order_created()).unwrap();
    let err = Envelope::decode_record("shop.orders", Some(b"ord-9"), &bytes).unwrap_err();
    assert_eq!(err, DecodeError::KeyMismatch { key: "ord-9".into(), subject: "ord-1".into() });
}

#[test]
fn decode_all_reports_every_bad_field_and_agrees_with_decode() {
    use shopflow_topics::fields::Obj;
    use shopflow_topics::Event;
    let data = order_created()["data"].clone();
    let good = Event::decode_data_all("Order.Created", &Obj::new(&data, "").unwrap()).unwrap();
    assert_eq!(good, Event::decode_data("Order.Created", &Obj::new(&data, "").unwrap()).unwrap());

    let mut bad = data.clone();
    bad["orderId"] = json!("no spaces allowed");
    bad["total"] = json!(10.5);
    bad.as_object_mut().unwrap().remove("shippingAddress");
    let errors = Event::decode_data_all("Order.Created", &Obj::new(&bad, "").unwrap()).unwrap_err();
    let fields: Vec<&str> = errors.iter().map(|e| e.field().unwrap()).collect();
    assert_eq!(fields, ["orderId", "total", "shippingAddress"]);
    // The strict decoder stops at the first.
    let first = Event::decode_data("Order.Created", &Obj::new(&bad, "").unwrap()).unwrap_err();
    assert_eq!(first, errors[0]);
}
