//! `POST /auth/refresh` `{refreshToken}`: a new access token and a new
//! refresh token for a refresh token not used before (rotation: a stolen
//! token that was already used is refused, and so is the thief's replay),
//! of the user's current session version (signing out, a password reset
//! and a suspension move it on, revoking every refresh token before).

use super::Route;
use crate::auth::{MAX_TTL_SECONDS, REFRESH_TTL_SECONDS};
use crate::error::AppError;
use crate::form::{self, Form};
use crate::openapi::{Access, Doc, Input, Output};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Json;
use serde_json::{json, Value};

/// The routes of this family.
pub fn routes() -> Vec<Route> {
    let doc = Doc {
        method: "POST",
        path: "/api/v1/auth/refresh",
        summary: "a new access token (and refresh token) for a refresh token, once",
        access: Access::Anyone,
        input: Input::Fields(&[("refreshToken", "string", true)]),
        output: Output::Object,
        query: &[],
    };
    vec![(doc, post(refresh))]
}

/// The handler.
pub async fn refresh(State(state): State<AppState>, bytes: Bytes) -> Result<Json<Value>, AppError> {
    let body = form::parse(&bytes)?;
    let form = Form::new(&body)?;
    let token = form.take(form.obj().str("refreshToken"));
    form.finish()?;
    let claims = state.auth.verify_refresh(&token.unwrap_or_default())?;
    if !state.auth.can_mint() {
        return Err(AppError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "cannot_mint",
            "this API verifies tokens with a public key only; refresh at the identity provider",
        ));
    }
    let current = super::accounts::session_version(&state, &claims.sub).await?;
    if claims.session.unwrap_or(0) != current {
        return Err(AppError::unauthorized("refresh token revoked (signed out, password reset or suspended)"));
    }
    let jti = claims.jti.as_deref().unwrap_or_default();
    let first =
        state.breakers.redis.call(state.stores.requests.first_use("refresh", jti, REFRESH_TTL_SECONDS as u64)).await?;
    if !first {
        return Err(AppError::unauthorized("refresh token already used"));
    }
    let vendor = claims.vendor_id.as_deref();
    Ok(Json(json!({
        "accessToken": state.auth.mint(&claims.sub, claims.role, vendor, MAX_TTL_SECONDS),
        "refreshToken": state.auth.mint_refresh_in(&claims.sub, claims.role, vendor, current),
        "tokenType": "Bearer",
        "expiresIn": MAX_TTL_SECONDS,
    })))
}
