//! Analytics relations of ClickHouse (`views.md`, "Analytics"): sales per day,
//! category and vendor; the daily funnel; per-product statistics.

use serde::{Deserialize, Serialize};

/// `sales_daily`: purchases by the order's Order.Created day (UTC), category and vendor.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SalesDaily {
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    /// The product's current category ("" when the product is unknown).
    pub category_id: String,
    /// The vendor of the order line.
    pub vendor_id: String,
    /// Distinct orders.
    pub orders: i64,
    /// Σ quantity.
    pub units: i64,
    /// Σ quantity × unitPrice.
    pub revenue: i64,
}

/// `funnel_daily`: distinct users that viewed, added to cart, ordered that day.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunnelDaily {
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    /// Distinct signed-in users with a Product.Viewed.
    pub viewers: i64,
    /// Distinct users with a Cart.ItemAdded.
    pub carters: i64,
    /// Distinct users with an Order.Created.
    pub buyers: i64,
}

/// `search_terms`: per query (normalized), how often it was searched, found
/// nothing, and led to a click.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchTermStats {
    /// The query.
    pub query: String,
    /// Search.Performed events.
    pub searches: i64,
    /// Of those, with `resultCount` 0.
    pub zero_result_searches: i64,
    /// Search.ResultClicked events.
    pub clicks: i64,
}

/// `product_stats`.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductStats {
    /// The product.
    pub product_id: String,
    /// Product.Viewed events.
    pub views: i64,
    /// Cart.ItemAdded events.
    pub carts: i64,
    /// Σ quantity over purchases.
    pub purchased_units: i64,
    /// Σ quantity × unitPrice over purchases.
    pub revenue: i64,
    /// Reviews that count towards the rating.
    pub rating_count: i64,
    /// Σ of their ratings (`ratingMean` = `ratingSum / ratingCount`).
    pub rating_sum: i64,
}

/// `vendor_sales_daily`: purchases by the order's Order.Created day (UTC), vendor and product.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VendorSalesDaily {
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    /// The vendor of the order line.
    pub vendor_id: String,
    /// The product.
    pub product_id: String,
    /// Distinct orders.
    pub orders: i64,
    /// Σ quantity.
    pub units: i64,
    /// Σ quantity × unitPrice.
    pub revenue: i64,
}
