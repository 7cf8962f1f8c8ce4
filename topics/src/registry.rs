//! The topic registry: every topic of the contract with its key, partitions
//! and retention. Topic names are spelled here and nowhere else.

use std::fmt;

/// Whether a topic is a system of record or written by the pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TopicKind {
    /// Written by the storefront and services; kept forever; views are rebuilt from it.
    Source,
    /// Written by the pipeline; kept 7 days.
    Derived,
    /// Written by the API; compacted (the latest record per key is kept);
    /// read only by the pipeline and the API, never copied to the audit log,
    /// dead letters or logs.
    Private,
}

/// One topic of `contract/events.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    /// `shop.users`, keyed by userId.
    Users,
    /// `shop.catalog`, keyed by productId or categoryId.
    Catalog,
    /// `shop.inventory`, keyed by productId.
    Inventory,
    /// `shop.carts`, keyed by userId.
    Carts,
    /// `shop.orders`, keyed by orderId.
    Orders,
    /// `shop.payments`, keyed by orderId (userId for wallet top-ups).
    Payments,
    /// `shop.shipments`, keyed by orderId (partnerId for delivery partners).
    Shipments,
    /// `shop.reviews`, keyed by productId.
    Reviews,
    /// `shop.vendors`, keyed by vendorId.
    Vendors,
    /// `shop.clickstream`, keyed by userId or sessionId.
    Clickstream,
    /// `shop.promotions`, keyed by promotion code.
    Promotions,
    /// `shop.credentials` (private, compacted), keyed by userId.
    Credentials,
    /// Derived `shop.order-status`, keyed by orderId.
    OrderStatus,
    /// Derived `shop.alerts`, keyed by productId or userId.
    Alerts,
    /// Derived `shop.notifications`, keyed by userId.
    Notifications,
    /// `shop.dead-letter`, keyed by the source topic.
    DeadLetter,
}

/// Retention of derived topics: 7 days.
pub const DERIVED_RETENTION_MS: i64 = 7 * 24 * 3_600 * 1_000;

impl Topic {
    /// Every topic, sources first.
    pub const ALL: [Topic; 16] = [
        Topic::Users,
        Topic::Catalog,
        Topic::Inventory,
        Topic::Carts,
        Topic::Orders,
        Topic::Payments,
        Topic::Shipments,
        Topic::Reviews,
        Topic::Vendors,
        Topic::Clickstream,
        Topic::Promotions,
        Topic::Credentials,
        Topic::OrderStatus,
        Topic::Alerts,
        Topic::Notifications,
        Topic::DeadLetter,
    ];

    /// The source topics, the system of record.
    pub const SOURCES: [Topic; 11] = [
        Topic::Users,
        Topic::Catalog,
        Topic::Inventory,
        Topic::Carts,
        Topic::Orders,
        Topic::Payments,
        Topic::Shipments,
        Topic::Reviews,
        Topic::Vendors,
        Topic::Clickstream,
        Topic::Promotions,
    ];

    /// What the pipeline reads: the source topics and `shop.credentials`.
    pub const INPUTS: [Topic; 12] = {
        let mut inputs = [Topic::Credentials; 12];
        let mut i = 0;
        while i < Topic::SOURCES.len() {
            inputs[i] = Topic::SOURCES[i];
            i += 1;
        }
        inputs
    };

    /// The Kafka topic name.
    pub const fn name(self) -> &'static str {
        match self {
            Topic::Users => "shop.users",
            Topic::Catalog => "shop.catalog",
            Topic::Inventory => "shop.inventory",
            Topic::Carts => "shop.carts",
            Topic::Orders => "shop.orders",
            Topic::Payments => "shop.payments",
            Topic::Shipments => "shop.shipments",
            Topic::Reviews => "shop.reviews",
            Topic::Vendors => "shop.vendors",
            Topic::Clickstream => "shop.clickstream",
            Topic::Promotions => "shop.promotions",
            Topic::Credentials => "shop.credentials",
            Topic::OrderStatus => "shop.order-status",
            Topic::Alerts => "shop.alerts",
            Topic::Notifications => "shop.notifications",
            Topic::DeadLetter => "shop.dead-letter",
        }
    }

    /// The name on a broker whose topics carry `prefix` (empty in
    /// production; tests and staging share a broker with one).
    pub fn prefixed(self, prefix: &str) -> String {
        format!("{prefix}{}", self.name())
    }

    /// What the record key is, as the contract words it.
    pub const fn key_field(self) -> &'static str {
        match self {
            Topic::Users | Topic::Carts | Topic::Notifications | Topic::Credentials => "userId",
            Topic::Catalog => "productId / categoryId",
            Topic::Inventory | Topic::Reviews => "productId",
            Topic::Orders | Topic::OrderStatus => "orderId",
            Topic::Payments => "orderId (userId for wallet)",
            Topic::Shipments => "orderId (partnerId for partners)",
            Topic::Vendors => "vendorId",
            Topic::Clickstream => "userId or sessionId",
            Topic::Promotions => "code",
            Topic::Alerts => "productId / userId",
            Topic::DeadLetter => "source topic",
        }
    }

    /// Source or derived.
    pub const fn kind(self) -> TopicKind {
        match self {
            Topic::OrderStatus | Topic::Alerts | Topic::Notifications | Topic::DeadLetter => TopicKind::Derived,
            Topic::Credentials => TopicKind::Private,
            _ => TopicKind::Source,
        }
    }

    /// Partitions a new topic gets unless overridden.
    pub const fn default_partitions(self) -> i32 {
        10
    }

    /// `retention.ms`: -1 (forever) for sources and private topics, 7 days for derived topics.
    pub const fn retention_ms(self) -> i64 {
        match self.kind() {
            TopicKind::Source | TopicKind::Private => -1,
            TopicKind::Derived => DERIVED_RETENTION_MS,
        }
    }

    /// Looks a topic up by its Kafka name.
    pub fn from_name(name: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|t| t.name() == name)
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for topic in Topic::ALL {
            assert_eq!(Topic::from_name(topic.name()), Some(topic));
        }
        let mut names: Vec<_> = Topic::ALL.iter().map(|t| t.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Topic::ALL.len());
        assert_eq!(Topic::from_name("shop.nope"), None);
    }

    #[test]
    fn sources_are_kept_forever_and_derived_for_a_week() {
        for topic in Topic::ALL {
            let is_source = Topic::SOURCES.contains(&topic);
            assert_eq!(topic.kind() == TopicKind::Source, is_source, "{topic}");
            assert_eq!(topic.retention_ms() == -1, is_source || topic.kind() == TopicKind::Private, "{topic}");
        }
        assert_eq!(Topic::Credentials.kind(), TopicKind::Private);
        assert_eq!(Topic::INPUTS[..11], Topic::SOURCES, "the pipeline reads the sources...");
        assert_eq!(Topic::INPUTS[11], Topic::Credentials, "...and the credentials");
        assert_eq!(Topic::Alerts.retention_ms(), 604_800_000);
    }
}
