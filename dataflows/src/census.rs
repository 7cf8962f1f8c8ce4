//! Where the views' memory goes: how many updates each arrangement holds,
//! by family — a diagnostic the pipeline turns on with `SHOPFLOW_CENSUS=N`
//! (every N seconds each worker logs its census).
//!
//! [`crate::build_with`] marks where each family's operators begin
//! ([`mark`], by timely's next operator identifier); [`install`] listens to
//! differential's arrangement log (batches made, merged and dropped: the
//! updates a trace holds) and to its batchers' sizes, and to timely's
//! schedule log (how long each operator ran, less the operators it ran
//! inside it), and [`Census::report`] adds them up per family: where the
//! memory goes, and where the time goes.

use differential_dataflow::logging::{DifferentialEvent, DifferentialEventBuilder};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;
use timely::logging::{StartStop, TimelyEvent, TimelyEventBuilder};

thread_local! {
    /// (family, first operator identifier of the family), in building order, this worker's.
    static MARKS: RefCell<Vec<(&'static str, usize)>> = const { RefCell::new(Vec::new()) };
}

/// Marks that the operators built from now on, starting at identifier `next`, belong to `family`.
pub fn mark(family: &'static str, next: usize) {
    MARKS.with(|marks| marks.borrow_mut().push((family, next)));
}

/// The family of operator `id`: the last mark at or before it.
fn family_of(marks: &[(&'static str, usize)], id: usize) -> &'static str {
    marks.iter().rev().find(|(_, first)| *first <= id).map_or("(source and sinks)", |(family, _)| family)
}

#[derive(Default)]
struct Tally {
    /// Updates held per arranging operator.
    updates: BTreeMap<usize, i64>,
    /// Their sum.
    total: i64,
    /// The largest sum yet, and the updates per operator then.
    peak: (i64, BTreeMap<usize, i64>),
    /// Bytes waiting in each operator's batcher.
    batcher_bytes: BTreeMap<usize, i64>,
    /// Time each operator ran, less the operators scheduled inside it.
    busy: BTreeMap<usize, std::time::Duration>,
    /// How often each operator was scheduled.
    scheduled: BTreeMap<usize, u64>,
    /// Operators running now: (identifier, when it started, time of those inside it).
    running: Vec<(usize, std::time::Duration, std::time::Duration)>,
    /// Each operator's name.
    names: BTreeMap<usize, String>,
}

/// One worker's census, fed by differential's log.
pub struct Census(Rc<RefCell<Tally>>);

/// Starts counting on `worker`: before its dataflow is built.
pub fn install(worker: &mut timely::worker::Worker) -> Census {
    let tally = Rc::new(RefCell::new(Tally::default()));
    let fed = tally.clone();
    if let Some(mut registry) = worker.log_register() {
        registry.insert::<DifferentialEventBuilder, _>("differential/arrange", move |_time, events| {
            let Some(events) = events else { return };
            let mut tally = fed.borrow_mut();
            for (_, event) in events.iter() {
                let (operator, change) = match event {
                    DifferentialEvent::Batch(b) => (b.operator, b.length as i64),
                    DifferentialEvent::Merge(m) => match m.complete {
                        Some(complete) => (m.operator, complete as i64 - (m.length1 + m.length2) as i64),
                        None => continue,
                    },
                    DifferentialEvent::Drop(d) => (d.operator, -(d.length as i64)),
                    DifferentialEvent::Batcher(b) => {
                        *tally.batcher_bytes.entry(b.operator).or_default() += b.size_diff as i64;
                        continue;
                    }
                    _ => continue,
                };
                *tally.updates.entry(operator).or_default() += change;
                tally.total += change;
            }
            if tally.total > tally.peak.0 {
                tally.peak = (tally.total, tally.updates.clone());
            }
        });
        let timed = tally.clone();
        registry.insert::<TimelyEventBuilder, _>("timely", move |_time, events| {
            let Some(events) = events else { return };
            let mut tally = timed.borrow_mut();
            for (at, event) in events.iter() {
                let schedule = match event {
                    TimelyEvent::Schedule(schedule) => schedule,
                    TimelyEvent::Operates(operates) => {
                        tally.names.insert(operates.id, operates.name.clone());
                        continue;
                    }
                    _ => continue,
                };
                match schedule.start_stop {
                    StartStop::Start => {
                        *tally.scheduled.entry(schedule.id).or_default() += 1;
                        tally.running.push((schedule.id, *at, Duration::ZERO));
                    }
                    StartStop::Stop => {
                        let Some((id, started, inside)) = tally.running.pop() else { continue };
                        let ran = at.saturating_sub(started);
                        *tally.busy.entry(id).or_default() += ran.saturating_sub(inside);
                        if let Some(outer) = tally.running.last_mut() {
                            outer.2 += ran;
                        }
                    }
                }
            }
        });
    }
    Census(tally)
}

impl Census {
    /// Updates held and batcher bytes per family, largest first, and the
    /// `top` largest arrangements with their operator identifiers; now, and
    /// when the updates held were the most.
    pub fn report(&self, top: usize) -> String {
        let tally = self.0.borrow();
        format!(
            "{}; at the peak: {}; {}; {}",
            self.describe(&tally.updates, top),
            self.describe(&tally.peak.1, top),
            self.time(&tally.busy, &tally.names, top),
            Self::by_name(&tally)
        )
    }

    /// Operators, schedulings and time by operator name (the kind of operator), most time first.
    fn by_name(tally: &Tally) -> String {
        // name -> (operators, schedulings, time)
        let mut kinds: BTreeMap<&str, (u64, u64, Duration)> = BTreeMap::new();
        for (id, name) in &tally.names {
            let kind = kinds.entry(name.as_str()).or_default();
            kind.0 += 1;
            kind.1 += tally.scheduled.get(id).copied().unwrap_or(0);
            kind.2 += tally.busy.get(id).copied().unwrap_or_default();
        }
        let operators: u64 = kinds.values().map(|k| k.0).sum();
        let schedulings: u64 = kinds.values().map(|k| k.1).sum();
        let mut kinds: Vec<_> = kinds.into_iter().collect();
        kinds.sort_by_key(|(_, (_, _, ran))| std::cmp::Reverse(*ran));
        let mut out =
            format!("{operators} operators scheduled {schedulings} times; by name (operators, schedulings, time):");
        for (name, (count, times, ran)) in kinds {
            out.push_str(&format!(" {name}=({count}, {times}, {:.2}s)", ran.as_secs_f64()));
        }
        out
    }

    /// Operator time per family, largest first, and the `top` operators that ran longest.
    fn time(&self, busy: &BTreeMap<usize, Duration>, names: &BTreeMap<usize, String>, top: usize) -> String {
        let marks = MARKS.with(|marks| marks.borrow().clone());
        let mut families: BTreeMap<&'static str, Duration> = BTreeMap::new();
        for (id, ran) in busy {
            *families.entry(family_of(&marks, *id)).or_default() += *ran;
        }
        let mut families: Vec<_> = families.into_iter().collect();
        families.sort_by_key(|(_, ran)| std::cmp::Reverse(*ran));
        let total: Duration = families.iter().map(|(_, ran)| *ran).sum();
        let mut out = format!("operator time {:.2} s; by family:", total.as_secs_f64());
        for (family, ran) in families {
            out.push_str(&format!(" {family}={:.2}s", ran.as_secs_f64()));
        }
        let mut longest: Vec<(&usize, &Duration)> = busy.iter().collect();
        longest.sort_by_key(|(_, ran)| std::cmp::Reverse(**ran));
        out.push_str("; longest:");
        for (id, ran) in longest.into_iter().take(top) {
            let name = names.get(id).map_or("?", String::as_str);
            out.push_str(&format!(" #{id}[{}:{name}]={:.2}s", family_of(&marks, *id), ran.as_secs_f64()));
        }
        out
    }

    fn describe(&self, updates: &BTreeMap<usize, i64>, top: usize) -> String {
        let marks = MARKS.with(|marks| marks.borrow().clone());
        let tally = self.0.borrow();
        let mut families: BTreeMap<&'static str, (i64, i64)> = BTreeMap::new();
        for (id, updates) in updates {
            families.entry(family_of(&marks, *id)).or_default().0 += updates;
        }
        for (id, bytes) in &tally.batcher_bytes {
            families.entry(family_of(&marks, *id)).or_default().1 += bytes;
        }
        let mut families: Vec<_> = families.into_iter().collect();
        families.sort_by_key(|(_, (updates, _))| std::cmp::Reverse(*updates));
        let total: i64 = families.iter().map(|(_, (u, _))| u).sum();
        let mut out = format!("arranged updates {total}; by family:");
        for (family, (updates, bytes)) in &families {
            out.push_str(&format!(" {family}={updates}"));
            if *bytes != 0 {
                out.push_str(&format!("(+{} KiB batched)", bytes / 1024));
            }
        }
        let mut largest: Vec<(&usize, &i64)> = updates.iter().collect();
        largest.sort_by_key(|(_, updates)| std::cmp::Reverse(**updates));
        out.push_str("; largest:");
        for (id, updates) in largest.into_iter().take(top) {
            let name = tally.names.get(id).map_or("?", String::as_str);
            out.push_str(&format!(" #{id}[{}:{name}]={updates}", family_of(&marks, *id)));
        }
        out
    }
}
