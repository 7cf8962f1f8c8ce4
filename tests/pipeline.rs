//! The pipeline against the real broker, Redis and ClickHouse.

mod support;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use shopflow_topics::{Envelope, Event};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use support::{clickhouse, read_topic, temp_path, wait_until, Space};

/// Topics, then a seeded workload; returns the generated records (NDJSON lines).
fn load(space: &Space, generate: &[&str]) -> Vec<serde_json::Value> {
    space.run_ok(&["topics", "create", "--partitions", "4"]);
    let file = temp_path(&format!("{}.ndjson", space.name));
    space.run_ok(&[&["generate", "--quiet", "--out", file.to_str().unwrap()], generate].concat());
    space.run_ok(&[&["generate", "--quiet"], generate].concat());
    std::fs::read_to_string(file).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn pipeline(space: &Space, extra: &[&str]) {
    space.run_ok(&[&["pipeline", "--exit-when-caught-up"], extra].concat());
}

/// Every audit row says what its record said: type, second, topic, subject and
/// `data` (as JSON), at a partition and offset no other row has.
fn audit_rows_match(space: &Space, records: &[serde_json::Value]) {
    let sql = format!(
        "SELECT id, type, toUnixTimestamp(time) AS seconds, topic, `partition`, `offset`, subject, data \
         FROM {}.events FORMAT JSONEachRow",
        space.name
    );
    let rows: BTreeMap<String, serde_json::Value> = clickhouse(&sql)
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .map(|row| (row["id"].as_str().unwrap().to_string(), row))
        .collect();
    let mut places = BTreeSet::new();
    for row in rows.values() {
        let place = (row["topic"].to_string(), row["partition"].to_string(), row["offset"].to_string());
        assert!(places.insert(place), "two audit rows at one place: {row}");
    }
    let mut checked = 0;
    for record in records {
        let text = record["value"].as_str().unwrap();
        let Ok(envelope) = Envelope::decode(text.as_bytes()) else { continue };
        let row = rows.get(&envelope.id).unwrap_or_else(|| panic!("no audit row for {}", envelope.id));
        assert_eq!(row["type"], envelope.type_name(), "{row}");
        let seconds: i64 = row["seconds"].to_string().trim_matches('"').parse().unwrap();
        assert_eq!(seconds, envelope.time.0.div_euclid(1_000_000_000), "{row}");
        assert_eq!(row["topic"].as_str().unwrap(), space.topic(record["topic"].as_str().unwrap()));
        assert_eq!(row["subject"], envelope.subject);
        let data: serde_json::Value = serde_json::from_str(row["data"].as_str().unwrap()).unwrap();
        assert_eq!(data, envelope.event.data_json(), "audit data of {}", envelope.id);
        checked += 1;
    }
    assert!(checked >= 100, "only {checked} records checked");
}

/// The consumer group's committed offsets (lag tooling), once the pipeline has exited, are
/// the offsets its last publication covered, though it commits at most once a second.
fn committed_where_published(space: &Space, generation: &str) {
    let mut connection = redis::Client::open(support::redis_url()).unwrap().get_connection().unwrap();
    let offsets: String = redis::cmd("HGET")
        .arg(format!("{}:{generation}:meta", space.name))
        .arg("offsets")
        .query(&mut connection)
        .unwrap();
    let published: BTreeMap<String, BTreeMap<i32, i64>> = serde_json::from_str(&offsets).unwrap();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &space.brokers)
        .set("group.id", "shopflow-pipeline")
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    for (topic, parts) in &published {
        for partition in parts.keys() {
            list.add_partition(topic, *partition);
        }
    }
    let committed = consumer.committed_offsets(list, Duration::from_secs(10)).unwrap();
    let mut checked = 0;
    for (topic, parts) in &published {
        for (partition, next) in parts.iter().filter(|(_, next)| **next > 0) {
            let found = committed.find_partition(topic, *partition).map(|e| e.offset());
            assert_eq!(found, Some(Offset::Offset(*next)), "committed offset of {topic}/{partition}");
            checked += 1;
        }
    }
    assert!(checked >= 4, "only {checked} partitions with records");
}

#[test]
fn same_views_however_the_pipeline_runs() {
    let space = Space::new("same");
    let records = load(&space, &["--seed", "21", "--users", "60", "--products", "25", "--orders", "120"]);
    let valid: BTreeSet<String> = records
        .iter()
        .filter_map(|r| Envelope::decode(r["value"].as_str().unwrap().as_bytes()).ok())
        .map(|e| e.id)
        .collect();

    pipeline(&space, &["--workers", "1"]);
    let (first_generation, one_worker) = space.redis_objects();
    committed_where_published(&space, &first_generation);
    let analytics = space.clickhouse_relations();
    assert!(one_worker.keys().filter(|k| k.starts_with("order:")).count() >= 100, "orders missing");
    assert!(one_worker.keys().any(|k| k.starts_with("inventory:")));
    assert!(one_worker.keys().any(|k| k.starts_with("user-orders:")));
    assert_eq!(analytics["events"], vec![valid.len().to_string()], "one audit row per distinct event");
    audit_rows_match(&space, &records);
    assert!([
        "sales_daily",
        "funnel_daily",
        "product_stats",
        "vendor_balances",
        "vendor_sales_daily",
        "promotion_performance"
    ]
    .iter()
    .all(|relation| !analytics[relation].is_empty()));

    pipeline(&space, &["--workers", "2"]);
    let (second_generation, two_workers) = space.redis_objects();
    assert_ne!(first_generation, second_generation, "a restart builds a new generation");
    let diff = Space::object_differences(&one_worker, &two_workers);
    assert!(diff.is_empty(), "1 worker and 2 workers differ:\n{}", diff.join("\n"));
    assert_eq!(space.clickhouse_relations(), analytics);

    // Tiny epochs: the same events trickled in small batches.
    pipeline(&space, &["--workers", "2", "--max-epoch-records", "3"]);
    let diff = Space::object_differences(&one_worker, &space.redis_objects().1);
    assert!(diff.is_empty(), "small batches differ from large ones:\n{}", diff.join("\n"));
    assert_eq!(space.clickhouse_relations(), analytics);

    // SIGKILL in the middle of a rebuild, then a restart.
    let mut child = space
        .shopflow()
        .args(["pipeline", "--workers", "2", "--max-epoch-records", "2"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let client = redis::Client::open(support::redis_url()).unwrap();
    let mut connection = client.get_connection().unwrap();
    let metas = |c: &mut redis::Connection| -> usize {
        let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{}:*:meta", space.name)).query(c).unwrap();
        keys.len()
    };
    let before = metas(&mut connection);
    wait_until("the killed run to publish something", 60, || metas(&mut connection) > before);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(space.redis_objects().1 == one_worker, "the killed run must not have touched what readers see");
    pipeline(&space, &["--workers", "1"]);
    assert!(space.redis_objects().1 == one_worker, "the restart after a kill differs");
    assert_eq!(space.clickhouse_relations(), analytics);
    assert_eq!(metas(&mut connection), 1, "old and abandoned generations are dropped");
}

#[test]
fn dead_letters_carry_the_reason_and_the_rest_of_the_partition_is_processed() {
    let space = Space::new("dlq");
    let records = load(&space, &["--seed", "5", "--orders", "60", "--malformed", "0.05"]);
    let mut malformed: BTreeMap<String, usize> = BTreeMap::new();
    let mut valid_ids = BTreeSet::new();
    for record in &records {
        let value = record["value"].as_str().unwrap();
        match Envelope::decode_record(record["topic"].as_str().unwrap(), None, value.as_bytes()) {
            Ok(envelope) => {
                valid_ids.insert(envelope.id);
            }
            Err(_) => *malformed.entry(value.to_string()).or_default() += 1,
        }
    }
    let expected: usize = malformed.values().sum();
    assert!(expected >= 10, "too few malformed records to test: {expected}");
    pipeline(&space, &["--workers", "2"]);

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", support::brokers())
        .set("group.id", format!("{}-reader", space.name))
        .create()
        .unwrap();
    let topic = space.topic("shop.dead-letter");
    let mut assignment = TopicPartitionList::new();
    for partition in 0..4 {
        assignment.add_partition_offset(&topic, partition, Offset::Beginning).unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let mut letters = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while letters.len() < expected {
        assert!(std::time::Instant::now() < deadline, "only {} of {expected} dead letters arrived", letters.len());
        if let Some(message) = consumer.poll(Duration::from_millis(200)) {
            let message = message.unwrap();
            let envelope =
                Envelope::decode_record("shop.dead-letter", message.key(), message.payload().unwrap()).unwrap();
            let Event::DeadLetter(letter) = envelope.event else { panic!("not a dead letter") };
            letters.push(letter);
        }
    }
    for letter in &letters {
        assert!(!letter.reason.is_empty());
        assert!(letter.topic.starts_with(&space.name), "{}", letter.topic);
        let payload = letter.payload.as_deref().expect("generated payloads are UTF-8");
        assert!(malformed.contains_key(payload), "a dead letter for a record that was valid: {payload}");
    }
    let reasons: BTreeSet<&str> = letters.iter().map(|l| l.reason.split(' ').next().unwrap()).collect();
    assert!(reasons.len() >= 3, "several kinds of failure expected: {reasons:?}");
    // Everything valid was processed, malformed records in between notwithstanding.
    assert_eq!(space.clickhouse_relations()["events"], vec![valid_ids.len().to_string()]);
}

#[test]
fn reads_never_regress_while_a_rebuild_runs() {
    let space = Space::new("rebuild");
    load(&space, &["--seed", "8", "--orders", "150"]);
    pipeline(&space, &["--workers", "1"]);
    let (old_generation, finished) = space.redis_objects();
    let sample: Vec<(String, String)> = finished
        .iter()
        .filter(|(k, _)| k.starts_with("order:"))
        .take(30)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();

    let reader_runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let reader = reader_runtime
        .block_on(shopflow_sinks::redis::RedisReader::connect(&support::redis_url(), &space.name))
        .unwrap();
    let keys: Vec<(shopflow_sinks::Family, &str)> =
        sample.iter().map(|(k, _)| (shopflow_sinks::Family::Order, k.strip_prefix("order:").unwrap())).collect();

    let mut child = space
        .shopflow()
        .args(["pipeline", "--exit-when-caught-up", "--workers", "1", "--max-epoch-records", "5"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut last_as_of = 0;
    let mut generations = vec![old_generation.clone()];
    let mut reads = 0;
    loop {
        let done = child.try_wait().unwrap().is_some();
        let served = reader_runtime.block_on(reader.read(&keys)).unwrap().expect("a generation is current");
        assert!(served.as_of >= last_as_of, "asOf went back: {} after {last_as_of}", served.as_of);
        last_as_of = served.as_of;
        if generations.last() != Some(&served.generation) {
            generations.push(served.generation.clone());
        }
        for ((key, expected), value) in sample.iter().zip(&served.values) {
            assert_eq!(
                value.as_deref(),
                Some(expected.as_str()),
                "{key} read mid-rebuild differs from the complete state"
            );
        }
        reads += 1;
        if done {
            break;
        }
    }
    assert!(child.wait().unwrap().success());
    assert_eq!(generations.len(), 2, "exactly one switch, old to new: {generations:?}");
    assert!(reads > 10, "too few reads during the rebuild: {reads}");
}

#[test]
fn derived_events_are_the_settled_transitions_and_a_rebuild_repeats_their_ids() {
    let space = Space::new("derived");
    load(&space, &["--seed", "33", "--products", "8", "--orders", "80"]);
    // A product that is oversold for sure: 3 units in stock, an order for 5.
    use shopflow_topics::events::{Address, OrderCreated, OrderItem, StockReceived};
    let time = shopflow_topics::EventTime::parse("2026-11-02T00:00:00Z").unwrap();
    let stock = StockReceived { product_id: "prd-alert".into(), warehouse_id: "wh-east".into(), quantity: 3 };
    let order = OrderCreated {
        order_id: "ord-alert".into(),
        user_id: "usr-alert".into(),
        items: vec![OrderItem {
            product_id: "prd-alert".into(),
            vendor_id: "ven-1".into(),
            quantity: 5,
            unit_price: 100,
        }],
        subtotal: 500,
        discount: 0,
        shipping: 0,
        total: 500,
        currency: "USD".into(),
        promo_code: None,
        shipping_address: Address {
            street: "1 Main St".into(),
            city: "Salem".into(),
            state: None,
            zipcode: "12345".into(),
            country: "US".into(),
        },
    };
    let producer = shopflow_ingest::producer::RecordProducer::new(&support::brokers()).unwrap();
    for envelope in
        [Envelope::new("evt-alert-1", "test", time, stock), Envelope::new("evt-alert-2", "test", time.plus(1), order)]
    {
        producer.send(&space.topic(envelope.topic().name()), envelope.key(), &envelope.to_json()).unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    // The generator holds records back by up to 60 records: an allowed lateness of a day
    // covers that, so what settles is exactly the final history's transitions.
    let settings = ["--workers", "2", "--low-stock-threshold", "50", "--allowed-lateness", "24h"];
    pipeline(&space, &settings);
    let (_, objects) = space.redis_objects();
    let mut history_times = BTreeMap::new();

    // Every status an order went through is one Order.StatusChanged, keyed by the order.
    let mut expected = BTreeSet::new();
    for (key, value) in &objects {
        if let Some(order_id) = key.strip_prefix("order:") {
            let view: serde_json::Value = serde_json::from_str(value).unwrap();
            let history = view["history"].as_array().unwrap();
            for (i, entry) in history.iter().enumerate() {
                let previous = i.checked_sub(1).map(|p| history[p]["status"].as_str().unwrap().to_string());
                let transition = (order_id.to_string(), previous, entry["status"].as_str().unwrap().to_string());
                history_times.insert(transition.clone(), entry["at"].as_str().unwrap().to_string());
                expected.insert(transition);
            }
        }
    }
    let changes = read_topic(&space.topic("shop.order-status"), |read| {
        let transitions: BTreeSet<(String, Option<String>, String)> = read
            .iter()
            .filter_map(|e| match &e.event {
                Event::OrderStatusChanged(c) => {
                    Some((c.order_id.clone(), c.previous_status.map(|s| s.to_string()), c.new_status.to_string()))
                }
                _ => None,
            })
            .collect();
        expected.is_subset(&transitions)
    });
    let mut seen = BTreeSet::new();
    for envelope in &changes {
        let Event::OrderStatusChanged(change) = &envelope.event else { panic!("{}", envelope.type_name()) };
        assert_eq!(envelope.subject, change.order_id);
        let transition =
            (change.order_id.clone(), change.previous_status.map(|s| s.to_string()), change.new_status.to_string());
        // Stamped with the event time of the transition, not the wall clock.
        assert_eq!(Some(&envelope.time.to_string()), history_times.get(&transition), "{envelope:?}");
        assert!(seen.insert(transition), "emitted twice: {envelope:?}");
    }
    // Settled state: every transition of every final history, none that a later-read,
    // earlier-timed event took back (an Order.Cancelled read before its Payment.Completed).
    let missing: Vec<_> = expected.difference(&seen).collect();
    assert!(missing.is_empty(), "transitions never emitted: {missing:?}");
    let extra: Vec<_> = seen.difference(&expected).collect();
    assert!(extra.is_empty(), "transitions the final histories do not have: {extra:?}");

    // Inventory alerts: keyed by product, about published products; the oversold one among
    // them; LowStock at the configured threshold.
    let alerts = read_topic(&space.topic("shop.alerts"), |read| {
        read.iter().any(|e| e.subject == "prd-alert" && matches!(e.event, Event::InventoryOversold(_)))
            && read.iter().any(|e| matches!(e.event, Event::InventoryLowStock(_)))
    });
    for alert in &alerts {
        if let Event::InventoryLowStock(low) = &alert.event {
            assert_eq!(low.threshold, 50, "{alert:?}");
            assert!(low.available <= 50, "{alert:?}");
        }
    }
    for alert in &alerts {
        assert!(objects.contains_key(&format!("inventory:{}", alert.subject)), "alert for an unknown product");
        assert!(matches!(
            alert.event,
            Event::InventoryLowStock(_) | Event::InventoryOversold(_) | Event::ProductBackInStock(_)
        ));
    }

    // A rebuild (a second run over the same topics, read in another interleaving) emits the
    // same events under the same ids: each id is now on the topics exactly twice.
    let first: BTreeMap<String, usize> = count_ids(changes.iter().chain(&alerts));
    pipeline(&space, &settings);
    let order_status = read_topic(&space.topic("shop.order-status"), |read| read.len() >= 2 * changes.len());
    let alerts_again = read_topic(&space.topic("shop.alerts"), |read| read.len() >= 2 * alerts.len());
    let both = count_ids(order_status.iter().chain(&alerts_again));
    assert_eq!(both.keys().collect::<Vec<_>>(), first.keys().collect::<Vec<_>>(), "the rebuild's ids differ");
    assert!(both.values().all(|n| *n == 2), "an id emitted other than once per run");
}

fn count_ids<'a>(events: impl Iterator<Item = &'a Envelope>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for event in events {
        *counts.entry(event.id.clone()).or_insert(0) += 1;
    }
    counts
}

#[test]
fn an_older_clickhouse_database_gets_the_new_columns_and_views() {
    let space = Space::new("migrate");
    let db = &space.name;
    // product_stats as the first release made it: no rating columns.
    clickhouse(&format!("CREATE DATABASE IF NOT EXISTS {db}"));
    clickhouse(&format!(
        "CREATE TABLE {db}.current_generation (id UInt8, generation String, version UInt64) \
         ENGINE = ReplacingMergeTree(version) ORDER BY id"
    ));
    clickhouse(&format!(
        "CREATE TABLE {db}.product_stats_data (generation String, productId String, views Int64, carts Int64, \
         purchasedUnits Int64, revenue Int64, version UInt64, deleted UInt8) \
         ENGINE = ReplacingMergeTree(version) ORDER BY (generation, productId)"
    ));
    clickhouse(&format!(
        "CREATE VIEW {db}.product_stats AS SELECT productId, views, carts, purchasedUnits, revenue \
         FROM {db}.product_stats_data FINAL WHERE deleted = 0"
    ));
    clickhouse(&format!("INSERT INTO {db}.product_stats_data VALUES ('g0', 'prd-old', 3, 1, 0, 0, 1, 0)"));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    for _ in 0..2 {
        // Twice: the second connect finds nothing left to do.
        runtime
            .block_on(shopflow_sinks::clickhouse::ClickHouseSink::connect(&support::clickhouse_url(), db, "g1"))
            .unwrap();
    }
    let columns = |table: &str| {
        clickhouse(&format!(
            "SELECT name FROM system.columns WHERE database = '{db}' AND table = '{table}' ORDER BY name"
        ))
    };
    assert!(columns("product_stats_data").contains("ratingSum"), "{}", columns("product_stats_data"));
    let view = columns("product_stats");
    assert!(view.contains("ratingCount") && view.contains("ratingMean"), "{view}");
    // The old row is still there, rated zero.
    let row = clickhouse(&format!("SELECT productId, ratingCount FROM {db}.product_stats_data FORMAT TSV"));
    assert_eq!(row.trim(), "prd-old\t0");
}

/// Runs the pipeline as a timely cluster of `processes` processes of
/// `workers` threads each, on loopback, until it has caught up.
fn cluster(space: &Space, processes: usize, workers: usize) {
    let ports: Vec<u16> = (0..processes)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port())
        .collect();
    let hostfile = temp_path(&format!("{}-hosts-{processes}x{workers}", space.name));
    let hosts: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    std::fs::write(&hostfile, hosts.join("\n") + "\n").unwrap();
    let children: Vec<_> = (0..processes)
        .map(|process| {
            space
                .shopflow()
                .args(["pipeline", "--exit-when-caught-up", "--workers", &workers.to_string()])
                .args(["--processes", &processes.to_string(), "--process", &process.to_string()])
                .arg("--hostfile")
                .arg(&hostfile)
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (process, child) in children.into_iter().enumerate() {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "process {process} of {processes}×{workers} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn a_cluster_computes_the_same_views_as_one_process() {
    let space = Space::new("cluster");
    load(&space, &["--seed", "12", "--users", "50", "--products", "20", "--orders", "100"]);
    pipeline(&space, &["--workers", "2"]);
    let (_, one_process) = space.redis_objects();
    let analytics = space.clickhouse_relations();
    assert!(one_process.keys().filter(|k| k.starts_with("order:")).count() >= 80, "orders missing");
    for (processes, workers) in [(2, 1), (2, 2)] {
        cluster(&space, processes, workers);
        let diff = Space::object_differences(&one_process, &space.redis_objects().1);
        assert!(diff.is_empty(), "{processes} processes × {workers} workers differ from 1 × 2:\n{}", diff.join("\n"));
        assert_eq!(space.clickhouse_relations(), analytics, "{processes} × {workers}: ClickHouse differs");
    }
}
