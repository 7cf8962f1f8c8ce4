//! Shared by the dataflow tests: run [`build`] over batches of events with any
//! number of workers and read back every view's final contents.

#![allow(dead_code)]

use differential_dataflow::input::InputSession;
use serde::Serialize;
use shopflow_dataflows::recommend::Config;
use shopflow_dataflows::{build_with, facts_of, Coll, Settings, Visitor};
use shopflow_topics::Envelope;
use shopflow_views::derived::Derived;
use shopflow_views::facts::Fact;
use shopflow_views::recommend::{for_user, Purchases, Together};
use shopflow_views::settle::{watermark, Clock, Settler};
use shopflow_views::Family;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

/// Every view's rows: (view name, key as JSON) → value as JSON.
pub type Snapshot = BTreeMap<(&'static str, String), String>;

/// One epoch's events, keyed by id with their facts.
type KeyedBatch = Vec<(String, Vec<Fact>)>;

type Updates = Arc<Mutex<BTreeMap<(&'static str, String, String), isize>>>;

fn capture<'s, K: Serialize + Clone + 'static, V: Serialize + Clone + 'static>(
    name: &'static str,
    collection: Coll<'s, (K, V)>,
    updates: Updates,
) -> Coll<'s, (K, V)> {
    collection.inspect(move |((key, value), _time, diff)| {
        let key = serde_json::to_string(key).unwrap();
        let value = serde_json::to_string(value).unwrap();
        *updates.lock().unwrap().entry((name, key, value)).or_insert(0) += diff;
    })
}

/// The name a family's rows carry in a [`Snapshot`].
pub fn name(family: Family) -> &'static str {
    match family {
        Family::Order => "orders",
        Family::UserOrders => "userOrders",
        Family::Inventory => "inventory",
        Family::Product => "products",
        Family::Category => "categories",
        Family::Cart => "carts",
        Family::User => "users",
        Family::Rating => "ratings",
        Family::Reviews => "reviews",
        Family::BoughtTogether => "boughtTogether",
        Family::ViewedTogether => "viewedTogether",
        Family::Purchases => "purchases",
        Family::Trending => "trending",
        Family::CategoryTree => "categoryTree",
        Family::Listing => "listing",
        Family::SearchTerm => "searchTerm",
        Family::Suggestions => "suggestions",
        Family::TrendingSearches => "trendingSearches",
        Family::SearchTerms => "searchTerms",
        Family::SalesDaily => "salesDaily",
        Family::FunnelDaily => "funnelDaily",
        Family::ProductStats => "productStats",
        Family::Payment => "payments",
        Family::Wallet => "wallets",
        Family::Vendor => "vendors",
        Family::VendorApplication => "vendorApplications",
        Family::VendorOrders => "vendorOrders",
        Family::Promotion => "promotions",
        Family::VendorBalances => "vendorBalances",
        Family::VendorSalesDaily => "vendorSalesDaily",
        Family::PromotionPerformance => "promotionPerformance",
        Family::Fraud => "fraud",
        Family::Delivery => "deliveries",
        Family::Tracking => "tracking",
        Family::DeliveryPartners => "deliveryPartners",
        Family::Credential => "credentials",
        Family::Login => "logins",
    }
}

/// Captures every view [`Views::for_each`](shopflow_dataflows::Views::for_each) hands it.
struct Capturing<'s> {
    updates: Updates,
    parts: Vec<Coll<'s, ()>>,
}

impl<'s> Visitor<'s> for Capturing<'s> {
    fn visit<K, V>(&mut self, family: Family, view: Coll<'s, (K, V)>)
    where
        K: differential_dataflow::ExchangeData + Serialize,
        V: differential_dataflow::ExchangeData + Serialize,
    {
        self.parts.push(capture(name(family), view, self.updates.clone()).map(|_| ()));
    }
}

/// Feeds `batches` (one epoch each) to the views on `workers` workers and
/// returns the final contents, checking that every view holds one row per key.
pub fn run(batches: &[Vec<Envelope>], workers: usize) -> Snapshot {
    run_with(batches, workers, Config::default())
}

/// As [`run`], with settings.
pub fn run_with(batches: &[Vec<Envelope>], workers: usize, config: Config) -> Snapshot {
    run_settling(batches, &[], workers, config).snapshot
}

/// The source partitions' clocks after an epoch, with the allowed lateness.
pub type EpochClocks = (Vec<Clock>, i64);

/// What [`run_settling`] saw.
pub struct SettledRun {
    /// Every view's final contents.
    pub snapshot: Snapshot,
    /// The derived transitions in the final collection.
    pub derived: BTreeSet<Derived>,
    /// Every transition that was ever in the collection at the end of an epoch.
    pub appeared: BTreeSet<Derived>,
    /// What a [`Settler`] let out, in order, fed each epoch's changes with the
    /// watermark of that epoch's clocks.
    pub emitted: Vec<Derived>,
}

/// As [`run_with`], and settles the derived transitions the way the pipeline
/// does: after epoch `i`, the watermark is that of `clocks[i]` (the source
/// partitions' clocks once the epoch is read) with `lateness`; after the
/// last epoch every partition is idle. Without clocks nothing is emitted.
pub fn run_settling(batches: &[Vec<Envelope>], clocks: &[EpochClocks], workers: usize, config: Config) -> SettledRun {
    let updates: Updates = Default::default();
    let batches: Arc<Vec<KeyedBatch>> =
        Arc::new(batches.iter().map(|b| b.iter().map(|e| (e.id.clone(), facts_of(e))).collect()).collect());
    let clocks: Arc<Vec<EpochClocks>> = Arc::new(clocks.to_vec());
    let transitions: Arc<Mutex<Vec<(u64, Derived, isize)>>> = Default::default();
    let emitted: Arc<Mutex<Vec<Derived>>> = Default::default();
    let sink = updates.clone();
    let (transitions_in, emitted_in) = (transitions.clone(), emitted.clone());
    timely::execute(timely::Config::process(workers), move |worker| {
        let mut input = InputSession::new();
        let sink = sink.clone();
        let transitions = transitions_in.clone();
        let probe = worker.dataflow::<u64, _, _>(|scope| {
            let settings = Settings { pair_cap: config.pair_cap, notifications: true, ..Settings::default() };
            let views = build_with(input.to_collection(scope), settings);
            let mut capturing = Capturing { updates: sink.clone(), parts: Vec::new() };
            views.for_each(&mut capturing);
            let mut parts = capturing.parts;
            let seen = transitions.clone();
            let derived = views.derived.inspect(move |(event, time, diff)| {
                seen.lock().unwrap().push((*time, event.clone(), *diff));
            });
            let status_changes = derived.clone().flat_map(|derived| match derived {
                Derived::StatusChanged(change) => Some(((change.order_id.clone(), change.index), change)),
                _ => None,
            });
            parts.push(capture("statusChanges", status_changes, sink.clone()).map(|_| ()));
            let alerts = derived.clone().flat_map(|derived| match derived {
                Derived::InventoryAlert(alert) => {
                    Some(((alert.product_id.clone(), alert.at, alert.step.clone(), alert.kind), alert))
                }
                _ => None,
            });
            parts.push(capture("inventoryAlerts", alerts, sink.clone()).map(|_| ()));
            let notifications = derived.clone().flat_map(|derived| match derived {
                Derived::Notify(notice) => {
                    notice.notifications().into_iter().map(|n| (n.notification_id.clone(), n)).collect()
                }
                _ => Vec::new(),
            });
            parts.push(capture("notifications", notifications, sink.clone()).map(|_| ()));
            let all = parts.into_iter().reduce(|a, b| a.concat(b)).expect("views");
            let (probe, _) = all.probe();
            probe
        });
        let mut settler = Settler::new();
        // Each worker feeds its share of every batch; all advance together; worker 0 settles.
        for (epoch, batch) in batches.iter().enumerate() {
            for (i, event) in batch.iter().enumerate() {
                if i % worker.peers() == worker.index() {
                    input.insert(event.clone());
                }
            }
            input.advance_to(epoch as u64 + 1);
            input.flush();
            while probe.less_than(input.time()) {
                worker.step();
            }
            if worker.index() == 0 && !clocks.is_empty() {
                // This epoch's changes only: another worker may already be in the next one.
                let now: Vec<(Derived, isize)> = transitions
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|(time, _, _)| *time == epoch as u64)
                    .map(|(_, event, diff)| (event.clone(), *diff))
                    .collect();
                settler.absorb(now);
                let (clocks, lateness) = &clocks[epoch];
                let mut clocks = clocks.clone();
                if epoch + 1 == batches.len() {
                    clocks.iter_mut().for_each(|c| c.idle = true);
                }
                emitted_in.lock().unwrap().extend(settler.advance(watermark(&clocks, *lateness)));
            }
        }
    })
    .expect("timely runs");
    let mut derived: BTreeMap<Derived, isize> = BTreeMap::new();
    let mut appeared = BTreeSet::new();
    let mut updates_in_time = Arc::try_unwrap(transitions).unwrap().into_inner().unwrap();
    updates_in_time.sort_by_key(|(time, _, _)| *time);
    for (i, (time, event, diff)) in updates_in_time.iter().enumerate() {
        *derived.entry(event.clone()).or_insert(0) += diff;
        // At the end of each epoch, what the collection holds.
        if updates_in_time.get(i + 1).is_none_or(|(next, _, _)| next > time) {
            appeared.extend(derived.iter().filter(|(_, c)| **c > 0).map(|(e, _)| e.clone()));
        }
    }
    let derived: BTreeSet<Derived> = derived
        .into_iter()
        .filter(|(event, count)| {
            assert!(*count == 0 || *count == 1, "{event:?} has count {count}");
            *count == 1
        })
        .map(|(event, _)| event)
        .collect();
    let emitted = Arc::try_unwrap(emitted).unwrap().into_inner().unwrap();
    SettledRun { snapshot: snapshot_of(updates), derived, appeared, emitted }
}

/// Every view's final rows, and the recommendations readers make of them.
fn snapshot_of(updates: Updates) -> Snapshot {
    let updates = Arc::try_unwrap(updates).unwrap().into_inner().unwrap();
    let mut snapshot = Snapshot::new();
    for ((name, key, value), count) in updates {
        assert!(count == 0 || count == 1, "{name} {key} has count {count}");
        if count == 1 {
            let previous = snapshot.insert((name, key.clone()), value);
            assert!(previous.is_none(), "{name} has two rows for {key}");
        }
    }
    // Recommendations as readers make them: a user's purchases with the lists of those products.
    let lists: Vec<Together> = snapshot
        .iter()
        .filter(|((name, _), _)| *name == "boughtTogether")
        .map(|(_, value)| serde_json::from_str(value).unwrap())
        .collect();
    let users: Vec<Purchases> = snapshot
        .iter()
        .filter(|((name, _), _)| *name == "purchases")
        .map(|(_, value)| serde_json::from_str(value).unwrap())
        .collect();
    for purchases in users {
        put(&mut snapshot, "recommendations", &purchases.user_id, &for_user(&purchases, &lists));
    }
    snapshot
}

/// Adds typed rows to a snapshot, the way [`run`] renders them.
pub fn put<K: Serialize, V: Serialize>(snapshot: &mut Snapshot, name: &'static str, key: &K, value: &V) {
    snapshot.insert((name, serde_json::to_string(key).unwrap()), serde_json::to_string(value).unwrap());
}

/// Where two snapshots differ, for a readable failure.
pub fn differences(left: &Snapshot, right: &Snapshot) -> Vec<String> {
    let mut out = Vec::new();
    for (key, value) in left {
        match right.get(key) {
            None => out.push(format!("only incremental: {key:?} = {value}")),
            Some(other) if other != value => {
                out.push(format!("{key:?}\n  incremental: {value}\n  batch:       {other}"))
            }
            _ => {}
        }
    }
    for (key, value) in right {
        if !left.contains_key(key) {
            out.push(format!("only batch: {key:?} = {value}"));
        }
    }
    out
}
