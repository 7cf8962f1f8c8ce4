//! For search engines (seed 000's Marketing service): `GET /sitemap.xml`
//! lists every live product page and category page of the served catalog,
//! and `GET /api/v1/products/{id}` answers schema.org Product JSON-LD to
//! `Accept: application/ld+json`.
//!
//! Page addresses are `{public URL}/products/{id}` and
//! `{public URL}/categories/{id}`, the public URL from `--public-url`
//! (`SHOPFLOW_PUBLIC_URL`), or `http://{Host}` of the request without one.

use super::{read_as, Route};
use crate::error::AppError;
use crate::openapi::{Access, Doc, Input, Output};
use crate::AppState;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use shopflow_views::catalog::{CategoryTree, ProductView, TREE_KEY};
use shopflow_views::search::{Entry, ALL};
use shopflow_views::Family;
use std::collections::HashMap;

/// Most addresses one sitemap file holds (the sitemap protocol's limit).
pub const URLS_PER_SITEMAP: usize = 50_000;

/// The routes of this family.
pub fn routes() -> Vec<Route> {
    let doc = Doc {
        method: "GET",
        path: "/sitemap.xml",
        summary: "every live product and category page, for search engines (an index of pages past 50,000 addresses)",
        access: Access::Anyone,
        input: Input::Nothing,
        output: Output::Xml,
        query: &[("page", "a page of a sitemap index, from 1")],
    };
    vec![(doc, get(sitemap))]
}

/// The public address pages are under.
fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    match &state.public_url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => {
            let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
            format!("http://{host}")
        }
    }
}

/// `s` with XML's special characters escaped.
fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

fn xml(body: String) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/xml; charset=utf-8")], body).into_response()
}

/// `GET /sitemap.xml[?page=N]`.
pub async fn sitemap(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, AppError> {
    let page = match params.get("page") {
        None => None,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if n >= 1 => Some(n),
            _ => return Err(AppError::invalid_fields(vec![("page".into(), "a page number from 1".into())])),
        },
    };
    let base = base_url(&state, &headers);
    let served = state
        .breakers
        .redis
        .call(state.stores.views.read_lists(&[(Family::Listing, ALL)]))
        .await?
        .ok_or_else(|| AppError::unavailable("not_ready", "no state is published yet; is the pipeline running?"))?;
    let mut products: Vec<String> = served
        .lists
        .into_iter()
        .flatten()
        .map(|json| serde_json::from_str::<Entry>(&json).map(|e| e.product_id))
        .collect::<Result<_, _>>()
        .map_err(|e| AppError::store("redis", e))?;
    products.sort();
    let (_, mut trees) = read_as::<CategoryTree>(&state, Family::CategoryTree, &[TREE_KEY]).await?;
    let categories: Vec<String> =
        trees.pop().flatten().map(|t| t.items.into_iter().map(|c| c.category_id).collect()).unwrap_or_default();
    let urls: Vec<String> = categories
        .iter()
        .map(|id| format!("{base}/categories/{id}"))
        .chain(products.iter().map(|id| format!("{base}/products/{id}")))
        .collect();
    let pages = urls.len().div_ceil(URLS_PER_SITEMAP).max(1);
    let mut body = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    match page {
        None if pages > 1 => {
            body.push_str("<sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n");
            for n in 1..=pages {
                body.push_str(&format!(
                    "  <sitemap><loc>{}</loc></sitemap>\n",
                    xml_escape(&format!("{base}/sitemap.xml?page={n}"))
                ));
            }
            body.push_str("</sitemapindex>\n");
        }
        _ => {
            let n = page.unwrap_or(1);
            body.push_str("<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n");
            for url in urls.iter().skip((n - 1) * URLS_PER_SITEMAP).take(URLS_PER_SITEMAP) {
                body.push_str(&format!("  <url><loc>{}</loc></url>\n", xml_escape(url)));
            }
            body.push_str("</urlset>\n");
        }
    }
    Ok(xml(body))
}

/// Whether a request asks for JSON-LD.
pub fn wants_json_ld(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|a| a.to_str().ok()).is_some_and(|a| a.contains("application/ld+json"))
}

/// A product as schema.org JSON-LD: name, description, images, an offer
/// (price in major units: minor units / 100; in stock when `available` > 0),
/// and its rating when it has reviews.
pub fn json_ld(product: &ProductView, available: i64, rating: Option<(i64, Option<f64>)>) -> Response {
    let price = format!("{}.{:02}", product.price.div_euclid(100), product.price.rem_euclid(100));
    let availability = if available > 0 { "https://schema.org/InStock" } else { "https://schema.org/OutOfStock" };
    let mut body = json!({
        "@context": "https://schema.org",
        "@type": "Product",
        "productID": product.product_id,
        "sku": product.product_id,
        "name": product.name,
        "description": product.description,
        "image": product.images,
        "category": product.category_id,
        "offers": {"@type": "Offer", "price": price, "priceCurrency": product.currency, "availability": availability},
    });
    if let Some((count, Some(mean))) = rating.filter(|(count, _)| *count > 0) {
        body["aggregateRating"] = json!({"@type": "AggregateRating", "ratingValue": mean, "reviewCount": count});
    }
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/ld+json")], body.to_string()).into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn xml_is_escaped() {
        assert_eq!(super::xml_escape("a&b<c>\"'"), "a&amp;b&lt;c&gt;&quot;&apos;");
    }

    #[test]
    fn json_ld_prices_in_major_units_and_rates_only_with_reviews() {
        let product = shopflow_views::catalog::ProductView {
            product_id: "prd-1".into(),
            vendor_id: "ven-1".into(),
            name: "Lamp".into(),
            description: "A lamp".into(),
            category_id: "cat-1".into(),
            categories: vec!["cat-1".into()],
            price: 2_505,
            currency: "USD".into(),
            attributes: Default::default(),
            images: vec![],
            deleted: false,
            created_at: shopflow_topics::EventTime(0),
        };
        let body = |response: axum::response::Response| {
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let bytes = runtime.block_on(axum::body::to_bytes(response.into_body(), 1 << 16)).unwrap();
            serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()
        };
        let ld = body(super::json_ld(&product, 0, Some((0, None))));
        assert_eq!(ld["offers"]["price"], "25.05");
        assert_eq!(ld["offers"]["availability"], "https://schema.org/OutOfStock");
        assert!(ld.get("aggregateRating").is_none());
        let ld = body(super::json_ld(&product, 3, Some((2, Some(4.5)))));
        assert_eq!(ld["aggregateRating"]["ratingValue"], 4.5);
        assert_eq!(ld["offers"]["availability"], "https://schema.org/InStock");
    }
}
