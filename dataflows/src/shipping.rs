//! Delivery partners and tracking (`views.md`; the rules in
//! [`shopflow_views::shipping`]): each partner folded from its events, the
//! cities it qualifies for over event time, each order's partner — one sweep
//! per city over its partners' changes and its orders' delivery windows
//! ([`assign`]) — the partners with their open assignments, and each order's
//! shipment tracking.

use crate::ops::unary_held;
use crate::ops::Epochs;
use crate::ops::ReduceHeld;
use crate::{fold_each, id_hash, Coll, Epoch, Project};
use differential_dataflow::consolidation::consolidate;
use differential_dataflow::AsCollection;
use shopflow_topics::events::{DeliveryPartnerAvailabilityChanged, DeliveryPartnerRegistered};
use shopflow_topics::{EventTime, OrderStatus};
use shopflow_views::facts::{Fact, Stamp};
use shopflow_views::orders::OrderView;
use shopflow_views::shipping::{
    assign, city_key, published, replay, track, Assignment, CityInput, Moment, PartnerStep, PartnerView, Sweep, Swept,
    TrackingView, What,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use timely::dataflow::channels::pact::Exchange;

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
        .reduce_held(|_, stamps, out| out.push((stamps[0].0 .1.clone(), 1)));
    let windows = orders.flat_map(|(order_id, view)| window(&view).map(|w| (order_id, (w, view.user_id))));
    let opened = windows.join_map(cities, |order_id, ((opens, closes), user_id), city| {
        (city_key(city), CityInput::Order(*opens, *closes, order_id.clone(), user_id.clone(), city.clone()))
    });
    let assignments = sweep(flips.concat(opened));
    // Each partner with the open orders assigned to it.
    let open = assignments.clone().flat_map(|(order_id, a)| match (a.open, a.partner_id) {
        (true, Some(partner)) => Some((partner, Err(order_id))),
        _ => None,
    });
    let partners = partners
        .map(|(partner_id, fold)| (partner_id, Ok(fold.view)))
        .concat(open)
        .reduce_held(|_, rows: &[(&Result<PartnerView, String>, isize)], out| {
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

/// Each order's assignment, by orderId, from each city's inputs (by city
/// key): an operator of its own rather than a `reduce`, which swept every
/// changed city from its first input at every epoch and kept every
/// assignment ever made, with its history, in its output arrangement.
///
/// Per city it keeps the inputs, the partners' moments and a [`Sweep`] at
/// the last moment taken. An epoch's moments after it go on from there, and
/// only the orders those moments touch change. An order with a moment
/// before it (a late event) or one that goes is replayed alone against the
/// partners' moments ([`replay`]: orders do not affect one another); only a
/// partner's change before it, which can move any order open since, sweeps
/// the city again from its start, before and after, and publishes the
/// difference. Epochs are taken in order once the input has passed them
/// ([`Epochs`]), so the assignments at every epoch are exactly [`assign`]'s
/// of the city's inputs then.
fn sweep<'s>(inputs: Coll<'s, (String, CityInput)>) -> Coll<'s, (String, Assignment)> {
    let by_city = |((city, _), _, _): &((String, CityInput), Epoch, isize)| id_hash(city) as u64;
    let stream = unary_held(inputs.inner, Exchange::new(by_city), "Assign", |_, _| {
        let mut pending: Epochs<Vec<((String, CityInput), isize)>> = Epochs::new();
        let mut cities: HashMap<String, City> = HashMap::new();
        move |(input, frontier), output| {
            input.for_each_stamp(|capability, containers| {
                pending.file(&capability, containers, |changes, row, diff| changes.push((row, diff)));
            });
            while let Some((time, capability, mut changes)) = pending.complete(&[frontier]) {
                consolidate(&mut changes);
                let mut session = output.session(&capability);
                for group in changes.chunk_by(|a, b| a.0 .0 == b.0 .0) {
                    let key = &group[0].0 .0;
                    let city = match cities.get_mut(key) {
                        Some(city) => city,
                        None => cities.entry(key.clone()).or_default(),
                    };
                    city.apply(group.iter().map(|((_, input), diff)| (input, *diff)), &mut |assignment, diff| {
                        session.give(((assignment.order_id.clone(), assignment), time, diff))
                    });
                    if city.inputs.is_empty() {
                        cities.remove(key);
                    }
                }
            }
        }
    });
    stream.as_collection()
}

/// One city of [`sweep`].
#[derive(Default)]
struct City {
    /// The inputs with their multiplicities (present while above 0).
    inputs: HashMap<CityInput, isize>,
    /// The present partner inputs' moments, in order: what an order is replayed against alone.
    partners: BTreeSet<Moment>,
    /// The sweep over the present inputs' moments.
    sweep: Sweep,
}

/// A late order of [`City::apply`]: the input it had and the one it has, where they change.
type Late<'a> = (Option<&'a CityInput>, Option<&'a CityInput>);

impl City {
    /// Applies one epoch's consolidated changes, emitting each published
    /// assignment that changed: the old one retracted, the new one asserted.
    ///
    /// Moments after the sweep's last go on from it. An order with a moment
    /// before it (or one that goes) is taken out and replayed alone against
    /// the city's partners ([`replay`]); only a partner change before it (or
    /// one that goes), which can move any order open since, sweeps the whole
    /// city again, before and after.
    fn apply<'a>(
        &mut self,
        changes: impl Iterator<Item = (&'a CityInput, isize)>,
        emit: &mut impl FnMut(Assignment, isize),
    ) {
        // The changes to count in, and the inputs that come (+1) or go (-1) with them.
        let mut counted: Vec<(&CityInput, isize)> = Vec::new();
        let mut flips: Vec<(&CityInput, isize)> = Vec::new();
        for (input, diff) in changes {
            let before = self.inputs.get(input).copied().unwrap_or(0);
            match (before > 0, before + diff > 0) {
                (false, true) => flips.push((input, 1)),
                (true, false) => flips.push((input, -1)),
                _ => {}
            }
            counted.push((input, diff));
        }
        let mut moments: Vec<(Moment, isize)> =
            flips.iter().flat_map(|(input, presence)| input.moments().map(|moment| (moment, *presence))).collect();
        consolidate(&mut moments);
        let last = self.sweep.last().cloned();
        let in_order = |(moment, diff): &(Moment, isize)| *diff > 0 && last.as_ref().is_none_or(|last| last < moment);
        // The orders with a moment out of order, each with the input it had and the one it
        // has; `None` when a partner's moment is out of order, or an order had two inputs.
        let mut late: Option<BTreeMap<&str, Late>> = Some(BTreeMap::new());
        for moment in moments.iter().filter(|m| !in_order(m)).map(|(moment, _)| moment) {
            match (&moment.what, late.as_mut()) {
                (What::Partner(..), _) => late = None,
                (_, Some(orders)) => {
                    orders.insert(&moment.who, (None, None));
                }
                (_, None) => {}
            }
        }
        if let Some(orders) = late.as_mut().filter(|orders| !orders.is_empty()) {
            let mut single = true;
            for (input, presence) in &flips {
                if let CityInput::Order(_, _, order_id, ..) = input {
                    if let Some((had, has)) = orders.get_mut(order_id.as_str()) {
                        let side = if *presence < 0 { had } else { has };
                        single &= side.replace(*input).is_none();
                    }
                }
            }
            if !single {
                late = None;
            }
        }
        let Some(late) = late else {
            return self.sweep_again(&counted, &flips, emit);
        };
        // Each late order's assignment before, while the partners are still as they were.
        let mut before: Vec<(&str, Option<Assignment>, Option<&CityInput>)> = Vec::new();
        for (order_id, (had, has)) in &late {
            let was = self.sweep.leave(order_id).or_else(|| had.and_then(|input| replay(input, &self.partners)));
            before.push((order_id, was, *has));
        }
        self.count(&counted, &flips);
        let mut swept = Swept { noting: true, ..Swept::default() };
        for (moment, _) in &moments {
            let replayed = !matches!(moment.what, What::Partner(..)) && late.contains_key(moment.who.as_str());
            if !replayed {
                self.sweep.take(moment, &mut swept);
            }
        }
        if let Some((newest, _)) = moments.iter().rev().find(|(_, diff)| *diff > 0) {
            self.sweep.reach(newest);
        }
        let mut finished: HashMap<String, Assignment> =
            swept.finished.into_iter().map(|a| (a.order_id.clone(), a)).collect();
        let mut changed = |before: Option<Assignment>, after: Option<Assignment>| {
            if before != after {
                if let Some(before) = before.filter(published) {
                    emit(before, -1);
                }
                if let Some(after) = after.filter(published) {
                    emit(after, 1);
                }
            }
        };
        for (order_id, before) in swept.before {
            let after = match self.sweep.open_order(&order_id) {
                Some(open) => Some(open.clone()),
                None => finished.remove(&order_id),
            };
            changed(before, after);
        }
        for (_, was, has) in before {
            let now = has.and_then(|input| replay(input, &self.partners));
            if let Some(open) = now.as_ref().filter(|a| a.open) {
                self.sweep.rejoin(open.clone());
            }
            changed(was, now);
        }
    }

    /// A partner's change out of order: the whole city swept before and after.
    fn sweep_again(
        &mut self,
        counted: &[(&CityInput, isize)],
        flips: &[(&CityInput, isize)],
        emit: &mut impl FnMut(Assignment, isize),
    ) {
        let old = assign(self.present());
        self.count(counted, flips);
        let (sweep, mut new) = Sweep::run(self.present());
        new.extend(sweep.open().cloned());
        new.retain(published);
        self.sweep = sweep;
        let mut old: HashMap<String, Assignment> = old.into_iter().map(|a| (a.order_id.clone(), a)).collect();
        for after in new {
            match old.remove(&after.order_id) {
                Some(before) if before == after => {}
                Some(before) => {
                    emit(before, -1);
                    emit(after, 1);
                }
                None => emit(after, 1),
            }
        }
        for before in old.into_values() {
            emit(before, -1);
        }
    }

    /// Counts the changes in, and keeps the partners' moments with the partner inputs present.
    fn count(&mut self, counted: &[(&CityInput, isize)], flips: &[(&CityInput, isize)]) {
        for (input, diff) in counted {
            match self.inputs.get_mut(*input) {
                Some(count) => {
                    *count += diff;
                    if *count == 0 {
                        self.inputs.remove(*input);
                    }
                }
                None => {
                    self.inputs.insert((*input).clone(), *diff);
                }
            }
        }
        for (input, presence) in flips {
            if let CityInput::Partner(..) = input {
                for moment in input.moments() {
                    if *presence > 0 {
                        self.partners.insert(moment);
                    } else {
                        self.partners.remove(&moment);
                    }
                }
            }
        }
    }

    /// The inputs present.
    fn present(&self) -> impl Iterator<Item = &CityInput> {
        self.inputs.iter().filter(|(_, count)| **count > 0).map(|(input, _)| input)
    }
}

/// The one list of [`Shipping::partners`].
pub const ALL: &str = "all";

#[cfg(test)]
mod tests {
    use super::*;
    use differential_dataflow::input::InputSession;
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    type Inputs = BTreeSet<(String, CityInput)>;

    /// An epoch's changes, and the inputs present after them.
    type Round = (Vec<((String, CityInput), isize)>, Inputs);

    /// `epochs` of changes to three cities' inputs: partners coming and
    /// going, orders opening and closing, mostly in time order, and one
    /// change in five late (an earlier moment added, changed or removed).
    fn history(seed: u64, epochs: usize) -> Vec<Round> {
        let rng = shopflow_ingest::generate::Rng::new(seed);
        let next = |n: u64| rng.below(n) as i64;
        let mut present: Inputs = BTreeSet::new();
        let mut clock = 0;
        let mut out = Vec::new();
        for _ in 0..epochs {
            let mut changes = Vec::new();
            for _ in 0..6 {
                clock += next(3);
                let at = if next(5) == 0 { clock - next(12) } else { clock };
                let city = format!("c{}", next(3));
                let input = match next(3) {
                    0 => {
                        let partner = format!("dp-{}", next(5));
                        CityInput::Partner(EventTime(at), format!("e{at}-{partner}"), partner, next(3) > 0)
                    }
                    _ => {
                        let order = format!("ord-{}", next(30));
                        // An order already there: its window closes, moves, or it goes.
                        let there = present
                            .iter()
                            .find(|(_, input)| matches!(input, CityInput::Order(_, _, o, _, _) if *o == order))
                            .cloned();
                        if let Some(old) = there {
                            present.remove(&old);
                            changes.push((old.clone(), -1));
                            let (city, CityInput::Order(opens, closes, order, user, written)) = old else {
                                unreachable!()
                            };
                            match next(4) {
                                0 => continue,
                                1 => {
                                    let input =
                                        CityInput::Order(EventTime(at.min(opens.0)), closes, order, user, written);
                                    present.insert((city.clone(), input.clone()));
                                    changes.push(((city, input), 1));
                                    continue;
                                }
                                _ => {
                                    let closes = Some(EventTime(at.max(opens.0)));
                                    let input = CityInput::Order(opens, closes, order, user, written);
                                    present.insert((city.clone(), input.clone()));
                                    changes.push(((city, input), 1));
                                    continue;
                                }
                            }
                        }
                        CityInput::Order(EventTime(at), None, order, "usr-1".into(), city.to_uppercase())
                    }
                };
                let row = (city, input);
                if present.remove(&row) {
                    changes.push((row, -1));
                } else {
                    present.insert(row.clone());
                    changes.push((row, 1));
                }
            }
            out.push((changes, present.clone()));
        }
        out
    }

    /// The assignments of `present` by definition: [`assign`] per city.
    fn expected(present: &Inputs) -> BTreeMap<String, Assignment> {
        let mut by_city: BTreeMap<&str, Vec<&CityInput>> = BTreeMap::new();
        for (city, input) in present {
            by_city.entry(city).or_default().push(input);
        }
        by_city.values().flat_map(|inputs| assign(inputs.iter().copied())).map(|a| (a.order_id.clone(), a)).collect()
    }

    /// Runs the history on `workers` workers, epoch by epoch, and checks every epoch's assignments.
    fn run(workers: usize, seed: u64) {
        let epochs = history(seed, 60);
        let changes = epochs.iter().flat_map(|(changes, _)| changes).count();
        assert!(changes > 200, "a history worth running: {changes} changes");
        let sink: Arc<Mutex<BTreeMap<(String, Assignment), isize>>> = Default::default();
        timely::execute(timely::Config::process(workers), move |worker| {
            let mut input: InputSession<u64, (String, CityInput), isize> = InputSession::new();
            let capture = sink.clone();
            let probe = worker.dataflow::<u64, _, _>(|scope| {
                sweep(input.to_collection(scope))
                    .inspect(move |(row, _, diff)| *capture.lock().unwrap().entry(row.clone()).or_default() += diff)
                    .probe()
                    .0
            });
            let index = worker.index();
            for (round, (changes, present)) in epochs.iter().enumerate() {
                for (i, (row, diff)) in changes.iter().enumerate() {
                    if (i + round) % worker.peers() == index {
                        input.update(row.clone(), *diff);
                    }
                }
                input.advance_to(input.time() + 1);
                input.flush();
                while probe.less_than(input.time()) {
                    worker.step();
                }
                if index == 0 {
                    let sink = sink.lock().unwrap();
                    let actual: BTreeMap<String, Assignment> = sink
                        .iter()
                        .filter(|(_, diff)| **diff != 0)
                        .map(|((order_id, a), diff)| {
                            assert_eq!(*diff, 1, "one assignment per order");
                            (order_id.clone(), a.clone())
                        })
                        .collect();
                    assert_eq!(actual, expected(present), "epoch {round}");
                }
            }
        })
        .expect("workers ran");
    }

    #[test]
    fn assignments_are_exact_at_every_epoch_on_one_worker() {
        run(1, 3);
    }

    #[test]
    fn assignments_are_exact_at_every_epoch_on_three_workers() {
        run(3, 9);
    }

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
