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
use shopflow_views::Family;
use std::collections::BTreeMap;
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
    let updates: Updates = Default::default();
    let batches: Arc<Vec<KeyedBatch>> =
        Arc::new(batches.iter().map(|b| b.iter().map(|e| (e.id.clone(), facts_of(e))).collect()).collect());
    let sink = updates.clone();
    timely::execute(timely::Config::process(workers), move |worker| {
        let mut input = InputSession::new();
        let sink = sink.clone();
        let probe = worker.dataflow::<u64, _, _>(|scope| {
            let settings = Settings { pair_cap: config.pair_cap, ..Settings::default() };
            let views = build_with(input.to_collection(scope), settings);
            let mut capturing = Capturing { updates: sink.clone(), parts: Vec::new() };
            views.for_each(&mut capturing);
            let mut parts = capturing.parts;
            let status_changes = views.derived.flat_map(|derived| match derived {
                Derived::StatusChanged(change) => Some(((change.order_id.clone(), change.index), change)),
                Derived::InventoryAlert(_) => None,
            });
            parts.push(capture("statusChanges", status_changes, sink.clone()).map(|_| ()));
            let all = parts.into_iter().reduce(|a, b| a.concat(b)).expect("views");
            let (probe, _) = all.probe();
            probe
        });
        // Each worker feeds its share of every batch; all advance together.
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
        }
    })
    .expect("timely runs");
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
