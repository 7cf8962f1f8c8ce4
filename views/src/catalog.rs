//! Catalog (`views.md`, "Catalog, carts, users"): the product view (folded
//! from Product.Created then Product.Updated in (`time`, `id`) order, hidden
//! by Product.Deleted) and the categories of the tree.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The product view: what `GET /products/{id}` serves (with stock and rating added there).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductView {
    /// The product.
    pub product_id: String,
    /// Its vendor.
    pub vendor_id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Its category.
    pub category_id: String,
    /// The category and all its ancestors, nearest first.
    pub categories: Vec<String>,
    /// Price in minor units.
    pub price: i64,
    /// Currency.
    pub currency: String,
    /// Attributes.
    pub attributes: BTreeMap<String, String>,
    /// Images.
    pub images: Vec<String>,
    /// Deleted products keep their figures but are not sold.
    pub deleted: bool,
}

/// A category as the tree keeps it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CategoryView {
    /// The category.
    pub category_id: String,
    /// Its name.
    pub name: String,
    /// Its parent.
    pub parent_id: Option<String>,
}
