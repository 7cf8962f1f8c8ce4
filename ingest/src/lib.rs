//! # shopflow-ingest: Kafka in and out
//!
//! Everything that talks to Kafka lives here:
//!
//! - [`admin`] — topic creation and listing through the Kafka admin API, with
//!   partitions and retention from the registry of `shopflow-topics`.
//! - [`producer`] — the idempotent producer every writer uses.
//! - [`follow`] — reading one topic from offsets the reader keeps itself
//!   (the notification dispatcher).
//! - `export` (feature `export`) — a range of topics to Parquet, Arrow IPC or
//!   NDJSON files, one dataset per event type and day.
//! - [`range`] — reading a range of partitions once, to given offsets or to
//!   their end (what `mirror` and `export` read through).
//! - [`generate`] — the seeded workload generator behind `shopflow generate`.
//! - [`source`] — the pipeline's Kafka source: partitions, their ends, which
//!   worker reads which, the consumer's settings, and (feature `timely`) the
//!   timely operator that reads them.
//!
//! ```
//! use shopflow_ingest::generate::{Generator, GeneratorConfig};
//!
//! let config = GeneratorConfig { seed: 7, events: Some(100), ..Default::default() };
//! let first: Vec<_> = Generator::new(config.clone()).collect();
//! let again: Vec<_> = Generator::new(config).collect();
//! assert_eq!(first.len(), 100);
//! assert_eq!(first, again); // same seed, same records
//! ```

#![warn(missing_docs)]

pub mod admin;
#[cfg(feature = "export")]
pub mod export;
pub mod follow;
pub mod generate;
pub mod mirror;
pub mod producer;
pub mod range;
pub mod source;

pub use source::Offsets;

/// Errors of talking to Kafka.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    /// The client reported an error.
    #[error("kafka client")]
    Client(#[from] rdkafka::error::KafkaError),
    /// The broker refused a topic operation.
    #[error("topic {topic}: {message}")]
    Topic {
        /// The topic.
        topic: String,
        /// What the broker said.
        message: String,
    },
    /// No answer within the deadline.
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(std::time::Duration, &'static str),
}
