//! `shopflow notify`: the notification dispatcher (also run inside
//! `shopflow run` when notifications are on). See `shopflow_sinks::notify`.

use super::pipeline::{stop_on_signals, StoreArgs};
use super::{parse_duration, KafkaArgs};
use anyhow::Context;
use clap::Args;
use shopflow_sinks::notify::{mail::Mailer, webhook::Webhook, DispatchConfig, DispatchCounters, Dispatcher};
use shopflow_topics::Topic;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Where and how notifications are delivered.
#[derive(Args, Clone, Debug)]
pub struct DeliveryArgs {
    /// SMTP relay for e-mail, `smtp://host[:port]` (plain SMTP to a relay that
    /// carries mail on; without it e-mail notifications are recorded as skipped).
    #[arg(long, env = "SHOPFLOW_SMTP_URL")]
    pub smtp_url: Option<String>,
    /// The sender of e-mail.
    #[arg(long, env = "SHOPFLOW_MAIL_FROM", default_value = "shopflow <no-reply@shopflow.localhost>")]
    pub mail_from: String,
    /// SMS gateway: notifications are POSTed here as signed JSON (without it SMS is skipped).
    #[arg(long, env = "SHOPFLOW_SMS_WEBHOOK_URL")]
    pub sms_webhook_url: Option<String>,
    /// Push gateway: as for SMS (without it push is skipped).
    #[arg(long, env = "SHOPFLOW_PUSH_WEBHOOK_URL")]
    pub push_webhook_url: Option<String>,
    /// The secret webhooks are signed with (`X-Signature`: hex HMAC-SHA256 of the body).
    #[arg(long, env = "SHOPFLOW_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,
    /// How long one delivery attempt may take.
    #[arg(long, env = "SHOPFLOW_DELIVERY_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub delivery_timeout: Duration,
    /// The first wait before a failed attempt is tried again (it doubles each time).
    #[arg(long, env = "SHOPFLOW_RETRY_FIRST", default_value = "500ms", value_parser = parse_duration)]
    pub retry_first: Duration,
    /// The longest wait between attempts.
    #[arg(long, env = "SHOPFLOW_RETRY_MAX", default_value = "60s", value_parser = parse_duration)]
    pub retry_max: Duration,
    /// How long a notification waits for its user's profile to be served (then it is skipped).
    #[arg(long, env = "SHOPFLOW_PROFILE_WAIT", default_value = "60s", value_parser = parse_duration)]
    pub profile_wait: Duration,
}

impl DeliveryArgs {
    /// The dispatcher's configuration; an error names the bad setting.
    pub fn config(&self) -> anyhow::Result<DispatchConfig> {
        let mail = self
            .smtp_url
            .as_deref()
            .filter(|url| !url.is_empty())
            .map(|url| Mailer::new(url, &self.mail_from, self.delivery_timeout))
            .transpose()
            .map_err(anyhow::Error::msg)?;
        let hook = |url: &Option<String>, flag: &str| -> anyhow::Result<Option<Webhook>> {
            let Some(url) = url.as_deref().filter(|url| !url.is_empty()) else { return Ok(None) };
            let secret = self
                .webhook_secret
                .as_deref()
                .with_context(|| format!("{flag} needs --webhook-secret (SHOPFLOW_WEBHOOK_SECRET) to sign with"))?;
            Webhook::new(url, secret.as_bytes(), self.delivery_timeout).map(Some).map_err(anyhow::Error::msg)
        };
        if self.retry_first.is_zero() || self.retry_max < self.retry_first {
            anyhow::bail!("--retry-first must be above zero and at most --retry-max");
        }
        Ok(DispatchConfig {
            mail,
            sms: hook(&self.sms_webhook_url, "--sms-webhook-url")?,
            push: hook(&self.push_webhook_url, "--push-webhook-url")?,
            first_retry: self.retry_first,
            max_retry: self.retry_max,
            profile_wait: self.profile_wait,
        })
    }
}

/// Arguments of `shopflow notify`.
#[derive(Args, Clone, Debug)]
pub struct NotifyArgs {
    #[command(flatten)]
    pub delivery: DeliveryArgs,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub stores: StoreArgs,
}

/// Runs the dispatcher on the current tokio runtime until `stop`, logging what it did every 10 s.
pub async fn dispatch(
    delivery: &DeliveryArgs,
    kafka: &KafkaArgs,
    stores: &StoreArgs,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let config = delivery.config()?;
    for (channel, configured) in [
        ("email", config.mail.as_ref().map(|m| m.server().to_string())),
        ("sms", config.sms.as_ref().map(Webhook::url)),
        ("push", config.push.as_ref().map(Webhook::url)),
    ] {
        match configured {
            Some(to) => tracing::info!(channel, to, "delivering"),
            None => tracing::warn!(channel, "nowhere to deliver: these notifications are recorded as skipped"),
        }
    }
    let counters = Arc::new(DispatchCounters::default());
    let dispatcher = Dispatcher::connect(&stores.redis_url, &stores.namespace, config, counters.clone())
        .await
        .with_context(|| format!("connecting to Redis at {}", stores.redis_url))?;
    let report = {
        let (counters, stop) = (counters.clone(), stop.clone());
        tokio::spawn(async move {
            let mut last = String::new();
            while !stop.load(Ordering::SeqCst) {
                for _ in 0..100 {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                let c = &counters;
                let line = format!(
                    "read {} · sent {} · failed {} · skipped {} · done before {} · interrupted {} · retries {} · malformed {}",
                    c.read.load(Ordering::Relaxed),
                    c.sent.load(Ordering::Relaxed),
                    c.failed.load(Ordering::Relaxed),
                    c.skipped.load(Ordering::Relaxed),
                    c.already_done.load(Ordering::Relaxed),
                    c.interrupted.load(Ordering::Relaxed),
                    c.retries.load(Ordering::Relaxed),
                    c.malformed.load(Ordering::Relaxed),
                );
                if line != last {
                    tracing::info!(target: "shopflow::notify", "{line}");
                    last = line;
                }
            }
        })
    };
    let topic = Topic::Notifications.prefixed(&kafka.topic_prefix);
    let result = Arc::new(dispatcher).run(&kafka.brokers, &topic, stop).await;
    report.await?;
    result
}

/// Runs `shopflow notify`.
pub fn run(args: NotifyArgs) -> anyhow::Result<()> {
    args.delivery.config()?;
    let stop = Arc::new(AtomicBool::new(false));
    stop_on_signals(stop.clone());
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(dispatch(
        &args.delivery,
        &args.kafka,
        &args.stores,
        stop,
    ))
}
