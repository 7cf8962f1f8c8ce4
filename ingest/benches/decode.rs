//! Decoding records, the first step of every pipeline epoch: the borrowed
//! parse the sources use (`Envelope::decode_record`, strings borrowed from
//! the record) against the same strict decoder read from a
//! `serde_json::Value` (how records were decoded before), on the same
//! generated records, alternated over rounds.
//!
//! `cargo bench -p shopflow-ingest --bench decode` (`DECODE_EVENTS`, default 300000).

use serde_json::Value;
use shopflow_ingest::generate::{Generator, GeneratorConfig};
use shopflow_topics::Envelope;
use std::time::{Duration, Instant};

fn main() {
    let events: u64 = std::env::var("DECODE_EVENTS").ok().and_then(|n| n.parse().ok()).unwrap_or(300_000);
    let config =
        GeneratorConfig { seed: 1, users: 20_000, products: 5_000, events: Some(events), ..GeneratorConfig::default() };
    let records: Vec<(&'static str, String, String)> =
        Generator::new(config).map(|r| (r.topic.name(), r.key, r.value)).collect();
    let bytes: usize = records.iter().map(|(_, _, value)| value.len()).sum();
    println!("decode: {} records, {:.1} MB of values", records.len(), bytes as f64 / 1e6);

    let borrowed = |records: &[(&str, String, String)]| {
        records
            .iter()
            .filter(|(topic, key, value)| {
                Envelope::decode_record(topic, Some(key.as_bytes()), value.as_bytes()).is_ok()
            })
            .count()
    };
    let through_value = |records: &[(&str, String, String)]| {
        records
            .iter()
            .filter(|(_, _, value)| {
                serde_json::from_slice::<Value>(value.as_bytes())
                    .ok()
                    .and_then(|v| Envelope::from_value(&v).ok())
                    .is_some()
            })
            .count()
    };
    let (mut best_borrowed, mut best_value) = (Duration::MAX, Duration::MAX);
    for round in 0..5 {
        let started = Instant::now();
        let ok_borrowed = borrowed(&records);
        let took_borrowed = started.elapsed();
        let started = Instant::now();
        let ok_value = through_value(&records);
        let took_value = started.elapsed();
        assert_eq!(ok_borrowed, ok_value, "both paths accept the same records");
        println!(
            "round {round}: borrowed {:.0} ms, through Value {:.0} ms ({ok_borrowed} decoded)",
            took_borrowed.as_secs_f64() * 1e3,
            took_value.as_secs_f64() * 1e3
        );
        best_borrowed = best_borrowed.min(took_borrowed);
        best_value = best_value.min(took_value);
    }
    let rate = |took: Duration| records.len() as f64 / took.as_secs_f64();
    println!(
        "decode, one thread, best of 5: borrowed {:.0} records/s, through Value {:.0} records/s: {:.2}x",
        rate(best_borrowed),
        rate(best_value),
        best_value.as_secs_f64() / best_borrowed.as_secs_f64()
    );
}
