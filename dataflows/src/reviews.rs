//! Reviews and ratings (`views.md`, "Reviews"): per product, the reviews not
//! rejected by their latest Review.Moderated, each marked `verifiedPurchase`
//! when the reviewer purchased the product; the rating is the count and mean
//! of their `rating`.

use crate::facts::{ReviewChange, Stamp};
use serde::{Deserialize, Serialize};
use shopflow_topics::EventTime;
use std::collections::BTreeMap;

/// Where a review stands with the moderators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Moderation {
    /// No Review.Moderated yet.
    Pending,
    /// The latest Review.Moderated approved it.
    Approved,
}

/// One review as `GET /products/{id}/reviews` lists it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewItem {
    /// When it was posted (its first Review.Posted).
    pub posted_at: EventTime,
    /// The review.
    pub review_id: String,
    /// The reviewer.
    pub user_id: String,
    /// 1 to 5 stars.
    pub rating: i64,
    /// Its title.
    pub title: String,
    /// Its text.
    pub body: String,
    /// Moderation status (rejected reviews are not listed).
    pub moderation: Moderation,
    /// Whether the reviewer purchased the product.
    pub verified_purchase: bool,
}

/// A product's reviews: newest first, with the rating they make.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewsView {
    /// The product.
    pub product_id: String,
    /// Reviews that count.
    pub count: i64,
    /// Σ of their ratings (the mean is `sum / count`; integers compare exactly).
    pub sum: i64,
    /// The reviews, newest first: (`postedAt`, `reviewId`) descending.
    pub items: Vec<ReviewItem>,
}

impl ReviewsView {
    /// The view of a product's counted reviews, in any order.
    pub fn new(product_id: &str, mut items: Vec<ReviewItem>) -> ReviewsView {
        items.sort_by(|a, b| (b.posted_at, &b.review_id).cmp(&(a.posted_at, &a.review_id)));
        ReviewsView {
            product_id: product_id.to_string(),
            count: items.len() as i64,
            sum: items.iter().map(|r| r.rating).sum(),
            items,
        }
    }

    /// The rating these reviews make.
    pub fn rating(&self) -> RatingView {
        RatingView { product_id: self.product_id.clone(), count: self.count, sum: self.sum }
    }
}

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

/// Folds a product's review changes, sorted by (`time`, `id`), into the
/// reviews that count, not yet marked verified. A review counts from its
/// first Review.Posted unless its latest Review.Moderated rejects it; a
/// moderation of a review never posted is ignored.
pub fn fold_reviews<'a>(changes: impl IntoIterator<Item = (&'a Stamp, &'a ReviewChange)>) -> Vec<ReviewItem> {
    let mut posted: BTreeMap<&str, ReviewItem> = BTreeMap::new();
    let mut latest: BTreeMap<&str, bool> = BTreeMap::new();
    for (stamp, change) in changes {
        match change {
            ReviewChange::Posted { review_id, user_id, rating, title, body } => {
                posted.entry(review_id.as_str()).or_insert_with(|| ReviewItem {
                    posted_at: stamp.time,
                    review_id: review_id.clone(),
                    user_id: user_id.clone(),
                    rating: *rating,
                    title: title.clone(),
                    body: body.clone(),
                    moderation: Moderation::Pending,
                    verified_purchase: false,
                });
            }
            ReviewChange::Moderated { review_id, reject } => {
                latest.insert(review_id.as_str(), *reject);
            }
        }
    }
    posted
        .into_iter()
        .filter_map(|(id, mut item)| match latest.get(id) {
            Some(true) => None,
            Some(false) => {
                item.moderation = Moderation::Approved;
                Some(item)
            }
            None => Some(item),
        })
        .collect()
}
