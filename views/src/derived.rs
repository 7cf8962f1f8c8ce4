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
    /// Notification.Requested: one per channel of the notice.
    Notify(crate::notifications::Notice),
    /// Fraud.Suspected: a user's flag.
    FraudSuspected {
        /// The user.
        user_id: String,
        /// The rule broken, and by what.
        flag: FraudFlag,
    },
}

impl Derived {
    /// The events to emit, each with the state its id hashes: one, or for
    /// a notice one Notification.Requested per channel.
    pub fn events(&self) -> Vec<(Event, String)> {
        let one = |event: Event, state: String| vec![(event, state)];
        match self {
            Derived::StatusChanged(change) => one(
                OrderStatusChanged {
                    order_id: change.order_id.clone(),
                    user_id: change.user_id.clone(),
                    previous_status: change.previous,
                    new_status: change.status,
                }
                .into(),
                format!("{}#{}@{}", change.order_id, change.index, change.at),
            ),
            Derived::InventoryAlert(alert) => {
                let product_id = alert.product_id.clone();
                let event = match alert.kind {
                    AlertKind::Oversold => InventoryOversold { product_id, available: alert.available }.into(),
                    AlertKind::LowStock => {
                        InventoryLowStock { product_id, available: alert.available, threshold: alert.threshold }.into()
                    }
                    AlertKind::BackInStock => ProductBackInStock { product_id, available: alert.available }.into(),
                };
                let state = format!(
                    "{}@{}/{}:{:?}->{}",
                    alert.product_id, alert.at.0, alert.step, alert.previous, alert.available
                );
                one(event, state)
            }
            Derived::Notify(notice) => {
                // The text is the same on every channel: rendered once.
                let (subject, body) =
                    crate::notifications::render(&notice.template, &crate::notifications::var_map(&notice.vars))
                        .unwrap_or_else(|error| (notice.template.clone(), error));
                // Only the ids differ per channel: no per-channel copy of the variables.
                notice
                    .channels
                    .iter()
                    .map(|&channel| {
                        let id = crate::notifications::notification_id(
                            &notice.user_id,
                            channel,
                            &notice.template,
                            &notice.source,
                        );
                        let event = NotificationRequested {
                            notification_id: id.clone(),
                            user_id: notice.user_id.clone(),
                            channel,
                            template: notice.template.clone(),
                            subject: subject.clone(),
                            body: body.clone(),
                        };
                        (event.into(), id)
                    })
                    .collect()
            }
            Derived::FraudSuspected { user_id, flag } => one(
                FraudSuspected {
                    user_id: user_id.clone(),
                    order_id: Some(flag.order_id.clone()),
                    rule: flag.rule.as_str().to_string(),
                    detail: flag.detail.clone(),
                }
                .into(),
                format!("{user_id}:{}:{}@{}", flag.rule.as_str(), flag.order_id, flag.at.0),
            ),
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notifications::Notice;
    use shopflow_topics::events::Channel;

    #[test]
    fn a_notice_is_emitted_once_per_channel_under_its_notifications_ids() {
        let notice = Notice {
            user_id: "usr-1".into(),
            channels: vec![Channel::Email, Channel::Push],
            template: "order_paid".into(),
            source: "ord-1#2".into(),
            vars: vec![("orderId".into(), "ord-1".into()), ("name".into(), "Ann".into())],
            at: EventTime(5),
            settles_at: EventTime(5),
        };
        let ids: Vec<String> = notice.notifications().into_iter().map(|n| n.notification_id).collect();
        let emitted = Derived::Notify(notice).events();
        assert_eq!(emitted.iter().map(|(_, id)| id.clone()).collect::<Vec<_>>(), ids);
        assert!(emitted.iter().all(|(event, _)| event.type_name() == "Notification.Requested"));
    }
}
