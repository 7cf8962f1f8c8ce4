//! Catalog (`views.md`, "Catalog, carts, users"): products folded from
//! Product.Created then Product.Updated in (`time`, `id`) order, hidden by
//! Product.Deleted, each placed in its category and the category's ancestors;
//! the category tree from the latest Category.Upserted per category. A
//! missing parent ends a product's chain of categories there; a cycle ends it
//! before the first category seen twice. Live products (not deleted, their
//! vendor not suspended) are what listings and search show and what the
//! tree's counts count.

use crate::ops::ReduceHeld;
use crate::ops::{fold_each_arranged, join_or_alone, ByKey};
use crate::{Coll, Project};
use shopflow_topics::events::{CategoryUpserted, ProductCreated, ProductDeleted, ProductUpdated};
use shopflow_views::catalog::{CategoryNode, CategoryTree, CategoryView, ProductView, TREE_KEY};
use shopflow_views::facts::{Fact, ProductChange, ProductFields, Stamp};
use shopflow_views::vendors::VendorStatus;
use std::collections::BTreeMap;

impl Project for ProductCreated {
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>) {
        let fields = ProductFields {
            vendor_id: Some(self.vendor_id.clone()),
            name: Some(self.name.clone()),
            description: Some(self.description.clone()),
            category_id: Some(self.category_id.clone()),
            price: Some(self.price),
            currency: Some(self.currency.clone()),
            attributes: Some(self.attributes.clone()),
            images: Some(self.images.clone()),
        };
        out.push(Fact::Product(self.product_id.clone(), stamp.clone(), ProductChange::Created(fields)));
    }
}

impl Project for ProductUpdated {
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>) {
        let fields = ProductFields {
            vendor_id: None,
            name: self.name.clone(),
            description: self.description.clone(),
            category_id: self.category_id.clone(),
            price: self.price,
            currency: None,
            attributes: self.attributes.clone(),
            images: self.images.clone(),
        };
        out.push(Fact::Product(self.product_id.clone(), stamp.clone(), ProductChange::Updated(fields)));
    }
}

impl Project for ProductDeleted {
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>) {
        out.push(Fact::Product(self.product_id.clone(), stamp.clone(), ProductChange::Deleted));
    }
}

impl Project for CategoryUpserted {
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>) {
        out.push(Fact::Category(self.category_id.clone(), stamp.clone(), self.name.clone(), self.parent_id.clone()));
    }
}

/// The catalog's views.
pub struct Catalog<'s> {
    /// Products by productId, their categories filled in.
    pub products: Coll<'s, (String, ProductView)>,
    /// Categories by categoryId.
    pub categories: Coll<'s, (String, CategoryView)>,
    /// The folded products (categories not yet filled in), arranged by
    /// productId: the one arrangement of whole views, which [`view`] and
    /// [`live`] join with the small rows they decide.
    folded: ByKey<'s, ProductView>,
    /// Each product's categories (its category and its ancestors, nearest
    /// first), arranged by productId.
    chains: ByKey<'s, Vec<String>>,
}

/// Products and categories.
pub fn view<'s>(facts: Coll<'s, Fact>) -> Catalog<'s> {
    let categories = facts
        .clone()
        .flat_map(|fact| match fact {
            Fact::Category(id, stamp, name, parent) => Some((id, (stamp, name, parent))),
            _ => None,
        })
        .reduce_held(|id, upserts, out| {
            let (_, name, parent_id) = upserts.last().expect("non-empty").0;
            out.push((CategoryView { category_id: id.clone(), name: name.clone(), parent_id: parent_id.clone() }, 1));
        });
    let lineage = categories.clone().map(|(_, view)| ((), view)).reduce_held(|_, all, out| {
        let tree: BTreeMap<String, CategoryView> =
            all.iter().map(|(v, _)| (v.category_id.clone(), (*v).clone())).collect();
        for id in tree.keys() {
            out.push(((id.clone(), ancestors(id, &tree)), 1));
        }
    });
    let lineage = lineage.map(|((), pair)| pair);
    let folded = fold_each_arranged(
        facts,
        |fact| match fact {
            Fact::Product(id, stamp, change) => Some((id, (stamp, change))),
            _ => None,
        },
        |id, changes| fold_product(id, changes.iter().map(|(c, _)| (&c.0, &c.1))),
    );
    // Each product under its category's chain, or, in a category with no Category.* event, alone in it.
    let placed = folded.clone().as_collection(|id, view| (view.category_id.clone(), id.clone()));
    let chains =
        join_or_alone(placed, lineage, |_, id, chain| (id.clone(), chain.clone()), |category, id| (id, vec![category]))
            .arrange_by_key();
    let products = with_chains(folded.clone(), chains.clone());
    Catalog { products, categories, folded, chains }
}

/// The folded products joined with their chains (one each), filled in.
fn with_chains<'s>(folded: ByKey<'s, ProductView>, chains: ByKey<'s, Vec<String>>) -> Coll<'s, (String, ProductView)> {
    folded.join_core(chains, |id, view, chain| {
        let mut view = view.clone();
        view.categories = chain.clone();
        Some((id.clone(), view))
    })
}

/// The live products: not deleted, and their vendor not suspended (a vendor
/// with no Vendor.* event is not suspended). Decided on (vendorId,
/// productId) rows; the views come from the catalog's one arrangement.
pub fn live<'s>(catalog: &Catalog<'s>, vendors: Coll<'s, (String, VendorStatus)>) -> Coll<'s, (String, ProductView)> {
    let suspended = vendors.flat_map(|(vendor, status)| (status == VendorStatus::Suspended).then_some(vendor));
    let ids = catalog
        .folded
        .clone()
        .as_collection(|id, view| (!view.deleted).then(|| (view.vendor_id.clone(), id.clone())))
        .flat_map(|row| row)
        .antijoin(suspended)
        .map(|(_, id)| id)
        .arrange_by_self();
    let chains = catalog.chains.clone().join_core(ids, |id, chain, ()| Some((id.clone(), chain.clone())));
    with_chains(catalog.folded.clone(), chains.arrange_by_key())
}

/// The category tree with, for each category, the live products in it or
/// below it, under [`TREE_KEY`].
pub fn tree<'s>(
    categories: Coll<'s, (String, CategoryView)>,
    live: Coll<'s, (String, ProductView)>,
) -> Coll<'s, (String, CategoryTree)> {
    let counts = crate::ops::count(live.flat_map(|(_, view)| view.categories));
    join_or_alone(
        categories,
        counts,
        |id, view, count| (id.clone(), (view.clone(), *count)),
        |id, view| (id, (view, 0)),
    )
    .map(|(_, node)| ((), node))
    .reduce_held(|_, nodes, out| {
        let items = nodes
            .iter()
            .map(|((view, count), _)| CategoryNode {
                category_id: view.category_id.clone(),
                name: view.name.clone(),
                parent_id: view.parent_id.clone(),
                product_count: *count as i64,
            })
            .collect();
        out.push((CategoryTree { items }, 1));
    })
    .map(|((), tree)| (TREE_KEY.to_string(), tree))
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
fn fold_product<'a>(
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
        created_at: first_stamp.time,
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
