//! Recommendations (`views.md`, "Recommendations"): bought together, viewed
//! together, per-user recommendations and trending.
//!
//! - A purchase is an order line of an order whose status is `Paid`,
//!   `Shipped`, `Delivered` or `ReturnRequested`; its stamp is the order's
//!   (Order.Created `time`, `orderId`). An order that is cancelled or refunded
//!   stops being a purchase, and every list it fed shrinks accordingly.
//! - Guard: a user contributes pairs from at most [`PAIR_CAP`] distinct
//!   products, the most recent by the stamp of their latest purchase (or
//!   view: its (`time`, `id`)), ties by productId descending.
//! - Bought (viewed) together: for product p and every other product q, the
//!   number of distinct users whose capped set holds both; top
//!   [`TOGETHER_TOP`] by (score desc, productId asc).
//! - For a user with purchases: Σ over the distinct products p they
//!   purchased of the scores in p's bought-together list, without what they
//!   purchased; top [`RECOMMEND_TOP`] ([`for_user`]). Users without purchases
//!   get the trending list. The dataflow keeps the two inputs — each user's
//!   [`Purchases`] and every product's bought-together list — and readers
//!   combine them: kept combined, one change to a popular product's list
//!   would rewrite the recommendations of every user who ever bought it, a
//!   cost that grows with the history (measured in `benches/absorb.rs`).
//! - Trending: per product, the Product.Viewed events plus
//!   [`PURCHASE_WEIGHT`] × purchased units (at the order's creation time) in
//!   the [`TRENDING_WINDOW`] before the newest event time seen, that is with
//!   `newest − window < time ≤ newest`; top [`TRENDING_TOP`].

use serde::{Deserialize, Serialize};
use shopflow_topics::EventTime;

/// How many distinct products of a user feed the pair counts (the
/// dataflow's default; `shopflow_dataflows::recommend::Config` sets another).
pub const PAIR_CAP: usize = 200;
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

/// The distinct products a user purchased.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Purchases {
    /// The user.
    pub user_id: String,
    /// Their purchased products, ascending.
    pub products: Vec<String>,
}

/// A user's recommendations from what they purchased and the bought-together
/// lists of those products (lists of other products are ignored).
pub fn for_user<'a>(purchases: &Purchases, lists: impl IntoIterator<Item = &'a Together>) -> Recommendations {
    let bought: std::collections::BTreeSet<&str> = purchases.products.iter().map(String::as_str).collect();
    let mut scores: std::collections::BTreeMap<&str, i64> = std::collections::BTreeMap::new();
    for list in lists {
        if !bought.contains(list.product_id.as_str()) {
            continue;
        }
        for item in &list.items {
            if !bought.contains(item.product_id.as_str()) {
                *scores.entry(item.product_id.as_str()).or_insert(0) += item.score;
            }
        }
    }
    let scored = scores.into_iter().map(|(product_id, score)| Scored { product_id: product_id.to_string(), score });
    Recommendations { user_id: purchases.user_id.clone(), items: top(scored, RECOMMEND_TOP) }
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
    fn a_users_recommendations_sum_their_purchases_lists_without_what_they_bought() {
        let purchases = Purchases { user_id: "u".into(), products: vec!["a".into(), "b".into()] };
        let list = |p: &str, items: Vec<Scored>| Together { product_id: p.into(), items };
        let lists = [
            list("a", vec![s("b", 3), s("c", 2), s("d", 1)]),
            list("b", vec![s("a", 3), s("c", 1), s("e", 3)]),
            list("z", vec![s("c", 100)]), // not purchased: ignored
        ];
        let expected = vec![s("c", 3), s("e", 3), s("d", 1)];
        assert_eq!(for_user(&purchases, &lists).items, expected);
    }
}
