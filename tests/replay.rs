//! `shopflow replay` against the real broker, Redis and ClickHouse: a
//! replay as of a time, or of a window of event time, builds exactly what
//! the pipeline builds from only those events, in its own namespace, and
//! leaves the live generation as it was.

mod support;

use shopflow_ingest::producer::RecordProducer;
use shopflow_topics::{Envelope, EventTime};
use std::collections::BTreeMap;
use std::time::Duration;
use support::{temp_path, Space};

/// Topics, then a seeded workload; returns the generated records (NDJSON lines).
fn load(space: &Space, generate: &[&str]) -> Vec<serde_json::Value> {
    space.run_ok(&["topics", "create", "--partitions", "3"]);
    let file = temp_path(&format!("{}.ndjson", space.name));
    space.run_ok(&[&["generate", "--quiet", "--out", file.to_str().unwrap()], generate].concat());
    space.run_ok(&[&["generate", "--quiet"], generate].concat());
    let records = std::fs::read_to_string(&file).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let _ = std::fs::remove_file(file);
    records
}

/// The event time of a record, if it decodes.
fn time_of(record: &serde_json::Value) -> Option<EventTime> {
    Envelope::decode(record["value"].as_str().unwrap().as_bytes()).ok().map(|e| e.time)
}

/// What the pipeline builds from only the records whose time `keep` accepts:
/// they go to a space of their own, which the pipeline then reads.
fn reference(name: &str, records: &[serde_json::Value], keep: impl Fn(EventTime) -> bool) -> Space {
    let space = Space::new(name);
    space.run_ok(&["topics", "create", "--partitions", "3"]);
    let producer = RecordProducer::new(&support::brokers()).unwrap();
    let mut sent = 0;
    for record in records {
        if time_of(record).is_some_and(&keep) {
            let topic = space.topic(record["topic"].as_str().unwrap());
            let value = record["value"].as_str().unwrap().as_bytes();
            producer.send(&topic, record["key"].as_str().unwrap_or_default(), value).unwrap();
            sent += 1;
        }
    }
    producer.flush(Duration::from_secs(60)).unwrap();
    assert!(sent > 100, "too few events in the range to mean much: {sent}");
    space.run_ok(&["pipeline", "--exit-when-caught-up"]);
    space
}

/// The live generation as readers see it: its name, its `asOf`, its objects.
fn live(space: &Space) -> (String, BTreeMap<String, String>, BTreeMap<String, String>) {
    let (generation, objects) = space.redis_objects();
    let client = redis::Client::open(support::redis_url()).unwrap();
    let mut connection = client.get_connection().unwrap();
    let meta: BTreeMap<String, String> =
        redis::cmd("HGETALL").arg(format!("{}:{generation}:meta", space.name)).query(&mut connection).unwrap();
    assert!(meta.contains_key("asOf") && meta.contains_key("offsets"), "{meta:?}");
    (generation, meta, objects)
}

/// The offsets a generation covers (its `meta`), as `--to-offsets` takes them.
fn offsets_of(space: &Space, meta: &BTreeMap<String, String>) -> String {
    let offsets: BTreeMap<String, BTreeMap<String, i64>> = serde_json::from_str(&meta["offsets"]).unwrap();
    let prefix = format!("{}.", space.name);
    let mut parts = Vec::new();
    for (topic, partitions) in offsets {
        for (partition, next) in partitions {
            parts.push(format!("{}:{partition}={next}", topic.strip_prefix(&prefix).unwrap()));
        }
    }
    assert!(parts.len() >= 11, "every source partition: {parts:?}");
    parts.join(",")
}

#[test]
fn a_replay_builds_the_past_beside_the_live_generation() {
    let space = Space::new("replay");
    let records = load(&space, &["--seed", "33", "--users", "50", "--products", "20", "--orders", "100"]);
    space.run_ok(&["pipeline", "--exit-when-caught-up"]);
    let before = live(&space);
    let live_analytics = space.clickhouse_relations();

    let mut times: Vec<EventTime> = records.iter().filter_map(time_of).collect();
    times.sort();
    let (early, late) = (times[times.len() / 3], times[times.len() * 2 / 3]);

    // As of a time: every event at or before it.
    for (i, at) in [early, late].into_iter().enumerate() {
        let expected = reference(&format!("asof{i}"), &records, |t| t <= at);
        let into = format!("{}_asof{i}", space.name);
        let out = space.run_ok(&["replay", "--as-of", &at.to_string(), "--into", &into]);
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(said.contains(&format!("shopflow serve --namespace {into}")), "{said}");
        let replayed = Space::named(into);
        let (_, got) = replayed.redis_objects();
        let (_, want) = expected.redis_objects();
        assert!(got.keys().filter(|k| k.starts_with("order:")).count() > 10, "as of {at}: too few orders");
        assert_ne!(got, before.2, "as of {at}: the past should differ from now");
        let diff = Space::object_differences(&want, &got);
        assert!(diff.is_empty(), "as of {at}: replay and pipeline over those events differ:\n{}", diff.join("\n"));
        assert_eq!(replayed.clickhouse_relations(), expected.clickhouse_relations(), "as of {at}: ClickHouse");
    }

    // A window of event time.
    let expected = reference("window", &records, |t| early <= t && t <= late);
    let into = format!("{}_window", space.name);
    space.run_ok(&["replay", "--from-time", &early.to_string(), "--to-time", &late.to_string(), "--into", &into]);
    let replayed = Space::named(into);
    let diff = Space::object_differences(&expected.redis_objects().1, &replayed.redis_objects().1);
    assert!(diff.is_empty(), "window: replay and pipeline over those events differ:\n{}", diff.join("\n"));

    // The live generation: untouched.
    assert_eq!(live(&space), before, "a replay changed the live generation");
    assert_eq!(space.clickhouse_relations(), live_analytics, "a replay changed the live ClickHouse database");

    // By offsets: more events arrive after the live generation was built. A replay up to the
    // offsets that generation covers builds it again; one from there builds the new events alone.
    let covered = offsets_of(&space, &before.1);
    let file = temp_path(&format!("{}-more.ndjson", space.name));
    let more = ["--seed", "34", "--users", "30", "--products", "10", "--orders", "60"];
    space.run_ok(&[&["generate", "--quiet", "--out", file.to_str().unwrap()], &more[..]].concat());
    space.run_ok(&[&["generate", "--quiet"], &more[..]].concat());
    let added: Vec<serde_json::Value> =
        std::fs::read_to_string(&file).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let _ = std::fs::remove_file(file);
    let into = format!("{}_upto", space.name);
    space.run_ok(&["replay", "--to-offsets", &covered, "--into", &into]);
    let diff = Space::object_differences(&before.2, &Space::named(into).redis_objects().1);
    assert!(diff.is_empty(), "up to the live generation's offsets: differs from it:\n{}", diff.join("\n"));
    let expected = reference("added", &added, |_| true);
    let into = format!("{}_since", space.name);
    space.run_ok(&["replay", "--from-offsets", &covered, "--into", &into]);
    let diff = Space::object_differences(&expected.redis_objects().1, &Space::named(into).redis_objects().1);
    assert!(
        diff.is_empty(),
        "from the live generation's offsets: differs from the new events alone:\n{}",
        diff.join("\n")
    );

    // Refusals, each naming what is wrong.
    let refused = |args: &[&str], says: &str| {
        let out = space.shopflow().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(says), "{args:?}: {stderr}");
    };
    refused(&["replay", "--into", &space.name], "live namespace");
    refused(&["replay", "--into", &format!("{}_window", space.name)], "already holds a build");
    refused(&["replay", "--into", "x", "--as-of", "yesterday"], "RFC 3339");
    let (early, late) = (early.to_string(), late.to_string());
    refused(&["replay", "--into", "x2", "--from-time", &late, "--to-time", &early], "after the end");
}
