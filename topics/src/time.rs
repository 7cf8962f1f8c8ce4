//! Event time: RFC 3339 in UTC, kept as nanoseconds since the Unix epoch so
//! that ordering by (`time`, `id`) is a plain integer comparison.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A point in event time, nanoseconds since 1970-01-01T00:00:00Z.
///
/// Invariant: it came from (or formats to) an RFC 3339 UTC string, so it lies
/// between 1677 and 2262, the range of `i64` nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EventTime(pub i64);

impl EventTime {
    /// One millisecond, in the unit of `EventTime`.
    pub const MILLISECOND: i64 = 1_000_000;
    /// One second.
    pub const SECOND: i64 = 1_000 * Self::MILLISECOND;
    /// One hour.
    pub const HOUR: i64 = 3_600 * Self::SECOND;
    /// One day.
    pub const DAY: i64 = 24 * Self::HOUR;

    /// Parses RFC 3339; the offset must be UTC (`Z` or `+00:00`).
    pub fn parse(text: &str) -> Result<EventTime, String> {
        let parsed = DateTime::parse_from_rfc3339(text).map_err(|e| format!("not an RFC 3339 time ({e})"))?;
        if parsed.offset().local_minus_utc() != 0 {
            return Err("time must be in UTC (offset Z or +00:00)".to_string());
        }
        parsed
            .with_timezone(&Utc)
            .timestamp_nanos_opt()
            .map(EventTime)
            .ok_or_else(|| "time out of range (years 1677..2262)".to_string())
    }

    /// From milliseconds since the epoch.
    pub fn from_millis(millis: i64) -> EventTime {
        EventTime(millis.saturating_mul(Self::MILLISECOND))
    }

    /// Milliseconds since the epoch, rounded down.
    pub fn millis(self) -> i64 {
        self.0.div_euclid(Self::MILLISECOND)
    }

    /// The UTC day this time falls on, as days since 1970-01-01.
    pub fn day_number(self) -> i64 {
        self.0.div_euclid(Self::DAY)
    }

    /// The UTC day as `YYYY-MM-DD`.
    pub fn day(self) -> String {
        DateTime::from_timestamp_nanos(self.0).format("%Y-%m-%d").to_string()
    }

    /// The current wall-clock time.
    pub fn now() -> EventTime {
        EventTime(Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX))
    }

    /// Adds a signed number of nanoseconds.
    pub fn plus(self, nanos: i64) -> EventTime {
        EventTime(self.0.saturating_add(nanos))
    }
}

impl fmt::Display for EventTime {
    /// RFC 3339 in UTC with `Z`, as many fractional digits as needed (0, 3, 6 or 9).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = DateTime::from_timestamp_nanos(self.0).to_rfc3339_opts(SecondsFormat::AutoSi, true);
        f.write_str(&text)
    }
}

impl Serialize for EventTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EventTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<EventTime, D::Error> {
        let text = String::deserialize(deserializer)?;
        EventTime::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_precision_through_a_round_trip() {
        for text in [
            "2026-11-21T10:15:00.123Z",
            "2026-11-21T10:15:00Z",
            "2026-11-21T10:15:00.123456Z",
            "2026-11-21T10:15:00.123456789Z",
        ] {
            assert_eq!(EventTime::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn accepts_only_utc() {
        assert!(EventTime::parse("2026-11-21T10:15:00+00:00").is_ok());
        let err = EventTime::parse("2026-11-21T10:15:00+02:00").unwrap_err();
        assert!(err.contains("UTC"), "{err}");
        assert!(EventTime::parse("yesterday").is_err());
    }

    #[test]
    fn days_are_utc_calendar_days() {
        let t = EventTime::parse("2026-11-21T23:59:59.999Z").unwrap();
        assert_eq!(t.day(), "2026-11-21");
        assert_eq!(t.plus(EventTime::MILLISECOND).day(), "2026-11-22");
        assert_eq!(t.plus(EventTime::MILLISECOND).day_number(), t.day_number() + 1);
    }
}
