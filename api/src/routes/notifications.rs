//! A shopper's notification preferences: `GET /notifications/preferences`
//! (`{email, sms, push}` as served with their profile; all on until they say
//! otherwise) and `PUT /notifications/preferences` (User.PreferencesUpdated
//! for the caller). What the pipeline requests follows the preferences as of
//! each event's time (`views.md`, "Notifications").

use super::{check_id, read_as, read_doc, with_as_of, Route};
use crate::auth::Caller;
use crate::error::AppError;
use crate::openapi::Access;
use crate::write::table::{route, Spec, Verb, Who};
use crate::AppState;
use axum::extract::State;
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
    ]
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
