//! Authentication: HS256 JWTs with `iss`, `aud`, `exp` required and the
//! algorithm pinned; roles shopper, vendor (with `vendorId`) and admin.

use crate::error::AppError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Longest life of an access token.
pub const MAX_TTL_SECONDS: i64 = 15 * 60;

/// A caller's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A shopper: sees only their own objects.
    Shopper,
    /// A vendor: their own products and orders.
    Vendor,
    /// An admin: everything.
    Admin,
}

/// The claims shopflow tokens carry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Claims {
    /// The userId.
    pub sub: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Role.
    pub role: Role,
    /// For vendors: their vendorId.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_id: Option<String>,
}

/// Verifies and mints tokens.
#[derive(Clone)]
pub struct Auth {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
}

impl Auth {
    /// HS256 with `secret`, expecting `issuer` and `audience`.
    pub fn hs256(secret: &[u8], issuer: &str, audience: &str) -> Auth {
        // Pinned: tokens signed with any other algorithm (or none) are refused.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        Auth {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: issuer.to_string(),
            audience: audience.to_string(),
        }
    }

    /// Mints a token for `sub` living `ttl_seconds` (at most 15 minutes).
    pub fn mint(&self, sub: &str, role: Role, vendor_id: Option<&str>, ttl_seconds: i64) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: sub.to_string(),
            exp: now + ttl_seconds.clamp(1, MAX_TTL_SECONDS),
            iat: now,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            role,
            vendor_id: vendor_id.map(str::to_string),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).expect("HS256 signing works")
    }

    /// Checks a bearer token.
    pub fn verify(&self, token: &str) -> Result<Claims, AppError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| AppError::unauthorized(format!("invalid token: {e}")))?;
        let claims = data.claims;
        if claims.exp - claims.iat.min(claims.exp) > MAX_TTL_SECONDS + 5 {
            return Err(AppError::unauthorized("token lives longer than 15 minutes"));
        }
        if claims.role == Role::Vendor && claims.vendor_id.is_none() {
            return Err(AppError::unauthorized("a vendor token needs vendorId"));
        }
        Ok(claims)
    }
}

/// The authenticated caller (extractor: 401 without a valid token).
#[derive(Clone, Debug)]
pub struct Caller(pub Claims);

impl Caller {
    /// Whether the caller may see objects of `user_id`.
    pub fn may_see(&self, user_id: &str) -> bool {
        self.0.role == Role::Admin || self.0.sub == user_id
    }

    /// 403 unless the caller is an admin.
    pub fn require_admin(&self) -> Result<(), AppError> {
        if self.0.role == Role::Admin {
            Ok(())
        } else {
            Err(AppError::forbidden("admins only"))
        }
    }
}

impl FromRequestParts<crate::AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &crate::AppState) -> Result<Caller, AppError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| AppError::unauthorized("missing Authorization: Bearer <token>"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or_else(|| AppError::unauthorized("Authorization must be 'Bearer <token>'"))?;
        state.auth.verify(token.trim()).map(Caller)
    }
}

/// An optional caller: `None` without an `Authorization` header, 401 with a bad one.
impl axum::extract::OptionalFromRequestParts<crate::AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &crate::AppState) -> Result<Option<Caller>, AppError> {
        if parts.headers.contains_key(axum::http::header::AUTHORIZATION) {
            <Caller as FromRequestParts<crate::AppState>>::from_request_parts(parts, state).await.map(Some)
        } else {
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Auth {
        Auth::hs256(b"secret", "shopflow", "shopflow-api")
    }

    #[test]
    fn minted_tokens_verify_and_carry_the_role() {
        let token = auth().mint("usr-1", Role::Shopper, None, 60);
        let claims = auth().verify(&token).unwrap();
        assert_eq!((claims.sub.as_str(), claims.role), ("usr-1", Role::Shopper));
    }

    #[test]
    fn wrong_secret_issuer_audience_and_expiry_are_refused() {
        let token = auth().mint("usr-1", Role::Admin, None, 60);
        assert!(Auth::hs256(b"other", "shopflow", "shopflow-api").verify(&token).is_err());
        assert!(Auth::hs256(b"secret", "someone-else", "shopflow-api").verify(&token).is_err());
        assert!(Auth::hs256(b"secret", "shopflow", "another-api").verify(&token).is_err());
        let now = chrono::Utc::now().timestamp();
        let expired = Claims {
            sub: "u".into(),
            exp: now - 60,
            iat: now - 120,
            iss: "shopflow".into(),
            aud: "shopflow-api".into(),
            role: Role::Admin,
            vendor_id: None,
        };
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &expired, &EncodingKey::from_secret(b"secret"))
                .unwrap();
        assert!(auth().verify(&token).is_err());
    }

    #[test]
    fn alg_none_is_refused() {
        let good = auth().mint("usr-1", Role::Admin, None, 60);
        let payload = good.split('.').nth(1).unwrap();
        // {"alg":"none","typ":"JWT"}
        let forged = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
        assert!(auth().verify(&forged).is_err());
    }

    #[test]
    fn vendor_tokens_need_a_vendor_id() {
        let token = auth().mint("usr-1", Role::Vendor, None, 60);
        assert!(auth().verify(&token).is_err());
        let token = auth().mint("usr-1", Role::Vendor, Some("ven-1"), 60);
        assert_eq!(auth().verify(&token).unwrap().vendor_id.as_deref(), Some("ven-1"));
    }
}
