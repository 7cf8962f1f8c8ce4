//! The batch fold of Notification.Requested for `incremental_equals_batch`:
//! every user's moments replayed from their events, and for each thing that
//! happened to them the channels their preferences allowed at that time.

use super::common::{put, Snapshot};
use serde_json::Value;
use shopflow_topics::events::Channel;
use shopflow_topics::{Envelope, Event, EventTime};
use shopflow_views::derived::{AlertKind, InventoryAlert};
use shopflow_views::notifications::{notification_id, Notification};
use shopflow_views::orders::OrderView;
use std::collections::BTreeMap;

/// How a user was from a time on: (reachable, name, email, sms, push).
type Moment = (bool, String, [bool; 3]);

/// What happened to whom: (user, at, settles at, template, source, vars).
type Happened = (String, EventTime, EventTime, String, String, BTreeMap<String, String>);

/// Adds `notifications`: needs the events distinct and sorted by (`time`,
/// `id`), the folded orders, and `out` already holding `deliveries` and `tracking`.
pub fn put_notifications(sorted: &[&Envelope], orders: &BTreeMap<String, OrderView>, out: &mut Snapshot) {
    // Users' moments, and who registered when.
    let mut moments: BTreeMap<String, Vec<(EventTime, Moment)>> = BTreeMap::new();
    let mut registered: BTreeMap<String, (EventTime, String)> = BTreeMap::new();
    let mut deleted: std::collections::BTreeSet<String> = Default::default();
    // Payments: the first Initiated's user, the first Completed (time, amount), the first event's order.
    let mut payers: BTreeMap<String, String> = BTreeMap::new();
    let mut completions: BTreeMap<String, (EventTime, i64)> = BTreeMap::new();
    let mut payment_orders: BTreeMap<String, String> = BTreeMap::new();
    // Carts: the units of each (user, product) line and since when it held any; the spells it did.
    let mut lines: BTreeMap<(String, String), (i64, EventTime)> = BTreeMap::new();
    let mut spells: Vec<(String, String, EventTime, Option<EventTime>)> = Vec::new();
    for e in sorted {
        let cart: Vec<(&String, &String, Option<i64>)> = match &e.event {
            Event::CartItemAdded(a) => vec![(&a.user_id, &a.product_id, Some(a.quantity))],
            Event::CartItemUpdated(u) => vec![(&u.user_id, &u.product_id, None)],
            Event::CartItemRemoved(r) => vec![(&r.user_id, &r.product_id, None)],
            _ => Vec::new(),
        };
        let emptied: Vec<(String, String)> = match &e.event {
            Event::CartCheckedOut(c) => lines.keys().filter(|(u, _)| *u == c.user_id).cloned().collect(),
            _ => Vec::new(),
        };
        let mut changes: Vec<((String, String), i64)> = emptied.into_iter().map(|line| (line, 0)).collect();
        for (user, product, added) in cart {
            let line = (user.clone(), product.clone());
            let now = lines.get(&line).map_or(0, |(q, _)| *q);
            let quantity = match (&e.event, added) {
                (_, Some(added)) => now + added,
                (Event::CartItemUpdated(u), None) => u.quantity,
                _ => 0,
            };
            changes.push((line, quantity));
        }
        for (line, quantity) in changes {
            match (lines.get(&line).copied(), quantity > 0) {
                (Some((_, since)), false) => {
                    spells.push((line.0.clone(), line.1.clone(), since, Some(e.time)));
                    lines.remove(&line);
                }
                (Some((_, since)), true) => {
                    lines.insert(line, (quantity, since));
                }
                (None, true) => {
                    lines.insert(line, (quantity, e.time));
                }
                (None, false) => {}
            }
        }
        let user = match &e.event {
            Event::UserRegistered(r) => Some(&r.user_id),
            Event::UserProfileUpdated(u) => Some(&u.user_id),
            Event::UserPreferencesUpdated(p) => Some(&p.user_id),
            Event::UserDeleted(d) => Some(&d.user_id),
            _ => None,
        };
        if let Some(user) = user {
            let list = moments.entry(user.clone()).or_default();
            let (_, mut name, mut prefs) =
                list.last().map(|(_, m)| m.clone()).unwrap_or((false, String::new(), [true; 3]));
            match &e.event {
                Event::UserRegistered(r) => {
                    registered.entry(user.clone()).or_insert((e.time, e.id.clone()));
                    name = r.name.clone();
                }
                Event::UserProfileUpdated(u) => name = u.name.clone().unwrap_or(name),
                Event::UserPreferencesUpdated(p) => prefs = [p.email, p.sms, p.push],
                _ => {}
            }
            if matches!(e.event, Event::UserDeleted(_)) {
                deleted.insert(user.clone());
            }
            let reachable = registered.contains_key(user) && !deleted.contains(user);
            list.push((e.time, (reachable, name, prefs)));
        }
        let payment = match &e.event {
            Event::PaymentInitiated(p) => {
                payers.entry(p.payment_id.clone()).or_insert_with(|| p.user_id.clone());
                Some((&p.payment_id, &p.order_id))
            }
            Event::PaymentCompleted(p) => {
                completions.entry(p.payment_id.clone()).or_insert((e.time, p.amount));
                Some((&p.payment_id, &p.order_id))
            }
            Event::PaymentFailed(p) => Some((&p.payment_id, &p.order_id)),
            Event::PaymentRefunded(p) => Some((&p.payment_id, &p.order_id)),
            _ => None,
        };
        if let Some((payment, order)) = payment {
            payment_orders.entry(payment.clone()).or_insert_with(|| order.clone());
        }
    }

    // What happened to whom: (user, at, settles at, template, source, vars).
    let mut happened: Vec<Happened> = Vec::new();
    let vars = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    };
    for (user, (at, id)) in &registered {
        happened.push((user.clone(), *at, *at, "welcome".into(), id.clone(), BTreeMap::new()));
    }
    for (order_id, order) in orders {
        for (index, entry) in order.history.iter().enumerate() {
            let status = entry.status.to_string();
            let snake: String = status
                .chars()
                .enumerate()
                .flat_map(|(i, c)| {
                    let lower = c.to_ascii_lowercase();
                    if c.is_ascii_uppercase() && i > 0 {
                        vec!['_', lower]
                    } else {
                        vec![lower]
                    }
                })
                .collect();
            happened.push((
                order.user_id.clone(),
                entry.at,
                entry.at.max(order.created_at),
                format!("order_{snake}"),
                format!("{order_id}#{index}"),
                vars(&[("orderId", order_id), ("status", &status)]),
            ));
        }
    }
    for (payment, (at, amount)) in &completions {
        if let (Some(user), Some(order)) = (payers.get(payment), payment_orders.get(payment)) {
            let amount = amount.to_string();
            let v = vars(&[("paymentId", payment), ("orderId", order), ("amount", &amount)]);
            happened.push((user.clone(), *at, *at, "payment_completed".into(), payment.clone(), v));
        }
    }
    spells.extend(lines.into_iter().map(|((user, product), (_, since))| (user, product, since, None)));
    // A product back in stock: told to whoever had it in their cart at that step.
    let back_in_stock: Vec<InventoryAlert> = out
        .iter()
        .filter(|((name, _), _)| *name == "inventoryAlerts")
        .map(|(_, value)| serde_json::from_str::<InventoryAlert>(value).unwrap())
        .filter(|alert| alert.kind == AlertKind::BackInStock)
        .collect();
    for alert in &back_in_stock {
        let at = alert.at;
        for (user, product, from, until) in &spells {
            if *product == alert.product_id && *from <= at && until.is_none_or(|until| at < until) {
                let available = alert.available.to_string();
                let v = vars(&[("productId", product), ("available", &available)]);
                let source = format!("{product}/stock@{}/{}", at.0, alert.step);
                happened.push((user.clone(), at, at, "back_in_stock".into(), source, v));
            }
        }
    }
    let served: Vec<(&'static str, Value)> = out
        .iter()
        .filter(|((name, _), _)| *name == "deliveries" || *name == "tracking")
        .map(|((name, _), value)| (*name, serde_json::from_str(value).unwrap()))
        .collect();
    for (name, value) in served {
        let order_id = value["orderId"].as_str().unwrap().to_string();
        let Some(order) = orders.get(&order_id) else { continue };
        let time = |v: &Value| EventTime::parse(v.as_str().unwrap()).unwrap();
        if name == "deliveries" {
            for (i, step) in value["history"].as_array().unwrap().iter().enumerate() {
                let Some(partner) = step["partnerId"].as_str() else { continue };
                let at = time(&step["at"]);
                let v = vars(&[("orderId", &order_id), ("partnerId", partner)]);
                of_order(&mut happened, order, at, "partner_assigned", format!("{order_id}/partner#{i}"), v);
            }
        } else {
            for (i, event) in value["events"].as_array().unwrap().iter().enumerate() {
                let status = event["status"].as_str().unwrap();
                if status != "in_transit" && status != "out_for_delivery" {
                    continue;
                }
                let at = time(&event["at"]);
                let mut v = vars(&[("orderId", &order_id), ("status", status)]);
                if let Some(location) = event["location"].as_str() {
                    v.insert("location".into(), location.to_string());
                }
                of_order(&mut happened, order, at, "shipment_update", format!("{order_id}/shipment#{i}"), v);
            }
        }
    }

    for (user, at, settles_at, template, source, mut vars) in happened {
        // The user as of `at`: the last moment at or before it.
        let Some(list) = moments.get(&user) else { continue };
        let Some((since, (reachable, name, prefs))) = list.iter().rfind(|(t, _)| *t <= at) else { continue };
        if !reachable {
            continue;
        }
        vars.insert("userId".into(), user.clone());
        vars.insert("name".into(), name.clone());
        let channels = [Channel::Email, Channel::Sms, Channel::Push];
        for (channel, on) in channels.into_iter().zip(*prefs) {
            if !on || (template == "welcome" && channel != Channel::Email) {
                continue;
            }
            let note = Notification {
                notification_id: notification_id(&user, channel, &template, &source),
                user_id: user.clone(),
                channel,
                template: template.clone(),
                vars: vars.clone(),
                at,
                settles_at: settles_at.max(*since),
            };
            put(out, "notifications", &note.notification_id, &note);
        }
    }
}

/// What happened at `at` to the shopper of `order`: it settles once the order's creation has too.
fn of_order(
    happened: &mut Vec<Happened>,
    order: &OrderView,
    at: EventTime,
    template: &str,
    source: String,
    vars: BTreeMap<String, String>,
) {
    happened.push((order.user_id.clone(), at, at.max(order.created_at), template.to_string(), source, vars));
}
