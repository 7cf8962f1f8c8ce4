//! The published families of objects, and how a view's key and value are
//! rendered into what the stores hold.

use serde::{Deserialize, Serialize};

/// A kind of published object, with its key space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Family {
    /// An order, by orderId.
    Order,
    /// The orderIds of a user, by userId.
    UserOrders,
    /// Inventory, by productId.
    Inventory,
    /// A product, by productId.
    Product,
    /// A category, by categoryId.
    Category,
    /// A cart, by userId.
    Cart,
    /// A user profile, by userId.
    User,
    /// A product's rating, by productId.
    Rating,
    /// A product's reviews, by productId.
    Reviews,
    /// Products bought together with a product, by productId.
    BoughtTogether,
    /// Products viewed together with a product, by productId.
    ViewedTogether,
    /// The products a user purchased, by userId (their recommendations are
    /// made of these and the products' bought-together lists).
    Purchases,
    /// Trending products, under one key (`all`).
    Trending,
    /// The category tree with product counts, under one key (`all`).
    CategoryTree,
    /// A category's listing of live products, by (categoryId or `*`, productId): a hash per category.
    Listing,
    /// A term's posting list, by (term, productId): a hash per term.
    SearchTerm,
    /// The most searched queries with a prefix, by prefix.
    Suggestions,
    /// The most searched queries of the last 24 hours, under one key (`all`).
    TrendingSearches,
    /// `search_terms`, by query.
    SearchTerms,
    /// `sales_daily`, by day|categoryId|vendorId.
    SalesDaily,
    /// `funnel_daily`, by day.
    FunnelDaily,
    /// `product_stats`, by productId.
    ProductStats,
    /// A payment, by paymentId.
    Payment,
    /// A user's wallet, by userId.
    Wallet,
    /// A vendor with its money and payouts, by vendorId.
    Vendor,
    /// A user's vendor application, by userId.
    VendorApplication,
    /// A vendor's share of each order, by (vendorId, orderId): a hash per vendor.
    VendorOrders,
    /// A promotion, by code.
    Promotion,
    /// `vendor_balances`, by vendorId.
    VendorBalances,
    /// `vendor_sales_daily`, by day|vendorId|productId.
    VendorSalesDaily,
    /// `promotion_performance`, by code.
    PromotionPerformance,
    /// Users with fraud flags, by (`all`, userId): one hash.
    Fraud,
    /// An order's delivery partner, by orderId.
    Delivery,
    /// An order's shipment tracking, by orderId.
    Tracking,
    /// Delivery partners, by (`all`, partnerId): one hash.
    DeliveryPartners,
    /// A user's login credentials, by userId.
    Credential,
    /// The credentials a login name signs in with, by e-mail (trimmed, lower case).
    Login,
}

impl Family {
    /// Every family.
    pub const ALL: [Family; 37] = [
        Family::Order,
        Family::UserOrders,
        Family::Inventory,
        Family::Product,
        Family::Category,
        Family::Cart,
        Family::User,
        Family::Rating,
        Family::Reviews,
        Family::BoughtTogether,
        Family::ViewedTogether,
        Family::Purchases,
        Family::Trending,
        Family::CategoryTree,
        Family::Listing,
        Family::SearchTerm,
        Family::Suggestions,
        Family::TrendingSearches,
        Family::SalesDaily,
        Family::FunnelDaily,
        Family::ProductStats,
        Family::SearchTerms,
        Family::Payment,
        Family::Wallet,
        Family::Vendor,
        Family::VendorApplication,
        Family::VendorOrders,
        Family::Promotion,
        Family::VendorBalances,
        Family::VendorSalesDaily,
        Family::PromotionPerformance,
        Family::Fraud,
        Family::Delivery,
        Family::Tracking,
        Family::DeliveryPartners,
        Family::Credential,
        Family::Login,
    ];

    /// Its name in keys and logs.
    pub const fn name(self) -> &'static str {
        match self {
            Family::Order => "order",
            Family::UserOrders => "user-orders",
            Family::Inventory => "inventory",
            Family::Product => "product",
            Family::Category => "category",
            Family::Cart => "cart",
            Family::User => "user",
            Family::Rating => "rating",
            Family::Reviews => "reviews",
            Family::BoughtTogether => "bought-together",
            Family::ViewedTogether => "viewed-together",
            Family::Purchases => "purchases",
            Family::Trending => "trending",
            Family::CategoryTree => "category-tree",
            Family::Listing => "listing",
            Family::SearchTerm => "search-term",
            Family::Suggestions => "suggestions",
            Family::TrendingSearches => "trending-searches",
            Family::SearchTerms => "search-terms",
            Family::SalesDaily => "sales-daily",
            Family::FunnelDaily => "funnel-daily",
            Family::ProductStats => "product-stats",
            Family::Payment => "payment",
            Family::Wallet => "wallet",
            Family::Vendor => "vendor",
            Family::VendorApplication => "vendor-application",
            Family::VendorOrders => "vendor-orders",
            Family::Promotion => "promotion",
            Family::VendorBalances => "vendor-balances",
            Family::VendorSalesDaily => "vendor-sales-daily",
            Family::PromotionPerformance => "promotion-performance",
            Family::Fraud => "fraud",
            Family::Delivery => "delivery",
            Family::Tracking => "tracking",
            Family::DeliveryPartners => "delivery-partners",
            Family::Credential => "credential",
            Family::Login => "login",
        }
    }

    /// Whether the family is published as one hash per list, a field per
    /// member: its keys are (list, member) pairs, rendered as a JSON array, so
    /// a member's change writes one field, however long the list.
    pub fn hashed(self) -> bool {
        matches!(
            self,
            Family::Listing | Family::SearchTerm | Family::VendorOrders | Family::Fraud | Family::DeliveryPartners
        )
    }

    /// The families of the analytics relations, which ClickHouse serves.
    pub const ANALYTICS: [Family; 7] = [
        Family::SalesDaily,
        Family::FunnelDaily,
        Family::ProductStats,
        Family::SearchTerms,
        Family::VendorBalances,
        Family::VendorSalesDaily,
        Family::PromotionPerformance,
    ];

    /// Whether Redis serves it (the [`Family::ANALYTICS`] live in ClickHouse).
    pub fn served_from_redis(self) -> bool {
        !Family::ANALYTICS.contains(&self)
    }
}

/// A view's key and value as stored: the value as JSON; the key bare when it
/// is a plain string (`ord-1`), as JSON when compound (`[19000,"cat-1","ven-1"]`).
pub fn render<K: Serialize, V: Serialize>(key: &K, value: &V) -> (String, String) {
    (render_key(key), to_json(value))
}

/// `value` as JSON in a string of exactly its length: rendered values wait
/// for their epoch and their publication by the million, and a string grown
/// by doubling carries a third more on average.
fn to_json<T: Serialize + ?Sized>(value: &T) -> String {
    with_json(value, str::to_owned)
}

/// `value` as JSON, in one reusable buffer per thread, handed to `take`.
fn with_json<T: Serialize + ?Sized>(value: &T, take: impl FnOnce(&str) -> String) -> String {
    thread_local! {
        static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUFFER.with_borrow_mut(|buffer| {
        buffer.clear();
        serde_json::to_writer(&mut *buffer, value).expect("views serialise");
        take(std::str::from_utf8(buffer).expect("serde_json writes UTF-8"))
    })
}

/// The (list, member) of a [`Family::hashed`] family's rendered key; `None`
/// when the key is not such a pair.
pub fn split_member(key: &str) -> Option<(String, String)> {
    serde_json::from_str(key).ok()
}

/// The hash of `value`'s rendering ([`render`]) without making the string:
/// equal to [`rendered_hash`] of the rendered value. A retraction travels
/// to the publisher as this, for it only has to name which value goes.
pub fn render_hash<V: Serialize>(value: &V) -> u128 {
    let mut hash = ValueHash::default();
    serde_json::to_writer(&mut hash, value).expect("views serialise");
    hash.finish()
}

/// The hash of a rendered value (see [`render_hash`]).
pub fn rendered_hash(rendered: &str) -> u128 {
    let mut hash = ValueHash::default();
    hash.update(rendered.as_bytes());
    hash.finish()
}

/// A 128-bit hash of bytes that come in pieces, eight at a time, whatever
/// the pieces' boundaries: what tells two values of one key apart in a
/// batch. Not stored anywhere, so it may change between versions.
#[derive(Default)]
struct ValueHash {
    lanes: [u64; 2],
    /// Bytes not yet a whole word, and how many.
    tail: [u8; 8],
    tail_len: usize,
    len: u64,
}

impl ValueHash {
    fn word(&mut self, word: u64) {
        self.lanes[0] = (self.lanes[0] ^ word).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29);
        self.lanes[1] = (self.lanes[1] ^ word.rotate_left(32)).wrapping_mul(0xc2b2_ae3d_27d4_eb4f).rotate_left(31);
    }

    fn update(&mut self, mut bytes: &[u8]) {
        self.len += bytes.len() as u64;
        if self.tail_len > 0 {
            let take = (8 - self.tail_len).min(bytes.len());
            self.tail[self.tail_len..self.tail_len + take].copy_from_slice(&bytes[..take]);
            self.tail_len += take;
            bytes = &bytes[take..];
            if self.tail_len < 8 {
                return;
            }
            self.word(u64::from_le_bytes(self.tail));
            self.tail_len = 0;
        }
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            self.word(u64::from_le_bytes(word.try_into().expect("eight bytes")));
        }
        let rest = words.remainder();
        self.tail[..rest.len()].copy_from_slice(rest);
        self.tail_len = rest.len();
    }

    fn finish(mut self) -> u128 {
        let mut last = [0u8; 8];
        last[..self.tail_len].copy_from_slice(&self.tail[..self.tail_len]);
        self.word(u64::from_le_bytes(last));
        self.word(self.len);
        (u128::from(self.lanes[0]) << 64) | u128::from(self.lanes[1])
    }
}

impl std::io::Write for ValueHash {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A view's key as stored (see [`render`]).
pub fn render_key<K: Serialize>(key: &K) -> String {
    // One string either way: the bare key is taken from the buffer, not from a copy of it.
    with_json(key, |key| match key.strip_prefix('"').and_then(|k| k.strip_suffix('"')) {
        Some(bare) if !bare.contains('\\') => bare.to_owned(),
        _ => key.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_keys_are_bare_and_compound_keys_json() {
        assert_eq!(render_key(&"ord-1"), "ord-1");
        assert_eq!(render_key(&(19000, "cat-1", "ven-1")), r#"[19000,"cat-1","ven-1"]"#);
        assert_eq!(render_key(&"a\"b"), r#""a\"b""#);
        assert_eq!(render(&7, &vec!["x"]), ("7".to_string(), r#"["x"]"#.to_string()));
    }

    #[test]
    fn a_values_hash_is_the_hash_of_its_rendering() {
        let values =
            [serde_json::json!({"a": [1, 2, "x\"y"], "b": null}), serde_json::json!("plain"), serde_json::json!(7)];
        for value in &values {
            assert_eq!(render_hash(value), rendered_hash(&render(&"k", value).1));
        }
        assert_ne!(render_hash(&values[0]), render_hash(&values[1]));
    }

    #[test]
    fn a_value_hash_in_pieces_is_the_hash_of_the_whole() {
        let text = "0123456789abcdefghijklmnopqrstuvwxyz";
        let whole = text.as_bytes();
        for cut in [0, 1, 7, 8, 9, 15, 16, 17, 35, 36] {
            for second in [cut, (cut + 3).min(whole.len())] {
                let mut pieces = ValueHash::default();
                pieces.update(&whole[..cut]);
                pieces.update(&whole[cut..second]);
                pieces.update(&whole[second..]);
                assert_eq!(pieces.finish(), rendered_hash(text), "cut at {cut} and {second}");
            }
        }
        // Trailing zero bytes and lengths count.
        assert_ne!(rendered_hash("a"), rendered_hash("a\0"));
        assert_ne!(rendered_hash(""), rendered_hash("\0"));
        assert_ne!(rendered_hash("12345678"), rendered_hash("12345679"));
    }

    #[test]
    fn a_hashed_familys_key_splits_into_list_and_member() {
        let key = render_key(&("lamp", "prd-1"));
        assert_eq!(split_member(&key), Some(("lamp".to_string(), "prd-1".to_string())));
        assert_eq!(split_member("prd-1"), None);
    }

    #[test]
    fn the_analytics_families_are_not_served_from_redis() {
        let served: Vec<Family> = Family::ALL.into_iter().filter(|f| !f.served_from_redis()).collect();
        assert_eq!(served, Family::ANALYTICS);
    }
}
