//! The packet-buffer abstraction the whole pipeline is generic over.
//!
//! A DPDK `Mbuf` (single segment) and the plain [`VecBuf`] used by tests and
//! microbenchmarks both implement [`PacketBuf`]: one contiguous frame, with
//! headroom in front for GTP-U encapsulation and tailroom behind it.

/// One contiguous frame with room in front of and behind it.
///
/// Every method that changes the length either succeeds completely or changes
/// nothing and returns `false`.
pub trait PacketBuf {
    /// The frame, from the first byte of the Ethernet header to the last byte
    /// before the CRC.
    fn data(&self) -> &[u8];
    /// The frame, mutable.
    fn data_mut(&mut self) -> &mut [u8];
    /// Bytes free in front of [`data`](Self::data).
    fn headroom(&self) -> usize;
    /// Bytes free behind [`data`](Self::data).
    fn tailroom(&self) -> usize;
    /// Grows the frame by `n` bytes at the front (the new bytes are
    /// unspecified). `false` if there is not enough headroom.
    fn prepend(&mut self, n: usize) -> bool;
    /// Removes `n` bytes from the front. `false` if `n > len()`.
    fn adj(&mut self, n: usize) -> bool;
    /// Grows the frame by `n` bytes at the end (the new bytes are
    /// unspecified). `false` if there is not enough tailroom.
    fn append(&mut self, n: usize) -> bool;
    /// Removes `n` bytes from the end (Ethernet padding). `false` if `n > len()`.
    fn trim(&mut self, n: usize) -> bool;
    /// Moves the start of the frame by `front` bytes (negative: into the
    /// headroom, positive: dropping at most the frame's bytes) and makes it
    /// `len` bytes long.
    /// `false`, with nothing changed, if the result does not fit in the
    /// buffer. One call instead of `adj`/`prepend` and `trim`/`append` on
    /// the forwarding path; implementations may override it with a cheaper
    /// version, the default is built on those four.
    #[inline]
    fn reframe(&mut self, front: isize, len: usize) -> bool {
        let cur = self.len();
        let back = front.unsigned_abs();
        let kept = if front >= 0 {
            if back > cur {
                return false;
            }
            cur - back
        } else {
            if back > self.headroom() {
                return false;
            }
            cur + back
        };
        if len > kept && len - kept > self.tailroom() {
            return false;
        }
        let moved = if front >= 0 {
            self.adj(back)
        } else {
            self.prepend(back)
        };
        moved
            && if len >= kept {
                self.append(len - kept)
            } else {
                self.trim(kept - len)
            }
    }
    /// Frame length in bytes.
    fn len(&self) -> usize {
        self.data().len()
    }
    /// `true` when the frame holds no byte.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Default headroom of a [`VecBuf`], the same as DPDK's `RTE_PKTMBUF_HEADROOM`.
pub const DEFAULT_HEADROOM: usize = 128;
/// Default capacity of a [`VecBuf`], the same as a default DPDK mbuf data room.
pub const DEFAULT_CAPACITY: usize = 2048 + DEFAULT_HEADROOM;

/// A heap-backed packet buffer for tests, fuzzing and microbenchmarks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VecBuf {
    storage: Box<[u8]>,
    start: usize,
    end: usize,
}

impl VecBuf {
    /// A buffer holding `frame`, with [`DEFAULT_HEADROOM`] in front and at
    /// least enough room behind for the default capacity.
    #[must_use]
    pub fn from_frame(frame: &[u8]) -> Self {
        Self::with_room(
            frame,
            DEFAULT_HEADROOM,
            DEFAULT_CAPACITY.saturating_sub(DEFAULT_HEADROOM + frame.len()),
        )
    }

    /// A buffer holding `frame` with exactly `headroom` bytes in front and
    /// `tailroom` bytes behind.
    #[must_use]
    pub fn with_room(frame: &[u8], headroom: usize, tailroom: usize) -> Self {
        let mut storage = vec![0u8; headroom + frame.len() + tailroom].into_boxed_slice();
        storage[headroom..headroom + frame.len()].copy_from_slice(frame);
        Self {
            storage,
            start: headroom,
            end: headroom + frame.len(),
        }
    }

    /// Replaces the content with `frame`, resetting the headroom to
    /// [`DEFAULT_HEADROOM`] (or less if the storage is too small).
    pub fn reset(&mut self, frame: &[u8]) -> bool {
        let head = DEFAULT_HEADROOM.min(self.storage.len().saturating_sub(frame.len()));
        if head + frame.len() > self.storage.len() {
            return false;
        }
        self.storage[head..head + frame.len()].copy_from_slice(frame);
        self.start = head;
        self.end = head + frame.len();
        true
    }

    /// Makes the frame `len` bytes long at the default headroom again and
    /// copies `prefix` over its first bytes, leaving the rest as it is.
    ///
    /// For benchmarks that recycle a buffer once filled by [`reset`](Self::reset)
    /// with the same frame: the pipeline rewrites headers (and moves the
    /// frame's start and end) but never the payload, so restoring the header
    /// bytes gives back the original frame at a fraction of a full copy.
    pub fn reset_prefix(&mut self, len: usize, prefix: &[u8]) -> bool {
        let head = DEFAULT_HEADROOM;
        let Some(dst) = self.storage.get_mut(head..head + len) else {
            return false;
        };
        let Some(dst) = dst.get_mut(..prefix.len()) else {
            return false;
        };
        dst.copy_from_slice(prefix);
        self.start = head;
        self.end = head + len;
        true
    }
}

impl PacketBuf for VecBuf {
    #[inline]
    fn data(&self) -> &[u8] {
        &self.storage[self.start..self.end]
    }
    fn data_mut(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.end]
    }
    fn headroom(&self) -> usize {
        self.start
    }
    fn tailroom(&self) -> usize {
        self.storage.len() - self.end
    }
    fn prepend(&mut self, n: usize) -> bool {
        if n > self.start {
            return false;
        }
        self.start -= n;
        true
    }
    fn adj(&mut self, n: usize) -> bool {
        if n > self.end - self.start {
            return false;
        }
        self.start += n;
        true
    }
    fn append(&mut self, n: usize) -> bool {
        if n > self.storage.len() - self.end {
            return false;
        }
        self.end += n;
        true
    }
    fn trim(&mut self, n: usize) -> bool {
        if n > self.end - self.start {
            return false;
        }
        self.end -= n;
        true
    }
    #[inline]
    fn reframe(&mut self, front: isize, len: usize) -> bool {
        let Some(start) = self.start.checked_add_signed(front) else {
            return false;
        };
        if start > self.end {
            return false;
        }
        match start.checked_add(len) {
            Some(end) if end <= self.storage.len() => {
                self.start = start;
                self.end = end;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headroom_operations_keep_bytes_and_refuse_overflow() {
        let mut b = VecBuf::with_room(&[1, 2, 3, 4], 8, 2);
        assert!(b.prepend(8));
        assert!(!b.prepend(1), "no headroom left");
        assert_eq!(b.len(), 12);
        assert!(b.adj(8));
        assert_eq!(b.data(), &[1, 2, 3, 4]);
        assert!(!b.adj(5), "cannot remove more than the frame");
        assert!(b.append(2));
        assert!(!b.append(1), "no tailroom left");
        assert!(b.trim(2));
        assert_eq!(b.data(), &[1, 2, 3, 4]);
        assert!(b.trim(4));
        assert!(b.is_empty());
    }

    /// A buffer that only has the four primitive operations, to check the
    /// provided `reframe` against `VecBuf`'s own.
    struct Plain(VecBuf);
    impl PacketBuf for Plain {
        fn data(&self) -> &[u8] {
            self.0.data()
        }
        fn data_mut(&mut self) -> &mut [u8] {
            self.0.data_mut()
        }
        fn headroom(&self) -> usize {
            self.0.headroom()
        }
        fn tailroom(&self) -> usize {
            self.0.tailroom()
        }
        fn prepend(&mut self, n: usize) -> bool {
            self.0.prepend(n)
        }
        fn adj(&mut self, n: usize) -> bool {
            self.0.adj(n)
        }
        fn append(&mut self, n: usize) -> bool {
            self.0.append(n)
        }
        fn trim(&mut self, n: usize) -> bool {
            self.0.trim(n)
        }
    }

    proptest::proptest! {
        #[test]
        fn reframe_default_matches_vecbuf(
            head in 0usize..40, len in 0usize..40, tail in 0usize..40,
            front in -50isize..50, new_len in 0usize..120,
        ) {
            let frame: Vec<u8> = (0..len as u8).collect();
            let mut a = VecBuf::with_room(&frame, head, tail);
            let mut b = Plain(VecBuf::with_room(&frame, head, tail));
            let ok = a.reframe(front, new_len);
            proptest::prop_assert_eq!(ok, b.reframe(front, new_len));
            proptest::prop_assert_eq!(a.headroom(), b.headroom());
            proptest::prop_assert_eq!(a.len(), b.len());
            if ok {
                proptest::prop_assert_eq!(a.len(), new_len);
                proptest::prop_assert_eq!(a.headroom() as isize, head as isize + front);
                // Bytes that stay in the frame keep their values.
                for (i, &byte) in frame.iter().enumerate() {
                    let at = i as isize - front;
                    if at >= 0 && (at as usize) < new_len {
                        proptest::prop_assert_eq!(a.data()[at as usize], byte);
                    }
                }
            } else {
                proptest::prop_assert_eq!(a.data(), &frame[..]);
                proptest::prop_assert_eq!(a.headroom(), head);
            }
        }
    }
}
