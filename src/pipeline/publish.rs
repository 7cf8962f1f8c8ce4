//! What leaves the dataflow for the sinks, and how it gets there: every
//! worker renders its share of each view's changes, and everything —
//! changes, derived events, audit rows, the readers' positions — travels
//! through a timely exchange to worker 0, whose [`collect`] operator turns
//! each run of complete epochs into one [`Batch`] for the publisher thread.
//! Nothing reaches the sinks through memory shared between workers, so the
//! same code runs as one process or as a cluster.

use serde::{Deserialize, Serialize};
use shopflow_dataflows::{Coll, Epoch, Visitor};
use shopflow_ingest::source::{covers, unix_ns, Position, ReadStage};
use shopflow_ingest::Offsets;
use shopflow_sinks::clickhouse::EventRow;
use shopflow_views::derived::Derived;
use shopflow_views::family::{render, render_hash, render_key, rendered_hash};
use shopflow_views::settle::Clock;
use shopflow_views::Family;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::operator::Operator;
use timely::dataflow::operators::generic::OutputBuilderSession;
use timely::dataflow::operators::vec::Map;
use timely::dataflow::Stream;

/// Something the sinks take, as it travels to worker 0.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Out {
    /// A change of a view: (family, rendered key, the hash of the rendered
    /// value, the rendered value). A retraction carries no value: the hash
    /// names which value goes, and only the values that stay are published.
    View(Family, String, u128, Option<String>),
    /// A derived event.
    Derived(Box<Derived>),
    /// A row of the audit log.
    Audit(Box<EventRow>),
    /// Where a worker's reading stands.
    Position(Box<Position>),
}

/// A stream of [`Out`] updates.
pub type Outs<'s> = Stream<'s, Epoch, Updates>;

/// One container of [`Outs`] as it travels.
type Updates = Vec<(Out, Epoch, isize)>;

/// How [`Outs`] are built.
type Builder = CapacityContainerBuilder<Updates>;

/// A batch of complete epochs for the publisher.
#[derive(Debug, Default)]
pub struct Batch {
    /// Epochs below this are complete.
    pub upper: u64,
    /// Final value (or deletion) of each changed key.
    pub changes: BTreeMap<(Family, String), Option<String>>,
    /// Changes of the collection of derived transitions (net, nonzero).
    pub derived: Vec<(Derived, isize)>,
    /// Every source partition's event-time clock, as of `upper`.
    pub clocks: Vec<Clock>,
    /// Offsets covered.
    pub offsets: Offsets,
    /// Whether every worker had reached the end of its partitions.
    pub at_end: bool,
    /// Audit rows.
    pub events: Vec<EventRow>,
    /// What each worker's reading of each epoch took (traces).
    pub reads: Vec<(usize, ReadStage)>,
    /// When the batch's epochs were complete at worker 0 (ns since the Unix epoch).
    pub complete_ns: u64,
}

impl Batch {
    /// Folds a later batch into this one: later values win, offsets only grow.
    pub fn absorb(&mut self, later: Batch) {
        self.upper = self.upper.max(later.upper);
        self.changes.extend(later.changes);
        self.derived.extend(later.derived);
        self.clocks = later.clocks;
        merge_offsets(&mut self.offsets, later.offsets);
        self.at_end = later.at_end;
        self.events.extend(later.events);
        self.reads.extend(later.reads);
        self.complete_ns = later.complete_ns;
    }
}

fn merge_offsets(into: &mut Offsets, from: Offsets) {
    for (topic, parts) in from {
        let mine = into.entry(topic).or_default();
        for (partition, next) in parts {
            let slot = mine.entry(partition).or_insert(next);
            *slot = (*slot).max(next);
        }
    }
}

/// Time spent rendering changes in this process, in nanoseconds, since the
/// publisher last took it ([`take_render_ns`]); counted only while traced.
static RENDER_NS: AtomicU64 = AtomicU64::new(0);

/// The rendering time counted since the last call (the batch's `render` span).
pub fn take_render_ns() -> u64 {
    RENDER_NS.swap(0, Ordering::Relaxed)
}

/// Renders each view's changes where they are computed.
pub struct Rendering<'s> {
    /// The rendered streams so far.
    pub parts: Vec<Outs<'s>>,
    /// Count the time rendering takes (traces are on).
    pub timed: bool,
}

impl<'s> Visitor<'s> for Rendering<'s> {
    fn visit<K, V>(&mut self, family: Family, view: Coll<'s, (K, V)>)
    where
        K: differential_dataflow::ExchangeData + Serialize,
        V: differential_dataflow::ExchangeData + Serialize,
    {
        let timed = self.timed;
        self.parts.push(view.inner.map(move |((key, value), time, diff)| {
            let started = timed.then(Instant::now);
            let out = if diff > 0 {
                let (key, value) = render(&key, &value);
                Out::View(family, key, rendered_hash(&value), Some(value))
            } else {
                Out::View(family, render_key(&key), render_hash(&value), None)
            };
            if let Some(started) = started {
                RENDER_NS.fetch_add(u64::try_from(started.elapsed().as_nanos()).unwrap_or(0), Ordering::Relaxed);
            }
            (out, time, diff)
        }));
    }
}

/// Publish at least this often, even with nothing new: `asOf` says the state is fresh.
const HEARTBEAT: Duration = Duration::from_secs(1);

/// Gathers every [`Out`] at worker 0 and hands the publisher one [`Batch`]
/// per run of complete epochs (changes consolidated, the changes of the
/// derived transitions, the offsets covered, the partitions' clocks). `peers` is the number of workers of the
/// cluster, `targets` the end offsets seen at start; only worker 0 has a
/// `publisher`. When the publisher is busy, later epochs are folded into the
/// waiting batch; when it is gone, `stop` is set. The output carries nothing:
/// a probe on it tells when epochs have been handed over.
pub fn collect<'s>(
    outs: Outs<'s>,
    peers: usize,
    targets: Offsets,
    publisher: Option<SyncSender<Batch>>,
    stop: Arc<AtomicBool>,
) -> Outs<'s> {
    let scope = outs.scope();
    outs.unary_frontier(Exchange::new(|_: &(Out, Epoch, isize)| 0), "Collect", move |_, info| {
        let activator = scope.activator_for(info.address);
        // The containers as they come, by epoch: taken whole, not copied into one growing
        // vector per epoch (which would double, and hold the old and the new while it does).
        let mut pending: BTreeMap<Epoch, Vec<Updates>> = BTreeMap::new();
        // Each worker's latest position among complete epochs.
        let mut positions: BTreeMap<usize, Position> = BTreeMap::new();
        let mut waiting: Option<Batch> = None;
        let mut newest: Epoch = 0;
        let mut last_sent = Instant::now();
        let mut finished = false;
        move |(input, frontier), _output: &mut OutputBuilderSession<'_, Epoch, Builder>| {
            input.for_each_stamp(|_, containers| {
                for container in containers {
                    let Some(&(_, time, _)) = container.first() else { continue };
                    if container.iter().all(|update| update.1 == time) {
                        newest = newest.max(time);
                        pending.entry(time).or_default().push(std::mem::take(container));
                    } else {
                        let mut by_time: BTreeMap<Epoch, Updates> = BTreeMap::new();
                        for update in container.drain(..) {
                            by_time.entry(update.1).or_default().push(update);
                        }
                        for (time, updates) in by_time {
                            newest = newest.max(time);
                            pending.entry(time).or_default().push(updates);
                        }
                    }
                }
            });
            if finished {
                return;
            }
            // Epochs below the frontier are complete; an empty frontier means all are.
            let upper = frontier.frontier().first().copied();
            let complete_below = upper.unwrap_or(Epoch::MAX);
            let has_complete = pending.range(..complete_below).next().is_some();
            if has_complete || upper.is_none() || (waiting.is_none() && last_sent.elapsed() >= HEARTBEAT) {
                let later = pending.split_off(&complete_below);
                let updates = std::mem::replace(&mut pending, later)
                    .into_values()
                    .flatten()
                    .flatten()
                    .map(|(out, _, diff)| (out, diff));
                // When everything is done, name the batch after the last epoch read.
                let batch_upper = upper.unwrap_or(newest + 1);
                let batch = assemble(updates, &mut positions, peers, &targets, batch_upper);
                match waiting.as_mut() {
                    Some(earlier) => earlier.absorb(batch),
                    None => waiting = Some(batch),
                }
            }
            let Some(sender) = publisher.as_ref() else { return };
            let Some(batch) = waiting.take() else { return };
            if upper.is_none() {
                // The last batch: wait for the publisher rather than drop it.
                if sender.send(batch).is_err() {
                    tracing::error!("the publisher stopped before the last batch");
                }
                finished = true;
                return;
            }
            match sender.try_send(batch) {
                Ok(()) => last_sent = Instant::now(),
                Err(TrySendError::Full(batch)) => {
                    waiting = Some(batch);
                    // Try again soon, even if no epoch completes meanwhile.
                    activator.activate_after(Duration::from_millis(2));
                }
                Err(TrySendError::Disconnected(_)) => {
                    tracing::error!("the publisher stopped; stopping the pipeline");
                    stop.store(true, Ordering::SeqCst);
                }
            }
        }
    })
}

/// One batch from the complete updates: consolidated changes (a value that
/// was retracted and asserted again is no change), the net changes of the
/// derived transitions, the latest position of each worker.
fn assemble(
    updates: impl IntoIterator<Item = (Out, isize)>,
    positions: &mut BTreeMap<usize, Position>,
    peers: usize,
    targets: &Offsets,
    upper: Epoch,
) -> Batch {
    // Each (family, key, value hash): its net count, and the value if an assertion carried it.
    let mut sums: BTreeMap<(Family, String, u128), (isize, Option<String>)> = BTreeMap::new();
    let mut derived: BTreeMap<Derived, isize> = BTreeMap::new();
    let mut events = Vec::new();
    let mut reads = Vec::new();
    for (out, diff) in updates {
        match out {
            Out::View(family, key, hash, value) => {
                let sum = sums.entry((family, key, hash)).or_insert((0, None));
                sum.0 += diff;
                if value.is_some() {
                    sum.1 = value;
                }
            }
            Out::Derived(event) => *derived.entry(*event).or_insert(0) += diff,
            Out::Audit(row) => events.push(*row),
            Out::Position(position) => {
                if let Some(read) = position.read {
                    reads.push((position.worker, read));
                }
                // Updates come in time order, and a worker reports at most one position per time.
                positions.insert(position.worker, *position);
            }
        }
    }
    let mut changes: BTreeMap<(Family, String), Option<String>> = BTreeMap::new();
    for ((family, key, _), (diff, value)) in sums {
        match value {
            // Only assertions carry a value, so a positive count has one.
            Some(value) if diff > 0 => {
                changes.insert((family, key), Some(value));
            }
            _ if diff < 0 => {
                changes.entry((family, key)).or_insert(None);
            }
            _ => {}
        }
    }
    let mut offsets = Offsets::new();
    for position in positions.values() {
        merge_offsets(&mut offsets, position.offsets.clone());
    }
    let at_end = positions.len() == peers && positions.values().all(|p| p.at_end) && covers(&offsets, targets);
    // Every partition of the source, each read by one worker; one that no worker has reported
    // on yet has read nothing and is not idle.
    let mut clocks: BTreeMap<(&str, i32), Clock> = BTreeMap::new();
    for (topic, parts) in targets {
        for partition in parts.keys() {
            clocks.insert((topic.as_str(), *partition), Clock::default());
        }
    }
    for position in positions.values() {
        for (topic, parts) in &position.clocks {
            for (partition, clock) in parts {
                clocks.insert((topic.as_str(), *partition), *clock);
            }
        }
    }
    Batch {
        upper,
        changes,
        derived: derived.into_iter().filter(|(_, d)| *d != 0).collect(),
        clocks: clocks.into_values().collect(),
        offsets,
        at_end,
        events,
        reads,
        complete_ns: unix_ns(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A change as [`Rendering`] sends it: a retraction names its value by hash alone.
    fn change(key: &str, value: u32, diff: isize) -> (Out, isize) {
        let (key, rendered) = render(&key, &value);
        (Out::View(Family::Rating, key, render_hash(&value), (diff > 0).then_some(rendered)), diff)
    }

    /// Keys given values at times 0..40, each change sent up to three epochs
    /// early (so one container holds several epochs), over `workers`:
    /// replayed in order, the batches [`collect`] hands over must leave, after
    /// each, exactly the values of the changes below that batch's `upper` —
    /// nothing of an epoch not complete, nothing lost.
    fn collect_run(workers: usize, seed: u64) {
        use differential_dataflow::input::InputSession;
        use std::sync::Mutex;
        use timely::dataflow::operators::Probe;
        let rng = shopflow_ingest::generate::Rng::new(seed);
        // (time, key, value): at most one change of a key per time.
        let mut assignments: BTreeMap<(u64, String), u32> = BTreeMap::new();
        for _ in 0..120 {
            assignments.insert((rng.below(40), format!("k{}", rng.below(9))), rng.below(1000) as u32);
        }
        // The updates, each with the round it is sent in (up to 3 before its time).
        let mut sends: Vec<(u64, u64, Out, isize)> = Vec::new();
        let mut current: BTreeMap<String, u32> = BTreeMap::new();
        for ((time, key), value) in &assignments {
            let round = time.saturating_sub(rng.below(4));
            if let Some(old) = current.insert(key.clone(), *value) {
                let (out, diff) = change(key, old, -1);
                sends.push((round, *time, out, diff));
            }
            let (out, diff) = change(key, *value, 1);
            sends.push((round, *time, out, diff));
        }
        let expected_below = |upper: u64| -> BTreeMap<(Family, String), String> {
            let mut state = BTreeMap::new();
            for ((_, key), value) in assignments.range(..(upper, String::new())) {
                let (key, rendered) = render(&key.as_str(), value);
                state.insert((Family::Rating, key), rendered);
            }
            state
        };
        let (sender, receiver) = std::sync::mpsc::sync_channel::<Batch>(1);
        let drain = std::thread::spawn(move || receiver.into_iter().collect::<Vec<Batch>>());
        let sender = Arc::new(Mutex::new(Some(sender)));
        let sends = Arc::new(sends);
        timely::execute(timely::Config::process(workers), move |worker| {
            let index = worker.index();
            let peers = worker.peers();
            let publisher = if index == 0 { sender.lock().unwrap().take() } else { None };
            let mut input: InputSession<u64, Out, isize> = InputSession::new();
            let probe = worker.dataflow::<u64, _, _>(|scope| {
                let outs = input.to_collection(scope).inner;
                collect(outs, peers, Offsets::new(), publisher, Arc::new(AtomicBool::new(false))).probe().0
            });
            for round in 0..40u64 {
                for (i, (_, time, out, diff)) in sends.iter().enumerate().filter(|(_, send)| send.0 == round) {
                    if i % peers == index {
                        input.update_at(out.clone(), *time, *diff);
                    }
                }
                input.advance_to(round + 1);
                input.flush();
                while probe.less_than(input.time()) {
                    worker.step();
                }
            }
        })
        .expect("workers ran");
        let batches = drain.join().expect("the drain thread");
        assert!(batches.len() > 1, "more than one batch: {}", batches.len());
        let mut state: BTreeMap<(Family, String), String> = BTreeMap::new();
        for batch in &batches {
            for (key, value) in &batch.changes {
                match value {
                    Some(value) => state.insert(key.clone(), value.clone()),
                    None => state.remove(key),
                };
            }
            assert_eq!(state, expected_below(batch.upper), "after the batch up to {}", batch.upper);
        }
        assert_eq!(state, expected_below(u64::MAX), "in the end");
    }

    #[test]
    fn collect_hands_over_complete_epochs_only_and_all_of_them_on_one_worker() {
        for seed in 1..4 {
            collect_run(1, seed);
        }
    }

    #[test]
    fn collect_hands_over_complete_epochs_only_and_all_of_them_on_three_workers() {
        for seed in 1..4 {
            collect_run(3, seed);
        }
    }

    #[test]
    fn a_batch_keeps_final_values_and_ignores_values_that_net_to_zero() {
        let updates = vec![
            // Replaced: the new value wins.
            change("a", 1, -1),
            change("a", 2, 1),
            // Retracted and asserted again (its inputs changed, it did not): no change at all.
            change("b", 7, -1),
            change("b", 7, 1),
            // Gone.
            change("c", 3, -1),
            // Replaced, then the replacement replaced back, over three epochs: the last value stays.
            change("d", 4, 1),
            change("d", 4, -1),
            change("d", 5, 1),
            change("d", 5, -1),
            change("d", 4, 1),
            // Asserted, then retracted in a later epoch of the batch: as if never there.
            change("e", 6, 1),
            change("e", 6, -1),
        ];
        let batch = assemble(updates, &mut BTreeMap::new(), 1, &Offsets::new(), 2);
        let expected: BTreeMap<(Family, String), Option<String>> = [
            ((Family::Rating, "a".to_string()), Some("2".to_string())),
            ((Family::Rating, "c".to_string()), None),
            ((Family::Rating, "d".to_string()), Some("4".to_string())),
        ]
        .into_iter()
        .collect();
        assert_eq!(batch.changes, expected);
    }

    #[test]
    fn offsets_are_each_workers_latest_and_at_end_needs_every_worker() {
        let position = |worker: usize, next: i64, at_end: bool| {
            let offsets: Offsets = [(format!("t{worker}"), [(0, next)].into_iter().collect())].into_iter().collect();
            Out::Position(Box::new(Position { worker, offsets, at_end, clocks: BTreeMap::new(), read: None }))
        };
        let targets: Offsets = [("t0".to_string(), [(0, 5)].into_iter().collect())].into_iter().collect();
        let mut positions = BTreeMap::new();
        let first =
            assemble(vec![(position(0, 3, false), 1), (position(0, 5, true), 1)], &mut positions, 2, &targets, 9);
        assert_eq!(first.offsets["t0"][&0], 5, "the later position wins");
        assert!(!first.at_end, "worker 1 has not reported");
        let second = assemble(vec![(position(1, 2, true), 1)], &mut positions, 2, &targets, 10);
        assert!(second.at_end);
        assert_eq!(second.offsets.len(), 2, "a batch covers what every worker has read");
    }
}
