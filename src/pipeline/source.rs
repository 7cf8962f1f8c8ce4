//! The Kafka side of the pipeline: which partitions exist, where they end,
//! and which worker reads which.

use anyhow::Context;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use shopflow_sinks::Offsets;
use shopflow_topics::Topic;
use std::time::Duration;

/// One source partition: (full topic name, contract topic, partition).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SourcePartition {
    /// The topic as named on the broker (with any test prefix).
    pub topic: String,
    /// The contract topic it carries.
    pub contract: Topic,
    /// The partition.
    pub partition: i32,
}

/// The settings of the pipeline's consumers.
pub fn consumer_config(brokers: &str, group_id: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        // Offsets are committed for lag tooling only, after publication; correctness never reads them.
        .set("group.id", group_id)
        // Never commit on our behalf: a commit must follow a publication, not a poll.
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        // Partitions are assigned by shopflow (manual assignment), from the beginning:
        // every start rebuilds the views from the whole topic.
        .set("auto.offset.reset", "earliest")
        // Tell us when a partition's end is reached: part of deciding "caught up".
        .set("enable.partition.eof", "true")
        // Fetch in large chunks: replay throughput matters more than per-record latency.
        .set("fetch.max.bytes", "52428800")
        .set("max.partition.fetch.bytes", "10485760")
        .set("queued.max.messages.kbytes", "262144");
    config
}

/// Every partition of the source topics, sorted.
pub fn partitions(brokers: &str, topic_prefix: &str) -> anyhow::Result<Vec<SourcePartition>> {
    let consumer: BaseConsumer = ClientConfig::new().set("bootstrap.servers", brokers).create()?;
    let mut out = Vec::new();
    for contract in Topic::SOURCES {
        let topic = format!("{topic_prefix}{}", contract.name());
        let metadata = consumer
            .fetch_metadata(Some(&topic), Duration::from_secs(30))
            .with_context(|| format!("reading metadata of {topic} from {brokers}"))?;
        for t in metadata.topics() {
            if t.error().is_some() || t.partitions().is_empty() {
                anyhow::bail!("topic {topic} is missing on {brokers}: run `shopflow topics create` first");
            }
            for p in t.partitions() {
                out.push(SourcePartition { topic: topic.clone(), contract, partition: p.id() });
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The end offset (high watermark) of each partition now.
pub fn end_offsets(brokers: &str, partitions: &[SourcePartition]) -> anyhow::Result<Offsets> {
    let consumer: BaseConsumer = ClientConfig::new().set("bootstrap.servers", brokers).create()?;
    let mut out = Offsets::new();
    for p in partitions {
        let (_, high) = consumer
            .fetch_watermarks(&p.topic, p.partition, Duration::from_secs(30))
            .with_context(|| format!("reading the end of {} [{}]", p.topic, p.partition))?;
        out.entry(p.topic.clone()).or_default().insert(p.partition, high);
    }
    Ok(out)
}

/// Whether `covered` reaches `target` on every partition of `target`.
pub fn covers(covered: &Offsets, target: &Offsets) -> bool {
    target.iter().all(|(topic, parts)| {
        parts.iter().all(|(p, end)| covered.get(topic).and_then(|c| c.get(p)).copied().unwrap_or(0) >= *end)
    })
}

/// The partitions worker `index` of `peers` reads.
pub fn share(partitions: &[SourcePartition], index: usize, peers: usize) -> Vec<SourcePartition> {
    partitions.iter().enumerate().filter(|(i, _)| i % peers == index).map(|(_, p)| p.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_needs_every_partition() {
        let mut target = Offsets::new();
        target.entry("a".into()).or_default().insert(0, 5);
        target.entry("a".into()).or_default().insert(1, 0);
        let mut covered = Offsets::new();
        assert!(!covers(&covered, &target));
        covered.entry("a".into()).or_default().insert(0, 5);
        assert!(covers(&covered, &target), "an empty partition is covered from the start");
        target.entry("b".into()).or_default().insert(0, 1);
        assert!(!covers(&covered, &target));
    }

    #[test]
    fn shares_split_every_partition_once() {
        let parts: Vec<_> =
            (0..5).map(|p| SourcePartition { topic: "t".into(), contract: Topic::Orders, partition: p }).collect();
        let mut all: Vec<_> = (0..2).flat_map(|w| share(&parts, w, 2)).collect();
        all.sort();
        assert_eq!(all, parts);
    }
}
