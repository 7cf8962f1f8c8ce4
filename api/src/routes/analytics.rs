//! `GET /admin/analytics/{sales,funnel,products,search,vendors,vendor-sales,promotions}`:
//! the ClickHouse relations, by day range (`search`: the queries the catalog
//! fails first, by zero-result searches); `GET /admin/promotions`:
//! `promotion_performance`.

use super::{read_doc, Route};
use crate::auth::Caller;
use crate::error::AppError;
use crate::openapi::{Access, Doc};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use shopflow_sinks::clickhouse::{Filter, Relation};

/// The routes of this family.
pub fn routes() -> Vec<Route> {
    let doc = Doc {
        query: &[("from", "first day, YYYY-MM-DD"), ("to", "last day"), ("limit", "rows, 1-10000")],
        ..read_doc(
            "/api/v1/admin/analytics/{relation}",
            "sales, funnel, products, search, vendors, vendor-sales or promotions from ClickHouse",
            Access::Admin,
        )
    };
    vec![(doc, get(relation))]
}

/// Query of the analytics routes.
#[derive(Deserialize)]
pub struct RangeQuery {
    /// First day, `YYYY-MM-DD`.
    from: Option<String>,
    /// Last day, `YYYY-MM-DD`.
    to: Option<String>,
    /// Rows at most (default 1000, at most 10000).
    limit: Option<u64>,
}

fn check_day(field: &str, day: &Option<String>) -> Result<(), AppError> {
    match day {
        Some(d) if chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_err() => {
            Err(AppError::bad_request(format!("{field}: expected a day as YYYY-MM-DD")))
        }
        _ => Ok(()),
    }
}

/// Rows of one relation.
pub async fn relation(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Query(query): Query<RangeQuery>,
) -> Result<Json<Value>, AppError> {
    caller.require_admin()?;
    let relation = Relation::from_route(&name).ok_or_else(|| AppError::not_found("analytics relation"))?;
    let (from, to, limit) = checked(&query)?;
    let filter = Filter { from, to, equals: None, limit };
    rows(&state, relation, filter).await
}

/// `{items, asOf}`: the rows `filter` selects, with the served `asOf`.
pub async fn rows(state: &AppState, relation: Relation, filter: Filter<'_>) -> Result<Json<Value>, AppError> {
    let rows = state.breakers.clickhouse.call(state.stores.analytics.rows(relation, filter)).await?;
    let as_of = state.breakers.redis.call(state.stores.views.status()).await?.map(|s| s.as_of);
    Ok(Json(json!({"items": rows, "asOf": as_of})))
}

/// Checks a range query: `(from, to, limit)`.
pub fn checked(query: &RangeQuery) -> Result<(Option<&str>, Option<&str>, u64), AppError> {
    check_day("from", &query.from)?;
    check_day("to", &query.to)?;
    let limit = query.limit.unwrap_or(1000);
    if !(1..=10_000).contains(&limit) {
        return Err(AppError::bad_request("limit: between 1 and 10000"));
    }
    Ok((query.from.as_deref(), query.to.as_deref(), limit))
}
