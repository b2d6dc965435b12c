//! Node-level figures: a Session Establishment / Modification / Deletion
//! Request through `Node::handle` (decode, validation, CHOOSE, rule set,
//! encode, response cache) with a user plane that does nothing, and the
//! node's heap per session.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use pfcp::codec::SmallVec;
use pfcp::codec::ies::{CsidNode, FqCsid, NodeIdBuf, SourceInterface};
use pfcp::codec::message::{Message, Pfcp};
use pfcp::sample::{self, SessionParams};
use pfcp::{Config, GtpuEndpoint, Node, Session, UePool, UpError, UsageSample, UserPlane};

use crate::Row;

struct NullUp;

impl UserPlane for NullUp {
    fn install(&mut self, s: &Session, _previous: Option<&Session>) -> Result<(), UpError> {
        black_box(s);
        Ok(())
    }
    fn remove(&mut self, _seid: u64) {}
    fn usage(&mut self, _seid: u64, _urr_ids: &[u32], _out: &mut Vec<UsageSample>) {}
    fn send_end_marker(&mut self, _peer: IpAddr, _teid: u32) {}
}

const SMF: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

fn node() -> (Node, SocketAddr) {
    let mut cfg = Config::new(NodeIdBuf::Ipv4(Ipv4Addr::new(10, 0, 0, 2)));
    cfg.gtpu = vec![GtpuEndpoint {
        interface: SourceInterface::ACCESS,
        ipv4: Some(Ipv4Addr::new(192, 168, 1, 1)),
        ipv6: None,
        network_instance: None,
    }];
    cfg.ue_pools = vec![UePool {
        prefix: "10.0.0.0".parse().expect("literal"),
        prefix_len: 8,
        dnn: None,
        network_instance: None,
        ue_prefix_len: 64,
    }];
    let now = Instant::now();
    let mut n = Node::new(cfg, now, SystemTime::now()).expect("config");
    let smf = SocketAddr::new(IpAddr::V4(SMF), 8805);
    let mut b = Vec::new();
    sample::association_setup_request(1, SMF, 1)
        .encode(&mut b)
        .expect("encodes");
    n.handle(now, smf, &b, &mut NullUp);
    while n.poll_transmit().is_some() {}
    (n, smf)
}

fn encoded(m: &Pfcp<'_>) -> Vec<u8> {
    let mut b = Vec::new();
    m.encode(&mut b).expect("encodes");
    b
}

/// Messages for `n` sessions: establishment, path switch, deletion.
fn workload(n: usize, typical: bool) -> Vec<[Vec<u8>; 3]> {
    workload_csids(n, typical, false)
}

/// The same, the establishments with the FQ-CSIDs of an EPC core that
/// handles partial failure (SGW-C, PGW-C and MME, one CSID each; 256
/// sessions per CSID).
fn workload_csids(n: usize, typical: bool, csids: bool) -> Vec<[Vec<u8>; 3]> {
    (0..n)
        .map(|i| {
            let p = SessionParams {
                cp_seid: i as u64 + 1,
                smf_addr: SMF,
                ue_ip: None,
                ul_teid: None,
                gnb: Some((0x200, SMF)),
            };
            let seq = (3 * i as u32) % 0x00ff_ffff + 10;
            let mut est = if typical {
                sample::establishment_request(seq, &p)
            } else {
                sample::simple_establishment_request(seq, &p)
            };
            if csids && let Message::SessionEstablishmentRequest(r) = &mut est.message {
                let fq = |a: [u8; 4], csid: u16| FqCsid {
                    node: CsidNode::Ipv4(Ipv4Addr::from(a)),
                    csids: SmallVec::from_elem(csid, 1),
                    node_type: None,
                };
                let set = (i / 256) as u16;
                r.fq_csids = vec![
                    fq([10, 0, 0, 11], set),
                    fq([10, 0, 0, 1], set),
                    fq([10, 1, 1, 1], set % 16),
                ];
            }
            // The node hands out SEIDs 1, 2, ... in order.
            let seid = i as u64 + 1;
            [
                encoded(&est),
                encoded(&sample::path_switch_request(
                    seq + 1,
                    seid,
                    0x300,
                    Ipv4Addr::new(10, 0, 1, 9),
                    true,
                )),
                encoded(&sample::deletion_request(seq + 2, seid)),
            ]
        })
        .collect()
}

fn accepted(payload: &[u8]) -> bool {
    match Pfcp::decode(payload).map(|(m, _)| m.message) {
        Ok(Message::SessionEstablishmentResponse(r)) => r.cause.is_success(),
        Ok(Message::SessionModificationResponse(r)) => r.cause.is_success(),
        Ok(Message::SessionDeletionResponse(r)) => r.cause.is_success(),
        _ => false,
    }
}

pub fn rows(quick: bool) -> Vec<Row> {
    let n = if quick { 20_000 } else { 100_000 };
    let mut rows = Vec::new();
    for (typical, name) in [(true, "typical_4pdr"), (false, "simple_2pdr")] {
        let msgs = workload(n, typical);
        let (mut node, smf) = node();
        let now = Instant::now();
        let mut up = NullUp;
        let mut times = [Duration::ZERO; 3];
        for (op, t) in times.iter_mut().enumerate() {
            let start = Instant::now();
            for m in &msgs {
                node.handle(now, smf, &m[op], &mut up);
                while let Some(tx) = node.poll_transmit() {
                    black_box(tx);
                }
            }
            *t = start.elapsed();
            if op == 0 {
                assert_eq!(node.session_count(), n, "all established");
            }
        }
        assert_eq!(node.session_count(), 0, "all deleted");
        // Allocations of one more of each, checked for success.
        let extra = workload(n + 1, typical).pop().expect("one");
        let mut allocs = [0u64; 3];
        for (op, a) in allocs.iter_mut().enumerate() {
            *a = allocation_counter::measure(|| {
                node.handle(now, smf, &extra[op], &mut up);
                let tx = node.poll_transmit().expect("answered");
                assert!(accepted(&tx.payload), "accepted");
            })
            .count_total;
        }
        for (op, label) in ["node_establish", "node_modify", "node_delete"]
            .iter()
            .enumerate()
        {
            rows.push(Row {
                op: label,
                message: name,
                bytes: msgs[0][op].len(),
                ns: times[op].as_nanos() as f64 / n as f64,
                allocs: allocs[op],
            });
        }
    }
    // Heap held per established session (node only, response cache
    // included: it expires after response_cache_ttl); then with FQ-CSIDs
    // (what partial failure handling costs a session).
    for (csids, name) in [(false, "simple_2pdr"), (true, "simple_2pdr_3fqcsid")] {
        let msgs = workload_csids(n, false, csids);
        let (mut node, smf) = node();
        let now = Instant::now();
        let info = allocation_counter::measure(|| {
            for m in &msgs {
                node.handle(now, smf, &m[0], &mut NullUp);
                while node.poll_transmit().is_some() {}
            }
        });
        assert_eq!(node.session_count(), n, "all established");
        assert_eq!(node.sessions_with_csids(), if csids { n } else { 0 });
        rows.push(Row {
            op: "heap_per_session",
            message: name,
            bytes: (info.bytes_current / n as i64).max(0) as usize,
            ns: f64::NAN,
            allocs: (info.count_current / n as i64).max(0) as u64,
        });
        black_box(&node);
    }
    rows
}

/// `--loop node_<op> typical|simple N`: establish N sessions (then modify,
/// then delete them, for those ops) and nothing else, for callgrind.
pub fn run_loop(op: &str, profile: &str, n: usize) {
    let msgs = workload(n, profile == "typical");
    let (mut node, smf) = node();
    let now = Instant::now();
    let last = match op {
        "node_establish" => 0,
        "node_modify" => 1,
        _ => 2,
    };
    for m in &msgs {
        node.handle(now, smf, &m[0], &mut NullUp);
        while node.poll_transmit().is_some() {}
    }
    for op in 1..=last {
        for m in &msgs {
            node.handle(now, smf, &m[op], &mut NullUp);
            while node.poll_transmit().is_some() {}
        }
    }
    black_box(&node);
}
