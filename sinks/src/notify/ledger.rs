//! The dispatcher's delivery records in Redis, outside every generation
//! (keys in `redis/keys.rs`): what was sent stays sent when the views are
//! rebuilt and re-emit the same notificationIds.
//!
//! A record's `state` moves `sending` → `sent` | `failed` | `skipped`, or
//! `sending` → `retrying` → `sending` … A notification is only sent after
//! [`Ledger::claim`] has moved it to `sending`, which it does only from no
//! record or `retrying`: so each id is sent at most once, by one dispatcher,
//! even with several running. A crash while `sending` leaves it `sending`:
//! the message may or may not have gone out, and it is not sent again (at
//! most once); [`Ledger::claim`] reports it as [`Claimed::Interrupted`].

use crate::redis::Keys;
use crate::SinkError;
use redis::aio::ConnectionManager;
use serde::Serialize;
use std::collections::BTreeMap;

/// How many notifications a user's history keeps (older ones keep their
/// delivery state, not their text).
pub const HISTORY_KEPT: usize = 100;

/// KEYS: record, history. ARGV: userId, channel, template, subject, body,
/// requestedAt, notificationId, now, kept.
const CLAIM: &str = r"
local state = redis.call('HGET', KEYS[1], 'state')
if state and state ~= 'retrying' then return state end
if not state then
  redis.call('HSET', KEYS[1], 'userId', ARGV[1], 'channel', ARGV[2], 'template', ARGV[3],
    'subject', ARGV[4], 'body', ARGV[5], 'requestedAt', ARGV[6])
  redis.call('ZADD', KEYS[2], ARGV[6], ARGV[7])
  local kept = tonumber(ARGV[9])
  local excess = redis.call('ZCARD', KEYS[2]) - kept
  if excess > 0 then
    local prefix = string.sub(KEYS[1], 1, string.len(KEYS[1]) - string.len(ARGV[7]))
    for _, old in ipairs(redis.call('ZRANGE', KEYS[2], 0, excess - 1)) do
      redis.call('HDEL', prefix .. old, 'subject', 'body')
    end
    redis.call('ZREMRANGEBYRANK', KEYS[2], 0, excess - 1)
  end
end
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSET', KEYS[1], 'state', 'sending', 'attemptedAt', ARGV[8])
return 'go'
";

/// A notification as the dispatcher records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// Its id.
    pub notification_id: &'a str,
    /// The recipient.
    pub user_id: &'a str,
    /// email, sms or push.
    pub channel: &'a str,
    /// Its template.
    pub template: &'a str,
    /// Its subject.
    pub subject: &'a str,
    /// Its body.
    pub body: &'a str,
    /// The event time of what it tells (ms since the epoch).
    pub requested_at: i64,
}

/// What [`Ledger::claim`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claimed {
    /// Claimed: send it now.
    Go,
    /// Already sent, failed for good or skipped: nothing to do.
    Done(String),
    /// A dispatcher was sending it when it stopped (or another is sending it
    /// now): not sent again.
    Interrupted,
}

/// How a delivery ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finished {
    /// Accepted by the mail server or webhook.
    Sent,
    /// Refused for good (the reason).
    Failed(String),
    /// Not attempted: nowhere to send it (the reason).
    Skipped(String),
    /// Not delivered yet; it will be tried again (the reason).
    Retrying(String),
}

/// One delivery record, as `GET /notifications/history` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// The notification.
    pub notification_id: String,
    /// email, sms or push.
    pub channel: String,
    /// Its template.
    pub template: String,
    /// Its subject.
    pub subject: String,
    /// Its body.
    pub body: String,
    /// sending, sent, retrying, failed or skipped.
    pub status: String,
    /// The event time of what it tells (RFC 3339).
    pub requested_at: String,
    /// When it was handed over (RFC 3339), once sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<String>,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// Why the last attempt failed, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The dispatcher's records in one Redis namespace.
#[derive(Clone)]
pub struct Ledger {
    connection: ConnectionManager,
    keys: Keys,
    claim: redis::Script,
}

fn millis_to_rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Ledger {
    /// Connects to `url`, keeping records under `namespace`.
    pub async fn connect(url: &str, namespace: &str) -> Result<Ledger, SinkError> {
        Ok(Ledger::new(crate::redis::managed(url).await?, namespace))
    }

    /// Records under `namespace` over an open connection.
    pub fn new(connection: ConnectionManager, namespace: &str) -> Ledger {
        Ledger { connection, keys: Keys::new(namespace), claim: redis::Script::new(CLAIM) }
    }

    /// Claims `entry` for sending (see the module's text).
    pub async fn claim(&self, entry: &Entry<'_>) -> Result<Claimed, SinkError> {
        let now = chrono::Utc::now().timestamp_millis();
        let reply: String = self
            .claim
            .key(self.keys.delivery(entry.notification_id))
            .key(self.keys.notify_history(entry.user_id))
            .arg(entry.user_id)
            .arg(entry.channel)
            .arg(entry.template)
            .arg(entry.subject)
            .arg(entry.body)
            .arg(entry.requested_at)
            .arg(entry.notification_id)
            .arg(now)
            .arg(HISTORY_KEPT)
            .invoke_async(&mut self.connection.clone())
            .await?;
        Ok(match reply.as_str() {
            "go" => Claimed::Go,
            "sending" => Claimed::Interrupted,
            _ => Claimed::Done(reply),
        })
    }

    /// Records how the claimed delivery of `notification_id` went.
    pub async fn finish(&self, notification_id: &str, finished: &Finished) -> Result<(), SinkError> {
        let key = self.keys.delivery(notification_id);
        let now = chrono::Utc::now().timestamp_millis();
        let mut pipe = redis::pipe();
        pipe.atomic();
        match finished {
            Finished::Sent => {
                pipe.hset_multiple(&key, &[("state", "sent"), ("sentAt", &now.to_string())]).hdel(&key, "error")
            }
            Finished::Failed(reason) => pipe.hset_multiple(&key, &[("state", "failed"), ("error", reason)]),
            Finished::Skipped(reason) => pipe.hset_multiple(&key, &[("state", "skipped"), ("error", reason)]),
            Finished::Retrying(reason) => pipe.hset_multiple(&key, &[("state", "retrying"), ("error", reason)]),
        };
        let () = pipe.query_async(&mut self.connection.clone()).await?;
        Ok(())
    }

    /// The newest `limit` notifications of `user_id`'s history, newest first, skipping `skip`.
    pub async fn history(&self, user_id: &str, skip: usize, limit: usize) -> Result<(usize, Vec<Delivery>), SinkError> {
        let mut connection = self.connection.clone();
        let history = self.keys.notify_history(user_id);
        let (total, ids): (usize, Vec<String>) = redis::pipe()
            .zcard(&history)
            .zrevrange(&history, skip as isize, (skip + limit) as isize - 1)
            .query_async(&mut connection)
            .await?;
        if ids.is_empty() {
            return Ok((total, Vec::new()));
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.hgetall(self.keys.delivery(id));
        }
        let records: Vec<BTreeMap<String, String>> = pipe.query_async(&mut connection).await?;
        let deliveries = ids
            .into_iter()
            .zip(records)
            .filter(|(_, record)| !record.is_empty())
            .map(|(notification_id, mut record)| {
                let mut take = |field: &str| record.remove(field).unwrap_or_default();
                let millis = |text: String| text.parse::<i64>().ok().map(millis_to_rfc3339);
                Delivery {
                    notification_id,
                    channel: take("channel"),
                    template: take("template"),
                    subject: take("subject"),
                    body: take("body"),
                    status: take("state"),
                    requested_at: millis(take("requestedAt")).unwrap_or_default(),
                    sent_at: millis(take("sentAt")),
                    attempts: take("attempts").parse().unwrap_or(0),
                    error: Some(take("error")).filter(|e| !e.is_empty()),
                }
            })
            .collect();
        Ok((total, deliveries))
    }

    /// How far the dispatcher has read: partition → next offset.
    pub async fn offsets(&self) -> Result<BTreeMap<i32, i64>, SinkError> {
        let stored: BTreeMap<String, String> =
            redis::cmd("HGETALL").arg(self.keys.notify_offsets()).query_async(&mut self.connection.clone()).await?;
        stored
            .into_iter()
            .map(|(partition, offset)| match (partition.parse(), offset.parse()) {
                (Ok(p), Ok(o)) => Ok((p, o)),
                _ => {
                    Err(SinkError::Corrupt { what: "dispatcher offsets", detail: format!("{partition} → {offset}") })
                }
            })
            .collect()
    }

    /// Records how far the dispatcher has read.
    pub async fn save_offsets(&self, offsets: &BTreeMap<i32, i64>) -> Result<(), SinkError> {
        if offsets.is_empty() {
            return Ok(());
        }
        let fields: Vec<(String, i64)> = offsets.iter().map(|(p, o)| (p.to_string(), *o)).collect();
        let () = redis::cmd("HSET")
            .arg(self.keys.notify_offsets())
            .arg(fields)
            .query_async(&mut self.connection.clone())
            .await?;
        Ok(())
    }
}
