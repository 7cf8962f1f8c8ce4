//! The batch fold of the shipping families for `incremental_equals_batch`:
//! partners, each paid order's delivery partner replayed order by order over
//! its city's partner changes, the partners' open assignments, and tracking.

use super::common::{put, Snapshot};
use shopflow_topics::{Envelope, Event, EventTime, OrderStatus};
use shopflow_views::orders::OrderView;
use shopflow_views::shipping::{best, Assignment, AssignmentStep, PartnerView, TrackingEvent, TrackingView};
use std::collections::{BTreeMap, BTreeSet};

/// A shipment event: (time, status, location, (shipment, carrier, tracking number) when created).
type Shipped = (EventTime, String, Option<String>, Option<(String, String, String)>);

fn key(city: &str) -> String {
    city.trim().to_lowercase()
}

/// Adds `deliveries`, `deliveryPartners` and `tracking` of the events, given
/// distinct and sorted by (`time`, `id`), and the folded orders.
pub fn put_shipping(sorted: &[&Envelope], orders: &BTreeMap<String, OrderView>, out: &mut Snapshot) {
    // Partners: the latest registration, the latest availability (true before any).
    let mut partners: BTreeMap<String, (Option<PartnerView>, bool)> = BTreeMap::new();
    // City → (time, event id, partner, qualifies from then on).
    let mut flips: BTreeMap<String, Vec<(EventTime, String, String, bool)>> = BTreeMap::new();
    let mut cities: BTreeMap<String, String> = BTreeMap::new();
    let mut shipments: BTreeMap<String, Vec<Shipped>> = BTreeMap::new();
    for e in sorted {
        let partner = match &e.event {
            Event::DeliveryPartnerRegistered(r) => {
                let entry = partners.entry(r.partner_id.clone()).or_insert((None, true));
                let before = qualifies_in(entry);
                entry.0 = Some(PartnerView {
                    partner_id: r.partner_id.clone(),
                    name: r.name.clone(),
                    service_areas: r.service_areas.clone(),
                    capacity: r.capacity,
                    available: entry.1,
                    open_assignments: 0,
                });
                Some((r.partner_id.clone(), before))
            }
            Event::DeliveryPartnerAvailabilityChanged(a) => {
                let entry = partners.entry(a.partner_id.clone()).or_insert((None, true));
                let before = qualifies_in(entry);
                entry.1 = a.available;
                if let Some(view) = entry.0.as_mut() {
                    view.available = a.available;
                }
                Some((a.partner_id.clone(), before))
            }
            Event::OrderCreated(c) => {
                cities.entry(c.order_id.clone()).or_insert_with(|| c.shipping_address.city.clone());
                None
            }
            Event::ShipmentCreated(s) => {
                let details = Some((s.shipment_id.clone(), s.carrier.clone(), s.tracking_number.clone()));
                shipments.entry(s.order_id.clone()).or_default().push((e.time, "created".into(), None, details));
                None
            }
            Event::ShipmentStatusUpdated(s) => {
                let status = s.status.as_str().to_string();
                shipments.entry(s.order_id.clone()).or_default().push((e.time, status, s.location.clone(), None));
                None
            }
            Event::ShipmentDelivered(s) => {
                shipments.entry(s.order_id.clone()).or_default().push((e.time, "delivered".into(), None, None));
                None
            }
            _ => None,
        };
        if let Some((partner, before)) = partner {
            let after = qualifies_in(&partners[&partner]);
            for city in after.difference(&before) {
                flips.entry(city.clone()).or_default().push((e.time, e.id.clone(), partner.clone(), true));
            }
            for city in before.difference(&after) {
                flips.entry(city.clone()).or_default().push((e.time, e.id.clone(), partner.clone(), false));
            }
        }
    }

    // Each paid order, replayed over its city's changes.
    let mut open_per_partner: BTreeMap<String, i64> = BTreeMap::new();
    for (order_id, order) in orders {
        let Some(paid) = order.history.iter().position(|h| h.status == OrderStatus::Paid) else { continue };
        let opens = order.history[paid].at;
        let closes = order.history[paid..]
            .iter()
            .find(|h| !matches!(h.status, OrderStatus::Paid | OrderStatus::Shipped))
            .map(|h| h.at);
        let Some(city) = cities.get(order_id) else { continue };
        let changes = flips.get(&key(city)).cloned().unwrap_or_default();
        let mut qualifying: BTreeSet<String> = BTreeSet::new();
        for (_, _, partner, qualifies) in changes.iter().filter(|c| c.0 <= opens) {
            if *qualifies {
                qualifying.insert(partner.clone());
            } else {
                qualifying.remove(partner);
            }
        }
        let mut partner = best(order_id, &qualifying).cloned();
        let mut history = vec![AssignmentStep { partner_id: partner.clone(), at: opens }];
        if closes.is_none_or(|c| c > opens) {
            for (time, _, who, qualifies) in
                changes.iter().filter(|c| c.0 > opens && closes.is_none_or(|end| c.0 <= end))
            {
                if *qualifies {
                    qualifying.insert(who.clone());
                } else {
                    qualifying.remove(who);
                }
                let moves = if *qualifies { partner.is_none() } else { partner.as_ref() == Some(who) };
                let next = best(order_id, &qualifying).cloned();
                if moves && next != partner {
                    partner = next;
                    history.push(AssignmentStep { partner_id: partner.clone(), at: *time });
                }
            }
        }
        if history.iter().all(|s| s.partner_id.is_none()) {
            continue;
        }
        let open = closes.is_none();
        if let (true, Some(p)) = (open, &partner) {
            *open_per_partner.entry(p.clone()).or_default() += 1;
        }
        let assignment = Assignment {
            order_id: order_id.clone(),
            user_id: order.user_id.clone(),
            partner_id: partner,
            city: city.clone(),
            open,
            history,
        };
        put(out, "deliveries", order_id, &assignment);
    }
    for (partner_id, (view, _)) in partners {
        if let Some(mut view) = view {
            view.open_assignments = open_per_partner.get(&partner_id).copied().unwrap_or(0);
            put(out, "deliveryPartners", &("all", &partner_id), &view);
        }
    }
    for (order_id, events) in shipments {
        let mut view = TrackingView {
            order_id: order_id.clone(),
            shipment_id: None,
            carrier: None,
            tracking_number: None,
            status: None,
            events: Vec::new(),
        };
        for (at, status, location, details) in events {
            if let (None, Some((shipment, carrier, number))) = (&view.shipment_id, details) {
                (view.shipment_id, view.carrier, view.tracking_number) = (Some(shipment), Some(carrier), Some(number));
            }
            view.status = Some(status.clone());
            view.events.push(TrackingEvent { status, location, at });
        }
        put(out, "tracking", &order_id, &view);
    }
}

/// The cities a partner qualifies for: registered, available, its areas.
fn qualifies_in((view, available): &(Option<PartnerView>, bool)) -> BTreeSet<String> {
    match view {
        Some(view) if *available => view.service_areas.iter().map(|c| key(c)).collect(),
        _ => BTreeSet::new(),
    }
}
