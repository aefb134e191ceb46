//! The `/proc` side of a stats sample: the host's total CPU time and online CPUs from
//! `/proc/stat` (the denominator of the CPU percentage, in nanoseconds, as Docker computes it),
//! and the interface counters of a network namespace from `/proc/<pid>/net/dev`.

use std::collections::BTreeMap;
use std::path::Path;

use super::cgroup::CLOCK_TICKS;
use super::{read_file, NetCounters, StatsError};

/// The host's CPU time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostCpu {
    /// user + nice + system + idle + iowait + irq + softirq of the `cpu` line, in nanoseconds.
    pub total_nanos: u64,
    /// How many `cpuN` lines there are.
    pub online_cpus: u32,
}

/// Reads `/proc/stat` (or a file shaped like it).
pub fn host_cpu(path: &Path) -> Result<HostCpu, StatsError> {
    let text = read_file(path)?;
    parse_stat(&text).ok_or_else(|| StatsError::Parse {
        path: path.to_path_buf(),
        content: text.lines().next().unwrap_or("").to_string(),
    })
}

/// Parses `/proc/stat` text; `None` without a complete `cpu` line.
pub fn parse_stat(text: &str) -> Option<HostCpu> {
    let mut total = None;
    let mut online = 0u32;
    for line in text.lines() {
        let mut f = line.split_whitespace();
        match f.next() {
            Some("cpu") => {
                let ticks: Vec<u64> = f.take(7).map(str::parse).collect::<Result<_, _>>().ok()?;
                if ticks.len() < 7 {
                    return None;
                }
                let sum: u64 = ticks.iter().sum();
                total = Some(sum.saturating_mul(1_000_000_000) / CLOCK_TICKS);
            }
            Some(name) if name.starts_with("cpu") => online += 1,
            _ => {}
        }
    }
    Some(HostCpu {
        total_nanos: total?,
        online_cpus: online,
    })
}

/// Reads a `net/dev` file: every interface but `lo`.
pub fn net_dev(path: &Path) -> Result<BTreeMap<String, NetCounters>, StatsError> {
    Ok(parse_net_dev(&read_file(path)?))
}

/// Parses `net/dev` text (two header lines, then `name: 8 receive and 8 transmit columns`).
pub fn parse_net_dev(text: &str) -> BTreeMap<String, NetCounters> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some((name, counters)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name == "lo" || name.contains(' ') || name.contains('|') {
            continue;
        }
        let v: Vec<u64> = counters
            .split_whitespace()
            .filter_map(|n| n.parse().ok())
            .collect();
        if v.len() < 16 {
            continue;
        }
        out.insert(
            name.to_string(),
            NetCounters {
                rx_bytes: v[0],
                rx_packets: v[1],
                rx_errors: v[2],
                rx_dropped: v[3],
                tx_bytes: v[8],
                tx_packets: v[9],
                tx_errors: v[10],
                tx_dropped: v[11],
            },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_cpu_sums_seven_fields_in_nanoseconds() {
        let text = "cpu  100 0 50 800 10 5 5 7 0 0\ncpu0 50 0 25 400 5 2 3 3 0 0\ncpu1 50 0 25 400 5 3 2 4 0 0\nintr 1 2\n";
        let h = parse_stat(text).unwrap();
        assert_eq!(h.total_nanos, 970 * 10_000_000);
        assert_eq!(h.online_cpus, 2);
        assert!(parse_stat("cpu 1 2\n").is_none());
        assert!(parse_stat("intr 1\n").is_none());
    }

    #[test]
    fn net_dev_skips_headers_and_lo() {
        let text = "Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0
  eth0:    1296      16    1    2    0     0          0         0      746       9    3    4    0     0       0          0
";
        let m = parse_net_dev(text);
        assert_eq!(m.len(), 1);
        let e = &m["eth0"];
        assert_eq!(
            (e.rx_bytes, e.rx_packets, e.rx_errors, e.rx_dropped),
            (1296, 16, 1, 2)
        );
        assert_eq!(
            (e.tx_bytes, e.tx_packets, e.tx_errors, e.tx_dropped),
            (746, 9, 3, 4)
        );
    }
}
