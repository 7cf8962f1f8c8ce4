//! The ClickHouse writer: DDL on connect, versioned rows per publication.

use super::ddl;
use crate::{Publication, SinkError};
use bytes::Bytes;
use clickhouse::Client;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client as HttpClient};
use hyper_util::rt::TokioExecutor;
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
    pub event_type: String,
    /// The exact time, nanoseconds since the epoch (the `time` column is its second).
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

/// The audit log's columns, in the order [`EventRow::write_row_binary`] writes them.
const EVENT_COLUMNS: &str = "id, type, time, time_ns, topic, `partition`, `offset`, subject, data";

impl EventRow {
    /// The row of a decoded event read at (`topic`, `partition`, `offset`).
    pub fn new(envelope: &shopflow_topics::Envelope, topic: &str, partition: i32, offset: i64) -> EventRow {
        EventRow {
            id: envelope.id.clone(),
            event_type: envelope.type_name().to_string(),
            time_ns: envelope.time.0,
            topic: topic.to_string(),
            partition,
            offset,
            subject: envelope.subject.clone(),
            data: envelope.event.data_text(),
        }
    }

    /// The `time` column: whole seconds since the epoch, as a `DateTime`
    /// (unsigned 32 bits) holds them; times outside its range are clamped.
    pub fn seconds(&self) -> u32 {
        self.time_ns.div_euclid(1_000_000_000).clamp(0, i64::from(u32::MAX)) as u32
    }

    /// Appends the row in ClickHouse's `RowBinary` format, columns as [`EVENT_COLUMNS`].
    pub fn write_row_binary(&self, out: &mut Vec<u8>) {
        row_binary_string(out, &self.id);
        row_binary_string(out, &self.event_type);
        out.extend_from_slice(&self.seconds().to_le_bytes());
        out.extend_from_slice(&self.time_ns.to_le_bytes());
        row_binary_string(out, &self.topic);
        out.extend_from_slice(&self.partition.to_le_bytes());
        out.extend_from_slice(&self.offset.to_le_bytes());
        row_binary_string(out, &self.subject);
        row_binary_string(out, &self.data);
    }
}

/// A `String` in `RowBinary`: its length in bytes as an unsigned LEB128, then the bytes.
fn row_binary_string(out: &mut Vec<u8>, text: &str) {
    let mut length = text.len() as u64;
    loop {
        let byte = (length & 0x7f) as u8;
        length >>= 7;
        if length == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(text.as_bytes());
}

/// Writes one generation's analytics into ClickHouse.
pub struct ClickHouseSink {
    client: Client,
    /// The server's HTTP URL, for the inserts sent without the client.
    url: String,
    http: HttpClient<HttpConnector, Full<Bytes>>,
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
        // Validation reads column types in a format ClickHouse 18.16 lacks; this client sends JSON
        // rows (the audit log's RowBinary goes over `http`, with the columns named).
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
        // A pooled connection is given up well before ClickHouse closes an idle one (its
        // keep_alive_timeout is 3 s by default): a request on a connection the server is
        // closing fails without ever reaching it.
        let http =
            HttpClient::builder(TokioExecutor::new()).pool_idle_timeout(std::time::Duration::from_secs(1)).build_http();
        Ok(ClickHouseSink {
            client,
            url: url.to_string(),
            http,
            database: database.to_string(),
            generation: generation.to_string(),
        })
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

    /// Inserts events into the audit log (duplicates collapse by id), as
    /// `RowBinary`: each value is written once, straight from the row, and
    /// ClickHouse parses no JSON.
    pub async fn insert_events(&self, events: &[EventRow]) -> Result<(), SinkError> {
        let statement = format!("INSERT INTO {}.events_data ({EVENT_COLUMNS}) FORMAT RowBinary", self.database);
        let separator = if self.url.contains('?') { '&' } else { '?' };
        let uri: hyper::Uri = format!("{}{separator}query={}", self.url, crate::percent_encode(&statement))
            .parse()
            .map_err(|e| SinkError::Corrupt { what: "ClickHouse URL", detail: format!("{e}") })?;
        for chunk in events.chunks(INSERT_CHUNK_ROWS) {
            let mut body = Vec::new();
            for row in chunk {
                row.write_row_binary(&mut body);
            }
            // One plain POST with its length (see `insert`): the statement in the URL, the rows the body.
            let body = Bytes::from(body);
            let request = |body: Bytes| {
                hyper::Request::post(uri.clone())
                    .header("content-type", "application/octet-stream")
                    .body(Full::new(body))
                    .map_err(|e| SinkError::Corrupt { what: "ClickHouse request", detail: e.to_string() })
            };
            let answer = async {
                // A connection that failed before an answer is tried once more on a new one: the
                // rows collapse by id, so an insert that did arrive twice changes nothing.
                let response = match self.http.request(request(body.clone())?).await {
                    Ok(response) => response,
                    Err(_) => {
                        self.http.request(request(body)?).await.map_err(|e| SinkError::ClickHouseHttp(e.to_string()))?
                    }
                };
                let status = response.status();
                let text = response.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                if status.is_success() {
                    Ok(())
                } else {
                    let detail = String::from_utf8_lossy(&text).chars().take(500).collect::<String>();
                    Err(SinkError::ClickHouseRefused { status: status.as_u16(), detail: detail.trim().to_string() })
                }
            };
            tokio::time::timeout(REQUEST_TIMEOUT, answer)
                .await
                .map_err(|_| SinkError::Timeout { what: "ClickHouse insert", after: REQUEST_TIMEOUT })??;
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_binary_strings_carry_their_length_as_leb128() {
        let mut out = Vec::new();
        row_binary_string(&mut out, "ab");
        assert_eq!(out, b"\x02ab");
        out.clear();
        let long = "x".repeat(300);
        row_binary_string(&mut out, &long);
        assert_eq!(&out[..2], &[0xac, 0x02]);
        assert_eq!(out.len(), 302);
    }

    #[test]
    fn an_audit_row_in_row_binary() {
        let row = EventRow {
            id: "e".into(),
            event_type: "T".into(),
            time_ns: 1_700_000_000_999_999_999,
            topic: "t".into(),
            partition: 3,
            offset: 258,
            subject: "s".into(),
            data: "{}".into(),
        };
        let mut out = Vec::new();
        row.write_row_binary(&mut out);
        let mut expected = b"\x01e\x01T".to_vec();
        expected.extend_from_slice(&1_700_000_000u32.to_le_bytes());
        expected.extend_from_slice(&1_700_000_000_999_999_999i64.to_le_bytes());
        expected.extend_from_slice(b"\x01t");
        expected.extend_from_slice(&3i32.to_le_bytes());
        expected.extend_from_slice(&258i64.to_le_bytes());
        expected.extend_from_slice(b"\x01s\x02{}");
        assert_eq!(out, expected);
        // Before 1970 and after 2106 the second is clamped to what a DateTime holds.
        assert_eq!(EventRow { time_ns: -1, ..row.clone() }.seconds(), 0);
        assert_eq!(EventRow { time_ns: i64::MAX, ..row }.seconds(), u32::MAX);
    }

    #[test]
    fn query_strings_are_escaped() {
        assert_eq!(crate::percent_encode("INSERT INTO a.b (x, `y`)"), "INSERT%20INTO%20a.b%20%28x%2C%20%60y%60%29");
    }
}
