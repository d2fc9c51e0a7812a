//! Wall-clock timestamps for log lines, written by hand from nanoseconds since
//! the Unix epoch (UTC): the IOS form `*Nov 23 17:07:46.123` that
//! `service timestamps log datetime msec` prints (`smtp-inspection.md` §13;
//! leading `*` because our clock is never "synchronised" in the IOS sense), and
//! the RFC 3339 form RFC 5424 syslog needs (`2026-11-23T17:07:46.123Z`).
//!
//! The civil-date conversion is Howard Hinnant's `civil_from_days`; it needs no
//! table and no time-zone database, and it is exact for every `u64` input.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

const NANOS_PER_SEC: u64 = 1_000_000_000;
const SECS_PER_DAY: u64 = 86_400;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A broken-down UTC time with millisecond precision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CivilTime {
    pub year: i64,
    /// 1..=12
    pub month: u32,
    /// 1..=31
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub millisecond: u32,
}

impl CivilTime {
    /// Breaks `unix_ns` (nanoseconds since 1970-01-01T00:00:00Z) down in UTC.
    pub fn from_unix_ns(unix_ns: u64) -> Self {
        let secs = unix_ns / NANOS_PER_SEC;
        let millisecond = ((unix_ns % NANOS_PER_SEC) / 1_000_000) as u32;
        let days = secs / SECS_PER_DAY;
        let rem = secs % SECS_PER_DAY;
        let (year, month, day) = civil_from_days(days as i64);
        CivilTime {
            year,
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: ((rem % 3600) / 60) as u32,
            second: (rem % 60) as u32,
            millisecond,
        }
    }

    /// The three-letter English month name IOS prints.
    pub fn month_name(&self) -> &'static str {
        MONTHS[(self.month as usize).clamp(1, 12) - 1]
    }
}

/// `(year, month 1..=12, day 1..=31)` of the day `days` after 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The IOS log timestamp `*Mmm dd hh:mm:ss.mmm` (day padded with a space, as
/// IOS does: `*Mar  1 00:00:30.123`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IosTimestamp(pub u64);

impl fmt::Display for IosTimestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = CivilTime::from_unix_ns(self.0);
        write!(
            f,
            "*{} {:>2} {:02}:{:02}:{:02}.{:03}",
            t.month_name(),
            t.day,
            t.hour,
            t.minute,
            t.second,
            t.millisecond
        )
    }
}

/// The RFC 3339 timestamp RFC 5424 §6.2.3 asks for, in UTC with milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rfc3339Timestamp(pub u64);

impl fmt::Display for Rfc3339Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = CivilTime::from_unix_ns(self.0);
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.year, t.month, t.day, t.hour, t.minute, t.second, t.millisecond
        )
    }
}

/// Nanoseconds since the Unix epoch now (0 if the clock is before 1970).
/// Only I/O and worker code call this; cores take the value as `now`.
pub fn wall_clock_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos().min(u128::from(u64::MAX)) as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = NANOS_PER_SEC;

    #[test]
    fn epoch_is_jan_1_1970() {
        assert_eq!(IosTimestamp(0).to_string(), "*Jan  1 00:00:00.000");
        assert_eq!(Rfc3339Timestamp(0).to_string(), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn known_instant_with_milliseconds() {
        // 2026-11-23T17:07:46.123Z = 1795453666 s
        let ns = 1_795_453_666 * S + 123_456_789;
        assert_eq!(IosTimestamp(ns).to_string(), "*Nov 23 17:07:46.123");
        assert_eq!(Rfc3339Timestamp(ns).to_string(), "2026-11-23T17:07:46.123Z");
    }

    #[test]
    fn milliseconds_are_zero_padded() {
        let ns = 1_795_453_666 * S + 7_000_000;
        assert_eq!(IosTimestamp(ns).to_string(), "*Nov 23 17:07:46.007");
        let ns = 1_795_453_666 * S + 60_999_999;
        assert_eq!(IosTimestamp(ns).to_string(), "*Nov 23 17:07:46.060");
    }

    #[test]
    fn every_month_name() {
        // The 15th of each month of 2025, at noon.
        let days_before = [0u64, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
        let jan1_2025 = 20_089u64; // days since epoch
        for (i, before) in days_before.iter().enumerate() {
            let secs = (jan1_2025 + before + 14) * SECS_PER_DAY + 12 * 3600;
            let text = IosTimestamp(secs * S).to_string();
            assert_eq!(text, format!("*{} 15 12:00:00.000", MONTHS[i]));
        }
    }

    #[test]
    fn leap_day_and_year_end() {
        // 2024-02-29T23:59:59.999Z = 1709251199 s
        let ns = 1_709_251_199 * S + 999_000_000;
        assert_eq!(IosTimestamp(ns).to_string(), "*Feb 29 23:59:59.999");
        // one millisecond later is March 1st
        assert_eq!(
            IosTimestamp(ns + 1_000_000).to_string(),
            "*Mar  1 00:00:00.000"
        );
        // 2025-12-31T23:59:59Z = 1767225599 s
        assert_eq!(
            Rfc3339Timestamp(1_767_225_599 * S).to_string(),
            "2025-12-31T23:59:59.000Z"
        );
        assert_eq!(
            Rfc3339Timestamp(1_767_225_600 * S).to_string(),
            "2026-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn century_rules() {
        // 2100-02-28 is day 47540 (2100 is not a leap year: Feb has 28 days).
        let feb28 = 47_540 * SECS_PER_DAY * S;
        assert_eq!(
            Rfc3339Timestamp(feb28).to_string(),
            "2100-02-28T00:00:00.000Z"
        );
        assert_eq!(
            Rfc3339Timestamp(feb28 + SECS_PER_DAY * S).to_string(),
            "2100-03-01T00:00:00.000Z"
        );
    }

    #[test]
    fn far_future_does_not_panic() {
        let t = CivilTime::from_unix_ns(u64::MAX);
        assert_eq!(t.year, 2554);
        assert!(t.month >= 1 && t.month <= 12);
    }
}
