//! Facts: the compact rows the dataflows consume, one or more per distinct
//! event, keyed by the entity each view folds over. Decoding stays in
//! `shopflow-topics`; each family of `shopflow-dataflows` projects the events
//! it reads onto these. The API shares [`OrderStep`] (order transitions).

use serde::{Deserialize, Serialize};
use shopflow_topics::events::{Address, OrderItem, PaymentMethod, Role, TransitStatus};
use shopflow_topics::EventTime;
use std::collections::BTreeMap;

/// Where an event stands in the order that matters: (`time`, `id`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Stamp {
    /// Event time.
    pub time: EventTime,
    /// Event id, breaking ties.
    pub id: String,
}

/// One line of an order, as the views need it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Line {
    /// The product.
    pub product_id: String,
    /// Its vendor.
    pub vendor_id: String,
    /// Units.
    pub quantity: i64,
    /// Price of one unit.
    pub unit_price: i64,
}

impl From<&OrderItem> for Line {
    fn from(item: &OrderItem) -> Line {
        Line {
            product_id: item.product_id.clone(),
            vendor_id: item.vendor_id.clone(),
            quantity: item.quantity,
            unit_price: item.unit_price,
        }
    }
}

/// An event of an order's life (Order.*, Payment.*, Shipment.* with its orderId).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum OrderStep {
    /// Order.Created.
    Created {
        /// The shopper.
        user_id: String,
        /// Its lines.
        lines: Vec<Line>,
        /// What the shopper pays.
        total: i64,
        /// Its currency.
        currency: String,
        /// The discount priced in.
        discount: i64,
        /// The promotion code used, if any.
        promo_code: Option<String>,
    },
    /// Order.Cancelled.
    Cancelled,
    /// Order.ReturnRequested.
    ReturnRequested,
    /// Payment.Initiated.
    PaymentInitiated {
        /// The payment method.
        method: PaymentMethod,
    },
    /// Payment.Completed.
    PaymentCompleted,
    /// Payment.Failed.
    PaymentFailed,
    /// Payment.Refunded.
    PaymentRefunded {
        /// Amount returned.
        amount: i64,
    },
    /// Shipment.Created.
    ShipmentCreated {
        /// The warehouse it leaves from.
        warehouse_id: String,
    },
    /// Shipment.StatusUpdated.
    ShipmentStatusUpdated {
        /// in_transit or out_for_delivery.
        status: TransitStatus,
    },
    /// Shipment.Delivered.
    ShipmentDelivered,
}

impl OrderStep {
    /// The CloudEvents type this step came from.
    pub fn type_name(&self) -> &'static str {
        match self {
            OrderStep::Created { .. } => "Order.Created",
            OrderStep::Cancelled => "Order.Cancelled",
            OrderStep::ReturnRequested => "Order.ReturnRequested",
            OrderStep::PaymentInitiated { .. } => "Payment.Initiated",
            OrderStep::PaymentCompleted => "Payment.Completed",
            OrderStep::PaymentFailed => "Payment.Failed",
            OrderStep::PaymentRefunded { .. } => "Payment.Refunded",
            OrderStep::ShipmentCreated { .. } => "Shipment.Created",
            OrderStep::ShipmentStatusUpdated { .. } => "Shipment.StatusUpdated",
            OrderStep::ShipmentDelivered => "Shipment.Delivered",
        }
    }
}

/// Product fields an event sets: all of them for Product.Created, the
/// present ones for Product.Updated.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ProductFields {
    /// Its vendor (set only by Product.Created).
    pub vendor_id: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Category.
    pub category_id: Option<String>,
    /// Price in minor units.
    pub price: Option<i64>,
    /// Currency (set only by Product.Created).
    pub currency: Option<String>,
    /// Attributes, the whole map.
    pub attributes: Option<BTreeMap<String, String>>,
    /// Images, the whole list.
    pub images: Option<Vec<String>>,
}

/// A change to a product (Product.*).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ProductChange {
    /// Product.Created: every field.
    Created(ProductFields),
    /// Product.Updated: present fields replace.
    Updated(ProductFields),
    /// Product.Deleted.
    Deleted,
}

/// A change to a cart (Cart.*), keyed by user.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum CartChange {
    /// Cart.ItemAdded: adds to the line.
    Added {
        /// The product.
        product_id: String,
        /// Units added.
        quantity: i64,
    },
    /// Cart.ItemUpdated: sets the line.
    Updated {
        /// The product.
        product_id: String,
        /// The new quantity.
        quantity: i64,
    },
    /// Cart.ItemRemoved.
    Removed {
        /// The product.
        product_id: String,
    },
    /// Cart.CheckedOut: empties the cart.
    CheckedOut,
}

/// A postal address as the user view keeps it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PostalAddress {
    /// Street.
    pub street: String,
    /// City.
    pub city: String,
    /// State.
    pub state: Option<String>,
    /// Postal code.
    pub zipcode: String,
    /// Country.
    pub country: String,
}

impl From<&Address> for PostalAddress {
    fn from(a: &Address) -> PostalAddress {
        PostalAddress {
            street: a.street.clone(),
            city: a.city.clone(),
            state: a.state.clone(),
            zipcode: a.zipcode.clone(),
            country: a.country.clone(),
        }
    }
}

/// Profile fields an event sets (all for User.Registered, the present ones for User.ProfileUpdated).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ProfileFields {
    /// E-mail.
    pub email: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// Role (set only by User.Registered).
    pub role: Option<Role>,
    /// Address.
    pub address: Option<PostalAddress>,
    /// Phone.
    pub phone: Option<String>,
}

/// A change to a user (User.*).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum UserChange {
    /// User.Registered.
    Registered(ProfileFields),
    /// User.ProfileUpdated.
    ProfileUpdated(ProfileFields),
    /// User.PreferencesUpdated: (email, sms, push).
    PreferencesUpdated(bool, bool, bool),
    /// User.Deleted.
    Deleted,
}

/// A change to a user's login (`shop.credentials`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum CredentialChange {
    /// User.CredentialsSet: (email, argon2id PHC string).
    Set(String, String),
    /// User.MfaSet: the sealed TOTP secret, or `None` (MFA off).
    Mfa(Option<String>),
    /// User.Suspended: the reason.
    Suspended(String),
    /// User.Deleted (from `shop.users`).
    Deleted,
}

/// A change to a product's reviews (Review.*), keyed by product.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ReviewChange {
    /// Review.Posted.
    Posted {
        /// The review.
        review_id: String,
        /// The reviewer.
        user_id: String,
        /// 1 to 5 stars.
        rating: i64,
        /// Its title.
        title: String,
        /// Its text.
        body: String,
    },
    /// Review.Moderated.
    Moderated {
        /// The review.
        review_id: String,
        /// Whether the action was `reject`.
        reject: bool,
    },
}

/// A change to a vendor (Vendor.Applied, Vendor.Approved, Vendor.Suspended).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum VendorChange {
    /// Vendor.Applied.
    Applied {
        /// The applicant.
        user_id: String,
        /// The store's name.
        store_name: String,
    },
    /// Vendor.Approved.
    Approved {
        /// Platform commission in basis points.
        commission_bps: i64,
    },
    /// Vendor.Suspended.
    Suspended,
}

/// A Payment.* event, keyed by paymentId.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PaymentChange {
    /// Payment.Initiated.
    Initiated {
        /// The order.
        order_id: String,
        /// The payer.
        user_id: String,
        /// Minor units asked.
        amount: i64,
        /// How.
        method: PaymentMethod,
    },
    /// Payment.Completed.
    Completed {
        /// The order.
        order_id: String,
        /// Minor units paid.
        amount: i64,
    },
    /// Payment.Failed.
    Failed {
        /// The order.
        order_id: String,
    },
    /// Payment.Refunded.
    Refunded {
        /// The order.
        order_id: String,
        /// Minor units returned.
        amount: i64,
    },
}

impl PaymentChange {
    /// The order the event names.
    pub fn order_id(&self) -> &str {
        match self {
            PaymentChange::Initiated { order_id, .. }
            | PaymentChange::Completed { order_id, .. }
            | PaymentChange::Failed { order_id }
            | PaymentChange::Refunded { order_id, .. } => order_id,
        }
    }

    /// The CloudEvents type it came from.
    pub fn type_name(&self) -> &'static str {
        match self {
            PaymentChange::Initiated { .. } => "Payment.Initiated",
            PaymentChange::Completed { .. } => "Payment.Completed",
            PaymentChange::Failed { .. } => "Payment.Failed",
            PaymentChange::Refunded { .. } => "Payment.Refunded",
        }
    }
}

/// A Payout.* event of a vendor.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PayoutChange {
    /// The payout.
    pub payout_id: String,
    /// Minor units.
    pub amount: i64,
    /// Payout.Processed (else Payout.Requested).
    pub processed: bool,
}

/// The terms of a Promotion.Created.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PromotionTerms {
    /// Percent off.
    pub percent_off: Option<i64>,
    /// Minor units off.
    pub amount_off: Option<i64>,
    /// Eligible subtotal needed.
    pub min_subtotal: i64,
    /// Start.
    pub starts_at: EventTime,
    /// End (exclusive).
    pub ends_at: EventTime,
    /// Category limiting the eligible lines.
    pub category_id: Option<String>,
}

/// A Promotion.* event, keyed by code.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PromotionChange {
    /// Promotion.Created.
    Created(PromotionTerms),
    /// Promotion.Ended.
    Ended,
}

/// What the dataflows consume.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Fact {
    /// An event of order `0`.
    Order(String, Stamp, OrderStep),
    /// A stock movement: (product, warehouse, stamp, signed units).
    Stock(String, String, Stamp, i64),
    /// A delivery partner's event: (partnerId, stamp, step).
    Partner(String, Stamp, crate::shipping::PartnerStep),
    /// A shipment event of order `0`.
    Shipment(String, Stamp, crate::shipping::ShipmentStep),
    /// The shipping city of order `0`, from an Order.Created.
    ShipTo(String, Stamp, String),
    /// A change to product `0`.
    Product(String, Stamp, ProductChange),
    /// Category.Upserted: (category, stamp, name, parent).
    Category(String, Stamp, String, Option<String>),
    /// A change to the cart of user `0`.
    Cart(String, Stamp, CartChange),
    /// A change to user `0`.
    User(String, Stamp, UserChange),
    /// Product.Viewed: (stamp, userId if signed in, productId).
    View(Stamp, Option<String>, String),
    /// A change to the reviews of product `0`.
    Review(String, Stamp, ReviewChange),
    /// A change to vendor `0`.
    Vendor(String, Stamp, VendorChange),
    /// Search.Performed: (stamp, query normalized, resultCount).
    Search(Stamp, String, i64),
    /// Search.ResultClicked: the query normalized.
    SearchClick(String),
    /// A Payment.* event of payment `0`.
    Payment(String, Stamp, PaymentChange),
    /// Wallet.ToppedUp: (user, stamp, amount).
    TopUp(String, Stamp, i64),
    /// A Payout.* event of vendor `0`.
    Payout(String, Stamp, PayoutChange),
    /// A Promotion.* event of code `0`.
    Promotion(String, Stamp, PromotionChange),
    /// A `shop.credentials` event of user `0`.
    Credential(String, Stamp, CredentialChange),
    /// The time of an event, any event: the views that look at "the newest
    /// event time seen" (trending) follow these.
    Clock(EventTime),
}
