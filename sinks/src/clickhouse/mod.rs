//! ClickHouse: the analytics relations, written idempotently.

pub mod ddl;
mod reader;
mod sink;

pub use reader::{ClickHouseReader, Filter, Relation};
pub use sink::{ClickHouseSink, EventRow};

/// Drops `database` at `url` (if it exists): for a database of one's own
/// making (`shopflow verify`'s rebuild).
pub async fn drop_database(url: &str, database: &str) -> Result<(), crate::SinkError> {
    if database.is_empty() || !database.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(crate::SinkError::Corrupt { what: "database name", detail: database.to_string() });
    }
    let client = ::clickhouse::Client::default().with_url(url);
    client.query(&format!("DROP DATABASE IF EXISTS {database}")).execute().await?;
    Ok(())
}
