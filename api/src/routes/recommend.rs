//! Recommendation reads (`views.md`, "Recommendations"): bought together,
//! viewed together, trending, and the caller's own recommendations.

use super::{check_id, live_product, read, read_doc, Route};
use crate::auth::Caller;
use crate::error::AppError;
use crate::openapi::Access;
use crate::AppState;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::Json;
use serde_json::{json, Value};
use shopflow_views::catalog::ProductView;
use shopflow_views::recommend::{for_user, Purchases, Together, Trending, TRENDING_KEY};
use shopflow_views::Family;

/// The routes of this family.
pub fn routes() -> Vec<Route> {
    use Access::{Anyone, Caller as Own};
    vec![
        (
            read_doc("/api/v1/products/{id}/bought-together", "products bought with this one", Anyone),
            get(bought_together),
        ),
        (
            read_doc("/api/v1/products/{id}/viewed-together", "products viewed with this one", Anyone),
            get(viewed_together),
        ),
        (read_doc("/api/v1/trending", "trending products", Anyone), get(trending)),
        (read_doc("/api/v1/recommendations", "the caller's recommendations", Own), get(recommendations)),
    ]
}

/// `{productId, items, asOf}` of a product's list of `family`; 404 for a
/// product the catalog does not have (or has deleted).
async fn together(state: &AppState, family: Family, id: &str) -> Result<Json<Value>, AppError> {
    check_id("id", id)?;
    let (as_of, mut values) = read(state, &[(Family::Product, id), (family, id)]).await?;
    let corrupt = |e: serde_json::Error| AppError::store("redis", e);
    let list = values.pop().flatten().map(serde_json::from_value::<Together>).transpose().map_err(corrupt)?;
    let product = values.pop().flatten().map(serde_json::from_value::<ProductView>).transpose().map_err(corrupt)?;
    live_product(product)?;
    let items = list.map(|l| l.items).unwrap_or_default();
    Ok(Json(json!({"productId": id, "items": items, "asOf": as_of})))
}

/// Products bought together with product `id`.
pub async fn bought_together(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, AppError> {
    together(&state, Family::BoughtTogether, &id).await
}

/// Products viewed together with product `id`.
pub async fn viewed_together(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, AppError> {
    together(&state, Family::ViewedTogether, &id).await
}

/// The trending products.
pub async fn trending(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    let (as_of, mut values) = super::read_as::<Trending>(&state, Family::Trending, &[TRENDING_KEY]).await?;
    let items = values.pop().flatten().map(|t| t.items).unwrap_or_default();
    Ok(Json(json!({"items": items, "asOf": as_of})))
}

/// The caller's recommendations: what they purchased, with the bought-together
/// lists of those products, read in one step and combined
/// ([`shopflow_views::recommend::for_user`]); trending when they have no
/// purchases (`basedOn` says which).
pub async fn recommendations(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, AppError> {
    let user = caller.0.sub.clone();
    let following = state.stores.views.read_following(
        (Family::Purchases, &user),
        "products",
        Family::BoughtTogether,
        &[(Family::Trending, TRENDING_KEY)],
    );
    let served = state
        .breakers
        .redis
        .call(following)
        .await?
        .ok_or_else(|| AppError::unavailable("not_ready", "no state is published yet; is the pipeline running?"))?;
    let mut values = served.values.into_iter();
    let purchases = values.next().flatten();
    let trending = values.next().flatten();
    let corrupt = |e: serde_json::Error| AppError::store("redis", e);
    let (items, based_on) = match purchases {
        Some(json) => {
            let purchases: Purchases = serde_json::from_str(&json).map_err(corrupt)?;
            let lists = values
                .flatten()
                .map(|json| serde_json::from_str::<Together>(&json))
                .collect::<Result<Vec<_>, _>>()
                .map_err(corrupt)?;
            (serde_json::to_value(for_user(&purchases, &lists).items).map_err(corrupt)?, "purchases")
        }
        None => {
            let trending = trending.map(|t| serde_json::from_str::<Trending>(&t)).transpose().map_err(corrupt)?;
            (serde_json::to_value(trending.map(|t| t.items).unwrap_or_default()).map_err(corrupt)?, "trending")
        }
    };
    Ok(Json(json!({"userId": user, "items": items, "basedOn": based_on, "asOf": served.as_of})))
}
