//! Facts about the machine that a config is checked against (which CPUs
//! exist and may be used). Kept apart from validation so tests can pass a
//! fake host, and so `upf check --no-host-checks` can validate a config
//! meant for a different machine.

use std::collections::BTreeSet;

/// DPDK 22.11's `RTE_MAX_LCORE` as built by Debian: lcore ids must be below it.
pub const MAX_LCORE: u32 = 128;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostInfo {
    /// CPUs that are online (the affinity mask is only a fallback).
    pub cpus: BTreeSet<u32>,
}

impl HostInfo {
    /// Reads `/sys/devices/system/cpu/online` and the `Cpus_allowed_list`
    /// of `/proc/self/status`; falls back to `0..available_parallelism`.
    #[must_use]
    pub fn detect() -> Self {
        let read = |p: &str| std::fs::read_to_string(p).ok();
        let online = read("/sys/devices/system/cpu/online").and_then(|s| parse_cpu_list(s.trim()));
        let allowed = read("/proc/self/status").and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                .and_then(|v| parse_cpu_list(v.trim()))
        });
        let cpus = match (online, allowed) {
            // Online CPUs, not this process's affinity: with `isolcpus=` the
            // worker cores are outside a shell's affinity yet valid lcores
            // (upf.service starts the daemon under `taskset`).
            (Some(o), _) => o,
            (None, Some(a)) => a,
            (None, None) => {
                let n = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
                (0..u32::try_from(n).unwrap_or(1)).collect()
            }
        };
        Self { cpus }
    }

    /// A host with CPUs `0..n` (tests).
    #[must_use]
    pub fn with_cpus(n: u32) -> Self {
        Self {
            cpus: (0..n).collect(),
        }
    }

    /// `0-3,6,8-9`, for messages.
    #[must_use]
    pub fn cpu_list(&self) -> String {
        let mut out = Vec::new();
        let mut iter = self.cpus.iter().copied().peekable();
        while let Some(start) = iter.next() {
            let mut end = start;
            while iter.peek() == Some(&(end + 1)) {
                end += 1;
                iter.next();
            }
            out.push(if start == end {
                start.to_string()
            } else {
                format!("{start}-{end}")
            });
        }
        out.join(",")
    }
}

/// Parses the kernel's CPU list format (`0-3,6,8-9`).
#[must_use]
pub fn parse_cpu_list(s: &str) -> Option<BTreeSet<u32>> {
    let mut set = BTreeSet::new();
    if s.is_empty() {
        return Some(set);
    }
    for part in s.split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b): (u32, u32) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
        if a > b || b - a > 65536 {
            return None;
        }
        set.extend(a..=b);
    }
    Some(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(
            parse_cpu_list("0-3,6,8-9").unwrap(),
            [0, 1, 2, 3, 6, 8, 9].into_iter().collect()
        );
        assert_eq!(parse_cpu_list("0").unwrap(), [0].into_iter().collect());
        assert!(parse_cpu_list("3-1").is_none());
        assert!(parse_cpu_list("x").is_none());
        let h = HostInfo {
            cpus: [0, 1, 2, 3, 6, 8, 9].into_iter().collect(),
        };
        assert_eq!(h.cpu_list(), "0-3,6,8-9");
    }

    #[test]
    fn detect_finds_the_cpu_we_run_on() {
        let h = HostInfo::detect();
        assert!(!h.cpus.is_empty());
    }

    proptest! {
        #[test]
        fn cpu_list_roundtrips(cpus in prop::collection::btree_set(0u32..300, 0..40)) {
            let h = HostInfo { cpus: cpus.clone() };
            prop_assert_eq!(parse_cpu_list(&h.cpu_list()).unwrap(), cpus);
        }

        #[test]
        fn cpu_list_never_panics(s in "[0-9,\\- ]{0,30}") {
            let _ = parse_cpu_list(&s);
        }
    }
}
