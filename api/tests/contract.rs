//! The route list is the contract: every route of `shared/contract/api.md`
//! (its tables, and the operations it names) must be a route of the router,
//! and every route of the router a route of the contract. Routes of issues
//! still open are allowed to be missing, and are listed below; the list
//! shrinks as they land. The contract sits beside the repository
//! (`../shared`); without it there is nothing to compare.

use std::collections::BTreeSet;
use std::path::Path;

/// Contract routes no issue has built yet: (method, path with `{}` for parameters).
const NOT_BUILT_YET: &[(&str, &str)] = &[];

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "PATCH"];

/// `{id}` and `{a,b}` alike become `{}`; a query string goes.
fn normalize(path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    let mut out = String::new();
    let mut depth = 0;
    for c in path.chars() {
        match c {
            '{' => {
                depth += 1;
                if depth == 1 {
                    out.push_str("{}");
                }
            }
            '}' => depth -= 1,
            _ if depth > 0 => {}
            _ => out.push(c),
        }
    }
    out
}

/// The routes one line of the contract names: backticked `METHOD /path`, a
/// `/path` going on with the method before it (one segment: the last
/// segment of the path before replaced), and `` `GET`/`PUT /path` ``.
fn routes_of(line: &str, operations: bool) -> Vec<(String, String)> {
    let parts: Vec<&str> = line.split('`').skip(1).step_by(2).collect();
    let mut out = Vec::new();
    let mut methods: Vec<String> = Vec::new();
    let mut last_path = String::new();
    let mut pending: Vec<String> = Vec::new();
    for part in parts {
        let part = part.trim();
        if METHODS.contains(&part) {
            pending.push(part.to_string());
            continue;
        }
        let (method, path) = match part.split_once(' ') {
            Some((m, p)) if METHODS.contains(&m) && p.starts_with('/') => (Some(m), p),
            _ if part.starts_with('/') => (None, part),
            _ => continue,
        };
        if let Some(method) = method {
            pending.push(method.to_string());
            methods = std::mem::take(&mut pending);
        }
        let path = path.split_whitespace().next().unwrap_or(path);
        let full = if method.is_none() && path.matches('/').count() == 1 && !last_path.is_empty() {
            // `/viewed-together` after `/products/{id}/bought-together`.
            let base = last_path.rsplit_once('/').map_or("", |(base, _)| base);
            format!("{base}{path}")
        } else {
            path.to_string()
        };
        last_path = full.clone();
        let top_level = operations && !full.starts_with("/api/v1");
        let full = if full.starts_with("/api/v1") || top_level { full } else { format!("/api/v1{full}") };
        for method in &methods {
            out.push((method.clone(), normalize(&full)));
        }
    }
    out
}

#[test]
fn the_router_has_the_contracts_routes_and_no_others() {
    let contract = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/contract/api.md");
    let Ok(text) = std::fs::read_to_string(&contract) else {
        eprintln!("{} not found; skipped", contract.display());
        return;
    };
    let mut promised: BTreeSet<(String, String)> = BTreeSet::new();
    let mut section = "";
    for line in text.lines() {
        if let Some(title) = line.strip_prefix("## ") {
            section = title;
            continue;
        }
        let in_table = line.starts_with("| `");
        let in_operations = section == "Operations";
        if in_table {
            let first_cell = line.split('|').nth(1).unwrap_or("");
            promised.extend(routes_of(first_cell, false));
        } else if in_operations {
            promised.extend(routes_of(line, true));
        }
    }
    assert!(promised.len() > 60, "parsed too few routes: {promised:?}");
    let served: BTreeSet<(String, String)> =
        shopflow_api::docs().iter().map(|d| (d.method.to_string(), normalize(d.path))).collect();
    let not_yet: BTreeSet<(String, String)> =
        NOT_BUILT_YET.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();

    let missing: Vec<_> = promised.difference(&served).filter(|r| !not_yet.contains(r)).collect();
    assert!(missing.is_empty(), "routes of the contract the router lacks: {missing:?}");
    let extra: Vec<_> = served.difference(&promised).collect();
    assert!(extra.is_empty(), "routes of the router the contract lacks: {extra:?}");
    let built: Vec<_> = not_yet.intersection(&served).collect();
    assert!(built.is_empty(), "built now: take them off NOT_BUILT_YET: {built:?}");
    let unknown: Vec<_> = not_yet.difference(&promised).collect();
    assert!(unknown.is_empty(), "NOT_BUILT_YET names routes the contract does not: {unknown:?}");
}

#[test]
fn contract_lines_parse_as_the_routes_they_name() {
    let parse = |line: &str| routes_of(line, false);
    assert_eq!(
        parse("`GET /products/{id}/bought-together` · `/viewed-together`"),
        [
            ("GET".into(), "/api/v1/products/{}/bought-together".into()),
            ("GET".into(), "/api/v1/products/{}/viewed-together".into())
        ]
    );
    assert_eq!(
        parse("`GET`/`PUT /notifications/preferences`"),
        [
            ("GET".into(), "/api/v1/notifications/preferences".into()),
            ("PUT".into(), "/api/v1/notifications/preferences".into())
        ]
    );
    assert_eq!(
        parse("`POST /cart/items` `{productId, quantity}` · `DELETE /cart/items/{productId}`"),
        [("POST".into(), "/api/v1/cart/items".into()), ("DELETE".into(), "/api/v1/cart/items/{}".into())]
    );
    assert_eq!(
        parse("`GET /admin/analytics/{sales,funnel,products,search}`"),
        [("GET".to_string(), "/api/v1/admin/analytics/{}".to_string())]
    );
    assert_eq!(routes_of("`GET /health` (process up)", true), [("GET".to_string(), "/health".to_string())]);
}
