//! Catalog (`views.md`, "Catalog, carts, users"): the product view (folded
//! from Product.Created then Product.Updated in (`time`, `id`) order, hidden
//! by Product.Deleted) and the categories of the tree.

use serde::{Deserialize, Serialize};
use shopflow_topics::EventTime;
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
    /// Time of its first Product.Created (what `sort=newest` orders by).
    pub created_at: EventTime,
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

/// One category of the tree, with the number of live products in it and
/// its descendants.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CategoryNode {
    /// The category.
    pub category_id: String,
    /// Its name.
    pub name: String,
    /// Its parent (`None` for a root; a parent may be unknown).
    pub parent_id: Option<String>,
    /// Live products (not deleted, vendor not suspended) in it or below it.
    pub product_count: i64,
}

/// The whole category tree, by categoryId: what `GET /categories` serves.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CategoryTree {
    /// Every category, by categoryId.
    pub items: Vec<CategoryNode>,
}

/// The one key of the category tree.
pub const TREE_KEY: &str = "all";
