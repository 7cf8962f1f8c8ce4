//! Reading a range of partitions once, from given offsets to given stops
//! or to their end, without committing anything: what `mirror` and `export`
//! read through.

use crate::KafkaError;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError as RdError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long a partition must give nothing more, once its end was reported,
/// before its reading counts as done (end offsets alone are not trusted:
/// some brokers report them low).
pub const QUIET: Duration = Duration::from_millis(1_500);

/// A consumer that reads without committing anything (`group`: its group id).
pub fn reader(brokers: &str, group: &str) -> Result<BaseConsumer, KafkaError> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("fetch.wait.max.ms", "25")
        .create()?)
}

/// Per span, where its reading is expected to end: its stop, or the end
/// offset its broker reports now when that is lower (or it has no stop).
pub fn ends(consumer: &BaseConsumer, spans: &[Span]) -> Result<Vec<i64>, KafkaError> {
    let mut ends = Vec::with_capacity(spans.len());
    for (topic, partition, _, stop) in spans {
        let (_, high) = consumer.fetch_watermarks(topic, *partition, Duration::from_secs(30))?;
        ends.push(stop.map_or(high, |stop| stop.min(high)));
    }
    Ok(ends)
}

/// One partition to read: (topic, partition, first offset, offset not read).
pub type Span = (String, i32, Option<i64>, Option<i64>);

/// Reads every span on `consumer` at once, each from its first offset until
/// its stop, handing each record with its span's index to `each`. A span
/// without a stop is read until it has passed the end offset its broker
/// reports and nothing more has come for [`QUIET`] (reported end offsets
/// can be low), or until nothing at all has come for ten times that.
/// Returns, per span, the offset after the last one read (or its start).
pub fn read(
    consumer: &BaseConsumer,
    spans: &[Span],
    mut each: impl FnMut(usize, &BorrowedMessage<'_>) -> Result<(), KafkaError>,
) -> Result<Vec<i64>, KafkaError> {
    let mut assignment = TopicPartitionList::new();
    let mut index: HashMap<(String, i32), usize> = HashMap::new();
    for (i, (topic, partition, start, _)) in spans.iter().enumerate() {
        assignment.add_partition_offset(topic, *partition, start.map_or(Offset::Beginning, Offset::Offset))?;
        index.insert((topic.clone(), *partition), i);
    }
    let ends = ends(consumer, spans)?;
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
            return Ok(next);
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
