//! Vendors (`views.md`, "Reviews, vendors, payments, promotions, shipping,
//! search"): a vendor's status is its latest Vendor.* event; a suspended
//! vendor's products are hidden from search and listings.
//!
//! Its money, in minor units:
//! - `sales` = Σ quantity × unitPrice of its lines in purchases
//!   ([`crate::orders::OrderView::is_purchase`]);
//! - `earnings` = Σ over its lines of `Delivered` orders of
//!   ⌊quantity × unitPrice × (10000 − commissionBps) / 10000⌋, one rounding
//!   per order line, with the vendor's current `commissionBps` (that of its
//!   latest Vendor.Approved; 0 before any);
//! - `payouts` = Σ Payout.Processed (the first per payoutId counts);
//! - `balance` = `earnings` − `payouts`;
//! - `pendingPayouts` = Σ of payouts requested and not yet processed.

use crate::facts::Line;
use serde::{Deserialize, Serialize};
use shopflow_topics::{EventTime, OrderStatus};

/// Where a vendor stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum VendorStatus {
    /// Vendor.Applied.
    Applied,
    /// Vendor.Approved.
    Approved,
    /// Vendor.Suspended.
    Suspended,
}

/// What a vendor's events say about it.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VendorProfile {
    /// The applicant (from its first Vendor.Applied).
    pub user_id: Option<String>,
    /// The store's name (from its first Vendor.Applied).
    pub store_name: Option<String>,
    /// From its latest Vendor.* event; none without one.
    pub status: Option<VendorStatus>,
    /// From its latest Vendor.Approved; 0 before any.
    pub commission_bps: i64,
    /// Time of its first Vendor.Applied.
    pub applied_at: Option<EventTime>,
}

/// A user's application to sell: what `GET /vendors/application-status` serves.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VendorApplication {
    /// The vendor applied for (the user's latest application).
    pub vendor_id: String,
    /// Where it stands.
    pub status: Option<VendorStatus>,
    /// Platform commission in basis points (0 until approved).
    pub commission_bps: i64,
    /// The store's name.
    pub store_name: Option<String>,
    /// When the user applied.
    pub applied_at: Option<EventTime>,
}

/// A payout's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PayoutStatus {
    /// Payout.Requested, not processed yet.
    Requested,
    /// Payout.Processed.
    Processed,
}

/// One payout of a vendor.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PayoutItem {
    /// The payout.
    pub payout_id: String,
    /// Minor units (the processed amount once processed).
    pub amount: i64,
    /// Requested or processed.
    pub status: PayoutStatus,
    /// Time of its first Payout.Requested.
    pub requested_at: Option<EventTime>,
    /// Time of its first Payout.Processed.
    pub processed_at: Option<EventTime>,
}

/// A vendor: what `GET /vendor/payouts` and `GET /vendors/application-status` serve.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VendorView {
    /// The vendor.
    pub vendor_id: String,
    /// Its events' say.
    #[serde(flatten)]
    pub profile: VendorProfile,
    /// Σ of its lines in purchases.
    pub sales: i64,
    /// Σ of its lines in delivered orders, less commission.
    pub earnings: i64,
    /// Σ of processed payouts.
    pub payouts: i64,
    /// `earnings` − `payouts`.
    pub balance: i64,
    /// Σ of payouts requested, not processed.
    pub pending_payouts: i64,
    /// Its payouts, newest request first.
    pub payout_items: Vec<PayoutItem>,
}

/// A vendor's share of an order: what `GET /vendor/orders` lists.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VendorOrder {
    /// The order.
    pub order_id: String,
    /// Its status.
    pub status: OrderStatus,
    /// Time of its Order.Created.
    pub created_at: EventTime,
    /// The vendor's lines of it.
    pub items: Vec<Line>,
    /// Σ quantity × unitPrice of those lines.
    pub amount: i64,
}

/// `vendor_balances` (ClickHouse), by vendorId.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VendorBalance {
    /// The vendor.
    pub vendor_id: String,
    /// As [`VendorView::sales`].
    pub sales: i64,
    /// As [`VendorView::earnings`].
    pub earnings: i64,
    /// As [`VendorView::payouts`].
    pub payouts: i64,
    /// As [`VendorView::balance`].
    pub balance: i64,
}

impl From<&VendorView> for VendorBalance {
    fn from(v: &VendorView) -> VendorBalance {
        VendorBalance {
            vendor_id: v.vendor_id.clone(),
            sales: v.sales,
            earnings: v.earnings,
            payouts: v.payouts,
            balance: v.balance,
        }
    }
}

/// A line's earnings for its vendor: ⌊amount × (10000 − commissionBps) / 10000⌋.
pub fn earning(amount: i64, commission_bps: i64) -> i64 {
    (i128::from(amount) * i128::from(10_000 - commission_bps)).div_euclid(10_000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earnings_round_down_per_line() {
        assert_eq!(earning(999, 1_000), 899); // 899.1
        assert_eq!(earning(1_000, 250), 975);
        assert_eq!(earning(1, 1), 0);
        assert_eq!(earning(12_345, 0), 12_345);
    }
}
