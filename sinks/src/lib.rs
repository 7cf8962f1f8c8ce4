//! # shopflow-sinks: publishing views
//!
//! The dataflows say how views change; the sinks make those changes visible,
//! a whole epoch at a time (`shared/DESIGN.md`, "Consistency model"):
//!
//! - [`redis`] — serving state for point reads: one MULTI/EXEC per
//!   publication, under a generation prefix, with `asOf` and the source
//!   offsets the state covers; a rebuild writes a new generation and one `SET`
//!   makes it current.
//! - [`clickhouse`] — the analytics relations of `views.md`, as views over
//!   versioned ReplacingMergeTree tables: retried inserts change nothing.
//! - [`kafka`] — derived events (Order.StatusChanged, inventory alerts) with
//!   deterministic ids.
//!
//! A [`Publication`] is what every sink takes: the final value (or deletion)
//! of each changed key of each [`Family`], for all epochs below `upper`.

#![warn(missing_docs)]

pub mod clickhouse;
pub mod kafka;
pub mod redis;

use std::collections::BTreeMap;

/// A kind of published object, with its key space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum Family {
    /// An order, by orderId.
    Order,
    /// The orderIds of a user, by userId.
    UserOrders,
    /// Inventory, by productId.
    Inventory,
    /// A product, by productId.
    Product,
    /// A category, by categoryId.
    Category,
    /// A cart, by userId.
    Cart,
    /// A user profile, by userId.
    User,
    /// A product's rating, by productId.
    Rating,
    /// A product's reviews, by productId.
    Reviews,
    /// Products bought together with a product, by productId.
    BoughtTogether,
    /// Products viewed together with a product, by productId.
    ViewedTogether,
    /// The products a user purchased, by userId (their recommendations are
    /// made of these and the products' bought-together lists).
    Purchases,
    /// Trending products, under one key (`all`).
    Trending,
    /// `sales_daily`, by day|categoryId|vendorId.
    SalesDaily,
    /// `funnel_daily`, by day.
    FunnelDaily,
    /// `product_stats`, by productId.
    ProductStats,
}

impl Family {
    /// Every family.
    pub const ALL: [Family; 16] = [
        Family::Order,
        Family::UserOrders,
        Family::Inventory,
        Family::Product,
        Family::Category,
        Family::Cart,
        Family::User,
        Family::Rating,
        Family::Reviews,
        Family::BoughtTogether,
        Family::ViewedTogether,
        Family::Purchases,
        Family::Trending,
        Family::SalesDaily,
        Family::FunnelDaily,
        Family::ProductStats,
    ];

    /// Its name in keys and logs.
    pub const fn name(self) -> &'static str {
        match self {
            Family::Order => "order",
            Family::UserOrders => "user-orders",
            Family::Inventory => "inventory",
            Family::Product => "product",
            Family::Category => "category",
            Family::Cart => "cart",
            Family::User => "user",
            Family::Rating => "rating",
            Family::Reviews => "reviews",
            Family::BoughtTogether => "bought-together",
            Family::ViewedTogether => "viewed-together",
            Family::Purchases => "purchases",
            Family::Trending => "trending",
            Family::SalesDaily => "sales-daily",
            Family::FunnelDaily => "funnel-daily",
            Family::ProductStats => "product-stats",
        }
    }

    /// Whether Redis serves it (the analytics families live in ClickHouse).
    pub const fn served_from_redis(self) -> bool {
        !matches!(self, Family::SalesDaily | Family::FunnelDaily | Family::ProductStats)
    }
}

/// The source offsets a state covers: topic → partition → next offset to read.
pub type Offsets = BTreeMap<String, BTreeMap<i32, i64>>;

/// Everything that changed below `upper`: the final value of each changed key.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Publication {
    /// All epochs below this are complete and included.
    pub upper: u64,
    /// (family, key) → new JSON value, or `None` when the key is gone.
    pub changes: BTreeMap<(Family, String), Option<String>>,
    /// The source offsets the state covers.
    pub offsets: Offsets,
}

/// Errors of publishing.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Redis refused or is unreachable.
    #[error("redis: {0}")]
    Redis(#[from] ::redis::RedisError),
    /// ClickHouse refused or is unreachable.
    #[error("clickhouse: {0}")]
    ClickHouse(#[from] ::clickhouse::error::Error),
    /// Kafka refused a derived event.
    #[error("kafka: {0}")]
    Kafka(#[from] shopflow_ingest::KafkaError),
    /// A store did not answer in time.
    #[error("{what} did not answer within {after:?}")]
    Timeout {
        /// The request.
        what: &'static str,
        /// The limit.
        after: std::time::Duration,
    },
    /// Stored data is not what this version wrote.
    #[error("corrupt {what}: {detail}")]
    Corrupt {
        /// What was read.
        what: &'static str,
        /// What is wrong.
        detail: String,
    },
}

/// A deterministic id for a derived event: 32 hex digits hashing `parts`.
/// The same facts give the same id in every run and every rebuild, so a
/// consumer can drop re-emitted copies.
pub fn derived_id(parts: &[&str]) -> String {
    // Two FNV-1a 64-bit hashes with different offsets; separators keep ("ab","c") ≠ ("a","bc").
    let hash = |offset: u64| {
        let mut h = offset;
        for part in parts {
            for byte in part.bytes().chain(std::iter::once(0x1f)) {
                h ^= u64::from(byte);
                h = h.wrapping_mul(0x0000_0100_0000_01B3);
            }
        }
        h
    };
    format!("{:016x}{:016x}", hash(0xcbf2_9ce4_8422_2325), hash(0x6c62_272e_07bb_0142))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_and_separate_parts() {
        assert_eq!(derived_id(&["a", "b"]), derived_id(&["a", "b"]));
        assert_ne!(derived_id(&["ab", "c"]), derived_id(&["a", "bc"]));
        assert_eq!(derived_id(&["x"]).len(), 32);
        assert!(shopflow_topics::fields::is_valid_id(&derived_id(&["x"])));
    }
}
