//! Carts (`views.md`, "Catalog, carts, users"): each line folded in (`time`,
//! `id`) order — ItemAdded adds, ItemUpdated sets, ItemRemoved and CheckedOut
//! (every line of the user) set 0 — priced at the product's current price;
//! lines of products not on sale are left out.

use crate::ops::ReduceHeld;
use crate::{Coll, Project};
use shopflow_topics::events::{CartCheckedOut, CartItemAdded, CartItemRemoved, CartItemUpdated};
use shopflow_views::carts::{CartLine, CartView};
use shopflow_views::catalog::ProductView;
use shopflow_views::facts::{CartChange, Fact, Stamp};
use std::collections::BTreeMap;

fn change(user_id: &str, stamp: &Stamp, change: CartChange, out: &mut Vec<Fact>) {
    out.push(Fact::Cart(user_id.to_string(), stamp.clone(), change));
}

impl Project for CartItemAdded {
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>) {
        let added = CartChange::Added { product_id: self.product_id.clone(), quantity: self.quantity };
        change(&self.user_id, stamp, added, out);
    }
}

impl Project for CartItemUpdated {
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>) {
        let updated = CartChange::Updated { product_id: self.product_id.clone(), quantity: self.quantity };
        change(&self.user_id, stamp, updated, out);
    }
}

impl Project for CartItemRemoved {
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>) {
        change(&self.user_id, stamp, CartChange::Removed { product_id: self.product_id.clone() }, out);
    }
}

impl Project for CartCheckedOut {
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>) {
        change(&self.user_id, stamp, CartChange::CheckedOut, out);
    }
}

/// Carts by userId (non-empty ones), priced from `products`.
pub fn view<'s>(facts: Coll<'s, Fact>, products: Coll<'s, (String, ProductView)>) -> Coll<'s, (String, CartView)> {
    let cart_lines = facts
        .flat_map(|fact| match fact {
            Fact::Cart(user, stamp, change) => Some((user, (stamp, change))),
            _ => None,
        })
        .reduce_held(|_user, changes, out| {
            for line in fold_cart(changes.iter().map(|(c, _)| (&c.0, &c.1))) {
                out.push((line, 1));
            }
        })
        .map(|(user, (product, quantity))| (product, (user, quantity)));
    let prices = products.flat_map(|(id, view)| (!view.deleted).then_some((id, view.price)));
    cart_lines
        .join_map(prices, |product, (user, quantity), price| {
            (user.clone(), CartLine { product_id: product.clone(), quantity: *quantity, unit_price: *price })
        })
        .reduce_held(|user, lines, out| {
            out.push((CartView::new(user, lines.iter().map(|(l, _)| (*l).clone()).collect()), 1))
        })
}

/// The quantities of a user's cart lines (quantity > 0), folded from its changes sorted by (`time`, `id`).
fn fold_cart<'a>(changes: impl IntoIterator<Item = (&'a Stamp, &'a CartChange)>) -> BTreeMap<String, i64> {
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
