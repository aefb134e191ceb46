//! Civil time in UTC and RFC 3339 text, without a date library: the one place where Berth turns
//! unix time into calendar dates and back.
//!
//! Vocabulary: *unix seconds* and *unix nanoseconds* count from 1970-01-01T00:00:00Z (negative
//! before it); a *civil* date is a proleptic Gregorian calendar date. The arithmetic is Howard
//! Hinnant's `days_from_civil` / `civil_from_days`, exact for every date that fits in an `i64`.
//!
//! Text forms, each as a Docker client expects to read it:
//! - [`rfc3339`]: whole seconds, `2026-11-25T19:31:04Z` (image `Created`, OCI configs);
//! - [`rfc3339_nanos`]: nine fraction digits always, `2026-11-25T19:31:04.000000001Z` (inspect
//!   times, OCI runtime state);
//! - [`rfc3339_nanos_trimmed`]: Go's `time.RFC3339Nano`, trailing fraction zeros trimmed and the
//!   dot dropped when nothing is left, `2026-11-25T19:31:04.1Z` (json-file log entries).
//!
//! [`parse_rfc3339`] and [`parse_rfc3339_nanos`] read `YYYY-MM-DDThh:mm:ss[.frac](Z|±hh:mm)`
//! (`t` or a space may stand for `T`, `z` for `Z`; fraction digits past the ninth are dropped);
//! they check every field's range and return `None` for anything else, never panicking.

use std::time::{SystemTime, UNIX_EPOCH};

const SECS_PER_DAY: i64 = 86_400;
const NANOS_PER_SEC: i64 = 1_000_000_000;
const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A UTC calendar date and time of day, to the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    /// The proleptic Gregorian year (0 is 1 BC, negative before it).
    pub year: i64,
    /// 1 (January) to 12.
    pub month: u32,
    /// 1 to 31.
    pub day: u32,
    /// 0 to 23.
    pub hour: u32,
    /// 0 to 59.
    pub minute: u32,
    /// 0 to 59.
    pub second: u32,
    /// 0 (Sunday) to 6 (Saturday).
    pub weekday: u32,
}

impl Civil {
    /// The civil time of unix seconds (any `i64`, before 1970 too).
    pub fn from_unix(secs: i64) -> Civil {
        let days = secs.div_euclid(SECS_PER_DAY);
        let tod = secs.rem_euclid(SECS_PER_DAY) as u32;
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            hour: tod / 3600,
            minute: tod / 60 % 60,
            second: tod % 60,
            // 1970-01-01 was a Thursday.
            weekday: (days + 4).rem_euclid(7) as u32,
        }
    }

    /// The English three-letter weekday (`Sun` .. `Sat`), as Go and HTTP dates spell it.
    pub fn weekday_abbr(&self) -> &'static str {
        WEEKDAYS[self.weekday as usize % 7]
    }

    /// The English three-letter month (`Jan` .. `Dec`), as Go and HTTP dates spell it.
    pub fn month_abbr(&self) -> &'static str {
        MONTHS[(self.month as usize).clamp(1, 12) - 1]
    }

    /// `YYYY-MM-DDThh:mm:ss`, the part every RFC 3339 form shares.
    fn date_time(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// Days since 1970-01-01 of a civil date (month 1-12; a day past the month's end runs on into the
/// next month, as the arithmetic does).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let (month, day) = (i64::from(month), i64::from(day));
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `(year, month, day)` of days since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// Unix nanoseconds now (0 if the clock is before 1970, `i64::MAX` past 2262).
pub fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// RFC 3339 UTC to the second: `2026-11-25T19:31:04Z`.
pub fn rfc3339(secs: i64) -> String {
    format!("{}Z", Civil::from_unix(secs).date_time())
}

/// RFC 3339 UTC with nine fraction digits: `2026-11-25T19:31:04.000000001Z`.
pub fn rfc3339_nanos(nanos: i64) -> String {
    let (secs, frac) = split_nanos(nanos);
    format!("{}.{frac:09}Z", Civil::from_unix(secs).date_time())
}

/// Go's `time.RFC3339Nano` in UTC: the fraction without trailing zeros, and no dot when it is
/// zero: `2026-11-25T19:31:04.1Z`, `2026-11-25T19:31:04Z`.
pub fn rfc3339_nanos_trimmed(nanos: i64) -> String {
    let (secs, frac) = split_nanos(nanos);
    let date_time = Civil::from_unix(secs).date_time();
    if frac == 0 {
        return format!("{date_time}Z");
    }
    let digits = format!("{frac:09}");
    format!("{date_time}.{}Z", digits.trim_end_matches('0'))
}

fn split_nanos(nanos: i64) -> (i64, i64) {
    (
        nanos.div_euclid(NANOS_PER_SEC),
        nanos.rem_euclid(NANOS_PER_SEC),
    )
}

/// Unix seconds of RFC 3339 text (the fraction dropped, rounding towards the past); `None` if
/// malformed.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    parse(text).map(|(secs, _)| secs)
}

/// Unix nanoseconds of RFC 3339 text (fraction kept to nine digits); `None` if malformed or
/// outside the years 1677-2262 that nanoseconds in an `i64` can hold.
pub fn parse_rfc3339_nanos(text: &str) -> Option<i64> {
    let (secs, frac) = parse(text)?;
    secs.checked_mul(NANOS_PER_SEC)?.checked_add(frac)
}

/// `(unix seconds, nanoseconds of fraction)` of RFC 3339 text.
fn parse(text: &str) -> Option<(i64, i64)> {
    let mut c = Cursor(text.as_bytes());
    let year = c.number(4)?;
    c.expect(b"-")?;
    let month = c.number(2)?;
    c.expect(b"-")?;
    let day = c.number(2)?;
    c.expect(b"Tt ")?;
    let hour = c.number(2)?;
    c.expect(b":")?;
    let minute = c.number(2)?;
    c.expect(b":")?;
    let second = c.number(2)?;
    let mut frac = 0;
    if c.expect(b".").is_some() {
        let digits = c.digits();
        if digits.is_empty() {
            return None;
        }
        for i in 0..9 {
            frac = frac * 10 + digits.get(i).map_or(0, |d| i64::from(d - b'0'));
        }
    }
    let offset = match c.take()? {
        b'Z' | b'z' => 0,
        sign @ (b'+' | b'-') => {
            let oh = c.number(2)?;
            c.expect(b":")?;
            let om = c.number(2)?;
            if oh > 23 || om > 59 {
                return None;
            }
            let off = i64::from(oh * 3600 + om * 60);
            if sign == b'-' {
                -off
            } else {
                off
            }
        }
        _ => return None,
    };
    let valid = (1..=12).contains(&month)
        && day >= 1
        && day <= days_in_month(i64::from(year), month)
        && hour < 24
        && minute < 60
        && second < 60;
    if !valid || !c.0.is_empty() {
        return None;
    }
    let days = days_from_civil(i64::from(year), month, day);
    let tod = i64::from(hour * 3600 + minute * 60 + second);
    Some((days * SECS_PER_DAY + tod - offset, frac))
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The unread rest of the text, as bytes: no indexing that could split a character.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(first)
    }

    /// Takes one byte that is one of `allowed`.
    fn expect(&mut self, allowed: &[u8]) -> Option<()> {
        let &first = self.0.first()?;
        allowed.contains(&first).then(|| self.0 = &self.0[1..])
    }

    /// Takes exactly `width` ASCII digits.
    fn number(&mut self, width: usize) -> Option<u32> {
        let digits = self.0.get(..width)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.0 = &self.0[width..];
        Some(digits.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
    }

    /// Takes the run of ASCII digits that starts here (maybe empty).
    fn digits(&mut self) -> &[u8] {
        let n = self.0.iter().take_while(|b| b.is_ascii_digit()).count();
        let (digits, rest) = self.0.split_at(n);
        self.0 = rest;
        digits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_795_635_064; // 2026-11-25T19:31:04Z, a Wednesday

    #[test]
    fn civil_of_the_epoch_and_now() {
        let epoch = Civil::from_unix(0);
        assert_eq!(
            (epoch.year, epoch.month, epoch.day, epoch.weekday),
            (1970, 1, 1, 4)
        );
        assert_eq!((epoch.weekday_abbr(), epoch.month_abbr()), ("Thu", "Jan"));
        let c = Civil::from_unix(T);
        assert_eq!(
            (c.year, c.month, c.day, c.hour, c.minute, c.second),
            (2026, 11, 25, 19, 31, 4)
        );
        assert_eq!((c.weekday_abbr(), c.month_abbr()), ("Wed", "Nov"));
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2026, 11, 25), T / 86_400);
    }

    #[test]
    fn days_round_trip() {
        for days in (-800_000..800_000).step_by(7) {
            let (y, m, d) = civil_from_days(days);
            assert!(
                (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m),
                "{days}"
            );
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn leap_years() {
        let leap = days_from_civil(2000, 2, 29);
        assert_eq!(days_from_civil(2000, 3, 1), leap + 1);
        assert_eq!(rfc3339(leap * 86_400), "2000-02-29T00:00:00Z");
        // 2100 is not a leap year: 28 February is followed by 1 March.
        assert_eq!(
            days_from_civil(2100, 3, 1),
            days_from_civil(2100, 2, 28) + 1
        );
        assert_eq!(
            rfc3339(days_from_civil(2100, 3, 1) * 86_400),
            "2100-03-01T00:00:00Z"
        );
        assert_eq!(parse_rfc3339("2000-02-29T00:00:00Z"), Some(leap * 86_400));
        assert_eq!(parse_rfc3339("2100-02-29T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2023-02-29T00:00:00Z"), None);
    }

    #[test]
    fn before_1970() {
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
        assert_eq!(Civil::from_unix(-1).weekday_abbr(), "Wed");
        assert_eq!(rfc3339_nanos(-1), "1969-12-31T23:59:59.999999999Z");
        assert_eq!(
            rfc3339_nanos_trimmed(-500_000_000),
            "1969-12-31T23:59:59.5Z"
        );
        assert_eq!(rfc3339(-86_400 * 365), "1969-01-01T00:00:00Z");
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), Some(-1));
        assert_eq!(
            parse_rfc3339_nanos("1969-12-31T23:59:59.5Z"),
            Some(-500_000_000)
        );
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59.5Z"), Some(-1));
        assert_eq!(
            parse_rfc3339("0000-03-01T00:00:00Z"),
            Some(days_from_civil(0, 3, 1) * 86_400)
        );
    }

    #[test]
    fn output_forms() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(T), "2026-11-25T19:31:04Z");
        let n = T * 1_000_000_000;
        assert_eq!(rfc3339_nanos(n + 1), "2026-11-25T19:31:04.000000001Z");
        assert_eq!(rfc3339_nanos(n), "2026-11-25T19:31:04.000000000Z");
        assert_eq!(rfc3339_nanos_trimmed(n), "2026-11-25T19:31:04Z");
        assert_eq!(
            rfc3339_nanos_trimmed(n + 100_000_000),
            "2026-11-25T19:31:04.1Z"
        );
        assert_eq!(
            rfc3339_nanos_trimmed(n + 123_450_000),
            "2026-11-25T19:31:04.12345Z"
        );
        assert_eq!(
            rfc3339_nanos_trimmed(n + 1),
            "2026-11-25T19:31:04.000000001Z"
        );
        assert!(now_nanos() > n - 86_400 * 1_000_000_000);
    }

    #[test]
    fn parses_offsets_and_fractions() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2026-11-25T19:31:04Z"), Some(T));
        assert_eq!(parse_rfc3339("2026-11-25t19:31:04z"), Some(T));
        assert_eq!(parse_rfc3339("2026-11-25 19:31:04Z"), Some(T));
        assert_eq!(parse_rfc3339("2026-11-25T20:31:04+01:00"), Some(T));
        assert_eq!(parse_rfc3339("2026-11-25T14:01:04-05:30"), Some(T));
        assert_eq!(parse_rfc3339("2026-11-25T19:31:04.999999999Z"), Some(T));
        let n = T * 1_000_000_000;
        assert_eq!(parse_rfc3339_nanos("2026-11-25T19:31:04Z"), Some(n));
        assert_eq!(
            parse_rfc3339_nanos("2026-11-25T19:31:04.5Z"),
            Some(n + 500_000_000)
        );
        assert_eq!(
            parse_rfc3339_nanos("2026-11-25T20:31:04.123456789+01:00"),
            Some(n + 123_456_789)
        );
        // Digits past the ninth are dropped, as Go does.
        assert_eq!(
            parse_rfc3339_nanos("2026-11-25T19:31:04.0000000019Z"),
            Some(n + 1)
        );
        for t in [n, n + 1, n + 120_000_000, -1, 0] {
            assert_eq!(parse_rfc3339_nanos(&rfc3339_nanos(t)), Some(t));
            assert_eq!(parse_rfc3339_nanos(&rfc3339_nanos_trimmed(t)), Some(t));
        }
    }

    #[test]
    fn rejects_malformed_and_never_panics() {
        for bad in [
            "",
            "yesterday",
            "1700000000",
            "1700000000.5",
            "2026-11-25",
            "2026-11-25T19:31:04",
            "2026-11-25T19:31Z",
            "2026-11-25T19:31:04.Z",
            "2026-11-25T19:31:04ZZ",
            "2026-11-25T19:31:04+01",
            "2026-11-25T19:31:04+0100",
            "2026-11-25T19:31:04+24:00",
            "2026-13-25T19:31:04Z",
            "2026-11-31T19:31:04Z",
            "2026-11-00T19:31:04Z",
            "2026-11-25T24:00:00Z",
            "2026-11-25T19:60:04Z",
            "2026-11-25T19:31:60Z",
            "26-11-25T19:31:04Z",
            "+2026-11-25T19:31:04Z",
            "2026-1-25T19:31:04Z",
            "2026-11-25X19:31:04Z",
            "2026-11-25T19:31:04.5",
            "2026-11-25T19:31:0é",
            "2026-11-25T19:31:04+0é:00",
            "2026-11-25T19:31:04+é:00",
            "2026-11-25T19:31:04.١Z",
            "２０２６-11-25T19:31:04Z",
            "2026-11-25T19:31:04Zé",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
            assert_eq!(parse_rfc3339_nanos(bad), None, "{bad}");
        }
        // Seconds hold any four-digit year; nanoseconds only 1677-2262.
        assert!(parse_rfc3339("9999-12-31T23:59:59Z").is_some());
        assert_eq!(parse_rfc3339_nanos("9999-12-31T23:59:59Z"), None);
        assert_eq!(parse_rfc3339_nanos("0001-01-01T00:00:00Z"), None);
    }
}
