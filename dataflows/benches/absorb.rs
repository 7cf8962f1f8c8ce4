//! How long the views take to absorb 1,000 new orders as the history grows.
//!
//! A seeded history of paid orders (1–3 lines each, Zipf product popularity,
//! 5% cancelled after payment) is loaded into every view of `build`, in
//! large epochs; at each checkpoint of the history, rounds of 1,000 new
//! orders are absorbed one epoch each, and the time from handing them in to
//! the dataflow having settled is measured. Incremental means that time
//! stays nearly flat while the history grows. Each checkpoint also prints how
//! many pairs the measured orders make by definition (a buyer's new product
//! pairs with each product they had): the work no implementation can skip,
//! which stays level when users grow with the history and grows when a fixed
//! set of users each buy more.
//!
//! `cargo bench -p shopflow-dataflows --bench absorb`; knobs:
//! `BENCH_CHECKPOINTS` (orders, comma-separated; default 100000,1000000),
//! `BENCH_USERS` (default 100000), `BENCH_USERS_PER_ORDER` (instead: a user base
//! that grows with the history, so each user's history stays the same length),
//! `BENCH_PRODUCTS` (default 20000),
//! `BENCH_ROUNDS` (default 5), `BENCH_WARMUP` (unmeasured rounds first, default 20).

mod common;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use common::Views;
use shopflow_dataflows::facts_of;
use shopflow_ingest::generate::{Rng, Zipf};
use shopflow_topics::events::{Address, OrderCancelled, OrderCreated, OrderItem, PaymentCompleted};
use shopflow_topics::{Envelope, EventTime};
use shopflow_views::facts::Fact;
use std::time::{Duration, Instant};

fn knob(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// Seeded orders, each with its events as (id, facts).
struct Orders {
    rng: Rng,
    popularity: Zipf,
    users: u64,
    /// When set, the user base grows with the history: order n is by one of n × this many users.
    users_per_order: Option<f64>,
    next: u64,
    start: EventTime,
    /// The distinct products each user has ordered, to count the pairs new orders make.
    held: std::collections::HashMap<u64, std::collections::HashSet<usize>>,
    /// Pairs made since this was last reset: a new product of a user pairs with
    /// each product they held (the definitional work of bought-together).
    pairs: u64,
}

impl Orders {
    fn user_base(&self, n: u64) -> u64 {
        match self.users_per_order {
            Some(ratio) => ((n as f64 * ratio) as u64).max(1),
            None => self.users,
        }
    }

    fn next_events(&mut self) -> Vec<(String, Vec<Fact>)> {
        let n = self.next;
        self.next += 1;
        let order_id = format!("ord-{n:08}");
        let time = self.start.plus(n as i64 * EventTime::SECOND);
        let lines = self.rng.range(1, 3) as usize;
        let user = self.rng.below(self.user_base(n));
        let held = self.held.entry(user).or_default();
        let mut items: Vec<OrderItem> = Vec::new();
        for _ in 0..lines {
            let sample = self.popularity.sample(&self.rng);
            if !held.contains(&sample) {
                self.pairs += held.len() as u64;
                held.insert(sample);
            }
            let product = format!("prd-{sample:06}");
            if items.iter().all(|i| i.product_id != product) {
                items.push(OrderItem { product_id: product, vendor_id: "ven-1".into(), quantity: 1, unit_price: 1000 });
            }
        }
        let total = 1000 * items.len() as i64;
        let created = OrderCreated {
            order_id: order_id.clone(),
            user_id: format!("usr-{user:07}"),
            items,
            subtotal: total,
            discount: 0,
            shipping: 0,
            total,
            currency: "USD".into(),
            promo_code: None,
            shipping_address: Address {
                street: "1 Main St".into(),
                city: "Salem".into(),
                state: None,
                zipcode: "12345".into(),
                country: "US".into(),
            },
        };
        let paid = PaymentCompleted { payment_id: format!("pay-{n:08}"), order_id: order_id.clone(), amount: total };
        let mut events = vec![
            Envelope::new(format!("{order_id}-c"), "bench", time, created),
            Envelope::new(format!("{order_id}-p"), "bench", time.plus(1), paid),
        ];
        if self.rng.chance(0.05) {
            let cancelled = OrderCancelled { order_id: order_id.clone(), reason: "changed mind".into() };
            events.push(Envelope::new(format!("{order_id}-x"), "bench", time.plus(2), cancelled));
        }
        events.into_iter().map(|e| (e.id.clone(), facts_of(&e))).collect()
    }
}

fn main() {
    let checkpoints: Vec<u64> = knob("BENCH_CHECKPOINTS", "100000,1000000")
        .split(',')
        .map(|s| s.trim().parse().expect("BENCH_CHECKPOINTS: numbers"))
        .collect();
    let users: u64 = knob("BENCH_USERS", "100000").parse().expect("BENCH_USERS");
    let users_per_order: Option<f64> =
        std::env::var("BENCH_USERS_PER_ORDER").ok().map(|r| r.parse().expect("BENCH_USERS_PER_ORDER: a number"));
    let products: usize = knob("BENCH_PRODUCTS", "20000").parse().expect("BENCH_PRODUCTS");
    let rounds: usize = knob("BENCH_ROUNDS", "5").parse().expect("BENCH_ROUNDS");
    let warmup: usize = knob("BENCH_WARMUP", "20").parse().expect("BENCH_WARMUP");

    timely::execute_directly(move |worker| {
        let mut views = Views::new(worker);
        let mut orders = Orders {
            rng: Rng::new(42),
            popularity: Zipf::new(products, 1.0),
            users,
            users_per_order,
            next: 0,
            held: Default::default(),
            pairs: 0,
            start: EventTime::parse("2026-01-01T00:00:00Z").expect("time"),
        };
        // Absorbs `count` new orders: the time taken and the pairs they made.
        let mut settle = |views: &mut Views, count: u64| {
            orders.pairs = 0;
            for _ in 0..count {
                for event in orders.next_events() {
                    views.input.insert(event);
                }
            }
            (views.settle(worker), orders.pairs)
        };
        let base = match users_per_order {
            Some(ratio) => format!("users growing with the history ({ratio} per order)"),
            None => format!("users {users}"),
        };
        println!("{base}, products {products}, Zipf 1.0; absorbing 1,000 orders, {rounds} rounds per checkpoint");
        let mut loaded = 0u64;
        let mut medians: Vec<(u64, Duration)> = Vec::new();
        let load_started = Instant::now();
        for checkpoint in checkpoints {
            // Large epochs up to the warm-up, then warm-up rounds of 1,000 up to the
            // checkpoint: arrangements merge the loading epochs' large batches a little at
            // every later epoch, a debt of the loading, not of absorbing.
            let warm_from = checkpoint.saturating_sub(1_000 * warmup as u64).max(loaded);
            while loaded < warm_from {
                let chunk = (warm_from - loaded).min(50_000);
                settle(&mut views, chunk);
                loaded += chunk;
            }
            while loaded < checkpoint {
                settle(&mut views, 1_000);
                loaded += 1_000;
            }
            eprintln!("loaded {loaded} orders in {:.0?}", load_started.elapsed());
            let measured: Vec<(Duration, u64)> = (0..rounds).map(|_| settle(&mut views, 1_000)).collect();
            loaded += 1_000 * rounds as u64;
            let mut times: Vec<Duration> = measured.iter().map(|(time, _)| *time).collect();
            times.sort();
            let median = times[times.len() / 2];
            let pairs = measured.iter().map(|(_, pairs)| pairs).sum::<u64>() / rounds as u64;
            println!(
                "history {checkpoint:>9} orders: absorb 1,000 orders median {:>8.1} ms (min {:.1}, max {:.1}); \
                 {pairs} new pairs of a buyer's products per 1,000 orders",
                median.as_secs_f64() * 1e3,
                times[0].as_secs_f64() * 1e3,
                times[times.len() - 1].as_secs_f64() * 1e3
            );
            medians.push((checkpoint, median));
        }
        if let (Some(first), Some(last)) = (medians.first(), medians.last()) {
            println!(
                "ratio {} → {} orders: {:.2}×",
                first.0,
                last.0,
                last.1.as_secs_f64() / first.1.as_secs_f64().max(1e-9)
            );
        }
    });
}
