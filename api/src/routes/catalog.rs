//! The catalog as shoppers read it (`GET /products/{id}`, `GET
//! /inventory/{id}`) and as admins write it (products, categories, stock).

use super::{answer, check_id, read, read_as, read_doc, Route};
use crate::error::AppError;
use crate::openapi::Access;
use crate::write::table::{route, Spec, Verb, Who};
use crate::AppState;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::Json;
use serde_json::{json, Value};
use shopflow_topics::events::{
    CategoryUpserted, InventoryAdjusted, ProductCreated, ProductDeleted, ProductUpdated, StockReceived,
};
use shopflow_views::catalog::ProductView;
use shopflow_views::inventory::InventoryView;
use shopflow_views::reviews::{rating_mean, RatingView};
use shopflow_views::Family;

/// The routes of this family.
pub fn routes() -> Vec<Route> {
    use Verb::{Delete, Post, Put};
    use Who::Admin;
    vec![
        (read_doc("/api/v1/products/{id}", "a product with available stock and rating", Access::Anyone), get(product)),
        (read_doc("/api/v1/inventory/{id}", "stock of a product", Access::Anyone), get(inventory)),
        route(
            Spec::new(Post, "/api/v1/admin/products", ProductCreated::TYPE_NAME, Admin).generated("productId", "prd"),
            ProductCreated::TYPE_NAME,
        ),
        route(
            Spec::new(Put, "/api/v1/admin/products/{id}", ProductUpdated::TYPE_NAME, Admin).path_field("productId"),
            ProductUpdated::TYPE_NAME,
        ),
        route(
            Spec::new(Delete, "/api/v1/admin/products/{id}", ProductDeleted::TYPE_NAME, Admin).path_field("productId"),
            ProductDeleted::TYPE_NAME,
        ),
        route(
            Spec::new(Post, "/api/v1/admin/categories", CategoryUpserted::TYPE_NAME, Admin)
                .generated("categoryId", "cat"),
            CategoryUpserted::TYPE_NAME,
        ),
        route(Spec::new(Post, "/api/v1/admin/inventory", StockReceived::TYPE_NAME, Admin), StockReceived::TYPE_NAME),
        route(
            Spec::new(Post, "/api/v1/admin/inventory/adjust", InventoryAdjusted::TYPE_NAME, Admin),
            InventoryAdjusted::TYPE_NAME,
        ),
    ]
}

/// A product with its `available` stock and rating `{count, mean}`; deleted products answer 404.
pub async fn product(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, AppError> {
    check_id("id", &id)?;
    let objects = [(Family::Product, id.as_str()), (Family::Inventory, &id), (Family::Rating, &id)];
    let (as_of, mut values) = read(&state, &objects).await?;
    let corrupt = |e: serde_json::Error| AppError::store("redis", e);
    let rating = values.pop().flatten().map(serde_json::from_value::<RatingView>).transpose().map_err(corrupt)?;
    let inventory = values.pop().flatten().map(serde_json::from_value::<InventoryView>).transpose().map_err(corrupt)?;
    let product = values.pop().flatten().map(serde_json::from_value::<ProductView>).transpose().map_err(corrupt)?;
    let product = super::live_product(product)?;
    let mut body = answer(&product, as_of)?;
    body["available"] = Value::from(inventory.map_or(0, |i| i.available));
    body["rating"] = rating_of(rating.as_ref().map(|r| (r.count, r.sum)));
    Ok(Json(body))
}

/// Stock of a product: on hand per warehouse, reserved, available.
pub async fn inventory(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, AppError> {
    check_id("productId", &id)?;
    let (as_of, mut values) = read_as::<InventoryView>(&state, Family::Inventory, &[&id]).await?;
    let inventory = values.pop().flatten().ok_or_else(|| AppError::not_found("inventory"))?;
    Ok(Json(answer(&inventory, as_of)?))
}

/// `{count, mean}` of (count, sum) of ratings: the mean of the read model
/// ([`rating_mean`]), null without reviews.
pub fn rating_of(count_and_sum: Option<(i64, i64)>) -> Value {
    let (count, sum) = count_and_sum.unwrap_or((0, 0));
    json!({"count": count, "mean": rating_mean(count, sum)})
}

/// 400 naming `field` unless the served catalog has the product (not deleted).
pub async fn require_live_product(state: &AppState, product: &str, field: &str) -> Result<ProductView, AppError> {
    let (_, mut products) = read_as::<ProductView>(state, Family::Product, &[product]).await?;
    products
        .pop()
        .flatten()
        .filter(|p| !p.deleted)
        .ok_or_else(|| AppError::invalid_fields(vec![(field.to_string(), format!("no product {product}"))]))
}

#[cfg(test)]
mod tests {
    #[test]
    fn rating_means_have_two_decimals_and_none_without_reviews() {
        assert_eq!(super::rating_of(Some((3, 13))), serde_json::json!({"count": 3, "mean": 4.33}));
        assert_eq!(super::rating_of(None), serde_json::json!({"count": 0, "mean": null}));
    }
}
