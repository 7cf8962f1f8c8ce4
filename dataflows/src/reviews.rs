//! Ratings (`views.md`, "Reviews"): per product, the count and mean of
//! `rating` over reviews not rejected by their latest Review.Moderated.

use crate::facts::{ReviewChange, Stamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A product's rating. The mean is `sum / count` (kept as integers so the
/// view compares exactly; readers divide).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RatingView {
    /// The product.
    pub product_id: String,
    /// Reviews that count.
    pub count: i64,
    /// Σ of their ratings.
    pub sum: i64,
}

/// Folds a product's review changes, sorted by (`time`, `id`). A review
/// counts from its first Review.Posted unless its latest Review.Moderated
/// rejects it. `None` when no review counts.
pub fn fold_ratings<'a>(
    product_id: &str,
    changes: impl IntoIterator<Item = (&'a Stamp, &'a ReviewChange)>,
) -> Option<RatingView> {
    let mut posted: BTreeMap<&str, i64> = BTreeMap::new();
    let mut rejected: BTreeMap<&str, bool> = BTreeMap::new();
    for (_, change) in changes {
        match change {
            ReviewChange::Posted { review_id, rating, .. } => {
                posted.entry(review_id.as_str()).or_insert(*rating);
            }
            ReviewChange::Moderated { review_id, reject } => {
                rejected.insert(review_id.as_str(), *reject);
            }
        }
    }
    let counted: Vec<i64> =
        posted.iter().filter(|(id, _)| !rejected.get(*id).copied().unwrap_or(false)).map(|(_, r)| *r).collect();
    (!counted.is_empty()).then(|| RatingView {
        product_id: product_id.to_string(),
        count: counted.len() as i64,
        sum: counted.iter().sum(),
    })
}
