//! The workload generator: a seeded, deterministic marketplace.
//!
//! It simulates a shop — a category tree several levels deep, vendors,
//! products named and described from their aisle's vocabulary
//! (the `catalog` module) and stock first, then the shop's past (so
//! even a short run holds every source event type), then shopper sessions
//! (views, searches with the catalog's words and their exact result counts,
//! clicks, cart changes, checkouts) with each order's later life (payment,
//! perhaps a failure and a retry, cancellation, shipment, delivery, return,
//! refund, review) scheduled at future event times, plus the back office
//! (catalog edits, category renames and moves, restocks, adjustments, payouts,
//! suspensions and reinstatements, promotions). Product popularity is
//! Zipf-like.
//!
//! Everything comes from one [`Rng`] seeded by `--seed` and from ordered
//! collections only, so the same configuration yields the same records byte
//! for byte. Three knobs make the stream as messy as real ones: re-sent
//! duplicates (same `id`), late arrivals (a record held back so arrival order
//! disagrees with `time`), and malformed records (which must end in the
//! dead-letter topic).

mod catalog;
mod rng;

pub use rng::{Rng, Zipf};

use catalog::{category_id, WordIndex, AISLES, BRANDS, CLOSINGS, COLORS, NOT_SOLD, SIZES, STYLES};
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
    /// The shop exists already: a history generated with the same `users`
    /// and `products` holds its categories, vendors, products, partners,
    /// promotions and users. Their set-up is drawn (the generator's state
    /// needs it) but not sent, so the records are only a live shop's
    /// traffic: sessions, orders, the back office.
    pub existing_shop: bool,
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
            existing_shop: false,
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

struct CategoryState {
    id: String,
    /// Its name now.
    name: String,
    /// Its name as the tree was first drawn (renames come and go).
    first_name: &'static str,
    parent: Option<usize>,
    /// Its parent as the tree was first drawn (moves come and go).
    first_parent: Option<usize>,
    root: usize,
}

struct ProductState {
    id: String,
    vendor: usize,
    aisle: usize,
    category: usize,
    brand: &'static str,
    style: &'static str,
    noun: &'static str,
    color: &'static str,
    material: &'static str,
    size: Option<&'static str>,
    name: String,
    description: String,
    price: i64,
    warehouses: Vec<usize>,
    deleted: bool,
}

struct VendorState {
    id: String,
    commission_bps: i64,
    /// Approved and not suspended since.
    selling: bool,
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
    categories: Vec<CategoryState>,
    /// The leaf category of each aisle.
    aisle_categories: Vec<usize>,
    /// The words of every product, for the result counts of searches.
    words: WordIndex,
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
            aisle_categories: Vec::new(),
            words: WordIndex::default(),
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
        self.draw_category_tree();
        let vendor_count = (self.config.products / 20).clamp(2, 500);
        for _ in 0..vendor_count {
            let v = self.apply_vendor();
            self.approve_vendor(v);
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
                name: format!("{} Couriers", self.rng.pick(&STYLES)),
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
            category_id: Some(self.categories[self.aisle_categories[0]].id.clone()),
        });
        for _ in 0..self.config.users.max(1) {
            self.register_user();
        }
        self.history();
    }

    /// The category tree of [`AISLES`]: every prefix of an aisle's path is a
    /// category, its parent the prefix one shorter.
    fn draw_category_tree(&mut self) {
        let mut by_id: BTreeMap<String, usize> = BTreeMap::new();
        for aisle in &AISLES {
            let mut parent: Option<usize> = None;
            for depth in 1..=aisle.path.len() {
                let id = category_id(&aisle.path[..depth]);
                let c = match by_id.get(&id) {
                    Some(&c) => c,
                    None => {
                        let name = aisle.path[depth - 1];
                        let parent_id = parent.map(|p| self.categories[p].id.clone());
                        self.now(CategoryUpserted { category_id: id.clone(), name: name.to_string(), parent_id });
                        let c = self.categories.len();
                        let root = parent.map_or(c, |p| self.categories[p].root);
                        self.categories.push(CategoryState {
                            id: id.clone(),
                            name: name.to_string(),
                            first_name: name,
                            parent,
                            first_parent: parent,
                            root,
                        });
                        by_id.insert(id, c);
                        c
                    }
                };
                parent = Some(c);
            }
            self.aisle_categories.push(parent.expect("an aisle has a path"));
        }
    }

    /// A vendor applies (its account first); it sells once approved.
    fn apply_vendor(&mut self) -> usize {
        let user_id = self.next_id("usr", 6);
        let vendor_id = self.next_id("ven", 4);
        let name = format!("{} {} Co", self.rng.pick(&STYLES), self.rng.pick(&AISLES).nouns[0]);
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
        self.vendors.push(VendorState { id: vendor_id, commission_bps, selling: false });
        self.vendors.len() - 1
    }

    /// Approves a vendor (again, after a suspension).
    fn approve_vendor(&mut self, v: usize) {
        self.vendors[v].selling = true;
        let (vendor_id, commission_bps) = (self.vendors[v].id.clone(), self.vendors[v].commission_bps);
        self.now(VendorApproved { vendor_id, commission_bps });
    }

    /// Suspends a selling vendor, if at least two others still sell.
    fn suspend_vendor(&mut self, v: usize, reason: &str) {
        let selling = self.vendors.iter().filter(|v| v.selling).count();
        if !self.vendors[v].selling || selling < 3 {
            return;
        }
        self.vendors[v].selling = false;
        let vendor_id = self.vendors[v].id.clone();
        self.now(VendorSuspended { vendor_id, reason: reason.to_string() });
    }

    /// The shop's past before the simulated window, so that even a short run
    /// holds every kind of source event: a vendor suspended and reinstated,
    /// one suspended still, an application pending, a promotion that ended, a
    /// discontinued product, a closed account, a courier that paused.
    fn history(&mut self) {
        self.suspend_vendor(0, "late shipments");
        self.approve_vendor(0);
        let last = self.vendors.len() - 1;
        self.suspend_vendor(last, "policy violation");
        self.apply_vendor();
        let code = "SUMMER15".to_string();
        self.now(PromotionCreated {
            code: code.clone(),
            percent_off: Some(15),
            amount_off: None,
            min_subtotal: 0,
            starts_at: self.config.start.plus(-90 * DAY),
            ends_at: self.config.start.plus(-30 * DAY),
            category_id: None,
        });
        self.now(PromotionEnded { code });
        if self.products.len() > 10 {
            self.delete_product(self.products.len() - 1);
        }
        if self.users.len() > 10 {
            self.delete_user(self.users.len() - 1);
        }
        for available in [false, true] {
            let partner_id = self.partners[0].0.clone();
            self.now(DeliveryPartnerAvailabilityChanged { partner_id, available });
        }
    }

    /// A vendor that sells, if any does.
    fn selling_vendor(&mut self) -> Option<usize> {
        for _ in 0..8 {
            let v = self.rng.below(self.vendors.len() as u64) as usize;
            if self.vendors[v].selling {
                return Some(v);
            }
        }
        self.vendors.iter().position(|v| v.selling)
    }

    /// A product's description: its style, material and two features.
    fn describe(&mut self, aisle: usize, style: &str, noun: &str, material: &str) -> String {
        let features = AISLES[aisle].features;
        let first = self.rng.below(features.len() as u64) as usize;
        let second = (first + 1 + self.rng.below(features.len() as u64 - 1) as usize) % features.len();
        let closing = self.rng.pick(&CLOSINGS);
        format!(
            "{style} {} in {material} with {} and {}. {closing}",
            noun.to_lowercase(),
            features[first],
            features[second]
        )
    }

    fn attributes(&self, p: usize) -> BTreeMap<String, String> {
        let product = &self.products[p];
        let root = &self.categories[self.categories[product.category].root].name;
        let mut attributes = BTreeMap::new();
        attributes.insert("brand".to_string(), product.brand.to_string());
        attributes.insert("color".to_string(), product.color.to_string());
        attributes.insert("material".to_string(), product.material.to_string());
        attributes.insert("department".to_string(), root.to_lowercase());
        if let Some(size) = product.size {
            attributes.insert("size".to_string(), size.to_string());
        }
        attributes
    }

    /// Files a product's words (name, description, category name, attribute values).
    fn index_product(&mut self, p: usize) {
        let product = &self.products[p];
        let mut texts = vec![product.name.clone(), product.description.clone()];
        texts.push(self.categories[product.category].name.clone());
        texts.extend(self.attributes(p).into_values());
        self.words.set(p, texts.iter().map(String::as_str));
    }

    /// Whether shoppers can find and buy the product.
    fn is_live(&self, p: usize) -> bool {
        !self.products[p].deleted && self.vendors[self.products[p].vendor].selling
    }

    fn create_product(&mut self) {
        let Some(vendor) = self.selling_vendor() else { return };
        let product_id = self.next_id("prd", 5);
        let a = self.rng.below(AISLES.len() as u64) as usize;
        let aisle = &AISLES[a];
        let (brand, style) = (*self.rng.pick(&BRANDS), *self.rng.pick(&STYLES));
        let (noun, material) = (*self.rng.pick(aisle.nouns), *self.rng.pick(aisle.materials));
        let color = *self.rng.pick(&COLORS);
        let size = (aisle.path[0] == "Apparel").then(|| *self.rng.pick(&SIZES));
        let name = format!("{brand} {style} {noun}");
        let description = self.describe(a, style, noun, material);
        // Log-uniform prices from $2 to $500.
        let price = (200.0 * 250f64.powf(self.rng.unit())).round() as i64;
        let category = self.aisle_categories[a];
        self.products.push(ProductState {
            id: product_id.clone(),
            vendor,
            aisle: a,
            category,
            brand,
            style,
            noun,
            color,
            material,
            size,
            name: name.clone(),
            description: description.clone(),
            price,
            warehouses: Vec::new(),
            deleted: false,
        });
        let p = self.products.len() - 1;
        self.index_product(p);
        self.now(ProductCreated {
            product_id: product_id.clone(),
            vendor_id: self.vendors[vendor].id.clone(),
            name,
            description,
            category_id: self.categories[category].id.clone(),
            price,
            currency: "USD".to_string(),
            attributes: self.attributes(p),
            images: vec![format!("https://img.example.com/{product_id}/1.jpg")],
        });
        for (w, warehouse) in WAREHOUSES.iter().enumerate() {
            if self.products[p].warehouses.is_empty() || self.rng.chance(0.4) {
                self.products[p].warehouses.push(w);
                let quantity = self.rng.range(5, 300);
                self.now(StockReceived {
                    product_id: product_id.clone(),
                    warehouse_id: warehouse.to_string(),
                    quantity,
                });
            }
        }
    }

    fn delete_product(&mut self, p: usize) {
        if self.products[p].deleted {
            return;
        }
        self.products[p].deleted = true;
        let product_id = self.products[p].id.clone();
        self.now(ProductDeleted { product_id });
    }

    fn delete_user(&mut self, u: usize) {
        if self.users[u].deleted {
            return;
        }
        self.users[u].deleted = true;
        let user_id = self.users[u].id.clone();
        self.now(UserDeleted { user_id });
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
            if self.is_live(p) {
                return Some(p);
            }
        }
        None
    }

    /// What a shopper types, from the words of a product they have in mind
    /// (a noun, with a colour, feature, brand or style; a brand; a category),
    /// sometimes misspelt, sometimes for something the shop does not sell.
    fn search_query(&mut self, seen: Option<usize>) -> String {
        let Some(p) = seen else { return self.rng.pick(&NOT_SOLD).to_string() };
        let product = &self.products[p];
        let noun = product.noun.to_lowercase();
        let aisle = &AISLES[product.aisle];
        let query = match self.rng.below(100) {
            0..=29 => noun,
            30..=44 => {
                let color = if self.rng.chance(0.6) { product.color } else { self.rng.pick(&COLORS) };
                format!("{color} {noun}")
            }
            45..=54 => format!("{} {noun}", self.rng.pick(aisle.features)),
            55..=62 => format!("{} {noun}", product.brand.to_lowercase()),
            63..=69 => product.brand.to_lowercase(),
            70..=79 => self.categories[product.category].name.to_lowercase(),
            80..=87 => format!("{} {noun}", product.style.to_lowercase()),
            88..=93 => {
                // A letter dropped from the longest word.
                let word = noun.split(' ').max_by_key(|w| w.len()).unwrap_or(&noun).to_string();
                let at = 1 + self.rng.below(word.len().saturating_sub(2).max(1) as u64) as usize;
                let typo = format!("{}{}", &word[..at.min(word.len())], &word[(at + 1).min(word.len())..]);
                noun.replace(&word, &typo)
            }
            _ => self.rng.pick(&NOT_SOLD).to_string(),
        };
        if self.rng.chance(0.15) {
            // Some type a capital first letter; the views normalise it away.
            let mut chars = query.chars();
            return chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default();
        }
        query
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
            let seen = self.sellable_product();
            let query = self.search_query(seen);
            let result_count = self.words.count(&query, |p| self.is_live(p));
            self.now(SearchPerformed {
                user_id: who.clone(),
                session_id: session_id.clone(),
                query: query.clone(),
                result_count,
            });
            let found = seen.filter(|&p| result_count > 0 && self.words.matches(p, &query));
            if let Some(p) = found.filter(|_| self.rng.chance(0.5)) {
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
            .filter(|(p, _)| self.is_live(**p))
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
        let popular = self.product_popularity.sample(&self.rng).min(self.products.len() - 1);
        match self.rng.below(100) {
            0..=19 => {
                let old = self.products[popular].price as f64;
                let price = (old * (0.8 + 0.4 * self.rng.unit())).round().max(1.0) as i64;
                self.products[popular].price = price;
                self.update_product(
                    popular,
                    ProductUpdated { price: Some(price), ..ProductUpdated::of(String::new()) },
                );
            }
            20..=27 => {
                let product = &self.products[popular];
                let (aisle, style, noun, material) = (product.aisle, product.style, product.noun, product.material);
                let description = self.describe(aisle, style, noun, material);
                self.products[popular].description = description.clone();
                self.update_product(
                    popular,
                    ProductUpdated { description: Some(description), ..ProductUpdated::of(String::new()) },
                );
            }
            28..=29 => {
                let style = *self.rng.pick(&STYLES);
                let product = &mut self.products[popular];
                product.style = style;
                product.name = format!("{} {style} {}", product.brand, product.noun);
                let name = product.name.clone();
                self.update_product(popular, ProductUpdated { name: Some(name), ..ProductUpdated::of(String::new()) });
            }
            30..=31 => {
                self.products[popular].color = *self.rng.pick(&COLORS);
                let attributes = self.attributes(popular);
                self.update_product(
                    popular,
                    ProductUpdated { attributes: Some(attributes), ..ProductUpdated::of(String::new()) },
                );
            }
            32 => {
                // Filed under another leaf of the same root.
                let root = self.categories[self.products[popular].category].root;
                let leaves: Vec<usize> =
                    self.aisle_categories.iter().copied().filter(|&c| self.categories[c].root == root).collect();
                let category = *self.rng.pick(&leaves);
                self.products[popular].category = category;
                let category_id = Some(self.categories[category].id.clone());
                self.update_product(popular, ProductUpdated { category_id, ..ProductUpdated::of(String::new()) });
            }
            33..=52 => {
                let w = *self.rng.pick(&self.products[popular].warehouses);
                let quantity = self.rng.range(10, 200);
                let product_id = self.products[popular].id.clone();
                self.now(StockReceived { product_id, warehouse_id: WAREHOUSES[w].to_string(), quantity });
            }
            53..=62 => {
                let p = self.rng.below(self.products.len() as u64) as usize;
                let w = *self.rng.pick(&self.products[p].warehouses);
                let delta = *self.rng.pick(&[-3, -2, -1, 1, 2]);
                let reason = if delta < 0 { "damaged" } else { "recount" }.to_string();
                let product_id = self.products[p].id.clone();
                self.now(InventoryAdjusted { product_id, warehouse_id: WAREHOUSES[w].to_string(), delta, reason });
            }
            63..=70 => {
                let u = self.rng.below(self.users.len() as u64) as usize;
                if !self.users[u].deleted {
                    let user_id = self.users[u].id.clone();
                    let phone = Some(format!("+1-555-{:04}", self.rng.range(0, 9999)));
                    self.now(UserProfileUpdated { user_id, name: None, email: None, address: None, phone });
                }
            }
            71..=80 => {
                let v = self.rng.below(self.vendors.len() as u64) as usize;
                if self.vendors[v].selling {
                    let vendor_id = self.vendors[v].id.clone();
                    let payout_id = self.next_id("po", 6);
                    let amount = self.rng.range(10, 500) * 100;
                    self.now(PayoutRequested { vendor_id: vendor_id.clone(), payout_id: payout_id.clone(), amount });
                    let base = self.clock;
                    self.later(base, self.rng.range(1, 3) * DAY, PayoutProcessed { vendor_id, payout_id, amount });
                }
            }
            81..=85 => {
                let i = self.rng.below(self.partners.len() as u64) as usize;
                self.partners[i].1 = !self.partners[i].1;
                let (partner_id, available) = self.partners[i].clone();
                self.now(DeliveryPartnerAvailabilityChanged { partner_id, available });
            }
            86..=88 => self.redraw_category(),
            89 if self.products.len() > 10 => {
                let p = self.rng.below(self.products.len() as u64) as usize;
                self.delete_product(p);
            }
            90..=91 => self.create_product(),
            92 => {
                let v = self.rng.below(self.vendors.len() as u64) as usize;
                self.suspend_vendor(v, "policy violation");
            }
            93 => {
                // A suspended vendor made good (a pending application is not suspended).
                let suspended: Vec<usize> =
                    (0..self.vendors.len()).filter(|&v| !self.vendors[v].selling && self.has_products(v)).collect();
                if !suspended.is_empty() {
                    let v = *self.rng.pick(&suspended);
                    self.approve_vendor(v);
                }
            }
            94 if self.users.iter().filter(|u| !u.deleted).count() > 10 => {
                let u = self.rng.below(self.users.len() as u64) as usize;
                self.delete_user(u);
            }
            95 => self.next_promotion(),
            _ => self.register_user(),
        }
    }

    /// Sends a product update and files the product's words again.
    fn update_product(&mut self, p: usize, update: ProductUpdated) {
        self.index_product(p);
        self.now(ProductUpdated { product_id: self.products[p].id.clone(), ..update });
    }

    fn has_products(&self, v: usize) -> bool {
        self.products.iter().any(|p| p.vendor == v)
    }

    /// A category renamed for a season (and back), or moved up to its root
    /// (and back): the tree changes shape, the products it holds keep it.
    fn redraw_category(&mut self) {
        let c = self.rng.below(self.categories.len() as u64) as usize;
        let category = &self.categories[c];
        let root = category.root;
        let moved = if category.parent == category.first_parent { Some(root) } else { category.first_parent };
        if self.rng.chance(0.5) && category.parent.is_some() && moved != category.parent {
            self.categories[c].parent = moved;
        } else {
            let first = category.first_name;
            self.categories[c].name = if category.name == first { format!("{first} Deals") } else { first.to_string() };
            for p in 0..self.products.len() {
                if self.products[p].category == c {
                    self.index_product(p);
                }
            }
        }
        let category = &self.categories[c];
        let parent_id = category.parent.map(|p| self.categories[p].id.clone());
        self.now(CategoryUpserted { category_id: category.id.clone(), name: category.name.clone(), parent_id });
    }

    /// The oldest running promotion ends and a week-long flash sale starts.
    fn next_promotion(&mut self) {
        if let Some(i) = self.promos.iter().position(|p| !p.ended) {
            self.promos[i].ended = true;
            let code = self.promos[i].code.clone();
            self.now(PromotionEnded { code });
        }
        let n = self.promos.len();
        let code = format!("FLASH{n:03}");
        let (percent_off, min_subtotal) = (self.rng.range(1, 6) * 5, self.rng.range(0, 5) * 1_000);
        let starts_at = self.clock;
        self.now(PromotionCreated {
            code: code.clone(),
            percent_off: Some(percent_off),
            amount_off: None,
            min_subtotal,
            starts_at,
            ends_at: starts_at.plus(7 * DAY),
            category_id: None,
        });
        self.promos.push(PromoState { code, percent_off, min_subtotal, ended: false });
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
            if self.config.existing_shop {
                // The set-up is state the history already sent: none of it goes out.
                self.ready.clear();
                self.held.clear();
                self.resend.clear();
            }
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
