//! # shopflow-sinks: publishing views
//!
//! The dataflows say how views change; the sinks make those changes visible,
//! a whole epoch at a time (`shared/DESIGN.md`, "Consistency model"):
//!
//! - [`redis`] — serving state for point reads: one MULTI/EXEC per
//!   publication, under a generation prefix, with `asOf` and the source
//!   offsets the state covers; a rebuild writes a new generation (in pieces:
//!   no reader sees it yet) and one `SET` makes it current. Every key is named in `redis/keys.rs`.
//! - [`clickhouse`] — the analytics relations of `views.md`, as views over
//!   versioned ReplacingMergeTree tables: retried inserts change nothing.
//!   One table spec per relation (`clickhouse/ddl.rs`) makes its DDL, its
//!   rows and its reads.
//! - [`kafka`] — derived events (Order.StatusChanged, inventory alerts) with
//!   deterministic ids.
//! - [`notify`] — the notification dispatcher: Notification.Requested
//!   delivered by SMTP and signed webhooks, at most once per id across
//!   restarts and rebuilds (delivery records in Redis), retried with backoff.
//! - [`otlp`] — traces over OTLP/HTTP: the pipeline's batches and the API's
//!   requests, sampled, exported in the background.
//!
//! A [`Publication`] is what every sink takes: the final value (or deletion)
//! of each changed key of each [`Family`] (the read model's, re-exported
//! here), for all epochs below `upper`.

#![warn(missing_docs)]

pub mod clickhouse;
pub mod kafka;
pub mod notify;
pub mod otlp;
pub mod redis;

pub use shopflow_views::Family;
use std::collections::BTreeMap;

pub use shopflow_ingest::Offsets;

/// Everything that changed below `upper`: the final value of each changed key.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Publication {
    /// All epochs below this are complete and included.
    pub upper: u64,
    /// (family, key) → new JSON value, or `None` when the key is gone.
    pub changes: BTreeMap<(Family, String), Option<String>>,
    /// The source offsets the state covers.
    pub offsets: Offsets,
}

/// Errors of publishing.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Redis refused or is unreachable.
    #[error("redis")]
    Redis(#[from] ::redis::RedisError),
    /// ClickHouse refused or is unreachable.
    #[error("clickhouse")]
    ClickHouse(#[from] ::clickhouse::error::Error),
    /// ClickHouse answered a request with an error.
    #[error("ClickHouse answered {status}: {detail}")]
    ClickHouseRefused {
        /// The HTTP status.
        status: u16,
        /// What it said.
        detail: String,
    },
    /// ClickHouse could not be reached over HTTP.
    #[error("ClickHouse is unreachable: {0}")]
    ClickHouseHttp(String),
    /// Kafka refused a derived event.
    #[error("kafka")]
    Kafka(#[from] shopflow_ingest::KafkaError),
    /// A store did not answer in time.
    #[error("{what} did not answer within {after:?}")]
    Timeout {
        /// The request.
        what: &'static str,
        /// The limit.
        after: std::time::Duration,
    },
    /// The store was never connected (an API built without its stores, in tests).
    #[error("{0} is not connected")]
    NotConnected(&'static str),
    /// Stored data is not what this version wrote.
    #[error("corrupt {what}: {detail}")]
    Corrupt {
        /// What was read.
        what: &'static str,
        /// What is wrong.
        detail: String,
    },
}

impl SinkError {
    /// Whether the store is away for a while (refused, dropped, timed out,
    /// still loading its data) rather than refusing what was sent: the same
    /// request is worth sending again once it answers.
    pub fn is_transient(&self) -> bool {
        use ::redis::RetryMethod;
        match self {
            SinkError::Redis(error) => {
                error.is_io_error()
                    || matches!(
                        error.retry_method(),
                        RetryMethod::Reconnect | RetryMethod::WaitAndRetry | RetryMethod::RetryImmediately
                    )
            }
            SinkError::ClickHouseHttp(_) | SinkError::Timeout { .. } => true,
            SinkError::ClickHouseRefused { status, .. } => *status >= 500,
            SinkError::ClickHouse(::clickhouse::error::Error::Network(_)) => true,
            _ => false,
        }
    }
}

/// `text` percent-encoded for a URL's path segment or query value (the
/// unreserved characters `A-Z a-z 0-9 - . _ ~` kept).
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}
