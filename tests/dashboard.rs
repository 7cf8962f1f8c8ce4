//! The dashboard in a real browser: Debian's Chromium, headless, opens
//! `GET /` of a `shopflow run` over a seeded shop (the real broker, Redis and
//! ClickHouse) and the test reads what a person would see — every bar of the
//! sales chart, the funnel, the trending products, the top and zero-result
//! searches and the pipeline's figures — against the API's own answers,
//! after several live refreshes. Screenshots for a laptop and a phone are
//! saved under `.shopflow/` for people to look at.

mod support;

use serde_json::Value;
use shopflow_api::auth::{Auth, Role};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use support::api::SECRET;
use support::{exchange, status_and_body, wait_until};

fn get(port: u16, path: &str, token: &str) -> Value {
    let answer = exchange(port, "GET", path, Some(token), "");
    let (status, body) = status_and_body(&answer);
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(body).unwrap()
}

/// Chromium, headless, on `url` for `budget_ms` of virtual time (network waits do not count),
/// with `extra` arguments; its standard output.
fn chromium(url: &str, budget_ms: u64, extra: &[&str]) -> String {
    let output = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"])
        .arg("--no-first-run")
        .arg(format!("--user-data-dir={}", support::temp_path("chromium-profile").display()))
        .arg(format!("--virtual-time-budget={budget_ms}"))
        .args(extra)
        .arg(url)
        .stderr(Stdio::null())
        .output()
        .expect("chromium runs (scripts/test installs it: scripts/services tool chromium)");
    assert!(output.status.success(), "chromium failed: {:?}", output.status);
    String::from_utf8(output.stdout).unwrap()
}

/// The value of `attribute` in the first tag of `dom` carrying `id="..."`.
fn attribute_of(dom: &str, id: &str, attribute: &str) -> Option<String> {
    let start = dom.find(&format!("id=\"{id}\""))?;
    let tag_start = dom[..start].rfind('<')?;
    let tag = &dom[tag_start..tag_start + dom[tag_start..].find('>')?];
    let at = tag.find(&format!(" {attribute}=\""))? + attribute.len() + 3;
    Some(tag[at..at + tag[at..].find('"')?].to_string())
}

/// The (key, value) attribute pairs of every tag inside the element `id` that carries both.
fn pairs_in(dom: &str, id: &str, key: &str, value: &str) -> Vec<(String, String)> {
    let start = dom.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no #{id}"));
    let end = start + dom[start..].find("</section>").unwrap();
    let mut out = Vec::new();
    for tag in dom[start..end].split('<').skip(1) {
        let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
        let read = |name: &str| {
            let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
            Some(tag[at..at + tag[at..].find('"')?].to_string())
        };
        if let (Some(k), Some(v)) = (read(key), read(value)) {
            out.push((k, v));
        }
    }
    out
}

fn number(value: &Value) -> i64 {
    value.as_i64().or_else(|| value.as_str().and_then(|s| s.parse().ok())).unwrap()
}

fn is_png(path: &PathBuf) -> bool {
    std::fs::read(path).is_ok_and(|bytes| bytes.len() > 10_000 && bytes.starts_with(b"\x89PNG"))
}

#[test]
fn the_dashboard_shows_what_the_api_knows_and_keeps_it_live() {
    let (_space, port, _run) = support::seeded_run("dashboard", "7", ["60", "40", "4000"], "1", &[]);
    let admin = Auth::hs256(SECRET, "shopflow", "shopflow-api").mint("usr-admin", Role::Admin, None, 900);
    wait_until("the API to serve the shop", 120, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && status_and_body(&exchange(port, "GET", "/api/v1/status", None, "")).0 == 200
    });
    // Until quiet: the served offsets the same for a second and a half.
    let mut last = Value::Null;
    let mut same = 0;
    wait_until("the pipeline to catch up", 120, || {
        let offsets = get(port, "/api/v1/status", &admin)["offsets"].clone();
        same = if offsets == last { same + 1 } else { 0 };
        last = offsets;
        std::thread::sleep(std::time::Duration::from_millis(250));
        same >= 6
    });

    // What the API says.
    let sales = get(port, "/api/v1/admin/analytics/sales?limit=10000", &admin)["items"].clone();
    let mut by_day: BTreeMap<String, i64> = BTreeMap::new();
    for row in sales.as_array().unwrap() {
        *by_day.entry(row["day"].as_str().unwrap().to_string()).or_default() += number(&row["revenue"]);
    }
    assert!(!by_day.is_empty() && by_day.values().all(|r| *r > 0), "the seeded shop sold: {by_day:?}");
    let funnel = get(port, "/api/v1/admin/analytics/funnel?limit=10000", &admin)["items"].clone();
    let total = |key: &str| funnel.as_array().unwrap().iter().map(|r| number(&r[key])).sum::<i64>();
    let trending: Vec<String> = get(port, "/api/v1/trending", &admin)["items"]
        .as_array()
        .unwrap()
        .iter()
        .take(10)
        .map(|p| p["productId"].as_str().unwrap().to_string())
        .collect();
    let searches = get(port, "/api/v1/admin/analytics/search?limit=10000", &admin)["items"].clone();
    let mut queries: Vec<(String, i64, i64)> = searches
        .as_array()
        .unwrap()
        .iter()
        .map(|q| (q["query"].as_str().unwrap().to_string(), number(&q["searches"]), number(&q["zeroResultSearches"])))
        .collect();
    queries.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let top: Vec<(String, String)> = queries.iter().take(10).map(|q| (q.0.clone(), q.1.to_string())).collect();
    let mut zero: Vec<&(String, i64, i64)> = queries.iter().filter(|q| q.2 > 0).collect();
    zero.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
    let zero: Vec<(String, String)> = zero.iter().take(10).map(|q| (q.0.clone(), q.2.to_string())).collect();
    assert!(trending.len() >= 5 && top.len() >= 5 && !zero.is_empty(), "the seeded shop has trends and searches");
    let dead_letters = get(port, "/api/v1/admin/dead-letters?pageSize=1", &admin)["total"].as_i64().unwrap();

    // Without a token the page asks for one and shows nothing.
    let page = format!("http://127.0.0.1:{port}/");
    let dom = chromium(&page, 3_000, &["--dump-dom"]);
    assert!(dom.contains("id=\"token-input\""));
    assert_eq!(attribute_of(&dom, "signin-section", "hidden"), None, "the sign-in form is shown");
    assert_eq!(attribute_of(&dom, "lag", "data-value"), None);

    // With the admin token (given once in the fragment), refreshing every second.
    let url = format!("{page}?refresh=1000#token={admin}");
    let dom = chromium(&url, 6_000, &["--dump-dom"]);
    assert!(!dom.contains("data-error="), "the page met an error");
    let refreshes: u32 = dom.split("data-refreshes=\"").nth(1).unwrap().split('"').next().unwrap().parse().unwrap();
    assert!(refreshes >= 3, "the page refreshed live: {refreshes} times");
    let samples: u32 = attribute_of(&dom, "lag-history", "data-samples").unwrap().parse().unwrap();
    assert_eq!(samples, refreshes, "the lag figure was drawn again at every refresh");
    let lag: i64 = attribute_of(&dom, "lag", "data-value").unwrap().parse().unwrap();
    assert!(lag >= 0);
    let age: f64 = attribute_of(&dom, "frontier-age", "data-value").unwrap().parse().unwrap();
    assert!((0.0..120.0).contains(&age), "frontier age {age}");
    assert_eq!(attribute_of(&dom, "dead-letters", "data-value"), Some(dead_letters.to_string()));

    let bars: BTreeMap<String, i64> =
        pairs_in(&dom, "sales", "data-day", "data-value").into_iter().map(|(d, v)| (d, v.parse().unwrap())).collect();
    assert_eq!(bars, by_day, "one bar per day, the revenue of the day");
    let revenue: i64 = attribute_of(&dom, "revenue-total", "data-value").unwrap().parse().unwrap();
    assert_eq!(revenue, by_day.values().sum::<i64>());
    for key in ["viewers", "carters", "buyers"] {
        let shown = attribute_of(&dom, &format!("funnel-{key}"), "data-value").unwrap();
        assert_eq!(shown, total(key).to_string(), "funnel {key}");
    }
    let shown_trending: Vec<String> =
        pairs_in(&dom, "trending", "data-product-id", "data-count").into_iter().map(|(p, _)| p).collect();
    assert_eq!(shown_trending, trending);
    assert_eq!(pairs_in(&dom, "searches", "data-query", "data-count"), top);
    assert_eq!(pairs_in(&dom, "zero-results", "data-query", "data-count"), zero);

    // Pictures for people: a laptop and a phone.
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".shopflow");
    std::fs::create_dir_all(&shots).unwrap();
    for (name, size) in [("dashboard.png", "1280,1100"), ("dashboard-phone.png", "390,1600")] {
        let path = shots.join(name);
        let _ = std::fs::remove_file(&path);
        let window = format!("--window-size={size}");
        let screenshot = format!("--screenshot={}", path.display());
        chromium(&url, 4_000, &[&window, &screenshot]);
        assert!(is_png(&path), "{} was not saved", path.display());
    }
}
