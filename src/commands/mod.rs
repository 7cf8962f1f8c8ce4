//! One module per subcommand.

pub mod demo;
pub mod export;
pub mod generate;
pub mod load;
pub mod mirror;
pub mod notify;
pub mod pipeline;
pub mod replay;
pub mod serve;
pub mod topics;
pub mod verify;

use clap::Args;
use shopflow_ingest::source::TimeRange;
use shopflow_topics::EventTime;
use std::time::Duration;

/// Parses a duration as `500ms`, `5s`, `2m` or `1h` (a bare number is seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| format!("`{text}` is not a duration like 500ms, 5s, 2m or 1h"))?;
    let millis = match unit {
        "ms" => number,
        "" | "s" => number.saturating_mul(1_000),
        "m" => number.saturating_mul(60_000),
        "h" => number.saturating_mul(3_600_000),
        _ => return Err(format!("`{text}` has an unknown unit `{unit}` (ms, s, m or h)")),
    };
    Ok(Duration::from_millis(millis))
}

/// How many timely workers.
#[derive(Args, Clone, Copy, Debug)]
pub struct WorkerArgs {
    /// Timely worker threads (per process).
    #[arg(long, env = "SHOPFLOW_WORKERS", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub workers: u16,
}

/// A window of event time (`replay`, `export`), both ends inclusive.
#[derive(Args, Clone, Copy, Debug)]
pub struct TimeArgs {
    /// Only events at or after this event time (RFC 3339).
    #[arg(long, value_parser = EventTime::parse)]
    pub from_time: Option<EventTime>,
    /// Only events at or before this event time (RFC 3339).
    #[arg(long, value_parser = EventTime::parse)]
    pub to_time: Option<EventTime>,
}

impl TimeArgs {
    /// The window, ending at `to` when given rather than at `--to-time`; an
    /// error when it ends before it starts.
    pub fn range(&self, to: Option<EventTime>) -> anyhow::Result<TimeRange> {
        let range = TimeRange { from: self.from_time, to: to.or(self.to_time) };
        if let (Some(from), Some(to)) = (range.from, range.to) {
            if from > to {
                anyhow::bail!("--from-time {from} is after the end of the range {to}");
            }
        }
        Ok(range)
    }
}

/// Where Kafka is.
#[derive(Args, Clone, Debug)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers (host:port, comma separated).
    #[arg(long, global = true, env = "SHOPFLOW_BROKERS", default_value = "127.0.0.1:9092")]
    pub brokers: String,
    /// Prefix of every topic name (tests and staging share one broker with it; empty in production).
    #[arg(long, global = true, env = "SHOPFLOW_TOPIC_PREFIX", default_value = "")]
    pub topic_prefix: String,
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations_take_a_unit_and_name_what_is_wrong() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("5 parsecs").unwrap_err().contains("unit"));
        assert!(parse_duration("-1s").unwrap_err().contains("not a duration"));
        assert!(parse_duration("").is_err());
    }
}
