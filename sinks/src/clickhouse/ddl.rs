//! Every ClickHouse table and view shopflow uses, in one place: the audit
//! log, and one [`AnalyticsTable`] per analytics family, from which its DDL,
//! its rows (retractions included) and its reads are all made.
//!
//! Analysts read the relations of `views.md` (`events`, `sales_daily`,
//! `funnel_daily`, `product_stats`, `search_terms`, `vendor_balances`,
//! `vendor_sales_daily`, `promotion_performance`) with a plain `SELECT`. Each is a view over
//! a `*_data` table:
//!
//! - `events_data` is a ReplacingMergeTree by event id: one row per distinct
//!   event however often it is inserted.
//! - The others are ReplacingMergeTree(version) tables keyed by
//!   (generation, key...): a retried insert of the same version changes
//!   nothing, a later version replaces, `deleted = 1` retracts; the view keeps
//!   the current generation (`current_generation`) and live rows.
//!
//! Written for ClickHouse 18.16 (Debian) and current releases alike: no
//! DateTime64, no `OR REPLACE`, new-style MergeTree syntax.

use crate::Family;

/// A column: its name and ClickHouse type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column {
    /// The name (the view's JSON field).
    pub name: &'static str,
    /// The ClickHouse type.
    pub kind: &'static str,
}

const fn column(name: &'static str, kind: &'static str) -> Column {
    Column { name, kind }
}

/// One analytics relation of `views.md` and the table behind it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnalyticsTable {
    /// The family whose changes fill it.
    pub family: Family,
    /// The relation analysts query.
    pub relation: &'static str,
    /// Its name in `GET /admin/analytics/{name}`.
    pub route: &'static str,
    /// The key columns, in the order of the view's key (`[day, categoryId, vendorId]`).
    pub key: &'static [Column],
    /// The value columns (Int64; 0 in a retraction).
    pub values: &'static [Column],
    /// Columns the view computes: `expression AS name`.
    pub computed: &'static [(&'static str, &'static str)],
    /// How the API orders its rows.
    pub order_by: &'static str,
}

impl AnalyticsTable {
    /// The `*_data` table.
    pub fn data_table(&self) -> String {
        format!("{}_data", self.relation)
    }

    /// Whether rows have a `day` (a key column of type Date) to filter on.
    pub fn has_day(&self) -> bool {
        self.key.iter().any(|c| c.name == "day" && c.kind == "Date")
    }

    /// The analytics table of `family`, if it is one.
    pub fn of(family: Family) -> Option<&'static AnalyticsTable> {
        ANALYTICS.iter().find(|t| t.family == family)
    }

    fn create_table(&self, db: &str) -> String {
        let columns: Vec<String> = std::iter::once("generation String".to_string())
            .chain(self.key.iter().chain(self.values).map(|c| format!("{} {}", c.name, c.kind)))
            .chain(["version UInt64".to_string(), "deleted UInt8".to_string()])
            .collect();
        let order: Vec<&str> = std::iter::once("generation").chain(self.key.iter().map(|c| c.name)).collect();
        format!(
            "CREATE TABLE IF NOT EXISTS {db}.{} ({}) ENGINE = ReplacingMergeTree(version) ORDER BY ({})",
            self.data_table(),
            columns.join(", "),
            order.join(", ")
        )
    }

    fn create_view(&self, db: &str) -> String {
        let columns: Vec<String> = self
            .key
            .iter()
            .chain(self.values)
            .map(|c| c.name.to_string())
            .chain(self.computed.iter().map(|(expression, name)| format!("{expression} AS {name}")))
            .collect();
        format!(
            "CREATE VIEW IF NOT EXISTS {db}.{} AS SELECT {} FROM {db}.{} FINAL WHERE deleted = 0 \
             AND generation IN (SELECT generation FROM {db}.current_generation FINAL)",
            self.relation,
            columns.join(", "),
            self.data_table()
        )
    }
}

/// The analytics relations, one per analytics family ([`Family::ANALYTICS`]).
pub const ANALYTICS: [AnalyticsTable; 7] = [
    AnalyticsTable {
        family: Family::SalesDaily,
        relation: "sales_daily",
        route: "sales",
        key: &[column("day", "Date"), column("categoryId", "String"), column("vendorId", "String")],
        values: &[column("orders", "Int64"), column("units", "Int64"), column("revenue", "Int64")],
        computed: &[],
        order_by: "day, categoryId, vendorId",
    },
    AnalyticsTable {
        family: Family::FunnelDaily,
        relation: "funnel_daily",
        route: "funnel",
        key: &[column("day", "Date")],
        values: &[column("viewers", "Int64"), column("carters", "Int64"), column("buyers", "Int64")],
        computed: &[],
        order_by: "day",
    },
    AnalyticsTable {
        family: Family::ProductStats,
        relation: "product_stats",
        route: "products",
        key: &[column("productId", "String")],
        values: &[
            column("views", "Int64"),
            column("carts", "Int64"),
            column("purchasedUnits", "Int64"),
            column("revenue", "Int64"),
            column("ratingCount", "Int64"),
            column("ratingSum", "Int64"),
        ],
        // The mean of the read model (`shopflow_views::reviews::rating_mean`): two decimals, NULL without ratings.
        computed: &[("if(ratingCount > 0, round(ratingSum / ratingCount, 2), NULL)", "ratingMean")],
        order_by: "revenue DESC, productId",
    },
    AnalyticsTable {
        family: Family::SearchTerms,
        relation: "search_terms",
        route: "search",
        key: &[column("query", "String")],
        values: &[column("searches", "Int64"), column("zeroResultSearches", "Int64"), column("clicks", "Int64")],
        computed: &[],
        // The queries the catalog fails first.
        order_by: "zeroResultSearches DESC, searches DESC, query",
    },
    AnalyticsTable {
        family: Family::VendorBalances,
        relation: "vendor_balances",
        route: "vendors",
        key: &[column("vendorId", "String")],
        values: &[
            column("sales", "Int64"),
            column("earnings", "Int64"),
            column("payouts", "Int64"),
            column("balance", "Int64"),
        ],
        computed: &[],
        order_by: "balance DESC, vendorId",
    },
    AnalyticsTable {
        family: Family::VendorSalesDaily,
        relation: "vendor_sales_daily",
        route: "vendor-sales",
        key: &[column("day", "Date"), column("vendorId", "String"), column("productId", "String")],
        values: &[column("orders", "Int64"), column("units", "Int64"), column("revenue", "Int64")],
        computed: &[],
        order_by: "day, vendorId, productId",
    },
    AnalyticsTable {
        family: Family::PromotionPerformance,
        relation: "promotion_performance",
        route: "promotions",
        key: &[column("code", "String")],
        values: &[column("orders", "Int64"), column("discount", "Int64"), column("revenue", "Int64")],
        computed: &[],
        order_by: "revenue DESC, code",
    },
];

/// The audit log's relation.
pub const EVENTS: &str = "events";

/// The DDL statements, in order, for database `db`.
pub fn statements(db: &str) -> Vec<String> {
    let mut statements = vec![
        format!("CREATE DATABASE IF NOT EXISTS {db}"),
        format!(
            "CREATE TABLE IF NOT EXISTS {db}.current_generation (id UInt8, generation String, version UInt64) \
             ENGINE = ReplacingMergeTree(version) ORDER BY id"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {db}.events_data (id String, type String, time DateTime, time_ns Int64, \
             topic String, `partition` Int32, `offset` Int64, subject String, data String) \
             ENGINE = ReplacingMergeTree ORDER BY id"
        ),
        format!(
            "CREATE VIEW IF NOT EXISTS {db}.{EVENTS} AS SELECT id, type, time, topic, `partition`, `offset`, subject, \
             data FROM {db}.events_data FINAL"
        ),
    ];
    for table in &ANALYTICS {
        statements.push(table.create_table(db));
        statements.push(table.create_view(db));
    }
    statements
}

/// Columns added to a `*_data` table after its first release: (table,
/// column, type). A database made by an older version gets them (with
/// their type's default) when a sink connects.
pub const ADDED_COLUMNS: [(&str, &str, &str); 2] =
    [("product_stats_data", "ratingCount", "Int64"), ("product_stats_data", "ratingSum", "Int64")];

/// Views redefined after their first release: (view, a column, its type in
/// the current definition, the statement). A sink that finds the column
/// missing or of another type drops the view and creates it again.
pub fn redefined_views(db: &str) -> Vec<(&'static str, &'static str, &'static str, String)> {
    let stats = AnalyticsTable::of(Family::ProductStats).expect("product_stats is an analytics table");
    vec![(stats.relation, "ratingMean", "Nullable(Float64)", stats.create_view(db))]
}

/// The relations analysts query, in the shape of `views.md`.
pub fn relations() -> impl Iterator<Item = &'static str> {
    std::iter::once(EVENTS).chain(ANALYTICS.iter().map(|t| t.relation))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_analytics_family_has_one_table_and_the_ddl_names_its_columns() {
        let families: Vec<Family> = ANALYTICS.iter().map(|t| t.family).collect();
        assert_eq!(families, Family::ANALYTICS);
        let ddl = statements("db").join("\n");
        assert!(ddl.contains(
            "CREATE TABLE IF NOT EXISTS db.funnel_daily_data (generation String, day Date, viewers Int64, \
             carters Int64, buyers Int64, version UInt64, deleted UInt8) ENGINE = ReplacingMergeTree(version) \
             ORDER BY (generation, day)"
        ));
        assert!(ddl.contains("CREATE VIEW IF NOT EXISTS db.funnel_daily AS SELECT day, viewers, carters, buyers FROM"));
        assert_eq!(
            relations().collect::<Vec<_>>(),
            [
                "events",
                "sales_daily",
                "funnel_daily",
                "product_stats",
                "search_terms",
                "vendor_balances",
                "vendor_sales_daily",
                "promotion_performance"
            ]
        );
        assert!(AnalyticsTable::of(Family::SalesDaily).unwrap().has_day());
        assert!(!AnalyticsTable::of(Family::ProductStats).unwrap().has_day());
    }
}
