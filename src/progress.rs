//! A one-line progress report on stderr for long jobs: redrawn in place on a
//! terminal, a line every few seconds otherwise (logs, CI).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Reports `done` of an optional `total` at most a few times a second.
pub struct Progress {
    label: &'static str,
    total: Option<u64>,
    started: Instant,
    last: Instant,
    every: Duration,
    terminal: bool,
}

impl Progress {
    /// Starts reporting on `label`.
    pub fn new(label: &'static str, total: Option<u64>) -> Progress {
        let terminal = std::io::stderr().is_terminal();
        let now = Instant::now();
        Progress {
            label,
            total,
            started: now,
            last: now,
            every: if terminal { Duration::from_millis(200) } else { Duration::from_secs(5) },
            terminal,
        }
    }

    fn line(&self, done: u64) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        let rate = done as f64 / secs;
        match self.total {
            // Past a total estimated low (some brokers report end offsets low): no bar.
            Some(total) if total > 0 && done <= total => {
                let width = 30;
                let filled = ((done.min(total) * width) / total) as usize;
                // The time left, while the total is ahead (totals from reported end offsets can be low).
                let left = match total.checked_sub(done) {
                    Some(left) if left > 0 && rate > 0.0 => format!(", about {:.0}s left", left as f64 / rate),
                    _ => String::new(),
                };
                format!(
                    "{} [{}{}] {done}/{total} ({:.0}/s, {:.1}s{left})",
                    self.label,
                    "#".repeat(filled),
                    "-".repeat(width as usize - filled),
                    rate,
                    secs
                )
            }
            _ => format!("{} {done} ({:.0}/s, {:.1}s)", self.label, rate, secs),
        }
    }

    /// Reports `done` if enough time has passed since the last report.
    pub fn tick(&mut self, done: u64) {
        if self.last.elapsed() < self.every {
            return;
        }
        self.last = Instant::now();
        let line = self.line(done);
        let mut err = std::io::stderr().lock();
        let _ = if self.terminal { write!(err, "\r{line}\x1b[K") } else { writeln!(err, "{line}") };
    }

    /// The final report.
    pub fn finish(&mut self, done: u64) {
        let line = self.line(done);
        let mut err = std::io::stderr().lock();
        let _ = if self.terminal { writeln!(err, "\r{line}\x1b[K") } else { writeln!(err, "{line}") };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(total: Option<u64>, seconds: u64) -> Progress {
        let mut progress = Progress::new("export", total);
        progress.started = Instant::now() - Duration::from_secs(seconds);
        progress
    }

    #[test]
    fn a_line_says_how_far_how_fast_and_how_long_is_left() {
        let line = at(Some(1000), 5).line(250);
        assert!(line.starts_with("export [#######-------"), "{line}");
        assert!(line.contains("250/1000 (50/s, 5.0s, about 15s left)"), "{line}");
        // Past a total that was estimated low: no bar, no estimate.
        let line = at(Some(1000), 2).line(1200);
        assert!(line.starts_with("export 1200 (600/s"), "{line}");
        assert!(!line.contains("left"), "{line}");
        assert!(at(None, 2).line(10).starts_with("export 10 ("));
    }
}
