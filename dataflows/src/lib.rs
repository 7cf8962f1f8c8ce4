//! # shopflow-dataflows: the views, as differential computations
//!
//! Pure and I/O-free. The input is a collection of decoded events, keyed by
//! event id, each with its [`Fact`]s ([`facts_of`]); [`build`] keeps one copy
//! of each id ([`dedup`]) and composes every view of
//! `shared/contract/views.md` that the pipeline serves, as differential
//! collections that change when (and only where) their inputs do. The values
//! are the read model's types (`shopflow-views`), which the API reads back.
//!
//! Every view is a function of the *set* of distinct events, with order taken
//! from (`time`, `id`) inside the data, never from epochs: so any batching,
//! worker count or replay gives the same views.
//!
//! ```
//! use differential_dataflow::input::InputSession;
//! use shopflow_dataflows::{build, facts_of};
//! use shopflow_topics::{Envelope, EventTime, events::StockReceived};
//!
//! let received = timely::execute_directly(|worker| {
//!     let mut events = InputSession::new();
//!     let (probe, captured) = worker.dataflow::<u64, _, _>(|scope| {
//!         let views = build(events.to_collection(scope));
//!         let captured = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
//!         let sink = captured.clone();
//!         let (probe, _) = views.inventory.inspect(move |(row, _, diff)| sink.borrow_mut().push((row.1.on_hand, *diff))).probe();
//!         (probe, captured)
//!     });
//!     let stock = StockReceived { product_id: "prd-1".into(), warehouse_id: "wh-1".into(), quantity: 7 };
//!     let event = Envelope::new("evt-1", "doc", EventTime::from_millis(0), stock);
//!     events.insert((event.id.clone(), facts_of(&event)));
//!     events.insert((event.id.clone(), facts_of(&event))); // a duplicate counts once
//!     events.advance_to(1);
//!     events.flush();
//!     while probe.less_than(events.time()) {
//!         worker.step();
//!     }
//!     let received = captured.borrow().clone();
//!     received
//! });
//! assert_eq!(received, vec![(7, 1)]);
//! ```
//!
//! ## Layout
//! One file per family, each with the facts it projects its events onto (an
//! `impl` of [`Project`] per event type it reads), its folds, and a `view`
//! function over the collections it needs:
//!
//! - `orders` — order status, history, anomalies; Order.StatusChanged; each
//!   user's orders; the purchases other families read.
//! - `inventory` — on hand per warehouse, reserved, available; inventory alerts.
//! - `catalog` — products, the live ones, and the category tree with counts.
//! - `vendors` — each vendor's status, sales, earnings, payouts and balance;
//!   its share of each order; each user's application; `vendor_sales_daily`.
//! - `payments` — each payment's status and refunds; each user's wallet.
//! - `promotions` — promotions and `promotion_performance`.
//! - `fraud` — the fraud rules' flags per user.
//! - `search` — listings and the search index (posting lists); suggestions
//!   per prefix and trending searches.
//! - `carts` — priced cart lines.
//! - `users` — profiles and notification preferences.
//! - `reviews` — reviews with `verifiedPurchase`, and ratings.
//! - `recommend` — bought together, viewed together, each user's purchases, trending.
//! - `cooccur` — the co-occurrence lists of bought and viewed together, kept by
//!   operators of their own (numbered products, pair counts by user, tops by product).
//! - `analytics` — `sales_daily`, `funnel_daily`, `product_stats`.
//! - `ops` — small operators the families share: `reduce_held` (what a `reduce`
//!   computes, each key's values and output held in place, no arrangements),
//!   `count`, `distinct` and `sum` by one map each, windowed sums and tops.
//!
//! This file keeps the input's first step ([`dedup`]), the projection of
//! every event type ([`facts_of`]) and the composition ([`build`], [`Views`]).

#![warn(missing_docs)]

pub mod accounts;
pub mod analytics;
pub mod carts;
pub mod catalog;
pub mod census;
pub mod cooccur;
pub mod fraud;
pub mod inventory;
pub mod notifications;
pub mod ops;
pub mod orders;
pub mod payments;
pub mod promotions;
pub mod recommend;
pub mod reviews;
pub mod search;
pub mod shipping;
pub mod users;
pub mod vendors;

use differential_dataflow::VecCollection;
use ops::{count_distinct, fold_each, sum};
use serde::Serialize;
use shopflow_topics::hash::id_hash;
use shopflow_topics::{Envelope, Event};
use shopflow_views::analytics::{FunnelDaily, ProductStats, SalesDaily, SearchTermStats, VendorSalesDaily};
use shopflow_views::carts::CartView;
use shopflow_views::catalog::{CategoryTree, CategoryView, ProductView};
use shopflow_views::derived::Derived;
use shopflow_views::facts::{Fact, Stamp};
use shopflow_views::fraud::{FraudConfig, FraudView};
use shopflow_views::inventory::{InventoryView, LOW_STOCK_THRESHOLD};
use shopflow_views::orders::OrderView;
use shopflow_views::payments::{PaymentView, WalletView};
use shopflow_views::promotions::{PromotionPerformance, PromotionView};
use shopflow_views::recommend::{Purchases, Together, Trending};
use shopflow_views::reviews::{RatingView, ReviewsView};
use shopflow_views::search::{Entry, Suggestions, TrendingSearches};
use shopflow_views::shipping::{Assignment, PartnerView, TrackingView};
use shopflow_views::users::{CredentialView, UserView};
use shopflow_views::vendors::{VendorApplication, VendorBalance, VendorOrder, VendorView};
use shopflow_views::Family;

/// Logical time: the ingest epoch.
pub type Epoch = u64;

/// A collection of the pipeline's dataflow.
pub type Coll<'s, D> = VecCollection<'s, Epoch, D, isize>;

// ------------------------------------------------------------- projection

/// What one event says to the views: the [`Fact`]s its family projects it
/// onto. Every event type of the contract implements it, in the file of the
/// family that reads it (or below, for the types no view reads), so a new
/// event type is a decision made at compile time.
pub trait Project {
    /// Appends the facts of this event, stamped `stamp`, to `out`.
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>);
}

/// Events no view of this crate reads: they project onto no facts.
macro_rules! read_by_no_view {
    ($($event:ident),+ $(,)?) => {
        $(
            impl Project for shopflow_topics::events::$event {
                fn project(&self, _: &Stamp, _: &mut Vec<Fact>) {}
            }
        )+
    };
}

read_by_no_view!(
    // Derived events and dead letters are outputs of the pipeline, not inputs.
    OrderStatusChanged,
    ProductBackInStock,
    InventoryLowStock,
    InventoryOversold,
    FraudSuspected,
    NotificationRequested,
    DeadLetter,
);

/// Projects an event through the [`Project`] of its type; the `match` lists
/// every variant, so a new one does not compile until it is listed here.
macro_rules! project_every_event {
    ($event:expr, $stamp:expr, $out:expr; $($variant:ident),+ $(,)?) => {
        match $event {
            $(Event::$variant(data) => Project::project(data, $stamp, $out),)+
        }
    };
}

/// The facts of one event: what its family reads of it, and its
/// [`Fact::Clock`] (the views that follow "the newest event time seen" read those).
pub fn facts_of(envelope: &Envelope) -> Vec<Fact> {
    let stamp = Stamp { time: envelope.time, id: envelope.id.clone() };
    let mut facts = Vec::with_capacity(2);
    project_every_event!(&envelope.event, &stamp, &mut facts;
        UserRegistered, UserProfileUpdated, UserPreferencesUpdated, UserDeleted,
        CategoryUpserted, ProductCreated, ProductUpdated, ProductDeleted,
        StockReceived, InventoryAdjusted,
        CartItemAdded, CartItemUpdated, CartItemRemoved, CartCheckedOut,
        OrderCreated, OrderCancelled, OrderReturnRequested,
        PaymentInitiated, PaymentCompleted, PaymentFailed, PaymentRefunded, WalletToppedUp,
        ShipmentCreated, ShipmentStatusUpdated, ShipmentDelivered,
        DeliveryPartnerRegistered, DeliveryPartnerAvailabilityChanged,
        ReviewPosted, ReviewModerated,
        VendorApplied, VendorApproved, VendorSuspended, PayoutRequested, PayoutProcessed,
        ProductViewed, SearchPerformed, SearchResultClicked,
        PromotionCreated, PromotionEnded,
        UserCredentialsSet, UserMfaSet, UserSuspended,
        OrderStatusChanged, ProductBackInStock, InventoryLowStock, InventoryOversold,
        FraudSuspected, NotificationRequested, DeadLetter,
    );
    facts.push(Fact::Clock(envelope.time));
    facts
}

// ------------------------------------------------------------------ dedup

/// Keeps the first copy of each event id. Events are exchanged by id, so
/// every copy of an id meets the same worker, which remembers a 128-bit hash
/// of each id it has let through — 16 bytes per event rather than the facts.
/// Copies of one id are the same event (a producer's retry), so which copy
/// passes does not change any view. Inputs only ever add events.
pub fn dedup<'s>(events: Coll<'s, (String, Vec<Fact>)>) -> Coll<'s, Fact> {
    use differential_dataflow::AsCollection;
    use timely::dataflow::channels::pact::Exchange;
    use timely::dataflow::operators::generic::operator::Operator;

    let route = |update: &((String, Vec<Fact>), Epoch, isize)| id_hash(&update.0 .0) as u64;
    events
        .inner
        .unary(Exchange::new(route), "Dedup", |_, _| {
            let mut seen: std::collections::HashSet<u128> = std::collections::HashSet::new();
            move |input, output| {
                input.for_each_stamp(|capability, containers| {
                    let mut session = output.session(&capability);
                    for container in containers {
                        for ((id, facts), time, diff) in container.drain(..) {
                            if diff > 0 && seen.insert(id_hash(&id)) {
                                for fact in facts {
                                    session.give((fact, time, 1));
                                }
                            }
                        }
                    }
                });
            }
        })
        .as_collection()
}

/// The kinds of [`Fact`], one per variant: what a family says it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// [`Fact::Order`]
    Order,
    /// [`Fact::Stock`]
    Stock,
    /// [`Fact::Product`]
    Product,
    /// [`Fact::Category`]
    Category,
    /// [`Fact::Cart`]
    Cart,
    /// [`Fact::User`]
    User,
    /// [`Fact::View`]
    View,
    /// [`Fact::Review`]
    Review,
    /// [`Fact::Vendor`]
    Vendor,
    /// [`Fact::Search`]
    Search,
    /// [`Fact::SearchClick`]
    SearchClick,
    /// [`Fact::Clock`]
    Clock,
    /// [`Fact::Payment`]
    Payment,
    /// [`Fact::TopUp`]
    TopUp,
    /// [`Fact::Payout`]
    Payout,
    /// [`Fact::Promotion`]
    Promotion,
    /// [`Fact::Partner`]
    Partner,
    /// [`Fact::Shipment`]
    Shipment,
    /// [`Fact::ShipTo`]
    ShipTo,
    /// [`Fact::Credential`]
    Credential,
}

impl Kind {
    /// How many kinds there are.
    pub const COUNT: u64 = 20;

    /// The kind of `fact`.
    pub fn of(fact: &Fact) -> Kind {
        match fact {
            Fact::Order(..) => Kind::Order,
            Fact::Stock(..) => Kind::Stock,
            Fact::Product(..) => Kind::Product,
            Fact::Category(..) => Kind::Category,
            Fact::Cart(..) => Kind::Cart,
            Fact::User(..) => Kind::User,
            Fact::View(..) => Kind::View,
            Fact::Review(..) => Kind::Review,
            Fact::Vendor(..) => Kind::Vendor,
            Fact::Search(..) => Kind::Search,
            Fact::SearchClick(..) => Kind::SearchClick,
            Fact::Clock(..) => Kind::Clock,
            Fact::Payment(..) => Kind::Payment,
            Fact::TopUp(..) => Kind::TopUp,
            Fact::Payout(..) => Kind::Payout,
            Fact::Promotion(..) => Kind::Promotion,
            Fact::Partner(..) => Kind::Partner,
            Fact::Shipment(..) => Kind::Shipment,
            Fact::ShipTo(..) => Kind::ShipTo,
            Fact::Credential(..) => Kind::Credential,
        }
    }
}

/// The facts split by [`Kind`], each kind a stream of its own, so that a
/// family receives only the kinds it reads. Every reader of a timely stream
/// gets its own copy of each record: a dozen families each reading the one
/// stream of all facts would copy every fact a dozen times (their strings
/// included) only to drop most copies in their first `flat_map`. Split, a
/// fact is moved once to its kind's stream and copied only for a second
/// family that reads that kind.
pub struct Facts<'s> {
    kinds: Vec<Coll<'s, Fact>>,
}

impl<'s> Facts<'s> {
    /// Splits `facts` by kind.
    pub fn split(facts: Coll<'s, Fact>) -> Facts<'s> {
        use differential_dataflow::AsCollection;
        use timely::container::CapacityContainerBuilder;
        use timely::dataflow::operators::core::Partition;

        let kinds = facts
            .inner
            .partition::<CapacityContainerBuilder<Vec<(Fact, Epoch, isize)>>, _, _>(Kind::COUNT, |update| {
                (Kind::of(&update.0) as u64, update)
            })
            .into_iter()
            .map(|stream| stream.as_collection())
            .collect();
        Facts { kinds }
    }

    /// The facts of `kinds`, in one collection.
    pub fn of(&self, kinds: &[Kind]) -> Coll<'s, Fact> {
        kinds
            .iter()
            .map(|kind| self.kinds[*kind as usize].clone())
            .reduce(|a, b| a.concat(b))
            .expect("a family reads at least one kind of fact")
    }
}

// ------------------------------------------------------------ composition

/// Every view the pipeline publishes, each keyed by its id, and the events
/// they imply.
pub struct Views<'s> {
    /// Orders by orderId.
    pub orders: Coll<'s, (String, OrderView)>,
    /// Each user's orderIds, by userId.
    pub user_orders: Coll<'s, (String, Vec<String>)>,
    /// Inventory by productId.
    pub inventory: Coll<'s, (String, InventoryView)>,
    /// Products by productId (categories filled in).
    pub products: Coll<'s, (String, ProductView)>,
    /// Categories by categoryId.
    pub categories: Coll<'s, (String, CategoryView)>,
    /// The category tree with live product counts, under one key.
    pub category_tree: Coll<'s, (String, CategoryTree)>,
    /// Listings of live products by (categoryId or `*`, productId).
    pub listings: Coll<'s, ((String, String), Entry)>,
    /// Search posting lists by (term, productId).
    pub search_terms: Coll<'s, ((String, String), Entry)>,
    /// The most searched queries per prefix.
    pub suggestions: Coll<'s, (String, Suggestions)>,
    /// The most searched queries of the last 24 hours, under one key.
    pub trending_searches: Coll<'s, (String, TrendingSearches)>,
    /// `search_terms` by query.
    pub search_term_stats: Coll<'s, (String, SearchTermStats)>,
    /// Carts by userId (non-empty ones).
    pub carts: Coll<'s, (String, CartView)>,
    /// Users by userId.
    pub users: Coll<'s, (String, UserView)>,
    /// Ratings by productId (products with a counted review).
    pub ratings: Coll<'s, (String, RatingView)>,
    /// Reviews by productId (products with a counted review).
    pub reviews: Coll<'s, (String, ReviewsView)>,
    /// Bought together, by productId.
    pub bought_together: Coll<'s, (String, Together)>,
    /// Viewed together, by productId.
    pub viewed_together: Coll<'s, (String, Together)>,
    /// What each user purchased, by userId.
    pub purchases: Coll<'s, (String, Purchases)>,
    /// Trending, under [`shopflow_views::recommend::TRENDING_KEY`].
    pub trending: Coll<'s, (String, Trending)>,
    /// `sales_daily` by (day, categoryId, vendorId).
    pub sales_daily: Coll<'s, ((i64, String, String), SalesDaily)>,
    /// `funnel_daily` by day.
    pub funnel_daily: Coll<'s, (i64, FunnelDaily)>,
    /// `product_stats` by productId.
    pub product_stats: Coll<'s, (String, ProductStats)>,
    /// Payments by paymentId.
    pub payments: Coll<'s, (String, PaymentView)>,
    /// Wallets by userId.
    pub wallets: Coll<'s, (String, WalletView)>,
    /// Vendors by vendorId.
    pub vendors: Coll<'s, (String, VendorView)>,
    /// Each user's latest vendor application, by userId.
    pub vendor_applications: Coll<'s, (String, VendorApplication)>,
    /// Each vendor's share of each order, by (vendorId, orderId).
    pub vendor_orders: Coll<'s, ((String, String), VendorOrder)>,
    /// Promotions by code.
    pub promotions: Coll<'s, (String, PromotionView)>,
    /// `vendor_balances` by vendorId.
    pub vendor_balances: Coll<'s, (String, VendorBalance)>,
    /// `vendor_sales_daily` by (day, vendorId, productId).
    pub vendor_sales_daily: Coll<'s, ((i64, String, String), VendorSalesDaily)>,
    /// `promotion_performance` by code.
    pub promotion_performance: Coll<'s, (String, PromotionPerformance)>,
    /// Users with fraud flags, by (`all`, userId).
    pub fraud: Coll<'s, ((String, String), FraudView)>,
    /// Each order's delivery partner, by orderId (orders that had one).
    pub deliveries: Coll<'s, (String, Assignment)>,
    /// Each shipped order's tracking, by orderId.
    pub tracking: Coll<'s, (String, TrackingView)>,
    /// Delivery partners with their open assignments, by (`all`, partnerId).
    pub delivery_partners: Coll<'s, ((String, String), PartnerView)>,
    /// Login credentials by userId.
    pub credentials: Coll<'s, (String, CredentialView)>,
    /// Login credentials of live users by login name.
    pub logins: Coll<'s, (String, CredentialView)>,
    /// Every transition of the current history that a derived event
    /// describes (Order.StatusChanged, inventory alerts, Fraud.Suspected,
    /// Notification.Requested):
    /// one row each, withdrawn when a later-read event takes it back. The
    /// pipeline emits a row once it is settled ([`shopflow_views::settle`]).
    pub derived: Coll<'s, Derived>,
}

/// What [`Views::for_each`] hands every published view to, with its [`Family`].
pub trait Visitor<'s> {
    /// Takes one view.
    fn visit<K, V>(&mut self, family: Family, view: Coll<'s, (K, V)>)
    where
        K: differential_dataflow::ExchangeData + Serialize,
        V: differential_dataflow::ExchangeData + Serialize;
}

impl<'s> Views<'s> {
    /// Hands every published view to `visitor`: the one list of them.
    pub fn for_each(&self, visitor: &mut impl Visitor<'s>) {
        visitor.visit(Family::Order, self.orders.clone());
        visitor.visit(Family::UserOrders, self.user_orders.clone());
        visitor.visit(Family::Inventory, self.inventory.clone());
        visitor.visit(Family::Product, self.products.clone());
        visitor.visit(Family::Category, self.categories.clone());
        visitor.visit(Family::Cart, self.carts.clone());
        visitor.visit(Family::User, self.users.clone());
        visitor.visit(Family::Rating, self.ratings.clone());
        visitor.visit(Family::Reviews, self.reviews.clone());
        visitor.visit(Family::BoughtTogether, self.bought_together.clone());
        visitor.visit(Family::ViewedTogether, self.viewed_together.clone());
        visitor.visit(Family::Purchases, self.purchases.clone());
        visitor.visit(Family::Trending, self.trending.clone());
        visitor.visit(Family::CategoryTree, self.category_tree.clone());
        visitor.visit(Family::Listing, self.listings.clone());
        visitor.visit(Family::SearchTerm, self.search_terms.clone());
        visitor.visit(Family::Suggestions, self.suggestions.clone());
        visitor.visit(Family::TrendingSearches, self.trending_searches.clone());
        visitor.visit(Family::SalesDaily, self.sales_daily.clone());
        visitor.visit(Family::FunnelDaily, self.funnel_daily.clone());
        visitor.visit(Family::ProductStats, self.product_stats.clone());
        visitor.visit(Family::SearchTerms, self.search_term_stats.clone());
        visitor.visit(Family::Payment, self.payments.clone());
        visitor.visit(Family::Wallet, self.wallets.clone());
        visitor.visit(Family::Vendor, self.vendors.clone());
        visitor.visit(Family::VendorApplication, self.vendor_applications.clone());
        visitor.visit(Family::VendorOrders, self.vendor_orders.clone());
        visitor.visit(Family::Promotion, self.promotions.clone());
        visitor.visit(Family::VendorBalances, self.vendor_balances.clone());
        visitor.visit(Family::VendorSalesDaily, self.vendor_sales_daily.clone());
        visitor.visit(Family::PromotionPerformance, self.promotion_performance.clone());
        visitor.visit(Family::Fraud, self.fraud.clone());
        visitor.visit(Family::Delivery, self.deliveries.clone());
        visitor.visit(Family::Tracking, self.tracking.clone());
        visitor.visit(Family::DeliveryPartners, self.delivery_partners.clone());
        visitor.visit(Family::Credential, self.credentials.clone());
        visitor.visit(Family::Login, self.logins.clone());
    }
}

/// Gathers every view as `()`, for [`Views::settled`].
struct Settled<'s>(Vec<Coll<'s, ()>>);

impl<'s> Visitor<'s> for Settled<'s> {
    fn visit<K, V>(&mut self, _: Family, view: Coll<'s, (K, V)>)
    where
        K: differential_dataflow::ExchangeData + Serialize,
        V: differential_dataflow::ExchangeData + Serialize,
    {
        self.0.push(view.map(|_| ()));
    }
}

impl<'s> Views<'s> {
    /// Every view and the derived events, as `()`: a probe on it tells when
    /// an epoch is done everywhere (benchmarks, tests).
    pub fn settled(&self) -> Coll<'s, ()> {
        let mut all = Settled(vec![self.derived.clone().map(|_| ())]);
        self.for_each(&mut all);
        all.0.into_iter().reduce(|a, b| a.concat(b)).expect("views")
    }
}

/// The thresholds of `views.md` that are configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Recommendations: a user contributes pairs from at most this many of
    /// their most recent distinct products (default 200).
    pub pair_cap: usize,
    /// Inventory.LowStock when `available` falls to or below this (default 5).
    pub low_stock_threshold: i64,
    /// The fraud rules' thresholds.
    pub fraud: FraudConfig,
    /// Whether to request notifications (Notification.Requested); off by
    /// default while their cost is over the pipeline's budget (BENCHMARKS.md).
    pub notifications: bool,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            pair_cap: recommend::Config::default().pair_cap,
            low_stock_threshold: LOW_STOCK_THRESHOLD,
            fraud: FraudConfig::default(),
            notifications: false,
        }
    }
}

/// Builds every view from events keyed by id (each with its facts), with
/// the default settings.
pub fn build<'s>(events: Coll<'s, (String, Vec<Fact>)>) -> Views<'s> {
    build_with(events, Settings::default())
}

/// Builds every view from events keyed by id (each with its facts).
pub fn build_with<'s>(events: Coll<'s, (String, Vec<Fact>)>, settings: Settings) -> Views<'s> {
    let scope = events.scope();
    let mark = |family: &'static str| census::mark(family, scope.worker().peek_identifier());
    let config = recommend::Config { pair_cap: settings.pair_cap };
    mark("facts");
    let facts = Facts::split(dedup(events));
    mark("orders");
    let orders = orders::view(facts.of(&[Kind::Order]));
    mark("catalog");
    let catalog = catalog::view(facts.of(&[Kind::Product, Kind::Category]));
    mark("vendor_profiles");
    let vendor_profiles = vendors::profiles(facts.of(&[Kind::Vendor]));
    mark("live");
    let live = catalog::live(&catalog, vendors::status(vendor_profiles.clone()));
    mark("category_tree");
    let category_tree = catalog::tree(catalog.categories.clone(), live.clone());
    mark("search");
    let search = search::view(live, catalog.categories.clone());
    mark("carts");
    let carts = carts::view(facts.of(&[Kind::Cart]), catalog.products.clone());
    mark("users");
    let users = users::view(facts.of(&[Kind::User]));
    mark("accounts");
    let accounts = accounts::view(facts.of(&[Kind::Credential, Kind::User]));
    mark("purchases");
    let purchases = orders::purchases(orders.clone());
    mark("purchased_pairs");
    let purchased_pairs = ops::distinct(purchases.clone().map(|(user, product, _, _)| (user, product)));
    mark("reviews");
    let reviews = reviews::view(facts.of(&[Kind::Review]), purchased_pairs.clone());
    mark("newest");
    let newest = ops::newest_of(facts.of(&[Kind::Clock]).flat_map(|fact| match fact {
        Fact::Clock(time) => Some(time),
        _ => None,
    }));
    mark("recommend");
    let recommend = recommend::view(facts.of(&[Kind::View]), purchases, purchased_pairs, newest.clone(), config);
    mark("searches");
    let searches = search::searches(facts.of(&[Kind::Search]), newest);
    mark("search_term_stats");
    let search_term_stats = analytics::search_terms(facts.of(&[Kind::Search, Kind::SearchClick]));
    mark("inventory");
    let inventory = inventory::view(facts.of(&[Kind::Stock]), orders.clone());
    mark("analytics");
    let analytics = analytics::view(
        facts.of(&[Kind::View, Kind::Cart, Kind::Order]),
        orders.clone(),
        catalog.products.clone(),
        reviews.ratings.clone(),
    );
    mark("payments");
    let payments = payments::view(facts.of(&[Kind::Payment, Kind::TopUp]));
    mark("vendors");
    let vendors = vendors::view(vendor_profiles, facts.of(&[Kind::Payout]), orders.clone());
    mark("promotions");
    let promotions = promotions::view(facts.of(&[Kind::Promotion]), orders.clone());
    mark("fraud");
    let fraud = fraud::view(facts.of(&[Kind::Payment]), orders.clone(), settings.fraud)
        .map(|(user, view)| ((fraud::ALL.to_string(), user), view));
    mark("shipping");
    let shipping = shipping::view(
        facts.of(&[Kind::Partner]),
        facts.of(&[Kind::Shipment]),
        facts.of(&[Kind::ShipTo]),
        orders.clone(),
    );
    mark("moves");
    let moves = inventory::moves(facts.of(&[Kind::Stock]), orders.clone());
    mark("suspected");
    let suspected = fraud.clone().flat_map(|((_, user_id), view)| {
        view.flags.into_iter().map(move |flag| Derived::FraudSuspected { user_id: user_id.clone(), flag })
    });
    mark("inventory_alerts");
    let inventory_alerts = inventory::alerts(moves, settings.low_stock_threshold);
    mark("derived");
    let mut derived = orders::status_changes(orders.clone()).concat(inventory_alerts.clone()).concat(suspected);
    if settings.notifications {
        derived = derived.concat(notifications::view(
            facts.of(&[Kind::User]),
            facts.of(&[Kind::Cart]),
            inventory_alerts,
            orders.clone(),
            payments.payments.clone(),
            shipping.tracking.clone(),
            shipping.assignments.clone(),
        ));
    }
    mark("views");
    Views {
        user_orders: orders::user_orders(orders.clone()),
        orders,
        inventory,
        products: catalog.products,
        categories: catalog.categories,
        category_tree,
        listings: search.listings,
        search_terms: search.terms,
        suggestions: searches.suggestions,
        trending_searches: searches.trending,
        search_term_stats,
        carts,
        users,
        ratings: reviews.ratings,
        reviews: reviews.reviews,
        bought_together: recommend.bought_together,
        viewed_together: recommend.viewed_together,
        purchases: recommend.purchases,
        trending: recommend.trending,
        sales_daily: analytics.sales_daily,
        funnel_daily: analytics.funnel_daily,
        product_stats: analytics.product_stats,
        payments: payments.payments,
        wallets: payments.wallets,
        vendors: vendors.vendors,
        vendor_applications: vendors.applications,
        vendor_orders: vendors.orders,
        promotions: promotions.promotions,
        vendor_balances: vendors.balances,
        vendor_sales_daily: vendors.sales_daily,
        promotion_performance: promotions.performance,
        fraud,
        deliveries: shipping.assignments,
        tracking: shipping.tracking,
        delivery_partners: shipping.partners,
        credentials: accounts.credentials,
        logins: accounts.logins,
        derived,
    }
}
