//! The whole-pipeline benchmark (`cargo bench --bench pipeline`).
//!
//! On the broker of `SHOPFLOW_BROKERS` (or, without one, an embedded
//! librdkafka mock broker hosted by this process), with Redis and ClickHouse
//! of `SHOPFLOW_REDIS_URL` / `SHOPFLOW_CLICKHOUSE_URL`:
//!
//! 1. produces `BENCH_EVENTS` (default 1,000,000) generated records into
//!    fresh topics and reports the produce rate;
//! 2. the raw ceiling: one rdkafka consumer per core reading every source
//!    partition and decoding each record, nothing else;
//! 3. the pipeline: `shopflow pipeline --exit-when-caught-up` from start to
//!    exit over the same records, with its peak resident memory;
//! 4. freshness: the pipeline running live, records produced at a steady
//!    rate for `BENCH_LOAD_SECONDS` (default 20), each load another seed's
//!    traffic on the history's shop (`existing_shop`: its users, products
//!    and partners are not registered again) after the history in event
//!    time (as a live shop's are), and for each the time from
//!    send to the moment Redis's published offsets cover it; p50 and p99.
//!    First the maximum sustained rate is searched for (the highest rate
//!    whose load the pipeline keeps up with: every record visible, the last
//!    third's p99 within a second, so no backlog grows), each step printed,
//!    then freshness is measured at half of it. `BENCH_OFFERED=r1,r2,…`
//!    measures those rates instead;
//! 5. the same on a quiet shop: 20 records a second for 10 seconds;
//! 6. the data engineers' tools over the same records (unless
//!    `BENCH_DATA_TOOLS=0`): a full `shopflow replay` into a namespace of
//!    its own, and `shopflow export` in each format, start to exit, with
//!    records/s, MB/s and the ratio to the raw ceiling.
//!
//! It prints one line per figure; BENCHMARKS.md records them.
//! `BENCH_BINARY=PATH` runs another build of `shopflow` (an A/B of two
//! commits on one machine) instead of the one built with the bench.

mod common;

use common::{env, event_time, percentile};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use shopflow_ingest::generate::{Generator, GeneratorConfig};
use shopflow_ingest::producer::producer_config;
use shopflow_topics::{Envelope, EventTime, Topic};
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PARTITIONS: i32 = 10;

/// Delivery reports with the send instant riding along.
#[derive(Clone, Default)]
struct Timed(Arc<Mutex<Vec<Delivery>>>);

/// (topic, partition, offset, when it was sent).
type Delivery = (String, i32, i64, Instant);

impl ClientContext for Timed {}

impl ProducerContext for Timed {
    type DeliveryOpaque = Box<Instant>;

    fn delivery(&self, result: &DeliveryResult<'_>, sent: Box<Instant>) {
        if let Ok(message) = result {
            self.0.lock().unwrap().push((message.topic().to_string(), message.partition(), message.offset(), *sent));
        }
    }
}

/// One producer for the whole bench, as a live shop's producers are long-lived:
/// one made for each load spent its first second or so starting (metadata,
/// its idempotent producer id) with the load's first records waiting, which
/// the freshness figures then counted against the pipeline.
struct Producing {
    producer: ThreadedProducer<Timed>,
    timed: Timed,
}

impl Producing {
    fn new(brokers: &str) -> Producing {
        let timed = Timed::default();
        let mut config = producer_config(brokers);
        config.set("queue.buffering.max.messages", "1000000");
        let producer = config.create_with_context(timed.clone()).unwrap();
        Producing { producer, timed }
    }

    /// Sends `records` (at `rate` a second, or as fast as they go) and waits for
    /// every delivery: (records sent, how long it took, their deliveries).
    fn produce(
        &self,
        prefix: &str,
        records: impl Iterator<Item = (Topic, String, String)>,
        rate: Option<f64>,
    ) -> (u64, Duration, Vec<Delivery>) {
        self.timed.0.lock().unwrap().clear();
        let started = Instant::now();
        let mut sent = 0u64;
        for (topic, key, value) in records {
            let topic = topic.prefixed(prefix);
            let mut record = BaseRecord::with_opaque_to(&topic, Box::new(Instant::now())).key(&key).payload(&value);
            loop {
                match self.producer.send(record) {
                    Ok(()) => break,
                    Err((_, back)) => {
                        record = back;
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            }
            sent += 1;
            if let Some(rate) = rate {
                let due = Duration::from_secs_f64(sent as f64 / rate);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
        }
        self.producer.flush(Duration::from_secs(300)).unwrap();
        (sent, started.elapsed(), std::mem::take(&mut *self.timed.0.lock().unwrap()))
    }
}

fn create_topics(
    brokers: &str,
    prefix: &str,
    embedded: Option<&MockCluster<'static, rdkafka::producer::DefaultProducerContext>>,
) {
    match embedded {
        Some(cluster) => {
            for topic in Topic::ALL {
                cluster.create_topic(&topic.prefixed(prefix), PARTITIONS, 1).unwrap();
            }
        }
        None => {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let specs = shopflow_ingest::admin::plan(prefix, Some(PARTITIONS), 1);
            runtime.block_on(shopflow_ingest::admin::create_topics(brokers, &specs)).unwrap();
            shopflow_ingest::admin::wait_for_topics(brokers, &specs, Duration::from_secs(60)).unwrap();
        }
    }
}

/// Reads and decodes every record of the source topics; returns (records, their bytes, seconds).
fn raw_ceiling(brokers: &str, prefix: &str, expected: u64) -> (u64, u64, f64) {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (brokers, prefix) = (brokers.to_string(), prefix.to_string());
            std::thread::spawn(move || {
                let consumer: BaseConsumer = ClientConfig::new()
                    .set("bootstrap.servers", &brokers)
                    .set("group.id", "bench-raw")
                    .set("enable.auto.commit", "false")
                    .set("fetch.max.bytes", "52428800")
                    .set("max.partition.fetch.bytes", "10485760")
                    .create()
                    .unwrap();
                let mut list = TopicPartitionList::new();
                let mut n = 0;
                for topic in Topic::SOURCES {
                    for partition in 0..PARTITIONS {
                        if n % threads == t {
                            list.add_partition_offset(&topic.prefixed(&prefix), partition, Offset::Beginning).unwrap();
                        }
                        n += 1;
                    }
                }
                consumer.assign(&list).unwrap();
                let (mut read, mut bytes, mut idle) = (0u64, 0u64, Instant::now());
                while idle.elapsed() < Duration::from_secs(2) {
                    if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
                        let topic = message.topic().strip_prefix(&prefix).unwrap_or("").to_string();
                        let _ = std::hint::black_box(Envelope::decode_record(
                            &topic,
                            message.key(),
                            message.payload().unwrap_or_default(),
                        ));
                        read += 1;
                        bytes += (message.key_len() + message.payload_len()) as u64;
                        idle = Instant::now();
                    }
                }
                (read, bytes, idle)
            })
        })
        .collect();
    let (mut read, mut bytes) = (0, 0);
    let mut last = started;
    for handle in handles {
        let (r, b, idle) = handle.join().unwrap();
        read += r;
        bytes += b;
        last = last.max(idle);
    }
    assert!(read >= expected, "the raw reader saw {read} of {expected} records");
    (read, bytes, (last - started).as_secs_f64())
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Waits for `child` (`what`: for a failure's message) while sampling its
/// resident memory; its peak in KiB. A failure panics with its log's end.
fn wait_measured(mut child: std::process::Child, what: &str) -> u64 {
    let mut peak = 0;
    let status = loop {
        if let Some(kib) = peak_rss_kib(child.id()) {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if !status.success() {
        let log = std::fs::read_to_string(log_path()).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(15).collect();
        panic!("{what} failed; its log ends:\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
    }
    peak
}

fn pipeline_command(brokers: &str, prefix: &str, namespace: &str) -> Command {
    let binary = std::env::var_os("BENCH_BINARY").unwrap_or_else(|| env!("CARGO_BIN_EXE_shopflow").into());
    let mut command = Command::new(binary);
    command
        .env("SHOPFLOW_BROKERS", brokers)
        .env("SHOPFLOW_TOPIC_PREFIX", prefix)
        .env("SHOPFLOW_NAMESPACE", namespace)
        .env("SHOPFLOW_CLICKHOUSE_DATABASE", namespace)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log_path()).map(Stdio::from).unwrap_or_else(|_| Stdio::null()));
    command
}

/// Where the pipeline's log goes (shown when it fails).
fn log_path() -> std::path::PathBuf {
    std::env::temp_dir().join("shopflow-bench-pipeline.log")
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` lists benchmarks: this is one, run by `cargo bench`.
    }
    let events: u64 = env("BENCH_EVENTS", "1000000").parse().expect("BENCH_EVENTS is a number");
    let workers = env("SHOPFLOW_WORKERS", "2");
    let embedded = match std::env::var("SHOPFLOW_BROKERS") {
        Ok(_) => None,
        Err(_) => Some(MockCluster::new(1).expect("embedded broker")),
    };
    let brokers = match &embedded {
        Some(cluster) => cluster.bootstrap_servers(),
        None => env("SHOPFLOW_BROKERS", ""),
    };
    let broker_name = if embedded.is_some() { "embedded librdkafka mock broker" } else { "SHOPFLOW_BROKERS" };
    let stamp = chrono::Utc::now().timestamp_millis();
    let prefix = format!("bench{stamp}.");
    let namespace = format!("bench{stamp}");
    println!(
        "broker: {broker_name} ({brokers}); {events} events; {workers} workers; {PARTITIONS} partitions per topic"
    );
    create_topics(&brokers, &prefix, embedded.as_ref());

    // 1. Load.
    let config =
        GeneratorConfig { seed: 1, users: 20_000, products: 5_000, events: Some(events), ..Default::default() };
    // Where the history ends in event time: a live load comes after it.
    let mut history_end = config.start;
    let records = Generator::new(config).map(|r| {
        history_end = history_end.max(event_time(&r.value).unwrap_or(history_end));
        (r.topic, r.key, r.value)
    });
    let producing = Producing::new(&brokers);
    let (sent, took, _) = producing.produce(&prefix, records, None);
    println!(
        "produce: {sent} records in {:.1} s = {:.0} records/s",
        took.as_secs_f64(),
        sent as f64 / took.as_secs_f64()
    );

    // 2. The raw ceiling.
    let (read, bytes, seconds) = raw_ceiling(&brokers, &prefix, sent);
    let raw_rate = read as f64 / seconds;
    println!("raw ceiling (rdkafka consume + decode, {} threads): {read} records ({:.0} MB) in {seconds:.1} s = {raw_rate:.0} records/s, {:.1} MB/s",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2), bytes as f64 / 1e6, bytes as f64 / 1e6 / seconds);

    // 3. The pipeline, start to exit.
    let started = Instant::now();
    let child = pipeline_command(&brokers, &prefix, &namespace)
        .args(["pipeline", "--exit-when-caught-up", "--workers", &workers])
        .spawn()
        .unwrap();
    let peak = wait_measured(child, "the pipeline");
    let seconds = started.elapsed().as_secs_f64();
    let rate = sent as f64 / seconds;
    println!(
        "pipeline (whole process, every view, Redis + ClickHouse published): {sent} records in {seconds:.1} s = {rate:.0} records/s; \
         ratio to raw ceiling {:.2}; peak RSS {:.0} MiB",
        rate / raw_rate,
        peak as f64 / 1024.0
    );

    // 6. (run now, before freshness adds records) The data engineers' tools.
    if env("BENCH_DATA_TOOLS", "1") != "0" {
        let figure = |what: &str, started: Instant, peak: u64| {
            let seconds = started.elapsed().as_secs_f64();
            println!(
                "{what}: {sent} records in {seconds:.1} s = {:.0} records/s, {:.1} MB/s; ratio to raw ceiling {:.2}; peak RSS {:.0} MiB",
                sent as f64 / seconds,
                bytes as f64 / 1e6 / seconds,
                sent as f64 / seconds / raw_rate,
                peak as f64 / 1024.0
            );
        };
        let started = Instant::now();
        let replay = format!("{namespace}_replay");
        let child = pipeline_command(&brokers, &prefix, &namespace)
            .args(["replay", "--into", &replay, "--workers", &workers])
            .spawn()
            .unwrap();
        figure("replay (every view into a namespace of its own)", started, wait_measured(child, "the replay"));
        for format in ["parquet", "arrow", "ndjson"] {
            let dir = std::env::temp_dir().join(format!("{namespace}-export-{format}"));
            let started = Instant::now();
            let child = pipeline_command(&brokers, &prefix, &namespace)
                .args(["export", "--to", dir.to_str().unwrap(), "--format", format])
                .spawn()
                .unwrap();
            let peak = wait_measured(child, "the export");
            figure(&format!("export --format {format}"), started, peak);
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    // 4. Freshness: the pipeline running live, records produced at a steady rate.
    let seconds_of_load: f64 = env("BENCH_LOAD_SECONDS", "20").parse().expect("BENCH_LOAD_SECONDS is a number");
    let mut child =
        pipeline_command(&brokers, &prefix, &namespace).args(["pipeline", "--workers", &workers]).spawn().unwrap();
    let redis = redis::Client::open(env("SHOPFLOW_REDIS_URL", "redis://127.0.0.1:6379/")).unwrap();
    let mut connection = redis.get_connection().unwrap();
    let current_key = format!("{namespace}:current");
    // Wait until the restarted pipeline has caught up (its generation is current).
    let before: Option<String> = redis::cmd("GET").arg(&current_key).query(&mut connection).unwrap();
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let now: Option<String> = redis::cmd("GET").arg(&current_key).query(&mut connection).unwrap();
        if now.is_some() && now != before {
            break;
        }
        assert!(Instant::now() < deadline, "the pipeline never caught up");
        std::thread::sleep(Duration::from_millis(50));
    }
    let generation: String = redis::cmd("GET").arg(&current_key).query(&mut connection).unwrap();
    let meta = format!("{namespace}:{generation}:meta");
    // Each load is another seed's traffic on the history's shop, after everything produced before
    // in event time (what a live shop receives), and starts on a pipeline that has caught up.
    let mut seeds = 10u64..;
    let mut start = history_end.plus(60_000_000_000);
    let mut load = |offered: f64, seconds: f64| {
        let events = ((offered * seconds) as u64).max(1);
        let config = GeneratorConfig {
            seed: seeds.next().unwrap(),
            users: 20_000,
            products: 5_000,
            events: Some(events),
            start,
            existing_shop: true,
            ..Default::default()
        };
        let (seen, end) = freshness(&producing, &prefix, &redis, &meta, config, offered);
        start = end.plus(60_000_000_000);
        seen
    };
    let offered: Vec<f64> = match std::env::var("BENCH_OFFERED") {
        // Given rates: each measured as it is.
        Ok(list) => list.split(',').map(|r| r.trim().parse().expect("BENCH_OFFERED: rates, comma-separated")).collect(),
        // Otherwise the maximum sustained rate, searched for, and half of it.
        Err(_) => {
            let sustained = max_sustained(rate, |offered| {
                let seen = load(offered, seconds_of_load);
                println!("  {offered:.0} records/s offered: {}", seen.summary());
                seen.keeps_up()
            });
            println!(
                "maximum sustained rate: {sustained:.0} records/s (the highest offered that the pipeline kept up with)"
            );
            vec![sustained / 2.0]
        }
    };
    for offered in offered {
        let seen = load(offered, seconds_of_load);
        println!("freshness at {offered:.0} records/s offered: {}", seen.summary());
    }
    // A quiet shop: 20 records a second for 10 seconds.
    println!("freshness at 20 records/s offered (a quiet shop): {}", load(20.0, 10.0).summary());
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
}

/// When the published offsets changed, and to what.
type Observation = (Instant, BTreeMap<String, BTreeMap<i32, i64>>);

/// Produces `events` records of generator seed `seed` at `rate` a second and
/// returns, for each, when it was sent (seconds into the load) and the
/// milliseconds from its send to the first time the published offsets
/// (`meta`'s `offsets`) cover it.
fn freshness(
    producing: &Producing,
    prefix: &str,
    redis: &redis::Client,
    meta: &str,
    config: GeneratorConfig,
    rate: f64,
) -> (Seen, EventTime) {
    let observations = Arc::new(Mutex::new(Vec::<Observation>::new()));
    let watching = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let watcher = {
        let (observations, watching, redis, meta) =
            (observations.clone(), watching.clone(), redis.clone(), meta.to_string());
        std::thread::spawn(move || {
            let mut connection = redis.get_connection().unwrap();
            let mut last = String::new();
            while watching.load(std::sync::atomic::Ordering::SeqCst) {
                let offsets: String =
                    redis::cmd("HGET").arg(&meta).arg("offsets").query(&mut connection).unwrap_or_default();
                if offsets != last {
                    let parsed = serde_json::from_str(&offsets).unwrap_or_default();
                    observations.lock().unwrap().push((Instant::now(), parsed));
                    last = offsets;
                }
                std::thread::sleep(Duration::from_micros(500));
            }
        })
    };
    let mut end = config.start;
    let records = Generator::new(config).map(|r| {
        end = end.max(event_time(&r.value).unwrap_or(end));
        (r.topic, r.key, r.value)
    });
    let (_, _, deliveries) = producing.produce(prefix, records, Some(rate));
    // Until every record sent is covered by the published offsets (or two minutes pass):
    // the next measurement starts on a pipeline that has caught up.
    let covered = |observations: &[Observation]| {
        let Some((_, latest)) = observations.last() else { return false };
        deliveries.iter().all(|(topic, partition, offset, _)| {
            latest.get(topic).and_then(|parts| parts.get(partition)).is_some_and(|next| next > offset)
        })
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while !covered(&observations.lock().unwrap()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    watching.store(false, std::sync::atomic::Ordering::SeqCst);
    watcher.join().unwrap();
    let observations = observations.lock().unwrap();
    let first = deliveries.iter().map(|d| d.3).min();
    let mut seen = Seen { sent: deliveries.len(), visible: Vec::new() };
    for (topic, partition, offset, sent_at) in deliveries.iter() {
        let found = observations.iter().find(|(at, covered)| {
            *at >= *sent_at
                && covered.get(topic).and_then(|parts| parts.get(partition)).is_some_and(|next| next > offset)
        });
        if let (Some((at, _)), Some(first)) = (found, first) {
            seen.visible.push(((*sent_at - first).as_secs_f64(), (*at - *sent_at).as_secs_f64() * 1000.0));
        }
    }
    seen.visible.sort_by(|a, b| a.0.total_cmp(&b.0));
    (seen, end)
}

/// What one load saw: records sent, and for each one that became visible,
/// (seconds since the first send, milliseconds from send to visible), in send order.
struct Seen {
    sent: usize,
    visible: Vec<(f64, f64)>,
}

impl Seen {
    /// The latencies of the records sent in `part` (a fraction range of the load's records), sorted.
    fn latencies(&self, part: std::ops::Range<f64>) -> Vec<f64> {
        let n = self.visible.len() as f64;
        let (from, to) = ((n * part.start) as usize, (n * part.end) as usize);
        let mut latencies: Vec<f64> = self.visible[from..to].iter().map(|v| v.1).collect();
        latencies.sort_by(f64::total_cmp);
        latencies
    }

    /// Whether the pipeline kept up: every record became visible, and those of the
    /// load's last third within [`KEPT_UP_MS`] at the 99th percentile (a backlog that
    /// grows shows there first).
    fn keeps_up(&self) -> bool {
        let last = self.latencies(2.0 / 3.0..1.0);
        self.visible.len() == self.sent && !last.is_empty() && percentile(&last, 0.99) <= KEPT_UP_MS
    }

    fn summary(&self) -> String {
        let all = self.latencies(0.0..1.0);
        if all.is_empty() {
            return format!("no record of {} became visible", self.sent);
        }
        let last = self.latencies(2.0 / 3.0..1.0);
        format!(
            "produce → visible in Redis p50 {:.1} ms, p99 {:.1} ms ({} of {} records visible; last third p50 {:.1} ms, p99 {:.1} ms)",
            percentile(&all, 0.5),
            percentile(&all, 0.99),
            self.visible.len(),
            self.sent,
            percentile(&last, 0.5),
            percentile(&last, 0.99),
        )
    }
}

/// A load the pipeline keeps up with shows no growing backlog: the records of
/// its last third visible within this many milliseconds at the 99th percentile.
const KEPT_UP_MS: f64 = 1000.0;

/// The highest rate for which `keeps_up` holds, within 10%: from an eighth of
/// the catch-up rate `catch_up`, doubling while it holds (halving while it does
/// not), then halving the gap between the last rate kept up with and the first
/// not. 0 when not even 50 records a second are kept up with.
fn max_sustained(catch_up: f64, mut keeps_up: impl FnMut(f64) -> bool) -> f64 {
    let mut offered = (catch_up / 8.0).max(100.0);
    let (mut good, mut bad) = if keeps_up(offered) {
        loop {
            let next = offered * 2.0;
            if next > catch_up * 2.0 {
                return offered;
            }
            if !keeps_up(next) {
                break (offered, next);
            }
            offered = next;
        }
    } else {
        loop {
            let next = offered / 2.0;
            if next < 50.0 {
                return 0.0;
            }
            if keeps_up(next) {
                break (next, offered);
            }
            offered = next;
        }
    };
    while bad - good > bad * 0.1 {
        let middle = (good + bad) / 2.0;
        if keeps_up(middle) {
            good = middle;
        } else {
            bad = middle;
        }
    }
    good
}
