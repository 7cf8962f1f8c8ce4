//! Every call to a backing store (Redis, ClickHouse, Kafka) goes through its
//! breaker, bounded by a timeout. When at least 5 calls have failed over the
//! last 10 s and they are at least half of the calls made then, the circuit
//! opens for 10 s, answering 503 `circuit_open` at once instead of letting
//! requests pile up on a store that is down; then 3 trial calls go through,
//! and when all 3 succeed it closes (a failed trial opens it again).
//!
//! Counting the share of failures, not failures in a row, keeps a store that
//! is busy but answering in service: under a load of thousands of calls a
//! second, one slow second times out the calls in flight, which are a
//! minority of the window's calls, while a store that is down fails them all.

use crate::error::AppError;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// When a breaker opens and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Failures over the window that open the circuit (when they are also at
    /// least half of the window's calls).
    pub failures: u32,
    /// How far back calls are counted.
    pub window: Duration,
    /// How long it stays open.
    pub open_for: Duration,
    /// Trial calls after that; all must succeed to close it.
    pub trials: u32,
    /// The longest a call may take (a slower one counts as failed).
    pub timeout: Duration,
}

impl BreakerConfig {
    /// 5 failures and half of the calls over 10 s, 10 s open, 3 trials, with this call timeout.
    pub fn with_timeout(timeout: Duration) -> BreakerConfig {
        BreakerConfig {
            failures: 5,
            window: Duration::from_secs(10),
            open_for: Duration::from_secs(10),
            trials: 3,
            timeout,
        }
    }
}

/// Calls and failures over a sliding window, estimated from two fixed ones:
/// the current window's counts and the previous window's, weighted by how
/// much of it the sliding window still covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Counts {
    started: Instant,
    calls: u32,
    failures: u32,
    previous_calls: u32,
    previous_failures: u32,
}

impl Counts {
    fn new(now: Instant) -> Counts {
        Counts { started: now, calls: 0, failures: 0, previous_calls: 0, previous_failures: 0 }
    }

    /// Moves the fixed windows on to the one holding `now`.
    fn roll(&mut self, now: Instant, window: Duration) {
        let elapsed = now.saturating_duration_since(self.started);
        if elapsed < window {
            return;
        }
        if elapsed < window * 2 {
            (self.previous_calls, self.previous_failures) = (self.calls, self.failures);
            self.started += window;
        } else {
            (self.previous_calls, self.previous_failures) = (0, 0);
            self.started = now;
        }
        (self.calls, self.failures) = (0, 0);
    }

    /// Records one outcome; whether the failures now call for opening.
    fn record(&mut self, now: Instant, failed: bool, config: &BreakerConfig) -> bool {
        self.roll(now, config.window);
        self.calls += 1;
        self.failures += u32::from(failed);
        let covered = 1.0 - now.saturating_duration_since(self.started).as_secs_f64() / config.window.as_secs_f64();
        let calls = f64::from(self.calls) + f64::from(self.previous_calls) * covered;
        let failures = f64::from(self.failures) + f64::from(self.previous_failures) * covered;
        failed && failures >= f64::from(config.failures) && failures * 2.0 >= calls
    }
}

/// The state machine, with time passed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Circuit {
    Closed { counts: Counts },
    Open { until: Instant },
    HalfOpen { admitted: u32, succeeded: u32 },
}

impl Circuit {
    fn closed(now: Instant) -> Circuit {
        Circuit::Closed { counts: Counts::new(now) }
    }

    /// Whether a call may go ahead now (`Err(seconds until a trial)` if not).
    fn admit(&mut self, now: Instant, config: &BreakerConfig) -> Result<(), u64> {
        match *self {
            Circuit::Closed { .. } => Ok(()),
            Circuit::Open { until } if now < until => Err((until - now).as_secs().max(1)),
            Circuit::Open { .. } => {
                *self = Circuit::HalfOpen { admitted: 1, succeeded: 0 };
                Ok(())
            }
            Circuit::HalfOpen { admitted, succeeded } if admitted < config.trials => {
                *self = Circuit::HalfOpen { admitted: admitted + 1, succeeded };
                Ok(())
            }
            Circuit::HalfOpen { .. } => Err(1),
        }
    }

    fn succeeded(&mut self, now: Instant, config: &BreakerConfig) {
        match self {
            Circuit::Closed { counts } => {
                counts.record(now, false, config);
            }
            Circuit::HalfOpen { admitted, succeeded } => {
                *self = if *succeeded + 1 >= config.trials {
                    Circuit::closed(now)
                } else {
                    Circuit::HalfOpen { admitted: *admitted, succeeded: *succeeded + 1 }
                };
            }
            Circuit::Open { .. } => {}
        }
    }

    fn failed(&mut self, now: Instant, config: &BreakerConfig) {
        match self {
            Circuit::Closed { counts } => {
                if counts.record(now, true, config) {
                    *self = Circuit::Open { until: now + config.open_for };
                }
            }
            Circuit::HalfOpen { .. } => *self = Circuit::Open { until: now + config.open_for },
            Circuit::Open { .. } => {}
        }
    }
}

/// The breaker of one store.
#[derive(Clone)]
pub struct Breaker {
    store: &'static str,
    config: BreakerConfig,
    circuit: Arc<Mutex<Circuit>>,
}

impl Breaker {
    /// A closed breaker for `store`.
    pub fn new(store: &'static str, config: BreakerConfig) -> Breaker {
        Breaker { store, config, circuit: Arc::new(Mutex::new(Circuit::closed(Instant::now()))) }
    }

    /// Runs `call` unless the circuit is open; its error, or its timeout, is a 503.
    pub async fn call<T, E>(&self, call: impl Future<Output = Result<T, E>>) -> Result<T, AppError>
    where
        E: std::error::Error + 'static,
    {
        self.call_within(self.config.timeout, call).await
    }

    /// [`Breaker::call`] with its own bound: for the rare call that walks a
    /// whole store (an admin's broadcast scanning every user), not a point read.
    pub async fn call_within<T, E>(
        &self,
        timeout: std::time::Duration,
        call: impl Future<Output = Result<T, E>>,
    ) -> Result<T, AppError>
    where
        E: std::error::Error + 'static,
    {
        let admitted = self.circuit.lock().expect("not poisoned").admit(Instant::now(), &self.config);
        if let Err(seconds) = admitted {
            return Err(AppError::unavailable(
                "circuit_open",
                format!("{} is unavailable; calls resume in about {seconds} s", self.store),
            ));
        }
        // Under a sampled request, the call is a span of its trace.
        let outcome = tokio::time::timeout(timeout, shopflow_sinks::otlp::traced(self.store, self.store, call)).await;
        let mut circuit = self.circuit.lock().expect("not poisoned");
        match outcome {
            Ok(Ok(value)) => {
                circuit.succeeded(Instant::now(), &self.config);
                Ok(value)
            }
            Ok(Err(error)) => {
                circuit.failed(Instant::now(), &self.config);
                Err(AppError::store(self.store, shopflow_topics::error::chain(&error)))
            }
            Err(_) => {
                circuit.failed(Instant::now(), &self.config);
                tracing::error!(store = self.store, "no answer within {timeout:?}");
                Err(AppError::unavailable(
                    "store_timeout",
                    format!("{} did not answer within {} ms", self.store, timeout.as_millis()),
                ))
            }
        }
    }
}

/// The breakers of the API's stores.
#[derive(Clone)]
pub struct Breakers {
    /// Served state, idempotency, holds, rate limits.
    pub redis: Breaker,
    /// Analytics.
    pub clickhouse: Breaker,
    /// Writes.
    pub kafka: Breaker,
}

impl Breakers {
    /// Breakers with these call timeouts.
    pub fn new(redis: Duration, clickhouse: Duration, kafka: Duration) -> Breakers {
        Breakers {
            redis: Breaker::new("redis", BreakerConfig::with_timeout(redis)),
            clickhouse: Breaker::new("clickhouse", BreakerConfig::with_timeout(clickhouse)),
            kafka: Breaker::new("kafka", BreakerConfig::with_timeout(kafka)),
        }
    }
}

impl Default for Breakers {
    /// Redis 1 s, ClickHouse 10 s, Kafka 15 s.
    fn default() -> Breakers {
        Breakers::new(Duration::from_secs(1), Duration::from_secs(10), Duration::from_secs(15))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_among_few_calls_open_it_and_three_good_trials_close_it() {
        let config = BreakerConfig::with_timeout(Duration::from_secs(1));
        let start = Instant::now();
        let mut circuit = Circuit::closed(start);
        for _ in 0..4 {
            assert!(circuit.admit(start, &config).is_ok());
            circuit.failed(start, &config);
        }
        assert!(matches!(circuit, Circuit::Closed { .. }), "four failures are not enough");
        circuit.failed(start, &config);
        assert_eq!(circuit.admit(start, &config), Err(10));
        assert!(circuit.admit(start + Duration::from_secs(9), &config).is_err());
        // After 10 s: three trials, no fourth while they run.
        let later = start + Duration::from_secs(10);
        for _ in 0..3 {
            assert!(circuit.admit(later, &config).is_ok());
        }
        assert!(circuit.admit(later, &config).is_err());
        for _ in 0..3 {
            circuit.succeeded(later, &config);
        }
        assert_eq!(circuit, Circuit::closed(later));
    }

    #[test]
    fn failures_that_are_a_minority_of_the_calls_keep_it_closed() {
        let config = BreakerConfig::with_timeout(Duration::from_secs(1));
        let start = Instant::now();
        let mut circuit = Circuit::closed(start);
        for _ in 0..300 {
            circuit.succeeded(start, &config);
        }
        // A slow second under load: the calls in flight time out.
        let slow = start + Duration::from_secs(3);
        for _ in 0..200 {
            circuit.failed(slow, &config);
        }
        assert!(matches!(circuit, Circuit::Closed { .. }), "200 of 500 calls failed: still serving");
        // The store stays down: failures become the majority and it opens.
        for _ in 0..101 {
            circuit.failed(slow, &config);
        }
        assert_eq!(circuit, Circuit::Open { until: slow + config.open_for });
    }

    #[test]
    fn old_calls_fade_out_of_the_window() {
        let config = BreakerConfig::with_timeout(Duration::from_secs(1));
        let start = Instant::now();
        let mut circuit = Circuit::closed(start);
        for _ in 0..4 {
            circuit.failed(start, &config);
        }
        // 25 s later the four failures are two windows old: four more do not open it.
        let later = start + Duration::from_secs(25);
        for _ in 0..4 {
            circuit.failed(later, &config);
        }
        assert!(matches!(circuit, Circuit::Closed { .. }));
        // Successes half a window back still weigh: 100 of them, then 60 failures.
        let mut circuit = Circuit::closed(start);
        for _ in 0..100 {
            circuit.succeeded(start, &config);
        }
        let next = start + Duration::from_secs(15);
        for _ in 0..60 {
            circuit.failed(next, &config);
        }
        assert!(matches!(circuit, Circuit::Open { .. }), "60 failures against 50 weighted successes open it");
    }

    #[test]
    fn a_failed_trial_opens_it_again() {
        let config = BreakerConfig::with_timeout(Duration::from_secs(1));
        let now = Instant::now();
        let mut circuit = Circuit::Open { until: now };
        assert!(circuit.admit(now, &config).is_ok());
        circuit.succeeded(now, &config);
        assert!(circuit.admit(now, &config).is_ok());
        circuit.failed(now, &config);
        assert_eq!(circuit, Circuit::Open { until: now + Duration::from_secs(10) });
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_call_that_hangs_times_out_as_a_503() {
        let breaker = Breaker::new("slow", BreakerConfig::with_timeout(Duration::from_millis(20)));
        let hang = std::future::pending::<Result<(), std::io::Error>>();
        let error = breaker.call(hang).await.unwrap_err();
        assert_eq!((error.status.as_u16(), error.code), (503, "store_timeout"));
        for _ in 0..4 {
            let _ = breaker.call(async { Err::<(), _>(std::io::Error::other("down")) }).await;
        }
        let error = breaker.call(async { Ok::<_, std::io::Error>(()) }).await.unwrap_err();
        assert_eq!(error.code, "circuit_open", "the good call is not even made");
    }
}
