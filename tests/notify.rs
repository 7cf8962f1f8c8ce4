//! The notification dispatcher against the real services and a real SMTP
//! server (aiosmtpd from PyPI, capturing into a Maildir), with the SMS and
//! push gateways played by a webhook receiver written here: an order's life
//! mails once per transition, through SIGKILLs of the dispatcher and the
//! pipeline, a rebuild that re-emits every notification, and an SMTP outage.

mod support;

use axum::http::StatusCode;
use shopflow_api::auth::Role as ApiRole;
use shopflow_topics::events::{
    Address, OrderCreated, OrderItem, PaymentCompleted, PaymentInitiated, PaymentMethod, Role, ShipmentCreated,
    ShipmentDelivered, ShipmentStatusUpdated, TransitStatus, UserPreferencesUpdated, UserRegistered,
};
use shopflow_topics::{Envelope, Event, EventTime};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufReader, Write};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::api::Api;
use support::mail::{mailbox, smtp_server, Mail};
use support::{free_port, temp_path, wait_until, Running, Space};

const WEBHOOK_SECRET: &str = "webhook-secret-0123456789";

/// A webhook request the gateway accepted: (path, notificationId, JSON body).
type Accepted = Arc<Mutex<Vec<(String, String, serde_json::Value)>>>;

/// The SMS and push gateways: answers 503 to its very first request (the
/// dispatcher must try again) and 200 after; records accepted requests and
/// checks every signature.
fn webhook_receiver(port: u16) -> (Accepted, Arc<Mutex<Vec<String>>>) {
    let accepted: Accepted = Arc::default();
    let problems: Arc<Mutex<Vec<String>>> = Arc::default();
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let (seen, wrong) = (accepted.clone(), problems.clone());
    std::thread::spawn(move || {
        let mut first = true;
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let Some((request_line, headers, body)) = support::read_request(&mut reader) else { continue };
            let path = request_line.split(' ').nth(1).unwrap_or_default().to_string();
            let signature = shopflow_sinks::notify::webhook::sign(WEBHOOK_SECRET.as_bytes(), &body);
            if headers.get("x-signature") != Some(&signature) {
                wrong.lock().unwrap().push(format!("bad signature on {path}"));
            }
            let status = if first { "503 Service Unavailable" } else { "200 OK" };
            if !first {
                let id = headers.get("x-notification-id").cloned().unwrap_or_default();
                seen.lock().unwrap().push((path, id, serde_json::from_slice(&body).unwrap()));
            }
            first = false;
            let mut stream = stream;
            let _ = write!(stream, "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (accepted, problems)
}

fn produce(space: &Space, events: &[Envelope]) {
    let producer = shopflow_ingest::producer::RecordProducer::new(&support::brokers()).unwrap();
    for envelope in events {
        producer.send(&space.topic(envelope.topic().name()), envelope.key(), &envelope.to_json()).unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

fn pipeline(space: &Space) -> Running {
    let child = space
        .shopflow()
        .args(["pipeline", "--workers", "1", "--notifications", "--idle-timeout", "300ms"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Running(child)
}

fn dispatcher(space: &Space, smtp: u16, hooks: u16, log: &Path) -> Running {
    let child = space
        .shopflow()
        .args(["notify", "--smtp-url", &format!("smtp://127.0.0.1:{smtp}")])
        .args(["--sms-webhook-url", &format!("http://127.0.0.1:{hooks}/sms")])
        .args(["--push-webhook-url", &format!("http://127.0.0.1:{hooks}/push")])
        .args(["--webhook-secret", WEBHOOK_SECRET, "--retry-first", "100ms", "--retry-max", "400ms"])
        .args(["--delivery-timeout", "2s"])
        .env("SHOPFLOW_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap())
        .spawn()
        .unwrap();
    Running(child)
}

/// The delivery records of the space: notificationId → its hash.
fn deliveries(space: &Space) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut connection = redis::Client::open(support::redis_url()).unwrap().get_connection().unwrap();
    let prefix = format!("{}:notify:delivery:", space.name);
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query(&mut connection).unwrap();
    keys.into_iter()
        .map(|key| {
            let record: BTreeMap<String, String> = redis::cmd("HGETALL").arg(&key).query(&mut connection).unwrap();
            (key[prefix.len()..].to_string(), record)
        })
        .collect()
}

/// Every record of the space's `shop.notifications`, read until quiet: (partition, offset, event).
fn notifications_topic(space: &Space) -> Vec<(i32, i64, Envelope)> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;
    let topic = space.topic("shop.notifications");
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", support::brokers())
        .set("group.id", "t")
        .create()
        .unwrap();
    let metadata = consumer.fetch_metadata(Some(&topic), Duration::from_secs(10)).unwrap();
    let mut assignment = rdkafka::TopicPartitionList::new();
    for p in metadata.topics()[0].partitions() {
        assignment.add_partition_offset(&topic, p.id(), rdkafka::Offset::Beginning).unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let mut read = Vec::new();
    while let Some(message) = consumer.poll(Duration::from_secs(2)) {
        let message = message.unwrap();
        let envelope =
            Envelope::decode_record("shop.notifications", message.key(), message.payload().unwrap()).unwrap();
        read.push((message.partition(), message.offset(), envelope));
    }
    read
}

#[test]
fn an_orders_life_mails_once_per_transition_through_kills_a_rebuild_and_an_smtp_outage() {
    let space = Space::new("dispatch");
    space.run_ok(&["topics", "create", "--partitions", "3"]);
    let (smtp_port, hooks_port) = (free_port(), free_port());
    let maildir = temp_path(&format!("maildir-{}", space.name));
    let log = temp_path(&format!("notify-{}.log", space.name));
    let (accepted, problems) = webhook_receiver(hooks_port);
    let mut smtp = Some(smtp_server(smtp_port, &maildir));
    let mut pipe = Some(pipeline(&space));
    let mut notify = Some(dispatcher(&space, smtp_port, hooks_port, &log));

    let t = EventTime::now().plus(-120 * EventTime::SECOND);
    let at = |seconds: i64| t.plus(seconds * EventTime::SECOND);
    let registered = |user: &str, name: &str, phone: &str| UserRegistered {
        user_id: user.into(),
        email: format!("{user}@example.com"),
        name: name.into(),
        role: Role::Shopper,
        address: None,
        phone: Some(phone.into()),
    };
    let order = |order_id: &str, user_id: &str| OrderCreated {
        order_id: order_id.into(),
        user_id: user_id.into(),
        items: vec![OrderItem { product_id: "prd-1".into(), vendor_id: "ven-1".into(), quantity: 1, unit_price: 900 }],
        subtotal: 900,
        discount: 0,
        shipping: 0,
        total: 900,
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
    let mails_of = |dir: &Path| -> BTreeMap<(String, String), usize> {
        let mut count = BTreeMap::new();
        for mail in mailbox(dir) {
            let template = mail.subject.clone();
            *count.entry((mail.to.clone(), template)).or_default() += 1;
        }
        count
    };
    let has = |subjects: &[&str]| {
        let dir = maildir.clone();
        let wanted: Vec<String> = subjects.iter().map(|s| s.to_string()).collect();
        move || {
            let mails = mailbox(&dir);
            wanted.iter().all(|w| mails.iter().any(|m| m.subject == *w))
        }
    };

    // 1. Alice and Bob register; Bob turns e-mail off; both order.
    produce(
        &space,
        &[
            Envelope::new("e-reg-a", "test", at(0), registered("usr-alice", "Alice", "+15550001")),
            Envelope::new("e-reg-b", "test", at(0), registered("usr-bob", "Bob", "+15550002")),
            Envelope::new(
                "e-pref-b",
                "test",
                at(1),
                UserPreferencesUpdated { user_id: "usr-bob".into(), email: false, sms: true, push: false },
            ),
            Envelope::new("e-ord-a", "test", at(2), order("ord-a", "usr-alice")),
            Envelope::new("e-ord-b", "test", at(2), order("ord-b", "usr-bob")),
        ],
    );
    let welcome = "Welcome to the shop, Alice";
    let created = "Your order ord-a is placed";
    let (w, c) = (welcome.to_string(), created.to_string());
    wait_until("welcome and order_created mails", 120, || {
        let mails = mailbox(&maildir);
        mails.len() >= 3 && [&w, &c].iter().all(|s| mails.iter().any(|m| &&m.subject == s))
    });
    wait_until("the order_created SMS of both and Alice's push", 60, || {
        let seen = accepted.lock().unwrap();
        let sms: Vec<&str> =
            seen.iter().filter(|(p, ..)| p == "/sms").map(|(_, _, b)| b["to"].as_str().unwrap()).collect();
        sms.contains(&"+15550001") && sms.contains(&"+15550002") && seen.iter().any(|(p, ..)| p == "/push")
    });

    // (A kill between the server's acceptance and the record would leave one `sending`,
    // not sent again by design: the kills here come when no delivery is in flight.)
    let in_flight = || deliveries(&space).values().any(|r| r.get("state").is_some_and(|s| s == "sending"));
    wait_until("no delivery in flight", 60, || !in_flight());
    // 2. Both die at once (SIGKILL); Alice pays while they are down; both restart, and the
    //    pipeline's rebuild re-emits every notification so far under the same ids.
    drop(notify.take());
    drop(pipe.take());
    produce(
        &space,
        &[
            Envelope::new(
                "e-pay-init",
                "test",
                at(3),
                PaymentInitiated {
                    payment_id: "pay-a".into(),
                    order_id: "ord-a".into(),
                    user_id: "usr-alice".into(),
                    amount: 900,
                    currency: "USD".into(),
                    method: PaymentMethod::Card,
                },
            ),
            Envelope::new(
                "e-pay-done",
                "test",
                at(4),
                PaymentCompleted { payment_id: "pay-a".into(), order_id: "ord-a".into(), amount: 900 },
            ),
        ],
    );
    pipe = Some(pipeline(&space));
    notify = Some(dispatcher(&space, smtp_port, hooks_port, &log));
    let paid = "Your order ord-a is paid";
    wait_until("the payment mails", 120, has(&[paid]));
    wait_until("payment_completed mail", 60, || mailbox(&maildir).len() >= 5);

    // 3. The SMTP server goes away. Shipping goes on: SMS still flows, e-mail waits.
    drop(smtp.take());
    produce(
        &space,
        &[
            Envelope::new(
                "e-ship",
                "test",
                at(5),
                ShipmentCreated {
                    shipment_id: "shp-a".into(),
                    order_id: "ord-a".into(),
                    warehouse_id: "wh-1".into(),
                    carrier: "UPS".into(),
                    tracking_number: "1Z1".into(),
                },
            ),
            Envelope::new(
                "e-ship-ofd",
                "test",
                at(6),
                ShipmentStatusUpdated {
                    shipment_id: "shp-a".into(),
                    order_id: "ord-a".into(),
                    status: TransitStatus::OutForDelivery,
                    location: Some("Salem".into()),
                },
            ),
        ],
    );
    let templates_sent_by_sms = |accepted: &Accepted| -> BTreeSet<String> {
        accepted
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, ..)| p == "/sms")
            .map(|(_, _, b)| b["template"].as_str().unwrap().to_string())
            .collect()
    };
    wait_until("the shipping SMS while e-mail is down", 120, || {
        let sent = templates_sent_by_sms(&accepted);
        sent.contains("order_shipped") && sent.contains("shipment_update")
    });
    wait_until("the shipping e-mails to be retrying", 60, || {
        deliveries(&space).values().any(|r| {
            r.get("channel").map(String::as_str) == Some("email")
                && r.get("template").map(String::as_str) == Some("order_shipped")
                && r.get("state").map(String::as_str) == Some("retrying")
        })
    });
    wait_until("no delivery in flight", 60, || !in_flight());
    // The dispatcher dies while retrying; the order is delivered; the dispatcher comes back,
    // then the SMTP server does.
    drop(notify.take());
    produce(
        &space,
        &[Envelope::new(
            "e-delivered",
            "test",
            at(7),
            ShipmentDelivered { shipment_id: "shp-a".into(), order_id: "ord-a".into() },
        )],
    );
    notify = Some(dispatcher(&space, smtp_port, hooks_port, &log));
    wait_until("the delivered SMS", 120, || templates_sent_by_sms(&accepted).contains("order_delivered"));
    smtp = Some(smtp_server(smtp_port, &maildir));
    wait_until("every e-mail", 120, || mailbox(&maildir).len() >= 8);

    // Quiet: the dispatcher has read past every notification on the topic.
    let topic = notifications_topic(&space);
    let mut ends: BTreeMap<i32, i64> = BTreeMap::new();
    for (partition, offset, _) in &topic {
        let end = ends.entry(*partition).or_default();
        *end = (*end).max(offset + 1);
    }
    let mut connection = redis::Client::open(support::redis_url()).unwrap().get_connection().unwrap();
    wait_until("the dispatcher to finish the topic", 60, || {
        let saved: BTreeMap<i32, i64> =
            redis::cmd("HGETALL").arg(format!("{}:notify:offsets", space.name)).query(&mut connection).unwrap();
        ends.iter().all(|(p, end)| saved.get(p).is_some_and(|s| s >= end))
    });

    // Exactly one e-mail per transition to Alice, Bob only his welcome (he opted out before
    // his order), each with the notification's id as its Message-ID.
    let mails = mailbox(&maildir);
    let requested: BTreeMap<String, (String, String)> = topic
        .iter()
        .filter_map(|(_, _, e)| match &e.event {
            Event::NotificationRequested(n) => {
                Some((n.notification_id.clone(), (n.user_id.clone(), n.template.clone())))
            }
            _ => None,
        })
        .collect();
    let mut by_id = BTreeMap::new();
    for mail in &mails {
        let id = mail.message_id.trim_start_matches('<').trim_end_matches("@shopflow>").to_string();
        let (user, template) = requested.get(&id).unwrap_or_else(|| panic!("a mail nobody requested: {mail:?}"));
        assert!(mail.to.contains(&format!("{user}@example.com")), "{mail:?}");
        assert!(by_id.insert(id, template.clone()).is_none(), "sent twice: {mail:?}");
    }
    let mut templates: Vec<String> = by_id.values().cloned().collect();
    templates.sort();
    let mut expected: Vec<String> = [
        "welcome",
        "welcome",
        "order_created",
        "payment_completed",
        "order_paid",
        "order_shipped",
        "shipment_update",
        "order_delivered",
    ]
    .map(String::from)
    .to_vec();
    expected.sort();
    assert_eq!(templates, expected, "mails: {:?}", mails_of(&maildir));
    let paid_mail = mails.iter().find(|m| m.subject == paid).unwrap();
    assert!(paid_mail.body.contains("Hello Alice,"), "{paid_mail:?}");
    assert!(!mails.iter().any(|m| m.to.contains("usr-bob") && m.subject != "Welcome to the shop, Bob"), "{mails:?}");
    // The rebuild re-emitted notifications: the topic holds some ids twice, each mailed once.
    assert!(topic.len() > requested.len(), "the restart's rebuild re-emitted nothing?");

    // SMS and push: each notification accepted once, signed; the gateway's first 503 was retried.
    assert!(problems.lock().unwrap().is_empty(), "{:?}", problems.lock().unwrap());
    let hooks = accepted.lock().unwrap().clone();
    let mut ids = BTreeSet::new();
    for (path, id, body) in &hooks {
        assert!(ids.insert(id.clone()), "{path} got {id} twice");
        assert_eq!(body["notificationId"], id.as_str());
        assert!(requested.contains_key(id), "{body}");
    }
    let records = deliveries(&space);
    let webhook_ids: BTreeSet<&String> = requested
        .iter()
        .filter(|(id, _)| records.get(*id).and_then(|r| r.get("channel")).is_some_and(|c| c != "email"))
        .map(|(id, _)| id)
        .collect();
    assert_eq!(ids.iter().collect::<BTreeSet<_>>(), webhook_ids, "every SMS and push notification, once");
    assert!(records.values().all(|r| r["state"] == "sent"), "{records:?}");
    let retried = records.values().filter(|r| r["attempts"] != "1").count();
    assert!(retried >= 2, "the outage and the gateway's 503 made attempts again: {records:?}");

    // Alice's history, through the API: every notification of hers, newest first, sent.
    let api = Api::new(&space, Duration::from_secs(5));
    let alice = api.token("usr-alice", ApiRole::Shopper);
    let (status, page) = api.get("/api/v1/notifications/history?pageSize=100", Some(&alice));
    assert_eq!(status, StatusCode::OK, "{page}");
    let hers: BTreeSet<&String> =
        requested.iter().filter(|(_, (user, _))| user == "usr-alice").map(|(id, _)| id).collect();
    assert_eq!(page["total"], hers.len(), "{page}");
    let items = page["items"].as_array().unwrap();
    let listed: BTreeSet<&str> = items.iter().map(|i| i["notificationId"].as_str().unwrap()).collect();
    assert_eq!(listed, hers.iter().map(|s| s.as_str()).collect(), "{page}");
    let times: Vec<&str> = items.iter().map(|i| i["requestedAt"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first: {times:?}");
    assert!(items.iter().all(|i| i["status"] == "sent" && i["sentAt"].is_string()), "{page}");
    let mail = items.iter().find(|i| i["template"] == "order_paid" && i["channel"] == "email").unwrap();
    assert_eq!(mail["subject"], paid, "{mail}");
    let (_, second) = api.get("/api/v1/notifications/history?page=2&pageSize=5", Some(&alice));
    assert_eq!(second["items"].as_array().unwrap().len(), 5, "{second}");
    assert_eq!(second["items"][0], items[5], "pages follow one order");
    let bob = api.token("usr-bob", ApiRole::Shopper);
    let (_, his) = api.get("/api/v1/notifications/history", Some(&bob));
    assert!(
        his["items"].as_array().unwrap().iter().all(|i| i["notificationId"] != items[0]["notificationId"]),
        "only one's own"
    );
    let (status, bad) = api.get("/api/v1/notifications/history?pageSize=0", Some(&alice));
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");

    // An admin's broadcast by e-mail: to whoever allows e-mail (Alice, not Bob), rendered for
    // each; the same Idempotency-Key again produces nothing new.
    let admin = api.token("adm-1", ApiRole::Admin);
    let path = "/api/v1/admin/notifications/broadcast";
    let sale = serde_json::json!({
        "template": "sale",
        "subject": "A sale for you, {{ name }}",
        "body": "Hello {{ name }}, everything is half off.",
        "channel": "email",
    });
    let key = [("idempotency-key", "broadcast-1")];
    let sent = api.send("POST", path, Some(&admin), &key, Some(&sale));
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.body);
    assert_eq!(sent.body["recipients"], 1, "{}", sent.body);
    wait_until("the broadcast mail", 60, has(&["A sale for you, Alice"]));
    let again = api.send("POST", path, Some(&admin), &key, Some(&sale));
    assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.body);
    assert_eq!(again.body["broadcastId"], sent.body["broadcastId"]);
    let mails = mailbox(&maildir);
    let sales: Vec<&Mail> = mails.iter().filter(|m| m.subject.starts_with("A sale for you")).collect();
    assert_eq!(sales.len(), 1, "{sales:?}");
    assert!(sales[0].to.contains("usr-alice@example.com") && sales[0].body.contains("Hello Alice,"), "{sales:?}");
    let bad = serde_json::json!({"template": "Sale!", "subject": "", "body": "{{ oops", "channel": "fax"});
    let refused = api.send("POST", path, Some(&admin), &[], Some(&bad));
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    for field in ["template", "subject", "body", "channel"] {
        assert!(refused.body.to_string().contains(field), "{field} named: {}", refused.body);
    }
    let shopper = api.send("POST", path, Some(&alice), &[], Some(&sale));
    assert_eq!(shopper.status, StatusCode::FORBIDDEN, "{}", shopper.body);
    drop((smtp, pipe, notify));
}

#[test]
fn following_from_inside_a_batch_yields_every_later_record_once() {
    // tansu answers a fetch from inside a multi-record batch from the next batch on.
    let space = Space::new("follow");
    space.run_ok(&["topics", "create", "--partitions", "3"]);
    let topic = space.topic("shop.notifications");
    let producer = shopflow_ingest::producer::RecordProducer::new(&support::brokers()).unwrap();
    for i in 0..30 {
        producer.send(&topic, "usr-same", format!("record {i}").as_bytes()).unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let read_from = |start: i64| -> Vec<(i64, String)> {
        runtime.block_on(async {
            let probe = shopflow_ingest::follow::Follower::new(&support::brokers(), &topic, &BTreeMap::new()).unwrap();
            let partition = {
                let mut probe = probe;
                probe.next().await.unwrap().partition
            };
            let starts = [(partition, start)].into();
            let mut follower = shopflow_ingest::follow::Follower::new(&support::brokers(), &topic, &starts).unwrap();
            let mut read = Vec::new();
            while let Ok(Ok(record)) = tokio::time::timeout(Duration::from_secs(2), follower.next()).await {
                assert_eq!(record.partition, partition);
                read.push((record.offset, String::from_utf8(record.value).unwrap()));
            }
            read
        })
    };
    let all = read_from(0);
    assert_eq!(all.len(), 30, "{all:?}");
    let from_16 = read_from(all[16].0);
    assert_eq!(from_16, all[16..].to_vec(), "every record from the 17th on, once, in order");
}
