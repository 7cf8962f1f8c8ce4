//! Co-occurrence lists — bought together and viewed together — kept by three
//! operators of their own rather than by differential's arrangements.
//!
//! The lists change at nearly every epoch: one product entering a user's
//! recent set changes its pair count with each of the user's other products
//! (up to 199 of them). Arranged, every such change was sorted and merged
//! several times over (the pair counts, then each pair filed under both of
//! its products by band of score), and those arrangements held most of the
//! pipeline's memory. Here each is one count moved in place, and the state
//! is what the lists need and no more:
//!
//! 1. [`intern`] numbers the products densely in the order they first
//!    appear (worker 0 numbers, every worker learns the numbers), so the
//!    pairs are two `u32`s.
//! 2. [`pair_changes`], by user: each user's held products; a product that
//!    comes or goes changes its pair with each other product the user holds,
//!    sent under both products.
//! 3. [`tops`], by product: each product's partners with their counts (a
//!    vector sorted by partner, 8 bytes a partner), and the list it showed
//!    last; at each epoch a product whose counts moved ranks the partners it
//!    showed with those that went up (all of its partners only when one it
//!    showed went down), and a list that differs is retracted and asserted
//!    anew. No ranking of all partners is kept: on the 1M-event file viewed
//!    together has 4.7M (product, partner) counts, about 940 partners per
//!    product, and an ordered set of them cost more than the counts
//!    themselves.
//!
//! Epochs are applied in order once every input has passed them
//! ([`crate::ops::Epochs`]), so the lists at each epoch are
//! exactly those of the held products at that epoch, under any batching or
//! number of workers (`tests` below, and the pipeline's batch comparison).

use crate::ops::Epochs;
use crate::ops::{binary_held, unary_held};
use crate::{id_hash, Coll, Epoch};
use differential_dataflow::consolidation::consolidate;
use differential_dataflow::AsCollection;
use shopflow_views::recommend::{Scored, Together, TOGETHER_TOP};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Bound;
use std::rc::Rc;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::operator::Operator;
use timely::dataflow::operators::vec::Broadcast;

/// A product's number within one run ([`intern`]): dense from 0, in the order
/// products first appear, never reused. Only the operators here see it.
type Ix = u32;

/// Per product p, the products held together with it by the most users,
/// scored by the number of users holding both; best [`TOGETHER_TOP`] by
/// (score desc, productId asc). Products with no partner have no list.
pub fn together<'s>(held: Coll<'s, (String, String)>) -> Coll<'s, (String, Together)> {
    let numbers = intern(held.clone().map(|(_, product)| product));
    let pairs = pair_changes(held, numbers.clone());
    tops(pairs, numbers)
}

/// Each name that appears, with its number, at the first epoch it appears,
/// on every worker. Names are never forgotten (a product's number stays its
/// own for the run), so this holds one entry per product ever held.
fn intern<'s>(names: Coll<'s, String>) -> Coll<'s, (String, Ix)> {
    // Each worker sends a name on once, and again only at an earlier epoch.
    let firsts = names.inner.unary(Pipeline, "InternFirst", |_, _| {
        let mut sent: HashMap<String, Epoch> = HashMap::new();
        move |input, output| {
            input.for_each_stamp(|capability, containers| {
                let mut session = output.session(&capability);
                for container in containers {
                    for (name, time, _) in container.drain(..) {
                        match sent.get_mut(&name) {
                            Some(first) if *first <= time => {}
                            Some(first) => {
                                *first = time;
                                session.give((name, time, 1));
                            }
                            None => {
                                sent.insert(name.clone(), time);
                                session.give((name, time, 1));
                            }
                        }
                    }
                }
            });
        }
    });
    // Worker 0 numbers them epoch by epoch, oldest first, so a name is announced at the
    // first epoch any worker saw it.
    let numbered = unary_held(firsts, Exchange::new(|_: &(String, Epoch, isize)| 0), "Intern", |_, _| {
        let mut pending: Epochs<BTreeSet<String>> = Epochs::new();
        let mut numbers: HashMap<String, Ix> = HashMap::new();
        move |(input, frontier), output| {
            input.for_each_stamp(|capability, containers| {
                pending.file(&capability, containers, |names, name, _| {
                    names.insert(name);
                });
            });
            while let Some((time, capability, names)) = pending.complete(&[frontier]) {
                let mut session = output.session(&capability);
                for name in names {
                    if numbers.contains_key(&name) {
                        continue;
                    }
                    let Ok(number) = Ix::try_from(numbers.len()) else {
                        tracing::error!("co-occurrence: more than {} products; {name} is left out", Ix::MAX);
                        continue;
                    };
                    numbers.insert(name.clone(), number);
                    session.give(((name, number), time, 1));
                }
            }
        }
    });
    numbered.broadcast().as_collection()
}

/// Per epoch, the change of each ordered pair's count of users holding both,
/// computed where each user's held products are kept. A change is sent
/// under both orders of its pair, so that each product's partners meet.
fn pair_changes<'s>(held: Coll<'s, (String, String)>, numbers: Coll<'s, (String, Ix)>) -> Coll<'s, (Ix, Ix)> {
    let by_user = |((user, _), _, _): &((String, String), Epoch, isize)| id_hash(user) as u64;
    let stream = binary_held(held.inner, numbers.inner, Exchange::new(by_user), Pipeline, "PairChanges", |_, _| {
        let mut pending: Epochs<Vec<((String, String), isize)>> = Epochs::new();
        let mut numbers: HashMap<String, Ix> = HashMap::new();
        // Per user, the products held.
        let mut holds: HashMap<String, Vec<Ix>> = HashMap::new();
        move |(input, frontier), (named, named_frontier), output| {
            named.for_each(|_, data| {
                for ((name, number), _, _) in data.drain(..) {
                    numbers.insert(name, number);
                }
            });
            input.for_each_stamp(|capability, containers| {
                pending.file(&capability, containers, |changes, hold, diff| changes.push((hold, diff)));
            });
            while let Some((time, capability, mut changes)) = pending.complete(&[frontier, named_frontier]) {
                consolidate(&mut changes);
                let mut session = output.session(&capability);
                for ((user, product), diff) in changes {
                    let Some(&p) = numbers.get(&product) else {
                        tracing::error!("co-occurrence: {product} held before it was numbered; left out");
                        continue;
                    };
                    // A user whose products all went keeps an empty entry: no key is cloned.
                    let products = holds.entry(user).or_default();
                    let at = products.iter().position(|q| *q == p);
                    // A set: each change adds a product not held or removes one held.
                    match (diff, at) {
                        (1, None) => products.push(p),
                        (-1, Some(at)) => {
                            products.swap_remove(at);
                        }
                        _ => {
                            tracing::error!("co-occurrence: a user's hold of {product} changed by {diff}; left out");
                            continue;
                        }
                    }
                    // Each pair with the product moves by one user, under both orders.
                    for &q in products.iter().filter(|q| **q != p) {
                        session.give(((p, q), time, diff));
                        session.give(((q, p), time, diff));
                    }
                    if products.is_empty() {
                        *products = Vec::new();
                    }
                }
            }
        }
    });
    stream.as_collection()
}

/// One product's partners.
#[derive(Default)]
struct Partners {
    /// Users holding both, per partner (never 0), sorted by partner: 8 bytes
    /// a partner, where a hash map took 14 to 18 (its buckets and control
    /// bytes at a load between 44% and 88%) — these counts are most of what
    /// the co-occurrence lists hold.
    counts: Vec<(Ix, i32)>,
    /// The list last asserted for this product, as (−count, number), best
    /// first (empty: none): always the first [`TOGETHER_TOP`] partners with a
    /// count of at least 1 by (−count, label) ([`Labels`]: labels order as
    /// productIds do).
    shown: Vec<(i32, Ix)>,
}

impl Partners {
    /// Partner `q`'s count (0: none).
    fn count(&self, q: Ix) -> i32 {
        self.counts.binary_search_by_key(&q, |(p, _)| *p).map_or(0, |at| self.counts[at].1)
    }

    /// Moves the partners' counts by an epoch's `changes`, sorted by partner,
    /// each partner once. Counts that were there move in place; the list is
    /// rebuilt, at its exact length, only when a partner comes or goes.
    fn change(&mut self, changes: &[(Ix, isize)]) {
        let moved = |old: i32, diff: isize| {
            i32::try_from(isize::try_from(old).unwrap_or(0) + diff).unwrap_or_else(|_| {
                tracing::error!("co-occurrence: a pair count beyond {}; held at it", i32::MAX);
                i32::MAX
            })
        };
        let (mut coming, mut going) = (0, 0);
        for &(q, diff) in changes {
            match self.counts.binary_search_by_key(&q, |(p, _)| *p) {
                Ok(at) => {
                    self.counts[at].1 = moved(self.counts[at].1, diff);
                    going += usize::from(self.counts[at].1 == 0);
                }
                Err(_) => coming += usize::from(diff != 0),
            }
        }
        if coming == 0 && going == 0 {
            return;
        }
        let mut merged = Vec::with_capacity(self.counts.len() - going + coming);
        let mut at = 0;
        for &(q, diff) in changes {
            while at < self.counts.len() && self.counts[at].0 < q {
                merged.push(self.counts[at]);
                at += 1;
            }
            if at < self.counts.len() && self.counts[at].0 == q {
                // There before: moved above, and gone if it came to 0.
                if self.counts[at].1 != 0 {
                    merged.push(self.counts[at]);
                }
                at += 1;
            } else if diff != 0 {
                merged.push((q, moved(0, diff)));
            }
        }
        merged.extend_from_slice(&self.counts[at..]);
        self.counts = merged;
    }

    /// The list after an epoch's changes. When no partner shown went down,
    /// the list is the best of those shown and those that went up (`raised`):
    /// every other partner is where it was, behind the shown ones. When one
    /// shown went down, a partner not shown may now pass it: all are read.
    /// So no order of all partners is kept, only their counts.
    fn best(&self, labels: &Labels, raised: &[Ix], lowered_shown: bool) -> Vec<(i32, Ix)> {
        let ranked = |(q, n): (Ix, i32)| (n >= 1).then(|| (-n, labels.label(q), q));
        let mut candidates: Vec<(i32, u64, Ix)> = if lowered_shown {
            self.counts.iter().filter_map(|(q, n)| ranked((*q, *n))).collect()
        } else {
            let mentioned = self.shown.iter().map(|(_, q)| *q).chain(raised.iter().copied());
            mentioned.filter_map(|q| ranked((q, self.count(q)))).collect()
        };
        // A partner both shown and raised is mentioned twice; every partner is read once.
        if lowered_shown && candidates.len() > TOGETHER_TOP {
            candidates.select_nth_unstable(TOGETHER_TOP);
        }
        candidates.sort_unstable();
        candidates.dedup();
        candidates.truncate(TOGETHER_TOP);
        candidates.into_iter().map(|(n, _, q)| (n, q)).collect()
    }
}

/// Per product, its best partners, from the pair changes (by the first of
/// each pair) and the products' numbers (every worker has all of them).
fn tops<'s>(pairs: Coll<'s, (Ix, Ix)>, numbers: Coll<'s, (String, Ix)>) -> Coll<'s, (String, Together)> {
    let by_first = |((p, _), _, _): &((Ix, Ix), Epoch, isize)| u64::from(*p);
    let stream = binary_held(pairs.inner, numbers.inner, Exchange::new(by_first), Pipeline, "PairTops", |_, _| {
        // Per epoch not yet complete: its changes summed per pair as they arrive.
        let mut pending: Epochs<IxMap<(Ix, Ix), isize>> = Epochs::new();
        let mut labels = Labels::default();
        let mut products: IxMap<Ix, Partners> = IxMap::default();
        move |(input, frontier), (named, named_frontier), output| {
            named.for_each(|_, data| {
                for ((name, number), _, _) in data.drain(..) {
                    // Renumbered labels keep their order, and no partner keeps a label.
                    labels.add(name, number);
                }
            });
            input.for_each_stamp(|capability, containers| {
                pending.file(&capability, containers, |changes, pair, diff| *changes.entry(pair).or_default() += diff);
            });
            while let Some((time, capability, changes)) = pending.complete(&[frontier, named_frontier]) {
                // By product, so that each product's partners are visited together.
                let mut changes: Vec<((Ix, Ix), isize)> = changes.into_iter().filter(|(_, diff)| *diff != 0).collect();
                changes.sort_unstable_by_key(|(pair, _)| *pair);
                let mut session = output.session(&capability);
                for group in changes.chunk_by(|a, b| a.0 .0 == b.0 .0) {
                    let p = group[0].0 .0;
                    let partners = products.entry(p).or_default();
                    let mut raised = Vec::new();
                    let mut lowered_shown = false;
                    let mut moves = Vec::with_capacity(group.len());
                    for &((_, q), diff) in group {
                        moves.push((q, diff));
                        if diff > 0 {
                            raised.push(q);
                        } else if partners.shown.iter().any(|(_, shown)| *shown == q) {
                            lowered_shown = true;
                        }
                    }
                    partners.change(&moves);
                    let new = partners.best(&labels, &raised, lowered_shown);
                    if new != partners.shown {
                        let old = std::mem::replace(&mut partners.shown, new);
                        let product = labels.name(p);
                        if !old.is_empty() {
                            session.give(((product.to_string(), labels.list(product, &old)), time, -1));
                        }
                        if !partners.shown.is_empty() {
                            session.give(((product.to_string(), labels.list(product, &partners.shown)), time, 1));
                        }
                    }
                    if partners.counts.is_empty() {
                        products.remove(&p);
                    }
                }
            }
        }
    });
    stream.as_collection()
}

/// The products' names by number, and for each a label: a `u64` that orders
/// as the names do, so ranking partners compares integers, not strings.
/// A new name takes a label between its neighbours' (after the last one, a
/// fixed step on); when two neighbours leave no room, every name is labelled
/// afresh, evenly spaced (orders are kept: nothing held changes). Names are
/// kept for the run, as their numbers are ([`intern`]).
#[derive(Default)]
struct Labels {
    /// The names in order, with their numbers.
    sorted: BTreeMap<Rc<str>, Ix>,
    /// Per number: its name (`None`: not yet heard of) and its label.
    by_number: Vec<(Option<Rc<str>>, u64)>,
}

/// The largest label. Small under test, so that labelling afresh happens.
const LABEL_MAX: u64 = if cfg!(test) { 63 } else { u64::MAX };

/// How far past the last label a name that sorts last is labelled: names
/// that arrive in their order (sequential ids) then cost no halving.
const LABEL_STEP: u64 = if cfg!(test) { 4 } else { 1 << 40 };

impl Labels {
    /// Learns a name's number; true when every label changed.
    fn add(&mut self, name: String, number: Ix) -> bool {
        let slot = number as usize;
        if self.by_number.len() <= slot {
            self.by_number.resize(slot + 1, (None, 0));
        }
        if self.by_number[slot].0.is_some() {
            return false;
        }
        let name: Rc<str> = Rc::from(name);
        let label_of = |(_, number): (&Rc<str>, &Ix)| self.by_number[*number as usize].1;
        let before = self.sorted.range::<str, _>((Bound::Unbounded, Bound::Excluded(&*name))).next_back().map(label_of);
        let after = self.sorted.range::<str, _>((Bound::Excluded(&*name), Bound::Unbounded)).next().map(label_of);
        // The open interval of free labels, widened so that its ends may lie outside u64.
        let low = before.map_or(-1, i128::from);
        let high = after.map_or(i128::from(LABEL_MAX) + 1, i128::from);
        self.sorted.insert(name.clone(), number);
        self.by_number[slot].0 = Some(name);
        if high - low >= 2 {
            let step =
                if after.is_none() { (low + i128::from(LABEL_STEP)).min((low + high) / 2) } else { (low + high) / 2 };
            self.by_number[slot].1 = step.max(low + 1) as u64;
            return false;
        }
        let gap = LABEL_MAX / (self.sorted.len() as u64 + 1);
        for (i, number) in self.sorted.values().enumerate() {
            self.by_number[*number as usize].1 = gap * (i as u64 + 1);
        }
        true
    }

    fn label(&self, number: Ix) -> u64 {
        self.by_number.get(number as usize).map_or(0, |(_, label)| *label)
    }

    fn name(&self, number: Ix) -> &str {
        self.by_number.get(number as usize).and_then(|(name, _)| name.as_deref()).unwrap_or_else(|| {
            tracing::error!("co-occurrence: product number {number} has no name");
            ""
        })
    }

    /// A product's list from its ranked partners.
    fn list(&self, product: &str, ranked: &[(i32, Ix)]) -> Together {
        let items = ranked
            .iter()
            .map(|(score, q)| Scored { product_id: self.name(*q).to_string(), score: -i64::from(*score) })
            .collect();
        Together { product_id: product.to_string(), items }
    }
}

/// Hash maps keyed by product numbers, hashed by one multiplication per
/// number: the keys are small dense integers, not input an adversary picks
/// (those are the names, which std's hasher keeps).
type IxMap<K, V> = HashMap<K, V, BuildHasherDefault<IxHasher>>;

/// The hasher of [`IxMap`].
#[derive(Default, Clone, Copy)]
struct IxHasher(u64);

impl Hasher for IxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.write_u32(u32::from(*byte));
        }
    }

    fn write_u32(&mut self, n: u32) {
        // An odd constant near 2^64 / φ spreads consecutive numbers over the high bits.
        self.0 = (self.0.rotate_left(32) ^ u64::from(n)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        // Fold the high bits down too: the table takes its bucket from the low ones.
        self.0 ^ (self.0 >> 32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use differential_dataflow::input::InputSession;
    use shopflow_views::recommend::top;
    use std::collections::BTreeSet;
    use std::sync::{Arc, Mutex};

    /// The lists by definition: per product, every other product scored by
    /// the users holding both, best ten by (score desc, productId asc).
    fn naive(held: &BTreeSet<(String, String)>) -> BTreeMap<String, Vec<Scored>> {
        let mut sets: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for (user, product) in held {
            sets.entry(user.as_str()).or_default().insert(product.as_str());
        }
        let mut scores: BTreeMap<&str, BTreeMap<&str, i64>> = BTreeMap::new();
        for set in sets.values() {
            for p in set {
                for q in set.iter().filter(|q| *q != p) {
                    *scores.entry(p).or_default().entry(q).or_default() += 1;
                }
            }
        }
        let list = |partners: &BTreeMap<&str, i64>| {
            let items = partners.iter().map(|(q, n)| Scored { product_id: q.to_string(), score: *n });
            top(items, TOGETHER_TOP)
        };
        scores.iter().map(|(p, partners)| (p.to_string(), list(partners))).filter(|(_, l)| !l.is_empty()).collect()
    }

    type Changes = Vec<((String, String), isize)>;

    /// The lists asserted so far, with their multiplicities, from every worker.
    type Lists = Arc<Mutex<BTreeMap<(String, Vec<Scored>), isize>>>;

    /// `epochs` of holds added and removed by 30 users over 40 products, with the lists expected after each.
    fn history(seed: u64, epochs: usize) -> Vec<(Changes, BTreeMap<String, Vec<Scored>>)> {
        let products: Vec<String> = (0..40).map(|i| format!("prd-{i:02}")).collect();
        let rng = shopflow_ingest::generate::Rng::new(seed);
        let next = |n: usize| rng.below(n as u64) as usize;
        let mut held: BTreeSet<(String, String)> = BTreeSet::new();
        let mut out = Vec::new();
        for _ in 0..epochs {
            let mut changes = Vec::new();
            for _ in 0..25 {
                let hold = (format!("usr-{}", next(30)), products[next(40)].clone());
                if held.contains(&hold) && next(3) == 0 {
                    held.remove(&hold);
                    changes.push((hold, -1));
                } else if held.insert(hold.clone()) {
                    changes.push((hold, 1));
                }
            }
            out.push((changes, naive(&held)));
        }
        out
    }

    /// Runs the history on `workers` workers, epoch by epoch, and checks every epoch's lists.
    fn run(workers: usize, seed: u64) {
        let epochs = history(seed, 30);
        let sink: Lists = Default::default();
        let config = timely::Config::process(workers);
        timely::execute(config, move |worker| {
            let mut input: InputSession<u64, (String, String), isize> = InputSession::new();
            let capture = sink.clone();
            let probe = worker.dataflow::<u64, _, _>(|scope| {
                let sink = capture;
                let out = together(input.to_collection(scope)).inspect(move |((p, list), _, diff)| {
                    *sink.lock().unwrap().entry((p.clone(), list.items.clone())).or_default() += diff;
                });
                out.probe().0
            });
            let index = worker.index();
            for (round, (changes, expected)) in epochs.iter().enumerate() {
                // Each worker feeds its share of the epoch's changes.
                for (i, (hold, diff)) in changes.iter().enumerate() {
                    if (i + round) % worker.peers() == index {
                        input.update(hold.clone(), *diff);
                    }
                }
                input.advance_to(input.time() + 1);
                input.flush();
                while probe.less_than(input.time()) {
                    worker.step();
                }
                // Every worker has seen the epoch through; worker 0 checks what they made.
                if index == 0 {
                    let actual: BTreeMap<String, Vec<Scored>> = sink
                        .lock()
                        .unwrap()
                        .iter()
                        .filter(|(_, diff)| **diff != 0)
                        .map(|((p, items), diff)| {
                            assert_eq!(*diff, 1, "one list per product");
                            (p.clone(), items.clone())
                        })
                        .collect();
                    assert_eq!(&actual, expected, "epoch {round}");
                }
            }
        })
        .expect("workers ran");
    }

    #[test]
    fn lists_are_exact_at_every_epoch_on_one_worker() {
        run(1, 5);
    }

    #[test]
    fn lists_are_exact_at_every_epoch_on_three_workers() {
        run(3, 7);
    }

    #[test]
    fn a_product_that_appears_again_keeps_its_number_and_its_lists() {
        // Everything held is dropped, then held again by other users.
        let hold = |user: &str, product: &str| (user.to_string(), product.to_string());
        let first: Changes =
            vec![(hold("u1", "a"), 1), (hold("u1", "b"), 1), (hold("u2", "a"), 1), (hold("u2", "c"), 1)];
        let gone: Changes = first.iter().map(|(h, d)| (h.clone(), -d)).collect();
        let again: Changes = vec![(hold("u3", "c"), 1), (hold("u3", "a"), 1)];
        let sink: Lists = Default::default();
        let capture = sink.clone();
        let snapshots = timely::execute_directly(move |worker| {
            let mut input: InputSession<u64, (String, String), isize> = InputSession::new();
            let probe = worker.dataflow::<u64, _, _>(|scope| {
                together(input.to_collection(scope))
                    .inspect(move |((p, list), _, diff)| {
                        *capture.lock().unwrap().entry((p.clone(), list.items.clone())).or_default() += diff;
                    })
                    .probe()
                    .0
            });
            let mut snapshots = Vec::new();
            for changes in [first, gone, again] {
                for (hold, diff) in changes {
                    input.update(hold, diff);
                }
                input.advance_to(input.time() + 1);
                input.flush();
                while probe.less_than(input.time()) {
                    worker.step();
                }
                let now: BTreeMap<String, Vec<Scored>> = sink
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|(_, diff)| **diff != 0)
                    .map(|((p, items), _)| (p.clone(), items.clone()))
                    .collect();
                snapshots.push(now);
            }
            snapshots
        });
        let scored = |q: &str, score| Scored { product_id: q.to_string(), score };
        assert_eq!(snapshots[0]["a"], vec![scored("b", 1), scored("c", 1)]);
        assert!(snapshots[1].is_empty(), "{:?}", snapshots[1]);
        assert_eq!(snapshots[2]["a"], vec![scored("c", 1)]);
        assert_eq!(snapshots[2]["c"], vec![scored("a", 1)]);
        assert_eq!(snapshots[2].len(), 2);
    }

    #[test]
    fn partner_counts_stay_sorted_exact_and_without_zeros() {
        let rng = shopflow_ingest::generate::Rng::new(13);
        let mut partners = Partners::default();
        let mut expected: BTreeMap<Ix, i32> = BTreeMap::new();
        let mut rebuilt = 0;
        for _ in 0..400 {
            // An epoch's changes: each partner once, sorted, some that cancel what is there.
            let mut changes: BTreeMap<Ix, isize> = BTreeMap::new();
            for _ in 0..rng.range(1, 12) {
                let q = rng.below(40) as Ix;
                let diff = match expected.get(&q) {
                    Some(n) if rng.below(3) == 0 => -(*n as isize),
                    _ => rng.range(-2, 3) as isize,
                };
                changes.insert(q, diff);
            }
            let changes: Vec<(Ix, isize)> = changes.into_iter().collect();
            for &(q, diff) in &changes {
                let n = expected.entry(q).or_default();
                *n += diff as i32;
                if *n == 0 {
                    expected.remove(&q);
                }
            }
            let before = partners.counts.as_ptr();
            partners.change(&changes);
            rebuilt += usize::from(partners.counts.as_ptr() != before);
            let now: Vec<(Ix, i32)> = expected.iter().map(|(q, n)| (*q, *n)).collect();
            assert_eq!(partners.counts, now);
            assert_eq!(partners.counts.capacity(), partners.counts.len(), "rebuilt at its exact length");
            assert!(expected.keys().all(|q| partners.count(*q) == expected[q]));
            assert_eq!(partners.count(99), 0);
        }
        assert!(rebuilt > 50 && rebuilt < 400, "moved in place when no partner came or went: {rebuilt} rebuilt");
    }

    #[test]
    fn labels_order_as_names_do_through_renumbering() {
        let rng = shopflow_ingest::generate::Rng::new(11);
        // In order, in reverse, and shuffled: 60 names in 63 labels must be renumbered.
        let mut shuffled: Vec<usize> = (0..60).collect();
        for i in (1..shuffled.len()).rev() {
            shuffled.swap(i, rng.below(i as u64 + 1) as usize);
        }
        for order in [(0..60).collect::<Vec<_>>(), (0..60).rev().collect(), shuffled] {
            let mut labels = Labels::default();
            let mut renumbered = 0;
            for (number, i) in order.iter().enumerate() {
                renumbered += usize::from(labels.add(format!("prd-{i:02}"), number as Ix));
                // Every name so far: labels strictly increasing in name order.
                let in_order: Vec<u64> = labels.sorted.values().map(|n| labels.label(*n)).collect();
                assert!(in_order.windows(2).all(|w| w[0] < w[1]), "{in_order:?}");
                assert!(in_order.iter().all(|l| *l <= LABEL_MAX));
            }
            assert!(renumbered > 0, "the renumbering path ran");
            assert_eq!(labels.name(order.len() as Ix - 1), format!("prd-{:02}", order[order.len() - 1]));
        }
    }
}
