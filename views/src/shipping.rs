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

/// One moment of a city's timeline. Moments sort as the sweep takes them:
/// by time, then partner changes, closings and openings, then by event id
/// (partner changes) or orderId (orders).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Moment {
    /// When.
    pub at: EventTime,
    /// 0: a partner change, 1: an order's window closes, 2: it opens.
    pub rank: u8,
    /// The partner change's event id, or the orderId.
    pub who: String,
    /// What happens.
    pub what: What,
}

/// What happens at a [`Moment`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum What {
    /// A partner starts (`true`) or stops qualifying.
    Partner(String, bool),
    /// The order's window closes.
    Close,
    /// The order's window opens: (userId, the city as written).
    Open(String, String),
}

impl CityInput {
    /// The moments of this input: a partner change, or an order's opening
    /// and, once it closed, its closing.
    pub fn moments(&self) -> impl Iterator<Item = Moment> {
        let (first, second) = match self {
            CityInput::Partner(at, id, partner, qualifies) => {
                let what = What::Partner(partner.clone(), *qualifies);
                (Moment { at: *at, rank: 0, who: id.clone(), what }, None)
            }
            CityInput::Order(opens, closes, order_id, user_id, city) => {
                let what = What::Open(user_id.clone(), city.clone());
                let close = closes.map(|at| Moment { at, rank: 1, who: order_id.clone(), what: What::Close });
                (Moment { at: *opens, rank: 2, who: order_id.clone(), what }, close)
            }
        };
        std::iter::once(first).chain(second)
    }
}

/// Whether an assignment is published: only orders that had a partner are.
pub fn published(assignment: &Assignment) -> bool {
    assignment.history.iter().any(|s| s.partner_id.is_some())
}

/// A city's sweep, resumable: the partners qualifying and the open orders'
/// assignments after the moments taken so far. Orders do not affect one
/// another, so an order whose window closed leaves the sweep for good.
#[derive(Clone, Debug, Default)]
pub struct Sweep {
    qualifying: std::collections::BTreeSet<String>,
    open: std::collections::BTreeMap<String, Assignment>,
    /// Orders whose window closed at the instant it opened (the closing
    /// sorts first), until they open.
    closed_first: std::collections::BTreeSet<String>,
    /// The last moment taken.
    last: Option<Moment>,
}

/// What one run of a [`Sweep`] changed.
#[derive(Debug, Default)]
pub struct Swept {
    /// Whether to note [`Swept::before`] (only a caller that diffs does).
    pub noting: bool,
    /// Each order the moments touched, with its assignment before the first
    /// touch (`None`: it had not opened).
    pub before: std::collections::BTreeMap<String, Option<Assignment>>,
    /// The orders whose window closed, as they ended.
    pub finished: Vec<Assignment>,
}

impl Swept {
    fn note(&mut self, order_id: &str, before: Option<&Assignment>) {
        if self.noting && !self.before.contains_key(order_id) {
            self.before.insert(order_id.to_string(), before.cloned());
        }
    }
}

impl Sweep {
    /// The last moment taken (`None`: none yet). The sweep can go on with
    /// moments after it only.
    pub fn last(&self) -> Option<&Moment> {
        self.last.as_ref()
    }

    /// The open orders' assignments.
    pub fn open(&self) -> impl Iterator<Item = &Assignment> {
        self.open.values()
    }

    /// An open order's assignment.
    pub fn open_order(&self, order_id: &str) -> Option<&Assignment> {
        self.open.get(order_id)
    }

    /// Takes `moment`, which sorts after every moment taken before.
    pub fn take(&mut self, moment: &Moment, swept: &mut Swept) {
        debug_assert!(self.last.as_ref().is_none_or(|last| last < moment), "moments in order");
        let at = moment.at;
        match &moment.what {
            What::Partner(partner, qualifies) => {
                if *qualifies {
                    self.qualifying.insert(partner.clone());
                } else {
                    self.qualifying.remove(partner);
                }
                for (order_id, assignment) in self.open.iter_mut() {
                    let moves = if *qualifies {
                        assignment.partner_id.is_none()
                    } else {
                        assignment.partner_id.as_ref() == Some(partner)
                    };
                    if moves {
                        let next = best(order_id, &self.qualifying).cloned();
                        if next != assignment.partner_id {
                            swept.note(order_id, Some(assignment));
                            assignment.history.push(AssignmentStep { partner_id: next.clone(), at });
                            assignment.partner_id = next;
                        }
                    }
                }
            }
            What::Close => match self.open.remove(&moment.who) {
                Some(mut assignment) => {
                    swept.note(&moment.who, Some(&assignment));
                    assignment.open = false;
                    swept.finished.push(assignment);
                }
                None => {
                    self.closed_first.insert(moment.who.clone());
                }
            },
            What::Open(user_id, city) => {
                swept.note(&moment.who, self.open.get(&moment.who));
                let partner_id = best(&moment.who, &self.qualifying).cloned();
                let mut assignment = Assignment {
                    order_id: moment.who.clone(),
                    user_id: user_id.clone(),
                    partner_id: partner_id.clone(),
                    city: city.clone(),
                    open: true,
                    history: vec![AssignmentStep { partner_id, at }],
                };
                if self.closed_first.remove(&moment.who) {
                    assignment.open = false;
                    swept.finished.push(assignment);
                } else {
                    self.open.insert(moment.who.clone(), assignment);
                }
            }
        }
        self.last = Some(moment.clone());
    }

    /// Takes `order_id` out of the sweep (a late change replays it alone,
    /// [`replay`]); its assignment if it was open.
    pub fn leave(&mut self, order_id: &str) -> Option<Assignment> {
        self.closed_first.remove(order_id);
        self.open.remove(order_id)
    }

    /// Puts an open order's assignment (from [`replay`]) back in the sweep.
    pub fn rejoin(&mut self, assignment: Assignment) {
        self.open.insert(assignment.order_id.clone(), assignment);
    }

    /// Moves the last moment taken up to `moment` (the moments of orders
    /// replayed alone count as taken).
    pub fn reach(&mut self, moment: &Moment) {
        if self.last.as_ref().is_none_or(|last| last < moment) {
            self.last = Some(moment.clone());
        }
    }

    /// A sweep over every moment of `inputs`, and the orders that closed on the way.
    pub fn run<'a>(inputs: impl IntoIterator<Item = &'a CityInput>) -> (Sweep, Vec<Assignment>) {
        let mut moments: Vec<Moment> = inputs.into_iter().flat_map(CityInput::moments).collect();
        moments.sort();
        moments.dedup();
        let mut sweep = Sweep::default();
        let mut swept = Swept::default();
        for moment in &moments {
            sweep.take(moment, &mut swept);
        }
        (sweep, swept.finished)
    }
}

/// One order's assignment from its own input (an [`CityInput::Order`]) and
/// the city's partner moments alone, in order: what a sweep of the whole
/// city gives it, since orders do not affect one another. `None` for a
/// partner input. Published or not, as the sweep has it.
pub fn replay<'a>(order: &CityInput, partners: impl IntoIterator<Item = &'a Moment>) -> Option<Assignment> {
    let CityInput::Order(_, _, order_id, ..) = order else { return None };
    let mut own: Vec<Moment> = order.moments().collect();
    own.sort();
    let mut own = own.into_iter().peekable();
    let mut sweep = Sweep::default();
    let mut swept = Swept::default();
    for partner in partners {
        while let Some(moment) = own.next_if(|moment| moment < partner) {
            sweep.take(&moment, &mut swept);
        }
        if own.peek().is_none() && !swept.finished.is_empty() {
            break; // closed: later partners do not move it
        }
        sweep.take(partner, &mut swept);
    }
    for moment in own {
        sweep.take(&moment, &mut swept);
    }
    swept.finished.pop().or_else(|| sweep.open.remove(order_id))
}

/// Every order's assignment in one city, by orderId: one sweep over the
/// partners' changes and the orders' windows in event-time order.
pub fn assign<'a>(inputs: impl IntoIterator<Item = &'a CityInput>) -> Vec<Assignment> {
    let (sweep, mut done) = Sweep::run(inputs);
    done.extend(sweep.open.into_values());
    // Orders that never had a partner are not published.
    done.retain(published);
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
