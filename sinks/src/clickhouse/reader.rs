//! The reader side of ClickHouse: what the API's analytics routes query.

use super::ddl;
use crate::{Family, SinkError};
use clickhouse::Client;

/// An analytics relation the API serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relation {
    /// `sales_daily`.
    Sales,
    /// `funnel_daily`.
    Funnel,
    /// `product_stats`.
    Products,
    /// `search_terms`.
    Search,
}

impl Relation {
    /// By the API's name (`sales`, `funnel`, `products`).
    pub fn from_route(name: &str) -> Option<Relation> {
        [Relation::Sales, Relation::Funnel, Relation::Products, Relation::Search]
            .into_iter()
            .find(|r| r.spec().route == name)
    }

    /// Its table spec.
    fn spec(self) -> &'static ddl::AnalyticsTable {
        let family = match self {
            Relation::Sales => Family::SalesDaily,
            Relation::Funnel => Family::FunnelDaily,
            Relation::Products => Family::ProductStats,
            Relation::Search => Family::SearchTerms,
        };
        ddl::AnalyticsTable::of(family).expect("every relation is an analytics table")
    }

    /// The relation's name in ClickHouse.
    pub fn table(self) -> &'static str {
        self.spec().relation
    }

    /// Whether rows have a `day` to filter on.
    pub fn has_day(self) -> bool {
        self.spec().has_day()
    }

    fn order_by(self) -> &'static str {
        self.spec().order_by
    }
}

/// Reads the analytics relations.
#[derive(Clone)]
pub struct ClickHouseReader {
    client: Client,
    database: String,
}

impl ClickHouseReader {
    /// A reader of `database` at `url`.
    pub fn new(url: &str, database: &str) -> ClickHouseReader {
        let client = Client::default()
            .with_url(url)
            .with_validation(false)
            // Integers as JSON numbers, not strings.
            .with_setting("output_format_json_quote_64bit_integers", "0");
        ClickHouseReader { client, database: database.to_string() }
    }

    /// Rows of `relation`, optionally between two days (`YYYY-MM-DD`, inclusive), at most `limit`.
    pub async fn rows(
        &self,
        relation: Relation,
        from: Option<&str>,
        to: Option<&str>,
        limit: u64,
    ) -> Result<Vec<serde_json::Value>, SinkError> {
        let mut sql = format!("SELECT * FROM {}.{} WHERE 1", self.database, relation.table());
        if relation.has_day() {
            if from.is_some() {
                sql.push_str(" AND day >= toDate(?)");
            }
            if to.is_some() {
                sql.push_str(" AND day <= toDate(?)");
            }
        }
        sql.push_str(&format!(" ORDER BY {} LIMIT {limit}", relation.order_by()));
        let mut query = self.client.query(&sql);
        if relation.has_day() {
            for day in [from, to].into_iter().flatten() {
                query = query.bind(day);
            }
        }
        let mut cursor = query.fetch_bytes("JSONEachRow")?;
        let bytes = cursor.collect().await?;
        bytes
            .split(|b| *b == b'\n')
            .filter(|line| !line.is_empty())
            .map(|line| {
                serde_json::from_slice(line).map_err(|e| SinkError::Corrupt { what: "row", detail: e.to_string() })
            })
            .collect()
    }

    /// Rows in one of the relations of `views.md` (`events`, `sales_daily`, ...).
    pub async fn count(&self, relation: &str) -> Result<u64, SinkError> {
        if !ddl::relations().any(|r| r == relation) {
            return Err(SinkError::Corrupt { what: "relation name", detail: relation.to_string() });
        }
        let sql = format!("SELECT count() FROM {}.{relation}", self.database);
        let mut cursor = self.client.query(&sql).fetch_bytes("TabSeparated")?;
        let text = String::from_utf8_lossy(&cursor.collect().await?).trim().to_string();
        text.parse().map_err(|_| SinkError::Corrupt { what: "count", detail: text })
    }

    /// A cheap liveness check.
    pub async fn ping(&self) -> Result<(), SinkError> {
        self.client.query("SELECT 1").execute().await?;
        Ok(())
    }
}
