//! What the pipeline said, for admins: `GET /admin/alerts` (the latest
//! derived events of `shop.alerts`: inventory alerts and Fraud.Suspected),
//! `GET /admin/dead-letters` (the records the pipeline could not decode, with
//! where they were and why), and
//! `POST /admin/dead-letters/{topic}/{partition}/{offset}/replay`, which
//! produces a corrected record to the dead letter's source topic — so bad
//! input is never lost and can be mended.
//!
//! Both lists are read straight from their topics, the durable record: the
//! newest [`TAIL`] records of each partition, newest first. A rebuild
//! re-emits derived events and dead letters under the same ids, so each
//! appears once.

use super::{paged, read_doc, write_doc, PageQuery, Route};
use crate::auth::Caller;
use crate::error::AppError;
use crate::openapi::{Access, Doc, Input};
use crate::write::{body_of, write, TailRecord};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Json;
use serde_json::{json, Value};
use shopflow_topics::events::DeadLetter;
use shopflow_topics::{Envelope, Event, Topic};
use std::collections::BTreeMap;

/// Records read from the end of each partition of a topic.
pub const TAIL: i64 = 1_000;

/// Items per page, by default and at most.
const PAGE_SIZE: (usize, usize) = (50, 500);

/// The routes of this family.
pub fn routes() -> Vec<Route> {
    let paged = &[("page", "1-based"), ("pageSize", "1-500, default 50")];
    vec![
        (
            Doc {
                query: paged,
                ..read_doc(
                    "/api/v1/admin/alerts",
                    "the latest derived events of shop.alerts (inventory alerts, Fraud.Suspected), newest first",
                    Access::Admin,
                )
            },
            get(alerts),
        ),
        (
            Doc {
                query: paged,
                ..read_doc(
                    "/api/v1/admin/dead-letters",
                    "records the pipeline could not decode: topic, partition, offset, reason, payload; newest first",
                    Access::Admin,
                )
            },
            get(dead_letters),
        ),
        (
            write_doc(
                "POST",
                "/api/v1/admin/dead-letters/{topic}/{partition}/{offset}/replay",
                "produces the corrected record (`value`: the event, as a JSON object or text) to the dead letter's source topic",
                Access::Admin,
                Input::Fields(&[("value", "object", true)]),
            ),
            post(replay),
        ),
    ]
}

/// The tail of `topic`, or 503 when Kafka cannot be read.
async fn tail(state: &AppState, topic: Topic) -> Result<Vec<TailRecord>, AppError> {
    state.breakers.kafka.call(state.stores.events.tail(topic, TAIL)).await
}

/// One page of `items` (already in order).
fn page_of(items: Vec<Value>, query: &PageQuery) -> Result<Json<Value>, AppError> {
    Ok(Json(paged(items, query.get(PAGE_SIZE.0, PAGE_SIZE.1)?)))
}

/// `GET /admin/alerts?page=&pageSize=`: `{items: [{id, type, time, subject, data}], total, page, pageSize}`.
pub async fn alerts(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<PageQuery>,
) -> Result<Json<Value>, AppError> {
    caller.require_admin()?;
    query.get(PAGE_SIZE.0, PAGE_SIZE.1)?;
    let mut latest: BTreeMap<String, Envelope> = BTreeMap::new();
    for record in tail(&state, Topic::Alerts).await? {
        match Envelope::decode_record(Topic::Alerts.name(), None, &record.value) {
            Ok(envelope) => {
                latest.entry(envelope.id.clone()).or_insert(envelope);
            }
            Err(reason) => {
                tracing::warn!(partition = record.partition, offset = record.offset, %reason, "an undecodable alert")
            }
        }
    }
    let mut events: Vec<Envelope> = latest.into_values().collect();
    events.sort_by(|a, b| (b.time, &b.id).cmp(&(a.time, &a.id)));
    let items = events
        .iter()
        .map(|e| {
            json!({"id": e.id, "type": e.type_name(), "time": e.time, "subject": e.subject, "data": e.event.data_json()})
        })
        .collect();
    page_of(items, &query)
}

/// A dead letter as it was read: its envelope's time and what it says.
struct Letter {
    at: shopflow_topics::EventTime,
    letter: DeadLetter,
}

/// The dead letters on the topic, one per source record (the first telling).
async fn letters(state: &AppState) -> Result<Vec<Letter>, AppError> {
    let mut found: BTreeMap<(String, i64, i64), Letter> = BTreeMap::new();
    for record in tail(state, Topic::DeadLetter).await? {
        let Ok(Envelope { time, event: Event::DeadLetter(letter), .. }) =
            Envelope::decode_record(Topic::DeadLetter.name(), None, &record.value)
        else {
            tracing::warn!(partition = record.partition, offset = record.offset, "an undecodable dead letter");
            continue;
        };
        found.entry((letter.topic.clone(), letter.partition, letter.offset)).or_insert(Letter { at: time, letter });
    }
    let mut letters: Vec<Letter> = found.into_values().collect();
    letters.sort_by(|a, b| {
        (b.at, &b.letter.topic, b.letter.partition, b.letter.offset).cmp(&(
            a.at,
            &a.letter.topic,
            a.letter.partition,
            a.letter.offset,
        ))
    });
    Ok(letters)
}

/// `GET /admin/dead-letters?page=&pageSize=`: `{items: [{topic, partition, offset, key?, reason,
/// payload? | payloadBase64?, at}], total, page, pageSize}`.
pub async fn dead_letters(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<PageQuery>,
) -> Result<Json<Value>, AppError> {
    caller.require_admin()?;
    query.get(PAGE_SIZE.0, PAGE_SIZE.1)?;
    let items = letters(&state)
        .await?
        .into_iter()
        .map(|Letter { at, letter }| {
            let mut item = serde_json::to_value(&letter).unwrap_or(Value::Null);
            if let Value::Object(map) = &mut item {
                map.insert("at".into(), json!(at));
            }
            item
        })
        .collect();
    page_of(items, &query)
}

/// `POST /admin/dead-letters/{topic}/{partition}/{offset}/replay` `{value}`: the
/// corrected record, decoded like any record of its topic (400 naming `value`
/// with the reason otherwise), produced to the dead letter's source topic keyed
/// by its subject. 404 when there is no such dead letter. `{topic}` is the
/// topic as the dead letter names it, or its contract name.
pub async fn replay(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((topic, partition, offset)): Path<(String, String, String)>,
    bytes: Bytes,
) -> Result<Response, AppError> {
    caller.require_admin()?;
    let body = body_of(&bytes)?;
    let partition: i64 = partition
        .parse()
        .ok()
        .filter(|p| *p >= 0)
        .ok_or_else(|| AppError::bad_request("partition: a non-negative integer"))?;
    let offset: i64 = offset
        .parse()
        .ok()
        .filter(|o| *o >= 0)
        .ok_or_else(|| AppError::bad_request("offset: a non-negative integer"))?;
    let value = match body.get("value") {
        Some(Value::String(text)) => text.clone().into_bytes(),
        Some(object @ Value::Object(_)) => object.to_string().into_bytes(),
        _ => return Err(AppError::bad_request("value: the corrected record, a JSON object or its text")),
    };
    let letter = letters(&state)
        .await?
        .into_iter()
        .map(|l| l.letter)
        .find(|l| {
            l.partition == partition
                && l.offset == offset
                && (l.topic == topic
                    || Topic::from_name(&topic).is_some_and(|t| state.stores.events.topic_name(t) == l.topic))
        })
        .ok_or_else(|| AppError::not_found("dead letter"))?;
    let contract =
        Topic::ALL.into_iter().find(|t| state.stores.events.topic_name(*t) == letter.topic).ok_or_else(|| {
            AppError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_topic",
                format!("the dead letter's topic {} is not a topic of this deployment", letter.topic),
            )
        })?;
    let envelope = Envelope::decode_record(contract.name(), None, &value)
        .map_err(|reason| AppError::bad_request(format!("value: {reason}")))?;
    let route = "POST /admin/dead-letters/replay";
    write(&state, Some(&caller), &headers, route, &body, |ticket| async {
        let outcome =
            state.breakers.kafka.call(state.stores.events.send(std::slice::from_ref(&envelope))).await.map(|written| {
                let extra = json!({
                    "replayedFrom": {"topic": letter.topic, "partition": letter.partition, "offset": letter.offset},
                });
                (written, extra)
            });
        (ticket, outcome)
    })
    .await
}
