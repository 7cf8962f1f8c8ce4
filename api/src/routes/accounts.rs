//! Accounts (`api.md`, "Accounts"): register, sign in and out, reset a
//! forgotten password, a TOTP second factor, the profile, deleting one's
//! account, and an admin's look at and suspension of a user.
//!
//! Credentials live on `shop.credentials` (User.CredentialsSet carries an
//! argon2id PHC string, never a password) and are served from Redis like any
//! view: `credential` by userId, `login` by login name. What only the API
//! needs for a while lives in Redis notes: the session version of each user
//! (refresh tokens carry it; signing out, a reset and a suspension move it
//! on), reset tokens by their SHA-256 (15 minutes, one use), a second factor
//! being enrolled (10 minutes), the mark that refuses a suspended user's
//! access tokens until the last of them has expired.
//!
//! Sign-in is rate limited per account and per client address, and answers
//! an unknown account exactly as a wrong password: the same 401, after the
//! same argon2id work (an absent account is checked against a hash of the
//! same parameters).

use super::{answer, check_id, read, read_as, Route};
use crate::auth::{Caller, Role, MAX_TTL_SECONDS};
use crate::error::AppError;
use crate::form::{self, Form};
use crate::identity;
use crate::limits::{client_address, too_many, SUSPENDED};
use crate::openapi::{Access, Doc, Input, Output};
use crate::write::table::{prepare, write_prepared, Spec, Verb, Who};
use crate::write::{envelope, event_of, second_id, write, write_one};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::Json;
use serde_json::{json, Value};
use shopflow_sinks::redis::Bucket;
use shopflow_views::users::{login_name, CredentialView, UserView};
use shopflow_views::vendors::{VendorApplication, VendorStatus};
use shopflow_views::Family;

/// How long a reset token works.
pub const RESET_MINUTES: u64 = 15;
/// How long an enrolment waits for its first code.
const ENROLL_SECONDS: u64 = 600;
/// How long a registering e-mail is held against a second registration
/// before the pipeline serves the first (a registration that failed to be
/// written keeps it that long too, so it is short).
const EMAIL_HOLD_SECONDS: u64 = 60;
/// Note kinds.
const SESSION: &str = "session";
const RESET: &str = "reset";
const ENROLLING: &str = "mfa-enrolling";

const fn doc(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    access: Access,
    input: Input,
    output: Output,
) -> Doc {
    Doc { method, path, summary, access, input, output, query: &[] }
}

/// The routes of this family.
pub fn routes() -> Vec<Route> {
    use Access::{Admin, Anyone, Caller as Own};
    use Output::{Object, Written};
    let none = Input::Nothing;
    vec![
        (
            doc(
                "POST",
                "/api/v1/auth/register",
                "a shopper's account: User.Registered and User.CredentialsSet; 409 email_taken",
                Anyone,
                Input::Fields(&[("email", "string", true), ("password", "string", true), ("name", "string", true)]),
                Written,
            ),
            post(register),
        ),
        (
            doc(
                "POST",
                "/api/v1/auth/login",
                "an access and refresh token for an e-mail and password (and TOTP code when the second factor is on)",
                Anyone,
                Input::Fields(&[("email", "string", true), ("password", "string", true), ("totp", "string", false)]),
                Object,
            ),
            post(login),
        ),
        (doc("POST", "/api/v1/auth/logout", "revokes the caller's refresh tokens", Own, none, Object), post(logout)),
        (
            doc(
                "POST",
                "/api/v1/auth/forgot-password",
                "mails a one-use reset link (15 minutes) when the account exists; always 202",
                Anyone,
                Input::Fields(&[("email", "string", true)]),
                Output::Accepted,
            ),
            post(forgot_password),
        ),
        (
            doc(
                "POST",
                "/api/v1/auth/reset-password",
                "a new password for a reset token; revokes the user's refresh tokens",
                Anyone,
                Input::Fields(&[("token", "string", true), ("password", "string", true)]),
                Written,
            ),
            post(reset_password),
        ),
        (
            doc(
                "POST",
                "/api/v1/auth/mfa/enroll",
                "a new TOTP secret (base32 and otpauth URI) to confirm with a code",
                Own,
                none,
                Object,
            ),
            post(enroll),
        ),
        (
            doc(
                "POST",
                "/api/v1/auth/mfa/confirm",
                "turns the second factor on with a code of the enrolled secret: User.MfaSet",
                Own,
                Input::Fields(&[("totp", "string", true)]),
                Written,
            ),
            post(confirm),
        ),
        (doc("GET", "/api/v1/users/profile", "the caller's profile", Own, none, Object), get(own_profile)),
        (
            doc(
                "PUT",
                "/api/v1/users/profile",
                "User.ProfileUpdated (and User.CredentialsSet when the e-mail, the login name, changes)",
                Own,
                Input::Event("User.ProfileUpdated"),
                Written,
            ),
            put(update_profile),
        ),
        (
            doc(
                "DELETE",
                "/api/v1/users/account",
                "User.Deleted; revokes the caller's refresh tokens",
                Own,
                none,
                Written,
            ),
            delete(delete_account),
        ),
        (doc("GET", "/api/v1/users/{id}", "a user's profile", Admin, none, Object), get(user_by_id)),
        (
            doc(
                "POST",
                "/api/v1/admin/users/{id}/suspend",
                "User.Suspended: the user's tokens and sign-ins refused",
                Admin,
                Input::Fields(&[("reason", "string", true)]),
                Written,
            ),
            post(suspend),
        ),
    ]
}

// ------------------------------------------------------------------ helpers

/// The user's session version: refresh tokens of another one are refused.
pub async fn session_version(state: &AppState, user_id: &str) -> Result<i64, AppError> {
    let note = state.breakers.redis.call(state.stores.requests.note(SESSION, user_id)).await?;
    Ok(note.and_then(|n| n.parse().ok()).unwrap_or(0))
}

/// Moves the user's session version on: every refresh token before is refused.
async fn end_sessions(state: &AppState, user_id: &str) -> Result<(), AppError> {
    state.breakers.redis.call(state.stores.requests.bump_note(SESSION, user_id)).await?;
    Ok(())
}

/// The client's address of a request.
pub struct ClientAddress(pub String);

impl axum::extract::FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<ClientAddress, Self::Rejection> {
        Ok(ClientAddress(client_address(&parts.extensions)))
    }
}

/// Takes a sign-in attempt from the account's and the address's buckets; 429 when either is empty.
async fn attempt(state: &AppState, what: &str, account: &str, address: &str) -> Result<(), Response> {
    let rate = state.limits.logins;
    if rate.burst == 0 {
        return Ok(());
    }
    let now = chrono::Utc::now().timestamp_millis();
    for bucket in [format!("{what}:account:{account}"), format!("{what}:address:{address}")] {
        let taken =
            state.breakers.redis.call(state.stores.requests.take(&bucket, None, rate.burst, rate.per_second, now));
        match taken.await {
            Ok(Bucket::Empty(wait_ms)) => return Err(too_many("attempts", wait_ms)),
            Ok(_) => {}
            Err(e) => return Err(e.into_response()),
        }
    }
    Ok(())
}

/// An e-mail field: trimmed, with an `@`, no spaces, at most 254 characters.
fn email(form: &Form<'_>, field: &str) -> Option<String> {
    let value = form.take(form.obj().str(field))?;
    let value = value.trim().to_string();
    let ok = value.len() <= 254
        && !value.chars().any(char::is_whitespace)
        && value.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty());
    form.check(ok, field, "an e-mail address");
    ok.then_some(value)
}

/// A new password field: 8 to 256 bytes.
fn new_password(form: &Form<'_>, field: &str) -> Option<String> {
    let value = form.take(form.obj().str(field))?;
    let ok = (identity::MIN_PASSWORD..=identity::MAX_PASSWORD).contains(&value.len())
        && value.chars().count() >= identity::MIN_PASSWORD;
    form.check(
        ok,
        field,
        &format!("at least {} characters, at most {} bytes", identity::MIN_PASSWORD, identity::MAX_PASSWORD),
    );
    ok.then_some(value)
}

/// Hashes off the async threads: argon2id takes tens of milliseconds of a core.
async fn hash(password: String) -> Result<String, AppError> {
    tokio::task::spawn_blocking(move || identity::hash_password(&password))
        .await
        .map_err(|e| AppError::store("hashing", e))
}

async fn verify(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || identity::verify_password(&password, &hash)).await.unwrap_or(false)
}

/// The served credentials of a login name (live users only).
async fn login_of(state: &AppState, name: &str) -> Result<Option<CredentialView>, AppError> {
    let (_, mut found) = read_as::<CredentialView>(state, Family::Login, &[name]).await?;
    Ok(found.pop().flatten())
}

/// The served credentials of a user.
async fn credential_of(state: &AppState, user_id: &str) -> Result<Option<CredentialView>, AppError> {
    let (_, mut found) = read_as::<CredentialView>(state, Family::Credential, &[user_id]).await?;
    Ok(found.pop().flatten())
}

fn email_taken() -> AppError {
    AppError::new(StatusCode::CONFLICT, "email_taken", "an account with this e-mail exists")
}

fn invalid_credentials() -> AppError {
    AppError::new(StatusCode::UNAUTHORIZED, "invalid_credentials", "wrong e-mail or password")
}

fn cannot_mint() -> AppError {
    AppError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "cannot_mint",
        "this API verifies tokens with a public key only; sign in at the identity provider",
    )
}

fn sealer(state: &AppState) -> Result<&identity::Sealer, AppError> {
    state.sealer.as_ref().ok_or_else(|| {
        AppError::unavailable("mfa_unavailable", "no sealing key is configured (--seal-key); second factors are off")
    })
}

fn unix_now() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0)
}

// ----------------------------------------------------------------- handlers

/// `POST /auth/register` `{email, password, name}`.
pub async fn register(State(state): State<AppState>, headers: HeaderMap, bytes: Bytes) -> Result<Response, AppError> {
    let body = form::parse(&bytes)?;
    let form = Form::new(&body)?;
    let address = email(&form, "email");
    let password = new_password(&form, "password");
    let name = form.take(form.obj().str("name")).map(|n| n.trim().to_string());
    form.check(name.as_ref().is_none_or(|n| !n.is_empty() && n.chars().count() <= 200), "name", "1-200 characters");
    form.finish()?;
    let (address, password, name) =
        (address.unwrap_or_default(), password.unwrap_or_default(), name.unwrap_or_default());
    let login = login_name(&address);
    if login_of(&state, &login).await?.is_some() {
        return Err(email_taken());
    }
    // Two registrations racing before the pipeline serves either: the first holds the name.
    let hold = state.stores.requests.first_use("registering", &login, EMAIL_HOLD_SECONDS);
    if !state.breakers.redis.call(hold).await? {
        return Err(email_taken());
    }
    let password_hash = hash(password).await?;
    let user_id = crate::write::new_id("usr");
    let registered = event_of(
        "User.Registered",
        &json!({"userId": user_id, "email": address, "name": name, "role": "shopper"}),
        &[],
    )?;
    let credentials = event_of(
        "User.CredentialsSet",
        &json!({"userId": user_id, "email": address, "passwordHash": password_hash}),
        &[],
    )?;
    // The idempotency fingerprint never sees the password.
    let fingerprint = json!({"email": address, "name": name});
    write(&state, None, &headers, "POST /auth/register", &fingerprint, |ticket| async {
        let envelopes =
            [envelope(&ticket.event_id, registered), envelope(&second_id(&ticket.event_id, "cred"), credentials)];
        let outcome = state.breakers.kafka.call(state.stores.events.send(&envelopes)).await;
        (ticket, outcome.map(|written| (written, json!({"userId": user_id}))))
    })
    .await
}

/// `POST /auth/login` `{email, password, totp?}`.
pub async fn login(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    bytes: Bytes,
) -> Result<Response, AppError> {
    let body = form::parse(&bytes)?;
    let form = Form::new(&body)?;
    let given = form.take(form.obj().str("email"));
    let password = form.take(form.obj().str("password"));
    let totp = form.take(form.obj().opt_str("totp"));
    form.check(password.as_ref().is_none_or(|p| p.len() <= identity::MAX_PASSWORD), "password", "too long");
    form.finish()?;
    let login = login_name(&given.unwrap_or_default());
    let password = password.unwrap_or_default();
    if let Err(limited) = attempt(&state, "login", &login, &address).await {
        return Ok(limited);
    }
    if !state.auth.can_mint() {
        return Err(cannot_mint());
    }
    let found = login_of(&state, &login).await?;
    // An unknown account costs the same argon2id work as a wrong password.
    let hash = found.as_ref().map_or_else(|| identity::absent_hash().to_string(), |c| c.password_hash.clone());
    let matches = verify(password, hash).await;
    let credential = match found {
        Some(credential) if matches => credential,
        _ => return Err(invalid_credentials()),
    };
    if let Some(sealed) = &credential.totp_secret_sealed {
        let secret = sealer(&state)?
            .open(sealed)
            .ok_or_else(|| AppError::store("credentials", "a second factor that does not open with this key"))?;
        match totp.flatten() {
            None => return Err(AppError::new(StatusCode::UNAUTHORIZED, "mfa_required", "a TOTP code is required")),
            Some(code) if !identity::totp_matches(&secret, &code, unix_now()) => {
                return Err(AppError::new(StatusCode::UNAUTHORIZED, "invalid_totp", "wrong or expired TOTP code"))
            }
            Some(_) => {}
        }
    }
    let user_id = credential.user_id;
    let (_, found) = read(&state, &[(Family::User, &user_id), (Family::VendorApplication, &user_id)]).await?;
    let user: Option<UserView> = found[0].clone().and_then(|v| serde_json::from_value(v).ok());
    let application: Option<VendorApplication> = found[1].clone().and_then(|v| serde_json::from_value(v).ok());
    let (role, vendor) = match (user.map(|u| u.role), application) {
        (Some(shopflow_topics::events::Role::Admin), _) => (Role::Admin, None),
        (_, Some(a)) if a.status == Some(VendorStatus::Approved) => (Role::Vendor, Some(a.vendor_id)),
        _ => (Role::Shopper, None),
    };
    let session = session_version(&state, &user_id).await?;
    Ok(Json(json!({
        "accessToken": state.auth.mint(&user_id, role, vendor.as_deref(), MAX_TTL_SECONDS),
        "refreshToken": state.auth.mint_refresh_in(&user_id, role, vendor.as_deref(), session),
        "tokenType": "Bearer",
        "expiresIn": MAX_TTL_SECONDS,
        "userId": user_id,
        "role": role,
    }))
    .into_response())
}

/// `POST /auth/logout`.
pub async fn logout(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, AppError> {
    end_sessions(&state, &caller.0.sub).await?;
    Ok(Json(json!({"userId": caller.0.sub, "refreshTokensRevoked": true})))
}

/// `POST /auth/forgot-password` `{email}`: always 202 (whether the account
/// exists is not told); the mail is requested in the background.
pub async fn forgot_password(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, AppError> {
    let body = form::parse(&bytes)?;
    let form = Form::new(&body)?;
    let given = email(&form, "email");
    form.finish()?;
    let login = login_name(&given.unwrap_or_default());
    if let Err(limited) = attempt(&state, "reset", &login, &address).await {
        return Ok(limited);
    }
    let base = match &state.public_url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => match headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()) {
            Some(host) => format!("http://{host}"),
            None => "http://localhost".to_string(),
        },
    };
    let background = state.clone();
    tokio::spawn(async move {
        if let Err(e) = mail_reset(&background, &login, &base).await {
            tracing::warn!(code = e.code, "a password reset was not requested: {}", e.message);
        }
    });
    Ok((StatusCode::ACCEPTED, Json(json!({"accepted": true}))).into_response())
}

/// Stores a reset token for the account of `login`, if there is one, and
/// requests its mail (template `password_reset`) from the dispatcher.
async fn mail_reset(state: &AppState, login: &str, base: &str) -> Result<(), AppError> {
    let Some(credential) = login_of(state, login).await? else { return Ok(()) };
    let user_id = credential.user_id;
    let (_, users) = read_as::<UserView>(state, Family::User, &[&user_id]).await?;
    let name = users.into_iter().flatten().next().map(|u| u.name).unwrap_or_default();
    let (token, digest) = identity::new_reset_token();
    let store = state.stores.requests.put_note(RESET, &digest, &user_id, RESET_MINUTES * 60);
    state.breakers.redis.call(store).await?;
    let vars = [
        ("name".to_string(), name),
        ("link".to_string(), format!("{base}/reset-password?token={token}")),
        ("minutes".to_string(), RESET_MINUTES.to_string()),
    ]
    .into_iter()
    .collect();
    let (subject, text) =
        shopflow_views::notifications::render("password_reset", &vars).map_err(|e| AppError::store("templates", e))?;
    let notification_id = crate::write::new_id("ntf");
    let event = event_of(
        "Notification.Requested",
        &json!({"notificationId": notification_id, "userId": user_id, "channel": "email",
                "template": "password_reset", "subject": subject, "body": text}),
        &[],
    )?;
    state.breakers.kafka.call(state.stores.events.send(&[envelope(&notification_id, event)])).await?;
    Ok(())
}

/// `POST /auth/reset-password` `{token, password}`.
pub async fn reset_password(State(state): State<AppState>, bytes: Bytes) -> Result<Response, AppError> {
    let body = form::parse(&bytes)?;
    let form = Form::new(&body)?;
    let token = form.take(form.obj().str("token"));
    let password = new_password(&form, "password");
    form.finish()?;
    let spent = || AppError::invalid_fields(vec![("token".into(), "unknown, used or expired".into())]);
    let digest = identity::token_digest(token.unwrap_or_default().trim());
    let user_id =
        state.breakers.redis.call(state.stores.requests.take_note(RESET, &digest)).await?.ok_or_else(spent)?;
    let credential = credential_of(&state, &user_id).await?.ok_or_else(spent)?;
    let password_hash = hash(password.unwrap_or_default()).await?;
    let event = event_of(
        "User.CredentialsSet",
        &json!({"userId": user_id, "email": credential.email, "passwordHash": password_hash}),
        &[],
    )?;
    let written =
        write_one(&state, None, &HeaderMap::new(), "POST /auth/reset-password", &json!({}), event, json!({})).await?;
    end_sessions(&state, &user_id).await?;
    Ok(written)
}

/// `POST /auth/mfa/enroll`: a secret to add to an authenticator app, on until confirmed.
pub async fn enroll(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, AppError> {
    let sealer = sealer(&state)?;
    let user_id = &caller.0.sub;
    let credential = credential_of(&state, user_id).await?.ok_or_else(|| AppError::not_found("credentials"))?;
    let secret = identity::new_totp_secret();
    let sealed = sealer.seal(&secret);
    let store = state.stores.requests.put_note(ENROLLING, user_id, &sealed, ENROLL_SECONDS);
    state.breakers.redis.call(store).await?;
    let encoded = identity::base32(&secret);
    let label: String = credential
        .email
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"@._-".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    Ok(Json(json!({
        "secret": encoded,
        "otpauthUri": format!("otpauth://totp/shopflow:{label}?secret={encoded}&issuer=shopflow&algorithm=SHA1&digits=6&period=30"),
        "expiresIn": ENROLL_SECONDS,
    })))
}

/// `POST /auth/mfa/confirm` `{totp}`: User.MfaSet with the enrolled secret, sealed.
pub async fn confirm(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, AppError> {
    let sealer = sealer(&state)?;
    let body = form::parse(&bytes)?;
    let form = Form::new(&body)?;
    let code = form.take(form.obj().str("totp"));
    form.finish()?;
    let user_id = caller.0.sub.clone();
    let sealed = state
        .breakers
        .redis
        .call(state.stores.requests.note(ENROLLING, &user_id))
        .await?
        .ok_or_else(|| AppError::new(StatusCode::CONFLICT, "not_enrolling", "POST /auth/mfa/enroll first"))?;
    let secret = sealer.open(&sealed).ok_or_else(|| AppError::store("redis", "an enrolment that does not open"))?;
    if !identity::totp_matches(&secret, &code.unwrap_or_default(), unix_now()) {
        return Err(AppError::invalid_fields(vec![("totp".into(), "does not match the enrolled secret".into())]));
    }
    state.breakers.redis.call(state.stores.requests.take_note(ENROLLING, &user_id)).await?;
    let event = event_of("User.MfaSet", &json!({"userId": user_id, "totpSecretSealed": sealed}), &[])?;
    write_one(&state, Some(&caller), &headers, "POST /auth/mfa/confirm", &json!({}), event, json!({})).await
}

async fn profile(state: &AppState, user_id: &str) -> Result<Json<Value>, AppError> {
    let (as_of, mut found) = read_as::<UserView>(state, Family::User, &[user_id]).await?;
    let user = found.pop().flatten().ok_or_else(|| AppError::not_found("user"))?;
    Ok(Json(answer(&user, as_of)?))
}

/// `GET /users/profile`.
pub async fn own_profile(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, AppError> {
    profile(&state, &caller.0.sub).await
}

/// `GET /users/{id}` (admins).
pub async fn user_by_id(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    caller.require_admin()?;
    check_id("id", &id)?;
    profile(&state, &id).await
}

/// `PUT /users/profile` `{name?, email?, address?, phone?}`: a new e-mail is
/// the new login name too (User.CredentialsSet with the same hash).
pub async fn update_profile(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, AppError> {
    let body = crate::write::body_of(&bytes)?;
    let user_id = caller.0.sub.clone();
    let mut new_email = None;
    if body.get("email").is_some() {
        let form = Form::new(&body)?;
        new_email = email(&form, "email");
        form.finish()?;
    }
    let updated = event_of("User.ProfileUpdated", &body, &[("userId", Value::from(user_id.as_str()))])?;
    let mut credentials = None;
    if let Some(address) = new_email {
        let login = login_name(&address);
        if login_of(&state, &login).await?.is_some_and(|c| c.user_id != user_id) {
            return Err(email_taken());
        }
        if let Some(current) = credential_of(&state, &user_id).await? {
            if login_name(&current.email) != login {
                let hold = state.stores.requests.first_use("registering", &login, EMAIL_HOLD_SECONDS);
                if !state.breakers.redis.call(hold).await? {
                    return Err(email_taken());
                }
                let set = json!({"userId": user_id, "email": address, "passwordHash": current.password_hash});
                credentials = Some(event_of("User.CredentialsSet", &set, &[])?);
            }
        }
    }
    write(&state, Some(&caller), &headers, "PUT /users/profile", &body, |ticket| async {
        let mut envelopes = vec![envelope(&ticket.event_id, updated)];
        if let Some(event) = credentials {
            envelopes.push(envelope(&second_id(&ticket.event_id, "cred"), event));
        }
        let outcome = state.breakers.kafka.call(state.stores.events.send(&envelopes)).await;
        (ticket, outcome.map(|written| (written, json!({}))))
    })
    .await
}

/// `DELETE /users/account`: User.Deleted, and the caller's refresh tokens revoked.
pub async fn delete_account(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, AppError> {
    const SPEC: Spec = Spec::new(Verb::Delete, "/api/v1/users/account", "User.Deleted", Who::User);
    let prepared = prepare(&caller, None, &bytes, &SPEC)?;
    let written = write_prepared(&state, &caller, &headers, prepared).await?;
    end_sessions(&state, &caller.0.sub).await?;
    Ok(written)
}

/// `POST /admin/users/{id}/suspend` `{reason}`: User.Suspended; the user's
/// refresh tokens revoked and their access tokens refused from now on.
pub async fn suspend(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, AppError> {
    const SPEC: Spec =
        Spec::new(Verb::Post, "/api/v1/admin/users/{id}/suspend", "User.Suspended", Who::Admin).path_field("userId");
    let prepared = prepare(&caller, Some(&id), &bytes, &SPEC)?;
    let written = write_prepared(&state, &caller, &headers, prepared).await?;
    end_sessions(&state, &id).await?;
    // Past the life of any access token the user holds (and the verifier's leeway).
    let block = state.stores.requests.put_note(SUSPENDED, &id, "1", MAX_TTL_SECONDS as u64 + 10);
    state.breakers.redis.call(block).await?;
    Ok(written)
}
