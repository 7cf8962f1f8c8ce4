use super::*;
use shopflow_views::search::terms;
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

fn source_types() -> Vec<&'static str> {
    Event::TYPE_NAMES
        .iter()
        .copied()
        .filter(|t| Event::topic_of_type(t).is_some_and(|topic| Topic::SOURCES.contains(&topic)))
        .collect()
}

#[test]
fn every_source_event_type_appears_at_the_default_sizes_and_every_valid_record_decodes_on_its_topic() {
    for seed in 1..=6 {
        let records = run(GeneratorConfig { seed, ..Default::default() });
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
        assert!(malformed > 0, "seed {seed}");
        let sources = source_types();
        let missing: Vec<_> = sources.iter().filter(|t| !types.contains(**t)).collect();
        assert!(missing.is_empty(), "seed {seed}: never generated: {missing:?}");
        assert_eq!(types.len(), sources.len(), "seed {seed}: generated a derived type");
    }
}

/// The catalog as the events say it is, for a naive recount of every search.
#[derive(Default)]
struct Shop {
    category_names: BTreeMap<String, String>,
    parents: BTreeMap<String, Option<String>>,
    products: BTreeMap<String, ProductCreated>,
    deleted: BTreeSet<String>,
    vendor_status: BTreeMap<String, &'static str>,
}

impl Shop {
    fn apply(&mut self, event: &Event) {
        match event {
            Event::CategoryUpserted(c) => {
                self.category_names.insert(c.category_id.clone(), c.name.clone());
                self.parents.insert(c.category_id.clone(), c.parent_id.clone());
            }
            Event::ProductCreated(p) => {
                self.products.insert(p.product_id.clone(), p.clone());
            }
            Event::ProductUpdated(u) => {
                let p = self.products.get_mut(&u.product_id).expect("updated products exist");
                p.name = u.name.clone().unwrap_or(p.name.clone());
                p.description = u.description.clone().unwrap_or(p.description.clone());
                p.category_id = u.category_id.clone().unwrap_or(p.category_id.clone());
                p.price = u.price.unwrap_or(p.price);
                p.attributes = u.attributes.clone().unwrap_or(p.attributes.clone());
            }
            Event::ProductDeleted(d) => {
                self.deleted.insert(d.product_id.clone());
            }
            Event::VendorApplied(v) => {
                self.vendor_status.insert(v.vendor_id.clone(), "applied");
            }
            Event::VendorApproved(v) => {
                self.vendor_status.insert(v.vendor_id.clone(), "approved");
            }
            Event::VendorSuspended(v) => {
                self.vendor_status.insert(v.vendor_id.clone(), "suspended");
            }
            _ => {}
        }
    }

    fn live(&self, p: &ProductCreated) -> bool {
        !self.deleted.contains(&p.product_id) && self.vendor_status.get(&p.vendor_id) == Some(&"approved")
    }

    /// The words of its name, description, category name and attribute values.
    fn words(&self, p: &ProductCreated) -> BTreeSet<String> {
        let category = self.category_names.get(&p.category_id).cloned().unwrap_or_default();
        let mut words: BTreeSet<String> = terms(&p.name).chain(terms(&p.description)).collect();
        words.extend(terms(&category));
        words.extend(p.attributes.values().flat_map(|v| terms(v)));
        words
    }

    /// Live products holding every word of `query`.
    fn count(&self, query: &str) -> i64 {
        let wanted: BTreeSet<String> = terms(query).collect();
        if wanted.is_empty() {
            return 0;
        }
        self.products.values().filter(|p| self.live(p) && wanted.is_subset(&self.words(p))).count() as i64
    }

    fn depth(&self, category: &str) -> usize {
        let mut depth = 1;
        let mut at = category.to_string();
        while let Some(Some(parent)) = self.parents.get(&at) {
            depth += 1;
            assert!(depth <= self.parents.len(), "a cycle through {category}");
            at = parent.clone();
        }
        depth
    }
}

#[test]
fn searches_use_the_catalogs_words_and_report_exactly_the_live_products_holding_them() {
    let config =
        GeneratorConfig { seed: 11, duplicate_rate: 0.0, late_rate: 0.0, malformed_rate: 0.0, ..Default::default() };
    let mut shop = Shop::default();
    let (mut searches, mut zero, mut several_words, mut clicks) = (0, 0, 0, 0);
    for record in run(config) {
        let event = Envelope::decode(record.value.as_bytes()).unwrap().event;
        if let Event::SearchPerformed(search) = &event {
            assert_eq!(search.result_count, shop.count(&search.query), "{:?}", search.query);
            searches += 1;
            zero += i32::from(search.result_count == 0);
            several_words += i32::from(terms(&search.query).count() > 1);
        }
        if let Event::SearchResultClicked(click) = &event {
            let wanted: BTreeSet<String> = terms(&click.query).collect();
            let product = &shop.products[&click.product_id];
            assert!(shop.live(product) && wanted.is_subset(&shop.words(product)), "{click:?}");
            clicks += 1;
        }
        shop.apply(&event);
    }
    assert!(searches > 200, "{searches} searches");
    assert!(zero > searches / 20 && zero < searches / 2, "{zero} of {searches} searches found nothing");
    assert!(several_words > searches / 5 && clicks > 0);
    let deepest = shop.parents.keys().map(|c| shop.depth(c)).max().unwrap();
    assert!(deepest >= 3, "the category tree is {deepest} deep");
    let distinct_descriptions: BTreeSet<&String> = shop.products.values().map(|p| &p.description).collect();
    assert!(distinct_descriptions.len() > shop.products.len() * 9 / 10);
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

#[test]
fn an_existing_shop_gets_its_traffic_without_its_set_up() {
    let config = GeneratorConfig { seed: 4, users: 300, products: 60, events: Some(3_000), ..Default::default() };
    let count = |records: &[Record], type_name: &str| {
        records
            .iter()
            .filter(|r| r.kind == RecordKind::Event)
            .filter(|r| Envelope::decode(r.value.as_bytes()).is_ok_and(|e| e.type_name() == type_name))
            .count()
    };
    let full = run(config.clone());
    let live = run(GeneratorConfig { existing_shop: true, ..config });
    assert_eq!(live.len(), 3_000, "the events limit counts what is sent");
    // The set-up registers every user and every partner; a live shop only signs up a few new users.
    assert!(count(&full, "User.Registered") >= 300);
    assert!(count(&full, "DeliveryPartner.Registered") > 0);
    assert!(count(&live, "User.Registered") < 30, "{}", count(&live, "User.Registered"));
    assert_eq!(count(&live, "DeliveryPartner.Registered"), 0);
    // Its traffic is the shop's: orders of the users the history registered.
    assert!(count(&live, "Order.Created") > 0);
    assert!(count(&live, "Cart.ItemAdded") > 0);
}
