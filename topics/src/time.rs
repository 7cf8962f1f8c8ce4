//! Event time: RFC 3339 in UTC, kept as nanoseconds since the Unix epoch so
//! that ordering by (`time`, `id`) is a plain integer comparison.

use chrono::{DateTime, Utc};
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
    /// RFC 3339 in UTC with `Z`, as many fractional digits as needed (0, 3, 6 or 9),
    /// written digit by digit into a buffer on the stack: every rendered view and
    /// audit row formats times, and chrono's formatter allocated a string for each.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.0.div_euclid(Self::SECOND);
        let nanos = self.0.rem_euclid(Self::SECOND) as u32;
        let (days, of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400) as u32);
        let (year, month, day) = civil(days);
        // YYYY-MM-DDTHH:MM:SS[.f]Z, each number followed by its separator, in one pass.
        let mut text = [0u8; 32];
        let mut at = 0;
        let mut put = |value: u32, digits: u32, then: u8| {
            for place in (0..digits).rev() {
                text[at] = b'0' + (value / 10u32.pow(place) % 10) as u8;
                at += 1;
            }
            text[at] = then;
            at += 1;
        };
        let fraction = match nanos {
            0 => None,
            n if n % 1_000_000 == 0 => Some((n / 1_000_000, 3)),
            n if n % 1_000 == 0 => Some((n / 1_000, 6)),
            n => Some((n, 9)),
        };
        put(year as u32, 4, b'-');
        put(month, 2, b'-');
        put(day, 2, b'T');
        put(of_day / 3_600, 2, b':');
        put(of_day / 60 % 60, 2, b':');
        match fraction {
            Some((value, digits)) => {
                put(of_day % 60, 2, b'.');
                put(value, digits, b'Z');
            }
            None => put(of_day % 60, 2, b'Z'),
        }
        f.write_str(std::str::from_utf8(&text[..at]).map_err(|_| fmt::Error)?)
    }
}

/// (year, month, day) of the day `days` after 1970-01-01 in the proleptic
/// Gregorian calendar: counted in 400-year eras from 0000-03-01, so that the
/// leap day ends each year of the count.
fn civil(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = shifted.div_euclid(146_097);
    let of_era = shifted.rem_euclid(146_097); // 0..146096
    let year_of_era = (of_era - of_era / 1_460 + of_era / 36_524 - of_era / 146_096) / 365;
    let of_year = of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100); // 0..365, from March
    let month_from_march = (5 * of_year + 2) / 153;
    let day = (of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 } as u32;
    let year = era * 400 + year_of_era + i64::from(month <= 2);
    (year, month, day)
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
    fn formats_as_chrono_does_across_the_whole_range() {
        let chrono =
            |t: EventTime| DateTime::from_timestamp_nanos(t.0).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let (low, high) = (EventTime::parse("1677-09-22T00:00:00Z").unwrap().0, i64::MAX);
        let mut times = vec![EventTime(0), EventTime(-1), EventTime(low), EventTime(high)];
        for day in [
            "2000-02-29",
            "1900-02-28",
            "1900-03-01",
            "2100-03-01",
            "2024-12-31",
            "2025-01-01",
            "1969-12-31",
            "2026-11-01",
        ] {
            let t = EventTime::parse(&format!("{day}T23:59:59Z")).unwrap();
            times.extend([t, t.plus(1), t.plus(1_000), t.plus(1_000_000), t.plus(999_999_999)]);
        }
        for _ in 0..200_000 {
            let span = (i128::from(high) - i128::from(low)) as u64;
            let t = (i128::from(low) + i128::from(next() % span)) as i64;
            // Whole seconds, milliseconds, microseconds and nanoseconds alike.
            let t = match next() % 4 {
                0 => t - t.rem_euclid(EventTime::SECOND),
                1 => t - t.rem_euclid(EventTime::MILLISECOND),
                2 => t - t.rem_euclid(1_000),
                _ => t,
            };
            times.push(EventTime(t));
        }
        for t in times {
            assert_eq!(t.to_string(), chrono(t), "{}", t.0);
        }
    }

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
