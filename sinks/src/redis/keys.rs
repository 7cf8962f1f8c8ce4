//! Every Redis key shopflow writes or reads, in one place.
//!
//! - `{ns}:current` — the generation readers use.
//! - `{ns}:asof` — the highest `asOf` ever published (keeps it monotonic).
//! - `{ns}:{generation}:meta` — hash: `asOf`, `upper`, `offsets` (JSON).
//! - `{ns}:{generation}:{family}:{key}` — one object as JSON.

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

    /// The hash describing a generation's published state.
    pub fn meta(&self, generation: &str) -> String {
        format!("{}:{generation}:meta", self.namespace)
    }

    /// One object of a generation.
    pub fn object(&self, generation: &str, family: Family, key: &str) -> String {
        format!("{}:{generation}:{}:{key}", self.namespace, family.name())
    }

    /// The suffix of [`Keys::object`] after the generation (what the reader script appends).
    pub fn object_suffix(family: Family, key: &str) -> String {
        format!("{}:{key}", family.name())
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
        assert_eq!(keys.generation_pattern("g1"), "ns:g1:*");
    }
}
