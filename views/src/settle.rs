//! Settled state (`views.md`, "Derived events come from settled state"):
//! the event-time watermark of the source partitions, and the [`Settler`]
//! that lets a derived event out only once the watermark has passed every
//! event it follows from.
//!
//! The views themselves are never delayed. What is delayed is the *emission*
//! of derived events: the dataflows keep, as a collection, every transition
//! of the current history ([`Derived`]); the settler receives that
//! collection's changes and emits a transition once the watermark reaches
//! [`Derived::settles_at`] — if it is still there then. A transition that
//! an event read within the allowed lateness takes back (an Order.Cancelled
//! read before the earlier Payment.Completed) is withdrawn before it settles,
//! so it is never emitted.
//!
//! The watermark is the minimum over source partitions of the newest event
//! time read there, minus the allowed lateness. A partition that has had
//! nothing new to read for the idle timeout (and has read at least up to
//! where it ended at start) does not hold it back: it leaves the minimum until
//! it reads again. When every partition is idle, everything read is settled:
//! the watermark is the newest event time read anywhere. The watermark never
//! goes back.
//!
//! An event read when the watermark has already passed its time is *late*:
//! it is applied to the views like any other (they stay exact) and counted;
//! the transitions it adds are emitted at once (their time is already
//! settled), and those it takes back that were already emitted stay emitted.

use crate::derived::Derived;
use serde::{Deserialize, Serialize};
use shopflow_topics::EventTime;
use std::collections::BTreeMap;

/// Where one source partition's reading stands in event time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Clock {
    /// The newest event time read from it (`None`: nothing yet).
    pub newest: Option<EventTime>,
    /// Whether it has had nothing new to read for the idle timeout.
    pub idle: bool,
}

/// The watermark `clocks` imply with `lateness` (nanoseconds of event
/// time): the minimum over the partitions that are not idle of their newest
/// time, less `lateness` — `None` while one of them has read nothing — or,
/// when every partition is idle, the newest time read anywhere.
pub fn watermark<'a>(clocks: impl IntoIterator<Item = &'a Clock>, lateness: i64) -> Option<EventTime> {
    let mut active: Option<Option<EventTime>> = None;
    let mut newest: Option<EventTime> = None;
    for clock in clocks {
        newest = newest.max(clock.newest);
        if !clock.idle {
            active = Some(match active {
                None => clock.newest,
                Some(low) => low.min(clock.newest),
            });
        }
    }
    match active {
        Some(low) => low.map(|t| t.plus(-lateness)),
        None => newest,
    }
}

/// Holds derived events back until they are settled.
#[derive(Debug, Default)]
pub struct Settler {
    watermark: Option<EventTime>,
    /// Settles at → event → net count of the transition so far.
    pending: BTreeMap<EventTime, BTreeMap<Derived, isize>>,
    late: u64,
}

impl Settler {
    /// A settler with nothing settled yet.
    pub fn new() -> Settler {
        Settler::default()
    }

    /// The watermark reached so far.
    pub fn watermark(&self) -> Option<EventTime> {
        self.watermark
    }

    /// Events counted as late so far.
    pub fn late(&self) -> u64 {
        self.late
    }

    /// Derived events waiting to settle (or to be dropped: withdrawn ones).
    pub fn waiting(&self) -> usize {
        self.pending.values().map(BTreeMap::len).sum()
    }

    /// Counts the events of `times` that are late — at or below the
    /// watermark as it stands before they are applied — and returns how many.
    pub fn count_late(&mut self, times: impl IntoIterator<Item = EventTime>) -> u64 {
        let Some(watermark) = self.watermark else { return 0 };
        let late = times.into_iter().filter(|t| *t <= watermark).count() as u64;
        self.late += late;
        late
    }

    /// Takes changes of the collection of transitions.
    pub fn absorb(&mut self, changes: impl IntoIterator<Item = (Derived, isize)>) {
        use std::collections::btree_map::Entry;
        for (event, diff) in changes {
            let at = event.settles_at();
            let events = self.pending.entry(at).or_default();
            match events.entry(event) {
                Entry::Occupied(mut count) => {
                    *count.get_mut() += diff;
                    if *count.get() == 0 {
                        count.remove();
                    }
                }
                Entry::Vacant(slot) => {
                    if diff != 0 {
                        slot.insert(diff);
                    }
                }
            }
            if events.is_empty() {
                self.pending.remove(&at);
            }
        }
    }

    /// Moves the watermark to `watermark` (never back) and returns the
    /// transitions that are now settled and present, oldest first; settled
    /// entries that are not present (withdrawn) are dropped.
    pub fn advance(&mut self, watermark: Option<EventTime>) -> Vec<Derived> {
        self.watermark = self.watermark.max(watermark);
        let Some(watermark) = self.watermark else { return Vec::new() };
        let later = self.pending.split_off(&watermark.plus(1));
        let settled = std::mem::replace(&mut self.pending, later);
        settled.into_values().flatten().filter(|(_, count)| *count > 0).map(|(event, _)| event).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::StatusChange;
    use shopflow_topics::OrderStatus;

    fn change(index: usize, status: OrderStatus, at: i64) -> Derived {
        Derived::StatusChanged(StatusChange {
            order_id: "ord-1".into(),
            user_id: "usr-1".into(),
            index,
            previous: Some(OrderStatus::Created),
            status,
            at: EventTime(at),
            created_at: EventTime(1),
        })
    }

    fn clock(newest: Option<i64>, idle: bool) -> Clock {
        Clock { newest: newest.map(EventTime), idle }
    }

    #[test]
    fn the_watermark_is_the_slowest_busy_partition_less_the_lateness() {
        let clocks = [clock(Some(100), false), clock(Some(40), false), clock(Some(10), true)];
        assert_eq!(watermark(&clocks, 5), Some(EventTime(35)), "the idle partition does not hold it back");
        let clocks = [clock(Some(100), false), clock(None, false)];
        assert_eq!(watermark(&clocks, 5), None, "a busy partition that has read nothing holds it");
        let clocks = [clock(Some(100), true), clock(Some(40), true), clock(None, true)];
        assert_eq!(watermark(&clocks, 5), Some(EventTime(100)), "all idle: everything read is settled");
        assert_eq!(watermark(&[], 5), None);
    }

    #[test]
    fn a_transition_withdrawn_before_it_settles_is_never_emitted() {
        let mut settler = Settler::new();
        // Cancelled read first (arrival order), then the earlier payment takes it back.
        settler.absorb([(change(1, OrderStatus::Cancelled, 20), 1)]);
        assert!(settler.advance(Some(EventTime(15))).is_empty(), "not settled yet");
        settler.absorb([(change(1, OrderStatus::Cancelled, 20), -1), (change(1, OrderStatus::Paid, 10), 1)]);
        assert_eq!(settler.advance(Some(EventTime(19))), vec![change(1, OrderStatus::Paid, 10)]);
        assert_eq!(settler.waiting(), 0);
        assert!(settler.advance(Some(EventTime(50))).is_empty(), "each once");
    }

    #[test]
    fn the_watermark_never_goes_back_and_late_events_are_counted() {
        let mut settler = Settler::new();
        assert_eq!(settler.count_late([EventTime(1)]), 0, "nothing is late before there is a watermark");
        settler.advance(Some(EventTime(30)));
        settler.advance(Some(EventTime(10)));
        assert_eq!(settler.watermark(), Some(EventTime(30)));
        assert_eq!(settler.count_late([EventTime(29), EventTime(30), EventTime(31)]), 2);
        // A late event's new transition is settled at once.
        settler.absorb([(change(2, OrderStatus::Cancelled, 25), 1)]);
        assert_eq!(settler.advance(None), vec![change(2, OrderStatus::Cancelled, 25)]);
        // Taking back what was emitted leaves nothing waiting.
        settler.absorb([(change(2, OrderStatus::Cancelled, 25), -1)]);
        assert!(settler.advance(None).is_empty());
        assert_eq!((settler.waiting(), settler.late()), (0, 2));
    }

    #[test]
    fn a_status_change_settles_with_its_order_creation() {
        // A payment timed before its order's creation says who the shopper is only
        // once the Order.Created is read: it settles at the later of the two.
        let mut early = change(1, OrderStatus::Paid, 1);
        if let Derived::StatusChanged(c) = &mut early {
            c.created_at = EventTime(9);
        }
        assert_eq!((early.time(), early.settles_at()), (EventTime(1), EventTime(9)));
    }
}
