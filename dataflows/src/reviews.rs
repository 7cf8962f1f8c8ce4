//! Reviews and ratings (`views.md`, "Reviews"): per product, the reviews not
//! rejected by their latest Review.Moderated, each marked `verifiedPurchase`
//! when the reviewer purchased the product; the rating is the count and sum
//! of their `rating` (the mean: [`shopflow_views::reviews::rating_mean`]).

use crate::ops::join_or_alone;
use crate::ops::ReduceHeld;
use crate::{Coll, Project};
use shopflow_topics::events::{ModerationAction, ReviewModerated, ReviewPosted};
use shopflow_views::facts::{Fact, ReviewChange, Stamp};
use shopflow_views::reviews::{Moderation, RatingView, ReviewItem, ReviewsView};
use std::collections::BTreeMap;

impl Project for ReviewPosted {
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>) {
        let posted = ReviewChange::Posted {
            review_id: self.review_id.clone(),
            user_id: self.user_id.clone(),
            rating: self.rating,
            title: self.title.clone(),
            body: self.body.clone(),
        };
        out.push(Fact::Review(self.product_id.clone(), stamp.clone(), posted));
    }
}

impl Project for ReviewModerated {
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>) {
        let moderated = ReviewChange::Moderated {
            review_id: self.review_id.clone(),
            reject: self.action == ModerationAction::Reject,
        };
        out.push(Fact::Review(self.product_id.clone(), stamp.clone(), moderated));
    }
}

/// The reviews' views.
pub struct Reviews<'s> {
    /// Reviews by productId (products with a counted review).
    pub reviews: Coll<'s, (String, ReviewsView)>,
    /// Ratings by productId (products with a counted review).
    pub ratings: Coll<'s, (String, RatingView)>,
}

/// Reviews and ratings; `purchased` holds the distinct (user, product) pairs of purchases.
pub fn view<'s>(facts: Coll<'s, Fact>, purchased: Coll<'s, (String, String)>) -> Reviews<'s> {
    let review_items = facts
        .flat_map(|fact| match fact {
            Fact::Review(product, stamp, change) => Some((product, (stamp, change))),
            _ => None,
        })
        .reduce_held(|_product, changes, out| {
            for item in fold_reviews(changes.iter().map(|(c, _)| (&c.0, &c.1))) {
                out.push((item, 1));
            }
        })
        .map(|(product, item)| ((item.user_id.clone(), product), item));
    let reviews = join_or_alone(
        review_items,
        purchased.map(|pair| (pair, ())),
        |(_, product), item, ()| {
            let mut item = item.clone();
            item.verified_purchase = true;
            (product.clone(), item)
        },
        |(_, product), item| (product, item),
    )
    .reduce_held(|product, items, out| {
        out.push((ReviewsView::new(product, items.iter().map(|(i, _)| (*i).clone()).collect()), 1));
    });
    let ratings = reviews.clone().map(|(product, view)| (product, view.rating()));
    Reviews { reviews, ratings }
}

/// Folds a product's review changes, sorted by (`time`, `id`), into the
/// reviews that count, not yet marked verified. A review counts from its
/// first Review.Posted unless its latest Review.Moderated rejects it; a
/// moderation of a review never posted is ignored.
fn fold_reviews<'a>(changes: impl IntoIterator<Item = (&'a Stamp, &'a ReviewChange)>) -> Vec<ReviewItem> {
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
