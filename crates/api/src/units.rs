//! Docker's unit texts, the one owner for the CLI and the daemon: Go durations (`1h30m`, `500ms`,
//! as `time.ParseDuration` reads them: `--since 10m`, the `until` filter), binary sizes (`64m`,
//! `1.5g`, as go-units' `RAMInBytes`: `-m`, `--tmpfs-size`, the `max-size` log option) and the
//! human duration of status lines and `CREATED` columns (go-units' `HumanDuration`: `5 minutes`,
//! `About an hour`) and human sizes (go-units' `HumanSize`: decimal units with Go's `%.Ng`,
//! `4.26MB`, `0B`).

use std::time::Duration;

/// A Go duration that does not parse; the message is Go's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("time: invalid duration \"{0}\"")]
pub struct DurationError(pub String);

/// A size that does not parse; the messages are go-units'.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    #[error("invalid size: '{0}'")]
    Size(String),
    #[error("invalid suffix: '{0}'")]
    Suffix(String),
}

/// Parses a Go duration (`300ms`, `-1.5h`, `2h45m`, `1µs`, `0`) to signed nanoseconds, as Go's
/// `time.ParseDuration`: an optional sign, then one or more decimal numbers each with a unit
/// (`ns`, `us`/`µs`/`μs`, `ms`, `s`, `m`, `h`); a bare `0` is zero.
pub fn parse_go_duration(text: &str) -> Result<i64, DurationError> {
    let bad = || DurationError(text.to_string());
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let number = &rest[..split];
        if number.is_empty() || number == "." {
            return Err(bad());
        }
        let n: f64 = number.parse().map_err(|_| bad())?;
        rest = &rest[split..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per_unit = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        total += n * nanos_per_unit;
        rest = &rest[unit_end..];
    }
    if total > i64::MAX as f64 {
        return Err(bad());
    }
    let nanos = total.round() as i64;
    Ok(if negative { -nanos } else { nanos })
}

/// Parses a size in binary multiples (`64m`, `1.5g`, `512k`, `10mb`, `1024`) to bytes, as go-units'
/// `RAMInBytes`: a decimal number, an optional space, an optional `k`/`m`/`g`/`t`/`p` (any case),
/// an optional `i` and an optional `b`.
pub fn ram_in_bytes(text: &str) -> Result<i64, SizeError> {
    let t = text.trim();
    let lower = t.to_ascii_lowercase();
    let split = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (number, suffix) = lower.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| SizeError::Size(text.to_string()))?;
    let unit = suffix.strip_prefix(' ').unwrap_or(suffix);
    let unit = unit.strip_suffix('b').unwrap_or(unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let multiple: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024f64.powi(2),
        "g" => 1024f64.powi(3),
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return Err(SizeError::Suffix(t[split..].to_string())),
    };
    Ok((n * multiple) as i64)
}

/// go-units' `HumanDuration`: `Less than a second`, `1 second`, `About a minute`, `3 hours`,
/// `2 weeks`, `5 years`.
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    let seconds = secs as i64;
    let minutes = (secs / 60.0) as i64;
    let hours = (secs / 3600.0 + 0.5) as i64;
    if seconds < 1 {
        "Less than a second".into()
    } else if seconds == 1 {
        "1 second".into()
    } else if seconds < 60 {
        format!("{seconds} seconds")
    } else if minutes == 1 {
        "About a minute".into()
    } else if minutes < 60 {
        format!("{minutes} minutes")
    } else if hours == 1 {
        "About an hour".into()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", (secs / 3600.0 / 24.0 / 365.0) as i64)
    }
}

/// [`human_duration`] of whole seconds (negative counts as zero).
pub fn human_duration_secs(secs: i64) -> String {
    human_duration(Duration::from_secs(secs.max(0) as u64))
}

const DECIMAL: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];

/// go-units' `HumanSizeWithPrecision(size, precision)`: decimal (1000-based) units.
pub fn human_size_precision(size: f64, precision: usize) -> String {
    let mut s = size;
    let mut i = 0;
    while s >= 1000.0 && i < DECIMAL.len() - 1 {
        s /= 1000.0;
        i += 1;
    }
    format!("{}{}", go_g(s, precision), DECIMAL[i])
}

/// go-units' `HumanSize`: four significant digits (`2.097MB`, `527B`).
pub fn human_size(size: f64) -> String {
    human_size_precision(size, 4)
}

/// Go's `%.Pg` for the non-negative magnitudes sizes have.
pub fn go_g(v: f64, precision: usize) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let p = precision.max(1);
    let sci = format!("{:.*e}", p - 1, v);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= p as i32 {
        let m = trim_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{m}e{sign}{:02}", exp.abs());
    }
    let decimals = (p as i32 - 1 - exp).max(0) as usize;
    trim_zeros(&format!("{v:.decimals$}"))
}

fn trim_zeros(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;
    const S: i64 = 1_000 * MS;

    #[test]
    fn go_durations_in_every_unit() {
        assert_eq!(parse_go_duration("1ns"), Ok(1));
        assert_eq!(parse_go_duration("1500ns"), Ok(1500));
        assert_eq!(parse_go_duration("3us"), Ok(3_000));
        assert_eq!(parse_go_duration("3µs"), Ok(3_000));
        assert_eq!(parse_go_duration("3μs"), Ok(3_000));
        assert_eq!(parse_go_duration("500ms"), Ok(500 * MS));
        assert_eq!(parse_go_duration("45s"), Ok(45 * S));
        assert_eq!(parse_go_duration("10m"), Ok(600 * S));
        assert_eq!(parse_go_duration("24h"), Ok(86_400 * S));
        assert_eq!(parse_go_duration("0"), Ok(0));
        assert_eq!(parse_go_duration("0s"), Ok(0));
    }

    #[test]
    fn go_durations_combined_signed_and_fractional() {
        assert_eq!(parse_go_duration("1h30m"), Ok(5_400 * S));
        assert_eq!(parse_go_duration("2h45m10s"), Ok(9_910 * S));
        assert_eq!(parse_go_duration("1m30s500ms"), Ok(90 * S + 500 * MS));
        assert_eq!(parse_go_duration("1s2ms3us4ns"), Ok(S + 2 * MS + 3_004));
        assert_eq!(parse_go_duration("1.5h"), Ok(5_400 * S));
        assert_eq!(parse_go_duration(".5s"), Ok(500 * MS));
        assert_eq!(parse_go_duration("-1.5s"), Ok(-1_500 * MS));
        assert_eq!(parse_go_duration("+2m"), Ok(120 * S));
    }

    #[test]
    fn go_durations_refused_as_go_refuses_them() {
        for bad in [
            "", "-", "10", "1x", "h", "1h30", "1..5s", ".s", "soon", "1 h",
        ] {
            assert_eq!(
                parse_go_duration(bad),
                Err(DurationError(bad.to_string())),
                "{bad:?}"
            );
        }
        assert_eq!(
            DurationError("x".into()).to_string(),
            "time: invalid duration \"x\""
        );
    }

    #[test]
    fn sizes_in_binary_multiples() {
        assert_eq!(ram_in_bytes("1024"), Ok(1024));
        assert_eq!(ram_in_bytes("64m"), Ok(64 << 20));
        assert_eq!(ram_in_bytes("64M"), Ok(64 << 20));
        assert_eq!(ram_in_bytes("64mb"), Ok(64 << 20));
        assert_eq!(ram_in_bytes("64MiB"), Ok(64 << 20));
        assert_eq!(ram_in_bytes("1.5g"), Ok(3 << 29));
        assert_eq!(ram_in_bytes("512k"), Ok(512 << 10));
        assert_eq!(ram_in_bytes("2t"), Ok(2 << 40));
        assert_eq!(ram_in_bytes("1p"), Ok(1 << 50));
        assert_eq!(ram_in_bytes("32 m"), Ok(32 << 20));
        assert_eq!(ram_in_bytes("10b"), Ok(10));
        assert_eq!(ram_in_bytes("abc"), Err(SizeError::Size("abc".into())));
        assert_eq!(ram_in_bytes("-1"), Err(SizeError::Size("-1".into())));
        assert_eq!(ram_in_bytes("10x"), Err(SizeError::Suffix("x".into())));
        assert_eq!(
            SizeError::Size("abc".into()).to_string(),
            "invalid size: 'abc'"
        );
        assert_eq!(
            SizeError::Suffix("x".into()).to_string(),
            "invalid suffix: 'x'"
        );
    }

    #[test]
    fn human_durations_as_go_units() {
        let d = |s| human_duration(Duration::from_secs(s));
        assert_eq!(d(0), "Less than a second");
        assert_eq!(
            human_duration(Duration::from_millis(999)),
            "Less than a second"
        );
        assert_eq!(d(1), "1 second");
        assert_eq!(d(59), "59 seconds");
        assert_eq!(d(60), "About a minute");
        assert_eq!(d(5 * 60), "5 minutes");
        assert_eq!(d(3600), "About an hour");
        assert_eq!(d(2 * 3600), "2 hours");
        assert_eq!(d(3 * 86400), "3 days");
        assert_eq!(d(20 * 86400), "2 weeks");
        assert_eq!(d(90 * 86400), "3 months");
        assert_eq!(d(800 * 86400), "2 years");
        assert_eq!(human_duration_secs(-5), "Less than a second");
        assert_eq!(human_duration_secs(5 * 3600), "5 hours");
    }

    #[test]
    fn human_sizes_as_go_units() {
        assert_eq!(human_size(0.0), "0B");
        assert_eq!(human_size(527.0), "527B");
        assert_eq!(human_size(2_000.0), "2kB");
        assert_eq!(human_size(2_097_152.0), "2.097MB");
        assert_eq!(human_size(28_570_000.0), "28.57MB");
        assert_eq!(human_size_precision(1_228_800.0, 3), "1.23MB");
        assert_eq!(human_size_precision(999_999.0, 3), "1e+03kB");
    }
}
