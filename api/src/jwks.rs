//! Tokens of an external OpenID Connect provider (`--jwks-url`): RS256,
//! verified with the provider's published keys (a JWKS), chosen by the
//! token's `kid`; `iss` must be the provider's (`--jwks-issuer`), `aud` this
//! API's. Keys are cached for `--jwks-cache-secs` and fetched again after
//! that, or sooner when a token names a `kid` the cache lacks (a rotation),
//! at most once every [`MIN_REFETCH`]. A key the provider no longer
//! publishes is refused from the next fetch on.
//!
//! Such a token signs a person in as a shopper whose userId is the token's
//! `sub` (roles come from shopflow's own tokens only).

use crate::auth::{Claims, Role};
use crate::error::AppError;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// The soonest a `kid` the cache lacks makes the keys be fetched again.
pub const MIN_REFETCH: Duration = Duration::from_secs(5);
/// How long fetching the keys may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest JWKS document read.
const MAX_DOCUMENT: usize = 1 << 20;

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

struct Cache {
    keys: HashMap<String, DecodingKey>,
    fetched: Option<Instant>,
}

/// A provider's keys, cached.
pub struct Jwks {
    url: hyper::Uri,
    validation: Validation,
    ttl: Duration,
    cache: RwLock<Cache>,
    fetching: tokio::sync::Mutex<()>,
    client: Client<Https, Empty<Bytes>>,
}

/// What an external token says.
#[derive(Deserialize)]
struct External {
    sub: String,
    exp: i64,
    #[serde(default)]
    iat: Option<i64>,
    iss: String,
}

impl Jwks {
    /// The keys at `url` (http or https), for tokens of `issuer` meant for `audience`, cached `ttl`.
    pub fn new(url: &str, issuer: &str, audience: &str, ttl: Duration) -> Result<Jwks, String> {
        let url: hyper::Uri = url.parse().map_err(|e| format!("JWKS URL `{url}`: {e}"))?;
        if !matches!(url.scheme_str(), Some("http" | "https")) || url.host().is_none() {
            return Err(format!("JWKS URL `{url}`: expected http(s)://host/path"));
        }
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| format!("the system's certificates: {e}"))?
            .https_or_http()
            .enable_http1()
            .build();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        Ok(Jwks {
            url,
            validation,
            ttl,
            cache: RwLock::new(Cache { keys: HashMap::new(), fetched: None }),
            fetching: tokio::sync::Mutex::new(()),
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    /// Fetches the keys again (unless another caller just did).
    async fn refresh(&self, since: Option<Instant>) -> Result<(), String> {
        let _one_at_a_time = self.fetching.lock().await;
        if self.cache.read().expect("not poisoned").fetched != since {
            return Ok(()); // fetched while this caller waited
        }
        let fetched = tokio::time::timeout(FETCH_TIMEOUT, self.fetch()).await;
        let keys = match fetched {
            Ok(Ok(keys)) => keys,
            Ok(Err(e)) => Err(e)?,
            Err(_) => Err(format!("fetching {} took over {FETCH_TIMEOUT:?}", self.url))?,
        };
        *self.cache.write().expect("not poisoned") = Cache { keys, fetched: Some(Instant::now()) };
        Ok(())
    }

    async fn fetch(&self) -> Result<HashMap<String, DecodingKey>, String> {
        let response = self.client.get(self.url.clone()).await.map_err(|e| format!("fetching {}: {e}", self.url))?;
        if !response.status().is_success() {
            return Err(format!("fetching {}: {}", self.url, response.status()));
        }
        let body = http_body_util::Limited::new(response.into_body(), MAX_DOCUMENT)
            .collect()
            .await
            .map_err(|e| format!("reading {}: {e}", self.url))?
            .to_bytes();
        let set: JwkSet = serde_json::from_slice(&body).map_err(|e| format!("{} is not a JWKS: {e}", self.url))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let (Some(kid), AlgorithmParameters::RSA(_)) = (&jwk.common.key_id, &jwk.algorithm) else { continue };
            if let Ok(key) = DecodingKey::from_jwk(jwk) {
                keys.insert(kid.clone(), key);
            }
        }
        Ok(keys)
    }

    /// The key of `kid`, fetching the keys first when the cache is stale or lacks it.
    async fn key(&self, kid: &str) -> Result<Option<DecodingKey>, String> {
        let (key, fetched) = {
            let cache = self.cache.read().expect("not poisoned");
            (cache.keys.get(kid).cloned(), cache.fetched)
        };
        let stale = fetched.is_none_or(|at| at.elapsed() >= self.ttl);
        let may_refetch = fetched.is_none_or(|at| at.elapsed() >= MIN_REFETCH);
        if stale || (key.is_none() && may_refetch) {
            self.refresh(fetched).await?;
            return Ok(self.cache.read().expect("not poisoned").keys.get(kid).cloned());
        }
        Ok(key)
    }

    /// Checks a token of the provider: the caller's claims (a shopper).
    pub async fn verify(&self, token: &str, kid: &str) -> Result<Claims, AppError> {
        let key = self.key(kid).await.map_err(|e| {
            tracing::warn!("identity provider keys unavailable: {e}");
            AppError::unavailable("jwks_unavailable", "the identity provider's keys cannot be fetched")
        })?;
        let key = key.ok_or_else(|| AppError::unauthorized(format!("invalid token: unknown key id `{kid}`")))?;
        let external = jsonwebtoken::decode::<External>(token, &key, &self.validation)
            .map_err(|e| AppError::unauthorized(format!("invalid token: {e}")))?
            .claims;
        if !shopflow_topics::fields::is_valid_id(&external.sub) {
            return Err(AppError::unauthorized("invalid token: sub is not a valid user id"));
        }
        let audience = self.validation.aud.iter().flatten().next().cloned().unwrap_or_default();
        Ok(Claims {
            sub: external.sub,
            exp: external.exp,
            iat: external.iat.unwrap_or_else(|| chrono::Utc::now().timestamp()),
            iss: external.iss,
            aud: audience,
            role: Role::Shopper,
            vendor_id: None,
            token_use: None,
            jti: None,
            session: None,
        })
    }
}
