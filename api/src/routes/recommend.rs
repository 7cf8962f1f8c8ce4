//! Recommendation reads (`views.md`, "Recommendations"): bought together,
//! viewed together, trending, and the caller's own recommendations.

use super::{check_id, live_product, read};
use crate::auth::Caller;
use crate::error::AppError;
use crate::AppState;
use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};
use shopflow_sinks::Family;
use shopflow_views::recommend::{for_user, Purchases, Together};

use shopflow_views::recommend::TRENDING_KEY;

/// `{productId, items, asOf}` of a product's list of `family`; 404 for a
/// product the catalog does not have (or has deleted).
async fn together(state: &AppState, family: Family, id: &str) -> Result<Json<Value>, AppError> {
    check_id("id", id)?;
    let (as_of, mut values) = read(state, &[(Family::Product, id), (family, id)]).await?;
    let list = values.pop().flatten();
    live_product(values.pop().flatten())?;
    let items = list.map_or_else(|| json!([]), |l| l["items"].clone());
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
    let (as_of, mut values) = read(&state, &[(Family::Trending, TRENDING_KEY)]).await?;
    let items = values.pop().flatten().map_or_else(|| json!([]), |t| t["items"].clone());
    Ok(Json(json!({"items": items, "asOf": as_of})))
}

/// The caller's recommendations: what they purchased, with the bought-together
/// lists of those products, read in one step and combined
/// ([`shopflow_views::recommend::for_user`]); trending when they have no
/// purchases (`basedOn` says which).
pub async fn recommendations(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, AppError> {
    let user = caller.0.sub.clone();
    let following = state.redis.read_following(
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
            let trending = trending.map(|t| serde_json::from_str::<Value>(&t)).transpose().map_err(corrupt)?;
            (trending.map_or_else(|| json!([]), |t| t["items"].clone()), "trending")
        }
    };
    Ok(Json(json!({"userId": user, "items": items, "basedOn": based_on, "asOf": served.as_of})))
}
