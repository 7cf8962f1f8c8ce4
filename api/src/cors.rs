//! Browsers on other origins (`--cors-origins`): a storefront served
//! elsewhere calls the API from the browser. Requests from an origin of the
//! allow-list get `Access-Control-Allow-Origin` naming it (`*` in the list
//! allows any); preflights (`OPTIONS` with `Access-Control-Request-Method`)
//! are answered 204 by this layer, with the methods and headers the API
//! takes when the origin is allowed and without them otherwise (the browser
//! then refuses). Credentials travel as bearer tokens, never cookies, so no
//! `Allow-Credentials`. None allowed by default.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// How long a browser may keep a preflight's answer.
const MAX_AGE_SECONDS: u32 = 600;
/// The methods the API takes.
const METHODS: &str = "GET, POST, PUT, DELETE, OPTIONS";
/// The request headers the API reads.
const HEADERS: &str = "authorization, content-type, idempotency-key, x-signature, x-request-id";
/// The response headers a page may read.
const EXPOSED: &str = "x-request-id, retry-after, idempotent-replayed";

/// The origins allowed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cors {
    origins: Vec<String>,
    any: bool,
}

impl Cors {
    /// Allows `origins` (`scheme://host[:port]`, no path; `*` for any). An error names a malformed one.
    pub fn new(origins: &[String]) -> Result<Cors, String> {
        let mut cors = Cors::default();
        for origin in origins.iter().map(|o| o.trim()).filter(|o| !o.is_empty()) {
            if origin == "*" {
                cors.any = true;
                continue;
            }
            let origin = origin.trim_end_matches('/');
            let rest = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"));
            let ok = rest.is_some_and(|host| !host.is_empty() && !host.contains('/'));
            if !ok {
                return Err(format!("CORS origin `{origin}`: expected scheme://host[:port], no path"));
            }
            cors.origins.push(origin.to_ascii_lowercase());
        }
        Ok(cors)
    }

    /// The `Access-Control-Allow-Origin` for a request from `origin`, if allowed.
    fn allow(&self, origin: &str) -> Option<HeaderValue> {
        if self.any {
            return Some(HeaderValue::from_static("*"));
        }
        let wanted = origin.to_ascii_lowercase();
        self.origins.contains(&wanted).then(|| HeaderValue::from_str(origin).ok()).flatten()
    }
}

fn decorate(headers: &mut HeaderMap, allowed: Option<HeaderValue>) {
    headers.append(header::VARY, HeaderValue::from_static("origin"));
    if let Some(allowed) = allowed {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSED));
    }
}

/// The middleware.
pub async fn cors(State(state): State<crate::AppState>, request: Request, next: Next) -> Response {
    let origin = request.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok()).map(str::to_string);
    let allowed = origin.as_deref().and_then(|o| state.cors.allow(o));
    if request.method() == Method::OPTIONS {
        let mut response = StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        headers.insert(header::ALLOW, HeaderValue::from_static(METHODS));
        let preflight = request.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        if preflight && allowed.is_some() {
            headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(METHODS));
            headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(HEADERS));
            headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from(MAX_AGE_SECONDS));
        }
        decorate(headers, allowed);
        return response;
    }
    let mut response = next.run(request).await;
    if origin.is_some() {
        decorate(response.headers_mut(), allowed);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_matched_exactly_and_checked() {
        let cors = Cors::new(&["https://shop.example".into(), "http://localhost:3000/".into()]).unwrap();
        assert!(cors.allow("https://shop.example").is_some());
        assert!(cors.allow("HTTPS://SHOP.EXAMPLE").is_some());
        assert!(cors.allow("http://localhost:3000").is_some());
        assert!(cors.allow("https://shop.example.evil.test").is_none());
        assert!(cors.allow("http://shop.example").is_none());
        assert!(Cors::default().allow("https://shop.example").is_none());
        assert_eq!(Cors::new(&["*".into()]).unwrap().allow("https://a.test").unwrap(), "*");
        assert!(Cors::new(&["shop.example".into()]).unwrap_err().contains("scheme://host"));
        assert!(Cors::new(&["https://shop.example/app".into()]).is_err());
    }
}
