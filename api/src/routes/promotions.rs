//! Promotions (admins): `POST /admin/promotions`, `POST /admin/promotions/{code}/end`,
//! and `GET /admin/promotions` — each code's performance (`promotion_performance`:
//! purchases that used it, their discount and their total) from ClickHouse.

use super::analytics::{checked, rows, RangeQuery};
use super::{read_doc, Route};
use crate::auth::Caller;
use crate::error::AppError;
use crate::openapi::{Access, Doc};
use crate::write::table::{route, Spec, Verb, Who};
use crate::AppState;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::Json;
use serde_json::Value;
use shopflow_sinks::clickhouse::{Filter, Relation};
use shopflow_topics::events::{PromotionCreated, PromotionEnded};

/// The routes of this family.
pub fn routes() -> Vec<Route> {
    vec![
        (
            Doc {
                query: &[("limit", "rows, 1-10000")],
                ..read_doc("/api/v1/admin/promotions", "each code's performance (promotion_performance)", Access::Admin)
            },
            get(performance),
        ),
        route(
            Spec::new(Verb::Post, "/api/v1/admin/promotions", PromotionCreated::TYPE_NAME, Who::Admin),
            PromotionCreated::TYPE_NAME,
        ),
        route(
            Spec::new(Verb::Post, "/api/v1/admin/promotions/{id}/end", PromotionEnded::TYPE_NAME, Who::Admin)
                .path_field("code"),
            PromotionEnded::TYPE_NAME,
        ),
    ]
}

/// `GET /admin/promotions?limit=`: `{items: [{code, orders, discount, revenue}], asOf}`.
pub async fn performance(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<RangeQuery>,
) -> Result<Json<Value>, AppError> {
    caller.require_admin()?;
    let (_, _, limit) = checked(&query)?;
    rows(&state, Relation::Promotions, Filter { from: None, to: None, equals: None, limit }).await
}
