//! The timely operator that reads this worker's share of the source
//! partitions.
//!
//! Time is the wall clock in milliseconds: each activation first moves the
//! operator's capability up to "now", emits what it reads at that time and
//! then moves one past it. Workers park between activations instead of
//! polling on a timer: a record arriving wakes, through the consumer queue's
//! non-empty callback, every source of the process ([`Wakers`]), so the idle
//! ones move their capabilities past the busy one's epoch; while records
//! keep arriving they follow up every [`BUSY_TICK`], and otherwise wake every
//! [`IDLE_TICK`] (to notice a stop, decide "caught up", and let peers in
//! other processes of a cluster move on).
//!
//! Three streams leave it: the caller's decoded records (`D`), the caller's
//! audit rows (`A`), and this worker's [`Position`] each time it changes.
//! Records that do not decode go to the dead-letter topic with the reason;
//! the partition keeps flowing.

use super::{covers, restrict, Offsets, Position, SourceConfig, SourcePartition};
use crate::producer::RecordProducer;
use crate::KafkaError;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError as RdError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use shopflow_topics::events::DeadLetter;
use shopflow_topics::hash::derived_id;
use shopflow_topics::{Envelope, EventTime, Topic};
use shopflow_views::settle::Clock;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::Capability;
use timely::dataflow::{ProbeHandle, Scope, Stream};

/// Logical time of the pipeline: wall-clock milliseconds.
pub type Epoch = u64;

/// How often a source wakes while records arrive in its process: the most
/// a busy worker's epoch waits for the idle ones of the process to move past it.
pub const BUSY_TICK: Duration = Duration::from_millis(2);

/// How often a source wakes when nothing arrives in its process: the most a
/// busy worker's epoch waits for an idle process of its cluster.
pub const IDLE_TICK: Duration = Duration::from_millis(100);

/// How long after the last record arrived the sources of a process keep the busy tick.
const BUSY_FOR: Duration = Duration::from_millis(100);

/// The sources of one process: any record arriving wakes them all. Only
/// scheduling goes through it; data travels through the dataflow.
#[derive(Default)]
pub struct Wakers {
    activators: std::sync::Mutex<Vec<timely::scheduling::SyncActivator>>,
    /// When a record last arrived (ms since the Unix epoch).
    last_arrival: AtomicU64,
}

impl Wakers {
    fn register(&self, activator: timely::scheduling::SyncActivator) {
        self.activators.lock().expect("not poisoned").push(activator);
    }

    fn wake_all(&self) {
        self.last_arrival.store(now_ms(), Ordering::Relaxed);
        for activator in self.activators.lock().expect("not poisoned").iter() {
            let _ = activator.activate();
        }
    }

    fn busy(&self) -> bool {
        now_ms().saturating_sub(self.last_arrival.load(Ordering::Relaxed)) < BUSY_FOR.as_millis() as u64
    }
}

/// How long the partitions must stay quiet after the end offsets are read
/// before the source counts as caught up.
pub const QUIET: Duration = Duration::from_millis(500);

/// How many of this worker's epochs may be in the dataflow at once before it
/// stops reading: bounds what a fast source piles up ahead of the views.
pub const IN_FLIGHT: usize = 4;

/// How long one activation reads at most.
const READ_BUDGET: Duration = Duration::from_millis(50);

/// Counters the source keeps (this process).
#[derive(Default, Debug)]
pub struct SourceCounters {
    /// Records read.
    pub records: AtomicU64,
    /// Records sent to the dead-letter topic.
    pub dead_letters: AtomicU64,
}

/// A record read, as the decoder sees it.
pub struct Record<'a> {
    /// The decoded event.
    pub envelope: Envelope,
    /// The topic as named on the broker.
    pub topic: &'a str,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
}

/// What the source operator needs besides the scope.
pub struct KafkaSource {
    /// What to read.
    pub config: SourceConfig,
    /// This worker's partitions.
    pub partitions: Vec<SourcePartition>,
    /// The end offsets seen at start (of every partition; the source keeps its own).
    pub targets: Offsets,
    /// Set to stop reading (signals, a failed publisher).
    pub stop: Arc<AtomicBool>,
    /// Records and dead letters.
    pub counters: Arc<SourceCounters>,
    /// A probe on the end of the dataflow: the source holds back while
    /// [`IN_FLIGHT`] of its epochs are not through.
    pub probe: ProbeHandle<Epoch>,
    /// The sources of this process, woken together.
    pub wakers: Arc<Wakers>,
}

/// The three streams of the source (each update `(data, time, +1)`).
pub struct SourceStreams<'s, D, A> {
    /// The caller's decoded records.
    pub records: Stream<'s, Epoch, Vec<(D, Epoch, isize)>>,
    /// The caller's audit rows.
    pub audit: Stream<'s, Epoch, Vec<(A, Epoch, isize)>>,
    /// This worker's positions, each time they change.
    pub positions: Stream<'s, Epoch, Vec<(Position, Epoch, isize)>>,
}

fn now_ms() -> Epoch {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as Epoch)
}

/// Reads `source.partitions` into the dataflow, each record through `decode`
/// into a record and an audit row.
pub fn kafka_source<'s, D, A>(
    scope: Scope<'s, Epoch>,
    source: KafkaSource,
    mut decode: impl FnMut(Record<'_>) -> (D, A) + 'static,
) -> Result<SourceStreams<'s, D, A>, KafkaError>
where
    D: Clone + 'static,
    A: Clone + 'static,
{
    let KafkaSource { config, partitions, targets, stop, counters, probe, wakers } = source;
    let mut consumer: BaseConsumer = super::consumer_config(&config.brokers, &config.group_id).create()?;
    let mut assignment = TopicPartitionList::new();
    for p in &partitions {
        assignment.add_partition_offset(&p.topic, p.partition, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    let dead_letters = RecordProducer::new(&config.brokers)?;
    let dead_letter_topic = config.topic_name(Topic::DeadLetter);
    let contract_of: BTreeMap<String, Topic> = partitions.iter().map(|p| (p.topic.clone(), p.contract)).collect();
    let my_targets = restrict(&targets, &partitions);
    let worker = scope.index();

    let mut builder = OperatorBuilder::new("KafkaSource".to_owned(), scope);
    let address = builder.operator_info().address;
    let activator = scope.activator_for(address.clone());
    // Records arriving wake the sources of this process, from librdkafka's thread.
    wakers.register(scope.worker().sync_activator_for(address.to_vec()));
    let waker = wakers.clone();
    consumer.set_nonempty_callback(move || waker.wake_all());
    let (records_output, records) = builder.new_output::<Vec<(D, Epoch, isize)>>();
    let (audit_output, audit) = builder.new_output::<Vec<(A, Epoch, isize)>>();
    let (positions_output, positions) = builder.new_output::<Vec<(Position, Epoch, isize)>>();
    let mut records_output = OutputBuilder::from(records_output);
    let mut audit_output = OutputBuilder::from(audit_output);
    let mut positions_output = OutputBuilder::from(positions_output);

    builder.build(move |capabilities| {
        // One capability per output: records, audit rows, positions; moved together.
        let mut capability: Option<Vec<Capability<Epoch>>> = Some(capabilities);
        // Where this worker has read to: topic → partition → next offset.
        let mut offsets: Offsets = Offsets::new();
        for p in &partitions {
            offsets.entry(p.topic.clone()).or_default().insert(p.partition, 0);
        }
        // Each partition's event-time clock, and since when it has had nothing new to read.
        let mut clocks: BTreeMap<String, BTreeMap<i32, Clock>> = BTreeMap::new();
        let mut last_read: BTreeMap<String, BTreeMap<i32, Instant>> = BTreeMap::new();
        for p in &partitions {
            clocks.entry(p.topic.clone()).or_default().insert(p.partition, Clock::default());
            last_read.entry(p.topic.clone()).or_default().insert(p.partition, Instant::now());
        }
        let mut reported: Option<Position> = None;
        let mut quiet_since: Option<Instant> = None;
        let mut in_flight: VecDeque<Epoch> = VecDeque::new();
        move |_frontiers| {
            let Some(caps) = capability.as_mut() else { return };
            let time = now_ms().max(*caps[0].time());
            for cap in caps.iter_mut() {
                cap.downgrade(&time);
            }
            in_flight.retain(|epoch| probe.less_equal(epoch));
            let held_back = in_flight.len() >= IN_FLIGHT;

            let mut polled = 0usize;
            let mut more = false;
            if !held_back {
                let started = Instant::now();
                let mut records = records_output.activate();
                let mut records = records.session(&caps[0]);
                let mut audit = audit_output.activate();
                let mut audit = audit.session(&caps[1]);
                loop {
                    if polled >= config.max_epoch_records || started.elapsed() >= READ_BUDGET {
                        more = true;
                        break;
                    }
                    let message = match consumer.poll(Duration::ZERO) {
                        None => break,
                        Some(Err(RdError::PartitionEOF(_))) => continue,
                        Some(Err(e)) => {
                            tracing::warn!(worker, "kafka: {e}");
                            break;
                        }
                        Some(Ok(message)) => message,
                    };
                    polled += 1;
                    let (topic, partition, offset) = (message.topic(), message.partition(), message.offset());
                    if let Some(next) = offsets.get_mut(topic).and_then(|p| p.get_mut(&partition)) {
                        *next = (*next).max(offset + 1);
                    }
                    let contract = contract_of.get(topic).copied().unwrap_or(Topic::DeadLetter);
                    let value = message.payload().unwrap_or_default();
                    if let Some(read) = last_read.get_mut(topic).and_then(|p| p.get_mut(&partition)) {
                        *read = Instant::now();
                    }
                    match Envelope::decode_record(contract.name(), message.key(), value) {
                        Ok(envelope) => {
                            if let Some(clock) = clocks.get_mut(topic).and_then(|p| p.get_mut(&partition)) {
                                clock.newest = clock.newest.max(Some(envelope.time));
                            }
                            let (record, row) = decode(Record { envelope, topic, partition, offset });
                            records.give((record, time, 1));
                            audit.give((row, time, 1));
                        }
                        Err(reason) => {
                            let letter =
                                DeadLetter::new(topic, partition, offset, message.key(), value, reason.to_string());
                            let id = derived_id(&["dead-letter", topic, &partition.to_string(), &offset.to_string()]);
                            let envelope = Envelope::new(id, "shopflow", EventTime::now(), letter);
                            if let Err(error) =
                                dead_letters.send(&dead_letter_topic, envelope.key(), &envelope.to_json())
                            {
                                let error = shopflow_topics::error::chain(&error);
                                tracing::error!(worker, topic, partition, offset, "dead letter not sent: {error}");
                                stop.store(true, Ordering::SeqCst);
                            }
                            counters.dead_letters.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!(topic, partition, offset, %reason, "dead letter");
                        }
                    }
                }
            }
            counters.records.fetch_add(polled as u64, Ordering::Relaxed);
            if polled > 0 {
                quiet_since = None;
            } else if !held_back {
                quiet_since.get_or_insert_with(Instant::now);
            }

            let at_end = polled == 0 && !held_back && covers(&offsets, &my_targets);
            let caught_up = covers(&offsets, &my_targets) && quiet_since.is_some_and(|q| q.elapsed() >= QUIET);
            let finishing = stop.load(Ordering::SeqCst) || (config.exit_when_caught_up && caught_up);
            // Idle: read up to where it ended at start, then nothing new for the idle timeout
            // while the source was reading (time held back does not count). Caught up at the
            // end of a run, every partition is idle: what was read is all there is.
            for (topic, partition, read) in
                last_read.iter_mut().flat_map(|(t, parts)| parts.iter_mut().map(move |(p, r)| (t, p, r)))
            {
                if held_back {
                    *read = Instant::now();
                }
                let reached = my_targets.get(topic).and_then(|p| p.get(partition)).copied().unwrap_or(0)
                    <= offsets.get(topic).and_then(|p| p.get(partition)).copied().unwrap_or(0);
                let idle = (reached && read.elapsed() >= config.idle_timeout) || (finishing && caught_up);
                if let Some(clock) = clocks.get_mut(topic).and_then(|p| p.get_mut(partition)) {
                    clock.idle = idle;
                }
            }
            let position = Position {
                worker,
                offsets: offsets.clone(),
                at_end: at_end || (finishing && caught_up),
                clocks: clocks.clone(),
            };
            let changed = reported.as_ref() != Some(&position);
            if changed {
                positions_output.activate().session(&caps[2]).give((position.clone(), time, 1));
                reported = Some(position);
            }
            if polled > 0 || changed {
                in_flight.push_back(time);
                for cap in caps.iter_mut() {
                    cap.downgrade(&(time + 1));
                }
            }
            if finishing {
                // Dropping a producer purges what it has not delivered.
                if let Err(error) = dead_letters.flush(Duration::from_secs(60)) {
                    let error = shopflow_topics::error::chain(&error);
                    tracing::error!(worker, "the last dead letters were not delivered: {error}");
                }
                tracing::info!(worker, "stopped reading");
                capability = None;
                return;
            }
            if more {
                activator.activate();
            } else if held_back {
                activator.activate_after(Duration::from_millis(1));
            } else if wakers.busy() {
                activator.activate_after(BUSY_TICK);
            } else {
                activator.activate_after(IDLE_TICK);
            }
        }
    });
    Ok(SourceStreams { records, audit, positions })
}
