//! `GET /`: the dashboard, one page embedded in the binary (no CDN: the
//! machines it runs on may have no internet). It draws from the API itself —
//! sales by day, the funnel, trending products, top and zero-result
//! searches, the consumer lag, the frontier age and the dead letters — and
//! refreshes every 5 s (`?refresh=MS`). The admin token is entered once and
//! kept in the tab's session storage (or given once as `#token=...`, which
//! the page takes and removes from the address).

use super::Route;
use crate::openapi::{Access, Doc, Input, Output};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

/// The page.
pub const PAGE: &str = include_str!("../../assets/dashboard.html");

/// The routes of this family.
pub fn routes() -> Vec<Route> {
    let doc = Doc {
        method: "GET",
        path: "/",
        summary: "the dashboard: live charts of sales, the funnel, trending products, searches and the pipeline",
        access: Access::Anyone,
        input: Input::Nothing,
        output: Output::Html,
        query: &[],
    };
    vec![(doc, get(page))]
}

/// The handler.
pub async fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        PAGE,
    )
}
