//! # shopflow-api: the HTTP API
//!
//! The axum router (`app() -> Router`) of `shared/contract/api.md`: reads from
//! Redis and ClickHouse, writes validated and produced to Kafka, auth, rate
//! limits, OpenAPI and the dashboard.
//!
//! The crate is part of the workspace layout from the start; its routes
//! arrive with the core pipeline and the API platform.
