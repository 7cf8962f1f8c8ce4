//! `shopflow mirror` between two real brokers: the project's broker and a
//! second tansu started by the test. Every record arrives in the same
//! partition, in the same order, with its key and value (so its event id)
//! unchanged; a re-run copies nothing; after more events, only those.

mod support;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};
use support::{free_port, Running, Space};

/// A second broker: tansu in memory on a free port, as `scripts/services` runs the first.
fn second_broker() -> (String, Running) {
    let port = free_port();
    let running = support::start_tansu(port, &format!("memory://mirror{port}/"), &std::env::temp_dir(), Stdio::null());
    (format!("127.0.0.1:{port}"), running)
}

type Records = BTreeMap<(String, i32), Vec<(Option<Vec<u8>>, Option<Vec<u8>>)>>;

/// Every record of `topics` (3 partitions each) on `brokers`, per partition in offset order,
/// read until nothing more has come for two seconds.
fn records(brokers: &str, topics: &[String]) -> Records {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "mirror-test")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    for topic in topics {
        for partition in 0..3 {
            assignment.add_partition_offset(topic, partition, Offset::Beginning).unwrap();
        }
    }
    consumer.assign(&assignment).unwrap();
    let mut out = Records::new();
    let mut last = Instant::now();
    while last.elapsed() < Duration::from_secs(2) {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message.unwrap();
            let topic = message.topic().split_once('.').map_or(message.topic(), |(_, t)| t).to_string();
            let record = (message.key().map(<[u8]>::to_vec), message.payload().map(<[u8]>::to_vec));
            out.entry((topic, message.partition())).or_default().push(record);
            last = Instant::now();
        }
    }
    out
}

/// The number a line of `mirror`'s output gives before `what` in its last line.
fn total(stdout: &[u8], what: &str) -> u64 {
    let text = String::from_utf8_lossy(stdout);
    let last = text.lines().last().unwrap_or_default().to_string();
    let before = last.split(what).next().unwrap().trim_end();
    before.rsplit([' ', ',']).next().unwrap().parse().unwrap_or_else(|_| panic!("{what} in {last:?}"))
}

#[test]
fn a_mirror_copies_each_record_once_into_its_partition() {
    let (to_brokers, _broker) = second_broker();
    let space = Space::new("mirror");
    space.run_ok(&["topics", "create", "--partitions", "3"]);
    space.run_ok(&["generate", "--quiet", "--seed", "36", "--users", "30", "--products", "15", "--orders", "40"]);
    let topics: Vec<String> =
        ["shop.orders", "shop.users", "shop.carts", "shop.payments"].iter().map(|t| space.topic(t)).collect();
    let source = records(&support::brokers(), &topics);
    let count: usize = source.values().map(Vec::len).sum();
    assert!(count > 100, "too few records to mean much: {count}");

    let out = space.run_ok(&["mirror", "--to-brokers", &to_brokers]);
    assert!(total(&out.stdout, "copied") >= count as u64);
    assert_eq!(records(&to_brokers, &topics), source, "each record in its partition, in order, unchanged");

    // Again: nothing new to copy.
    let out = space.run_ok(&["mirror", "--to-brokers", &to_brokers]);
    assert_eq!(total(&out.stdout, "copied"), 0, "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(records(&to_brokers, &topics), source);

    // More events at the source: only they are copied.
    space.run_ok(&["generate", "--quiet", "--seed", "37", "--users", "10", "--products", "5", "--orders", "10"]);
    let grown = records(&support::brokers(), &topics);
    let out = space.run_ok(&["mirror", "--to-brokers", &to_brokers]);
    let copied = total(&out.stdout, "copied");
    let added: usize = grown.values().map(Vec::len).sum::<usize>() - count;
    assert!(copied as usize >= added && added > 0, "copied {copied}, added on these topics {added}");
    assert_eq!(records(&to_brokers, &topics), grown);

    // Nonsense is refused with a reason.
    let refused =
        space.shopflow().args(["mirror", "--to-brokers", &to_brokers, "--topics", "shop.nope"]).output().unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not a contract topic"));
}
