//! The workload generator: a seeded, deterministic marketplace.
//!
//! It simulates a shop — categories, vendors, products and stock first, then
//! shopper sessions (views, searches, clicks, cart changes, checkouts) with
//! each order's later life (payment, perhaps a failure and a retry,
//! cancellation, shipment, delivery, return, refund, review) scheduled at
//! future event times, plus the back office (price changes, restocks,
//! adjustments, payouts, suspensions, promotions ending). Product popularity is
//! Zipf-like.
//!
//! Everything comes from one [`Rng`] seeded by `--seed` and from ordered
//! collections only, so the same configuration yields the same records byte
//! for byte. Three knobs make the stream as messy as real ones: re-sent
//! duplicates (same `id`), late arrivals (a record held back so arrival order
//! disagrees with `time`), and malformed records (which must end in the
//! dead-letter topic).

mod rng;

pub use rng::{Rng, Zipf};

use serde::Serialize;
use shopflow_topics::events::*;
use shopflow_topics::{Envelope, EventTime, Topic};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};

/// What to generate.
#[derive(Clone, Debug)]
pub struct GeneratorConfig {
    /// Fixes the whole output.
    pub seed: u64,
    /// Shoppers.
    pub users: usize,
    /// Products in the catalog.
    pub products: usize,
    /// Stop after this many orders (when `events` is not set).
    pub orders: usize,
    /// Stop after exactly this many records, whatever the order count.
    pub events: Option<u64>,
    /// Share of records re-sent later with the same `id`.
    pub duplicate_rate: f64,
    /// Share of records held back so they arrive after later ones.
    pub late_rate: f64,
    /// Share of extra records that are malformed.
    pub malformed_rate: f64,
    /// Event time of the first record.
    pub start: EventTime,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig {
            seed: 1,
            users: 200,
            products: 100,
            orders: 300,
            events: None,
            duplicate_rate: 0.01,
            late_rate: 0.02,
            malformed_rate: 0.002,
            start: EventTime::parse("2026-11-01T00:00:00Z").expect("valid time"),
        }
    }
}

/// What a record is, for the summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum RecordKind {
    /// A valid event, first copy.
    Event,
    /// A re-sent copy of an earlier record.
    Duplicate,
    /// Bytes that are not a valid event.
    Malformed,
}

/// One Kafka record: where it goes, its key and its value bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The topic.
    pub topic: Topic,
    /// The record key (the subject).
    pub key: String,
    /// The record value: CloudEvents JSON (or, for malformed records, not).
    pub value: String,
    /// What it is.
    pub kind: RecordKind,
    /// Whether it was held back to arrive late.
    pub late: bool,
}

#[derive(Serialize)]
struct NdjsonLine<'a> {
    topic: &'a str,
    key: &'a str,
    value: &'a str,
}

impl Record {
    /// One line of `--out` NDJSON: `{"topic", "key", "value"}`, value as a string.
    pub fn to_ndjson(&self) -> String {
        serde_json::to_string(&NdjsonLine { topic: self.topic.name(), key: &self.key, value: &self.value })
            .expect("strings serialise")
    }
}

const WAREHOUSES: [&str; 3] = ["wh-east", "wh-west", "wh-central"];
const CITIES: [&str; 8] =
    ["Springfield", "Riverton", "Lakeside", "Fairview", "Georgetown", "Madison", "Clinton", "Salem"];
const CARRIERS: [&str; 4] = ["UPS", "FedEx", "DHL", "USPS"];
const ADJECTIVES: [&str; 16] = [
    "Classic", "Urban", "Trail", "Cozy", "Smart", "Vintage", "Compact", "Deluxe", "Eco", "Rugged", "Silk", "Nordic",
    "Turbo", "Mini", "Pro", "Wireless",
];
const NOUNS: [&str; 20] = [
    "Runner",
    "Backpack",
    "Lamp",
    "Kettle",
    "Headphones",
    "Jacket",
    "Mug",
    "Blender",
    "Watch",
    "Desk",
    "Chair",
    "Speaker",
    "Scarf",
    "Boots",
    "Camera",
    "Tent",
    "Bottle",
    "Keyboard",
    "Pillow",
    "Skillet",
];
const COLORS: [&str; 6] = ["black", "white", "red", "blue", "green", "grey"];
const ROOT_CATEGORIES: [&str; 4] = ["Apparel", "Home", "Electronics", "Outdoors"];
const SUB_CATEGORIES: [&str; 4] = ["Essentials", "Premium", "Accessories", "Sale"];

struct ProductState {
    id: String,
    vendor: usize,
    name: String,
    price: i64,
    warehouses: Vec<usize>,
    deleted: bool,
}

struct VendorState {
    id: String,
    suspended: bool,
}

struct UserState {
    id: String,
    city: &'static str,
    cart: BTreeMap<usize, i64>,
    wallet: i64,
    deleted: bool,
}

struct PromoState {
    code: String,
    percent_off: i64,
    min_subtotal: i64,
    ended: bool,
}

/// The seeded marketplace simulation; iterate it for records.
pub struct Generator {
    config: GeneratorConfig,
    rng: Rng,
    clock: EventTime,
    product_popularity: Zipf,
    user_activity: Zipf,
    users: Vec<UserState>,
    vendors: Vec<VendorState>,
    products: Vec<ProductState>,
    categories: Vec<(String, String)>,
    partners: Vec<(String, bool)>,
    promos: Vec<PromoState>,
    counters: BTreeMap<&'static str, u64>,
    /// Events whose time has not come yet, by (time, sequence).
    scheduled: BinaryHeap<Reverse<(EventTime, u64, ScheduledEnvelope)>>,
    schedule_seq: u64,
    /// Records ready to go out, in order.
    ready: VecDeque<Record>,
    /// Records held back: released once `emitted` reaches the first number.
    held: Vec<(u64, Record)>,
    /// Re-sent copies waiting for this many more generated records.
    resend: Vec<(u64, Record)>,
    emitted: u64,
    orders_created: usize,
    set_up: bool,
    finished: bool,
}

/// An envelope in the schedule (ordered by the heap's key only).
struct ScheduledEnvelope(Envelope);

impl PartialEq for ScheduledEnvelope {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for ScheduledEnvelope {}
impl PartialOrd for ScheduledEnvelope {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ScheduledEnvelope {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

const SECOND: i64 = EventTime::SECOND;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = EventTime::HOUR;
const DAY: i64 = EventTime::DAY;

impl Generator {
    /// A generator for `config`.
    pub fn new(config: GeneratorConfig) -> Generator {
        let products = config.products.max(1);
        let users = config.users.max(1);
        Generator {
            rng: Rng::new(config.seed),
            clock: config.start,
            product_popularity: Zipf::new(products, 1.05),
            user_activity: Zipf::new(users, 0.6),
            config,
            users: Vec::new(),
            vendors: Vec::new(),
            products: Vec::new(),
            categories: Vec::new(),
            partners: Vec::new(),
            promos: Vec::new(),
            counters: BTreeMap::new(),
            scheduled: BinaryHeap::new(),
            schedule_seq: 0,
            ready: VecDeque::new(),
            held: Vec::new(),
            resend: Vec::new(),
            emitted: 0,
            orders_created: 0,
            set_up: false,
            finished: false,
        }
    }

    fn next_id(&mut self, prefix: &'static str, width: usize) -> String {
        let n = self.counters.entry(prefix).or_insert(0);
        *n += 1;
        format!("{prefix}-{:0width$}", *n)
    }

    fn event_id(&mut self) -> String {
        let (a, b) = (self.rng.next_u64(), self.rng.next_u64());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            ((b >> 48) & 0x3fff) | 0x8000,
            b & 0xffff_ffff_ffff
        )
    }

    fn tick(&mut self, max_millis: i64) {
        let step = self.rng.range(1, max_millis.max(1));
        self.clock = self.clock.plus(step * EventTime::MILLISECOND);
    }

    fn envelope(&mut self, time: EventTime, event: impl Into<Event>) -> Envelope {
        let id = self.event_id();
        Envelope::new(id, "storefront", time, event)
    }

    /// Emits an event now, at the current clock.
    fn now(&mut self, event: impl Into<Event>) {
        self.tick(40);
        let envelope = self.envelope(self.clock, event);
        self.output(envelope);
    }

    /// Schedules an event `delay` nanoseconds after `base`.
    fn later(&mut self, base: EventTime, delay: i64, event: impl Into<Event>) -> EventTime {
        let time = base.plus(delay);
        let envelope = self.envelope(time, event);
        self.schedule_seq += 1;
        self.scheduled.push(Reverse((time, self.schedule_seq, ScheduledEnvelope(envelope))));
        time
    }

    /// Sends an envelope through the knobs (malformed twin, late arrival, duplicate).
    fn output(&mut self, envelope: Envelope) {
        let record = Record {
            topic: envelope.topic(),
            key: envelope.key().to_string(),
            value: String::from_utf8(envelope.to_json()).expect("JSON is UTF-8"),
            kind: RecordKind::Event,
            late: false,
        };
        if self.rng.chance(self.config.malformed_rate) {
            let bad = self.malformed(&envelope);
            self.ready.push_back(bad);
        }
        // Duplicates that waited long enough follow the records generated since.
        for (countdown, duplicate) in std::mem::take(&mut self.resend) {
            if countdown == 0 {
                self.ready.push_back(duplicate);
            } else {
                self.resend.push((countdown - 1, duplicate));
            }
        }
        let late = self.rng.chance(self.config.late_rate);
        let resend = self.rng.chance(self.config.duplicate_rate);
        let duplicate = Record { kind: RecordKind::Duplicate, late: false, ..record.clone() };
        let gap = self.rng.range(1, 30) as u64;
        if late {
            let release = self.emitted + self.ready.len() as u64 + self.rng.range(1, 60) as u64;
            self.held.push((release, Record { late: true, ..record }));
            if resend {
                // Released after the late first copy, which is earlier in `held`.
                self.held.push((release + gap, duplicate));
            }
        } else {
            self.ready.push_back(record);
            if resend {
                self.resend.push((gap, duplicate));
            }
        }
    }

    /// A broken record in the same topic, of one of the kinds a real producer makes.
    fn malformed(&mut self, envelope: &Envelope) -> Record {
        let mut value: serde_json::Value = serde_json::from_slice(&envelope.to_json()).expect("own JSON parses");
        value["id"] = serde_json::Value::String(self.event_id());
        let text = match self.rng.below(6) {
            0 => {
                let full = value.to_string();
                let mut cut = full.len() / 2;
                while !full.is_char_boundary(cut) {
                    cut -= 1;
                }
                full[..cut].to_string()
            }
            1 => {
                // Drop the entity id: required by every event.
                let subject = value["subject"].clone();
                let data = value["data"].as_object_mut().expect("data is an object");
                data.retain(|_, v| *v != subject);
                value.to_string()
            }
            2 => {
                value["type"] = serde_json::Value::String("Order.Teleported".into());
                value.to_string()
            }
            3 => {
                value["time"] = serde_json::Value::String("last tuesday".into());
                value.to_string()
            }
            4 => {
                value.as_object_mut().expect("object").remove("specversion");
                value.to_string()
            }
            _ => {
                // A float where the contract wants an integer (money, where the event has some).
                let data = value["data"].as_object_mut().expect("data is an object");
                let money = ["amount", "price", "total", "subtotal", "minSubtotal"];
                let field = money.iter().find(|f| data.contains_key(**f)).map(|f| f.to_string());
                let field = field.or_else(|| data.keys().next().cloned()).expect("data has a field");
                data.insert(field, serde_json::json!(12.5));
                value.to_string()
            }
        };
        Record {
            topic: envelope.topic(),
            key: envelope.key().to_string(),
            value: text,
            kind: RecordKind::Malformed,
            late: false,
        }
    }

    fn set_up(&mut self) {
        for (r, root) in ROOT_CATEGORIES.iter().enumerate() {
            let root_id = format!("cat-{}", root.to_lowercase());
            self.now(CategoryUpserted { category_id: root_id.clone(), name: root.to_string(), parent_id: None });
            for sub in SUB_CATEGORIES {
                let id = format!("cat-{}-{}", root.to_lowercase(), sub.to_lowercase());
                self.now(CategoryUpserted {
                    category_id: id.clone(),
                    name: format!("{root} {sub}"),
                    parent_id: Some(root_id.clone()),
                });
                self.categories.push((id, ROOT_CATEGORIES[r].to_string()));
            }
        }
        let vendor_count = (self.config.products / 20).clamp(2, 500);
        for _ in 0..vendor_count {
            let user_id = self.next_id("usr", 6);
            let vendor_id = self.next_id("ven", 4);
            let name = format!("{} {} Store", self.rng.pick(&ADJECTIVES), self.rng.pick(&NOUNS));
            self.now(UserRegistered {
                user_id: user_id.clone(),
                email: format!("{user_id}@vendors.example.com"),
                name: name.clone(),
                role: Role::Vendor,
                address: None,
                phone: None,
            });
            self.now(VendorApplied { vendor_id: vendor_id.clone(), user_id, store_name: name });
            let commission_bps = self.rng.range(5, 20) * 100;
            self.now(VendorApproved { vendor_id: vendor_id.clone(), commission_bps });
            self.vendors.push(VendorState { id: vendor_id, suspended: false });
        }
        for _ in 0..self.config.products.max(1) {
            self.create_product();
        }
        for i in 0..6 {
            let partner_id = format!("dp-{:02}", i + 1);
            let areas: Vec<String> = (0..3).map(|_| self.rng.pick(&CITIES).to_string()).collect();
            let capacity = self.rng.range(20, 200);
            self.now(DeliveryPartnerRegistered {
                partner_id: partner_id.clone(),
                name: format!("{} Couriers", self.rng.pick(&ADJECTIVES)),
                service_areas: areas,
                capacity,
            });
            self.partners.push((partner_id, true));
        }
        for (code, percent_off, min_subtotal) in [("WELCOME10", 10, 2_000), ("SAVE20", 20, 10_000), ("FLASH5", 5, 0)] {
            let starts_at = self.config.start;
            self.now(PromotionCreated {
                code: code.to_string(),
                percent_off: Some(percent_off),
                amount_off: None,
                min_subtotal,
                starts_at,
                ends_at: starts_at.plus(60 * DAY),
                category_id: None,
            });
            self.promos.push(PromoState { code: code.to_string(), percent_off, min_subtotal, ended: false });
        }
        self.now(PromotionCreated {
            code: "FIVEOFF".to_string(),
            percent_off: None,
            amount_off: Some(500),
            min_subtotal: 3_000,
            starts_at: self.config.start,
            ends_at: self.config.start.plus(30 * DAY),
            category_id: Some(self.categories[0].0.clone()),
        });
        for _ in 0..self.config.users.max(1) {
            self.register_user();
        }
    }

    fn create_product(&mut self) {
        let product_id = self.next_id("prd", 5);
        let vendor = self.rng.below(self.vendors.len() as u64) as usize;
        let (category, root) = self.rng.pick(&self.categories).clone();
        let name = format!("{} {}", self.rng.pick(&ADJECTIVES), self.rng.pick(&NOUNS));
        // Log-uniform prices from $2 to $500.
        let price = (200.0 * 250f64.powf(self.rng.unit())).round() as i64;
        let mut attributes = BTreeMap::new();
        attributes.insert("color".to_string(), self.rng.pick(&COLORS).to_string());
        attributes.insert("department".to_string(), root.to_lowercase());
        let images = vec![format!("https://img.example.com/{product_id}/1.jpg")];
        self.now(ProductCreated {
            product_id: product_id.clone(),
            vendor_id: self.vendors[vendor].id.clone(),
            name: name.clone(),
            description: format!("{name}: built to last, loved by {} shoppers.", root.to_lowercase()),
            category_id: category.clone(),
            price,
            currency: "USD".to_string(),
            attributes,
            images,
        });
        let mut warehouses = Vec::new();
        for (w, warehouse) in WAREHOUSES.iter().enumerate() {
            if warehouses.is_empty() || self.rng.chance(0.4) {
                warehouses.push(w);
                let quantity = self.rng.range(5, 300);
                self.now(StockReceived {
                    product_id: product_id.clone(),
                    warehouse_id: warehouse.to_string(),
                    quantity,
                });
            }
        }
        self.products.push(ProductState { id: product_id, vendor, name, price, warehouses, deleted: false });
    }

    fn register_user(&mut self) {
        let user_id = self.next_id("usr", 6);
        let city = *self.rng.pick(&CITIES);
        let address = Address {
            street: format!("{} Main St", self.rng.range(1, 999)),
            city: city.to_string(),
            state: None,
            zipcode: format!("{:05}", self.rng.range(10_000, 99_999)),
            country: "US".to_string(),
        };
        self.now(UserRegistered {
            user_id: user_id.clone(),
            email: format!("{user_id}@example.com"),
            name: format!("Shopper {}", &user_id[4..]),
            role: Role::Shopper,
            address: Some(address),
            phone: self.rng.chance(0.5).then(|| format!("+1-555-{:04}", self.rng.range(0, 9999))),
        });
        if self.rng.chance(0.5) {
            let (email, sms, push) = (self.rng.chance(0.8), self.rng.chance(0.3), self.rng.chance(0.6));
            self.now(UserPreferencesUpdated { user_id: user_id.clone(), email, sms, push });
        }
        self.users.push(UserState { id: user_id, city, cart: BTreeMap::new(), wallet: 0, deleted: false });
    }

    /// A product a shopper can buy now, popular ones more often.
    fn sellable_product(&mut self) -> Option<usize> {
        for _ in 0..4 {
            let p = self.product_popularity.sample(&self.rng).min(self.products.len() - 1);
            let product = &self.products[p];
            if !product.deleted && !self.vendors[product.vendor].suspended {
                return Some(p);
            }
        }
        None
    }

    fn session(&mut self) {
        let u = self.user_activity.sample(&self.rng).min(self.users.len() - 1);
        if self.users[u].deleted {
            return;
        }
        let user_id = self.users[u].id.clone();
        let session_id = self.next_id("ses", 7);
        let signed_in = self.rng.chance(0.85);
        let who = signed_in.then(|| user_id.clone());
        let views = 1 + self.rng.exponential(2.5) as usize;
        for _ in 0..views.min(12) {
            if let Some(p) = self.sellable_product() {
                let product_id = self.products[p].id.clone();
                self.now(ProductViewed { user_id: who.clone(), session_id: session_id.clone(), product_id });
            }
        }
        if self.rng.chance(0.4) {
            let zero = self.rng.chance(0.06);
            let (query, result_count, clicked) = if zero {
                (
                    format!("{} {}", self.rng.pick(&["hoverboard", "unobtainium", "jetpack"]), self.rng.range(1, 9)),
                    0,
                    None,
                )
            } else {
                let p = self.sellable_product();
                let word = match p {
                    Some(p) => self.products[p].name.split(' ').nth(1).unwrap_or("gift").to_lowercase(),
                    None => "gift".to_string(),
                };
                (word, self.rng.range(1, 40), p)
            };
            self.now(SearchPerformed {
                user_id: who.clone(),
                session_id: session_id.clone(),
                query: query.clone(),
                result_count,
            });
            if let Some(p) = clicked.filter(|_| self.rng.chance(0.5)) {
                let product_id = self.products[p].id.clone();
                let position = self.rng.range(1, result_count.min(10));
                self.now(SearchResultClicked {
                    user_id: who.clone(),
                    session_id: session_id.clone(),
                    query,
                    product_id,
                    position,
                });
            }
        }
        if !signed_in {
            return;
        }
        if self.rng.chance(0.35) {
            for _ in 0..self.rng.range(1, 2) {
                if let Some(p) = self.sellable_product() {
                    let quantity = self.rng.range(1, 3);
                    *self.users[u].cart.entry(p).or_insert(0) += quantity;
                    let product_id = self.products[p].id.clone();
                    self.now(CartItemAdded { user_id: user_id.clone(), product_id, quantity });
                }
            }
        }
        if !self.users[u].cart.is_empty() && self.rng.chance(0.1) {
            let lines: Vec<usize> = self.users[u].cart.keys().copied().collect();
            let p = *self.rng.pick(&lines);
            let quantity = self.rng.range(0, 4);
            if quantity == 0 {
                self.users[u].cart.remove(&p);
            } else {
                self.users[u].cart.insert(p, quantity);
            }
            let product_id = self.products[p].id.clone();
            self.now(CartItemUpdated { user_id: user_id.clone(), product_id, quantity });
        }
        if !self.users[u].cart.is_empty() && self.rng.chance(0.05) {
            let lines: Vec<usize> = self.users[u].cart.keys().copied().collect();
            let p = *self.rng.pick(&lines);
            self.users[u].cart.remove(&p);
            let product_id = self.products[p].id.clone();
            self.now(CartItemRemoved { user_id: user_id.clone(), product_id });
        }
        if self.rng.chance(0.03) {
            let amount = self.rng.range(10, 200) * 100;
            self.users[u].wallet += amount;
            self.now(WalletToppedUp { user_id: user_id.clone(), amount, currency: "USD".to_string() });
        }
        if !self.users[u].cart.is_empty() && self.rng.chance(0.45) {
            self.checkout(u);
        }
    }

    fn checkout(&mut self, u: usize) {
        let cart = std::mem::take(&mut self.users[u].cart);
        let items: Vec<OrderItem> = cart
            .iter()
            .filter(|(p, _)| !self.products[**p].deleted && !self.vendors[self.products[**p].vendor].suspended)
            .map(|(p, quantity)| OrderItem {
                product_id: self.products[*p].id.clone(),
                vendor_id: self.vendors[self.products[*p].vendor].id.clone(),
                quantity: *quantity,
                unit_price: self.products[*p].price,
            })
            .collect();
        let user_id = self.users[u].id.clone();
        let order_id = self.next_id("ord", 7);
        if items.is_empty() {
            return;
        }
        let subtotal: i64 = items.iter().map(|i| i.quantity * i.unit_price).sum();
        let mut promo_code = None;
        let mut discount = 0;
        if self.rng.chance(0.15) {
            let candidates: Vec<usize> = (0..self.promos.len())
                .filter(|&i| !self.promos[i].ended && subtotal >= self.promos[i].min_subtotal)
                .collect();
            if !candidates.is_empty() {
                let promo = &self.promos[*self.rng.pick(&candidates)];
                discount = subtotal * promo.percent_off / 100;
                promo_code = Some(promo.code.clone());
            }
        }
        let shipping = if subtotal >= 5_000 { 0 } else { 499 };
        let total = subtotal - discount + shipping;
        let city = self.users[u].city;
        let first_product = self.products.iter().position(|p| p.id == items[0].product_id).expect("product exists");
        self.now(OrderCreated {
            order_id: order_id.clone(),
            user_id: user_id.clone(),
            items,
            subtotal,
            discount,
            shipping,
            total,
            currency: "USD".to_string(),
            promo_code,
            shipping_address: Address {
                street: format!("{} Main St", self.rng.range(1, 999)),
                city: city.to_string(),
                state: None,
                zipcode: format!("{:05}", self.rng.range(10_000, 99_999)),
                country: "US".to_string(),
            },
        });
        self.orders_created += 1;
        let created_at = self.clock;
        self.now(CartCheckedOut { user_id: user_id.clone(), order_id: order_id.clone() });
        self.order_life(u, order_id, created_at, total, first_product);
    }

    /// Schedules everything that will happen to an order after checkout.
    fn order_life(&mut self, u: usize, order_id: String, created_at: EventTime, total: i64, first_product: usize) {
        let user_id = self.users[u].id.clone();
        let method = if self.users[u].wallet >= total && self.rng.chance(0.6) {
            PaymentMethod::Wallet
        } else if self.rng.chance(0.85) {
            PaymentMethod::Card
        } else {
            PaymentMethod::Paypal
        };
        // A client with a skewed clock sometimes stamps the payment before the order.
        let skew = if self.rng.chance(0.01) { -2 * SECOND } else { self.rng.range(1, 5) * SECOND };
        let mut payment_id = self.next_id("pay", 7);
        let mut t = self.later(
            created_at,
            skew,
            PaymentInitiated {
                payment_id: payment_id.clone(),
                order_id: order_id.clone(),
                user_id: user_id.clone(),
                amount: total,
                currency: "USD".to_string(),
                method,
            },
        );
        if self.rng.chance(0.12) {
            t = self.later(
                t,
                self.rng.range(2, 10) * SECOND,
                PaymentFailed {
                    payment_id: payment_id.clone(),
                    order_id: order_id.clone(),
                    reason: self.rng.pick(&["card_declined", "insufficient_funds", "expired_card"]).to_string(),
                },
            );
            if !self.rng.chance(0.6) {
                let reason = "payment failed".to_string();
                self.later(t, self.rng.range(1, 2) * HOUR, OrderCancelled { order_id, reason });
                return;
            }
            payment_id = self.next_id("pay", 7);
            t = self.later(
                t,
                self.rng.range(5, 30) * MINUTE,
                PaymentInitiated {
                    payment_id: payment_id.clone(),
                    order_id: order_id.clone(),
                    user_id: user_id.clone(),
                    amount: total,
                    currency: "USD".to_string(),
                    method: PaymentMethod::Card,
                },
            );
        }
        t = self.later(
            t,
            self.rng.range(2, 10) * SECOND,
            PaymentCompleted { payment_id: payment_id.clone(), order_id: order_id.clone(), amount: total },
        );
        if method == PaymentMethod::Wallet {
            self.users[u].wallet -= total;
        }
        if self.rng.chance(0.005) {
            // A provider that reports success twice: an invalid transition the views must list.
            self.later(
                t,
                self.rng.range(1, 60) * SECOND,
                PaymentCompleted { payment_id: payment_id.clone(), order_id: order_id.clone(), amount: total },
            );
        }
        if self.rng.chance(0.04) {
            t = self.later(
                t,
                self.rng.range(10, 120) * MINUTE,
                OrderCancelled { order_id: order_id.clone(), reason: "changed my mind".to_string() },
            );
            self.later(t, self.rng.range(1, 3) * HOUR, PaymentRefunded { payment_id, order_id, amount: total });
            return;
        }
        let product = &self.products[first_product];
        let warehouse = WAREHOUSES[*self.rng.pick(&product.warehouses)].to_string();
        let product_id = product.id.clone();
        let shipment_id = self.next_id("shp", 7);
        let carrier = self.rng.pick(&CARRIERS).to_string();
        let tracking_number = format!("TRK{:012}", self.rng.below(1_000_000_000_000));
        t = self.later(
            t,
            self.rng.range(2, 24) * HOUR,
            ShipmentCreated {
                shipment_id: shipment_id.clone(),
                order_id: order_id.clone(),
                warehouse_id: warehouse,
                carrier,
                tracking_number,
            },
        );
        let location = Some(self.rng.pick(&CITIES).to_string());
        t = self.later(
            t,
            self.rng.range(1, 6) * HOUR,
            ShipmentStatusUpdated {
                shipment_id: shipment_id.clone(),
                order_id: order_id.clone(),
                status: TransitStatus::InTransit,
                location,
            },
        );
        if self.rng.chance(0.01) {
            return; // lost in transit: stays Shipped
        }
        t = self.later(
            t,
            self.rng.range(12, 48) * HOUR,
            ShipmentStatusUpdated {
                shipment_id: shipment_id.clone(),
                order_id: order_id.clone(),
                status: TransitStatus::OutForDelivery,
                location: Some(self.users[u].city.to_string()),
            },
        );
        t = self.later(t, self.rng.range(2, 8) * HOUR, ShipmentDelivered { shipment_id, order_id: order_id.clone() });
        if self.rng.chance(0.35) {
            let review_id = self.next_id("rev", 7);
            let rating = *self.rng.pick(&[1, 2, 3, 4, 4, 5, 5, 5]);
            let r = self.later(
                t,
                self.rng.range(2, 7) * DAY,
                ReviewPosted {
                    review_id: review_id.clone(),
                    product_id: product_id.clone(),
                    user_id: user_id.clone(),
                    rating,
                    title: if rating >= 4 { "Love it" } else { "Not great" }.to_string(),
                    body: format!("Rated {rating} of 5 after a week of use."),
                },
            );
            if self.rng.chance(0.15) {
                let action = if self.rng.chance(0.7) { ModerationAction::Approve } else { ModerationAction::Reject };
                self.later(r, self.rng.range(1, 24) * HOUR, ReviewModerated { review_id, product_id, action });
            }
        }
        if self.rng.chance(0.05) {
            t = self.later(
                t,
                self.rng.range(1, 5) * DAY,
                OrderReturnRequested {
                    order_id: order_id.clone(),
                    reason: self.rng.pick(&["too small", "damaged", "not as described"]).to_string(),
                },
            );
            self.later(t, self.rng.range(1, 3) * DAY, PaymentRefunded { payment_id, order_id, amount: total });
        }
    }

    /// The back office: one occasional change to catalog, stock, users or vendors.
    fn back_office(&mut self) {
        match self.rng.below(100) {
            0..=24 => {
                let p = self.product_popularity.sample(&self.rng).min(self.products.len() - 1);
                let price = (self.products[p].price as f64 * (0.8 + 0.4 * self.rng.unit())).round().max(1.0) as i64;
                self.products[p].price = price;
                let product_id = self.products[p].id.clone();
                self.now(ProductUpdated {
                    product_id,
                    name: None,
                    description: None,
                    category_id: None,
                    price: Some(price),
                    attributes: None,
                    images: None,
                });
            }
            25..=49 => {
                let p = self.product_popularity.sample(&self.rng).min(self.products.len() - 1);
                let w = *self.rng.pick(&self.products[p].warehouses);
                let quantity = self.rng.range(10, 200);
                let product_id = self.products[p].id.clone();
                self.now(StockReceived { product_id, warehouse_id: WAREHOUSES[w].to_string(), quantity });
            }
            50..=61 => {
                let p = self.rng.below(self.products.len() as u64) as usize;
                let w = *self.rng.pick(&self.products[p].warehouses);
                let delta = *self.rng.pick(&[-3, -2, -1, 1, 2]);
                let reason = if delta < 0 { "damaged" } else { "recount" }.to_string();
                let product_id = self.products[p].id.clone();
                self.now(InventoryAdjusted { product_id, warehouse_id: WAREHOUSES[w].to_string(), delta, reason });
            }
            62..=71 => {
                let u = self.rng.below(self.users.len() as u64) as usize;
                if !self.users[u].deleted {
                    let user_id = self.users[u].id.clone();
                    let phone = Some(format!("+1-555-{:04}", self.rng.range(0, 9999)));
                    self.now(UserProfileUpdated { user_id, name: None, email: None, address: None, phone });
                }
            }
            72..=83 => {
                let v = self.rng.below(self.vendors.len() as u64) as usize;
                if !self.vendors[v].suspended {
                    let vendor_id = self.vendors[v].id.clone();
                    let payout_id = self.next_id("po", 6);
                    let amount = self.rng.range(10, 500) * 100;
                    self.now(PayoutRequested { vendor_id: vendor_id.clone(), payout_id: payout_id.clone(), amount });
                    let base = self.clock;
                    self.later(base, self.rng.range(1, 3) * DAY, PayoutProcessed { vendor_id, payout_id, amount });
                }
            }
            84..=89 => {
                let i = self.rng.below(self.partners.len() as u64) as usize;
                self.partners[i].1 = !self.partners[i].1;
                let (partner_id, available) = self.partners[i].clone();
                self.now(DeliveryPartnerAvailabilityChanged { partner_id, available });
            }
            90..=93 => {
                let (category_id, root) = self.rng.pick(&self.categories).clone();
                let parent_id = Some(format!("cat-{}", root.to_lowercase()));
                let name = format!("{root} {}", self.rng.pick(&["Picks", "Favourites", "Deals", "New"]));
                self.now(CategoryUpserted { category_id, name, parent_id });
            }
            94 => {
                let p = self.rng.below(self.products.len() as u64) as usize;
                if !self.products[p].deleted && self.products.len() > 10 {
                    self.products[p].deleted = true;
                    let product_id = self.products[p].id.clone();
                    self.now(ProductDeleted { product_id });
                }
            }
            95 => {
                let v = self.rng.below(self.vendors.len() as u64) as usize;
                let active = self.vendors.iter().filter(|v| !v.suspended).count();
                if !self.vendors[v].suspended && active > 2 {
                    self.vendors[v].suspended = true;
                    let vendor_id = self.vendors[v].id.clone();
                    self.now(VendorSuspended { vendor_id, reason: "policy violation".to_string() });
                }
            }
            96 => {
                let u = self.rng.below(self.users.len() as u64) as usize;
                let alive = self.users.iter().filter(|u| !u.deleted).count();
                if !self.users[u].deleted && alive > 10 {
                    self.users[u].deleted = true;
                    let user_id = self.users[u].id.clone();
                    self.now(UserDeleted { user_id });
                }
            }
            97 => {
                let i = self.rng.below(self.promos.len() as u64) as usize;
                if !self.promos[i].ended {
                    self.promos[i].ended = true;
                    let code = self.promos[i].code.clone();
                    self.now(PromotionEnded { code });
                }
            }
            _ => self.register_user(),
        }
    }

    /// Moves every scheduled event whose time has come into the output.
    fn release_due(&mut self, until: Option<EventTime>) {
        while let Some(Reverse((time, _, _))) = self.scheduled.peek() {
            if until.is_some_and(|u| *time > u) {
                break;
            }
            let Reverse((_, _, ScheduledEnvelope(envelope))) = self.scheduled.pop().expect("peeked");
            self.output(envelope);
        }
    }

    fn done_generating(&self) -> bool {
        match self.config.events {
            Some(limit) => self.emitted + self.ready.len() as u64 >= limit,
            None => self.orders_created >= self.config.orders,
        }
    }

    /// Generates more records into `ready`; false when nothing more will come.
    fn refill(&mut self) -> bool {
        if !self.set_up {
            self.set_up = true;
            self.set_up();
            return true;
        }
        if self.finished {
            if !self.scheduled.is_empty() {
                self.release_due(None);
                return true;
            }
            return false;
        }
        if self.done_generating() {
            self.finished = true;
            return true;
        }
        let gap = (self.rng.exponential(4.0) * 1_000.0) as i64 + 1;
        self.clock = self.clock.plus(gap * EventTime::MILLISECOND);
        self.release_due(Some(self.clock));
        if self.rng.chance(0.06) {
            self.back_office();
        }
        self.session();
        true
    }

    /// How many orders were created so far.
    pub fn orders_created(&self) -> usize {
        self.orders_created
    }
}

impl Iterator for Generator {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        if self.config.events.is_some_and(|limit| self.emitted >= limit) {
            return None;
        }
        loop {
            if let Some(i) = self.held.iter().position(|(release, _)| *release <= self.emitted) {
                self.emitted += 1;
                return Some(self.held.remove(i).1);
            }
            if let Some(record) = self.ready.pop_front() {
                self.emitted += 1;
                return Some(record);
            }
            if !self.refill() {
                if !self.resend.is_empty() {
                    let resend = std::mem::take(&mut self.resend);
                    self.ready.extend(resend.into_iter().map(|(_, record)| record));
                    continue;
                }
                // Nothing more will be generated: let the held-back records out.
                if self.held.is_empty() {
                    return None;
                }
                let (_, record) = self.held.remove(0);
                self.emitted += 1;
                return Some(record);
            }
        }
    }
}

/// Counts of what went out, per topic and per kind.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    /// Records per topic name.
    pub per_topic: BTreeMap<&'static str, u64>,
    /// Valid first copies.
    pub events: u64,
    /// Re-sent copies.
    pub duplicates: u64,
    /// Malformed records.
    pub malformed: u64,
    /// Records that arrived late.
    pub late: u64,
}

impl Summary {
    /// Counts one record.
    pub fn add(&mut self, record: &Record) {
        *self.per_topic.entry(record.topic.name()).or_insert(0) += 1;
        match record.kind {
            RecordKind::Event => self.events += 1,
            RecordKind::Duplicate => self.duplicates += 1,
            RecordKind::Malformed => self.malformed += 1,
        }
        self.late += u64::from(record.late);
    }

    /// All records.
    pub fn total(&self) -> u64 {
        self.per_topic.values().sum()
    }

    /// A table for people.
    pub fn table(&self) -> String {
        let mut out = String::from("topic                 records\n");
        for (topic, n) in &self.per_topic {
            out.push_str(&format!("{topic:<20} {n:>8}\n"));
        }
        out.push_str(&format!("{:<20} {:>8}\n", "total", self.total()));
        out.push_str(&format!(
            "({} events, {} duplicates, {} malformed, {} late)\n",
            self.events, self.duplicates, self.malformed, self.late
        ));
        out
    }
}

#[cfg(test)]
mod tests;
