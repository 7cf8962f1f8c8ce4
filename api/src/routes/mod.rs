//! One module per family of routes, each with its handlers and a `routes()`
//! list of them with their descriptions; [`all`] is their concatenation, from
//! which both the router and `/openapi.json` are made.
//!
//! - `status` — health, readiness, metrics, this document, the served frontier.
//! - `session` — refresh tokens.
//! - `accounts` — register, sign in and out, password resets, second factors, profiles, suspension.
//! - `catalog` — products, inventory; the admin's catalog and stock writes.
//! - `reviews` — a product's reviews; posting and moderating them.
//! - `recommend` — bought/viewed together, trending, a shopper's recommendations.
//! - `search` — suggestions and trending searches.
//! - `seo` — the sitemap, and products as schema.org JSON-LD.
//! - `carts` — the caller's cart and its writes.
//! - `orders` — orders, checkout, cancel, return.
//! - `payments` — payment initiation, the provider's callback, wallet top-ups, refunds.
//! - `vendors` — applications, a vendor's own products, stock and payouts; the admin's decisions.
//! - `promotions`, `shipping`, `clickstream` — the writes of those topics.
//! - `analytics` — the ClickHouse relations.
//! - `fraud` — the users the fraud rules flag.
//! - `notifications` — the caller's notification preferences.
//! - `dashboard` — `GET /`, the dashboard page.
//! - `admin` — the latest alerts, the dead letters, and replaying a corrected one.

pub mod accounts;
pub mod admin;
pub mod analytics;
pub mod carts;
pub mod catalog;
pub mod clickstream;
pub mod dashboard;
pub mod fraud;
pub mod notifications;
pub mod orders;
pub mod payments;
pub mod promotions;
pub mod recommend;
pub mod reviews;
pub mod search;
pub mod seo;
pub mod session;
pub mod shipping;
pub mod status;
pub mod vendors;

use crate::error::AppError;
use crate::openapi::{Access, Doc, Input, Output};
use crate::AppState;
use axum::routing::MethodRouter;
use serde::de::DeserializeOwned;
use serde_json::Value;
use shopflow_views::catalog::ProductView;
use shopflow_views::Family;

/// A route: its description and its handler.
pub type Route = (Doc, MethodRouter<AppState>);

/// Every route of the API.
pub fn all() -> Vec<Route> {
    [
        status::routes(),
        session::routes(),
        accounts::routes(),
        catalog::routes(),
        reviews::routes(),
        recommend::routes(),
        search::routes(),
        carts::routes(),
        orders::routes(),
        payments::routes(),
        vendors::routes(),
        promotions::routes(),
        shipping::routes(),
        clickstream::routes(),
        analytics::routes(),
        fraud::routes(),
        admin::routes(),
        notifications::routes(),
        seo::routes(),
        dashboard::routes(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// A read: GET, a JSON object.
pub const fn read_doc(path: &'static str, summary: &'static str, access: Access) -> Doc {
    Doc { method: "GET", path, summary, access, input: Input::Nothing, output: Output::Object, query: &[] }
}

/// A write with a body of `input`, answered 202.
pub const fn write_doc(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    access: Access,
    input: Input,
) -> Doc {
    Doc { method, path, summary, access, input, output: Output::Written, query: &[] }
}

/// Any path the API does not have.
pub async fn not_found() -> AppError {
    AppError::not_found("route")
}

/// 503 before anything is published.
pub(crate) fn not_ready() -> AppError {
    AppError::unavailable("not_ready", "no state is published yet; is the pipeline running?")
}

/// Reads objects of the current generation: (asOf, values).
pub async fn read(state: &AppState, objects: &[(Family, &str)]) -> Result<(i64, Vec<Option<Value>>), AppError> {
    read_objects(state, objects).await
}

/// Reads objects of one family of the current generation as the read model's type: (asOf, values).
pub async fn read_as<T: DeserializeOwned>(
    state: &AppState,
    family: Family,
    keys: &[&str],
) -> Result<(i64, Vec<Option<T>>), AppError> {
    let objects: Vec<(Family, &str)> = keys.iter().map(|key| (family, *key)).collect();
    read_objects(state, &objects).await
}

/// Reads objects of the current generation, each as a `T`, in one step.
pub async fn read_objects<T: DeserializeOwned>(
    state: &AppState,
    objects: &[(Family, &str)],
) -> Result<(i64, Vec<Option<T>>), AppError> {
    let served = state.breakers.redis.call(state.stores.views.read(objects)).await?.ok_or_else(not_ready)?;
    let values = served
        .values
        .into_iter()
        .map(|v| v.map(|json| serde_json::from_str(&json)).transpose())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| AppError::store("redis", e))?;
    Ok((served.as_of, values))
}

/// `value` with `asOf` added.
pub fn with_as_of(mut value: Value, as_of: i64) -> Value {
    if let Value::Object(map) = &mut value {
        map.insert("asOf".into(), Value::from(as_of));
    }
    value
}

/// A served object as JSON, with `asOf`.
pub fn answer<T: serde::Serialize>(view: &T, as_of: i64) -> Result<Value, AppError> {
    let value = serde_json::to_value(view).map_err(|e| AppError::store("redis", e))?;
    Ok(with_as_of(value, as_of))
}

/// 400 unless `id` is a valid id of the contract.
pub fn check_id(field: &str, id: &str) -> Result<(), AppError> {
    if shopflow_topics::fields::is_valid_id(id) {
        Ok(())
    } else {
        Err(AppError::bad_request(format!("{field}: ids are 1-64 characters of [A-Za-z0-9._:-]")))
    }
}

/// The product a read found, or 404 when the catalog does not have it or has deleted it.
pub fn live_product(product: Option<ProductView>) -> Result<ProductView, AppError> {
    product.filter(|p| !p.deleted).ok_or_else(|| AppError::not_found("product"))
}

/// `?page=&pageSize=` of a paged list.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageQuery {
    /// 1-based page.
    page: Option<String>,
    /// Items per page.
    page_size: Option<String>,
}

impl PageQuery {
    /// `(page, pageSize)`: `pageSize` defaults to `default` and is at most `max`; 400 naming a bad one.
    pub fn get(&self, default: usize, max: usize) -> Result<(usize, usize), AppError> {
        fn number(field: &str, value: Option<&str>, default: usize, max: usize) -> Result<usize, AppError> {
            match value {
                None => Ok(default),
                Some(text) => match text.parse::<usize>() {
                    Ok(n) if (1..=max).contains(&n) => Ok(n),
                    _ => Err(AppError::bad_request(format!("{field}: an integer from 1 to {max}"))),
                },
            }
        }
        let page = number("page", self.page.as_deref(), 1, 1_000_000)?;
        Ok((page, number("pageSize", self.page_size.as_deref(), default, max)?))
    }
}

/// One page of `items`, already in order: `{items, total, page, pageSize}`.
pub fn paged<T: serde::Serialize>(items: Vec<T>, (page, size): (usize, usize)) -> Value {
    let total = items.len();
    let items: Vec<T> = items.into_iter().skip((page - 1) * size).take(size).collect();
    serde_json::json!({"items": items, "total": total, "page": page, "pageSize": size})
}

/// The members of one list of a hashed family ([`Family::hashed`]), as `T`, in no order; with `asOf`.
pub async fn read_list<T: DeserializeOwned>(
    state: &AppState,
    family: Family,
    list: &str,
) -> Result<(i64, Vec<T>), AppError> {
    let lists = [(family, list)];
    let served = state.breakers.redis.call(state.stores.views.read_lists(&lists)).await?.ok_or_else(not_ready)?;
    let members = served
        .lists
        .into_iter()
        .flatten()
        .map(|json| serde_json::from_str(&json).map_err(|e| AppError::store("redis", e)))
        .collect::<Result<_, _>>()?;
    Ok((served.as_of, members))
}
