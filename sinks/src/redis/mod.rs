//! Redis: serving state for point reads, published a whole epoch at a time.
//!
//! A generation is one complete build of the views from the topics. The
//! pipeline writes its generation's keys with one MULTI/EXEC per
//! publication — objects, `upper`, covered offsets and `asOf` together — so a
//! reader never sees half an epoch. Readers resolve `{ns}:current` and read
//! in the same Lua call, so they never mix generations.

mod keys;
mod reader;
mod requests;
mod sink;

pub use keys::Keys;
pub use reader::{GenerationStatus, ListVersions, RedisReader, Served, ServedLists};
pub use requests::{Account, Bucket, Claim, Funds, FundsHold, Hold, Requests};
pub use sink::{RedisSink, UNSEEN_CHUNK};

/// A connection of the API's and the dispatcher's: it comes back by itself
/// after Redis went away (a plain multiplexed connection stays broken). A
/// call while Redis is away fails within about a second, after one try on a
/// fresh connection, so that a request answers 503 rather than waiting.
pub async fn managed(url: &str) -> Result<redis::aio::ConnectionManager, crate::SinkError> {
    let client = redis::Client::open(url)?;
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_number_of_retries(1)
        .set_min_delay(std::time::Duration::from_millis(50))
        .set_max_delay(std::time::Duration::from_millis(200))
        .set_connection_timeout(Some(std::time::Duration::from_secs(1)));
    Ok(redis::aio::ConnectionManager::new_with_config(client, config).await?)
}

/// Deletes every key of `namespace` (`{namespace}:*`); returns how many.
/// For a namespace of one's own making (`shopflow verify`'s rebuild).
pub async fn drop_namespace(url: &str, namespace: &str) -> Result<u64, crate::SinkError> {
    let client = redis::Client::open(url)?;
    let mut connection = client.get_multiplexed_async_connection().await?;
    unlink_matching(&mut connection, &format!("{namespace}:*")).await
}

/// Deletes every key matching `pattern` (SCAN, then UNLINK in batches); returns how many.
pub(crate) async fn unlink_matching(
    connection: &mut impl redis::aio::ConnectionLike,
    pattern: &str,
) -> Result<u64, crate::SinkError> {
    let keys = scan_keys(connection, pattern).await?;
    for batch in keys.chunks(1000) {
        let _: () = redis::cmd("UNLINK").arg(batch).query_async(connection).await?;
    }
    Ok(keys.len() as u64)
}

/// Every key matching `pattern` (SCAN, in batches of about 1,000).
pub(crate) async fn scan_keys(
    connection: &mut impl redis::aio::ConnectionLike,
    pattern: &str,
) -> Result<Vec<String>, crate::SinkError> {
    let mut cursor: u64 = 0;
    let mut found = Vec::new();
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(connection)
            .await?;
        found.extend(keys);
        if next == 0 {
            return Ok(found);
        }
        cursor = next;
    }
}
