//! Small operators the families share.

use crate::{id_hash, Coll, Epoch};
use differential_dataflow::Hashable;
use shopflow_topics::EventTime;
use shopflow_views::facts::{Fact, Stamp};

/// Operators that work only on what they hold: every one of this crate's
/// operators that files its input by epoch ([`Epochs`]) and acts when the
/// frontier passes an epoch it holds a capability for. Built as timely's
/// `unary_frontier`, but scheduled on a frontier change
/// only while they hold a capability (timely's `FrontierInterest::IfCapability`;
/// arriving data schedules them as always): an operator with nothing pending
/// has nothing to do when the frontier moves, and a live pipeline moves it
/// hundreds of times a second — each time scheduling every operator that asked
/// to hear of it, on every worker.
pub fn unary_held<'scope, C1, CB, B, L, P>(
    stream: timely::dataflow::Stream<'scope, Epoch, C1>,
    pact: P,
    name: &str,
    constructor: B,
) -> timely::dataflow::Stream<'scope, Epoch, CB::Container>
where
    C1: timely::Container,
    CB: timely::ContainerBuilder,
    B: FnOnce(timely::dataflow::operators::Capability<Epoch>, timely::dataflow::operators::generic::OperatorInfo) -> L,
    L: FnMut(
            (
                &mut timely::dataflow::operators::generic::InputHandleCore<Epoch, C1, P::Puller>,
                &timely::progress::frontier::MutableAntichain<Epoch>,
            ),
            &mut timely::dataflow::operators::generic::OutputBuilderSession<'_, Epoch, CB>,
        ) + 'static,
    P: timely::dataflow::channels::pact::ParallelizationContract<Epoch, C1>,
{
    use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
    use timely::dataflow::operators::generic::OutputBuilder;
    use timely::progress::operate::FrontierInterest;

    let mut builder = OperatorBuilder::new(name.to_owned(), stream.scope());
    let info = builder.operator_info();
    let mut input = builder.new_input(stream, pact);
    builder.set_notify_for(0, FrontierInterest::IfCapability);
    let (output, stream) = builder.new_output();
    let mut output = OutputBuilder::from(output);
    builder.build(move |mut capabilities| {
        let capability = capabilities.pop().expect("one output, one capability");
        let mut logic = constructor(capability, info);
        move |frontiers| logic((&mut input, &frontiers[0]), &mut output.activate())
    });
    stream
}

/// [`unary_held`] with two inputs (timely's `binary_frontier`), each scheduling it on
/// a frontier change only while it holds a capability.
pub fn binary_held<'scope, C1, C2, CB, B, L, P1, P2>(
    stream: timely::dataflow::Stream<'scope, Epoch, C1>,
    other: timely::dataflow::Stream<'scope, Epoch, C2>,
    pact1: P1,
    pact2: P2,
    name: &str,
    constructor: B,
) -> timely::dataflow::Stream<'scope, Epoch, CB::Container>
where
    C1: timely::Container,
    C2: timely::Container,
    CB: timely::ContainerBuilder,
    B: FnOnce(timely::dataflow::operators::Capability<Epoch>, timely::dataflow::operators::generic::OperatorInfo) -> L,
    L: FnMut(
            (
                &mut timely::dataflow::operators::generic::InputHandleCore<Epoch, C1, P1::Puller>,
                &timely::progress::frontier::MutableAntichain<Epoch>,
            ),
            (
                &mut timely::dataflow::operators::generic::InputHandleCore<Epoch, C2, P2::Puller>,
                &timely::progress::frontier::MutableAntichain<Epoch>,
            ),
            &mut timely::dataflow::operators::generic::OutputBuilderSession<'_, Epoch, CB>,
        ) + 'static,
    P1: timely::dataflow::channels::pact::ParallelizationContract<Epoch, C1>,
    P2: timely::dataflow::channels::pact::ParallelizationContract<Epoch, C2>,
{
    use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
    use timely::dataflow::operators::generic::OutputBuilder;
    use timely::progress::operate::FrontierInterest;

    let mut builder = OperatorBuilder::new(name.to_owned(), stream.scope());
    let info = builder.operator_info();
    let mut input1 = builder.new_input(stream, pact1);
    let mut input2 = builder.new_input(other, pact2);
    builder.set_notify_for(0, FrontierInterest::IfCapability);
    builder.set_notify_for(1, FrontierInterest::IfCapability);
    let (output, stream) = builder.new_output();
    let mut output = OutputBuilder::from(output);
    builder.build(move |mut capabilities| {
        let capability = capabilities.pop().expect("one output, one capability");
        let mut logic = constructor(capability, info);
        move |frontiers| logic((&mut input1, &frontiers[0]), (&mut input2, &frontiers[1]), &mut output.activate())
    });
    stream
}

/// Sums the values per key; keys summing to zero vanish.
pub fn sum<'s, K>(rows: Coll<'s, (K, i64)>) -> Coll<'s, (K, i64)>
where
    K: differential_dataflow::ExchangeData + std::hash::Hash,
{
    tallied(
        rows,
        "Sum",
        |(key, _)| key.hashed(),
        |(key, amount)| (key, amount as isize),
        |key, before, after, out| moved(key, before, after, out, |sum| sum as i64),
    )
}

/// Each row with its count, rows counting zero absent: differential's `count`.
pub fn count<'s, D>(rows: Coll<'s, D>) -> Coll<'s, (D, isize)>
where
    D: differential_dataflow::ExchangeData + std::hash::Hash,
{
    tallied(
        rows,
        "Count",
        |row| row.hashed(),
        |row| (row, 1),
        |row, before, after, out| moved(row, before, after, out, |count| count),
    )
}

/// What a key's total moving from `before` to `after` changes of (key, total)
/// rows (a total of zero is no row), `shown` being how a total is given.
fn moved<K: Clone, T>(key: &K, before: isize, after: isize, out: &mut Vec<((K, T), isize)>, shown: fn(isize) -> T) {
    if before != 0 {
        out.push(((key.clone(), shown(before)), -1));
    }
    if after != 0 {
        out.push(((key.clone(), shown(after)), 1));
    }
}

/// Each row once while its count is not zero: differential's `distinct`.
pub fn distinct<'s, D>(rows: Coll<'s, D>) -> Coll<'s, D>
where
    D: differential_dataflow::ExchangeData + std::hash::Hash,
{
    tallied(
        rows,
        "Distinct",
        |row| row.hashed(),
        |row| (row, 1),
        |row, before, after, out| match (before != 0, after != 0) {
            (false, true) => out.push((row.clone(), 1)),
            (true, false) => out.push((row.clone(), -1)),
            _ => {}
        },
    )
}

/// Per key (`split` of a row: its key and its weight), the sum of weight ×
/// count of its rows, held in a map under the key's 128-bit hash
/// ([`shopflow_topics::hash::hash128`]: 16 bytes, where a key may hold
/// strings; a change always comes with its key, so the key itself need not be
/// kept) — where `count` and `distinct` arranged their input and their output
/// in full. Rows are exchanged by `route` (their key's hash); epochs are
/// taken in order once the input has passed them ([`Epochs`]); for each key
/// whose sum an epoch changed, `emit(key, before, after, output)` says what
/// changes.
fn tallied<'s, D, K, O>(
    rows: Coll<'s, D>,
    name: &str,
    route: fn(&D) -> u64,
    split: impl Fn(D) -> (K, isize) + 'static,
    emit: impl Fn(&K, isize, isize, &mut Vec<(O, isize)>) + 'static,
) -> Coll<'s, O>
where
    D: differential_dataflow::ExchangeData,
    K: differential_dataflow::ExchangeData + std::hash::Hash,
    O: differential_dataflow::Data,
{
    use differential_dataflow::AsCollection;
    use std::collections::HashMap;
    use timely::dataflow::channels::pact::Exchange;

    let route = move |(row, _, _): &(D, Epoch, isize)| route(row);
    let stream = unary_held(rows.inner, Exchange::new(route), name, |_, _| {
        let mut pending: Epochs<HashMap<K, isize>> = Epochs::new();
        let mut sums: HashMap<u128, isize> = HashMap::new();
        let mut changes: Vec<(O, isize)> = Vec::new();
        move |(input, frontier), output| {
            input.for_each_stamp(|capability, containers| {
                pending.file(&capability, containers, |arrived, row, diff| {
                    let (key, weight) = split(row);
                    *arrived.entry(key).or_default() += weight * diff;
                });
            });
            while let Some((time, capability, arrived)) = pending.complete(&[frontier]) {
                let mut session = output.session(&capability);
                for (key, amount) in arrived {
                    if amount == 0 {
                        continue;
                    }
                    let hash = shopflow_topics::hash::hash128(&key);
                    // One lookup: the total is moved in place, and taken out at zero.
                    let held = sums.entry(hash).or_insert(0);
                    let before = *held;
                    let after = before + amount;
                    *held = after;
                    emit(&key, before, after, &mut changes);
                    if after == 0 {
                        sums.remove(&hash);
                    }
                    for (row, diff) in changes.drain(..) {
                        session.give((row, time, diff));
                    }
                }
            }
        }
    });
    stream.as_collection()
}

/// Counts distinct values per key: the values present (a positive count) in
/// each key's group, by one [`reduce_held`] — each key's values held once, and
/// one count per key — where `distinct` then `count` arranged every distinct
/// (key, value) as its input and its output and once more by key.
pub fn count_distinct<'s, K, V>(rows: Coll<'s, (K, V)>) -> Coll<'s, (K, i64)>
where
    K: differential_dataflow::ExchangeData + std::hash::Hash,
    V: differential_dataflow::ExchangeData,
{
    reduce_held(rows, "CountDistinct", |_, values, out| {
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

/// What [`reduce_held`] holds of one key (under the key's 128-bit hash,
/// [`shopflow_topics::hash::hash128`]: a change always comes with its key, so
/// the key itself is not kept): its values in order, each with its count
/// (none at zero), at their exact length (no room kept for more: a value is
/// often a fact of more than a hundred bytes), and what the logic last gave
/// for them, consolidated, in a slice of its exact length.
struct Held<V, W> {
    values: Vec<(V, isize)>,
    given: Box<[(W, isize)]>,
}

/// Per key, what `logic` makes of the key's values present (a positive or
/// negative count each, in order), at every epoch — what differential's
/// `reduce` computes with the same logic, by one operator that holds each
/// key's values in a vector and its output, where `reduce` arranged both
/// (each update with a time and a diff, merged batch by batch, a spine kept
/// up at every epoch) and re-read the values through a cursor over the
/// batches. Rows are exchanged by key; epochs are taken in order once the
/// input has passed them ([`Epochs`]), so the output at every epoch is
/// exactly the logic's of the values up to it. Only the keys an epoch changed
/// are given to the logic again, and an output that comes out the same is
/// not sent.
pub fn reduce_held<'s, K, V, W>(
    rows: Coll<'s, (K, V)>,
    name: &str,
    logic: impl Fn(&K, &[(&V, isize)], &mut Vec<(W, isize)>) + 'static,
) -> Coll<'s, (K, W)>
where
    K: differential_dataflow::ExchangeData + std::hash::Hash,
    V: differential_dataflow::ExchangeData,
    W: differential_dataflow::ExchangeData,
{
    use differential_dataflow::AsCollection;
    use std::collections::HashMap;
    use timely::dataflow::channels::pact::Exchange;

    let route = |((key, _), _, _): &((K, V), Epoch, isize)| key.hashed();
    let stream = unary_held(rows.inner, Exchange::new(route), name, |_, _| {
        // Per epoch not yet complete: what arrived for each key.
        let mut pending: Epochs<HashMap<K, Vec<(V, isize)>>> = Epochs::new();
        // Under each key's 128-bit hash: a change always comes with its key.
        let mut held: HashMap<u128, Held<V, W>> = HashMap::new();
        let mut output: Vec<(W, isize)> = Vec::new();
        move |(input, frontier), out| {
            input.for_each_stamp(|capability, containers| {
                pending.file(&capability, containers, |arrived, (key, value), diff| {
                    arrived.entry(key).or_default().push((value, diff));
                });
            });
            while let Some((time, capability, arrived)) = pending.complete(&[frontier]) {
                let mut session = out.session(&capability);
                for (key, mut changes) in arrived {
                    // What cancels out within the epoch (a row taken off and given again) changes nothing.
                    differential_dataflow::consolidation::consolidate(&mut changes);
                    if changes.is_empty() {
                        continue;
                    }
                    let hash = shopflow_topics::hash::hash128(&key);
                    let entry = held.entry(hash).or_insert_with(|| Held { values: Vec::new(), given: Box::new([]) });
                    entry.values.reserve_exact(changes.len());
                    for (value, diff) in changes {
                        // Values mostly come in order: one past the last is checked first.
                        let at = match entry.values.last() {
                            Some((last, _)) if *last < value => Err(entry.values.len()),
                            None => Err(0),
                            _ => entry.values.binary_search_by(|(other, _)| other.cmp(&value)),
                        };
                        match at {
                            Ok(at) => {
                                entry.values[at].1 += diff;
                                if entry.values[at].1 == 0 {
                                    entry.values.remove(at);
                                }
                            }
                            Err(at) if diff != 0 => entry.values.insert(at, (value, diff)),
                            Err(_) => {}
                        }
                    }
                    if !entry.values.is_empty() {
                        let present: Vec<(&V, isize)> = entry.values.iter().map(|(value, n)| (value, *n)).collect();
                        logic(&key, &present, &mut output);
                        differential_dataflow::consolidation::consolidate(&mut output);
                    }
                    if *output != *entry.given {
                        // Both sorted: only what differs is sent (a key's outputs may be many, and one changes).
                        let (mut old, mut new) = (entry.given.iter().peekable(), output.iter().peekable());
                        loop {
                            let change = match (old.peek(), new.peek()) {
                                (Some((was, m)), Some((is, n))) if was == is => {
                                    let change = (n != m).then(|| (is, n - m));
                                    old.next();
                                    new.next();
                                    change
                                }
                                (Some((was, m)), Some((is, _))) if was < is => old.next().map(|_| (was, -m)),
                                (Some((was, m)), None) => old.next().map(|_| (was, -m)),
                                (_, Some((is, n))) => new.next().map(|_| (is, *n)),
                                (None, None) => break,
                            };
                            if let Some((value, diff)) = change {
                                session.give(((key.clone(), value.clone()), time, diff));
                            }
                        }
                        entry.given = std::mem::take(&mut output).into_boxed_slice();
                    } else {
                        output.clear();
                    }
                    if entry.values.is_empty() {
                        held.remove(&hash);
                    } else if entry.values.capacity() > entry.values.len() {
                        // Values taken off leave room behind them.
                        entry.values.shrink_to_fit();
                    }
                }
            }
        }
    });
    stream.as_collection()
}

/// [`reduce_held`] as a method of a keyed collection, where `reduce` was.
pub trait ReduceHeld<'s, K, V> {
    /// [`reduce_held`] of the collection.
    fn reduce_held<W: differential_dataflow::ExchangeData>(
        self,
        logic: impl Fn(&K, &[(&V, isize)], &mut Vec<(W, isize)>) + 'static,
    ) -> Coll<'s, (K, W)>;
}

impl<'s, K, V> ReduceHeld<'s, K, V> for Coll<'s, (K, V)>
where
    K: differential_dataflow::ExchangeData + std::hash::Hash,
    V: differential_dataflow::ExchangeData,
{
    fn reduce_held<W: differential_dataflow::ExchangeData>(
        self,
        logic: impl Fn(&K, &[(&V, isize)], &mut Vec<(W, isize)>) + 'static,
    ) -> Coll<'s, (K, W)> {
        reduce_held(self, "ReduceHeld", logic)
    }
}

/// Per key, `fold` of the key's facts present, in order, at every epoch
/// ([`reduce_held`], the fold's view given once).
pub fn folded<'s, V, W>(
    keyed: Coll<'s, Keyed<V>>,
    fold: impl Fn(&String, &[(&(Stamp, V), isize)]) -> Option<W> + 'static,
) -> Coll<'s, (String, W)>
where
    V: differential_dataflow::ExchangeData + std::hash::Hash,
    W: differential_dataflow::ExchangeData,
{
    reduce_held(keyed, "FoldEach", move |key, facts, out| out.extend(fold(key, facts).map(|view| (view, 1))))
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

    let route = |update: &((K, V), Epoch, isize)| {
        use std::hash::Hasher;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(&update.0 .0, &mut hasher);
        hasher.finish()
    };
    let stream = unary_held(rows.inner, Exchange::new(route), "LatestByKey", |_, _| {
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

    let stream = unary_held(
        rows.inner,
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

/// What one epoch brought an operator that reads rows beside the newest
/// time ([`newest_of`], a running maximum): the rows with their counts, and
/// the greatest time asserted.
struct Clocked<R> {
    rows: Vec<(R, isize)>,
    newest: Option<EventTime>,
}

impl<R> Default for Clocked<R> {
    fn default() -> Clocked<R> {
        Clocked { rows: Vec::new(), newest: None }
    }
}

impl<R> Clocked<R> {
    /// Files a row ([`Epochs::file`]).
    fn row(&mut self, row: R, diff: isize) {
        self.rows.push((row, diff));
    }

    /// Files a change of the newest time: only assertions move it.
    fn clock(&mut self, at: EventTime, diff: isize) {
        if diff > 0 {
            self.newest = self.newest.max(Some(at));
        }
    }
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
    use timely::dataflow::operators::vec::Broadcast;

    let by_key = |((key, _, _), _, _): &((String, EventTime, i64), Epoch, isize)| id_hash(key) as u64;
    let newest = newest.inner.broadcast();
    let stream = binary_held(activity.inner, newest, Exchange::new(by_key), Pipeline, "WindowSums", |_, _| {
        let mut pending: Epochs<Clocked<(String, EventTime, i64)>> = Epochs::new();
        let mut newest: Option<EventTime> = None;
        // The rows inside the window, weights summed per (time, key), oldest first.
        let mut rows: BTreeMap<(EventTime, String), i64> = BTreeMap::new();
        let mut sums: HashMap<String, i64> = HashMap::new();
        move |(input, frontier), (clock, clock_frontier), output| {
            input.for_each_stamp(|capability, containers| pending.file(&capability, containers, Clocked::row));
            clock.for_each_stamp(|capability, containers| pending.file(&capability, containers, Clocked::clock));
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

/// The `top` keys of `activity` (key, time, weight) by their summed weight in
/// the `window` before the `newest` time (`newest − window < time ≤ newest`,
/// [`window_sums`]), best first, ties by key, only keys summing to 1 or more;
/// with that newest time; nothing while no key sums to 1 or more. One
/// operator on worker 0 holds every key's sum in rank order and the top it
/// last gave: an epoch costs its changed sums, where a reduce per shard of
/// the keys re-read its shard's sums at every epoch, a reduce took the top of
/// the shards' tops, and a join paired it with the newest time.
pub fn window_top<'s>(
    newest: Coll<'s, EventTime>,
    activity: Coll<'s, (String, EventTime, i64)>,
    window: i64,
    top: usize,
) -> Coll<'s, (Vec<(String, i64)>, EventTime)> {
    use differential_dataflow::AsCollection;
    use std::collections::btree_map::Entry;
    use timely::dataflow::channels::pact::Exchange;

    let sums = window_sums(newest.clone(), activity, window);
    let to_one = Exchange::new(|_: &((String, i64), Epoch, isize)| 0);
    let clock_to_one = Exchange::new(|_: &(EventTime, Epoch, isize)| 0);
    let stream = binary_held(sums.inner, newest.inner, to_one, clock_to_one, "WindowTop", |_, _| {
        let mut pending: Epochs<Clocked<(String, i64)>> = Epochs::new();
        let mut newest: Option<EventTime> = None;
        // Every key's sum, best first: (−sum, key), with its count (none at zero).
        let mut ranked: std::collections::BTreeMap<(i64, String), isize> = Default::default();
        let mut shown: Option<(Vec<(String, i64)>, EventTime)> = None;
        move |(input, frontier), (clock, clock_frontier), output| {
            input.for_each_stamp(|capability, containers| pending.file(&capability, containers, Clocked::row));
            clock.for_each_stamp(|capability, containers| pending.file(&capability, containers, Clocked::clock));
            while let Some((time, capability, arrived)) = pending.complete(&[frontier, clock_frontier]) {
                newest = newest.max(arrived.newest);
                for ((key, sum), diff) in arrived.rows {
                    match ranked.entry((-sum, key)) {
                        Entry::Occupied(mut held) => {
                            *held.get_mut() += diff;
                            if *held.get() == 0 {
                                held.remove();
                            }
                        }
                        Entry::Vacant(slot) if diff != 0 => {
                            slot.insert(diff);
                        }
                        Entry::Vacant(_) => {}
                    }
                }
                let best: Vec<(String, i64)> = ranked
                    .keys()
                    .take_while(|(rank, _)| *rank <= -1)
                    .take(top)
                    .map(|(rank, key)| (key.clone(), -rank))
                    .collect();
                let now = newest.filter(|_| !best.is_empty()).map(|newest| (best, newest));
                if now != shown {
                    let mut session = output.session(&capability);
                    if let Some(old) = shown.take() {
                        session.give((old, time, -1));
                    }
                    if let Some(new) = &now {
                        session.give((new.clone(), time, 1));
                    }
                    shown = now;
                }
            }
        }
    });
    stream.as_collection()
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

    /// The top of [`window_top`] by definition: the `n` best sums of 1 or
    /// more, (sum desc, key), with the newest time; none without such a sum.
    fn naive_top(
        sums: &BTreeMap<String, i64>,
        newest: i64,
        n: usize,
    ) -> BTreeMap<(Vec<(String, i64)>, EventTime), isize> {
        let mut ranked: Vec<(i64, &String)> =
            sums.iter().filter(|(_, sum)| **sum >= 1).map(|(k, sum)| (-sum, k)).collect();
        ranked.sort();
        let best: Vec<(String, i64)> = ranked.into_iter().take(n).map(|(rank, key)| (key.clone(), -rank)).collect();
        if best.is_empty() {
            BTreeMap::new()
        } else {
            BTreeMap::from([((best, EventTime(newest)), 1)])
        }
    }

    /// [`window_sums`] and [`window_top`] (its 3 best) over [`history`],
    /// against [`naive`] and [`naive_top`] at every epoch.
    fn run(workers: usize, seed: u64) {
        const WINDOW: i64 = 10;
        const TOP: usize = 3;
        let history = history(seed, 60);
        let expected = naive(&history, WINDOW);
        let sink: Sink<(String, i64)> = Default::default();
        let top_sink: Sink<(Vec<(String, i64)>, EventTime)> = Default::default();
        timely::execute(timely::Config::process(workers), move |worker| {
            let mut rows: InputSession<u64, Row, isize> = InputSession::new();
            let mut clock: InputSession<u64, EventTime, isize> = InputSession::new();
            let (capture, capture_top) = (sink.clone(), top_sink.clone());
            let probe = worker.dataflow::<u64, _, _>(|scope| {
                let (clock, rows) = (clock.to_collection(scope), rows.to_collection(scope));
                let sums = window_sums(clock.clone(), rows.clone(), WINDOW);
                let tops = window_top(clock, rows, WINDOW, TOP);
                let sums = sums.inspect(move |update| capture.lock().unwrap().push(update.clone()));
                let tops = tops.inspect(move |update| capture_top.lock().unwrap().push(update.clone()));
                sums.map(|_| ()).concat(tops.map(|_| ())).probe().0
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
                    let top = naive_top(&expected[round], *newest, TOP);
                    assert_eq!(net_up_to(&top_sink, round), top, "top at epoch {round}");
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

    /// Rows of a few keys and values over 40 epochs, some twice, some taken
    /// off more often than given (a negative count), with a logic that gives
    /// several outputs per key, some of them twice and some cancelling:
    /// `reduce_held` must give, at every epoch, what differential's `reduce`
    /// gives with the same logic.
    fn reduce_held_run(workers: usize, seed: u64) {
        type Row = ((u8, u8), u8);
        let rng = shopflow_ingest::generate::Rng::new(seed);
        let rounds: Vec<Vec<(Row, isize)>> = (0..40)
            .map(|_| {
                (0..6)
                    .map(|_| {
                        let row = ((rng.below(2) as u8, rng.below(3) as u8), rng.below(5) as u8);
                        (row, if rng.below(3) == 0 { -1 } else { 1 })
                    })
                    .collect()
            })
            .collect();
        fn logic(key: &(u8, u8), values: &[(&u8, isize)], out: &mut Vec<(String, isize)>) {
            let total: isize = values.iter().map(|(value, n)| **value as isize * n).sum();
            out.push((format!("{key:?} total {total}"), 1));
            for (value, n) in values {
                out.push((format!("value {value}"), *n));
                out.push((format!("twice {}", **value % 2), 2));
                out.push((format!("gone {value}"), 1));
                out.push((format!("gone {value}"), -1));
            }
        }
        type Out = ((u8, u8), String);
        let (held_sink, reduce_sink): (Sink<Out>, Sink<Out>) = Default::default();
        timely::execute(timely::Config::process(workers), move |worker| {
            let mut rows: InputSession<u64, Row, isize> = InputSession::new();
            let (held_capture, reduce_capture) = (held_sink.clone(), reduce_sink.clone());
            let probe = worker.dataflow::<u64, _, _>(|scope| {
                let rows = rows.to_collection(scope);
                let held = reduce_held(rows.clone(), "ReduceHeld", logic)
                    .inspect(move |update| held_capture.lock().unwrap().push(update.clone()));
                let reduced =
                    rows.reduce(logic).inspect(move |update| reduce_capture.lock().unwrap().push(update.clone()));
                held.concat(reduced).probe().0
            });
            each_epoch(worker, &mut rows, &probe, &rounds, |round| {
                let expected = net_up_to(&reduce_sink, round);
                assert!(expected.values().any(|n| *n > 1), "outputs with counts tested");
                assert_eq!(net_up_to(&held_sink, round), expected, "epoch {round}");
            });
        })
        .expect("workers ran");
    }

    /// Rows of a few keys and amounts over 40 epochs, some taken off more
    /// often than given (negative counts): `count`, `distinct` and `sum` must
    /// give, at every epoch, what differential's `count`, `distinct` and
    /// `explode` + `count` give.
    fn tallies_run(workers: usize, seed: u64) {
        type Row = (u8, i64);
        let rng = shopflow_ingest::generate::Rng::new(seed);
        let rounds: Vec<Vec<(Row, isize)>> = (0..40)
            .map(|_| {
                (0..6)
                    .map(|_| {
                        let row = (rng.below(4) as u8, rng.below(5) as i64 - 1);
                        (row, if rng.below(3) == 0 { -1 } else { 1 })
                    })
                    .collect()
            })
            .collect();
        type Out = (String, Row, isize);
        let (ours, theirs): (Sink<Out>, Sink<Out>) = Default::default();
        timely::execute(timely::Config::process(workers), move |worker| {
            let mut rows: InputSession<u64, Row, isize> = InputSession::new();
            let (ours_capture, theirs_capture) = (ours.clone(), theirs.clone());
            let probe = worker.dataflow::<u64, _, _>(|scope| {
                let rows = rows.to_collection(scope);
                let tagged = |tag: &'static str| move |(row, n): (Row, isize)| (tag.to_string(), row, n);
                let mine = count(rows.clone())
                    .map(tagged("count"))
                    .concat(distinct(rows.clone()).map(|row| (row, 0)).map(tagged("distinct")))
                    .concat(sum(rows.clone()).map(|(key, total)| ((key, total), 0)).map(tagged("sum")))
                    .inspect(move |update| ours_capture.lock().unwrap().push(update.clone()));
                let summed = rows.clone().explode(|(key, amount)| Some((key, amount as isize))).count();
                let reference = rows
                    .clone()
                    .count()
                    .map(tagged("count"))
                    .concat(rows.distinct().map(|row| (row, 0)).map(tagged("distinct")))
                    .concat(summed.map(|(key, total)| ((key, total as i64), 0)).map(tagged("sum")))
                    .inspect(move |update| theirs_capture.lock().unwrap().push(update.clone()));
                mine.concat(reference).probe().0
            });
            each_epoch(worker, &mut rows, &probe, &rounds, |round| {
                let expected = net_up_to(&theirs, round);
                if round == 39 {
                    assert!(expected.keys().any(|(_, _, n)| *n < 0), "negative counts tested");
                }
                assert_eq!(net_up_to(&ours, round), expected, "epoch {round}");
            });
        })
        .expect("workers ran");
    }

    #[test]
    fn tallies_equal_differentials_at_every_epoch_on_one_worker() {
        tallies_run(1, 61);
    }

    #[test]
    fn tallies_equal_differentials_at_every_epoch_on_three_workers() {
        tallies_run(3, 62);
    }

    #[test]
    fn reduce_held_equals_reduce_at_every_epoch_on_one_worker() {
        reduce_held_run(1, 51);
    }

    #[test]
    fn reduce_held_equals_reduce_at_every_epoch_on_three_workers() {
        reduce_held_run(3, 52);
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
    fn window_sums_and_top_are_exact_at_every_epoch_on_one_worker() {
        run(1, 3);
    }

    #[test]
    fn window_sums_and_top_are_exact_at_every_epoch_on_three_workers() {
        run(3, 11);
    }
}
