//! Promotions (`views.md`, "Reviews, vendors, payments, promotions, shipping,
//! search"): a code's terms from its latest Promotion.Created (a later
//! Promotion.Created of the code replaces them and starts it again), ended
//! by a Promotion.Ended after that; how the API prices a discount from them
//! ([`PromotionView::price`]); and each code's performance.
//!
//! Pricing, in minor units: the *eligible subtotal* is Σ quantity × unitPrice
//! of the lines whose product is in `categoryId` or one of its descendants
//! (every line when the promotion names no category). The promotion applies
//! only when that is ≥ `minSubtotal`; then the discount is
//! ⌊eligible × percentOff / 100⌋, or `amountOff` capped at the eligible subtotal.

use serde::{Deserialize, Serialize};
use shopflow_topics::EventTime;

/// A promotion: what checkout prices from.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromotionView {
    /// The code.
    pub code: String,
    /// Percent off the eligible subtotal.
    pub percent_off: Option<i64>,
    /// Minor units off, capped at the eligible subtotal.
    pub amount_off: Option<i64>,
    /// The eligible subtotal it needs.
    pub min_subtotal: i64,
    /// From when it applies.
    pub starts_at: EventTime,
    /// Until when (exclusive).
    pub ends_at: EventTime,
    /// The category (and descendants) whose lines count; all lines when none.
    pub category_id: Option<String>,
    /// Whether a Promotion.Ended followed the terms.
    pub ended: bool,
}

/// Why a code does not apply to a checkout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ineligible {
    /// Ended by Promotion.Ended.
    Ended,
    /// Before `startsAt`.
    NotStarted,
    /// At or after `endsAt`.
    Expired,
    /// The eligible subtotal is below `minSubtotal` (it is the value).
    BelowMinimum(i64),
}

impl Ineligible {
    /// A snake_case code for error answers.
    pub fn code(&self) -> &'static str {
        match self {
            Ineligible::Ended => "promotion_ended",
            Ineligible::NotStarted => "promotion_not_started",
            Ineligible::Expired => "promotion_expired",
            Ineligible::BelowMinimum(_) => "promotion_minimum_not_met",
        }
    }
}

impl PromotionView {
    /// Whether it applies at `now`.
    pub fn active_at(&self, now: EventTime) -> Result<(), Ineligible> {
        if self.ended {
            Err(Ineligible::Ended)
        } else if now < self.starts_at {
            Err(Ineligible::NotStarted)
        } else if now >= self.ends_at {
            Err(Ineligible::Expired)
        } else {
            Ok(())
        }
    }

    /// The discount on lines of (amount, eligible), at `now`.
    pub fn price(&self, now: EventTime, lines: impl IntoIterator<Item = (i64, bool)>) -> Result<i64, Ineligible> {
        self.active_at(now)?;
        let eligible: i64 = lines.into_iter().filter(|(_, counts)| *counts).map(|(amount, _)| amount).sum();
        if eligible < self.min_subtotal || eligible <= 0 {
            return Err(Ineligible::BelowMinimum(eligible));
        }
        Ok(match (self.percent_off, self.amount_off) {
            (Some(percent), _) => (i128::from(eligible) * i128::from(percent.clamp(0, 100))).div_euclid(100) as i64,
            (None, Some(amount)) => amount.clamp(0, eligible),
            (None, None) => 0,
        })
    }
}

/// `promotion_performance` (ClickHouse), by code: purchases that used it.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromotionPerformance {
    /// The code.
    pub code: String,
    /// Purchases with the code.
    pub orders: i64,
    /// Σ of their discount.
    pub discount: i64,
    /// Σ of their total.
    pub revenue: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn promo(percent_off: Option<i64>, amount_off: Option<i64>, min_subtotal: i64) -> PromotionView {
        PromotionView {
            code: "X".into(),
            percent_off,
            amount_off,
            min_subtotal,
            starts_at: EventTime::from_millis(10),
            ends_at: EventTime::from_millis(20),
            category_id: None,
            ended: false,
        }
    }

    #[test]
    fn percent_rounds_down_amount_is_capped_and_minimum_counts_eligible_lines_only() {
        let at = EventTime::from_millis(15);
        assert_eq!(promo(Some(15), None, 0).price(at, [(999, true), (1, true)]), Ok(150));
        assert_eq!(promo(Some(15), None, 0).price(at, [(999, true)]), Ok(149)); // 149.85
        assert_eq!(promo(None, Some(500), 0).price(at, [(300, true), (900, false)]), Ok(300));
        assert_eq!(
            promo(None, Some(500), 1_000).price(at, [(300, true), (900, false)]),
            Err(Ineligible::BelowMinimum(300))
        );
    }

    #[test]
    fn a_promotion_applies_only_in_its_window_and_until_ended() {
        let p = promo(Some(10), None, 0);
        assert_eq!(p.price(EventTime::from_millis(9), [(100, true)]), Err(Ineligible::NotStarted));
        assert_eq!(p.price(EventTime::from_millis(20), [(100, true)]), Err(Ineligible::Expired));
        let ended = PromotionView { ended: true, ..p };
        assert_eq!(ended.price(EventTime::from_millis(15), [(100, true)]), Err(Ineligible::Ended));
    }
}
