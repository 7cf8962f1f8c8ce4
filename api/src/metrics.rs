//! `GET /metrics` in the Prometheus text format: requests by route, method
//! and status; errors by class; latency histograms by route; and, asked at
//! scrape time, the age of the served frontier and the consumer lag (records
//! on the source topics the served state does not include yet).

use crate::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

/// Counters of one (method, route).
#[derive(Default)]
struct RouteStats {
    /// Requests by status code.
    statuses: RwLock<BTreeMap<u16, AtomicU64>>,
    /// Requests at or under each bucket bound (not cumulative; summed when rendered).
    buckets: [AtomicU64; BUCKETS.len()],
    /// Slower than the last bound.
    over: AtomicU64,
    /// Total latency, microseconds.
    micros: AtomicU64,
}

/// route template → method → its counters (looked up by `&str`: no allocation per request).
type Routes = BTreeMap<String, BTreeMap<String, Arc<RouteStats>>>;

/// The API's request metrics, shared by every handler of one process.
#[derive(Clone, Default)]
pub struct Metrics {
    routes: Arc<RwLock<Routes>>,
}

impl Metrics {
    fn stats(&self, method: &str, route: &str) -> Arc<RouteStats> {
        if let Some(stats) = self.routes.read().expect("not poisoned").get(route).and_then(|m| m.get(method)) {
            return stats.clone();
        }
        let mut routes = self.routes.write().expect("not poisoned");
        routes.entry(route.to_string()).or_default().entry(method.to_string()).or_default().clone()
    }

    /// Every (method, route, counters), ordered by route then method.
    fn each(routes: &Routes) -> impl Iterator<Item = (&str, &str, &RouteStats)> {
        routes.iter().flat_map(|(route, methods)| methods.iter().map(move |(m, s)| (m.as_str(), route.as_str(), &**s)))
    }

    /// Counts one request.
    pub fn record(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let stats = self.stats(method, route);
        let counted =
            stats.statuses.read().expect("not poisoned").get(&status).map(|c| c.fetch_add(1, Ordering::Relaxed));
        if counted.is_none() {
            stats.statuses.write().expect("not poisoned").entry(status).or_default().fetch_add(1, Ordering::Relaxed);
        }
        match BUCKETS.iter().position(|bound| seconds <= *bound) {
            Some(i) => stats.buckets[i].fetch_add(1, Ordering::Relaxed),
            None => stats.over.fetch_add(1, Ordering::Relaxed),
        };
        stats.micros.fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    /// The request families in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let routes = self.routes.read().expect("not poisoned");
        out.push_str("# HELP shopflow_http_requests_total Requests answered, by method, route and status.\n");
        out.push_str("# TYPE shopflow_http_requests_total counter\n");
        for (method, route, stats) in Metrics::each(&routes) {
            for (status, count) in stats.statuses.read().expect("not poisoned").iter() {
                let n = count.load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "shopflow_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP shopflow_http_errors_total Requests answered with an error, by class (4xx, 5xx).\n");
        out.push_str("# TYPE shopflow_http_errors_total counter\n");
        for (method, route, stats) in Metrics::each(&routes) {
            let statuses = stats.statuses.read().expect("not poisoned");
            for (class, range) in [("4xx", 400..500), ("5xx", 500..600)] {
                let n: u64 =
                    statuses.iter().filter(|(s, _)| range.contains(*s)).map(|(_, c)| c.load(Ordering::Relaxed)).sum();
                let _ = writeln!(
                    out,
                    "shopflow_http_errors_total{{method=\"{method}\",route=\"{route}\",class=\"{class}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP shopflow_http_request_duration_seconds Time to answer, by method and route.\n");
        out.push_str("# TYPE shopflow_http_request_duration_seconds histogram\n");
        for (method, route, stats) in Metrics::each(&routes) {
            let labels = format!("method=\"{method}\",route=\"{route}\"");
            let mut cumulative = 0;
            for (bound, count) in BUCKETS.iter().zip(&stats.buckets) {
                cumulative += count.load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "shopflow_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            cumulative += stats.over.load(Ordering::Relaxed);
            let _ = writeln!(out, "shopflow_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {cumulative}");
            let sum = stats.micros.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(out, "shopflow_http_request_duration_seconds_sum{{{labels}}} {sum}");
            let _ = writeln!(out, "shopflow_http_request_duration_seconds_count{{{labels}}} {cumulative}");
        }
        out
    }
}

/// The middleware (a layer of the routed API, so the route template is known).
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    let method = request.method().clone();
    let started = Instant::now();
    let mut response = next.run(request).await;
    let route = route.as_ref().map_or("unmatched", |p| p.as_str());
    state.metrics.record(method.as_str(), route, response.status().as_u16(), started.elapsed().as_secs_f64());
    response.extensions_mut().insert(Route(route.to_string()));
    response
}

/// The route template that answered (a response extension, for the request's trace).
#[derive(Clone, Debug)]
pub struct Route(pub String);

/// `GET /metrics`.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let mut out = state.metrics.render();
    match state.stores.views.status().await {
        Ok(Some(status)) => {
            let age = (chrono::Utc::now().timestamp_millis() - status.as_of) as f64 / 1e3;
            out.push_str("# HELP shopflow_frontier_age_seconds How old the served state is (now - asOf).\n");
            out.push_str("# TYPE shopflow_frontier_age_seconds gauge\n");
            let _ = writeln!(out, "shopflow_frontier_age_seconds {age}");
            let events = state.stores.events.clone();
            let lag = tokio::task::spawn_blocking(move || events.lag(&status.offsets)).await;
            if let Ok(Ok(lag)) = lag {
                out.push_str("# HELP shopflow_consumer_lag_records Records on a source topic the served state does not include.\n");
                out.push_str("# TYPE shopflow_consumer_lag_records gauge\n");
                for (topic, records) in lag {
                    let _ = writeln!(out, "shopflow_consumer_lag_records{{topic=\"{topic}\"}} {records}");
                }
            }
        }
        Ok(None) => {}
        Err(e) => tracing::warn!("metrics: Redis status unavailable: {}", shopflow_topics::error::chain(&e)),
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_counts_add_up() {
        let metrics = Metrics::default();
        metrics.record("GET", "/api/v1/products/{id}", 200, 0.0007);
        metrics.record("GET", "/api/v1/products/{id}", 200, 0.02);
        metrics.record("GET", "/api/v1/products/{id}", 404, 9.0);
        let text = metrics.render();
        let labels = "method=\"GET\",route=\"/api/v1/products/{id}\"";
        assert!(text.contains(&format!("shopflow_http_requests_total{{{labels},status=\"200\"}} 2")), "{text}");
        assert!(text.contains(&format!("shopflow_http_errors_total{{{labels},class=\"4xx\"}} 1")));
        assert!(text.contains(&format!("shopflow_http_request_duration_seconds_bucket{{{labels},le=\"0.001\"}} 1")));
        assert!(text.contains(&format!("shopflow_http_request_duration_seconds_bucket{{{labels},le=\"0.025\"}} 2")));
        assert!(text.contains(&format!("shopflow_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} 3")));
        assert!(text.contains(&format!("shopflow_http_request_duration_seconds_count{{{labels}}} 3")));
    }
}
