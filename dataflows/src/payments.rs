//! Payments and wallets (`views.md`, "Reviews, vendors, payments, promotions,
//! shipping, search"; the fold: [`shopflow_views::payments`]): each payment
//! folded from its Payment.* events, and each user's wallet from top-ups and
//! the money their wallet payments moved.

use crate::ops::ReduceHeld;
use crate::orders::step;
use crate::{fold_each, Coll, Project};
use shopflow_topics::events::{PaymentCompleted, PaymentFailed, PaymentInitiated, PaymentRefunded, WalletToppedUp};
use shopflow_views::facts::{Fact, OrderStep, PaymentChange, Stamp};
use shopflow_views::payments::{
    PaymentAnomaly, PaymentStatus, PaymentView, Refund, WalletItem, WalletKind, WalletView,
};

/// A Payment.* event's fact for its payment (each also gives its order a [`step`]).
fn payment(payment_id: &str, stamp: &Stamp, change: PaymentChange, out: &mut Vec<Fact>) {
    out.push(Fact::Payment(payment_id.to_string(), stamp.clone(), change));
}

impl Project for PaymentInitiated {
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>) {
        step(&self.order_id, stamp, OrderStep::PaymentInitiated { method: self.method }, out);
        let change = PaymentChange::Initiated {
            order_id: self.order_id.clone(),
            user_id: self.user_id.clone(),
            amount: self.amount,
            method: self.method,
        };
        payment(&self.payment_id, stamp, change, out);
    }
}

impl Project for PaymentCompleted {
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>) {
        step(&self.order_id, stamp, OrderStep::PaymentCompleted, out);
        let change = PaymentChange::Completed { order_id: self.order_id.clone(), amount: self.amount };
        payment(&self.payment_id, stamp, change, out);
    }
}

impl Project for PaymentFailed {
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>) {
        step(&self.order_id, stamp, OrderStep::PaymentFailed, out);
        payment(&self.payment_id, stamp, PaymentChange::Failed { order_id: self.order_id.clone() }, out);
    }
}

impl Project for PaymentRefunded {
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>) {
        step(&self.order_id, stamp, OrderStep::PaymentRefunded { amount: self.amount }, out);
        let change = PaymentChange::Refunded { order_id: self.order_id.clone(), amount: self.amount };
        payment(&self.payment_id, stamp, change, out);
    }
}

impl Project for WalletToppedUp {
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>) {
        out.push(Fact::TopUp(self.user_id.clone(), stamp.clone(), self.amount));
    }
}

/// The payments' views.
pub struct Payments<'s> {
    /// Payments by paymentId.
    pub payments: Coll<'s, (String, PaymentView)>,
    /// Wallets by userId (users with a transaction).
    pub wallets: Coll<'s, (String, WalletView)>,
}

/// Payments and wallets from the facts of kinds Payment and TopUp.
pub fn view<'s>(facts: Coll<'s, Fact>) -> Payments<'s> {
    let payments = fold_each(
        facts.clone(),
        |fact| match fact {
            Fact::Payment(id, stamp, change) => Some((id, (stamp, change))),
            _ => None,
        },
        |id, changes| fold_payment(id, changes.iter().map(|(c, _)| (&c.0, &c.1))),
    );
    let top_ups = facts.flat_map(|fact| match fact {
        Fact::TopUp(user, stamp, amount) => {
            Some((user, WalletItem { at: stamp.time, event_id: stamp.id, kind: WalletKind::Topup, amount }))
        }
        _ => None,
    });
    let moved = payments.clone().flat_map(|(_, view)| wallet_items(&view));
    let wallets = top_ups.concat(moved).reduce_held(|user, items, out| {
        out.push((WalletView::new(user, items.iter().map(|(item, _)| (*item).clone()).collect()), 1));
    });
    Payments { payments, wallets }
}

/// The wallet transactions of a payment: its completion and refunds, when it is a wallet payment.
pub fn wallet_items(view: &PaymentView) -> Vec<(String, WalletItem)> {
    let (true, Some(user)) = (view.is_wallet(), view.user_id.as_ref()) else { return Vec::new() };
    let mut items = Vec::new();
    if let Some((at, event_id)) = &view.completed_at {
        let item =
            WalletItem { at: *at, event_id: event_id.clone(), kind: WalletKind::Payment, amount: view.completed };
        items.push((user.clone(), item));
    }
    for refund in &view.refunds {
        let item = WalletItem {
            at: refund.at,
            event_id: refund.event_id.clone(),
            kind: WalletKind::Refund,
            amount: refund.amount,
        };
        items.push((user.clone(), item));
    }
    items
}

/// Folds one payment's events, sorted by (`time`, `id`) (the rules:
/// [`shopflow_views::payments`]).
pub fn fold_payment<'a>(
    payment_id: &str,
    changes: impl IntoIterator<Item = (&'a Stamp, &'a PaymentChange)> + Clone,
) -> Option<PaymentView> {
    let first = changes.clone().into_iter().next()?;
    let initiated = changes.clone().into_iter().find_map(|(_, c)| match c {
        PaymentChange::Initiated { user_id, amount, method, .. } => Some((user_id, *amount, *method)),
        _ => None,
    });
    let completion = changes.clone().into_iter().find_map(|(stamp, c)| match c {
        PaymentChange::Completed { amount, .. } => Some((stamp, *amount)),
        _ => None,
    });
    let completed = completion.map_or(0, |(_, amount)| amount);
    let mut view = PaymentView {
        payment_id: payment_id.to_string(),
        order_id: first.1.order_id().to_string(),
        user_id: initiated.map(|(user, _, _)| user.clone()),
        status: PaymentStatus::Initiated,
        amount: initiated.map(|(_, amount, _)| amount).unwrap_or(completed),
        method: initiated.map(|(_, _, method)| method),
        completed,
        refunded: 0,
        completed_at: completion.map(|(stamp, _)| (stamp.time, stamp.id.clone())),
        refunds: Vec::new(),
        anomalies: Vec::new(),
    };
    let anomaly = |stamp: &Stamp, change: &PaymentChange, reason: &str| PaymentAnomaly {
        event_id: stamp.id.clone(),
        event_type: change.type_name().to_string(),
        at: stamp.time,
        reason: reason.to_string(),
    };
    for (stamp, change) in changes {
        match change {
            PaymentChange::Initiated { .. } => view.status = PaymentStatus::Initiated,
            PaymentChange::Failed { .. } => view.status = PaymentStatus::Failed,
            PaymentChange::Completed { .. } if completion.is_some_and(|(first, _)| first == stamp) => {
                view.status = PaymentStatus::Completed;
            }
            PaymentChange::Completed { .. } => view.anomalies.push(anomaly(stamp, change, "already_completed")),
            PaymentChange::Refunded { amount, .. } if *amount > 0 && view.refunded + amount <= completed => {
                view.refunded += amount;
                view.refunds.push(Refund { event_id: stamp.id.clone(), amount: *amount, at: stamp.time });
                view.status = PaymentStatus::Refunded;
            }
            PaymentChange::Refunded { .. } => view.anomalies.push(anomaly(stamp, change, "over_refund")),
        }
    }
    Some(view)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shopflow_topics::events::PaymentMethod;
    use shopflow_topics::EventTime;

    fn stamp(ms: i64, id: &str) -> Stamp {
        Stamp { time: EventTime::from_millis(ms), id: id.to_string() }
    }

    fn fold(changes: &[(Stamp, PaymentChange)]) -> PaymentView {
        let mut sorted = changes.to_vec();
        sorted.sort();
        fold_payment("p1", sorted.iter().map(|(s, c)| (s, c))).unwrap()
    }

    fn initiated() -> PaymentChange {
        PaymentChange::Initiated {
            order_id: "o1".into(),
            user_id: "u1".into(),
            amount: 100,
            method: PaymentMethod::Wallet,
        }
    }

    #[test]
    fn refunds_apply_within_the_completed_amount_and_over_refunds_are_listed() {
        let view = fold(&[
            (stamp(1, "a"), initiated()),
            (stamp(2, "b"), PaymentChange::Completed { order_id: "o1".into(), amount: 100 }),
            (stamp(3, "c"), PaymentChange::Refunded { order_id: "o1".into(), amount: 60 }),
            (stamp(4, "d"), PaymentChange::Refunded { order_id: "o1".into(), amount: 60 }),
            (stamp(5, "e"), PaymentChange::Refunded { order_id: "o1".into(), amount: 40 }),
            (stamp(6, "f"), PaymentChange::Completed { order_id: "o1".into(), amount: 100 }),
        ]);
        assert_eq!((view.completed, view.refunded, view.status), (100, 100, PaymentStatus::Refunded));
        let anomalies: Vec<_> = view.anomalies.iter().map(|a| (a.event_id.as_str(), a.reason.as_str())).collect();
        assert_eq!(anomalies, [("d", "over_refund"), ("f", "already_completed")]);
        let items = wallet_items(&view);
        let signed: i64 = items.iter().map(|(_, i)| i.signed()).sum();
        assert_eq!(signed, 0, "paid 100, refunded 100: {items:?}");
    }

    #[test]
    fn a_refund_stamped_before_the_completion_still_fits_within_it() {
        let view = fold(&[
            (stamp(3, "c"), PaymentChange::Completed { order_id: "o1".into(), amount: 100 }),
            (stamp(2, "b"), PaymentChange::Refunded { order_id: "o1".into(), amount: 30 }),
        ]);
        assert_eq!((view.refunded, view.status, view.amount), (30, PaymentStatus::Completed, 100));
        assert!(!view.is_wallet(), "no Payment.Initiated: method unknown");
    }
}
