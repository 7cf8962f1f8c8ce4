//! `GET /admin/fraud`: the users the fraud rules flag (`views.md`, "Fraud
//! rules"; [`shopflow_views::fraud`]), most recently flagged first.

use super::{paged, read_doc, read_list, with_as_of, PageQuery, Route};
use crate::auth::Caller;
use crate::error::AppError;
use crate::openapi::{Access, Doc};
use crate::AppState;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::Json;
use serde_json::Value;
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

/// `GET /admin/fraud?page=&pageSize=`: `{items: [{userId, flags: [{at, rule, orderId, detail}]}], total, asOf}`.
pub async fn flagged(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<PageQuery>,
) -> Result<Json<Value>, AppError> {
    caller.require_admin()?;
    let page = query.get(PAGE_SIZE.0, PAGE_SIZE.1)?;
    let (as_of, mut items) = read_list::<FraudView>(&state, Family::Fraud, "all").await?;
    let latest = |view: &FraudView| view.flags.last().map(|f| f.at);
    items.sort_by(|a, b| (latest(b), &b.user_id).cmp(&(latest(a), &a.user_id)));
    Ok(Json(with_as_of(paged(items, page), as_of)))
}
