//! Stable hashes of ids: the same bytes give the same hash on every machine,
//! in every run and every version (FNV-1a, 64-bit), so they may be stored,
//! exchanged between processes and used to derive event ids.

/// FNV-1a's 64-bit offset basis.
const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
/// A second basis, for the other half of a 128-bit hash.
const OTHER_OFFSET: u64 = 0x6c62_272e_07bb_0142;
/// FNV-1a's 64-bit prime.
const PRIME: u64 = 0x0000_0100_0000_01B3;

/// FNV-1a over `bytes`, continuing from `state`.
fn fnv1a(state: u64, bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(state, |h, b| (h ^ u64::from(b)).wrapping_mul(PRIME))
}

/// A 128-bit hash of an id (two FNV-1a hashes with different bases): what
/// dedup remembers per event, and what spreads keys over workers.
pub fn id_hash(id: &str) -> u128 {
    (u128::from(fnv1a(OFFSET, id.bytes())) << 64) | u128::from(fnv1a(OTHER_OFFSET, id.bytes()))
}

/// A deterministic id for a derived event: 32 hex digits hashing `parts`.
/// The same facts give the same id in every run and every rebuild, so a
/// consumer can drop re-emitted copies. Parts are separated, so
/// ("ab", "c") and ("a", "bc") differ.
pub fn derived_id(parts: &[&str]) -> String {
    let bytes = || parts.iter().flat_map(|part| part.bytes().chain(std::iter::once(0x1f)));
    format!("{:016x}{:016x}", fnv1a(OFFSET, bytes()), fnv1a(OTHER_OFFSET, bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_its_published_test_vectors() {
        // From the FNV reference: FNV-1a 64 of "" and of "a".
        assert_eq!(fnv1a(OFFSET, "".bytes()), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(OFFSET, "a".bytes()), 0xaf63_dc4c_8601_ec8c);
        assert_eq!((id_hash("a") >> 64) as u64, 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn derived_ids_are_stable_and_separate_parts() {
        assert_eq!(derived_id(&["a", "b"]), derived_id(&["a", "b"]));
        assert_ne!(derived_id(&["ab", "c"]), derived_id(&["a", "bc"]));
        assert_eq!(derived_id(&["x"]).len(), 32);
        assert!(crate::fields::is_valid_id(&derived_id(&["x"])));
    }
}
