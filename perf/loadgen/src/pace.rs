//! Rate control by TSC: how many packets are due now for a target rate,
//! sent in bursts by the tx loop. Pure arithmetic on TSC values so that it
//! is tested without a clock.
//!
//! The schedule is absolute (packets due = elapsed × rate), so rounding
//! never drifts. After a stall (the generator thread preempted, as happens
//! on a shared machine) the backlog is capped: the packets beyond the cap
//! are *skipped*, not sent in a line-rate burst that the device under test
//! would be blamed for. Skipped packets are counted; the trial reports the
//! rate actually offered.

/// Packet schedule of one stream.
#[derive(Clone, Debug)]
pub struct Pacer {
    start: u64,
    /// Packets per TSC tick.
    per_tick: f64,
    max_backlog: u64,
    sent: u64,
    skipped: u64,
}

impl Pacer {
    /// A schedule of `pps` packets per second from TSC `start`, with the
    /// TSC at `tsc_hz`; at most `max_backlog` packets are ever due at once.
    #[must_use]
    pub fn new(start: u64, pps: f64, tsc_hz: u64, max_backlog: u64) -> Self {
        Pacer {
            start,
            per_tick: pps / tsc_hz as f64,
            max_backlog: max_backlog.max(1),
            sent: 0,
            skipped: 0,
        }
    }

    /// Packets due at TSC `now` (0 before the schedule starts).
    #[inline]
    pub fn due(&mut self, now: u64) -> u64 {
        let elapsed = now.saturating_sub(self.start);
        let target = (elapsed as f64 * self.per_tick) as u64;
        let due = target.saturating_sub(self.sent + self.skipped);
        if due > self.max_backlog {
            self.skipped += due - self.max_backlog;
            return self.max_backlog;
        }
        due
    }

    /// Records `n` packets handed to the port (sent or refused by it).
    #[inline]
    pub fn consumed(&mut self, n: u64) {
        self.sent += n;
    }

    /// Packets handed to the port so far.
    #[must_use]
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Packets skipped because the generator fell behind.
    #[must_use]
    pub fn skipped(&self) -> u64 {
        self.skipped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HZ: u64 = 2_000_000_000;

    #[test]
    fn releases_packets_at_the_rate() {
        // 1 Mpps on a 2 GHz TSC: one packet per 2000 ticks.
        let mut p = Pacer::new(1000, 1e6, HZ, 64);
        assert_eq!(p.due(0), 0, "before start");
        assert_eq!(p.due(1000), 0);
        assert_eq!(p.due(1000 + 1999), 0);
        assert_eq!(p.due(1000 + 2000), 1);
        // Not consumed: still due, and more accumulate.
        assert_eq!(p.due(1000 + 64_000), 32);
        p.consumed(32);
        assert_eq!(p.due(1000 + 64_000), 0);
        // Over one simulated second, consuming in bursts of up to 32,
        // exactly the rate goes out.
        let (mut now, end) = (1000 + 64_000, 1000 + HZ);
        while now < end {
            now = (now + 10_000).min(end);
            let d = p.due(now).min(32);
            p.consumed(d);
        }
        let total = p.sent() + p.due(end);
        assert!(total.abs_diff(1_000_000) <= 1, "{total}");
        assert_eq!(p.skipped(), 0);
    }

    #[test]
    fn a_stall_skips_beyond_the_backlog_cap_instead_of_bursting() {
        let mut p = Pacer::new(0, 1e6, HZ, 64);
        // 1 ms stall: 1000 packets due, only 64 released, 936 skipped.
        assert_eq!(p.due(2_000_000), 64);
        assert_eq!(p.skipped(), 936);
        p.consumed(64);
        // Back on schedule afterwards.
        assert_eq!(p.due(2_000_000), 0);
        assert_eq!(p.due(2_000_000 + 2000), 1);
        assert_eq!(p.sent() + p.skipped(), 1000);
    }
}
