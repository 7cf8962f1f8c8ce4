//! How long the views take to absorb 1,000 product updates in a large catalog.
//!
//! The generator's shop at `BENCH_PRODUCTS` products (default 100,000: its
//! category tree, vendors, products with their words and attributes, stock,
//! users and the shop's past; no sessions) is loaded into every view of
//! `build` in large epochs; then rounds of 1,000 product updates are absorbed
//! one epoch each, and the time from handing them in to the dataflow having
//! settled is measured. An update is, in turn, a new description (its words
//! leave some posting lists and join others), a new price (every posting list
//! and listing holding the product changes its entry), and a move to another
//! category (its listings and category words change).
//!
//! `cargo bench -p shopflow-dataflows --bench absorb_catalog`; knobs:
//! `BENCH_PRODUCTS` (default 100000), `BENCH_ROUNDS` (default 5),
//! `BENCH_WARMUP` (unmeasured rounds first, default 20).

mod common;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use common::Views;
use shopflow_dataflows::facts_of;
use shopflow_ingest::generate::{Generator, GeneratorConfig, Rng};
use shopflow_topics::events::{Event, ProductUpdated};
use shopflow_topics::{Envelope, EventTime};
use std::time::{Duration, Instant};

fn knob(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// Words new descriptions are made of.
const WORDS: &str = "quiet bright sturdy light warm soft compact modern classic durable washable foldable portable \
                     waterproof recycled handmade premium everyday travel studio outdoor kitchen office gift";

fn main() {
    let products: usize = knob("BENCH_PRODUCTS", "100000").parse().expect("BENCH_PRODUCTS");
    let rounds: usize = knob("BENCH_ROUNDS", "5").parse().expect("BENCH_ROUNDS");
    let warmup: usize = knob("BENCH_WARMUP", "20").parse().expect("BENCH_WARMUP");
    let config = GeneratorConfig {
        seed: 1,
        users: 2_000,
        products,
        orders: 0,
        duplicate_rate: 0.0,
        late_rate: 0.0,
        malformed_rate: 0.0,
        ..Default::default()
    };
    let shop: Vec<Envelope> = Generator::new(config)
        .map(|record| Envelope::decode(record.value.as_bytes()).expect("the generator's records decode"))
        .collect();
    let product_ids: Vec<String> = shop
        .iter()
        .filter_map(|e| match &e.event {
            Event::ProductCreated(p) => Some(p.product_id.clone()),
            _ => None,
        })
        .collect();
    let category_ids: Vec<String> = shop
        .iter()
        .filter_map(|e| match &e.event {
            Event::CategoryUpserted(c) => Some(c.category_id.clone()),
            _ => None,
        })
        .collect();
    let last_time = shop.iter().map(|e| e.time).max().expect("a shop");

    timely::execute_directly(move |worker| {
        let mut views = Views::new(worker);
        let rng = Rng::new(7);
        let vocabulary: Vec<&str> = WORDS.split_whitespace().collect();
        let mut sent = 0u64;
        // One epoch of `events`: the time from handing them in to the views settling.
        let mut settle = |views: &mut Views, events: Vec<Envelope>| {
            for event in events {
                views.input.insert((event.id.clone(), facts_of(&event)));
            }
            views.settle(worker)
        };
        let mut updates = |n: usize| -> Vec<Envelope> {
            (0..n)
                .map(|_| {
                    sent += 1;
                    let mut update = ProductUpdated::of(rng.pick(&product_ids).clone());
                    match sent % 3 {
                        0 => {
                            let words: Vec<&str> = (0..8).map(|_| *rng.pick(&vocabulary)).collect();
                            update.description = Some(format!("{}.", words.join(" ")));
                        }
                        1 => update.price = Some(rng.range(200, 50_000)),
                        _ => update.category_id = Some(rng.pick(&category_ids).clone()),
                    }
                    let time = last_time.plus(sent as i64 * EventTime::MILLISECOND);
                    Envelope::new(format!("upd-{sent:08}"), "bench", time, update)
                })
                .collect()
        };
        let load_started = Instant::now();
        let total = shop.len();
        for chunk in shop.chunks(50_000) {
            settle(&mut views, chunk.to_vec());
        }
        for _ in 0..warmup {
            let batch = updates(1_000);
            settle(&mut views, batch);
        }
        eprintln!("loaded {total} events ({} products) in {:.0?}", product_ids.len(), load_started.elapsed());
        let mut times: Vec<Duration> = (0..rounds)
            .map(|_| {
                let batch = updates(1_000);
                settle(&mut views, batch)
            })
            .collect();
        times.sort();
        println!(
            "catalog {} products: absorb 1,000 product updates median {:.1} ms (min {:.1}, max {:.1}), {rounds} rounds",
            product_ids.len(),
            times[times.len() / 2].as_secs_f64() * 1e3,
            times[0].as_secs_f64() * 1e3,
            times[times.len() - 1].as_secs_f64() * 1e3
        );
    });
}
