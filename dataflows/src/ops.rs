//! Small operators the families share.

use crate::Coll;
use shopflow_views::facts::{Fact, Stamp};

/// Sums the values per key; keys summing to zero vanish.
pub fn sum<'s, K>(rows: Coll<'s, (K, i64)>) -> Coll<'s, (K, i64)>
where
    K: differential_dataflow::ExchangeData + differential_dataflow::Hashable,
{
    rows.explode(|(key, amount)| Some((key, amount as isize))).count().map(|(key, total)| (key, total as i64))
}

/// Counts distinct values per key.
pub fn count_distinct<'s, K, V>(rows: Coll<'s, (K, V)>) -> Coll<'s, (K, i64)>
where
    K: differential_dataflow::ExchangeData + std::hash::Hash,
    V: differential_dataflow::ExchangeData + std::hash::Hash,
{
    rows.distinct().map(|(key, _)| key).count().map(|(key, n)| (key, n as i64))
}

/// An entity's fact with its stamp, keyed by the entity.
pub type Keyed<V> = (String, (Stamp, V));

/// One view per key: picks the facts of one family keyed by entity, and folds
/// each entity's facts, sorted by (`time`, `id`), into at most one value.
pub fn fold_each<'s, V, W>(
    facts: Coll<'s, Fact>,
    pick: fn(Fact) -> Option<Keyed<V>>,
    fold: impl Fn(&String, &[(&(Stamp, V), isize)]) -> Option<W> + 'static,
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
