//! Authentication: JWTs signed HS256 with a shared secret or RS256 with a
//! key pair (the API needs only the public key to verify), the algorithm
//! pinned; `iss`, `aud`, `exp` and `sub` required; access tokens live at most
//! 15 minutes. Refresh tokens live 7 days, say `tokenUse: "refresh"`, carry
//! a `jti`, and are good for one refresh each (`POST /auth/refresh` rotates
//! them). Roles: shopper, vendor (with `vendorId`) and admin.

use crate::error::AppError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Longest life of an access token.
pub const MAX_TTL_SECONDS: i64 = 15 * 60;
/// Life of a refresh token.
pub const REFRESH_TTL_SECONDS: i64 = 7 * 24 * 3600;
/// The `tokenUse` of refresh tokens.
pub const REFRESH: &str = "refresh";

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
    /// `refresh` for refresh tokens; absent (or `access`) for access tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_use: Option<String>,
    /// A refresh token's id (each is good once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// A refresh token's session version: it is refused once the user's
    /// version has moved on (logout, password reset, suspension). Absent: 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<i64>,
}

/// An RS256 key that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("the RS256 {which} key is not a PEM RSA key")]
pub struct KeyError {
    /// `public` or `private`.
    pub which: &'static str,
    /// What the PEM reader said.
    #[source]
    pub source: jsonwebtoken::errors::Error,
}

/// Verifies and mints tokens.
#[derive(Clone)]
pub struct Auth {
    algorithm: Algorithm,
    /// `None` when the API holds only a public key: it verifies but cannot mint.
    encoding: Option<EncodingKey>,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    /// An external identity provider's keys (`--jwks-url`).
    jwks: Option<std::sync::Arc<crate::jwks::Jwks>>,
}

impl Auth {
    fn with(
        algorithm: Algorithm,
        encoding: Option<EncodingKey>,
        decoding: DecodingKey,
        issuer: &str,
        audience: &str,
    ) -> Auth {
        // Pinned: tokens signed with any other algorithm (or none) are refused.
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        Auth {
            algorithm,
            encoding,
            decoding,
            validation,
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            jwks: None,
        }
    }

    /// HS256 with `secret`, expecting `issuer` and `audience`.
    pub fn hs256(secret: &[u8], issuer: &str, audience: &str) -> Auth {
        Auth::with(
            Algorithm::HS256,
            Some(EncodingKey::from_secret(secret)),
            DecodingKey::from_secret(secret),
            issuer,
            audience,
        )
    }

    /// RS256 verifying with the PEM `public_key`; minting too when given the PEM `private_key`.
    pub fn rs256(
        public_key: &[u8],
        private_key: Option<&[u8]>,
        issuer: &str,
        audience: &str,
    ) -> Result<Auth, KeyError> {
        let decoding = DecodingKey::from_rsa_pem(public_key).map_err(|source| KeyError { which: "public", source })?;
        let encoding = private_key
            .map(|pem| EncodingKey::from_rsa_pem(pem).map_err(|source| KeyError { which: "private", source }))
            .transpose()?;
        Ok(Auth::with(Algorithm::RS256, encoding, decoding, issuer, audience))
    }

    /// Also accepts RS256 tokens of an external identity provider, verified with its keys.
    pub fn with_jwks(mut self, jwks: crate::jwks::Jwks) -> Auth {
        self.jwks = Some(std::sync::Arc::new(jwks));
        self
    }

    /// This API's audience (what tokens' `aud` must be).
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Checks an access token of this API's own, or (with a `kid`, when a
    /// JWKS is configured) of the external identity provider.
    pub async fn verify_access(&self, token: &str) -> Result<Claims, AppError> {
        if let Some(jwks) = &self.jwks {
            if let Ok(header) = jsonwebtoken::decode_header(token) {
                if let (Algorithm::RS256, Some(kid)) = (header.alg, header.kid.as_deref()) {
                    return jwks.verify(token, kid).await;
                }
            }
        }
        self.verify(token)
    }

    /// Whether this API can mint tokens (HS256, or RS256 with the private key).
    pub fn can_mint(&self) -> bool {
        self.encoding.is_some()
    }

    fn sign(&self, claims: &Claims) -> String {
        let key = self.encoding.as_ref().expect("minting needs a signing key: check can_mint first");
        jsonwebtoken::encode(&Header::new(self.algorithm), claims, key).expect("signing a token works")
    }

    /// Mints an access token for `sub` living `ttl_seconds` (at most 15 minutes).
    /// Needs [`Auth::can_mint`].
    pub fn mint(&self, sub: &str, role: Role, vendor_id: Option<&str>, ttl_seconds: i64) -> String {
        let now = chrono::Utc::now().timestamp();
        self.sign(&Claims {
            sub: sub.to_string(),
            exp: now + ttl_seconds.clamp(1, MAX_TTL_SECONDS),
            iat: now,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            role,
            vendor_id: vendor_id.map(str::to_string),
            token_use: None,
            jti: None,
            session: None,
        })
    }

    /// Mints a refresh token (7 days, one use) of session version 0. Needs [`Auth::can_mint`].
    pub fn mint_refresh(&self, sub: &str, role: Role, vendor_id: Option<&str>) -> String {
        self.mint_refresh_in(sub, role, vendor_id, 0)
    }

    /// Mints a refresh token (7 days, one use) of the user's session version `session`.
    pub fn mint_refresh_in(&self, sub: &str, role: Role, vendor_id: Option<&str>, session: i64) -> String {
        let now = chrono::Utc::now().timestamp();
        self.sign(&Claims {
            sub: sub.to_string(),
            exp: now + REFRESH_TTL_SECONDS,
            iat: now,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            role,
            vendor_id: vendor_id.map(str::to_string),
            token_use: Some(REFRESH.to_string()),
            jti: Some(crate::write::new_id("rt")),
            session: (session != 0).then_some(session),
        })
    }

    fn decode(&self, token: &str) -> Result<Claims, AppError> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| AppError::unauthorized(format!("invalid token: {e}")))?
            .claims;
        if claims.role == Role::Vendor && claims.vendor_id.is_none() {
            return Err(AppError::unauthorized("a vendor token needs vendorId"));
        }
        Ok(claims)
    }

    /// Checks an access token.
    pub fn verify(&self, token: &str) -> Result<Claims, AppError> {
        let claims = self.decode(token)?;
        if claims.token_use.as_deref().is_some_and(|u| u != "access") {
            return Err(AppError::unauthorized("not an access token"));
        }
        // Saturating: a token is any numbers its signer chose, and i64::MAX - i64::MIN overflows.
        if claims.exp.saturating_sub(claims.iat.min(claims.exp)) > MAX_TTL_SECONDS + 5 {
            return Err(AppError::unauthorized("token lives longer than 15 minutes"));
        }
        Ok(claims)
    }

    /// Checks a refresh token (its single use is checked by the caller).
    pub fn verify_refresh(&self, token: &str) -> Result<Claims, AppError> {
        let claims = self.decode(token)?;
        if claims.token_use.as_deref() != Some(REFRESH) || claims.jti.is_none() {
            return Err(AppError::unauthorized("not a refresh token"));
        }
        if claims.exp.saturating_sub(claims.iat.min(claims.exp)) > REFRESH_TTL_SECONDS + 5 {
            return Err(AppError::unauthorized("refresh token lives longer than 7 days"));
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
        // Verified already by the rate limiter, in front of every API route.
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| AppError::unauthorized("missing Authorization: Bearer <token>"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or_else(|| AppError::unauthorized("Authorization must be 'Bearer <token>'"))?;
        state.auth.verify_access(token.trim()).await.map(Caller)
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
    use axum::http::StatusCode;
    use serde_json::json;

    const PRIVATE: &[u8] = include_bytes!("../tests/keys/test-rs256.key");
    const PUBLIC: &[u8] = include_bytes!("../tests/keys/test-rs256.pub");

    fn auth() -> Auth {
        Auth::hs256(b"secret-0123456789", "shopflow", "shopflow-api")
    }

    fn rs() -> Auth {
        Auth::rs256(PUBLIC, Some(PRIVATE), "shopflow", "shopflow-api").unwrap()
    }

    /// Claims as JSON, for tokens the minting functions would never make.
    fn claims(exp_from_now: Option<i64>) -> serde_json::Value {
        let now = chrono::Utc::now().timestamp();
        let mut c = json!({"sub": "usr-1", "iat": now, "iss": "shopflow", "aud": "shopflow-api", "role": "admin"});
        if let Some(offset) = exp_from_now {
            c["exp"] = json!(now + offset);
        }
        c
    }

    fn hs(claims: &serde_json::Value, secret: &[u8]) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret)).unwrap()
    }

    fn refused(auth: &Auth, token: &str) -> bool {
        auth.verify(token).is_err_and(|e| e.status == StatusCode::UNAUTHORIZED)
    }

    #[test]
    fn minted_tokens_verify_and_carry_the_role() {
        for auth in [auth(), rs()] {
            let token = auth.mint("usr-1", Role::Shopper, None, 60);
            let claims = auth.verify(&token).unwrap();
            assert_eq!((claims.sub.as_str(), claims.role), ("usr-1", Role::Shopper));
        }
    }

    #[test]
    fn every_bad_token_is_a_401() {
        let good = hs(&claims(Some(60)), b"secret-0123456789");
        assert!(auth().verify(&good).is_ok(), "the crafted claims are valid as such");
        // Expired, missing exp, bad signature, wrong secret.
        assert!(refused(&auth(), &hs(&claims(Some(-60)), b"secret-0123456789")));
        assert!(refused(&auth(), &hs(&claims(None), b"secret-0123456789")));
        assert!(refused(&auth(), &hs(&claims(Some(60)), b"another-secret-987")));
        let (signed, signature) = good.rsplit_once('.').unwrap();
        let flipped: String = signature
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i != 10 {
                    c
                } else if c == 'A' {
                    'B'
                } else {
                    'A'
                }
            })
            .collect();
        assert!(refused(&auth(), &format!("{signed}.{flipped}")), "tampered signature");
        // Wrong issuer, wrong audience.
        let token = auth().mint("usr-1", Role::Admin, None, 60);
        assert!(refused(&Auth::hs256(b"secret-0123456789", "someone-else", "shopflow-api"), &token));
        assert!(refused(&Auth::hs256(b"secret-0123456789", "shopflow", "another-api"), &token));
        // Longer than 15 minutes.
        assert!(refused(&auth(), &hs(&claims(Some(3600)), b"secret-0123456789")));
        // A refresh token is not an access token.
        assert!(refused(&auth(), &auth().mint_refresh("usr-1", Role::Shopper, None)));
        // Issued at the beginning of time (a lifetime that overflows i64): refused, not a panic.
        let mut forever = claims(Some(60));
        forever["iat"] = json!(i64::MIN);
        assert!(refused(&auth(), &hs(&forever, b"secret-0123456789")));
        forever["token_use"] = json!("refresh");
        forever["jti"] = json!("rt-1");
        assert!(auth().verify_refresh(&hs(&forever, b"secret-0123456789")).is_err());
    }

    #[test]
    fn alg_none_and_algorithm_confusion_are_refused() {
        let payload = auth().mint("usr-1", Role::Admin, None, 60).split('.').nth(1).unwrap().to_string();
        // {"alg":"none","typ":"JWT"}
        let forged = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
        assert!(refused(&auth(), &forged));
        assert!(refused(&rs(), &forged));
        // HS256 signed with the RS256 public key as the secret: refused by an RS256 API.
        assert!(refused(&rs(), &hs(&claims(Some(60)), PUBLIC)));
        // An RS256 token at an HS256 API.
        assert!(refused(&auth(), &rs().mint("usr-1", Role::Admin, None, 60)));
    }

    #[test]
    fn refresh_tokens_are_their_own_kind() {
        for auth in [auth(), rs()] {
            let refresh = auth.mint_refresh("usr-1", Role::Vendor, Some("ven-1"));
            let claims = auth.verify_refresh(&refresh).unwrap();
            assert_eq!((claims.sub.as_str(), claims.vendor_id.as_deref()), ("usr-1", Some("ven-1")));
            assert!(claims.jti.is_some() && claims.exp - claims.iat == REFRESH_TTL_SECONDS);
            let access = auth.mint("usr-1", Role::Shopper, None, 60);
            assert!(auth.verify_refresh(&access).is_err(), "an access token is not a refresh token");
        }
        let verify_only = Auth::rs256(PUBLIC, None, "shopflow", "shopflow-api").unwrap();
        assert!(!verify_only.can_mint());
        assert!(verify_only.verify(&rs().mint("usr-1", Role::Admin, None, 60)).is_ok());
    }

    #[test]
    fn vendor_tokens_need_a_vendor_id() {
        let token = auth().mint("usr-1", Role::Vendor, None, 60);
        assert!(auth().verify(&token).is_err());
        let token = auth().mint("usr-1", Role::Vendor, Some("ven-1"), 60);
        assert_eq!(auth().verify(&token).unwrap().vendor_id.as_deref(), Some("ven-1"));
    }
}
