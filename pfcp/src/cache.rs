//! The response cache of the node: answers kept for `response_cache_ttl`
//! so that a retransmitted request (same peer, sequence number and bytes)
//! is answered again without being applied twice (TS 29.244 §6.4).
//!
//! Laid out for a million entries: answers are appended to one byte ring
//! in arrival order (which is also expiry order), with a 32-byte record per
//! answer (the hash of its peer and sequence number stands for both: a
//! wrong answer would need that hash and the request's hash to collide)
//! and an index from that hash to the record. About 60 bytes per answer
//! besides its own bytes, no allocation per answer once the rings have
//! grown, and a bound on the bytes held ([`ResponseCache::held`]).

use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::time::Instant;

use crate::HashMap;

#[derive(Debug, Clone, Copy)]
struct Record {
    /// Hash of (peer, sequence number).
    key: u64,
    req_hash: u64,
    /// Where the answer starts in the byte ring (counted since the ring's
    /// start; 40 bits), and its length (24 bits).
    pos_len: u64,
    /// Expiry, in milliseconds since the cache's base instant.
    expires_ms: u64,
}

const LEN_BITS: u32 = 24;
const POS_MASK: u64 = (1 << 40) - 1;

impl Record {
    fn pos(&self) -> u64 {
        self.pos_len >> LEN_BITS
    }
    fn len(&self) -> usize {
        (self.pos_len & ((1 << LEN_BITS) - 1)) as usize
    }
}

/// Bytes a record and its index entry cost besides the answer (for the
/// byte bound).
pub(crate) const RECORD_COST: usize = 64;

/// Answers by (peer, sequence number), oldest first.
#[derive(Debug)]
pub(crate) struct ResponseCache {
    /// Key hash → number (position since the start) of the newest record
    /// with that key.
    index: HashMap<u64, u64>,
    records: VecDeque<Record>,
    bytes: VecDeque<u8>,
    /// Number of the record at the front of `records`.
    first: u64,
    /// Position of the front of `bytes`.
    bytes_first: u64,
    hasher: foldhash::fast::RandomState,
    base: Instant,
}

impl ResponseCache {
    pub(crate) fn new(base: Instant) -> Self {
        Self {
            base,
            index: HashMap::default(),
            records: VecDeque::new(),
            bytes: VecDeque::new(),
            first: 0,
            bytes_first: 0,
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    fn key(&self, peer: SocketAddr, seq: u32) -> u64 {
        self.hasher.hash_one((peer, seq))
    }

    /// Answers kept.
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    /// Bytes held: answers plus [`RECORD_COST`] per answer.
    pub(crate) fn held(&self) -> usize {
        self.bytes.len() + self.records.len() * RECORD_COST
    }

    fn ms(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.base).as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether keeping an answer of `len` bytes would take the cache past
    /// `bound` bytes: the answers plus [`RECORD_COST`] each, or the memory
    /// its containers reserve once one of them has to grow (they double,
    /// so a byte ring of 70 MiB of answers would otherwise reserve
    /// 128 MiB). The caller drops the oldest answers until it does not.
    pub(crate) fn over(&self, len: usize, bound: usize) -> bool {
        if self.held() + len + RECORD_COST > bound {
            return true;
        }
        let grown = |used: usize, cap: usize, add: usize| {
            if used + add > cap {
                (used + add).max(cap.saturating_mul(2))
            } else {
                cap
            }
        };
        let bytes = grown(self.bytes.len(), self.bytes.capacity(), len);
        let records = grown(self.records.len(), self.records.capacity(), 1);
        let index = grown(self.index.len(), self.index.capacity(), 1);
        let must_grow = bytes > self.bytes.capacity()
            || records > self.records.capacity()
            || index > self.index.capacity();
        // An index entry: 16 bytes and a control byte, at most 7/8 full.
        let reserved =
            bytes + records * std::mem::size_of::<Record>() + index.saturating_mul(17 * 8) / 7;
        must_grow && reserved > bound
    }

    /// When the oldest answer expires.
    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        self.records
            .front()
            .map(|r| self.base + std::time::Duration::from_millis(r.expires_ms))
    }

    /// The answer to the request `req_hash` from `peer` with `seq`, if it
    /// is the same request as the one answered.
    pub(crate) fn get(&self, peer: SocketAddr, seq: u32, req_hash: u64) -> Option<Vec<u8>> {
        let key = self.key(peer, seq);
        let n = *self.index.get(&key)?;
        let i = usize::try_from(n.checked_sub(self.first)?).ok()?;
        let r = self.records.get(i)?;
        if r.key != key || r.req_hash != req_hash {
            return None;
        }
        let start = usize::try_from(r.pos().wrapping_sub(self.bytes_first) & POS_MASK).ok()?;
        if start + r.len() > self.bytes.len() {
            return None;
        }
        Some(self.bytes.range(start..start + r.len()).copied().collect())
    }

    /// Keep `answer` until `expires` (replacing an earlier answer with the
    /// same peer and sequence number).
    pub(crate) fn insert(
        &mut self,
        peer: SocketAddr,
        seq: u32,
        req_hash: u64,
        answer: &[u8],
        expires: Instant,
    ) {
        let len = answer.len() as u64;
        if len >= 1 << LEN_BITS {
            return;
        }
        let n = self.first + self.records.len() as u64;
        // Positions wrap at 40 bits (a terabyte of answers): only the
        // difference to `bytes_first` is ever used.
        let pos = (self.bytes_first + self.bytes.len() as u64) & POS_MASK;
        let key = self.key(peer, seq);
        self.records.push_back(Record {
            key,
            req_hash,
            pos_len: (pos << LEN_BITS) | len,
            expires_ms: self.ms(expires),
        });
        self.bytes.extend(answer);
        self.index.insert(key, n);
    }

    /// Drop the oldest answer.
    pub(crate) fn pop_oldest(&mut self) {
        let Some(r) = self.records.pop_front() else {
            return;
        };
        self.bytes.drain(..r.len().min(self.bytes.len()));
        self.bytes_first = (self.bytes_first + r.len() as u64) & POS_MASK;
        // Unless a newer answer with the same key replaced it.
        if self.index.get(&r.key) == Some(&self.first) {
            self.index.remove(&r.key);
        }
        self.first += 1;
        if self.records.is_empty() {
            self.records.shrink_to(1024);
            self.bytes.shrink_to(64 * 1024);
            self.index.shrink_to(1024);
        }
    }

    /// Drop every answer that expired at `now`.
    pub(crate) fn expire(&mut self, now: Instant) {
        let now = self.ms(now);
        while self.records.front().is_some_and(|r| r.expires_ms <= now) {
            self.pop_oldest();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn answers_by_peer_seq_and_request_until_they_expire() {
        let t0 = Instant::now();
        let a: SocketAddr = "10.0.0.1:8805".parse().unwrap();
        let b: SocketAddr = "10.0.0.1:40000".parse().unwrap();
        let mut c = ResponseCache::new(t0);
        c.insert(a, 1, 11, b"one", t0 + Duration::from_secs(1));
        c.insert(b, 1, 12, b"two!", t0 + Duration::from_secs(2));
        c.insert(a, 2, 13, b"three", t0 + Duration::from_secs(3));
        assert_eq!(c.get(a, 1, 11).as_deref(), Some(&b"one"[..]));
        assert_eq!(c.get(b, 1, 12).as_deref(), Some(&b"two!"[..]));
        assert_eq!(c.get(a, 2, 13).as_deref(), Some(&b"three"[..]));
        assert_eq!(c.get(a, 1, 99), None, "another request with that number");
        assert_eq!(c.get(a, 3, 13), None);
        c.expire(t0 + Duration::from_secs(1));
        assert_eq!(c.get(a, 1, 11), None);
        assert_eq!(c.get(a, 2, 13).as_deref(), Some(&b"three"[..]));
        assert_eq!(c.next_expiry(), Some(t0 + Duration::from_secs(2)));
        // A new request reusing (b, 1): the new answer replaces the old,
        // and the old one's expiry does not remove the new.
        c.insert(b, 1, 14, b"four", t0 + Duration::from_secs(9));
        assert_eq!(c.get(b, 1, 12), None);
        c.expire(t0 + Duration::from_secs(2));
        assert_eq!(c.get(b, 1, 14).as_deref(), Some(&b"four"[..]));
        assert_eq!(c.len(), 2);
        c.pop_oldest();
        c.pop_oldest();
        assert_eq!(c.len(), 0);
        assert_eq!(c.next_expiry(), None);
    }

    #[test]
    fn held_bytes_follow_the_answers_kept() {
        let t0 = Instant::now();
        let a: SocketAddr = "10.0.0.1:8805".parse().unwrap();
        let mut c = ResponseCache::new(t0);
        assert_eq!(c.held(), 0);
        for seq in 0..100u32 {
            c.insert(
                a,
                seq,
                u64::from(seq),
                &[seq as u8; 50],
                t0 + Duration::from_secs(30),
            );
        }
        assert_eq!(c.held(), 100 * (50 + RECORD_COST));
        assert!(!c.over(50, 1 << 20));
        assert!(
            c.over(50, c.held() + 50 + RECORD_COST - 1),
            "by the answers"
        );
        for _ in 0..40 {
            c.pop_oldest();
        }
        assert_eq!(c.held(), 60 * (50 + RECORD_COST));
        assert_eq!(c.get(a, 39, 39), None);
        assert_eq!(c.get(a, 40, 40).as_deref(), Some(&[40u8; 50][..]));
        assert_eq!(c.get(a, 99, 99).as_deref(), Some(&[99u8; 50][..]));
        assert_eq!(std::mem::size_of::<Record>(), 32);
    }

    #[test]
    fn reserved_memory_stays_within_the_bound() {
        let bound = 1 << 20;
        let t0 = Instant::now();
        let a: SocketAddr = "10.0.0.1:8805".parse().unwrap();
        let mut c = ResponseCache::new(t0);
        let reserved = |c: &ResponseCache| {
            c.bytes.capacity()
                + c.records.capacity() * std::mem::size_of::<Record>()
                + c.index.capacity() * 17 * 8 / 7
        };
        let mut most = 0;
        for seq in 0..50_000u32 {
            while c.len() > 0 && c.over(100, bound) {
                c.pop_oldest();
            }
            c.insert(
                a,
                seq,
                u64::from(seq),
                &[1; 100],
                t0 + Duration::from_secs(30),
            );
            most = most.max(reserved(&c));
            assert_eq!(c.get(a, seq, u64::from(seq)).map(|v| v.len()), Some(100));
        }
        assert!(most <= bound, "reserved {most} > {bound}");
        // Doubling containers: at least a quarter of the bound in use.
        assert!(c.held() >= bound / 4, "held {} of {bound}", c.held());
    }
}
