//! Delivery partners and shipment tracking (`views.md`, "Reviews, vendors,
//! payments, promotions, shipping, search").
//!
//! - A partner qualifies for a city while it is registered (its latest
//!   DeliveryPartner.Registered), available (its latest
//!   DeliveryPartner.AvailabilityChanged; available until one says otherwise)
//!   and the city is among its service areas (compared trimmed and without
//!   regard to case).
//! - An order is open for delivery from its first `Paid` until its status
//!   leaves `Paid` and `Shipped`. When it opens, it is assigned the qualifying
//!   partner of its shipping city with the highest rendezvous weight
//!   ([`weight`] of orderId and partnerId); while it is open the assignment
//!   moves only when that partner stops qualifying (to the best of those that
//!   qualify then), and an order without a partner takes the best one that
//!   starts qualifying. At one event time, partner changes come first.
//! - Tracking: the order's shipment events in (`time`, `id`) order.

use serde::{Deserialize, Serialize};
use shopflow_topics::events::TransitStatus;
use shopflow_topics::EventTime;

/// The rendezvous weight of `partner_id` for `order_id`: the highest wins.
pub fn weight(order_id: &str, partner_id: &str) -> u128 {
    shopflow_topics::hash::id_hash(&format!("{order_id}\u{1f}{partner_id}"))
}

/// The best of `partners` for `order_id` ([`weight`], then the smaller id).
pub fn best<'a>(order_id: &str, partners: impl IntoIterator<Item = &'a String>) -> Option<&'a String> {
    partners.into_iter().max_by(|a, b| weight(order_id, a).cmp(&weight(order_id, b)).then_with(|| b.cmp(a)))
}

/// A city as service areas and shipping addresses are compared.
pub fn city_key(city: &str) -> String {
    city.trim().to_lowercase()
}

/// One step of an order's assignment.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignmentStep {
    /// The partner from then on (`None`: none qualifies).
    pub partner_id: Option<String>,
    /// When.
    pub at: EventTime,
}

/// An order's delivery partner, by orderId (published for orders that had one).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Assignment {
    /// The order.
    pub order_id: String,
    /// Its shopper.
    pub user_id: String,
    /// The partner now (`None`: the last one stopped qualifying and none does).
    pub partner_id: Option<String>,
    /// Its shipping city.
    pub city: String,
    /// Whether the order is still open for delivery.
    pub open: bool,
    /// Every change, oldest first.
    pub history: Vec<AssignmentStep>,
}

/// A delivery partner, as `GET /admin/delivery-partners` lists it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartnerView {
    /// The partner.
    pub partner_id: String,
    /// Its name.
    pub name: String,
    /// The cities it serves.
    pub service_areas: Vec<String>,
    /// How many open orders it takes.
    pub capacity: i64,
    /// Whether it takes orders now.
    pub available: bool,
    /// Open orders assigned to it.
    pub open_assignments: i64,
}

/// One shipment event of an order.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackingEvent {
    /// `created`, `in_transit`, `out_for_delivery` or `delivered`.
    pub status: String,
    /// Where, when the carrier said.
    pub location: Option<String>,
    /// When.
    pub at: EventTime,
}

/// An order's shipment, by orderId.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackingView {
    /// The order.
    pub order_id: String,
    /// The shipment of the first Shipment.Created.
    pub shipment_id: Option<String>,
    /// Its carrier.
    pub carrier: Option<String>,
    /// Its tracking number.
    pub tracking_number: Option<String>,
    /// The status of the latest event.
    pub status: Option<String>,
    /// Every shipment event, oldest first.
    pub events: Vec<TrackingEvent>,
}

/// A shipment event as tracking folds it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ShipmentStep {
    /// Shipment.Created.
    Created {
        /// The shipment.
        shipment_id: String,
        /// Its carrier.
        carrier: String,
        /// Its tracking number.
        tracking_number: String,
    },
    /// Shipment.StatusUpdated.
    Status {
        /// The status.
        status: TransitStatus,
        /// Where.
        location: Option<String>,
    },
    /// Shipment.Delivered.
    Delivered,
}

/// A delivery partner's event.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PartnerStep {
    /// DeliveryPartner.Registered.
    Registered {
        /// Its name.
        name: String,
        /// The cities it serves.
        service_areas: Vec<String>,
        /// How many open orders it takes.
        capacity: i64,
    },
    /// DeliveryPartner.AvailabilityChanged.
    Availability(bool),
}

/// Folds a shipment's events, sorted by (`time`, `id`), into its tracking.
pub fn track<'a>(order_id: &str, steps: impl IntoIterator<Item = (EventTime, &'a ShipmentStep)>) -> TrackingView {
    let mut view = TrackingView {
        order_id: order_id.to_string(),
        shipment_id: None,
        carrier: None,
        tracking_number: None,
        status: None,
        events: Vec::new(),
    };
    for (at, step) in steps {
        let (status, location) = match step {
            ShipmentStep::Created { shipment_id, carrier, tracking_number } => {
                if view.shipment_id.is_none() {
                    view.shipment_id = Some(shipment_id.clone());
                    view.carrier = Some(carrier.clone());
                    view.tracking_number = Some(tracking_number.clone());
                }
                ("created".to_string(), None)
            }
            ShipmentStep::Status { status, location } => (status.as_str().to_string(), location.clone()),
            ShipmentStep::Delivered => ("delivered".to_string(), None),
        };
        view.status = Some(status.clone());
        view.events.push(TrackingEvent { status, location, at });
    }
    view
}

/// One input of a city's assignment sweep.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum CityInput {
    /// A partner starts (`true`) or stops qualifying for the city at (time, event id).
    Partner(EventTime, String, String, bool),
    /// An order's window: (opens, closes if it did, orderId, userId, the city as written).
    Order(EventTime, Option<EventTime>, String, String, String),
}

/// Every order's assignment in one city: one sweep over the partners'
/// changes and the orders' windows in event-time order.
pub fn assign<'a>(inputs: impl IntoIterator<Item = &'a CityInput>) -> Vec<Assignment> {
    use std::collections::{BTreeMap, BTreeSet};
    // (time, rank, tiebreak): partner changes, then closings, then openings.
    let mut timeline: Vec<(EventTime, u8, &str, &CityInput)> = Vec::new();
    for input in inputs {
        match input {
            CityInput::Partner(at, id, _, _) => timeline.push((*at, 0, id, input)),
            CityInput::Order(opens, closes, order_id, _, _) => {
                timeline.push((*opens, 2, order_id, input));
                if let Some(closes) = closes {
                    timeline.push((*closes, 1, order_id, input));
                }
            }
        }
    }
    timeline.sort_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
    let mut qualifying: BTreeSet<String> = BTreeSet::new();
    let mut open: BTreeMap<String, Assignment> = BTreeMap::new();
    let mut done: Vec<Assignment> = Vec::new();
    let moved = |assignment: &mut Assignment, partner: Option<String>, at: EventTime| {
        if assignment.partner_id != partner || assignment.history.is_empty() {
            assignment.history.push(AssignmentStep { partner_id: partner.clone(), at });
            assignment.partner_id = partner;
        }
    };
    for (at, rank, _, input) in timeline {
        match (rank, input) {
            (0, CityInput::Partner(_, _, partner, qualifies)) => {
                if *qualifies {
                    qualifying.insert(partner.clone());
                    for (order_id, assignment) in open.iter_mut() {
                        if assignment.partner_id.is_none() {
                            moved(assignment, best(order_id, &qualifying).cloned(), at);
                        }
                    }
                } else {
                    qualifying.remove(partner);
                    for (order_id, assignment) in open.iter_mut() {
                        if assignment.partner_id.as_ref() == Some(partner) {
                            moved(assignment, best(order_id, &qualifying).cloned(), at);
                        }
                    }
                }
            }
            (1, CityInput::Order(_, _, order_id, _, _)) => {
                if let Some(mut assignment) = open.remove(order_id) {
                    assignment.open = false;
                    done.push(assignment);
                }
            }
            (_, CityInput::Order(_, closes, order_id, user_id, city)) => {
                let mut assignment = Assignment {
                    order_id: order_id.clone(),
                    user_id: user_id.clone(),
                    partner_id: None,
                    city: city.clone(),
                    open: true,
                    history: Vec::new(),
                };
                moved(&mut assignment, best(order_id, &qualifying).cloned(), at);
                if closes.is_some_and(|c| c <= at) {
                    assignment.open = false;
                    done.push(assignment);
                } else {
                    open.insert(order_id.clone(), assignment);
                }
            }
            _ => {}
        }
    }
    done.extend(open.into_values());
    // Orders that never had a partner are not published.
    done.retain(|a| a.history.iter().any(|s| s.partner_id.is_some()));
    done.sort_by(|a, b| a.order_id.cmp(&b.order_id));
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: i64) -> EventTime {
        EventTime(t)
    }

    fn partner(t: i64, id: &str, qualifies: bool) -> CityInput {
        CityInput::Partner(at(t), format!("e{t}{id}"), id.to_string(), qualifies)
    }

    fn order(opens: i64, closes: Option<i64>, id: &str) -> CityInput {
        CityInput::Order(at(opens), closes.map(at), id.to_string(), "usr-1".into(), "Salem".into())
    }

    #[test]
    fn the_highest_weight_wins_and_the_assignment_is_sticky() {
        let (a, b) = ("dp-a".to_string(), "dp-b".to_string());
        let order_id =
            (0..100).map(|i| format!("ord-{i}")).find(|o| weight(o, &a) > weight(o, &b)).expect("some order prefers a");
        let inputs = [partner(1, "dp-a", true), order(2, None, &order_id), partner(3, "dp-b", true)];
        let assignments = assign(&inputs);
        assert_eq!(assignments.len(), 1);
        assert_eq!(assignments[0].partner_id.as_deref(), Some("dp-a"));
        // b qualifying later does not move it; a stopping does.
        let inputs = [
            partner(1, "dp-b", true),
            order(2, None, &order_id),
            partner(3, "dp-a", true),
            partner(4, "dp-b", false),
            partner(5, "dp-b", true),
        ];
        let assignment = &assign(&inputs)[0];
        let steps: Vec<_> = assignment.history.iter().map(|s| (s.partner_id.clone(), s.at.0)).collect();
        assert_eq!(steps, vec![(Some(b.clone()), 2), (Some(a.clone()), 4)]);
        assert_eq!(assignment.partner_id, Some(a));
    }

    #[test]
    fn no_partner_then_one_and_closed_orders_stay_put() {
        let inputs = [
            order(1, Some(10), "ord-1"),
            order(1, None, "ord-none"),
            partner(2, "dp-a", true),
            partner(11, "dp-a", false),
        ];
        let assignments = assign(&inputs);
        let one = assignments.iter().find(|a| a.order_id == "ord-1").unwrap();
        assert_eq!((one.partner_id.as_deref(), one.open), (Some("dp-a"), false), "closed at 10: kept");
        let other = assignments.iter().find(|a| a.order_id == "ord-none").unwrap();
        let steps: Vec<_> = other.history.iter().map(|s| (s.partner_id.as_deref(), s.at.0)).collect();
        assert_eq!(steps, vec![(None, 1), (Some("dp-a"), 2), (None, 11)]);
        assert!(assign(&[order(1, None, "ord-2")]).is_empty(), "never a partner: not published");
    }

    #[test]
    fn tracking_follows_the_shipment_events() {
        let created =
            ShipmentStep::Created { shipment_id: "shp-1".into(), carrier: "UPS".into(), tracking_number: "1Z".into() };
        let moving = ShipmentStep::Status { status: TransitStatus::InTransit, location: Some("Salem".into()) };
        let view = track("ord-1", [(at(1), &created), (at(2), &moving), (at(3), &ShipmentStep::Delivered)]);
        assert_eq!(view.shipment_id.as_deref(), Some("shp-1"));
        assert_eq!(view.status.as_deref(), Some("delivered"));
        let statuses: Vec<_> = view.events.iter().map(|e| e.status.as_str()).collect();
        assert_eq!(statuses, ["created", "in_transit", "delivered"]);
        assert_eq!(view.events[1].location.as_deref(), Some("Salem"));
    }
}
