//! Vendors (`views.md`, "Reviews, vendors, payments, promotions, shipping,
//! search"): each vendor's status, from its latest Vendor.* event in (`time`,
//! `id`) order. The catalog hides a suspended vendor's products.

use crate::{fold_each, Coll, Project};
use shopflow_topics::events::{VendorApplied, VendorApproved, VendorSuspended};
use shopflow_views::facts::{Fact, Stamp, VendorChange};
use shopflow_views::vendors::VendorStatus;

impl Project for VendorApplied {
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>) {
        out.push(Fact::Vendor(self.vendor_id.clone(), stamp.clone(), VendorChange::Applied));
    }
}

impl Project for VendorApproved {
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>) {
        out.push(Fact::Vendor(self.vendor_id.clone(), stamp.clone(), VendorChange::Approved));
    }
}

impl Project for VendorSuspended {
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>) {
        out.push(Fact::Vendor(self.vendor_id.clone(), stamp.clone(), VendorChange::Suspended));
    }
}

/// Each vendor's status, by vendorId (vendors with a Vendor.* event).
pub fn status<'s>(facts: Coll<'s, Fact>) -> Coll<'s, (String, VendorStatus)> {
    fold_each(
        facts,
        |fact| match fact {
            Fact::Vendor(id, stamp, change) => Some((id, (stamp, change))),
            _ => None,
        },
        |_, changes| {
            changes.last().map(|((_, change), _)| match change {
                VendorChange::Applied => VendorStatus::Applied,
                VendorChange::Approved => VendorStatus::Approved,
                VendorChange::Suspended => VendorStatus::Suspended,
            })
        },
    )
}
