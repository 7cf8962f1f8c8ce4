//! Search and browse (`views.md`, "Search"; the definitions in
//! [`shopflow_views::search`]): each term's posting list and each
//! category's listing of live products, as (list, productId) → entry rows.
//!
//! A product's rows depend only on the product and its category's name, so
//! an updated description moves only that product's terms; no list is ever
//! assembled here (the sink writes each row as a field of its list's hash).

use crate::{Coll, Project};
use shopflow_topics::events::{SearchPerformed, SearchResultClicked};
use shopflow_topics::EventTime;
use shopflow_views::catalog::{CategoryView, ProductView};
use shopflow_views::facts::{Fact, Stamp};
use shopflow_views::search::{
    self, normalize, prefixes, Entry, SearchCount, Suggestions, TrendingSearches, ALL, ATTRIBUTE, CATEGORY,
    DESCRIPTION, NAME, SUGGESTIONS_TOP, TRENDING_SEARCHES_KEY, TRENDING_SEARCHES_TOP,
};
use std::collections::BTreeMap;

/// Searches of an empty query (once trimmed) are a browse, not a search: not counted.
impl Project for SearchPerformed {
    fn project(&self, stamp: &Stamp, out: &mut Vec<Fact>) {
        let query = normalize(&self.query);
        if !query.is_empty() {
            out.push(Fact::Search(stamp.clone(), query, self.result_count));
        }
    }
}

impl Project for SearchResultClicked {
    fn project(&self, _: &Stamp, out: &mut Vec<Fact>) {
        let query = normalize(&self.query);
        if !query.is_empty() {
            out.push(Fact::SearchClick(query));
        }
    }
}

/// The search views.
pub struct Search<'s> {
    /// Listings: (categoryId or [`ALL`], productId) → the entry of a live product in it or below it.
    pub listings: Coll<'s, ((String, String), Entry)>,
    /// Posting lists: (term, productId) → the entry of a live product holding the term.
    pub terms: Coll<'s, ((String, String), Entry)>,
}

/// A product's entry in a list, `fields` saying where the term is (0 in a listing).
fn entry(view: &ProductView, fields: u8) -> Entry {
    Entry {
        product_id: view.product_id.clone(),
        fields,
        name: view.name.clone(),
        price: view.price,
        currency: view.currency.clone(),
        vendor_id: view.vendor_id.clone(),
        category_id: view.category_id.clone(),
        created_at: view.created_at,
    }
}

/// Each term of a product's own text with where it is: name, description, attribute values.
pub fn terms_of(view: &ProductView) -> BTreeMap<String, u8> {
    let mut found: BTreeMap<String, u8> = BTreeMap::new();
    let mut add = |text: &str, field: u8| {
        for term in search::terms(text) {
            *found.entry(term).or_default() |= field;
        }
    };
    add(&view.name, NAME);
    add(&view.description, DESCRIPTION);
    for value in view.attributes.values() {
        add(value, ATTRIBUTE);
    }
    found
}

/// Listings and posting lists of the `live` products, with the `categories`' names.
///
/// A product's own terms and its category's terms are found apart and
/// joined per (term, product), so renaming a category changes only the rows
/// of the words that changed, and a product's change only its own rows.
pub fn view<'s>(live: Coll<'s, (String, ProductView)>, categories: Coll<'s, (String, CategoryView)>) -> Search<'s> {
    let listed = live.clone().flat_map(|(id, view)| {
        let entry = entry(&view, 0);
        let mut rows: Vec<((String, String), Entry)> =
            view.categories.iter().map(|category| ((category.clone(), id.clone()), entry.clone())).collect();
        rows.push(((ALL.to_string(), id), entry));
        rows
    });
    // ((term, productId), field) of the product's own text, and of its category's name.
    let own = live.clone().flat_map(|(id, view)| {
        terms_of(&view).into_iter().map(move |(term, fields)| ((term, id.clone()), fields)).collect::<Vec<_>>()
    });
    let category_terms = categories
        .flat_map(|(id, view)| search::terms(&view.name).map(move |term| (id.clone(), term)).collect::<Vec<_>>())
        .distinct();
    let named = live
        .clone()
        .map(|(id, view)| (view.category_id, id))
        .join_map(category_terms, |_, id, term| ((term.clone(), id.clone()), CATEGORY));
    let fields = own.concat(named).reduce(|_, fields, out| {
        out.push((fields.iter().fold(0u8, |all, (field, _)| all | **field), 1));
    });
    let indexed = fields
        .map(|((term, id), fields)| (id, (term, fields)))
        .join_map(live, |id, (term, fields), view| ((term.clone(), id.clone()), entry(view, *fields)));
    Search { listings: listed, terms: indexed }
}

/// What shoppers search: suggestions per prefix and trending searches.
pub struct Searches<'s> {
    /// The most searched queries per prefix, by prefix.
    pub suggestions: Coll<'s, (String, Suggestions)>,
    /// The most searched queries in the 24 hours before the newest event time, under one key.
    pub trending: Coll<'s, (String, TrendingSearches)>,
}

/// Suggestions and trending searches from the Search.Performed facts.
pub fn searches<'s>(facts: Coll<'s, Fact>, newest: Coll<'s, EventTime>) -> Searches<'s> {
    let searched = facts.flat_map(|fact| match fact {
        Fact::Search(stamp, query, _) => Some((query, stamp.time)),
        _ => None,
    });
    let counts = searched.clone().map(|(query, _)| query).count();
    let suggestions = counts
        .flat_map(|(query, searches)| {
            let searches = searches as i64;
            prefixes(&query).map(|prefix| (prefix.to_string(), (-searches, query.clone()))).collect::<Vec<_>>()
        })
        .reduce(|prefix, ranked, out| {
            // Values reach a reduce sorted: most searched first, then by query.
            let items = ranked
                .iter()
                .take(SUGGESTIONS_TOP)
                .map(|((n, query), _)| SearchCount { query: query.clone(), searches: -n })
                .collect();
            out.push((Suggestions { prefix: prefix.clone(), items }, 1));
        });
    let activity = searched.map(|(query, time)| (query, time, 1));
    let trending =
        crate::ops::window_top(newest, activity, EventTime::DAY, TRENDING_SEARCHES_TOP).map(|(ranked, newest)| {
            let items = ranked.into_iter().map(|(query, searches)| SearchCount { query, searches }).collect();
            (TRENDING_SEARCHES_KEY.to_string(), TrendingSearches { items, newest })
        });
    Searches { suggestions, trending }
}
