//! Fraud flags (`views.md`, "Fraud rules"): per user, the orders and payment
//! failures that break a rule, in (`time`, `id`) order of event time.
//!
//! - `order_burst`: an Order.Created that makes more than `max_orders_per_hour`
//!   (5) of the user's orders within the hour ending at it (`time − 1 h < t ≤ time`).
//! - `payment_failures`: a Payment.Failed (of one of the user's orders) that makes
//!   `failed_payments` (3) or more within the 24 hours ending at it.
//! - `order_outlier`: an order whose total is above `outlier_factor` (10) × the
//!   median total of the user's previous orders, with at least
//!   `outlier_min_orders` (3) of them (the median of an even count is the mean
//!   of the middle two; compared in integers, doubled).
//!
//! An order counts from its first Order.Created.

use serde::{Deserialize, Serialize};
use shopflow_topics::EventTime;

/// A fraud rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FraudRule {
    /// Too many orders within an hour.
    OrderBurst,
    /// Too many failed payments within 24 hours.
    PaymentFailures,
    /// An order far above the user's usual.
    OrderOutlier,
}

impl FraudRule {
    /// Its name, as `GET /admin/fraud` and Fraud.Suspected give it.
    pub fn as_str(self) -> &'static str {
        match self {
            FraudRule::OrderBurst => "order_burst",
            FraudRule::PaymentFailures => "payment_failures",
            FraudRule::OrderOutlier => "order_outlier",
        }
    }
}

/// The thresholds of the rules (configuration; defaults as `views.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FraudConfig {
    /// `order_burst`: more than this many orders in an hour.
    pub max_orders_per_hour: usize,
    /// `payment_failures`: this many failures in 24 hours.
    pub failed_payments: usize,
    /// `order_outlier`: a total above this many times the median.
    pub outlier_factor: i64,
    /// `order_outlier`: at least this many previous orders.
    pub outlier_min_orders: usize,
}

impl Default for FraudConfig {
    fn default() -> FraudConfig {
        FraudConfig { max_orders_per_hour: 5, failed_payments: 3, outlier_factor: 10, outlier_min_orders: 3 }
    }
}

/// One broken rule.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FraudFlag {
    /// The event time of the order or failure that broke it.
    pub at: EventTime,
    /// The rule.
    pub rule: FraudRule,
    /// The order concerned.
    pub order_id: String,
    /// What was seen.
    pub detail: String,
}

/// A user's flags: what `GET /admin/fraud` lists.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FraudView {
    /// The user.
    pub user_id: String,
    /// Their flags, oldest first.
    pub flags: Vec<FraudFlag>,
}
