//! The writer side: publications into a generation, the switch, clean-up.

use super::Keys;
use crate::{Publication, SinkError};
use redis::aio::MultiplexedConnection;
use shopflow_views::family::split_member;

/// Raises the namespace's `asOf` to at least the given wall-clock
/// milliseconds, never lowering it, and stamps the generation's meta with it.
const RAISE_AS_OF: &str = r"
local previous = tonumber(redis.call('GET', KEYS[1]) or '0')
local now = tonumber(ARGV[1])
local as_of = previous
if now > previous then as_of = now end
redis.call('SET', KEYS[1], as_of)
redis.call('HSET', KEYS[2], 'asOf', as_of)
return as_of
";

/// Publishes one generation into Redis.
pub struct RedisSink {
    client: redis::Client,
    connection: MultiplexedConnection,
    keys: Keys,
    generation: String,
    current: bool,
    /// This generation is in the namespace's set of generations.
    registered: bool,
}

/// Commands per pipeline while a generation is not current yet ([`RedisSink::publish`]).
pub const UNSEEN_CHUNK: usize = 10_000;

/// How long one publication may take before Redis counts as not answering.
pub const PUBLISH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

async fn open(client: &redis::Client) -> Result<MultiplexedConnection, SinkError> {
    // A current generation's publication is one MULTI of every changed key: on a loaded
    // machine it takes longer than the client's default 500 ms.
    let config = redis::AsyncConnectionConfig::new().set_response_timeout(Some(PUBLISH_TIMEOUT));
    Ok(client.get_multiplexed_async_connection_with_config(&config).await?)
}

impl RedisSink {
    /// Connects to `url` and writes `generation` under `namespace`.
    pub async fn connect(url: &str, namespace: &str, generation: &str) -> Result<RedisSink, SinkError> {
        let client = redis::Client::open(url)?;
        let connection = open(&client).await?;
        Ok(RedisSink {
            client,
            connection,
            keys: Keys::new(namespace),
            generation: generation.to_string(),
            current: false,
            registered: false,
        })
    }

    /// Connects again: after Redis went away, the connection does not come back by itself.
    pub async fn reconnect(&mut self) -> Result<(), SinkError> {
        self.connection = open(&self.client).await?;
        Ok(())
    }

    /// The generation written.
    pub fn generation(&self) -> &str {
        &self.generation
    }

    /// The generation readers use now, if any.
    pub async fn current_generation(&mut self) -> Result<Option<String>, SinkError> {
        Ok(redis::cmd("GET").arg(self.keys.current()).query_async(&mut self.connection).await?)
    }

    /// Writes a publication; with `make_current`, the same transaction that
    /// stamps it makes this generation the one readers use. Returns `asOf`.
    /// A current generation's publication is one transaction. Writing the
    /// same publication again leaves the same state — values are set, not
    /// added; `asOf` only rises; the list versions, which only tell readers
    /// that a list changed, rise once more — so one that failed may simply be
    /// sent again.
    ///
    /// Readers use only the current generation, so until this one is, its keys
    /// are written in pipelines of [`UNSEEN_CHUNK`] commands (a rebuild's
    /// first publications hold most keys of the history: one pipeline of them
    /// all was held three times over in memory, as changes, commands and
    /// encoded bytes), and only what stamps and switches it is one transaction.
    pub async fn publish(&mut self, publication: &Publication, make_current: bool) -> Result<i64, SinkError> {
        let now_ms = chrono::Utc::now().timestamp_millis();
        let unseen = !self.current;
        if unseen && !self.registered {
            // Before its first keys: a generation that crashes later is still found and dropped.
            let _: () = redis::cmd("SADD")
                .arg(self.keys.generations())
                .arg(&self.generation)
                .query_async(&mut self.connection)
                .await?;
            self.registered = true;
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        let mut queued = 0usize;
        let mut changed_lists = std::collections::BTreeSet::new();
        for ((family, key), value) in &publication.changes {
            if unseen && queued >= UNSEEN_CHUNK {
                let chunk = std::mem::replace(&mut pipe, redis::pipe());
                let _: () = chunk.query_async(&mut self.connection).await?;
                pipe.atomic();
                queued = 0;
            }
            if !family.served_from_redis() {
                continue;
            }
            queued += 1;
            if family.hashed() {
                // A member of a list: one field of the list's hash.
                let Some((list, member)) = split_member(key) else {
                    return Err(SinkError::Corrupt { what: "list member key", detail: key.clone() });
                };
                let redis_key = self.keys.object(&self.generation, *family, &list);
                match value {
                    Some(json) => pipe.hset(redis_key, member, json).ignore(),
                    None => pipe.hdel(redis_key, member).ignore(),
                };
                changed_lists.insert((*family, list));
                continue;
            }
            let redis_key = self.keys.object(&self.generation, *family, key);
            match value {
                Some(json) => pipe.set(redis_key, json).ignore(),
                None => pipe.del(redis_key).ignore(),
            };
        }
        let versions = self.keys.list_versions(&self.generation);
        for (family, list) in changed_lists {
            pipe.hincr(&versions, Keys::object_suffix(family, &list), 1).ignore();
        }
        let meta = self.keys.meta(&self.generation);
        let offsets = serde_json::to_string(&publication.offsets).expect("offsets serialise");
        pipe.hset(&meta, "upper", publication.upper).ignore();
        pipe.hset(&meta, "offsets", offsets).ignore();
        pipe.cmd("EVAL").arg(RAISE_AS_OF).arg(2).arg(self.keys.as_of()).arg(&meta).arg(now_ms);
        if make_current && !self.current {
            pipe.set(self.keys.current(), &self.generation).ignore();
        }
        let (as_of,): (i64,) = pipe.query_async(&mut self.connection).await?;
        if make_current {
            self.current = true;
        }
        Ok(as_of)
    }

    /// Every key matching `pattern`.
    async fn scan(&mut self, pattern: &str) -> Result<Vec<String>, SinkError> {
        super::scan_keys(&mut self.connection, pattern).await
    }

    /// Every generation with keys under the namespace: the namespace's set of
    /// generations, read without touching other keys. A namespace published
    /// by a version before the set (its current generation not in it) is
    /// searched once by its meta hashes, and what is found is added to the set.
    pub async fn generations(&mut self) -> Result<Vec<String>, SinkError> {
        let mut found: Vec<String> =
            redis::cmd("SMEMBERS").arg(self.keys.generations()).query_async(&mut self.connection).await?;
        let current = self.current_generation().await?;
        if current.is_some_and(|c| !found.contains(&c)) {
            let older: Vec<String> = self
                .scan(&self.keys.meta("*"))
                .await?
                .iter()
                .filter_map(|key| self.keys.generation_of_meta(key))
                .map(str::to_string)
                .collect();
            if !older.is_empty() {
                let _: () = redis::cmd("SADD")
                    .arg(self.keys.generations())
                    .arg(&older)
                    .query_async(&mut self.connection)
                    .await?;
            }
            found.extend(older);
        }
        found.sort();
        found.dedup();
        Ok(found)
    }

    /// Deletes every key of another generation (after a switch), in batches.
    pub async fn drop_generation(&mut self, generation: &str) -> Result<u64, SinkError> {
        if generation == self.generation {
            return Ok(0);
        }
        let dropped = super::unlink_matching(&mut self.connection, &self.keys.generation_pattern(generation)).await?;
        let _: () =
            redis::cmd("SREM").arg(self.keys.generations()).arg(generation).query_async(&mut self.connection).await?;
        Ok(dropped)
    }
}
