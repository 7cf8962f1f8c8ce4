//! Inventory (`views.md`, "Inventory"): on hand per product and warehouse,
//! reserved and available per product.

use serde::{Deserialize, Serialize};

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

/// What one row contributes to a product's inventory.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Part {
    /// The product is known to inventory (zero contribution).
    Seen,
    /// The warehouse is known for the product (zero contribution).
    SeenIn(String),
    /// Units received or adjusted in a warehouse.
    Stock(String),
    /// Units shipped from a warehouse (subtracted).
    Shipped(String),
    /// Units reserved by open orders.
    Reserved,
}

/// Builds the view from a product's parts with their sums.
pub fn assemble<'a>(product_id: &str, parts: impl IntoIterator<Item = (&'a Part, i64)>) -> InventoryView {
    let mut warehouses: std::collections::BTreeMap<String, i64> = Default::default();
    let mut reserved = 0;
    for (part, amount) in parts {
        match part {
            Part::Seen => {}
            Part::SeenIn(w) => *warehouses.entry(w.clone()).or_insert(0) += 0,
            Part::Stock(w) => *warehouses.entry(w.clone()).or_insert(0) += amount,
            Part::Shipped(w) => *warehouses.entry(w.clone()).or_insert(0) -= amount,
            Part::Reserved => reserved += amount,
        }
    }
    let on_hand = warehouses.values().sum();
    InventoryView {
        product_id: product_id.to_string(),
        on_hand,
        reserved,
        available: on_hand - reserved,
        warehouses: warehouses
            .into_iter()
            .map(|(warehouse_id, on_hand)| WarehouseStock { warehouse_id, on_hand })
            .collect(),
    }
}
