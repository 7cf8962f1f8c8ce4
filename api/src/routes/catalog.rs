//! The catalog as shoppers read it (`GET /products/{id}`, `GET
//! /inventory/{id}`) and as admins write it (products, categories, stock).

use super::{answer, check_id, read, read_as, read_doc, Route};
use crate::answers::{Answers, Rendered};
use crate::error::AppError;
use crate::openapi::{Access, Doc};
use crate::write::table::{route, Spec, Verb, Who};
use crate::AppState;
use axum::extract::{Path, Query as QueryString, State};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Json;
use serde_json::{json, Value};
use shopflow_topics::events::{
    CategoryUpserted, InventoryAdjusted, ProductCreated, ProductDeleted, ProductUpdated, StockReceived,
};
use shopflow_views::catalog::{CategoryNode, CategoryTree, ProductView, TREE_KEY};
use shopflow_views::inventory::InventoryView;
use shopflow_views::reviews::{rating_mean, RatingView};
use shopflow_views::search::{self, evaluate, Entry, Found, Query, Sort, ALL};
use shopflow_views::Family;
use std::collections::{BTreeMap, HashMap};

/// The routes of this family.
pub fn routes() -> Vec<Route> {
    use Verb::{Delete, Post, Put};
    use Who::Admin;
    vec![
        (
            Doc {
                query: LIST_QUERY,
                ..read_doc("/api/v1/products", "live products: listing, search, facets", Access::Anyone)
            },
            get(products),
        ),
        (read_doc("/api/v1/products/{id}", "a product with available stock and rating", Access::Anyone), get(product)),
        (read_doc("/api/v1/categories", "the category tree with live product counts", Access::Anyone), get(categories)),
        (
            Doc {
                query: &[
                    ("page", "1-based, default 1"),
                    ("pageSize", "1-100, default 20"),
                    ("sort", "price, -price, newest (default), relevance"),
                ],
                ..read_doc(
                    "/api/v1/categories/{id}/products",
                    "a category's live products, descendants included",
                    Access::Anyone,
                )
            },
            get(category_products),
        ),
        (read_doc("/api/v1/inventory/{id}", "stock of a product", Access::Anyone), get(inventory)),
        route(
            Spec::new(Post, "/api/v1/admin/products", ProductCreated::TYPE_NAME, Admin).generated("productId", "prd"),
            ProductCreated::TYPE_NAME,
        ),
        route(
            Spec::new(Put, "/api/v1/admin/products/{id}", ProductUpdated::TYPE_NAME, Admin).path_field("productId"),
            ProductUpdated::TYPE_NAME,
        ),
        route(
            Spec::new(Delete, "/api/v1/admin/products/{id}", ProductDeleted::TYPE_NAME, Admin).path_field("productId"),
            ProductDeleted::TYPE_NAME,
        ),
        route(
            Spec::new(Post, "/api/v1/admin/categories", CategoryUpserted::TYPE_NAME, Admin)
                .generated("categoryId", "cat"),
            CategoryUpserted::TYPE_NAME,
        ),
        route(Spec::new(Post, "/api/v1/admin/inventory", StockReceived::TYPE_NAME, Admin), StockReceived::TYPE_NAME),
        route(
            Spec::new(Post, "/api/v1/admin/inventory/adjust", InventoryAdjusted::TYPE_NAME, Admin),
            InventoryAdjusted::TYPE_NAME,
        ),
    ]
}

/// The query parameters of `GET /products`.
const LIST_QUERY: &[(&str, &str)] = &[
    ("q", "words every result holds (name, description, category name, attribute values)"),
    ("category", "a categoryId: it and its descendants"),
    ("minPrice", "minor units, inclusive"),
    ("maxPrice", "minor units, inclusive"),
    ("vendor", "a vendorId"),
    ("sort", "relevance (default with q), price, -price, newest (default without q)"),
    ("page", "1-based, default 1"),
    ("pageSize", "1-100, default 20"),
];

/// Most words a query may have.
pub const MAX_QUERY_TERMS: usize = 10;

/// A listed product, as `GET /products` answers it.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Listed<'a> {
    product_id: &'a str,
    name: &'a str,
    price: i64,
    currency: &'a str,
    vendor_id: &'a str,
    category_id: &'a str,
    created_at: shopflow_topics::EventTime,
}

impl<'a> From<&'a Entry> for Listed<'a> {
    fn from(e: &'a Entry) -> Listed<'a> {
        Listed {
            product_id: &e.product_id,
            name: &e.name,
            price: e.price,
            currency: &e.currency,
            vendor_id: &e.vendor_id,
            category_id: &e.category_id,
            created_at: e.created_at,
        }
    }
}

/// Reads the query string of a listing; a 400 names every bad parameter.
fn parse_query(params: &HashMap<String, String>, category: Option<String>) -> Result<Query, AppError> {
    let mut bad: Vec<(String, String)> = Vec::new();
    let mut number = |name: &str, min: i64, max: i64| -> Option<i64> {
        let text = params.get(name)?;
        match text.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                bad.push((name.to_string(), format!("an integer {min}..{max}")));
                None
            }
        }
    };
    let min_price = number("minPrice", 0, i64::MAX);
    let max_price = number("maxPrice", 0, i64::MAX);
    let page = number("page", 1, 1_000_000).unwrap_or(1) as usize;
    let page_size = number("pageSize", 1, 100).unwrap_or(20) as usize;
    let mut terms: Vec<String> = Vec::new();
    for term in search::terms(params.get("q").map_or("", String::as_str)) {
        if !terms.contains(&term) {
            terms.push(term);
        }
    }
    if terms.len() > MAX_QUERY_TERMS {
        bad.push(("q".to_string(), format!("at most {MAX_QUERY_TERMS} words")));
    }
    let sort = match params.get("sort") {
        None if terms.is_empty() => Sort::Newest,
        None => Sort::Relevance,
        Some(text) => Sort::parse(text).unwrap_or_else(|| {
            bad.push(("sort".to_string(), "relevance, price, -price or newest".to_string()));
            Sort::Relevance
        }),
    };
    let category = category.or_else(|| params.get("category").cloned());
    for (field, id) in [("category", &category), ("vendor", &params.get("vendor").cloned())] {
        if let Some(id) = id {
            if !shopflow_topics::fields::is_valid_id(id) {
                bad.push((field.to_string(), "ids are 1-64 characters of [A-Za-z0-9._:-]".to_string()));
            }
        }
    }
    if let (Some(min), Some(max)) = (min_price, max_price) {
        if min > max {
            bad.push(("minPrice".to_string(), "at most maxPrice".to_string()));
        }
    }
    if !bad.is_empty() {
        return Err(AppError::invalid_fields(bad));
    }
    Ok(Query { terms, category, min_price, max_price, vendor: params.get("vendor").cloned(), sort, page, page_size })
}

/// Answers a listing or search from one read of the lists it needs.
async fn listing(state: &AppState, query: Query) -> Result<axum::response::Response, AppError> {
    let mut lists: Vec<(Family, &str)> = query.terms.iter().map(|term| (Family::SearchTerm, term.as_str())).collect();
    let listed = match (&query.category, query.terms.is_empty()) {
        (Some(category), _) => Some(category.as_str()),
        (None, true) => Some(ALL),
        (None, false) => None,
    };
    if let Some(list) = listed {
        lists.push((Family::Listing, list));
    }
    let not_ready = || AppError::unavailable("not_ready", "no state is published yet; is the pipeline running?");
    let versions = state.breakers.redis.call(state.stores.views.list_versions(&lists)).await?.ok_or_else(not_ready)?;
    let kept = Answers::key(&versions.generation, &versions.versions, &query);
    if let Some(rendered) = state.answers.get(&kept) {
        return Ok(answer_body(&rendered, versions.as_of));
    }
    let _turn = state.answers.miss_turn().await;
    if let Some(rendered) = state.answers.get(&kept) {
        // Answered while this one waited (the lists may have moved on since: the answer and
        // its versions still belong together, and the versions were current when read).
        return Ok(answer_body(&rendered, versions.as_of));
    }
    let served = state.breakers.redis.call(state.stores.views.read_lists(&lists)).await?.ok_or_else(not_ready)?;
    let parse = |members: Vec<String>| -> Result<Vec<Entry>, AppError> {
        members.iter().map(|json| serde_json::from_str(json).map_err(|e| AppError::store("redis", e))).collect()
    };
    let mut parts = served.lists.into_iter();
    let term_members: Vec<Vec<String>> = query.terms.iter().map(|_| parts.next().unwrap_or_default()).collect();
    let term_lists = intersected(term_members)?;
    let listing = match listed {
        Some(_) => Some(parse(parts.next().unwrap_or_default())?),
        None => None,
    };
    let rendered = render(&evaluate(&term_lists, listing.as_deref(), &query))?;
    state.answers.put(Answers::key(&served.generation, &served.versions, &query), rendered.clone());
    Ok(answer_body(&rendered, served.as_of))
}

/// What intersecting needs of a posting list's entry, read without allocating.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Posting<'a> {
    #[serde(borrow)]
    product_id: std::borrow::Cow<'a, str>,
    fields: u8,
}

/// The posting lists of a query's terms (members as served) cut to the
/// products every list holds, for [`evaluate`]: the shortest list first and
/// whole, the others reduced to what `evaluate` reads of a later list (the
/// product and the fields it matched). A list of a common word in a large
/// catalog has thousands of entries that a rarer word rules out: they are
/// scanned for their product id, never built. Lists with no member are left
/// out, as `evaluate` expects.
fn intersected(mut members: Vec<Vec<String>>) -> Result<Vec<Vec<Entry>>, AppError> {
    members.retain(|list| !list.is_empty());
    members.sort_by_key(Vec::len);
    let corrupt = |e: serde_json::Error| AppError::store("redis", e);
    let postings: Vec<Vec<Posting>> = members
        .iter()
        .map(|list| list.iter().map(|json| serde_json::from_str(json)).collect::<Result<Vec<_>, _>>())
        .collect::<Result<_, _>>()
        .map_err(corrupt)?;
    let mut kept: std::collections::HashSet<&str> =
        postings.first().into_iter().flatten().map(|p| p.product_id.as_ref()).collect();
    for list in postings.iter().skip(1) {
        let here: std::collections::HashSet<&str> = list.iter().map(|p| p.product_id.as_ref()).collect();
        kept.retain(|id| here.contains(id));
    }
    let mut lists = Vec::with_capacity(members.len());
    for (i, list) in postings.iter().enumerate() {
        let mut entries = Vec::new();
        for (posting, json) in list.iter().zip(&members[i]) {
            if !kept.contains(posting.product_id.as_ref()) {
                continue;
            }
            entries.push(if i == 0 {
                serde_json::from_str(json).map_err(corrupt)?
            } else {
                Entry {
                    product_id: posting.product_id.to_string(),
                    fields: posting.fields,
                    name: String::new(),
                    price: 0,
                    currency: String::new(),
                    vendor_id: String::new(),
                    category_id: String::new(),
                    created_at: shopflow_topics::EventTime(0),
                }
            });
        }
        lists.push(entries);
    }
    Ok(lists)
}

/// The body of a listing or search answer, `{items, facets, total, asOf}`, up to its `asOf`.
fn render(found: &Found) -> Result<Rendered, AppError> {
    #[derive(serde::Serialize)]
    struct Body<'a> {
        items: Vec<Listed<'a>>,
        facets: &'a search::Facets,
        total: usize,
    }
    let body =
        Body { items: found.items.iter().map(Listed::from).collect(), facets: &found.facets, total: found.total };
    let mut json = serde_json::to_vec(&body).map_err(|e| {
        AppError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, "internal", format!("rendering an answer: {e}"))
    })?;
    json.pop(); // the closing brace: `asOf` follows
    json.extend_from_slice(br#","asOf":"#);
    Ok(Rendered(json.into()))
}

/// A listing or search answer with its `asOf`.
fn answer_body(rendered: &Rendered, as_of: i64) -> axum::response::Response {
    let json = axum::http::HeaderValue::from_static("application/json");
    ([(axum::http::header::CONTENT_TYPE, json)], rendered.with_as_of(as_of)).into_response()
}

/// `GET /products?...`: live products, by category, words, price, vendor; sorted and paged, with facets.
pub async fn products(
    State(state): State<AppState>,
    QueryString(params): QueryString<HashMap<String, String>>,
) -> Result<axum::response::Response, AppError> {
    let query = parse_query(&params, None)?;
    listing(&state, query).await
}

/// `GET /categories/{id}/products?page=&pageSize=&sort=`: a category's live products.
pub async fn category_products(
    State(state): State<AppState>,
    Path(id): Path<String>,
    QueryString(mut params): QueryString<HashMap<String, String>>,
) -> Result<axum::response::Response, AppError> {
    check_id("id", &id)?;
    params.remove("q");
    let query = parse_query(&params, Some(id))?;
    listing(&state, query).await
}

/// One category with its children, as `GET /categories` answers it.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Branch<'a> {
    category_id: &'a str,
    name: &'a str,
    product_count: i64,
    children: Vec<Branch<'a>>,
}

/// The tree of `nodes`: roots are the categories without a known parent;
/// a category under a cycle of parents is shown once, as a root.
fn branches(nodes: &[CategoryNode]) -> Vec<Branch<'_>> {
    let known: BTreeMap<&str, &CategoryNode> = nodes.iter().map(|n| (n.category_id.as_str(), n)).collect();
    let mut children: BTreeMap<&str, Vec<&CategoryNode>> = BTreeMap::new();
    for node in nodes {
        if let Some(parent) = node.parent_id.as_deref().filter(|p| known.contains_key(p)) {
            children.entry(parent).or_default().push(node);
        }
    }
    fn grow<'a>(
        node: &'a CategoryNode,
        children: &BTreeMap<&str, Vec<&'a CategoryNode>>,
        placed: &mut std::collections::BTreeSet<&'a str>,
    ) -> Branch<'a> {
        placed.insert(&node.category_id);
        let mut grown = Vec::new();
        for child in children.get(node.category_id.as_str()).into_iter().flatten() {
            if !placed.contains(child.category_id.as_str()) {
                grown.push(grow(child, children, placed));
            }
        }
        Branch { category_id: &node.category_id, name: &node.name, product_count: node.product_count, children: grown }
    }
    let mut placed = std::collections::BTreeSet::new();
    let mut roots = Vec::new();
    for node in nodes.iter().filter(|n| n.parent_id.as_deref().is_none_or(|p| !known.contains_key(p))) {
        roots.push(grow(node, &children, &mut placed));
    }
    // What a cycle of parents left unplaced.
    for node in nodes {
        if !placed.contains(node.category_id.as_str()) {
            roots.push(grow(node, &children, &mut placed));
        }
    }
    roots
}

/// `GET /categories`: the tree, roots first, each with its live product count (descendants included).
pub async fn categories(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    let (as_of, mut trees) = read_as::<CategoryTree>(&state, Family::CategoryTree, &[TREE_KEY]).await?;
    let tree = trees.pop().flatten().unwrap_or(CategoryTree { items: Vec::new() });
    Ok(Json(json!({"items": branches(&tree.items), "asOf": as_of})))
}

/// A product with its `available` stock and rating `{count, mean}`; deleted
/// products answer 404. To `Accept: application/ld+json`, schema.org
/// Product JSON-LD (`seo`).
pub async fn product(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
) -> Result<axum::response::Response, AppError> {
    check_id("id", &id)?;
    let objects = [(Family::Product, id.as_str()), (Family::Inventory, &id), (Family::Rating, &id)];
    let (as_of, mut values) = read(&state, &objects).await?;
    let corrupt = |e: serde_json::Error| AppError::store("redis", e);
    let rating = values.pop().flatten().map(serde_json::from_value::<RatingView>).transpose().map_err(corrupt)?;
    let inventory = values.pop().flatten().map(serde_json::from_value::<InventoryView>).transpose().map_err(corrupt)?;
    let product = values.pop().flatten().map(serde_json::from_value::<ProductView>).transpose().map_err(corrupt)?;
    let product = super::live_product(product)?;
    let available = inventory.map_or(0, |i| i.available);
    if super::seo::wants_json_ld(&headers) {
        let rating = rating.as_ref().map(|r| (r.count, r.mean()));
        return Ok(super::seo::json_ld(&product, available, rating));
    }
    let mut body = answer(&product, as_of)?;
    body["available"] = Value::from(available);
    body["rating"] = rating_of(rating.as_ref().map(|r| (r.count, r.sum)));
    Ok(Json(body).into_response())
}

/// Stock of a product: on hand per warehouse, reserved, available.
pub async fn inventory(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, AppError> {
    check_id("productId", &id)?;
    let (as_of, mut values) = read_as::<InventoryView>(&state, Family::Inventory, &[&id]).await?;
    let inventory = values.pop().flatten().ok_or_else(|| AppError::not_found("inventory"))?;
    Ok(Json(answer(&inventory, as_of)?))
}

/// `{count, mean}` of (count, sum) of ratings: the mean of the read model
/// ([`rating_mean`]), null without reviews.
pub fn rating_of(count_and_sum: Option<(i64, i64)>) -> Value {
    let (count, sum) = count_and_sum.unwrap_or((0, 0));
    json!({"count": count, "mean": rating_mean(count, sum)})
}

/// 400 naming `field` unless the served catalog has the product (not deleted).
pub async fn require_live_product(state: &AppState, product: &str, field: &str) -> Result<ProductView, AppError> {
    let (_, mut products) = read_as::<ProductView>(state, Family::Product, &[product]).await?;
    products
        .pop()
        .flatten()
        .filter(|p| !p.deleted)
        .ok_or_else(|| AppError::invalid_fields(vec![(field.to_string(), format!("no product {product}"))]))
}

#[cfg(test)]
mod tests {
    use shopflow_views::search::Entry;

    fn member(id: &str, fields: u8, price: i64) -> String {
        let entry = Entry {
            product_id: id.to_string(),
            fields,
            name: format!("name of {id}"),
            price,
            currency: "USD".to_string(),
            vendor_id: "ven-1".to_string(),
            category_id: "cat-1".to_string(),
            created_at: shopflow_topics::EventTime(price),
        };
        serde_json::to_string(&entry).unwrap()
    }

    #[test]
    fn intersected_lists_put_the_shortest_first_whole_and_keep_only_products_in_every_list() {
        let long = vec![member("p1", 1, 10), member("p2", 2, 20), member("p3", 4, 30), member("p4", 1, 40)];
        let short = vec![member("p3", 2, 30), member("p9", 1, 90), member("p1", 3, 10)];
        let lists = super::intersected(vec![long, Vec::new(), short]).unwrap();
        assert_eq!(lists.len(), 2, "the empty list is left out");
        let first: Vec<(&str, u8, i64, &str)> =
            lists[0].iter().map(|e| (e.product_id.as_str(), e.fields, e.price, e.name.as_str())).collect();
        assert_eq!(first, [("p3", 2, 30, "name of p3"), ("p1", 3, 10, "name of p1")]);
        let later: Vec<(&str, u8)> = lists[1].iter().map(|e| (e.product_id.as_str(), e.fields)).collect();
        assert_eq!(later, [("p1", 1), ("p3", 4)]);
        assert!(super::intersected(vec![vec!["not json".to_string()]]).is_err());
    }

    #[test]
    fn rating_means_have_two_decimals_and_none_without_reviews() {
        assert_eq!(super::rating_of(Some((3, 13))), serde_json::json!({"count": 3, "mean": 4.33}));
        assert_eq!(super::rating_of(None), serde_json::json!({"count": 0, "mean": null}));
    }
}
