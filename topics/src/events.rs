//! One Rust type per event of `contract/events.md`, its `data` decoded
//! strictly and encoded in the contract's camelCase shape.

use crate::error::DecodeError;
use crate::fields::Obj;
use crate::registry::Topic;
use crate::time::EventTime;
use serde::Serialize;
use std::collections::BTreeMap;

/// Money in minor units (cents) of the event's currency.
pub type Money = i64;

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[doc = concat!("`", $text, "`")] #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The allowed spellings, comma separated.
            pub const ALLOWED: &'static str = concat_with_commas!($($text),+);

            /// The contract's spelling.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses the contract's spelling.
            pub fn parse(text: &str) -> Option<$name> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }

            fn field(o: &Obj, field: &str) -> Result<$name, DecodeError> {
                let text = o.one_of(field, Self::ALLOWED)?;
                Ok($name::parse(text).expect("one_of checked the spelling"))
            }
        }

        impl $crate::columns::Flat for $name {
            fn columns(name: &str, nullable: bool, out: &mut Vec<$crate::columns::Column>) {
                <String as $crate::columns::Flat>::columns(name, nullable, out);
            }
            fn cells(&self, out: &mut dyn $crate::columns::Cells) {
                out.text(self.as_str());
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

macro_rules! concat_with_commas {
    ($first:literal $(, $rest:literal)*) => { concat!($first $(, ", ", $rest)*) };
}

string_enum! {
    /// A user's role.
    Role { Shopper = "shopper", Vendor = "vendor", Admin = "admin" }
}

string_enum! {
    /// How a payment is made.
    PaymentMethod { Card = "card", Wallet = "wallet", Paypal = "paypal" }
}

string_enum! {
    /// A shipment's in-flight status (Shipment.StatusUpdated).
    TransitStatus { InTransit = "in_transit", OutForDelivery = "out_for_delivery" }
}

string_enum! {
    /// A moderator's decision on a review.
    ModerationAction { Approve = "approve", Reject = "reject" }
}

string_enum! {
    /// A notification channel.
    Channel { Email = "email", Sms = "sms", Push = "push" }
}

string_enum! {
    /// The status of an order (`contract/views.md`, "Order status").
    OrderStatus {
        /// Order.Created seen.
        Created = "Created",
        /// A payment completed.
        Paid = "Paid",
        /// The last payment failed.
        PaymentFailed = "PaymentFailed",
        /// Cancelled by the shopper or an admin.
        Cancelled = "Cancelled",
        /// A shipment left a warehouse.
        Shipped = "Shipped",
        /// Delivered to the shopper.
        Delivered = "Delivered",
        /// The shopper asked to return it.
        ReturnRequested = "ReturnRequested",
        /// Money went back.
        Refunded = "Refunded",
    }
}

/// A postal address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Address {
    /// Street and number.
    pub street: String,
    /// City (delivery partners serve cities).
    pub city: String,
    /// State or region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Postal code.
    pub zipcode: String,
    /// Country.
    pub country: String,
}

impl Address {
    fn decode(o: &Obj) -> Result<Address, DecodeError> {
        Ok(Address {
            street: o.str("street")?,
            city: o.str("city")?,
            state: o.opt_str("state")?,
            zipcode: o.str("zipcode")?,
            country: o.str("country")?,
        })
    }

    fn opt(o: &Obj, name: &str) -> Result<Option<Address>, DecodeError> {
        o.opt_obj(name)?.map(|a| Address::decode(&a)).transpose()
    }
}

/// Declares a `data` struct: its fields with their decoders, and its entity id.
macro_rules! data_struct {
    (
        $(#[$meta:meta])* $name:ident key($o:ident, $s:ident) = $key:expr;
        { $( $(#[$fmeta:meta])* $field:ident : $ty:ty = $decode:expr ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Serialize)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty ),+
        }

        impl $name {
            /// Decodes this event's `data` object.
            pub fn decode($o: &Obj) -> Result<$name, DecodeError> {
                Ok($name { $( $field: $decode ),+ })
            }

            /// Decodes this event's `data`, reporting every bad field rather than the first.
            #[allow(clippy::redundant_closure_call)]
            pub fn decode_all($o: &Obj) -> Result<$name, Vec<DecodeError>> {
                let mut errors = Vec::new();
                $(
                    let $field: Option<$ty> = match (|| -> Result<$ty, DecodeError> { Ok($decode) })() {
                        Ok(value) => Some(value),
                        Err(error) => {
                            errors.push(error);
                            None
                        }
                    };
                )+
                match ($($field,)+) {
                    ($(Some($field),)+) => Ok($name { $( $field ),+ }),
                    _ => Err(errors),
                }
            }

            /// The entity id: the record key and the envelope's `subject`.
            pub fn key(&self) -> &str {
                let $s = self;
                $key
            }
        }

        $crate::columns::record!($name { $( $field: $ty ),+ });
    };
}

// ---------------------------------------------------------------- shop.users

data_struct! {
    /// User.Registered
    UserRegistered key(o, s) = &s.user_id; {
        /// The new user.
        user_id: String = o.id("userId")?,
        /// E-mail address.
        email: String = o.str("email")?,
        /// Display name.
        name: String = o.str("name")?,
        /// shopper, vendor or admin.
        role: Role = Role::field(o, "role")?,
        /// Default shipping address.
        #[serde(skip_serializing_if = "Option::is_none")]
        address: Option<Address> = Address::opt(o, "address")?,
        /// Phone number.
        #[serde(skip_serializing_if = "Option::is_none")]
        phone: Option<String> = o.opt_str("phone")?,
    }
}

data_struct! {
    /// User.ProfileUpdated: present fields replace the old ones.
    UserProfileUpdated key(o, s) = &s.user_id; {
        /// The user.
        user_id: String = o.id("userId")?,
        /// New name.
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<String> = o.opt_str("name")?,
        /// New e-mail.
        #[serde(skip_serializing_if = "Option::is_none")]
        email: Option<String> = o.opt_str("email")?,
        /// New address.
        #[serde(skip_serializing_if = "Option::is_none")]
        address: Option<Address> = Address::opt(o, "address")?,
        /// New phone.
        #[serde(skip_serializing_if = "Option::is_none")]
        phone: Option<String> = o.opt_str("phone")?,
    }
}

data_struct! {
    /// User.PreferencesUpdated: which notification channels the user accepts.
    UserPreferencesUpdated key(o, s) = &s.user_id; {
        /// The user.
        user_id: String = o.id("userId")?,
        /// E-mail notifications.
        email: bool = o.bool("email")?,
        /// SMS notifications.
        sms: bool = o.bool("sms")?,
        /// Push notifications.
        push: bool = o.bool("push")?,
    }
}

data_struct! {
    /// User.Deleted
    UserDeleted key(o, s) = &s.user_id; {
        /// The user.
        user_id: String = o.id("userId")?,
    }
}

// -------------------------------------------------------------- shop.catalog

data_struct! {
    /// Category.Upserted: the latest per categoryId wins.
    CategoryUpserted key(o, s) = &s.category_id; {
        /// The category.
        category_id: String = o.id("categoryId")?,
        /// Its name.
        name: String = o.str("name")?,
        /// Its parent; null for a root (the field itself is required).
        parent_id: Option<String> = o.nullable_id("parentId")?,
    }
}

data_struct! {
    /// Product.Created
    ProductCreated key(o, s) = &s.product_id; {
        /// The product.
        product_id: String = o.id("productId")?,
        /// Its vendor.
        vendor_id: String = o.id("vendorId")?,
        /// Name.
        name: String = o.str("name")?,
        /// Description.
        description: String = o.str("description")?,
        /// Its category.
        category_id: String = o.id("categoryId")?,
        /// Price in minor units.
        price: Money = o.money("price")?,
        /// ISO 4217 currency.
        currency: String = o.currency("currency")?,
        /// Free-form attributes (colour, size, ...).
        attributes: BTreeMap<String, String> = o.string_map("attributes")?,
        /// Image URLs.
        images: Vec<String> = o.strings("images")?,
    }
}

data_struct! {
    /// Product.Updated: present fields replace.
    ProductUpdated key(o, s) = &s.product_id; {
        /// The product.
        product_id: String = o.id("productId")?,
        /// New name.
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<String> = o.opt_str("name")?,
        /// New description.
        #[serde(skip_serializing_if = "Option::is_none")]
        description: Option<String> = o.opt_str("description")?,
        /// New category.
        #[serde(skip_serializing_if = "Option::is_none")]
        category_id: Option<String> = o.opt_id("categoryId")?,
        /// New price.
        #[serde(skip_serializing_if = "Option::is_none")]
        price: Option<Money> = o.opt_money("price")?,
        /// New attributes (the whole map).
        #[serde(skip_serializing_if = "Option::is_none")]
        attributes: Option<BTreeMap<String, String>> = o.opt_string_map("attributes")?,
        /// New images (the whole list).
        #[serde(skip_serializing_if = "Option::is_none")]
        images: Option<Vec<String>> = o.opt_strings("images")?,
    }
}

impl ProductUpdated {
    /// An update of `product_id` that changes nothing yet: set the fields that change.
    pub fn of(product_id: impl Into<String>) -> ProductUpdated {
        ProductUpdated {
            product_id: product_id.into(),
            name: None,
            description: None,
            category_id: None,
            price: None,
            attributes: None,
            images: None,
        }
    }
}

data_struct! {
    /// Product.Deleted: hides the product; its stock figures stay.
    ProductDeleted key(o, s) = &s.product_id; {
        /// The product.
        product_id: String = o.id("productId")?,
    }
}

// ------------------------------------------------------------ shop.inventory

data_struct! {
    /// Inventory.StockReceived
    StockReceived key(o, s) = &s.product_id; {
        /// The product.
        product_id: String = o.id("productId")?,
        /// Where it arrived.
        warehouse_id: String = o.id("warehouseId")?,
        /// Units received (positive).
        quantity: i64 = o.positive("quantity")?,
    }
}

data_struct! {
    /// Inventory.Adjusted: a signed correction (breakage, count, ...).
    InventoryAdjusted key(o, s) = &s.product_id; {
        /// The product.
        product_id: String = o.id("productId")?,
        /// The warehouse.
        warehouse_id: String = o.id("warehouseId")?,
        /// Units added (negative: removed).
        delta: i64 = o.int("delta")?,
        /// Why.
        reason: String = o.str("reason")?,
    }
}

// ---------------------------------------------------------------- shop.carts

data_struct! {
    /// Cart.ItemAdded: adds to the line.
    CartItemAdded key(o, s) = &s.user_id; {
        /// The shopper.
        user_id: String = o.id("userId")?,
        /// The product.
        product_id: String = o.id("productId")?,
        /// Units added (positive).
        quantity: i64 = o.positive("quantity")?,
    }
}

data_struct! {
    /// Cart.ItemUpdated: sets the line; 0 removes it.
    CartItemUpdated key(o, s) = &s.user_id; {
        /// The shopper.
        user_id: String = o.id("userId")?,
        /// The product.
        product_id: String = o.id("productId")?,
        /// The new quantity (0 removes the line).
        quantity: i64 = o.non_negative("quantity")?,
    }
}

data_struct! {
    /// Cart.ItemRemoved
    CartItemRemoved key(o, s) = &s.user_id; {
        /// The shopper.
        user_id: String = o.id("userId")?,
        /// The product.
        product_id: String = o.id("productId")?,
    }
}

data_struct! {
    /// Cart.CheckedOut: empties the cart.
    CartCheckedOut key(o, s) = &s.user_id; {
        /// The shopper.
        user_id: String = o.id("userId")?,
        /// The order the cart became.
        order_id: String = o.id("orderId")?,
    }
}

// --------------------------------------------------------------- shop.orders

/// One line of an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderItem {
    /// The product.
    pub product_id: String,
    /// Its vendor.
    pub vendor_id: String,
    /// Units (positive).
    pub quantity: i64,
    /// Price of one unit in minor units.
    pub unit_price: Money,
}

impl OrderItem {
    fn decode(o: &Obj) -> Result<OrderItem, DecodeError> {
        Ok(OrderItem {
            product_id: o.id("productId")?,
            vendor_id: o.id("vendorId")?,
            quantity: o.positive("quantity")?,
            unit_price: o.money("unitPrice")?,
        })
    }
}

fn order_items(o: &Obj) -> Result<Vec<OrderItem>, DecodeError> {
    let items = o.objects("items")?.iter().map(OrderItem::decode).collect::<Result<Vec<_>, _>>()?;
    if items.is_empty() {
        return Err(DecodeError::Invalid {
            field: o.path_of("items"),
            detail: "an order needs at least one item".to_string(),
        });
    }
    Ok(items)
}

data_struct! {
    /// Order.Created
    OrderCreated key(o, s) = &s.order_id; {
        /// The order.
        order_id: String = o.id("orderId")?,
        /// The shopper.
        user_id: String = o.id("userId")?,
        /// Its lines (at least one).
        items: Vec<OrderItem> = order_items(o)?,
        /// Σ quantity × unitPrice.
        subtotal: Money = o.money("subtotal")?,
        /// Promotion discount.
        discount: Money = o.money("discount")?,
        /// Shipping cost.
        shipping: Money = o.money("shipping")?,
        /// What the shopper pays.
        total: Money = o.money("total")?,
        /// ISO 4217 currency.
        currency: String = o.currency("currency")?,
        /// Promotion code used.
        #[serde(skip_serializing_if = "Option::is_none")]
        promo_code: Option<String> = o.opt_id("promoCode")?,
        /// Where it goes.
        shipping_address: Address = Address::decode(&o.obj("shippingAddress")?)?,
    }
}

data_struct! {
    /// Order.Cancelled
    OrderCancelled key(o, s) = &s.order_id; {
        /// The order.
        order_id: String = o.id("orderId")?,
        /// Why.
        reason: String = o.str("reason")?,
    }
}

data_struct! {
    /// Order.ReturnRequested
    OrderReturnRequested key(o, s) = &s.order_id; {
        /// The order.
        order_id: String = o.id("orderId")?,
        /// Why.
        reason: String = o.str("reason")?,
    }
}

// ------------------------------------------------------------- shop.payments

data_struct! {
    /// Payment.Initiated
    PaymentInitiated key(o, s) = &s.order_id; {
        /// The payment.
        payment_id: String = o.id("paymentId")?,
        /// The order it pays for.
        order_id: String = o.id("orderId")?,
        /// The payer.
        user_id: String = o.id("userId")?,
        /// Amount in minor units.
        amount: Money = o.money("amount")?,
        /// ISO 4217 currency.
        currency: String = o.currency("currency")?,
        /// card, wallet or paypal.
        method: PaymentMethod = PaymentMethod::field(o, "method")?,
    }
}

data_struct! {
    /// Payment.Completed
    PaymentCompleted key(o, s) = &s.order_id; {
        /// The payment.
        payment_id: String = o.id("paymentId")?,
        /// The order.
        order_id: String = o.id("orderId")?,
        /// Amount captured.
        amount: Money = o.money("amount")?,
    }
}

data_struct! {
    /// Payment.Failed
    PaymentFailed key(o, s) = &s.order_id; {
        /// The payment.
        payment_id: String = o.id("paymentId")?,
        /// The order.
        order_id: String = o.id("orderId")?,
        /// Why.
        reason: String = o.str("reason")?,
    }
}

data_struct! {
    /// Payment.Refunded
    PaymentRefunded key(o, s) = &s.order_id; {
        /// The payment.
        payment_id: String = o.id("paymentId")?,
        /// The order.
        order_id: String = o.id("orderId")?,
        /// Amount returned.
        amount: Money = o.money("amount")?,
    }
}

data_struct! {
    /// Wallet.ToppedUp (keyed by userId).
    WalletToppedUp key(o, s) = &s.user_id; {
        /// The wallet's owner.
        user_id: String = o.id("userId")?,
        /// Amount added.
        amount: Money = o.money("amount")?,
        /// ISO 4217 currency.
        currency: String = o.currency("currency")?,
    }
}

// ------------------------------------------------------------ shop.shipments

data_struct! {
    /// Shipment.Created: ships every item of the order from one warehouse.
    ShipmentCreated key(o, s) = &s.order_id; {
        /// The shipment.
        shipment_id: String = o.id("shipmentId")?,
        /// The order.
        order_id: String = o.id("orderId")?,
        /// Where it leaves from.
        warehouse_id: String = o.id("warehouseId")?,
        /// Carrier name.
        carrier: String = o.str("carrier")?,
        /// Carrier's tracking number.
        tracking_number: String = o.str("trackingNumber")?,
    }
}

data_struct! {
    /// Shipment.StatusUpdated: never changes the order status.
    ShipmentStatusUpdated key(o, s) = &s.order_id; {
        /// The shipment.
        shipment_id: String = o.id("shipmentId")?,
        /// The order.
        order_id: String = o.id("orderId")?,
        /// in_transit or out_for_delivery.
        status: TransitStatus = TransitStatus::field(o, "status")?,
        /// Where it is.
        #[serde(skip_serializing_if = "Option::is_none")]
        location: Option<String> = o.opt_str("location")?,
    }
}

data_struct! {
    /// Shipment.Delivered
    ShipmentDelivered key(o, s) = &s.order_id; {
        /// The shipment.
        shipment_id: String = o.id("shipmentId")?,
        /// The order.
        order_id: String = o.id("orderId")?,
    }
}

data_struct! {
    /// DeliveryPartner.Registered (keyed by partnerId).
    DeliveryPartnerRegistered key(o, s) = &s.partner_id; {
        /// The partner.
        partner_id: String = o.id("partnerId")?,
        /// Name.
        name: String = o.str("name")?,
        /// Cities served.
        service_areas: Vec<String> = o.strings("serviceAreas")?,
        /// Parcels a day (positive).
        capacity: i64 = o.positive("capacity")?,
    }
}

data_struct! {
    /// DeliveryPartner.AvailabilityChanged (keyed by partnerId).
    DeliveryPartnerAvailabilityChanged key(o, s) = &s.partner_id; {
        /// The partner.
        partner_id: String = o.id("partnerId")?,
        /// Whether it takes work now.
        available: bool = o.bool("available")?,
    }
}

// -------------------------------------------------------------- shop.reviews

data_struct! {
    /// Review.Posted
    ReviewPosted key(o, s) = &s.product_id; {
        /// The review.
        review_id: String = o.id("reviewId")?,
        /// The product reviewed.
        product_id: String = o.id("productId")?,
        /// The reviewer.
        user_id: String = o.id("userId")?,
        /// 1 to 5 stars.
        rating: i64 = o.int_in("rating", 1, 5, "rating is 1..5")?,
        /// Title.
        title: String = o.str("title")?,
        /// Body.
        body: String = o.str("body")?,
    }
}

data_struct! {
    /// Review.Moderated
    ReviewModerated key(o, s) = &s.product_id; {
        /// The review.
        review_id: String = o.id("reviewId")?,
        /// Its product.
        product_id: String = o.id("productId")?,
        /// approve or reject.
        action: ModerationAction = ModerationAction::field(o, "action")?,
    }
}

// -------------------------------------------------------------- shop.vendors

data_struct! {
    /// Vendor.Applied
    VendorApplied key(o, s) = &s.vendor_id; {
        /// The vendor.
        vendor_id: String = o.id("vendorId")?,
        /// The user who applied.
        user_id: String = o.id("userId")?,
        /// Store name.
        store_name: String = o.str("storeName")?,
    }
}

data_struct! {
    /// Vendor.Approved
    VendorApproved key(o, s) = &s.vendor_id; {
        /// The vendor.
        vendor_id: String = o.id("vendorId")?,
        /// Platform commission in basis points (0..=10000).
        commission_bps: i64 = o.int_in("commissionBps", 0, 10_000, "basis points are 0..10000")?,
    }
}

data_struct! {
    /// Vendor.Suspended
    VendorSuspended key(o, s) = &s.vendor_id; {
        /// The vendor.
        vendor_id: String = o.id("vendorId")?,
        /// Why.
        reason: String = o.str("reason")?,
    }
}

data_struct! {
    /// Payout.Requested
    PayoutRequested key(o, s) = &s.vendor_id; {
        /// The vendor.
        vendor_id: String = o.id("vendorId")?,
        /// The payout.
        payout_id: String = o.id("payoutId")?,
        /// Amount asked for.
        amount: Money = o.money("amount")?,
    }
}

data_struct! {
    /// Payout.Processed
    PayoutProcessed key(o, s) = &s.vendor_id; {
        /// The vendor.
        vendor_id: String = o.id("vendorId")?,
        /// The payout.
        payout_id: String = o.id("payoutId")?,
        /// Amount paid out.
        amount: Money = o.money("amount")?,
    }
}

// ----------------------------------------------------------- shop.clickstream

data_struct! {
    /// Product.Viewed (keyed by userId, or sessionId for anonymous shoppers).
    ProductViewed key(o, s) = s.user_id.as_deref().unwrap_or(&s.session_id); {
        /// The shopper, when signed in.
        #[serde(skip_serializing_if = "Option::is_none")]
        user_id: Option<String> = o.opt_id("userId")?,
        /// The browsing session.
        session_id: String = o.id("sessionId")?,
        /// The product.
        product_id: String = o.id("productId")?,
    }
}

data_struct! {
    /// Search.Performed
    SearchPerformed key(o, s) = s.user_id.as_deref().unwrap_or(&s.session_id); {
        /// The shopper, when signed in.
        #[serde(skip_serializing_if = "Option::is_none")]
        user_id: Option<String> = o.opt_id("userId")?,
        /// The browsing session.
        session_id: String = o.id("sessionId")?,
        /// What was typed.
        query: String = o.str("query")?,
        /// How many products matched.
        result_count: i64 = o.non_negative("resultCount")?,
    }
}

data_struct! {
    /// Search.ResultClicked
    SearchResultClicked key(o, s) = s.user_id.as_deref().unwrap_or(&s.session_id); {
        /// The shopper, when signed in.
        #[serde(skip_serializing_if = "Option::is_none")]
        user_id: Option<String> = o.opt_id("userId")?,
        /// The browsing session.
        session_id: String = o.id("sessionId")?,
        /// The query whose result was clicked.
        query: String = o.str("query")?,
        /// The product clicked.
        product_id: String = o.id("productId")?,
        /// Its position in the results.
        position: i64 = o.non_negative("position")?,
    }
}

// ----------------------------------------------------------- shop.promotions

fn exactly_one_discount(o: &Obj) -> Result<(), DecodeError> {
    let percent = o.optional("percentOff").is_some();
    let amount = o.optional("amountOff").is_some();
    if percent == amount {
        return Err(DecodeError::Invalid {
            field: o.path_of("percentOff"),
            detail: "exactly one of percentOff / amountOff must be given".to_string(),
        });
    }
    Ok(())
}

data_struct! {
    /// Promotion.Created: exactly one of percentOff / amountOff.
    PromotionCreated key(o, s) = &s.code; {
        /// The code shoppers type.
        code: String = { exactly_one_discount(o)?; o.id("code")? },
        /// Percent off (1..=100).
        #[serde(skip_serializing_if = "Option::is_none")]
        percent_off: Option<i64> = o.opt_int_in("percentOff", 1, 100, "percentOff is 1..100")?,
        /// Amount off in minor units.
        #[serde(skip_serializing_if = "Option::is_none")]
        amount_off: Option<Money> = o.opt_money("amountOff")?,
        /// The smallest subtotal it applies to.
        min_subtotal: Money = o.money("minSubtotal")?,
        /// When it starts.
        starts_at: EventTime = o.time("startsAt")?,
        /// When it ends.
        ends_at: EventTime = o.time("endsAt")?,
        /// Restricts it to a category.
        #[serde(skip_serializing_if = "Option::is_none")]
        category_id: Option<String> = o.opt_id("categoryId")?,
    }
}

data_struct! {
    /// Promotion.Ended
    PromotionEnded key(o, s) = &s.code; {
        /// The code.
        code: String = o.id("code")?,
    }
}

// ---------------------------------------------------------- shop.credentials

data_struct! {
    /// User.CredentialsSet: a user's login. Never copied to the audit log,
    /// dead letters or logs.
    UserCredentialsSet key(o, s) = &s.user_id; {
        /// The user.
        user_id: String = o.id("userId")?,
        /// The login name.
        email: String = o.str("email")?,
        /// An argon2id PHC string.
        password_hash: String = o.str("passwordHash")?,
    }
}

data_struct! {
    /// User.MfaSet: the sealed TOTP secret, or null to turn MFA off.
    UserMfaSet key(o, s) = &s.user_id; {
        /// The user.
        user_id: String = o.id("userId")?,
        /// The TOTP secret sealed with the deployment's key; `None` turns MFA off.
        totp_secret_sealed: Option<String> = o.nullable_str("totpSecretSealed")?,
    }
}

data_struct! {
    /// User.Suspended
    UserSuspended key(o, s) = &s.user_id; {
        /// The user.
        user_id: String = o.id("userId")?,
        /// Why.
        reason: String = o.str("reason")?,
    }
}

// ------------------------------------------------------------ derived events

fn opt_status(o: &Obj, name: &str) -> Result<Option<OrderStatus>, DecodeError> {
    match o.optional(name) {
        None => Ok(None),
        Some(_) => OrderStatus::field(o, name).map(Some),
    }
}

data_struct! {
    /// Order.StatusChanged (derived). `previousStatus` is null for the first status.
    OrderStatusChanged key(o, s) = &s.order_id; {
        /// The order.
        order_id: String = o.id("orderId")?,
        /// Its shopper.
        user_id: String = o.id("userId")?,
        /// The status before; null when the order was just created.
        previous_status: Option<OrderStatus> = opt_status(o, "previousStatus")?,
        /// The status now.
        new_status: OrderStatus = OrderStatus::field(o, "newStatus")?,
    }
}

data_struct! {
    /// Product.BackInStock (derived): available rose from ≤ 0 to > 0.
    ProductBackInStock key(o, s) = &s.product_id; {
        /// The product.
        product_id: String = o.id("productId")?,
        /// Units available now.
        available: i64 = o.int("available")?,
    }
}

data_struct! {
    /// Inventory.LowStock (derived): available fell to or below the threshold.
    InventoryLowStock key(o, s) = &s.product_id; {
        /// The product.
        product_id: String = o.id("productId")?,
        /// Units available now.
        available: i64 = o.int("available")?,
        /// The threshold crossed.
        threshold: i64 = o.int("threshold")?,
    }
}

data_struct! {
    /// Inventory.Oversold (derived): available < 0.
    InventoryOversold key(o, s) = &s.product_id; {
        /// The product.
        product_id: String = o.id("productId")?,
        /// Units available now (negative).
        available: i64 = o.int("available")?,
    }
}

data_struct! {
    /// Fraud.Suspected (derived).
    FraudSuspected key(o, s) = &s.user_id; {
        /// The suspect.
        user_id: String = o.id("userId")?,
        /// The order that tripped the rule.
        #[serde(skip_serializing_if = "Option::is_none")]
        order_id: Option<String> = o.opt_id("orderId")?,
        /// Which rule.
        rule: String = o.str("rule")?,
        /// What was seen.
        detail: String = o.str("detail")?,
    }
}

data_struct! {
    /// Notification.Requested (derived).
    NotificationRequested key(o, s) = &s.user_id; {
        /// The notification.
        notification_id: String = o.id("notificationId")?,
        /// The recipient.
        user_id: String = o.id("userId")?,
        /// email, sms or push.
        channel: Channel = Channel::field(o, "channel")?,
        /// Template name.
        template: String = o.str("template")?,
        /// Subject line.
        subject: String = o.str("subject")?,
        /// Body.
        body: String = o.str("body")?,
    }
}

data_struct! {
    /// DeadLetter: a record that could not be decoded, with where it came from
    /// and why. `payload` holds the original bytes when they are UTF-8,
    /// `payloadBase64` otherwise; neither when the letter could not hold it
    /// (its reason then says so: the original stays at its source offset).
    DeadLetter key(o, s) = &s.topic; {
        /// The source topic.
        topic: String = o.str("topic")?,
        /// Its partition.
        partition: i64 = o.non_negative("partition")?,
        /// Its offset.
        offset: i64 = o.non_negative("offset")?,
        /// The record key, when it had one (lossy UTF-8).
        #[serde(skip_serializing_if = "Option::is_none")]
        key: Option<String> = o.opt_str("key")?,
        /// Why it was rejected.
        reason: String = o.str("reason")?,
        /// The original value, when it is UTF-8.
        #[serde(skip_serializing_if = "Option::is_none")]
        payload: Option<String> = o.opt_str("payload")?,
        /// The original value in base64, when it is not UTF-8.
        #[serde(skip_serializing_if = "Option::is_none")]
        payload_base64: Option<String> = o.opt_str("payloadBase64")?,
    }
}

impl DeadLetter {
    /// A dead letter for `value` read at (`topic`, `partition`, `offset`).
    pub fn new(
        topic: &str,
        partition: i32,
        offset: i64,
        key: Option<&[u8]>,
        value: &[u8],
        reason: String,
    ) -> DeadLetter {
        let (payload, payload_base64) = match std::str::from_utf8(value) {
            Ok(text) => (Some(text.to_string()), None),
            Err(_) => (None, Some(crate::base64::encode(value))),
        };
        DeadLetter {
            topic: topic.to_string(),
            partition: i64::from(partition),
            offset,
            key: key.map(|k| String::from_utf8_lossy(k).into_owned()),
            reason,
            payload,
            payload_base64,
        }
    }
}

// ------------------------------------------------------------- the Event enum

macro_rules! events {
    ($( $variant:ident($ty:ident) = $name:literal on $topic:ident ),+ $(,)?) => {
        /// Any event of the contract, its `data` typed.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum Event {
            $(
                #[doc = concat!("`", $name, "` on `", stringify!($topic), "`")]
                $variant($ty)
            ),+
        }

        impl Event {
            /// Every `type` of the contract.
            pub const TYPE_NAMES: &'static [&'static str] = &[$($name),+];

            /// The CloudEvents `type`.
            pub fn type_name(&self) -> &'static str {
                match self { $(Event::$variant(_) => $name),+ }
            }

            /// The topic this event goes on.
            pub fn topic(&self) -> Topic {
                match self { $(Event::$variant(_) => Topic::$topic),+ }
            }

            /// The topic a `type` belongs on.
            pub fn topic_of_type(type_name: &str) -> Option<Topic> {
                match type_name { $($name => Some(Topic::$topic),)+ _ => None }
            }

            /// The entity id: record key and `subject`.
            pub fn key(&self) -> &str {
                match self { $(Event::$variant(d) => d.key()),+ }
            }

            /// Decodes `data` for the given `type`.
            pub fn decode_data(type_name: &str, data: &Obj) -> Result<Event, DecodeError> {
                match type_name {
                    $($name => Ok(Event::$variant($ty::decode(data)?)),)+
                    other => Err(DecodeError::UnknownType(other.chars().take(80).collect())),
                }
            }

            /// Decodes `data` for the given `type`, reporting every bad field rather than the first.
            pub fn decode_data_all(type_name: &str, data: &Obj) -> Result<Event, Vec<DecodeError>> {
                match type_name {
                    $($name => Ok(Event::$variant($ty::decode_all(data)?)),)+
                    other => Err(vec![DecodeError::UnknownType(other.chars().take(80).collect())]),
                }
            }

            /// `data` as JSON.
            pub fn data_json(&self) -> serde_json::Value {
                match self {
                    $(Event::$variant(d) => serde_json::to_value(d).expect("event data serialises")),+
                }
            }

            /// `data` as JSON text, written straight from the typed event (its
            /// fields in the contract's order), without a [`serde_json::Value`].
            pub fn data_text(&self) -> String {
                let mut out = Vec::with_capacity(128);
                let mut serializer = serde_json::Serializer::new(&mut out);
                self.serialize_data(&mut serializer).expect("event data serialises");
                String::from_utf8(out).expect("serde_json writes UTF-8")
            }

            /// Appends the columns of `type_name`'s `data` (`None`: no such type).
            pub fn data_columns(type_name: &str, out: &mut Vec<$crate::columns::Column>) -> Option<()> {
                use $crate::columns::Record;
                match type_name {
                    $($name => $ty::record_columns("", false, out),)+
                    _ => return None,
                }
                Some(())
            }

            /// Gives the cells of `data`, in the order of [`Event::data_columns`].
            pub fn data_cells(&self, out: &mut dyn $crate::columns::Cells) {
                use $crate::columns::Record;
                match self { $(Event::$variant(d) => d.record_cells(out)),+ }
            }

            pub(crate) fn serialize_data<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self { $(Event::$variant(d) => d.serialize(s)),+ }
            }
        }

        $(
            impl From<$ty> for Event {
                fn from(d: $ty) -> Event { Event::$variant(d) }
            }

            impl $ty {
                /// The CloudEvents `type` of this event.
                pub const TYPE_NAME: &'static str = $name;
                /// The topic this event goes on.
                pub const TOPIC: Topic = Topic::$topic;
            }
        )+
    };
}

events! {
    UserRegistered(UserRegistered) = "User.Registered" on Users,
    UserProfileUpdated(UserProfileUpdated) = "User.ProfileUpdated" on Users,
    UserPreferencesUpdated(UserPreferencesUpdated) = "User.PreferencesUpdated" on Users,
    UserDeleted(UserDeleted) = "User.Deleted" on Users,
    CategoryUpserted(CategoryUpserted) = "Category.Upserted" on Catalog,
    ProductCreated(ProductCreated) = "Product.Created" on Catalog,
    ProductUpdated(ProductUpdated) = "Product.Updated" on Catalog,
    ProductDeleted(ProductDeleted) = "Product.Deleted" on Catalog,
    StockReceived(StockReceived) = "Inventory.StockReceived" on Inventory,
    InventoryAdjusted(InventoryAdjusted) = "Inventory.Adjusted" on Inventory,
    CartItemAdded(CartItemAdded) = "Cart.ItemAdded" on Carts,
    CartItemUpdated(CartItemUpdated) = "Cart.ItemUpdated" on Carts,
    CartItemRemoved(CartItemRemoved) = "Cart.ItemRemoved" on Carts,
    CartCheckedOut(CartCheckedOut) = "Cart.CheckedOut" on Carts,
    OrderCreated(OrderCreated) = "Order.Created" on Orders,
    OrderCancelled(OrderCancelled) = "Order.Cancelled" on Orders,
    OrderReturnRequested(OrderReturnRequested) = "Order.ReturnRequested" on Orders,
    PaymentInitiated(PaymentInitiated) = "Payment.Initiated" on Payments,
    PaymentCompleted(PaymentCompleted) = "Payment.Completed" on Payments,
    PaymentFailed(PaymentFailed) = "Payment.Failed" on Payments,
    PaymentRefunded(PaymentRefunded) = "Payment.Refunded" on Payments,
    WalletToppedUp(WalletToppedUp) = "Wallet.ToppedUp" on Payments,
    ShipmentCreated(ShipmentCreated) = "Shipment.Created" on Shipments,
    ShipmentStatusUpdated(ShipmentStatusUpdated) = "Shipment.StatusUpdated" on Shipments,
    ShipmentDelivered(ShipmentDelivered) = "Shipment.Delivered" on Shipments,
    DeliveryPartnerRegistered(DeliveryPartnerRegistered) = "DeliveryPartner.Registered" on Shipments,
    DeliveryPartnerAvailabilityChanged(DeliveryPartnerAvailabilityChanged) = "DeliveryPartner.AvailabilityChanged" on Shipments,
    ReviewPosted(ReviewPosted) = "Review.Posted" on Reviews,
    ReviewModerated(ReviewModerated) = "Review.Moderated" on Reviews,
    VendorApplied(VendorApplied) = "Vendor.Applied" on Vendors,
    VendorApproved(VendorApproved) = "Vendor.Approved" on Vendors,
    VendorSuspended(VendorSuspended) = "Vendor.Suspended" on Vendors,
    PayoutRequested(PayoutRequested) = "Payout.Requested" on Vendors,
    PayoutProcessed(PayoutProcessed) = "Payout.Processed" on Vendors,
    ProductViewed(ProductViewed) = "Product.Viewed" on Clickstream,
    SearchPerformed(SearchPerformed) = "Search.Performed" on Clickstream,
    SearchResultClicked(SearchResultClicked) = "Search.ResultClicked" on Clickstream,
    PromotionCreated(PromotionCreated) = "Promotion.Created" on Promotions,
    PromotionEnded(PromotionEnded) = "Promotion.Ended" on Promotions,
    UserCredentialsSet(UserCredentialsSet) = "User.CredentialsSet" on Credentials,
    UserMfaSet(UserMfaSet) = "User.MfaSet" on Credentials,
    UserSuspended(UserSuspended) = "User.Suspended" on Credentials,
    OrderStatusChanged(OrderStatusChanged) = "Order.StatusChanged" on OrderStatus,
    ProductBackInStock(ProductBackInStock) = "Product.BackInStock" on Alerts,
    InventoryLowStock(InventoryLowStock) = "Inventory.LowStock" on Alerts,
    InventoryOversold(InventoryOversold) = "Inventory.Oversold" on Alerts,
    FraudSuspected(FraudSuspected) = "Fraud.Suspected" on Alerts,
    NotificationRequested(NotificationRequested) = "Notification.Requested" on Notifications,
    DeadLetter(DeadLetter) = "DeadLetter" on DeadLetter,
}

impl Event {
    /// Whether `key` is an acceptable record key / subject for this event.
    /// Clickstream events may be keyed by userId or by sessionId.
    pub fn accepts_key(&self, key: &str) -> bool {
        match self {
            Event::ProductViewed(d) => key == d.session_id || d.user_id.as_deref() == Some(key),
            Event::SearchPerformed(d) => key == d.session_id || d.user_id.as_deref() == Some(key),
            Event::SearchResultClicked(d) => key == d.session_id || d.user_id.as_deref() == Some(key),
            _ => key == self.key(),
        }
    }
}
