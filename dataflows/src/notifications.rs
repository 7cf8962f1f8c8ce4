//! Notifications (`views.md`, "Notifications"; the rules in
//! [`shopflow_views::notifications`]): what happened to each user — their
//! orders' status changes, completed payments, shipment updates, couriers
//! assigned, a product in their cart back in stock, their registration —
//! joined with how the user was at that
//! moment (reachable, name, preferences). The result is a collection of
//! Notification.Requested like every derived event: the pipeline emits each
//! once it is settled.

use crate::ops::ReduceHeld;
use crate::orders::changes_of;
use crate::{fold_each, Coll};
use shopflow_topics::EventTime;
use shopflow_views::derived::{AlertKind, Derived};
use shopflow_views::facts::{CartChange, Fact, Stamp, UserChange};
use shopflow_views::notifications::{notify, order_template, Moment, Timeline, Trigger, Vars};
use shopflow_views::orders::OrderView;
use shopflow_views::payments::PaymentView;
use shopflow_views::shipping::{Assignment, TrackingView};
use shopflow_views::users::Preferences;
use std::collections::BTreeMap;

/// A user as notifications see them: how they were over time, and when they registered.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct Profile {
    /// From each time on, how they are.
    pub timeline: Timeline,
    /// Their first User.Registered.
    pub registered: Option<Stamp>,
}

/// Folds a user's changes, sorted by (`time`, `id`), into their [`Profile`].
pub fn profile<'a>(changes: impl IntoIterator<Item = (&'a Stamp, &'a UserChange)>) -> Profile {
    let mut registered: Option<Stamp> = None;
    let mut deleted = false;
    let mut name = String::new();
    let mut preferences = Preferences { email: true, sms: true, push: true };
    let mut timeline = Vec::new();
    for (stamp, change) in changes {
        match change {
            UserChange::Registered(fields) | UserChange::ProfileUpdated(fields) => {
                if matches!(change, UserChange::Registered(_)) && registered.is_none() {
                    registered = Some(stamp.clone());
                }
                if let Some(new) = &fields.name {
                    name = new.clone();
                }
            }
            UserChange::PreferencesUpdated(email, sms, push) => {
                preferences = Preferences { email: *email, sms: *sms, push: *push }
            }
            UserChange::Deleted => deleted = true,
        }
        let moment = Moment {
            reachable: registered.is_some() && !deleted,
            name: name.clone(),
            preferences: preferences.clone(),
        };
        timeline.push((stamp.time, moment));
    }
    Profile { timeline, registered }
}

/// A time a product was in a user's cart: (product, from, until — `None`: still there).
pub type Spell = (String, EventTime, Option<EventTime>);

/// Folds a user's cart changes, sorted by (`time`, `id`), into the spells
/// each product spent in the cart with a quantity above zero (ItemAdded
/// adds, ItemUpdated sets, ItemRemoved and CheckedOut empty, as the cart view folds).
pub fn cart_spells<'a>(changes: impl IntoIterator<Item = (&'a Stamp, &'a CartChange)>) -> Vec<Spell> {
    let mut lines: BTreeMap<&str, (i64, EventTime)> = BTreeMap::new();
    let mut spells = Vec::new();
    let mut set = |lines: &mut BTreeMap<&'a str, (i64, EventTime)>, product: &'a str, quantity: i64, at: EventTime| {
        let was = lines.get(product).map(|(q, since)| (*q, *since));
        match was {
            Some((_, since)) if quantity <= 0 => {
                spells.push((product.to_string(), since, Some(at)));
                lines.remove(product);
            }
            Some((_, since)) => {
                lines.insert(product, (quantity, since));
            }
            None if quantity > 0 => {
                lines.insert(product, (quantity, at));
            }
            None => {}
        }
    };
    for (stamp, change) in changes {
        match change {
            CartChange::Added { product_id, quantity } => {
                let now = lines.get(product_id.as_str()).map_or(0, |(q, _)| *q);
                set(&mut lines, product_id, now + quantity, stamp.time);
            }
            CartChange::Updated { product_id, quantity } => set(&mut lines, product_id, *quantity, stamp.time),
            CartChange::Removed { product_id } => set(&mut lines, product_id, 0, stamp.time),
            CartChange::CheckedOut => {
                let products: Vec<&str> = lines.keys().copied().collect();
                for product in products {
                    set(&mut lines, product, 0, stamp.time);
                }
            }
        }
    }
    spells.extend(lines.into_iter().map(|(product, (_, since))| (product.to_string(), since, None)));
    spells
}

fn vars<const N: usize>(pairs: [(&str, String); N]) -> Vars {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// The triggers of an order's history: one per status change.
pub fn order_triggers(order_id: &str, view: &OrderView) -> Vec<(String, Trigger)> {
    changes_of(view)
        .into_iter()
        .map(|change| {
            let trigger = Trigger {
                at: change.at,
                settles_at: change.at.max(change.created_at),
                template: order_template(change.status),
                source: format!("{order_id}#{}", change.index),
                vars: vars([("orderId", order_id.to_string()), ("status", change.status.to_string())]),
            };
            (view.user_id.clone(), trigger)
        })
        .collect()
}

/// Notification.Requested of everything that happened to users
/// (`cart_facts`: the Cart facts; `alerts`: the inventory alerts, of which
/// Product.BackInStock tells whoever has the product in their cart then).
pub fn view<'s>(
    user_facts: Coll<'s, Fact>,
    cart_facts: Coll<'s, Fact>,
    alerts: Coll<'s, Derived>,
    orders: Coll<'s, (String, OrderView)>,
    payments: Coll<'s, (String, PaymentView)>,
    tracking: Coll<'s, (String, TrackingView)>,
    deliveries: Coll<'s, (String, Assignment)>,
) -> Coll<'s, Derived> {
    let profiles = fold_each(
        user_facts,
        |fact| match fact {
            Fact::User(id, stamp, change) => Some((id, (stamp, change))),
            _ => None,
        },
        |_, changes| Some(profile(changes.iter().map(|(c, _)| (&c.0, &c.1)))),
    );
    let welcome = profiles.clone().flat_map(|(user_id, profile)| {
        profile.registered.map(|stamp| {
            let trigger = Trigger {
                at: stamp.time,
                settles_at: stamp.time,
                template: "welcome".into(),
                source: stamp.id,
                vars: Vars::new(),
            };
            (user_id, trigger)
        })
    });
    let statuses = orders.clone().flat_map(|(order_id, view)| order_triggers(&order_id, &view));
    let paid = payments.flat_map(|(payment_id, p)| {
        let (Some(user), Some((at, _))) = (p.user_id, p.completed_at) else { return None };
        let trigger = Trigger {
            at,
            settles_at: at,
            template: "payment_completed".into(),
            source: payment_id.clone(),
            vars: vars([("paymentId", payment_id), ("orderId", p.order_id), ("amount", p.completed.to_string())]),
        };
        Some((user, trigger))
    });
    let order_users = orders.map(|(order_id, view)| (order_id, (view.user_id, view.created_at)));
    // Histories are taken apart before they meet the orders: an entry that
    // stays as it was cancels out where the join arranges its input, so only
    // the new entries of a longer history go on.
    let tracked = tracking.flat_map(|(order_id, view)| {
        let updates = view
            .events
            .into_iter()
            .enumerate()
            .filter(|(_, e)| e.status == "in_transit" || e.status == "out_for_delivery");
        updates
            .map(move |(i, event)| (order_id.clone(), (i, event.at, event.status, event.location)))
            .collect::<Vec<_>>()
    });
    let shipped =
        tracked.join_map(order_users.clone(), |order_id, (i, at, status, location), (user_id, created_at)| {
            let mut vars = vars([("orderId", order_id.clone()), ("status", status.clone())]);
            if let Some(location) = location {
                vars.push(("location".into(), location.clone()));
            }
            let trigger = Trigger {
                at: *at,
                settles_at: (*at).max(*created_at),
                template: "shipment_update".into(),
                source: format!("{order_id}/shipment#{i}"),
                vars,
            };
            (user_id.clone(), trigger)
        });
    let steps = deliveries.flat_map(|(order_id, assignment)| {
        let user_id = assignment.user_id;
        assignment
            .history
            .into_iter()
            .enumerate()
            .filter_map(|(i, step)| Some((order_id.clone(), (i, step.at, step.partner_id?, user_id.clone()))))
            .collect::<Vec<_>>()
    });
    let assigned = steps.join_map(order_users, |order_id, (i, at, partner, user_id), (_, created_at)| {
        let trigger = Trigger {
            at: *at,
            settles_at: (*at).max(*created_at),
            template: "partner_assigned".into(),
            source: format!("{order_id}/partner#{i}"),
            vars: vars([("orderId", order_id.clone()), ("partnerId", partner.clone())]),
        };
        (user_id.clone(), trigger)
    });
    let spells = cart_facts
        .flat_map(|fact| match fact {
            Fact::Cart(user, stamp, change) => Some((user, (stamp, change))),
            _ => None,
        })
        .reduce_held(|_user, changes, out| {
            for spell in cart_spells(changes.iter().map(|(c, _)| (&c.0, &c.1))) {
                out.push((spell, 1));
            }
        })
        .map(|(user, (product, from, until))| (product, (user, from, until)));
    let back = alerts.flat_map(|derived| match derived {
        Derived::InventoryAlert(alert) if alert.kind == AlertKind::BackInStock => {
            Some((alert.product_id.clone(), (alert.at, alert.step, alert.available)))
        }
        _ => None,
    });
    let restocked = spells.join_map(back, |product, (user, from, until), (at, step, available)| {
        let in_cart = *from <= *at && until.is_none_or(|until| *at < until);
        in_cart.then(|| {
            let trigger = Trigger {
                at: *at,
                settles_at: *at,
                template: "back_in_stock".into(),
                source: format!("{product}/stock@{}/{step}", at.0),
                vars: vars([("productId", product.clone()), ("available", available.to_string())]),
            };
            (user.clone(), trigger)
        })
    });
    let restocked = restocked.flat_map(|t| t);
    let triggers = welcome.concat(statuses).concat(paid).concat(shipped).concat(assigned).concat(restocked);
    triggers
        .join_map(profiles, |user_id, trigger, profile| {
            notify(user_id, trigger, &profile.timeline).map(Derived::Notify)
        })
        .flat_map(|notice| notice)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(seconds: i64) -> Stamp {
        Stamp { time: EventTime(seconds * EventTime::SECOND), id: format!("e{seconds}") }
    }

    #[test]
    fn a_product_is_in_the_cart_from_its_first_unit_to_its_line_emptied() {
        let at = |s: i64| EventTime(s * EventTime::SECOND);
        let add = |p: &str, q| CartChange::Added { product_id: p.into(), quantity: q };
        let changes = [
            (stamp(1), add("lamp", 1)),
            (stamp(2), add("lamp", 2)),
            (stamp(3), add("desk", 1)),
            (stamp(4), CartChange::Updated { product_id: "lamp".into(), quantity: 0 }),
            (stamp(5), CartChange::Updated { product_id: "lamp".into(), quantity: 4 }),
            (stamp(6), CartChange::CheckedOut),
            (stamp(7), CartChange::Removed { product_id: "desk".into() }),
            (stamp(8), add("chair", 1)),
        ];
        let mut spells = cart_spells(changes.iter().map(|(s, c)| (s, c)));
        spells.sort();
        assert_eq!(
            spells,
            [
                ("chair".to_string(), at(8), None),
                ("desk".to_string(), at(3), Some(at(6))),
                ("lamp".to_string(), at(1), Some(at(4))),
                ("lamp".to_string(), at(5), Some(at(6))),
            ]
        );
    }
}
