//! Search and browse (`views.md`, "Search"): which words a product is found
//! by, the posting lists the pipeline publishes, and how a query is answered
//! from them ([`evaluate`]) — the API and the tests both answer with it.
//!
//! - A product is live when it is not deleted and its vendor is not
//!   suspended; only live products are listed or found.
//! - Its terms are the words of its name, description, category name and
//!   attribute values: lower-cased, split on anything that is not a letter or
//!   a digit ([`terms`]). A query finds the products holding every one of its
//!   terms, whole words.
//! - Each term's posting list and each category's listing (the category and
//!   its descendants; [`ALL`] for every live product) are published as one
//!   Redis hash each, a field per product ([`crate::Family::hashed`]), so a
//!   product's change writes its own fields, whatever the lists' lengths.
//! - Facets count the whole result (not the page) by category, vendor and
//!   [`price_band`].

use serde::{Deserialize, Serialize};
use shopflow_topics::EventTime;
use std::collections::BTreeMap;

/// The term is in the product's name.
pub const NAME: u8 = 1;
/// ... in its description.
pub const DESCRIPTION: u8 = 2;
/// ... in its category's name.
pub const CATEGORY: u8 = 4;
/// ... in one of its attribute values.
pub const ATTRIBUTE: u8 = 8;

/// The listing of every live product (instead of a categoryId).
pub const ALL: &str = "*";

/// The words of `text`: lower-cased, split on anything that is not a letter or digit.
pub fn terms(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase)
}

/// A live product as a posting list holds it: enough to filter, count
/// facets, sort and show a result.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// The product.
    pub product_id: String,
    /// Where the term is ([`NAME`], [`DESCRIPTION`], ...); 0 in a listing.
    pub fields: u8,
    /// Its name.
    pub name: String,
    /// Price in minor units.
    pub price: i64,
    /// Currency.
    pub currency: String,
    /// Its vendor.
    pub vendor_id: String,
    /// Its category.
    pub category_id: String,
    /// When it was created.
    pub created_at: EventTime,
}

/// How results are ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sort {
    /// Fields the query's terms matched (summed over the terms), most first; then productId.
    Relevance,
    /// Cheapest first; then productId.
    Price,
    /// Dearest first; then productId.
    PriceDesc,
    /// Newest first (Product.Created time); then productId.
    Newest,
}

impl Sort {
    /// From the `sort` parameter (`relevance`, `price`, `-price`, `newest`).
    pub fn parse(text: &str) -> Option<Sort> {
        match text {
            "relevance" => Some(Sort::Relevance),
            "price" => Some(Sort::Price),
            "-price" => Some(Sort::PriceDesc),
            "newest" => Some(Sort::Newest),
            _ => None,
        }
    }
}

/// The price bands of the `priceBand` facet, in minor units: (name, from, below).
pub const PRICE_BANDS: [(&str, i64, i64); 5] = [
    ("under-10", i64::MIN, 1_000),
    ("10-50", 1_000, 5_000),
    ("50-100", 5_000, 10_000),
    ("100-500", 10_000, 50_000),
    ("500-and-more", 50_000, i64::MAX),
];

/// The band of a price.
pub fn price_band(price: i64) -> &'static str {
    PRICE_BANDS.iter().find(|(_, from, below)| *from <= price && price < *below).map_or("500-and-more", |b| b.0)
}

/// A question to the catalog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// The words every result must hold (from `q`, through [`terms`]).
    pub terms: Vec<String>,
    /// Only this category and its descendants.
    pub category: Option<String>,
    /// Lowest price, inclusive.
    pub min_price: Option<i64>,
    /// Highest price, inclusive.
    pub max_price: Option<i64>,
    /// Only this vendor.
    pub vendor: Option<String>,
    /// The order.
    pub sort: Sort,
    /// 1-based.
    pub page: usize,
    /// Results per page.
    pub page_size: usize,
}

/// Counts of the whole result.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Facets {
    /// Results per categoryId (the product's own category).
    pub category: BTreeMap<String, i64>,
    /// Results per vendorId.
    pub vendor: BTreeMap<String, i64>,
    /// Results per [`price_band`].
    pub price_band: BTreeMap<String, i64>,
}

/// The answer to a [`Query`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Found {
    /// The page asked for (empty past the end).
    pub items: Vec<Entry>,
    /// Facets of the whole result.
    pub facets: Facets,
    /// Results in all.
    pub total: usize,
}

/// Answers `query` from the posting list of each of its terms (in query
/// order; entries in any order) and the listing of its category (or [`ALL`]
/// when it has no terms; `None` when none is needed).
pub fn evaluate(term_lists: &[Vec<Entry>], listing: Option<&[Entry]>, query: &Query) -> Found {
    // productId → (entry, relevance), for the products that hold every term.
    let mut matches: BTreeMap<&str, (&Entry, u32)> = BTreeMap::new();
    if query.terms.is_empty() {
        for entry in listing.unwrap_or_default() {
            matches.insert(&entry.product_id, (entry, 0));
        }
    } else {
        for (i, list) in term_lists.iter().enumerate() {
            let mut next: BTreeMap<&str, (&Entry, u32)> = BTreeMap::new();
            for entry in list {
                let fields = entry.fields.count_ones();
                if i == 0 {
                    next.insert(&entry.product_id, (entry, fields));
                } else if let Some((first, relevance)) = matches.get(entry.product_id.as_str()) {
                    next.insert(&entry.product_id, (*first, relevance + fields));
                }
            }
            matches = next;
        }
        if term_lists.len() < query.terms.len() {
            matches.clear();
        }
        if query.category.is_some() {
            let members: std::collections::BTreeSet<&str> =
                listing.unwrap_or_default().iter().map(|e| e.product_id.as_str()).collect();
            matches.retain(|id, _| members.contains(id));
        }
    }
    let mut found: Vec<(&Entry, u32)> = matches
        .into_values()
        .filter(|(e, _)| query.min_price.is_none_or(|min| e.price >= min))
        .filter(|(e, _)| query.max_price.is_none_or(|max| e.price <= max))
        .filter(|(e, _)| query.vendor.as_ref().is_none_or(|v| &e.vendor_id == v))
        .collect();
    let mut facets = Facets::default();
    for (entry, _) in &found {
        *facets.category.entry(entry.category_id.clone()).or_default() += 1;
        *facets.vendor.entry(entry.vendor_id.clone()).or_default() += 1;
        *facets.price_band.entry(price_band(entry.price).to_string()).or_default() += 1;
    }
    match query.sort {
        Sort::Relevance => found.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.product_id.cmp(&b.0.product_id))),
        Sort::Price => found.sort_by(|a, b| (a.0.price, &a.0.product_id).cmp(&(b.0.price, &b.0.product_id))),
        Sort::PriceDesc => {
            found.sort_by(|a, b| b.0.price.cmp(&a.0.price).then_with(|| a.0.product_id.cmp(&b.0.product_id)))
        }
        Sort::Newest => {
            found.sort_by(|a, b| b.0.created_at.cmp(&a.0.created_at).then_with(|| a.0.product_id.cmp(&b.0.product_id)))
        }
    }
    let total = found.len();
    let start = query.page.saturating_sub(1).saturating_mul(query.page_size);
    let items = found.into_iter().skip(start).take(query.page_size).map(|(e, _)| e.clone()).collect();
    Found { items, facets, total }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, fields: u8, price: i64) -> Entry {
        Entry {
            product_id: id.into(),
            fields,
            name: id.into(),
            price,
            currency: "USD".into(),
            vendor_id: "ven-1".into(),
            category_id: "cat-1".into(),
            created_at: EventTime(price),
        }
    }

    fn query(terms: &[&str]) -> Query {
        Query {
            terms: terms.iter().map(|t| t.to_string()).collect(),
            category: None,
            min_price: None,
            max_price: None,
            vendor: None,
            sort: Sort::Relevance,
            page: 1,
            page_size: 10,
        }
    }

    #[test]
    fn terms_are_lower_cased_whole_words() {
        let words: Vec<String> = terms("Red-Lamp, 2x LED (Ÿes)").collect();
        assert_eq!(words, ["red", "lamp", "2x", "led", "ÿes"]);
    }

    #[test]
    fn every_term_must_match_and_relevance_counts_fields() {
        let red = vec![entry("a", NAME, 500), entry("b", NAME | DESCRIPTION, 700), entry("c", ATTRIBUTE, 900)];
        let lamp = vec![entry("b", NAME, 700), entry("c", NAME | CATEGORY, 900)];
        let found = evaluate(&[red, lamp], None, &query(&["red", "lamp"]));
        let ids: Vec<&str> = found.items.iter().map(|e| e.product_id.as_str()).collect();
        assert_eq!(ids, ["b", "c"], "b: 2 + 1 fields, c: 1 + 2, then productId");
        assert_eq!(found.total, 2);
        assert_eq!(found.facets.price_band.get("under-10"), Some(&2));
        // A term without a list finds nothing.
        assert_eq!(evaluate(&[vec![entry("a", NAME, 1)]], None, &query(&["a", "zzz"])).total, 0);
    }

    #[test]
    fn pages_past_the_end_are_empty_and_facets_count_the_whole_result() {
        let all: Vec<Entry> = (0..25).map(|i| entry(&format!("p{i:02}"), 0, 100 * i)).collect();
        let mut q = query(&[]);
        q.sort = Sort::PriceDesc;
        q.page = 3;
        let found = evaluate(&[], Some(&all), &q);
        assert_eq!(found.items.len(), 5);
        assert_eq!(found.items[0].product_id, "p04");
        assert_eq!(found.facets.vendor["ven-1"], 25);
        q.page = 4;
        assert!(evaluate(&[], Some(&all), &q).items.is_empty());
        q.min_price = Some(1_000);
        q.max_price = Some(1_500);
        q.page = 1;
        assert_eq!(evaluate(&[], Some(&all), &q).total, 6);
    }
}

// ------------------------------------------------------------- what shoppers search

/// A query as searches are counted: trimmed and lower-cased.
pub fn normalize(query: &str) -> String {
    query.trim().to_lowercase()
}

/// Suggestions are kept for the prefixes of a query up to this many characters.
pub const SUGGESTION_PREFIX_CHARS: usize = 20;
/// How many queries a prefix suggests.
pub const SUGGESTIONS_TOP: usize = 10;
/// How many queries trending searches keep.
pub const TRENDING_SEARCHES_TOP: usize = 10;
/// The one key of the trending searches.
pub const TRENDING_SEARCHES_KEY: &str = "all";

/// The prefixes of a normalized query suggestions are kept under: 1 to
/// [`SUGGESTION_PREFIX_CHARS`] characters.
pub fn prefixes(query: &str) -> impl Iterator<Item = &str> + '_ {
    query
        .char_indices()
        .skip(1)
        .map(|(i, _)| i)
        .chain(std::iter::once(query.len()))
        .filter(|&end| end > 0)
        .take(SUGGESTION_PREFIX_CHARS)
        .map(move |end| &query[..end])
}

/// A query and how often it was searched.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchCount {
    /// The query (normalized).
    pub query: String,
    /// Search.Performed events with it.
    pub searches: i64,
}

/// The most searched queries with a prefix: what `GET /search/suggestions` serves.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Suggestions {
    /// The prefix.
    pub prefix: String,
    /// Best first: (searches desc, query asc); at most [`SUGGESTIONS_TOP`].
    pub items: Vec<SearchCount>,
}

/// The most searched queries of the last 24 hours of event time: what `GET /search/trending` serves.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrendingSearches {
    /// Best first: (searches desc, query asc); at most [`TRENDING_SEARCHES_TOP`].
    pub items: Vec<SearchCount>,
    /// The newest event time seen: the window ends here.
    pub newest: EventTime,
}

#[cfg(test)]
mod query_tests {
    #[test]
    fn prefixes_are_whole_characters_up_to_twenty() {
        let all: Vec<&str> = super::prefixes("öl").collect();
        assert_eq!(all, ["ö", "öl"]);
        let long = "a".repeat(30);
        assert_eq!(super::prefixes(&long).count(), 20);
        assert_eq!(super::prefixes("").count(), 0);
        assert_eq!(super::normalize("  Red LAMP "), "red lamp");
    }
}
