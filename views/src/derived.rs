//! Derived events: what the views imply and the pipeline emits
//! (Order.StatusChanged, inventory alerts, Fraud.Suspected,
//! Notification.Requested), each with the
//! event time of the transition it describes, the time from which on it is
//! settled ([`Derived::settles_at`]), and the state it follows from, which its
//! deterministic id hashes. Each is a function of the history in (`time`,
//! `id`) order, never of how the history was batched.

use crate::fraud::FraudFlag;
use crate::orders::StatusChange;
use serde::{Deserialize, Serialize};
use shopflow_topics::events::{
    FraudSuspected, InventoryLowStock, InventoryOversold, NotificationRequested, OrderStatusChanged, ProductBackInStock,
};
use shopflow_topics::{Event, EventTime};

/// Which inventory alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AlertKind {
    /// Inventory.Oversold: available below zero.
    Oversold,
    /// Inventory.LowStock: available fell to or below the threshold.
    LowStock,
    /// Product.BackInStock: available rose above zero from zero or below.
    BackInStock,
}

/// An inventory alert: `available` of a product went from `previous` to
/// `available` at one step of its timeline (the product's stock movements and
/// order reservations in event-time order).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct InventoryAlert {
    /// The event time of the step.
    pub at: EventTime,
    /// What made the step: the stock event's id, or `orderId#index` of the
    /// order's history entry.
    pub step: String,
    /// The product.
    pub product_id: String,
    /// Which alert.
    pub kind: AlertKind,
    /// `available` before (`None`: the product had no inventory before).
    pub previous: Option<i64>,
    /// `available` now.
    pub available: i64,
    /// The LowStock threshold.
    pub threshold: i64,
}

/// An event the views imply.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Derived {
    /// Order.StatusChanged.
    StatusChanged(StatusChange),
    /// Inventory.Oversold, Inventory.LowStock or Product.BackInStock.
    InventoryAlert(InventoryAlert),
    /// Notification.Requested.
    Notify(crate::notifications::Notification),
    /// Fraud.Suspected: a user's flag.
    FraudSuspected {
        /// The user.
        user_id: String,
        /// The rule broken, and by what.
        flag: FraudFlag,
    },
}

impl Derived {
    /// The event to emit.
    pub fn event(&self) -> Event {
        match self {
            Derived::StatusChanged(change) => OrderStatusChanged {
                order_id: change.order_id.clone(),
                user_id: change.user_id.clone(),
                previous_status: change.previous,
                new_status: change.status,
            }
            .into(),
            Derived::InventoryAlert(alert) => {
                let product_id = alert.product_id.clone();
                match alert.kind {
                    AlertKind::Oversold => InventoryOversold { product_id, available: alert.available }.into(),
                    AlertKind::LowStock => {
                        InventoryLowStock { product_id, available: alert.available, threshold: alert.threshold }.into()
                    }
                    AlertKind::BackInStock => ProductBackInStock { product_id, available: alert.available }.into(),
                }
            }
            Derived::Notify(n) => {
                let (subject, body) = crate::notifications::render(&n.template, &n.vars)
                    .unwrap_or_else(|error| (n.template.clone(), error));
                NotificationRequested {
                    notification_id: n.notification_id.clone(),
                    user_id: n.user_id.clone(),
                    channel: n.channel,
                    template: n.template.clone(),
                    subject,
                    body,
                }
                .into()
            }
            Derived::FraudSuspected { user_id, flag } => FraudSuspected {
                user_id: user_id.clone(),
                order_id: Some(flag.order_id.clone()),
                rule: flag.rule.as_str().to_string(),
                detail: flag.detail.clone(),
            }
            .into(),
        }
    }

    /// The event time of the transition: the derived event's `time`.
    pub fn time(&self) -> EventTime {
        match self {
            Derived::StatusChanged(change) => change.at,
            Derived::InventoryAlert(alert) => alert.at,
            Derived::FraudSuspected { flag, .. } => flag.at,
            Derived::Notify(n) => n.at,
        }
    }

    /// The newest event time among the events it follows from: once the
    /// watermark reaches it, no event read later (within the allowed
    /// lateness) can change or remove it.
    pub fn settles_at(&self) -> EventTime {
        match self {
            Derived::StatusChanged(change) => change.at.max(change.created_at),
            Derived::Notify(n) => n.settles_at,
            _ => self.time(),
        }
    }

    /// What the event follows from: with what it says, the input of its id.
    pub fn state(&self) -> String {
        match self {
            Derived::StatusChanged(change) => format!("{}#{}@{}", change.order_id, change.index, change.at),
            Derived::InventoryAlert(alert) => {
                format!("{}@{}/{}:{:?}->{}", alert.product_id, alert.at.0, alert.step, alert.previous, alert.available)
            }
            Derived::FraudSuspected { user_id, flag } => {
                format!("{user_id}:{}:{}@{}", flag.rule.as_str(), flag.order_id, flag.at.0)
            }
            Derived::Notify(n) => n.notification_id.clone(),
        }
    }
}
