//! The write path: events produced to Kafka with the idempotent producer,
//! once per `Idempotency-Key`, answered with where they landed and a
//! consistency token for read-your-writes.
//!
//! A write route checks its body first (400 is never remembered), then
//! [`begin`]s: with an `Idempotency-Key` the key is claimed in Redis, shared
//! by every replica, and becomes the id of the write's event. A retry of a
//! finished write gets the first answer again without producing anything; a
//! retry racing the first gets 409 `request_in_progress`; the same key with
//! another body gets 422 `idempotency_key_reused`. [`finish`] records the
//! answer, or gives the key up when the write failed so a retry can succeed.
//!
//! This module is the engine every write route uses; the routes themselves
//! live with their family in `routes/`. [`table`] makes the writes whose
//! event is the body plus the fields the API sets (most of `api.md`).

pub mod table;

use crate::auth::Caller;
use crate::error::AppError;
use crate::form;
use crate::stores::{Call, EventLog};
use crate::AppState;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{json, Map, Value};
use shopflow_sinks::redis::Claim;
use shopflow_sinks::Offsets;
use shopflow_topics::fields::Obj;
use shopflow_topics::{Envelope, Event, EventTime};
use std::collections::BTreeMap;
use std::time::Duration;

/// The header naming a write once.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// How long an answer is remembered for retries.
pub const REMEMBER_SECONDS: u64 = 24 * 3600;
/// How long a claimed key waits for its request to finish before a retry may take it over.
pub const CLAIM_SECONDS: u64 = 60;

/// Why a write did not reach Kafka.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The producer could not be made (a bad setting).
    #[error("creating the Kafka producer")]
    Create(#[source] rdkafka::error::KafkaError),
    /// The broker did not take a record.
    #[error("producing to {topic}")]
    Produce {
        /// The topic.
        topic: String,
        /// What the client said.
        #[source]
        source: rdkafka::error::KafkaError,
    },
    /// The broker did not say where a partition ends.
    #[error("reading the end of {topic} [{partition}]")]
    Watermarks {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// What the client said.
        #[source]
        source: rdkafka::error::KafkaError,
    },
    /// A topic could not be read back.
    #[error("reading {topic}")]
    Read {
        /// The topic.
        topic: String,
        /// What the client said.
        #[source]
        source: rdkafka::error::KafkaError,
    },
    /// No producer (an API built without its stores, in tests).
    #[error("kafka is not connected")]
    NotConnected,
}

/// A record read back from a topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TailRecord {
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its value.
    pub value: Vec<u8>,
}

/// How long a topic's tail is read after the last record that arrived.
const TAIL_QUIET: Duration = Duration::from_millis(300);
/// How long reading a topic's tail may take at most.
const TAIL_DEADLINE: Duration = Duration::from_secs(10);

/// Produces the API's events (and reads back the topics the pipeline writes).
#[derive(Clone)]
pub struct Writer {
    producer: FutureProducer,
    prefix: String,
    brokers: String,
}

/// Where one event landed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// The event's id.
    pub event_id: String,
    /// The full topic name.
    pub topic: String,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
}

impl Writer {
    /// A producer for `brokers`, writing to topics named `{prefix}{contract topic}`;
    /// a record not acknowledged within `timeout` fails its request with 503.
    pub fn new(brokers: &str, prefix: &str, timeout: Duration) -> Result<Writer, WriteError> {
        let mut config = shopflow_ingest::producer::producer_config(brokers);
        config.set("message.timeout.ms", timeout.as_millis().max(1).to_string()).set("linger.ms", "1");
        let producer: FutureProducer = config.create().map_err(WriteError::Create)?;
        Ok(Writer { producer, prefix: prefix.to_string(), brokers: brokers.to_string() })
    }

    /// The full name of the topic `envelope` goes to.
    pub fn topic_of(&self, envelope: &Envelope) -> String {
        envelope.topic().prefixed(&self.prefix)
    }

    /// Produces `envelopes` in order, each keyed by its subject, and waits for the broker's acknowledgements.
    pub async fn send(&self, envelopes: &[Envelope]) -> Result<Vec<Written>, WriteError> {
        let mut written = Vec::with_capacity(envelopes.len());
        for envelope in envelopes {
            let topic = self.topic_of(envelope);
            let payload = envelope.to_json();
            let record = FutureRecord::to(&topic).key(envelope.key()).payload(&payload);
            match self.producer.send(record, Duration::from_secs(0)).await {
                Ok(delivery) => written.push(Written {
                    event_id: envelope.id.clone(),
                    topic,
                    partition: delivery.partition,
                    offset: delivery.offset,
                }),
                Err((source, _)) => return Err(WriteError::Produce { topic, source }),
            }
        }
        Ok(written)
    }
}

impl Writer {
    /// Per topic: records on its partitions past the `served` offsets (asks the broker; blocking).
    pub fn lag(&self, served: &Offsets) -> Result<BTreeMap<String, i64>, WriteError> {
        use rdkafka::producer::Producer;
        let mut lag = BTreeMap::new();
        for (topic, partitions) in served {
            for (partition, next) in partitions {
                let (_, high) =
                    self.producer.client().fetch_watermarks(topic, *partition, Duration::from_secs(2)).map_err(
                        |source| WriteError::Watermarks { topic: topic.clone(), partition: *partition, source },
                    )?;
                *lag.entry(topic.clone()).or_insert(0) += (high - next).max(0);
            }
        }
        Ok(lag)
    }
}

impl Writer {
    /// The records of `topic` (full name) from up to `per_partition` before
    /// each partition's end, read until nothing more arrives for a moment
    /// (blocking). The end offsets only choose where to start: reading goes
    /// on until quiet, so a broker that reports them low loses nothing.
    pub fn tail(&self, topic: &str, per_partition: i64) -> Result<Vec<TailRecord>, WriteError> {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        use rdkafka::message::Message;
        use rdkafka::{Offset, TopicPartitionList};
        let read = |source| WriteError::Read { topic: topic.to_string(), source };
        let consumer: BaseConsumer =
            shopflow_ingest::source::consumer_config(&self.brokers, "shopflow-api-reader").create().map_err(read)?;
        let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(5)).map_err(read)?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .filter(|t| t.name() == topic && t.error().is_none())
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        let mut assignment = TopicPartitionList::new();
        for partition in &partitions {
            let (low, high) = consumer.fetch_watermarks(topic, *partition, Duration::from_secs(5)).map_err(read)?;
            let start = low.max(high.saturating_sub(per_partition));
            assignment.add_partition_offset(topic, *partition, Offset::Offset(start)).map_err(read)?;
        }
        if partitions.is_empty() {
            return Ok(Vec::new());
        }
        consumer.assign(&assignment).map_err(read)?;
        let started = std::time::Instant::now();
        let mut last = std::time::Instant::now();
        let mut records = Vec::new();
        while last.elapsed() < TAIL_QUIET && started.elapsed() < TAIL_DEADLINE {
            match consumer.poll(Duration::from_millis(50)) {
                Some(Ok(message)) => {
                    records.push(TailRecord {
                        partition: message.partition(),
                        offset: message.offset(),
                        value: message.payload().unwrap_or_default().to_vec(),
                    });
                    last = std::time::Instant::now();
                }
                Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) | None => {}
                Some(Err(source)) => return Err(read(source)),
            }
        }
        Ok(records)
    }
}

impl EventLog for Writer {
    fn send<'a>(&'a self, envelopes: &'a [Envelope]) -> Call<'a, Vec<Written>, WriteError> {
        Box::pin(Writer::send(self, envelopes))
    }

    fn tail<'a>(
        &'a self,
        contract: shopflow_topics::Topic,
        per_partition: i64,
    ) -> Call<'a, Vec<TailRecord>, WriteError> {
        let (writer, topic) = (self.clone(), contract.prefixed(&self.prefix));
        Box::pin(async move {
            tokio::task::spawn_blocking(move || writer.tail(&topic, per_partition))
                .await
                .unwrap_or_else(|_| Err(WriteError::NotConnected))
        })
    }

    fn topic_name(&self, contract: shopflow_topics::Topic) -> String {
        contract.prefixed(&self.prefix)
    }

    fn lag(&self, served: &Offsets) -> Result<BTreeMap<String, i64>, WriteError> {
        Writer::lag(self, served)
    }
}

/// The header carrying a payment provider's signature: hex HMAC-SHA256 of the raw body.
pub const SIGNATURE: &str = "x-signature";

/// The signature of `body` under `secret`: hex HMAC-SHA256 (what a payment
/// provider sends, and what the notification dispatcher's webhooks carry).
pub use shopflow_sinks::notify::webhook::sign as signature;

/// Whether `signature` (hex) is the HMAC-SHA256 of `body` under `secret` (compared in constant time).
pub fn signed(secret: &[u8], body: &[u8], signature: &str) -> bool {
    use hmac::Mac;
    let Some(bytes) = (0..signature.len())
        .step_by(2)
        .map(|i| signature.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect::<Option<Vec<u8>>>()
    else {
        return false;
    };
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret) else { return false };
    mac.update(body);
    mac.verify_slice(&bytes).is_ok()
}

/// A consistency token: `topic:partition:offset` of each written record, comma separated.
pub fn consistency_token(written: &[Written]) -> String {
    written.iter().map(|w| format!("{}:{}:{}", w.topic, w.partition, w.offset)).collect::<Vec<_>>().join(",")
}

/// The records a consistency token names; `None` when it is not one.
pub fn parse_token(token: &str) -> Option<Vec<(String, i32, i64)>> {
    token
        .split(',')
        .map(|part| {
            let mut fields = part.rsplitn(3, ':');
            let offset = fields.next()?.parse().ok()?;
            let partition = fields.next()?.parse().ok()?;
            let topic = fields.next().filter(|t| !t.is_empty())?;
            Some((topic.to_string(), partition, offset))
        })
        .collect()
}

/// Whether served `offsets` include every record of a token.
pub fn includes(offsets: &Offsets, records: &[(String, i32, i64)]) -> bool {
    records.iter().all(|(topic, partition, offset)| {
        offsets.get(topic).and_then(|parts| parts.get(partition)).is_some_and(|next| next > offset)
    })
}

/// A fresh id: `prefix` and 16 random hex digits.
pub fn new_id(prefix: &str) -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the OS has randomness");
    format!("{prefix}-{:016x}", u64::from_be_bytes(bytes))
}

/// A write under way: its event id and the claimed idempotency key, if any.
pub struct Ticket {
    /// The id of the write's (first) event.
    pub event_id: String,
    key: Option<String>,
}

/// What [`begin`] decided.
pub enum Begun {
    /// Go on with this ticket.
    Go(Ticket),
    /// Answer this (the remembered answer of a finished write, or why not now).
    Answer(Response),
}

/// Starts a write of `caller` to `route` with `body`: claims the `Idempotency-Key`, if given.
pub async fn begin(
    state: &AppState,
    caller: Option<&Caller>,
    headers: &HeaderMap,
    route: &str,
    body: &Value,
) -> Result<Begun, AppError> {
    let Some(key) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(Begun::Go(Ticket { event_id: new_id("evt"), key: None }));
    };
    let key = key
        .to_str()
        .ok()
        .filter(|k| shopflow_topics::fields::is_valid_id(k))
        .ok_or_else(|| {
            AppError::invalid_fields(vec![(
                "Idempotency-Key".to_string(),
                "1-64 characters of [A-Za-z0-9._:-]".to_string(),
            )])
        })?
        .to_string();
    let subject = caller.map_or("-", |c| c.0.sub.as_str());
    let fingerprint = format!(
        "{subject} {route} {:032x}",
        shopflow_topics::hash::id_hash(&serde_json::to_string(body).unwrap_or_default())
    );
    let claim = state.breakers.redis.call(state.stores.requests.claim(&key, &fingerprint, CLAIM_SECONDS)).await?;
    Ok(match claim {
        Claim::New => Begun::Go(Ticket { event_id: key.clone(), key: Some(key) }),
        Claim::Done(response) => {
            let body: Value = serde_json::from_str(&response).map_err(|e| AppError::store("redis", e))?;
            let mut answer = (StatusCode::ACCEPTED, Json(body)).into_response();
            answer.headers_mut().insert("idempotent-replayed", axum::http::HeaderValue::from_static("true"));
            Begun::Answer(answer)
        }
        Claim::Pending => Begun::Answer(
            AppError::new(
                StatusCode::CONFLICT,
                "request_in_progress",
                "a request with this Idempotency-Key is being served; retry shortly",
            )
            .into_response(),
        ),
        Claim::Mismatch => Begun::Answer(
            AppError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this Idempotency-Key was used for a different request",
            )
            .into_response(),
        ),
    })
}

/// Ends a write: on success answers 202 with `{eventId, topic, partition, offset,
/// consistencyToken}` of the first record (the token covers all), plus `extra` fields,
/// and remembers the answer; on failure gives the key up.
pub async fn finish(
    state: &AppState,
    ticket: Ticket,
    outcome: Result<(Vec<Written>, Value), AppError>,
) -> Result<Response, AppError> {
    let (written, extra) = match outcome {
        Ok(done) => done,
        Err(error) => {
            if let Some(key) = &ticket.key {
                if let Err(e) = state.breakers.redis.call(state.stores.requests.abandon(key)).await {
                    tracing::warn!("could not release Idempotency-Key {key}: {e}");
                }
            }
            return Err(error);
        }
    };
    let first = written.first().ok_or_else(|| AppError::store("kafka", "a write produced nothing"))?;
    let mut body = json!({
        "eventId": first.event_id,
        "topic": first.topic,
        "partition": first.partition,
        "offset": first.offset,
        "consistencyToken": consistency_token(&written),
    });
    if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
        body.extend(extra);
    }
    if let Some(key) = &ticket.key {
        // The write happened: failing to remember it must not turn it into an error.
        if let Err(e) =
            state.breakers.redis.call(state.stores.requests.complete(key, &body.to_string(), REMEMBER_SECONDS)).await
        {
            tracing::warn!("could not remember the answer for Idempotency-Key {key}: {e}");
        }
    }
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

/// The `source` of the API's events.
pub const SOURCE: &str = "shopflow-api";

/// The event of type `type_name`: the body's fields, with `set` overriding
/// them, decoded strictly; a 400 lists every bad field.
pub fn event_of(type_name: &str, body: &Value, set: &[(&str, Value)]) -> Result<Event, AppError> {
    let mut data: Map<String, Value> = body.as_object().cloned().unwrap_or_default();
    for (field, value) in set {
        data.insert((*field).to_string(), value.clone());
    }
    let data = Value::Object(data);
    let obj = Obj::new(&data, "").map_err(|_| AppError::bad_request("body: expected a JSON object"))?;
    Event::decode_data_all(type_name, &obj).map_err(|errors| {
        let form_errors =
            errors.iter().map(|e| (e.field().unwrap_or("body").to_string(), e.to_string())).collect::<Vec<_>>();
        AppError::invalid_fields(form_errors)
    })
}

/// One event of the API, stamped now.
pub fn envelope(id: &str, event: Event) -> Envelope {
    Envelope::new(id, SOURCE, EventTime::now(), event)
}

/// The id of a further event of one write: it follows from the first, so a retry repeats it.
pub fn second_id(event_id: &str, what: &str) -> String {
    format!("{what}-{:016x}", shopflow_topics::hash::id_hash(&format!("{event_id}/{what}")) as u64)
}

/// A request body as JSON (an empty body is `{}`); 400 when it is not JSON.
pub fn body_of(bytes: &Bytes) -> Result<Value, AppError> {
    if bytes.is_empty() {
        return Ok(json!({}));
    }
    form::parse(bytes)
}

/// Checks, claims and writes: `make` turns the ticket into the events and the extra answer fields.
pub async fn write<F, Fut>(
    state: &AppState,
    caller: Option<&Caller>,
    headers: &HeaderMap,
    route: &str,
    body: &Value,
    make: F,
) -> Result<Response, AppError>
where
    F: FnOnce(Ticket) -> Fut,
    Fut: std::future::Future<Output = (Ticket, Result<(Vec<Written>, Value), AppError>)>,
{
    match begin(state, caller, headers, route, body).await? {
        Begun::Answer(answer) => Ok(answer),
        Begun::Go(ticket) => {
            let (ticket, outcome) = make(ticket).await;
            finish(state, ticket, outcome).await
        }
    }
}

/// Writes one event, with the ticket's id, answering `extra` besides where it landed.
pub async fn write_one(
    state: &AppState,
    caller: Option<&Caller>,
    headers: &HeaderMap,
    route: &str,
    body: &Value,
    event: Event,
    extra: Value,
) -> Result<Response, AppError> {
    write(state, caller, headers, route, body, |ticket| async move {
        let envelope = envelope(&ticket.event_id, event);
        let outcome =
            state.breakers.kafka.call(state.stores.events.send(&[envelope])).await.map(|written| (written, extra));
        (ticket, outcome)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_compare_with_served_offsets() {
        let written = [
            Written { event_id: "e".into(), topic: "t1.shop.orders".into(), partition: 2, offset: 17 },
            Written { event_id: "f".into(), topic: "t1.shop.carts".into(), partition: 0, offset: 0 },
        ];
        let token = consistency_token(&written);
        let records = parse_token(&token).unwrap();
        assert_eq!(records, vec![("t1.shop.orders".into(), 2, 17), ("t1.shop.carts".into(), 0, 0)]);
        let mut served = Offsets::new();
        served.entry("t1.shop.orders".into()).or_default().insert(2, 17);
        served.entry("t1.shop.carts".into()).or_default().insert(0, 1);
        assert!(!includes(&served, &records), "offset 17 is not below next offset 17");
        served.entry("t1.shop.orders".into()).or_default().insert(2, 18);
        assert!(includes(&served, &records));
        assert!(parse_token("nonsense").is_none());
        assert!(parse_token("t:x:1").is_none());
        assert!(parse_token(":1:1").is_none());
    }

    #[test]
    fn signatures_are_hmac_sha256_of_the_body_in_hex() {
        // RFC 4231, test case 2.
        let expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        assert!(super::signed(b"Jefe", b"what do ya want for nothing?", expected));
        assert!(!super::signed(b"Jefe", b"what do ya want for nothing!", expected));
        assert!(!super::signed(b"Jefe", b"what do ya want for nothing?", &expected[..62]));
        assert!(!super::signed(b"Jefe", b"what do ya want for nothing?", "zz"));
        assert!(!super::signed(b"Jefe", b"what do ya want for nothing?", ""));
        assert_eq!(super::signature(b"Jefe", b"what do ya want for nothing?"), expected);
    }

    #[test]
    fn new_ids_are_valid_and_differ() {
        let (a, b) = (new_id("ord"), new_id("ord"));
        assert!(shopflow_topics::fields::is_valid_id(&a) && a.starts_with("ord-"));
        assert_ne!(a, b);
    }
}
