//! Orders (`views.md`, "Order status"): the order view with its history,
//! anomalies and shipment status; the state machine ([`transition`]) that the
//! pipeline folds orders through and the API checks writes against; and the
//! Order.StatusChanged a history implies.

use crate::facts::{Line, OrderStep};
use serde::{Deserialize, Serialize};
use shopflow_topics::events::TransitStatus;
use shopflow_topics::{EventTime, OrderStatus};

/// Where an order's shipment is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShipmentStatus {
    /// Shipment.Created was accepted.
    Created,
    /// Shipment.StatusUpdated said so.
    InTransit,
    /// Shipment.StatusUpdated said so.
    OutForDelivery,
    /// Shipment.Delivered was accepted.
    Delivered,
}

impl ShipmentStatus {
    /// As the view spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ShipmentStatus::Created => "created",
            ShipmentStatus::InTransit => "in_transit",
            ShipmentStatus::OutForDelivery => "out_for_delivery",
            ShipmentStatus::Delivered => "delivered",
        }
    }
}

impl From<TransitStatus> for ShipmentStatus {
    fn from(status: TransitStatus) -> ShipmentStatus {
        match status {
            TransitStatus::InTransit => ShipmentStatus::InTransit,
            TransitStatus::OutForDelivery => ShipmentStatus::OutForDelivery,
        }
    }
}

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
    pub shipment_status: Option<ShipmentStatus>,
    /// What the shopper pays.
    pub total: i64,
    /// The discount priced in.
    #[serde(default)]
    pub discount: i64,
    /// The promotion code used.
    #[serde(default)]
    pub promo_code: Option<String>,
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
    /// When: the event time of the event that made the change.
    pub at: EventTime,
    /// When the order was created (its first Order.Created): the change says
    /// what that event says too, so it is settled only once both are.
    pub created_at: EventTime,
}
