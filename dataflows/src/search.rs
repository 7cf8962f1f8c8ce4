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
    DESCRIPTION, NAME, SUGGESTIONS_TOP, SUGGESTION_PREFIX_CHARS, TRENDING_SEARCHES_KEY, TRENDING_SEARCHES_TOP,
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
    // Joined with the entries, not the views: the join arranges what it is
    // given, and a view's description, attributes and images are most of it.
    let entries = live.map(|(id, view)| (id, entry(&view, 0)));
    let indexed =
        fields.map(|((term, id), fields)| (id, (term, fields))).join_map(entries, |id, (term, fields), entry| {
            ((term.clone(), id.clone()), Entry { fields: *fields, ..entry.clone() })
        });
    Search { listings: listed, terms: indexed }
}

/// What shoppers search: suggestions per prefix and trending searches.
pub struct Searches<'s> {
    /// The most searched queries per prefix, by prefix.
    pub suggestions: Coll<'s, (String, Suggestions)>,
    /// The most searched queries in the 24 hours before the newest event time, under one key.
    pub trending: Coll<'s, (String, TrendingSearches)>,
}

/// The most searched queries of each prefix, a level at a time from the
/// longest prefixes kept ([`SUGGESTION_PREFIX_CHARS`] characters) to single
/// characters: a prefix's top is the top of the queries it is the longest
/// kept prefix of and of its one-character-longer prefixes' tops (the top of
/// a union is the top of its parts' tops). A count that changes outside a
/// prefix's top then moves nothing above it, and no reduce reads more than a
/// query plus its children's tops — where one reduce per prefix over every
/// query under it re-read hundreds of queries for each one-letter prefix at
/// every epoch.
fn suggestions<'s>(counts: Coll<'s, (String, isize)>) -> Coll<'s, (String, Suggestions)> {
    // (level, (longest kept prefix, (−searches, query))).
    let direct = counts.flat_map(|(query, searches)| {
        let longest = prefixes(&query).last()?.to_string();
        Some((longest.chars().count(), (longest, (-(searches as i64), query))))
    });
    let mut published: Option<Coll<'s, (String, Suggestions)>> = None;
    let mut from_longer: Option<Coll<'s, (String, (i64, String))>> = None;
    for level in (1..=SUGGESTION_PREFIX_CHARS).rev() {
        let here = direct.clone().filter(move |(l, _)| *l == level).map(|(_, row)| row);
        let candidates = match from_longer.take() {
            Some(longer) => here.concat(longer),
            None => here,
        };
        // Values reach a reduce sorted: most searched first, then by query.
        let tops = candidates.reduce(|_, ranked, out| {
            let top: Vec<(i64, String)> = ranked.iter().take(SUGGESTIONS_TOP).map(|(r, _)| (*r).clone()).collect();
            out.push((top, 1));
        });
        from_longer = Some(tops.clone().flat_map(|(prefix, top)| {
            let mut parent = prefix;
            parent.pop();
            let parent = (!parent.is_empty()).then_some(parent);
            parent.into_iter().flat_map(move |parent| top.clone().into_iter().map(move |r| (parent.clone(), r)))
        }));
        let view = tops.map(|(prefix, top)| {
            let items = top.into_iter().map(|(n, query)| SearchCount { query, searches: -n }).collect();
            (prefix.clone(), Suggestions { prefix, items })
        });
        published = Some(match published {
            Some(before) => before.concat(view),
            None => view,
        });
    }
    published.expect("at least one level")
}

/// Suggestions and trending searches from the Search.Performed facts.
pub fn searches<'s>(facts: Coll<'s, Fact>, newest: Coll<'s, EventTime>) -> Searches<'s> {
    let searched = facts.flat_map(|fact| match fact {
        Fact::Search(stamp, query, _) => Some((query, stamp.time)),
        _ => None,
    });
    let counts = searched.clone().map(|(query, _)| query).count();
    let suggestions = suggestions(counts);
    let activity = searched.map(|(query, time)| (query, time, 1));
    let trending =
        crate::ops::window_top(newest, activity, EventTime::DAY, TRENDING_SEARCHES_TOP).map(|(ranked, newest)| {
            let items = ranked.into_iter().map(|(query, searches)| SearchCount { query, searches }).collect();
            (TRENDING_SEARCHES_KEY.to_string(), TrendingSearches { items, newest })
        });
    Searches { suggestions, trending }
}
