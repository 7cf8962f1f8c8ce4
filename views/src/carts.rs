//! Carts (`views.md`): each line folded in (`time`, `id`) order — ItemAdded
//! adds, ItemUpdated sets, ItemRemoved and CheckedOut (every line of the
//! user) set 0 — priced at the product's current price.

use serde::{Deserialize, Serialize};

/// One priced cart line.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CartLine {
    /// The product.
    pub product_id: String,
    /// Units.
    pub quantity: i64,
    /// The product's current price.
    pub unit_price: i64,
}

/// The cart view: what `GET /cart` serves.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CartView {
    /// The shopper.
    pub user_id: String,
    /// Lines of products on sale, by productId.
    pub items: Vec<CartLine>,
    /// Σ quantity × unitPrice.
    pub subtotal: i64,
}

impl CartView {
    /// A cart from priced lines (any order).
    pub fn new(user_id: &str, mut items: Vec<CartLine>) -> CartView {
        items.sort();
        let subtotal = items.iter().map(|l| l.quantity * l.unit_price).sum();
        CartView { user_id: user_id.to_string(), items, subtotal }
    }
}
