//! `HEALTHCHECK`: `NONE`, or options (Go durations, retries) and a `CMD` in either form.

use super::instruction::{check_flags, json_form, string_flag, Health, Invalid};
use super::lines::Node;

/// Go's duration syntax (`30s`, `1m30s`, `500ms`) in nanoseconds.
pub fn go_duration(s: &str) -> Option<i64> {
    if s == "0" {
        return Some(0);
    }
    let mut total: f64 = 0.0;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += num * scale;
        rest = &rest[unit_end..];
    }
    (total <= i64::MAX as f64).then_some(total as i64)
}

pub(super) fn healthcheck(n: &Node) -> Result<Option<Health>, Invalid> {
    check_flags(
        n,
        &[
            "interval",
            "timeout",
            "start-period",
            "start-interval",
            "retries",
        ],
    )?;
    let (kind, args) = match n.rest.split_once(char::is_whitespace) {
        Some((k, a)) => (k.to_ascii_uppercase(), a.trim()),
        None => (n.rest.to_ascii_uppercase(), ""),
    };
    match kind.as_str() {
        "NONE" if args.is_empty() && n.flags.is_empty() => return Ok(None),
        "NONE" => return Err("HEALTHCHECK NONE takes no arguments".to_string()),
        "CMD" if !args.is_empty() => {}
        "CMD" => return Err("Missing command after HEALTHCHECK CMD".to_string()),
        _ => return Err(format!("Unknown type {kind:?} in HEALTHCHECK (try CMD)")),
    }
    let test = match json_form(args) {
        Some(v) => [vec!["CMD".to_string()], v].concat(),
        None => vec!["CMD-SHELL".to_string(), args.to_string()],
    };
    let dur = |name: &str| -> Result<i64, Invalid> {
        match string_flag(n, name)? {
            None => Ok(0),
            Some(v) => match go_duration(&v) {
                Some(d) if d == 0 || d >= 1_000_000 => Ok(d),
                Some(_) => Err(format!("Interval {name:?} cannot be less than 1ms")),
                None => Err(format!("time: invalid duration {v:?} in --{name}")),
            },
        }
    };
    let retries = match string_flag(n, "retries")? {
        None => 0,
        Some(v) => match v.parse::<i64>() {
            Ok(r) if r >= 0 => r,
            _ => {
                return Err(format!(
                    "--retries must be a non-negative integer, not {v:?}"
                ))
            }
        },
    };
    Ok(Some(Health {
        test,
        interval: dur("interval")?,
        timeout: dur("timeout")?,
        start_period: dur("start-period")?,
        start_interval: dur("start-interval")?,
        retries,
    }))
}
