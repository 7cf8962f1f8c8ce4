//! Every ClickHouse table and view shopflow uses, in one place.
//!
//! Analysts read the relations of `views.md` (`events`, `sales_daily`,
//! `funnel_daily`, `product_stats`) with a plain `SELECT`. Each is a view over
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

/// The DDL statements, in order, for database `db`.
pub fn statements(db: &str) -> Vec<String> {
    let live = |table: &str| {
        format!(
            "FROM {db}.{table} FINAL WHERE deleted = 0 AND generation IN (SELECT generation FROM {db}.current_generation FINAL)"
        )
    };
    vec![
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
            "CREATE VIEW IF NOT EXISTS {db}.events AS SELECT id, type, time, topic, `partition`, `offset`, subject, data \
             FROM {db}.events_data FINAL"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {db}.sales_daily_data (generation String, day Date, categoryId String, \
             vendorId String, orders Int64, units Int64, revenue Int64, version UInt64, deleted UInt8) \
             ENGINE = ReplacingMergeTree(version) ORDER BY (generation, day, categoryId, vendorId)"
        ),
        format!(
            "CREATE VIEW IF NOT EXISTS {db}.sales_daily AS SELECT day, categoryId, vendorId, orders, units, revenue {}",
            live("sales_daily_data")
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {db}.funnel_daily_data (generation String, day Date, viewers Int64, \
             carters Int64, buyers Int64, version UInt64, deleted UInt8) \
             ENGINE = ReplacingMergeTree(version) ORDER BY (generation, day)"
        ),
        format!(
            "CREATE VIEW IF NOT EXISTS {db}.funnel_daily AS SELECT day, viewers, carters, buyers {}",
            live("funnel_daily_data")
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {db}.product_stats_data (generation String, productId String, views Int64, \
             carts Int64, purchasedUnits Int64, revenue Int64, ratingCount Int64, ratingSum Int64, \
             version UInt64, deleted UInt8) \
             ENGINE = ReplacingMergeTree(version) ORDER BY (generation, productId)"
        ),
        product_stats_view(db),
    ]
}

fn product_stats_view(db: &str) -> String {
    format!(
        "CREATE VIEW IF NOT EXISTS {db}.product_stats AS SELECT productId, views, carts, purchasedUnits, revenue, \
         ratingCount, if(ratingCount > 0, ratingSum / ratingCount, 0) AS ratingMean \
         FROM {db}.product_stats_data FINAL WHERE deleted = 0 \
         AND generation IN (SELECT generation FROM {db}.current_generation FINAL)"
    )
}

/// Columns added to a `*_data` table after its first release: (table,
/// column, type). A database made by an older version gets them (with
/// their type's default) when a sink connects.
pub const ADDED_COLUMNS: [(&str, &str, &str); 2] =
    [("product_stats_data", "ratingCount", "Int64"), ("product_stats_data", "ratingSum", "Int64")];

/// Views redefined after their first release: (view, a column only the new
/// definition has, its statement). A sink that finds the old definition
/// drops the view and creates it again.
pub fn redefined_views(db: &str) -> Vec<(&'static str, &'static str, String)> {
    vec![("product_stats", "ratingMean", product_stats_view(db))]
}

/// The `*_data` table behind an analytics family.
pub fn data_table(family: crate::Family) -> Option<&'static str> {
    match family {
        crate::Family::SalesDaily => Some("sales_daily_data"),
        crate::Family::FunnelDaily => Some("funnel_daily_data"),
        crate::Family::ProductStats => Some("product_stats_data"),
        _ => None,
    }
}

/// The relations analysts query, in the shape of `views.md`.
pub const RELATIONS: [&str; 4] = ["events", "sales_daily", "funnel_daily", "product_stats"];
