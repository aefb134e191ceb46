//! Time on the wire: RFC 3339 text (inspect, `/info`) and unix seconds (list entries). The
//! conversions are [`berth_oci::time`]'s; this module gives them the names the server uses.

/// Unix seconds of an RFC 3339 timestamp (`2026-11-25T19:31:04.5Z`, `...+01:00`); `None` if malformed.
pub use berth_oci::time::parse_rfc3339 as unix_seconds;
/// Nanoseconds since the epoch of an RFC 3339 timestamp (fraction kept); `None` if malformed.
pub use berth_oci::time::parse_rfc3339_nanos as unix_nanos;
/// RFC 3339 UTC with nanoseconds, as Docker prints times (`2026-11-25T19:31:04.000000001Z`).
pub use berth_oci::time::rfc3339_nanos;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        assert_eq!(unix_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(unix_seconds("2026-11-25T19:31:04Z"), Some(1_795_635_064));
        assert_eq!(
            unix_seconds("2026-11-25T19:31:04.123456789Z"),
            Some(1_795_635_064)
        );
        assert_eq!(
            unix_seconds("2026-11-25T20:31:04+01:00"),
            Some(1_795_635_064)
        );
        assert_eq!(unix_seconds("yesterday"), None);
        assert_eq!(
            unix_nanos("2026-11-25T19:31:04.5Z"),
            Some(1_795_635_064_500_000_000)
        );
        assert_eq!(
            rfc3339_nanos(1_795_635_064_000_000_001),
            "2026-11-25T19:31:04.000000001Z"
        );
    }
}
