//! Every call to a backing store (Redis, ClickHouse, Kafka) goes through its
//! breaker: bounded by a timeout, and after 5 failures in a row the circuit
//! opens for 60 s, answering 503 `circuit_open` at once instead of letting
//! requests pile up on a store that is down; then 3 trial calls go through,
//! and when all 3 succeed it closes (a failed trial opens it again).

use crate::error::AppError;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// When a breaker opens and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Failures in a row that open the circuit.
    pub failures: u32,
    /// How long it stays open.
    pub open_for: Duration,
    /// Trial calls after that; all must succeed to close it.
    pub trials: u32,
    /// The longest a call may take (a slower one counts as failed).
    pub timeout: Duration,
}

impl BreakerConfig {
    /// 5 failures, 60 s open, 3 trials, with this call timeout.
    pub fn with_timeout(timeout: Duration) -> BreakerConfig {
        BreakerConfig { failures: 5, open_for: Duration::from_secs(60), trials: 3, timeout }
    }
}

/// The state machine, with time passed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Circuit {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { admitted: u32, succeeded: u32 },
}

impl Circuit {
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

    fn succeeded(&mut self, config: &BreakerConfig) {
        match *self {
            Circuit::Closed { .. } => *self = Circuit::Closed { failures: 0 },
            Circuit::HalfOpen { admitted, succeeded } => {
                *self = if succeeded + 1 >= config.trials {
                    Circuit::Closed { failures: 0 }
                } else {
                    Circuit::HalfOpen { admitted, succeeded: succeeded + 1 }
                };
            }
            Circuit::Open { .. } => {}
        }
    }

    fn failed(&mut self, now: Instant, config: &BreakerConfig) {
        match *self {
            Circuit::Closed { failures } if failures + 1 < config.failures => {
                *self = Circuit::Closed { failures: failures + 1 }
            }
            Circuit::Closed { .. } | Circuit::HalfOpen { .. } => *self = Circuit::Open { until: now + config.open_for },
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
        Breaker { store, config, circuit: Arc::new(Mutex::new(Circuit::Closed { failures: 0 })) }
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
                circuit.succeeded(&self.config);
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
    fn five_failures_open_it_for_a_minute_and_three_good_trials_close_it() {
        let config = BreakerConfig::with_timeout(Duration::from_secs(1));
        let start = Instant::now();
        let mut circuit = Circuit::Closed { failures: 0 };
        for _ in 0..4 {
            assert!(circuit.admit(start, &config).is_ok());
            circuit.failed(start, &config);
        }
        // A success resets the count.
        circuit.succeeded(&config);
        for _ in 0..5 {
            assert!(circuit.admit(start, &config).is_ok());
            circuit.failed(start, &config);
        }
        assert_eq!(circuit.admit(start, &config), Err(60));
        assert!(circuit.admit(start + Duration::from_secs(59), &config).is_err());
        // After 60 s: three trials, no fourth while they run.
        let later = start + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(circuit.admit(later, &config).is_ok());
        }
        assert!(circuit.admit(later, &config).is_err());
        for _ in 0..3 {
            circuit.succeeded(&config);
        }
        assert_eq!(circuit, Circuit::Closed { failures: 0 });
    }

    #[test]
    fn a_failed_trial_opens_it_again() {
        let config = BreakerConfig::with_timeout(Duration::from_secs(1));
        let now = Instant::now();
        let mut circuit = Circuit::Open { until: now };
        assert!(circuit.admit(now, &config).is_ok());
        circuit.succeeded(&config);
        assert!(circuit.admit(now, &config).is_ok());
        circuit.failed(now, &config);
        assert_eq!(circuit, Circuit::Open { until: now + Duration::from_secs(60) });
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
