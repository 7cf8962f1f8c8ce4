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
pub use requests::{Account, Claim, Funds, FundsHold, Hold, Requests};
pub use sink::RedisSink;

/// Every key matching `pattern` (SCAN, in batches of about 1,000).
pub(crate) async fn scan_keys(
    connection: &mut redis::aio::MultiplexedConnection,
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
