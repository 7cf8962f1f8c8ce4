//! Small operators the families share.

use crate::{id_hash, Coll, Epoch};
use shopflow_topics::EventTime;
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

/// The minute an event time falls in: trending's unit of bookkeeping.
pub fn minute(time: EventTime) -> i64 {
    time.0.div_euclid(60 * 1_000_000_000)
}

/// The newest of the times, one value: what [`latest_by_key`] keeps for a
/// single key. Times only ever arrive (facts are never retracted after
/// [`crate::dedup`]), so the newest is a running maximum: one value held, not
/// every time seen.
pub fn newest_of<'s>(times: Coll<'s, EventTime>) -> Coll<'s, EventTime> {
    latest_by_key(times.map(|time| ((), time))).map(|((), time)| time)
}

/// Per key, the greatest value seen — what `reduce` keeping the last value
/// computes, for inputs that only ever grow (every update adds one; a
/// retraction is a bug of the caller, logged and ignored). It holds one value
/// per key rather than every input: when a complete epoch brings a greater
/// value, the old one is retracted and the new one asserted at that epoch.
/// Epochs are taken in order once the input frontier has passed them, so the
/// result at every epoch is exactly the maximum of the values up to it.
pub fn latest_by_key<'s, K, V>(rows: Coll<'s, (K, V)>) -> Coll<'s, (K, V)>
where
    K: differential_dataflow::ExchangeData + std::hash::Hash,
    V: differential_dataflow::ExchangeData,
{
    use differential_dataflow::AsCollection;
    use std::collections::{BTreeMap, HashMap};
    use timely::dataflow::channels::pact::Exchange;
    use timely::dataflow::operators::generic::operator::Operator;
    use timely::dataflow::operators::Capability;

    let route = |update: &((K, V), Epoch, isize)| {
        use std::hash::Hasher;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(&update.0 .0, &mut hasher);
        hasher.finish()
    };
    let stream = rows.inner.unary_frontier(Exchange::new(route), "LatestByKey", |_, _| {
        // Per epoch not yet complete: a capability for it and the greatest value per key in it.
        let mut pending: BTreeMap<Epoch, (Capability<Epoch>, HashMap<K, V>)> = BTreeMap::new();
        let mut latest: HashMap<K, V> = HashMap::new();
        move |(input, frontier), output| {
            input.for_each_stamp(|capability, containers| {
                for container in containers {
                    for ((key, value), time, diff) in container.drain(..) {
                        let (_, greatest) =
                            pending.entry(time).or_insert_with(|| (capability.delayed(&time, 0), HashMap::new()));
                        if diff <= 0 {
                            tracing::error!("latest_by_key: a retraction of an input that only grows; ignored");
                            continue;
                        }
                        match greatest.get_mut(&key) {
                            Some(held) if *held >= value => {}
                            Some(held) => *held = value,
                            None => {
                                greatest.insert(key, value);
                            }
                        }
                    }
                }
            });
            // Complete epochs, oldest first.
            while let Some(entry) = pending.first_entry() {
                if frontier.less_equal(entry.key()) {
                    break;
                }
                let (time, (capability, greatest)) = entry.remove_entry();
                let mut session = output.session(&capability);
                for (key, value) in greatest {
                    match latest.get_mut(&key) {
                        Some(held) if *held >= value => {}
                        Some(held) => {
                            let old = std::mem::replace(held, value.clone());
                            session.give(((key.clone(), old), time, -1));
                            session.give(((key, value), time, 1));
                        }
                        None => {
                            latest.insert(key.clone(), value.clone());
                            session.give(((key, value), time, 1));
                        }
                    }
                }
            }
        }
    });
    stream.as_collection()
}

/// Shards of a windowed top's two levels: the top of each shard, then the top of those.
const TOP_SHARDS: u64 = 64;

/// The `top` keys of `activity` (key, time, weight) by their summed weight in
/// the `window` before the `newest` time (`newest − window < time ≤ newest`),
/// best first, ties by key; with that newest time. Sums are kept per (minute,
/// key): a move of the newest time re-reads only the rows of the minute the
/// window's start falls in, and of minutes entering or leaving it.
pub fn window_top<'s>(
    newest: Coll<'s, EventTime>,
    activity: Coll<'s, (String, EventTime, i64)>,
    window: i64,
    top: usize,
) -> Coll<'s, (Vec<(String, i64)>, EventTime)> {
    // Whole minutes after the one the window starts in: their sums.
    let whole = newest.clone().flat_map(move |newest| {
        let start = newest.0 - window;
        (minute(EventTime(start)) + 1..=minute(newest)).map(|m| (m, ()))
    });
    let per_minute = sum(activity.clone().map(|(key, time, weight)| ((minute(time), key), weight)))
        .map(|((m, key), weight)| (m, (key, weight)));
    let inside = per_minute.semijoin(whole.map(|(m, ())| m)).map(|(_, row)| row);
    // The minute the window starts in: row by row.
    let edge = newest.clone().map(move |newest| {
        let start = newest.0 - window;
        (minute(EventTime(start)), start)
    });
    let partial = activity
        .map(|(key, time, weight)| (minute(time), (key, time, weight)))
        .join_map(edge, |_, (key, time, weight), start| (key.clone(), if time.0 > *start { *weight } else { 0 }))
        .filter(|(_, weight)| *weight != 0);
    let scores = sum(inside.concat(partial));
    // Top per shard, then top of the shards' tops; values reach a reduce sorted: (−score, key).
    let best = move |ranked: &[(&(i64, String), isize)]| {
        ranked.iter().map(|(r, _)| (*r).clone()).take_while(|r| r.0 <= -1).take(top).collect::<Vec<_>>()
    };
    let shards = scores
        .map(|(key, score)| (id_hash(&key) as u64 % TOP_SHARDS, (-score, key)))
        .reduce(move |_, ranked, out| out.extend(best(ranked).into_iter().map(|r| (r, 1))))
        .map(|(_, ranked)| ((), ranked));
    shards
        .reduce(move |_, ranked, out| {
            let ranked: Vec<(String, i64)> = best(ranked).into_iter().map(|(score, key)| (key, -score)).collect();
            out.push((ranked, 1));
        })
        .join_map(newest.map(|newest| ((), newest)), |_, ranked, newest| (ranked.clone(), *newest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_floor_before_the_epoch_too() {
        assert_eq!(minute(EventTime(0)), 0);
        assert_eq!(minute(EventTime(59_999_999_999)), 0);
        assert_eq!(minute(EventTime(60_000_000_000)), 1);
        assert_eq!(minute(EventTime(-1)), -1);
    }
}
