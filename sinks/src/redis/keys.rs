//! Every Redis key shopflow writes or reads, in one place.
//!
//! - `{ns}:current` — the generation readers use.
//! - `{ns}:asof` — the highest `asOf` ever published (keeps it monotonic).
//! - `{ns}:{generation}:meta` — hash: `asOf`, `upper`, `offsets` (JSON).
//! - `{ns}:{generation}:listver` — hash: for each list of a hashed family
//!   ([`Family::hashed`], field [`Keys::object_suffix`]), how many
//!   publications have changed it: equal versions, equal members.
//! - `{ns}:{generation}:{family}:{key}` — one object as JSON. The read and
//!   hold scripts resolve the generation inside Redis and compose this same
//!   shape from the namespace and [`Keys::object_suffix`].
//!
//! The API's own, outside every generation (a rebuild does not drop them):
//! - `{ns}:api:idempotency:{key}` — hash `fingerprint`, `response`.
//! - `{ns}:api:holds:{productId}` — hash: order suffix → `quantity:expiresAtMs`.
//! - `{ns}:api:funds:{wallet|vendor}:{id}` — hash: paymentId or payoutId → `amount:expiresAtMs:group`.
//! - `{ns}:api:rate:{bucket}` — hash `tokens`, `at`.
//! - `{ns}:api:used:{kind}:{id}` — marks a one-use id (a refresh token's `jti`) as used.
//!
//! The notification dispatcher's, outside every generation too (what was
//! sent stays sent when the views are rebuilt):
//! - `{ns}:notify:delivery:{notificationId}` — hash: `state`, `attempts`,
//!   `userId`, `channel`, `template`, `requestedAt`, `sentAt`, `error`, and
//!   while the notification is in its user's history, `subject` and `body`.
//! - `{ns}:notify:history:{userId}` — sorted set of notificationIds by event time (newest kept).
//! - `{ns}:notify:offsets` — hash: partition of `shop.notifications` → next offset to read.

use crate::Family;

/// The key space of one namespace (default `shopflow`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keys {
    namespace: String,
}

impl Keys {
    /// Keys under `namespace`.
    pub fn new(namespace: impl Into<String>) -> Keys {
        Keys { namespace: namespace.into() }
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Names the current generation.
    pub fn current(&self) -> String {
        format!("{}:current", self.namespace)
    }

    /// The highest `asOf` ever published.
    pub fn as_of(&self) -> String {
        format!("{}:asof", self.namespace)
    }

    /// The set of generations that have published under the namespace (the
    /// ones a switch drops are taken out): found without a SCAN.
    pub fn generations(&self) -> String {
        format!("{}:generations", self.namespace)
    }

    /// The hash describing a generation's published state.
    pub fn meta(&self, generation: &str) -> String {
        format!("{}:{generation}:meta", self.namespace)
    }

    /// The hash of list versions of a generation.
    pub fn list_versions(&self, generation: &str) -> String {
        format!("{}:{generation}:listver", self.namespace)
    }

    /// The generation a [`Keys::meta`] key describes; `None` for any other key.
    pub fn generation_of_meta<'k>(&self, key: &'k str) -> Option<&'k str> {
        let generation = key.strip_prefix(self.namespace.as_str())?.strip_prefix(':')?.strip_suffix(":meta")?;
        (!generation.contains(':')).then_some(generation)
    }

    /// One object of a generation.
    pub fn object(&self, generation: &str, family: Family, key: &str) -> String {
        format!("{}:{generation}:{}:{key}", self.namespace, family.name())
    }

    /// The suffix of [`Keys::object`] after the generation (what the reader script appends).
    pub fn object_suffix(family: Family, key: &str) -> String {
        format!("{}:{key}", family.name())
    }

    /// The idempotency record of a write's key.
    pub fn idempotency(&self, key: &str) -> String {
        format!("{}:api:idempotency:{key}", self.namespace)
    }

    /// What the holds of a product's key starts with (the hold script appends the productId).
    pub fn holds_prefix(&self) -> String {
        format!("{}:api:holds:", self.namespace)
    }

    /// The holds of checkouts in flight on a product.
    pub fn holds(&self, product: &str) -> String {
        format!("{}{product}", self.holds_prefix())
    }

    /// The money holds on an account: `kind` is `wallet` (a userId) or `vendor` (a vendorId).
    pub fn funds(&self, kind: &str, id: &str) -> String {
        format!("{}:api:funds:{kind}:{id}", self.namespace)
    }

    /// A rate-limit bucket.
    pub fn rate(&self, bucket: &str) -> String {
        format!("{}:api:rate:{bucket}", self.namespace)
    }

    /// The mark of a one-use id of `kind`.
    pub fn used(&self, kind: &str, id: &str) -> String {
        format!("{}:api:used:{kind}:{id}", self.namespace)
    }

    /// A short-lived note of `kind` (an account's session version, a reset token's user...).
    pub fn note(&self, kind: &str, id: &str) -> String {
        format!("{}:api:note:{kind}:{id}", self.namespace)
    }

    /// The delivery record of a notification.
    pub fn delivery(&self, notification_id: &str) -> String {
        format!("{}:notify:delivery:{notification_id}", self.namespace)
    }

    /// The notifications a user was sent, by event time.
    pub fn notify_history(&self, user_id: &str) -> String {
        format!("{}:notify:history:{user_id}", self.namespace)
    }

    /// How far the dispatcher has read `shop.notifications`.
    pub fn notify_offsets(&self) -> String {
        format!("{}:notify:offsets", self.namespace)
    }

    /// A SCAN pattern matching every key of a generation.
    pub fn generation_pattern(&self, generation: &str) -> String {
        format!("{}:{generation}:*", self.namespace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_keys_are_the_generation_prefix_and_the_suffix() {
        let keys = Keys::new("ns");
        assert_eq!(keys.object("g1", Family::Order, "ord-1"), "ns:g1:order:ord-1");
        assert_eq!(keys.object("g1", Family::Cart, "u"), format!("ns:g1:{}", Keys::object_suffix(Family::Cart, "u")));
        assert_eq!(keys.meta("g1"), "ns:g1:meta");
        assert_eq!(keys.generations(), "ns:generations");
        assert_eq!(keys.generation_pattern("g1"), "ns:g1:*");
        assert_eq!(keys.holds("prd-1"), "ns:api:holds:prd-1");
        assert_eq!(keys.generation_of_meta(&keys.meta("g7")), Some("g7"));
        assert_eq!(keys.generation_of_meta("ns:g7:order:meta"), None);
        assert_eq!(keys.generation_of_meta("other:g7:meta"), None);
        assert!(!keys.generation_pattern("api").is_empty() && keys.idempotency("k").starts_with("ns:api:"));
    }
}
