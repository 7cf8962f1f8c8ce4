//! The pipeline: Kafka → timely workers → differential views → Redis,
//! ClickHouse and derived Kafka events, one whole epoch at a time.
//!
//! Each worker reads its share of the source partitions (manual assignment),
//! decodes every record (undecodable ones go to `shop.dead-letter` with the
//! reason), and feeds one epoch per poll round into the dataflow; each worker
//! notes which offsets each epoch covers. Worker 0 watches the output
//! frontier: once it passes epochs, their consolidated changes, the offsets
//! they cover and their audit rows go to the publisher thread, which writes
//! them to the sinks. Every start builds a new generation from the beginning
//! of the topics; it becomes current once it covers the end offsets seen at
//! start.

mod publisher;
pub mod source;

use anyhow::Context;
use differential_dataflow::input::InputSession;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;
use shopflow_dataflows::{build, facts_of, Coll, Visitor};
use shopflow_ingest::producer::RecordProducer;
use shopflow_sinks::clickhouse::EventRow;
use shopflow_sinks::{Family, Offsets};
use shopflow_topics::events::DeadLetter;
use shopflow_topics::hash::derived_id;
use shopflow_topics::{Envelope, EventTime, Topic};
use shopflow_views::derived::Derived;
use shopflow_views::facts::Fact;
use shopflow_views::family::render;
use source::SourcePartition;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the pipeline runs.
#[derive(Clone, Debug)]
pub struct PipelineConfig {
    /// Kafka bootstrap servers.
    pub brokers: String,
    /// Redis URL.
    pub redis_url: String,
    /// Redis key namespace.
    pub namespace: String,
    /// ClickHouse HTTP URL.
    pub clickhouse_url: String,
    /// ClickHouse database.
    pub clickhouse_database: String,
    /// Prefix of every topic name (empty in production; tests isolate with it).
    pub topic_prefix: String,
    /// Consumer group for offset commits (lag tooling).
    pub group_id: String,
    /// Timely workers in this process.
    pub workers: usize,
    /// Records polled into one epoch at most, per worker.
    pub max_epoch_records: usize,
    /// Stop once the end offsets seen at start are published and the source is quiet.
    pub exit_when_caught_up: bool,
}

/// One change of a view, as the sinks take it.
type Change = (Family, String, String);

/// What the workers hand to worker 0 (shared within the process).
#[derive(Default)]
struct Shared {
    /// View changes: (change, epoch, diff).
    changes: Vec<(Change, u64, isize)>,
    /// Derived events: (event, epoch, diff).
    derived: Vec<(Derived, u64, isize)>,
    /// Audit rows of decoded records, by epoch.
    events: Vec<(u64, EventRow)>,
    /// (worker, epoch) → offsets that worker had read when it closed that
    /// epoch, and whether it was then at the end of its partitions (past the
    /// end offsets seen at start, with a poll round that found nothing new:
    /// brokers' watermarks are not trusted alone).
    positions: BTreeMap<(usize, u64), (Offsets, bool)>,
    /// Workers that have finished reading.
    finished: usize,
}

/// Counters the pipeline reports.
#[derive(Default, Debug)]
pub struct Counters {
    /// Records read.
    pub records: AtomicU64,
    /// Records sent to the dead-letter topic.
    pub dead_letters: AtomicU64,
    /// Publications written.
    pub publications: AtomicU64,
    /// Latest published asOf.
    pub as_of: AtomicU64,
    /// Whether the generation is current.
    pub current: AtomicBool,
}

/// A batch of complete epochs for the publisher.
pub struct Batch {
    /// Epochs below this are complete.
    pub upper: u64,
    /// Final value (or deletion) of each changed key.
    pub changes: BTreeMap<(Family, String), Option<String>>,
    /// Derived events that appeared.
    pub derived: Vec<Derived>,
    /// Offsets covered.
    pub offsets: Offsets,
    /// Whether every worker had reached the end of its partitions.
    pub at_end: bool,
    /// Audit rows.
    pub events: Vec<EventRow>,
}

impl Batch {
    /// Folds a later batch into this one: later values win, offsets only grow.
    pub fn absorb(&mut self, later: Batch) {
        self.upper = self.upper.max(later.upper);
        self.changes.extend(later.changes);
        self.derived.extend(later.derived);
        for (topic, parts) in later.offsets {
            let mine = self.offsets.entry(topic).or_default();
            for (partition, next) in parts {
                let slot = mine.entry(partition).or_insert(next);
                *slot = (*slot).max(next);
            }
        }
        self.at_end = later.at_end;
        self.events.extend(later.events);
    }
}

/// Renders every view's changes into the shared buffer.
struct Publishing<'s> {
    shared: Arc<Mutex<Shared>>,
    parts: Vec<Coll<'s, ()>>,
}

impl<'s> Visitor<'s> for Publishing<'s> {
    fn visit<K, V>(&mut self, family: Family, view: Coll<'s, (K, V)>)
    where
        K: differential_dataflow::ExchangeData + Serialize,
        V: differential_dataflow::ExchangeData + Serialize,
    {
        let shared = self.shared.clone();
        let published = view.inspect_batch(move |_, updates| {
            let mut rendered = Vec::with_capacity(updates.len());
            for ((key, value), time, diff) in updates {
                let (key, value) = render(key, value);
                rendered.push(((family, key, value), *time, *diff));
            }
            shared.lock().expect("not poisoned").changes.extend(rendered);
        });
        self.parts.push(published.map(|_| ()));
    }
}

/// Runs the pipeline until `stop` is set (or, with `exit_when_caught_up`, until caught up).
pub fn run(config: PipelineConfig, stop: Arc<AtomicBool>, counters: Arc<Counters>) -> anyhow::Result<()> {
    let generation = format!("g{}", chrono::Utc::now().timestamp_millis());
    let partitions = source::partitions(&config.brokers, &config.topic_prefix)?;
    let targets = source::end_offsets(&config.brokers, &partitions)?;
    let target_records: i64 = targets.values().flat_map(|p| p.values()).sum();
    tracing::info!(%generation, partitions = partitions.len(), target_records, workers = config.workers, "pipeline starting");

    let (to_publisher, from_workers) = std::sync::mpsc::sync_channel::<Batch>(8);
    let publisher =
        publisher::spawn(config.clone(), generation.clone(), targets.clone(), from_workers, counters.clone())?;

    let shared = Arc::new(Mutex::new(Shared::default()));
    let workers = config.workers.max(1);
    let guards = {
        let config = config.clone();
        let counters = counters.clone();
        let stop = stop.clone();
        timely::execute(timely::Config::process(workers), move |worker| {
            let index = worker.index();
            let peers = worker.peers();
            let mine = source::share(&partitions, index, peers);
            let result = run_worker(worker, &config, &mine, &targets, &shared, &stop, &counters, &to_publisher);
            if let Err(error) = &result {
                tracing::error!(worker = index, "worker failed: {error:#}");
                stop.store(true, Ordering::SeqCst);
            }
            result.map_err(|e| format!("{e:#}"))
        })
        .map_err(|e| anyhow::anyhow!("starting timely: {e}"))?
    };
    let mut failure = None;
    for result in guards.join() {
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) | Err(e) => failure = Some(e),
        }
    }
    // The workers dropped their senders: the publisher drains and ends.
    let published = publisher.join().map_err(|_| anyhow::anyhow!("publisher panicked"))?;
    // The publisher's own error says more than a worker's "the publisher stopped".
    published.context("publishing")?;
    if let Some(e) = failure {
        anyhow::bail!("pipeline worker failed: {e}");
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn run_worker(
    worker: &mut timely::worker::Worker,
    config: &PipelineConfig,
    mine: &[SourcePartition],
    targets: &Offsets,
    shared: &Arc<Mutex<Shared>>,
    stop: &AtomicBool,
    counters: &Counters,
    to_publisher: &std::sync::mpsc::SyncSender<Batch>,
) -> anyhow::Result<()> {
    let index = worker.index();
    let peers = worker.peers();
    let mut input: InputSession<u64, (String, Vec<Fact>), isize> = InputSession::new();
    let probe = worker.dataflow::<u64, _, _>(|scope| {
        let views = build(input.to_collection(scope));
        let mut publishing = Publishing { shared: shared.clone(), parts: Vec::new() };
        views.for_each(&mut publishing);
        let sink = shared.clone();
        let derived = views.derived.inspect_batch(move |_, updates| {
            let rows = updates.iter().map(|(event, time, diff)| (event.clone(), *time, *diff));
            sink.lock().expect("not poisoned").derived.extend(rows);
        });
        let mut parts = publishing.parts;
        parts.push(derived.map(|_| ()));
        let (probe, _) = parts.into_iter().reduce(|a, b| a.concat(b)).expect("views").probe();
        probe
    });

    let consumer: BaseConsumer = source::consumer_config(&config.brokers, &config.group_id).create()?;
    let mut assignment = TopicPartitionList::new();
    for p in mine {
        assignment.add_partition_offset(&p.topic, p.partition, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    let dead_letters = RecordProducer::new(&config.brokers)?;
    let dead_letter_topic = format!("{}{}", config.topic_prefix, Topic::DeadLetter.name());
    let contract_of: BTreeMap<&str, Topic> = mine.iter().map(|p| (p.topic.as_str(), p.contract)).collect();

    // Where this worker has read to: topic → partition → next offset.
    let mut positions: Offsets = Offsets::new();
    for p in mine {
        positions.entry(p.topic.clone()).or_default().insert(p.partition, 0);
    }
    let my_targets: Offsets = targets
        .iter()
        .map(|(t, parts)| {
            let parts = parts.iter().filter(|(p, _)| mine.iter().any(|m| &m.topic == t && m.partition == **p));
            (t.clone(), parts.map(|(p, o)| (*p, *o)).collect())
        })
        .collect();
    let mut epoch: u64 = 0;
    let mut published_upper: u64 = 0;
    let mut publisher_gone = false;
    let mut reading = true;
    let mut quiet_since: Option<Instant> = None;
    let mut events = Vec::new();

    loop {
        if reading {
            let mut polled = 0;
            let round = Instant::now();
            // Wait for records only when the dataflow has nothing left to do.
            let idle = !probe.less_than(&epoch);
            while polled < config.max_epoch_records && round.elapsed() < Duration::from_millis(50) {
                let timeout = if polled == 0 && idle { Duration::from_millis(10) } else { Duration::ZERO };
                let Some(message) = consumer.poll(timeout) else { break };
                let message = match message {
                    Ok(m) => m,
                    Err(KafkaError::PartitionEOF(_)) => continue,
                    Err(e) => {
                        tracing::warn!(worker = index, "kafka: {e}");
                        break;
                    }
                };
                polled += 1;
                let (topic, partition, offset) = (message.topic(), message.partition(), message.offset());
                if let Some(next) = positions.get_mut(topic).and_then(|p| p.get_mut(&partition)) {
                    *next = (*next).max(offset + 1);
                }
                let contract = contract_of.get(topic).copied().unwrap_or(Topic::DeadLetter);
                let value = message.payload().unwrap_or_default();
                match Envelope::decode_record(contract.name(), message.key(), value) {
                    Ok(envelope) => {
                        events.push((epoch, EventRow::new(&envelope, topic, partition, offset)));
                        input.insert((envelope.id.clone(), facts_of(&envelope)));
                    }
                    Err(reason) => {
                        let letter =
                            DeadLetter::new(topic, partition, offset, message.key(), value, reason.to_string());
                        let id = derived_id(&["dead-letter", topic, &partition.to_string(), &offset.to_string()]);
                        let envelope = Envelope::new(id, "shopflow", EventTime::now(), letter);
                        dead_letters.send(&dead_letter_topic, envelope.key(), &envelope.to_json())?;
                        counters.dead_letters.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(topic, partition, offset, %reason, "dead letter");
                    }
                }
            }
            counters.records.fetch_add(polled as u64, Ordering::Relaxed);
            if polled == 0 {
                quiet_since.get_or_insert_with(Instant::now);
            } else {
                quiet_since = None;
            }
            {
                let mut shared = shared.lock().expect("not poisoned");
                let at_end = polled == 0 && source::covers(&positions, &my_targets);
                shared.positions.insert((index, epoch), (positions.clone(), at_end));
                shared.events.append(&mut events);
            }
            epoch += 1;
            input.advance_to(epoch);
            input.flush();

            let caught_up = source::covers(&positions, &my_targets)
                && quiet_since.is_some_and(|q| q.elapsed() > Duration::from_millis(500));
            if stop.load(Ordering::SeqCst) || (config.exit_when_caught_up && caught_up) {
                reading = false;
                input.close_now();
                shared.lock().expect("not poisoned").finished += 1;
                tracing::info!(worker = index, "stopped reading");
            }
        }
        // Move the dataflow along: several steps while it is behind, for a few milliseconds at most.
        let stepping = Instant::now();
        worker.step_or_park(Some(Duration::from_millis(if reading { 0 } else { 5 })));
        while probe.less_than(&epoch) && stepping.elapsed() < Duration::from_millis(5) {
            worker.step();
        }

        if index == 0 {
            let frontier = probe.with_frontier(|f| f.first().copied());
            let upper = frontier.unwrap_or(u64::MAX);
            if upper > published_upper {
                let batch = take_batch(shared, published_upper, upper, peers);
                published_upper = upper;
                if !publisher_gone && to_publisher.send(batch).is_err() {
                    // Stop everyone; keep stepping so the other workers can finish and exit.
                    tracing::error!("the publisher stopped; stopping the pipeline");
                    publisher_gone = true;
                    stop.store(true, Ordering::SeqCst);
                }
            }
            if frontier.is_none() {
                return if publisher_gone { Err(anyhow::anyhow!("the publisher stopped")) } else { Ok(()) };
            }
        } else if !reading && probe.done() {
            return Ok(());
        }
    }
}

trait CloseNow {
    fn close_now(&mut self);
}

impl CloseNow for InputSession<u64, (String, Vec<Fact>), isize> {
    /// Closes the input in place (dropping it would need ownership).
    fn close_now(&mut self) {
        let closed = std::mem::replace(self, InputSession::new());
        drop(closed);
    }
}

/// Takes every update of epochs in `lower..upper` out of the shared buffer, consolidated.
fn take_batch(shared: &Mutex<Shared>, lower: u64, upper: u64, peers: usize) -> Batch {
    let mut shared = shared.lock().expect("not poisoned");
    let (now, later): (Vec<_>, Vec<_>) = shared.changes.drain(..).partition(|(_, t, _)| *t < upper);
    shared.changes = later;
    let mut sums: BTreeMap<Change, isize> = BTreeMap::new();
    for (change, _, diff) in now {
        *sums.entry(change).or_insert(0) += diff;
    }
    // A value that was retracted and asserted again in the same batch (a
    // view's input changed, its value did not) nets to zero: no change.
    let mut changes: BTreeMap<(Family, String), Option<String>> = BTreeMap::new();
    for ((family, key, value), diff) in sums {
        if diff > 0 {
            changes.insert((family, key), Some(value));
        } else if diff < 0 {
            changes.entry((family, key)).or_insert(None);
        }
    }
    let (now, later): (Vec<_>, Vec<_>) = shared.derived.drain(..).partition(|(_, t, _)| *t < upper);
    shared.derived = later;
    let mut derived_sums: BTreeMap<Derived, isize> = BTreeMap::new();
    for (event, _, diff) in now {
        *derived_sums.entry(event).or_insert(0) += diff;
    }
    let derived = derived_sums.into_iter().filter(|(_, d)| *d > 0).map(|(c, _)| c).collect();
    let (now, later): (Vec<_>, Vec<_>) = shared.events.drain(..).partition(|(t, _)| *t < upper);
    shared.events = later;
    let events = now.into_iter().map(|(_, row)| row).collect();
    // Offsets: each worker's position as of the last epoch below `upper`.
    let mut offsets = Offsets::new();
    let mut at_end = true;
    for worker in 0..peers {
        let latest = shared.positions.range((worker, 0)..(worker, upper)).next_back().map(|(_, o)| o.clone());
        match latest {
            Some((positions, worker_at_end)) => {
                at_end &= worker_at_end;
                for (topic, parts) in positions {
                    offsets.entry(topic).or_default().extend(parts);
                }
            }
            None => at_end = false,
        }
        // Keep only the newest entry below `upper` per worker: older ones are covered by it.
        let keep_from = shared.positions.range((worker, 0)..(worker, upper)).next_back().map(|((_, e), _)| *e);
        if let Some(keep_from) = keep_from {
            shared.positions.retain(|(w, e), _| *w != worker || *e >= keep_from);
        }
    }
    let _ = lower;
    // When the dataflow is finished the frontier is empty: name the epoch after the last one read.
    let upper = if upper == u64::MAX { shared.positions.keys().map(|(_, e)| e + 1).max().unwrap_or(0) } else { upper };
    Batch { upper, changes, derived, offsets, at_end, events }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(key: &str, value: &str) -> Change {
        (Family::Rating, key.to_string(), value.to_string())
    }

    #[test]
    fn a_batch_keeps_final_values_and_ignores_values_that_net_to_zero() {
        let shared = Mutex::new(Shared::default());
        shared.lock().unwrap().changes = vec![
            // Replaced: the new value wins.
            (change("a", "1"), 0, -1),
            (change("a", "2"), 0, 1),
            // Retracted and asserted again (its inputs changed, it did not): no change at all.
            (change("b", "7"), 1, -1),
            (change("b", "7"), 1, 1),
            // Gone.
            (change("c", "3"), 1, -1),
            // Not yet complete: stays for a later batch.
            (change("d", "4"), 5, 1),
        ];
        let batch = take_batch(&shared, 0, 2, 1);
        let expected: BTreeMap<(Family, String), Option<String>> =
            [((Family::Rating, "a".to_string()), Some("2".to_string())), ((Family::Rating, "c".to_string()), None)]
                .into_iter()
                .collect();
        assert_eq!(batch.changes, expected);
        assert_eq!(shared.lock().unwrap().changes.len(), 1);
    }
}
