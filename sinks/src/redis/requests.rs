//! What the API keeps in Redis besides the served state, shared by every
//! replica: idempotency records of writes, stock holds of checkouts in
//! flight, money holds of wallet payments and payouts in flight, and
//! rate-limit buckets. Each check-and-change is one Lua call, so
//! replicas racing on the same key are serialised by Redis.
//!
//! Their keys, outside every generation, are named in [`Keys`].

use super::Keys;
use crate::{Family, SinkError};
use redis::aio::ConnectionManager;

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

/// KEYS[1] = `{ns}:current`, KEYS[2] = the account's holds; ARGV[1] = namespace, ARGV[2] = now
/// (ms), ARGV[3] = expiry (ms), ARGV[4] = the account's object suffix, ARGV[5] = `wallet` or
/// `vendor`, ARGV[6] = this hold's id, ARGV[7] = amount, ARGV[8] = its group ('' for none),
/// ARGV[9] = the object suffix prefix of what settles a wallet hold (a payment).
/// Entries are id → `amount:expiresAtMs:group`. A hold ends when it expires or when the served
/// state has counted it: a wallet payment that is no longer `Initiated` (its completion is then
/// in the balance), a payout listed in the vendor's `payoutItems` (then in `pendingPayouts` or
/// `payouts`). Spendable: a wallet's `balance`, a vendor's `balance − pendingPayouts`; less the
/// live holds. Returns {'held'}, {'short', spendable-after-holds} or {'busy', hold id} when
/// another live hold has the same group.
const FUNDS: &str = r"
local generation = redis.call('GET', KEYS[1])
local now = tonumber(ARGV[2])
local function served(suffix)
  if not generation then return nil end
  local json = redis.call('GET', ARGV[1] .. ':' .. generation .. ':' .. suffix)
  if json then return cjson.decode(json) end
  return nil
end
local account = served(ARGV[4])
local spendable = 0
local listed = {}
if account then
  spendable = tonumber(account['balance']) or 0
  if ARGV[5] == 'vendor' then
    spendable = spendable - (tonumber(account['pendingPayouts']) or 0)
    for _, payout in ipairs(account['payoutItems'] or {}) do listed[payout['payoutId']] = true end
  end
end
local function counted(id)
  if ARGV[5] == 'vendor' then return listed[id] == true end
  local payment = served(ARGV[9] .. id)
  return payment ~= nil and payment['status'] ~= 'Initiated'
end
local entries = redis.call('HGETALL', KEYS[2])
local held = 0
for j = 1, #entries, 2 do
  local amount, expires, group = string.match(entries[j + 1], '^(%d+):(%d+):(.*)$')
  if (not amount) or tonumber(expires) <= now or counted(entries[j]) then
    redis.call('HDEL', KEYS[2], entries[j])
  elseif entries[j] ~= ARGV[6] then
    if ARGV[8] ~= '' and group == ARGV[8] then return {'busy', entries[j]} end
    held = held + tonumber(amount)
  end
end
if spendable - held < tonumber(ARGV[7]) then return {'short', tostring(spendable - held)} end
redis.call('HSET', KEYS[2], ARGV[6], ARGV[7] .. ':' .. ARGV[3] .. ':' .. ARGV[8])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[3]) - now then redis.call('PEXPIREAT', KEYS[2], ARGV[3]) end
return {'held'}
";

/// KEYS[1] = the bucket; ARGV[1] = capacity, ARGV[2] = tokens per second, ARGV[3] = now (ms).
/// Returns {1, 0} when a token was taken, else {0, ms until one is there}.
const TAKE: &str = r"
if KEYS[2] and redis.call('EXISTS', KEYS[2]) == 1 then return {-1, 0} end
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

/// What taking from a rate-limit bucket found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bucket {
    /// A token was taken: go on.
    Taken,
    /// The bucket is empty for about this many milliseconds.
    Empty(u64),
    /// The subject is blocked (a suspended user): nothing was taken.
    Blocked,
}

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

/// Whose money a [`Requests::hold_funds`] holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Account<'a> {
    /// A user's wallet; holds are payments (by paymentId), grouped by order.
    Wallet(&'a str),
    /// A vendor's balance; holds are payouts (by payoutId).
    Vendor(&'a str),
}

impl Account<'_> {
    fn family(self) -> Family {
        match self {
            Account::Wallet(_) => Family::Wallet,
            Account::Vendor(_) => Family::Vendor,
        }
    }

    fn id(&self) -> &str {
        match self {
            Account::Wallet(id) | Account::Vendor(id) => id,
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Account::Wallet(_) => "wallet",
            Account::Vendor(_) => "vendor",
        }
    }
}

/// A hold of money to place: `amount` of `account` for `id` (of `group`, or
/// `""`), from `now_ms` until `expires_at_ms` at the latest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FundsHold<'a> {
    /// Whose money.
    pub account: Account<'a>,
    /// The hold (a paymentId or payoutId).
    pub id: &'a str,
    /// Minor units.
    pub amount: i64,
    /// Holds of one group exclude each other (`""`: none).
    pub group: &'a str,
    /// Now, in ms since the epoch.
    pub now_ms: i64,
    /// When it lapses.
    pub expires_at_ms: i64,
}

/// The outcome of a hold on an account's money.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Funds {
    /// The amount is held.
    Held,
    /// Only this much is spendable after the other holds (may be ≤ 0).
    Short {
        /// Spendable minus the other holds.
        left: i64,
    },
    /// Another hold of the same group (a payment of the same order) is in flight.
    Busy {
        /// Its id.
        hold: String,
    },
}

/// The API's own keys in Redis.
#[derive(Clone)]
pub struct Requests {
    connection: ConnectionManager,
    keys: Keys,
    claim: redis::Script,
    hold: redis::Script,
    funds: redis::Script,
    take: redis::Script,
}

impl Requests {
    /// The notification dispatcher's records, over this connection.
    pub fn ledger(&self) -> crate::notify::ledger::Ledger {
        crate::notify::ledger::Ledger::new(self.connection.clone(), self.keys.namespace())
    }

    /// Connects to `url`, under `namespace`.
    pub async fn connect(url: &str, namespace: &str) -> Result<Requests, SinkError> {
        let connection = super::managed(url).await?;
        Ok(Requests {
            connection,
            keys: Keys::new(namespace),
            claim: redis::Script::new(CLAIM),
            hold: redis::Script::new(HOLD),
            funds: redis::Script::new(FUNDS),
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

    /// Places `hold`: `amount` of `account`'s money for `id` until
    /// `expires_at_ms` or until the served state has counted it — or refuses,
    /// holding nothing, when the spendable money after the other holds is
    /// short or another hold of the group is live. Replicas racing on one
    /// account are serialised by Redis.
    pub async fn hold_funds(&self, hold: FundsHold<'_>) -> Result<Funds, SinkError> {
        let FundsHold { account, id, amount, group, now_ms, expires_at_ms } = hold;
        let mut invocation = self.funds.key(self.keys.current());
        invocation.key(self.keys.funds(account.kind(), account.id()));
        invocation.arg(self.keys.namespace()).arg(now_ms).arg(expires_at_ms);
        invocation.arg(Keys::object_suffix(account.family(), account.id())).arg(account.kind());
        invocation.arg(id).arg(amount).arg(group).arg(Keys::object_suffix(Family::Payment, ""));
        let mut connection = self.connection.clone();
        let reply: Vec<String> = invocation.invoke_async(&mut connection).await?;
        match (reply.first().map(String::as_str), reply.get(1)) {
            (Some("held"), _) => Ok(Funds::Held),
            (Some("short"), Some(left)) => Ok(Funds::Short {
                left: left.parse().map_err(|_| SinkError::Corrupt { what: "funds", detail: left.clone() })?,
            }),
            (Some("busy"), Some(hold)) => Ok(Funds::Busy { hold: hold.clone() }),
            _ => Err(SinkError::Corrupt { what: "funds reply", detail: reply.join(",") }),
        }
    }

    /// Drops the hold `id` on `account` (its event was not written).
    pub async fn release_funds(&self, account: Account<'_>, id: &str) -> Result<(), SinkError> {
        let mut connection = self.connection.clone();
        redis::cmd("HDEL")
            .arg(self.keys.funds(account.kind(), account.id()))
            .arg(id)
            .query_async::<()>(&mut connection)
            .await?;
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

    /// Takes one token from `bucket` (capacity `burst`, refilled at `per_second`),
    /// unless the note `blocked` (kind, id) exists: all in one call.
    pub async fn take(
        &self,
        bucket: &str,
        blocked: Option<(&str, &str)>,
        burst: u32,
        per_second: f64,
        now_ms: i64,
    ) -> Result<Bucket, SinkError> {
        let mut connection = self.connection.clone();
        let mut invocation = self.take.key(self.keys.rate(bucket));
        if let Some((kind, id)) = blocked {
            invocation.key(self.keys.note(kind, id));
        }
        let reply: (i64, i64) =
            invocation.arg(burst.max(1)).arg(per_second.max(0.001)).arg(now_ms).invoke_async(&mut connection).await?;
        Ok(match reply.0 {
            1 => Bucket::Taken,
            -1 => Bucket::Blocked,
            _ => Bucket::Empty(reply.1.max(1) as u64),
        })
    }

    /// Keeps `value` as the note `kind`/`id` for `ttl_seconds` (0: until changed).
    pub async fn put_note(&self, kind: &str, id: &str, value: &str, ttl_seconds: u64) -> Result<(), SinkError> {
        let mut connection = self.connection.clone();
        let mut command = redis::cmd("SET");
        command.arg(self.keys.note(kind, id)).arg(value);
        if ttl_seconds > 0 {
            command.arg("EX").arg(ttl_seconds);
        }
        command.query_async::<()>(&mut connection).await?;
        Ok(())
    }

    /// The note `kind`/`id`, if there is one.
    pub async fn note(&self, kind: &str, id: &str) -> Result<Option<String>, SinkError> {
        let mut connection = self.connection.clone();
        Ok(redis::cmd("GET").arg(self.keys.note(kind, id)).query_async(&mut connection).await?)
    }

    /// The note `kind`/`id`, removed as it is read: only one reader gets it.
    pub async fn take_note(&self, kind: &str, id: &str) -> Result<Option<String>, SinkError> {
        let mut connection = self.connection.clone();
        Ok(redis::cmd("GETDEL").arg(self.keys.note(kind, id)).query_async(&mut connection).await?)
    }

    /// Adds one to the counter note `kind`/`id` (absent: 0) and answers the new value.
    pub async fn bump_note(&self, kind: &str, id: &str) -> Result<i64, SinkError> {
        let mut connection = self.connection.clone();
        Ok(redis::cmd("INCR").arg(self.keys.note(kind, id)).query_async(&mut connection).await?)
    }
}
