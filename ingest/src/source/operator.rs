//! The timely operator that reads this worker's share of the source
//! partitions.
//!
//! Time is the wall clock in milliseconds: an activation that reads emits
//! what it read at the start of the [`LIVE_GRID`] window it is in and then
//! moves the operator's capability to the next window (reading again when
//! that begins), so the workers reading in one window share its epoch and no
//! epoch runs ahead of the clock. An activation that reads nothing leaves the
//! capability where it is — every move is a frontier change each worker
//! propagates through the whole dataflow — unless a source of the process has
//! closed an epoch it holds back (it then moves past that: the closing
//! source wakes the others for it) or it has not moved for an [`IDLE_TICK`].
//! Behind (the read budget filled), the epoch stays open for up to
//! [`EPOCH_SPAN`] of reading and starts on a span boundary, so that
//! downstream a reduce evaluates a changed key once per span rather than once
//! per activation of each worker. Workers park between activations instead of
//! polling on a timer: a record arriving wakes, through the consumer queue's
//! non-empty callback, every source of the process ([`Wakers`]); while records
//! keep arriving they follow up every [`BUSY_TICK`], and otherwise wake every
//! [`IDLE_TICK`] (to notice a stop, decide "caught up", and let peers in
//! other processes of a cluster move on).
//!
//! Reading is aligned in event time: each partition has its own queue
//! (librdkafka prefetches into it), and the source reads from the partition
//! whose newest event time is the oldest, never taking a partition further
//! ahead of the oldest partition of the process that still has a backlog
//! (not yet read to where it ended at start) than its *reach*: the event
//! time that [`SourceConfig::align_records`] records cover at the density
//! read so far, and at least [`SourceConfig::align_window`]. (A fixed span
//! of event time would be a few records on a sparse history, and the
//! workers would take turns record by record, or millions of records on a
//! busy one.) Without it a replay reads the topics one after another in
//! whatever order the broker's fetch answers fill (on tansu, nearly topic by
//! topic): the event-time watermark — the minimum over partitions — cannot
//! move until the last topic is reached, and every derived event waits in
//! the publisher until the end. Live partitions (read to their end) are
//! never held back by one another; a partition that stays behind without
//! delivering anything for [`SourceConfig::align_patience`] stops holding the others.
//!
//! Three streams leave it: the caller's decoded records (`D`), the caller's
//! audit rows (`A`), and this worker's [`Position`] each time it changes.
//! Records that do not decode go to the dead-letter topic with the reason;
//! the partition keeps flowing.

use super::{covers, restrict, unix_ns, Offsets, Position, ReadStage, SourceConfig, SourcePartition, TimeRange};
use crate::producer::RecordProducer;
use crate::KafkaError;
use rdkafka::consumer::base_consumer::PartitionQueue;
use rdkafka::consumer::{BaseConsumer, Consumer, DefaultConsumerContext};
use rdkafka::error::KafkaError as RdError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};
use shopflow_topics::events::DeadLetter;
use shopflow_topics::hash::derived_id;
use shopflow_topics::{Envelope, Event, EventTime, Topic, TopicKind};
use shopflow_views::settle::Clock;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
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
    /// Each source's oldest backlogged partition's newest event time
    /// ([`i64::MAX`]: none backlogged; [`i64::MIN`]: one has read nothing yet).
    lows: std::sync::Mutex<Vec<Arc<AtomicI64>>>,
    /// The newest epoch a source of this process has closed: the others move past it.
    closed: AtomicU64,
}

impl Wakers {
    fn register(&self, activator: timely::scheduling::SyncActivator) {
        self.activators.lock().expect("not poisoned").push(activator);
    }

    fn wake_all(&self) {
        self.last_arrival.store(now_ms(), Ordering::Relaxed);
        self.activate_all();
    }

    fn activate_all(&self) {
        for activator in self.activators.lock().expect("not poisoned").iter() {
            let _ = activator.activate();
        }
    }

    /// A source closed `epoch`: the others are woken to move past it (the epoch
    /// completes only when every source has).
    fn close(&self, epoch: Epoch) {
        self.closed.fetch_max(epoch, Ordering::Relaxed);
        self.activate_all();
    }

    /// The newest epoch a source of this process has closed.
    fn newest_closed(&self) -> Epoch {
        self.closed.load(Ordering::Relaxed)
    }

    /// A new source's slot for its low mark.
    fn low_slot(&self) -> Arc<AtomicI64> {
        let slot = Arc::new(AtomicI64::new(i64::MAX));
        self.lows.lock().expect("not poisoned").push(slot.clone());
        slot
    }

    /// The oldest low mark of the process's sources.
    fn low(&self) -> i64 {
        self.lows
            .lock()
            .expect("not poisoned")
            .iter()
            .map(|slot| slot.load(Ordering::Relaxed))
            .min()
            .unwrap_or(i64::MAX)
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
/// Two: one being computed while the next is read. With four, a backlog held
/// up to four epochs of rendered changes and audit rows waiting at worker 0
/// for the slowest view (a heap profile at the 10M peak, BENCHMARKS.md), and
/// the 10M history ran no faster.
pub const IN_FLIGHT: usize = 2;

/// How long an epoch stays open at most while the source has a backlog
/// (each activation fills its read budget). Quiet, every activation that
/// reads closes its epoch; behind, fewer and larger epochs cost the
/// operators downstream less (a reduce evaluates each changed key once per
/// epoch) without delaying anything that was not already waiting.
pub const EPOCH_SPAN: Duration = Duration::from_millis(2000);

/// The windows of wall-clock time a live source's epochs start on: a worker
/// reads into the epoch of the window it is in, at most once per window (what
/// arrives after it closed that epoch waits for the next window). The workers
/// reading about together then share an epoch, and the dataflow, whose cost
/// is mostly per epoch at a moderate load, steps half as many; a record waits
/// at most a window more for its epoch to be read and close.
pub const LIVE_GRID: Duration = Duration::from_millis(5);

/// How long one activation reads at most.
const READ_BUDGET: Duration = Duration::from_millis(50);

/// The largest dead-letter record sent: 1,000,000 bytes, the default
/// largest record of librdkafka's producers and of Kafka brokers, so that a
/// letter is taken by a broker as it is configured out of the box.
pub const LETTER_MAX_BYTES: usize = 1_000_000;

/// How many records are read from one partition before choosing again.
const RUN: usize = 512;

/// How many records' worth of event time the pipeline's source reads a
/// partition ahead of the oldest backlogged one ([`SourceConfig::align_records`]):
/// about what the derived events waiting for the watermark amount to during a replay.
pub const ALIGN_RECORDS: u64 = 20_000;

/// How long the pipeline's source may find nothing it is allowed to read
/// before it reads ahead anyway ([`SourceConfig::align_patience`]):
/// alignment orders the reading, it must never stop it (a backlogged
/// partition whose records do not come, an offset the broker never reaches).
pub const ALIGN_PATIENCE: Duration = Duration::from_secs(1);

/// Counters the source keeps (this process).
#[derive(Default, Debug)]
pub struct SourceCounters {
    /// Records read.
    pub records: AtomicU64,
    /// Records sent to the dead-letter topic (or, in a replay, that would have been).
    pub dead_letters: AtomicU64,
    /// Records read past: their event time lies outside the source's range
    /// (and, from a file, lines of topics not read and lines that are not a record).
    pub skipped: AtomicU64,
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

/// One partition this worker reads, and where its reading stands.
struct Lane {
    /// The topic as named on the broker.
    topic: String,
    /// The contract topic it carries.
    contract: Topic,
    partition: i32,
    /// Next offset to read.
    next: i64,
    /// Where it ended when the source started.
    target: i64,
    /// Its fetcher has reported reaching the end at least once.
    eof: bool,
    /// Its queue was empty when last polled.
    drained: bool,
    clock: Clock,
    /// When it last had something to read (or was held back).
    last_read: Instant,
    /// The offset it stops before (`None`: it reads on).
    stop: Option<i64>,
}

impl Lane {
    /// Its newest event time, for ordering (nothing read: before everything).
    fn key(&self) -> i64 {
        self.clock.newest.map_or(i64::MIN, |t| t.0)
    }

    /// Whether it still has a backlog from before the start: records in its
    /// queue, or not yet read to where it ended at start. (Its queue counts
    /// because the broker's end offsets can be low: tansu reports them low
    /// after multi-record batches.)
    fn backlogged(&self) -> bool {
        !self.finished() && (!self.drained || (!self.eof && self.next < self.target))
    }

    /// Whether it has read up to where it stops.
    fn finished(&self) -> bool {
        self.stop.is_some_and(|stop| self.next >= stop)
    }
}

/// Where records that do not decode go.
struct Letters {
    /// `None`: counted and logged only (a replay).
    producer: Option<RecordProducer>,
    topic: String,
    stop: Arc<AtomicBool>,
    counters: Arc<SourceCounters>,
    worker: usize,
}

impl Letters {
    fn send(&self, lane: &Lane, message: &BorrowedMessage<'_>, reason: String) {
        let (topic, partition, offset) = (lane.topic.as_str(), lane.partition, message.offset());
        if lane.contract.kind() == TopicKind::Private {
            // Never copied: a private record may hold a password hash, even one that does not decode.
            self.counters.dead_letters.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(topic, partition, offset, "a private record does not decode; skipped, not copied");
            return;
        }
        let value = message.payload().unwrap_or_default();
        let letter = DeadLetter::new(topic, partition, offset, message.key(), value, reason.clone());
        let id = derived_id(&["dead-letter", topic, &partition.to_string(), &offset.to_string()]);
        let (key, value) = letter_record(Envelope::new(id, "shopflow", EventTime::now(), letter), value.len());
        let Some(producer) = &self.producer else {
            self.counters.dead_letters.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(topic, partition, offset, %reason, "does not decode (not sent again)");
            return;
        };
        if let Err(error) = producer.send(&self.topic, &key, &value) {
            let error = shopflow_topics::error::chain(&error);
            tracing::error!(worker = self.worker, topic, partition, offset, "dead letter not sent: {error}");
            self.stop.store(true, Ordering::SeqCst);
        }
        self.counters.dead_letters.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(topic, partition, offset, %reason, "dead letter");
    }
}

/// The key and value of a dead letter's record. The letter copies the
/// original when its record stays within [`LETTER_MAX_BYTES`]; otherwise it
/// goes without the copy, its reason saying so: the original stays at its
/// offset in the source topic, which is kept for ever.
/// `original` is the size of the record the letter is about.
pub(crate) fn letter_record(mut envelope: Envelope, original: usize) -> (String, Vec<u8>) {
    let value = envelope.to_json();
    if value.len() <= LETTER_MAX_BYTES {
        return (envelope.key().to_string(), value);
    }
    if let Event::DeadLetter(letter) = &mut envelope.event {
        letter.payload = None;
        letter.payload_base64 = None;
        letter.reason = format!(
            "{}; the original ({} bytes) is not copied into the letter, which holds at most {LETTER_MAX_BYTES} bytes: \
             it stays at its offset in {}",
            letter.reason, original, letter.topic
        );
    }
    (envelope.key().to_string(), envelope.to_json())
}

/// Takes one record of `lane`: its decoded record and audit row, or `None`
/// when it went to the dead-letter topic or lies outside `times`.
fn take<D, A>(
    lane: &mut Lane,
    message: &BorrowedMessage<'_>,
    decode: &mut impl FnMut(Record<'_>) -> (D, A),
    letters: &Letters,
    pace: &mut Pace,
    times: &TimeRange,
) -> Option<(D, A)> {
    let offset = message.offset();
    if let Some(stop) = lane.stop.filter(|stop| offset >= *stop) {
        // Past the range: not taken (offsets may skip, so the lane ends at its stop).
        lane.next = lane.next.max(stop);
        return None;
    }
    lane.next = lane.next.max(offset + 1);
    lane.last_read = Instant::now();
    let value = message.payload().unwrap_or_default();
    match Envelope::decode_record(lane.contract.name(), message.key(), value) {
        Ok(envelope) if !times.contains(envelope.time) => {
            letters.counters.skipped.fetch_add(1, Ordering::Relaxed);
            None
        }
        Ok(envelope) => {
            lane.clock.newest = lane.clock.newest.max(Some(envelope.time));
            pace.note(envelope.time.0);
            Some(decode(Record { envelope, topic: &lane.topic, partition: lane.partition, offset }))
        }
        Err(reason) => {
            letters.send(lane, message, reason.to_string());
            None
        }
    }
}

/// How densely this worker's records lie in event time.
#[derive(Default)]
struct Pace {
    /// Oldest and newest event time read.
    span: Option<(i64, i64)>,
    /// Records read.
    records: u64,
}

impl Pace {
    fn note(&mut self, time: i64) {
        self.records += 1;
        self.span = Some(self.span.map_or((time, time), |(first, last)| (first.min(time), last.max(time))));
    }

    /// The event time `records` records cover at the density read so far, at least `window`.
    fn reach(&self, window: i64, records: u64) -> i64 {
        let Some((first, last)) = self.span else { return window };
        let per_record = (last.saturating_sub(first) / self.records.max(1) as i64).max(0);
        window.max(per_record.saturating_mul(i64::try_from(records).unwrap_or(i64::MAX)))
    }
}

/// The lane to read next: the one with the oldest newest event time among
/// those not found empty, if it is within `limit`.
fn pick(lanes: &[Lane], empty: &[bool], limit: i64) -> Option<usize> {
    lanes
        .iter()
        .enumerate()
        .filter(|(i, _)| !empty[*i])
        .min_by_key(|(_, lane)| lane.key())
        .filter(|(_, lane)| lane.key() <= limit)
        .map(|(i, _)| i)
}

/// The newest event time of this worker's oldest backlogged lane
/// ([`i64::MAX`] when none is backlogged).
fn low_mark(lanes: &[Lane]) -> i64 {
    lanes.iter().filter(|lane| lane.backlogged()).map(Lane::key).min().unwrap_or(i64::MAX)
}

/// Moves the source's capabilities (one per output, moved together) to `time`.
fn move_to(caps: &mut [Capability<Epoch>], time: Epoch) {
    for cap in caps.iter_mut() {
        cap.downgrade(&time);
    }
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
    let worker = scope.index();

    let mut builder = OperatorBuilder::new("KafkaSource".to_owned(), scope);
    let address = builder.operator_info().address;
    let activator = scope.activator_for(address.clone());
    // Records arriving wake the sources of this process, from librdkafka's thread.
    wakers.register(scope.worker().sync_activator_for(address.to_vec()));
    let waker = wakers.clone();
    consumer.set_nonempty_callback(move || waker.wake_all());
    let consumer = Arc::new(consumer);
    let mut assignment = TopicPartitionList::new();
    let from = |p: &SourcePartition| config.from_offsets.get(&p.topic).and_then(|t| t.get(&p.partition)).copied();
    for p in &partitions {
        let start = from(p).map_or(Offset::Beginning, Offset::Offset);
        assignment.add_partition_offset(&p.topic, p.partition, start)?;
    }
    consumer.assign(&assignment)?;
    // Each partition into its own queue, so that the source chooses what to read next.
    let mut queues: Vec<PartitionQueue<DefaultConsumerContext>> = Vec::with_capacity(partitions.len());
    let mut lanes: Vec<Lane> = Vec::with_capacity(partitions.len());
    for p in &partitions {
        let mut queue = consumer.split_partition_queue(&p.topic, p.partition).ok_or_else(|| KafkaError::Topic {
            topic: p.topic.clone(),
            message: format!("partition {} has no queue", p.partition),
        })?;
        let waker = wakers.clone();
        queue.set_nonempty_callback(move || waker.wake_all());
        queues.push(queue);
        lanes.push(Lane {
            topic: p.topic.clone(),
            contract: p.contract,
            partition: p.partition,
            next: from(p).unwrap_or(0),
            target: targets.get(&p.topic).and_then(|parts| parts.get(&p.partition)).copied().unwrap_or(0),
            eof: false,
            drained: false,
            clock: Clock::default(),
            last_read: Instant::now(),
            stop: config.to_offsets.get(&p.topic).and_then(|t| t.get(&p.partition)).copied(),
        });
    }
    let letters = Letters {
        producer: if config.dead_letters { Some(RecordProducer::new(&config.brokers)?) } else { None },
        topic: config.topic_name(Topic::DeadLetter),
        stop: stop.clone(),
        counters: counters.clone(),
        worker,
    };
    let my_targets = restrict(&targets, &partitions);
    let window = i64::try_from(config.align_window.as_nanos()).unwrap_or(i64::MAX);
    let low_slot = wakers.low_slot();

    let (records_output, records) = builder.new_output::<Vec<(D, Epoch, isize)>>();
    let (audit_output, audit) = builder.new_output::<Vec<(A, Epoch, isize)>>();
    let (positions_output, positions) = builder.new_output::<Vec<(Position, Epoch, isize)>>();
    let mut records_output = OutputBuilder::from(records_output);
    let mut audit_output = OutputBuilder::from(audit_output);
    let mut positions_output = OutputBuilder::from(positions_output);

    builder.build(move |capabilities| {
        // One capability per output: records, audit rows, positions; moved together.
        let mut capability: Option<Vec<Capability<Epoch>>> = Some(capabilities);
        let mut reported: Option<Position> = None;
        let mut quiet_since: Option<Instant> = None;
        // Since when alignment has allowed nothing to be read.
        let mut blocked_since: Option<Instant> = None;
        let mut pace = Pace::default();
        let mut in_flight: VecDeque<Epoch> = VecDeque::new();
        // Since when the current epoch has had records (it stays open while the source
        // has a backlog, up to EPOCH_SPAN), and whether the last activation left a backlog.
        let mut opened: Option<Instant> = None;
        let mut backlog = false;
        // What reading the open epoch has taken (traces).
        let mut stage: Option<ReadStage> = None;
        // What this activation read, given at its epoch once reading is done.
        let mut taken: Vec<(D, A)> = Vec::new();
        // When the capability last moved.
        let mut moved = Instant::now();
        move |_frontiers| {
            let Some(caps) = capability.as_mut() else { return };
            let grid = LIVE_GRID.as_millis() as Epoch;
            // The epoch this activation reads into. The capability moves there only when
            // something is read or changes (below).
            let mut time = *caps[0].time();
            if opened.is_none() {
                // A new epoch, on the start of the live window it is in (under a backlog, of
                // the span), so that the workers' epochs coincide and the operators downstream
                // see one time where they would have seen one per worker per activation.
                let now = now_ms();
                let span = if backlog { EPOCH_SPAN } else { LIVE_GRID }.as_millis() as Epoch;
                let start = now - now % span;
                let next = time;
                if !backlog && next > start && !stop.load(Ordering::SeqCst) {
                    // This worker has closed an epoch in this window: the rest of the window
                    // waits for the next one. (Reading on into the next window's epoch, and
                    // closing that, would take the epochs ahead of the clock, further at each
                    // read: the other workers, whose epochs follow the clock, then held every
                    // epoch back until the clock caught up.)
                    activator.activate_after(Duration::from_millis(next.saturating_sub(now).max(1)));
                    return;
                }
                time = start.max(next);
            }
            in_flight.retain(|epoch| probe.less_equal(epoch));
            let held_back = in_flight.len() >= IN_FLIGHT;

            let mut polled = 0usize;
            let mut more = false;
            let mut blocked = false;
            let mut decoding = Duration::ZERO;
            let started_ns = unix_ns();
            if !held_back {
                let started = Instant::now();
                // The main queue serves the consumer's events; a record there (fetched
                // before its partition was split off) is taken like any other.
                while let Some(event) = consumer.poll(Duration::ZERO) {
                    match event {
                        Ok(message) => {
                            let found = lanes
                                .iter_mut()
                                .find(|lane| lane.topic == message.topic() && lane.partition == message.partition());
                            if let Some(lane) = found {
                                polled += 1;
                                let decode_started = Instant::now();
                                if let Some((record, row)) =
                                    take(lane, &message, &mut decode, &letters, &mut pace, &config.times)
                                {
                                    taken.push((record, row));
                                }
                                decoding += decode_started.elapsed();
                            }
                        }
                        Err(RdError::PartitionEOF(_)) => {}
                        Err(e) => tracing::warn!(worker, "kafka: {e}"),
                    }
                }
                let patient = blocked_since.is_none_or(|since| since.elapsed() < config.align_patience);
                // A lane read up to its stop has nothing more to give.
                for lane in lanes.iter_mut().filter(|lane| lane.finished()) {
                    lane.drained = true;
                }
                let mut empty: Vec<bool> = lanes.iter().map(Lane::finished).collect();
                'read: loop {
                    if polled >= config.max_epoch_records || started.elapsed() >= READ_BUDGET {
                        more = true;
                        break;
                    }
                    low_slot.store(low_mark(&lanes), Ordering::Relaxed);
                    let reach = pace.reach(window, config.align_records);
                    let limit = if patient { wakers.low().saturating_add(reach) } else { i64::MAX };
                    let Some(i) = pick(&lanes, &empty, limit) else {
                        blocked = lanes.iter().zip(&empty).any(|(lane, empty)| !empty && lane.key() > limit);
                        break;
                    };
                    let (lane, queue) = (&mut lanes[i], &queues[i]);
                    for _ in 0..RUN {
                        match queue.poll(Duration::ZERO) {
                            None => {
                                empty[i] = true;
                                lane.drained = true;
                                continue 'read;
                            }
                            Some(Err(RdError::PartitionEOF(_))) => lane.eof = true,
                            Some(Err(e)) => {
                                tracing::warn!(worker, topic = lane.topic, partition = lane.partition, "kafka: {e}");
                                empty[i] = true;
                                continue 'read;
                            }
                            Some(Ok(message)) => {
                                polled += 1;
                                lane.drained = false;
                                let decode_started = Instant::now();
                                if let Some((record, row)) =
                                    take(lane, &message, &mut decode, &letters, &mut pace, &config.times)
                                {
                                    taken.push((record, row));
                                }
                                decoding += decode_started.elapsed();
                                if lane.key() > limit || polled >= config.max_epoch_records {
                                    continue 'read;
                                }
                            }
                        }
                    }
                }
                low_slot.store(low_mark(&lanes), Ordering::Relaxed);
            }
            if !taken.is_empty() {
                move_to(caps, time);
                let mut records = records_output.activate();
                let mut records = records.session(&caps[0]);
                let mut audit = audit_output.activate();
                let mut audit = audit.session(&caps[1]);
                for (record, row) in std::mem::take(&mut taken) {
                    records.give((record, time, 1));
                    audit.give((row, time, 1));
                }
            }
            counters.records.fetch_add(polled as u64, Ordering::Relaxed);
            ReadStage::add(&mut stage, started_ns, polled, decoding);
            if polled > 0 {
                opened.get_or_insert_with(Instant::now);
            }
            backlog = more;
            if polled > 0 {
                quiet_since = None;
                blocked_since = None;
            } else if blocked {
                blocked_since.get_or_insert_with(Instant::now);
            } else if !held_back {
                quiet_since.get_or_insert_with(Instant::now);
            }
            if more && opened.is_some_and(|since| since.elapsed() < EPOCH_SPAN) && !stop.load(Ordering::SeqCst) {
                // Behind: the epoch stays open and reading goes on.
                activator.activate();
                return;
            }

            let offsets = {
                let mut offsets = Offsets::new();
                for lane in &lanes {
                    offsets.entry(lane.topic.clone()).or_default().insert(lane.partition, lane.next);
                }
                offsets
            };
            let at_end = polled == 0 && !held_back && !blocked && covers(&offsets, &my_targets);
            let caught_up = covers(&offsets, &my_targets) && quiet_since.is_some_and(|q| q.elapsed() >= QUIET);
            let finishing = stop.load(Ordering::SeqCst) || (config.exit_when_caught_up && caught_up);
            // Idle: read up to where it ended at start, then nothing new for the idle timeout.
            // Time held back does not count for a partition that may have records waiting
            // (one found empty when last polled keeps ageing: under a steady load the source
            // is often held back, and partitions with nothing to read must still go idle,
            // or the watermark would wait for them for ever). Caught up at the end of a run,
            // every partition is idle: what was read is all there is.
            let mut clocks: BTreeMap<String, BTreeMap<i32, Clock>> = BTreeMap::new();
            for lane in lanes.iter_mut() {
                if (held_back || blocked) && !lane.drained {
                    lane.last_read = Instant::now();
                }
                let reached = lane.target <= lane.next;
                lane.clock.idle =
                    (reached && lane.last_read.elapsed() >= config.idle_timeout) || (finishing && caught_up);
                clocks.entry(lane.topic.clone()).or_default().insert(lane.partition, lane.clock);
            }
            let position = Position { worker, offsets, at_end: at_end || (finishing && caught_up), clocks, read: None };
            let changed = reported.as_ref() != Some(&position);
            if changed {
                // What the epoch's reading took travels with it, not in what `reported` compares.
                let given = Position { read: ReadStage::close(&mut stage), ..position.clone() };
                move_to(caps, time);
                positions_output.activate().session(&caps[2]).give((given, time, 1));
                reported = Some(position);
            }
            if opened.take().is_some() || changed {
                in_flight.push_back(time);
                // On to the next window: this worker reads again when it begins (above), into
                // the epoch the other workers reading then share.
                let next = time - time % grid + grid;
                move_to(caps, next);
                moved = Instant::now();
                wakers.close(time);
            } else {
                // Nothing read and nothing changed: the capability stays (each move is a frontier
                // change that every worker propagates through the whole dataflow, scheduling the
                // operators that asked to hear of it), unless a source of this process closed an
                // epoch it holds back — then it moves past that, as if it had closed it too — or
                // it has not moved for an idle tick (so that time goes on for the other processes
                // of a cluster and for `asOf`).
                let closed = wakers.newest_closed();
                let to = if closed >= *caps[0].time() {
                    Some(closed - closed % grid + grid)
                } else if moved.elapsed() >= IDLE_TICK {
                    Some(time)
                } else {
                    None
                };
                if let Some(to) = to.filter(|to| to > caps[0].time()) {
                    move_to(caps, to);
                    moved = Instant::now();
                }
            }
            if finishing {
                low_slot.store(i64::MAX, Ordering::Relaxed);
                // Dropping a producer purges what it has not delivered.
                let flushed = letters.producer.as_ref().map_or(Ok(()), |p| p.flush(Duration::from_secs(60)));
                if let Err(error) = flushed {
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
            } else if blocked || wakers.busy() {
                activator.activate_after(BUSY_TICK);
            } else {
                activator.activate_after(IDLE_TICK);
            }
        }
    });
    Ok(SourceStreams { records, audit, positions })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter_of(value: &[u8]) -> (String, DeadLetter) {
        let letter = DeadLetter::new("shop.orders", 3, 17, Some(b"ord-1"), value, "not valid JSON: x".into());
        let (key, record) = letter_record(Envelope::new("evt-letter", "shopflow", EventTime(0), letter), value.len());
        assert!(record.len() <= LETTER_MAX_BYTES, "{} bytes", record.len());
        match Envelope::decode_record("shop.dead-letter", Some(key.as_bytes()), &record).unwrap().event {
            Event::DeadLetter(letter) => (key, letter),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_letter_copies_the_original_while_its_record_holds_it() {
        let small = vec![0xff; 1000];
        let (key, letter) = letter_of(&small);
        assert_eq!(key, "shop.orders");
        assert_eq!(letter.payload_base64.as_deref().map(shopflow_topics::base64::decode), Some(Some(small)));
        assert_eq!(letter.reason, "not valid JSON: x");

        // Within the record limit, but in base64 beyond the letter's.
        let large = vec![0xff; 900_000];
        let (_, letter) = letter_of(&large);
        assert_eq!((letter.payload, letter.payload_base64), (None, None));
        assert!(letter.reason.starts_with("not valid JSON: x; the original (900000 bytes) is not copied"));
        assert!(letter.reason.ends_with("at its offset in shop.orders"), "{}", letter.reason);
        assert_eq!((letter.topic.as_str(), letter.partition, letter.offset), ("shop.orders", 3, 17));
    }

    fn lane(newest: Option<i64>, next: i64, target: i64) -> Lane {
        Lane {
            topic: "t".into(),
            contract: Topic::Orders,
            partition: 0,
            next,
            target,
            eof: false,
            drained: true,
            clock: Clock { newest: newest.map(EventTime), idle: false },
            last_read: Instant::now(),
            stop: None,
        }
    }

    #[test]
    fn the_oldest_lane_is_read_first_and_none_beyond_the_limit() {
        let lanes = [lane(Some(30), 1, 9), lane(Some(10), 1, 9), lane(Some(20), 1, 9)];
        assert_eq!(pick(&lanes, &[false; 3], i64::MAX), Some(1));
        // The oldest found empty: the next oldest, if within the limit.
        assert_eq!(pick(&lanes, &[false, true, false], 25), Some(2));
        assert_eq!(pick(&lanes, &[false, true, true], 25), None, "30 is beyond the limit of 25");
        // A lane that has read nothing comes before everything.
        let lanes = [lane(Some(30), 1, 9), lane(None, 0, 9)];
        assert_eq!(pick(&lanes, &[false; 2], i64::MIN), Some(1));
    }

    #[test]
    fn the_reach_covers_the_records_at_the_density_read() {
        let mut pace = Pace::default();
        assert_eq!(pace.reach(5, 100), 5, "nothing read: the window");
        for time in [1_000, 3_000, 2_000, 5_000] {
            pace.note(time);
        }
        // 4 records over 4,000: 1,000 each; 100 records cover 100,000.
        assert_eq!(pace.reach(5, 100), 100_000);
        assert_eq!(pace.reach(500_000, 100), 500_000, "never less than the window");
    }

    #[test]
    fn a_lane_read_up_to_its_stop_is_finished_and_holds_nothing_back() {
        let mut lane = lane(Some(5), 10, 40);
        lane.drained = false;
        assert!(lane.backlogged() && !lane.finished());
        lane.stop = Some(10);
        assert!(lane.finished() && !lane.backlogged(), "nothing more to read: no backlog, whatever its queue holds");
        assert_eq!(low_mark(&[lane]), i64::MAX);
    }

    #[test]
    fn only_lanes_with_a_backlog_hold_the_low_mark() {
        // Read to where it ended at start: live, it holds nothing back.
        let lanes = [lane(Some(5), 9, 9), lane(Some(40), 3, 9)];
        assert_eq!(low_mark(&lanes), 40);
        let mut ended = lane(Some(7), 3, 9);
        ended.eof = true;
        assert_eq!(low_mark(&[ended]), i64::MAX, "its fetcher reached the end below the start's end offset");
        assert_eq!(low_mark(&[lane(None, 0, 9), lane(Some(40), 3, 9)]), i64::MIN);
        // Records still queued: backlogged, wherever the end offsets said it ended.
        let mut queued = lane(Some(7), 9, 9);
        queued.drained = false;
        assert_eq!(low_mark(&[queued, lane(Some(40), 3, 9)]), 7);
        assert_eq!(low_mark(&[]), i64::MAX);
    }
}
