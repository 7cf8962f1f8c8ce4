//! `GET /cart`, `GET /orders`, `GET /orders/{id}`: a shopper's own objects;
//! another user's answer 404.

use super::{check_id, read, with_as_of};
use crate::auth::{Caller, Role};
use crate::error::AppError;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use shopflow_sinks::Family;

/// The caller's cart (an empty one when they have none).
pub async fn cart(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, AppError> {
    let user = caller.0.sub.clone();
    let (as_of, mut values) = read(&state, &[(Family::Cart, &user)]).await?;
    let cart = values.pop().flatten().unwrap_or_else(|| json!({"userId": user, "items": [], "subtotal": 0}));
    Ok(Json(with_as_of(cart, as_of)))
}

/// One order: the caller's own, or any for an admin.
pub async fn one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    check_id("id", &id)?;
    let (as_of, mut values) = read(&state, &[(Family::Order, &id)]).await?;
    let order = values.pop().flatten().ok_or_else(|| AppError::not_found("order"))?;
    if !caller.may_see(order["userId"].as_str().unwrap_or_default()) {
        return Err(AppError::not_found("order"));
    }
    Ok(Json(with_as_of(order, as_of)))
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
    let (_, mut values) = read(&state, &[(Family::UserOrders, &user)]).await?;
    let ids: Vec<String> = values.pop().flatten().and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default();
    let keys: Vec<(Family, &str)> = ids.iter().map(|id| (Family::Order, id.as_str())).collect();
    // One read for the index's orders, from the same generation.
    let (as_of, orders) = read(&state, &keys).await?;
    let mut items: Vec<Value> = orders.into_iter().flatten().collect();
    items.sort_by(|a, b| b["createdAt"].as_str().cmp(&a["createdAt"].as_str()));
    Ok(Json(json!({"userId": user, "items": items, "asOf": as_of})))
}
