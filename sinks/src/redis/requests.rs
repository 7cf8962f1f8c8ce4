//! What the API keeps in Redis besides the served state, shared by every
//! replica: idempotency records of writes, stock holds of checkouts in
//! flight, and rate-limit buckets. Each check-and-change is one Lua call, so
//! replicas racing on the same key are serialised by Redis.
//!
//! Their keys, outside every generation, are named in [`Keys`].

use super::Keys;
use crate::{Family, SinkError};
use redis::aio::MultiplexedConnection;

/// KEYS[1] = the record; ARGV[1] = fingerprint, ARGV[2] = seconds a claim lives.
const CLAIM: &str = r"
local existing = redis.call('HMGET', KEYS[1], 'fingerprint', 'response')
if not existing[1] then
  redis.call('HSET', KEYS[1], 'fingerprint', ARGV[1])
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return {'new'}
end
if existing[1] ~= ARGV[1] then return {'mismatch'} end
if existing[2] then return {'done', existing[2]} end
return {'pending'}
";

/// KEYS[1] = `{ns}:current`; ARGV[1] = namespace, ARGV[2] = now (ms), ARGV[3] = expiry (ms),
/// ARGV[4] = the order's object suffix, ARGV[5] = [`Keys::holds_prefix`], then triples
/// (productId, inventory suffix, quantity).
/// A hold ends when it expires or when the served state has the order (its reservation is
/// then in `available`). Returns {'held'} or {'short', productId, available-after-holds}.
const HOLD: &str = r"
local generation = redis.call('GET', KEYS[1])
local now = tonumber(ARGV[2])
local function served(suffix)
  if not generation then return false end
  return redis.call('GET', ARGV[1] .. ':' .. generation .. ':' .. suffix)
end
local function holds_key(product) return ARGV[5] .. product end
for i = 6, #ARGV, 3 do
  local product, wanted = ARGV[i], tonumber(ARGV[i + 2])
  local available = 0
  local inventory = served(ARGV[i + 1])
  if inventory then available = tonumber(cjson.decode(inventory)['available']) or 0 end
  local key = holds_key(product)
  local entries = redis.call('HGETALL', key)
  local held = 0
  for j = 1, #entries, 2 do
    local quantity, expires = string.match(entries[j + 1], '^(%d+):(%d+)$')
    if (not quantity) or tonumber(expires) <= now or served(entries[j]) then
      redis.call('HDEL', key, entries[j])
    elseif entries[j] ~= ARGV[4] then
      held = held + tonumber(quantity)
    end
  end
  if available - held < wanted then return {'short', product, tostring(available - held)} end
end
for i = 6, #ARGV, 3 do
  local key = holds_key(ARGV[i])
  redis.call('HSET', key, ARGV[4], ARGV[i + 2] .. ':' .. ARGV[3])
  if redis.call('PTTL', key) < tonumber(ARGV[3]) - now then redis.call('PEXPIREAT', key, ARGV[3]) end
end
return {'held'}
";

/// KEYS[1] = the bucket; ARGV[1] = capacity, ARGV[2] = tokens per second, ARGV[3] = now (ms).
/// Returns {1, 0} when a token was taken, else {0, ms until one is there}.
const TAKE: &str = r"
local capacity, rate, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]) or capacity, tonumber(state[2]) or now
if now > at then tokens = math.min(capacity, tokens + (now - at) * rate / 1000) end
local taken = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  taken = 1
else
  wait = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(math.max(now, at)))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity * 1000 / rate) + 1000)
return {taken, wait}
";

/// What a write's idempotency key says about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// First use: go on, then [`Requests::complete`] or [`Requests::abandon`].
    New,
    /// Done before: this is the answer it got.
    Done(String),
    /// Another request with this key is being served right now.
    Pending,
    /// The key was used for a different request.
    Mismatch,
}

/// The outcome of a checkout's stock hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hold {
    /// Every line is held.
    Held,
    /// This product has only this many units left for new orders.
    Short {
        /// The product.
        product_id: String,
        /// Available minus the holds of other checkouts (may be ≤ 0).
        left: i64,
    },
}

/// The API's own keys in Redis.
#[derive(Clone)]
pub struct Requests {
    connection: MultiplexedConnection,
    keys: Keys,
    claim: redis::Script,
    hold: redis::Script,
    take: redis::Script,
}

impl Requests {
    /// Connects to `url`, under `namespace`.
    pub async fn connect(url: &str, namespace: &str) -> Result<Requests, SinkError> {
        let client = redis::Client::open(url)?;
        let connection = client.get_multiplexed_async_connection().await?;
        Ok(Requests {
            connection,
            keys: Keys::new(namespace),
            claim: redis::Script::new(CLAIM),
            hold: redis::Script::new(HOLD),
            take: redis::Script::new(TAKE),
        })
    }

    fn idempotency_key(&self, key: &str) -> String {
        self.keys.idempotency(key)
    }

    /// Claims idempotency `key` for a request with `fingerprint`; a claim not completed
    /// within `claim_seconds` lapses (a replica died mid-request).
    pub async fn claim(&self, key: &str, fingerprint: &str, claim_seconds: u64) -> Result<Claim, SinkError> {
        let mut connection = self.connection.clone();
        let reply: Vec<String> = self
            .claim
            .key(self.idempotency_key(key))
            .arg(fingerprint)
            .arg(claim_seconds.max(1))
            .invoke_async(&mut connection)
            .await?;
        Ok(match reply.first().map(String::as_str) {
            Some("new") => Claim::New,
            Some("done") => Claim::Done(reply.get(1).cloned().unwrap_or_default()),
            Some("mismatch") => Claim::Mismatch,
            _ => Claim::Pending,
        })
    }

    /// Records the answer of a claimed request, kept `keep_seconds`.
    pub async fn complete(&self, key: &str, response: &str, keep_seconds: u64) -> Result<(), SinkError> {
        let mut connection = self.connection.clone();
        let record = self.idempotency_key(key);
        redis::pipe()
            .atomic()
            .hset(&record, "response", response)
            .ignore()
            .expire(&record, keep_seconds.max(1) as i64)
            .ignore()
            .query_async::<()>(&mut connection)
            .await?;
        Ok(())
    }

    /// Gives up a claim (the write failed), so a retry may try again.
    pub async fn abandon(&self, key: &str) -> Result<(), SinkError> {
        let mut connection = self.connection.clone();
        redis::cmd("DEL").arg(self.idempotency_key(key)).query_async::<()>(&mut connection).await?;
        Ok(())
    }

    /// Holds `lines` (productId, quantity; one line per product) for `order_id` until
    /// `expires_at_ms` or until the served state has the order — or refuses, holding
    /// nothing, when a line exceeds what is available after the other holds.
    pub async fn hold(
        &self,
        order_id: &str,
        lines: &[(String, i64)],
        now_ms: i64,
        expires_at_ms: i64,
    ) -> Result<Hold, SinkError> {
        let mut invocation = self.hold.key(self.keys.current());
        invocation.arg(self.keys.namespace()).arg(now_ms).arg(expires_at_ms);
        invocation.arg(Keys::object_suffix(Family::Order, order_id));
        invocation.arg(self.keys.holds_prefix());
        for (product, quantity) in lines {
            invocation.arg(product).arg(Keys::object_suffix(Family::Inventory, product)).arg(*quantity);
        }
        let mut connection = self.connection.clone();
        let reply: Vec<String> = invocation.invoke_async(&mut connection).await?;
        match reply.first().map(String::as_str) {
            Some("held") => Ok(Hold::Held),
            Some("short") if reply.len() == 3 => Ok(Hold::Short {
                product_id: reply[1].clone(),
                left: reply[2].parse().map_err(|_| SinkError::Corrupt { what: "hold", detail: reply[2].clone() })?,
            }),
            _ => Err(SinkError::Corrupt { what: "hold reply", detail: reply.join(",") }),
        }
    }

    /// Drops the holds of `order_id` on `products` (its order was not written).
    pub async fn release(&self, order_id: &str, products: &[String]) -> Result<(), SinkError> {
        let mut connection = self.connection.clone();
        let field = Keys::object_suffix(Family::Order, order_id);
        let mut pipe = redis::pipe();
        for product in products {
            pipe.hdel(self.keys.holds(product), &field).ignore();
        }
        pipe.query_async::<()>(&mut connection).await?;
        Ok(())
    }

    /// Marks the one-use id `id` of `kind` used, for `ttl_seconds`: `true` the first time only.
    pub async fn first_use(&self, kind: &str, id: &str, ttl_seconds: u64) -> Result<bool, SinkError> {
        let mut connection = self.connection.clone();
        let set: Option<String> = redis::cmd("SET")
            .arg(self.keys.used(kind, id))
            .arg("1")
            .arg("NX")
            .arg("EX")
            .arg(ttl_seconds.max(1))
            .query_async(&mut connection)
            .await?;
        Ok(set.is_some())
    }

    /// Takes one token from `bucket` (capacity `burst`, refilled at `per_second`):
    /// `Ok(None)` when taken, `Ok(Some(ms))` when the bucket is empty for about `ms`.
    pub async fn take(&self, bucket: &str, burst: u32, per_second: f64, now_ms: i64) -> Result<Option<u64>, SinkError> {
        let mut connection = self.connection.clone();
        let reply: (i64, i64) = self
            .take
            .key(self.keys.rate(bucket))
            .arg(burst.max(1))
            .arg(per_second.max(0.001))
            .arg(now_ms)
            .invoke_async(&mut connection)
            .await?;
        Ok((reply.0 != 1).then_some(reply.1.max(1) as u64))
    }
}
