//! SMS and push as signed HTTP webhooks: a JSON POST to the configured
//! endpoint (the SMS or push gateway of the deployment), signed like the
//! payment provider's callbacks — `X-Signature`: hex HMAC-SHA256 of the body
//! under the shared secret — and carrying `X-Notification-Id`, so the
//! gateway can verify the sender and drop a copy.

use super::ledger::Finished;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use std::time::Duration;

/// The header with the body's signature.
pub const SIGNATURE: &str = "x-signature";

/// The header with the notificationId.
pub const NOTIFICATION_ID: &str = "x-notification-id";

/// The signature of `body` under `secret`: hex HMAC-SHA256.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// What a webhook receives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Payload<'a> {
    /// The notification.
    pub notification_id: &'a str,
    /// The recipient.
    pub user_id: &'a str,
    /// sms or push.
    pub channel: &'a str,
    /// Where: the phone number for SMS, the userId for push.
    pub to: &'a str,
    /// Template name.
    pub template: &'a str,
    /// Subject.
    pub subject: &'a str,
    /// Body.
    pub body: &'a str,
}

/// One webhook endpoint.
#[derive(Clone, Debug)]
pub struct Webhook {
    url: Uri,
    secret: Vec<u8>,
    timeout: Duration,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Webhook {
    /// A webhook at `url` (`http://…`) signing with `secret`; an error says what is wrong.
    pub fn new(url: &str, secret: &[u8], timeout: Duration) -> Result<Webhook, String> {
        let parsed: Uri = url.parse().map_err(|e| format!("webhook URL `{url}`: {e}"))?;
        if parsed.scheme_str() != Some("http") || parsed.host().is_none() {
            return Err(format!(
                "webhook URL `{url}`: expected http://host[:port]/path (a gateway inside the deployment)"
            ));
        }
        if secret.len() < 16 {
            return Err("the webhook secret is too short: use at least 16 characters".into());
        }
        let client = Client::builder(TokioExecutor::new()).build_http();
        Ok(Webhook { url: parsed, secret: secret.to_vec(), timeout, client })
    }

    /// The endpoint.
    pub fn url(&self) -> String {
        self.url.to_string()
    }

    /// Posts `payload`: [`Finished::Sent`] on 2xx, [`Finished::Retrying`] on
    /// 408, 429, 5xx, a timeout or no connection, [`Finished::Failed`] on any
    /// other answer.
    pub async fn send(&self, payload: &Payload<'_>) -> Finished {
        let body = serde_json::to_vec(payload).expect("a payload serialises");
        let request = Request::builder()
            .method(Method::POST)
            .uri(self.url.clone())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE, sign(&self.secret, &body))
            .header(NOTIFICATION_ID, payload.notification_id)
            .body(Full::new(Bytes::from(body)));
        let request = match request {
            Ok(request) => request,
            Err(e) => return Finished::Failed(format!("building the request: {e}")),
        };
        let answer = tokio::time::timeout(self.timeout, async {
            let response = self.client.request(request).await?;
            let status = response.status();
            // Read the answer to its end, so the connection can be used again.
            let _ = response.into_body().collect().await;
            Ok::<StatusCode, hyper_util::client::legacy::Error>(status)
        })
        .await;
        match answer {
            Err(_) => Finished::Retrying(format!("{}: no answer within {:?}", self.url, self.timeout)),
            Ok(Err(e)) => Finished::Retrying(format!("{}: {e}", self.url)),
            Ok(Ok(status)) if status.is_success() => Finished::Sent,
            Ok(Ok(status))
                if status.is_server_error()
                    || status == StatusCode::TOO_MANY_REQUESTS
                    || status == StatusCode::REQUEST_TIMEOUT =>
            {
                Finished::Retrying(format!("{} answered {status}", self.url))
            }
            Ok(Ok(status)) => Finished::Failed(format!("{} answered {status}", self.url)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hex_hmac_sha256() {
        // RFC 4231, test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn webhook_urls_are_plain_http_with_a_host_and_the_secret_is_long_enough() {
        let secret = b"0123456789abcdef";
        let timeout = Duration::from_secs(1);
        assert!(Webhook::new("http://127.0.0.1:9/sms", secret, timeout).is_ok());
        assert!(Webhook::new("https://gw/sms", secret, timeout).unwrap_err().contains("http://"));
        assert!(Webhook::new("not a url", secret, timeout).unwrap_err().contains("webhook URL"));
        assert!(Webhook::new("http://127.0.0.1:9/sms", b"short", timeout).unwrap_err().contains("too short"));
    }
}
