//! Derived events: what the views imply and the pipeline emits
//! (Order.StatusChanged, inventory alerts), each with the state it follows
//! from, which its deterministic id hashes.

use crate::orders::StatusChange;
use serde::{Deserialize, Serialize};
use shopflow_topics::events::{InventoryLowStock, InventoryOversold, OrderStatusChanged, ProductBackInStock};
use shopflow_topics::Event;

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

/// An inventory alert: `available` of a product went from `previous` to `available`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct InventoryAlert {
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
        }
    }

    /// What the event follows from: with what it says, the input of its id.
    pub fn state(&self) -> String {
        match self {
            Derived::StatusChanged(change) => format!("{}#{}@{}", change.order_id, change.index, change.at),
            Derived::InventoryAlert(alert) => {
                format!("{}:{:?}->{}", alert.product_id, alert.previous, alert.available)
            }
        }
    }
}
