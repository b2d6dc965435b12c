//! The one error type of the safe DPDK layer.
//!
//! DPDK reports failures either as a negative errno return value (ethdev) or
//! as `-1`/NULL plus `rte_errno` (EAL, mempools, hot-plug). Both end in
//! [`dpdk_error`], the single cold path that turns an errno into text.

use std::ffi::CStr;
use std::fmt;

use dpdk_sys as sys;

/// Everything that can go wrong in the safe DPDK layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// `rte_eal_init` may run once per process (even after a failure or a
    /// cleanup); a second [`Eal::init`](crate::Eal::init) is refused.
    #[error(
        "the DPDK EAL was already initialised in this process (it can start only once per process)"
    )]
    AlreadyInitialized,
    /// An argument Rust can check before DPDK sees it (NUL bytes, empty
    /// names, out-of-range counts).
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidArgument {
        /// What the argument is (e.g. "EAL argument", "device").
        what: &'static str,
        /// The value as given.
        value: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A DPDK call failed; `errno` is the positive errno value.
    #[error("{op} failed for {object}: {message} (errno {errno})")]
    Dpdk {
        /// The DPDK function that failed.
        op: &'static str,
        /// What it was called on (port, pool, lcore, ...).
        object: String,
        /// Positive errno (DPDK's own codes above 1000 included).
        errno: i32,
        /// `rte_strerror(errno)`.
        message: String,
    },
    /// A device string (vdev or PCI address) that DPDK could not open.
    #[error("cannot open device {device:?}: {reason}")]
    DeviceOpen {
        /// The device string as given.
        device: String,
        /// Why, including DPDK's error text; the driver's own reason is in
        /// the DPDK log on stderr.
        reason: String,
    },
    /// A call that DPDK allows only on the main lcore (the thread that ran
    /// `Eal::init`).
    #[error("{what} must be called from the main lcore (the thread that initialised the EAL)")]
    NotMainLcore {
        /// The operation.
        what: &'static str,
    },
    /// The lcore is not enabled in the EAL core list, or is the main lcore
    /// where a worker is required.
    #[error("lcore {lcore} is not a worker lcore of this EAL")]
    NotWorkerLcore {
        /// The lcore id.
        lcore: u32,
    },
    /// A port operation that needs every queue handle dropped first.
    #[error(
        "port {port}: {op} refused while {handles} queue handle(s) are alive (stop the workers and drop their queues first)"
    )]
    QueuesInUse {
        /// Port id.
        port: u16,
        /// The refused operation.
        op: &'static str,
        /// Live `RxQueue`/`TxQueue` handles.
        handles: usize,
    },
    /// A port operation in the wrong state (e.g. start before configure).
    #[error("port {port}: {op}: {reason}")]
    PortState {
        /// Port id.
        port: u16,
        /// The refused operation.
        op: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// A closure launched on an lcore panicked.
    #[error("the function launched on lcore {lcore} panicked")]
    WorkerPanicked {
        /// The lcore id.
        lcore: u32,
    },
}

impl Error {
    /// The errno behind a DPDK failure, if there is one.
    #[must_use]
    pub fn errno(&self) -> Option<i32> {
        match self {
            Self::Dpdk { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Maps a positive errno to an [`Error::Dpdk`]. The single place errno
/// becomes text; cold because every caller is on a failure path.
#[cold]
#[inline(never)]
pub(crate) fn dpdk_error(op: &'static str, object: &dyn fmt::Display, errno: i32) -> Error {
    // SAFETY: rte_strerror accepts any value and returns a pointer to a
    // NUL-terminated string (static, or a per-thread buffer for unknown
    // codes) that stays valid until the next call on this thread; we copy it
    // out immediately.
    let message = unsafe { CStr::from_ptr(sys::rte_strerror(errno)) }
        .to_string_lossy()
        .into_owned();
    Error::Dpdk {
        op,
        object: object.to_string(),
        errno,
        message,
    }
}

/// An error from a DPDK function that returned `-errno`.
#[cold]
#[inline(never)]
pub(crate) fn from_ret(op: &'static str, object: &dyn fmt::Display, ret: i32) -> Error {
    dpdk_error(op, object, ret.saturating_neg())
}

/// An error from a DPDK function that set `rte_errno`.
#[cold]
#[inline(never)]
pub(crate) fn from_rte_errno(op: &'static str, object: &dyn fmt::Display) -> Error {
    dpdk_error(op, object, rte_errno())
}

/// The calling thread's `rte_errno`.
pub(crate) fn rte_errno() -> i32 {
    // SAFETY: reads a thread-local int; no preconditions.
    unsafe { sys::shim_errno() }
}
