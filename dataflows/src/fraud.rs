//! Fraud flags (`views.md`, "Fraud rules"; the rules:
//! [`shopflow_views::fraud`]): each user's orders and the payment failures of
//! their orders, gathered under the user and checked in one reduce (`reduce_held`).

use crate::ops::ReduceHeld;
use crate::Coll;
use serde::{Deserialize, Serialize};
use shopflow_topics::EventTime;
use shopflow_views::facts::{Fact, PaymentChange};
use shopflow_views::fraud::{FraudConfig, FraudFlag, FraudRule, FraudView};
use shopflow_views::orders::OrderView;

/// The one list the flagged users are published in.
pub const ALL: &str = "all";

/// What a user's flags are made of.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Part {
    /// An order: (Order.Created time, orderId, total).
    Order(EventTime, String, i64),
    /// A Payment.Failed: (time, event id, orderId).
    Failure(EventTime, String, String),
}

/// Users with at least one flag, by userId; from the payment facts and the orders.
pub fn view<'s>(
    payment_facts: Coll<'s, Fact>,
    orders: Coll<'s, (String, OrderView)>,
    config: FraudConfig,
) -> Coll<'s, (String, FraudView)> {
    let failures = payment_facts.flat_map(|fact| match fact {
        Fact::Payment(_, stamp, PaymentChange::Failed { order_id }) => Some((order_id, (stamp.time, stamp.id))),
        _ => None,
    });
    let users = orders.clone().map(|(order_id, view)| (order_id, view.user_id));
    let failed = failures.join_map(users, |order_id, (time, id), user| {
        (user.clone(), Part::Failure(*time, id.clone(), order_id.clone()))
    });
    orders
        .map(|(order_id, view)| (view.user_id, Part::Order(view.created_at, order_id, view.total)))
        .concat(failed)
        .reduce_held(move |user, parts, out| {
            let mut placed = Vec::new();
            let mut failures = Vec::new();
            for (part, n) in parts {
                for _ in 0..*n {
                    match part {
                        Part::Order(at, id, total) => placed.push((*at, id.clone(), *total)),
                        Part::Failure(at, id, order) => failures.push((*at, id.clone(), order.clone())),
                    }
                }
            }
            let flags = flags_of(&placed, &failures, config);
            if !flags.is_empty() {
                out.push((FraudView { user_id: user.clone(), flags }, 1));
            }
        })
}

/// The flags of one user's orders (time, orderId, total) and failures (time,
/// event id, orderId), each sorted by (time, id).
pub fn flags_of(
    orders: &[(EventTime, String, i64)],
    failures: &[(EventTime, String, String)],
    config: FraudConfig,
) -> Vec<FraudFlag> {
    let mut flags = Vec::new();
    let hour = EventTime::HOUR;
    // Both inputs are sorted by time: a window's start only moves forward, and
    // the previous totals are kept sorted as they grow, so a user's reduce is
    // linear in their orders (plus the inserts), not quadratic.
    let mut start = 0;
    let mut previous: Vec<i64> = Vec::with_capacity(orders.len());
    for (i, (at, order_id, total)) in orders.iter().enumerate() {
        while orders[start].0 .0 <= at.0 - hour {
            start += 1;
        }
        let within = i + 1 - start;
        if within > config.max_orders_per_hour {
            let detail = format!("{within} orders within an hour");
            flags.push(FraudFlag { at: *at, rule: FraudRule::OrderBurst, order_id: order_id.clone(), detail });
        }
        if i >= config.outlier_min_orders {
            let middle = previous.len() / 2;
            let median_twice =
                if previous.len() % 2 == 1 { 2 * previous[middle] } else { previous[middle - 1] + previous[middle] };
            if 2 * i128::from(*total) > i128::from(config.outlier_factor) * i128::from(median_twice) {
                let detail =
                    format!("total {total} above {}× the median of {} previous orders", config.outlier_factor, i);
                flags.push(FraudFlag { at: *at, rule: FraudRule::OrderOutlier, order_id: order_id.clone(), detail });
            }
        }
        previous.insert(previous.partition_point(|t| t <= total), *total);
    }
    let mut start = 0;
    for (i, (at, _, order_id)) in failures.iter().enumerate() {
        while failures[start].0 .0 <= at.0 - 24 * hour {
            start += 1;
        }
        let within = i + 1 - start;
        if within >= config.failed_payments {
            let detail = format!("{within} failed payments within 24 hours");
            flags.push(FraudFlag { at: *at, rule: FraudRule::PaymentFailures, order_id: order_id.clone(), detail });
        }
    }
    flags.sort();
    flags
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minutes(m: i64) -> EventTime {
        EventTime(m * 60 * EventTime::SECOND)
    }

    #[test]
    fn a_sixth_order_within_the_hour_and_a_tenfold_total_are_flagged() {
        let orders: Vec<(EventTime, String, i64)> =
            (0..7).map(|i| (minutes(i * 10), format!("o{i}"), if i == 6 { 2_001 } else { 100 })).collect();
        let flags = flags_of(&orders, &[], FraudConfig::default());
        let seen: Vec<(FraudRule, &str)> = flags.iter().map(|f| (f.rule, f.order_id.as_str())).collect();
        // o5 is the sixth within (−60, 50]; o6 the sixth within (0, 60] and 20× the median 100.
        assert_eq!(
            seen,
            [(FraudRule::OrderBurst, "o5"), (FraudRule::OrderBurst, "o6"), (FraudRule::OrderOutlier, "o6")]
        );
    }

    #[test]
    fn three_failures_within_a_day_are_flagged_from_the_third() {
        let failures: Vec<(EventTime, String, String)> =
            [0, 600, 1_400, 3_000].iter().map(|m| (minutes(*m), format!("f{m}"), format!("o{m}"))).collect();
        let flags = flags_of(&[], &failures, FraudConfig::default());
        let seen: Vec<&str> = flags.iter().map(|f| f.order_id.as_str()).collect();
        // Within the 24 h (1,440 min) ending at o1400: o0, o600, o1400; ending at o3000: o3000 alone.
        assert_eq!(seen, ["o1400"]);
    }
}
