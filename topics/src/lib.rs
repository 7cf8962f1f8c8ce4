//! # shopflow-topics: the event contract in types
//!
//! Every storefront action is one event on one Kafka topic
//! (`shared/contract/events.md`). This crate is that contract in Rust:
//!
//! - [`Topic`]: the registry of topics — name, key, partitions, retention,
//!   source or derived. Topic names are spelled only here.
//! - [`Envelope`]: the CloudEvents 1.0 structured envelope, and [`Event`], one
//!   variant per event type with its typed `data`.
//! - Strict decoding: [`Envelope::decode_record`] either yields a valid event or
//!   a [`DecodeError`] that names the field and the rule it breaks — the reason
//!   a dead letter carries.
//! - [`EventTime`]: RFC 3339 UTC times as integer nanoseconds, so that "order by
//!   (`time`, `id`)" is a tuple comparison.
//!
//! ```
//! use shopflow_topics::{Envelope, Event, EventTime, Topic, events::OrderCancelled};
//!
//! let event = OrderCancelled { order_id: "ord-1001".into(), reason: "changed my mind".into() };
//! let time = EventTime::parse("2026-11-21T10:15:00.123Z").unwrap();
//! let envelope = Envelope::new("evt-1", "storefront", time, event);
//! assert_eq!(envelope.topic(), Topic::Orders);
//! assert_eq!(envelope.key(), "ord-1001");
//!
//! // What goes on the wire decodes back to the same value...
//! let bytes = envelope.to_json();
//! assert_eq!(Envelope::decode_record("shop.orders", Some(b"ord-1001"), &bytes).unwrap(), envelope);
//!
//! // ...and a bad record says why it is bad.
//! let err = Envelope::decode(br#"{"specversion":"1.0"}"#).unwrap_err();
//! assert_eq!(err.to_string(), "missing field id");
//! # let _ = Event::TYPE_NAMES;
//! ```
//!
//! ## Layout
//! - `registry` — topics.
//! - `envelope` — the CloudEvents envelope, encoding and strict decoding.
//! - `events` — one struct per event's `data`, and the `Event` enum.
//! - `fields` — strict field accessors that know each field's path.
//! - `json` — records parsed with their strings borrowed, for `fields` to read.
//! - `error` — [`DecodeError`], one variant per kind of failure.
//! - `hash` — stable hashes of ids ([`hash::id_hash`], [`hash::derived_id`]).
//! - `time` — [`EventTime`].
//! - `columns` — each event type as a table of typed columns (`shopflow export`);
//!   `arrow` (feature `arrow`) — those tables as Arrow record batches.

#![warn(missing_docs)]

#[cfg(feature = "arrow")]
pub mod arrow;
pub mod base64;
pub mod columns;
pub mod envelope;
pub mod error;
pub mod events;
pub mod fields;
pub mod hash;
pub mod json;
pub mod registry;
pub mod time;

pub use envelope::Envelope;
pub use error::DecodeError;
pub use events::{Event, OrderStatus};
pub use registry::{Topic, TopicKind};
pub use time::EventTime;
