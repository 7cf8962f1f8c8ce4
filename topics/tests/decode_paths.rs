//! Records are decoded from a borrowed parse (`Json`), request bodies from a
//! `serde_json::Value`: the two paths must agree on every record — the same
//! event, or the same rejection. Checked on every fixture and on seeded
//! mutations of them: fields replaced by other JSON values (escaped strings,
//! numbers out of range, nested objects), removed, or given twice.

use proptest::prelude::*;
use serde_json::{json, Value};
use shopflow_topics::{DecodeError, Envelope};
use std::path::Path;

fn fixtures() -> Vec<Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/valid");
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files.into_iter().map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()).collect()
}

fn through_value(bytes: &[u8]) -> Result<Envelope, DecodeError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| DecodeError::NotJson(e.to_string()))?;
    Envelope::from_value(&value)
}

fn agree(bytes: &[u8]) {
    assert_eq!(Envelope::decode(bytes), through_value(bytes), "{}", String::from_utf8_lossy(bytes));
}

#[test]
fn every_fixture_decodes_alike_on_both_paths() {
    for fixture in fixtures() {
        let bytes = serde_json::to_vec(&fixture).unwrap();
        assert!(Envelope::decode(&bytes).is_ok());
        agree(&bytes);
    }
}

#[test]
fn texts_value_cannot_tell_apart_decode_alike() {
    let texts: [&[u8]; 8] = [
        br#"{"specversion":"1.0","specversion":"0.3"}"#,
        br#"{"specversion":"1.0","id":"evt-1","id":"evt 2"}"#,
        b"not json",
        b"[1,2]",
        b"\"text\"",
        b"{\"id\":\"\xff\"}",
        br#"{"specversion":"1\u002e0","id":"e\u0076t-1"}"#,
        br#"{"specversion":"1.0","id":"evt-1","source":"s","type":"Order.Cancelled","time":"2026-11-21T10:15:00Z","subject":"ord-1","data":{"orderId":"ord-1","reason":"a","reason":7}}"#,
    ];
    for text in texts {
        agree(text);
    }
}

/// A JSON value of a few kinds, escaped strings and big numbers among them.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e20f64..1e20).prop_map(Value::from),
        "[a-z0-9:._ -]{0,12}".prop_map(Value::from),
        "[\"\\\\\n\té☃a-z]{0,6}".prop_map(Value::from),
        Just(json!("2026-11-21T10:15:00.5Z")),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
            prop::collection::btree_map("[a-zA-Z]{1,8}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every path to a field of `value` (object keys and array indices).
fn paths(value: &Value, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let mut path = prefix.clone();
                path.push(key.clone());
                out.push(path.clone());
                paths(child, path, out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                let mut path = prefix.clone();
                path.push(i.to_string());
                out.push(path.clone());
                paths(child, path, out);
            }
        }
        _ => {}
    }
}

fn slot<'v>(value: &'v mut Value, path: &[String]) -> &'v mut Value {
    path.iter().fold(value, |slot, p| match (p.parse::<usize>(), slot.is_array()) {
        (Ok(i), true) => &mut slot[i],
        _ => &mut slot[p.as_str()],
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, rng_seed: proptest::test_runner::RngSeed::Fixed(15), ..ProptestConfig::default() })]

    #[test]
    fn mutated_records_decode_alike_on_both_paths(
        which in any::<prop::sample::Index>(),
        field in any::<prop::sample::Index>(),
        replacement in any_json(),
        action in 0u8..3,
    ) {
        let all = fixtures();
        let mut record = which.get(&all).clone();
        let mut found = Vec::new();
        paths(&record, Vec::new(), &mut found);
        let path = field.get(&found).clone();
        let mut text = match action {
            0 => {
                *slot(&mut record, &path) = replacement;
                serde_json::to_vec(&record).unwrap()
            }
            1 => {
                let (last, parent) = path.split_last().unwrap();
                match slot(&mut record, parent) {
                    Value::Object(map) => { map.remove(last); }
                    Value::Array(items) => { items.remove(last.parse::<usize>().unwrap()); }
                    _ => unreachable!(),
                }
                serde_json::to_vec(&record).unwrap()
            }
            _ => {
                // The field written a second time, at the end of the record, with another value.
                let mut text = serde_json::to_vec(&record).unwrap();
                text.pop();
                let again = format!(",{}:{}}}", json!(path[0]), replacement);
                text.extend_from_slice(again.as_bytes());
                text
            }
        };
        agree(&text);
        // And the same record cut short is refused alike.
        text.truncate(text.len() / 2);
        agree(&text);
    }
}
