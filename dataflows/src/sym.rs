//! [`Sym`]: an id that is cheap to compare and to copy, for the largest
//! arrangements (the pair counts of the recommendations hold every pair of
//! products bought or viewed by one user, as two ids).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cmp::Ordering;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// An id with a 64-bit hash of it. Ordered by the hash first and only then
/// by the text, so an arrangement's searches compare integers and read the
/// text only when two ids' hashes agree (almost always: the same id). Clones
/// share the text. Equality and order stay exact: two ids with the same hash
/// are still told apart by their text.
///
/// The order is not the ids' alphabetical order; whoever lists ids in that
/// order sorts by [`Sym::as_str`].
#[derive(Clone)]
pub struct Sym {
    hash: u64,
    text: Arc<str>,
}

impl Sym {
    /// The id `text`.
    pub fn new(text: &str) -> Sym {
        Sym { hash: crate::id_hash(text) as u64, text: Arc::from(text) }
    }

    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl std::fmt::Debug for Sym {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.text, f)
    }
}

impl PartialEq for Sym {
    fn eq(&self, other: &Sym) -> bool {
        self.hash == other.hash && (Arc::ptr_eq(&self.text, &other.text) || self.text == other.text)
    }
}

impl Eq for Sym {}

impl Ord for Sym {
    fn cmp(&self, other: &Sym) -> Ordering {
        self.hash.cmp(&other.hash).then_with(|| {
            if Arc::ptr_eq(&self.text, &other.text) {
                Ordering::Equal
            } else {
                self.text.cmp(&other.text)
            }
        })
    }
}

impl PartialOrd for Sym {
    fn partial_cmp(&self, other: &Sym) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Hash for Sym {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl Serialize for Sym {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Sym {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Sym, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(Sym::new(&text))
    }
}

#[cfg(test)]
mod tests {
    use super::Sym;

    #[test]
    fn equal_texts_are_equal_ids_and_different_texts_differ() {
        let a = Sym::new("prd-000001");
        assert_eq!(a, Sym::new("prd-000001"));
        assert_eq!(a, a.clone());
        assert_ne!(a, Sym::new("prd-000002"));
        assert_eq!(a.cmp(&Sym::new("prd-000001")), std::cmp::Ordering::Equal);
        assert_eq!(a.as_str(), "prd-000001");
    }

    #[test]
    fn ids_with_one_hash_are_still_told_apart_by_text() {
        let a = Sym { hash: 7, text: "a".into() };
        let b = Sym { hash: 7, text: "b".into() };
        assert_ne!(a, b);
        assert_eq!(a.cmp(&b), std::cmp::Ordering::Less);
        assert_eq!(b.cmp(&a), std::cmp::Ordering::Greater);
        // The hash decides first, whatever the text.
        assert!(Sym { hash: 1, text: "z".into() } < a);
    }

    #[test]
    fn an_id_travels_as_its_text() {
        let a = Sym::new("usr-1");
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, "\"usr-1\"");
        let back: Sym = serde_json::from_str(&json).unwrap();
        assert_eq!(back, a);
    }
}
