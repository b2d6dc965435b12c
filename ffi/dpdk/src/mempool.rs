//! Packet-buffer pools: where every received frame's mbuf comes from and
//! returns to (one pool per NUMA socket in the UPF).
//!
//! Mbufs carry no lifetime (they cross threads inside bursts and rings), so
//! the pool guards itself instead: it is freed only once every mbuf is back
//! in it. Dropping the last handle while mbufs are still out leaks the pool
//! (with a warning) rather than leaving them dangling.

use std::ffi::CString;
use std::ptr::NonNull;
use std::sync::Arc;

use dpdk_sys as sys;

use crate::error::{Error, Result, from_rte_errno};
use crate::mbuf::{Burst, Mbuf};
use crate::{Eal, Socket};

/// `RTE_PKTMBUF_HEADROOM` of the system DPDK build: bytes reserved in front
/// of a fresh mbuf's data (room for GTP-U encapsulation).
pub const PKTMBUF_HEADROOM: u16 = 128;
/// `RTE_MBUF_DEFAULT_BUF_SIZE`: 2048 bytes of data room plus the headroom.
pub const MBUF_DEFAULT_BUF_SIZE: u16 = 2048 + PKTMBUF_HEADROOM;

/// A DPDK packet-mbuf pool. Clones share the pool.
#[derive(Clone)]
pub struct Mempool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    ptr: NonNull<sys::rte_mempool>,
    name: String,
    size: u32,
    // Keeps the EAL alive as long as the pool memory may be used.
    _eal: Eal,
}

// SAFETY: an rte_mempool with the default (ring) handler is multi-producer
// multi-consumer safe; the pointer itself is only freed by Drop, once.
unsafe impl Send for PoolInner {}
// SAFETY: as above: concurrent get/put from several threads is supported.
unsafe impl Sync for PoolInner {}

impl Drop for PoolInner {
    fn drop(&mut self) {
        // SAFETY: the pool pointer is valid until the free below.
        let full = unsafe { sys::shim_mempool_full(self.ptr.as_ptr()) } != 0;
        if full {
            // SAFETY: every mbuf is back in the pool (checked above) and no
            // handle to the pool remains (this is the last Arc), so nothing
            // can reach its memory after the free.
            unsafe { sys::rte_mempool_free(self.ptr.as_ptr()) };
        } else {
            log::warn!(
                "mempool {:?} dropped with mbufs still in use: leaked instead of freed",
                self.name
            );
            // Keep the EAL (and so the pool memory) alive for those mbufs.
            std::mem::forget(self._eal.clone());
        }
    }
}

impl std::fmt::Debug for Mempool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mempool")
            .field("name", &self.inner.name)
            .field("size", &self.inner.size)
            .finish_non_exhaustive()
    }
}

impl Mempool {
    /// Creates a pool of `n_mbufs` packet mbufs named `name` (unique per
    /// process, at most 25 bytes), each with `data_room` bytes of buffer
    /// ([`MBUF_DEFAULT_BUF_SIZE`] fits a 1500-byte MTU frame plus
    /// [`PKTMBUF_HEADROOM`]), a per-lcore cache of `cache` mbufs (0 to 512;
    /// 256 is a good default for a worker), on NUMA socket `socket`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a bad name, [`Error::Dpdk`] when DPDK
    /// cannot create it (`ENOMEM`: not enough EAL memory, `EEXIST`: name
    /// taken).
    pub fn pktmbuf(
        eal: &Eal,
        name: &str,
        n_mbufs: u32,
        cache: u32,
        data_room: u16,
        socket: Socket,
    ) -> Result<Mempool> {
        let cname = CString::new(name).map_err(|_| Error::InvalidArgument {
            what: "mempool name",
            value: name.to_owned(),
            reason: "contains a NUL byte",
        })?;
        if name.is_empty() || name.len() > 25 {
            return Err(Error::InvalidArgument {
                what: "mempool name",
                value: name.to_owned(),
                reason: "must be 1 to 25 bytes (RTE_MEMPOOL_NAMESIZE less the prefix)",
            });
        }
        // SAFETY: EAL is initialised (we hold the guard) and the name is a
        // valid C string; the function copies it.
        let ptr = unsafe {
            sys::rte_pktmbuf_pool_create(
                cname.as_ptr(),
                n_mbufs,
                cache,
                0,
                data_room,
                socket.as_raw(),
            )
        };
        let ptr = NonNull::new(ptr).ok_or_else(|| {
            from_rte_errno("rte_pktmbuf_pool_create", &format!("mempool {name:?}"))
        })?;
        Ok(Mempool {
            inner: Arc::new(PoolInner {
                ptr,
                name: name.to_owned(),
                size: n_mbufs,
                _eal: eal.clone(),
            }),
        })
    }

    /// The pool's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Number of mbufs the pool was created with.
    #[must_use]
    pub fn size(&self) -> u32 {
        self.inner.size
    }

    /// Mbufs currently free (in the pool or in a per-lcore cache).
    #[must_use]
    pub fn available(&self) -> u32 {
        // SAFETY: the pool is valid while a handle exists.
        unsafe { sys::rte_mempool_avail_count(self.as_ptr()) }
    }

    /// Mbufs currently allocated (in NIC rings, bursts, `Mbuf`s).
    #[must_use]
    pub fn in_use(&self) -> u32 {
        // SAFETY: the pool is valid while a handle exists.
        unsafe { sys::rte_mempool_in_use_count(self.as_ptr()) }
    }

    /// One mbuf, reset (headroom [`PKTMBUF_HEADROOM`], length 0), or `None`
    /// when the pool is empty.
    #[inline]
    #[must_use]
    pub fn alloc(&self) -> Option<Mbuf> {
        Mbuf::alloc(self)
    }

    /// Fills `burst` up to `n` more mbufs, all or nothing (`false`: pool
    /// too low, `burst` unchanged; also `false` if `n` exceeds its room).
    pub fn alloc_bulk<const N: usize>(&self, burst: &mut Burst<N>, n: usize) -> bool {
        burst.alloc_bulk_from(self, n)
    }

    /// The raw pool, for calls this crate does not wrap. Valid while `self`
    /// lives.
    #[must_use]
    pub fn as_ptr(&self) -> *mut sys::rte_mempool {
        self.inner.ptr.as_ptr()
    }
}
