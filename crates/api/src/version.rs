//! API versions: the one Berth announces, the oldest it accepts, and [`ApiVersion`], a parsed
//! `MAJOR.MINOR` that orders numerically (`1.9 < 1.24 < 1.50`).

use std::fmt;
use std::str::FromStr;

/// The API version Berth announces (`Api-Version` header, `/version`): docker CLI 28's own.
pub const API_VERSION: &str = "1.50";
/// The oldest API version Berth accepts (as Docker 28 does).
pub const MIN_API_VERSION: &str = "1.24";

/// A parsed API version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion {
    pub major: u32,
    pub minor: u32,
}

/// A version string that is not `MAJOR.MINOR`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid API version {0:?}: expected MAJOR.MINOR, for example 1.50")]
pub struct VersionError(pub String);

impl ApiVersion {
    pub const fn new(major: u32, minor: u32) -> Self {
        ApiVersion { major, minor }
    }

    /// The version Berth announces.
    pub const CURRENT: ApiVersion = ApiVersion::new(1, 50);
    /// The oldest version Berth accepts.
    pub const MIN: ApiVersion = ApiVersion::new(1, 24);

    /// Whether this version is at least `major.minor`.
    pub fn at_least(self, major: u32, minor: u32) -> bool {
        self >= ApiVersion::new(major, minor)
    }
}

impl FromStr for ApiVersion {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || VersionError(s.to_string());
        let (major, minor) = s.split_once('.').ok_or_else(err)?;
        let num = |p: &str| -> Result<u32, VersionError> {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err());
            }
            p.parse().map_err(|_| err())
        };
        Ok(ApiVersion::new(num(major)?, num(minor)?))
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_orders_numerically() {
        let v = |s: &str| s.parse::<ApiVersion>().unwrap_or(ApiVersion::new(0, 0));
        assert!(v("1.9") < v("1.24"));
        assert!(v("1.24") < v("1.50"));
        assert!(v("2.0") > v("1.50"));
        assert_eq!(v(API_VERSION), ApiVersion::CURRENT);
        assert_eq!(v(MIN_API_VERSION), ApiVersion::MIN);
        assert_eq!(ApiVersion::CURRENT.to_string(), "1.50");
        assert!(ApiVersion::CURRENT.at_least(1, 42));
    }

    #[test]
    fn rejects_malformed() {
        for s in ["", "1", "1.", ".5", "1.x", "v1.50", "1.50.1", "-1.2"] {
            assert!(s.parse::<ApiVersion>().is_err(), "{s}");
        }
    }
}
