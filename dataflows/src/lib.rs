//! # shopflow-dataflows: the views, as differential computations
//!
//! Pure and I/O-free: each module turns collections of decoded events into a
//! family of views exactly as `shared/contract/views.md` defines them, one
//! module per family (`orders`, `inventory`, `catalog`, `carts`, ...). Inputs
//! and outputs are differential collections; Kafka, Redis and ClickHouse are
//! the business of `shopflow-ingest` and `shopflow-sinks`.
//!
//! The crate is part of the workspace layout from the start; its views arrive
//! with the core pipeline.
