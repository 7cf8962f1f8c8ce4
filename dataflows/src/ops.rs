//! Small operators the families share.

use crate::{id_hash, Coll};
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

/// The newest of the times: the latest per millisecond, then per second,
/// minute and day, then of all days. An epoch re-reads the few groups its
/// times fall in, each bounded (a thousand milliseconds, sixty seconds...)
/// whatever the event rate and the length of the history.
pub fn newest_of<'s>(times: Coll<'s, EventTime>) -> Coll<'s, EventTime> {
    const WIDTHS: [i64; 4] = [EventTime::MILLISECOND, EventTime::SECOND, 60 * EventTime::SECOND, EventTime::DAY];
    fn latest<K>(_: &K, times: &[(&EventTime, isize)], out: &mut Vec<(EventTime, isize)>) {
        out.push((*times.last().expect("non-empty").0, 1));
    }
    let mut newest = times.map(|time| (time.0.div_euclid(WIDTHS[0]), time)).reduce(latest);
    for width in &WIDTHS[1..] {
        newest = newest.map(move |(_, time)| (time.0.div_euclid(*width), time)).reduce(latest);
    }
    newest.map(|(_, time)| ((), time)).reduce(latest).map(|((), time)| time)
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
