//! Signal names and numbers, the one parser for every crate: `kill -s`, `StopSignal`, the kill
//! API's `signal` and `berth runtime kill` take `9`, `KILL`, `SIGKILL` or `sigkill`. The numbers
//! are Linux's (x86, arm and the generic table); `RTMIN+n` and `RTMAX-n` name the real-time ones.

/// A signal that is neither a known name nor a number from 1 to 64.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid signal: {0}")]
pub struct SignalError(pub String);

/// Linux's signal names without `SIG`, by number.
const NAMES: [(&str, i32); 33] = [
    ("HUP", 1),
    ("INT", 2),
    ("QUIT", 3),
    ("ILL", 4),
    ("TRAP", 5),
    ("ABRT", 6),
    ("IOT", 6),
    ("BUS", 7),
    ("FPE", 8),
    ("KILL", 9),
    ("USR1", 10),
    ("SEGV", 11),
    ("USR2", 12),
    ("PIPE", 13),
    ("ALRM", 14),
    ("TERM", 15),
    ("STKFLT", 16),
    ("CHLD", 17),
    ("CLD", 17),
    ("CONT", 18),
    ("STOP", 19),
    ("TSTP", 20),
    ("TTIN", 21),
    ("TTOU", 22),
    ("URG", 23),
    ("XCPU", 24),
    ("XFSZ", 25),
    ("VTALRM", 26),
    ("PROF", 27),
    ("WINCH", 28),
    ("IO", 29),
    ("POLL", 29),
    ("PWR", 30),
];

const SYS: i32 = 31;
const RTMIN: i32 = 34;
const RTMAX: i32 = 64;

/// Parses a signal as Docker accepts it (`9`, `KILL`, `SIGKILL`, `sigkill`, `RTMIN+3`) to its
/// number, 1 to 64.
pub fn parse_signal(text: &str) -> Result<i32, SignalError> {
    let bad = || SignalError(text.to_string());
    let t = text.trim();
    if let Ok(n) = t.parse::<i32>() {
        return if (1..=RTMAX).contains(&n) {
            Ok(n)
        } else {
            Err(bad())
        };
    }
    let upper = t.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some((_, n)) = NAMES.iter().find(|(known, _)| *known == name) {
        return Ok(*n);
    }
    let offset = |rest: &str| -> Result<i32, SignalError> {
        match rest {
            "" => Ok(0),
            _ => rest
                .parse::<i32>()
                .ok()
                .filter(|n| (0..=RTMAX - RTMIN).contains(n))
                .ok_or_else(bad),
        }
    };
    match name {
        "SYS" | "UNUSED" => Ok(SYS),
        _ if name.starts_with("RTMIN") => {
            Ok(RTMIN + offset(name["RTMIN".len()..].trim_start_matches('+'))?)
        }
        _ if name.starts_with("RTMAX") => {
            Ok(RTMAX - offset(name["RTMAX".len()..].trim_start_matches('-'))?)
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_with_and_without_sig() {
        assert_eq!(parse_signal("KILL"), Ok(9));
        assert_eq!(parse_signal("SIGKILL"), Ok(9));
        assert_eq!(parse_signal("sigterm"), Ok(15));
        assert_eq!(parse_signal("term"), Ok(15));
        assert_eq!(parse_signal("SIGUSR1"), Ok(10));
        assert_eq!(parse_signal("hup"), Ok(1));
        assert_eq!(parse_signal("SIGWINCH"), Ok(28));
        assert_eq!(parse_signal("SIGSYS"), Ok(31));
        assert_eq!(parse_signal(" INT "), Ok(2));
        assert_eq!(parse_signal("RTMIN"), Ok(34));
        assert_eq!(parse_signal("SIGRTMIN+3"), Ok(37));
        assert_eq!(parse_signal("RTMAX-1"), Ok(63));
    }

    #[test]
    fn signals_by_number() {
        assert_eq!(parse_signal("9"), Ok(9));
        assert_eq!(parse_signal("15"), Ok(15));
        assert_eq!(parse_signal("1"), Ok(1));
        assert_eq!(parse_signal("64"), Ok(64));
    }

    #[test]
    fn unknown_signals_are_refused() {
        for bad in [
            "0", "65", "-9", "", "SIG", "BOGUS", "SIGKILLX", "RTMIN+31", "RTMIN+x",
        ] {
            assert_eq!(
                parse_signal(bad),
                Err(SignalError(bad.to_string())),
                "{bad:?}"
            );
        }
        assert_eq!(
            SignalError("NOPE".into()).to_string(),
            "invalid signal: NOPE"
        );
    }
}
