//! Analytics relations of ClickHouse (`views.md`, "Analytics"): sales per day
//! (of the order's Order.Created, UTC), the product's current category and
//! the line's vendor; the daily funnel of distinct users; per-product
//! statistics. They read the facts of other families (views, cart additions,
//! orders), which those families project.

use crate::ops::ReduceHeld;
use crate::ops::{first_seen, join_or_alone};
use crate::{count_distinct, id_hash, sum, Coll};
use shopflow_views::analytics::{FunnelDaily, ProductStats, SalesDaily, SearchTermStats};
use shopflow_views::catalog::ProductView;
use shopflow_views::facts::{CartChange, Fact, OrderStep};
use shopflow_views::orders::OrderView;
use shopflow_views::reviews::RatingView;

/// Which figure a summed row is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
enum Measure {
    /// Distinct orders.
    Orders,
    /// Units.
    Units,
    /// Revenue.
    Revenue,
    /// Views.
    Views,
    /// Cart additions.
    Carts,
    /// Distinct viewers.
    Viewers,
    /// Distinct carters.
    Carters,
    /// Distinct buyers.
    Buyers,
    /// Counted reviews.
    RatingCount,
    /// Σ of their ratings.
    RatingSum,
    /// Searches of a query.
    Searches,
    /// Of those, the ones that found nothing.
    ZeroResultSearches,
    /// Clicks on a query's results.
    Clicks,
}

/// `search_terms` by query: searches, those that found nothing, clicks.
pub fn search_terms<'s>(facts: Coll<'s, Fact>) -> Coll<'s, (String, SearchTermStats)> {
    let rows = facts.flat_map(|fact| match fact {
        Fact::Search(_, query, results) => {
            let mut rows = vec![((query.clone(), Measure::Searches), 1)];
            if results == 0 {
                rows.push(((query, Measure::ZeroResultSearches), 1));
            }
            rows
        }
        Fact::SearchClick(query) => vec![((query, Measure::Clicks), 1)],
        _ => Vec::new(),
    });
    sum(rows).map(|((query, measure), n)| (query, (measure, n))).reduce_held(|query, measures, out| {
        let get = |m: Measure| measures.iter().find(|((k, _), _)| *k == m).map_or(0, |((_, n), _)| *n);
        out.push((
            SearchTermStats {
                query: query.clone(),
                searches: get(Measure::Searches),
                zero_result_searches: get(Measure::ZeroResultSearches),
                clicks: get(Measure::Clicks),
            },
            1,
        ));
    })
}

/// The analytics views.
pub struct Analytics<'s> {
    /// `sales_daily` by (day, categoryId, vendorId).
    pub sales_daily: Coll<'s, ((i64, String, String), SalesDaily)>,
    /// `funnel_daily` by day.
    pub funnel_daily: Coll<'s, (i64, FunnelDaily)>,
    /// `product_stats` by productId.
    pub product_stats: Coll<'s, (String, ProductStats)>,
}

/// The three relations, from the facts, the orders, the products and the ratings.
pub fn view<'s>(
    facts: Coll<'s, Fact>,
    orders: Coll<'s, (String, OrderView)>,
    products: Coll<'s, (String, ProductView)>,
    ratings: Coll<'s, (String, RatingView)>,
) -> Analytics<'s> {
    let purchase_lines = orders.flat_map(|(order_id, view)| {
        let day = view.created_at.day_number();
        let lines = if view.is_purchase() { view.items.clone() } else { Vec::new() };
        lines.into_iter().map(move |line| (line.product_id.clone(), (day, order_id.clone(), line)))
    });
    let product_categories = products.map(|(id, view)| (id, view.category_id));
    // A line of a product with no Product.* event yet is in the category "".
    let categorised = join_or_alone(
        purchase_lines.clone(),
        product_categories,
        |_, (day, order_id, line), category| (*day, category.clone(), order_id.clone(), line.clone()),
        |_, (day, order_id, line)| (day, String::new(), order_id, line),
    );
    let sales_orders = count_distinct(
        categorised.clone().map(|(day, category, order_id, line)| ((day, category, line.vendor_id), order_id)),
    )
    .map(|(key, n)| ((key, Measure::Orders), n));
    let sales_amounts = sum(categorised.flat_map(|(day, category, _, line)| {
        let key = (day, category, line.vendor_id);
        [((key.clone(), Measure::Units), line.quantity), ((key, Measure::Revenue), line.quantity * line.unit_price)]
    }));
    let sales_daily = sales_orders.concat(sales_amounts).map(|((key, measure), n)| (key, (measure, n))).reduce_held(
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
    // Facts only arrive: each (day, measure, user) is counted once, when first
    // seen, and a day's measure is the multiplicity of (day, measure).
    let funnel_daily = first_seen(funnel_users, |(_, user)| id_hash(user) as u64)
        .map(|((day, measure), _)| (day, measure))
        .reduce_held(|day, measures, out| {
            let get = |m: Measure| measures.iter().find(|(k, _)| **k == m).map_or(0, |(_, n)| *n as i64);
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
    let rated = ratings.flat_map(|(product, rating)| {
        [((product.clone(), Measure::RatingCount), rating.count), ((product, Measure::RatingSum), rating.sum)]
    });
    let product_stats = sum(activity.concat(purchased).concat(rated))
        .map(|((product, measure), n)| (product, (measure, n)))
        .reduce_held(|product, measures, out| {
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
    Analytics { sales_daily, funnel_daily, product_stats }
}
