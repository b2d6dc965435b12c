//! The EAL guard and lcores: start-up of the whole DPDK process and the
//! launching of one poll-mode worker per lcore.
//!
//! [`Eal`] is a cheap, clonable handle to the initialised EAL. Every other
//! object of this crate (mempools, ports, queues, launch handles) holds a
//! clone, so `rte_eal_cleanup` runs only after the last of them is gone:
//! the guard outlives everything by construction.

use std::ffi::{CStr, CString, c_int, c_void};
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use dpdk_sys as sys;

use crate::error::{Error, Result, from_ret, from_rte_errno};

/// Set by the first `Eal::init` attempt; DPDK cannot start twice.
static EAL_STARTED: AtomicBool = AtomicBool::new(false);

/// `LCORE_ID_ANY`: what `rte_lcore_id()` returns on a thread EAL does not know.
const LCORE_ID_ANY: u32 = u32::MAX;

/// Handle to the initialised DPDK environment (EAL).
///
/// Clones share one EAL; `rte_eal_cleanup` runs when the last clone (and
/// every object holding one) is dropped, on the main lcore. Dropped on
/// another thread, the cleanup is skipped with a warning (DPDK requires the
/// main lcore), which leaks nothing the OS does not reclaim at exit.
#[derive(Clone)]
pub struct Eal {
    inner: Arc<EalInner>,
}

struct EalInner {
    main_lcore: u32,
}

impl Drop for EalInner {
    fn drop(&mut self) {
        if current_lcore_id() == self.main_lcore {
            // SAFETY: every object that used DPDK held a clone of the Eal,
            // so none is left; we are on the main lcore as DPDK requires.
            let ret = unsafe { sys::rte_eal_cleanup() };
            if ret != 0 {
                log::warn!("rte_eal_cleanup returned {ret}");
            }
        } else {
            log::warn!("EAL dropped outside the main lcore: rte_eal_cleanup skipped");
        }
    }
}

impl std::fmt::Debug for Eal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Eal")
            .field("main_lcore", &self.inner.main_lcore)
            .finish()
    }
}

impl Eal {
    /// Starts DPDK with the EAL arguments `args` (without a program name:
    /// e.g. `["-l", "0,1", "--no-huge", "-m", "512", "--no-pci",
    /// "--file-prefix", "upf1"]`).
    ///
    /// The calling thread becomes the main lcore. Only the first call in a
    /// process may succeed; any later one returns
    /// [`Error::AlreadyInitialized`], also after a failed first attempt
    /// (DPDK does not support a retry).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an argument holding a NUL byte (checked
    /// before DPDK is touched), [`Error::AlreadyInitialized`], or
    /// [`Error::Dpdk`] when `rte_eal_init` fails (its reason is also in the
    /// DPDK log on stderr).
    pub fn init<S: AsRef<str>>(args: &[S]) -> Result<Eal> {
        let program = std::env::args().next().unwrap_or_else(|| "dpdk".into());
        let mut owned = Vec::with_capacity(args.len() + 1);
        for a in std::iter::once(program.as_str()).chain(args.iter().map(AsRef::as_ref)) {
            owned.push(CString::new(a).map_err(|_| Error::InvalidArgument {
                what: "EAL argument",
                value: a.to_owned(),
                reason: "contains a NUL byte",
            })?);
        }
        if EAL_STARTED.swap(true, Ordering::SeqCst) {
            return Err(Error::AlreadyInitialized);
        }
        // EAL may keep pointers into argv (and getopt permutes it): give it
        // storage that lives as long as the process. It is a few bytes, once.
        let argv: &'static mut [*mut std::ffi::c_char] = Vec::leak(
            owned
                .into_iter()
                .map(CString::into_raw)
                .chain(std::iter::once(std::ptr::null_mut()))
                .collect(),
        );
        let argc = c_int::try_from(argv.len() - 1).map_err(|_| Error::InvalidArgument {
            what: "EAL argument list",
            value: format!("{} arguments", argv.len() - 1),
            reason: "too many",
        })?;
        // SAFETY: argv is a NULL-terminated array of argc valid C strings
        // that lives forever; EAL_STARTED guarantees this is the only call.
        let ret = unsafe { sys::rte_eal_init(argc, argv.as_mut_ptr()) };
        if ret < 0 {
            return Err(from_rte_errno("rte_eal_init", &args_display(args)));
        }
        // SAFETY: EAL is initialised.
        let main_lcore = unsafe { sys::rte_get_main_lcore() };
        Ok(Eal {
            inner: Arc::new(EalInner { main_lcore }),
        })
    }

    /// The main lcore: the thread that called [`Eal::init`] (the control
    /// thread in the UPF).
    #[must_use]
    pub fn main_lcore(&self) -> Lcore {
        Lcore(self.inner.main_lcore)
    }

    /// Worker lcores EAL knows (`-l`/`--lcores`, main excluded), ascending.
    #[must_use]
    pub fn worker_lcores(&self) -> Vec<Lcore> {
        let mut out = Vec::new();
        let mut i = u32::MAX; // rte_get_next_lcore starts at i + 1 (wraps to 0)
        loop {
            // SAFETY: EAL is initialised (we hold the guard); the function
            // only reads the lcore table.
            i = unsafe { sys::rte_get_next_lcore(i, 1, 0) };
            if i >= sys::RTE_MAX_LCORE {
                break;
            }
            out.push(Lcore(i));
        }
        out
    }

    /// The lcore `id` if EAL has it enabled (main or worker).
    #[must_use]
    pub fn lcore(&self, id: u32) -> Option<Lcore> {
        if id >= sys::RTE_MAX_LCORE {
            return None;
        }
        // SAFETY: id < RTE_MAX_LCORE, EAL is initialised.
        (unsafe { sys::rte_lcore_is_enabled(id) } != 0).then_some(Lcore(id))
    }

    /// The lcore of the calling thread, if it is an EAL thread.
    #[must_use]
    pub fn current_lcore(&self) -> Option<Lcore> {
        let id = current_lcore_id();
        (id != LCORE_ID_ANY).then_some(Lcore(id))
    }

    /// The TSC frequency EAL measured at start-up, in Hz.
    #[must_use]
    pub fn tsc_hz(&self) -> u64 {
        // SAFETY: EAL is initialised; reads a global.
        unsafe { sys::rte_get_tsc_hz() }
    }

    /// The runtime directory of this process (`/var/run/dpdk/<file-prefix>`
    /// as root). Remove it after the process ends; DPDK leaves it behind.
    #[must_use]
    pub fn runtime_dir(&self) -> PathBuf {
        // SAFETY: EAL is initialised; returns a pointer to a static
        // NUL-terminated buffer.
        let p = unsafe { CStr::from_ptr(sys::rte_eal_get_runtime_dir()) };
        PathBuf::from(p.to_string_lossy().into_owned())
    }

    /// Runs `f` on the worker lcore `lcore`; [`LaunchHandle::wait`] returns
    /// its result. The closure owns what it needs (its queues, its state),
    /// hence `Send + 'static`.
    ///
    /// # Errors
    /// [`Error::NotMainLcore`] unless called on the main lcore,
    /// [`Error::NotWorkerLcore`] for the main lcore or an unknown one, and
    /// [`Error::Dpdk`] (`EBUSY`) if the lcore is still running a job.
    pub fn launch<F>(&self, lcore: Lcore, f: F) -> Result<LaunchHandle>
    where
        F: FnOnce() -> i32 + Send + 'static,
    {
        if current_lcore_id() != self.inner.main_lcore {
            return Err(Error::NotMainLcore {
                what: "launching on an lcore",
            });
        }
        if lcore.0 == self.inner.main_lcore || self.lcore(lcore.0).is_none() {
            return Err(Error::NotWorkerLcore { lcore: lcore.0 });
        }
        let panicked = Arc::new(AtomicBool::new(false));
        let job = Box::new(Job {
            f,
            panicked: Arc::clone(&panicked),
        });
        let arg = Box::into_raw(job).cast::<c_void>();
        // SAFETY: we are on the main lcore and `lcore` is an enabled worker;
        // `trampoline::<F>` matches the boxed type behind `arg` and takes
        // ownership of it exactly once if the launch succeeds.
        let ret = unsafe { sys::rte_eal_remote_launch(Some(trampoline::<F>), arg, lcore.0) };
        if ret != 0 {
            // SAFETY: the launch failed, so the worker never saw `arg`; we
            // still own the box and free it here.
            drop(unsafe { Box::from_raw(arg.cast::<Job<F>>()) });
            return Err(from_ret("rte_eal_remote_launch", &lcore, ret));
        }
        Ok(LaunchHandle {
            lcore,
            panicked,
            waited: false,
            _eal: self.clone(),
            _main_only: PhantomData,
        })
    }
}

fn args_display<S: AsRef<str>>(args: &[S]) -> String {
    let v: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    format!("EAL arguments {v:?}")
}

fn current_lcore_id() -> u32 {
    // SAFETY: reads a thread-local; valid on any thread.
    unsafe { sys::shim_lcore_id() }
}

/// One logical core of the EAL (a pinned thread).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Lcore(u32);

impl Lcore {
    /// The lcore id (`rte_lcore_id()` on that thread).
    #[must_use]
    pub fn id(self) -> u32 {
        self.0
    }

    /// The NUMA socket of this lcore, for placing its mempool and ports.
    #[must_use]
    pub fn socket_id(self) -> u32 {
        // SAFETY: an `Lcore` only comes from an initialised EAL and holds an
        // id below RTE_MAX_LCORE; the call reads the lcore table.
        unsafe { sys::rte_lcore_to_socket_id(self.0) }
    }
}

impl std::fmt::Display for Lcore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "lcore {}", self.0)
    }
}

struct Job<F> {
    f: F,
    panicked: Arc<AtomicBool>,
}

unsafe extern "C" fn trampoline<F: FnOnce() -> i32 + Send + 'static>(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the `Box<Job<F>>` leaked by `Eal::launch`, handed to
    // exactly one trampoline call.
    let job = unsafe { Box::from_raw(arg.cast::<Job<F>>()) };
    let Job { f, panicked } = *job;
    // Unwinding into C is undefined behaviour: stop the panic here.
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(_) => {
            panicked.store(true, Ordering::Release);
            -1
        }
    }
}

/// A closure running on a worker lcore. [`wait`](Self::wait) joins it;
/// dropping the handle joins too (so a worker never outlives its handle).
/// Not `Send`: DPDK only lets the main lcore wait.
#[must_use = "dropping a LaunchHandle blocks until the worker returns"]
pub struct LaunchHandle {
    lcore: Lcore,
    panicked: Arc<AtomicBool>,
    waited: bool,
    _eal: Eal,
    _main_only: PhantomData<*const ()>,
}

impl LaunchHandle {
    /// The lcore the closure runs on.
    #[must_use]
    pub fn lcore(&self) -> Lcore {
        self.lcore
    }

    /// Blocks until the closure returns and gives its return value.
    ///
    /// # Errors
    /// [`Error::WorkerPanicked`] if the closure panicked.
    pub fn wait(mut self) -> Result<i32> {
        let ret = self.join();
        if self.panicked.load(Ordering::Acquire) {
            return Err(Error::WorkerPanicked {
                lcore: self.lcore.0,
            });
        }
        Ok(ret)
    }

    fn join(&mut self) -> i32 {
        self.waited = true;
        // SAFETY: the handle is !Send, so we are on the main lcore that
        // launched the job; waiting on a worker lcore is always valid.
        unsafe { sys::rte_eal_wait_lcore(self.lcore.0) }
    }
}

impl Drop for LaunchHandle {
    fn drop(&mut self) {
        if !self.waited {
            self.join();
        }
    }
}
