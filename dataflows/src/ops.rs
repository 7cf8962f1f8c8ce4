//! Small operators the families share.

use crate::{id_hash, Coll, Epoch};
use shopflow_topics::EventTime;
use shopflow_views::facts::{Fact, Stamp};

/// Sums the values per key; keys summing to zero vanish.
pub fn sum<'s, K>(rows: Coll<'s, (K, i64)>) -> Coll<'s, (K, i64)>
where
    K: differential_dataflow::ExchangeData + differential_dataflow::Hashable,
{
    rows.explode(|(key, amount)| Some((key, amount as isize))).count().map(|(key, total)| (key, total as i64))
}

/// Counts distinct values per key: the values present (a positive count) in
/// each key's group, by one `reduce` — the rows arranged once by key, and one
/// count per key — where `distinct` then `count` arranged every distinct
/// (key, value) as its input and its output and once more by key.
pub fn count_distinct<'s, K, V>(rows: Coll<'s, (K, V)>) -> Coll<'s, (K, i64)>
where
    K: differential_dataflow::ExchangeData + differential_dataflow::Hashable,
    V: differential_dataflow::ExchangeData,
{
    rows.reduce(|_, values, out| {
        let present = values.iter().filter(|(_, n)| *n > 0).count();
        if present > 0 {
            out.push((present as i64, 1));
        }
    })
}

/// Each `(key, value)` of `left` with its key's value in `right` (`matched`),
/// or, when `right` has none for the key, alone (`unmatched`): a join beside
/// an antijoin, each input arranged once, where `join_map` beside `antijoin`
/// arranges both twice. `right` holds at most one value per key (a view keyed
/// by its entity, a distinct set); a second one would count a row twice.
pub fn join_or_alone<'s, K, V, W, O>(
    left: Coll<'s, (K, V)>,
    right: Coll<'s, (K, W)>,
    matched: impl Fn(&K, &V, &W) -> O + 'static,
    unmatched: impl Fn(K, V) -> O + 'static,
) -> Coll<'s, O>
where
    K: differential_dataflow::ExchangeData + differential_dataflow::Hashable,
    V: differential_dataflow::ExchangeData,
    W: differential_dataflow::ExchangeData,
    O: differential_dataflow::Data,
{
    // Each match once as its output and once as the left row it takes off the unmatched.
    let joined = left.clone().arrange_by_key().join_core(right.arrange_by_key(), move |key, value, other| {
        [Ok(matched(key, value, other)), Err((key.clone(), value.clone()))]
    });
    let outputs = joined.clone().flat_map(Result::ok);
    let taken = joined.flat_map(Result::err).negate();
    outputs.concat(left.concat(taken).map(move |(key, value)| unmatched(key, value)))
}

/// An entity's fact with its stamp, keyed by the entity.
pub type Keyed<V> = (String, (Stamp, V));

/// One view per key: picks the facts of one family keyed by entity, and folds
/// each entity's facts, sorted by (`time`, `id`), into at most one value —
/// what a `reduce` folding each key's values computes, by an operator of its
/// own ([`folded`]) that keeps each entity's facts in order in a vector and
/// the view it last gave, where `reduce` arranged the facts (with a time and
/// a diff each, merged batch by batch) and the views, and re-read the facts
/// through a cursor over those batches at every epoch the entity changed in.
pub fn fold_each<'s, V, W>(
    facts: Coll<'s, Fact>,
    pick: fn(Fact) -> Option<Keyed<V>>,
    fold: impl Fn(&String, &[(&(Stamp, V), isize)]) -> Option<W> + 'static,
) -> Coll<'s, (String, W)>
where
    V: differential_dataflow::ExchangeData + std::hash::Hash,
    W: differential_dataflow::ExchangeData,
{
    folded(facts.flat_map(pick), fold)
}

/// Views arranged by their entity's key, as [`fold_each_arranged`] makes them.
pub type ByKey<'s, W> = differential_dataflow::operators::arrange::Arranged<
    's,
    differential_dataflow::operators::arrange::TraceAgent<
        differential_dataflow::trace::implementations::ValSpine<String, W, Epoch, isize>,
    >,
>;

/// [`fold_each`], the views arranged by the entity's key, so that joins by
/// that key share one arrangement of them.
pub fn fold_each_arranged<'s, V, W>(
    facts: Coll<'s, Fact>,
    pick: fn(Fact) -> Option<Keyed<V>>,
    fold: impl Fn(&String, &[(&(Stamp, V), isize)]) -> Option<W> + 'static,
) -> ByKey<'s, W>
where
    V: differential_dataflow::ExchangeData + std::hash::Hash,
    W: differential_dataflow::ExchangeData,
{
    fold_each(facts, pick, fold).arrange_by_key_named("Arrange: FoldEach")
}

/// An entity's facts, each with its count.
type Counted<V> = Vec<((Stamp, V), isize)>;

/// What [`folded`] holds of one entity: its facts in order, each with its
/// count (none at zero), at their exact length (no room kept for more: a
/// fact is often larger than a hundred bytes), and the view it last gave,
/// boxed so that the map's free slots do not each hold room for one.
struct Entity<V, W> {
    facts: Counted<V>,
    view: Option<Box<W>>,
}

/// Per key, `fold` of the key's facts present (a positive or negative count,
/// as `reduce` hands them), in order, at every epoch. Rows are exchanged by
/// key; epochs are taken in order once the input has passed them
/// ([`Epochs`]), so the views at every epoch are exactly the folds of the
/// facts up to it. Only the keys an epoch changed are folded again, and a
/// view that comes out the same is not sent.
pub fn folded<'s, V, W>(
    keyed: Coll<'s, Keyed<V>>,
    fold: impl Fn(&String, &[(&(Stamp, V), isize)]) -> Option<W> + 'static,
) -> Coll<'s, (String, W)>
where
    V: differential_dataflow::ExchangeData + std::hash::Hash,
    W: differential_dataflow::ExchangeData,
{
    use differential_dataflow::AsCollection;
    use std::collections::HashMap;
    use timely::dataflow::channels::pact::Exchange;
    use timely::dataflow::operators::generic::operator::Operator;

    let route = |((key, _), _, _): &(Keyed<V>, Epoch, isize)| id_hash(key) as u64;
    let stream = keyed.inner.unary_frontier(Exchange::new(route), "FoldEach", |_, _| {
        // Per epoch not yet complete: what arrived for each key.
        let mut pending: Epochs<HashMap<String, Counted<V>>> = Epochs::new();
        let mut entities: HashMap<String, Entity<V, W>> = HashMap::new();
        move |(input, frontier), output| {
            input.for_each_stamp(|capability, containers| {
                pending.file(&capability, containers, |arrived, (key, fact), diff| {
                    arrived.entry(key).or_default().push((fact, diff));
                });
            });
            while let Some((time, capability, arrived)) = pending.complete(&[frontier]) {
                let mut session = output.session(&capability);
                for (key, changes) in arrived {
                    let entity =
                        entities.entry(key.clone()).or_insert_with(|| Entity { facts: Vec::new(), view: None });
                    entity.facts.reserve_exact(changes.len());
                    for (fact, diff) in changes {
                        // Facts mostly come in order: one past the last is checked first.
                        let at = match entity.facts.last() {
                            Some((last, _)) if *last < fact => Err(entity.facts.len()),
                            None => Err(0),
                            _ => entity.facts.binary_search_by(|(held, _)| held.cmp(&fact)),
                        };
                        match at {
                            Ok(at) => {
                                entity.facts[at].1 += diff;
                                if entity.facts[at].1 == 0 {
                                    entity.facts.remove(at);
                                }
                            }
                            Err(at) if diff != 0 => entity.facts.insert(at, (fact, diff)),
                            Err(_) => {}
                        }
                    }
                    let view = if entity.facts.is_empty() {
                        None
                    } else {
                        let present: Vec<(&(Stamp, V), isize)> = entity.facts.iter().map(|(f, n)| (f, *n)).collect();
                        fold(&key, &present)
                    };
                    if view.as_ref() != entity.view.as_deref() {
                        if let Some(old) = entity.view.take() {
                            session.give(((key.clone(), *old), time, -1));
                        }
                        if let Some(new) = view {
                            session.give(((key.clone(), new.clone()), time, 1));
                            entity.view = Some(Box::new(new));
                        }
                    }
                    if entity.facts.is_empty() {
                        entities.remove(&key);
                    } else if entity.facts.capacity() > entity.facts.len() {
                        // Facts taken off leave room behind them.
                        entity.facts.shrink_to_fit();
                    }
                }
            }
        }
    });
    stream.as_collection()
}

/// The newest of the times, one value: what [`latest_by_key`] keeps for a
/// single key. Times only ever arrive (facts are never retracted after
/// [`crate::dedup`]), so the newest is a running maximum: one value held, not
/// every time seen.
pub fn newest_of<'s>(times: Coll<'s, EventTime>) -> Coll<'s, EventTime> {
    latest_by_key(times.map(|time| ((), time))).map(|((), time)| time)
}

/// What an operator of its own holds of the epochs its inputs have not all
/// passed: per epoch, a capability to send at it and what arrived for it.
/// The operators here and in [`crate::cooccur`] apply epochs one at a time,
/// oldest first, once every input's frontier has passed them, so their
/// output at every epoch is exactly that of the inputs up to it.
pub struct Epochs<T> {
    pending: std::collections::BTreeMap<Epoch, (timely::dataflow::operators::Capability<Epoch>, T)>,
}

impl<T: Default> Epochs<T> {
    /// None pending.
    pub fn new() -> Epochs<T> {
        Epochs { pending: std::collections::BTreeMap::new() }
    }

    /// What arrived for `time` so far, `capability` being the one it came with.
    pub fn at(&mut self, capability: &timely::dataflow::operators::InputCapability<Epoch>, time: Epoch) -> &mut T {
        &mut self.pending.entry(time).or_insert_with(|| (capability.delayed(&time, 0), T::default())).1
    }

    /// Files every update that arrived with `capability` under its epoch,
    /// by `add(what arrived for the epoch, row, diff)`.
    pub fn file<D>(
        &mut self,
        capability: &timely::dataflow::operators::InputCapability<Epoch>,
        containers: std::slice::IterMut<'_, Vec<(D, Epoch, isize)>>,
        mut add: impl FnMut(&mut T, D, isize),
    ) {
        for container in containers {
            for (row, time, diff) in container.drain(..) {
                add(self.at(capability, time), row, diff);
            }
        }
    }

    /// [`Epochs::file`] for an input that only grows: `add(what arrived for
    /// the epoch, row)` per assertion. A retraction is a bug of the caller:
    /// logged, naming `operator`, and ignored.
    pub fn file_growing<D>(
        &mut self,
        capability: &timely::dataflow::operators::InputCapability<Epoch>,
        containers: std::slice::IterMut<'_, Vec<(D, Epoch, isize)>>,
        operator: &str,
        mut add: impl FnMut(&mut T, D),
    ) {
        for container in containers {
            for (row, time, diff) in container.drain(..) {
                if diff > 0 {
                    add(self.at(capability, time), row);
                } else {
                    tracing::error!("{operator}: a retraction of an input that only grows; ignored");
                }
            }
        }
    }

    /// The oldest epoch that no input of `frontiers` can still send to, with
    /// its capability and what arrived for it; `None` while there is none.
    pub fn complete(
        &mut self,
        frontiers: &[&timely::progress::frontier::MutableAntichain<Epoch>],
    ) -> Option<(Epoch, timely::dataflow::operators::Capability<Epoch>, T)> {
        let entry = self.pending.first_entry()?;
        if frontiers.iter().any(|frontier| frontier.less_equal(entry.key())) {
            return None;
        }
        let (time, (capability, arrived)) = entry.remove_entry();
        Some((time, capability, arrived))
    }
}

impl<T: Default> Default for Epochs<T> {
    fn default() -> Epochs<T> {
        Epochs::new()
    }
}

/// Per key, the greatest value seen — what `reduce` keeping the last value
/// computes, for inputs that only ever grow (every update adds one; a
/// retraction is a bug of the caller, logged and ignored). It holds one value
/// per key rather than every input: when a complete epoch brings a greater
/// value, the old one is retracted and the new one asserted at that epoch.
/// Epochs are taken in order once the input frontier has passed them
/// ([`Epochs`]), so the result at every epoch is exactly the maximum of the
/// values up to it.
pub fn latest_by_key<'s, K, V>(rows: Coll<'s, (K, V)>) -> Coll<'s, (K, V)>
where
    K: differential_dataflow::ExchangeData + std::hash::Hash,
    V: differential_dataflow::ExchangeData,
{
    use differential_dataflow::AsCollection;
    use std::collections::HashMap;
    use timely::dataflow::channels::pact::Exchange;
    use timely::dataflow::operators::generic::operator::Operator;

    let route = |update: &((K, V), Epoch, isize)| {
        use std::hash::Hasher;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(&update.0 .0, &mut hasher);
        hasher.finish()
    };
    let stream = rows.inner.unary_frontier(Exchange::new(route), "LatestByKey", |_, _| {
        // Per epoch not yet complete: the greatest value per key in it.
        let mut pending: Epochs<HashMap<K, V>> = Epochs::new();
        let mut latest: HashMap<K, V> = HashMap::new();
        move |(input, frontier), output| {
            input.for_each_stamp(|capability, containers| {
                pending.file_growing(&capability, containers, "latest_by_key", |greatest, (key, value)| match greatest
                    .get_mut(&key)
                {
                    Some(held) if *held >= value => {}
                    Some(held) => *held = value,
                    None => {
                        greatest.insert(key, value);
                    }
                });
            });
            while let Some((time, capability, greatest)) = pending.complete(&[frontier]) {
                let mut session = output.session(&capability);
                for (key, value) in greatest {
                    match latest.get_mut(&key) {
                        Some(held) if *held >= value => {}
                        Some(held) => {
                            let old = std::mem::replace(held, value.clone());
                            session.give(((key.clone(), old), time, -1));
                            session.give(((key, value), time, 1));
                        }
                        None => {
                            latest.insert(key.clone(), value.clone());
                            session.give(((key, value), time, 1));
                        }
                    }
                }
            }
        }
    });
    stream.as_collection()
}

/// Each row once, at the first epoch it appears — what `distinct` computes,
/// for inputs that only ever grow (a retraction is a bug of the caller,
/// logged and ignored). It holds a 128-bit hash of each row seen
/// ([`shopflow_topics::hash::hash128`], as dedup holds one of each event
/// id), where `distinct` arranges both its input and its output. Rows are
/// exchanged by `route`; epochs are taken in order once the input has passed
/// them ([`Epochs`]), so the first epoch a row is seen in is the earliest one
/// it has.
pub fn first_seen<'s, D>(rows: Coll<'s, D>, route: fn(&D) -> u64) -> Coll<'s, D>
where
    D: differential_dataflow::ExchangeData + std::hash::Hash,
{
    use differential_dataflow::AsCollection;
    use std::collections::HashSet;
    use timely::dataflow::channels::pact::Exchange;
    use timely::dataflow::operators::generic::operator::Operator;

    let stream = rows.inner.unary_frontier(
        Exchange::new(move |(row, _, _): &(D, Epoch, isize)| route(row)),
        "FirstSeen",
        |_, _| {
            let mut pending: Epochs<Vec<D>> = Epochs::new();
            let mut seen: HashSet<u128> = HashSet::new();
            move |(input, frontier), output| {
                input.for_each_stamp(|capability, containers| {
                    pending.file_growing(&capability, containers, "first_seen", |arrived, row| arrived.push(row));
                });
                while let Some((time, capability, arrived)) = pending.complete(&[frontier]) {
                    let mut session = output.session(&capability);
                    for row in arrived {
                        if seen.insert(shopflow_topics::hash::hash128(&row)) {
                            session.give((row, time, 1));
                        }
                    }
                }
            }
        },
    );
    stream.as_collection()
}

/// Per key, the summed weight of its `activity` rows (key, time, weight)
/// in the `window` before the `newest` time (`newest − window < time ≤
/// newest`); keys summing to zero are absent. The newest time only grows
/// (it is a running maximum), so a row that falls out of the window never
/// comes back: the operator keeps only the rows inside it, in time order,
/// and takes each one's weight off its key's sum as it falls out. Rows
/// already out when they arrive (late ones, or retractions of rows already
/// gone) change nothing. Activity is exchanged by key; every worker hears
/// the newest time.
pub fn window_sums<'s>(
    newest: Coll<'s, EventTime>,
    activity: Coll<'s, (String, EventTime, i64)>,
    window: i64,
) -> Coll<'s, (String, i64)> {
    use differential_dataflow::AsCollection;
    use std::collections::btree_map::Entry;
    use std::collections::{BTreeMap, HashMap};
    use timely::dataflow::channels::pact::{Exchange, Pipeline};
    use timely::dataflow::operators::generic::operator::Operator;
    use timely::dataflow::operators::vec::Broadcast;

    /// What one epoch brought: activity changes, and the newest time asserted.
    #[derive(Default)]
    struct Arrived {
        rows: Vec<((String, EventTime, i64), isize)>,
        newest: Option<EventTime>,
    }
    let by_key = |((key, _, _), _, _): &((String, EventTime, i64), Epoch, isize)| id_hash(key) as u64;
    let newest = newest.inner.broadcast();
    let stream = activity.inner.binary_frontier(newest, Exchange::new(by_key), Pipeline, "WindowSums", |_, _| {
        let mut pending: Epochs<Arrived> = Epochs::new();
        let mut newest: Option<EventTime> = None;
        // The rows inside the window, weights summed per (time, key), oldest first.
        let mut rows: BTreeMap<(EventTime, String), i64> = BTreeMap::new();
        let mut sums: HashMap<String, i64> = HashMap::new();
        move |(input, frontier), (clock, clock_frontier), output| {
            input.for_each_stamp(|capability, containers| {
                pending.file(&capability, containers, |arrived, row, diff| arrived.rows.push((row, diff)));
            });
            clock.for_each_stamp(|capability, containers| {
                pending.file(&capability, containers, |arrived, at, diff| {
                    if diff > 0 {
                        arrived.newest = arrived.newest.max(Some(at));
                    }
                });
            });
            while let Some((time, capability, arrived)) = pending.complete(&[frontier, clock_frontier]) {
                newest = newest.max(arrived.newest);
                let out = |at: EventTime| newest.is_some_and(|newest| at.0 <= newest.0.saturating_sub(window));
                // Each touched key's sum before this epoch.
                let mut before: HashMap<String, i64> = HashMap::new();
                // (A key is cloned only the first time an epoch touches it, or when it gets a sum.)
                let mut add = |sums: &mut HashMap<String, i64>, key: &String, amount: i64| {
                    let sum = sums.get(key).copied().unwrap_or(0);
                    if !before.contains_key(key) {
                        before.insert(key.clone(), sum);
                    }
                    if sum + amount == 0 {
                        sums.remove(key);
                    } else if let Some(held) = sums.get_mut(key) {
                        *held = sum + amount;
                    } else {
                        sums.insert(key.clone(), amount);
                    }
                };
                for ((key, at, weight), diff) in arrived.rows {
                    let amount = weight * diff as i64;
                    if amount == 0 || out(at) {
                        continue;
                    }
                    add(&mut sums, &key, amount);
                    match rows.entry((at, key)) {
                        Entry::Occupied(mut row) => {
                            *row.get_mut() += amount;
                            if *row.get() == 0 {
                                row.remove();
                            }
                        }
                        Entry::Vacant(row) => {
                            row.insert(amount);
                        }
                    }
                }
                while let Some(entry) = rows.first_entry() {
                    if !out(entry.key().0) {
                        break;
                    }
                    let ((_, key), weight) = entry.remove_entry();
                    add(&mut sums, &key, -weight);
                }
                let mut session = output.session(&capability);
                for (key, old) in before {
                    let new = sums.get(&key).copied().unwrap_or(0);
                    if old == new {
                        continue;
                    }
                    if old != 0 {
                        session.give(((key.clone(), old), time, -1));
                    }
                    if new != 0 {
                        session.give(((key, new), time, 1));
                    }
                }
            }
        }
    });
    stream.as_collection()
}

/// Shards of a windowed top's two levels: the top of each shard, then the top of those.
const TOP_SHARDS: u64 = 64;

/// The `top` keys of `activity` (key, time, weight) by their summed weight in
/// the `window` before the `newest` time (`newest − window < time ≤ newest`,
/// [`window_sums`]), best first, ties by key; with that newest time.
pub fn window_top<'s>(
    newest: Coll<'s, EventTime>,
    activity: Coll<'s, (String, EventTime, i64)>,
    window: i64,
    top: usize,
) -> Coll<'s, (Vec<(String, i64)>, EventTime)> {
    let scores = window_sums(newest.clone(), activity, window);
    // Top per shard, then top of the shards' tops; values reach a reduce sorted: (−score, key).
    let best = move |ranked: &[(&(i64, String), isize)]| {
        ranked.iter().map(|(r, _)| (*r).clone()).take_while(|r| r.0 <= -1).take(top).collect::<Vec<_>>()
    };
    let shards = scores
        .map(|(key, score)| (id_hash(&key) as u64 % TOP_SHARDS, (-score, key)))
        .reduce(move |_, ranked, out| out.extend(best(ranked).into_iter().map(|r| (r, 1))))
        .map(|(_, ranked)| ((), ranked));
    shards
        .reduce(move |_, ranked, out| {
            let ranked: Vec<(String, i64)> = best(ranked).into_iter().map(|(score, key)| (key, -score)).collect();
            out.push((ranked, 1));
        })
        .join_map(newest.map(|newest| ((), newest)), |_, ranked, newest| (ranked.clone(), *newest))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use differential_dataflow::input::InputSession;
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    type Row = (String, EventTime, i64);

    /// The updates an output gave, as it gave them: the row, its epoch and its count.
    pub(crate) type Sink<D> = Arc<Mutex<Vec<(D, u64, isize)>>>;

    /// The net count of each row a sink received at epochs up to `epoch`, rows
    /// netting to zero left out: another worker may be at the next epoch already.
    pub(crate) fn net_up_to<D: Ord + Clone>(sink: &Sink<D>, epoch: usize) -> BTreeMap<D, isize> {
        let mut net: BTreeMap<D, isize> = BTreeMap::new();
        for (row, _, diff) in sink.lock().unwrap().iter().filter(|(_, time, _)| *time <= epoch as u64) {
            *net.entry(row.clone()).or_default() += diff;
        }
        net.retain(|_, n| *n != 0);
        net
    }

    /// Per epoch: the activity changes, and the newest time after it.
    type History = Vec<(Vec<(Row, isize)>, i64)>;

    /// `epochs` of rows added over 8 keys, a few retracted later; the newest
    /// time is the greatest row time yet, sometimes moved on with no row.
    fn history(seed: u64, epochs: usize) -> History {
        let rng = shopflow_ingest::generate::Rng::new(seed);
        let next = |n: u64| rng.below(n) as i64;
        let mut live: Vec<Row> = Vec::new();
        let mut newest = 0;
        let mut out = Vec::new();
        for _ in 0..epochs {
            let mut changes = Vec::new();
            for _ in 0..6 {
                if !live.is_empty() && next(4) == 0 {
                    let row = live.swap_remove(next(live.len() as u64) as usize);
                    changes.push((row, -1));
                } else {
                    // Mostly near the newest time, some late and out of the window already.
                    let at = (newest + next(20) - 14).max(0);
                    let row = (format!("k{}", next(8)), EventTime(at), 1 + next(3));
                    newest = newest.max(at);
                    live.push(row.clone());
                    changes.push((row, 1));
                }
            }
            if next(3) == 0 {
                newest += next(15);
            }
            out.push((changes, newest));
        }
        out
    }

    /// The sums by definition over the rows live after each epoch.
    fn naive(history: &History, window: i64) -> Vec<BTreeMap<String, i64>> {
        let mut live: BTreeMap<Row, isize> = BTreeMap::new();
        let mut out = Vec::new();
        for (changes, newest) in history {
            for (row, diff) in changes {
                *live.entry(row.clone()).or_default() += diff;
            }
            let mut sums: BTreeMap<String, i64> = BTreeMap::new();
            for ((key, at, weight), n) in &live {
                if newest - window < at.0 && at.0 <= *newest {
                    *sums.entry(key.clone()).or_default() += weight * *n as i64;
                }
            }
            sums.retain(|_, sum| *sum != 0);
            out.push(sums);
        }
        out
    }

    fn run(workers: usize, seed: u64) {
        const WINDOW: i64 = 10;
        let history = history(seed, 60);
        let expected = naive(&history, WINDOW);
        let sink: Sink<(String, i64)> = Default::default();
        timely::execute(timely::Config::process(workers), move |worker| {
            let mut rows: InputSession<u64, Row, isize> = InputSession::new();
            let mut clock: InputSession<u64, EventTime, isize> = InputSession::new();
            let capture = sink.clone();
            let probe = worker.dataflow::<u64, _, _>(|scope| {
                let sums = window_sums(clock.to_collection(scope), rows.to_collection(scope), WINDOW);
                sums.inspect(move |update| capture.lock().unwrap().push(update.clone())).probe().0
            });
            let index = worker.index();
            let mut shown = None;
            for (round, (changes, newest)) in history.iter().enumerate() {
                for (i, (row, diff)) in changes.iter().enumerate() {
                    if (i + round) % worker.peers() == index {
                        rows.update(row.clone(), *diff);
                    }
                }
                // The newest time as latest_by_key gives it: one value, from one worker.
                if index == 0 && shown != Some(*newest) {
                    if let Some(old) = shown {
                        clock.update(EventTime(old), -1);
                    }
                    clock.update(EventTime(*newest), 1);
                    shown = Some(*newest);
                }
                rows.advance_to(round as u64 + 1);
                rows.flush();
                clock.advance_to(round as u64 + 1);
                clock.flush();
                while probe.less_than(rows.time()) {
                    worker.step();
                }
                if index == 0 {
                    let actual: BTreeMap<String, i64> = net_up_to(&sink, round)
                        .iter()
                        .map(|((key, sum), diff)| {
                            assert_eq!(*diff, 1, "one sum per key");
                            (key.clone(), *sum)
                        })
                        .collect();
                    assert_eq!(actual, expected[round], "epoch {round}");
                }
            }
        })
        .expect("workers ran");
    }

    /// Rows over 40 epochs, each sent at its epoch or up to two later, many
    /// repeated: `first_seen` must give each row once, at the earliest time it
    /// was sent with, as soon as that epoch is complete.
    fn first_seen_run(workers: usize, seed: u64) {
        type Row = ((i64, String), String);
        let rng = shopflow_ingest::generate::Rng::new(seed);
        let sent: Vec<Vec<(Row, u64)>> = (0..40u64)
            .map(|round| {
                (0..8)
                    .map(|_| {
                        let row = ((rng.below(3) as i64, format!("m{}", rng.below(2))), format!("u{}", rng.below(12)));
                        (row, round + rng.below(3))
                    })
                    .collect()
            })
            .collect();
        let mut first: BTreeMap<Row, u64> = BTreeMap::new();
        for (row, time) in sent.iter().flatten() {
            let earliest = first.entry(row.clone()).or_insert(*time);
            *earliest = (*earliest).min(*time);
        }
        let sink: Arc<Mutex<Vec<(Row, u64, isize)>>> = Default::default();
        timely::execute(timely::Config::process(workers), move |worker| {
            let mut rows: InputSession<u64, Row, isize> = InputSession::new();
            let capture = sink.clone();
            let probe = worker.dataflow::<u64, _, _>(|scope| {
                first_seen(rows.to_collection(scope), |(_, user)| id_hash(user) as u64)
                    .inspect(move |update| capture.lock().unwrap().push(update.clone()))
                    .probe()
                    .0
            });
            let index = worker.index();
            for (round, rows_sent) in sent.iter().enumerate() {
                for (i, (row, time)) in rows_sent.iter().enumerate() {
                    if (i + round) % worker.peers() == index {
                        rows.update_at(row.clone(), *time, 1);
                    }
                }
                rows.advance_to(round as u64 + 1);
                rows.flush();
                while probe.less_than(rows.time()) {
                    worker.step();
                }
                if index == 0 {
                    let mut seen: BTreeMap<Row, u64> = BTreeMap::new();
                    for (row, time, diff) in sink.lock().unwrap().iter() {
                        assert_eq!(*diff, 1, "rows only arrive");
                        assert!(seen.insert(row.clone(), *time).is_none(), "{row:?} given twice");
                    }
                    let expected: BTreeMap<Row, u64> =
                        first.iter().filter(|(_, time)| **time <= round as u64).map(|(r, t)| (r.clone(), *t)).collect();
                    assert_eq!(seen, expected, "epoch {round}");
                }
            }
        })
        .expect("workers ran");
    }

    /// Left rows and a right side of at most one value per key, both changing
    /// over 30 epochs (values replaced, keys removed and added again):
    /// `join_or_alone` must equal, at every epoch, the rows joined where the
    /// key has a right value and alone where it has none.
    fn join_or_alone_run(workers: usize, seed: u64) {
        type Left = (u8, String);
        let rng = shopflow_ingest::generate::Rng::new(seed);
        let mut left_live: Vec<Left> = Vec::new();
        let mut right_live: BTreeMap<u8, i64> = BTreeMap::new();
        // Per epoch: the left changes and the right changes.
        type Round = (Vec<(Left, isize)>, Vec<((u8, i64), isize)>);
        let mut rounds: Vec<Round> = Vec::new();
        let mut expected: Vec<BTreeMap<String, isize>> = Vec::new();
        for _ in 0..30 {
            let (mut lefts, mut rights) = (Vec::new(), Vec::new());
            for _ in 0..4 {
                if !left_live.is_empty() && rng.below(3) == 0 {
                    let row = left_live.swap_remove(rng.below(left_live.len() as u64) as usize);
                    lefts.push((row, -1));
                } else {
                    let row = (rng.below(6) as u8, format!("v{}", rng.below(4)));
                    left_live.push(row.clone());
                    lefts.push((row, 1));
                }
            }
            let key = rng.below(6) as u8;
            if let Some(old) = right_live.remove(&key) {
                rights.push(((key, old), -1));
            }
            if rng.below(3) != 0 {
                let value = rng.below(100) as i64;
                right_live.insert(key, value);
                rights.push(((key, value), 1));
            }
            let mut rows: BTreeMap<String, isize> = BTreeMap::new();
            for (key, value) in &left_live {
                let row = match right_live.get(key) {
                    Some(other) => format!("{key}:{value}:{other}"),
                    None => format!("{key}:{value}:-"),
                };
                *rows.entry(row).or_default() += 1;
            }
            rounds.push((lefts, rights));
            expected.push(rows);
        }
        let sink: Sink<String> = Default::default();
        timely::execute(timely::Config::process(workers), move |worker| {
            let mut left: InputSession<u64, Left, isize> = InputSession::new();
            let mut right: InputSession<u64, (u8, i64), isize> = InputSession::new();
            let capture = sink.clone();
            let probe = worker.dataflow::<u64, _, _>(|scope| {
                join_or_alone(
                    left.to_collection(scope),
                    right.to_collection(scope),
                    |key, value, other| format!("{key}:{value}:{other}"),
                    |key, value| format!("{key}:{value}:-"),
                )
                .inspect(move |update| capture.lock().unwrap().push(update.clone()))
                .probe()
                .0
            });
            let index = worker.index();
            for (round, (lefts, rights)) in rounds.iter().enumerate() {
                for (i, (row, diff)) in lefts.iter().enumerate() {
                    if (i + round) % worker.peers() == index {
                        left.update(row.clone(), *diff);
                    }
                }
                for (i, (row, diff)) in rights.iter().enumerate() {
                    if (i + round + 1) % worker.peers() == index {
                        right.update(*row, *diff);
                    }
                }
                left.advance_to(round as u64 + 1);
                left.flush();
                right.advance_to(round as u64 + 1);
                right.flush();
                while probe.less_than(left.time()) {
                    worker.step();
                }
                if index == 0 {
                    assert_eq!(net_up_to(&sink, round), expected[round], "epoch {round}");
                }
            }
        })
        .expect("workers ran");
    }

    /// Feeds each round of `rounds` as one epoch (each change on one worker,
    /// turn about), steps `worker` until the epoch is through, and then, on
    /// worker 0, calls `check` with the round.
    pub(crate) fn each_epoch<R: differential_dataflow::ExchangeData>(
        worker: &mut timely::worker::Worker,
        rows: &mut InputSession<u64, R, isize>,
        probe: &timely::dataflow::ProbeHandle<u64>,
        rounds: &[Vec<(R, isize)>],
        check: impl Fn(usize),
    ) {
        let index = worker.index();
        for (round, changes) in rounds.iter().enumerate() {
            for (i, (row, diff)) in changes.iter().enumerate() {
                if (i + round) % worker.peers() == index {
                    rows.update(row.clone(), *diff);
                }
            }
            rows.advance_to(round as u64 + 1);
            rows.flush();
            while probe.less_than(rows.time()) {
                worker.step();
            }
            if index == 0 {
                check(round);
            }
        }
    }

    /// Runs `dataflow` on `workers` workers over `rounds`, one epoch each
    /// ([`each_epoch`]), and checks that after every epoch its output holds
    /// exactly that epoch's `expected`: each key's value, once.
    pub(crate) fn keyed_at_every_epoch<R, K, V>(
        workers: usize,
        rounds: Vec<Vec<(R, isize)>>,
        expected: Vec<BTreeMap<K, V>>,
        dataflow: for<'s> fn(Coll<'s, R>) -> Coll<'s, (K, V)>,
    ) where
        R: differential_dataflow::ExchangeData + Sync,
        K: differential_dataflow::ExchangeData + Sync + std::fmt::Debug,
        V: differential_dataflow::ExchangeData + Sync + std::fmt::Debug,
    {
        let sink: Sink<(K, V)> = Default::default();
        timely::execute(timely::Config::process(workers), move |worker| {
            let mut rows: InputSession<u64, R, isize> = InputSession::new();
            let capture = sink.clone();
            let probe = worker.dataflow::<u64, _, _>(|scope| {
                dataflow(rows.to_collection(scope))
                    .inspect(move |update| capture.lock().unwrap().push(update.clone()))
                    .probe()
                    .0
            });
            each_epoch(worker, &mut rows, &probe, &rounds, |round| {
                let actual = net_up_to(&sink, round);
                assert!(actual.values().all(|n| *n == 1), "epoch {round}: one value per key, once: {actual:?}");
                let actual: BTreeMap<K, V> = actual.into_keys().collect();
                assert_eq!(actual, expected[round], "epoch {round}");
            });
        })
        .expect("workers ran");
    }

    /// Rows of a few keys and values, some of them more than once, added and
    /// taken off over 30 epochs: `count_distinct` must give, at every epoch,
    /// each key's number of values present, and nothing for a key with none.
    fn count_distinct_run(workers: usize, seed: u64) {
        type Row = (u8, u8);
        let rng = shopflow_ingest::generate::Rng::new(seed);
        let mut live: Vec<Row> = Vec::new();
        let mut rounds: Vec<Vec<(Row, isize)>> = Vec::new();
        let mut expected: Vec<BTreeMap<u8, i64>> = Vec::new();
        for _ in 0..30 {
            let mut changes = Vec::new();
            for _ in 0..5 {
                if !live.is_empty() && rng.below(5) < 2 {
                    let row = live.swap_remove(rng.below(live.len() as u64) as usize);
                    changes.push((row, -1));
                } else {
                    // Few values per key: the same row often arrives twice.
                    let row = (rng.below(4) as u8, rng.below(3) as u8);
                    live.push(row);
                    changes.push((row, 1));
                }
            }
            let present: std::collections::BTreeSet<Row> = live.iter().copied().collect();
            let mut counts: BTreeMap<u8, i64> = BTreeMap::new();
            for (key, _) in present {
                *counts.entry(key).or_default() += 1;
            }
            rounds.push(changes);
            expected.push(counts);
        }
        keyed_at_every_epoch(workers, rounds, expected, count_distinct);
    }

    /// What the folds of [`folded_run`] make of a key's facts: each fact with
    /// its count, in the order given; none when the newest fact's value is 0
    /// (as a deletion ends a view).
    fn describe(key: &String, facts: &[(&(Stamp, u8), isize)]) -> Option<String> {
        let newest = facts.last().expect("a key with facts");
        (newest.0 .1 != 0).then(|| {
            let each: Vec<String> =
                facts.iter().map(|((stamp, value), n)| format!("{}@{}={value}x{n}", stamp.id, stamp.time.0)).collect();
            format!("{key}: {}", each.join(","))
        })
    }

    /// Facts of a few keys over 40 epochs, a third of them before the key's
    /// newest (late), some arriving twice and some taken off again: `folded`
    /// must give, at every epoch, exactly [`describe`] of each key's facts
    /// present, in (time, id) order, with their counts.
    fn folded_run(workers: usize, seed: u64) {
        type Row = (String, (Stamp, u8));
        let rng = shopflow_ingest::generate::Rng::new(seed);
        let mut live: Vec<Row> = Vec::new();
        let mut rounds: Vec<Vec<(Row, isize)>> = Vec::new();
        let mut expected: Vec<BTreeMap<String, String>> = Vec::new();
        for round in 0..40u64 {
            let mut changes = Vec::new();
            for i in 0..6u64 {
                if !live.is_empty() && rng.below(4) == 0 {
                    let row = live.swap_remove(rng.below(live.len() as u64) as usize);
                    changes.push((row, -1));
                } else if !live.is_empty() && rng.below(8) == 0 {
                    // The same fact again: counted twice.
                    let row = live[rng.below(live.len() as u64) as usize].clone();
                    live.push(row.clone());
                    changes.push((row, 1));
                } else {
                    let late = rng.below(3) == 0;
                    let time = if late { rng.below(round * 10 + 1) } else { round * 10 + i };
                    let stamp = Stamp { time: EventTime(time as i64), id: format!("e{round}-{i}") };
                    let row = (format!("k{}", rng.below(5)), (stamp, rng.below(4) as u8));
                    live.push(row.clone());
                    changes.push((row, 1));
                }
            }
            let mut present: BTreeMap<String, BTreeMap<(Stamp, u8), isize>> = BTreeMap::new();
            for (key, fact) in &live {
                *present.entry(key.clone()).or_default().entry(fact.clone()).or_default() += 1;
            }
            let views = present
                .into_iter()
                .filter_map(|(key, facts)| {
                    let facts: Vec<(&(Stamp, u8), isize)> = facts.iter().map(|(f, n)| (f, *n)).collect();
                    describe(&key, &facts).map(|view| (key, view))
                })
                .collect();
            rounds.push(changes);
            expected.push(views);
        }
        keyed_at_every_epoch(workers, rounds, expected, |rows| folded(rows, describe));
    }

    #[test]
    fn folded_gives_each_keys_fold_at_every_epoch_on_one_worker() {
        folded_run(1, 31);
    }

    #[test]
    fn folded_gives_each_keys_fold_at_every_epoch_on_three_workers() {
        folded_run(3, 32);
    }

    #[test]
    fn count_distinct_counts_the_values_present_at_every_epoch_on_one_worker() {
        count_distinct_run(1, 21);
    }

    #[test]
    fn count_distinct_counts_the_values_present_at_every_epoch_on_three_workers() {
        count_distinct_run(3, 22);
    }

    #[test]
    fn join_or_alone_equals_its_definition_at_every_epoch_on_one_worker() {
        join_or_alone_run(1, 11);
    }

    #[test]
    fn join_or_alone_equals_its_definition_at_every_epoch_on_three_workers() {
        join_or_alone_run(3, 12);
    }

    #[test]
    fn first_seen_gives_each_row_once_at_its_earliest_epoch_on_one_worker() {
        first_seen_run(1, 5);
    }

    #[test]
    fn first_seen_gives_each_row_once_at_its_earliest_epoch_on_three_workers() {
        first_seen_run(3, 6);
    }

    #[test]
    fn window_sums_are_exact_at_every_epoch_on_one_worker() {
        run(1, 3);
    }

    #[test]
    fn window_sums_are_exact_at_every_epoch_on_three_workers() {
        run(3, 11);
    }
}
