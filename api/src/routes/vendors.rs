//! Vendors: applying to sell; a vendor's own products, stock and payouts
//! (another vendor's product answers 404); the admin's decisions.

use super::{check_id, read_as, write_doc, Route};
use crate::auth::Caller;
use crate::error::AppError;
use crate::openapi::{Access, Input};
use crate::write::table::{prepare, route, vendor_of, write_prepared, Spec, Verb, Who};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{post, put};
use shopflow_topics::events::{
    PayoutProcessed, PayoutRequested, ProductCreated, ProductUpdated, StockReceived, VendorApplied, VendorApproved,
    VendorSuspended,
};
use shopflow_topics::Event;
use shopflow_views::catalog::ProductView;
use shopflow_views::Family;

/// `PUT /vendor/products/{id}`: an own product's update.
const UPDATE: Spec = Spec::new(Verb::Put, "/api/v1/vendor/products/{id}", ProductUpdated::TYPE_NAME, Who::Vendor)
    .path_field("productId");
/// `POST /vendor/inventory`: stock of an own product.
const STOCK: Spec = Spec::new(Verb::Post, "/api/v1/vendor/inventory", StockReceived::TYPE_NAME, Who::Vendor);

/// The routes of this family.
pub fn routes() -> Vec<Route> {
    use Verb::Post;
    vec![
        route(
            Spec::new(Post, "/api/v1/vendors/apply", VendorApplied::TYPE_NAME, Who::User).generated("vendorId", "ven"),
            VendorApplied::TYPE_NAME,
        ),
        route(
            Spec::new(Post, "/api/v1/vendor/products", ProductCreated::TYPE_NAME, Who::Vendor)
                .generated("productId", "prd"),
            "Product.Created for the caller's store",
        ),
        (
            write_doc(
                "PUT",
                UPDATE.path,
                "Product.Updated of an own product",
                Access::Vendor,
                Input::Event(ProductUpdated::TYPE_NAME),
            ),
            put(update_product),
        ),
        (
            write_doc(
                "POST",
                STOCK.path,
                "Inventory.StockReceived of an own product",
                Access::Vendor,
                Input::Event(StockReceived::TYPE_NAME),
            ),
            post(stock),
        ),
        route(
            Spec::new(Post, "/api/v1/vendor/payouts", PayoutRequested::TYPE_NAME, Who::Vendor)
                .generated("payoutId", "pyo"),
            PayoutRequested::TYPE_NAME,
        ),
        route(
            Spec::new(Post, "/api/v1/admin/vendors/{id}/approve", VendorApproved::TYPE_NAME, Who::Admin)
                .path_field("vendorId"),
            VendorApproved::TYPE_NAME,
        ),
        route(
            Spec::new(Post, "/api/v1/admin/vendors/{id}/suspend", VendorSuspended::TYPE_NAME, Who::Admin)
                .path_field("vendorId"),
            VendorSuspended::TYPE_NAME,
        ),
        route(
            Spec::new(Post, "/api/v1/admin/payouts/{id}/process", PayoutProcessed::TYPE_NAME, Who::Admin)
                .path_field("payoutId"),
            PayoutProcessed::TYPE_NAME,
        ),
    ]
}

/// 404 unless the served product belongs to `vendor` (another vendor's product cannot be probed).
async fn own_product(state: &AppState, vendor: &str, product: &str) -> Result<ProductView, AppError> {
    check_id("productId", product)?;
    let (_, mut products) = read_as::<ProductView>(state, Family::Product, &[product]).await?;
    products
        .pop()
        .flatten()
        .filter(|p| p.vendor_id == vendor && !p.deleted)
        .ok_or_else(|| AppError::not_found("product"))
}

/// `PUT /vendor/products/{id}`: Product.Updated of the caller's own product.
pub async fn update_product(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, AppError> {
    let vendor = vendor_of(&caller)?;
    let prepared = prepare(&caller, Some(&id), &bytes, &UPDATE)?;
    own_product(&state, &vendor, &id).await?;
    write_prepared(&state, &caller, &headers, prepared).await
}

/// `POST /vendor/inventory` `{productId, warehouseId, quantity}`: stock of an own product.
pub async fn stock(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, AppError> {
    let vendor = vendor_of(&caller)?;
    let prepared = prepare(&caller, None, &bytes, &STOCK)?;
    if let Event::StockReceived(received) = &prepared.event {
        own_product(&state, &vendor, &received.product_id).await?;
    }
    write_prepared(&state, &caller, &headers, prepared).await
}
