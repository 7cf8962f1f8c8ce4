//! `shopflow generate`: the seeded workload, into Kafka or an NDJSON file.

use super::KafkaArgs;
use crate::progress::Progress;
use anyhow::{bail, Context};
use clap::Args;
use shopflow_ingest::generate::{Generator, GeneratorConfig, Summary};
use shopflow_ingest::producer::RecordProducer;
use shopflow_topics::EventTime;
use std::io::Write;
use std::time::{Duration, Instant};

/// Arguments of `shopflow generate`.
#[derive(Args)]
pub struct GenerateArgs {
    /// Seed: the same seed and sizes give the same records, byte for byte.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Shoppers.
    #[arg(long, default_value_t = 200)]
    users: usize,
    /// Products.
    #[arg(long, default_value_t = 100)]
    products: usize,
    /// Stop after this many orders.
    #[arg(long, default_value_t = 300)]
    orders: usize,
    /// Stop after exactly this many records instead (scales the run).
    #[arg(long)]
    events: Option<u64>,
    /// Share of records re-sent later with the same id.
    #[arg(long, default_value_t = 0.01, value_parser = share)]
    duplicates: f64,
    /// Share of records that arrive after later ones (out-of-order time).
    #[arg(long, default_value_t = 0.02, value_parser = share)]
    late: f64,
    /// Share of extra malformed records (they belong in the dead-letter topic).
    #[arg(long, default_value_t = 0.002, value_parser = share)]
    malformed: f64,
    /// Event time of the first record (RFC 3339, UTC).
    #[arg(long, default_value = "2026-11-01T00:00:00Z", value_parser = EventTime::parse)]
    start: EventTime,
    /// The shop exists already (a history generated with the same --users and
    /// --products): its set-up (categories, vendors, products, partners,
    /// promotions, users) is not sent again, only a live shop's traffic.
    #[arg(long)]
    existing_shop: bool,
    /// Records per second at most (default: as fast as the broker takes them).
    #[arg(long)]
    rate: Option<f64>,
    /// Write NDJSON lines {topic, key, value} to this file instead of producing ("-": stdout).
    #[arg(long)]
    out: Option<String>,
    /// Print no progress.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    kafka: KafkaArgs,
}

fn share(text: &str) -> Result<f64, String> {
    let value: f64 = text.parse().map_err(|_| format!("{text:?} is not a number"))?;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{value} is not between 0 and 1"))
    }
}

/// Runs `shopflow generate`.
pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    if args.rate.is_some_and(|r| r <= 0.0 || !r.is_finite()) {
        bail!("--rate must be a positive number of records per second");
    }
    let config = GeneratorConfig {
        seed: args.seed,
        users: args.users.max(1),
        products: args.products.max(1),
        orders: args.orders,
        events: args.events,
        duplicate_rate: args.duplicates,
        late_rate: args.late,
        malformed_rate: args.malformed,
        start: args.start,
        existing_shop: args.existing_shop,
    };
    let total = args.events;
    let mut progress = (!args.quiet).then(|| Progress::new("generate", total));
    let mut summary = Summary::default();
    let started = Instant::now();
    let pace = |sent: u64| {
        if let Some(rate) = args.rate {
            let due = Duration::from_secs_f64(sent as f64 / rate);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    };
    match &args.out {
        Some(path) => {
            let sink: Box<dyn Write> = if path == "-" {
                Box::new(std::io::stdout().lock())
            } else {
                Box::new(std::fs::File::create(path).with_context(|| format!("creating {path}"))?)
            };
            let mut out = std::io::BufWriter::new(sink);
            for record in Generator::new(config) {
                writeln!(out, "{}", record.to_ndjson())?;
                summary.add(&record);
                pace(summary.total());
                if let Some(p) = progress.as_mut() {
                    p.tick(summary.total());
                }
            }
            out.flush()?;
        }
        None => {
            let brokers = &args.kafka.brokers;
            let producer = RecordProducer::new(brokers).with_context(|| format!("connecting to {brokers}"))?;
            for record in Generator::new(config) {
                let topic = record.topic.prefixed(&args.kafka.topic_prefix);
                producer.send(&topic, &record.key, record.value.as_bytes())?;
                summary.add(&record);
                pace(summary.total());
                if let Some(p) = progress.as_mut() {
                    p.tick(producer.tracker().delivered());
                }
                if let Some(error) = producer.tracker().first_error() {
                    bail!("the broker refused a record: {error}");
                }
            }
            producer.flush(Duration::from_secs(120)).context("waiting for the broker to acknowledge")?;
            let tracker = producer.tracker();
            if tracker.failed() > 0 || tracker.delivered() != summary.total() {
                bail!(
                    "{} of {} records delivered; first error: {}",
                    tracker.delivered(),
                    summary.total(),
                    tracker.first_error().unwrap_or_else(|| "none reported".into())
                );
            }
        }
    }
    if let Some(p) = progress.as_mut() {
        p.finish(summary.total());
    }
    let destination = args.out.as_deref().map_or_else(|| format!("Kafka at {}", args.kafka.brokers), |p| p.to_string());
    eprintln!("wrote {} records to {destination}", summary.total());
    if args.out.as_deref() == Some("-") {
        eprint!("{}", summary.table());
    } else {
        print!("{}", summary.table());
    }
    Ok(())
}
