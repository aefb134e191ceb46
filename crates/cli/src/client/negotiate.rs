//! API version negotiation as docker CLI 28 does it: read the daemon's `Api-Version` from the
//! ping; without one assume 1.24; use the lower of the daemon's and the client's own version.

use super::{CLIENT_API_VERSION, FALLBACK_API_VERSION};
use hyper::HeaderMap;

/// What a ping tells about the daemon.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ping {
    pub api_version: Option<String>,
    pub os_type: Option<String>,
    pub experimental: bool,
    pub builder_version: Option<String>,
}

impl Ping {
    /// Reads the ping answer's headers.
    pub fn from_headers(h: &HeaderMap) -> Ping {
        let get = |k: &str| {
            h.get(k)
                .and_then(|v| v.to_str().ok())
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        };
        Ping {
            api_version: get("api-version"),
            os_type: get("ostype"),
            experimental: get("docker-experimental").as_deref() == Some("true"),
            builder_version: get("builder-version"),
        }
    }
}

/// The version to use given the daemon's announced one.
pub fn choose(daemon: Option<&str>) -> String {
    let daemon = daemon.unwrap_or(FALLBACK_API_VERSION);
    if less(daemon, CLIENT_API_VERSION) {
        daemon.to_string()
    } else {
        CLIENT_API_VERSION.to_string()
    }
}

/// Compares dotted versions numerically (`1.9` < `1.24`); lenient with malformed ones.
pub fn less(a: &str, b: &str) -> bool {
    if let (Ok(x), Ok(y)) = (
        a.parse::<berth_api::ApiVersion>(),
        b.parse::<berth_api::ApiVersion>(),
    ) {
        return x < y;
    }
    let parse = |s: &str| {
        s.split('.')
            .map(|p| p.parse::<u64>().unwrap_or(0))
            .collect::<Vec<_>>()
    };
    let (mut pa, mut pb) = (parse(a), parse(b));
    let n = pa.len().max(pb.len());
    pa.resize(n, 0);
    pb.resize(n, 0);
    pa < pb
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_matches_docker() {
        assert_eq!(choose(None), "1.24");
        assert_eq!(choose(Some("1.30")), "1.30");
        assert_eq!(choose(Some("1.23")), "1.23");
        assert_eq!(choose(Some("1.50")), "1.50");
        assert_eq!(choose(Some("1.60")), "1.50");
        assert!(less("1.9", "1.24"));
    }
}
