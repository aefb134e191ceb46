//! Human units as docker prints them: decimal sizes with Go's `%.Ng` ("4.26MB", "0B"), binary
//! sizes for `-m 64m` style flags, durations ("2 hours", "About a minute"), "N ago" and the
//! container status strings ("Up 5 minutes", "Exited (0) 3 seconds ago"); and timestamps.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

// The workspace's one civil-time implementation.
use berth_oci::time::{self as civil_time, Civil};

// The one owner of Go durations, sizes and human durations (shared with the daemon).
use berth_api::units;
pub use berth_api::units::{go_g, human_duration, human_size, human_size_precision, ram_in_bytes};

/// Seconds since the epoch, now.
pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// "2 hours ago" for a unix timestamp (relative to `now`).
pub fn ago(created: i64, now: i64) -> String {
    format!(
        "{} ago",
        human_duration(Duration::from_secs((now - created).max(0) as u64))
    )
}

/// The daemon's container status line, for a state and times (unix seconds).
pub fn container_status(
    state: &str,
    exit_code: i64,
    started: i64,
    finished: i64,
    now: i64,
) -> String {
    let since = |t: i64| human_duration(Duration::from_secs((now - t).max(0) as u64));
    match state {
        "running" => format!("Up {}", since(started)),
        "paused" => format!("Up {} (Paused)", since(started)),
        "restarting" => format!("Restarting ({exit_code}) {} ago", since(finished)),
        "exited" if finished > 0 => format!("Exited ({exit_code}) {} ago", since(finished)),
        "dead" => "Dead".into(),
        "removing" => "Removal In Progress".into(),
        _ => "Created".into(),
    }
}

/// RFC 3339 UTC text for a unix timestamp ("2026-11-25T10:00:00Z").
pub use civil_time::rfc3339;

/// docker's `CreatedAt` text ("2026-11-25 10:00:00 +0000 UTC").
pub fn go_time(t: i64) -> String {
    let c = Civil::from_unix(t);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} +0000 UTC",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// Go's `time.ANSIC` layout in UTC ("Wed Nov 25 00:00:00 2026"; the day padded with a space).
pub fn ansic(t: i64) -> String {
    let c = Civil::from_unix(t);
    format!(
        "{} {} {:>2} {:02}:{:02}:{:02} {}",
        c.weekday_abbr(),
        c.month_abbr(),
        c.day,
        c.hour,
        c.minute,
        c.second,
        c.year
    )
}

/// Parses an RFC 3339 timestamp ("2026-11-25T10:00:00.123Z", "+01:00" offsets) to unix seconds;
/// text without a zone ("2026-11-25T10:00:00", docker's RFC3339Local) is read as UTC.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    civil_time::parse_rfc3339(s).or_else(|| civil_time::parse_rfc3339(&format!("{s}Z")))
}

/// docker's `GetTimestamp` for `--since`/`--until`: a Go duration ago, a unix timestamp
/// (`123` or `123.456`), or an RFC 3339 date. Returns the text the API expects.
pub fn api_timestamp(value: &str, now: i64) -> Option<String> {
    // As docker's: a bare `0` is a timestamp, not a duration.
    if let Ok(d) = units::parse_go_duration(value).map(|ns| ns / 1_000_000_000) {
        if value != "0" {
            return Some(format!("{}", now - d));
        }
    }
    if value
        .split('.')
        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Some(value.to_string());
    }
    if value.len() == 10 {
        return parse_rfc3339(&format!("{value}T00:00:00Z")).map(|t| t.to_string());
    }
    parse_rfc3339(value).map(|t| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_go_units() {
        assert_eq!(human_size_precision(0.0, 3), "0B");
        assert_eq!(human_size_precision(4_261_000.0, 3), "4.26MB");
        assert_eq!(human_size_precision(1_234_567.0, 4), "1.235MB");
        assert_eq!(human_size(999.0), "999B");
        assert_eq!(human_size(1000.0), "1kB");
        assert_eq!(human_size_precision(2_000_000_000.0, 3), "2GB");
    }

    #[test]
    fn ago_counts_from_now() {
        assert_eq!(ago(100, 7300), "2 hours ago");
        assert_eq!(ago(7400, 7300), "Less than a second ago");
    }

    #[test]
    fn statuses_and_times() {
        assert_eq!(
            container_status("running", 0, 1000, 0, 1300),
            "Up 5 minutes"
        );
        assert_eq!(
            container_status("exited", 0, 1000, 1297, 1300),
            "Exited (0) 3 seconds ago"
        );
        assert_eq!(container_status("created", 0, 0, 0, 1300), "Created");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(ansic(1_795_564_800), "Wed Nov 25 00:00:00 2026");
        assert_eq!(ansic(0), "Thu Jan  1 00:00:00 1970");
        assert_eq!(parse_rfc3339("2026-11-25T10:00:00.5Z"), Some(1_795_600_800));
        assert_eq!(rfc3339(1_795_600_800), "2026-11-25T10:00:00Z");
        assert_eq!(
            parse_rfc3339("2026-11-25T11:00:00+01:00"),
            Some(1_795_600_800)
        );
        assert_eq!(go_time(1_795_600_800), "2026-11-25 10:00:00 +0000 UTC");
        assert_eq!(parse_rfc3339("2026-11-25T10:00:00"), Some(1_795_600_800));
        assert_eq!(parse_rfc3339("2026-11-25T10:00:00+0\u{e9}00"), None);
        assert_eq!(api_timestamp("2026-11-25", 0), Some("1795564800".into()));
        assert_eq!(api_timestamp("10m", 1000), Some("400".into()));
        assert_eq!(
            api_timestamp("1700000000.5", 0),
            Some("1700000000.5".into())
        );
        assert_eq!(api_timestamp("1h30m", 10_000), Some("4600".into()));
        assert_eq!(api_timestamp("0", 10_000), Some("0".into()));
    }
}
