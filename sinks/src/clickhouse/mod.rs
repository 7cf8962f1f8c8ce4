//! ClickHouse: the analytics relations, written idempotently.

pub mod ddl;
mod reader;
mod sink;

pub use reader::{ClickHouseReader, Filter, Relation};
pub use sink::{ClickHouseSink, EventRow};
