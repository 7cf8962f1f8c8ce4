//! What the whole-pipeline and broker benches share (`mod common;` in each).

use shopflow_topics::EventTime;

/// A setting from the environment, or its default.
pub fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// The `p` quantile (0..=1) of `sorted`, which is not empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// A generated record's event time (`None` for a malformed one).
pub fn event_time(value: &str) -> Option<EventTime> {
    let from = value.find("\"time\":\"")? + 8;
    let to = from + value[from..].find('"')?;
    EventTime::parse(&value[from..to]).ok()
}
