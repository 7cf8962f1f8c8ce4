//! `GET /products/{id}`, `GET /inventory/{id}`.

use super::{check_id, read, with_as_of};
use crate::error::AppError;
use crate::AppState;
use axum::extract::{Path, State};
use axum::Json;
use serde_json::Value;
use shopflow_sinks::Family;

/// A product with its `available` stock; deleted products answer 404.
pub async fn product(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, AppError> {
    check_id("id", &id)?;
    let (as_of, mut values) = read(&state, &[(Family::Product, &id), (Family::Inventory, &id)]).await?;
    let inventory = values.pop().flatten();
    let mut product = values.pop().flatten().ok_or_else(|| AppError::not_found("product"))?;
    if product["deleted"].as_bool() == Some(true) {
        return Err(AppError::not_found("product"));
    }
    product["available"] = inventory.map_or(Value::from(0), |i| i["available"].clone());
    Ok(Json(with_as_of(product, as_of)))
}

/// Stock of a product: on hand per warehouse, reserved, available.
pub async fn inventory(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, AppError> {
    check_id("productId", &id)?;
    let (as_of, mut values) = read(&state, &[(Family::Inventory, &id)]).await?;
    let inventory = values.pop().flatten().ok_or_else(|| AppError::not_found("inventory"))?;
    Ok(Json(with_as_of(inventory, as_of)))
}
