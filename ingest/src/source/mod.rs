//! The Kafka source of the pipeline: which partitions exist and where they
//! end, which worker of a cluster reads which, the consumer's settings, and
//! (with the `timely` feature) the timely operator that reads them
//! ([`operator::kafka_source`]).
//!
//! Partitions are assigned by shopflow, not by a consumer group: every
//! process discovers the same sorted list and worker `i` of `n` (across the
//! whole cluster) reads every `n`-th partition from `i`. Each start reads
//! from the beginning: every view is rebuilt from the topics.

#[cfg(feature = "timely")]
pub mod file;
#[cfg(feature = "timely")]
pub mod operator;

use crate::KafkaError;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde::{Deserialize, Serialize};
use shopflow_topics::Topic;
use shopflow_views::settle::Clock;
use std::collections::BTreeMap;
use std::time::Duration;

/// The source offsets a state covers: topic → partition → next offset to read.
pub type Offsets = BTreeMap<String, BTreeMap<i32, i64>>;

/// How long a metadata or watermark request may take.
const METADATA_TIMEOUT: Duration = Duration::from_secs(30);

/// What the source reads, and how.
#[derive(Clone, Debug)]
pub struct SourceConfig {
    /// Kafka bootstrap servers.
    pub brokers: String,
    /// Prefix of every topic name (empty in production; tests isolate with it).
    pub topic_prefix: String,
    /// Consumer group the pipeline commits offsets under (lag tooling only).
    pub group_id: String,
    /// Records one worker reads at once at most (behind a backlog an epoch
    /// spans reads for up to 2 s, whatever their count).
    pub max_epoch_records: usize,
    /// Stop once the end offsets seen at start are read and the partitions are quiet.
    pub exit_when_caught_up: bool,
    /// A partition that has read up to its end offset at start and then had
    /// nothing new for this long is idle: it no longer holds the event-time
    /// watermark back ([`shopflow_views::settle`]).
    pub idle_timeout: Duration,
    /// Alignment: a partition is read at most as far ahead in event time of
    /// the oldest partition that still has a backlog as this many records of
    /// this worker cover at the density read so far...
    pub align_records: u64,
    /// ...and at least this far.
    pub align_window: Duration,
    /// How long the source may find nothing it is allowed to read before it
    /// reads ahead anyway (one second in the pipeline).
    pub align_patience: Duration,
    /// Only events whose time lies in this range enter the dataflows (a
    /// replay's `--from-time`, `--to-time`, `--as-of`); the rest are read
    /// past and counted as skipped.
    pub times: TimeRange,
    /// Records that do not decode go to the dead-letter topic (off in a
    /// replay: the live pipeline has already sent them there).
    pub dead_letters: bool,
    /// Per partition (topic as named on the broker), the first offset to
    /// read; a partition not named is read from its beginning.
    pub from_offsets: Offsets,
    /// Per partition, the offset to stop before; a partition not named is
    /// read as far as it reached at start (and on, unless the source exits).
    pub to_offsets: Offsets,
}

/// `targets` with each partition that `to` names ending there at the latest.
pub fn bounded(mut targets: Offsets, to: &Offsets) -> Offsets {
    for (topic, parts) in targets.iter_mut() {
        for (partition, end) in parts.iter_mut() {
            if let Some(stop) = to.get(topic).and_then(|t| t.get(partition)) {
                *end = (*end).min(*stop);
            }
        }
    }
    targets
}

/// A range of event time, both ends inclusive; `None`: open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimeRange {
    /// The earliest event time taken.
    pub from: Option<shopflow_topics::EventTime>,
    /// The latest event time taken.
    pub to: Option<shopflow_topics::EventTime>,
}

impl TimeRange {
    /// Whether `time` lies in the range.
    pub fn contains(&self, time: shopflow_topics::EventTime) -> bool {
        self.from.is_none_or(|from| from <= time) && self.to.is_none_or(|to| time <= to)
    }
}

impl SourceConfig {
    /// The name on the broker of a contract topic.
    pub fn topic_name(&self, topic: Topic) -> String {
        topic.prefixed(&self.topic_prefix)
    }
}

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
        // Answer a fetch within 10 ms even when there is nothing. tansu 0.6 reads what a
        // fetch asks for and then sleeps out the whole wait before answering, found or not,
        // so a record waits half a wait for the next fetch and then a whole one: 1.5 x the
        // wait behind the broker's acknowledgement (`cargo bench --bench broker`, 2,700
        // records/s after a 1M history: 25 ms gave p50 44 ms, 10 ms 21 ms; 5 ms no better
        // under load, as the broker then answers its producers later). An idle consumer sends 100 small
        // fetches a second; a broker that answers when records arrive (Kafka) is no slower.
        .set("fetch.wait.max.ms", "10")
        // After a backlog the local queue is full and librdkafka backs off fetching for
        // 1 s (its default) before looking again: records written just then waited that long.
        .set("fetch.queue.backoff.ms", "25")
        // Fetch in large chunks: replay throughput matters more than per-record latency.
        .set("fetch.max.bytes", "52428800")
        .set("max.partition.fetch.bytes", "10485760")
        .set("queued.max.messages.kbytes", "262144")
        // Each partition has its own queue (the source reads them aligned in event time):
        // a partition stops being fetched once this many of its records wait, so that a
        // replay does not hold every topic in memory at once nor keep asking the broker
        // for partitions it is not reading yet.
        .set("queued.min.messages", "5000");
    config
}

/// Every partition of the topics the pipeline reads ([`Topic::INPUTS`]),
/// sorted: the same list in every process of a cluster.
pub fn partitions(config: &SourceConfig) -> Result<Vec<SourcePartition>, KafkaError> {
    let consumer: BaseConsumer = ClientConfig::new().set("bootstrap.servers", &config.brokers).create()?;
    let mut out = Vec::new();
    for contract in Topic::INPUTS {
        let topic = config.topic_name(contract);
        let metadata = consumer.fetch_metadata(Some(&topic), METADATA_TIMEOUT)?;
        for t in metadata.topics() {
            if t.error().is_some() || t.partitions().is_empty() {
                return Err(KafkaError::Topic {
                    topic: topic.clone(),
                    message: format!("missing on {}: run `shopflow topics create` first", config.brokers),
                });
            }
            for p in t.partitions() {
                out.push(SourcePartition { topic: topic.clone(), contract, partition: p.id() });
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The end offset (high watermark) of each partition now. Some brokers
/// report it low after multi-record batches: never decide "caught up" on it
/// alone ([`Position::at_end`] also needs a quiet poll).
pub fn end_offsets(brokers: &str, partitions: &[SourcePartition]) -> Result<Offsets, KafkaError> {
    let consumer: BaseConsumer = ClientConfig::new().set("bootstrap.servers", brokers).create()?;
    let mut out = Offsets::new();
    for p in partitions {
        let (_, high) = consumer.fetch_watermarks(&p.topic, p.partition, METADATA_TIMEOUT)?;
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

/// The partitions worker `index` of `peers` (counted across the whole cluster) reads.
pub fn share(partitions: &[SourcePartition], index: usize, peers: usize) -> Vec<SourcePartition> {
    partitions.iter().enumerate().filter(|(i, _)| i % peers == index).map(|(_, p)| p.clone()).collect()
}

/// The part of `offsets` that is about `partitions`.
pub fn restrict(offsets: &Offsets, partitions: &[SourcePartition]) -> Offsets {
    let mut out = Offsets::new();
    for p in partitions {
        if let Some(end) = offsets.get(&p.topic).and_then(|parts| parts.get(&p.partition)) {
            out.entry(p.topic.clone()).or_default().insert(p.partition, *end);
        }
    }
    out
}

/// Where one worker's reading stood when it closed an epoch: what the
/// publishing worker records as the offsets a publication covers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Position {
    /// The worker (index across the cluster).
    pub worker: usize,
    /// Next offset to read of each of its partitions.
    pub offsets: Offsets,
    /// Whether it had read past the end offsets seen at start and then found
    /// nothing more in a poll (watermarks alone are not trusted).
    pub at_end: bool,
    /// Each of its partitions' event-time clock.
    pub clocks: BTreeMap<String, BTreeMap<i32, Clock>>,
    /// What reading the epoch it closes took, when it read anything (for traces).
    pub read: Option<ReadStage>,
}

/// What one worker's reading of one epoch took: the pipeline's traces show it
/// as the batch's `read` and `decode` spans.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ReadStage {
    /// When the epoch's first record was asked for (ns since the Unix epoch).
    pub opened_ns: u64,
    /// When the epoch was closed.
    pub closed_ns: u64,
    /// Records read.
    pub records: u64,
    /// Time spent decoding them (the envelope, the facts, the audit row), summed.
    pub decode_ns: u64,
}

impl ReadStage {
    /// Counts `records` read in an activation that started at `started_ns`, `decode` of it decoding.
    pub fn add(stage: &mut Option<ReadStage>, started_ns: u64, records: usize, decode: std::time::Duration) {
        if records == 0 {
            return;
        }
        let stage = stage.get_or_insert(ReadStage { opened_ns: started_ns, ..ReadStage::default() });
        stage.records += records as u64;
        stage.decode_ns += u64::try_from(decode.as_nanos()).unwrap_or(u64::MAX);
    }

    /// The stage of an epoch closed now, leaving none behind.
    pub fn close(stage: &mut Option<ReadStage>) -> Option<ReadStage> {
        stage.take().map(|s| ReadStage { closed_ns: unix_ns(), ..s })
    }
}

/// Now, in nanoseconds since the Unix epoch.
pub fn unix_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
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
        // Four workers of a cluster, e.g. two processes of two: still each partition once.
        let mut all: Vec<_> = (0..4).flat_map(|w| share(&parts, w, 4)).collect();
        all.sort();
        assert_eq!(all, parts);
    }

    #[test]
    fn restrict_keeps_only_the_given_partitions() {
        let mut offsets = Offsets::new();
        offsets.entry("t".into()).or_default().extend([(0, 3), (1, 4)]);
        let mine = [SourcePartition { topic: "t".into(), contract: Topic::Orders, partition: 1 }];
        let expected: Offsets = [("t".to_string(), [(1, 4)].into_iter().collect())].into_iter().collect();
        assert_eq!(restrict(&offsets, &mine), expected);
    }
}
