//! Payments: initiation for an own order, the payment provider's signed
//! callback, wallet top-ups, refunds (admins).

use super::orders::{allows, own_order};
use super::{read_as, write_doc, Route};
use crate::auth::Caller;
use crate::error::AppError;
use crate::form::Form;
use crate::openapi::{Access, Doc, Input, Output};
use crate::write::table::{route, Spec, Verb, Who};
use crate::write::{body_of, event_of, new_id, signed, write_one, SIGNATURE};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use serde_json::{json, Value};
use shopflow_topics::events::{
    PaymentCompleted, PaymentFailed, PaymentInitiated, PaymentMethod, PaymentRefunded, WalletToppedUp,
};
use shopflow_views::facts::OrderStep;
use shopflow_views::orders::OrderView;
use shopflow_views::Family;

/// The routes of this family.
pub fn routes() -> Vec<Route> {
    use Access::Caller as Own;
    vec![
        (
            write_doc(
                "POST",
                "/api/v1/payments/initiate",
                "Payment.Initiated for an own order's total",
                Own,
                Input::Fields(&[("orderId", "string", true), ("method", "string", true)]),
            ),
            post(initiate),
        ),
        (
            Doc {
                method: "POST",
                path: "/api/v1/payments/confirm",
                summary: "the payment provider's callback (X-Signature: hex HMAC-SHA256 of the body): Payment.Completed or Payment.Failed",
                access: Access::Anyone,
                input: Input::Fields(&[
                    ("paymentId", "string", true),
                    ("orderId", "string", true),
                    ("success", "boolean", true),
                    ("reason", "string", false),
                ]),
                output: Output::Written,
                query: &[],
            },
            post(confirm),
        ),
        (
            write_doc(
                "POST",
                "/api/v1/wallets/topup",
                WalletToppedUp::TYPE_NAME,
                Own,
                Input::Fields(&[("amount", "integer", true), ("currency", "string", false)]),
            ),
            post(top_up),
        ),
        route(
            Spec::new(Verb::Post, "/api/v1/payments/{id}/refund", PaymentRefunded::TYPE_NAME, Who::Admin)
                .path_field("paymentId"),
            PaymentRefunded::TYPE_NAME,
        ),
    ]
}

/// `POST /payments/initiate` `{orderId, method}`: Payment.Initiated for the order's total.
pub async fn initiate(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, AppError> {
    let body = body_of(&bytes)?;
    let form = Form::new(&body)?;
    let order_id = form.take(form.obj().id("orderId"));
    form.take(form.obj().one_of("method", PaymentMethod::ALLOWED));
    form.finish()?;
    let Some(order_id) = order_id else { return Err(AppError::bad_request("orderId: required")) };
    let (_, order) = own_order(&state, &caller, &order_id).await?;
    allows(&order, &OrderStep::PaymentCompleted, "paid")?;
    let payment_id = new_id("pay");
    let set = [
        ("paymentId", Value::from(payment_id.as_str())),
        ("userId", Value::from(order.user_id.as_str())),
        ("amount", Value::from(order.total)),
        ("currency", Value::from(order.currency.as_str())),
    ];
    let event = event_of(PaymentInitiated::TYPE_NAME, &body, &set)?;
    let extra = json!({"paymentId": payment_id, "orderId": order_id, "amount": order.total});
    write_one(&state, Some(&caller), &headers, "POST /payments/initiate", &body, event, extra).await
}

/// `POST /payments/confirm` `{paymentId, orderId, success, reason?}`: the payment
/// provider's callback, signed (`X-Signature`); Payment.Completed for the order's
/// total, or Payment.Failed.
pub async fn confirm(State(state): State<AppState>, headers: HeaderMap, bytes: Bytes) -> Result<Response, AppError> {
    let Some(secret) = state.payment_secret.as_deref() else {
        return Err(AppError::unavailable("webhook_not_configured", "no payment provider secret is configured"));
    };
    let signature = headers.get(SIGNATURE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !signed(secret.as_bytes(), &bytes, signature) {
        return Err(AppError::unauthorized("X-Signature is not the HMAC-SHA256 of the body"));
    }
    let body = body_of(&bytes)?;
    let form = Form::new(&body)?;
    let payment = form.take(form.obj().id("paymentId"));
    let order_id = form.take(form.obj().id("orderId"));
    let success = form.take(form.obj().bool("success"));
    let reason = form.take(form.obj().opt_str("reason")).flatten();
    form.finish()?;
    let (Some(payment), Some(order_id), Some(success)) = (payment, order_id, success) else {
        return Err(AppError::bad_request("paymentId, orderId, success: required"));
    };
    let (_, mut orders) = read_as::<OrderView>(&state, Family::Order, &[&order_id]).await?;
    let order = orders.pop().flatten().ok_or_else(|| AppError::not_found("order"))?;
    let (type_name, data) = if success {
        (PaymentCompleted::TYPE_NAME, json!({"paymentId": payment, "orderId": order_id, "amount": order.total}))
    } else {
        let reason = reason.unwrap_or_else(|| "declined by the provider".to_string());
        (PaymentFailed::TYPE_NAME, json!({"paymentId": payment, "orderId": order_id, "reason": reason}))
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
    let event = event_of(WalletToppedUp::TYPE_NAME, &body, &[("userId", Value::from(caller.0.sub.as_str()))])?;
    write_one(&state, Some(&caller), &headers, "POST /wallets/topup", &body, event, json!({})).await
}
