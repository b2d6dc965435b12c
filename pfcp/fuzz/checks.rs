// Checks shared by the fuzz targets (fuzz_targets/*.rs) and the stable
// replay of the committed corpus (tests/fuzz_corpus.rs), pulled in with
// `include!` so that the library carries no test code.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use pfcp::codec::ies::{NodeIdBuf, SourceInterface};
use pfcp::codec::message::{Pfcp, decode_datagram};

/// Any bytes decode to Ok or Err without panicking; what decodes
/// re-encodes, and one more decode/encode round changes nothing.
pub fn check_decode(data: &[u8]) {
    for m in decode_datagram(data) {
        let Ok(m) = m else { break };
        let mut out = Vec::new();
        if m.encode(&mut out).is_err() {
            continue;
        }
        let (again, rest) = Pfcp::decode(&out).expect("what we encode decodes");
        assert!(rest.is_empty());
        // Messages are invariant in their lifetime: compare the encodings
        // (a fixpoint after one decode/encode round).
        let mut out2 = Vec::new();
        again.encode(&mut out2).expect("re-encodes");
        assert_eq!(out2, out, "encode(decode(encode(decode(x)))) == encode(decode(x))");
    }
}

/// The rules of a session, without its CP F-SEID: not a rule for the user
/// plane (a Session Set Modification changes it in the node only; see
/// `pfcp::UserPlane::install`).
pub fn rules_of(s: Option<&pfcp::Session>) -> Option<pfcp::Session> {
    s.map(|s| pfcp::Session {
        cp_f_seid: pfcp::codec::ies::FSeid { seid: 0, ipv4: None, ipv6: None },
        ..s.clone()
    })
}

/// A user plane that accepts everything and remembers what is installed.
#[derive(Default)]
pub struct RecordingUp {
    pub sessions: std::collections::HashMap<u64, pfcp::Session>,
}

impl pfcp::UserPlane for RecordingUp {
    fn install(&mut self, s: &pfcp::Session, previous: Option<&pfcp::Session>) -> Result<(), pfcp::UpError> {
        assert_eq!(rules_of(previous), rules_of(self.sessions.get(&s.seid)), "previous is what was installed");
        self.sessions.insert(s.seid, s.clone());
        Ok(())
    }
    fn remove(&mut self, seid: u64) {
        self.sessions.remove(&seid);
    }
    fn usage(&mut self, _seid: u64, urr_ids: &[u32], out: &mut Vec<pfcp::UsageSample>) {
        for id in urr_ids {
            out.push(pfcp::UsageSample { urr_id: *id, ul_bytes: 1 << 20, dl_bytes: 1 << 21, ..Default::default() });
        }
    }
    fn send_end_marker(&mut self, _peer: IpAddr, _teid: u32) {}
}

/// Feed the bytes to a node as datagrams from an associated SMF: the first
/// octet of each chunk picks the source and how far time moves. The node
/// must not panic, and its sessions must be those the user plane holds.
pub fn check_node(data: &[u8]) {
    let smf = Ipv4Addr::new(10, 0, 0, 1);
    let mut cfg = pfcp::Config::new(NodeIdBuf::Ipv4(Ipv4Addr::new(10, 0, 0, 2)));
    cfg.gtpu = vec![pfcp::GtpuEndpoint {
        interface: SourceInterface::ACCESS,
        ipv4: Some(Ipv4Addr::new(192, 168, 1, 1)),
        ipv6: None,
        network_instance: None,
    }];
    cfg.ue_pools = vec![pfcp::UePool {
        prefix: "10.45.0.0".parse().expect("literal"),
        prefix_len: 24,
        dnn: None,
        network_instance: None,
        ue_prefix_len: 64,
    }];
    cfg.teid_first = 1;
    cfg.teid_last = 64;
    let t0 = Instant::now();
    let mut now = t0;
    let mut node = pfcp::Node::new(cfg, t0, SystemTime::UNIX_EPOCH).expect("valid config");
    let mut up = RecordingUp::default();
    let peers = [
        SocketAddr::new(IpAddr::V4(smf), 8805),
        SocketAddr::new(IpAddr::V4(smf), 40000),
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)), 8805),
    ];
    let mut seed = Vec::new();
    pfcp::sample::association_setup_request(1, smf, 7).encode(&mut seed).expect("encodes");
    node.handle(now, peers[0], &seed, &mut up);
    // Chunks: [control, length (2 octets), datagram...]
    let mut rest = data;
    while rest.len() >= 3 {
        let (ctl, len) = (rest[0], usize::from(u16::from_be_bytes([rest[1], rest[2]])));
        let end = (3 + len).min(rest.len());
        let body = &rest[3..end];
        rest = &rest[end..];
        now += Duration::from_millis(u64::from(ctl >> 4) * 700);
        node.handle_timeout(now, &mut up);
        node.handle(now, peers[usize::from(ctl & 3) % peers.len()], body, &mut up);
        if ctl & 4 != 0 {
            // Hooks the control thread calls.
            let seid = u64::from(ctl >> 5) + 1;
            node.downlink_data(now, seid, u16::from(ctl & 0x0f), Some(9));
            node.check_usage(now, seid, &mut up);
        }
        while let Some(t) = node.poll_transmit() {
            assert!(Pfcp::decode(&t.payload).is_ok(), "the node sends only valid PFCP");
        }
        while node.poll_event().is_some() {}
        assert_eq!(node.session_count(), up.sessions.len(), "node and user plane agree");
        for s in node.sessions() {
            assert_eq!(rules_of(Some(s)), rules_of(up.sessions.get(&s.seid)));
        }
    }
}

/// One chunk of a `check_node` input.
pub fn node_chunk(ctl: u8, datagram: &[u8]) -> Vec<u8> {
    let mut v = vec![ctl];
    v.extend_from_slice(&u16::try_from(datagram.len()).expect("small").to_be_bytes());
    v.extend_from_slice(datagram);
    v
}
