//! Order status (`views.md`, "Order status"): each order's events folded in
//! (`time`, `id`) order through the state machine
//! ([`shopflow_views::orders::transition`]), with history, anomalies and
//! shipment status; the Order.StatusChanged events that history implies; each
//! user's orders; and the purchases other families read.

use crate::ops::ReduceHeld;
use crate::{fold_each, Coll, Project};
use shopflow_topics::events::{
    OrderCancelled, OrderCreated, OrderReturnRequested, ShipmentCreated, ShipmentDelivered, ShipmentStatusUpdated,
};
use shopflow_topics::{EventTime, OrderStatus};
use shopflow_views::derived::Derived;
use shopflow_views::facts::{Fact, Line, OrderStep, Stamp};
use shopflow_views::orders::{transition, Anomaly, HistoryEntry, OrderView, ShipmentStatus, StatusChange};
use shopflow_views::shipping::ShipmentStep;

/// Appends the fact of an order's event.
pub(crate) fn step(order_id: &str, stamp: &Stamp, step: OrderStep, out: &mut Vec<Fact>) {
    out.push(Fact::Order(order_id.to_string(), stamp.clone(), step));
}

impl Project for OrderCreated {
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>) {
        let created = OrderStep::Created {
            user_id: self.user_id.clone(),
            lines: self.items.iter().map(Line::from).collect(),
            total: self.total,
            currency: self.currency.clone(),
            discount: self.discount,
            promo_code: self.promo_code.clone(),
        };
        step(&self.order_id, stamp, created, out);
        out.push(Fact::ShipTo(self.order_id.clone(), stamp.clone(), self.shipping_address.city.clone()));
    }
}

impl Project for OrderCancelled {
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>) {
        step(&self.order_id, stamp, OrderStep::Cancelled, out);
    }
}

impl Project for OrderReturnRequested {
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>) {
        step(&self.order_id, stamp, OrderStep::ReturnRequested, out);
    }
}

impl Project for ShipmentCreated {
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>) {
        step(&self.order_id, stamp, OrderStep::ShipmentCreated { warehouse_id: self.warehouse_id.clone() }, out);
        let shipment = ShipmentStep::Created {
            shipment_id: self.shipment_id.clone(),
            carrier: self.carrier.clone(),
            tracking_number: self.tracking_number.clone(),
        };
        out.push(Fact::Shipment(self.order_id.clone(), stamp.clone(), shipment));
    }
}

impl Project for ShipmentStatusUpdated {
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>) {
        step(&self.order_id, stamp, OrderStep::ShipmentStatusUpdated { status: self.status }, out);
        let shipment = ShipmentStep::Status { status: self.status, location: self.location.clone() };
        out.push(Fact::Shipment(self.order_id.clone(), stamp.clone(), shipment));
    }
}

impl Project for ShipmentDelivered {
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>) {
        step(&self.order_id, stamp, OrderStep::ShipmentDelivered, out);
        out.push(Fact::Shipment(self.order_id.clone(), stamp.clone(), ShipmentStep::Delivered));
    }
}

/// Orders by orderId.
pub fn view<'s>(facts: Coll<'s, Fact>) -> Coll<'s, (String, OrderView)> {
    fold_each(
        facts,
        |fact| match fact {
            Fact::Order(order_id, stamp, step) => Some((order_id, (stamp, step))),
            _ => None,
        },
        |order_id, steps| fold_order(order_id, steps.iter().map(|(s, _)| (&s.0, &s.1))),
    )
}

/// The orderIds of each user, ascending.
pub fn user_orders<'s>(orders: Coll<'s, (String, OrderView)>) -> Coll<'s, (String, Vec<String>)> {
    orders
        .map(|(order_id, view)| (view.user_id, order_id))
        .reduce_held(|_, ids, out| out.push((ids.iter().map(|(id, _)| (*id).clone()).collect::<Vec<String>>(), 1)))
}

/// The Order.StatusChanged events of every order's history, one per entry.
pub fn status_changes<'s>(orders: Coll<'s, (String, OrderView)>) -> Coll<'s, Derived> {
    orders.flat_map(|(_, view)| changes_of(&view).into_iter().map(Derived::StatusChanged))
}

/// A purchase's or view's recency: (`time`, id).
pub type Recency = (EventTime, String);

/// A purchased line: (user, product, (Order.Created time, orderId), units).
pub type Purchase = (String, String, Recency, i64);

/// The lines of the orders that count as purchases ([`OrderView::is_purchase`]).
pub fn purchases<'s>(orders: Coll<'s, (String, OrderView)>) -> Coll<'s, Purchase> {
    orders.flat_map(|(order_id, view)| {
        let mut rows = Vec::new();
        if view.is_purchase() {
            for line in &view.items {
                let stamp = (view.created_at, order_id.clone());
                rows.push((view.user_id.clone(), line.product_id.clone(), stamp, line.quantity));
            }
        }
        rows
    })
}

/// Folds one order's events, given sorted by (`time`, `id`). `None` until an
/// Order.Created is among them.
pub fn fold_order<'a>(
    order_id: &str,
    steps: impl IntoIterator<Item = (&'a Stamp, &'a OrderStep)> + Clone,
) -> Option<OrderView> {
    // The first Order.Created by (time, id) opens the order; everything else follows in order.
    let (created_stamp, created) = steps.clone().into_iter().find(|(_, s)| matches!(s, OrderStep::Created { .. }))?;
    let OrderStep::Created { user_id, lines, total, currency, discount, promo_code } = created else {
        unreachable!("found a Created")
    };
    let mut view = OrderView {
        order_id: order_id.to_string(),
        user_id: user_id.clone(),
        status: OrderStatus::Created,
        shipment_status: None,
        total: *total,
        discount: *discount,
        promo_code: promo_code.clone(),
        currency: currency.clone(),
        items: lines.clone(),
        history: vec![HistoryEntry { status: OrderStatus::Created, at: created_stamp.time }],
        anomalies: Vec::new(),
        shipped_from: None,
        refunded: 0,
        created_at: created_stamp.time,
    };
    for (stamp, step) in steps {
        if stamp == created_stamp {
            continue;
        }
        if let OrderStep::ShipmentStatusUpdated { status } = step {
            view.shipment_status = Some(ShipmentStatus::from(*status));
        }
        match transition(view.status, step) {
            None => view.anomalies.push(Anomaly {
                event_id: stamp.id.clone(),
                event_type: step.type_name().to_string(),
                at: stamp.time,
                status: view.status,
            }),
            Some(next) => {
                match step {
                    OrderStep::ShipmentCreated { warehouse_id } => {
                        view.shipped_from = Some(warehouse_id.clone());
                        view.shipment_status = Some(ShipmentStatus::Created);
                    }
                    OrderStep::ShipmentDelivered => view.shipment_status = Some(ShipmentStatus::Delivered),
                    OrderStep::PaymentRefunded { amount } => view.refunded += amount,
                    _ => {}
                }
                if next != view.status {
                    view.status = next;
                    view.history.push(HistoryEntry { status: next, at: stamp.time });
                }
            }
        }
    }
    Some(view)
}

/// The status changes of an order, one per history entry.
pub fn changes_of(view: &OrderView) -> Vec<StatusChange> {
    view.history
        .iter()
        .enumerate()
        .map(|(index, entry)| StatusChange {
            order_id: view.order_id.clone(),
            user_id: view.user_id.clone(),
            index,
            previous: index.checked_sub(1).map(|i| view.history[i].status),
            status: entry.status,
            at: entry.at,
            created_at: view.created_at,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use shopflow_topics::events::PaymentMethod;

    fn stamp(ms: i64, id: &str) -> Stamp {
        Stamp { time: EventTime::from_millis(ms), id: id.to_string() }
    }

    fn created() -> OrderStep {
        OrderStep::Created {
            user_id: "u1".into(),
            lines: vec![],
            total: 100,
            currency: "USD".into(),
            discount: 0,
            promo_code: None,
        }
    }

    fn fold(steps: &[(Stamp, OrderStep)]) -> Option<OrderView> {
        let mut sorted = steps.to_vec();
        sorted.sort();
        fold_order("o1", sorted.iter().map(|(s, e)| (s, e)))
    }

    #[test]
    fn the_happy_path_goes_through_every_status() {
        let view = fold(&[
            (stamp(1, "a"), created()),
            (stamp(2, "b"), OrderStep::PaymentInitiated { method: PaymentMethod::Card }),
            (stamp(3, "c"), OrderStep::PaymentCompleted),
            (stamp(4, "d"), OrderStep::ShipmentCreated { warehouse_id: "w1".into() }),
            (
                stamp(5, "e"),
                OrderStep::ShipmentStatusUpdated { status: shopflow_topics::events::TransitStatus::InTransit },
            ),
            (stamp(6, "f"), OrderStep::ShipmentDelivered),
            (stamp(7, "g"), OrderStep::ReturnRequested),
            (stamp(8, "h"), OrderStep::PaymentRefunded { amount: 100 }),
        ])
        .unwrap();
        let statuses: Vec<_> = view.history.iter().map(|h| h.status.as_str()).collect();
        assert_eq!(statuses, ["Created", "Paid", "Shipped", "Delivered", "ReturnRequested", "Refunded"]);
        assert!(view.anomalies.is_empty());
        assert_eq!(view.shipment_status.map(ShipmentStatus::as_str), Some("delivered"));
        assert_eq!(view.shipped_from.as_deref(), Some("w1"));
        assert_eq!(view.refunded, 100);
    }

    #[test]
    fn a_payment_before_the_order_is_applied_after_it() {
        let view = fold(&[(stamp(1, "p"), OrderStep::PaymentCompleted), (stamp(2, "c"), created())]).unwrap();
        assert_eq!(view.status, OrderStatus::Paid);
        assert_eq!(view.history[1].at, EventTime::from_millis(1));
    }

    #[test]
    fn invalid_transitions_and_second_creates_are_anomalies() {
        let view = fold(&[
            (stamp(1, "a"), created()),
            (stamp(2, "b"), OrderStep::ShipmentDelivered),
            (stamp(3, "c"), created()),
            (stamp(4, "d"), OrderStep::PaymentFailed),
            (stamp(5, "e"), OrderStep::PaymentFailed),
        ])
        .unwrap();
        assert_eq!(view.status, OrderStatus::PaymentFailed);
        let anomalies: Vec<_> = view.anomalies.iter().map(|a| (a.event_id.as_str(), a.status.as_str())).collect();
        assert_eq!(anomalies, [("b", "Created"), ("c", "Created"), ("e", "PaymentFailed")]);
    }

    #[test]
    fn no_order_without_order_created() {
        assert_eq!(fold(&[(stamp(1, "a"), OrderStep::PaymentCompleted)]), None);
    }
}
