//! Inventory (`views.md`, "Inventory"): on hand per product and warehouse
//! (received + adjusted − shipped from it), reserved (units of orders that are
//! Created or Paid) and available per product; and the alerts of each step of
//! a product's timeline of `available` in event-time order
//! (Inventory.Oversold, Inventory.LowStock, Product.BackInStock).

use crate::ops::ReduceHeld;
use crate::{sum, Coll, Project};
use shopflow_topics::events::{InventoryAdjusted, StockReceived};
use shopflow_topics::{EventTime, OrderStatus};
use shopflow_views::derived::{AlertKind, Derived, InventoryAlert};
use shopflow_views::facts::{Fact, Stamp};
use shopflow_views::inventory::{InventoryView, WarehouseStock};
use shopflow_views::orders::OrderView;
use std::collections::BTreeMap;

impl Project for StockReceived {
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>) {
        out.push(Fact::Stock(self.product_id.clone(), self.warehouse_id.clone(), stamp.clone(), self.quantity));
    }
}

impl Project for InventoryAdjusted {
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>) {
        out.push(Fact::Stock(self.product_id.clone(), self.warehouse_id.clone(), stamp.clone(), self.delta));
    }
}

/// Inventory by productId: stock movements, and the reservations and
/// shipments of orders.
pub fn view<'s>(facts: Coll<'s, Fact>, orders: Coll<'s, (String, OrderView)>) -> Coll<'s, (String, InventoryView)> {
    let stock_parts = facts.flat_map(|fact| match fact {
        Fact::Stock(product, warehouse, _, amount) => {
            vec![((product.clone(), Part::SeenIn(warehouse.clone())), 0), ((product, Part::Stock(warehouse)), amount)]
        }
        _ => Vec::new(),
    });
    let order_parts = orders.flat_map(|(_, view)| {
        let mut parts = Vec::new();
        for line in &view.items {
            parts.push(((line.product_id.clone(), Part::Seen), 0));
            if view.reserves_stock() {
                parts.push(((line.product_id.clone(), Part::Reserved), line.quantity));
            }
            if let (true, Some(warehouse)) = (view.was_shipped(), &view.shipped_from) {
                parts.push(((line.product_id.clone(), Part::SeenIn(warehouse.clone())), 0));
                parts.push(((line.product_id.clone(), Part::Shipped(warehouse.clone())), line.quantity));
            }
        }
        parts
    });
    let all_parts = stock_parts.concat(order_parts);
    let presence = crate::ops::distinct(all_parts.clone().map(|(key, _)| key)).map(|key| (key, 0));
    let amounts = sum(all_parts.filter(|(_, amount)| *amount != 0));
    presence.concat(amounts).map(|((product, part), amount)| (product, (part, amount))).reduce_held(
        |product, parts, out| {
            // Presence rows carry 0; sums carry the amount; both may name one part.
            out.push((assemble(product, parts.iter().map(|((part, amount), _)| (part, *amount))), 1));
        },
    )
}

/// One step of a product's `available` timeline: (event time, what made it
/// — the stock event's id or `orderId#index` of the order's history entry —,
/// change of `available`).
pub type Move = (EventTime, String, i64);

/// Every product's timeline of `available`: each stock movement at its
/// event, and each order's reservation and shipment where its history moves
/// them (views.md: an order takes its units while `Created` or `Paid`, and
/// for good once `Shipped`). An entry timed before the order's creation
/// moves at the creation, which it needs to be known.
pub fn moves<'s>(facts: Coll<'s, Fact>, orders: Coll<'s, (String, OrderView)>) -> Coll<'s, (String, Move)> {
    let stock = facts.flat_map(|fact| match fact {
        Fact::Stock(product, _, stamp, amount) => Some((product, (stamp.time, stamp.id, amount))),
        _ => None,
    });
    stock.concat(orders.flat_map(|(order_id, view)| order_moves(&order_id, &view)))
}

/// The moves of one order: per product, the change of what it takes from
/// `available` at each history entry that changes it (the first always, so
/// the product is known from its first order).
pub fn order_moves(order_id: &str, view: &OrderView) -> Vec<(String, Move)> {
    let mut units: BTreeMap<&str, i64> = BTreeMap::new();
    for line in &view.items {
        *units.entry(line.product_id.as_str()).or_insert(0) += line.quantity;
    }
    let mut out = Vec::new();
    let mut shipped = false;
    let mut taken = false;
    for (index, entry) in view.history.iter().enumerate() {
        shipped |= entry.status == OrderStatus::Shipped;
        let takes = shipped || matches!(entry.status, OrderStatus::Created | OrderStatus::Paid);
        if index > 0 && takes == taken {
            continue;
        }
        let at = entry.at.max(view.created_at);
        let step = format!("{order_id}#{index:04}");
        for (product, quantity) in &units {
            let change = match (taken, takes) {
                (false, true) => -quantity,
                (true, false) => *quantity,
                _ => 0,
            };
            out.push((product.to_string(), (at, step.clone(), change)));
        }
        taken = takes;
    }
    out
}

/// The inventory alerts of every step of every product's timeline of
/// `available` ([`moves`], [`alerts_of`]): a function of the history in
/// event-time order, whatever the batching. A product's first step counts
/// as "before: none".
pub fn alerts<'s>(moves: Coll<'s, (String, Move)>, threshold: i64) -> Coll<'s, Derived> {
    moves
        .reduce_held(move |product, moves, out| {
            let mut available: Option<i64> = None;
            let mut i = 0;
            while i < moves.len() {
                // One step: every move of one (time, what), in any multiplicity.
                let ((at, step, _), _) = moves[i];
                let mut current = available.unwrap_or(0);
                while i < moves.len() && moves[i].0 .0 == *at && moves[i].0 .1 == *step {
                    current += moves[i].0 .2 * moves[i].1 as i64;
                    i += 1;
                }
                for alert in alerts_of(product, (*at, step), available, current, threshold) {
                    out.push((alert, 1));
                }
                available = Some(current);
            }
        })
        .map(|(_, alert)| Derived::InventoryAlert(alert))
}

/// The alerts implied by `available` going from `previous` to `current`
/// (`None`: the product had no inventory before).
pub fn alerts_of(
    product_id: &str,
    (at, step): (EventTime, &str),
    previous: Option<i64>,
    current: i64,
    threshold: i64,
) -> Vec<InventoryAlert> {
    let mut kinds = Vec::new();
    if previous == Some(current) {
        return Vec::new();
    }
    if current < 0 {
        kinds.push(AlertKind::Oversold);
    }
    if current <= threshold && previous.is_none_or(|p| p > threshold) {
        kinds.push(AlertKind::LowStock);
    }
    if current > 0 && previous.is_some_and(|p| p <= 0) {
        kinds.push(AlertKind::BackInStock);
    }
    kinds
        .into_iter()
        .map(|kind| InventoryAlert {
            at,
            step: step.to_string(),
            product_id: product_id.to_string(),
            kind,
            previous,
            available: current,
            threshold,
        })
        .collect()
}

/// What one row contributes to a product's inventory.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
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
fn assemble<'a>(product_id: &str, parts: impl IntoIterator<Item = (&'a Part, i64)>) -> InventoryView {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn types(alerts: Vec<InventoryAlert>) -> Vec<&'static str> {
        alerts.into_iter().map(|a| Derived::InventoryAlert(a).events()[0].0.type_name()).collect()
    }

    fn inventory_alerts(product_id: &str, previous: Option<i64>, current: i64, threshold: i64) -> Vec<InventoryAlert> {
        alerts_of(product_id, (EventTime(1), "e"), previous, current, threshold)
    }

    #[test]
    fn alerts_follow_the_transitions() {
        assert!(inventory_alerts("p", Some(10), 10, 5).is_empty());
        assert_eq!(types(inventory_alerts("p", Some(10), 5, 5)), ["Inventory.LowStock"]);
        assert!(inventory_alerts("p", Some(4), 3, 5).is_empty(), "already low: no new LowStock");
        assert_eq!(types(inventory_alerts("p", Some(1), -1, 5)), ["Inventory.Oversold"]);
        assert_eq!(types(inventory_alerts("p", Some(-1), -2, 5)), ["Inventory.Oversold"]);
        assert_eq!(types(inventory_alerts("p", Some(0), 3, 5)), ["Product.BackInStock"]);
        assert_eq!(types(inventory_alerts("p", Some(0), 9, 5)), ["Product.BackInStock"]);
        assert_eq!(types(inventory_alerts("p", None, 2, 5)), ["Inventory.LowStock"]);
    }
}
