//! Answers to listings and searches, kept while the lists they came from are
//! unchanged.
//!
//! An answer ([`Found`]) is a function of the lists it was computed from
//! (posting lists and a listing) and the query. The pipeline counts every
//! publication that changes a list (`{ns}:{generation}:listver` in Redis), so
//! an answer computed from lists at versions *v* is the answer for as long as
//! one small read finds those lists still at *v* in the same generation. A
//! replica answers a repeated query with that one read instead of reading and
//! intersecting the lists again; readers still never see lists of different
//! epochs, because the versions and `asOf` are read in one step. What is kept
//! is the answer's body already rendered up to its `asOf` ([`Rendered`]): a
//! repeated query costs a copy, not a serialisation of its facets. The cache is
//! per process, bounded, and emptied when full: it holds nothing a replica
//! could not compute again, so the API stays stateless.
//!
//! A miss reads whole lists, which for a common word of a large catalog is
//! megabytes: at most [`MISSES_IN_FLIGHT`] misses of a process read at once
//! (the others wait, then look again: the same query may have been answered
//! meanwhile), so a burst of new queries queues in the API instead of piling
//! large reads on Redis until every read times out and the circuit opens.

use axum::body::Bytes;
use shopflow_views::search::Query;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How many answers a process keeps before it starts over.
pub const CAPACITY: usize = 4_096;

/// How many misses of a process read lists at once.
pub const MISSES_IN_FLIGHT: usize = 2;

/// An answer's JSON body without its end: `{"items":…,"facets":…,"total":…,"asOf":`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered(pub Bytes);

impl Rendered {
    /// The whole body, with `as_of` and the closing brace.
    pub fn with_as_of(&self, as_of: i64) -> Vec<u8> {
        let mut body = Vec::with_capacity(self.0.len() + 21);
        body.extend_from_slice(&self.0);
        body.extend_from_slice(as_of.to_string().as_bytes());
        body.push(b'}');
        body
    }
}

/// The answers of one process.
#[derive(Clone)]
pub struct Answers {
    kept: Arc<Mutex<HashMap<String, Rendered>>>,
    misses: Arc<tokio::sync::Semaphore>,
}

impl Default for Answers {
    fn default() -> Answers {
        Answers { kept: Arc::default(), misses: Arc::new(tokio::sync::Semaphore::new(MISSES_IN_FLIGHT)) }
    }
}

impl Answers {
    /// The key of `query` answered from lists at `versions` of `generation`.
    pub fn key(generation: &str, versions: &[u64], query: &Query) -> String {
        format!("{generation}|{versions:?}|{query:?}")
    }

    /// The answer kept under `key`.
    pub fn get(&self, key: &str) -> Option<Rendered> {
        self.kept.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(key).cloned()
    }

    /// Keeps an answer under `key`.
    pub fn put(&self, key: String, found: Rendered) {
        let mut kept = self.kept.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if kept.len() >= CAPACITY {
            kept.clear();
        }
        kept.insert(key, found);
    }

    /// A turn to read lists for a miss: held until dropped.
    pub async fn miss_turn(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.misses.acquire().await.expect("the semaphore is never closed")
    }

    /// How many answers are kept.
    pub fn len(&self) -> usize {
        self.kept.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shopflow_views::search::Sort;

    fn query(terms: &[&str], page: usize) -> Query {
        Query {
            terms: terms.iter().map(|t| t.to_string()).collect(),
            category: None,
            min_price: None,
            max_price: None,
            vendor: None,
            sort: Sort::Relevance,
            page,
            page_size: 20,
        }
    }

    #[test]
    fn an_answer_is_found_only_for_the_same_generation_versions_and_query_and_the_cache_stays_bounded() {
        let answers = Answers::default();
        let found = Rendered(Bytes::from_static(b"{\"total\":3,\"asOf\":"));
        assert_eq!(found.with_as_of(17), b"{\"total\":3,\"asOf\":17}");
        answers.put(Answers::key("g1", &[1, 4], &query(&["red", "lamp"], 1)), found.clone());
        assert_eq!(answers.get(&Answers::key("g1", &[1, 4], &query(&["red", "lamp"], 1))), Some(found));
        assert_eq!(answers.get(&Answers::key("g1", &[1, 5], &query(&["red", "lamp"], 1))), None);
        assert_eq!(answers.get(&Answers::key("g2", &[1, 4], &query(&["red", "lamp"], 1))), None);
        assert_eq!(answers.get(&Answers::key("g1", &[1, 4], &query(&["red", "lamp"], 2))), None);
        assert_eq!(answers.get(&Answers::key("g1", &[14], &query(&["red", "lamp"], 1))), None);
        for page in 0..CAPACITY + 10 {
            answers.put(Answers::key("g1", &[1], &query(&["lamp"], page)), Rendered(Bytes::new()));
        }
        assert!(answers.len() <= CAPACITY && !answers.is_empty());
    }
}
