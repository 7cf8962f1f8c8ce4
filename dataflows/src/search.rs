//! Search and browse (`views.md`, "Search"; the definitions in
//! [`shopflow_views::search`]): each term's posting list and each
//! category's listing of live products, as (list, productId) → entry rows.
//!
//! A product's rows depend only on the product and its category's name, so
//! an updated description moves only that product's terms; no list is ever
//! assembled here (the sink writes each row as a field of its list's hash).

use crate::ops::Epochs;
use crate::ops::ReduceHeld;
use crate::{id_hash, Coll, Epoch, Project};
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
    let category_terms = crate::ops::distinct(
        categories
            .flat_map(|(id, view)| search::terms(&view.name).map(move |term| (id.clone(), term)).collect::<Vec<_>>()),
    );
    let named = live
        .clone()
        .map(|(id, view)| (view.category_id, id))
        .join_map(category_terms, |_, id, term| ((term.clone(), id.clone()), CATEGORY));
    let fields = own.concat(named).reduce_held(|_, fields, out| {
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

/// A prefix's top: (−searches, query), best first, at most [`SUGGESTIONS_TOP`].
type Top = Vec<(i64, String)>;

/// A query whose searches an epoch changed: (query, searches before, searches after).
type Change = (String, isize, isize);

/// The most searched queries of each prefix of the `queries` searched (one
/// row per search), by one operator. Every prefix of a query begins with its
/// first character, so queries are exchanged by it: a query and all of its
/// prefixes are on one worker. It holds each query's searches in query order
/// (a prefix's queries are then a range) and each prefix's top. At every
/// epoch, only the prefixes of the queries it changed are looked at, and a
/// top is mended from the changed queries alone ([`mended`]) unless it lost a
/// query that something outside it may now outrank; then the prefix's range
/// is read again. Where each prefix length was a level of reduces (twenty of
/// them, with a filter, a flat map and a concat each), all arranged, and each
/// epoch stepped all of them.
fn suggestions<'s>(queries: Coll<'s, String>) -> Coll<'s, (String, Suggestions)> {
    use crate::ops::unary_held;
    use differential_dataflow::AsCollection;
    use std::collections::HashMap;
    use timely::dataflow::channels::pact::Exchange;

    let route = |(query, _, _): &(String, Epoch, isize)| id_hash(prefixes(query).next().unwrap_or("")) as u64;
    let stream = unary_held(queries.inner, Exchange::new(route), "Suggestions", |_, _| {
        let mut pending: Epochs<HashMap<String, isize>> = Epochs::new();
        // Searches per query (none at zero), in query order.
        let mut counts: BTreeMap<String, isize> = BTreeMap::new();
        // Per prefix with a query: its top.
        let mut tops: HashMap<String, Top> = HashMap::new();
        move |(input, frontier), output| {
            input.for_each_stamp(|capability, containers| {
                pending.file(&capability, containers, |arrived, query, diff| {
                    *arrived.entry(query).or_default() += diff;
                });
            });
            while let Some((time, capability, arrived)) = pending.complete(&[frontier]) {
                let mut changes: Vec<Change> = Vec::new();
                for (query, diff) in arrived {
                    // A query without a prefix (empty) is under none.
                    if diff == 0 || query.is_empty() {
                        continue;
                    }
                    let before = counts.get(&query).copied().unwrap_or(0);
                    let after = before + diff;
                    if after == 0 {
                        counts.remove(&query);
                    } else {
                        counts.insert(query.clone(), after);
                    }
                    changes.push((query, before, after));
                }
                let mut under: HashMap<&str, Vec<&Change>> = HashMap::new();
                for change in &changes {
                    for prefix in prefixes(&change.0) {
                        under.entry(prefix).or_default().push(change);
                    }
                }
                let mut session = output.session(&capability);
                for (prefix, changed) in under {
                    // Most searches leave a prefix's top as it was: looked up in place, and
                    // the map written only when the top changed.
                    let old = tops.get(prefix).map(Vec::as_slice).unwrap_or_default();
                    let new = mended(old, &changed).unwrap_or_else(|| ranked(&counts, prefix));
                    if new == old {
                        continue;
                    }
                    let old = tops.remove(prefix).unwrap_or_default();
                    if !old.is_empty() {
                        session.give(((prefix.to_string(), shown(prefix, old)), time, -1));
                    }
                    if !new.is_empty() {
                        session.give(((prefix.to_string(), shown(prefix, new.clone())), time, 1));
                        tops.insert(prefix.to_string(), new);
                    }
                }
            }
        }
    });
    stream.as_collection()
}

/// A prefix's top after its `changed` queries, from its `old` top alone, or
/// `None` when that cannot tell. The queries outside the old top that did not
/// change all rank after its last; so the old top's unchanged queries with
/// the changed ones (at their new searches) give the new top when the old
/// one held every query of the prefix (fewer than [`SUGGESTIONS_TOP`]), or
/// when their first [`SUGGESTIONS_TOP`] end no later than the old last.
fn mended(old: &[(i64, String)], changed: &[&Change]) -> Option<Top> {
    let is_changed = |query: &String| changed.iter().any(|(changed, _, _)| changed == query);
    let mut top: Top = old.iter().filter(|(_, query)| !is_changed(query)).cloned().collect();
    top.extend(
        changed.iter().filter(|(_, _, after)| *after != 0).map(|(query, _, after)| (-(*after as i64), query.clone())),
    );
    top.sort_unstable();
    match old.last() {
        Some(last) if old.len() == SUGGESTIONS_TOP => {
            (top.len() >= SUGGESTIONS_TOP && top[SUGGESTIONS_TOP - 1] <= *last).then(|| {
                top.truncate(SUGGESTIONS_TOP);
                top
            })
        }
        _ => {
            top.truncate(SUGGESTIONS_TOP);
            Some(top)
        }
    }
}

/// A prefix's top from every query under it.
fn ranked(counts: &BTreeMap<String, isize>, prefix: &str) -> Top {
    use std::ops::Bound;
    let mut all: Vec<(i64, &String)> = counts
        .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
        .take_while(|(query, _)| query.starts_with(prefix))
        .map(|(query, searches)| (-(*searches as i64), query))
        .collect();
    all.sort_unstable();
    all.into_iter().take(SUGGESTIONS_TOP).map(|(rank, query)| (rank, query.clone())).collect()
}

/// What `GET /search/suggestions` serves of a prefix's top.
fn shown(prefix: &str, top: Top) -> Suggestions {
    let items = top.into_iter().map(|(rank, query)| SearchCount { query, searches: -rank }).collect();
    Suggestions { prefix: prefix.to_string(), items }
}

/// Suggestions and trending searches from the Search.Performed facts.
pub fn searches<'s>(facts: Coll<'s, Fact>, newest: Coll<'s, EventTime>) -> Searches<'s> {
    let searched = facts.flat_map(|fact| match fact {
        Fact::Search(stamp, query, _) => Some((query, stamp.time)),
        _ => None,
    });
    let suggestions = suggestions(searched.clone().map(|(query, _)| query));
    let activity = searched.map(|(query, time)| (query, time, 1));
    let trending =
        crate::ops::window_top(newest, activity, EventTime::DAY, TRENDING_SEARCHES_TOP).map(|(ranked, newest)| {
            let items = ranked.into_iter().map(|(query, searches)| SearchCount { query, searches }).collect();
            (TRENDING_SEARCHES_KEY.to_string(), TrendingSearches { items, newest })
        });
    Searches { suggestions, trending }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::tests::keyed_at_every_epoch;

    /// Every prefix's suggestions from the searches of each query, computed
    /// directly: the queries under it by (searches desc, query), the first ten.
    fn direct(searches: &BTreeMap<String, isize>) -> BTreeMap<String, Suggestions> {
        let mut under: BTreeMap<String, Vec<(i64, &String)>> = BTreeMap::new();
        for (query, n) in searches.iter().filter(|(_, n)| **n != 0) {
            for prefix in prefixes(query) {
                under.entry(prefix.to_string()).or_default().push((-(*n as i64), query));
            }
        }
        under
            .into_iter()
            .map(|(prefix, mut ranked)| {
                ranked.sort();
                let items = ranked
                    .into_iter()
                    .take(SUGGESTIONS_TOP)
                    .map(|(n, query)| SearchCount { query: query.clone(), searches: -n })
                    .collect();
                (prefix.clone(), Suggestions { prefix, items })
            })
            .collect()
    }

    /// Searches of queries over three letters (so that prefixes share most of
    /// their queries and tops are full), a few longer than the twenty
    /// characters kept and the empty query among them, over 40 epochs; a
    /// fifth of the changes take a search off again, often of a query at the
    /// top. `suggestions` must give, at every epoch, exactly [`direct`].
    fn suggestions_run(workers: usize, seed: u64) {
        let rng = shopflow_ingest::generate::Rng::new(seed);
        let query = |rng: &shopflow_ingest::generate::Rng| -> String {
            if rng.below(20) == 0 {
                return ["", &"ab".repeat(12), &format!("{}c", "ab".repeat(11))][rng.below(3) as usize].to_string();
            }
            // Half of them begin with 'a': its prefixes' tops fill up and lose queries at their edge.
            let len = 1 + rng.below(4) as usize;
            (0..len)
                .map(|i| if i == 0 && rng.below(2) == 0 { 'a' } else { (b'a' + rng.below(3) as u8) as char })
                .collect()
        };
        let mut live: Vec<String> = Vec::new();
        let mut rounds: Vec<Vec<(String, isize)>> = Vec::new();
        let mut expected: Vec<BTreeMap<String, Suggestions>> = Vec::new();
        for _ in 0..40 {
            let mut changes = Vec::new();
            for _ in 0..15 {
                if !live.is_empty() && rng.below(5) == 0 {
                    let row = live.swap_remove(rng.below(live.len() as u64) as usize);
                    changes.push((row, -1));
                } else {
                    let row = query(&rng);
                    live.push(row.clone());
                    changes.push((row, 1));
                }
            }
            let mut searches: BTreeMap<String, isize> = BTreeMap::new();
            for query in &live {
                *searches.entry(query.clone()).or_default() += 1;
            }
            rounds.push(changes);
            expected.push(direct(&searches));
        }
        assert!(expected[39].get("a").is_some_and(|top| top.items.len() == SUGGESTIONS_TOP), "full tops tested");
        keyed_at_every_epoch(workers, rounds, expected, suggestions);
    }

    #[test]
    fn suggestions_are_each_prefixs_top_at_every_epoch_on_one_worker() {
        suggestions_run(1, 41);
    }

    #[test]
    fn suggestions_are_each_prefixs_top_at_every_epoch_on_three_workers() {
        suggestions_run(3, 42);
    }
}
