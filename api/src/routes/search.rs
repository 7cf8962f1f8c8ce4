//! What shoppers search (`views.md`, "Search"): suggestions for a prefix,
//! and the trending searches. Listings and search results themselves are
//! `GET /products` (`catalog`); the search analytics are
//! `GET /admin/analytics/search`.

use super::{read_as, read_doc, Route};
use crate::error::AppError;
use crate::openapi::{Access, Doc};
use crate::AppState;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::Json;
use serde_json::{json, Value};
use shopflow_views::search::{
    normalize, Suggestions, TrendingSearches, SUGGESTION_PREFIX_CHARS, TRENDING_SEARCHES_KEY,
};
use shopflow_views::Family;
use std::collections::HashMap;

/// The routes of this family.
pub fn routes() -> Vec<Route> {
    vec![
        (
            Doc {
                query: &[("prefix", "the start of a query, at least one character (trimmed, any case)")],
                ..read_doc("/api/v1/search/suggestions", "the most searched queries with a prefix", Access::Anyone)
            },
            get(suggestions),
        ),
        (
            read_doc("/api/v1/search/trending", "the most searched queries of the last 24 hours", Access::Anyone),
            get(trending),
        ),
    ]
}

/// `GET /search/suggestions?prefix=`: `{prefix, items: [{query, searches}], asOf}`, most searched first.
pub async fn suggestions(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, AppError> {
    let prefix = normalize(params.get("prefix").map_or("", String::as_str));
    if prefix.is_empty() {
        return Err(AppError::invalid_fields(vec![("prefix".into(), "at least one character".into())]));
    }
    // Suggestions are kept for prefixes up to SUGGESTION_PREFIX_CHARS characters; a longer
    // one reads those of its first characters and keeps the queries that go on like it.
    let kept: String = prefix.chars().take(SUGGESTION_PREFIX_CHARS).collect();
    let (as_of, mut values) = read_as::<Suggestions>(&state, Family::Suggestions, &[&kept]).await?;
    let items: Vec<_> = values
        .pop()
        .flatten()
        .map(|s| s.items)
        .unwrap_or_default()
        .into_iter()
        .filter(|i| i.query.starts_with(&prefix))
        .collect();
    Ok(Json(json!({"prefix": prefix, "items": items, "asOf": as_of})))
}

/// `GET /search/trending`: `{items: [{query, searches}], asOf}`.
pub async fn trending(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    let (as_of, mut values) =
        read_as::<TrendingSearches>(&state, Family::TrendingSearches, &[TRENDING_SEARCHES_KEY]).await?;
    let items = values.pop().flatten().map(|t| t.items).unwrap_or_default();
    Ok(Json(json!({"items": items, "asOf": as_of})))
}
