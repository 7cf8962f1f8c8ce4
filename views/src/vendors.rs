//! Vendors (`views.md`, "Reviews, vendors, payments, promotions, shipping,
//! search"): a vendor's status is its latest Vendor.* event; a suspended
//! vendor's products are hidden from search and listings.

use serde::{Deserialize, Serialize};

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
