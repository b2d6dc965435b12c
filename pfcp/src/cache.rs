//! The response cache of the node: answers kept for `response_cache_ttl`
//! so that a retransmitted request (same peer, sequence number and bytes)
//! is answered again without being applied twice (TS 29.244 §6.4).
//!
//! Laid out for a million entries: answers are appended to one byte ring
//! in arrival order (which is also expiry order), with a small record per
//! answer and an index from (peer, sequence number) to the record. About
//! 100 bytes per answer besides its own bytes, and no allocation per
//! answer once the rings have grown.

use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::time::Instant;

use crate::HashMap;

#[derive(Debug, Clone, Copy)]
struct Record {
    peer: SocketAddr,
    seq: u32,
    /// Length of the answer, and where it starts in the byte ring
    /// (counted since the ring's start).
    len: u32,
    pos: u64,
    req_hash: u64,
    expires: Instant,
}

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
}

impl ResponseCache {
    pub(crate) fn new() -> Self {
        Self {
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

    /// When the oldest answer expires.
    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        self.records.front().map(|r| r.expires)
    }

    /// The answer to the request `req_hash` from `peer` with `seq`, if it
    /// is the same request as the one answered.
    pub(crate) fn get(&self, peer: SocketAddr, seq: u32, req_hash: u64) -> Option<Vec<u8>> {
        let n = *self.index.get(&self.key(peer, seq))?;
        let i = usize::try_from(n.checked_sub(self.first)?).ok()?;
        let r = self.records.get(i)?;
        if r.peer != peer || r.seq != seq || r.req_hash != req_hash {
            return None;
        }
        let start = usize::try_from(r.pos.checked_sub(self.bytes_first)?).ok()?;
        Some(
            self.bytes
                .range(start..start + r.len as usize)
                .copied()
                .collect(),
        )
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
        let Ok(len) = u32::try_from(answer.len()) else {
            return;
        };
        let n = self.first + self.records.len() as u64;
        let pos = self.bytes_first + self.bytes.len() as u64;
        self.records.push_back(Record {
            peer,
            seq,
            len,
            pos,
            req_hash,
            expires,
        });
        self.bytes.extend(answer);
        let k = self.key(peer, seq);
        self.index.insert(k, n);
    }

    /// Drop the oldest answer.
    pub(crate) fn pop_oldest(&mut self) {
        let Some(r) = self.records.pop_front() else {
            return;
        };
        self.bytes.drain(..r.len as usize);
        self.bytes_first += u64::from(r.len);
        let k = self.key(r.peer, r.seq);
        // Unless a newer answer with the same key replaced it.
        if self.index.get(&k) == Some(&self.first) {
            self.index.remove(&k);
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
        while self.records.front().is_some_and(|r| r.expires <= now) {
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
        let mut c = ResponseCache::new();
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
}
