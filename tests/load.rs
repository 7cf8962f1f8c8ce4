//! `shopflow load` against a `shopflow run` over a seeded shop (the real
//! broker, Redis and ClickHouse): simulated shoppers browse, search, add to
//! cart, check out, read their order with `?after=` and pay; the report
//! counts every step, and the orders it claims are there in the API. It
//! refuses an address that is not loopback.

mod support;

use serde_json::Value;
use shopflow_api::auth::{Auth, Role};
use support::api::SECRET;
use support::{exchange, status_and_body, wait_until};

/// GET `path` (with a token when given): the status and the JSON body (null when not JSON).
fn get(port: u16, path: &str, token: Option<&str>) -> (u16, Value) {
    let answer = exchange(port, "GET", path, token, "");
    let (status, body) = status_and_body(&answer);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[test]
fn simulated_shoppers_buy_and_the_report_counts_every_step() {
    let (space, port, _run) = support::seeded_run("load", "11", ["40", "30", "3000"], "1", &[]);
    let api = format!("http://127.0.0.1:{port}");
    // The catalog is served: a page of products answers with items.
    wait_until("the API to serve the catalog", 120, || {
        let (status, body) = get(port, "/api/v1/products?pageSize=5", None);
        status == 200 && body["items"].as_array().is_some_and(|items| !items.is_empty())
    });

    let report_path = support::temp_path("load-report.json");
    let output = space
        .shopflow()
        .args(["load", "--api", &api, "--shoppers", "6", "--duration", "4s", "--seed", "3", "--quiet"])
        .arg("--report")
        .arg(&report_path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "load failed: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("write to visible"), "{stdout}");
    let report: Value = serde_json::from_slice(&std::fs::read(&report_path).unwrap()).unwrap();
    let count = |v: &Value| v.as_u64().unwrap();
    assert!(count(&report["journeys"]) > 0, "{report:#}");
    assert!(count(&report["orders"]) > 0, "shoppers bought something: {report:#}");
    assert_eq!(count(&report["serverErrors"]), 0, "no 5xx: {report:#}");
    for step in ["browse", "search", "product", "add_to_cart", "checkout", "read_order", "pay"] {
        let s = &report["steps"][step];
        assert!(count(&s["requests"]) > 0, "step {step} ran: {report:#}");
        assert!(s["p99Ms"].as_f64().unwrap() >= s["p50Ms"].as_f64().unwrap(), "{step}: {s}");
    }
    let visible = &report["writeToVisible"];
    assert!(count(&visible["count"]) > 0 && visible["p50Ms"].as_f64().unwrap() > 0.0, "{visible}");
    // Every request is counted once: the steps add up to the total.
    let per_step: u64 = report["steps"].as_object().unwrap().values().map(|s| count(&s["requests"])).sum();
    assert_eq!(per_step, count(&report["requests"]));

    // The orders are real: a shopper of the run reads its own from the API.
    let auth = Auth::hs256(SECRET, "shopflow", "shopflow-api");
    let mut found = 0;
    for n in 0..6 {
        let token = auth.mint(&format!("load-3-{n}"), Role::Shopper, None, 900);
        let (status, orders) = get(port, "/api/v1/orders", Some(&token));
        assert_eq!(status, 200, "{orders}");
        found += orders["items"].as_array().map_or(0, Vec::len) as u64;
    }
    // Each order read back with ?after= is there; none that the report did not count.
    assert!(found >= count(&visible["count"]), "{found} orders in the API: {report:#}");
    assert!(found <= count(&report["orders"]), "{found} orders in the API: {report:#}");

    // Loopback only.
    let refused =
        space.shopflow().args(["load", "--api", "http://10.1.2.3:8080", "--duration", "1s"]).output().unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("loopback"), "{refused:?}");
}
