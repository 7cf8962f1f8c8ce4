//! Vendors (`views.md`, "Reviews, vendors, payments, promotions, shipping,
//! search"; the figures: [`shopflow_views::vendors`]): each vendor's profile
//! and status from its Vendor.* events in (`time`, `id`) order — the catalog
//! hides a suspended vendor's products — its sales, earnings, payouts and
//! balance, its share of every order, each user's application, and
//! `vendor_sales_daily`.

use crate::ops::ReduceHeld;
use crate::{fold_each, Coll, Project};
use serde::{Deserialize, Serialize};
use shopflow_topics::events::{PayoutProcessed, PayoutRequested, VendorApplied, VendorApproved, VendorSuspended};
use shopflow_topics::OrderStatus;
use shopflow_views::analytics::VendorSalesDaily;
use shopflow_views::facts::{Fact, Line, PayoutChange, Stamp, VendorChange};
use shopflow_views::orders::OrderView;
use shopflow_views::vendors::{
    earning, PayoutItem, PayoutStatus, VendorApplication, VendorBalance, VendorOrder, VendorProfile, VendorStatus,
    VendorView,
};
use std::collections::BTreeMap;

impl Project for VendorApplied {
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>) {
        let applied = VendorChange::Applied { user_id: self.user_id.clone(), store_name: self.store_name.clone() };
        out.push(Fact::Vendor(self.vendor_id.clone(), stamp.clone(), applied));
    }
}

impl Project for VendorApproved {
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>) {
        let approved = VendorChange::Approved { commission_bps: self.commission_bps };
        out.push(Fact::Vendor(self.vendor_id.clone(), stamp.clone(), approved));
    }
}

impl Project for VendorSuspended {
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>) {
        out.push(Fact::Vendor(self.vendor_id.clone(), stamp.clone(), VendorChange::Suspended));
    }
}

impl Project for PayoutRequested {
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>) {
        let change = PayoutChange { payout_id: self.payout_id.clone(), amount: self.amount, processed: false };
        out.push(Fact::Payout(self.vendor_id.clone(), stamp.clone(), change));
    }
}

impl Project for PayoutProcessed {
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>) {
        let change = PayoutChange { payout_id: self.payout_id.clone(), amount: self.amount, processed: true };
        out.push(Fact::Payout(self.vendor_id.clone(), stamp.clone(), change));
    }
}

/// Each vendor's profile, by vendorId (vendors with a Vendor.* event).
pub fn profiles<'s>(facts: Coll<'s, Fact>) -> Coll<'s, (String, VendorProfile)> {
    fold_each(
        facts,
        |fact| match fact {
            Fact::Vendor(id, stamp, change) => Some((id, (stamp, change))),
            _ => None,
        },
        |_, changes| Some(fold_profile(changes.iter().map(|(c, _)| (&c.0, &c.1)))),
    )
}

/// Each vendor's status, by vendorId (vendors with a Vendor.* event).
pub fn status<'s>(profiles: Coll<'s, (String, VendorProfile)>) -> Coll<'s, (String, VendorStatus)> {
    profiles.flat_map(|(id, profile)| profile.status.map(|status| (id, status)))
}

/// Folds a vendor's events, sorted by (`time`, `id`).
pub fn fold_profile<'a>(changes: impl IntoIterator<Item = (&'a Stamp, &'a VendorChange)>) -> VendorProfile {
    let mut profile = VendorProfile::default();
    for (stamp, change) in changes {
        match change {
            VendorChange::Applied { user_id, store_name } => {
                if profile.user_id.is_none() {
                    profile.user_id = Some(user_id.clone());
                    profile.store_name = Some(store_name.clone());
                    profile.applied_at = Some(stamp.time);
                }
                profile.status = Some(VendorStatus::Applied);
            }
            VendorChange::Approved { commission_bps } => {
                profile.commission_bps = *commission_bps;
                profile.status = Some(VendorStatus::Approved);
            }
            VendorChange::Suspended => profile.status = Some(VendorStatus::Suspended),
        }
    }
    profile
}

/// What a vendor's figures are made of, gathered under its id.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Part {
    /// Its profile.
    Profile(VendorProfile),
    /// A line of a purchase: quantity × unitPrice, and whether the order is Delivered.
    Line(i64, bool),
    /// A Payout.* event.
    Payout(Stamp, PayoutChange),
}

/// The vendors' views.
pub struct Vendors<'s> {
    /// Vendors by vendorId.
    pub vendors: Coll<'s, (String, VendorView)>,
    /// `vendor_balances` by vendorId.
    pub balances: Coll<'s, (String, VendorBalance)>,
    /// Each user's latest application, by userId.
    pub applications: Coll<'s, (String, VendorApplication)>,
    /// Each vendor's share of each order, by (vendorId, orderId).
    pub orders: Coll<'s, ((String, String), VendorOrder)>,
    /// `vendor_sales_daily` by (day, vendorId, productId).
    pub sales_daily: Coll<'s, ((i64, String, String), VendorSalesDaily)>,
}

/// The vendors' views from their profiles, the payout facts and the orders.
pub fn view<'s>(
    profiles: Coll<'s, (String, VendorProfile)>,
    payout_facts: Coll<'s, Fact>,
    orders: Coll<'s, (String, OrderView)>,
) -> Vendors<'s> {
    let lines = orders.clone().flat_map(|(_, order)| {
        let delivered = order.status == OrderStatus::Delivered;
        let lines = if order.is_purchase() { order.items } else { Vec::new() };
        lines.into_iter().map(move |line| (line.vendor_id, Part::Line(line.quantity * line.unit_price, delivered)))
    });
    let payouts = payout_facts.flat_map(|fact| match fact {
        Fact::Payout(vendor, stamp, change) => Some((vendor, Part::Payout(stamp, change))),
        _ => None,
    });
    let vendors = profiles
        .clone()
        .map(|(id, profile)| (id, Part::Profile(profile)))
        .concat(lines)
        .concat(payouts)
        .reduce_held(|vendor, parts, out| out.push((fold_vendor(vendor, parts), 1)));
    let balances = vendors.clone().map(|(id, view)| (id, VendorBalance::from(&view)));
    let applications = profiles
        .flat_map(|(vendor_id, profile)| {
            let user = profile.user_id.clone()?;
            Some((
                user,
                VendorApplication {
                    vendor_id,
                    status: profile.status,
                    commission_bps: profile.commission_bps,
                    store_name: profile.store_name,
                    applied_at: profile.applied_at,
                },
            ))
        })
        .reduce_held(|_, applications, out| {
            let latest = applications.iter().max_by_key(|(a, _)| (a.applied_at, &a.vendor_id)).expect("non-empty");
            out.push(((*latest.0).clone(), 1));
        });
    let vendor_orders = orders.clone().flat_map(|(order_id, order)| {
        let mut by_vendor: BTreeMap<String, Vec<Line>> = BTreeMap::new();
        for line in order.items {
            by_vendor.entry(line.vendor_id.clone()).or_default().push(line);
        }
        by_vendor.into_iter().map(move |(vendor, items)| {
            let share = VendorOrder {
                order_id: order_id.clone(),
                status: order.status,
                created_at: order.created_at,
                amount: items.iter().map(|l| l.quantity * l.unit_price).sum(),
                items,
            };
            ((vendor, order_id.clone()), share)
        })
    });
    let sales_daily = orders
        .flat_map(|(order_id, order)| {
            let day = order.created_at.day_number();
            let lines = if order.is_purchase() { order.items } else { Vec::new() };
            lines.into_iter().map(move |line| {
                ((day, line.vendor_id, line.product_id), (order_id.clone(), line.quantity, line.unit_price))
            })
        })
        .reduce_held(|(day, vendor, product), lines, out| {
            let mut orders: Vec<&String> = lines.iter().map(|((order, _, _), _)| order).collect();
            orders.dedup();
            let units = lines.iter().map(|((_, q, _), n)| q * *n as i64).sum();
            let revenue = lines.iter().map(|((_, q, p), n)| q * p * *n as i64).sum();
            let row = VendorSalesDaily {
                day: *day,
                vendor_id: vendor.clone(),
                product_id: product.clone(),
                orders: orders.len() as i64,
                units,
                revenue,
            };
            out.push((row, 1));
        });
    Vendors { vendors, balances, applications, orders: vendor_orders, sales_daily }
}

/// A vendor's view from its parts (sorted, with multiplicities).
fn fold_vendor(vendor: &str, parts: &[(&Part, isize)]) -> VendorView {
    let profile = parts
        .iter()
        .find_map(|(part, _)| match part {
            Part::Profile(profile) => Some(profile.clone()),
            _ => None,
        })
        .unwrap_or_default();
    let (mut sales, mut earnings) = (0, 0);
    let mut payouts: BTreeMap<&str, PayoutItem> = BTreeMap::new();
    for (part, n) in parts {
        match part {
            Part::Profile(_) => {}
            Part::Line(amount, delivered) => {
                sales += amount * *n as i64;
                if *delivered {
                    earnings += earning(*amount, profile.commission_bps) * *n as i64;
                }
            }
            // Payout events reach here sorted by (time, id): the first of each kind per payoutId counts.
            Part::Payout(stamp, change) => {
                let item = payouts.entry(change.payout_id.as_str()).or_insert_with(|| PayoutItem {
                    payout_id: change.payout_id.clone(),
                    amount: change.amount,
                    status: PayoutStatus::Requested,
                    requested_at: None,
                    processed_at: None,
                });
                if change.processed && item.processed_at.is_none() {
                    item.processed_at = Some(stamp.time);
                    item.status = PayoutStatus::Processed;
                    item.amount = change.amount;
                } else if !change.processed && item.requested_at.is_none() {
                    item.requested_at = Some(stamp.time);
                }
            }
        }
    }
    let mut payout_items: Vec<PayoutItem> = payouts.into_values().collect();
    let processed: i64 = payout_items.iter().filter(|p| p.status == PayoutStatus::Processed).map(|p| p.amount).sum();
    let pending: i64 = payout_items.iter().filter(|p| p.status == PayoutStatus::Requested).map(|p| p.amount).sum();
    payout_items.sort_by(|a, b| {
        (b.requested_at.or(b.processed_at), &b.payout_id).cmp(&(a.requested_at.or(a.processed_at), &a.payout_id))
    });
    VendorView {
        vendor_id: vendor.to_string(),
        profile,
        sales,
        earnings,
        payouts: processed,
        balance: earnings - processed,
        pending_payouts: pending,
        payout_items,
    }
}
