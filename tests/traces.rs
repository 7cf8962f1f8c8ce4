//! Traces over OTLP/HTTP: a `shopflow run` over a seeded shop (the real
//! broker, Redis and ClickHouse) with `--otlp-endpoint` pointing at an
//! OTLP/HTTP receiver written here. Every batch the pipeline publishes is a
//! trace of its stages (read, decode, compute, render, wait, Redis, Kafka,
//! ClickHouse); every API request is a trace whose root carries its request
//! id and whose children are its Redis and Kafka calls.

mod support;

use serde_json::Value;
use shopflow_api::auth::{Auth, Role};
use std::collections::BTreeMap;
use std::io::{BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use support::api::SECRET;
use support::{exchange, free_port, status_and_body, wait_until};

/// A span as received: its service, and the OTLP JSON of the span.
#[derive(Clone, Debug)]
struct Received {
    service: String,
    span: Value,
}

impl Received {
    fn name(&self) -> &str {
        self.span["name"].as_str().unwrap_or_default()
    }

    fn field(&self, key: &str) -> &str {
        self.span[key].as_str().unwrap_or_default()
    }

    /// The value of an attribute, as text (integers come as strings in OTLP JSON).
    fn attribute(&self, key: &str) -> Option<String> {
        self.span["attributes"].as_array()?.iter().find(|a| a["key"] == key).map(|a| {
            let value = &a["value"];
            value["stringValue"].as_str().or_else(|| value["intValue"].as_str()).unwrap_or_default().to_string()
        })
    }

    fn nanos(&self, key: &str) -> u64 {
        self.field(key).parse().unwrap()
    }
}

/// An OTLP/HTTP receiver on `port`: every `POST /v1/traces` body's spans, kept.
fn receiver(port: u16) -> Arc<Mutex<Vec<Received>>> {
    let spans = Arc::new(Mutex::new(Vec::new()));
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let kept = spans.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let kept = kept.clone();
            // One thread per connection: the exporter keeps its connection open.
            std::thread::spawn(move || {
                let mut writer = stream.try_clone().unwrap();
                let mut reader = BufReader::new(stream);
                while let Some((request_line, headers, body)) = support::read_request(&mut reader) {
                    let content_type = headers.get("content-type").cloned().unwrap_or_default();
                    assert!(request_line.starts_with("POST /v1/traces "), "{request_line}");
                    assert_eq!(content_type, "application/json");
                    let export: Value = serde_json::from_slice(&body).unwrap();
                    let mut received = Vec::new();
                    for resource in export["resourceSpans"].as_array().unwrap() {
                        let service = resource["resource"]["attributes"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .find(|a| a["key"] == "service.name")
                            .map(|a| a["value"]["stringValue"].as_str().unwrap().to_string())
                            .unwrap();
                        for scope in resource["scopeSpans"].as_array().unwrap() {
                            for span in scope["spans"].as_array().unwrap() {
                                received.push(Received { service: service.clone(), span: span.clone() });
                            }
                        }
                    }
                    kept.lock().unwrap().extend(received);
                    writer
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
                        .unwrap();
                }
            });
        }
    });
    spans
}

/// The spans of one trace, by span id.
fn trace_of(spans: &[Received], trace: &str) -> BTreeMap<String, Received> {
    spans.iter().filter(|s| s.field("traceId") == trace).map(|s| (s.field("spanId").to_string(), s.clone())).collect()
}

/// The children of `parent` in `trace`, by name.
fn children<'a>(trace: &'a BTreeMap<String, Received>, parent: &Received) -> Vec<&'a Received> {
    trace.values().filter(|s| s.field("parentSpanId") == parent.field("spanId")).collect()
}

#[test]
fn batches_and_requests_are_traced_over_otlp() {
    let otlp_port = free_port();
    let spans = receiver(otlp_port);
    let endpoint = format!("http://127.0.0.1:{otlp_port}");
    let tracing = ["--otlp-endpoint", endpoint.as_str(), "--otlp-sampling", "1"];
    let (_space, port, _run) = support::seeded_run("traces", "5", ["30", "20", "2000"], "2", &tracing);
    wait_until("the API to serve", 120, || {
        status_and_body(&exchange(port, "GET", "/api/v1/status", None, "")).0 == 200
    });

    // A batch with records: its root and every stage under it.
    let mut batch = None;
    wait_until("a traced batch with records and its ClickHouse write", 60, || {
        let all = spans.lock().unwrap().clone();
        batch = all
            .iter()
            .filter(|s| s.name() == "pipeline.batch" && s.attribute("shopflow.records").is_some_and(|r| r != "0"))
            .map(|root| trace_of(&all, root.field("traceId")))
            .find(|trace| trace.values().any(|s| s.name() == "clickhouse"));
        batch.is_some()
    });
    let batch = batch.unwrap();
    let root = batch.values().find(|s| s.name() == "pipeline.batch").unwrap();
    assert_eq!(root.service, "shopflow");
    assert!(root.span.get("parentSpanId").is_none(), "the batch is the root: {:?}", root.span);
    let mut names: Vec<&str> = children(&batch, root).iter().map(|s| s.name()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names, ["clickhouse", "compute", "kafka", "read", "redis", "wait"], "{batch:#?}");
    let reads: Vec<&Received> = children(&batch, root).into_iter().filter(|s| s.name() == "read").collect();
    let records: u64 = reads.iter().map(|r| r.attribute("shopflow.records").unwrap().parse::<u64>().unwrap()).sum();
    assert_eq!(records.to_string(), root.attribute("shopflow.records").unwrap(), "the reads add up to the batch");
    for read in &reads {
        let decode = children(&batch, read);
        assert_eq!(decode.len(), 1, "one decode under each read");
        assert_eq!(decode[0].name(), "decode");
        assert!(decode[0].nanos("endTimeUnixNano") > decode[0].nanos("startTimeUnixNano"), "decoding took time");
        assert!(read.nanos("endTimeUnixNano") >= read.nanos("startTimeUnixNano"));
    }
    let compute = children(&batch, root).into_iter().find(|s| s.name() == "compute").unwrap();
    assert_eq!(children(&batch, compute).iter().map(|s| s.name()).collect::<Vec<_>>(), ["render"]);
    let redis = children(&batch, root).into_iter().find(|s| s.name() == "redis").unwrap();
    assert!(redis.nanos("startTimeUnixNano") >= compute.nanos("endTimeUnixNano"), "Redis after the computation");
    assert!(root.nanos("startTimeUnixNano") <= reads.iter().map(|r| r.nanos("startTimeUnixNano")).min().unwrap());

    // A request: its root carries the request id; its Redis and Kafka calls are its children.
    let token = Auth::hs256(SECRET, "shopflow", "shopflow-api").mint("usr-traced", Role::Shopper, None, 900);
    let products = exchange(port, "GET", "/api/v1/products?pageSize=1", None, "");
    let products: Value = serde_json::from_str(status_and_body(&products).1).unwrap();
    let product = products["items"][0]["productId"].as_str().unwrap().to_string();
    let body = format!(r#"{{"productId":"{product}","quantity":1}}"#);
    let auth = format!("Bearer {token}");
    let headers = [("Authorization", auth.as_str()), ("X-Request-Id", "traced-request-1")];
    let answer = support::exchange_with(port, "POST", "/api/v1/cart/items", &headers, &body);
    assert_eq!(status_and_body(&answer).0, 202, "{answer}");
    let mut request = None;
    wait_until("the request's trace", 30, || {
        let all = spans.lock().unwrap().clone();
        request = all
            .iter()
            .find(|s| s.attribute("shopflow.request_id").as_deref() == Some("traced-request-1"))
            .map(|root| trace_of(&all, root.field("traceId")));
        request.as_ref().is_some_and(|trace| trace.len() >= 3)
    });
    let request = request.unwrap();
    let root = request.values().find(|s| s.span.get("parentSpanId").is_none()).unwrap();
    assert_eq!(root.name(), "POST /api/v1/cart/items");
    assert_eq!(root.attribute("http.response.status_code").as_deref(), Some("202"));
    assert_eq!(root.span["kind"], 2, "a server span");
    let calls = children(&request, root);
    assert!(calls.iter().any(|s| s.name() == "kafka"), "the write's produce: {request:#?}");
    assert!(calls.iter().any(|s| s.name() == "redis"), "its Redis calls: {request:#?}");
    for call in &calls {
        assert_eq!(call.span["kind"], 3, "client spans");
        assert!(call.nanos("startTimeUnixNano") >= root.nanos("startTimeUnixNano"));
        assert!(call.nanos("endTimeUnixNano") <= root.nanos("endTimeUnixNano"));
    }
}
