//! `shopflow replay`: every view built from a range of the topics the
//! pipeline reads (the sources and `shop.credentials`) into a fresh, named
//! place — its own Redis namespace and ClickHouse database — beside the live
//! generation, which it never touches.
//!
//! The range is given by offsets per partition (`--from-offsets`,
//! `--to-offsets`: `TOPIC:PARTITION=OFFSET,...`), by event time
//! (`--from-time` and `--to-time`, both inclusive, or `--as-of TIME`, the
//! marketplace as it was at that event time: every event with time ≤ TIME),
//! or both. Events outside it are read past and counted. A replay builds views only: it emits no derived event and sends
//! no dead letter (the live pipeline has done both), and commits offsets
//! under its own consumer group. It reads the topics as far as they reach
//! when it starts, shows its progress, and exits when done.

use super::pipeline::{report_progress, stop_on_signals, PipelineArgs};
use super::TimeArgs;
use crate::pipeline::{self, Counters, PipelineConfig};
use anyhow::Context;
use clap::Args;
use shopflow_ingest::source;
use shopflow_topics::{EventTime, Topic};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Arguments of `shopflow replay`.
#[derive(Args, Clone, Debug)]
pub struct ReplayArgs {
    /// Where to build: the Redis namespace and the ClickHouse database (both
    /// this name). It must be new: not the live namespace, and no generation in it yet.
    #[arg(long)]
    pub into: String,
    /// The state as of this event time (RFC 3339): every event with time at or before it.
    #[arg(long, value_parser = EventTime::parse, conflicts_with = "to_time")]
    pub as_of: Option<EventTime>,
    #[command(flatten)]
    pub times: TimeArgs,
    /// Where to start, per partition: `shop.orders:0=120,shop.orders:1=88` (a partition not
    /// named starts at its beginning).
    #[arg(long, value_parser = parse_offsets, default_value = "")]
    pub from_offsets: ContractOffsets,
    /// Where to stop, per partition (that offset is not read): as `--from-offsets` (a partition
    /// not named is read as far as it reaches when the replay starts).
    #[arg(long, value_parser = parse_offsets, default_value = "")]
    pub to_offsets: ContractOffsets,
    /// Everything else as `shopflow pipeline` takes it (workers, thresholds, services).
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

/// Offsets by contract topic (`shop.orders`) and partition.
pub type ContractOffsets = BTreeMap<String, BTreeMap<i32, i64>>;

/// `shop.orders:0=120,shop.orders:1=88` (empty: none), topics the pipeline
/// reads only (the sources and `shop.credentials`); an error names the bad part.
pub(crate) fn parse_offsets(text: &str) -> Result<ContractOffsets, String> {
    offsets_among(text, &Topic::INPUTS, "a topic the pipeline reads")
}

/// As [`parse_offsets`], of the topics `allowed` (`what` names them in an error).
pub(crate) fn offsets_among(text: &str, allowed: &[Topic], what: &str) -> Result<ContractOffsets, String> {
    let mut out = ContractOffsets::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || format!("{part:?}: expected TOPIC:PARTITION=OFFSET, as shop.orders:0=120");
        let (place, offset) = part.split_once('=').ok_or_else(bad)?;
        let (topic, partition) = place.rsplit_once(':').ok_or_else(bad)?;
        if !allowed.iter().any(|t| t.name() == topic) {
            let names: Vec<&str> = allowed.iter().map(|t| t.name()).collect();
            return Err(format!("{part:?}: {topic:?} is not {what} ({})", names.join(", ")));
        }
        let partition: i32 = partition.parse().ok().filter(|p| *p >= 0).ok_or_else(bad)?;
        let offset: i64 = offset.parse().ok().filter(|o| *o >= 0).ok_or_else(bad)?;
        if out.entry(topic.to_string()).or_default().insert(partition, offset).is_some() {
            return Err(format!("{part:?}: {topic}:{partition} is named twice"));
        }
    }
    Ok(out)
}

/// `offsets` with each topic as named on the broker (`prefix` before it).
fn on_broker(offsets: &ContractOffsets, prefix: &str) -> ContractOffsets {
    offsets.iter().map(|(topic, parts)| (format!("{prefix}{topic}"), parts.clone())).collect()
}

/// A name a Redis namespace and a ClickHouse database can both carry.
fn check_name(name: &str) -> anyhow::Result<()> {
    let fine = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if !fine {
        anyhow::bail!("--into {name:?}: use 1 to 64 letters, digits and '_', not starting with a digit");
    }
    Ok(())
}

/// The configuration of a build of views only, into namespace and database
/// `into`, that reads once and exits: no derived event, no dead letter, its
/// own consumer group `group` (`shopflow replay`, `shopflow verify`).
pub fn rebuild_config(pipeline: &PipelineArgs, into: &str, group: String) -> anyhow::Result<PipelineConfig> {
    let mut config = pipeline.config()?;
    config.namespace = into.to_string();
    config.clickhouse_database = into.to_string();
    config.source.group_id = group;
    config.source.exit_when_caught_up = true;
    config.source.dead_letters = false;
    config.emit_derived = false;
    // Notifications are derived events only: nothing of them would be kept.
    config.settings.notifications = false;
    Ok(config)
}

/// Runs `shopflow replay`.
pub fn run(args: ReplayArgs) -> anyhow::Result<()> {
    check_name(&args.into)?;
    let live = &args.pipeline.stores;
    if args.into == live.namespace || args.into == live.clickhouse_database {
        anyhow::bail!(
            "--into {} is the live namespace or database (--namespace {}, --clickhouse-database {}): \
             a replay builds beside them, never in them",
            args.into,
            live.namespace,
            live.clickhouse_database
        );
    }
    let times = args.times.range(args.as_of)?;
    for (topic, parts) in &args.from_offsets {
        for (partition, from) in parts {
            if let Some(to) = args.to_offsets.get(topic).and_then(|t| t.get(partition)).filter(|to| *to < from) {
                anyhow::bail!("{topic}:{partition}: --from-offsets {from} is after --to-offsets {to}");
            }
        }
    }
    let mut config = rebuild_config(&args.pipeline, &args.into, format!("shopflow-replay-{}", args.into))?;
    config.source.from_offsets = on_broker(&args.from_offsets, &config.source.topic_prefix);
    config.source.to_offsets = on_broker(&args.to_offsets, &config.source.topic_prefix);
    config.source.times = times;

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let existing = runtime.block_on(async {
        let mut redis = shopflow_sinks::redis::RedisSink::connect(&config.redis_url, &config.namespace, "check")
            .await
            .with_context(|| format!("connecting to Redis at {}", config.redis_url))?;
        anyhow::Ok(redis.generations().await?)
    })?;
    if !existing.is_empty() {
        anyhow::bail!(
            "--into {}: Redis already holds a build there (generations {}); choose another name, \
             or drop it first (keys {}:*)",
            args.into,
            existing.join(", "),
            args.into
        );
    }

    let partitions = source::partitions(&config.source)?;
    let targets = source::bounded(source::end_offsets(&config.source.brokers, &partitions)?, &config.source.to_offsets);
    let total: i64 = targets
        .iter()
        .flat_map(|(topic, parts)| {
            let from = config.source.from_offsets.get(topic);
            parts.iter().map(move |(p, end)| (end - from.and_then(|f| f.get(p)).copied().unwrap_or(0)).max(0))
        })
        .sum();
    let stop = Arc::new(AtomicBool::new(false));
    stop_on_signals(stop.clone());
    let counters = Arc::new(Counters::default());
    let done = Arc::new(AtomicBool::new(false));
    report_progress(counters.clone(), done.clone());
    let shown = show_progress(counters.clone(), done.clone(), total);
    let started = Instant::now();
    let result = pipeline::run(config.clone(), stop, counters.clone());
    done.store(true, Ordering::SeqCst);
    let _ = shown.join();
    result.context("replaying")?;

    let records = counters.source.records.load(Ordering::Relaxed);
    let skipped = counters.source.skipped.load(Ordering::Relaxed);
    let undecodable = counters.source.dead_letters.load(Ordering::Relaxed);
    let as_of = counters.as_of.load(Ordering::Relaxed);
    println!(
        "replayed {records} records in {:.1}s: {} events in the range, {skipped} outside it, {undecodable} that do not decode",
        started.elapsed().as_secs_f64(),
        records.saturating_sub(skipped + undecodable)
    );
    println!("built into Redis namespace {0} and ClickHouse database {0} (asOf {as_of})", args.into);
    println!("serve it: shopflow serve --namespace {0} --clickhouse-database {0}", args.into);
    Ok(())
}

/// Prints records read, the rate and the time left every 2 s while `done`
/// is unset (on a terminal, one line rewritten; otherwise a line each time).
fn show_progress(counters: Arc<Counters>, done: Arc<AtomicBool>, total: i64) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let terminal = std::io::stderr().is_terminal();
        let started = Instant::now();
        let mut last_print = Instant::now();
        while !done.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(100));
            if last_print.elapsed() < Duration::from_secs(2) {
                continue;
            }
            last_print = Instant::now();
            let read = counters.source.records.load(Ordering::Relaxed);
            let line = progress_line(read, total, started.elapsed());
            if terminal {
                eprint!("\r{line}\x1b[K");
            } else {
                eprintln!("{line}");
            }
        }
        if terminal {
            eprintln!();
        }
    })
}

/// `replay: 1200/5000 records (24%), 600/s, about 7s left`.
fn progress_line(read: u64, total: i64, elapsed: Duration) -> String {
    let rate = read as f64 / elapsed.as_secs_f64().max(0.001);
    let total = total.max(0) as u64;
    if total == 0 || read >= total {
        // The end offsets seen at start are passed (some brokers report them low): no estimate.
        return format!("replay: {read} records, {rate:.0}/s");
    }
    let percent = read * 100 / total;
    let left = if rate > 0.0 { format!("about {:.0}s left", (total - read) as f64 / rate) } else { "—".into() };
    format!("replay: {read}/{total} records ({percent}%), {rate:.0}/s, {left}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_redis_and_clickhouse_both_take() {
        assert!(check_name("bf_2025").is_ok());
        for bad in ["", "9lives", "black-friday", "a.b", &"x".repeat(65)] {
            assert!(check_name(bad).unwrap_err().to_string().contains("--into"), "{bad:?}");
        }
    }

    #[test]
    fn offsets_name_a_source_partition_each_once() {
        let parsed = parse_offsets("shop.orders:0=120, shop.orders:1=88,shop.users:2=0").unwrap();
        assert_eq!(parsed["shop.orders"][&1], 88);
        assert_eq!(parsed["shop.users"][&2], 0);
        assert!(parse_offsets("").unwrap().is_empty());
        assert!(parse_offsets("shop.orders:0").unwrap_err().contains("TOPIC:PARTITION=OFFSET"));
        assert!(parse_offsets("shop.orders:-1=3").unwrap_err().contains("TOPIC:PARTITION=OFFSET"));
        assert!(parse_offsets("shop.order-status:0=3").unwrap_err().contains("not a topic the pipeline reads"));
        assert!(parse_offsets("shop.credentials:0=3").is_ok(), "the pipeline reads the credentials too");
        assert!(parse_offsets("shop.orders:0=1,shop.orders:0=2").unwrap_err().contains("named twice"));
        let named = on_broker(&parsed, "t1.");
        assert_eq!(named["t1.shop.orders"][&0], 120);
    }

    #[test]
    fn progress_says_how_far_and_how_long() {
        let line = progress_line(250, 1000, Duration::from_secs(5));
        assert_eq!(line, "replay: 250/1000 records (25%), 50/s, about 15s left");
        assert_eq!(progress_line(1200, 1000, Duration::from_secs(2)), "replay: 1200 records, 600/s");
    }
}
