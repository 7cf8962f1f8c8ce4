//! Orders: a shopper's own (`GET /orders`, `GET /orders/{id}`; another
//! user's answers 404), the checkout that makes them, and the writes that
//! move them along the state machine of the read model
//! ([`shopflow_views::orders::transition`]).

use super::{check_id, read, read_as, read_doc, with_as_of, write_doc, Route};
use crate::auth::{Caller, Role};
use crate::error::AppError;
use crate::form::Form;
use crate::openapi::{Access, Doc, Input};
use crate::write::{body_of, envelope, event_of, second_id, write, write_one};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use shopflow_sinks::redis::Hold;
use shopflow_topics::events::{CartCheckedOut, OrderCancelled, OrderCreated, OrderReturnRequested};
use shopflow_topics::EventTime;
use shopflow_views::catalog::ProductView;
use shopflow_views::facts::OrderStep;
use shopflow_views::orders::OrderView;
use shopflow_views::promotions::{Ineligible, PromotionView};
use shopflow_views::Family;

/// Most lines one order may have.
pub const MAX_ORDER_LINES: usize = 50;
/// Most units of one product one order may have.
pub const MAX_LINE_QUANTITY: i64 = 1_000;

/// The routes of this family.
pub fn routes() -> Vec<Route> {
    use Access::Caller as Own;
    const ORDER: &[(&str, &str, bool)] =
        &[("items", "array", true), ("shippingAddress", "object", true), ("promoCode", "string", false)];
    vec![
        (
            Doc {
                query: &[("userId", "admins: whose orders")],
                ..read_doc("/api/v1/orders", "the caller's orders", Own)
            },
            get(list),
        ),
        (read_doc("/api/v1/orders/{id}", "one of the caller's orders (admins: any)", Own), get(one)),
        (
            read_doc(
                "/api/v1/orders/{id}/tracking",
                "the shipment of one of the caller's orders (admins: any): status and location history, delivery partner",
                Own,
            ),
            get(tracking),
        ),
        (
            write_doc(
                "POST",
                "/api/v1/orders",
                "check out: priced, stock held, Order.Created and Cart.CheckedOut",
                Own,
                Input::Fields(ORDER),
            ),
            post(checkout),
        ),
        (
            write_doc(
                "PUT",
                "/api/v1/orders/{id}/cancel",
                OrderCancelled::TYPE_NAME,
                Own,
                Input::Fields(&[("reason", "string", false)]),
            ),
            put(cancel),
        ),
        (
            write_doc(
                "POST",
                "/api/v1/orders/{id}/return",
                OrderReturnRequested::TYPE_NAME,
                Own,
                Input::Fields(&[("reason", "string", true)]),
            ),
            post(request_return),
        ),
    ]
}

/// The caller's order (admins: any), or 404.
pub async fn own_order(state: &AppState, caller: &Caller, order_id: &str) -> Result<(i64, OrderView), AppError> {
    check_id("id", order_id)?;
    let (as_of, mut values) = read_as::<OrderView>(state, Family::Order, &[order_id]).await?;
    let order = values.pop().flatten().ok_or_else(|| AppError::not_found("order"))?;
    if !caller.may_see(&order.user_id) {
        return Err(AppError::not_found("order"));
    }
    Ok((as_of, order))
}

/// One order: the caller's own, or any for an admin, with its delivery partner.
pub async fn one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    check_id("id", &id)?;
    let (as_of, mut values) = read(&state, &[(Family::Order, &id), (Family::Delivery, &id)]).await?;
    let delivery = values.pop().flatten();
    let order = owned(&caller, values.pop().flatten())?;
    Ok(Json(with_partner(with_as_of(order, as_of), delivery.as_ref())))
}

/// The order (a served JSON object) if the caller may see it; 404 otherwise.
fn owned(caller: &Caller, order: Option<Value>) -> Result<Value, AppError> {
    let order = order.ok_or_else(|| AppError::not_found("order"))?;
    if !caller.may_see(order["userId"].as_str().unwrap_or_default()) {
        return Err(AppError::not_found("order"));
    }
    Ok(order)
}

/// `value` with `deliveryPartnerId`: the partner of the order's served assignment, or null.
fn with_partner(mut value: Value, delivery: Option<&Value>) -> Value {
    if let Value::Object(map) = &mut value {
        let partner = delivery.map_or(Value::Null, |d| d["partnerId"].clone());
        map.insert("deliveryPartnerId".into(), partner);
    }
    value
}

/// `GET /orders/{id}/tracking`: `{orderId, shipmentId, carrier, trackingNumber, status,
/// events: [{status, location, at}], deliveryPartnerId, asOf}` (nulls and no events
/// before the order ships).
pub async fn tracking(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    check_id("id", &id)?;
    let objects = [(Family::Order, id.as_str()), (Family::Tracking, id.as_str()), (Family::Delivery, id.as_str())];
    let (as_of, mut values) = read(&state, &objects).await?;
    let delivery = values.pop().flatten();
    let tracked = values.pop().flatten();
    owned(&caller, values.pop().flatten())?;
    let tracked = tracked.unwrap_or_else(|| {
        json!({"orderId": id, "shipmentId": null, "carrier": null, "trackingNumber": null, "status": null, "events": []})
    });
    Ok(Json(with_partner(with_as_of(tracked, as_of), delivery.as_ref())))
}

/// Query of `GET /orders`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    /// Admins: whose orders.
    user_id: Option<String>,
}

/// The caller's orders (admins: `?userId=`), newest first.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, AppError> {
    let user = match (caller.0.role, query.user_id) {
        (Role::Admin, Some(user)) => user,
        (Role::Admin, None) => return Err(AppError::bad_request("userId: admins list the orders of one user")),
        // A shopper's userId comes from the token, never from the query.
        (_, _) => caller.0.sub.clone(),
    };
    check_id("userId", &user)?;
    let (_, mut values) = read_as::<Vec<String>>(&state, Family::UserOrders, &[&user]).await?;
    let ids: Vec<String> = values.pop().flatten().unwrap_or_default();
    let keys: Vec<&str> = ids.iter().map(String::as_str).collect();
    // One read for the index's orders and their deliveries, from the same generation.
    let objects: Vec<(Family, &str)> =
        keys.iter().flat_map(|key| [(Family::Order, *key), (Family::Delivery, *key)]).collect();
    let (as_of, values) = read(&state, &objects).await?;
    let mut items: Vec<(EventTime, Value)> = Vec::new();
    for pair in values.chunks(2) {
        let Some(order) = pair[0].clone() else { continue };
        let created: EventTime = serde_json::from_value(order["createdAt"].clone()).unwrap_or_default();
        items.push((created, with_partner(order, pair[1].as_ref())));
    }
    items.sort_by_key(|(created, _)| std::cmp::Reverse(*created));
    let items: Vec<Value> = items.into_iter().map(|(_, order)| order).collect();
    Ok(Json(json!({"userId": user, "items": items, "asOf": as_of})))
}

/// 409 `invalid_state` unless the order's served status allows `step`.
pub fn allows(order: &OrderView, step: &OrderStep, what: &str) -> Result<(), AppError> {
    match shopflow_views::orders::transition(order.status, step) {
        Some(_) => Ok(()),
        None => Err(AppError::new(
            StatusCode::CONFLICT,
            "invalid_state",
            format!("an order in status {} cannot be {what}", order.status),
        )),
    }
}

/// `POST /orders` `{items: [{productId, quantity}], shippingAddress, promoCode?}`:
/// priced from the served catalog and promotions ([`PromotionView::price`]; 422 for a
/// code that is unknown, inactive or whose minimum the lines do not reach), shipping
/// per [`crate::Shipping`]; refused with 409 `insufficient_stock` when a line exceeds
/// what is available after other checkouts' holds; writes Order.Created and
/// Cart.CheckedOut. Answers also `orderId`, `subtotal`, `discount`, `shipping`,
/// `total`, `currency`.
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
    // Price every line from one generation of the served catalog.
    let keys: Vec<&str> = lines.iter().map(|(p, _)| p.as_str()).collect();
    let (_, products) = read_as::<ProductView>(&state, Family::Product, &keys).await?;
    let mut bad = Vec::new();
    let mut items = Vec::new();
    let mut priced: Vec<ProductView> = Vec::new();
    let mut currency: Option<String> = None;
    for (i, ((product_id, quantity), product)) in lines.iter().zip(products).enumerate() {
        let Some(product) = product.filter(|p| !p.deleted) else {
            bad.push((format!("items[{i}].productId"), format!("no product {product_id}")));
            continue;
        };
        if currency.get_or_insert_with(|| product.currency.clone()) != &product.currency {
            bad.push((format!("items[{i}].productId"), "an order is in one currency".to_string()));
        }
        items.push(json!({
            "productId": product_id,
            "vendorId": product.vendor_id,
            "quantity": quantity,
            "unitPrice": product.price,
        }));
        priced.push(product);
    }
    if !bad.is_empty() {
        return Err(AppError::invalid_fields(bad));
    }
    let subtotal: i64 =
        items.iter().map(|i| i["quantity"].as_i64().unwrap_or(0) * i["unitPrice"].as_i64().unwrap_or(0)).sum();
    let discount = match &promo {
        Some(code) => price_promotion(&state, code, &lines, &priced).await?,
        None => 0,
    };
    let shipping = state.shipping.of(subtotal - discount);
    let total = subtotal - discount + shipping;
    let currency = currency.unwrap_or_else(|| "USD".to_string());
    let user = caller.0.sub.clone();

    write(&state, Some(&caller), &headers, "POST /orders", &body, |ticket| async {
        let order_id = second_id(&ticket.event_id, "ord");
        let data = json!({
            "orderId": order_id,
            "userId": user,
            "items": items,
            "subtotal": subtotal,
            "discount": discount,
            "shipping": shipping,
            "total": total,
            "currency": currency,
            "promoCode": promo,
            "shippingAddress": body["shippingAddress"],
        });
        let outcome = async {
            let created = event_of(OrderCreated::TYPE_NAME, &data, &[])?;
            let checked_out = event_of(CartCheckedOut::TYPE_NAME, &json!({"userId": user, "orderId": order_id}), &[])?;
            let now = chrono::Utc::now().timestamp_millis();
            let expires = now + state.hold_ttl.as_millis() as i64;
            match state.breakers.redis.call(state.stores.requests.hold(&order_id, &lines, now, expires)).await? {
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
                [envelope(&ticket.event_id, created), envelope(&second_id(&ticket.event_id, "chk"), checked_out)];
            match state.breakers.kafka.call(state.stores.events.send(&events)).await {
                Ok(written) => Ok((
                    written,
                    json!({
                        "orderId": order_id, "subtotal": subtotal, "discount": discount,
                        "shipping": shipping, "total": total, "currency": currency,
                    }),
                )),
                Err(error) => {
                    let products: Vec<String> = lines.iter().map(|(p, _)| p.clone()).collect();
                    if let Err(e) = state.breakers.redis.call(state.stores.requests.release(&order_id, &products)).await
                    {
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

/// The discount of promotion `code` on the lines (productId, quantity) of `products`,
/// as served now; 422 with the reason when it does not apply.
async fn price_promotion(
    state: &AppState,
    code: &str,
    lines: &[(String, i64)],
    products: &[ProductView],
) -> Result<i64, AppError> {
    let refuse = |code: &'static str, message: String| {
        let mut error = AppError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message);
        error.fields = vec![("promoCode".to_string(), error.message.clone())];
        error
    };
    if !shopflow_topics::fields::is_valid_id(code) {
        return Err(refuse("unknown_promotion", format!("promotion {code:?} is not known")));
    }
    let (_, mut promotions) = read_as::<PromotionView>(state, Family::Promotion, &[code]).await?;
    let Some(promotion) = promotions.pop().flatten() else {
        return Err(refuse("unknown_promotion", format!("promotion {code:?} is not known")));
    };
    let eligible = lines.iter().zip(products).map(|((_, quantity), product)| {
        let counts = promotion.category_id.as_ref().is_none_or(|c| product.categories.contains(c));
        (quantity * product.price, counts)
    });
    promotion.price(EventTime::now(), eligible).map_err(|why| {
        let message = match &why {
            Ineligible::Ended => format!("promotion {code} has ended"),
            Ineligible::NotStarted => format!("promotion {code} starts at {}", promotion.starts_at),
            Ineligible::Expired => format!("promotion {code} ended at {}", promotion.ends_at),
            Ineligible::BelowMinimum(eligible) => format!(
                "promotion {code} needs an eligible subtotal of {}{}; the order has {eligible}",
                promotion.min_subtotal,
                promotion.category_id.as_ref().map(|c| format!(" in category {c}")).unwrap_or_default()
            ),
        };
        refuse(why.code(), message)
    })
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
    let event = event_of(OrderCancelled::TYPE_NAME, &body, &[("orderId", Value::from(id.as_str()))])?;
    let (_, order) = own_order(&state, &caller, &id).await?;
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
    let event = event_of(OrderReturnRequested::TYPE_NAME, &body, &[("orderId", Value::from(id.as_str()))])?;
    let (_, order) = own_order(&state, &caller, &id).await?;
    allows(&order, &OrderStep::ReturnRequested, "returned")?;
    let route = format!("POST /orders/{id}/return");
    write_one(&state, Some(&caller), &headers, &route, &body, event, json!({"orderId": id})).await
}
