//! Catalog (`views.md`, "Catalog, carts, users"): products folded from
//! Product.Created then Product.Updated in (`time`, `id`) order, hidden by
//! Product.Deleted; the category tree from the latest Category.Upserted.

use crate::facts::{ProductChange, ProductFields, Stamp};
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

fn apply(view: &mut ProductView, fields: &ProductFields) {
    if let Some(v) = &fields.vendor_id {
        view.vendor_id = v.clone();
    }
    if let Some(v) = &fields.name {
        view.name = v.clone();
    }
    if let Some(v) = &fields.description {
        view.description = v.clone();
    }
    if let Some(v) = &fields.category_id {
        view.category_id = v.clone();
    }
    if let Some(v) = fields.price {
        view.price = v;
    }
    if let Some(v) = &fields.currency {
        view.currency = v.clone();
    }
    if let Some(v) = &fields.attributes {
        view.attributes = v.clone();
    }
    if let Some(v) = &fields.images {
        view.images = v.clone();
    }
}

/// Folds one product's changes, given sorted by (`time`, `id`): the first
/// Product.Created, then every other change in order (a later Created
/// replaces fields like an update). `None` without a Product.Created.
/// `categories` is left empty; [`ancestors`] fills it.
pub fn fold_product<'a>(
    product_id: &str,
    changes: impl IntoIterator<Item = (&'a Stamp, &'a ProductChange)> + Clone,
) -> Option<ProductView> {
    let (first_stamp, first) = changes.clone().into_iter().find(|(_, c)| matches!(c, ProductChange::Created(_)))?;
    let mut view = ProductView {
        product_id: product_id.to_string(),
        vendor_id: String::new(),
        name: String::new(),
        description: String::new(),
        category_id: String::new(),
        categories: Vec::new(),
        price: 0,
        currency: "USD".to_string(),
        attributes: BTreeMap::new(),
        images: Vec::new(),
        deleted: false,
    };
    if let ProductChange::Created(fields) = first {
        apply(&mut view, fields);
    }
    for (stamp, change) in changes {
        if stamp == first_stamp {
            continue;
        }
        match change {
            ProductChange::Created(fields) | ProductChange::Updated(fields) => apply(&mut view, fields),
            ProductChange::Deleted => view.deleted = true,
        }
    }
    Some(view)
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

/// `category` and its ancestors, nearest first; stops at a missing parent or a cycle.
pub fn ancestors(category: &str, tree: &BTreeMap<String, CategoryView>) -> Vec<String> {
    let mut chain = vec![category.to_string()];
    let mut current = category;
    while let Some(parent) = tree.get(current).and_then(|c| c.parent_id.as_deref()) {
        if chain.iter().any(|c| c == parent) {
            break;
        }
        chain.push(parent.to_string());
        current = parent;
    }
    chain
}
