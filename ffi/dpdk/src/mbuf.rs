//! Owned packet buffers ([`Mbuf`]) and fixed-size bursts of them
//! ([`Burst`]): what a worker receives, rewrites in place and transmits.
//!
//! Per-packet accessors (data pointer, lengths, head/tailroom and the
//! prepend/adj/append/trim operations on single-segment mbufs) read and
//! write the `rte_mbuf` fields directly from Rust, so they inline into the
//! worker loop; only burst-level calls and rare cases (multi-segment mbufs,
//! single frees) cross into C.

use std::mem::MaybeUninit;
use std::ptr::NonNull;

use dpdk_sys as sys;

use crate::Mempool;

/// `RTE_MBUF_F_RX_RSS_HASH`: the PMD stored an RSS hash in the mbuf.
pub(crate) const MBUF_F_RX_RSS_HASH: u64 = 1 << 1;

/// One owned packet buffer (an `rte_mbuf`, possibly the head of a chain).
///
/// Dropping it returns it (and its chain) to its pool. It is a single
/// pointer, so bursts of `Mbuf` are arrays of `rte_mbuf *`.
///
/// Byte access ([`data`](Self::data)) covers the first segment; mbufs from
/// PMDs without scatter enabled, and all mbufs this crate builds, have one
/// segment. Check [`is_contiguous`](Self::is_contiguous) where a chain is
/// possible, or [`linearize`](Self::linearize) it.
#[repr(transparent)]
pub struct Mbuf(NonNull<sys::rte_mbuf>);

// SAFETY: an Mbuf is the unique owner of its rte_mbuf (refcnt 1, nobody
// else holds the pointer); freeing it from any thread is supported by the
// (MP/MC-safe) pool.
unsafe impl Send for Mbuf {}
// SAFETY: &Mbuf only allows reads of the mbuf and its data.
unsafe impl Sync for Mbuf {}

impl Mbuf {
    /// A fresh mbuf from `pool`: length 0, headroom
    /// [`PKTMBUF_HEADROOM`](crate::PKTMBUF_HEADROOM) (or less if the data
    /// room is smaller). `None` if the pool is empty.
    #[inline]
    #[must_use]
    pub fn alloc(pool: &Mempool) -> Option<Mbuf> {
        // SAFETY: the pool is valid while `pool` lives; the returned mbuf is
        // owned by nobody else.
        NonNull::new(unsafe { sys::shim_pktmbuf_alloc(pool.as_ptr()) }).map(Mbuf)
    }

    /// An mbuf from `pool` holding a copy of `frame`. `None` if the pool is
    /// empty or the frame does not fit the data room behind the headroom.
    #[must_use]
    pub fn from_bytes(pool: &Mempool, frame: &[u8]) -> Option<Mbuf> {
        let mut m = Mbuf::alloc(pool)?;
        if !m.append(frame.len()) {
            return None;
        }
        m.data_mut().copy_from_slice(frame);
        Some(m)
    }

    /// Takes ownership of a raw mbuf (e.g. from a C API or a ring).
    ///
    /// # Safety
    /// `ptr` must point to a valid packet mbuf that nobody else owns or
    /// uses afterwards (refcnt 1, not in any ring or burst), from a pool that
    /// outlives it.
    #[inline]
    #[must_use]
    pub unsafe fn from_raw(ptr: NonNull<sys::rte_mbuf>) -> Mbuf {
        Mbuf(ptr)
    }

    /// [`from_raw`](Self::from_raw) for a pointer DPDK just handed over.
    ///
    /// # Safety
    /// As for `from_raw`, and `ptr` must not be null.
    #[inline(always)]
    pub(crate) unsafe fn from_raw_ptr(ptr: *mut sys::rte_mbuf) -> Mbuf {
        // SAFETY: non-null by the caller's contract.
        Mbuf(unsafe { NonNull::new_unchecked(ptr) })
    }

    /// Gives up ownership; the caller must free or transmit the mbuf.
    #[inline]
    #[must_use]
    pub fn into_raw(self) -> NonNull<sys::rte_mbuf> {
        let p = self.0;
        std::mem::forget(self);
        p
    }

    /// The raw mbuf, still owned by `self`.
    #[inline]
    #[must_use]
    pub fn as_ptr(&self) -> *mut sys::rte_mbuf {
        self.0.as_ptr()
    }

    #[inline(always)]
    fn raw(&self) -> &sys::rte_mbuf {
        // SAFETY: we own a valid mbuf; shared access to its header.
        unsafe { self.0.as_ref() }
    }

    #[inline(always)]
    fn raw_mut(&mut self) -> &mut sys::rte_mbuf {
        // SAFETY: we own a valid mbuf exclusively (&mut self).
        unsafe { self.0.as_mut() }
    }

    #[inline(always)]
    fn data_ptr(&self) -> *mut u8 {
        let m = self.raw();
        // SAFETY: buf_addr + data_off lies inside the mbuf's buffer (DPDK
        // invariant: data_off <= buf_len).
        unsafe { m.buf_addr.cast::<u8>().add(usize::from(m.data_off)) }
    }

    /// The frame bytes of the first segment (the whole frame when
    /// contiguous).
    #[inline]
    #[must_use]
    pub fn data(&self) -> &[u8] {
        // SAFETY: [data_ptr, data_ptr + data_len) is initialised buffer
        // memory owned by this mbuf (DPDK invariant data_off + data_len <=
        // buf_len); we hold &self, so nobody writes it meanwhile.
        unsafe { std::slice::from_raw_parts(self.data_ptr(), usize::from(self.raw().data_len)) }
    }

    /// The frame bytes of the first segment, writable.
    #[inline]
    #[must_use]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let len = usize::from(self.raw().data_len);
        // SAFETY: as in `data`, and &mut self makes the access exclusive
        // (the mbuf is not shared: this crate never creates indirect or
        // refcount-shared mbufs).
        unsafe { std::slice::from_raw_parts_mut(self.data_ptr(), len) }
    }

    /// Bytes in the first segment (`data_len`): the frame length of a
    /// contiguous mbuf.
    #[inline]
    #[must_use]
    pub fn len(&self) -> usize {
        usize::from(self.raw().data_len)
    }

    /// `true` when the first segment holds no byte.
    #[inline]
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.raw().data_len == 0
    }

    /// Total frame length over all segments (`pkt_len`).
    #[inline]
    #[must_use]
    pub fn pkt_len(&self) -> usize {
        self.raw().pkt_len as usize
    }

    /// Number of segments in the chain.
    #[inline]
    #[must_use]
    pub fn nb_segs(&self) -> u16 {
        self.raw().nb_segs
    }

    /// `true` when the whole frame is in [`data`](Self::data).
    #[inline]
    #[must_use]
    pub fn is_contiguous(&self) -> bool {
        self.raw().nb_segs == 1
    }

    /// Bytes free in front of the data.
    #[inline]
    #[must_use]
    pub fn headroom(&self) -> usize {
        usize::from(self.raw().data_off)
    }

    /// Bytes free behind the data of the first segment (of the last segment
    /// for the purpose of [`append`](Self::append) on a chain).
    #[inline]
    #[must_use]
    pub fn tailroom(&self) -> usize {
        let m = self.raw();
        usize::from(m.buf_len) - usize::from(m.data_off) - usize::from(m.data_len)
    }

    /// Grows the frame by `n` bytes at the front (unspecified content).
    /// `false`, and nothing changed, if the headroom is too small.
    #[inline]
    pub fn prepend(&mut self, n: usize) -> bool {
        let m = self.raw_mut();
        let Ok(n16) = u16::try_from(n) else {
            return false;
        };
        if n16 > m.data_off {
            return false;
        }
        m.data_off -= n16;
        m.data_len += n16; // fits: data_off + data_len <= buf_len <= u16::MAX
        m.pkt_len += u32::from(n16);
        true
    }

    /// Removes `n` bytes from the front. `false`, and nothing changed, if
    /// `n` exceeds the first segment's length.
    #[inline]
    pub fn adj(&mut self, n: usize) -> bool {
        let m = self.raw_mut();
        let Ok(n16) = u16::try_from(n) else {
            return false;
        };
        if n16 > m.data_len {
            return false;
        }
        m.data_off += n16;
        m.data_len -= n16;
        m.pkt_len -= u32::from(n16);
        true
    }

    /// Grows the frame by `n` bytes at the end (unspecified content).
    /// `false`, and nothing changed, if the tailroom is too small.
    #[inline]
    pub fn append(&mut self, n: usize) -> bool {
        if !self.is_contiguous() {
            return self.append_chain(n);
        }
        if n > self.tailroom() {
            return false;
        }
        let m = self.raw_mut();
        // n <= tailroom < u16::MAX: the casts cannot truncate.
        #[allow(clippy::cast_possible_truncation)]
        let n16 = n as u16;
        m.data_len += n16;
        m.pkt_len += u32::from(n16);
        true
    }

    /// Removes `n` bytes from the end (Ethernet padding). `false`, and
    /// nothing changed, if `n` exceeds the (last segment's) length.
    #[inline]
    pub fn trim(&mut self, n: usize) -> bool {
        if !self.is_contiguous() {
            return self.trim_chain(n);
        }
        let m = self.raw_mut();
        let Ok(n16) = u16::try_from(n) else {
            return false;
        };
        if n16 > m.data_len {
            return false;
        }
        m.data_len -= n16;
        m.pkt_len -= u32::from(n16);
        true
    }

    /// Moves the start of the frame by `front` bytes (negative: into the
    /// headroom; positive: dropping at most the frame's bytes) and makes it
    /// `len` bytes long, in one step. `false`, with nothing changed, if the
    /// result does not fit in the buffer.
    ///
    /// The same as `adj`/`prepend` followed by `append`/`trim`, but with one
    /// bounds check and three stores on a single-segment mbuf: the
    /// forwarding path reframes every packet (decapsulation, encapsulation).
    #[inline]
    pub fn reframe(&mut self, front: isize, len: usize) -> bool {
        if !self.is_contiguous() {
            return self.reframe_chain(front, len);
        }
        let m = self.raw_mut();
        let off = i64::from(m.data_off);
        // isize is at most 64 bits on every target DPDK supports.
        #[allow(clippy::cast_possible_truncation)]
        let start = off.saturating_add(front as i64);
        // New start inside [0, old end]; new end inside the buffer.
        if start < 0
            || start > off + i64::from(m.data_len)
            || len as u64 > u64::from(m.buf_len).saturating_sub(start as u64)
        {
            return false;
        }
        // start + len <= buf_len <= u16::MAX: neither cast truncates.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        {
            m.data_off = start as u16;
            m.data_len = len as u16;
            m.pkt_len = len as u32;
        }
        true
    }

    #[cold]
    fn reframe_chain(&mut self, front: isize, len: usize) -> bool {
        // A chain (rare: the worker linearizes on receive) is made one
        // segment first; the frame's bytes stay the same either way.
        self.linearize() && self.is_contiguous() && self.reframe(front, len)
    }

    #[cold]
    fn append_chain(&mut self, n: usize) -> bool {
        let Ok(n16) = u16::try_from(n) else {
            return false;
        };
        // SAFETY: we own the chain; rte_pktmbuf_append checks the last
        // segment's tailroom and changes nothing on failure.
        !unsafe { sys::shim_pktmbuf_append(self.as_ptr(), n16) }.is_null()
    }

    #[cold]
    fn trim_chain(&mut self, n: usize) -> bool {
        let Ok(n16) = u16::try_from(n) else {
            return false;
        };
        // SAFETY: we own the chain; rte_pktmbuf_trim checks the last
        // segment's length and changes nothing on failure.
        unsafe { sys::shim_pktmbuf_trim(self.as_ptr(), n16) == 0 }
    }

    /// Appends the chain `tail` behind this one (multi-segment frame).
    ///
    /// # Errors
    /// Gives `tail` back if the chain would exceed DPDK's segment limit.
    pub fn chain(&mut self, tail: Mbuf) -> Result<(), Mbuf> {
        // SAFETY: both chains are owned; on success the head takes ownership
        // of `tail` (so we forget it), on failure nothing changed.
        let ret = unsafe { sys::shim_pktmbuf_chain(self.as_ptr(), tail.as_ptr()) };
        if ret == 0 {
            std::mem::forget(tail);
            Ok(())
        } else {
            Err(tail)
        }
    }

    /// Copies a multi-segment frame into the first segment and frees the
    /// rest. `false` if it does not fit (the mbuf is unchanged then).
    pub fn linearize(&mut self) -> bool {
        if self.is_contiguous() {
            return true;
        }
        // SAFETY: we own the chain exclusively.
        unsafe { sys::shim_pktmbuf_linearize(self.as_ptr()) == 0 }
    }

    /// The RSS hash the NIC computed, if it delivered one.
    #[inline]
    #[must_use]
    pub fn rss_hash(&self) -> Option<u32> {
        let m = self.raw();
        if m.ol_flags & MBUF_F_RX_RSS_HASH != 0 {
            // SAFETY: reading a u32 from a union of plain integers; with the
            // flag set the PMD wrote the `rss` member.
            Some(unsafe { m.__bindgen_anon_2.hash.rss })
        } else {
            None
        }
    }

    /// The port the frame was received on.
    #[inline]
    #[must_use]
    pub fn port(&self) -> u16 {
        self.raw().port
    }

    /// Prefetches the first cache line of the frame (the headers the
    /// pipeline parses). Reads the mbuf header to find it.
    #[inline(always)]
    pub fn prefetch_data(&self) {
        // SAFETY: data_ptr is inside the mbuf buffer; a prefetch never faults.
        cpu::prefetch(unsafe { &*self.data_ptr() });
    }

    /// Prefetches the mbuf header itself (before touching its lengths).
    #[inline(always)]
    pub fn prefetch_header(&self) {
        cpu::prefetch(self.raw());
    }
}

impl Drop for Mbuf {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: we own the mbuf (and its chain); it is not used after this.
        unsafe { sys::shim_pktmbuf_free(self.0.as_ptr()) };
    }
}

impl std::fmt::Debug for Mbuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mbuf")
            .field("len", &self.len())
            .field("pkt_len", &self.pkt_len())
            .field("nb_segs", &self.nb_segs())
            .field("headroom", &self.headroom())
            .field("port", &self.port())
            .finish()
    }
}

/// Up to `N` owned mbufs in a fixed array on the stack: the unit of rx and
/// tx. Dereferences to `[Mbuf]`; dropping it frees what it still holds with
/// one bulk call.
pub struct Burst<const N: usize = 32> {
    len: usize,
    pkts: [MaybeUninit<Mbuf>; N],
}

impl<const N: usize> Default for Burst<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Burst<N> {
    const N_FITS_U16: () = assert!(
        N > 0 && N <= u16::MAX as usize,
        "burst size must be 1..=65535"
    );

    /// An empty burst.
    #[inline]
    #[must_use]
    pub fn new() -> Self {
        let () = Self::N_FITS_U16;
        Self {
            len: 0,
            pkts: [const { MaybeUninit::uninit() }; N],
        }
    }

    /// Capacity `N`.
    #[inline]
    #[must_use]
    pub const fn capacity(&self) -> usize {
        N
    }

    /// `true` when no more mbuf fits.
    #[inline]
    #[must_use]
    pub fn is_full(&self) -> bool {
        self.len == N
    }

    /// Adds `m` at the end, or gives it back when full.
    ///
    /// # Errors
    /// The mbuf, when the burst is full.
    #[inline]
    pub fn push(&mut self, m: Mbuf) -> Result<(), Mbuf> {
        if self.len == N {
            return Err(m);
        }
        self.pkts[self.len].write(m);
        self.len += 1;
        Ok(())
    }

    /// Removes the last mbuf.
    #[inline]
    pub fn pop(&mut self) -> Option<Mbuf> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        // SAFETY: slot `len` was initialised and is now outside the live
        // range, so it is read exactly once.
        Some(unsafe { self.pkts[self.len].assume_init_read() })
    }

    /// Removes mbuf `i`, replacing it with the last one (order not kept).
    ///
    /// # Panics
    /// If `i >= len()`.
    #[inline]
    pub fn swap_remove(&mut self, i: usize) -> Mbuf {
        assert!(i < self.len, "swap_remove index {i} out of {}", self.len);
        self.pkts.swap(i, self.len - 1);
        self.pop().unwrap_or_else(|| unreachable!("len > i >= 0"))
    }

    /// Frees the mbufs from index `n` on (one bulk call).
    pub fn truncate(&mut self, n: usize) {
        if n >= self.len {
            return;
        }
        let count = self.len - n;
        self.len = n;
        // SAFETY: slots n..n+count hold owned, initialised mbufs that are
        // now outside the live range; free_bulk takes ownership of them.
        unsafe { sys::rte_pktmbuf_free_bulk(self.raw_slots().add(n), count as u32) };
    }

    /// Frees every mbuf (one bulk call).
    #[inline]
    pub fn clear(&mut self) {
        self.truncate(0);
    }

    /// Adds every mbuf of `mbufs`, freeing the burst's content with one
    /// bulk call each time it is full (a free queue: what is left stays
    /// here until the next call, [`clear`](Self::clear) or drop). The
    /// count lives in a register across the loop, not in `self`.
    #[inline]
    pub fn extend_freeing<I: IntoIterator<Item = Mbuf>>(&mut self, mbufs: I) {
        let mut len = self.len;
        for m in mbufs {
            if len >= N {
                self.len = len;
                self.clear();
                len = 0;
            }
            self.pkts[len].write(m);
            len += 1;
        }
        self.len = len;
    }

    /// Takes every mbuf out, in order, leaving the burst empty.
    pub fn drain(&mut self) -> Drain<'_, N> {
        let len = self.len;
        self.len = 0;
        Drain {
            burst: self,
            next: 0,
            end: len,
        }
    }

    /// Pointer to the slot array as `rte_mbuf *` (same layout: `Mbuf` is a
    /// transparent non-null pointer).
    #[inline(always)]
    pub(crate) fn raw_slots(&mut self) -> *mut *mut sys::rte_mbuf {
        self.pkts.as_mut_ptr().cast()
    }

    /// Free slots.
    #[inline(always)]
    pub(crate) fn room(&self) -> usize {
        N - self.len
    }

    /// Marks `n` more slots (written by DPDK) as live.
    ///
    /// # Safety
    /// Slots `len..len + n` must hold valid, owned mbufs.
    #[inline(always)]
    pub(crate) unsafe fn grow(&mut self, n: usize) {
        debug_assert!(self.len + n <= N);
        self.len += n;
    }

    /// Removes the first `n` mbufs (handed to DPDK, e.g. transmitted) and
    /// moves the rest to the front.
    ///
    /// # Safety
    /// DPDK must have taken ownership of the first `n` mbufs.
    #[inline(always)]
    pub(crate) unsafe fn forget_front(&mut self, n: usize) {
        debug_assert!(n <= self.len);
        let rest = self.len - n;
        if rest > 0 && n > 0 {
            // SAFETY: both ranges lie inside the array; copy handles overlap.
            unsafe {
                std::ptr::copy(self.pkts.as_ptr().add(n), self.pkts.as_mut_ptr(), rest);
            }
        }
        self.len = rest;
    }

    pub(crate) fn alloc_bulk_from(&mut self, pool: &Mempool, n: usize) -> bool {
        if n > self.room() {
            return false;
        }
        if n == 0 {
            return true;
        }
        let len = self.len;
        // SAFETY: n slots from `len` are free; on success DPDK writes n valid
        // mbufs there, which we then own; on failure it writes nothing.
        let ret = unsafe {
            sys::shim_pktmbuf_alloc_bulk(pool.as_ptr(), self.raw_slots().add(len), n as u32)
        };
        if ret != 0 {
            return false;
        }
        // SAFETY: the n slots now hold owned mbufs.
        unsafe { self.grow(n) };
        true
    }
}

impl<const N: usize> std::ops::Deref for Burst<N> {
    type Target = [Mbuf];
    #[inline(always)]
    fn deref(&self) -> &[Mbuf] {
        // SAFETY: the first `len` slots are initialised mbufs, and
        // MaybeUninit<Mbuf> has Mbuf's layout.
        unsafe { std::slice::from_raw_parts(self.pkts.as_ptr().cast::<Mbuf>(), self.len) }
    }
}

impl<const N: usize> std::ops::DerefMut for Burst<N> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [Mbuf] {
        // SAFETY: as in `deref`, with exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.pkts.as_mut_ptr().cast::<Mbuf>(), self.len) }
    }
}

impl<const N: usize> Drop for Burst<N> {
    fn drop(&mut self) {
        self.clear();
    }
}

impl<const N: usize> std::fmt::Debug for Burst<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Iterator returned by [`Burst::drain`]; frees what it did not yield.
pub struct Drain<'a, const N: usize> {
    burst: &'a mut Burst<N>,
    next: usize,
    end: usize,
}

impl<const N: usize> Iterator for Drain<'_, N> {
    type Item = Mbuf;
    #[inline]
    fn next(&mut self) -> Option<Mbuf> {
        if self.next == self.end {
            return None;
        }
        // SAFETY: slots next..end are initialised and were removed from the
        // burst's live range by `drain`; each is read once.
        let m = unsafe { self.burst.pkts[self.next].assume_init_read() };
        self.next += 1;
        Some(m)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.end - self.next, Some(self.end - self.next))
    }
}

impl<const N: usize> ExactSizeIterator for Drain<'_, N> {}

impl<const N: usize> Drop for Drain<'_, N> {
    fn drop(&mut self) {
        if self.next < self.end {
            let count = self.end - self.next;
            // SAFETY: the remaining slots hold owned mbufs not yielded.
            unsafe {
                sys::rte_pktmbuf_free_bulk(self.burst.raw_slots().add(self.next), count as u32);
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mbuf_is_one_pointer() {
        assert_eq!(size_of::<Mbuf>(), size_of::<*mut sys::rte_mbuf>());
        assert_eq!(size_of::<Option<Mbuf>>(), size_of::<*mut sys::rte_mbuf>());
        assert_eq!(
            size_of::<MaybeUninit<Mbuf>>(),
            size_of::<*mut sys::rte_mbuf>()
        );
    }

    #[test]
    fn hard_coded_constants_match_the_dpdk_build() {
        // SAFETY: reading constants the C shim exports.
        unsafe {
            assert_eq!(MBUF_F_RX_RSS_HASH, sys::shim_MBUF_F_RX_RSS_HASH);
            assert_eq!(crate::PKTMBUF_HEADROOM, sys::shim_PKTMBUF_HEADROOM);
            assert_eq!(
                crate::MBUF_DEFAULT_BUF_SIZE,
                sys::shim_MBUF_DEFAULT_BUF_SIZE
            );
        }
    }
}
