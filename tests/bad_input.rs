//! Records that are bad on purpose, among good ones on one partition, against
//! the real broker, Redis and ClickHouse: each bad one lands in the
//! dead-letter topic with its reason, and everything after it on the
//! partition is processed. A letter copies the original, except one too
//! large for a record of its own: it then says where the original stays.

mod support;

use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use shopflow_topics::Event;
use std::collections::BTreeMap;
use std::time::Duration;
use support::{read_topic, temp_path, Space};

/// A Category.Upserted record of `id`.
fn category(id: &str, n: usize) -> Vec<u8> {
    format!(
        r#"{{"specversion":"1.0","id":"evt-bad-{n}","source":"test","type":"Category.Upserted","time":"2026-11-01T00:00:0{n}.000Z","subject":"{id}","data":{{"categoryId":"{id}","name":"Category {n}","parentId":null}}}}"#
    )
    .into_bytes()
}

/// A Category.Upserted record of `id` at `time`.
fn at_time(id: &str, time: &str) -> Vec<u8> {
    String::from_utf8(category(id, 9)).unwrap().replace("2026-11-01T00:00:09.000Z", time).into_bytes()
}

#[test]
fn a_10_mb_record_one_not_utf8_and_other_bad_records_are_dead_letters_and_the_partition_goes_on() {
    let space = Space::new("bad");
    space.run_ok(&["topics", "create", "--partitions", "1"]);
    let topic = space.topic("shop.catalog");

    // A Product.Created that is valid but for its size: a 10 MiB description.
    let description = "x".repeat(10 << 20);
    let huge = format!(
        r#"{{"specversion":"1.0","id":"evt-bad-huge","source":"test","type":"Product.Created","time":"2026-11-01T00:00:01.500Z","subject":"prd-huge","data":{{"productId":"prd-huge","vendorId":"ven-1","name":"Huge","description":"{description}","categoryId":"cat-a","price":100,"currency":"USD","attributes":{{}},"images":[]}}}}"#
    )
    .into_bytes();
    // A Category.Upserted whose name holds bytes that are not UTF-8.
    let mut not_utf8 = category("cat-x", 2);
    let at = not_utf8.windows(8).position(|w| w == b"Category").unwrap();
    not_utf8[at..at + 2].copy_from_slice(&[0xff, 0xfe]);
    // Nested deeper than any decoder goes.
    let nested = format!(
        r#"{{"specversion":"1.0","id":"evt-bad-deep","source":"test","type":"Category.Upserted","time":"2026-11-01T00:00:03.000Z","subject":"cat-deep","data":{{"categoryId":"cat-deep","name":"Deep","parentId":null,"extra":{}{}}}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    )
    .into_bytes();
    // An id outside the contract's alphabet.
    let bad_id = String::from_utf8(category("cat-y", 4)).unwrap().replace("cat-y", "cat y!").into_bytes();

    let records: Vec<(&str, Vec<u8>, Option<&str>)> = vec![
        ("cat-a", category("cat-a", 0), None),
        ("prd-huge", huge.clone(), Some("too large")),
        ("cat-x", not_utf8.clone(), Some("not valid JSON")),
        ("cat-deep", nested.clone(), Some("not valid JSON")),
        ("cat y!", bad_id.clone(), Some("bad id")),
        ("cat-p", at_time("cat-p", "0001-01-01T00:00:00Z"), Some("time out of range")),
        ("cat-f", at_time("cat-f", "9999-12-31T23:59:59Z"), Some("time out of range")),
        ("cat-c", category("cat-c", 5), None),
    ];
    let producer: ThreadedProducer<_> = ClientConfig::new()
        .set("bootstrap.servers", support::brokers())
        .set("message.max.bytes", (16 << 20).to_string())
        .create()
        .unwrap();
    for (key, value, _) in &records {
        producer.send(BaseRecord::to(&topic).key(key.as_bytes()).payload(value)).map_err(|(e, _)| e).unwrap();
    }
    producer.flush(Duration::from_secs(60)).unwrap();

    space.run_ok(&["pipeline", "--exit-when-caught-up", "--workers", "2"]);

    // One dead letter per bad record, at its offset, with its reason and its bytes.
    let expected: BTreeMap<i64, (&[u8], &str)> = records
        .iter()
        .enumerate()
        .filter_map(|(offset, (_, value, reason))| reason.map(|reason| (offset as i64, (value.as_slice(), reason))))
        .collect();
    let letters = read_topic(&space.topic("shop.dead-letter"), |read| read.len() >= expected.len());
    let letters: BTreeMap<i64, _> = letters
        .into_iter()
        .map(|envelope| match envelope.event {
            Event::DeadLetter(letter) => (letter.offset, letter),
            other => panic!("not a dead letter: {other:?}"),
        })
        .collect();
    assert_eq!(letters.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>(), "one letter per bad record");
    for (offset, (value, reason)) in &expected {
        let letter = &letters[offset];
        eprintln!("bad input: offset {offset}: {}", letter.reason.chars().take(160).collect::<String>());
        assert_eq!((letter.topic.as_str(), letter.partition), (topic.as_str(), 0));
        assert!(letter.reason.contains(reason), "offset {offset}: {:?} does not say {reason:?}", letter.reason);
        if *offset == 1 {
            // Too large to copy as well: the letter says so and where the original stays.
            assert_eq!((&letter.payload, &letter.payload_base64), (&None, &None));
            assert!(letter.reason.contains("not copied"), "{}", letter.reason);
            continue;
        }
        match std::str::from_utf8(value) {
            Ok(text) => {
                assert!(letter.payload.as_deref() == Some(text), "offset {offset}: the payload is the original")
            }
            Err(_) => {
                assert_eq!(letter.payload, None);
                let copied = letter.payload_base64.as_deref().expect("bytes not UTF-8 travel in base64");
                assert_eq!(shopflow_topics::base64::decode(copied).expect("base64"), *value);
            }
        }
    }
    assert!(letters[&1].reason.contains(&huge.len().to_string()), "the size is named: {}", letters[&1].reason);

    // The good records on either side of them were processed.
    let (_, objects) = space.redis_objects();
    assert!(objects.contains_key("category:cat-a"), "{:?}", objects.keys().collect::<Vec<_>>());
    assert!(objects.contains_key("category:cat-c"), "{:?}", objects.keys().collect::<Vec<_>>());
    assert!(!objects.keys().any(|key| key.contains("prd-huge") || key.contains("cat-x")));
    assert_eq!(space.clickhouse_relations()["events"], vec!["2".to_string()]);
}

#[test]
fn a_file_with_a_10_mb_record_and_lines_not_utf8_or_not_records_is_read_to_its_end() {
    let line = |key: &str, value: &[u8]| {
        let value = std::str::from_utf8(value).unwrap();
        serde_json::json!({"topic": "shop.catalog", "key": key, "value": value}).to_string().into_bytes()
    };
    let huge = format!(
        r#"{{"specversion":"1.0","id":"evt-bad-huge","source":"test","type":"Category.Upserted","time":"2026-11-01T00:00:01.000Z","subject":"cat-huge","data":{{"categoryId":"cat-huge","name":"{}","parentId":null}}}}"#,
        "x".repeat(10 << 20)
    );
    let mut not_utf8 = line("cat-x", &category("cat-x", 2));
    let at = not_utf8.windows(8).position(|w| w == b"Category").unwrap();
    not_utf8[at..at + 2].copy_from_slice(&[0xff, 0xfe]);
    let lines: Vec<Vec<u8>> = vec![
        line("cat-a", &category("cat-a", 0)),
        line("cat-huge", huge.as_bytes()),
        not_utf8,
        b"this is not JSON".to_vec(),
        line("cat-c", &category("cat-c", 5)),
    ];
    let file = temp_path("bad-lines.ndjson");
    std::fs::write(&file, lines.join(&b'\n')).unwrap();

    for workers in ["1", "2"] {
        let space = Space::new("bad_file");
        let output = space.run_ok(&["pipeline", "--from-file", file.to_str().unwrap(), "--workers", workers]);
        let log = String::from_utf8_lossy(&output.stderr);
        let stopped = log.lines().find(|l| l.contains("pipeline stopped")).expect("the closing report");
        assert!(stopped.contains("\"records\":5"), "{stopped}");
        assert!(stopped.contains("\"dead_letters\":1"), "the 10 MB record: {stopped}");
        assert!(stopped.contains("\"skipped\":2"), "the line not UTF-8 and the line not JSON: {stopped}");
        assert!(log.contains("line\":3"), "the line not UTF-8 is named: {log}");
        let (_, objects) = space.redis_objects();
        let categories: Vec<&String> = objects.keys().filter(|key| key.starts_with("category:")).collect();
        assert_eq!(categories, ["category:cat-a", "category:cat-c"], "{workers} workers");
    }
}

#[test]
fn bad_request_bodies_get_a_4xx_naming_the_field_and_write_nothing() {
    use shopflow_api::auth::Role;
    use support::api::Api;
    let space = Space::new("bad_http");
    space.run_ok(&["topics", "create", "--partitions", "3"]);
    let api = Api::new(&space, Duration::from_secs(5));
    let alice = api.token("usr-alice", Role::Shopper);
    let mut not_utf8 = br#"{"productId":"prd-1","sessionId":"ses-1","quantity":1}"#.to_vec();
    not_utf8[15] = 0xff;
    let nested = format!(
        r#"{{"productId":"prd-1","sessionId":"s","quantity":1,"x":{}{}}}"#,
        "[".repeat(20_000),
        "]".repeat(20_000)
    );
    let huge = format!(r#"{{"productId":"prd-1","sessionId":"{}","quantity":1}}"#, "x".repeat(10 << 20));
    // (body, status, field, what the message says)
    let cases: Vec<(Vec<u8>, u16, &str, &str)> = vec![
        (b"this is not JSON".to_vec(), 400, "body", "not valid JSON"),
        (not_utf8, 400, "body", "not UTF-8"),
        (huge.into_bytes(), 413, "", "at most"),
        (nested.into_bytes(), 400, "body", "recursion limit"),
        (
            br#"{"productId":"prd-1","sessionId":"ses-1","quantity":1,"productId":"prd-2"}"#.to_vec(),
            400,
            "productId",
            "more than once",
        ),
        (br#"{"productId":"prd 1!","sessionId":"ses-1","quantity":1}"#.to_vec(), 400, "productId", "bad id"),
        (b"[]".to_vec(), 400, "body", "expected a JSON object"),
    ];
    for path in ["/api/v1/events/view", "/api/v1/cart/items"] {
        for (body, status, field, says) in &cases {
            let answer = api.send_bytes("POST", path, Some(&alice), &[], Some(body.clone()));
            let error = &answer.body["error"];
            assert_eq!(answer.status.as_u16(), *status, "{path}: {}", answer.body);
            assert!(error["message"].as_str().unwrap().contains(says), "{path}: {}", answer.body);
            if !field.is_empty() {
                assert_eq!(error["code"], "validation_failed", "{path}: {}", answer.body);
                assert_eq!(error["fields"][0]["field"], *field, "{path}: {}", answer.body);
            }
        }
    }
    assert_eq!((support::records_on(&space, "shop.clickstream"), support::records_on(&space, "shop.carts")), (0, 0));
    // And the server goes on.
    let view = serde_json::json!({"productId": "prd-1", "sessionId": "ses-1"});
    assert_eq!(api.send("POST", "/api/v1/events/view", Some(&alice), &[], Some(&view)).status.as_u16(), 202);
    assert_eq!(support::records_on(&space, "shop.clickstream"), 1);
}
