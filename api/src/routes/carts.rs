//! The caller's cart: `GET /cart` and its writes.

use super::catalog::require_live_product;
use super::{answer, read_as, read_doc, Route};
use crate::auth::Caller;
use crate::error::AppError;
use crate::openapi::{Access, Input};
use crate::write::table::{prepare, route, write_prepared, Spec, Verb, Who};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Json;
use serde_json::Value;
use shopflow_topics::events::{CartItemAdded, CartItemRemoved, CartItemUpdated};
use shopflow_topics::Event;
use shopflow_views::carts::CartView;
use shopflow_views::Family;

/// `POST /cart/items`: for the caller.
const ADD: Spec = Spec::new(Verb::Post, "/api/v1/cart/items", CartItemAdded::TYPE_NAME, Who::User);

/// The routes of this family.
pub fn routes() -> Vec<Route> {
    use Verb::{Delete, Put};
    vec![
        (read_doc("/api/v1/cart", "the caller's cart", Access::Caller), get(cart)),
        (
            super::write_doc(
                "POST",
                ADD.path,
                CartItemAdded::TYPE_NAME,
                Access::Caller,
                Input::Fields(&[("productId", "string", true), ("quantity", "integer", true)]),
            ),
            post(cart_add),
        ),
        route(
            Spec::new(Put, "/api/v1/cart/items/{id}", CartItemUpdated::TYPE_NAME, Who::User).path_field("productId"),
            "Cart.ItemUpdated (0 removes)",
        ),
        route(
            Spec::new(Delete, "/api/v1/cart/items/{id}", CartItemRemoved::TYPE_NAME, Who::User).path_field("productId"),
            CartItemRemoved::TYPE_NAME,
        ),
    ]
}

/// The caller's cart (an empty one when they have none).
pub async fn cart(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, AppError> {
    let user = caller.0.sub.clone();
    let (as_of, mut values) = read_as::<CartView>(&state, Family::Cart, &[&user]).await?;
    let cart = values.pop().flatten().unwrap_or(CartView { user_id: user, items: Vec::new(), subtotal: 0 });
    Ok(Json(answer(&cart, as_of)?))
}

/// `POST /cart/items` `{productId, quantity}`: Cart.ItemAdded for the caller, of a live product.
pub async fn cart_add(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, AppError> {
    let prepared = prepare(&caller, None, &bytes, &ADD)?;
    if let Event::CartItemAdded(added) = &prepared.event {
        require_live_product(&state, &added.product_id, "productId").await?;
    }
    write_prepared(&state, &caller, &headers, prepared).await
}
