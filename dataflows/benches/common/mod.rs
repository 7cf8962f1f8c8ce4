//! What the absorb benchmarks share: every view of `build` on one timely
//! worker, fed by an input session, and one epoch absorbed and timed.

use differential_dataflow::input::InputSession;
use shopflow_dataflows::build;
use shopflow_views::facts::Fact;
use std::time::{Duration, Instant};
use timely::dataflow::ProbeHandle;
use timely::worker::Worker;

/// Events in as (id, facts).
pub type Input = InputSession<u64, (String, Vec<Fact>), isize>;

/// Every view, and what it is fed by.
pub struct Views {
    /// Insert into this, then [`Views::settle`].
    pub input: Input,
    probe: ProbeHandle<u64>,
}

impl Views {
    /// Every view of `build` in a dataflow of `worker`.
    pub fn new(worker: &mut Worker) -> Views {
        let mut input = Input::new();
        let probe = worker.dataflow::<u64, _, _>(|scope| {
            let views = build(input.to_collection(scope));
            let (probe, _) = views.settled().probe();
            probe
        });
        Views { input, probe }
    }

    /// Closes the epoch of what was inserted and runs the worker until every
    /// view has absorbed it: the time that took.
    pub fn settle(&mut self, worker: &mut Worker) -> Duration {
        let started = Instant::now();
        self.input.advance_to(self.input.time() + 1);
        self.input.flush();
        while self.probe.less_than(self.input.time()) {
            worker.step();
        }
        started.elapsed()
    }
}
