//! Recommendations (`views.md`, "Recommendations"; the definitions in
//! [`shopflow_views::recommend`]): bought together and viewed together as
//! co-occurrence counts over each user's most recent distinct products
//! ([`crate::cooccur`]), each
//! user's purchased products, and trending over a sliding window of event
//! time. Every computation here is incremental in the size of what changed,
//! not of the history (`benches/absorb.rs`).

use crate::cooccur::together;
use crate::ops::ReduceHeld;
use crate::orders::{Purchase, Recency};
use crate::{id_hash, Coll, Epoch, Project};
use shopflow_topics::events::ProductViewed;
use shopflow_topics::EventTime;
use shopflow_views::facts::{Fact, Stamp};
use shopflow_views::recommend::{
    Purchases, Scored, Together, Trending, PAIR_CAP, PURCHASE_WEIGHT, TRENDING_KEY, TRENDING_TOP, TRENDING_WINDOW,
};

impl Project for ProductViewed {
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>) {
        out.push(Fact::View(stamp.clone(), self.user_id.clone(), self.product_id.clone()));
    }
}

/// Settings of the recommendation views.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// At most this many distinct products per user feed the pair counts.
    pub pair_cap: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config { pair_cap: PAIR_CAP }
    }
}

/// The recommendation views.
pub struct Recommend<'s> {
    /// Bought together, by productId.
    pub bought_together: Coll<'s, (String, Together)>,
    /// Viewed together, by productId.
    pub viewed_together: Coll<'s, (String, Together)>,
    /// What each user purchased, by userId (users with a purchase): with the
    /// bought-together lists, what a user's recommendations are made of
    /// ([`shopflow_views::recommend::for_user`]).
    pub purchases: Coll<'s, (String, Purchases)>,
    /// Trending, under [`TRENDING_KEY`].
    pub trending: Coll<'s, (String, Trending)>,
}

/// The recommendation views from the facts (views), the purchased lines, the
/// distinct (user, product) pairs they make, and the newest event time seen.
pub fn view<'s>(
    facts: Coll<'s, Fact>,
    purchases: Coll<'s, Purchase>,
    purchased_pairs: Coll<'s, (String, String)>,
    newest: Coll<'s, EventTime>,
    config: Config,
) -> Recommend<'s> {
    // Purchases come and go (an order cancelled): the latest per product is a reduce (`reduce_held`).
    let bought = purchases.clone().map(|(user, product, stamp, _)| ((user, product), stamp));
    let bought_latest =
        bought.reduce_held(|_, recencies, out| out.push((recencies.last().expect("non-empty").0.clone(), 1)));
    let bought_recently = recent_distinct(bought_latest, config.pair_cap);
    let bought_together = together(bought_recently);
    // Views only ever arrive: each user's products and their latest views, in one operator.
    let viewed = facts.clone().flat_map(|fact| match fact {
        Fact::View(stamp, Some(user), product) => Some(((user, product), (stamp.time, stamp.id))),
        _ => None,
    });
    let viewed_recently = recent_views(viewed, config.pair_cap);
    let viewed_together = together(viewed_recently);
    let purchases_by_user = purchased_pairs.reduce_held(|user, products, out| {
        let products = products.iter().map(|(p, _)| (*p).clone()).collect();
        out.push((Purchases { user_id: user.clone(), products }, 1));
    });
    let trending = trending_of(&facts, &purchases, newest);
    Recommend { bought_together, viewed_together, purchases: purchases_by_user, trending }
}

/// Per user, the `cap` distinct products of the most recent, from each
/// (user, product)'s latest [`Recency`] (ties by productId, descending).
fn recent_distinct<'s>(latest: Coll<'s, ((String, String), Recency)>, cap: usize) -> Coll<'s, (String, String)> {
    latest.map(|((user, product), recency)| (user, (recency, product))).reduce_held(move |_, recent, out| {
        for ((_, product), _) in recent.iter().rev().take(cap) {
            out.push((product.clone(), 1));
        }
    })
}

/// Per user, the `cap` distinct products of their most recent views — what
/// [`recent_distinct`] computes from each (user, product)'s latest view —
/// for views, which only ever arrive. Exchanged by user, one operator holds
/// each user's products with their latest view (one entry per product, not
/// per view, and neither an arrangement of them nor one of the result); the
/// order by (latest view, productId) is kept only for users with more than
/// `cap` products, the only ones for whom it decides anything: a user's
/// products only grow, so until then every one is held. Epochs are applied
/// oldest first once the input has passed them ([`crate::ops::Epochs`]), so
/// the result at every epoch is exactly that of the views up to it.
fn recent_views<'s>(viewed: Coll<'s, ((String, String), Recency)>, cap: usize) -> Coll<'s, (String, String)> {
    use crate::ops::unary_held;
    use crate::ops::Epochs;
    use differential_dataflow::AsCollection;
    use std::collections::{BTreeSet, HashMap, HashSet};
    use timely::dataflow::channels::pact::Exchange;

    /// One user's products.
    #[derive(Default)]
    struct Seen {
        /// Each product's latest view.
        latest: HashMap<String, Recency>,
        /// (latest view, product) of each, once there are more than `cap`.
        ranked: Option<BTreeSet<(Recency, String)>>,
    }

    impl Seen {
        /// The products held: the `cap` greatest by (latest view, productId), or all.
        fn held(&self, cap: usize) -> Option<HashSet<String>> {
            let ranked = self.ranked.as_ref()?;
            Some(ranked.iter().rev().take(cap).map(|(_, product)| product.clone()).collect())
        }
    }

    let by_user = |(((user, _), _), _, _): &(((String, String), Recency), Epoch, isize)| id_hash(user) as u64;
    let stream = unary_held(viewed.inner, Exchange::new(by_user), "RecentViews", move |_, _| {
        let mut pending: Epochs<Vec<((String, String), Recency)>> = Epochs::new();
        let mut users: HashMap<String, Seen> = HashMap::new();
        move |(input, frontier), output| {
            input.for_each_stamp(|capability, containers| {
                pending.file_growing(&capability, containers, "recent views", |arrived, view| arrived.push(view));
            });
            while let Some((time, capability, mut views)) = pending.complete(&[frontier]) {
                views.sort_unstable();
                let mut session = output.session(&capability);
                let mut views = views.into_iter().peekable();
                while let Some(((user, product), recency)) = views.next() {
                    let seen = users.entry(user.clone()).or_default();
                    let before = seen.held(cap);
                    let mut new: Vec<String> = Vec::new();
                    let mut view = Some((product, recency));
                    while let Some((product, recency)) = view.take() {
                        match seen.latest.get_mut(&product) {
                            Some(latest) if *latest >= recency => {}
                            Some(latest) => {
                                if let Some(ranked) = seen.ranked.as_mut() {
                                    ranked.remove(&(latest.clone(), product.clone()));
                                    ranked.insert((recency.clone(), product));
                                }
                                *latest = recency;
                            }
                            None => {
                                if let Some(ranked) = seen.ranked.as_mut() {
                                    ranked.insert((recency.clone(), product.clone()));
                                }
                                seen.latest.insert(product.clone(), recency);
                                new.push(product);
                            }
                        }
                        if views.peek().is_some_and(|((next, _), _)| *next == user) {
                            let ((_, product), recency) = views.next().expect("peeked");
                            view = Some((product, recency));
                        }
                    }
                    if seen.ranked.is_none() && seen.latest.len() > cap {
                        let ranked = seen.latest.iter().map(|(p, r)| (r.clone(), p.clone())).collect();
                        seen.ranked = Some(ranked);
                    }
                    match (before, seen.held(cap)) {
                        // Every product held before and after: the new ones come.
                        (None, None) => {
                            for product in new {
                                session.give(((user.clone(), product), time, 1));
                            }
                        }
                        // Every product held before (the new ones not yet), some after.
                        (None, Some(after)) => {
                            for product in seen.latest.keys() {
                                let was = !new.contains(product);
                                let is = after.contains(product);
                                if was != is {
                                    session.give(((user.clone(), product.clone()), time, if is { 1 } else { -1 }));
                                }
                            }
                        }
                        (Some(before), Some(after)) => {
                            for product in before.difference(&after) {
                                session.give(((user.clone(), product.clone()), time, -1));
                            }
                            for product in after.difference(&before) {
                                session.give(((user.clone(), product.clone()), time, 1));
                            }
                        }
                        // Not reached (a user's products only grow): every product is held after.
                        (Some(before), None) => {
                            for product in seen.latest.keys().filter(|p| !before.contains(*p)) {
                                session.give(((user.clone(), product.clone()), time, 1));
                            }
                        }
                    }
                }
            }
        }
    });
    stream.as_collection()
}

/// Trending over the window before the newest event time ([`crate::ops::window_top`]):
/// views, and [`PURCHASE_WEIGHT`] × purchased units at the order's creation time.
fn trending_of<'s>(
    facts: &Coll<'s, Fact>,
    purchases: &Coll<'s, Purchase>,
    newest: Coll<'s, EventTime>,
) -> Coll<'s, (String, Trending)> {
    let activity = facts
        .clone()
        .flat_map(|fact| match fact {
            Fact::View(stamp, _, product) => Some((product, stamp.time, 1)),
            _ => None,
        })
        .concat(purchases.clone().map(|(_, product, (time, _), units)| (product, time, PURCHASE_WEIGHT * units)));
    crate::ops::window_top(newest, activity, TRENDING_WINDOW, TRENDING_TOP).map(|(ranked, newest)| {
        let items = ranked.into_iter().map(|(product_id, score)| Scored { product_id, score }).collect();
        (TRENDING_KEY.to_string(), Trending { items, newest })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use differential_dataflow::input::InputSession;
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    type View = ((String, String), Recency);

    /// Runs `views` (one list per epoch) on `workers` workers through
    /// [`recent_views`] and through [`recent_distinct`] of each (user,
    /// product)'s latest view, and compares the two at every epoch.
    fn compare(workers: usize, views: Vec<Vec<View>>, cap: usize) {
        type Held = Arc<Mutex<BTreeMap<(String, String), isize>>>;
        let (fast, slow): (Held, Held) = Default::default();
        timely::execute(timely::Config::process(workers), move |worker| {
            let mut input: InputSession<u64, View, isize> = InputSession::new();
            let (fast, slow) = (fast.clone(), slow.clone());
            let probe = worker.dataflow::<u64, _, _>(|scope| {
                let viewed = input.to_collection(scope);
                let latest = viewed.clone().reduce(|_, recencies, out| {
                    out.push((recencies.last().expect("non-empty").0.clone(), 1));
                });
                let expected = recent_distinct(latest, cap);
                let actual = recent_views(viewed, cap);
                let sink = |held: Held| {
                    move |(row, _, diff): &((String, String), u64, isize)| {
                        *held.lock().unwrap().entry(row.clone()).or_default() += diff;
                    }
                };
                expected.inspect(sink(slow.clone())).concat(actual.inspect(sink(fast.clone()))).probe().0
            });
            let index = worker.index();
            for (round, epoch) in views.iter().enumerate() {
                for (i, view) in epoch.iter().enumerate() {
                    if (i + round) % worker.peers() == index {
                        input.insert(view.clone());
                    }
                }
                input.advance_to(round as u64 + 1);
                input.flush();
                while probe.less_than(input.time()) {
                    worker.step();
                }
                if index == 0 {
                    let net = |held: &Held| -> BTreeMap<(String, String), isize> {
                        held.lock().unwrap().iter().filter(|(_, d)| **d != 0).map(|(k, d)| (k.clone(), *d)).collect()
                    };
                    let actual = net(&fast);
                    assert!(actual.values().all(|d| *d == 1), "epoch {round}: a product held more than once");
                    assert_eq!(actual, net(&slow), "epoch {round}");
                }
            }
        })
        .expect("workers ran");
    }

    /// `epochs` of views by 6 users of 12 products, times from a small range so that ties happen.
    fn history(seed: u64, epochs: usize) -> Vec<Vec<View>> {
        let rng = shopflow_ingest::generate::Rng::new(seed);
        let next = |n: u64| rng.below(n);
        (0..epochs)
            .map(|round| {
                (0..8)
                    .map(|i| {
                        let user = format!("u{}", next(6));
                        let product = format!("p{:02}", next(12));
                        let at = EventTime(round as i64 * 3 + next(10) as i64);
                        ((user, product), (at, format!("e{round}-{i}-{}", next(3))))
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn recent_views_equal_the_recent_distinct_latest_on_one_worker() {
        compare(1, history(2, 40), 4);
    }

    #[test]
    fn recent_views_equal_the_recent_distinct_latest_on_three_workers() {
        compare(3, history(9, 40), 4);
    }

    #[test]
    fn under_the_cap_every_product_is_held() {
        compare(2, history(4, 20), 200);
    }
}
