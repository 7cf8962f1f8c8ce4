//! The write routes of `api.md`: each turns a checked body into one event of
//! `events.md` (two for a checkout) and produces it; see `crate::write` for
//! idempotency and the 202 answer.
//!
//! Bodies follow the event's `data`; the fields a caller does not choose are
//! set by the API: `userId` (and a vendor's `vendorId`) from the token, ids in
//! the path from the path, new ids (orderId, reviewId, ...) generated and
//! returned. Every bad field is listed in one 400.

use super::{check_id, is_live, read};
use crate::auth::{Caller, Role};
use crate::error::AppError;
use crate::form::{self, Form};
use crate::write::{begin, finish, new_id, Begun, Ticket, Written};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Map, Value};
use shopflow_sinks::redis::Hold;
use shopflow_sinks::Family;
use shopflow_topics::events::OrderStatus;
use shopflow_topics::fields::Obj;
use shopflow_topics::{Envelope, Event, EventTime};
use shopflow_views::facts::OrderStep;

/// The `source` of the API's events.
pub const SOURCE: &str = "shopflow-api";
/// Most lines one order may have.
pub const MAX_ORDER_LINES: usize = 50;
/// Most units of one product one order may have.
pub const MAX_LINE_QUANTITY: i64 = 1_000;

/// The data of `type_name`: the body's fields, with `set` overriding them, decoded
/// strictly; a 400 lists every bad field.
pub fn event_of(type_name: &str, body: &Value, set: &[(&str, Value)]) -> Result<Event, AppError> {
    let mut data: Map<String, Value> = body.as_object().cloned().unwrap_or_default();
    for (field, value) in set {
        data.insert((*field).to_string(), value.clone());
    }
    let data = Value::Object(data);
    let obj = Obj::new(&data, "").map_err(|_| AppError::bad_request("body: expected a JSON object"))?;
    Event::decode_data_all(type_name, &obj).map_err(|errors| {
        let form_errors =
            errors.iter().map(|e| (e.field().unwrap_or("body").to_string(), e.to_string())).collect::<Vec<_>>();
        AppError::invalid_fields(form_errors)
    })
}

/// One event of the API, stamped now.
fn envelope(id: &str, event: Event) -> Envelope {
    Envelope::new(id, SOURCE, EventTime::now(), event)
}

/// A second event of one write: its id follows from the first, so a retry repeats it.
fn derived_id(event_id: &str, what: &str) -> String {
    format!("{what}-{:016x}", shopflow_topics::hash::id_hash(&format!("{event_id}/{what}")) as u64)
}

/// Checks, claims and writes: `make` turns the ticket into the events and the extra answer fields.
async fn write<F, Fut>(
    state: &AppState,
    caller: Option<&Caller>,
    headers: &HeaderMap,
    route: &str,
    body: &Value,
    make: F,
) -> Result<Response, AppError>
where
    F: FnOnce(Ticket) -> Fut,
    Fut: std::future::Future<Output = (Ticket, Result<(Vec<Written>, Value), AppError>)>,
{
    match begin(state, caller, headers, route, body).await? {
        Begun::Answer(answer) => Ok(answer),
        Begun::Go(ticket) => {
            let (ticket, outcome) = make(ticket).await;
            finish(state, ticket, outcome).await
        }
    }
}

/// Writes one event built from the ticket's id.
async fn write_one(
    state: &AppState,
    caller: Option<&Caller>,
    headers: &HeaderMap,
    route: &str,
    body: &Value,
    event: Event,
    extra: Value,
) -> Result<Response, AppError> {
    write(state, caller, headers, route, body, |ticket| async move {
        let envelope = envelope(&ticket.event_id, event);
        let outcome = state.breakers.kafka.call(state.writer.send(&[envelope])).await.map(|written| (written, extra));
        (ticket, outcome)
    })
    .await
}

fn body_of(bytes: &Bytes) -> Result<Value, AppError> {
    if bytes.is_empty() {
        return Ok(json!({}));
    }
    form::parse(bytes)
}

fn id_value(id: &str) -> Value {
    Value::from(id)
}

// ------------------------------------------------------------------ shoppers

/// `POST /cart/items` `{productId, quantity}`: Cart.ItemAdded for the caller.
pub async fn cart_add(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, AppError> {
    let spec = Spec {
        type_name: "Cart.ItemAdded",
        method: "POST",
        path: "/cart/items",
        who: Who::User,
        path_field: None,
        generated: None,
    };
    let prepared = prepare(&caller, None, &bytes, &spec)?;
    let Event::CartItemAdded(added) = &prepared.event else { unreachable!("decoded as Cart.ItemAdded") };
    require_live_product(&state, &added.product_id, "productId").await?;
    write_prepared(&state, &caller, &headers, prepared).await
}

/// 400 naming `field` unless the served catalog has the product (not deleted); returns it.
async fn require_live_product(state: &AppState, product: &str, field: &str) -> Result<Value, AppError> {
    let (_, mut values) = read(state, &[(Family::Product, product)]).await?;
    values
        .pop()
        .flatten()
        .filter(is_live)
        .ok_or_else(|| AppError::invalid_fields(vec![(field.to_string(), format!("no product {product}"))]))
}

/// `POST /orders` `{items: [{productId, quantity}], shippingAddress, promoCode?}`:
/// priced from the served catalog, refused with 409 `insufficient_stock` when a line
/// exceeds what is available after other checkouts' holds; writes Order.Created and
/// Cart.CheckedOut. Answers also `orderId`, `total`, `currency`.
pub async fn checkout(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, AppError> {
    let body = body_of(&bytes)?;
    let form = Form::new(&body)?;
    let mut lines: Vec<(String, i64)> = Vec::new();
    if let Some(items) = form.take(form.obj().objects("items")) {
        form.check(!items.is_empty(), "items", "at least one line");
        form.check(items.len() <= MAX_ORDER_LINES, "items", "at most 50 lines");
        for item in &items {
            let product = form.take(item.id("productId"));
            let quantity = form.take(item.int_in("quantity", 1, MAX_LINE_QUANTITY, "1..1000"));
            if let (Some(product), Some(quantity)) = (product, quantity) {
                // Two lines of one product are one line.
                match lines.iter_mut().find(|(p, _)| *p == product) {
                    Some(line) => line.1 += quantity,
                    None => lines.push((product, quantity)),
                }
            }
        }
    }
    let address = form.obj().obj("shippingAddress").ok();
    form.check(address.is_some(), "shippingAddress", "required: {street, city, state?, zipcode, country}");
    let promo = form.take(form.obj().opt_str("promoCode")).flatten();
    form.finish()?;
    if let Some(code) = promo {
        // Promotions are not among the served views yet, so a code cannot be checked or applied.
        return Err(AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_promotion",
            format!("promotion {code:?} is not known"),
        ));
    }

    // Price every line from one generation of the served catalog.
    let keys: Vec<(Family, &str)> = lines.iter().map(|(p, _)| (Family::Product, p.as_str())).collect();
    let (_, products) = read(&state, &keys).await?;
    let mut bad = Vec::new();
    let mut items = Vec::new();
    let mut currency: Option<String> = None;
    for (i, ((product_id, quantity), product)) in lines.iter().zip(products).enumerate() {
        let Some(product) = product.filter(is_live) else {
            bad.push((format!("items[{i}].productId"), format!("no product {product_id}")));
            continue;
        };
        let line_currency = product["currency"].as_str().unwrap_or("USD").to_string();
        if currency.get_or_insert_with(|| line_currency.clone()) != &line_currency {
            bad.push((format!("items[{i}].productId"), "an order is in one currency".to_string()));
        }
        items.push(json!({
            "productId": product_id,
            "vendorId": product["vendorId"],
            "quantity": quantity,
            "unitPrice": product["price"],
        }));
    }
    if !bad.is_empty() {
        return Err(AppError::invalid_fields(bad));
    }
    let subtotal: i64 =
        items.iter().map(|i| i["quantity"].as_i64().unwrap_or(0) * i["unitPrice"].as_i64().unwrap_or(0)).sum();
    let currency = currency.unwrap_or_else(|| "USD".to_string());
    let user = caller.0.sub.clone();

    write(&state, Some(&caller), &headers, "POST /orders", &body, |ticket| async {
        let order_id = derived_id(&ticket.event_id, "ord");
        let data = json!({
            "orderId": order_id,
            "userId": user,
            "items": items,
            "subtotal": subtotal,
            "discount": 0,
            "shipping": 0,
            "total": subtotal,
            "currency": currency,
            "shippingAddress": body["shippingAddress"],
        });
        let outcome = async {
            let created = event_of("Order.Created", &data, &[])?;
            let checked_out = event_of("Cart.CheckedOut", &json!({"userId": user, "orderId": order_id}), &[])?;
            let now = chrono::Utc::now().timestamp_millis();
            let expires = now + state.hold_ttl.as_millis() as i64;
            match state.breakers.redis.call(state.requests.hold(&order_id, &lines, now, expires)).await? {
                Hold::Held => {}
                Hold::Short { product_id, left } => {
                    let mut error = AppError::new(
                        StatusCode::CONFLICT,
                        "insufficient_stock",
                        format!("product {product_id} has {} available", left.max(0)),
                    );
                    let i = lines.iter().position(|(p, _)| *p == product_id).unwrap_or(0);
                    error.fields = vec![(format!("items[{i}].quantity"), format!("{} available", left.max(0)))];
                    return Err(error);
                }
            }
            let events =
                [envelope(&ticket.event_id, created), envelope(&derived_id(&ticket.event_id, "chk"), checked_out)];
            match state.breakers.kafka.call(state.writer.send(&events)).await {
                Ok(written) => Ok((written, json!({"orderId": order_id, "total": subtotal, "currency": currency}))),
                Err(error) => {
                    let products: Vec<String> = lines.iter().map(|(p, _)| p.clone()).collect();
                    if let Err(e) = state.breakers.redis.call(state.requests.release(&order_id, &products)).await {
                        tracing::warn!("could not release the holds of {order_id}: {e}");
                    }
                    Err(error)
                }
            }
        }
        .await;
        (ticket, outcome)
    })
    .await
}

/// The caller's order (admins: any), or 404.
async fn own_order(state: &AppState, caller: &Caller, order_id: &str) -> Result<Value, AppError> {
    check_id("id", order_id)?;
    let (_, mut values) = read(state, &[(Family::Order, order_id)]).await?;
    let order = values.pop().flatten().ok_or_else(|| AppError::not_found("order"))?;
    if !caller.may_see(order["userId"].as_str().unwrap_or_default()) {
        return Err(AppError::not_found("order"));
    }
    Ok(order)
}

/// 409 `invalid_state` unless the order's served status allows `step`.
fn allows(order: &Value, step: &OrderStep, what: &str) -> Result<(), AppError> {
    let status = order["status"].as_str().and_then(OrderStatus::parse);
    match status.and_then(|s| shopflow_views::orders::transition(s, step)) {
        Some(_) => Ok(()),
        None => Err(AppError::new(
            StatusCode::CONFLICT,
            "invalid_state",
            format!("an order in status {} cannot be {what}", order["status"].as_str().unwrap_or("unknown")),
        )),
    }
}

/// `PUT /orders/{id}/cancel` `{reason?}`: Order.Cancelled (own orders; admins any).
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, AppError> {
    let mut body = body_of(&bytes)?;
    if body.get("reason").is_none() {
        body["reason"] = Value::from(if caller.0.role == Role::Admin {
            "cancelled by an admin"
        } else {
            "cancelled by the shopper"
        });
    }
    let event = event_of("Order.Cancelled", &body, &[("orderId", id_value(&id))])?;
    let order = own_order(&state, &caller, &id).await?;
    allows(&order, &OrderStep::Cancelled, "cancelled")?;
    let route = format!("PUT /orders/{id}/cancel");
    write_one(&state, Some(&caller), &headers, &route, &body, event, json!({"orderId": id})).await
}

/// `POST /orders/{id}/return` `{reason}`: Order.ReturnRequested (own delivered orders).
pub async fn request_return(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, AppError> {
    let body = body_of(&bytes)?;
    let event = event_of("Order.ReturnRequested", &body, &[("orderId", id_value(&id))])?;
    let order = own_order(&state, &caller, &id).await?;
    allows(&order, &OrderStep::ReturnRequested, "returned")?;
    let route = format!("POST /orders/{id}/return");
    write_one(&state, Some(&caller), &headers, &route, &body, event, json!({"orderId": id})).await
}

/// `POST /payments/initiate` `{orderId, method}`: Payment.Initiated for the order's total.
pub async fn initiate_payment(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, AppError> {
    let body = body_of(&bytes)?;
    let form = Form::new(&body)?;
    let order_id = form.take(form.obj().id("orderId"));
    form.take(form.obj().one_of("method", shopflow_topics::events::PaymentMethod::ALLOWED));
    form.finish()?;
    let order_id = order_id.expect("checked");
    let order = own_order(&state, &caller, &order_id).await?;
    allows(&order, &OrderStep::PaymentCompleted, "paid")?;
    let payment_id = new_id("pay");
    let set = [
        ("paymentId", id_value(&payment_id)),
        ("userId", order["userId"].clone()),
        ("amount", order["total"].clone()),
        ("currency", order["currency"].clone()),
    ];
    let event = event_of("Payment.Initiated", &body, &set)?;
    let extra = json!({"paymentId": payment_id, "orderId": order_id, "amount": order["total"]});
    write_one(&state, Some(&caller), &headers, "POST /payments/initiate", &body, event, extra).await
}

/// `POST /payments/confirm` `{paymentId, orderId, success, reason?}`: the payment
/// provider's callback, signed (`X-Signature`); Payment.Completed for the order's
/// total, or Payment.Failed.
pub async fn confirm_payment(
    State(state): State<AppState>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, AppError> {
    let Some(secret) = state.payment_secret.as_deref() else {
        return Err(AppError::unavailable("webhook_not_configured", "no payment provider secret is configured"));
    };
    let signature = headers.get(crate::write::SIGNATURE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !crate::write::signed(secret.as_bytes(), &bytes, signature) {
        return Err(AppError::unauthorized("X-Signature is not the HMAC-SHA256 of the body"));
    }
    let body = body_of(&bytes)?;
    let form = Form::new(&body)?;
    let payment = form.take(form.obj().id("paymentId"));
    let order_id = form.take(form.obj().id("orderId"));
    let success = form.take(form.obj().bool("success"));
    let reason = form.take(form.obj().opt_str("reason")).flatten();
    form.finish()?;
    let (payment, order_id, success) =
        (payment.expect("checked"), order_id.expect("checked"), success.expect("checked"));
    let (_, mut values) = read(&state, &[(Family::Order, order_id.as_str())]).await?;
    let order = values.pop().flatten().ok_or_else(|| AppError::not_found("order"))?;
    let (type_name, data) = if success {
        ("Payment.Completed", json!({"paymentId": payment, "orderId": order_id, "amount": order["total"]}))
    } else {
        let reason = reason.unwrap_or_else(|| "declined by the provider".to_string());
        ("Payment.Failed", json!({"paymentId": payment, "orderId": order_id, "reason": reason}))
    };
    let event = event_of(type_name, &data, &[])?;
    let extra = json!({"paymentId": payment, "orderId": order_id});
    write_one(&state, None, &headers, "POST /payments/confirm", &body, event, extra).await
}

/// `POST /wallets/topup` `{amount, currency?}`: Wallet.ToppedUp for the caller.
pub async fn top_up(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, AppError> {
    let body = body_of(&bytes)?;
    let form = Form::new(&body)?;
    form.take(form.obj().int_in("amount", 1, 100_000_000, "1..100000000 minor units"));
    form.finish()?;
    let event = event_of("Wallet.ToppedUp", &body, &[("userId", id_value(&caller.0.sub))])?;
    write_one(&state, Some(&caller), &headers, "POST /wallets/topup", &body, event, json!({})).await
}

/// `POST /reviews` `{productId, rating, title, body}`: Review.Posted by the caller.
pub async fn post_review(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, AppError> {
    let spec = Spec {
        type_name: "Review.Posted",
        method: "POST",
        path: "/reviews",
        who: Who::User,
        path_field: None,
        generated: Some(("reviewId", "rev")),
    };
    let prepared = prepare(&caller, None, &bytes, &spec)?;
    let Event::ReviewPosted(posted) = &prepared.event else { unreachable!("decoded as Review.Posted") };
    require_live_product(&state, &posted.product_id, "productId").await?;
    write_prepared(&state, &caller, &headers, prepared).await
}

/// Clickstream: `POST /events/view`, `/events/search`, `/events/click`, for anyone
/// (the token's user when there is one; `userId` never from the body).
pub async fn clickstream(
    state: AppState,
    caller: Option<Caller>,
    headers: HeaderMap,
    bytes: Bytes,
    type_name: &'static str,
    route: &'static str,
) -> Result<Response, AppError> {
    let mut body = body_of(&bytes)?;
    if let Value::Object(map) = &mut body {
        map.remove("userId");
    }
    let set: Vec<(&str, Value)> = caller.iter().map(|c| ("userId", id_value(&c.0.sub))).collect();
    let event = event_of(type_name, &body, &set)?;
    write_one(&state, caller.as_ref(), &headers, route, &body, event, json!({})).await
}

// -------------------------------------------------------------------- vendors

fn vendor_of(caller: &Caller) -> Result<String, AppError> {
    match (caller.0.role, &caller.0.vendor_id) {
        (Role::Vendor, Some(vendor)) => Ok(vendor.clone()),
        _ => Err(AppError::forbidden("vendors only")),
    }
}

/// 404 unless the served product belongs to `vendor` (another vendor's product cannot be probed).
async fn own_product(state: &AppState, vendor: &str, product: &str) -> Result<Value, AppError> {
    check_id("productId", product)?;
    let (_, mut values) = read(state, &[(Family::Product, product)]).await?;
    values
        .pop()
        .flatten()
        .filter(|p| p["vendorId"].as_str() == Some(vendor) && is_live(p))
        .ok_or_else(|| AppError::not_found("product"))
}

/// `PUT /vendor/products/{id}`: Product.Updated of the caller's own product.
pub async fn vendor_update_product(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, AppError> {
    let vendor = vendor_of(&caller)?;
    let spec = Spec {
        type_name: "Product.Updated",
        method: "PUT",
        path: "/vendor/products/{id}",
        who: Who::Vendor,
        path_field: Some("productId"),
        generated: None,
    };
    let prepared = prepare(&caller, Some(&id), &bytes, &spec)?;
    own_product(&state, &vendor, &id).await?;
    write_prepared(&state, &caller, &headers, prepared).await
}

/// `POST /vendor/inventory` `{productId, warehouseId, quantity}`: stock of an own product.
pub async fn vendor_stock(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, AppError> {
    let vendor = vendor_of(&caller)?;
    let spec = Spec {
        type_name: "Inventory.StockReceived",
        method: "POST",
        path: "/vendor/inventory",
        who: Who::Vendor,
        path_field: None,
        generated: None,
    };
    let prepared = prepare(&caller, None, &bytes, &spec)?;
    let Event::StockReceived(received) = &prepared.event else { unreachable!("decoded as Inventory.StockReceived") };
    own_product(&state, &vendor, &received.product_id).await?;
    write_prepared(&state, &caller, &headers, prepared).await
}

// ------------------------------------------------------- writes by the table

/// On whose behalf a write is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    /// Any signed-in caller, for themselves: the token's subject goes to `userId`.
    User,
    /// A vendor, for their store: the token's `vendorId` goes to `vendorId`.
    Vendor,
    /// Admins only; the body may name the ids the API would otherwise make up.
    Admin,
}

/// A write whose event is its body's `data` plus the fields the API sets.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// The event type.
    pub type_name: &'static str,
    /// The method.
    pub method: &'static str,
    /// The path below `/api/v1`, `{id}` standing for the path's id.
    pub path: &'static str,
    /// Who may write it, and which field the token fills.
    pub who: Who,
    /// The data field the path's `{id}` goes to, if the route has one.
    pub path_field: Option<&'static str>,
    /// A data field the API fills with a new id, and its prefix.
    pub generated: Option<(&'static str, &'static str)>,
}

/// A write made ready: the body, its event, the answer's extra fields, the route.
pub struct Prepared {
    body: Value,
    event: Event,
    extra: Value,
    route: String,
}

/// Checks the caller's role and the body, and makes the event of `spec`.
pub fn prepare(caller: &Caller, id: Option<&str>, bytes: &Bytes, spec: &Spec) -> Result<Prepared, AppError> {
    let mut set: Vec<(&str, Value)> = Vec::new();
    match spec.who {
        Who::User => set.push(("userId", id_value(&caller.0.sub))),
        Who::Vendor => set.push(("vendorId", id_value(&vendor_of(caller)?))),
        Who::Admin => caller.require_admin()?,
    }
    let body = body_of(bytes)?;
    let mut extra = Map::new();
    let mut route = format!("{} {}", spec.method, spec.path);
    if let (Some(field), Some(id)) = (spec.path_field, id) {
        check_id(field, id)?;
        set.push((field, id_value(id)));
        extra.insert(field.to_string(), id_value(id));
        route = route.replace("{id}", id);
    }
    if let Some((field, prefix)) = spec.generated {
        let value = match body.get(field) {
            Some(given) if spec.who == Who::Admin => given.clone(),
            _ => id_value(&new_id(prefix)),
        };
        extra.insert(field.to_string(), value.clone());
        set.push((field, value));
    }
    let event = event_of(spec.type_name, &body, &set)?;
    Ok(Prepared { body, event, extra: Value::Object(extra), route })
}

/// Writes a prepared event.
async fn write_prepared(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    prepared: Prepared,
) -> Result<Response, AppError> {
    let Prepared { body, event, extra, route } = prepared;
    write_one(state, Some(caller), headers, &route, &body, event, extra).await
}

/// Any write of the table: no check beyond the body and the caller's role.
pub async fn by_table(
    state: AppState,
    caller: Caller,
    id: Option<String>,
    headers: HeaderMap,
    bytes: Bytes,
    spec: Spec,
) -> Result<Response, AppError> {
    let prepared = prepare(&caller, id.as_deref(), &bytes, &spec)?;
    write_prepared(&state, &caller, &headers, prepared).await
}
