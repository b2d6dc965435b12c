//! FQ-CSID bookkeeping for partial failure handling (TS 29.244 §8.2.43,
//! TS 23.007 / TS 23.527 §4.6): the CSIDs each CP gave a session at
//! establishment or modification, so that a Session Set Deletion Request
//! finds the sessions of the sets it names. Also the Rel-17 Group Id and
//! CP IP Address of a session, so that a Session Set Modification Request
//! (§7.4.7) finds the sessions it names. Part of the PFCP node, not of
//! the packet path.
//!
//! Memory: a session without FQ-CSIDs costs nothing here (no entry). A
//! session with up to three (node, CSID) pairs costs one 40-byte map
//! entry: node addresses are interned (a network has a few dozen CP nodes,
//! not one per session), so a pair is 6 bytes kept inline; an interned
//! value no session carries any more is forgotten. The lookup by
//! CSID scans the sessions that have CSIDs: a Session Set Deletion is rare
//! (a CP's partial failure), and an index from CSID to sessions would cost
//! every session a second entry for it.

use smallvec::SmallVec;

use crate::HashMap;
use crate::codec::ies::{CpIpAddress, CsidNode, FqCsid};

/// Longest Group Id stored: TS 29.244 gives it no bound, a UUID-like
/// identifier is 36 octets; a longer one is counted as dropped, so that a
/// CP cannot make the node keep arbitrary blobs.
pub(crate) const MAX_GROUP_ID: usize = 255;

/// The sets of one CSID node (the node address of FQ-CSIDs), for /status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsidSets {
    pub node: CsidNode,
    /// Distinct CSIDs of this node that sessions carry.
    pub csids: usize,
    /// (CSID, sessions carrying it), most sessions first (then lowest
    /// CSID), at most the number asked for.
    pub sets: Vec<(u16, u32)>,
}

/// Interned values (a network has a few CP nodes, groups and CP
/// addresses, not one per session): index → value and value → index,
/// counted by the sessions that use them. A value no session uses any more
/// is forgotten and its index reused: over months of churn the book holds
/// what the sessions of now carry, not every address or group ever seen
/// (which would also run into the 65,536-value limit and then drop new
/// FQ-CSIDs for good).
#[derive(Debug)]
struct Interner<T> {
    values: Vec<Option<T>>,
    /// Uses of each index (sessions' pairs or tags).
    refs: Vec<u32>,
    /// Indices whose value was forgotten, to reuse.
    free: Vec<u16>,
    /// Indices whose count went to zero: forgotten at the next sweep if
    /// still unused (not at once, so that an index stays valid while a
    /// session's pairs are taken apart and put back together).
    unused: Vec<u16>,
    index: HashMap<T, u16>,
}

impl<T> Default for Interner<T> {
    fn default() -> Self {
        Self {
            values: Vec::new(),
            refs: Vec::new(),
            free: Vec::new(),
            unused: Vec::new(),
            index: HashMap::default(),
        }
    }
}

impl<T: std::hash::Hash + Eq + Clone> Interner<T> {
    /// Its index (unused until [`Interner::hold`]); `None` when 65,536
    /// values are interned already.
    fn intern(&mut self, v: &T) -> Option<u16> {
        if let Some(&i) = self.index.get(v) {
            return Some(i);
        }
        let i = match self.free.pop() {
            Some(i) => {
                self.values[usize::from(i)] = Some(v.clone());
                i
            }
            None => {
                let i = u16::try_from(self.values.len()).ok()?;
                self.values.push(Some(v.clone()));
                self.refs.push(0);
                i
            }
        };
        self.index.insert(v.clone(), i);
        // Swept if nobody holds it (a value interned and then not kept).
        self.unused.push(i);
        Some(i)
    }
    fn get(&self, v: &T) -> Option<u16> {
        self.index.get(v).copied()
    }
    fn value(&self, i: u16) -> Option<&T> {
        self.values.get(usize::from(i))?.as_ref()
    }
    /// Live values with their indices.
    fn iter(&self) -> impl Iterator<Item = (u16, &T)> {
        self.values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| Some((u16::try_from(i).ok()?, v.as_ref()?)))
    }
    /// Values held.
    fn len(&self) -> usize {
        self.index.len()
    }
    fn hold(&mut self, i: u16) {
        if let Some(r) = self.refs.get_mut(usize::from(i)) {
            *r += 1;
        }
    }
    fn release(&mut self, i: u16) {
        if let Some(r) = self.refs.get_mut(usize::from(i)) {
            *r = r.saturating_sub(1);
            if *r == 0 {
                self.unused.push(i);
            }
        }
    }
    /// Forgets the values whose count went to zero and stayed there.
    fn sweep(&mut self) {
        while let Some(i) = self.unused.pop() {
            let at = usize::from(i);
            if self.refs.get(at) != Some(&0) {
                continue;
            }
            if let Some(v) = self.values.get_mut(at).and_then(Option::take) {
                self.index.remove(&v);
                self.free.push(i);
            }
        }
    }
}

/// A session's Rel-17 Group Id and CP IP Address, interned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Tags {
    group: Option<u16>,
    cp_ip: Option<u16>,
}

/// `node_type` of a pair whose FQ-CSID had no Node Type octet (before
/// Rel-17).
const NO_NODE_TYPE: u8 = 0xff;

/// One CSID of a session: the interned node address, the CSID, and the
/// node type when the CP said it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pair {
    node: u16,
    csid: u16,
    node_type: u8,
}

/// The FQ-CSIDs of the sessions that have some.
#[derive(Debug, Default)]
pub(crate) struct CsidBook {
    /// CSID node addresses, counted by the pairs that name them.
    nodes: Interner<CsidNode>,
    sessions: HashMap<u64, SmallVec<[Pair; 3]>>,
    /// Sessions per (node, CSID), kept as sessions come and go so that
    /// /status never scans the sessions.
    counts: HashMap<(u16, u16), u32>,
    groups: Interner<Box<[u8]>>,
    cp_ips: Interner<CpIpAddress>,
    /// Sessions with a Group Id or a CP IP Address.
    tags: HashMap<u64, Tags>,
    /// FQ-CSIDs, Group Ids and CP IP Addresses not stored: 65,536 node
    /// addresses (groups, CP addresses) interned already, or a Group Id
    /// longer than [`MAX_GROUP_ID`].
    pub(crate) dropped: u64,
}

impl CsidBook {
    fn intern(&mut self, node: CsidNode) -> Option<u16> {
        self.nodes.intern(&node)
    }

    /// Forgets interned values no session uses any more.
    fn sweep(&mut self) {
        self.nodes.sweep();
        self.groups.sweep();
        self.cp_ips.sweep();
    }

    /// The FQ-CSIDs of a new session (an establishment). Stores nothing
    /// when there are none.
    pub(crate) fn establish(&mut self, seid: u64, fq: &[FqCsid]) {
        self.remove(seid);
        if !fq.is_empty() {
            self.update(seid, fq);
        }
    }

    /// FQ-CSIDs sent again in a modification (TS 29.244 Table 7.5.4.1-1:
    /// "if it has changed"). Each replaces the session's FQ-CSID of the
    /// same node type when both carry one, else the one of the same node
    /// address; one with no CSID (the Rel-17 removal form: all-zero
    /// address and a node type) removes that node type's.
    pub(crate) fn update(&mut self, seid: u64, fq: &[FqCsid]) {
        if fq.is_empty() {
            return;
        }
        let mut pairs = self.sessions.remove(&seid).unwrap_or_default();
        self.count(&pairs, false);
        for f in fq {
            let node_type = f.node_type.unwrap_or(NO_NODE_TYPE);
            if f.csids.is_empty() {
                if node_type != NO_NODE_TYPE {
                    pairs.retain(|p| p.node_type != node_type);
                }
                continue;
            }
            let Some(node) = self.intern(f.node) else {
                self.dropped += 1;
                continue;
            };
            pairs.retain(|p| {
                if node_type != NO_NODE_TYPE && p.node_type != NO_NODE_TYPE {
                    p.node_type != node_type
                } else {
                    p.node != node
                }
            });
            for &csid in &f.csids {
                let p = Pair {
                    node,
                    csid,
                    node_type,
                };
                if !pairs.contains(&p) {
                    pairs.push(p);
                }
            }
        }
        if !pairs.is_empty() {
            self.count(&pairs, true);
            self.sessions.insert(seid, pairs);
        }
        self.sweep();
    }

    fn count(&mut self, pairs: &[Pair], add: bool) {
        for p in pairs {
            let key = (p.node, p.csid);
            if add {
                *self.counts.entry(key).or_default() += 1;
                self.nodes.hold(p.node);
            } else if let Some(n) = self.counts.get_mut(&key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.counts.remove(&key);
                }
                self.nodes.release(p.node);
            }
        }
    }

    /// Forget a session (deleted, or removed by the node).
    pub(crate) fn remove(&mut self, seid: u64) {
        if !self.sessions.is_empty()
            && let Some(pairs) = self.sessions.remove(&seid)
        {
            self.count(&pairs, false);
        }
        if !self.tags.is_empty()
            && let Some(t) = self.tags.remove(&seid)
        {
            self.release_tags(t);
        }
        self.sweep();
    }

    fn release_tags(&mut self, t: Tags) {
        if let Some(g) = t.group {
            self.groups.release(g);
        }
        if let Some(c) = t.cp_ip {
            self.cp_ips.release(c);
        }
    }

    /// The Group Id and CP IP Address of a new session (Rel-17
    /// establishment IEs); nothing is stored without them.
    pub(crate) fn establish_tags(
        &mut self,
        seid: u64,
        group: Option<&[u8]>,
        cp_ip: Option<&CpIpAddress>,
    ) {
        if !self.tags.is_empty()
            && let Some(t) = self.tags.remove(&seid)
        {
            self.release_tags(t);
        }
        self.update_tags(seid, group, cp_ip);
    }

    /// A modification's Group Id and CP IP Address: each one sent
    /// replaces the session's; one not sent stays.
    pub(crate) fn update_tags(
        &mut self,
        seid: u64,
        group: Option<&[u8]>,
        cp_ip: Option<&CpIpAddress>,
    ) {
        if group.is_none() && cp_ip.is_none() {
            self.sweep();
            return;
        }
        let old = self.tags.get(&seid).copied().unwrap_or_default();
        let mut t = old;
        if let Some(g) = group {
            let id = if g.is_empty() || g.len() > MAX_GROUP_ID {
                None
            } else {
                self.groups.intern(&Box::from(g))
            };
            if id.is_none() {
                self.dropped += 1;
            }
            t.group = id;
        }
        if let Some(c) = cp_ip {
            let id = self.cp_ips.intern(c);
            if id.is_none() {
                self.dropped += 1;
            }
            t.cp_ip = id;
        }
        // Hold the new before releasing the old: the same value keeps its
        // index.
        if let Some(g) = t.group {
            self.groups.hold(g);
        }
        if let Some(c) = t.cp_ip {
            self.cp_ips.hold(c);
        }
        self.release_tags(old);
        if t == Tags::default() {
            self.tags.remove(&seid);
        } else {
            self.tags.insert(seid, t);
        }
        self.sweep();
    }

    /// The sessions in any of these groups, in no order.
    pub(crate) fn matching_groups(&self, groups: &[&[u8]]) -> Vec<u64> {
        let wanted: SmallVec<[u16; 4]> = groups
            .iter()
            .filter_map(|g| self.groups.get(&Box::from(*g)))
            .collect();
        if wanted.is_empty() {
            return Vec::new();
        }
        self.tags
            .iter()
            .filter(|(_, t)| t.group.is_some_and(|g| wanted.contains(&g)))
            .map(|(s, _)| *s)
            .collect()
    }

    /// The sessions whose stored CP IP Address shares an address with
    /// one of `ips`, in no order.
    pub(crate) fn matching_cp_ips(&self, ips: &[CpIpAddress]) -> Vec<u64> {
        let wanted: SmallVec<[u16; 4]> = self
            .cp_ips
            .iter()
            .filter(|(_, v)| ips.iter().any(|w| w.overlaps(v)))
            .map(|(i, _)| i)
            .collect();
        if wanted.is_empty() {
            return Vec::new();
        }
        self.tags
            .iter()
            .filter(|(_, t)| t.cp_ip.is_some_and(|c| wanted.contains(&c)))
            .map(|(s, _)| *s)
            .collect()
    }

    /// A session's Group Id and CP IP Address (for tests and /status).
    pub(crate) fn tags_of(&self, seid: u64) -> (Option<&[u8]>, Option<CpIpAddress>) {
        let Some(t) = self.tags.get(&seid) else {
            return (None, None);
        };
        (
            t.group.and_then(|g| self.groups.value(g)).map(|b| &b[..]),
            t.cp_ip.and_then(|c| self.cp_ips.value(c)).copied(),
        )
    }

    /// Per CSID node (at most `max_nodes`, in the order first seen): its
    /// distinct CSIDs and the `max_sets` CSIDs most sessions carry.
    /// Costs O(distinct CSIDs), not O(sessions).
    pub(crate) fn summary(&self, max_nodes: usize, max_sets: usize) -> Vec<CsidSets> {
        let mut per: Vec<Vec<(u16, u32)>> = Vec::new();
        for (&(node, csid), &n) in &self.counts {
            let i = usize::from(node);
            if i >= max_nodes {
                continue;
            }
            if per.len() <= i {
                per.resize_with(i + 1, Vec::new);
            }
            per[i].push((csid, n));
        }
        per.into_iter()
            .enumerate()
            .filter(|(_, sets)| !sets.is_empty())
            .filter_map(|(i, mut sets)| {
                let node = *self.nodes.value(u16::try_from(i).ok()?)?;
                let csids = sets.len();
                sets.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                sets.truncate(max_sets);
                Some(CsidSets { node, csids, sets })
            })
            .collect()
    }

    /// The sessions holding any of the CSIDs named in `fq` (each CSID of
    /// an FQ-CSID belongs to that FQ-CSID's node address), in no order.
    pub(crate) fn matching(&self, fq: &[FqCsid]) -> Vec<u64> {
        let wanted: Vec<(u16, u16)> = fq
            .iter()
            .filter_map(|f| Some((self.nodes.get(&f.node)?, f)))
            .flat_map(|(n, f)| f.csids.iter().map(move |c| (n, *c)))
            .collect();
        if wanted.is_empty() {
            return Vec::new();
        }
        self.sessions
            .iter()
            .filter(|(_, pairs)| pairs.iter().any(|p| wanted.contains(&(p.node, p.csid))))
            .map(|(s, _)| *s)
            .collect()
    }

    /// The FQ-CSIDs stored for a session, one per (node, node type), in
    /// the order first stored (for /status and tests).
    pub(crate) fn of(&self, seid: u64) -> Vec<FqCsid> {
        let mut out: Vec<FqCsid> = Vec::new();
        let Some(pairs) = self.sessions.get(&seid) else {
            return out;
        };
        for p in pairs {
            let Some(&node) = self.nodes.value(p.node) else {
                continue;
            };
            let node_type = (p.node_type != NO_NODE_TYPE).then_some(p.node_type);
            match out
                .iter_mut()
                .find(|f| f.node == node && f.node_type == node_type)
            {
                Some(f) => f.csids.push(p.csid),
                None => out.push(FqCsid {
                    node,
                    csids: SmallVec::from_elem(p.csid, 1),
                    node_type,
                }),
            }
        }
        out
    }

    /// Sessions with at least one CSID.
    pub(crate) fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Entries held: (sessions with CSIDs, (node, CSID) counts, sessions
    /// with a Group Id or CP IP Address, node addresses + Group Ids + CP
    /// IP Addresses interned).
    pub(crate) fn occupancy(&self) -> (usize, usize, usize, usize) {
        (
            self.sessions.len(),
            self.counts.len(),
            self.tags.len(),
            self.nodes.len() + self.groups.len() + self.cp_ips.len(),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn fq(a: [u8; 4], csids: &[u16], node_type: Option<u8>) -> FqCsid {
        FqCsid {
            node: CsidNode::Ipv4(Ipv4Addr::from(a)),
            csids: csids.iter().copied().collect(),
            node_type,
        }
    }

    #[test]
    fn sessions_without_csids_are_not_stored() {
        let mut b = CsidBook::default();
        b.establish(1, &[]);
        b.update(1, &[]);
        assert_eq!(b.len(), 0);
        assert!(b.matching(&[fq([10, 0, 0, 1], &[1], None)]).is_empty());
    }

    #[test]
    fn matching_is_per_node_address() {
        let mut b = CsidBook::default();
        b.establish(1, &[fq([10, 0, 0, 1], &[7], None)]);
        b.establish(2, &[fq([10, 0, 0, 2], &[7], None)]);
        b.establish(
            3,
            &[fq([10, 0, 0, 1], &[8], None), fq([10, 0, 0, 3], &[1], None)],
        );
        let mut m = b.matching(&[fq([10, 0, 0, 1], &[7, 9], None)]);
        m.sort_unstable();
        assert_eq!(m, vec![1]);
        let mut m = b.matching(&[fq([10, 0, 0, 1], &[7, 8], None)]);
        m.sort_unstable();
        assert_eq!(m, vec![1, 3]);
        let mut m = b.matching(&[fq([10, 0, 0, 3], &[1], None), fq([10, 0, 0, 2], &[7], None)]);
        m.sort_unstable();
        assert_eq!(m, vec![2, 3]);
        // An address never seen names nothing.
        assert!(b.matching(&[fq([10, 0, 0, 9], &[7], None)]).is_empty());
        b.remove(1);
        assert!(b.matching(&[fq([10, 0, 0, 1], &[7], None)]).is_empty());
        assert_eq!(b.len(), 2);
    }

    #[test]
    fn modification_replaces_by_node_type_or_address_and_removes() {
        let mut b = CsidBook::default();
        // SGW-C (type 1) and MME (type 0) FQ-CSIDs, Rel-17 style.
        b.establish(
            1,
            &[
                fq([10, 0, 0, 1], &[5], Some(1)),
                fq([10, 0, 0, 2], &[6], Some(0)),
            ],
        );
        // The SGW-C changed (relocation): a new address, same node type.
        b.update(1, &[fq([10, 0, 0, 9], &[50], Some(1))]);
        assert_eq!(
            b.of(1),
            vec![
                fq([10, 0, 0, 2], &[6], Some(0)),
                fq([10, 0, 0, 9], &[50], Some(1))
            ]
        );
        // Removal form: no CSID, all-zero address, node type 0.
        b.update(1, &[fq([0, 0, 0, 0], &[], Some(0))]);
        assert_eq!(b.of(1), vec![fq([10, 0, 0, 9], &[50], Some(1))]);
        b.update(1, &[fq([0, 0, 0, 0], &[], Some(1))]);
        assert_eq!(b.len(), 0, "no CSID left: no entry");
        // Without node types: replaced by node address.
        b.establish(
            2,
            &[fq([10, 0, 0, 1], &[5], None), fq([10, 0, 0, 2], &[6], None)],
        );
        b.update(2, &[fq([10, 0, 0, 1], &[55], None)]);
        assert_eq!(
            b.of(2),
            vec![
                fq([10, 0, 0, 2], &[6], None),
                fq([10, 0, 0, 1], &[55], None)
            ]
        );
        assert!(b.matching(&[fq([10, 0, 0, 1], &[5], None)]).is_empty());
        assert_eq!(b.matching(&[fq([10, 0, 0, 1], &[55], None)]), vec![2]);
    }

    fn cp(a: [u8; 4]) -> CpIpAddress {
        CpIpAddress {
            ipv4: Some(Ipv4Addr::from(a)),
            ipv6: None,
        }
    }

    #[test]
    fn group_ids_and_cp_ip_addresses_are_stored_replaced_and_matched() {
        let mut b = CsidBook::default();
        b.establish_tags(1, Some(b"g1"), None);
        b.establish_tags(2, Some(b"g2"), Some(&cp([10, 0, 0, 1])));
        b.establish_tags(3, None, None);
        assert_eq!(b.tags.len(), 2, "nothing stored without tags");
        assert_eq!(b.matching_groups(&[b"g1"]), vec![1]);
        assert!(b.matching_groups(&[b"nope"]).is_empty());
        let both = CpIpAddress {
            ipv4: Some(Ipv4Addr::new(10, 0, 0, 1)),
            ipv6: Some("2001:db8::1".parse().unwrap()),
        };
        assert_eq!(b.matching_cp_ips(&[both]), vec![2], "one shared address");
        // A modification replaces what it sends, keeps the rest.
        b.update_tags(2, Some(b"g1"), None);
        assert_eq!(b.tags_of(2), (Some(&b"g1"[..]), Some(cp([10, 0, 0, 1]))));
        let mut m = b.matching_groups(&[b"g1"]);
        m.sort_unstable();
        assert_eq!(m, vec![1, 2]);
        b.update_tags(2, None, None);
        assert_eq!(b.tags_of(2).0, Some(&b"g1"[..]));
        // Empty or over-long Group Ids are not kept (counted).
        b.update_tags(1, Some(b""), None);
        b.establish_tags(4, Some(&[b'x'; MAX_GROUP_ID + 1]), None);
        assert_eq!(b.dropped, 2);
        assert_eq!(b.tags_of(1), (None, None));
        assert_eq!(b.tags.len(), 1, "sessions 1 and 4 have no entry");
        b.remove(2);
        assert!(b.tags.is_empty());
        assert!(b.matching_cp_ips(&[cp([10, 0, 0, 1])]).is_empty());
    }

    #[test]
    fn summary_counts_sessions_per_csid_and_is_bounded() {
        let mut b = CsidBook::default();
        b.establish(1, &[fq([10, 0, 0, 1], &[1, 2], None)]);
        b.establish(
            2,
            &[fq([10, 0, 0, 1], &[2], None), fq([10, 0, 0, 2], &[9], None)],
        );
        b.establish(3, &[fq([10, 0, 0, 1], &[3], None)]);
        let s = b.summary(8, 8);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].node, CsidNode::Ipv4(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(
            (s[0].csids, s[0].sets.clone()),
            (3, vec![(2, 2), (1, 1), (3, 1)])
        );
        assert_eq!(s[1].sets, vec![(9, 1)]);
        assert_eq!(b.summary(1, 1)[0].sets, vec![(2, 2)]);
        // A modification moving session 1 from CSID 2 to 5 moves its count.
        b.update(1, &[fq([10, 0, 0, 1], &[5], None)]);
        assert_eq!(b.summary(1, 8)[0].sets, vec![(2, 1), (3, 1), (5, 1)]);
        b.remove(2);
        b.remove(1);
        b.remove(3);
        assert!(b.summary(8, 8).is_empty());
        assert!(b.counts.is_empty(), "no count left behind");
    }

    /// Soak finding: node addresses, Group Ids and CP IP Addresses were
    /// interned for good, so months of churn kept every one ever seen and,
    /// past 65,536 of a kind, dropped the FQ-CSIDs of new nodes (Session
    /// Set Deletion then missed their sessions). Now the book holds what
    /// live sessions carry.
    #[test]
    fn churn_leaves_nothing_interned_and_never_runs_out() {
        let mut b = CsidBook::default();
        for i in 0..70_000u32 {
            let seid = u64::from(i);
            let a = i.to_be_bytes();
            b.establish(seid, &[fq([10, a[1], a[2], a[3]], &[1], Some(1))]);
            b.establish_tags(
                seid,
                Some(format!("group-{i}").as_bytes()),
                Some(&cp([172, a[1], a[2], a[3]])),
            );
            assert_eq!(
                b.matching(&[fq([10, a[1], a[2], a[3]], &[1], None)]),
                vec![seid]
            );
            b.remove(seid);
        }
        assert_eq!(b.dropped, 0, "nothing dropped for want of room");
        assert_eq!(b.occupancy(), (0, 0, 0, 0), "nothing left behind");
    }

    /// A freed index is reused without confusing the sessions that hold
    /// others, and a node whose last pair is taken apart and put back in
    /// one modification keeps its index.
    #[test]
    fn reused_indices_keep_sessions_apart() {
        let mut b = CsidBook::default();
        b.establish(1, &[fq([10, 0, 0, 1], &[1], Some(1))]);
        b.establish(2, &[fq([10, 0, 0, 2], &[2], Some(1))]);
        b.remove(2);
        b.establish(3, &[fq([10, 0, 0, 3], &[3], Some(1))]);
        assert_eq!(b.matching(&[fq([10, 0, 0, 1], &[1], None)]), vec![1]);
        assert_eq!(b.matching(&[fq([10, 0, 0, 3], &[3], None)]), vec![3]);
        assert!(b.matching(&[fq([10, 0, 0, 2], &[2], None)]).is_empty());
        assert_eq!(b.of(1), vec![fq([10, 0, 0, 1], &[1], Some(1))]);
        // Session 1 gains another node type's FQ-CSID: its own pair is
        // counted out and back in around a new node's interning.
        b.update(1, &[fq([10, 0, 0, 4], &[4], Some(2))]);
        assert_eq!(
            b.of(1),
            vec![
                fq([10, 0, 0, 1], &[1], Some(1)),
                fq([10, 0, 0, 4], &[4], Some(2))
            ]
        );
        assert_eq!(b.nodes.len(), 3);
        // Tags: the same group sent again keeps its index; replaced ones go.
        b.establish_tags(1, Some(b"g"), Some(&cp([10, 9, 9, 9])));
        b.update_tags(1, Some(b"g"), None);
        assert_eq!(b.tags_of(1), (Some(&b"g"[..]), Some(cp([10, 9, 9, 9]))));
        b.update_tags(1, Some(b"h"), Some(&cp([10, 9, 9, 8])));
        assert_eq!((b.groups.len(), b.cp_ips.len()), (1, 1));
        assert!(b.matching_groups(&[b"g"]).is_empty());
        assert_eq!(b.matching_groups(&[b"h"]), vec![1]);
        b.remove(1);
        b.remove(3);
        assert_eq!(b.occupancy(), (0, 0, 0, 0));
    }

    #[test]
    fn a_session_entry_stays_small() {
        // Map entry: key + inline pairs (three fit without a heap block).
        assert_eq!(std::mem::size_of::<(u64, SmallVec<[Pair; 3]>)>(), 40);
        let mut b = CsidBook::default();
        b.establish(
            1,
            &[
                fq([10, 0, 0, 1], &[1], Some(1)),
                fq([10, 0, 0, 2], &[2], Some(0)),
                fq([10, 0, 0, 3], &[3], Some(2)),
            ],
        );
        assert!(!b.sessions[&1].spilled());
    }
}
