//! The ClickHouse writer: DDL on connect, versioned rows per publication.

use super::ddl;
use crate::{Publication, SinkError};
use clickhouse::Client;
use serde_json::{json, Value};

/// Rows per insert request at most.
const INSERT_CHUNK_ROWS: usize = 20_000;

/// How long one ClickHouse request may take.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// One row of the `events` audit log.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct EventRow {
    /// Event id.
    pub id: String,
    /// Event type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// `YYYY-MM-DD hh:mm:ss` (UTC; DateTime has second precision).
    pub time: String,
    /// The exact time, nanoseconds since the epoch.
    pub time_ns: i64,
    /// Source topic.
    pub topic: String,
    /// Source partition.
    pub partition: i32,
    /// Source offset.
    pub offset: i64,
    /// Subject.
    pub subject: String,
    /// `data` as JSON text.
    pub data: String,
}

impl EventRow {
    /// The row of a decoded event read at (`topic`, `partition`, `offset`).
    pub fn new(envelope: &shopflow_topics::Envelope, topic: &str, partition: i32, offset: i64) -> EventRow {
        let seconds = envelope.time.0.div_euclid(1_000_000_000);
        let time = chrono::DateTime::from_timestamp(seconds, 0)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_else(|| "1970-01-01 00:00:00".to_string());
        EventRow {
            id: envelope.id.clone(),
            event_type: envelope.type_name().to_string(),
            time,
            time_ns: envelope.time.0,
            topic: topic.to_string(),
            partition,
            offset,
            subject: envelope.subject.clone(),
            data: envelope.event.data_json().to_string(),
        }
    }
}

/// Writes one generation's analytics into ClickHouse.
pub struct ClickHouseSink {
    client: Client,
    database: String,
    generation: String,
}

/// A retracted row of `table`: its key columns from the rendered `key`, zeros elsewhere.
fn tombstone(table: &ddl::AnalyticsTable, key: &str) -> Result<Value, SinkError> {
    let corrupt = || SinkError::Corrupt { what: "analytics key", detail: key.to_string() };
    // A one-column key is stored bare (a productId, a day); a compound one as a JSON array.
    let parts: Vec<Value> = match table.key {
        [only] if only.kind == "String" => vec![Value::from(key)],
        [_] => vec![serde_json::from_str(key).map_err(|_| corrupt())?],
        _ => serde_json::from_str(key).map_err(|_| corrupt())?,
    };
    if parts.len() != table.key.len() {
        return Err(corrupt());
    }
    let mut row = serde_json::Map::new();
    for (column, part) in table.key.iter().zip(parts) {
        row.insert(column.name.into(), part);
    }
    for column in table.values {
        row.insert(column.name.into(), json!(0));
    }
    Ok(Value::Object(row))
}

fn day_text(day: i64) -> String {
    chrono::DateTime::from_timestamp(day * 86_400, 0).map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default()
}

/// Whether `table` of `database` has `column`.
async fn has_column(client: &Client, database: &str, table: &str, column: &str) -> Result<bool, SinkError> {
    let mut cursor = client
        .query("SELECT count() FROM system.columns WHERE database = ? AND table = ? AND name = ?")
        .bind(database)
        .bind(table)
        .bind(column)
        .fetch_bytes("TabSeparated")?;
    let text = String::from_utf8_lossy(&cursor.collect().await?).trim().to_string();
    Ok(text != "0")
}

/// Gives tables made by an older version this one's columns.
async fn add_columns(client: &Client, database: &str) -> Result<(), SinkError> {
    for (table, column, kind) in ddl::ADDED_COLUMNS {
        if !has_column(client, database, table, column).await? {
            tracing::info!(table, column, "adding a column to an older ClickHouse table");
            client.query(&format!("ALTER TABLE {database}.{table} ADD COLUMN {column} {kind}")).execute().await?;
        }
    }
    Ok(())
}

/// The type of `column` of `table` (empty when there is no such column).
async fn column_type(client: &Client, database: &str, table: &str, column: &str) -> Result<String, SinkError> {
    let mut cursor = client
        .query("SELECT type FROM system.columns WHERE database = ? AND table = ? AND name = ?")
        .bind(database)
        .bind(table)
        .bind(column)
        .fetch_bytes("TabSeparated")?;
    Ok(String::from_utf8_lossy(&cursor.collect().await?).trim().to_string())
}

/// Replaces views an older version defined differently.
async fn redefine_views(client: &Client, database: &str) -> Result<(), SinkError> {
    for (view, column, kind, statement) in ddl::redefined_views(database) {
        if column_type(client, database, view, column).await? != kind {
            tracing::info!(view, "redefining an older ClickHouse view");
            client.query(&format!("DROP TABLE IF EXISTS {database}.{view}")).execute().await?;
            client.query(&statement).execute().await?;
        }
    }
    Ok(())
}

impl ClickHouseSink {
    /// Connects to `url`, creating database `database` and its relations if missing.
    pub async fn connect(url: &str, database: &str, generation: &str) -> Result<ClickHouseSink, SinkError> {
        // Validation reads column types in a format ClickHouse 18.16 lacks; rows are JSON here anyway.
        let client = Client::default().with_url(url).with_validation(false);
        // Views last: an older table must have its new columns before a view reads them
        // (ClickHouse 18.16 analyses a view's query even when the view exists).
        let (views, tables): (Vec<String>, Vec<String>) =
            ddl::statements(database).into_iter().partition(|s| s.starts_with("CREATE VIEW"));
        for statement in tables {
            client.query(&statement).execute().await?;
        }
        add_columns(&client, database).await?;
        for statement in views {
            client.query(&statement).execute().await?;
        }
        redefine_views(&client, database).await?;
        Ok(ClickHouseSink { client, database: database.to_string(), generation: generation.to_string() })
    }

    async fn insert(&self, table: &str, rows: &[Value]) -> Result<(), SinkError> {
        // Bounded requests: memory stays flat and a slow server is noticed, never waited on forever.
        for chunk in rows.chunks(INSERT_CHUNK_ROWS) {
            // One plain POST whose body is the statement followed by its rows: a streamed
            // (chunked) insert body left ClickHouse 18.16 connections hanging under load.
            let mut sql = format!("INSERT INTO {}.{table} FORMAT JSONEachRow\n", self.database);
            for row in chunk {
                sql.push_str(&serde_json::to_string(row).expect("JSON serialises"));
                sql.push('\n');
            }
            let insert = self.client.query_raw(&sql).execute();
            tokio::time::timeout(REQUEST_TIMEOUT, insert)
                .await
                .map_err(|_| SinkError::Timeout { what: "ClickHouse insert", after: REQUEST_TIMEOUT })??;
        }
        Ok(())
    }

    /// Inserts events into the audit log (duplicates collapse by id).
    pub async fn insert_events(&self, events: &[EventRow]) -> Result<(), SinkError> {
        let rows: Vec<Value> = events.iter().map(|e| serde_json::to_value(e).expect("row serialises")).collect();
        self.insert("events_data", &rows).await
    }

    /// Writes the analytics changes of a publication with version `upper`.
    pub async fn publish(&self, publication: &Publication) -> Result<(), SinkError> {
        let version = publication.upper;
        for table in &ddl::ANALYTICS {
            let mut rows = Vec::new();
            for ((family, key), value) in &publication.changes {
                if *family != table.family {
                    continue;
                }
                let mut row = match value {
                    Some(json) => serde_json::from_str::<Value>(json)
                        .map_err(|e| SinkError::Corrupt { what: "analytics row", detail: e.to_string() })?,
                    None => tombstone(table, key)?,
                };
                let Some(object) = row.as_object_mut() else {
                    return Err(SinkError::Corrupt { what: "analytics row", detail: row.to_string() });
                };
                for column in table.key.iter().filter(|c| c.kind == "Date") {
                    if let Some(day) = object.get(column.name).and_then(Value::as_i64) {
                        object.insert(column.name.into(), json!(day_text(day)));
                    }
                }
                object.insert("generation".into(), json!(self.generation));
                object.insert("version".into(), json!(version));
                object.insert("deleted".into(), json!(u8::from(value.is_none())));
                rows.push(row);
            }
            self.insert(&table.data_table(), &rows).await?;
        }
        Ok(())
    }

    /// Makes this generation the one the relations show.
    pub async fn make_current(&self, version: i64) -> Result<(), SinkError> {
        let row = json!({"id": 1, "generation": self.generation, "version": version});
        self.insert("current_generation", &[row]).await
    }

    /// Generations other than this one that still have rows.
    pub async fn other_generations(&self) -> Result<Vec<String>, SinkError> {
        let mut found = std::collections::BTreeSet::new();
        for table in &ddl::ANALYTICS {
            let sql = format!(
                "SELECT DISTINCT generation FROM {}.{} WHERE generation != ?",
                self.database,
                table.data_table()
            );
            let mut cursor = self.client.query(&sql).bind(&self.generation).fetch_bytes("TabSeparated")?;
            let bytes = cursor.collect().await?;
            found.extend(String::from_utf8_lossy(&bytes).lines().filter(|l| !l.is_empty()).map(str::to_string));
        }
        Ok(found.into_iter().collect())
    }

    /// Removes another generation's rows (after a switch).
    pub async fn drop_generation(&self, generation: &str) -> Result<(), SinkError> {
        if generation == self.generation {
            return Ok(());
        }
        for table in &ddl::ANALYTICS {
            // ALTER ... DELETE is a mutation (asynchronous); the view already hides these rows.
            let sql = format!("ALTER TABLE {}.{} DELETE WHERE generation = ?", self.database, table.data_table());
            self.client.query(&sql).bind(generation).execute().await?;
        }
        Ok(())
    }
}
