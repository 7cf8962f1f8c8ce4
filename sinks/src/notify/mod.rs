//! The notification dispatcher (`shopflow notify`, and inside `shopflow
//! run`): reads Notification.Requested from `shop.notifications` and
//! delivers each — e-mail over SMTP ([`mail`]), SMS and push as signed
//! webhooks ([`webhook`]) — to the address of the user's served profile.
//!
//! - **At most once per notificationId**, across restarts and rebuilds: a
//!   delivery is claimed in Redis before it is attempted and its outcome
//!   recorded after ([`ledger`]); a rebuild re-emits the same ids and finds
//!   them done. A dispatcher killed in the moment between the server's
//!   acceptance and the record (milliseconds) leaves the notification
//!   `sending`: it is counted as interrupted and not sent again.
//! - **Nothing lost while a server is down**: an attempt that may work later
//!   (no connection, SMTP 4xx, webhook 5xx/429/timeout) is retried with
//!   exponential backoff, without end; the record says `retrying` and why.
//!   A refusal for good (SMTP 5xx, webhook 4xx, no such address) is recorded
//!   as `failed`; a channel with nowhere configured to send, or a user with
//!   no phone for SMS, as `skipped`.
//! - **One channel never holds up another**: each channel has its own queue
//!   and delivers in order; the read position saved in Redis is, per
//!   partition, the oldest notification not finished yet, so a restart
//!   resumes there and skips what is done.

pub mod ledger;
pub mod mail;
pub mod webhook;

use crate::redis::RedisReader;
use crate::{Family, SinkError};
use ledger::{Claimed, Entry, Finished, Ledger};
use shopflow_ingest::follow::Follower;
use shopflow_topics::events::{Channel, NotificationRequested};
use shopflow_topics::{Envelope, Event, Topic};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where and how the dispatcher delivers.
#[derive(Clone)]
pub struct DispatchConfig {
    /// E-mail; `None`: e-mail notifications are recorded as skipped.
    pub mail: Option<mail::Mailer>,
    /// SMS; `None`: skipped.
    pub sms: Option<webhook::Webhook>,
    /// Push; `None`: skipped.
    pub push: Option<webhook::Webhook>,
    /// The first wait before trying again.
    pub first_retry: Duration,
    /// The longest wait between attempts.
    pub max_retry: Duration,
    /// How long a notification waits for its user's profile to be served
    /// before it fails (the pipeline publishes the profile before it emits
    /// the notification, so this only runs out for a user deleted since).
    pub profile_wait: Duration,
}

/// What the dispatcher has done since it started.
#[derive(Debug, Default)]
pub struct DispatchCounters {
    /// Notifications read.
    pub read: AtomicU64,
    /// Delivered.
    pub sent: AtomicU64,
    /// Refused for good.
    pub failed: AtomicU64,
    /// Nowhere to send them.
    pub skipped: AtomicU64,
    /// Done before (a rebuild re-emitted them, or a restart re-read them).
    pub already_done: AtomicU64,
    /// Found `sending`: interrupted by a crash or being sent by another dispatcher.
    pub interrupted: AtomicU64,
    /// Attempts that will be tried again.
    pub retries: AtomicU64,
    /// Records of the topic that are not a Notification.Requested.
    pub malformed: AtomicU64,
}

/// Per partition, which read notifications are not finished yet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    partitions: BTreeMap<i32, (BTreeSet<i64>, i64)>,
}

impl Progress {
    /// The record at (`partition`, `offset`) was read and is being delivered.
    pub fn start(&mut self, partition: i32, offset: i64) {
        let (open, next) = self.partitions.entry(partition).or_default();
        open.insert(offset);
        *next = (*next).max(offset + 1);
    }

    /// The record at (`partition`, `offset`) is finished.
    pub fn done(&mut self, partition: i32, offset: i64) {
        if let Some((open, _)) = self.partitions.get_mut(&partition) {
            open.remove(&offset);
        }
    }

    /// Per partition, where a restart resumes: the oldest unfinished record,
    /// or past the last one read.
    pub fn resume_at(&self) -> BTreeMap<i32, i64> {
        self.partitions.iter().map(|(p, (open, next))| (*p, open.first().copied().unwrap_or(*next))).collect()
    }
}

/// Delivers notifications.
pub struct Dispatcher {
    ledger: Ledger,
    reader: RedisReader,
    config: DispatchConfig,
    counters: Arc<DispatchCounters>,
}

/// The contact details of a user, from their served profile.
struct Recipient {
    name: String,
    email: String,
    phone: Option<String>,
}

/// Why an attempt could not be made yet, or what came of it.
enum Attempt {
    Finished(Finished),
    NoProfile,
}

async fn wait_or_stop(wait: Duration, stop: &AtomicBool) -> bool {
    let until = Instant::now() + wait;
    while Instant::now() < until {
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        tokio::time::sleep((until - Instant::now()).min(Duration::from_millis(100))).await;
    }
    !stop.load(Ordering::SeqCst)
}

impl Dispatcher {
    /// A dispatcher keeping its records in Redis at `redis_url` under `namespace`.
    pub async fn connect(
        redis_url: &str,
        namespace: &str,
        config: DispatchConfig,
        counters: Arc<DispatchCounters>,
    ) -> Result<Dispatcher, SinkError> {
        Ok(Dispatcher {
            ledger: Ledger::connect(redis_url, namespace).await?,
            reader: RedisReader::connect(redis_url, namespace).await?,
            config,
            counters,
        })
    }

    /// Its records.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    async fn recipient(&self, user_id: &str) -> Result<Option<Recipient>, String> {
        let served =
            self.reader.read_one(Family::User, user_id).await.map_err(|e| format!("reading the profile: {e}"))?;
        let Some((_, json)) = served else { return Err("no generation is served yet".into()) };
        let Some(json) = json else { return Ok(None) };
        let user: shopflow_views::users::UserView =
            serde_json::from_str(&json).map_err(|e| format!("the served profile of {user_id}: {e}"))?;
        Ok(Some(Recipient { name: user.name, email: user.email, phone: user.phone }))
    }

    async fn attempt(&self, n: &NotificationRequested) -> Attempt {
        let recipient = match self.recipient(&n.user_id).await {
            Ok(Some(recipient)) => recipient,
            Ok(None) => return Attempt::NoProfile,
            Err(reason) => return Attempt::Finished(Finished::Retrying(reason)),
        };
        let payload = |to| webhook::Payload {
            notification_id: &n.notification_id,
            user_id: &n.user_id,
            channel: n.channel.as_str(),
            to,
            template: &n.template,
            subject: &n.subject,
            body: &n.body,
        };
        let finished = match n.channel {
            Channel::Email => match &self.config.mail {
                None => Finished::Skipped("no SMTP server is configured (--smtp-url)".into()),
                Some(mailer) => {
                    mailer
                        .send(&mail::Mail {
                            notification_id: &n.notification_id,
                            to_name: &recipient.name,
                            to_address: &recipient.email,
                            subject: &n.subject,
                            body: &n.body,
                        })
                        .await
                }
            },
            Channel::Sms => match (&self.config.sms, recipient.phone.as_deref()) {
                (None, _) => Finished::Skipped("no SMS webhook is configured (--sms-webhook-url)".into()),
                (_, None) => Finished::Skipped("the user has no phone number".into()),
                (Some(hook), Some(phone)) => hook.send(&payload(phone)).await,
            },
            Channel::Push => match &self.config.push {
                None => Finished::Skipped("no push webhook is configured (--push-webhook-url)".into()),
                Some(hook) => hook.send(&payload(&n.user_id)).await,
            },
        };
        Attempt::Finished(finished)
    }

    /// Delivers one notification (event time `at`, ms): claims it, sends it,
    /// records the outcome; tries again while it may work later. `false`
    /// when `stop` ended it first (it is then tried again after a restart).
    pub async fn deliver(&self, n: &NotificationRequested, at: i64, stop: &AtomicBool) -> bool {
        let entry = Entry {
            notification_id: &n.notification_id,
            user_id: &n.user_id,
            channel: n.channel.as_str(),
            template: &n.template,
            subject: &n.subject,
            body: &n.body,
            requested_at: at,
        };
        let started = Instant::now();
        let mut wait = self.config.first_retry;
        loop {
            if stop.load(Ordering::SeqCst) {
                return false;
            }
            match self.ledger.claim(&entry).await {
                Ok(Claimed::Go) => {}
                Ok(Claimed::Done(_)) => {
                    self.counters.already_done.fetch_add(1, Ordering::Relaxed);
                    return true;
                }
                Ok(Claimed::Interrupted) => {
                    self.counters.interrupted.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(notification_id = %n.notification_id, "found `sending`: a dispatcher stopped while sending it, or another is sending it now; not sent again");
                    return true;
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?wait, "cannot claim a notification in Redis");
                    if !wait_or_stop(wait, stop).await {
                        return false;
                    }
                    wait = (wait * 2).min(self.config.max_retry);
                    continue;
                }
            }
            let finished = match self.attempt(n).await {
                Attempt::Finished(finished) => finished,
                Attempt::NoProfile if started.elapsed() >= self.config.profile_wait => {
                    Finished::Skipped(format!("no served profile of {} (deleted?)", n.user_id))
                }
                Attempt::NoProfile => Finished::Retrying(format!("the profile of {} is not served yet", n.user_id)),
            };
            let counter = match &finished {
                Finished::Sent => &self.counters.sent,
                Finished::Failed(reason) => {
                    tracing::warn!(notification_id = %n.notification_id, reason, "notification failed for good");
                    &self.counters.failed
                }
                Finished::Skipped(_) => &self.counters.skipped,
                Finished::Retrying(reason) => {
                    tracing::warn!(notification_id = %n.notification_id, reason, retry_in = ?wait, "notification not delivered yet");
                    &self.counters.retries
                }
            };
            counter.fetch_add(1, Ordering::Relaxed);
            // The outcome must be recorded before moving on: a retry is claimed again from it.
            let mut record_wait = self.config.first_retry;
            while let Err(e) = self.ledger.finish(&n.notification_id, &finished).await {
                tracing::warn!(error = %e, "cannot record a delivery in Redis");
                if !wait_or_stop(record_wait, stop).await {
                    // Left `sending`: not sent again (at most once).
                    return false;
                }
                record_wait = (record_wait * 2).min(self.config.max_retry);
            }
            if !matches!(finished, Finished::Retrying(_)) {
                return true;
            }
            if !wait_or_stop(wait, stop).await {
                return false;
            }
            wait = (wait * 2).min(self.config.max_retry);
        }
    }

    /// Reads `topic` (the broker's name of `shop.notifications`) on `brokers`
    /// from where the last run stopped and delivers everything, until `stop`.
    pub async fn run(self: Arc<Self>, brokers: &str, topic: &str, stop: Arc<AtomicBool>) -> anyhow::Result<()> {
        let starts = self.ledger.offsets().await?;
        let mut follower = {
            let (brokers, topic, starts) = (brokers.to_string(), topic.to_string(), starts.clone());
            tokio::task::spawn_blocking(move || Follower::new(&brokers, &topic, &starts)).await??
        };
        tracing::info!(topic, resume_at = ?starts, "dispatcher reading");
        let progress = Arc::new(Mutex::new(Progress::default()));
        let mut queues = BTreeMap::new();
        let mut workers = Vec::new();
        for channel in [Channel::Email, Channel::Sms, Channel::Push] {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<(i32, i64, i64, NotificationRequested)>(1024);
            queues.insert(channel, tx);
            let (dispatcher, progress, stop) = (self.clone(), progress.clone(), stop.clone());
            workers.push(tokio::spawn(async move {
                while let Some((partition, offset, at, n)) = rx.recv().await {
                    if !dispatcher.deliver(&n, at, &stop).await {
                        break;
                    }
                    progress.lock().expect("progress lock").done(partition, offset);
                }
            }));
        }
        let saver = {
            let (ledger, progress, stop) = (self.ledger.clone(), progress.clone(), stop.clone());
            tokio::spawn(async move {
                let mut saved = BTreeMap::new();
                loop {
                    let running = wait_or_stop(Duration::from_millis(200), &stop).await;
                    let now = progress.lock().expect("progress lock").resume_at();
                    if now != saved {
                        match ledger.save_offsets(&now).await {
                            Ok(()) => saved = now,
                            Err(e) => tracing::warn!(error = %e, "cannot save the dispatcher's offsets"),
                        }
                    }
                    if !running {
                        break;
                    }
                }
            })
        };
        let contract = Topic::Notifications.name();
        while !stop.load(Ordering::SeqCst) {
            let record = tokio::select! {
                record = follower.next() => record,
                () = tokio::time::sleep(Duration::from_millis(200)) => continue,
            };
            let record = match record {
                Ok(record) => record,
                Err(e) => {
                    tracing::warn!(error = %e, "reading {topic}");
                    wait_or_stop(self.config.first_retry, &stop).await;
                    continue;
                }
            };
            self.counters.read.fetch_add(1, Ordering::Relaxed);
            progress.lock().expect("progress lock").start(record.partition, record.offset);
            match Envelope::decode_record(contract, record.key.as_deref(), &record.value) {
                Ok(Envelope { time, event: Event::NotificationRequested(n), .. }) => {
                    let queue = &queues[&n.channel];
                    if queue.send((record.partition, record.offset, time.millis(), n)).await.is_err() {
                        break;
                    }
                }
                other => {
                    let reason = match other {
                        Ok(envelope) => format!("a {} on {topic}", envelope.type_name()),
                        Err(e) => e.to_string(),
                    };
                    self.counters.malformed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        partition = record.partition,
                        offset = record.offset,
                        reason,
                        "not a notification: passed over"
                    );
                    progress.lock().expect("progress lock").done(record.partition, record.offset);
                }
            }
        }
        drop(queues);
        for worker in workers {
            worker.await?;
        }
        saver.await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Progress;

    #[test]
    fn a_restart_resumes_at_the_oldest_unfinished_notification_per_partition() {
        let mut progress = Progress::default();
        for offset in 0..4 {
            progress.start(0, offset);
        }
        progress.start(1, 7);
        assert_eq!(progress.resume_at(), [(0, 0), (1, 7)].into());
        progress.done(0, 0);
        progress.done(0, 2);
        progress.done(1, 7);
        assert_eq!(progress.resume_at(), [(0, 1), (1, 8)].into(), "1 is still being delivered on partition 0");
        progress.done(0, 1);
        progress.done(0, 3);
        assert_eq!(progress.resume_at(), [(0, 4), (1, 8)].into());
    }
}
