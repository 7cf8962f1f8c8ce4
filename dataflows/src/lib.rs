//! # shopflow-dataflows: the views, as differential computations
//!
//! Pure and I/O-free. The input is a collection of decoded events, keyed by
//! event id, each with its [`Fact`]s; [`build`] keeps one copy of each id
//! ([`dedup`]) and computes every view of `shared/contract/views.md` that the
//! core pipeline serves, as differential collections that change when (and
//! only where) their inputs do:
//!
//! - [`orders`] — order status, history, anomalies; Order.StatusChanged.
//! - [`inventory`] — on hand per warehouse, reserved, available.
//! - [`catalog`] — products and the category tree.
//! - [`carts`] — priced cart lines.
//! - [`users`] — profiles and notification preferences.
//! - [`reviews`] — reviews with `verifiedPurchase`, and ratings.
//! - [`recommend`] — bought together, viewed together, per-user
//!   recommendations, trending.
//! - [`analytics`] — `sales_daily`, `funnel_daily`, `product_stats`.
//!
//! Every view is a function of the *set* of distinct events, with order taken
//! from (`time`, `id`) inside the data, never from epochs: so any batching,
//! worker count or replay gives the same views.
//!
//! ```
//! use differential_dataflow::input::InputSession;
//! use shopflow_dataflows::{build, facts::facts_of};
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

#![warn(missing_docs)]

pub mod analytics;
pub mod carts;
pub mod catalog;
pub mod facts;
pub mod inventory;
pub mod orders;
pub mod recommend;
pub mod reviews;
pub mod users;

use analytics::{FunnelDaily, Measure, ProductStats, SalesDaily};
use carts::{CartLine, CartView};
use catalog::{CategoryView, ProductView};
use differential_dataflow::VecCollection;
use facts::{CartChange, Fact, OrderStep};
use inventory::{InventoryView, Part};
use orders::{OrderView, StatusChange};
use recommend::{Purchases, Scored, Together, Trending};
use shopflow_topics::EventTime;
use std::collections::BTreeMap;
use users::UserView;

/// Logical time: the ingest epoch.
pub type Epoch = u64;

/// A collection of the pipeline's dataflow.
pub type Coll<'s, D> = VecCollection<'s, Epoch, D, isize>;

/// Every view the core pipeline computes, each keyed by its id.
pub struct Views<'s> {
    /// Orders by orderId.
    pub orders: Coll<'s, (String, OrderView)>,
    /// Order.StatusChanged events by orderId.
    pub status_changes: Coll<'s, (String, StatusChange)>,
    /// Inventory by productId.
    pub inventory: Coll<'s, (String, InventoryView)>,
    /// Products by productId (categories filled in).
    pub products: Coll<'s, (String, ProductView)>,
    /// Categories by categoryId.
    pub categories: Coll<'s, (String, CategoryView)>,
    /// Carts by userId (non-empty ones).
    pub carts: Coll<'s, (String, CartView)>,
    /// Users by userId.
    pub users: Coll<'s, (String, UserView)>,
    /// Ratings by productId (products with a counted review).
    pub ratings: Coll<'s, (String, reviews::RatingView)>,
    /// Reviews by productId (products with a counted review).
    pub reviews: Coll<'s, (String, reviews::ReviewsView)>,
    /// Bought together, by productId.
    pub bought_together: Coll<'s, (String, Together)>,
    /// Viewed together, by productId.
    pub viewed_together: Coll<'s, (String, Together)>,
    /// What each user purchased, by userId (users with a purchase): with the
    /// bought-together lists, what a user's recommendations are made of
    /// ([`recommend::for_user`]).
    pub purchases: Coll<'s, (String, Purchases)>,
    /// Trending, under [`recommend::TRENDING_KEY`].
    pub trending: Coll<'s, (String, Trending)>,
    /// `sales_daily` by (day, categoryId, vendorId).
    pub sales_daily: Coll<'s, ((i64, String, String), SalesDaily)>,
    /// `funnel_daily` by day.
    pub funnel_daily: Coll<'s, (i64, FunnelDaily)>,
    /// `product_stats` by productId.
    pub product_stats: Coll<'s, (String, ProductStats)>,
}

/// Sums the values per key; keys summing to zero vanish.
fn sum<'s, K>(rows: Coll<'s, (K, i64)>) -> Coll<'s, (K, i64)>
where
    K: differential_dataflow::ExchangeData + differential_dataflow::Hashable,
{
    rows.explode(|(key, amount)| Some((key, amount as isize))).count().map(|(key, total)| (key, total as i64))
}

/// Counts distinct values per key.
fn count_distinct<'s, K, V>(rows: Coll<'s, (K, V)>) -> Coll<'s, (K, i64)>
where
    K: differential_dataflow::ExchangeData + std::hash::Hash,
    V: differential_dataflow::ExchangeData + std::hash::Hash,
{
    rows.distinct().map(|(key, _)| key).count().map(|(key, n)| (key, n as i64))
}

/// A 128-bit hash of an event id: what dedup remembers per event.
pub fn id_hash(id: &str) -> u128 {
    // Two FNV-1a 64-bit hashes with different offsets.
    let hash = |offset: u64| id.bytes().fold(offset, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3));
    (u128::from(hash(0xcbf2_9ce4_8422_2325)) << 64) | u128::from(hash(0x6c62_272e_07bb_0142))
}

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

/// An entity's fact with its stamp, keyed by the entity.
type Keyed<V> = (String, (facts::Stamp, V));

/// One view per key: picks the facts of one family keyed by entity, and folds
/// each entity's facts, sorted by (`time`, `id`), into at most one value.
fn fold_each<'s, V, W>(
    facts: Coll<'s, Fact>,
    pick: fn(Fact) -> Option<Keyed<V>>,
    fold: impl Fn(&String, &[(&(facts::Stamp, V), isize)]) -> Option<W> + 'static,
) -> Coll<'s, (String, W)>
where
    V: differential_dataflow::ExchangeData + std::hash::Hash,
    W: differential_dataflow::Data,
{
    facts.flat_map(pick).reduce(move |key, changes, out| {
        if let Some(view) = fold(key, changes) {
            out.push((view, 1));
        }
    })
}

/// Builds every view from events keyed by id (each with its facts), with
/// the default settings.
pub fn build<'s>(events: Coll<'s, (String, Vec<Fact>)>) -> Views<'s> {
    build_with(events, recommend::Config::default())
}

/// Builds every view from events keyed by id (each with its facts).
pub fn build_with<'s>(events: Coll<'s, (String, Vec<Fact>)>, config: recommend::Config) -> Views<'s> {
    let facts = dedup(events);

    // ---- orders
    let orders = fold_each(
        facts.clone(),
        |fact| match fact {
            Fact::Order(order_id, stamp, step) => Some((order_id, (stamp, step))),
            _ => None,
        },
        |order_id, steps| orders::fold_order(order_id, steps.iter().map(|(s, _)| (&s.0, &s.1))),
    );
    let status_changes = orders.clone().flat_map(|(order_id, view)| {
        orders::status_changes(&view).into_iter().map(move |change| (order_id.clone(), change))
    });

    // ---- catalog
    let categories = facts
        .clone()
        .flat_map(|fact| match fact {
            Fact::Category(id, stamp, name, parent) => Some((id, (stamp, name, parent))),
            _ => None,
        })
        .reduce(|id, upserts, out| {
            let (_, name, parent_id) = upserts.last().expect("non-empty").0;
            out.push((CategoryView { category_id: id.clone(), name: name.clone(), parent_id: parent_id.clone() }, 1));
        });
    let lineage = categories.clone().map(|(_, view)| ((), view)).reduce(|_, all, out| {
        let tree: BTreeMap<String, CategoryView> =
            all.iter().map(|(v, _)| (v.category_id.clone(), (*v).clone())).collect();
        for id in tree.keys() {
            out.push(((id.clone(), catalog::ancestors(id, &tree)), 1));
        }
    });
    let lineage = lineage.map(|((), pair)| pair);
    let bare_products = fold_each(
        facts.clone(),
        |fact| match fact {
            Fact::Product(id, stamp, change) => Some((id, (stamp, change))),
            _ => None,
        },
        |id, changes| catalog::fold_product(id, changes.iter().map(|(c, _)| (&c.0, &c.1))),
    );
    let by_category = bare_products.map(|(_, view)| (view.category_id.clone(), view));
    let known_categories = lineage.clone().map(|(id, _)| id);
    let placed = by_category.clone().join_map(lineage, |_, view, chain| {
        let mut view = view.clone();
        view.categories = chain.clone();
        (view.product_id.clone(), view)
    });
    let unplaced = by_category.antijoin(known_categories).map(|(category, mut view)| {
        view.categories = vec![category];
        (view.product_id.clone(), view)
    });
    let products = placed.concat(unplaced);

    // ---- carts
    let cart_lines = facts
        .clone()
        .flat_map(|fact| match fact {
            Fact::Cart(user, stamp, change) => Some((user, (stamp, change))),
            _ => None,
        })
        .reduce(|_user, changes, out| {
            for line in carts::fold_cart(changes.iter().map(|(c, _)| (&c.0, &c.1))) {
                out.push((line, 1));
            }
        })
        .map(|(user, (product, quantity))| (product, (user, quantity)));
    let prices = products.clone().flat_map(|(id, view)| (!view.deleted).then_some((id, view.price)));
    let carts = cart_lines
        .join_map(prices, |product, (user, quantity), price| {
            (user.clone(), CartLine { product_id: product.clone(), quantity: *quantity, unit_price: *price })
        })
        .reduce(|user, lines, out| {
            out.push((CartView::new(user, lines.iter().map(|(l, _)| (*l).clone()).collect()), 1))
        });

    // ---- users
    let users = fold_each(
        facts.clone(),
        |fact| match fact {
            Fact::User(id, stamp, change) => Some((id, (stamp, change))),
            _ => None,
        },
        |id, changes| users::fold_user(id, changes.iter().map(|(c, _)| (&c.0, &c.1))),
    );

    // ---- purchases: (user, product, (created, orderId), units) of purchase orders
    let purchases = orders.clone().flat_map(|(order_id, view)| {
        let mut rows = Vec::new();
        if view.is_purchase() {
            for line in &view.items {
                let stamp = (view.created_at, order_id.clone());
                rows.push((view.user_id.clone(), line.product_id.clone(), stamp, line.quantity));
            }
        }
        rows
    });
    let purchased_pairs = purchases.clone().map(|(user, product, _, _)| (user, product)).distinct();

    // ---- reviews and ratings
    let review_items = facts
        .clone()
        .flat_map(|fact| match fact {
            Fact::Review(product, stamp, change) => Some((product, (stamp, change))),
            _ => None,
        })
        .reduce(|_product, changes, out| {
            for item in reviews::fold_reviews(changes.iter().map(|(c, _)| (&c.0, &c.1))) {
                out.push((item, 1));
            }
        })
        .map(|(product, item)| ((item.user_id.clone(), product), item));
    let verified = review_items.clone().semijoin(purchased_pairs.clone()).map(|((_, product), mut item)| {
        item.verified_purchase = true;
        (product, item)
    });
    let unverified = review_items.antijoin(purchased_pairs.clone()).map(|((_, product), item)| (product, item));
    let reviews = verified.concat(unverified).reduce(|product, items, out| {
        out.push((reviews::ReviewsView::new(product, items.iter().map(|(i, _)| (*i).clone()).collect()), 1));
    });
    let ratings = reviews.clone().map(|(product, view)| (product, view.rating()));

    // ---- recommendations
    let bought_recently =
        recent_distinct(purchases.clone().map(|(user, product, stamp, _)| (user, (product, stamp))), config.pair_cap);
    let bought_together = together(bought_recently);
    let viewed_recently = recent_distinct(
        facts.clone().flat_map(|fact| match fact {
            Fact::View(stamp, Some(user), product) => Some((user, (product, (stamp.time, stamp.id)))),
            _ => None,
        }),
        config.pair_cap,
    );
    let viewed_together = together(viewed_recently);
    let purchases_by_user = purchased_pairs.reduce(|user, products, out| {
        let products = products.iter().map(|(p, _)| (*p).clone()).collect();
        out.push((Purchases { user_id: user.clone(), products }, 1));
    });
    let trending = trending_of(&facts, &purchases);

    // ---- inventory
    let stock_parts = facts.clone().flat_map(|fact| match fact {
        Fact::Stock(product, warehouse, amount) => {
            vec![((product.clone(), Part::SeenIn(warehouse.clone())), 0), ((product, Part::Stock(warehouse)), amount)]
        }
        _ => Vec::new(),
    });
    let order_parts = orders.clone().flat_map(|(_, view)| {
        let mut parts = Vec::new();
        for line in &view.items {
            parts.push(((line.product_id.clone(), Part::Seen), 0));
            if view.reserves_stock() {
                parts.push(((line.product_id.clone(), Part::Reserved), line.quantity));
            }
            if let (true, Some(warehouse)) = (view.was_shipped(), &view.shipped_from) {
                parts.push(((line.product_id.clone(), Part::SeenIn(warehouse.clone())), 0));
                parts.push(((line.product_id.clone(), Part::Shipped(warehouse.clone())), line.quantity));
            }
        }
        parts
    });
    let all_parts = stock_parts.concat(order_parts);
    let presence = all_parts.clone().map(|(key, _)| key).distinct().map(|key| (key, 0));
    let amounts = sum(all_parts.filter(|(_, amount)| *amount != 0));
    let inventory = presence.concat(amounts).map(|((product, part), amount)| (product, (part, amount))).reduce(
        |product, parts, out| {
            // Presence rows carry 0; sums carry the amount; both may name one part.
            out.push((inventory::assemble(product, parts.iter().map(|((part, amount), _)| (part, *amount))), 1));
        },
    );

    // ---- analytics
    let purchase_lines = orders.clone().flat_map(|(order_id, view)| {
        let day = view.created_at.day_number();
        let lines = if view.is_purchase() { view.items.clone() } else { Vec::new() };
        lines.into_iter().map(move |line| (line.product_id.clone(), (day, order_id.clone(), line)))
    });
    let product_categories = products.clone().map(|(id, view)| (id, view.category_id));
    let known_products = product_categories.clone().map(|(id, _)| id);
    let categorised = purchase_lines
        .clone()
        .join_map(product_categories, |_, (day, order_id, line), category| {
            (*day, category.clone(), order_id.clone(), line.clone())
        })
        .concat(
            purchase_lines
                .clone()
                .antijoin(known_products)
                .map(|(_, (day, order_id, line))| (day, String::new(), order_id, line)),
        );
    let sales_orders = count_distinct(
        categorised.clone().map(|(day, category, order_id, line)| ((day, category, line.vendor_id), order_id)),
    )
    .map(|(key, n)| ((key, Measure::Orders), n));
    let sales_amounts = sum(categorised.flat_map(|(day, category, _, line)| {
        let key = (day, category, line.vendor_id);
        [((key.clone(), Measure::Units), line.quantity), ((key, Measure::Revenue), line.quantity * line.unit_price)]
    }));
    let sales_daily = sales_orders.concat(sales_amounts).map(|((key, measure), n)| (key, (measure, n))).reduce(
        |(day, category, vendor), measures, out| {
            let get = |m: Measure| measures.iter().find(|((k, _), _)| *k == m).map_or(0, |((_, n), _)| *n);
            out.push((
                SalesDaily {
                    day: *day,
                    category_id: category.clone(),
                    vendor_id: vendor.clone(),
                    orders: get(Measure::Orders),
                    units: get(Measure::Units),
                    revenue: get(Measure::Revenue),
                },
                1,
            ));
        },
    );

    let funnel_users = facts.clone().flat_map(|fact| match fact {
        Fact::View(stamp, Some(user), _) => Some(((stamp.time.day_number(), Measure::Viewers), user)),
        Fact::Cart(user, stamp, CartChange::Added { .. }) => Some(((stamp.time.day_number(), Measure::Carters), user)),
        Fact::Order(_, stamp, OrderStep::Created { user_id, .. }) => {
            Some(((stamp.time.day_number(), Measure::Buyers), user_id))
        }
        _ => None,
    });
    let funnel_daily =
        count_distinct(funnel_users).map(|((day, measure), n)| (day, (measure, n))).reduce(|day, measures, out| {
            let get = |m: Measure| measures.iter().find(|((k, _), _)| *k == m).map_or(0, |((_, n), _)| *n);
            out.push((
                FunnelDaily {
                    day: *day,
                    viewers: get(Measure::Viewers),
                    carters: get(Measure::Carters),
                    buyers: get(Measure::Buyers),
                },
                1,
            ));
        });

    let activity = facts.flat_map(|fact| match fact {
        Fact::View(_, _, product) => Some(((product, Measure::Views), 1)),
        Fact::Cart(_, _, CartChange::Added { product_id, .. }) => Some(((product_id, Measure::Carts), 1)),
        _ => None,
    });
    let purchased = purchase_lines.flat_map(|(product, (_, _, line))| {
        [
            ((product.clone(), Measure::Units), line.quantity),
            ((product, Measure::Revenue), line.quantity * line.unit_price),
        ]
    });
    let rated = ratings.clone().flat_map(|(product, rating)| {
        [((product.clone(), Measure::RatingCount), rating.count), ((product, Measure::RatingSum), rating.sum)]
    });
    let product_stats = sum(activity.concat(purchased).concat(rated))
        .map(|((product, measure), n)| (product, (measure, n)))
        .reduce(|product, measures, out| {
            let get = |m: Measure| measures.iter().find(|((k, _), _)| *k == m).map_or(0, |((_, n), _)| *n);
            out.push((
                ProductStats {
                    product_id: product.clone(),
                    views: get(Measure::Views),
                    carts: get(Measure::Carts),
                    purchased_units: get(Measure::Units),
                    revenue: get(Measure::Revenue),
                    rating_count: get(Measure::RatingCount),
                    rating_sum: get(Measure::RatingSum),
                },
                1,
            ));
        });

    Views {
        orders,
        status_changes,
        inventory,
        products,
        categories,
        carts,
        users,
        ratings,
        reviews,
        bought_together,
        viewed_together,
        purchases: purchases_by_user,
        trending,
        sales_daily,
        funnel_daily,
        product_stats,
    }
}

/// A purchase's or view's recency: (`time`, id).
type Recency = (EventTime, String);

/// Per user, the `cap` distinct products of the most recent rows, by each
/// product's latest [`Recency`] (ties by productId, descending).
fn recent_distinct<'s>(rows: Coll<'s, (String, (String, Recency))>, cap: usize) -> Coll<'s, (String, String)> {
    // The latest row per (user, product) first, so each user's fold sees one row per product.
    let latest = rows
        .map(|(user, (product, recency))| ((user, product), recency))
        .reduce(|_, recencies, out| out.push((recencies.last().expect("non-empty").0.clone(), 1)));
    latest.map(|((user, product), recency)| (user, (recency, product))).reduce(move |_, recent, out| {
        for ((_, product), _) in recent.iter().rev().take(cap) {
            out.push((product.clone(), 1));
        }
    })
}

/// A product in the pair counts: a 64-bit hash of its productId and its rank
/// among the productIds of that hash (0 unless two ids collide), so the
/// largest arrangements hold plain integers and stay exact.
type ProductKey = (u64, u32);

/// The hash part of a [`ProductKey`]. The crate's unit tests keep 3 bits of
/// it, so that most products share a hash and the ranks are exercised.
fn product_hash(product: &str) -> u64 {
    let hash = id_hash(product) as u64;
    if cfg!(test) {
        hash & 7
    } else {
        hash
    }
}

/// Co-occurrence lists: for each product p, the products q held by the same
/// users, scored by how many users hold both; top [`recommend::TOGETHER_TOP`].
/// The users' sets are arranged once and joined with themselves.
///
/// A popular product pairs with thousands of others and its pair counts
/// change at every epoch, so its top is not re-read from all of its pairs.
/// Pairs are filed under their product and [`band`] of score; per product,
/// only the best bands holding [`recommend::TOGETHER_TOP`] partners are kept
/// (a group of a few dozen bands, whatever the history), and the top is taken
/// from the pairs in those bands. A count moving below the kept bands changes
/// nothing downstream. Products are [`ProductKey`]s until the tops, which
/// get their productIds back.
fn together<'s>(held: Coll<'s, (String, String)>) -> Coll<'s, (String, Together)> {
    let keys =
        held.clone().map(|(_, product)| product).distinct().map(|product| (product_hash(&product), product)).reduce(
            |_, products, out| {
                for (rank, (product, _)) in products.iter().enumerate() {
                    out.push((((*product).clone(), rank as u32), 1));
                }
            },
        );
    let products = keys.clone().map(|(hash, (product, rank))| ((hash, rank), product)).arrange_by_key();
    let by_user = held
        .map(|(user, product)| (product, user))
        .join_map(keys.map(|(hash, (product, rank))| (product, (hash, rank))), |_, user, key: &ProductKey| {
            (user.clone(), *key)
        })
        .arrange_by_key();
    // Each unordered pair is counted once, then filed under both of its products.
    let banded = by_user.clone().join_core(by_user, |_user, p, q| (p < q).then_some((*p, *q))).count().flat_map(
        |((p, q), users)| {
            let users = users as i64;
            [((p, -band(users)), (-users, q)), ((q, -band(users)), (-users, p))]
        },
    );
    let kept = banded.clone().map(|(key, _)| key).reduce(|_, bands, out| {
        // Best band first; each band's multiplicity is its number of partners.
        let mut partners = 0;
        for (band, count) in bands {
            out.push((**band, 1));
            partners += count;
            if partners >= recommend::TOGETHER_TOP as isize {
                break;
            }
        }
    });
    let tops = banded
        .semijoin(kept)
        .map(|((p, _), (score, q))| (q, (p, score)))
        .arrange_by_key()
        .join_core(products.clone(), |_, (p, score), q: &String| Some((*p, (*score, q.clone()))))
        .reduce(|_, ranked, out| out.push((best(ranked, recommend::TOGETHER_TOP).map(scored).collect::<Vec<_>>(), 1)));
    tops.arrange_by_key().join_core(products, |_, items, p: &String| {
        Some((p.clone(), Together { product_id: p.clone(), items: items.clone() }))
    })
}

/// A coarse, non-decreasing grading of a score: exact up to 16, then eight
/// bands per doubling. A higher band always means a higher score, so the
/// best bands holding n items hold the best n items.
fn band(score: i64) -> i64 {
    if score <= 16 {
        return score;
    }
    let octave = 63 - i64::from(score.leading_zeros());
    16 + (octave - 4) * 8 + ((score >> (octave - 3)) & 7)
}

/// A scored product as (−score, productId): a group's values reach `reduce`
/// sorted, so in this form its best come first and a top reads no further.
type Ranked = (i64, String);

/// The first `n` of a group of [`Ranked`] values with a score of at least 1.
fn best<'a>(ranked: &'a [(&'a Ranked, isize)], n: usize) -> impl Iterator<Item = &'a Ranked> + 'a {
    ranked.iter().map(|(r, _)| *r).take_while(|r| r.0 <= -1).take(n)
}

fn scored(ranked: &Ranked) -> Scored {
    Scored { product_id: ranked.1.clone(), score: -ranked.0 }
}

/// Shards of trending's two-level top: the top of each shard, then the top of those.
const TRENDING_SHARDS: u64 = 64;

/// The newest of the times: the latest per millisecond, then per second,
/// minute and day, then of all days. An epoch re-reads the few groups its
/// times fall in, each bounded (a thousand milliseconds, sixty seconds...)
/// whatever the event rate and the length of the history.
fn newest_of<'s>(times: Coll<'s, EventTime>) -> Coll<'s, EventTime> {
    const WIDTHS: [i64; 4] = [EventTime::MILLISECOND, EventTime::SECOND, 60 * EventTime::SECOND, EventTime::DAY];
    fn latest<K>(_: &K, times: &[(&EventTime, isize)], out: &mut Vec<(EventTime, isize)>) {
        out.push((*times.last().expect("non-empty").0, 1));
    }
    let mut newest = times.map(|time| (time.0.div_euclid(WIDTHS[0]), time)).reduce(latest);
    for width in &WIDTHS[1..] {
        newest = newest.map(move |(_, time)| (time.0.div_euclid(*width), time)).reduce(latest);
    }
    newest.map(|(_, time)| ((), time)).reduce(latest).map(|((), time)| time)
}

/// Trending over the window before the newest event time. Scores are kept per
/// (minute, product); a move of the newest time re-reads only the rows of the
/// minute the window's start falls in, and of minutes entering or leaving it.
fn trending_of<'s>(
    facts: &Coll<'s, Fact>,
    purchases: &Coll<'s, (String, String, Recency, i64)>,
) -> Coll<'s, (String, Trending)> {
    use recommend::minute;
    let newest = newest_of(facts.clone().flat_map(|fact| match fact {
        Fact::Clock(time) => Some(time),
        _ => None,
    }));
    // (product, time, weight) of every view and purchased line.
    let activity = facts
        .clone()
        .flat_map(|fact| match fact {
            Fact::View(stamp, _, product) => Some((product, stamp.time, 1)),
            _ => None,
        })
        .concat(
            purchases.clone().map(|(_, product, (time, _), units)| (product, time, recommend::PURCHASE_WEIGHT * units)),
        );
    // Whole minutes after the one the window starts in: their sums.
    let whole = newest.clone().flat_map(|newest| {
        let start = newest.0 - recommend::TRENDING_WINDOW;
        (minute(EventTime(start)) + 1..=minute(newest)).map(|m| (m, ()))
    });
    let per_minute = sum(activity.clone().map(|(product, time, weight)| ((minute(time), product), weight)))
        .map(|((m, product), weight)| (m, (product, weight)));
    let inside = per_minute.semijoin(whole.map(|(m, ())| m)).map(|(_, row)| row);
    // The minute the window starts in: row by row.
    let edge = newest.clone().map(|newest| {
        let start = newest.0 - recommend::TRENDING_WINDOW;
        (minute(EventTime(start)), start)
    });
    let partial = activity
        .map(|(product, time, weight)| (minute(time), (product, time, weight)))
        .join_map(edge, |_, (product, time, weight), start| {
            (product.clone(), if time.0 > *start { *weight } else { 0 })
        })
        .filter(|(_, weight)| *weight != 0);
    let scores = sum(inside.concat(partial));
    // Top per shard, then top of the shards' tops.
    let shards = scores
        .map(|(product, score)| (id_hash(&product) as u64 % TRENDING_SHARDS, (-score, product)))
        .reduce(|_, ranked, out| out.extend(best(ranked, recommend::TRENDING_TOP).map(|r| (r.clone(), 1))))
        .map(|(_, ranked)| ((), ranked));
    shards
        .reduce(|_, ranked, out| out.push((best(ranked, recommend::TRENDING_TOP).map(scored).collect::<Vec<_>>(), 1)))
        .join_map(newest.map(|newest| ((), newest)), |_, items, newest| {
            (recommend::TRENDING_KEY.to_string(), Trending { items: items.clone(), newest: *newest })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use differential_dataflow::input::InputSession;
    use std::collections::BTreeSet;
    use std::sync::{Arc, Mutex};

    #[test]
    fn bands_are_exact_up_to_16_and_never_decrease() {
        assert_eq!((1..=16).map(band).collect::<Vec<_>>(), (1..=16).collect::<Vec<_>>());
        let mut last = band(1);
        for score in 2..200_000 {
            let b = band(score);
            assert!(b == last || b == last + 1, "band({score}) = {b} after {last}");
            last = b;
        }
        // Eight bands per doubling.
        assert_eq!(band(1 << 20) - band(1 << 19), 8);
    }

    /// The lists by definition: per product, every other product scored by
    /// the users holding both, best ten by (score desc, productId asc).
    fn naive(held: &BTreeSet<(String, String)>) -> BTreeMap<String, Vec<Scored>> {
        let mut sets: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for (user, product) in held {
            sets.entry(user.as_str()).or_default().insert(product.as_str());
        }
        let mut scores: BTreeMap<&str, BTreeMap<&str, i64>> = BTreeMap::new();
        for set in sets.values() {
            for p in set {
                for q in set.iter().filter(|q| *q != p) {
                    *scores.entry(p).or_default().entry(q).or_default() += 1;
                }
            }
        }
        let list = |partners: &BTreeMap<&str, i64>| {
            let items = partners.iter().map(|(q, n)| Scored { product_id: q.to_string(), score: *n });
            recommend::top(items, recommend::TOGETHER_TOP)
        };
        scores.iter().map(|(p, partners)| (p.to_string(), list(partners))).collect()
    }

    #[test]
    fn lists_are_exact_when_product_hashes_collide() {
        // 40 products over 8 hashes (3 bits under test): every hash is shared, so
        // products are told apart by their rank, and ranks move as products come and go.
        let products: Vec<String> = (0..40).map(|i| format!("prd-{i:02}")).collect();
        assert!(products.iter().map(|p| product_hash(p)).collect::<BTreeSet<_>>().len() <= 8);
        let rng = shopflow_ingest::generate::Rng::new(5);
        let next = |n: usize| rng.below(n as u64) as usize;
        // Epochs of holds added and removed, by 30 users.
        let mut held: BTreeSet<(String, String)> = BTreeSet::new();
        let mut epochs = Vec::new();
        for _ in 0..30 {
            let mut changes = Vec::new();
            for _ in 0..25 {
                let hold = (format!("usr-{}", next(30)), products[next(40)].clone());
                if held.contains(&hold) && next(3) == 0 {
                    held.remove(&hold);
                    changes.push((hold, -1));
                } else if held.insert(hold.clone()) {
                    changes.push((hold, 1));
                }
            }
            epochs.push((changes, naive(&held)));
        }
        type Lists = Arc<Mutex<BTreeMap<(String, Vec<Scored>), isize>>>;
        let sink: Lists = Default::default();
        timely::execute_directly(move |worker| {
            let mut input: InputSession<u64, (String, String), isize> = InputSession::new();
            let capture = sink.clone();
            let probe = worker.dataflow::<u64, _, _>(|scope| {
                let sink = capture;
                let out = together(input.to_collection(scope)).inspect(move |((p, list), _, diff)| {
                    *sink.lock().unwrap().entry((p.clone(), list.items.clone())).or_default() += diff;
                });
                out.probe().0
            });
            for (changes, expected) in epochs {
                for (hold, diff) in changes {
                    input.update(hold, diff);
                }
                input.advance_to(input.time() + 1);
                input.flush();
                while probe.less_than(input.time()) {
                    worker.step();
                }
                let actual: BTreeMap<String, Vec<Scored>> = sink
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|(_, diff)| **diff != 0)
                    .map(|((p, items), diff)| {
                        assert_eq!(*diff, 1, "one list per product");
                        (p.clone(), items.clone())
                    })
                    .collect();
                let expected: BTreeMap<String, Vec<Scored>> =
                    expected.into_iter().filter(|(_, items)| !items.is_empty()).collect();
                assert_eq!(actual, expected);
            }
        });
    }
}
