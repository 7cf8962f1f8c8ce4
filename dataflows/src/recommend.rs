//! Recommendations (`views.md`, "Recommendations"; the definitions in
//! [`shopflow_views::recommend`]): bought together and viewed together as
//! co-occurrence counts over each user's most recent distinct products, each
//! user's purchased products, and trending over a sliding window of event
//! time. Every computation here is incremental in the size of what changed,
//! not of the history (`benches/absorb.rs`).

use crate::orders::{Purchase, Recency};
use crate::{id_hash, Coll, Project};
use shopflow_topics::events::ProductViewed;
use shopflow_topics::EventTime;
use shopflow_views::facts::{Fact, Stamp};
use shopflow_views::recommend::{
    Purchases, Scored, Together, Trending, PAIR_CAP, PURCHASE_WEIGHT, TOGETHER_TOP, TRENDING_KEY, TRENDING_TOP,
    TRENDING_WINDOW,
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
    // Purchases come and go (an order cancelled): the latest per product is a reduce.
    let bought = purchases.clone().map(|(user, product, stamp, _)| ((user, product), stamp));
    let bought_latest =
        bought.reduce(|_, recencies, out| out.push((recencies.last().expect("non-empty").0.clone(), 1)));
    let bought_recently = recent_distinct(bought_latest, config.pair_cap);
    let bought_together = together(bought_recently);
    // Views only ever arrive: the latest per product is a running maximum, one value held
    // per (user, product) rather than every view.
    let viewed = facts.clone().flat_map(|fact| match fact {
        Fact::View(stamp, Some(user), product) => Some(((user, product), (stamp.time, stamp.id))),
        _ => None,
    });
    let viewed_recently = recent_distinct(crate::ops::latest_by_key(viewed), config.pair_cap);
    let viewed_together = together(viewed_recently);
    let purchases_by_user = purchased_pairs.reduce(|user, products, out| {
        let products = products.iter().map(|(p, _)| (*p).clone()).collect();
        out.push((Purchases { user_id: user.clone(), products }, 1));
    });
    let trending = trending_of(&facts, &purchases, newest);
    Recommend { bought_together, viewed_together, purchases: purchases_by_user, trending }
}

/// Per user, the `cap` distinct products of the most recent, from each
/// (user, product)'s latest [`Recency`] (ties by productId, descending).
fn recent_distinct<'s>(latest: Coll<'s, ((String, String), Recency)>, cap: usize) -> Coll<'s, (String, String)> {
    latest.map(|((user, product), recency)| (user, (recency, product))).reduce(move |_, recent, out| {
        for ((_, product), _) in recent.iter().rev().take(cap) {
            out.push((product.clone(), 1));
        }
    })
}

/// A product in the pair counts: a 64-bit hash of its productId and its rank
/// among the productIds of that hash (0 unless two ids collide), so the
/// largest arrangements hold plain integers and stay exact.
type ProductKey = (u64, u32);

/// The hash part of a [`ProductKey`]. The crate's unit tests keep 3 bits of
/// it, so that most products share a hash and the ranks are exercised.
fn product_hash(product: &str) -> u64 {
    let hash = id_hash(product) as u64;
    if cfg!(test) {
        hash & 7
    } else {
        hash
    }
}

/// Co-occurrence lists: for each product p, the products q held by the same
/// users, scored by how many users hold both; top [`TOGETHER_TOP`].
/// The users' sets are arranged once and joined with themselves.
///
/// A popular product pairs with thousands of others and its pair counts
/// change at every epoch, so its top is not re-read from all of its pairs.
/// Pairs are filed under their product and [`band`] of score; per product,
/// only the best bands holding [`TOGETHER_TOP`] partners are kept
/// (a group of a few dozen bands, whatever the history), and the top is taken
/// from the pairs in those bands. A count moving below the kept bands changes
/// nothing downstream. Products are [`ProductKey`]s until the tops, which
/// get their productIds back.
fn together<'s>(held: Coll<'s, (String, String)>) -> Coll<'s, (String, Together)> {
    let keys =
        held.clone().map(|(_, product)| product).distinct().map(|product| (product_hash(&product), product)).reduce(
            |_, products, out| {
                for (rank, (product, _)) in products.iter().enumerate() {
                    out.push((((*product).clone(), rank as u32), 1));
                }
            },
        );
    let products = keys.clone().map(|(hash, (product, rank))| ((hash, rank), product)).arrange_by_key();
    let by_user = held
        .map(|(user, product)| (product, user))
        .join_map(keys.map(|(hash, (product, rank))| (product, (hash, rank))), |_, user, key: &ProductKey| {
            (user.clone(), *key)
        })
        .arrange_by_key();
    // Each unordered pair is counted once, then filed under both of its products.
    let banded = by_user.clone().join_core(by_user, |_user, p, q| (p < q).then_some((*p, *q))).count().flat_map(
        |((p, q), users)| {
            let users = users as i64;
            [((p, -band(users)), (-users, q)), ((q, -band(users)), (-users, p))]
        },
    );
    let kept = banded.clone().map(|(key, _)| key).reduce(|_, bands, out| {
        // Best band first; each band's multiplicity is its number of partners.
        let mut partners = 0;
        for (band, count) in bands {
            out.push((**band, 1));
            partners += count;
            if partners >= TOGETHER_TOP as isize {
                break;
            }
        }
    });
    let tops = banded
        .semijoin(kept)
        .map(|((p, _), (score, q))| (q, (p, score)))
        .arrange_by_key()
        .join_core(products.clone(), |_, (p, score), q: &String| Some((*p, (*score, q.clone()))))
        .reduce(|_, ranked, out| out.push((best(ranked, TOGETHER_TOP).map(scored).collect::<Vec<_>>(), 1)));
    tops.arrange_by_key().join_core(products, |_, items, p: &String| {
        Some((p.clone(), Together { product_id: p.clone(), items: items.clone() }))
    })
}

/// A coarse, non-decreasing grading of a score: exact up to 16, then eight
/// bands per doubling. A higher band always means a higher score, so the
/// best bands holding n items hold the best n items.
fn band(score: i64) -> i64 {
    if score <= 16 {
        return score;
    }
    let octave = 63 - i64::from(score.leading_zeros());
    16 + (octave - 4) * 8 + ((score >> (octave - 3)) & 7)
}

/// A scored product as (−score, productId): a group's values reach `reduce`
/// sorted, so in this form its best come first and a top reads no further.
type Ranked = (i64, String);

/// The first `n` of a group of [`Ranked`] values with a score of at least 1.
fn best<'a>(ranked: &'a [(&'a Ranked, isize)], n: usize) -> impl Iterator<Item = &'a Ranked> + 'a {
    ranked.iter().map(|(r, _)| *r).take_while(|r| r.0 <= -1).take(n)
}

fn scored(ranked: &Ranked) -> Scored {
    Scored { product_id: ranked.1.clone(), score: -ranked.0 }
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
    use shopflow_views::recommend::top;
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::{Arc, Mutex};

    #[test]
    fn bands_are_exact_up_to_16_and_never_decrease() {
        assert_eq!((1..=16).map(band).collect::<Vec<_>>(), (1..=16).collect::<Vec<_>>());
        let mut last = band(1);
        for score in 2..200_000 {
            let b = band(score);
            assert!(b == last || b == last + 1, "band({score}) = {b} after {last}");
            last = b;
        }
        // Eight bands per doubling.
        assert_eq!(band(1 << 20) - band(1 << 19), 8);
    }

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
        scores.iter().map(|(p, partners)| (p.to_string(), list(partners))).collect()
    }

    #[test]
    fn lists_are_exact_when_product_hashes_collide() {
        // 40 products over 8 hashes (3 bits under test): every hash is shared, so
        // products are told apart by their rank, and ranks move as products come and go.
        let products: Vec<String> = (0..40).map(|i| format!("prd-{i:02}")).collect();
        assert!(products.iter().map(|p| product_hash(p)).collect::<BTreeSet<_>>().len() <= 8);
        let rng = shopflow_ingest::generate::Rng::new(5);
        let next = |n: usize| rng.below(n as u64) as usize;
        // Epochs of holds added and removed, by 30 users.
        let mut held: BTreeSet<(String, String)> = BTreeSet::new();
        let mut epochs = Vec::new();
        for _ in 0..30 {
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
            epochs.push((changes, naive(&held)));
        }
        type Lists = Arc<Mutex<BTreeMap<(String, Vec<Scored>), isize>>>;
        let sink: Lists = Default::default();
        timely::execute_directly(move |worker| {
            let mut input: InputSession<u64, (String, String), isize> = InputSession::new();
            let capture = sink.clone();
            let probe = worker.dataflow::<u64, _, _>(|scope| {
                let sink = capture;
                let out = together(input.to_collection(scope)).inspect(move |((p, list), _, diff)| {
                    *sink.lock().unwrap().entry((p.clone(), list.items.clone())).or_default() += diff;
                });
                out.probe().0
            });
            for (changes, expected) in epochs {
                for (hold, diff) in changes {
                    input.update(hold, diff);
                }
                input.advance_to(input.time() + 1);
                input.flush();
                while probe.less_than(input.time()) {
                    worker.step();
                }
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
                let expected: BTreeMap<String, Vec<Scored>> =
                    expected.into_iter().filter(|(_, items)| !items.is_empty()).collect();
                assert_eq!(actual, expected);
            }
        });
    }
}
