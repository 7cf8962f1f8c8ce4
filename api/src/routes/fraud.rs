//! `GET /admin/fraud`: the users the fraud rules flag (`views.md`, "Fraud
//! rules"; [`shopflow_views::fraud`]), most recently flagged first.

use super::payments::page_number;
use super::{not_ready, read_doc, Route};
use crate::auth::Caller;
use crate::error::AppError;
use crate::openapi::{Access, Doc};
use crate::AppState;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use shopflow_views::fraud::FraudView;
use shopflow_views::Family;

/// Users per page, by default and at most.
const PAGE_SIZE: (usize, usize) = (50, 500);

/// The routes of this family.
pub fn routes() -> Vec<Route> {
    let doc = Doc {
        query: &[("page", "1-based"), ("pageSize", "1-500, default 50")],
        ..read_doc(
            "/api/v1/admin/fraud",
            "users flagged by the fraud rules, most recently flagged first",
            Access::Admin,
        )
    };
    vec![(doc, get(flagged))]
}

/// Query of `GET /admin/fraud`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageQuery {
    /// 1-based page.
    page: Option<String>,
    /// Users per page.
    page_size: Option<String>,
}

/// `GET /admin/fraud?page=&pageSize=`: `{items: [{userId, flags: [{at, rule, orderId, detail}]}], total, asOf}`.
pub async fn flagged(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<PageQuery>,
) -> Result<Json<Value>, AppError> {
    caller.require_admin()?;
    let page = page_number("page", query.page.as_deref(), 1, 1_000_000)?;
    let size = page_number("pageSize", query.page_size.as_deref(), PAGE_SIZE.0, PAGE_SIZE.1)?;
    let lists = [(Family::Fraud, "all")];
    let served = state.breakers.redis.call(state.stores.views.read_lists(&lists)).await?.ok_or_else(not_ready)?;
    let mut items: Vec<FraudView> = served
        .lists
        .into_iter()
        .flatten()
        .map(|json| serde_json::from_str(&json).map_err(|e| AppError::store("redis", e)))
        .collect::<Result<_, _>>()?;
    let latest = |view: &FraudView| view.flags.last().map(|f| f.at);
    items.sort_by(|a, b| (latest(b), &b.user_id).cmp(&(latest(a), &a.user_id)));
    let total = items.len();
    let page_items: Vec<FraudView> = items.into_iter().skip((page - 1) * size).take(size).collect();
    Ok(Json(json!({"items": page_items, "total": total, "page": page, "pageSize": size, "asOf": served.as_of})))
}
