//! A shopper's notifications: `GET /notifications/preferences` (`{email,
//! sms, push}` as served with their profile; all on until they say
//! otherwise), `PUT /notifications/preferences` (User.PreferencesUpdated for
//! the caller) and `GET /notifications/history` (what the dispatcher has
//! handled for them, newest first, from its delivery records); and an
//! admin's `POST /admin/notifications/broadcast`. What the
//! pipeline requests follows the preferences as of each event's time
//! (`views.md`, "Notifications").

use super::{check_id, read_as, read_doc, with_as_of, write_doc, PageQuery, Route};
use crate::auth::Caller;
use crate::error::AppError;
use crate::openapi::{Access, Doc, Input};
use crate::write::table::{route, Spec, Verb, Who};
use crate::write::{body_of, envelope, write, Written};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use serde_json::{json, Value};
use shopflow_topics::events::{Channel, NotificationRequested, UserPreferencesUpdated};
use shopflow_topics::{Event, Topic};
use shopflow_views::notifications::{notification_id, render_str};
use shopflow_views::users::UserView;
use shopflow_views::Family;
use std::collections::BTreeMap;

/// The routes of this family.
pub fn routes() -> Vec<Route> {
    vec![
        (
            read_doc(
                "/api/v1/notifications/preferences",
                "the caller's notification preferences: {email, sms, push}",
                Access::Caller,
            ),
            get(preferences),
        ),
        route(
            Spec::new(Verb::Put, "/api/v1/notifications/preferences", UserPreferencesUpdated::TYPE_NAME, Who::User),
            UserPreferencesUpdated::TYPE_NAME,
        ),
        (
            Doc {
                query: &[("page", "1-based"), ("pageSize", "1-100, default 20")],
                ..read_doc(
                    "/api/v1/notifications/history",
                    "the caller's notifications, newest first: channel, template, subject, body, status (sending, sent, retrying, failed, skipped), requestedAt, sentAt, attempts, error",
                    Access::Caller,
                )
            },
            get(history),
        ),
        (
            write_doc(
                "POST",
                "/api/v1/admin/notifications/broadcast",
                "Notification.Requested on `channel` to every registered user whose preferences allow it; `subject` and `body` are templates with `name` and `userId`",
                Access::Admin,
                Input::Fields(BROADCAST),
            ),
            post(broadcast),
        ),
    ]
}

/// The fields of a broadcast.
const BROADCAST: &[(&str, &str, bool)] =
    &[("template", "string", true), ("subject", "string", true), ("body", "string", true), ("channel", "string", true)];

/// How long the broadcast's walk over every served user may take.
const SCAN_BOUND: std::time::Duration = std::time::Duration::from_secs(60);

/// How many notifications one produce call carries.
const BROADCAST_CHUNK: usize = 1_000;

/// A broadcast's fields, checked: (template, subject, body, channel); a 400 lists every bad one.
fn broadcast_of(body: &Value) -> Result<(String, String, String, Channel), AppError> {
    let mut bad = Vec::new();
    let text = |field: &str, max: usize, bad: &mut Vec<(String, String)>| -> String {
        match body.get(field).and_then(Value::as_str) {
            Some(t) if !t.trim().is_empty() && t.chars().count() <= max => t.to_string(),
            _ => {
                bad.push((field.to_string(), format!("a non-empty string of at most {max} characters")));
                String::new()
            }
        }
    };
    let template = text("template", 64, &mut bad);
    if !template.is_empty() && !template.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        bad.push(("template".into(), "a name of [a-z0-9_]".into()));
    }
    let subject = text("subject", 200, &mut bad);
    if subject.contains('\n') {
        bad.push(("subject".into(), "one line".into()));
    }
    let text_body = text("body", 10_000, &mut bad);
    let sample: BTreeMap<String, String> =
        [("name", "Ann"), ("userId", "usr-1")].into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    for (field, value) in [("subject", &subject), ("body", &text_body)] {
        if !value.is_empty() {
            if let Err(e) = render_str(value, &sample) {
                bad.push((field.to_string(), format!("does not render: {e}")));
            }
        }
    }
    let channel = body.get("channel").and_then(Value::as_str).and_then(Channel::parse);
    if channel.is_none() {
        bad.push(("channel".into(), "email, sms or push".into()));
    }
    match channel {
        Some(channel) if bad.is_empty() => Ok((template, subject, text_body, channel)),
        _ => Err(AppError::invalid_fields(bad)),
    }
}

/// `POST /admin/notifications/broadcast` `{template, subject, body, channel}`:
/// one Notification.Requested per served user whose preferences allow
/// `channel`, its subject and body rendered with their `name` and `userId`,
/// its notificationId a hash of (userId, channel, template, the broadcast):
/// a retry with the same `Idempotency-Key` repeats the ids, so the
/// dispatcher sends each once. Answers 202 with the first record's place,
/// `broadcastId` and `recipients` (every record is produced before it answers).
pub async fn broadcast(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, AppError> {
    caller.require_admin()?;
    let body = body_of(&bytes)?;
    let (template, subject, text_body, channel) = broadcast_of(&body)?;
    // SCAN walks every key of Redis (O(all keys)): bounded on its own, well above a point read's.
    let scan = state.breakers.redis.call_within(SCAN_BOUND, state.stores.views.scan(Family::User));
    let (_, users) = scan.await?.ok_or_else(super::not_ready)?;
    let mut recipients: Vec<UserView> = users
        .into_iter()
        .filter_map(|(_, json)| serde_json::from_str::<UserView>(&json).ok())
        .filter(|user| match channel {
            Channel::Email => user.preferences.email,
            Channel::Sms => user.preferences.sms,
            Channel::Push => user.preferences.push,
        })
        .collect();
    recipients.sort_by(|a, b| a.user_id.cmp(&b.user_id));
    if recipients.is_empty() {
        let topic = state.stores.events.topic_name(Topic::Notifications);
        return Ok((StatusCode::ACCEPTED, Json(json!({"recipients": 0, "topic": topic}))).into_response());
    }
    let route = "POST /admin/notifications/broadcast";
    write(&state, Some(&caller), &headers, route, &body, |ticket| async {
        let broadcast_id = ticket.event_id.clone();
        let mut written: Vec<Written> = Vec::new();
        let mut outcome = Ok(());
        for chunk in recipients.chunks(BROADCAST_CHUNK) {
            let mut envelopes = Vec::with_capacity(chunk.len());
            for user in chunk {
                let vars: BTreeMap<String, String> = [("name", user.name.as_str()), ("userId", user.user_id.as_str())]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                let rendered = render_str(&subject, &vars).and_then(|s| Ok((s, render_str(&text_body, &vars)?)));
                let Ok((user_subject, user_body)) = rendered else { continue };
                let id = notification_id(&user.user_id, channel, &template, &format!("broadcast/{broadcast_id}"));
                let event = NotificationRequested {
                    notification_id: id.clone(),
                    user_id: user.user_id.clone(),
                    channel,
                    template: template.clone(),
                    subject: user_subject,
                    body: user_body,
                };
                envelopes.push(envelope(&id, Event::NotificationRequested(event)));
            }
            match state.breakers.kafka.call(state.stores.events.send(&envelopes)).await {
                Ok(sent) => written.extend(sent),
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            }
        }
        let extra = json!({"broadcastId": broadcast_id, "recipients": written.len()});
        // The answer names the first record; the token, the last of each partition (it covers the rest).
        let mut last: BTreeMap<(String, i32), Written> = BTreeMap::new();
        for w in written.iter().skip(1) {
            let at = last.entry((w.topic.clone(), w.partition)).or_insert_with(|| w.clone());
            if w.offset > at.offset {
                *at = w.clone();
            }
        }
        let named: Vec<Written> = written.into_iter().take(1).chain(last.into_values()).collect();
        (ticket, outcome.map(|()| (named, extra)))
    })
    .await
}

/// `GET /notifications/history?page=&pageSize=`: `{items, total, page,
/// pageSize, asOf}`, newest first; the newest
/// [`HISTORY_KEPT`](shopflow_sinks::notify::ledger::HISTORY_KEPT) are kept.
/// `asOf` is the served state's; the records are the dispatcher's own, as
/// they are now.
pub async fn history(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<PageQuery>,
) -> Result<Json<Value>, AppError> {
    let user = caller.0.sub.clone();
    check_id("userId", &user)?;
    let (page, size) = query.get(20, 100)?;
    let skip = (page - 1).saturating_mul(size);
    let requests = state.stores.requests.notification_history(&user, skip, size);
    let (total, items) = state.breakers.redis.call(requests).await?;
    let as_of = state.breakers.redis.call(state.stores.views.status()).await?.map_or(0, |s| s.as_of);
    let page = json!({"items": items, "total": total, "page": page, "pageSize": size});
    Ok(Json(with_as_of(page, as_of)))
}

/// `GET /notifications/preferences`: `{email, sms, push, asOf}`; 404 when the
/// caller has no served profile (not registered, or deleted).
pub async fn preferences(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, AppError> {
    let user = caller.0.sub.clone();
    check_id("userId", &user)?;
    let (as_of, mut values) = read_as::<UserView>(&state, Family::User, &[&user]).await?;
    let profile = values.pop().flatten().ok_or_else(|| AppError::not_found("user"))?;
    let p = profile.preferences;
    Ok(Json(with_as_of(json!({"email": p.email, "sms": p.sms, "push": p.push}), as_of)))
}
