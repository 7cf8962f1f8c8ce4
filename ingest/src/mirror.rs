//! Mirroring: a range of topics copied to another cluster, record for
//! record — each to the same partition, with its key, value, headers and
//! timestamp (so its event id) unchanged — and idempotent: run again, it
//! copies only what the destination does not hold yet.
//!
//! Per partition, the destination's records are counted by content (key,
//! value and headers); a source record is copied only when no record of the
//! same content is left uncounted there. A record sent twice at the source
//! (a producer's retry that made a duplicate) is copied twice; a re-run
//! copies nothing.

use crate::producer::RecordProducer;
use crate::KafkaError;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError as RdError;
use rdkafka::message::{BorrowedMessage, Headers, Message, OwnedHeaders};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

/// What one partition's mirroring did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Copied {
    /// Records of the range read at the source.
    pub read: u64,
    /// Of them, copied to the destination.
    pub copied: u64,
    /// Of them, already there.
    pub present: u64,
}

/// How long a partition must give nothing more, once its end was reported,
/// before its reading counts as done (end offsets alone are not trusted:
/// some brokers report them low).
const QUIET: Duration = Duration::from_millis(1_500);

/// The content of a record, for telling whether the destination holds it.
fn content(message: &BorrowedMessage<'_>) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    message.key().hash(&mut hasher);
    message.payload().hash(&mut hasher);
    if let Some(headers) = message.headers() {
        for header in headers.iter() {
            header.key.hash(&mut hasher);
            header.value.hash(&mut hasher);
        }
    }
    hasher.finish()
}

fn headers_of(message: &BorrowedMessage<'_>) -> Option<OwnedHeaders> {
    message.headers().map(|h| h.detach())
}

/// A consumer that reads without committing anything.
fn reader(brokers: &str) -> Result<BaseConsumer, KafkaError> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "shopflow-mirror")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("fetch.wait.max.ms", "25")
        .create()?)
}

/// One partition to read: (topic, partition, first offset, offset not read).
pub type Span = (String, i32, Option<i64>, Option<i64>);

/// Reads every span on `consumer` at once, each from its first offset until
/// its stop, handing each record with its span's index to `each`. A span
/// without a stop is read until it has passed the end offset its broker
/// reports and nothing more has come for [`QUIET`] (reported end offsets
/// can be low), or until nothing at all has come for ten times that.
fn read(
    consumer: &BaseConsumer,
    spans: &[Span],
    mut each: impl FnMut(usize, &BorrowedMessage<'_>) -> Result<(), KafkaError>,
) -> Result<(), KafkaError> {
    let mut assignment = TopicPartitionList::new();
    let mut index: HashMap<(String, i32), usize> = HashMap::new();
    let mut ends = Vec::with_capacity(spans.len());
    for (i, (topic, partition, start, stop)) in spans.iter().enumerate() {
        assignment.add_partition_offset(topic, *partition, start.map_or(Offset::Beginning, Offset::Offset))?;
        index.insert((topic.clone(), *partition), i);
        let (_, high) = consumer.fetch_watermarks(topic, *partition, Duration::from_secs(30))?;
        ends.push(stop.map_or(high, |stop| stop.min(high)));
    }
    consumer.assign(&assignment)?;
    let mut next: Vec<i64> = spans.iter().map(|(_, _, start, _)| start.unwrap_or(0)).collect();
    let mut last_message = Instant::now();
    loop {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                let Some(&i) = index.get(&(message.topic().to_string(), message.partition())) else { continue };
                if spans[i].3.is_some_and(|stop| message.offset() >= stop) {
                    next[i] = next[i].max(message.offset());
                    continue;
                }
                next[i] = next[i].max(message.offset() + 1);
                each(i, &message)?;
                last_message = Instant::now();
            }
            Some(Err(RdError::PartitionEOF(_))) | None => {}
            Some(Err(error)) => return Err(error.into()),
        }
        let passed_ends = next.iter().zip(&ends).all(|(next, end)| next >= end);
        let quiet = last_message.elapsed();
        if (passed_ends && quiet >= QUIET) || quiet >= QUIET * 10 {
            return Ok(());
        }
    }
}

/// The number of partitions of `topic` on `brokers` (`None`: no such topic).
pub fn partitions_of(brokers: &str, topic: &str) -> Result<Option<i32>, KafkaError> {
    let consumer: BaseConsumer = ClientConfig::new().set("bootstrap.servers", brokers).create()?;
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(30))?;
    Ok(metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
        .map(|t| t.partitions().len() as i32))
}

/// Mirrors `spans` (each topic as named at the source) from `from_brokers`
/// to the same partitions of `to` (each span's topic as named at the
/// destination) at `to_brokers` through `producer`; what happened per span.
pub fn mirror(
    from_brokers: &str,
    to_brokers: &str,
    producer: &RecordProducer,
    spans: &[Span],
    to: &[String],
    mut progress: impl FnMut(&[Copied]),
) -> Result<Vec<Copied>, KafkaError> {
    // What the destination holds already, by span and content.
    let mut held: Vec<HashMap<u64, u64>> = vec![HashMap::new(); spans.len()];
    let whole: Vec<Span> = spans.iter().zip(to).map(|((_, p, _, _), topic)| (topic.clone(), *p, None, None)).collect();
    read(&reader(to_brokers)?, &whole, |i, message| {
        *held[i].entry(content(message)).or_default() += 1;
        Ok(())
    })?;
    let mut done = vec![Copied::default(); spans.len()];
    let mut read_so_far = 0u64;
    read(&reader(from_brokers)?, spans, |i, message| {
        let span = &mut done[i];
        span.read += 1;
        match held[i].get_mut(&content(message)).filter(|n| **n > 0) {
            Some(n) => {
                *n -= 1;
                span.present += 1;
            }
            None => {
                let timestamp = message.timestamp().to_millis();
                let (key, value, headers) = (message.key(), message.payload(), headers_of(message));
                producer.send_copy(&to[i], spans[i].1, key, value, headers, timestamp)?;
                span.copied += 1;
            }
        }
        read_so_far += 1;
        if read_so_far.is_multiple_of(10_000) {
            progress(&done);
        }
        Ok(())
    })?;
    Ok(done)
}
