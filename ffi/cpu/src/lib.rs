//! CPU helpers for the hot path: cache prefetch and the time-stamp counter.
//!
//! `dataplane` forbids `unsafe`, yet its burst loop wants to prefetch the
//! next packets' table entries and to read the TSC once per burst. Both are
//! intrinsics that Rust only exposes as `unsafe fn`; this crate wraps them in
//! safe functions (they cannot fault and touch no Rust-visible state).
#![deny(clippy::undocumented_unsafe_blocks)]

use std::time::{Duration, Instant};

/// Hints the CPU to bring the cache line holding `value` into all cache levels.
///
/// A prefetch never faults and never changes program state, whatever the
/// address; on targets without an intrinsic it does nothing.
#[inline(always)]
pub fn prefetch<T: ?Sized>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        let p = std::ptr::from_ref(value).cast::<i8>();
        // SAFETY: `_mm_prefetch` is a pure cache hint (PREFETCHT0); it cannot
        // fault, does not dereference in the Rust sense, and SSE is part of
        // the x86_64 baseline, so the target feature is always present.
        unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = value;
    }
}

/// Prefetches the element `index` of `slice` if it exists.
#[inline(always)]
pub fn prefetch_index<T>(slice: &[T], index: usize) {
    if let Some(v) = slice.get(index) {
        prefetch(v);
    }
}

/// Reads the time-stamp counter (cycles of the constant-rate TSC).
///
/// Falls back to nanoseconds since an arbitrary epoch where there is no TSC.
#[inline(always)]
#[must_use]
pub fn rdtsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: RDTSC has no memory operands and no preconditions; it is
        // available on every x86_64 CPU.
        unsafe { std::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        use std::sync::OnceLock;
        static START: OnceLock<Instant> = OnceLock::new();
        u64::try_from(START.get_or_init(Instant::now).elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// Measures the TSC frequency in Hz against the monotonic clock over
/// (at least) `window`, sleeping meanwhile.
///
/// Each end pairs a monotonic reading with the TSC read around it, of a few
/// tries the pair whose two TSC reads are closest (no preemption between
/// them), so a preempted thread does not skew the figure: over 20 ms the
/// error is a few parts per million. DPDK's own estimate, where the CPU
/// does not state its TSC rate (a VM), is rounded to 10 MHz (2.6 GHz for a
/// 2,596.1 MHz TSC: 0.15 % off).
#[must_use]
pub fn measure_tsc_hz(window: Duration) -> u64 {
    let (c0, t0) = tsc_at_instant();
    std::thread::sleep(window);
    let (c1, t1) = tsc_at_instant();
    let ns = t1.duration_since(t0).as_nanos().max(1);
    u64::try_from(u128::from(c1.wrapping_sub(c0)) * 1_000_000_000 / ns).unwrap_or(u64::MAX)
}

/// A monotonic instant and the TSC reading at it (the middle of the two
/// TSC reads around it, of eight tries the closest pair).
fn tsc_at_instant() -> (u64, Instant) {
    let mut best: Option<(u64, u64, Instant)> = None;
    for _ in 0..8 {
        let a = rdtsc();
        let t = Instant::now();
        let b = rdtsc();
        let gap = b.wrapping_sub(a);
        if best.is_none_or(|(g, _, _)| gap < g) {
            best = Some((gap, a + gap / 2, t));
        }
    }
    best.map_or_else(|| (rdtsc(), Instant::now()), |(_, c, t)| (c, t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsc_advances_and_frequency_is_plausible() {
        let a = rdtsc();
        let hz = measure_tsc_hz(Duration::from_millis(20));
        let b = rdtsc();
        assert!(b > a);
        // Any machine we run on has a TSC between 100 MHz and 10 GHz.
        assert!((100_000_000..10_000_000_000).contains(&hz), "tsc hz {hz}");
    }

    #[test]
    fn two_measurements_agree_closely() {
        // The TSC's rate is constant: two measurements differ only by their
        // readings' error (parts per million), far below the 0.15 % by
        // which a rounded estimate can be off.
        let a = measure_tsc_hz(Duration::from_millis(20));
        let b = measure_tsc_hz(Duration::from_millis(20));
        assert!(a.abs_diff(b) < a / 2000, "{a} vs {b} Hz");
    }

    #[test]
    fn prefetch_accepts_any_reference() {
        let v = vec![1u8; 4096];
        prefetch(&v[4095]);
        prefetch_index(&v, 10_000); // out of range: a no-op, not a panic
        prefetch(v.as_slice());
    }
}
