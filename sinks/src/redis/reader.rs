//! The reader side: what the API uses. Each read resolves the current
//! generation and reads the object and its `asOf` in one Lua call, so a read
//! never mixes two generations.

use super::Keys;
use crate::{Family, Offsets, SinkError};
use redis::aio::MultiplexedConnection;

/// KEYS[1] = `{ns}:current`; ARGV[1] = namespace; ARGV[2..] = object suffixes.
/// Returns {generation, asOf, value-or-empty...}, or an empty reply before any generation is current.
const READ: &str = r"
local generation = redis.call('GET', KEYS[1])
if not generation then return {} end
local prefix = ARGV[1] .. ':' .. generation .. ':'
local reply = {generation, redis.call('HGET', prefix .. 'meta', 'asOf') or '0'}
for i = 2, #ARGV do
  reply[#reply + 1] = redis.call('GET', prefix .. ARGV[i]) or ''
end
return reply
";

/// KEYS[1] = `{ns}:current`; ARGV[1] = namespace; ARGV[2] = suffix of a holder object;
/// ARGV[3] = the field of the holder listing ids; ARGV[4] = the suffix prefix of the objects
/// those ids name; ARGV[5..] = other object suffixes.
/// Returns {generation, asOf, holder, others..., followed...}, or {} before any generation.
const READ_FOLLOWING: &str = r"
local generation = redis.call('GET', KEYS[1])
if not generation then return {} end
local prefix = ARGV[1] .. ':' .. generation .. ':'
local holder = redis.call('GET', prefix .. ARGV[2])
local reply = {generation, redis.call('HGET', prefix .. 'meta', 'asOf') or '0', holder or ''}
for i = 5, #ARGV do
  reply[#reply + 1] = redis.call('GET', prefix .. ARGV[i]) or ''
end
if holder then
  local ids = cjson.decode(holder)[ARGV[3]]
  if type(ids) == 'table' then
    for _, id in ipairs(ids) do
      reply[#reply + 1] = redis.call('GET', prefix .. ARGV[4] .. tostring(id)) or ''
    end
  end
end
return reply
";

/// KEYS[1] = `{ns}:current`; ARGV[1] = namespace; ARGV[2..] = suffixes of hashes.
/// Returns {generation, asOf, {values of hash 1...}, ...}, or {} before any generation.
const READ_LISTS: &str = r"
local generation = redis.call('GET', KEYS[1])
if not generation then return {} end
local prefix = ARGV[1] .. ':' .. generation .. ':'
local reply = {generation, redis.call('HGET', prefix .. 'meta', 'asOf') or '0'}
for i = 2, #ARGV do
  reply[#reply + 1] = redis.call('HVALS', prefix .. ARGV[i])
end
return reply
";

/// KEYS[1] = `{ns}:current`; ARGV[1] = namespace. Returns {generation, asOf, upper, offsets}.
const STATUS: &str = r"
local generation = redis.call('GET', KEYS[1])
if not generation then return {} end
local meta = ARGV[1] .. ':' .. generation .. ':meta'
local values = redis.call('HMGET', meta, 'asOf', 'upper', 'offsets')
return {generation, values[1] or '0', values[2] or '0', values[3] or '{}'}
";

/// Objects read from the current generation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Served {
    /// The generation they came from.
    pub generation: String,
    /// Its published `asOf`.
    pub as_of: i64,
    /// One entry per requested key: its JSON, or `None` when absent.
    pub values: Vec<Option<String>>,
}

/// What the current generation covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenerationStatus {
    /// The generation.
    pub generation: String,
    /// Its `asOf`.
    pub as_of: i64,
    /// Its published upper epoch.
    pub upper: u64,
    /// The source offsets it covers.
    pub offsets: Offsets,
}

/// A read script's reply {generation, asOf, values...} as [`Served`]; `None` when empty.
fn served(reply: Vec<String>) -> Result<Option<Served>, SinkError> {
    if reply.is_empty() {
        return Ok(None);
    }
    let as_of = reply[1].parse().map_err(|_| SinkError::Corrupt { what: "asOf", detail: reply[1].clone() })?;
    let values = reply[2..].iter().map(|v| (!v.is_empty()).then(|| v.clone())).collect();
    Ok(Some(Served { generation: reply[0].clone(), as_of, values }))
}

/// Reads the current generation.
#[derive(Clone)]
pub struct RedisReader {
    connection: MultiplexedConnection,
    keys: Keys,
    read: redis::Script,
    read_following: redis::Script,
    read_lists: redis::Script,
    status: redis::Script,
}

/// Lists read from the current generation: the members of hashed families' lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServedLists {
    /// The generation they came from.
    pub generation: String,
    /// Its published `asOf`.
    pub as_of: i64,
    /// Per requested list, its members' values (JSON), in no particular order; empty when absent.
    pub lists: Vec<Vec<String>>,
}

impl RedisReader {
    /// Connects to `url`, reading `namespace`.
    pub async fn connect(url: &str, namespace: &str) -> Result<RedisReader, SinkError> {
        let client = redis::Client::open(url)?;
        let connection = client.get_multiplexed_async_connection().await?;
        Ok(RedisReader {
            connection,
            keys: Keys::new(namespace),
            read: redis::Script::new(READ),
            read_following: redis::Script::new(READ_FOLLOWING),
            read_lists: redis::Script::new(READ_LISTS),
            status: redis::Script::new(STATUS),
        })
    }

    /// Reads objects of the current generation; `None` before any generation is current.
    pub async fn read(&self, objects: &[(Family, &str)]) -> Result<Option<Served>, SinkError> {
        let mut invocation = self.read.key(self.keys.current());
        invocation.arg(self.keys.namespace());
        for (family, key) in objects {
            invocation.arg(Keys::object_suffix(*family, key));
        }
        let mut connection = self.connection.clone();
        served(invocation.invoke_async(&mut connection).await?)
    }

    /// Reads, in one step of one generation, a holder object, the objects of
    /// family `follow` named by the ids in the holder's `field`, and `others`.
    /// The values come back as: holder, `others`..., then the followed objects
    /// (absent ones included, as `None`).
    pub async fn read_following(
        &self,
        holder: (Family, &str),
        field: &str,
        follow: Family,
        others: &[(Family, &str)],
    ) -> Result<Option<Served>, SinkError> {
        let mut invocation = self.read_following.key(self.keys.current());
        invocation.arg(self.keys.namespace());
        invocation.arg(Keys::object_suffix(holder.0, holder.1));
        invocation.arg(field);
        invocation.arg(Keys::object_suffix(follow, ""));
        for (family, key) in others {
            invocation.arg(Keys::object_suffix(*family, key));
        }
        let mut connection = self.connection.clone();
        served(invocation.invoke_async(&mut connection).await?)
    }

    /// Reads whole lists of [`Family::hashed`] families, in one step of one
    /// generation; `None` before any generation is current.
    pub async fn read_lists(&self, lists: &[(Family, &str)]) -> Result<Option<ServedLists>, SinkError> {
        let mut invocation = self.read_lists.key(self.keys.current());
        invocation.arg(self.keys.namespace());
        for (family, list) in lists {
            invocation.arg(Keys::object_suffix(*family, list));
        }
        let mut connection = self.connection.clone();
        let reply: Vec<redis::Value> = invocation.invoke_async(&mut connection).await?;
        if reply.is_empty() {
            return Ok(None);
        }
        let corrupt = |detail: String| SinkError::Corrupt { what: "list read", detail };
        let mut parts = reply.into_iter();
        let text = |value: Option<redis::Value>| -> Result<String, SinkError> {
            let value = value.ok_or_else(|| corrupt("short reply".to_string()))?;
            redis::from_redis_value(value).map_err(|e| corrupt(e.to_string()))
        };
        let generation = text(parts.next())?;
        let as_of_text = text(parts.next())?;
        let as_of = as_of_text.parse().map_err(|_| corrupt(as_of_text.clone()))?;
        let lists = parts
            .map(|value| redis::from_redis_value::<Vec<String>>(value).map_err(|e| corrupt(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(ServedLists { generation, as_of, lists }))
    }

    /// Reads one object.
    pub async fn read_one(&self, family: Family, key: &str) -> Result<Option<(i64, Option<String>)>, SinkError> {
        Ok(self.read(&[(family, key)]).await?.map(|mut s| (s.as_of, s.values.pop().flatten())))
    }

    /// What the current generation covers; `None` before any generation is current.
    pub async fn status(&self) -> Result<Option<GenerationStatus>, SinkError> {
        let mut connection = self.connection.clone();
        let reply: Vec<String> =
            self.status.key(self.keys.current()).arg(self.keys.namespace()).invoke_async(&mut connection).await?;
        if reply.is_empty() {
            return Ok(None);
        }
        let corrupt = |what: &'static str, v: &String| SinkError::Corrupt { what, detail: v.clone() };
        Ok(Some(GenerationStatus {
            generation: reply[0].clone(),
            as_of: reply[1].parse().map_err(|_| corrupt("asOf", &reply[1]))?,
            upper: reply[2].parse().map_err(|_| corrupt("upper", &reply[2]))?,
            offsets: serde_json::from_str(&reply[3]).map_err(|_| corrupt("offsets", &reply[3]))?,
        }))
    }

    /// A cheap liveness check.
    pub async fn ping(&self) -> Result<(), SinkError> {
        let mut connection = self.connection.clone();
        let _: String = redis::cmd("PING").query_async(&mut connection).await?;
        Ok(())
    }
}
