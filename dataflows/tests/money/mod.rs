//! The batch side of the money families — payments, wallets, vendors,
//! promotions — folded naively from the distinct events sorted by (`time`,
//! `id`) and the final orders, written apart from the dataflows; and the
//! histories' extra money traffic (refunds that repeat, come early or
//! exceed, payouts racing earnings, wallet top-ups, promotions redefined).

use crate::common::{put, Snapshot};
use shopflow_ingest::generate::Rng;
use shopflow_topics::events::{
    PaymentCompleted, PaymentMethod, PaymentRefunded, PayoutProcessed, PayoutRequested, PromotionCreated,
    PromotionEnded, WalletToppedUp,
};
use shopflow_topics::{Envelope, Event, EventTime, OrderStatus};
use shopflow_views::analytics::VendorSalesDaily;
use shopflow_views::facts::Line;
use shopflow_views::orders::OrderView;
use shopflow_views::payments::{
    PaymentAnomaly, PaymentStatus, PaymentView, Refund, WalletItem, WalletKind, WalletView,
};
use shopflow_views::promotions::{PromotionPerformance, PromotionView};
use shopflow_views::vendors::{
    PayoutItem, PayoutStatus, VendorApplication, VendorBalance, VendorOrder, VendorProfile, VendorStatus, VendorView,
};
use std::collections::{BTreeMap, BTreeSet};

/// Distinct orders, units, revenue.
type SalesTotals = (BTreeSet<String>, i64, i64);

fn is_purchase(status: OrderStatus) -> bool {
    matches!(status, OrderStatus::Paid | OrderStatus::Shipped | OrderStatus::Delivered | OrderStatus::ReturnRequested)
}

/// Puts every money view of the history into `out`: `sorted` are the distinct
/// events by (`time`, `id`), `orders` the final orders.
pub fn put_money(sorted: &[&Envelope], orders: &BTreeMap<String, OrderView>, out: &mut Snapshot) {
    // ---- payments
    let mut by_payment: BTreeMap<&str, Vec<&Envelope>> = BTreeMap::new();
    for e in sorted {
        let id = match &e.event {
            Event::PaymentInitiated(p) => &p.payment_id,
            Event::PaymentCompleted(p) => &p.payment_id,
            Event::PaymentFailed(p) => &p.payment_id,
            Event::PaymentRefunded(p) => &p.payment_id,
            _ => continue,
        };
        by_payment.entry(id).or_default().push(e);
    }
    let mut wallet_items: BTreeMap<String, Vec<WalletItem>> = BTreeMap::new();
    for (id, events) in &by_payment {
        let order_id = match &events[0].event {
            Event::PaymentInitiated(p) => p.order_id.clone(),
            Event::PaymentCompleted(p) => p.order_id.clone(),
            Event::PaymentFailed(p) => p.order_id.clone(),
            Event::PaymentRefunded(p) => p.order_id.clone(),
            _ => unreachable!(),
        };
        let initiated = events.iter().find_map(|e| match &e.event {
            Event::PaymentInitiated(p) => Some(p),
            _ => None,
        });
        let completion = events.iter().find_map(|e| match &e.event {
            Event::PaymentCompleted(p) => Some((*e, p.amount)),
            _ => None,
        });
        let completed = completion.map(|(_, a)| a).unwrap_or(0);
        let mut status = PaymentStatus::Initiated;
        let mut refunded = 0;
        let mut refunds = Vec::new();
        let mut anomalies = Vec::new();
        for e in events {
            match &e.event {
                Event::PaymentInitiated(_) => status = PaymentStatus::Initiated,
                Event::PaymentFailed(_) => status = PaymentStatus::Failed,
                Event::PaymentCompleted(_) => {
                    if completion.map(|(first, _)| first.id == e.id) == Some(true) {
                        status = PaymentStatus::Completed;
                    } else {
                        anomalies.push(PaymentAnomaly {
                            event_id: e.id.clone(),
                            event_type: "Payment.Completed".into(),
                            at: e.time,
                            reason: "already_completed".into(),
                        });
                    }
                }
                Event::PaymentRefunded(r) => {
                    if r.amount > 0 && refunded + r.amount <= completed {
                        refunded += r.amount;
                        refunds.push(Refund { event_id: e.id.clone(), amount: r.amount, at: e.time });
                        status = PaymentStatus::Refunded;
                    } else {
                        anomalies.push(PaymentAnomaly {
                            event_id: e.id.clone(),
                            event_type: "Payment.Refunded".into(),
                            at: e.time,
                            reason: "over_refund".into(),
                        });
                    }
                }
                _ => unreachable!(),
            }
        }
        let view = PaymentView {
            payment_id: id.to_string(),
            order_id,
            user_id: initiated.map(|p| p.user_id.clone()),
            status,
            amount: initiated.map(|p| p.amount).unwrap_or(completed),
            method: initiated.map(|p| p.method),
            completed,
            refunded,
            completed_at: completion.map(|(e, _)| (e.time, e.id.clone())),
            refunds: refunds.clone(),
            anomalies,
        };
        if let Some(p) = initiated.filter(|p| p.method == PaymentMethod::Wallet) {
            let items = wallet_items.entry(p.user_id.clone()).or_default();
            if let Some((e, amount)) = completion {
                items.push(WalletItem { at: e.time, event_id: e.id.clone(), kind: WalletKind::Payment, amount });
            }
            for r in refunds {
                items.push(WalletItem { at: r.at, event_id: r.event_id, kind: WalletKind::Refund, amount: r.amount });
            }
        }
        put(out, "payments", id, &view);
    }
    for e in sorted {
        if let Event::WalletToppedUp(t) = &e.event {
            wallet_items.entry(t.user_id.clone()).or_default().push(WalletItem {
                at: e.time,
                event_id: e.id.clone(),
                kind: WalletKind::Topup,
                amount: t.amount,
            });
        }
    }
    for (user, mut items) in wallet_items {
        let balance = items
            .iter()
            .map(|i| match i.kind {
                WalletKind::Payment => -i.amount,
                _ => i.amount,
            })
            .sum();
        items.sort_by(|a, b| (b.at, &b.event_id, b.kind).cmp(&(a.at, &a.event_id, a.kind)));
        put(out, "wallets", &user, &WalletView { user_id: user.clone(), balance, items });
    }

    // ---- vendors
    let mut profiles: BTreeMap<String, VendorProfile> = BTreeMap::new();
    let mut payouts: BTreeMap<String, BTreeMap<String, PayoutItem>> = BTreeMap::new();
    for e in sorted {
        match &e.event {
            Event::VendorApplied(v) => {
                let p = profiles.entry(v.vendor_id.clone()).or_default();
                if p.user_id.is_none() {
                    p.user_id = Some(v.user_id.clone());
                    p.store_name = Some(v.store_name.clone());
                    p.applied_at = Some(e.time);
                }
                p.status = Some(VendorStatus::Applied);
            }
            Event::VendorApproved(v) => {
                let p = profiles.entry(v.vendor_id.clone()).or_default();
                p.commission_bps = v.commission_bps;
                p.status = Some(VendorStatus::Approved);
            }
            Event::VendorSuspended(v) => {
                profiles.entry(v.vendor_id.clone()).or_default().status = Some(VendorStatus::Suspended)
            }
            Event::PayoutRequested(PayoutRequested { vendor_id, payout_id, amount })
            | Event::PayoutProcessed(PayoutProcessed { vendor_id, payout_id, amount }) => {
                let processed = matches!(e.event, Event::PayoutProcessed(_));
                let item =
                    payouts.entry(vendor_id.clone()).or_default().entry(payout_id.clone()).or_insert(PayoutItem {
                        payout_id: payout_id.clone(),
                        amount: *amount,
                        status: PayoutStatus::Requested,
                        requested_at: None,
                        processed_at: None,
                    });
                if processed && item.processed_at.is_none() {
                    item.processed_at = Some(e.time);
                    item.status = PayoutStatus::Processed;
                    item.amount = *amount;
                }
                if !processed && item.requested_at.is_none() {
                    item.requested_at = Some(e.time);
                }
            }
            _ => {}
        }
    }
    let mut money: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let mut vendor_sales: BTreeMap<(i64, String, String), SalesTotals> = BTreeMap::new();
    let mut promo_rows: BTreeMap<String, (i64, i64, i64)> = BTreeMap::new();
    for (order_id, order) in orders {
        let mut shares: BTreeMap<&str, Vec<Line>> = BTreeMap::new();
        for line in &order.items {
            shares.entry(&line.vendor_id).or_default().push(line.clone());
        }
        for (vendor, items) in shares {
            let share = VendorOrder {
                order_id: order_id.clone(),
                status: order.status,
                created_at: order.created_at,
                amount: items.iter().map(|l| l.quantity * l.unit_price).sum(),
                items,
            };
            put(out, "vendorOrders", &(vendor, order_id), &share);
        }
        if !is_purchase(order.status) {
            continue;
        }
        if let Some(code) = &order.promo_code {
            let row = promo_rows.entry(code.clone()).or_default();
            row.0 += 1;
            row.1 += order.discount;
            row.2 += order.total;
        }
        let day = order.created_at.0.div_euclid(EventTime::DAY);
        for line in &order.items {
            let amount = line.quantity * line.unit_price;
            let bps = profiles.get(&line.vendor_id).map(|p| p.commission_bps).unwrap_or(0);
            let totals = money.entry(line.vendor_id.clone()).or_default();
            totals.0 += amount;
            if order.status == OrderStatus::Delivered {
                totals.1 += (amount * (10_000 - bps)).div_euclid(10_000);
            }
            let sales = vendor_sales.entry((day, line.vendor_id.clone(), line.product_id.clone())).or_default();
            sales.0.insert(order_id.clone());
            sales.1 += line.quantity;
            sales.2 += amount;
        }
    }
    let vendors: BTreeSet<String> = profiles.keys().chain(money.keys()).chain(payouts.keys()).cloned().collect();
    for vendor in vendors {
        let (sales, earnings) = money.get(&vendor).copied().unwrap_or_default();
        let mut items: Vec<PayoutItem> = payouts.remove(&vendor).unwrap_or_default().into_values().collect();
        let paid: i64 = items.iter().filter(|p| p.status == PayoutStatus::Processed).map(|p| p.amount).sum();
        let pending: i64 = items.iter().filter(|p| p.status == PayoutStatus::Requested).map(|p| p.amount).sum();
        items.sort_by_key(|p| std::cmp::Reverse((p.requested_at.or(p.processed_at), p.payout_id.clone())));
        let view = VendorView {
            vendor_id: vendor.clone(),
            profile: profiles.get(&vendor).cloned().unwrap_or_default(),
            sales,
            earnings,
            payouts: paid,
            balance: earnings - paid,
            pending_payouts: pending,
            payout_items: items,
        };
        let balance =
            VendorBalance { vendor_id: vendor.clone(), sales, earnings, payouts: paid, balance: earnings - paid };
        put(out, "vendors", &vendor, &view);
        put(out, "vendorBalances", &vendor, &balance);
    }
    let mut applications: BTreeMap<String, VendorApplication> = BTreeMap::new();
    for (vendor, p) in &profiles {
        let Some(user) = &p.user_id else { continue };
        let application = VendorApplication {
            vendor_id: vendor.clone(),
            status: p.status,
            commission_bps: p.commission_bps,
            store_name: p.store_name.clone(),
            applied_at: p.applied_at,
        };
        match applications.get(user) {
            Some(a) if (a.applied_at, &a.vendor_id) >= (application.applied_at, &application.vendor_id) => {}
            _ => {
                applications.insert(user.clone(), application);
            }
        }
    }
    for (user, application) in applications {
        put(out, "vendorApplications", &user, &application);
    }
    for ((day, vendor, product), (orders, units, revenue)) in vendor_sales {
        let row = VendorSalesDaily {
            day,
            vendor_id: vendor.clone(),
            product_id: product.clone(),
            orders: orders.len() as i64,
            units,
            revenue,
        };
        put(out, "vendorSalesDaily", &(day, vendor, product), &row);
    }

    // ---- promotions
    let mut promotions: BTreeMap<String, PromotionView> = BTreeMap::new();
    for e in sorted {
        match &e.event {
            Event::PromotionCreated(p) => {
                promotions.insert(
                    p.code.clone(),
                    PromotionView {
                        code: p.code.clone(),
                        percent_off: p.percent_off,
                        amount_off: p.amount_off,
                        min_subtotal: p.min_subtotal,
                        starts_at: p.starts_at,
                        ends_at: p.ends_at,
                        category_id: p.category_id.clone(),
                        ended: false,
                    },
                );
            }
            Event::PromotionEnded(p) => {
                if let Some(view) = promotions.get_mut(&p.code) {
                    view.ended = true;
                }
            }
            _ => {}
        }
    }
    for (code, view) in promotions {
        put(out, "promotions", &code, &view);
    }
    for (code, (orders, discount, revenue)) in promo_rows {
        put(
            out,
            "promotionPerformance",
            &code,
            &PromotionPerformance { code: code.clone(), orders, discount, revenue },
        );
    }
}

/// `events` and more money traffic at seeded times among them: refunds of
/// completed payments that repeat, exceed what was paid or are stamped before
/// the completion; completions reported twice (the second sometimes first); payouts requested and processed (some processed first,
/// some beyond the balance); wallet top-ups; promotions redefined and ended.
pub fn with_money_churn(mut events: Vec<Envelope>, seed: u64) -> Vec<Envelope> {
    let rng = Rng::new(seed ^ 0x11_0E_E7);
    let mut completed: Vec<(String, String, i64, EventTime)> = Vec::new();
    let mut wallet_payments = BTreeSet::new();
    let mut vendors = BTreeSet::new();
    let mut users = BTreeSet::new();
    let mut codes = BTreeSet::new();
    let mut categories = BTreeSet::new();
    for e in &events {
        match &e.event {
            Event::PaymentCompleted(p) => completed.push((p.payment_id.clone(), p.order_id.clone(), p.amount, e.time)),
            Event::PaymentInitiated(p) if p.method == PaymentMethod::Wallet => {
                wallet_payments.insert(p.payment_id.clone());
            }
            Event::VendorApplied(v) => {
                vendors.insert(v.vendor_id.clone());
            }
            Event::UserRegistered(u) => {
                users.insert(u.user_id.clone());
            }
            Event::PromotionCreated(p) => {
                codes.insert(p.code.clone());
            }
            Event::CategoryUpserted(c) => {
                categories.insert(c.category_id.clone());
            }
            _ => {}
        }
    }
    let (vendors, users, codes, categories): (Vec<String>, Vec<String>, Vec<String>, Vec<String>) = (
        vendors.into_iter().collect(),
        users.into_iter().collect(),
        codes.into_iter().collect(),
        categories.into_iter().collect(),
    );
    let times: Vec<EventTime> = events.iter().map(|e| e.time).collect();
    if times.is_empty() {
        return events;
    }
    let mut n = 0;
    let mut id = || {
        n += 1;
        format!("evt-money-{seed}-{n}")
    };
    let mut added = Vec::new();
    for (payment_id, order_id, amount, time) in &completed {
        // Wallet payments more often: their refunds move wallets.
        if !rng.chance(if wallet_payments.contains(payment_id) { 0.6 } else { 0.3 }) {
            continue;
        }
        let refund = |amount| PaymentRefunded { payment_id: payment_id.clone(), order_id: order_id.clone(), amount };
        let part = rng.range(1, (*amount).max(1));
        match rng.below(5) {
            // The same partial refund twice (two ids): the second may exceed what is left.
            0 => {
                added.push(Envelope::new(id(), "test", time.plus(rng.range(1, 100) * EventTime::SECOND), refund(part)));
                added.push(Envelope::new(id(), "test", time.plus(rng.range(1, 100) * EventTime::SECOND), refund(part)));
            }
            // More than was paid.
            1 => added.push(Envelope::new(id(), "test", time.plus(EventTime::HOUR), refund(amount + 1))),
            // Stamped before the completion.
            2 => added.push(Envelope::new(id(), "test", time.plus(-EventTime::SECOND), refund(part))),
            3 => added.push(Envelope::new(id(), "test", time.plus(EventTime::DAY), refund(0))),
            // The provider reports success twice.
            _ => {
                let again =
                    PaymentCompleted { payment_id: payment_id.clone(), order_id: order_id.clone(), amount: *amount };
                added.push(Envelope::new(id(), "test", time.plus(rng.range(-5, 60) * EventTime::SECOND), again));
            }
        }
    }
    for _ in 0..rng.range(0, 8) {
        if vendors.is_empty() {
            break;
        }
        let vendor_id = rng.pick(&vendors).clone();
        let payout_id = format!("po-t-{seed}-{}", rng.below(1_000));
        let amount = rng.range(1, 20_000);
        let t = *rng.pick(&times);
        let requested = PayoutRequested { vendor_id: vendor_id.clone(), payout_id: payout_id.clone(), amount };
        added.push(Envelope::new(id(), "test", t, requested));
        if rng.chance(0.7) {
            // Processed before or after the request, sometimes for another amount.
            let processed_amount = if rng.chance(0.8) { amount } else { amount / 2 };
            let processed = PayoutProcessed { vendor_id, payout_id, amount: processed_amount };
            added.push(Envelope::new(id(), "test", t.plus(rng.range(-3_600, 86_400) * EventTime::SECOND), processed));
        }
    }
    for _ in 0..rng.range(0, 6) {
        if users.is_empty() {
            break;
        }
        let top_up =
            WalletToppedUp { user_id: rng.pick(&users).clone(), amount: rng.range(1, 50_000), currency: "USD".into() };
        added.push(Envelope::new(id(), "test", *rng.pick(&times), top_up));
    }
    if !codes.is_empty() && !categories.is_empty() && rng.chance(0.5) {
        let t = *rng.pick(&times);
        let redefined = PromotionCreated {
            code: rng.pick(&codes).clone(),
            percent_off: None,
            amount_off: Some(rng.range(100, 2_000)),
            min_subtotal: rng.range(0, 5_000),
            starts_at: t,
            ends_at: t.plus(EventTime::DAY),
            category_id: Some(rng.pick(&categories).clone()),
        };
        let code = redefined.code.clone();
        added.push(Envelope::new(id(), "test", t, redefined));
        if rng.chance(0.5) {
            added.push(Envelope::new(
                id(),
                "test",
                t.plus(rng.range(-10, 10) * EventTime::SECOND),
                PromotionEnded { code },
            ));
        }
    }
    events.extend(added);
    events
}

/// The money invariants on an incremental snapshot of the history `events`:
/// Σ wallet balances = Σ top-ups − Σ completed wallet payments + Σ refunds of
/// wallet payments; every vendor's balance = earnings − processed payouts;
/// every number of a money view is an integer. Returns how many wallets and
/// vendors it checked.
pub fn invariants_hold(snapshot: &Snapshot, events: &[Envelope]) -> usize {
    let values = |name: &str| -> Vec<serde_json::Value> {
        snapshot.iter().filter(|((n, _), _)| *n == name).map(|(_, v)| serde_json::from_str(v).unwrap()).collect()
    };
    let mut seen = BTreeSet::new();
    let top_ups: i64 = events
        .iter()
        .filter(|e| seen.insert(e.id.clone()))
        .filter_map(|e| match &e.event {
            Event::WalletToppedUp(t) => Some(t.amount),
            _ => None,
        })
        .sum();
    let payments: Vec<PaymentView> =
        values("payments").into_iter().map(|v| serde_json::from_value(v).unwrap()).collect();
    let wallet_payments = payments.iter().filter(|p| p.method == Some(PaymentMethod::Wallet) && p.user_id.is_some());
    let (paid, refunded) =
        wallet_payments.fold((0, 0), |(paid, refunded), p| (paid + p.completed, refunded + p.refunded));
    let wallets = values("wallets");
    let balances: i64 = wallets.iter().map(|w| w["balance"].as_i64().unwrap()).sum();
    assert_eq!(balances, top_ups - paid + refunded, "Σ wallet balances");
    let vendors = values("vendors");
    for v in &vendors {
        let processed: i64 = v["payoutItems"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["status"] == "processed")
            .map(|p| p["amount"].as_i64().unwrap())
            .sum();
        assert_eq!(v["payouts"].as_i64(), Some(processed), "{v}");
        assert_eq!(v["balance"].as_i64(), Some(v["earnings"].as_i64().unwrap() - processed), "{v}");
    }
    fn integral(value: &serde_json::Value) -> bool {
        match value {
            serde_json::Value::Number(n) => n.is_i64() || n.is_u64(),
            serde_json::Value::Array(items) => items.iter().all(integral),
            serde_json::Value::Object(fields) => fields.values().all(integral),
            _ => true,
        }
    }
    for name in
        ["payments", "wallets", "vendors", "vendorBalances", "vendorSalesDaily", "promotionPerformance", "vendorOrders"]
    {
        for value in values(name) {
            assert!(integral(&value), "{name}: a fractional figure in {value}");
        }
    }
    wallets.len() + vendors.len()
}

/// Puts the fraud flags of the history into `out` (default thresholds), naively.
pub fn put_fraud(sorted: &[&Envelope], orders: &BTreeMap<String, OrderView>, out: &mut Snapshot) {
    use shopflow_views::fraud::{FraudFlag, FraudRule, FraudView};
    // Per user: their orders (time, id, total) and failures (time, event id, order), by (time, id).
    let mut placed: BTreeMap<&str, Vec<(EventTime, &str, i64)>> = BTreeMap::new();
    for (id, order) in orders {
        placed.entry(&order.user_id).or_default().push((order.created_at, id, order.total));
    }
    let mut failed: BTreeMap<&str, Vec<(EventTime, &str, &str)>> = BTreeMap::new();
    for e in sorted {
        if let Event::PaymentFailed(f) = &e.event {
            if let Some(order) = orders.get(&f.order_id) {
                failed.entry(&order.user_id).or_default().push((e.time, &e.id, &f.order_id));
            }
        }
    }
    let users: BTreeSet<&str> = placed.keys().chain(failed.keys()).copied().collect();
    for user in users {
        let mut mine = placed.remove(user).unwrap_or_default();
        mine.sort();
        let mut failures = failed.remove(user).unwrap_or_default();
        failures.sort();
        let mut flags = Vec::new();
        for (n, (at, order, total)) in mine.iter().enumerate() {
            let in_hour = mine.iter().take(n + 1).filter(|(t, _, _)| at.0 - t.0 < EventTime::HOUR).count();
            if in_hour >= 6 {
                flags.push(FraudFlag {
                    at: *at,
                    rule: FraudRule::OrderBurst,
                    order_id: order.to_string(),
                    detail: format!("{in_hour} orders within an hour"),
                });
            }
            if n >= 3 {
                let mut before: Vec<i64> = mine[..n].iter().map(|(_, _, t)| *t).collect();
                before.sort();
                let k = before.len();
                // total > 10 × median ⇔ 2 × total > 10 × (2 × median)
                let doubled = if k.is_multiple_of(2) { before[k / 2 - 1] + before[k / 2] } else { before[k / 2] * 2 };
                if 2 * total > 10 * doubled {
                    flags.push(FraudFlag {
                        at: *at,
                        rule: FraudRule::OrderOutlier,
                        order_id: order.to_string(),
                        detail: format!("total {total} above 10× the median of {n} previous orders"),
                    });
                }
            }
        }
        for (n, (at, _, order)) in failures.iter().enumerate() {
            let in_day = failures.iter().take(n + 1).filter(|(t, _, _)| at.0 - t.0 < EventTime::DAY).count();
            if in_day >= 3 {
                flags.push(FraudFlag {
                    at: *at,
                    rule: FraudRule::PaymentFailures,
                    order_id: order.to_string(),
                    detail: format!("{in_day} failed payments within 24 hours"),
                });
            }
        }
        flags.sort();
        if !flags.is_empty() {
            put(out, "fraud", &("all", user), &FraudView { user_id: user.to_string(), flags });
        }
    }
}

/// `events` and bursts of orders and payment failures by a few users, at
/// seeded times, so every fraud rule fires in some histories.
pub fn with_fraud_churn(mut events: Vec<Envelope>, seed: u64) -> Vec<Envelope> {
    use shopflow_topics::events::{OrderCreated, PaymentFailed};
    let rng = Rng::new(seed ^ 0xF4A0D);
    let template = events.iter().find_map(|e| match &e.event {
        Event::OrderCreated(o) => Some(o.clone()),
        _ => None,
    });
    let times: Vec<EventTime> = events.iter().map(|e| e.time).collect();
    let Some(template) = template else { return events };
    for burst in 0..rng.range(0, 3) {
        let user = format!("usr-fraud-{seed}-{}", rng.below(2));
        let start = *rng.pick(&times);
        for i in 0..rng.range(3, 9) {
            let order_id = format!("ord-fraud-{seed}-{burst}-{i}");
            let total = if rng.chance(0.2) { rng.range(20_000, 90_000) } else { rng.range(500, 3_000) };
            let order = OrderCreated { order_id: order_id.clone(), user_id: user.clone(), total, ..template.clone() };
            let at = start.plus(rng.range(0, 90) * 60 * EventTime::SECOND);
            events.push(Envelope::new(format!("evt-fraud-{seed}-{burst}-{i}"), "test", at, order));
            if rng.chance(0.5) {
                let failed = PaymentFailed {
                    payment_id: format!("pay-fraud-{seed}-{burst}-{i}"),
                    order_id,
                    reason: "declined".into(),
                };
                let at = start.plus(rng.range(0, 30) * EventTime::HOUR);
                events.push(Envelope::new(format!("evt-fraud-f-{seed}-{burst}-{i}"), "test", at, failed));
            }
        }
    }
    events
}
