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
    /// `vendor_balances`.
    VendorBalances,
    /// `vendor_sales_daily`.
    VendorSales,
    /// `promotion_performance`.
    Promotions,
}

/// Which rows of a relation: days (`YYYY-MM-DD`, inclusive, for relations
/// with a day), one value of a key column, and how many at most.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Filter<'a> {
    /// First day.
    pub from: Option<&'a str>,
    /// Last day.
    pub to: Option<&'a str>,
    /// A key column of the relation and the value it must have.
    pub equals: Option<(&'static str, &'a str)>,
    /// Rows at most.
    pub limit: u64,
}

impl Relation {
    /// Every relation the API serves.
    pub const ALL: [Relation; 7] = [
        Relation::Sales,
        Relation::Funnel,
        Relation::Products,
        Relation::Search,
        Relation::VendorBalances,
        Relation::VendorSales,
        Relation::Promotions,
    ];

    /// By the API's name (`sales`, `funnel`, `products`, `search`, `vendors`, `vendor-sales`, `promotions`).
    pub fn from_route(name: &str) -> Option<Relation> {
        Relation::ALL.into_iter().find(|r| r.spec().route == name)
    }

    /// Its table spec.
    fn spec(self) -> &'static ddl::AnalyticsTable {
        let family = match self {
            Relation::Sales => Family::SalesDaily,
            Relation::Funnel => Family::FunnelDaily,
            Relation::Products => Family::ProductStats,
            Relation::Search => Family::SearchTerms,
            Relation::VendorBalances => Family::VendorBalances,
            Relation::VendorSales => Family::VendorSalesDaily,
            Relation::Promotions => Family::PromotionPerformance,
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

    /// The rows of `relation` that `filter` selects; a column `equals` names
    /// must be one of the relation's key columns.
    pub async fn rows(&self, relation: Relation, filter: Filter<'_>) -> Result<Vec<serde_json::Value>, SinkError> {
        let mut sql = format!("SELECT * FROM {}.{} WHERE 1", self.database, relation.table());
        let mut binds: Vec<&str> = Vec::new();
        if relation.has_day() {
            if let Some(from) = filter.from {
                sql.push_str(" AND day >= toDate(?)");
                binds.push(from);
            }
            if let Some(to) = filter.to {
                sql.push_str(" AND day <= toDate(?)");
                binds.push(to);
            }
        }
        if let Some((column, value)) = filter.equals {
            if !relation.spec().key.iter().any(|c| c.name == column) {
                return Err(SinkError::Corrupt { what: "filter column", detail: column.to_string() });
            }
            sql.push_str(&format!(" AND {column} = ?"));
            binds.push(value);
        }
        sql.push_str(&format!(" ORDER BY {} LIMIT {}", relation.order_by(), filter.limit));
        let mut query = self.client.query(&sql);
        for bind in binds {
            query = query.bind(bind);
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
