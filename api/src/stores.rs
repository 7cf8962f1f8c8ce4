//! The stores behind the API, each a small trait, so handlers do not know
//! which implementation answers: Redis, ClickHouse and Kafka in production
//! ([`Stores::connect`]), [`Offline`] where none is needed (a 400 or a 401 is
//! decided before any store is asked, and tested so with `app()` and
//! `oneshot`).

use crate::write::{TailRecord, WriteError, Written};
use shopflow_ingest::Offsets;
use shopflow_sinks::clickhouse::{ClickHouseReader, Filter, Relation};
use shopflow_sinks::notify::ledger::Delivery;
use shopflow_sinks::redis::{
    Account, Bucket, Claim, Funds, FundsHold, GenerationStatus, Hold, ListVersions, RedisReader, Requests, Served,
    ServedLists,
};
use shopflow_sinks::SinkError;
use shopflow_topics::{Envelope, Topic};
use shopflow_views::Family;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// What a store call returns.
pub type Call<'a, T, E = SinkError> = Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'a>>;

/// A whole family as [`Views::scan`] reads it: (asOf, [(key, JSON)]).
pub type Scanned = (i64, Vec<(String, String)>);

/// The published views (Redis): reads of one generation at a time.
pub trait Views: Send + Sync {
    /// Objects of the current generation; `None` before any generation is current.
    fn read<'a>(&'a self, objects: &'a [(Family, &'a str)]) -> Call<'a, Option<Served>>;
    /// A holder object, the objects of `follow` its `field` names, and `others`, in one read.
    fn read_following<'a>(
        &'a self,
        holder: (Family, &'a str),
        field: &'a str,
        follow: Family,
        others: &'a [(Family, &'a str)],
    ) -> Call<'a, Option<Served>>;
    /// Whole lists of hashed families (listings, posting lists), in one read.
    fn read_lists<'a>(&'a self, lists: &'a [(Family, &'a str)]) -> Call<'a, Option<ServedLists>>;
    /// The versions `read_lists` would read, without the members.
    fn list_versions<'a>(&'a self, lists: &'a [(Family, &'a str)]) -> Call<'a, Option<ListVersions>>;
    /// What the current generation covers.
    fn status(&self) -> Call<'_, Option<GenerationStatus>>;
    /// Every object of a (not hashed) family: (asOf, [(key, JSON)]); slow, for rare admin work.
    fn scan(&self, family: Family) -> Call<'_, Option<Scanned>>;
    /// Whether the store answers.
    fn ping(&self) -> Call<'_, ()>;
}

/// What replicas share about requests (Redis): idempotency keys, stock holds,
/// rate buckets, one-use tokens.
pub trait RequestLog: Send + Sync {
    /// Claims an idempotency key for a request with `fingerprint`.
    fn claim<'a>(&'a self, key: &'a str, fingerprint: &'a str, claim_seconds: u64) -> Call<'a, Claim>;
    /// Records the answer of a claimed key.
    fn complete<'a>(&'a self, key: &'a str, response: &'a str, keep_seconds: u64) -> Call<'a, ()>;
    /// Gives a claimed key up.
    fn abandon<'a>(&'a self, key: &'a str) -> Call<'a, ()>;
    /// Holds a checkout's lines against the served stock.
    fn hold<'a>(
        &'a self,
        order_id: &'a str,
        lines: &'a [(String, i64)],
        now_ms: i64,
        expires_ms: i64,
    ) -> Call<'a, Hold>;
    /// Releases a checkout's holds.
    fn release<'a>(&'a self, order_id: &'a str, products: &'a [String]) -> Call<'a, ()>;
    /// Holds money of a wallet or a vendor's balance against the served state.
    fn hold_funds<'a>(&'a self, hold: FundsHold<'a>) -> Call<'a, Funds>;
    /// Releases a money hold.
    fn release_funds<'a>(&'a self, account: Account<'a>, id: &'a str) -> Call<'a, ()>;
    /// Whether `id` of `kind` is used for the first time.
    fn first_use<'a>(&'a self, kind: &'a str, id: &'a str, ttl_seconds: u64) -> Call<'a, bool>;
    /// Takes a token from a rate bucket: `None`, or the milliseconds until one is free.
    /// Takes one token from `bucket` unless the note `blocked` (kind, id) exists.
    fn take<'a>(
        &'a self,
        bucket: &'a str,
        blocked: Option<(&'a str, &'a str)>,
        burst: u32,
        per_second: f64,
        now_ms: i64,
    ) -> Call<'a, Bucket>;
    /// Keeps `value` as the note `kind`/`id` for `ttl_seconds` (0: until changed).
    fn put_note<'a>(&'a self, kind: &'a str, id: &'a str, value: &'a str, ttl_seconds: u64) -> Call<'a, ()>;
    /// The note `kind`/`id`, if there is one.
    fn note<'a>(&'a self, kind: &'a str, id: &'a str) -> Call<'a, Option<String>>;
    /// The note `kind`/`id`, removed as it is read (one reader gets it).
    fn take_note<'a>(&'a self, kind: &'a str, id: &'a str) -> Call<'a, Option<String>>;
    /// Adds one to the counter note `kind`/`id` (absent: 0); the new value.
    fn bump_note<'a>(&'a self, kind: &'a str, id: &'a str) -> Call<'a, i64>;
    /// The notifications the dispatcher has handled for `user_id`, newest first: (how many, one page).
    fn notification_history<'a>(
        &'a self,
        user_id: &'a str,
        skip: usize,
        limit: usize,
    ) -> Call<'a, (usize, Vec<Delivery>)>;
}

/// The analytics relations (ClickHouse).
pub trait Analytics: Send + Sync {
    /// The rows of `relation` that `filter` selects.
    fn rows<'a>(&'a self, relation: Relation, filter: Filter<'a>) -> Call<'a, Vec<serde_json::Value>>;
    /// Whether the store answers.
    fn ping(&self) -> Call<'_, ()>;
}

/// Where writes go (Kafka).
pub trait EventLog: Send + Sync {
    /// Produces `envelopes` in order and waits for their acknowledgements.
    fn send<'a>(&'a self, envelopes: &'a [Envelope]) -> Call<'a, Vec<Written>, WriteError>;
    /// Per topic, records past the `served` offsets (blocking; for metrics).
    fn lag(&self, served: &Offsets) -> Result<BTreeMap<String, i64>, WriteError>;
    /// The newest records of a contract topic: up to `per_partition` from
    /// the end of each partition, read until quiet.
    fn tail<'a>(&'a self, topic: Topic, per_partition: i64) -> Call<'a, Vec<TailRecord>, WriteError>;
    /// The name on the broker of a contract topic.
    fn topic_name(&self, topic: Topic) -> String;
}

/// The API's stores.
#[derive(Clone)]
pub struct Stores {
    /// Served state.
    pub views: Arc<dyn Views>,
    /// Idempotency records, stock holds, rate buckets, one-use tokens.
    pub requests: Arc<dyn RequestLog>,
    /// Analytics.
    pub analytics: Arc<dyn Analytics>,
    /// Writes.
    pub events: Arc<dyn EventLog>,
}

/// Where the stores are.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// Redis URL.
    pub redis_url: String,
    /// Redis key namespace.
    pub namespace: String,
    /// ClickHouse HTTP URL.
    pub clickhouse_url: String,
    /// ClickHouse database.
    pub clickhouse_database: String,
    /// Kafka bootstrap servers.
    pub brokers: String,
    /// Prefix of every topic name (empty in production).
    pub topic_prefix: String,
    /// A write Kafka has not acknowledged by then fails.
    pub produce_timeout: std::time::Duration,
}

/// Why the stores could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Redis did not answer.
    #[error("connecting to Redis at {url}")]
    Redis {
        /// Where.
        url: String,
        /// Why.
        #[source]
        source: SinkError,
    },
    /// The Kafka producer could not be made.
    #[error("making the Kafka producer for {brokers}")]
    Kafka {
        /// Where.
        brokers: String,
        /// Why.
        #[source]
        source: WriteError,
    },
}

impl Stores {
    /// Connects to Redis (twice: reads and requests), ClickHouse (lazily, over HTTP) and Kafka.
    pub async fn connect(config: &StoreConfig) -> Result<Stores, ConnectError> {
        let redis = |source| ConnectError::Redis { url: config.redis_url.clone(), source };
        let views = RedisReader::connect(&config.redis_url, &config.namespace).await.map_err(redis)?;
        let requests = Requests::connect(&config.redis_url, &config.namespace).await.map_err(redis)?;
        let analytics = ClickHouseReader::new(&config.clickhouse_url, &config.clickhouse_database);
        let events = crate::write::Writer::new(&config.brokers, &config.topic_prefix, config.produce_timeout)
            .map_err(|source| ConnectError::Kafka { brokers: config.brokers.clone(), source })?;
        Ok(Stores {
            views: Arc::new(views),
            requests: Arc::new(requests),
            analytics: Arc::new(analytics),
            events: Arc::new(events),
        })
    }

    /// Stores that answer every call with [`SinkError::NotConnected`].
    pub fn offline() -> Stores {
        let offline = Arc::new(Offline);
        Stores { views: offline.clone(), requests: offline.clone(), analytics: offline.clone(), events: offline }
    }
}

impl Views for RedisReader {
    fn read<'a>(&'a self, objects: &'a [(Family, &'a str)]) -> Call<'a, Option<Served>> {
        Box::pin(RedisReader::read(self, objects))
    }

    fn read_following<'a>(
        &'a self,
        holder: (Family, &'a str),
        field: &'a str,
        follow: Family,
        others: &'a [(Family, &'a str)],
    ) -> Call<'a, Option<Served>> {
        Box::pin(RedisReader::read_following(self, holder, field, follow, others))
    }

    fn read_lists<'a>(&'a self, lists: &'a [(Family, &'a str)]) -> Call<'a, Option<ServedLists>> {
        Box::pin(RedisReader::read_lists(self, lists))
    }

    fn list_versions<'a>(&'a self, lists: &'a [(Family, &'a str)]) -> Call<'a, Option<ListVersions>> {
        Box::pin(RedisReader::list_versions(self, lists))
    }

    fn status(&self) -> Call<'_, Option<GenerationStatus>> {
        Box::pin(RedisReader::status(self))
    }

    fn scan(&self, family: Family) -> Call<'_, Option<Scanned>> {
        Box::pin(RedisReader::scan(self, family))
    }

    fn ping(&self) -> Call<'_, ()> {
        Box::pin(RedisReader::ping(self))
    }
}

impl RequestLog for Requests {
    fn claim<'a>(&'a self, key: &'a str, fingerprint: &'a str, claim_seconds: u64) -> Call<'a, Claim> {
        Box::pin(Requests::claim(self, key, fingerprint, claim_seconds))
    }

    fn complete<'a>(&'a self, key: &'a str, response: &'a str, keep_seconds: u64) -> Call<'a, ()> {
        Box::pin(Requests::complete(self, key, response, keep_seconds))
    }

    fn abandon<'a>(&'a self, key: &'a str) -> Call<'a, ()> {
        Box::pin(Requests::abandon(self, key))
    }

    fn hold<'a>(
        &'a self,
        order_id: &'a str,
        lines: &'a [(String, i64)],
        now_ms: i64,
        expires_ms: i64,
    ) -> Call<'a, Hold> {
        Box::pin(Requests::hold(self, order_id, lines, now_ms, expires_ms))
    }

    fn release<'a>(&'a self, order_id: &'a str, products: &'a [String]) -> Call<'a, ()> {
        Box::pin(Requests::release(self, order_id, products))
    }

    fn hold_funds<'a>(&'a self, hold: FundsHold<'a>) -> Call<'a, Funds> {
        Box::pin(Requests::hold_funds(self, hold))
    }

    fn release_funds<'a>(&'a self, account: Account<'a>, id: &'a str) -> Call<'a, ()> {
        Box::pin(Requests::release_funds(self, account, id))
    }

    fn first_use<'a>(&'a self, kind: &'a str, id: &'a str, ttl_seconds: u64) -> Call<'a, bool> {
        Box::pin(Requests::first_use(self, kind, id, ttl_seconds))
    }

    fn put_note<'a>(&'a self, kind: &'a str, id: &'a str, value: &'a str, ttl_seconds: u64) -> Call<'a, ()> {
        Box::pin(Requests::put_note(self, kind, id, value, ttl_seconds))
    }

    fn note<'a>(&'a self, kind: &'a str, id: &'a str) -> Call<'a, Option<String>> {
        Box::pin(Requests::note(self, kind, id))
    }

    fn take_note<'a>(&'a self, kind: &'a str, id: &'a str) -> Call<'a, Option<String>> {
        Box::pin(Requests::take_note(self, kind, id))
    }

    fn bump_note<'a>(&'a self, kind: &'a str, id: &'a str) -> Call<'a, i64> {
        Box::pin(Requests::bump_note(self, kind, id))
    }

    fn take<'a>(
        &'a self,
        bucket: &'a str,
        blocked: Option<(&'a str, &'a str)>,
        burst: u32,
        per_second: f64,
        now_ms: i64,
    ) -> Call<'a, Bucket> {
        Box::pin(Requests::take(self, bucket, blocked, burst, per_second, now_ms))
    }

    fn notification_history<'a>(
        &'a self,
        user_id: &'a str,
        skip: usize,
        limit: usize,
    ) -> Call<'a, (usize, Vec<Delivery>)> {
        Box::pin(async move { self.ledger().history(user_id, skip, limit).await })
    }
}

impl Analytics for ClickHouseReader {
    fn rows<'a>(&'a self, relation: Relation, filter: Filter<'a>) -> Call<'a, Vec<serde_json::Value>> {
        Box::pin(ClickHouseReader::rows(self, relation, filter))
    }

    fn ping(&self) -> Call<'_, ()> {
        Box::pin(ClickHouseReader::ping(self))
    }
}

/// No store at all: every call fails with [`SinkError::NotConnected`].
pub struct Offline;

fn not_connected<'a, T: Send + 'a>(store: &'static str) -> Call<'a, T> {
    Box::pin(async move { Err(SinkError::NotConnected(store)) })
}

impl Views for Offline {
    fn read<'a>(&'a self, _: &'a [(Family, &'a str)]) -> Call<'a, Option<Served>> {
        not_connected("redis")
    }

    fn read_following<'a>(
        &'a self,
        _: (Family, &'a str),
        _: &'a str,
        _: Family,
        _: &'a [(Family, &'a str)],
    ) -> Call<'a, Option<Served>> {
        not_connected("redis")
    }

    fn read_lists<'a>(&'a self, _: &'a [(Family, &'a str)]) -> Call<'a, Option<ServedLists>> {
        not_connected("redis")
    }

    fn list_versions<'a>(&'a self, _: &'a [(Family, &'a str)]) -> Call<'a, Option<ListVersions>> {
        not_connected("redis")
    }

    fn status(&self) -> Call<'_, Option<GenerationStatus>> {
        not_connected("redis")
    }

    fn scan(&self, _: Family) -> Call<'_, Option<Scanned>> {
        not_connected("redis")
    }

    fn ping(&self) -> Call<'_, ()> {
        not_connected("redis")
    }
}

impl RequestLog for Offline {
    fn claim<'a>(&'a self, _: &'a str, _: &'a str, _: u64) -> Call<'a, Claim> {
        not_connected("redis")
    }

    fn complete<'a>(&'a self, _: &'a str, _: &'a str, _: u64) -> Call<'a, ()> {
        not_connected("redis")
    }

    fn abandon<'a>(&'a self, _: &'a str) -> Call<'a, ()> {
        not_connected("redis")
    }

    fn hold<'a>(&'a self, _: &'a str, _: &'a [(String, i64)], _: i64, _: i64) -> Call<'a, Hold> {
        not_connected("redis")
    }

    fn release<'a>(&'a self, _: &'a str, _: &'a [String]) -> Call<'a, ()> {
        not_connected("redis")
    }

    fn hold_funds<'a>(&'a self, _: FundsHold<'a>) -> Call<'a, Funds> {
        not_connected("redis")
    }

    fn release_funds<'a>(&'a self, _: Account<'a>, _: &'a str) -> Call<'a, ()> {
        not_connected("redis")
    }

    fn first_use<'a>(&'a self, _: &'a str, _: &'a str, _: u64) -> Call<'a, bool> {
        not_connected("redis")
    }

    fn take<'a>(&'a self, _: &'a str, _: Option<(&'a str, &'a str)>, _: u32, _: f64, _: i64) -> Call<'a, Bucket> {
        not_connected("redis")
    }

    fn put_note<'a>(&'a self, _: &'a str, _: &'a str, _: &'a str, _: u64) -> Call<'a, ()> {
        not_connected("redis")
    }

    fn note<'a>(&'a self, _: &'a str, _: &'a str) -> Call<'a, Option<String>> {
        not_connected("redis")
    }

    fn take_note<'a>(&'a self, _: &'a str, _: &'a str) -> Call<'a, Option<String>> {
        not_connected("redis")
    }

    fn bump_note<'a>(&'a self, _: &'a str, _: &'a str) -> Call<'a, i64> {
        not_connected("redis")
    }

    fn notification_history<'a>(&'a self, _: &'a str, _: usize, _: usize) -> Call<'a, (usize, Vec<Delivery>)> {
        not_connected("redis")
    }
}

impl Analytics for Offline {
    fn rows<'a>(&'a self, _: Relation, _: Filter<'a>) -> Call<'a, Vec<serde_json::Value>> {
        not_connected("clickhouse")
    }

    fn ping(&self) -> Call<'_, ()> {
        not_connected("clickhouse")
    }
}

impl EventLog for Offline {
    fn send<'a>(&'a self, _: &'a [Envelope]) -> Call<'a, Vec<Written>, WriteError> {
        Box::pin(async { Err(WriteError::NotConnected) })
    }

    fn lag(&self, _: &Offsets) -> Result<BTreeMap<String, i64>, WriteError> {
        Err(WriteError::NotConnected)
    }

    fn tail<'a>(&'a self, _: Topic, _: i64) -> Call<'a, Vec<TailRecord>, WriteError> {
        Box::pin(async { Err(WriteError::NotConnected) })
    }

    fn topic_name(&self, topic: Topic) -> String {
        topic.name().to_string()
    }
}
