//! FQ-CSID bookkeeping for partial failure handling (TS 29.244 §8.2.43,
//! TS 23.007 / TS 23.527 §4.6): the CSIDs each CP gave a session at
//! establishment or modification, so that a Session Set Deletion Request
//! finds the sessions of the sets it names. Part of the PFCP node, not of
//! the packet path.
//!
//! Memory: a session without FQ-CSIDs costs nothing here (no entry). A
//! session with up to three (node, CSID) pairs costs one 40-byte map
//! entry: node addresses are interned (a network has a few dozen CP nodes,
//! not one per session), so a pair is 6 bytes kept inline. The lookup by
//! CSID scans the sessions that have CSIDs: a Session Set Deletion is rare
//! (a CP's partial failure), and an index from CSID to sessions would cost
//! every session a second entry for it.

use smallvec::SmallVec;

use crate::HashMap;
use crate::codec::ies::{CsidNode, FqCsid};

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
    nodes: Vec<CsidNode>,
    node_index: HashMap<CsidNode, u16>,
    sessions: HashMap<u64, SmallVec<[Pair; 3]>>,
    /// FQ-CSIDs not stored because 65,536 node addresses were interned.
    pub(crate) dropped: u64,
}

impl CsidBook {
    fn intern(&mut self, node: CsidNode) -> Option<u16> {
        if let Some(&i) = self.node_index.get(&node) {
            return Some(i);
        }
        let i = u16::try_from(self.nodes.len()).ok()?;
        self.nodes.push(node);
        self.node_index.insert(node, i);
        Some(i)
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
            self.sessions.insert(seid, pairs);
        }
    }

    /// Forget a session (deleted, or removed by the node).
    pub(crate) fn remove(&mut self, seid: u64) {
        if !self.sessions.is_empty() {
            self.sessions.remove(&seid);
        }
    }

    /// The sessions holding any of the CSIDs named in `fq` (each CSID of
    /// an FQ-CSID belongs to that FQ-CSID's node address), in no order.
    pub(crate) fn matching(&self, fq: &[FqCsid]) -> Vec<u64> {
        let wanted: Vec<(u16, u16)> = fq
            .iter()
            .filter_map(|f| Some((*self.node_index.get(&f.node)?, f)))
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
            let Some(&node) = self.nodes.get(usize::from(p.node)) else {
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
