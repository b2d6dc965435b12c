//! CPU time of threads from `/proc/.../schedstat`: how much of a trial the
//! generator's lcore and the device under test's worker threads actually
//! ran, and how long they waited for a CPU. On a machine shared with other
//! work a poll-mode thread gets only part of a core; packets per second of
//! CPU time is then the figure that compares two devices fairly.

use std::path::Path;

use serde::Serialize;

/// Run and run-queue wait time, nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTime {
    /// Time on a CPU.
    pub run_ns: u64,
    /// Time runnable but waiting for a CPU.
    pub wait_ns: u64,
}

/// Share of a wall-clock interval.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct CpuShare {
    /// Running / wall time (1.0 = a whole CPU).
    pub run: f64,
    /// Waiting for a CPU / wall time.
    pub wait: f64,
}

impl CpuTime {
    /// `later − self` over `wall_ns` of wall time.
    #[must_use]
    pub fn share_until(&self, later: &CpuTime, wall_ns: u64) -> CpuShare {
        let w = wall_ns.max(1) as f64;
        CpuShare {
            run: later.run_ns.saturating_sub(self.run_ns) as f64 / w,
            wait: later.wait_ns.saturating_sub(self.wait_ns) as f64 / w,
        }
    }
}

/// Parses a schedstat line: run ns, wait ns, timeslices.
#[must_use]
pub fn parse_schedstat(s: &str) -> Option<CpuTime> {
    let mut it = s.split_whitespace();
    Some(CpuTime {
        run_ns: it.next()?.parse().ok()?,
        wait_ns: it.next()?.parse().ok()?,
    })
}

/// The calling thread's CPU time.
#[must_use]
pub fn this_thread() -> Option<CpuTime> {
    parse_schedstat(&std::fs::read_to_string("/proc/thread-self/schedstat").ok()?)
}

/// The summed CPU time of the threads of process `pid` whose name starts
/// with `prefix`; `None` if the process is gone or no thread matches.
#[must_use]
pub fn threads_of(pid: u32, prefix: &str) -> Option<CpuTime> {
    threads_in(&Path::new("/proc").join(pid.to_string()), prefix)
}

fn threads_in(proc_dir: &Path, prefix: &str) -> Option<CpuTime> {
    let mut total = CpuTime::default();
    let mut found = false;
    for e in std::fs::read_dir(proc_dir.join("task")).ok()?.flatten() {
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        if !comm.trim_end().starts_with(prefix) {
            continue;
        }
        if let Some(t) = std::fs::read_to_string(e.path().join("schedstat"))
            .ok()
            .as_deref()
            .and_then(parse_schedstat)
        {
            total.run_ns += t.run_ns;
            total.wait_ns += t.wait_ns;
            found = true;
        }
    }
    found.then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_divides() {
        let a = parse_schedstat("1000 500 7\n").unwrap();
        let b = parse_schedstat("3000 1500 9").unwrap();
        assert_eq!(
            a.share_until(&b, 4000),
            CpuShare {
                run: 0.5,
                wait: 0.25
            }
        );
        assert_eq!(parse_schedstat("x 1"), None);
        assert_eq!(parse_schedstat(""), None);
    }

    #[test]
    fn reads_this_thread_and_this_process() {
        let a = this_thread().expect("schedstat of this thread");
        let t0 = std::time::Instant::now();
        while t0.elapsed() < std::time::Duration::from_millis(20) {
            std::hint::spin_loop();
        }
        let b = this_thread().unwrap();
        assert!(
            b.run_ns > a.run_ns,
            "a spinning thread accumulates run time"
        );
        // The test threads of this process are named after their test.
        let me = threads_of(std::process::id(), "").unwrap();
        assert!(me.run_ns >= b.run_ns);
        assert_eq!(threads_of(std::process::id(), "no-such-thread-name"), None);
    }
}
