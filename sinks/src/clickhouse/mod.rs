//! ClickHouse: the analytics relations, written idempotently.

pub mod ddl;
mod sink;

pub use sink::{ClickHouseSink, EventRow};
