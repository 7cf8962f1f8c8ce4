//! Promotions (`views.md`, "Reviews, vendors, payments, promotions, shipping,
//! search"; the rules: [`shopflow_views::promotions`]): each code's terms and
//! whether it ended, and `promotion_performance` — the purchases that used
//! the code, their discount and their total.

use crate::ops::ReduceHeld;
use crate::{fold_each, Coll, Project};
use shopflow_topics::events::{PromotionCreated, PromotionEnded};
use shopflow_views::facts::{Fact, PromotionChange, PromotionTerms, Stamp};
use shopflow_views::orders::OrderView;
use shopflow_views::promotions::{PromotionPerformance, PromotionView};

impl Project for PromotionCreated {
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>) {
        let terms = PromotionTerms {
            percent_off: self.percent_off,
            amount_off: self.amount_off,
            min_subtotal: self.min_subtotal,
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            category_id: self.category_id.clone(),
        };
        out.push(Fact::Promotion(self.code.clone(), stamp.clone(), PromotionChange::Created(terms)));
    }
}

impl Project for PromotionEnded {
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>) {
        out.push(Fact::Promotion(self.code.clone(), stamp.clone(), PromotionChange::Ended));
    }
}

/// The promotions' views.
pub struct Promotions<'s> {
    /// Promotions by code (codes with a Promotion.Created).
    pub promotions: Coll<'s, (String, PromotionView)>,
    /// `promotion_performance` by code.
    pub performance: Coll<'s, (String, PromotionPerformance)>,
}

/// Promotions from their facts, and their performance from the orders.
pub fn view<'s>(facts: Coll<'s, Fact>, orders: Coll<'s, (String, OrderView)>) -> Promotions<'s> {
    let promotions = fold_each(
        facts,
        |fact| match fact {
            Fact::Promotion(code, stamp, change) => Some((code, (stamp, change))),
            _ => None,
        },
        |code, changes| fold_promotion(code, changes.iter().map(|(c, _)| &c.1)),
    );
    let performance = orders
        .flat_map(|(_, order)| {
            let code = order.promo_code.clone().filter(|_| order.is_purchase())?;
            Some((code, (order.discount, order.total)))
        })
        .reduce_held(|code, orders, out| {
            let mut row = PromotionPerformance { code: code.clone(), ..Default::default() };
            for ((discount, total), n) in orders {
                row.orders += *n as i64;
                row.discount += discount * *n as i64;
                row.revenue += total * *n as i64;
            }
            out.push((row, 1));
        });
    Promotions { promotions, performance }
}

/// Folds a code's events, sorted by (`time`, `id`): the latest Promotion.Created
/// sets the terms, a Promotion.Ended after it ends it. `None` without a Created.
pub fn fold_promotion<'a>(code: &str, changes: impl IntoIterator<Item = &'a PromotionChange>) -> Option<PromotionView> {
    let mut view: Option<PromotionView> = None;
    for change in changes {
        match change {
            PromotionChange::Created(terms) => {
                view = Some(PromotionView {
                    code: code.to_string(),
                    percent_off: terms.percent_off,
                    amount_off: terms.amount_off,
                    min_subtotal: terms.min_subtotal,
                    starts_at: terms.starts_at,
                    ends_at: terms.ends_at,
                    category_id: terms.category_id.clone(),
                    ended: false,
                })
            }
            PromotionChange::Ended => {
                if let Some(view) = view.as_mut() {
                    view.ended = true;
                }
            }
        }
    }
    view
}
