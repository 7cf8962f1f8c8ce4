//! The Kafka source against the real broker: the order in which a replay
//! reads its partitions.

mod support;

use shopflow_ingest::producer::RecordProducer;
use shopflow_ingest::source::operator::{kafka_source, Epoch, KafkaSource, Record, SourceCounters, Wakers};
use shopflow_ingest::source::{self, SourceConfig};
use shopflow_topics::events::{ProductViewed, StockReceived};
use shopflow_topics::{Envelope, EventTime};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::Space;
use timely::dataflow::operators::Probe;
use timely::dataflow::ProbeHandle;

/// What the source read, in the order it handed records on: (topic, partition, offset, event time).
type Read = Vec<(String, i32, i64, i64)>;

/// Reads every source topic of `space` once with one worker, as a replay does.
fn replay(space: &Space, window: Duration) -> Read {
    let config = SourceConfig {
        brokers: support::brokers(),
        topic_prefix: format!("{}.", space.name),
        group_id: space.name.clone(),
        max_epoch_records: 1_000,
        exit_when_caught_up: true,
        idle_timeout: Duration::from_secs(5),
        // Aligned on the window alone: one record's worth of event time is less.
        align_records: 1,
        align_window: window,
        // Long enough that only alignment orders this test's reading.
        align_patience: Duration::from_secs(600),
        times: source::TimeRange::default(),
        dead_letters: true,
        from_offsets: Default::default(),
        to_offsets: Default::default(),
    };
    let partitions = source::partitions(&config).unwrap();
    let targets = source::end_offsets(&config.brokers, &partitions).unwrap();
    let read = Arc::new(Mutex::new(Read::new()));
    let seen = read.clone();
    timely::execute_directly(move |worker| {
        let probe = ProbeHandle::new();
        worker.dataflow::<Epoch, _, _>(|scope| {
            let source = KafkaSource {
                config,
                partitions,
                targets,
                stop: Arc::new(AtomicBool::new(false)),
                counters: Arc::new(SourceCounters::default()),
                probe: probe.clone(),
                wakers: Arc::new(Wakers::default()),
            };
            let streams = kafka_source(scope, source, move |record: Record<'_>| {
                let at = (record.topic.to_string(), record.partition, record.offset, record.envelope.time.0);
                seen.lock().unwrap().push(at);
                ((), ())
            })
            .unwrap();
            streams.records.probe_with(&probe);
        });
        while !probe.done() {
            worker.step_or_park(Some(Duration::from_millis(10)));
        }
    });
    Arc::try_unwrap(read).unwrap().into_inner().unwrap()
}

#[test]
fn a_replay_reads_its_partitions_aligned_in_event_time() {
    let space = Space::new("aligned");
    space.run_ok(&["topics", "create", "--partitions", "1"]);
    // Two topics over the same hour of event time, one written wholly before the
    // other: read in the order they are stored, the second topic's first record
    // would come only after the first topic's last.
    let start = EventTime::parse("2026-11-02T00:00:00Z").unwrap();
    let per_topic = 1_800;
    let producer = RecordProducer::new(&support::brokers()).unwrap();
    let mut stored = 0;
    for i in 0..per_topic {
        let stock =
            StockReceived { product_id: format!("prd-{}", i % 40), warehouse_id: "wh-east".into(), quantity: 1 };
        let envelope = Envelope::new(format!("evt-stock-{i}"), "test", start.plus(i * 2 * EventTime::SECOND), stock);
        producer.send(&space.topic("shop.inventory"), envelope.key(), &envelope.to_json()).unwrap();
        stored += 1;
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    for i in 0..per_topic {
        let view = ProductViewed {
            user_id: None,
            session_id: format!("ses-{}", i % 40),
            product_id: format!("prd-{}", i % 40),
        };
        let envelope = Envelope::new(format!("evt-view-{i}"), "test", start.plus(i * 2 * EventTime::SECOND), view);
        producer.send(&space.topic("shop.clickstream"), envelope.key(), &envelope.to_json()).unwrap();
        stored += 1;
    }
    producer.flush(Duration::from_secs(30)).unwrap();

    let window = Duration::from_secs(20);
    let read = replay(&space, window);

    // Everything once.
    let distinct: BTreeSet<_> = read.iter().map(|(t, p, o, _)| (t.clone(), *p, *o)).collect();
    assert_eq!(distinct.len(), read.len(), "a record was read twice");
    assert_eq!(read.len(), stored, "every stored record is read");

    // Aligned: a partition is read only while its newest event time is within the
    // window of the oldest partition that still has records to read.
    let mut left: BTreeMap<(String, i32), usize> = BTreeMap::new();
    for (topic, partition, _, _) in &read {
        *left.entry((topic.clone(), *partition)).or_default() += 1;
    }
    let window = i64::try_from(window.as_nanos()).unwrap();
    let mut newest: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for (n, (topic, partition, offset, time)) in read.iter().enumerate() {
        let lane = (topic.clone(), *partition);
        let oldest = left
            .iter()
            .filter(|(_, left)| **left > 0)
            .map(|(lane, _)| newest.get(lane).copied().unwrap_or(i64::MIN))
            .min()
            .unwrap();
        let mine = newest.get(&lane).copied().unwrap_or(i64::MIN);
        assert!(
            mine <= oldest.saturating_add(window),
            "record {n} ({topic}[{partition}]@{offset}) was read while its partition stood {} s ahead of the oldest",
            mine.saturating_sub(oldest) / EventTime::SECOND
        );
        newest.insert(lane.clone(), mine.max(*time));
        *left.get_mut(&lane).unwrap() -= 1;
    }
}
