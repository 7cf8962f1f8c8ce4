//! A shopper's notifications: `GET /notifications/preferences` (`{email,
//! sms, push}` as served with their profile; all on until they say
//! otherwise), `PUT /notifications/preferences` (User.PreferencesUpdated for
//! the caller) and `GET /notifications/history` (what the dispatcher has
//! handled for them, newest first, from its delivery records). What the
//! pipeline requests follows the preferences as of each event's time
//! (`views.md`, "Notifications").

use super::{check_id, read_as, read_doc, with_as_of, PageQuery, Route};
use crate::auth::Caller;
use crate::error::AppError;
use crate::openapi::{Access, Doc};
use crate::write::table::{route, Spec, Verb, Who};
use crate::AppState;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::Json;
use serde_json::{json, Value};
use shopflow_topics::events::UserPreferencesUpdated;
use shopflow_views::users::UserView;
use shopflow_views::Family;

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
    ]
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
