//! Inventory (`views.md`, "Inventory"): on hand per product and warehouse
//! (received + adjusted − shipped from it), reserved (units of orders that are
//! Created or Paid) and available per product; and the alerts its changes
//! imply (Inventory.Oversold, Inventory.LowStock, Product.BackInStock).

use crate::{id_hash, sum, Coll, Epoch, Project};
use shopflow_topics::events::{InventoryAdjusted, StockReceived};
use shopflow_views::derived::{AlertKind, Derived, InventoryAlert};
use shopflow_views::facts::{Fact, Stamp};
use shopflow_views::inventory::{InventoryView, WarehouseStock};
use shopflow_views::orders::OrderView;
use std::collections::{BTreeMap, HashMap};

impl Project for StockReceived {
    fn project(&self, _: &Stamp, out: &mut Vec<Fact>) {
        out.push(Fact::Stock(self.product_id.clone(), self.warehouse_id.clone(), self.quantity));
    }
}

impl Project for InventoryAdjusted {
    fn project(&self, _: &Stamp, out: &mut Vec<Fact>) {
        out.push(Fact::Stock(self.product_id.clone(), self.warehouse_id.clone(), self.delta));
    }
}

/// Inventory by productId: stock movements, and the reservations and
/// shipments of orders.
pub fn view<'s>(facts: Coll<'s, Fact>, orders: Coll<'s, (String, OrderView)>) -> Coll<'s, (String, InventoryView)> {
    let stock_parts = facts.flat_map(|fact| match fact {
        Fact::Stock(product, warehouse, amount) => {
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
    let presence = all_parts.clone().map(|(key, _)| key).distinct().map(|key| (key, 0));
    let amounts = sum(all_parts.filter(|(_, amount)| *amount != 0));
    presence.concat(amounts).map(|((product, part), amount)| (product, (part, amount))).reduce(|product, parts, out| {
        // Presence rows carry 0; sums carry the amount; both may name one part.
        out.push((assemble(product, parts.iter().map(|((part, amount), _)| (part, *amount))), 1));
    })
}

/// The inventory alerts of each change of a product's `available`: at every
/// time the view changes, the value it had before and the value it has after
/// ([`alerts_of`]). A product's first inventory counts as "before: none".
pub fn alerts<'s>(inventory: Coll<'s, (String, InventoryView)>, threshold: i64) -> Coll<'s, Derived> {
    use differential_dataflow::AsCollection;
    use timely::dataflow::channels::pact::Exchange;
    use timely::dataflow::operators::generic::operator::Operator;
    use timely::dataflow::operators::Capability;

    type Update = ((String, InventoryView), Epoch, isize);
    let route = |update: &Update| id_hash(&update.0 .0) as u64;
    inventory
        .inner
        .unary_frontier(Exchange::new(route), "InventoryAlerts", move |_, _| {
            // Per time not yet complete: its capability and (product, available) → net diff.
            type Moves = HashMap<(String, i64), isize>;
            let mut pending: BTreeMap<Epoch, (Capability<Epoch>, Moves)> = BTreeMap::new();
            move |(input, frontier), output| {
                input.for_each_stamp(|capability, containers| {
                    for container in containers {
                        for ((product, view), time, diff) in container.drain(..) {
                            let (_, changes) =
                                pending.entry(time).or_insert_with(|| (capability.delayed(&time, 0), HashMap::new()));
                            *changes.entry((product, view.available)).or_insert(0) += diff;
                        }
                    }
                });
                while let Some(entry) = pending.first_entry() {
                    if frontier.less_equal(entry.key()) {
                        break;
                    }
                    let (time, (capability, changes)) = entry.remove_entry();
                    let mut moves: BTreeMap<String, (Option<i64>, Option<i64>)> = BTreeMap::new();
                    for ((product, available), diff) in changes {
                        let slot = moves.entry(product).or_default();
                        if diff < 0 {
                            slot.0 = Some(available);
                        } else if diff > 0 {
                            slot.1 = Some(available);
                        }
                    }
                    let mut session = output.session(&capability);
                    for (product, (previous, current)) in moves {
                        let Some(current) = current else { continue };
                        for alert in alerts_of(&product, previous, current, threshold) {
                            session.give((Derived::InventoryAlert(alert), time, 1));
                        }
                    }
                }
            }
        })
        .as_collection()
}

/// The alerts implied by `available` going from `previous` to `current`
/// (`None`: the product had no inventory before).
pub fn alerts_of(product_id: &str, previous: Option<i64>, current: i64, threshold: i64) -> Vec<InventoryAlert> {
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
        alerts.into_iter().map(|a| Derived::InventoryAlert(a).event().type_name()).collect()
    }

    fn inventory_alerts(product_id: &str, previous: Option<i64>, current: i64, threshold: i64) -> Vec<InventoryAlert> {
        alerts_of(product_id, previous, current, threshold)
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
