//! The broker's own freshness floor (`cargo bench --bench broker`).
//!
//! On the broker of `SHOPFLOW_BROKERS`, without the pipeline: fresh topics
//! given a history of `BENCH_HISTORY` generated records (default 1,000,000,
//! as the pipeline bench's), then a shop's live traffic (the generator's,
//! `existing_shop`) produced at each rate of `BENCH_OFFERED` (default
//! `20,2700,5000` records/s) for `BENCH_LOAD_SECONDS` (default 10), with the
//! producer settings of shopflow's writers (one long-lived producer), and read
//! by one consumer per worker (`SHOPFLOW_WORKERS`, default 2) with the
//! pipeline's consumer settings, each of its partitions in its own queue as
//! the pipeline's source reads them (`BENCH_CONSUMER=key=value,…` tries other
//! settings). For each record of a load: the milliseconds from its hand-off to
//! the producer to the broker's acknowledgement, and to a consumer receiving
//! it; p50 and p99 of each. The pipeline bench's freshness is measured from the
//! same hand-off, so this is the part of it that no change to the pipeline can
//! remove.

mod common;

use common::{env, event_time, percentile};
use rdkafka::consumer::base_consumer::PartitionQueue;
use rdkafka::consumer::{BaseConsumer, Consumer, DefaultConsumerContext};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use shopflow_ingest::generate::{Generator, GeneratorConfig};
use shopflow_ingest::producer::producer_config;
use shopflow_ingest::source::consumer_config;
use shopflow_topics::Topic;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PARTITIONS: i32 = 10;

/// (topic, partition, offset).
type Place = (String, i32, i64);

/// Delivery reports: where each record landed, when it was handed off and when acknowledged.
#[derive(Clone, Default)]
struct Acks(Arc<Mutex<Vec<(Place, Instant, Instant)>>>);

impl ClientContext for Acks {}

impl ProducerContext for Acks {
    type DeliveryOpaque = Box<Instant>;

    fn delivery(&self, result: &DeliveryResult<'_>, sent: Box<Instant>) {
        if let Ok(message) = result {
            let place = (message.topic().to_string(), message.partition(), message.offset());
            self.0.lock().unwrap().push((place, *sent, Instant::now()));
        }
    }
}

fn summary(mut millis: Vec<f64>) -> String {
    if millis.is_empty() {
        return "none".to_string();
    }
    millis.sort_by(f64::total_cmp);
    format!(
        "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&millis, 0.5),
        percentile(&millis, 0.99),
        millis[millis.len() - 1]
    )
}

/// When each record was received, by place.
type Received = Arc<Mutex<HashMap<Place, Instant>>>;

/// Reads `partitions` from their beginning as the pipeline's source does (each
/// in its own queue) until `reading` is cleared, noting when each record arrived.
fn consume(brokers: String, partitions: Vec<(String, i32)>, reading: Arc<AtomicBool>, received: Received) {
    let mut config = consumer_config(&brokers, "bench-broker");
    for setting in env("BENCH_CONSUMER", "").split(',').filter(|s| !s.is_empty()) {
        let (key, value) = setting.split_once('=').expect("BENCH_CONSUMER: key=value pairs");
        config.set(key, value);
    }
    let consumer: Arc<BaseConsumer> = Arc::new(config.create().unwrap());
    let mut list = TopicPartitionList::new();
    for (topic, partition) in &partitions {
        list.add_partition_offset(topic, *partition, Offset::Beginning).unwrap();
    }
    consumer.assign(&list).unwrap();
    let queues: Vec<PartitionQueue<DefaultConsumerContext>> = partitions
        .iter()
        .map(|(topic, partition)| consumer.split_partition_queue(topic, *partition).unwrap())
        .collect();
    let mut seen = Vec::new();
    while reading.load(Ordering::SeqCst) {
        let _ = consumer.poll(Duration::ZERO);
        for queue in &queues {
            while let Some(Ok(message)) = queue.poll(Duration::ZERO) {
                seen.push(((message.topic().to_string(), message.partition(), message.offset()), Instant::now()));
            }
        }
        if seen.is_empty() {
            // A short nap keeps this reader from taking a core from the producer.
            std::thread::sleep(Duration::from_micros(200));
        } else {
            received.lock().unwrap().extend(seen.drain(..));
        }
    }
}

/// A record to send: topic, key, value, and the partition when it is chosen.
type Out = (Topic, String, String, Option<i32>);

/// Hands `records` to the producer (at `rate` a second, or as fast as they go)
/// and waits for their delivery; their deliveries.
fn produce(
    producer: &ThreadedProducer<Acks>,
    acks: &Acks,
    prefix: &str,
    records: impl Iterator<Item = Out>,
    rate: Option<f64>,
) -> Vec<(Place, Instant, Instant)> {
    let started = Instant::now();
    for (sent, (topic, key, value, partition)) in records.enumerate() {
        let topic = topic.prefixed(prefix);
        let mut record = BaseRecord::with_opaque_to(&topic, Box::new(Instant::now())).key(&key).payload(&value);
        if let Some(partition) = partition {
            record = record.partition(partition);
        }
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
        if let Some(rate) = rate {
            if let Some(wait) = Duration::from_secs_f64((sent + 1) as f64 / rate).checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    }
    producer.flush(Duration::from_secs(300)).unwrap();
    std::mem::take(&mut *acks.0.lock().unwrap())
}

/// Waits until every one of `acked` has been received (or a minute passes).
fn wait_received(received: &Received, acked: &[(Place, Instant, Instant)]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let missing = {
            let received = received.lock().unwrap();
            acked.iter().filter(|(place, _, _)| !received.contains_key(place)).count()
        };
        if missing == 0 {
            return;
        }
        if Instant::now() >= deadline {
            println!("  ({missing} records acknowledged but not received within a minute)");
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` lists benchmarks: this is one, run by `cargo bench`.
    }
    let brokers = std::env::var("SHOPFLOW_BROKERS").expect("SHOPFLOW_BROKERS: the broker to measure");
    let workers: usize = env("SHOPFLOW_WORKERS", "2").parse().expect("SHOPFLOW_WORKERS is a number");
    let seconds: f64 = env("BENCH_LOAD_SECONDS", "10").parse().expect("BENCH_LOAD_SECONDS is a number");
    let history: u64 = env("BENCH_HISTORY", "1000000").parse().expect("BENCH_HISTORY is a number");
    let rates: Vec<f64> = env("BENCH_OFFERED", "20,2700,5000")
        .split(',')
        .map(|r| r.trim().parse().expect("BENCH_OFFERED: rates separated by commas"))
        .collect();
    println!(
        "broker: SHOPFLOW_BROKERS ({brokers}); {workers} consumers; {PARTITIONS} partitions per topic; {history} records of history"
    );
    let prefix = format!("benchbroker{}.", chrono::Utc::now().timestamp_millis());
    let specs = shopflow_ingest::admin::plan(&prefix, Some(PARTITIONS), 1);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(shopflow_ingest::admin::create_topics(&brokers, &specs)).unwrap();
    shopflow_ingest::admin::wait_for_topics(&brokers, &specs, Duration::from_secs(60)).unwrap();

    // One producer for everything, as a live shop's producers are long-lived.
    let acks = Acks::default();
    let mut config = producer_config(&brokers);
    config.set("queue.buffering.max.messages", "1000000");
    let producer: ThreadedProducer<Acks> = config.create_with_context(acks.clone()).unwrap();
    let shop = GeneratorConfig { seed: 1, users: 20_000, products: 5_000, events: Some(history), ..Default::default() };
    let started = Instant::now();
    let mut end = shop.start;
    let records = Generator::new(shop).map(|r| {
        end = end.max(event_time(&r.value).unwrap_or(end));
        (r.topic, r.key, r.value, None)
    });
    let produced = produce(&producer, &acks, &prefix, records, None).len();
    // Every partition gets one more record, so that the consumers are seen fetching each one
    // before a load starts (a partition's first fetch waits for its leader to be known).
    let warm_ups = Topic::INPUTS.iter().flat_map(|topic| {
        (0..PARTITIONS).map(|partition| (*topic, "warm-up".to_string(), "{}".to_string(), Some(partition)))
    });
    let warm_ups = produce(&producer, &acks, &prefix, warm_ups, None);

    // Every source partition, dealt to the consumers as the pipeline deals them to workers.
    let mut shares: Vec<Vec<(String, i32)>> = vec![Vec::new(); workers];
    let mut n = 0;
    for topic in Topic::INPUTS {
        for partition in 0..PARTITIONS {
            shares[n % workers].push((topic.prefixed(&prefix), partition));
            n += 1;
        }
    }
    let reading = Arc::new(AtomicBool::new(true));
    let received: Received = Arc::default();
    let readers: Vec<_> = shares
        .into_iter()
        .map(|share| {
            let (brokers, reading, received) = (brokers.clone(), reading.clone(), received.clone());
            std::thread::spawn(move || consume(brokers, share, reading, received))
        })
        .collect();
    wait_received(&received, &warm_ups);
    println!("history: {produced} records produced and read back in {:.1} s", started.elapsed().as_secs_f64());

    for (round, rate) in rates.into_iter().enumerate() {
        let load = GeneratorConfig {
            seed: 100 + round as u64,
            users: 20_000,
            products: 5_000,
            events: Some((rate * seconds) as u64),
            start: end.plus(60_000_000_000),
            existing_shop: true,
            ..Default::default()
        };
        let records = Generator::new(load).map(|r| {
            end = end.max(event_time(&r.value).unwrap_or(end));
            (r.topic, r.key, r.value, None)
        });
        let acked = produce(&producer, &acks, &prefix, records, Some(rate));
        wait_received(&received, &acked);
        let received = received.lock().unwrap();
        let to_ack: Vec<f64> = acked.iter().map(|(_, sent, acked)| (*acked - *sent).as_secs_f64() * 1000.0).collect();
        let to_read: Vec<f64> = acked
            .iter()
            .filter_map(|(place, sent, _)| received.get(place).map(|at| (*at - *sent).as_secs_f64() * 1000.0))
            .collect();
        println!(
            "{rate:.0} records/s offered for {seconds:.0} s: {} acknowledged, {} received; \
             hand-off → acknowledged {}; hand-off → received {}",
            acked.len(),
            to_read.len(),
            summary(to_ack),
            summary(to_read)
        );
    }
    reading.store(false, Ordering::SeqCst);
    for reader in readers {
        reader.join().unwrap();
    }
}
