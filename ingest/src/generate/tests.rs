use super::*;
use std::collections::BTreeSet;

fn run(config: GeneratorConfig) -> Vec<Record> {
    Generator::new(config).collect()
}

#[test]
fn the_same_seed_gives_the_same_records_and_another_seed_others() {
    let a = run(GeneratorConfig { seed: 7, ..Default::default() });
    let b = run(GeneratorConfig { seed: 7, ..Default::default() });
    let c = run(GeneratorConfig { seed: 8, ..Default::default() });
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn every_source_event_type_appears_and_every_valid_record_decodes_on_its_topic() {
    let config = GeneratorConfig { seed: 3, users: 300, products: 120, orders: 2_000, ..Default::default() };
    let records = run(config);
    let mut types = BTreeSet::new();
    let mut malformed = 0;
    for record in &records {
        let decoded =
            Envelope::decode_record(record.topic.name(), Some(record.key.as_bytes()), record.value.as_bytes());
        match record.kind {
            RecordKind::Malformed => {
                assert!(decoded.is_err(), "malformed record decoded: {}", record.value);
                malformed += 1;
            }
            _ => {
                let envelope = decoded.unwrap_or_else(|e| panic!("{e}: {}", record.value));
                types.insert(envelope.type_name());
            }
        }
    }
    assert!(malformed > 0);
    let sources: Vec<&str> = Event::TYPE_NAMES
        .iter()
        .copied()
        .filter(|t| Event::topic_of_type(t).is_some_and(|topic| Topic::SOURCES.contains(&topic)))
        .collect();
    let missing: Vec<_> = sources.iter().filter(|t| !types.contains(**t)).collect();
    assert!(missing.is_empty(), "never generated: {missing:?}");
    assert_eq!(types.len(), sources.len(), "generated a derived type");
}

#[test]
fn duplicates_repeat_an_earlier_record_and_late_records_break_time_order() {
    let records = run(GeneratorConfig { seed: 5, orders: 1_000, ..Default::default() });
    let mut seen = std::collections::BTreeMap::new();
    let mut late_seen = 0;
    let mut latest_time = EventTime(i64::MIN);
    for record in &records {
        match record.kind {
            RecordKind::Duplicate => assert_eq!(seen.get(&record.value), Some(&true), "duplicate before its original"),
            RecordKind::Event => {
                assert!(seen.insert(record.value.clone(), true).is_none(), "an event was not unique");
                let time = Envelope::decode(record.value.as_bytes()).unwrap().time;
                if record.late && time < latest_time {
                    late_seen += 1;
                }
                latest_time = latest_time.max(time);
            }
            RecordKind::Malformed => {}
        }
    }
    assert!(records.iter().any(|r| r.kind == RecordKind::Duplicate));
    assert!(late_seen > 0, "no late record arrived after a later one");
}

#[test]
fn events_limit_is_exact_and_knobs_can_be_off() {
    let config = GeneratorConfig {
        seed: 9,
        events: Some(5_000),
        duplicate_rate: 0.0,
        late_rate: 0.0,
        malformed_rate: 0.0,
        ..Default::default()
    };
    let records = run(config);
    assert_eq!(records.len(), 5_000);
    assert!(records.iter().all(|r| r.kind == RecordKind::Event && !r.late));
    let ids: BTreeSet<String> = records.iter().map(|r| Envelope::decode(r.value.as_bytes()).unwrap().id).collect();
    assert_eq!(ids.len(), 5_000, "event ids must be unique");
}

#[test]
fn orders_limit_counts_orders() {
    let mut generator = Generator::new(GeneratorConfig { seed: 2, orders: 50, ..Default::default() });
    let records: Vec<Record> = generator.by_ref().collect();
    assert_eq!(generator.orders_created(), 50);
    let created = records
        .iter()
        .filter(|r| r.kind == RecordKind::Event && r.value.contains("\"type\":\"Order.Created\""))
        .count();
    assert_eq!(created, 50);
}

#[test]
fn ndjson_lines_carry_topic_key_and_value() {
    let record = run(GeneratorConfig { events: Some(1), ..Default::default() }).remove(0);
    let line: serde_json::Value = serde_json::from_str(&record.to_ndjson()).unwrap();
    assert_eq!(line["topic"], record.topic.name());
    assert_eq!(line["key"], record.key.as_str());
    assert_eq!(line["value"], record.value.as_str());
}
