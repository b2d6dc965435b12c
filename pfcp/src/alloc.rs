//! Allocation of what the UPF chooses on CHOOSE: TEIDs (F-TEID) and UE
//! addresses (CHV4/CHV6). Bitmaps with a rotating cursor: O(1) amortised,
//! and addresses are not reused right after being freed (a late packet of
//! the old session does not reach the new one).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::config::UePool;

/// Most entries a bitmap covers (16 Mi: 2 MiB of bitmap). Larger ranges
/// use their first 2^24 entries.
const MAX_ENTRIES: u64 = 1 << 24;

/// A set of `size` indices, each free or used.
#[derive(Debug, Clone)]
pub(crate) struct IndexPool {
    words: Vec<u64>,
    size: u64,
    used: u64,
    cursor: u64,
}

impl IndexPool {
    pub(crate) fn new(size: u64) -> Self {
        let size = size.min(MAX_ENTRIES);
        Self {
            words: vec![0; size.div_ceil(64) as usize],
            size,
            used: 0,
            cursor: 0,
        }
    }
    pub(crate) fn used(&self) -> u64 {
        self.used
    }
    pub(crate) fn size(&self) -> u64 {
        self.size
    }
    /// Take the next free index after the cursor.
    pub(crate) fn alloc(&mut self) -> Option<u64> {
        if self.used >= self.size {
            return None;
        }
        let nwords = self.words.len() as u64;
        let mut w = self.cursor / 64;
        // Mask off bits before the cursor in its first word.
        let mut skip = self.cursor % 64;
        for _ in 0..=nwords {
            let word = self.words[w as usize] | ((1u64 << skip) - 1);
            if word != u64::MAX {
                let bit = u64::from(word.trailing_ones());
                let idx = w * 64 + bit;
                if idx < self.size {
                    self.words[w as usize] |= 1 << bit;
                    self.used += 1;
                    self.cursor = (idx + 1) % self.size;
                    return Some(idx);
                }
            }
            w = (w + 1) % nwords;
            skip = 0;
        }
        None
    }
    /// Mark a given index used; false if it already was (or is out of range).
    pub(crate) fn reserve(&mut self, idx: u64) -> bool {
        if idx >= self.size {
            return false;
        }
        let (w, b) = ((idx / 64) as usize, idx % 64);
        if self.words[w] & (1 << b) != 0 {
            return false;
        }
        self.words[w] |= 1 << b;
        self.used += 1;
        true
    }
    /// Where the next [`IndexPool::alloc`] starts looking.
    pub(crate) fn cursor(&self) -> u64 {
        self.cursor
    }
    /// Go on from `idx` (a pool rebuilt on reload continues where the one
    /// it replaces was, so that what was freed just before the reload is
    /// not handed out again at once).
    pub(crate) fn set_cursor(&mut self, idx: u64) {
        if idx < self.size {
            self.cursor = idx;
        }
    }
    pub(crate) fn free(&mut self, idx: u64) {
        if idx < self.size {
            let (w, b) = ((idx / 64) as usize, idx % 64);
            if self.words[w] & (1 << b) != 0 {
                self.words[w] &= !(1 << b);
                self.used -= 1;
            }
        }
    }
}

/// TEIDs in `first..=last`.
#[derive(Debug, Clone)]
pub(crate) struct TeidPool {
    first: u32,
    pool: IndexPool,
}

impl TeidPool {
    pub(crate) fn new(first: u32, last: u32) -> Self {
        Self {
            first,
            pool: IndexPool::new(u64::from(last - first) + 1),
        }
    }
    pub(crate) fn alloc(&mut self) -> Option<u32> {
        self.pool
            .alloc()
            .and_then(|i| u32::try_from(u64::from(self.first) + i).ok())
    }
    /// Mark a TEID given by an SMF as used if it is in our range; false
    /// when it is ours and already taken.
    pub(crate) fn reserve(&mut self, teid: u32) -> bool {
        match teid.checked_sub(self.first) {
            Some(i) if u64::from(i) < self.pool.size() => self.pool.reserve(u64::from(i)),
            _ => true,
        }
    }
    pub(crate) fn free(&mut self, teid: u32) {
        if let Some(i) = teid.checked_sub(self.first) {
            self.pool.free(u64::from(i));
        }
    }
    pub(crate) fn used(&self) -> u64 {
        self.pool.used()
    }
    /// The TEID the next allocation starts looking at.
    pub(crate) fn cursor(&self) -> u64 {
        u64::from(self.first) + self.pool.cursor()
    }
    /// Whether `teid` is in this range.
    pub(crate) fn holds(&self, teid: u64) -> bool {
        teid.checked_sub(u64::from(self.first))
            .is_some_and(|i| i < self.pool.size())
    }
    /// Go on from `teid` (see [`IndexPool::set_cursor`]) when it is in
    /// this range; else from the range's start.
    pub(crate) fn resume_at(&mut self, teid: u64) {
        if let Some(i) = teid.checked_sub(u64::from(self.first)) {
            self.pool.set_cursor(i);
        }
    }
}

/// A UE address pool: IPv4 addresses, or IPv6 prefixes of `ue_prefix_len`.
#[derive(Debug, Clone)]
pub(crate) struct AddrPool {
    pub(crate) config: UePool,
    pool: IndexPool,
}

impl AddrPool {
    pub(crate) fn new(config: UePool) -> Self {
        let size = match config.prefix {
            // Without the network and broadcast addresses.
            IpAddr::V4(_) => (1u64 << (32 - u32::from(config.prefix_len))) - 2,
            IpAddr::V6(_) => {
                let bits = u32::from(config.ue_prefix_len - config.prefix_len).min(24);
                1u64 << bits
            }
        };
        Self {
            config,
            pool: IndexPool::new(size),
        }
    }
    fn addr(&self, idx: u64) -> IpAddr {
        match self.config.prefix {
            IpAddr::V4(n) => IpAddr::V4(Ipv4Addr::from(u32::from(n).wrapping_add(idx as u32 + 1))),
            IpAddr::V6(n) => {
                let shift = 128 - u32::from(self.config.ue_prefix_len);
                IpAddr::V6(Ipv6Addr::from(u128::from(n) | (u128::from(idx) << shift)))
            }
        }
    }
    fn index(&self, ip: IpAddr) -> Option<u64> {
        match (self.config.prefix, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX << (32 - u32::from(self.config.prefix_len));
                if u32::from(n) & mask != u32::from(a) & mask {
                    return None;
                }
                u64::from(u32::from(a) & !mask).checked_sub(1)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX << (128 - u32::from(self.config.prefix_len));
                if u128::from(n) & mask != u128::from(a) & mask {
                    return None;
                }
                let shift = 128 - u32::from(self.config.ue_prefix_len);
                u64::try_from((u128::from(a) & !mask) >> shift).ok()
            }
            _ => None,
        }
    }
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        self.index(ip).is_some_and(|i| i < self.pool.size())
    }
    pub(crate) fn alloc(&mut self) -> Option<IpAddr> {
        self.pool.alloc().map(|i| self.addr(i))
    }
    /// Mark an address given by the SMF as used; false if already taken.
    pub(crate) fn reserve(&mut self, ip: IpAddr) -> bool {
        self.index(ip).is_none_or(|i| self.pool.reserve(i))
    }
    pub(crate) fn free(&mut self, ip: IpAddr) {
        if let Some(i) = self.index(ip) {
            self.pool.free(i);
        }
    }
    pub(crate) fn used(&self) -> u64 {
        self.pool.used()
    }
    pub(crate) fn size(&self) -> u64 {
        self.pool.size()
    }
    /// The address the next allocation starts looking at.
    pub(crate) fn cursor(&self) -> IpAddr {
        self.addr(self.pool.cursor())
    }
    /// Go on from `ip` (see [`IndexPool::set_cursor`]) when this pool
    /// holds it.
    pub(crate) fn resume_at(&mut self, ip: IpAddr) {
        if let Some(i) = self.index(ip) {
            self.pool.set_cursor(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_pool_allocates_all_then_none_and_rotates() {
        let mut p = IndexPool::new(130);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..130 {
            assert!(seen.insert(p.alloc().unwrap()));
        }
        assert_eq!(p.alloc(), None);
        p.free(5);
        p.free(129);
        // The cursor wrapped: the next free after it.
        let a = p.alloc().unwrap();
        let b = p.alloc().unwrap();
        assert_eq!([a.min(b), a.max(b)], [5, 129]);
        assert_eq!(p.alloc(), None);
        assert!(!p.reserve(7));
        p.free(7);
        assert!(p.reserve(7));
        assert_eq!(p.used(), 130);
    }

    #[test]
    fn freed_index_is_not_reused_at_once() {
        let mut p = IndexPool::new(1000);
        let a = p.alloc().unwrap();
        p.free(a);
        assert_ne!(p.alloc().unwrap(), a);
    }

    #[test]
    fn rebuilt_pools_resume_where_the_old_ones_were() {
        let mut t = TeidPool::new(0x1000, 0x1fff);
        let a = t.alloc().unwrap();
        t.free(a);
        let mut t2 = TeidPool::new(0x1000, 0x1fff);
        t2.resume_at(t.cursor());
        assert_ne!(t2.alloc(), Some(a), "freed just before the rebuild");
        // A cursor outside the new range: its start.
        let mut t3 = TeidPool::new(0x8000, 0x8fff);
        t3.resume_at(t.cursor());
        assert_eq!(t3.alloc(), Some(0x8000));
        let cfg = UePool {
            prefix: "10.45.0.0".parse().unwrap(),
            prefix_len: 24,
            dnn: None,
            network_instance: None,
            ue_prefix_len: 64,
        };
        let mut p = AddrPool::new(cfg.clone());
        let ip = p.alloc().unwrap();
        p.free(ip);
        let mut p2 = AddrPool::new(UePool {
            prefix_len: 25,
            ..cfg
        });
        p2.resume_at(p.cursor());
        assert_ne!(p2.alloc(), Some(ip));
        p2.resume_at("10.99.0.1".parse().unwrap());
        assert!(
            p2.contains(p2.cursor()),
            "another pool's address moves nothing"
        );
    }

    #[test]
    fn teid_pool_range_and_reserve() {
        let mut t = TeidPool::new(0x1000, 0x1003);
        assert!(t.reserve(0x1001));
        assert!(t.reserve(0x9999), "outside our range: not ours to track");
        let got: Vec<u32> = std::iter::from_fn(|| t.alloc()).collect();
        assert_eq!(got, [0x1000, 0x1002, 0x1003]);
        assert!(!t.reserve(0x1002));
        t.free(0x1002);
        assert_eq!(t.alloc(), Some(0x1002));
    }

    #[test]
    fn address_pools() {
        let mut v4 = AddrPool::new(UePool {
            prefix: "10.45.0.0".parse().unwrap(),
            prefix_len: 30,
            dnn: None,
            network_instance: None,
            ue_prefix_len: 64,
        });
        assert_eq!(v4.size(), 2);
        assert_eq!(v4.alloc(), Some("10.45.0.1".parse().unwrap()));
        assert_eq!(v4.alloc(), Some("10.45.0.2".parse().unwrap()));
        assert_eq!(v4.alloc(), None);
        assert!(v4.contains("10.45.0.2".parse().unwrap()));
        assert!(!v4.contains("10.45.0.3".parse().unwrap()), "broadcast");
        assert!(!v4.contains("10.46.0.1".parse().unwrap()));
        v4.free("10.45.0.1".parse().unwrap());
        assert!(v4.reserve("10.45.0.1".parse().unwrap()));
        let mut v6 = AddrPool::new(UePool {
            prefix: "2001:db8:1::".parse().unwrap(),
            prefix_len: 48,
            dnn: None,
            network_instance: None,
            ue_prefix_len: 64,
        });
        assert_eq!(v6.size(), 65536);
        assert_eq!(v6.alloc(), Some("2001:db8:1::".parse().unwrap()));
        assert_eq!(v6.alloc(), Some("2001:db8:1:1::".parse().unwrap()));
        assert!(v6.contains("2001:db8:1:1::".parse().unwrap()));
        assert!(!v6.reserve("2001:db8:1:1::".parse().unwrap()));
        assert_eq!(v6.used(), 2);
    }
}
