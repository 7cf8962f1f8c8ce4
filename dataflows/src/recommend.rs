//! Recommendations (`views.md`, "Recommendations"): bought together, viewed
//! together, per-user recommendations and trending.
//!
//! - A purchase is an order line of an order whose status is `Paid`,
//!   `Shipped`, `Delivered` or `ReturnRequested`; its stamp is the order's
//!   (Order.Created `time`, `orderId`). An order that is cancelled or refunded
//!   stops being a purchase, and every list it fed shrinks accordingly.
//! - Guard: a user contributes pairs from at most [`Config::pair_cap`]
//!   distinct products, the most recent by the stamp of their latest purchase
//!   (or view: its (`time`, `id`)), ties by productId descending.
//! - Bought (viewed) together: for product p and every other product q, the
//!   number of distinct users whose capped set holds both; top
//!   [`TOGETHER_TOP`] by (score desc, productId asc).
//! - For a user with purchases: Σ over the distinct products p they
//!   purchased of the scores in p's bought-together list, without what they
//!   purchased; top [`RECOMMEND_TOP`]. Users without purchases get the
//!   trending list (the API falls back to it).
//! - Trending: per product, the Product.Viewed events plus
//!   [`PURCHASE_WEIGHT`] × purchased units (at the order's creation time) in
//!   the [`TRENDING_WINDOW`] before the newest event time seen, that is with
//!   `newest − window < time ≤ newest`; top [`TRENDING_TOP`].

use serde::{Deserialize, Serialize};
use shopflow_topics::EventTime;

/// How many products a bought/viewed-together list keeps.
pub const TOGETHER_TOP: usize = 10;
/// How many products a user's recommendations keep.
pub const RECOMMEND_TOP: usize = 10;
/// How many products trending keeps.
pub const TRENDING_TOP: usize = 20;
/// The weight of one purchased unit in trending, against one view.
pub const PURCHASE_WEIGHT: i64 = 5;
/// The trending window, in nanoseconds of event time.
pub const TRENDING_WINDOW: i64 = EventTime::DAY;
/// The one key of the trending view.
pub const TRENDING_KEY: &str = "all";

/// Settings of the recommendation views.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// At most this many distinct products per user feed the pair counts.
    pub pair_cap: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config { pair_cap: 200 }
    }
}

/// A product with its score.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Scored {
    /// The product.
    pub product_id: String,
    /// Its score.
    pub score: i64,
}

/// A product's bought-together or viewed-together list.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Together {
    /// The product.
    pub product_id: String,
    /// The other products, best first.
    pub items: Vec<Scored>,
}

/// A user's recommendations.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recommendations {
    /// The user.
    pub user_id: String,
    /// The products, best first (empty when nothing scores).
    pub items: Vec<Scored>,
}

/// The trending products.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Trending {
    /// The products, best first.
    pub items: Vec<Scored>,
    /// The newest event time seen: the window ends here.
    pub newest: EventTime,
}

/// The best `n` of `items` by (score desc, productId asc), scores ≥ 1.
pub fn top(items: impl IntoIterator<Item = Scored>, n: usize) -> Vec<Scored> {
    let mut items: Vec<Scored> = items.into_iter().filter(|s| s.score >= 1).collect();
    items.sort_by(|a, b| b.score.cmp(&a.score).then_with(|| a.product_id.cmp(&b.product_id)));
    items.truncate(n);
    items
}

/// The minute an event time falls in: trending's unit of bookkeeping.
pub fn minute(time: EventTime) -> i64 {
    time.0.div_euclid(60 * 1_000_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(id: &str, score: i64) -> Scored {
        Scored { product_id: id.into(), score }
    }

    #[test]
    fn top_orders_by_score_then_id_and_drops_non_positive() {
        let items = vec![s("b", 2), s("a", 2), s("c", 5), s("d", 0), s("e", 1)];
        assert_eq!(top(items, 3), vec![s("c", 5), s("a", 2), s("b", 2)]);
        assert_eq!(top(vec![s("x", 0)], 3), vec![]);
    }

    #[test]
    fn minutes_floor_before_the_epoch_too() {
        assert_eq!(minute(EventTime(0)), 0);
        assert_eq!(minute(EventTime(59_999_999_999)), 0);
        assert_eq!(minute(EventTime(60_000_000_000)), 1);
        assert_eq!(minute(EventTime(-1)), -1);
    }
}
