//! Reviews and ratings (`views.md`, "Reviews"): per product, the reviews not
//! rejected by their latest Review.Moderated, each marked `verifiedPurchase`
//! when the reviewer purchased the product; the rating is the count and mean
//! of their `rating`.

use serde::{Deserialize, Serialize};
use shopflow_topics::EventTime;

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

impl RatingView {
    /// The mean rating ([`rating_mean`]).
    pub fn mean(&self) -> Option<f64> {
        rating_mean(self.count, self.sum)
    }
}

/// The mean of `count` ratings summing to `sum`, rounded to two decimals;
/// `None` without ratings. The one definition: the API answers it and the
/// ClickHouse relation `product_stats` computes the same (`round(sum / count, 2)`,
/// NULL without ratings).
pub fn rating_mean(count: i64, sum: i64) -> Option<f64> {
    (count > 0).then(|| ((sum as f64 / count as f64) * 100.0).round() / 100.0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn means_have_two_decimals_and_none_without_ratings() {
        assert_eq!(super::rating_mean(3, 13), Some(4.33));
        assert_eq!(super::rating_mean(2, 9), Some(4.5));
        assert_eq!(super::rating_mean(0, 0), None);
    }
}
