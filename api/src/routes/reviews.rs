//! Reviews (`views.md`, "Reviews"): a product's reviews and rating; posting
//! one (the reviewer from the token); moderating one (admins).

use super::catalog::{rating_of, require_live_product};
use super::{check_id, read, read_doc, Route};
use crate::auth::Caller;
use crate::error::AppError;
use crate::openapi::{Access, Input};
use crate::write::table::{prepare, route, write_prepared, Spec, Verb, Who};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Json;
use serde_json::Value;
use shopflow_topics::events::{ReviewModerated, ReviewPosted};
use shopflow_topics::Event;
use shopflow_views::catalog::ProductView;
use shopflow_views::reviews::ReviewsView;
use shopflow_views::Family;

/// `POST /reviews`: the reviewer is the caller; a new reviewId.
const POST: Spec =
    Spec::new(Verb::Post, "/api/v1/reviews", ReviewPosted::TYPE_NAME, Who::User).generated("reviewId", "rev");

/// The routes of this family.
pub fn routes() -> Vec<Route> {
    vec![
        (read_doc("/api/v1/products/{id}/reviews", "a product's reviews and rating", Access::Anyone), get(reviews)),
        (
            super::write_doc(
                "POST",
                POST.path,
                ReviewPosted::TYPE_NAME,
                Access::Caller,
                Input::Fields(&[
                    ("productId", "string", true),
                    ("rating", "integer", true),
                    ("title", "string", true),
                    ("body", "string", true),
                ]),
            ),
            post(post_review),
        ),
        route(
            Spec::new(Verb::Post, "/api/v1/admin/reviews/{id}/moderate", ReviewModerated::TYPE_NAME, Who::Admin)
                .path_field("reviewId"),
            ReviewModerated::TYPE_NAME,
        ),
    ]
}

/// A product's reviews, newest first, with the rating they make: `{productId,
/// count, mean, items, asOf}`; rejected reviews are not listed. 404 for a
/// product the catalog does not have (or has deleted).
pub async fn reviews(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, AppError> {
    check_id("id", &id)?;
    let (as_of, mut values) = read(&state, &[(Family::Product, id.as_str()), (Family::Reviews, &id)]).await?;
    let corrupt = |e: serde_json::Error| AppError::store("redis", e);
    let reviews = values.pop().flatten().map(serde_json::from_value::<ReviewsView>).transpose().map_err(corrupt)?;
    let product = values.pop().flatten().map(serde_json::from_value::<ProductView>).transpose().map_err(corrupt)?;
    super::live_product(product)?;
    let mut body = rating_of(reviews.as_ref().map(|r| (r.count, r.sum)));
    body["productId"] = Value::from(id);
    body["items"] = serde_json::to_value(reviews.map(|r| r.items).unwrap_or_default()).map_err(corrupt)?;
    Ok(Json(super::with_as_of(body, as_of)))
}

/// `POST /reviews` `{productId, rating, title, body}`: Review.Posted by the caller, of a live product.
pub async fn post_review(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, AppError> {
    let prepared = prepare(&caller, None, &bytes, &POST)?;
    if let Event::ReviewPosted(posted) = &prepared.event {
        require_live_product(&state, &posted.product_id, "productId").await?;
    }
    write_prepared(&state, &caller, &headers, prepared).await
}
