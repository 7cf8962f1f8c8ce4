//! Order status (`views.md`, "Order status"): each order's events folded in
//! (`time`, `id`) order through the state machine, with history, anomalies and
//! shipment status; and the Order.StatusChanged events that history implies.

use crate::facts::{Line, OrderStep, Stamp};
use serde::{Deserialize, Serialize};
use shopflow_topics::{EventTime, OrderStatus};

/// One status an order went through.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// The status entered.
    pub status: OrderStatus,
    /// The time of the event that caused it.
    pub at: EventTime,
}

/// An event that did not fit the state machine.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Anomaly {
    /// The event's id.
    pub event_id: String,
    /// The event's type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The event's time.
    pub at: EventTime,
    /// The order's status when it was applied.
    pub status: OrderStatus,
}

/// The order view: what `GET /orders/{id}` serves.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    /// The order.
    pub order_id: String,
    /// Its shopper.
    pub user_id: String,
    /// Current status.
    pub status: OrderStatus,
    /// created, in_transit, out_for_delivery or delivered; none before shipping.
    pub shipment_status: Option<String>,
    /// What the shopper pays.
    pub total: i64,
    /// Currency.
    pub currency: String,
    /// The lines.
    pub items: Vec<Line>,
    /// Statuses gone through, in order.
    pub history: Vec<HistoryEntry>,
    /// Events that were invalid transitions.
    pub anomalies: Vec<Anomaly>,
    /// The warehouse of the accepted Shipment.Created.
    pub shipped_from: Option<String>,
    /// Σ of the accepted refund.
    pub refunded: i64,
    /// Time of the order's Order.Created.
    pub created_at: EventTime,
}

impl OrderView {
    /// Whether the order counts as a purchase (Paid, Shipped, Delivered or ReturnRequested).
    pub fn is_purchase(&self) -> bool {
        matches!(
            self.status,
            OrderStatus::Paid | OrderStatus::Shipped | OrderStatus::Delivered | OrderStatus::ReturnRequested
        )
    }

    /// Whether its items are reserved (Created or Paid).
    pub fn reserves_stock(&self) -> bool {
        matches!(self.status, OrderStatus::Created | OrderStatus::Paid)
    }

    /// Whether the order reached Shipped at some point.
    pub fn was_shipped(&self) -> bool {
        self.history.iter().any(|h| h.status == OrderStatus::Shipped)
    }
}

/// The status after applying `step` to `status`, or `None` for an invalid transition.
/// Steps that never change the status return the status unchanged.
pub fn transition(status: OrderStatus, step: &OrderStep) -> Option<OrderStatus> {
    use OrderStatus::*;
    match (status, step) {
        (_, OrderStep::PaymentInitiated { .. } | OrderStep::ShipmentStatusUpdated { .. }) => Some(status),
        (Created | PaymentFailed, OrderStep::PaymentCompleted) => Some(Paid),
        (Created, OrderStep::PaymentFailed) => Some(PaymentFailed),
        (Created | Paid | PaymentFailed, OrderStep::Cancelled) => Some(Cancelled),
        (Paid, OrderStep::ShipmentCreated { .. }) => Some(Shipped),
        (Shipped, OrderStep::ShipmentDelivered) => Some(Delivered),
        (Delivered, OrderStep::ReturnRequested) => Some(ReturnRequested),
        (Paid | Cancelled | ReturnRequested, OrderStep::PaymentRefunded { .. }) => Some(Refunded),
        _ => None,
    }
}

/// Folds one order's events, given sorted by (`time`, `id`). `None` until an
/// Order.Created is among them.
pub fn fold_order<'a>(
    order_id: &str,
    steps: impl IntoIterator<Item = (&'a Stamp, &'a OrderStep)> + Clone,
) -> Option<OrderView> {
    // The first Order.Created by (time, id) opens the order; everything else follows in order.
    let (created_stamp, created) = steps.clone().into_iter().find(|(_, s)| matches!(s, OrderStep::Created { .. }))?;
    let OrderStep::Created { user_id, lines, total, currency } = created else { unreachable!("found a Created") };
    let mut view = OrderView {
        order_id: order_id.to_string(),
        user_id: user_id.clone(),
        status: OrderStatus::Created,
        shipment_status: None,
        total: *total,
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
            view.shipment_status = Some(status.as_str().to_string());
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
                        view.shipment_status = Some("created".to_string());
                    }
                    OrderStep::ShipmentDelivered => view.shipment_status = Some("delivered".to_string()),
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

/// One Order.StatusChanged the history implies.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StatusChange {
    /// The order.
    pub order_id: String,
    /// Its shopper.
    pub user_id: String,
    /// Position in the history (0: Created).
    pub index: usize,
    /// The status before (`None` for the first).
    pub previous: Option<OrderStatus>,
    /// The status entered.
    pub status: OrderStatus,
    /// When.
    pub at: EventTime,
}

/// The status changes of an order, one per history entry.
pub fn status_changes(view: &OrderView) -> Vec<StatusChange> {
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
        OrderStep::Created { user_id: "u1".into(), lines: vec![], total: 100, currency: "USD".into() }
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
        assert_eq!(view.shipment_status.as_deref(), Some("delivered"));
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
