//! Locking the process's future memory into RAM (`mlockall(MCL_FUTURE)`),
//! so that a poll-mode worker never takes a page fault in the packet path
//! on memory a driver maps after start-up, such as net_memif's shared
//! packet regions. `dpdk-testpmd` (by default) and OVS-DPDK (`--mlockall`)
//! do the same.

use std::io;

/// `CAP_IPC_LOCK`'s bit in `/proc/self/status`'s `CapEff`.
const CAP_IPC_LOCK: u32 = 14;

/// Whether locking is safe here: with `MCL_FUTURE` every later mapping
/// counts against `RLIMIT_MEMLOCK` and fails beyond it, so only a process
/// with `CAP_IPC_LOCK` (which the limit does not bind) or no limit locks.
#[must_use]
pub fn can_lock_memory() -> bool {
    let cap = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .is_some_and(|c| c & (1 << CAP_IPC_LOCK) != 0);
    if cap {
        return true;
    }
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the valid struct we own.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &raw mut lim) } == 0;
    ok && lim.rlim_cur == libc::RLIM_INFINITY
}

/// Locks every mapping the process makes from now on, populating it when
/// it is made (`mlockall(MCL_FUTURE)`): the thread that maps memory takes
/// its page faults then, not the worker that first touches it. Memory
/// mapped before the call is left as it is (DPDK's own memory is touched
/// when its pools are built).
///
/// # Errors
/// `mlockall`'s error. Callers should check [`can_lock_memory`] first:
/// without `CAP_IPC_LOCK`, `MCL_FUTURE` succeeds and later allocations
/// beyond `RLIMIT_MEMLOCK` fail.
pub fn lock_future_memory() -> io::Result<()> {
    // SAFETY: mlockall takes flags only and touches no memory of ours.
    if unsafe { libc::mlockall(libc::MCL_FUTURE) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
