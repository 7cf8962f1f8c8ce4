//! Facts: the compact rows the dataflows consume, one or more per distinct
//! event. Decoding stays in `shopflow-topics`; this is the projection of each
//! event onto what the views need, keyed by the entity each view folds over.

use serde::{Deserialize, Serialize};
use shopflow_topics::events::{Address, OrderItem, PaymentMethod, Role, TransitStatus};
use shopflow_topics::{Envelope, Event, EventTime};
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

/// What the dataflows consume.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Fact {
    /// An event of order `0`.
    Order(String, Stamp, OrderStep),
    /// A stock movement: (product, warehouse, signed units).
    Stock(String, String, i64),
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
    /// The time of an event, any event: the views that look at "the newest
    /// event time seen" (trending) follow these.
    Clock(EventTime),
}

/// The facts of one event: its [`Fact::Clock`] and what the views read of it.
pub fn facts_of(envelope: &Envelope) -> Vec<Fact> {
    let mut facts = facts_of_event(envelope);
    facts.push(Fact::Clock(envelope.time));
    facts
}

fn facts_of_event(envelope: &Envelope) -> Vec<Fact> {
    let stamp = || Stamp { time: envelope.time, id: envelope.id.clone() };
    let order = |order_id: &str, step: OrderStep| vec![Fact::Order(order_id.to_string(), stamp(), step)];
    match &envelope.event {
        Event::OrderCreated(e) => order(
            &e.order_id,
            OrderStep::Created {
                user_id: e.user_id.clone(),
                lines: e.items.iter().map(Line::from).collect(),
                total: e.total,
                currency: e.currency.clone(),
            },
        ),
        Event::OrderCancelled(e) => order(&e.order_id, OrderStep::Cancelled),
        Event::OrderReturnRequested(e) => order(&e.order_id, OrderStep::ReturnRequested),
        Event::PaymentInitiated(e) => order(&e.order_id, OrderStep::PaymentInitiated { method: e.method }),
        Event::PaymentCompleted(e) => order(&e.order_id, OrderStep::PaymentCompleted),
        Event::PaymentFailed(e) => order(&e.order_id, OrderStep::PaymentFailed),
        Event::PaymentRefunded(e) => order(&e.order_id, OrderStep::PaymentRefunded { amount: e.amount }),
        Event::ShipmentCreated(e) => {
            order(&e.order_id, OrderStep::ShipmentCreated { warehouse_id: e.warehouse_id.clone() })
        }
        Event::ShipmentStatusUpdated(e) => order(&e.order_id, OrderStep::ShipmentStatusUpdated { status: e.status }),
        Event::ShipmentDelivered(e) => order(&e.order_id, OrderStep::ShipmentDelivered),
        Event::StockReceived(e) => vec![Fact::Stock(e.product_id.clone(), e.warehouse_id.clone(), e.quantity)],
        Event::InventoryAdjusted(e) => vec![Fact::Stock(e.product_id.clone(), e.warehouse_id.clone(), e.delta)],
        Event::ProductCreated(e) => {
            let fields = ProductFields {
                vendor_id: Some(e.vendor_id.clone()),
                name: Some(e.name.clone()),
                description: Some(e.description.clone()),
                category_id: Some(e.category_id.clone()),
                price: Some(e.price),
                currency: Some(e.currency.clone()),
                attributes: Some(e.attributes.clone()),
                images: Some(e.images.clone()),
            };
            vec![Fact::Product(e.product_id.clone(), stamp(), ProductChange::Created(fields))]
        }
        Event::ProductUpdated(e) => {
            let fields = ProductFields {
                vendor_id: None,
                name: e.name.clone(),
                description: e.description.clone(),
                category_id: e.category_id.clone(),
                price: e.price,
                currency: None,
                attributes: e.attributes.clone(),
                images: e.images.clone(),
            };
            vec![Fact::Product(e.product_id.clone(), stamp(), ProductChange::Updated(fields))]
        }
        Event::ProductDeleted(e) => vec![Fact::Product(e.product_id.clone(), stamp(), ProductChange::Deleted)],
        Event::CategoryUpserted(e) => {
            vec![Fact::Category(e.category_id.clone(), stamp(), e.name.clone(), e.parent_id.clone())]
        }
        Event::CartItemAdded(e) => vec![Fact::Cart(
            e.user_id.clone(),
            stamp(),
            CartChange::Added { product_id: e.product_id.clone(), quantity: e.quantity },
        )],
        Event::CartItemUpdated(e) => vec![Fact::Cart(
            e.user_id.clone(),
            stamp(),
            CartChange::Updated { product_id: e.product_id.clone(), quantity: e.quantity },
        )],
        Event::CartItemRemoved(e) => {
            vec![Fact::Cart(e.user_id.clone(), stamp(), CartChange::Removed { product_id: e.product_id.clone() })]
        }
        Event::CartCheckedOut(e) => vec![Fact::Cart(e.user_id.clone(), stamp(), CartChange::CheckedOut)],
        Event::UserRegistered(e) => {
            let fields = ProfileFields {
                email: Some(e.email.clone()),
                name: Some(e.name.clone()),
                role: Some(e.role),
                address: e.address.as_ref().map(PostalAddress::from),
                phone: e.phone.clone(),
            };
            vec![Fact::User(e.user_id.clone(), stamp(), UserChange::Registered(fields))]
        }
        Event::UserProfileUpdated(e) => {
            let fields = ProfileFields {
                email: e.email.clone(),
                name: e.name.clone(),
                role: None,
                address: e.address.as_ref().map(PostalAddress::from),
                phone: e.phone.clone(),
            };
            vec![Fact::User(e.user_id.clone(), stamp(), UserChange::ProfileUpdated(fields))]
        }
        Event::UserPreferencesUpdated(e) => {
            vec![Fact::User(e.user_id.clone(), stamp(), UserChange::PreferencesUpdated(e.email, e.sms, e.push))]
        }
        Event::UserDeleted(e) => vec![Fact::User(e.user_id.clone(), stamp(), UserChange::Deleted)],
        Event::ProductViewed(e) => {
            vec![Fact::View(stamp(), e.user_id.clone(), e.product_id.clone())]
        }
        Event::ReviewPosted(e) => vec![Fact::Review(
            e.product_id.clone(),
            stamp(),
            ReviewChange::Posted {
                review_id: e.review_id.clone(),
                user_id: e.user_id.clone(),
                rating: e.rating,
                title: e.title.clone(),
                body: e.body.clone(),
            },
        )],
        Event::ReviewModerated(e) => vec![Fact::Review(
            e.product_id.clone(),
            stamp(),
            ReviewChange::Moderated {
                review_id: e.review_id.clone(),
                reject: e.action == shopflow_topics::events::ModerationAction::Reject,
            },
        )],
        _ => Vec::new(),
    }
}
