//! Recommendations (`views.md`, "Recommendations"; the definitions in
//! [`shopflow_views::recommend`]): bought together and viewed together as
//! co-occurrence counts over each user's most recent distinct products
//! ([`crate::cooccur`]), each
//! user's purchased products, and trending over a sliding window of event
//! time. Every computation here is incremental in the size of what changed,
//! not of the history (`benches/absorb.rs`).

use crate::cooccur::together;
use crate::orders::{Purchase, Recency};
use crate::{Coll, Project};
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
