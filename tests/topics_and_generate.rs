//! `shopflow topics` and `shopflow generate` against the real broker.

mod support;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use shopflow_topics::{Envelope, Topic};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use support::{brokers, run_ok, shopflow, temp_path};

#[test]
fn topics_create_is_idempotent_and_follows_the_registry() {
    let brokers = brokers();
    run_ok(&["topics", "create", "--brokers", &brokers]);
    let again = run_ok(&["topics", "create", "--brokers", &brokers]);
    let text = String::from_utf8(again.stdout).unwrap();
    for topic in Topic::ALL {
        let line = text.lines().find(|l| l.starts_with(topic.name())).unwrap_or_else(|| panic!("{topic} missing"));
        assert!(line.contains("exists"), "second create must find {topic}: {line}");
    }
    let listed = String::from_utf8(run_ok(&["topics", "list", "--brokers", &brokers]).stdout).unwrap();
    for topic in Topic::ALL {
        let line = listed.lines().find(|l| l.split_whitespace().next() == Some(topic.name())).unwrap();
        assert!(line.contains("partitions=10"), "{line}");
    }
}

#[test]
fn generate_with_the_same_seed_writes_identical_ndjson() {
    let (a, b) = (temp_path("seed7-a.ndjson"), temp_path("seed7-b.ndjson"));
    run_ok(&["generate", "--seed", "7", "--quiet", "--out", a.to_str().unwrap()]);
    run_ok(&["generate", "--seed", "7", "--quiet", "--out", b.to_str().unwrap()]);
    let (a, b) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    assert!(a.len() > 100_000, "a small but real workload");
    assert!(a == b, "same seed, different bytes");
    let c = temp_path("seed8.ndjson");
    run_ok(&["generate", "--seed", "8", "--quiet", "--out", c.to_str().unwrap()]);
    assert!(std::fs::read(c).unwrap() != a);
}

#[test]
fn generate_rejects_bad_knobs_naming_the_flag() {
    let output = shopflow().args(["generate", "--duplicates", "1.5", "--out", "-"]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--duplicates") && stderr.contains("between 0 and 1"), "{stderr}");
}

/// Everything `generate` produced is on the broker: each record on its topic,
/// keyed by its subject, byte for byte, and one key always on one partition.
#[test]
fn generate_produces_every_record_to_its_topic_keyed_by_subject() {
    let brokers = brokers();
    run_ok(&["topics", "create", "--brokers", &brokers]);
    let args = ["generate", "--seed", "4242", "--users", "50", "--products", "30", "--orders", "40", "--quiet"];
    let file = temp_path("seed4242.ndjson");
    run_ok(&[&args[..], &["--out", file.to_str().unwrap()]].concat());
    run_ok(&[&args[..], &["--brokers", &brokers]].concat());

    // What should be there: (topic, key, value) with multiplicity.
    let mut expected: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    for line in std::fs::read_to_string(&file).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let key = (
            v["topic"].as_str().unwrap().into(),
            v["key"].as_str().unwrap().into(),
            v["value"].as_str().unwrap().into(),
        );
        *expected.entry(key).or_default() += 1;
    }
    let total: usize = expected.values().sum();

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", "shopflow-test-readback")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    for topic in Topic::SOURCES {
        for partition in 0..10 {
            assignment.add_partition_offset(topic.name(), partition, Offset::Beginning).unwrap();
        }
    }
    consumer.assign(&assignment).unwrap();

    let mut found: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    let mut partition_of_key: BTreeMap<(String, String), BTreeSet<i32>> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    // The broker may hold earlier runs of this seed; stop once every expected record was seen.
    while expected.iter().any(|(k, n)| found.get(k).copied().unwrap_or(0) < *n) {
        assert!(Instant::now() < deadline, "only {} of {total} records came back", found.values().sum::<usize>());
        let Some(message) = consumer.poll(Duration::from_millis(500)) else { continue };
        let message = message.unwrap();
        let value = String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned();
        let key = String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned();
        let record = (message.topic().to_string(), key.clone(), value);
        if let Some(n) = expected.get(&record) {
            let count = found.entry(record.clone()).or_default();
            *count = (*count + 1).min(*n);
            partition_of_key.entry((record.0.clone(), key)).or_default().insert(message.partition());
            if let Ok(envelope) = Envelope::decode_record(&record.0, Some(record.1.as_bytes()), record.2.as_bytes()) {
                assert_eq!(envelope.key(), record.1);
            }
        }
    }
    for ((topic, key), partitions) in partition_of_key {
        assert_eq!(partitions.len(), 1, "{topic} key {key} on partitions {partitions:?}");
    }
}
