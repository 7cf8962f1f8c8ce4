//! Payments and wallets: a payment of an own order (`GET /payments/{id}`;
//! another user's answers 404), the caller's wallet and its transactions;
//! initiation for an own order — a wallet payment settles at once against
//! the wallet, held atomically in Redis so concurrent payments through any
//! number of replicas cannot overdraw it — the payment provider's signed
//! callback, wallet top-ups, refunds (admins).

use super::orders::{allows, own_order};
use super::{answer, check_id, read_as, read_doc, write_doc, PageQuery, Route};
use crate::auth::Caller;
use crate::error::AppError;
use crate::form::Form;
use crate::openapi::{Access, Doc, Input, Output};
use crate::write::table::{route, Spec, Verb, Who};
use crate::write::{body_of, envelope, event_of, new_id, second_id, signed, write, write_one, SIGNATURE};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Json;
use serde_json::{json, Value};
use shopflow_sinks::redis::{Account, Funds, FundsHold};
use shopflow_topics::events::{
    PaymentCompleted, PaymentFailed, PaymentInitiated, PaymentMethod, PaymentRefunded, WalletToppedUp,
};
use shopflow_views::facts::OrderStep;
use shopflow_views::orders::OrderView;
use shopflow_views::payments::{PaymentView, WalletView};
use shopflow_views::Family;

/// Wallet transactions per page, by default and at most.
const PAGE_SIZE: (usize, usize) = (20, 100);

/// The routes of this family.
pub fn routes() -> Vec<Route> {
    use Access::Caller as Own;
    vec![
        (read_doc("/api/v1/payments/{id}", "a payment of one of the caller's orders (admins: any)", Own), get(one)),
        (read_doc("/api/v1/wallet", "the caller's wallet balance", Own), get(wallet)),
        (
            Doc {
                query: &[("page", "1-based"), ("pageSize", "1-100, default 20")],
                ..read_doc("/api/v1/wallets/transactions", "the caller's wallet transactions, newest first", Own)
            },
            get(transactions),
        ),
        (
            write_doc(
                "POST",
                "/api/v1/payments/initiate",
                "Payment.Initiated for an own order's total; with method wallet also Payment.Completed, \
                 after holding the total against the wallet (409 insufficient_funds)",
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
    if body.get("method").and_then(Value::as_str) == Some(PaymentMethod::Wallet.as_str()) {
        return pay_from_wallet(&state, &caller, &headers, &body, order).await;
    }
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

/// A wallet payment of `order`: holds its total against the payer's wallet
/// (the served balance less the holds of wallet payments in flight; one
/// payment of an order at a time), then writes Payment.Initiated and
/// Payment.Completed together — the wallet is its own provider. The hold
/// ends when the served state has the completion, or after `hold_ttl`.
async fn pay_from_wallet(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    body: &Value,
    order: OrderView,
) -> Result<Response, AppError> {
    let user = order.user_id.clone();
    write(state, Some(caller), headers, "POST /payments/initiate", body, |ticket| async {
        let payment_id = second_id(&ticket.event_id, "pay");
        let outcome = async {
            let initiated = json!({
                "paymentId": payment_id, "orderId": order.order_id, "userId": user,
                "amount": order.total, "currency": order.currency, "method": PaymentMethod::Wallet.as_str(),
            });
            let completed = json!({"paymentId": payment_id, "orderId": order.order_id, "amount": order.total});
            let initiated = event_of(PaymentInitiated::TYPE_NAME, &initiated, &[])?;
            let completed = event_of(PaymentCompleted::TYPE_NAME, &completed, &[])?;
            let account = Account::Wallet(&user);
            hold_funds(state, account, &payment_id, order.total, &order.order_id, |left| {
                AppError::new(
                    StatusCode::CONFLICT,
                    "insufficient_funds",
                    format!("the wallet has {} to spend; the order's total is {}", left.max(0), order.total),
                )
            })
            .await?;
            let events = [envelope(&ticket.event_id, initiated), envelope(&second_id(&ticket.event_id, "cmp"), completed)];
            match state.breakers.kafka.call(state.stores.events.send(&events)).await {
                Ok(written) => Ok((
                    written,
                    json!({"paymentId": payment_id, "orderId": order.order_id, "amount": order.total, "status": "Completed"}),
                )),
                Err(error) => {
                    release_funds(state, account, &payment_id).await;
                    Err(error)
                }
            }
        }
        .await;
        (ticket, outcome)
    })
    .await
}

/// Holds `amount` of `account` for `id` (of `group`, or `""`) until the served
/// state counts it or `hold_ttl` passes; refuses with `short(spendable left)`,
/// or 409 `payment_in_progress` while another hold of the group is live.
pub(crate) async fn hold_funds(
    state: &AppState,
    account: Account<'_>,
    id: &str,
    amount: i64,
    group: &str,
    short: impl FnOnce(i64) -> AppError,
) -> Result<(), AppError> {
    let now = chrono::Utc::now().timestamp_millis();
    let expires_at_ms = now + state.hold_ttl.as_millis() as i64;
    let hold = FundsHold { account, id, amount, group, now_ms: now, expires_at_ms };
    match state.breakers.redis.call(state.stores.requests.hold_funds(hold)).await? {
        Funds::Held => Ok(()),
        Funds::Short { left } => Err(short(left)),
        Funds::Busy { hold } => Err(AppError::new(
            StatusCode::CONFLICT,
            "payment_in_progress",
            format!("payment {hold} of this order is in flight"),
        )),
    }
}

/// Drops a hold whose write failed (logged when Redis cannot be told: it then lapses).
pub(crate) async fn release_funds(state: &AppState, account: Account<'_>, id: &str) {
    if let Err(e) = state.breakers.redis.call(state.stores.requests.release_funds(account, id)).await {
        tracing::warn!("could not release the hold {id}: {e}");
    }
}

/// `GET /payments/{id}`: a payment of one of the caller's orders (admins: any); otherwise 404.
pub async fn one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    check_id("id", &id)?;
    let (as_of, mut payments) = read_as::<PaymentView>(&state, Family::Payment, &[&id]).await?;
    let payment = payments.pop().flatten().ok_or_else(|| AppError::not_found("payment"))?;
    if !caller.may_see(payment.user_id.as_deref().unwrap_or_default()) {
        // The payer named by Payment.Initiated, else the order's shopper.
        own_order(&state, &caller, &payment.order_id).await.map_err(|_| AppError::not_found("payment"))?;
    }
    Ok(Json(answer(&payment, as_of)?))
}

/// The caller's wallet (an empty one before any transaction).
async fn own_wallet(state: &AppState, caller: &Caller) -> Result<(i64, WalletView), AppError> {
    let user = caller.0.sub.as_str();
    let (as_of, mut wallets) = read_as::<WalletView>(state, Family::Wallet, &[user]).await?;
    Ok((as_of, wallets.pop().flatten().unwrap_or_else(|| WalletView::new(user, Vec::new()))))
}

/// `GET /wallet`: `{userId, balance, asOf}`.
pub async fn wallet(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, AppError> {
    let (as_of, wallet) = own_wallet(&state, &caller).await?;
    Ok(Json(json!({"userId": wallet.user_id, "balance": wallet.balance, "asOf": as_of})))
}

/// `GET /wallets/transactions?page=&pageSize=`: `{userId, balance, items, total, page, pageSize, asOf}`.
pub async fn transactions(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<PageQuery>,
) -> Result<Json<Value>, AppError> {
    let (page, size) = query.get(PAGE_SIZE.0, PAGE_SIZE.1)?;
    let (as_of, wallet) = own_wallet(&state, &caller).await?;
    let items: Vec<_> = wallet.items.iter().skip((page - 1) * size).take(size).collect();
    Ok(Json(json!({
        "userId": wallet.user_id,
        "balance": wallet.balance,
        "items": items,
        "total": wallet.items.len(),
        "page": page,
        "pageSize": size,
        "asOf": as_of,
    })))
}
