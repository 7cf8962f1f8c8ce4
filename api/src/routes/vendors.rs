//! Vendors: applying to sell and the application's status; a vendor's own
//! products, stock, orders, sales (ClickHouse) and payouts (another vendor's
//! product answers 404); a payout beyond the balance less pending payouts
//! answers 409 (held atomically in Redis, as wallet payments are); a
//! suspended vendor's writes answer 403; the admin's decisions.

use super::analytics::{checked, rows, RangeQuery};
use super::payments::{hold_funds, release_funds};
use super::{check_id, read_as, read_doc, read_list, write_doc, PageQuery, Route};
use crate::auth::Caller;
use crate::error::AppError;
use crate::openapi::{Access, Doc, Input};
use crate::write::table::{prepare, route, vendor_of, write_prepared, Prepared, Spec, Verb, Who};
use crate::write::{envelope, write};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::Json;
use serde_json::{json, Value};
use shopflow_sinks::clickhouse::{Filter, Relation};
use shopflow_sinks::redis::Account;
use shopflow_topics::events::{
    PayoutProcessed, PayoutRequested, ProductCreated, ProductUpdated, StockReceived, VendorApplied, VendorApproved,
    VendorSuspended,
};
use shopflow_topics::Event;
use shopflow_views::catalog::ProductView;
use shopflow_views::vendors::{VendorApplication, VendorOrder, VendorStatus, VendorView};
use shopflow_views::Family;

/// `POST /vendor/payouts`: Payout.Requested of the caller's store.
const PAYOUT: Spec = Spec::new(Verb::Post, "/api/v1/vendor/payouts", PayoutRequested::TYPE_NAME, Who::Vendor)
    .generated("payoutId", "pyo");

/// Orders per page of `GET /vendor/orders`, by default and at most.
const PAGE_SIZE: (usize, usize) = (20, 100);

/// `POST /vendor/products`: a product of the caller's store.
const CREATE: Spec = Spec::new(Verb::Post, "/api/v1/vendor/products", ProductCreated::TYPE_NAME, Who::Vendor)
    .generated("productId", "prd");
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
        (
            write_doc(
                "POST",
                CREATE.path,
                "Product.Created for the caller's store",
                Access::Vendor,
                Input::Event(ProductCreated::TYPE_NAME),
            ),
            post(create_product),
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
        (
            write_doc(
                "POST",
                PAYOUT.path,
                "Payout.Requested of the caller's store; 409 insufficient_balance beyond the balance less pending payouts",
                Access::Vendor,
                Input::Event(PayoutRequested::TYPE_NAME),
            ),
            post(request_payout),
        ),
        (read_doc("/api/v1/vendors/application-status", "the caller's application to sell", Access::Caller), get(application)),
        (
            Doc {
                query: &[("page", "1-based"), ("pageSize", "1-100, default 20")],
                ..read_doc("/api/v1/vendor/orders", "the caller's store's share of its orders, newest first", Access::Vendor)
            },
            get(orders),
        ),
        (
            Doc {
                query: &[("from", "first day, YYYY-MM-DD"), ("to", "last day"), ("limit", "rows, 1-10000")],
                ..read_doc(
                    "/api/v1/vendor/analytics",
                    "the caller's store's sales by day and product (vendor_sales_daily)",
                    Access::Vendor,
                )
            },
            get(analytics),
        ),
        (read_doc("/api/v1/vendor/payouts", "the caller's store's balance and payouts", Access::Vendor), get(payouts)),
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

/// `POST /vendor/products`: Product.Created for the caller's store (403 when it is suspended).
pub async fn create_product(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, AppError> {
    let vendor = vendor_of(&caller)?;
    let prepared = prepare(&caller, None, &bytes, &CREATE)?;
    not_suspended(&state, &vendor).await?;
    write_prepared(&state, &caller, &headers, prepared).await
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
    not_suspended(&state, &vendor).await?;
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
    not_suspended(&state, &vendor).await?;
    if let Event::StockReceived(received) = &prepared.event {
        own_product(&state, &vendor, &received.product_id).await?;
    }
    write_prepared(&state, &caller, &headers, prepared).await
}

/// The served vendor `vendor`, if any.
async fn served_vendor(state: &AppState, vendor: &str) -> Result<(i64, Option<VendorView>), AppError> {
    let (as_of, mut vendors) = read_as::<VendorView>(state, Family::Vendor, &[vendor]).await?;
    Ok((as_of, vendors.pop().flatten()))
}

/// 403 `vendor_suspended` when the served state has `vendor` suspended
/// (before anything is published nothing is known against it).
pub async fn not_suspended(state: &AppState, vendor: &str) -> Result<(), AppError> {
    let served = state.breakers.redis.call(state.stores.views.read(&[(Family::Vendor, vendor)])).await?;
    let Some(json) = served.and_then(|s| s.values.into_iter().next().flatten()) else { return Ok(()) };
    let view: VendorView = serde_json::from_str(&json).map_err(|e| AppError::store("redis", e))?;
    if view.profile.status == Some(VendorStatus::Suspended) {
        return Err(AppError::new(StatusCode::FORBIDDEN, "vendor_suspended", format!("vendor {vendor} is suspended")));
    }
    Ok(())
}

/// `POST /vendor/payouts` `{amount}`: holds the amount against the served
/// balance less pending payouts and the other payouts in flight (409
/// `insufficient_balance`), then writes Payout.Requested. The hold ends when
/// the served vendor lists the payout, or after `hold_ttl`.
pub async fn request_payout(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, AppError> {
    let vendor = vendor_of(&caller)?;
    let prepared = prepare(&caller, None, &bytes, &PAYOUT)?;
    let Event::PayoutRequested(payout) = &prepared.event else { unreachable!("the spec makes a Payout.Requested") };
    if payout.amount <= 0 {
        return Err(AppError::invalid_fields(vec![("amount".into(), "a positive number of minor units".into())]));
    }
    not_suspended(&state, &vendor).await?;
    let (payout_id, amount) = (payout.payout_id.clone(), payout.amount);
    let extra = json!({"payoutId": payout_id});
    let Prepared { body, event, .. } = prepared;
    // The hold is placed inside the write: a retry answered from its idempotency record holds nothing.
    write(&state, Some(&caller), &headers, "POST /vendor/payouts", &body, |ticket| async {
        let account = Account::Vendor(&vendor);
        let outcome = async {
            hold_funds(&state, account, &payout_id, amount, "", |left| {
                AppError::new(
                    StatusCode::CONFLICT,
                    "insufficient_balance",
                    format!("the balance less pending payouts is {}; asked {amount}", left.max(0)),
                )
            })
            .await?;
            let events = [envelope(&ticket.event_id, event)];
            match state.breakers.kafka.call(state.stores.events.send(&events)).await {
                Ok(written) => Ok((written, extra)),
                Err(error) => {
                    release_funds(&state, account, &payout_id).await;
                    Err(error)
                }
            }
        }
        .await;
        (ticket, outcome)
    })
    .await
}

/// `GET /vendors/application-status`: the caller's latest application to sell, or 404.
pub async fn application(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, AppError> {
    let user = caller.0.sub.as_str();
    let (as_of, mut applications) = read_as::<VendorApplication>(&state, Family::VendorApplication, &[user]).await?;
    let application = applications.pop().flatten().ok_or_else(|| AppError::not_found("vendor application"))?;
    Ok(Json(super::answer(&application, as_of)?))
}

/// `GET /vendor/orders?page=&pageSize=`: `{vendorId, items, total, page, pageSize, asOf}`,
/// the store's share of each of its orders, newest first.
pub async fn orders(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<PageQuery>,
) -> Result<Json<Value>, AppError> {
    let vendor = vendor_of(&caller)?;
    let (page, size) = query.get(PAGE_SIZE.0, PAGE_SIZE.1)?;
    let (as_of, mut items) = read_list::<VendorOrder>(&state, Family::VendorOrders, &vendor).await?;
    items.sort_by(|a, b| (b.created_at, &b.order_id).cmp(&(a.created_at, &a.order_id)));
    let total = items.len();
    let page_items: Vec<VendorOrder> = items.into_iter().skip((page - 1) * size).take(size).collect();
    Ok(Json(json!({
        "vendorId": vendor,
        "items": page_items,
        "total": total,
        "page": page,
        "pageSize": size,
        "asOf": as_of,
    })))
}

/// `GET /vendor/analytics?from=&to=&limit=`: the store's rows of `vendor_sales_daily`.
pub async fn analytics(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<RangeQuery>,
) -> Result<Json<Value>, AppError> {
    let vendor = vendor_of(&caller)?;
    let (from, to, limit) = checked(&query)?;
    rows(&state, Relation::VendorSales, Filter { from, to, equals: Some(("vendorId", &vendor)), limit }).await
}

/// `GET /vendor/payouts`: `{vendorId, sales, earnings, payouts, balance, pendingPayouts, items, asOf}`.
pub async fn payouts(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, AppError> {
    let vendor = vendor_of(&caller)?;
    let (as_of, view) = served_vendor(&state, &vendor).await?;
    let view = view.unwrap_or_else(|| VendorView {
        vendor_id: vendor.clone(),
        profile: Default::default(),
        sales: 0,
        earnings: 0,
        payouts: 0,
        balance: 0,
        pending_payouts: 0,
        payout_items: Vec::new(),
    });
    Ok(Json(json!({
        "vendorId": view.vendor_id,
        "sales": view.sales,
        "earnings": view.earnings,
        "payouts": view.payouts,
        "balance": view.balance,
        "pendingPayouts": view.pending_payouts,
        "items": view.payout_items,
        "asOf": as_of,
    })))
}
