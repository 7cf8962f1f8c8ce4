//! The reader side: what the API uses. Each read resolves the current
//! generation and reads the object and its `asOf` in one Lua call, so a read
//! never mixes two generations.

use super::Keys;
use crate::{Family, Offsets, SinkError};
use redis::aio::ConnectionManager;

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

/// The start of both list scripts: resolves the generation (or returns {}
/// before any) and reads the versions of the lists ARGV[2..] name.
macro_rules! lists_head {
    () => {
        r"
local generation = redis.call('GET', KEYS[1])
if not generation then return {} end
local prefix = ARGV[1] .. ':' .. generation .. ':'
local versions = {}
if #ARGV > 1 then versions = redis.call('HMGET', prefix .. 'listver', unpack(ARGV, 2)) end
for i = 1, #versions do versions[i] = versions[i] or '0' end
"
    };
}

/// The members of each list of a reply.
fn members(replies: impl Iterator<Item = redis::Value>) -> Result<Vec<Vec<String>>, SinkError> {
    replies
        .map(|value| redis::from_redis_value::<Vec<String>>(value).map_err(|e| list_corrupt(e.to_string())))
        .collect()
}

/// How often [`RedisReader::read_lists`] tries a transaction before it reads by script.
const LIST_READ_TRIES: usize = 3;

/// KEYS[1] = `{ns}:current`; ARGV[1] = namespace; ARGV[2..] = suffixes of hashes.
/// Returns {generation, asOf, {version per hash}, {values of hash 1...}, ...},
/// or {} before any generation.
const READ_LISTS: &str = concat!(
    lists_head!(),
    r"
local reply = {generation, redis.call('HGET', prefix .. 'meta', 'asOf') or '0', versions}
for i = 2, #ARGV do
  reply[#reply + 1] = redis.call('HVALS', prefix .. ARGV[i])
end
return reply
"
);

/// KEYS[1] = `{ns}:current`; ARGV[1] = namespace, ARGV[2..] = list suffixes.
/// Returns {generation, asOf, {version per list}}: what [`READ_LISTS`] would
/// read, without the members.
const LIST_VERSIONS: &str = concat!(
    lists_head!(),
    r"
return {generation, redis.call('HGET', prefix .. 'meta', 'asOf') or '0', versions}
"
);

/// KEYS[1] = `{ns}:current`; ARGV[1] = namespace. Returns {generation, asOf, upper, offsets}.
const STATUS: &str = r"
local generation = redis.call('GET', KEYS[1])
if not generation then return {} end
local meta = ARGV[1] .. ':' .. generation .. ':meta'
local values = redis.call('HMGET', meta, 'asOf', 'upper', 'offsets')
return {generation, values[1] or '0', values[2] or '0', values[3] or '{}'}
";

fn list_corrupt(detail: String) -> SinkError {
    SinkError::Corrupt { what: "list read", detail }
}

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
    connection: ConnectionManager,
    keys: Keys,
    read: redis::Script,
    read_following: redis::Script,
    read_lists: redis::Script,
    list_versions: redis::Script,
    status: redis::Script,
}

/// Lists read from the current generation: the members of hashed families' lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServedLists {
    /// The generation they came from.
    pub generation: String,
    /// Its published `asOf`.
    pub as_of: i64,
    /// Per requested list, its version ([`ListVersions`]).
    pub versions: Vec<u64>,
    /// Per requested list, its members' values (JSON), in no particular order; empty when absent.
    pub lists: Vec<Vec<String>>,
}

/// The versions of lists in the current generation: a list with the same
/// version in the same generation has the same members (0: never written).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListVersions {
    /// The generation.
    pub generation: String,
    /// Its published `asOf`.
    pub as_of: i64,
    /// Per requested list, its version.
    pub versions: Vec<u64>,
}

impl RedisReader {
    /// Connects to `url`, reading `namespace`.
    pub async fn connect(url: &str, namespace: &str) -> Result<RedisReader, SinkError> {
        let connection = super::managed(url).await?;
        Ok(RedisReader {
            connection,
            keys: Keys::new(namespace),
            read: redis::Script::new(READ),
            read_following: redis::Script::new(READ_FOLLOWING),
            read_lists: redis::Script::new(READ_LISTS),
            list_versions: redis::Script::new(LIST_VERSIONS),
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

    /// Reads whole lists of [`Family::hashed`] families, with their
    /// versions, in one step of one generation; `None` before any generation
    /// is current.
    ///
    /// The lists of a common word are megabytes, and a script's replies pass
    /// through Lua tables (for 12,000 members of ~200 bytes, 12 ms of Redis
    /// where `HVALS` alone takes 3): so the generation is learnt first (the
    /// versions' small script), then one `MULTI`/`EXEC` reads `current`, the
    /// meta, the versions and the lists of that generation. The transaction
    /// is one step of Redis; if `current` no longer names the generation, a
    /// new one became current in between and the read starts over (the
    /// script reads it in one go after [`LIST_READ_TRIES`]).
    pub async fn read_lists(&self, lists: &[(Family, &str)]) -> Result<Option<ServedLists>, SinkError> {
        let suffixes: Vec<String> = lists.iter().map(|(family, list)| Keys::object_suffix(*family, list)).collect();
        for _ in 0..LIST_READ_TRIES {
            let Some(known) = self.list_versions(lists).await? else { return Ok(None) };
            let generation = known.generation;
            let mut pipe = redis::pipe();
            pipe.atomic().get(self.keys.current()).hget(self.keys.meta(&generation), "asOf");
            if !suffixes.is_empty() {
                pipe.cmd("HMGET").arg(self.keys.list_versions(&generation)).arg(&suffixes);
            }
            for (family, list) in lists {
                pipe.hvals(self.keys.object(&generation, *family, list));
            }
            let mut connection = self.connection.clone();
            let reply: Vec<redis::Value> = pipe.query_async(&mut connection).await?;
            let mut parts = reply.into_iter();
            let mut next = || parts.next().ok_or_else(|| list_corrupt("short reply".to_string()));
            let current: Option<String> = redis::from_redis_value(next()?).map_err(|e| list_corrupt(e.to_string()))?;
            if current.as_deref() != Some(generation.as_str()) {
                continue;
            }
            let as_of: Option<i64> = redis::from_redis_value(next()?).map_err(|e| list_corrupt(e.to_string()))?;
            let versions: Vec<Option<u64>> = if suffixes.is_empty() {
                Vec::new()
            } else {
                redis::from_redis_value(next()?).map_err(|e| list_corrupt(e.to_string()))?
            };
            let lists = members(parts)?;
            let versions = versions.into_iter().map(|v| v.unwrap_or(0)).collect();
            return Ok(Some(ServedLists { generation, as_of: as_of.unwrap_or(0), versions, lists }));
        }
        let reply = self.lists_call(&self.read_lists, lists).await?;
        let Some((generation, as_of, versions, rest)) = reply else { return Ok(None) };
        Ok(Some(ServedLists { generation, as_of, versions, lists: members(rest)? }))
    }

    /// The versions [`RedisReader::read_lists`] would read, without the
    /// members: one cheap step to tell whether an answer computed from the
    /// lists before still holds.
    pub async fn list_versions(&self, lists: &[(Family, &str)]) -> Result<Option<ListVersions>, SinkError> {
        let reply = self.lists_call(&self.list_versions, lists).await?;
        Ok(reply.map(|(generation, as_of, versions, _)| ListVersions { generation, as_of, versions }))
    }

    /// Runs a list script: the generation, `asOf`, the versions, and what follows.
    async fn lists_call(
        &self,
        script: &redis::Script,
        lists: &[(Family, &str)],
    ) -> Result<Option<(String, i64, Vec<u64>, std::vec::IntoIter<redis::Value>)>, SinkError> {
        let mut invocation = script.key(self.keys.current());
        invocation.arg(self.keys.namespace());
        for (family, list) in lists {
            invocation.arg(Keys::object_suffix(*family, list));
        }
        let mut connection = self.connection.clone();
        let reply: Vec<redis::Value> = invocation.invoke_async(&mut connection).await?;
        if reply.is_empty() {
            return Ok(None);
        }
        let mut parts = reply.into_iter();
        let mut text = || -> Result<String, SinkError> {
            let value = parts.next().ok_or_else(|| list_corrupt("short reply".to_string()))?;
            redis::from_redis_value(value).map_err(|e| list_corrupt(e.to_string()))
        };
        let generation = text()?;
        let as_of_text = text()?;
        let as_of = as_of_text.parse().map_err(|_| list_corrupt(as_of_text.clone()))?;
        let versions: Vec<String> = parts
            .next()
            .map(redis::from_redis_value)
            .transpose()
            .map_err(|e| list_corrupt(e.to_string()))?
            .unwrap_or_default();
        let versions = versions
            .iter()
            .map(|v| v.parse().map_err(|_| list_corrupt(format!("version {v:?}"))))
            .collect::<Result<Vec<u64>, _>>()?;
        Ok(Some((generation, as_of, versions, parts)))
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

    /// Every object of `family` in the current generation: (asOf, [(key,
    /// JSON)]), in no order; `None` before any generation is current. It walks
    /// the generation's keys with SCAN (O(all keys), for rare whole-family
    /// work such as an admin's broadcast, never a shopper's read).
    pub async fn scan(&self, family: Family) -> Result<Option<(i64, Vec<(String, String)>)>, SinkError> {
        let Some(status) = self.status().await? else { return Ok(None) };
        let mut connection = self.connection.clone();
        let prefix = self.keys.object(&status.generation, family, "");
        let keys = super::scan_keys(&mut connection, &format!("{prefix}*")).await?;
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(1_000) {
            let values: Vec<Option<String>> = redis::cmd("MGET").arg(chunk).query_async(&mut connection).await?;
            // A key that went away (a generation dropped meanwhile) is passed over.
            found.extend(chunk.iter().zip(values).filter_map(|(key, v)| Some((key[prefix.len()..].to_string(), v?))));
        }
        Ok(Some((status.as_of, found)))
    }

    /// Every object of `family` in `generation`: (key, JSON), in no order; a
    /// hashed family's members as (`list[member]`, JSON). It walks the
    /// generation's keys with SCAN: for whole-generation work (`shopflow verify`).
    pub async fn objects(&self, generation: &str, family: Family) -> Result<Vec<(String, String)>, SinkError> {
        let mut connection = self.connection.clone();
        let prefix = self.keys.object(generation, family, "");
        let keys = super::scan_keys(&mut connection, &format!("{prefix}*")).await?;
        let mut found = Vec::with_capacity(keys.len());
        if family.hashed() {
            for key in keys {
                let members: Vec<(String, String)> =
                    redis::cmd("HGETALL").arg(&key).query_async(&mut connection).await?;
                let list = &key[prefix.len()..];
                found.extend(members.into_iter().map(|(member, value)| (format!("{list}[{member}]"), value)));
            }
            return Ok(found);
        }
        for chunk in keys.chunks(1_000) {
            let values: Vec<Option<String>> = redis::cmd("MGET").arg(chunk).query_async(&mut connection).await?;
            found.extend(chunk.iter().zip(values).filter_map(|(key, v)| Some((key[prefix.len()..].to_string(), v?))));
        }
        Ok(found)
    }

    /// A cheap liveness check.
    pub async fn ping(&self) -> Result<(), SinkError> {
        let mut connection = self.connection.clone();
        let _: String = redis::cmd("PING").query_async(&mut connection).await?;
        Ok(())
    }
}
