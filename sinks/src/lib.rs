//! # shopflow-sinks: publishing views
//!
//! One folder per destination — `redis/` (serving), `clickhouse/`
//! (analytics), `kafka/` (derived events) — each a batch writer that
//! publishes whole epochs atomically, with the frontier and the source
//! offsets they cover (`shared/DESIGN.md`, "Consistency model").
//!
//! The crate is part of the workspace layout from the start; its writers
//! arrive with the core pipeline.
