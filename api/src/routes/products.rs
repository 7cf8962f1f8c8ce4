//! `GET /products/{id}`, `GET /products/{id}/reviews`, `GET /inventory/{id}`.

use super::{check_id, live_product, read, with_as_of};
use crate::error::AppError;
use crate::AppState;
use axum::extract::{Path, State};
use axum::Json;
use serde_json::Value;
use shopflow_sinks::Family;

/// A product with its `available` stock and rating `{count, mean}`; deleted products answer 404.
pub async fn product(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, AppError> {
    check_id("id", &id)?;
    let objects = [(Family::Product, id.as_str()), (Family::Inventory, &id), (Family::Rating, &id)];
    let (as_of, mut values) = read(&state, &objects).await?;
    let rating = values.pop().flatten();
    let inventory = values.pop().flatten();
    let mut product = live_product(values.pop().flatten())?;
    product["available"] = inventory.map_or(Value::from(0), |i| i["available"].clone());
    product["rating"] = rating_of(rating.as_ref());
    Ok(Json(with_as_of(product, as_of)))
}

/// A product's reviews, newest first, with the rating they make: `{productId,
/// count, mean, items, asOf}`; rejected reviews are not listed. 404 for a
/// product the catalog does not have (or has deleted).
pub async fn reviews(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, AppError> {
    check_id("id", &id)?;
    let (as_of, mut values) = read(&state, &[(Family::Product, id.as_str()), (Family::Reviews, &id)]).await?;
    let reviews = values.pop().flatten();
    live_product(values.pop().flatten())?;
    let mut body = rating_of(reviews.as_ref());
    body["productId"] = Value::from(id);
    body["items"] = reviews.map_or_else(|| Value::Array(Vec::new()), |r| r["items"].clone());
    Ok(Json(with_as_of(body, as_of)))
}

/// Stock of a product: on hand per warehouse, reserved, available.
pub async fn inventory(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, AppError> {
    check_id("productId", &id)?;
    let (as_of, mut values) = read(&state, &[(Family::Inventory, &id)]).await?;
    let inventory = values.pop().flatten().ok_or_else(|| AppError::not_found("inventory"))?;
    Ok(Json(with_as_of(inventory, as_of)))
}

/// `{count, mean}` from a rating view (`mean` null without reviews, two decimals otherwise).
pub fn rating_of(view: Option<&Value>) -> Value {
    let count = view.and_then(|v| v["count"].as_i64()).unwrap_or(0);
    let sum = view.and_then(|v| v["sum"].as_i64()).unwrap_or(0);
    let mean = (count > 0).then(|| ((sum as f64 / count as f64) * 100.0).round() / 100.0);
    serde_json::json!({"count": count, "mean": mean})
}

#[cfg(test)]
mod tests {
    #[test]
    fn rating_means_have_two_decimals_and_none_without_reviews() {
        let view = serde_json::json!({"productId": "p", "count": 3, "sum": 13});
        assert_eq!(super::rating_of(Some(&view)), serde_json::json!({"count": 3, "mean": 4.33}));
        assert_eq!(super::rating_of(None), serde_json::json!({"count": 0, "mean": null}));
    }
}
