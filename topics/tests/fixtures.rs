//! Every event shape of `contract/events.md` has a fixture that decodes, and
//! encoding the decoded value gives back exactly the fixture.

use serde_json::Value;
use shopflow_topics::{Envelope, Event};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/valid")
}

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(fixture_dir())
        .expect("fixture folder")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect()
}

#[test]
fn every_fixture_decodes_on_its_topic_with_its_key_and_encodes_back_identically() {
    let all = fixtures();
    assert!(all.len() > Event::TYPE_NAMES.len(), "fixtures missing");
    for (name, bytes) in all {
        let fixture: Value = serde_json::from_slice(&bytes).unwrap();
        let topic = Event::topic_of_type(fixture["type"].as_str().unwrap()).unwrap();
        let key = fixture["subject"].as_str().unwrap().as_bytes();
        let envelope =
            Envelope::decode_record(topic.name(), Some(key), &bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let encoded: Value = serde_json::from_slice(&envelope.to_json()).unwrap();
        assert_eq!(encoded, fixture, "{name}: encoding differs from the contract's shape");
    }
}

#[test]
fn every_type_has_a_fixture_named_for_it() {
    let names: BTreeSet<String> = fixtures().into_iter().map(|(n, _)| n).collect();
    for type_name in Event::TYPE_NAMES {
        assert!(names.contains(&format!("{type_name}.json")), "no fixture for {type_name}");
        let bytes = std::fs::read(fixture_dir().join(format!("{type_name}.json"))).unwrap();
        assert_eq!(Envelope::decode(&bytes).unwrap().type_name(), *type_name);
    }
}

/// The contract names each event in bold (`**Order.Created**`); every one of
/// them must be a type this crate knows. The contract sits beside the
/// repository (`../shared`); without it there is nothing to compare.
#[test]
fn every_type_the_contract_names_is_known() {
    let contract = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/contract/events.md");
    let Ok(text) = std::fs::read_to_string(&contract) else {
        eprintln!("{} not found; skipped", contract.display());
        return;
    };
    let known: BTreeSet<&str> = Event::TYPE_NAMES.iter().copied().collect();
    let mut named = BTreeSet::new();
    for part in text.split("**").skip(1).step_by(2) {
        if part.contains('.') && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '.') {
            named.insert(part.to_string());
        }
    }
    assert!(named.len() >= 39, "parsed too few names: {named:?}");
    for name in &named {
        assert!(known.contains(name.as_str()), "{name} is in the contract but not in the crate");
    }
    // The topic table lists the derived events too.
    for derived in [
        "Order.StatusChanged",
        "Product.BackInStock",
        "Inventory.LowStock",
        "Inventory.Oversold",
        "Fraud.Suspected",
        "Notification.Requested",
    ] {
        assert!(text.contains(derived));
        assert!(known.contains(derived));
    }
}

#[test]
fn the_envelope_example_of_the_contract_decodes() {
    let bytes = std::fs::read(fixture_dir().join("envelope-example.json")).unwrap();
    let envelope = Envelope::decode_record("shop.orders", Some(b"ord-1001"), &bytes).unwrap();
    assert_eq!(envelope.id, "5b0f2c4e-6f7a-4c1e-9d2b-8a3c1e0f4d21");
    assert_eq!(envelope.time.to_string(), "2026-11-21T10:15:00.123Z");
    assert!(matches!(envelope.event, Event::OrderCreated(ref o) if o.order_id == "ord-1001"));
}

#[test]
fn optional_fields_may_be_absent_and_extra_fields_are_ignored() {
    let bytes = br#"{"specversion":"1.0","id":"e1","source":"s","type":"Product.Viewed","time":"2026-11-21T10:15:00Z",
        "subject":"ses-1","traceparent":"00-abc","data":{"sessionId":"ses-1","productId":"prd-1","extra":[1,2]}}"#;
    let envelope = Envelope::decode_record("shop.clickstream", Some(b"ses-1"), bytes).unwrap();
    let Event::ProductViewed(view) = envelope.event else { panic!("wrong type") };
    assert_eq!(view.user_id, None);
    // Currency defaults to USD when a producer leaves it out.
    let bytes = br#"{"specversion":"1.0","id":"e2","source":"s","type":"Wallet.ToppedUp","time":"2026-11-21T10:15:00Z",
        "subject":"usr-1","data":{"userId":"usr-1","amount":100}}"#;
    let Event::WalletToppedUp(topup) = Envelope::decode(bytes).unwrap().event else { panic!("wrong type") };
    assert_eq!(topup.currency, "USD");
}
