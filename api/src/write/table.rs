//! The writes whose event is the body's `data` plus the fields the API
//! sets: a [`Spec`] per route says which event, who may write it, and which
//! fields come from the token, the path or a new id. A family declares its
//! routes of this kind with [`route`]; those that check more (a live product,
//! an own order) [`prepare`] the event and check before [`write_prepared`].

use super::{body_of, event_of, new_id, write_one};
use crate::auth::{Caller, Role};
use crate::error::AppError;
use crate::openapi::{Access, Doc, Input, Output};
use crate::routes::check_id;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{delete, post, put, MethodRouter};
use serde_json::{json, Map, Value};
use shopflow_topics::Event;

/// On whose behalf a write is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    /// Any signed-in caller, for themselves: the token's subject goes to `userId`.
    User,
    /// A vendor, for their store: the token's `vendorId` goes to `vendorId`.
    Vendor,
    /// Admins only; the body may name the ids the API would otherwise make up.
    Admin,
}

/// The method of a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    /// POST.
    Post,
    /// PUT.
    Put,
    /// DELETE.
    Delete,
}

impl Verb {
    /// As HTTP spells it.
    pub fn name(self) -> &'static str {
        match self {
            Verb::Post => "POST",
            Verb::Put => "PUT",
            Verb::Delete => "DELETE",
        }
    }
}

/// A write whose event is its body's `data` plus the fields the API sets.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// The event type (`TYPE_NAME` of its data struct).
    pub type_name: &'static str,
    /// The method.
    pub verb: Verb,
    /// The full path (`/api/v1/...`), `{id}` standing for the path's id.
    pub path: &'static str,
    /// Who may write it, and which field the token fills.
    pub who: Who,
    /// The data field the path's `{id}` goes to, if the route has one.
    pub path_field: Option<&'static str>,
    /// A data field the API fills with a new id, and its prefix.
    pub generated: Option<(&'static str, &'static str)>,
}

impl Spec {
    /// A write of `type_name` at `verb path` for `who`, nothing from the path, no new id.
    pub const fn new(verb: Verb, path: &'static str, type_name: &'static str, who: Who) -> Spec {
        Spec { type_name, verb, path, who, path_field: None, generated: None }
    }

    /// The path's `{id}` goes to `field`.
    pub const fn path_field(self, field: &'static str) -> Spec {
        Spec { path_field: Some(field), ..self }
    }

    /// `field` gets a new id with `prefix` (admins may name it).
    pub const fn generated(self, field: &'static str, prefix: &'static str) -> Spec {
        Spec { generated: Some((field, prefix)), ..self }
    }

    /// Its description for `/openapi.json`.
    pub fn doc(&self, summary: &'static str) -> Doc {
        let access = match self.who {
            Who::User => Access::Caller,
            Who::Vendor => Access::Vendor,
            Who::Admin => Access::Admin,
        };
        Doc {
            method: self.verb.name(),
            path: self.path,
            summary,
            access,
            input: Input::Event(self.type_name),
            output: Output::Written,
            query: &[],
        }
    }
}

/// A path below `/api/v1`, as routes name themselves in logs and idempotency records.
fn below_api(path: &'static str) -> &'static str {
    path.strip_prefix("/api/v1").unwrap_or(path)
}

/// A write made ready: the body, its event, the answer's extra fields, the route.
pub struct Prepared {
    /// The body as sent.
    pub body: Value,
    /// The event it makes.
    pub event: Event,
    extra: Value,
    route: String,
}

/// The vendor a caller writes for; 403 unless they are a vendor.
pub fn vendor_of(caller: &Caller) -> Result<String, AppError> {
    match (caller.0.role, &caller.0.vendor_id) {
        (Role::Vendor, Some(vendor)) => Ok(vendor.clone()),
        _ => Err(AppError::forbidden("vendors only")),
    }
}

/// Checks the caller's role and the body, and makes the event of `spec`.
pub fn prepare(caller: &Caller, id: Option<&str>, bytes: &Bytes, spec: &Spec) -> Result<Prepared, AppError> {
    let mut set: Vec<(&str, Value)> = Vec::new();
    match spec.who {
        Who::User => set.push(("userId", Value::from(caller.0.sub.as_str()))),
        Who::Vendor => set.push(("vendorId", Value::from(vendor_of(caller)?))),
        Who::Admin => caller.require_admin()?,
    }
    let body = body_of(bytes)?;
    let mut extra = Map::new();
    let mut route = format!("{} {}", spec.verb.name(), below_api(spec.path));
    if let (Some(field), Some(id)) = (spec.path_field, id) {
        check_id(field, id)?;
        set.push((field, Value::from(id)));
        extra.insert(field.to_string(), Value::from(id));
        route = route.replace("{id}", id);
    }
    if let Some((field, prefix)) = spec.generated {
        let value = match body.get(field) {
            Some(given) if spec.who == Who::Admin => given.clone(),
            _ => Value::from(new_id(prefix)),
        };
        extra.insert(field.to_string(), value.clone());
        set.push((field, value));
    }
    let event = event_of(spec.type_name, &body, &set)?;
    Ok(Prepared { body, event, extra: Value::Object(extra), route })
}

/// Writes a prepared event.
pub async fn write_prepared(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    prepared: Prepared,
) -> Result<Response, AppError> {
    let Prepared { body, event, extra, route } = prepared;
    write_one(state, Some(caller), headers, &route, &body, event, extra).await
}

/// A write of the table: no check beyond the body and the caller's role.
async fn by_table(
    state: AppState,
    caller: Caller,
    id: Option<String>,
    headers: HeaderMap,
    bytes: Bytes,
    spec: Spec,
) -> Result<Response, AppError> {
    let prepared = prepare(&caller, id.as_deref(), &bytes, &spec)?;
    write_prepared(&state, &caller, &headers, prepared).await
}

/// The route of a write of the table, with its description.
pub fn route(spec: Spec, summary: &'static str) -> (Doc, MethodRouter<AppState>) {
    let by_id = move |State(state): State<AppState>,
                      caller: Caller,
                      Path(id): Path<String>,
                      headers: HeaderMap,
                      bytes: Bytes| { by_table(state, caller, Some(id), headers, bytes, spec) };
    let plain = move |State(state): State<AppState>, caller: Caller, headers: HeaderMap, bytes: Bytes| {
        by_table(state, caller, None, headers, bytes, spec)
    };
    let router = match (spec.verb, spec.path_field.is_some()) {
        (Verb::Post, true) => post(by_id),
        (Verb::Put, true) => put(by_id),
        (Verb::Delete, true) => delete(by_id),
        (Verb::Post, false) => post(plain),
        (Verb::Put, false) => put(plain),
        (Verb::Delete, false) => delete(plain),
    };
    (spec.doc(summary), router)
}

/// A clickstream write: anyone may send it; the token's user when there is
/// one (`userId` never from the body).
async fn clickstream(
    state: AppState,
    caller: Option<Caller>,
    headers: HeaderMap,
    bytes: Bytes,
    type_name: &'static str,
    path: &'static str,
) -> Result<Response, AppError> {
    let route = format!("POST {path}");
    let mut body = body_of(&bytes)?;
    if let Value::Object(map) = &mut body {
        map.remove("userId");
    }
    let set: Vec<(&str, Value)> = caller.iter().map(|c| ("userId", Value::from(c.0.sub.as_str()))).collect();
    let event = event_of(type_name, &body, &set)?;
    write_one(&state, caller.as_ref(), &headers, &route, &body, event, json!({})).await
}

/// The route of a clickstream write of `type_name` at `POST path` (a full path).
pub fn clickstream_route(
    path: &'static str,
    type_name: &'static str,
    fields: &'static [(&'static str, &'static str, bool)],
) -> (Doc, MethodRouter<AppState>) {
    let handler =
        post(move |State(state): State<AppState>, caller: Option<Caller>, headers: HeaderMap, bytes: Bytes| {
            clickstream(state, caller, headers, bytes, type_name, below_api(path))
        });
    let doc = Doc {
        method: "POST",
        path,
        summary: type_name,
        access: Access::Optional,
        input: Input::Fields(fields),
        output: Output::Written,
        query: &[],
    };
    (doc, handler)
}
