//! Inventory (`views.md`, "Inventory"): on hand per product and warehouse,
//! reserved and available per product, and the threshold of its alerts.

use serde::{Deserialize, Serialize};

/// The default LowStock threshold (`views.md`, "Inventory").
pub const LOW_STOCK_THRESHOLD: i64 = 5;

/// Stock of a product in one warehouse.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WarehouseStock {
    /// The warehouse.
    pub warehouse_id: String,
    /// Received + adjusted − shipped from it.
    pub on_hand: i64,
}

/// The inventory view: what `GET /inventory/{productId}` serves.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InventoryView {
    /// The product.
    pub product_id: String,
    /// Σ over warehouses of on hand.
    pub on_hand: i64,
    /// Units in orders that are Created or Paid.
    pub reserved: i64,
    /// onHand − reserved (negative: oversold).
    pub available: i64,
    /// Every warehouse that ever held or shipped the product, by id.
    pub warehouses: Vec<WarehouseStock>,
}
