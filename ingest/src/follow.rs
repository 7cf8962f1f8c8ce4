//! Following one topic from offsets its reader keeps itself: what a service
//! that acts on derived events (the notification dispatcher) reads with.
//!
//! Partitions are assigned, not joined through a consumer group: the reader
//! stores how far it got wherever its own records are (for the dispatcher,
//! next to its delivery records in Redis) and starts there next time, or at
//! the beginning of a partition it has no offset for.
//!
//! It starts [`REWIND`] records before each offset and passes over what is
//! below it, and never yields an offset twice: tansu 0.6 answers a fetch
//! that starts inside a multi-record batch from the *next* batch (measured:
//! a fetch from offset 16 of a batch 14–19 answered 20, 21, 22, then those
//! three again), which would silently skip the rest of the batch. Starting
//! at a batch boundary or before is safe on every broker; a producer's batch
//! holds at most librdkafka's `batch.num.messages` (10,000) records.

use crate::KafkaError;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::time::Duration;

/// One record read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Followed {
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its key, if any.
    pub key: Option<Vec<u8>>,
    /// Its value (empty for a tombstone).
    pub value: Vec<u8>,
}

/// How far before its offset a partition is read from (see the module's text).
pub const REWIND: i64 = 10_000;

/// Reads every partition of one topic, from given offsets on.
pub struct Follower {
    consumer: StreamConsumer,
    topic: String,
    /// Per partition, the next offset to yield: anything below is passed over.
    next: BTreeMap<i32, i64>,
}

impl Follower {
    /// Follows `topic` on `brokers`: each partition from its offset in
    /// `starts` (the next offset to read), or from its beginning.
    pub fn new(brokers: &str, topic: &str, starts: &BTreeMap<i32, i64>) -> Result<Follower, KafkaError> {
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            // Required by the client even with manual assignment; nothing is committed under it.
            .set("group.id", format!("shopflow-follow-{topic}"))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("fetch.wait.max.ms", "25")
            .create()?;
        let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(30))?;
        let mut assignment = TopicPartitionList::new();
        for t in metadata.topics() {
            if t.error().is_some() || t.partitions().is_empty() {
                return Err(KafkaError::Topic {
                    topic: topic.to_string(),
                    message: format!("missing on {brokers}: run `shopflow topics create` first"),
                });
            }
            for p in t.partitions() {
                let offset = starts.get(&p.id()).map_or(Offset::Beginning, |&o| Offset::Offset((o - REWIND).max(0)));
                assignment.add_partition_offset(topic, p.id(), offset)?;
            }
        }
        consumer.assign(&assignment)?;
        Ok(Follower { consumer, topic: topic.to_string(), next: starts.clone() })
    }

    /// The topic it follows.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The next record, waiting for one: each offset once, in order per partition.
    pub async fn next(&mut self) -> Result<Followed, KafkaError> {
        loop {
            let message = self.consumer.recv().await?;
            let (partition, offset) = (message.partition(), message.offset());
            let next = self.next.entry(partition).or_insert(0);
            if offset < *next {
                continue;
            }
            *next = offset + 1;
            return Ok(Followed {
                partition,
                offset,
                key: message.key().map(<[u8]>::to_vec),
                value: message.payload().unwrap_or_default().to_vec(),
            });
        }
    }
}
