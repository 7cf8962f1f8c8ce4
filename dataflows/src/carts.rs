//! Carts (`views.md`): each line folded in (`time`, `id`) order — ItemAdded
//! adds, ItemUpdated sets, ItemRemoved and CheckedOut (every line of the
//! user) set 0 — priced at the product's current price.

use crate::facts::{CartChange, Stamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The quantities of a user's cart lines (quantity > 0), folded from its changes sorted by (`time`, `id`).
pub fn fold_cart<'a>(changes: impl IntoIterator<Item = (&'a Stamp, &'a CartChange)>) -> BTreeMap<String, i64> {
    let mut lines: BTreeMap<String, i64> = BTreeMap::new();
    for (_, change) in changes {
        match change {
            CartChange::Added { product_id, quantity } => *lines.entry(product_id.clone()).or_insert(0) += quantity,
            CartChange::Updated { product_id, quantity } => {
                lines.insert(product_id.clone(), *quantity);
            }
            CartChange::Removed { product_id } => {
                lines.remove(product_id);
            }
            CartChange::CheckedOut => lines.clear(),
        }
    }
    lines.retain(|_, q| *q > 0);
    lines
}

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
