//! Delivery partners and tracking (`views.md`; the rules in
//! [`shopflow_views::shipping`]): each partner folded from its events, the
//! cities it qualifies for over event time, each order's partner — one sweep
//! per city over its partners' changes and its orders' delivery windows
//! ([`assign`]) — the partners with their open assignments, and each order's
//! shipment tracking.

use crate::{fold_each, Coll, Project};
use shopflow_topics::events::{DeliveryPartnerAvailabilityChanged, DeliveryPartnerRegistered};
use shopflow_topics::{EventTime, OrderStatus};
use shopflow_views::facts::{Fact, Stamp};
use shopflow_views::orders::OrderView;
use shopflow_views::shipping::{
    assign, city_key, track, Assignment, CityInput, PartnerStep, PartnerView, TrackingView,
};
use std::collections::BTreeSet;

impl Project for DeliveryPartnerRegistered {
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>) {
        let step = PartnerStep::Registered {
            name: self.name.clone(),
            service_areas: self.service_areas.clone(),
            capacity: self.capacity,
        };
        out.push(Fact::Partner(self.partner_id.clone(), stamp.clone(), step));
    }
}

impl Project for DeliveryPartnerAvailabilityChanged {
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>) {
        out.push(Fact::Partner(self.partner_id.clone(), stamp.clone(), PartnerStep::Availability(self.available)));
    }
}

/// What the shipping families publish.
pub struct Shipping<'s> {
    /// Each order's delivery partner, by orderId (orders that had one).
    pub assignments: Coll<'s, (String, Assignment)>,
    /// The partners with their open assignments, by (`all`, partnerId).
    pub partners: Coll<'s, ((String, String), PartnerView)>,
    /// Each shipped order's tracking, by orderId.
    pub tracking: Coll<'s, (String, TrackingView)>,
}

/// A partner folded: its view (without open assignments) and, for each
/// city, the (time, event id, qualifies) at which that changed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct PartnerFold {
    /// What the admin sees.
    pub view: PartnerView,
    /// (city key, time, event id, qualifies from then on).
    pub flips: Vec<(String, EventTime, String, bool)>,
}

/// Folds a partner's events, sorted by (`time`, `id`); `None` until it registered.
pub fn fold_partner<'a>(
    partner_id: &str,
    steps: impl IntoIterator<Item = (&'a Stamp, &'a PartnerStep)>,
) -> Option<PartnerFold> {
    let mut view: Option<PartnerView> = None;
    let mut available = true;
    let mut qualifying: BTreeSet<String> = BTreeSet::new();
    let mut flips = Vec::new();
    for (stamp, step) in steps {
        match step {
            PartnerStep::Registered { name, service_areas, capacity } => {
                view = Some(PartnerView {
                    partner_id: partner_id.to_string(),
                    name: name.clone(),
                    service_areas: service_areas.clone(),
                    capacity: *capacity,
                    available,
                    open_assignments: 0,
                });
            }
            PartnerStep::Availability(now) => available = *now,
        }
        if let Some(view) = view.as_mut() {
            view.available = available;
        }
        let now: BTreeSet<String> = match &view {
            Some(view) if available => view.service_areas.iter().map(|c| city_key(c)).collect(),
            _ => BTreeSet::new(),
        };
        for city in now.difference(&qualifying) {
            flips.push((city.clone(), stamp.time, stamp.id.clone(), true));
        }
        for city in qualifying.difference(&now) {
            flips.push((city.clone(), stamp.time, stamp.id.clone(), false));
        }
        qualifying = now;
    }
    view.map(|view| PartnerFold { view, flips })
}

/// An order's delivery window: from its first `Paid` until its status leaves
/// `Paid` and `Shipped` (`None` while it has not); `None` if it was never paid.
pub fn window(view: &OrderView) -> Option<(EventTime, Option<EventTime>)> {
    let paid = view.history.iter().position(|h| h.status == OrderStatus::Paid)?;
    let closes = view.history[paid..]
        .iter()
        .find(|h| !matches!(h.status, OrderStatus::Paid | OrderStatus::Shipped))
        .map(|h| h.at);
    Some((view.history[paid].at, closes))
}

/// The shipping families from the partners' facts, the shipment and ship-to
/// facts, and the orders.
pub fn view<'s>(
    partner_facts: Coll<'s, Fact>,
    shipment_facts: Coll<'s, Fact>,
    ship_to: Coll<'s, Fact>,
    orders: Coll<'s, (String, OrderView)>,
) -> Shipping<'s> {
    let partners = fold_each(
        partner_facts,
        |fact| match fact {
            Fact::Partner(partner_id, stamp, step) => Some((partner_id, (stamp, step))),
            _ => None,
        },
        |partner_id, steps| fold_partner(partner_id, steps.iter().map(|(s, _)| (&s.0, &s.1))),
    );
    let flips = partners.clone().flat_map(|(partner_id, fold)| {
        fold.flips
            .into_iter()
            .map(move |(city, at, id, qualifies)| (city, CityInput::Partner(at, id, partner_id.clone(), qualifies)))
    });
    // The city of the first Order.Created by (time, id): the one the order is.
    let cities = ship_to
        .flat_map(|fact| match fact {
            Fact::ShipTo(order_id, stamp, city) => Some((order_id, (stamp, city))),
            _ => None,
        })
        .reduce(|_, stamps, out| out.push((stamps[0].0 .1.clone(), 1)));
    let windows = orders.flat_map(|(order_id, view)| window(&view).map(|w| (order_id, (w, view.user_id))));
    let opened = windows.join_map(cities, |order_id, ((opens, closes), user_id), city| {
        (city_key(city), CityInput::Order(*opens, *closes, order_id.clone(), user_id.clone(), city.clone()))
    });
    let assignments = flips
        .concat(opened)
        .reduce(|_, inputs, out| {
            for assignment in assign(inputs.iter().map(|(input, _)| *input)) {
                out.push((assignment, 1));
            }
        })
        .map(|(_, assignment)| (assignment.order_id.clone(), assignment));
    // Each partner with the open orders assigned to it.
    let open = assignments.clone().flat_map(|(order_id, a)| match (a.open, a.partner_id) {
        (true, Some(partner)) => Some((partner, Err(order_id))),
        _ => None,
    });
    let partners = partners
        .map(|(partner_id, fold)| (partner_id, Ok(fold.view)))
        .concat(open)
        .reduce(|_, rows: &[(&Result<PartnerView, String>, isize)], out| {
            if let Some((Ok(view), _)) = rows.iter().find(|(row, _)| row.is_ok()) {
                let open = rows.iter().filter(|(row, _)| row.is_err()).map(|(_, n)| *n as i64).sum();
                out.push((PartnerView { open_assignments: open, ..view.clone() }, 1));
            }
        })
        .map(|(partner_id, view)| ((ALL.to_string(), partner_id), view));
    let tracking = fold_each(
        shipment_facts,
        |fact| match fact {
            Fact::Shipment(order_id, stamp, step) => Some((order_id, (stamp, step))),
            _ => None,
        },
        |order_id, steps| Some(track(order_id, steps.iter().map(|(s, _)| (s.0.time, &s.1)))),
    );
    Shipping { assignments, partners, tracking }
}

/// The one list of [`Shipping::partners`].
pub const ALL: &str = "all";

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(t: i64, id: &str) -> Stamp {
        Stamp { time: EventTime(t), id: id.to_string() }
    }

    #[test]
    fn a_partner_qualifies_for_its_cities_while_registered_and_available() {
        let registered = PartnerStep::Registered {
            name: "Fast".into(),
            service_areas: vec![" Salem".into(), "Madison".into()],
            capacity: 9,
        };
        let steps = [
            (stamp(1, "a"), PartnerStep::Availability(false)),
            (stamp(2, "b"), registered),
            (stamp(3, "c"), PartnerStep::Availability(true)),
            (stamp(4, "d"), PartnerStep::Availability(false)),
        ];
        let fold = fold_partner("dp-1", steps.iter().map(|(s, p)| (s, p))).unwrap();
        assert!(!fold.view.available);
        let flips: Vec<_> = fold.flips.iter().map(|(c, t, _, q)| (c.as_str(), t.0, *q)).collect();
        assert_eq!(
            flips,
            [("madison", 3, true), ("salem", 3, true), ("madison", 4, false), ("salem", 4, false)],
            "registered while unavailable: it qualifies once available"
        );
        assert!(fold_partner("dp-2", [(&stamp(1, "a"), &PartnerStep::Availability(true))]).is_none());
    }
}
