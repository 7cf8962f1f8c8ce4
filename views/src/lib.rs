//! # shopflow-views: the read model
//!
//! What the pipeline computes and the API serves, free of timely and
//! differential: the view structs of `shared/contract/views.md`, the facts
//! the dataflows fold, the order state machine, and how objects are named in
//! the stores. `shopflow-dataflows` computes these values; `shopflow-sinks`
//! stores them; `shopflow-api` reads them back as the same types.
//!
//! ```
//! use shopflow_views::facts::OrderStep;
//! use shopflow_views::family::{render, Family};
//! use shopflow_views::orders::transition;
//! use shopflow_topics::OrderStatus;
//!
//! // The state machine the pipeline folds orders through, and the API checks writes against.
//! assert_eq!(transition(OrderStatus::Created, &OrderStep::PaymentCompleted), Some(OrderStatus::Paid));
//! assert_eq!(transition(OrderStatus::Delivered, &OrderStep::Cancelled), None);
//!
//! // How a view's key and value are stored.
//! assert_eq!(Family::Order.name(), "order");
//! assert_eq!(render(&"ord-1", &7).0, "ord-1");
//! ```
//!
//! ## Layout
//! - `facts` — the rows the dataflows fold ([`facts::Fact`], [`facts::OrderStep`], ...).
//! - `orders`, `inventory`, `catalog`, `carts`, `users`, `reviews`,
//!   `recommend`, `analytics` — one module per family: its view structs and
//!   the definitions readers share ([`orders::transition`],
//!   [`recommend::for_user`], [`reviews::rating_mean`]).
//! - `search` — the terms a product is found by, the posting lists the
//!   pipeline publishes and how a query is answered from them ([`search::evaluate`]).
//! - `vendors` — a vendor's status, money and orders.
//! - `payments` — payments and wallets.
//! - `fraud` — the fraud rules' flags per user.
//! - `notifications` — who is told what on which channel, and the templates' text.
//! - `shipping` — delivery partners, their assignment to orders, shipment tracking.
//! - `promotions` — promotions, how a discount is priced, and their performance.
//! - `derived` — the events the views imply (Order.StatusChanged, inventory
//!   alerts, Fraud.Suspected), with the event time each is settled at.
//! - `settle` — the event-time watermark and the [`settle::Settler`] that
//!   emits a derived event only once its state is settled.
//! - `family` — [`family::Family`], the published kinds of objects, and the
//!   rendering of keys and values.

#![warn(missing_docs)]

pub mod analytics;
pub mod carts;
pub mod catalog;
pub mod derived;
pub mod facts;
pub mod family;
pub mod fraud;
pub mod inventory;
pub mod notifications;
pub mod orders;
pub mod payments;
pub mod promotions;
pub mod recommend;
pub mod reviews;
pub mod search;
pub mod settle;
pub mod shipping;
pub mod users;
pub mod vendors;

pub use family::Family;
