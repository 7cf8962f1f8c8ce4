//! The file source (`shopflow pipeline --from-file PATH`): the records of an
//! NDJSON file of `{"topic", "key", "value"}` lines (what `shopflow generate
//! --out` writes) fed to the same dataflow and sinks as the Kafka source's,
//! so the engine is measured without a broker and a backfill needs none.
//!
//! Line `i` of the file belongs to worker `i mod workers` (every worker of
//! the cluster reads the file and decodes its own lines). Each worker has one
//! lane per topic the pipeline reads, named on the "broker" as the topic with
//! the worker's index for partition: its offsets count that worker's lines of
//! that topic, so a served state says how far into the file it is. Lines
//! whose topic the pipeline does not read are read past and counted skipped,
//! and so are lines that are not a `{topic, key, value}` object (not JSON,
//! not UTF-8), each logged with its line number; records that do not decode
//! are counted and logged as dead letters (there is no broker to send them
//! to). The source ends at the end of the file.

use super::operator::{Epoch, Record, SourceCounters, SourceStreams, EPOCH_SPAN, IN_FLIGHT};
use super::{unix_ns, Offsets, Position, ReadStage, SourceConfig, SourcePartition};
use serde::Deserialize;
use shopflow_topics::{Envelope, Topic};
use shopflow_views::settle::Clock;
use std::collections::{BTreeMap, VecDeque};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::Capability;
use timely::dataflow::{ProbeHandle, Scope};

/// A file that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("reading {path}")]
pub struct FileError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

/// One line of the file.
#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    topic: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    key: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    value: std::borrow::Cow<'a, str>,
}

fn open(path: &Path) -> Result<std::io::BufReader<std::fs::File>, FileError> {
    let file = std::fs::File::open(path).map_err(|source| FileError { path: path.to_path_buf(), source })?;
    Ok(std::io::BufReader::with_capacity(1 << 20, file))
}

/// The contract topic a line names, if the pipeline reads it.
fn input(topic: &str) -> Option<Topic> {
    Topic::INPUTS.into_iter().find(|t| t.name() == topic)
}

/// Every lane of the file for `peers` workers (each topic the pipeline reads,
/// one partition per worker), and how many lines each holds: the targets.
pub fn lanes(path: &Path, prefix: &str, peers: usize) -> Result<(Vec<SourcePartition>, Offsets), FileError> {
    let mut targets = Offsets::new();
    let mut partitions = Vec::new();
    for topic in Topic::INPUTS {
        for worker in 0..peers {
            let partition = i32::try_from(worker).unwrap_or(i32::MAX);
            partitions.push(SourcePartition { topic: topic.prefixed(prefix), contract: topic, partition });
            targets.entry(topic.prefixed(prefix)).or_default().insert(partition, 0);
        }
    }
    partitions.sort();
    let mut reader = open(path)?;
    let mut line = Vec::new();
    let mut index = 0usize;
    loop {
        line.clear();
        let read =
            reader.read_until(b'\n', &mut line).map_err(|source| FileError { path: path.to_path_buf(), source })?;
        if read == 0 {
            break;
        }
        if let Some(topic) = serde_json::from_slice::<Line<'_>>(&line).ok().and_then(|l| input(&l.topic)) {
            let partition = i32::try_from(index % peers).unwrap_or(i32::MAX);
            *targets.entry(topic.prefixed(prefix)).or_default().entry(partition).or_default() += 1;
        }
        index += 1;
    }
    Ok((partitions, targets))
}

/// What the file source operator needs besides the scope.
pub struct FileSource {
    /// Topic prefix, epoch size, time range.
    pub config: SourceConfig,
    /// The file.
    pub path: PathBuf,
    /// How many lines each lane holds ([`lanes`]): a lane read to its count is idle, so it
    /// does not hold the watermark of settled state back until the end of the file.
    pub targets: Offsets,
    /// Set to stop reading.
    pub stop: Arc<AtomicBool>,
    /// Records, dead letters, skipped.
    pub counters: Arc<SourceCounters>,
    /// A probe on the end of the dataflow: the source holds back while [`IN_FLIGHT`] of its
    /// epochs are not through.
    pub probe: ProbeHandle<Epoch>,
}

struct Lane {
    topic: String,
    contract: Topic,
    next: i64,
    /// Its lines in the file.
    target: i64,
    clock: Clock,
}

fn now_ms() -> Epoch {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as Epoch)
}

/// Reads this worker's lines of the file into the dataflow, each record through `decode`.
pub fn file_source<'s, D, A>(
    scope: Scope<'s, Epoch>,
    source: FileSource,
    mut decode: impl FnMut(Record<'_>) -> (D, A) + 'static,
) -> Result<SourceStreams<'s, D, A>, FileError>
where
    D: Clone + 'static,
    A: Clone + 'static,
{
    let FileSource { config, path, targets, stop, counters, probe } = source;
    let (worker, peers) = (scope.index(), scope.peers());
    let partition = i32::try_from(worker).unwrap_or(i32::MAX);
    let mut reader = open(&path)?;
    let mut lanes: Vec<Lane> = Topic::INPUTS
        .into_iter()
        .map(|topic| {
            let name = topic.prefixed(&config.topic_prefix);
            let target = targets.get(&name).and_then(|parts| parts.get(&partition)).copied().unwrap_or(0);
            Lane { topic: name, contract: topic, next: 0, target, clock: Clock::default() }
        })
        .collect();

    let mut builder = OperatorBuilder::new("FileSource".to_owned(), scope);
    let activator = scope.activator_for(builder.operator_info().address);
    let (records_output, records) = builder.new_output::<Vec<(D, Epoch, isize)>>();
    let (audit_output, audit) = builder.new_output::<Vec<(A, Epoch, isize)>>();
    let (positions_output, positions) = builder.new_output::<Vec<(Position, Epoch, isize)>>();
    let mut records_output = OutputBuilder::from(records_output);
    let mut audit_output = OutputBuilder::from(audit_output);
    let mut positions_output = OutputBuilder::from(positions_output);

    builder.build(move |capabilities| {
        let mut capability: Option<Vec<Capability<Epoch>>> = Some(capabilities);
        let mut in_flight: VecDeque<Epoch> = VecDeque::new();
        // Bytes, not text: a line that is not UTF-8 is one bad line, not the end of the file.
        let mut line = Vec::new();
        let mut index = 0usize;
        // Since when the current epoch has had lines: it stays open for up to EPOCH_SPAN of
        // reading, on the span's boundary, so that the workers' epochs coincide and a reduce
        // downstream evaluates a changed key once per span, as behind a Kafka backlog.
        let mut opened: Option<std::time::Instant> = None;
        // What reading the open epoch has taken (traces).
        let mut stage: Option<ReadStage> = None;
        move |_frontiers| {
            let Some(caps) = capability.as_mut() else { return };
            if opened.is_none() {
                in_flight.retain(|epoch| probe.less_equal(epoch));
                if in_flight.len() >= IN_FLIGHT && !stop.load(Ordering::SeqCst) {
                    activator.activate_after(std::time::Duration::from_millis(1));
                    return;
                }
                let now = now_ms();
                let time = (now - now % EPOCH_SPAN.as_millis() as Epoch).max(*caps[0].time());
                for cap in caps.iter_mut() {
                    cap.downgrade(&time);
                }
            }
            let time = *caps[0].time();
            let mut taken = 0usize;
            let mut ended = false;
            let started_ns = unix_ns();
            let mut decoding = std::time::Duration::ZERO;
            {
                let mut records = records_output.activate();
                let mut records = records.session(&caps[0]);
                let mut audit = audit_output.activate();
                let mut audit = audit.session(&caps[1]);
                while taken < config.max_epoch_records {
                    line.clear();
                    match reader.read_until(b'\n', &mut line) {
                        Ok(0) => {
                            ended = true;
                            break;
                        }
                        Ok(_) => {}
                        Err(error) => {
                            tracing::error!(worker, path = %path.display(), "reading the file: {error}");
                            ended = true;
                            break;
                        }
                    }
                    let mine = index % peers == worker;
                    index += 1;
                    if !mine {
                        continue;
                    }
                    taken += 1;
                    let parsed = match serde_json::from_slice::<Line<'_>>(&line) {
                        Ok(parsed) => parsed,
                        Err(error) => {
                            tracing::warn!(worker, path = %path.display(), line = index, "not a record line: {error}");
                            counters.skipped.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                    };
                    let Some(lane) =
                        input(&parsed.topic).and_then(|topic| lanes.iter_mut().find(|lane| lane.contract == topic))
                    else {
                        counters.skipped.fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    let offset = lane.next;
                    lane.next += 1;
                    let key = parsed.key.as_deref().map(str::as_bytes);
                    let decode_started = std::time::Instant::now();
                    match Envelope::decode_record(lane.contract.name(), key, parsed.value.as_bytes()) {
                        Ok(envelope) if !config.times.contains(envelope.time) => {
                            counters.skipped.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(envelope) => {
                            lane.clock.newest = lane.clock.newest.max(Some(envelope.time));
                            let record = Record { envelope, topic: &lane.topic, partition, offset };
                            let (record, row) = decode(record);
                            decoding += decode_started.elapsed();
                            records.give((record, time, 1));
                            audit.give((row, time, 1));
                        }
                        Err(reason) => {
                            counters.dead_letters.fetch_add(1, Ordering::Relaxed);
                            if lane.contract.kind() == shopflow_topics::TopicKind::Private {
                                tracing::warn!(worker, topic = lane.topic, offset, "a private record does not decode");
                            } else {
                                tracing::debug!(worker, topic = lane.topic, offset, %reason, "does not decode");
                            }
                        }
                    }
                }
            }
            counters.records.fetch_add(taken as u64, Ordering::Relaxed);
            ReadStage::add(&mut stage, started_ns, taken, decoding);
            let finishing = ended || stop.load(Ordering::SeqCst);
            let since = *opened.get_or_insert_with(std::time::Instant::now);
            if !finishing && since.elapsed() < EPOCH_SPAN {
                activator.activate();
                return;
            }
            opened = None;
            let mut offsets = Offsets::new();
            let mut clocks: BTreeMap<String, BTreeMap<i32, Clock>> = BTreeMap::new();
            for lane in lanes.iter_mut() {
                // A lane read to its count (one with no lines at all from the start) has nothing
                // more to come: idle, as a Kafka partition read to its end and quiet.
                lane.clock.idle = ended || lane.next >= lane.target;
                offsets.entry(lane.topic.clone()).or_default().insert(partition, lane.next);
                clocks.entry(lane.topic.clone()).or_default().insert(partition, lane.clock);
            }
            let position = Position { worker, offsets, at_end: ended, clocks, read: ReadStage::close(&mut stage) };
            positions_output.activate().session(&caps[2]).give((position, time, 1));
            in_flight.push_back(time);
            if finishing {
                tracing::info!(worker, lines = index, "the file is read");
                capability = None;
                return;
            }
            for cap in caps.iter_mut() {
                cap.downgrade(&(time + 1));
            }
            activator.activate();
        }
    });
    Ok(SourceStreams { records, audit, positions })
}
