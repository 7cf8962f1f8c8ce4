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
