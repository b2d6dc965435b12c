//! A deterministic test bench for the node: a simulated clock, a fake user
//! plane that records what it is asked, and a test SMF built on the codec
//! (requests in, decoded answers out). Everything runs in one thread.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use pfcp::codec::ies::{NodeIdBuf, SourceInterface};
use pfcp::codec::message::{Message, Pfcp};
use pfcp::{
    Config, Event, GtpuEndpoint, Node, Session, Transmit, UePool, UpError, UsageSample, UserPlane,
};

pub const UPF: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
pub const SMF: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const N3: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);
pub const GNB: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 2);
pub const SMF_RTS: u32 = 3_900_000_000;
/// The wall-clock time of the bench's start.
pub fn wall0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

/// Records every call; counters to hand out are set by the test.
#[derive(Default)]
pub struct FakeUp {
    pub installed: HashMap<u64, Session>,
    pub installs: usize,
    pub removed: Vec<u64>,
    pub end_markers: Vec<(IpAddr, u32)>,
    pub dropped_buffers: Vec<u64>,
    /// Usage to return at the next `usage` call, per (seid, urr).
    pub pending_usage: HashMap<(u64, u32), (u64, u64)>,
    pub usage_calls: usize,
    pub fail_next_install: Option<UpError>,
    /// Sessions whose removed URRs are still being counted (the user
    /// plane's workers have not moved on yet).
    pub unsettled: std::collections::HashSet<u64>,
    /// Wall-clock time of each session's last packet (set by the test).
    pub last_packet: HashMap<u64, SystemTime>,
    /// The PFD table as last passed by `set_pfds`, and how many times.
    pub pfds: pfcp::pfd::PfdTable,
    pub pfd_updates: usize,
}

impl UserPlane for FakeUp {
    fn install(&mut self, session: &Session, previous: Option<&Session>) -> Result<(), UpError> {
        if let Some(e) = self.fail_next_install.take() {
            return Err(e);
        }
        // The CP F-SEID is not a rule: a Session Set Modification changes
        // it in the node only (see `UserPlane::install`).
        let rules = |s: Option<&Session>| {
            s.map(|s| Session {
                cp_f_seid: pfcp::codec::ies::FSeid {
                    seid: 0,
                    ipv4: None,
                    ipv6: None,
                },
                ..s.clone()
            })
        };
        assert_eq!(
            rules(previous),
            rules(self.installed.get(&session.seid)),
            "previous rule set is what was installed"
        );
        self.installs += 1;
        self.installed.insert(session.seid, session.clone());
        Ok(())
    }
    fn remove(&mut self, seid: u64) {
        self.installed.remove(&seid);
        self.removed.push(seid);
    }
    fn usage(&mut self, seid: u64, urr_ids: &[u32], out: &mut Vec<UsageSample>) {
        self.usage_calls += 1;
        for id in urr_ids {
            if let Some((ul, dl)) = self.pending_usage.remove(&(seid, *id)) {
                out.push(UsageSample {
                    urr_id: *id,
                    ul_bytes: ul,
                    dl_bytes: dl,
                    ul_packets: ul / 100,
                    dl_packets: dl / 100,
                    ..UsageSample::default()
                });
            }
        }
    }
    fn usage_settled(&mut self, seid: u64) -> bool {
        !self.unsettled.contains(&seid)
    }
    fn last_packet(&mut self, seid: u64) -> Option<SystemTime> {
        self.last_packet.get(&seid).copied()
    }
    fn send_end_marker(&mut self, peer: IpAddr, teid: u32) {
        self.end_markers.push((peer, teid));
    }
    fn drop_buffered(&mut self, seid: u64) {
        self.dropped_buffers.push(seid);
    }
    fn set_pfds(&mut self, pfds: &pfcp::pfd::PfdTable) {
        self.pfds = pfds.clone();
        self.pfd_updates += 1;
    }
}

pub fn config() -> Config {
    let mut c = Config::new(NodeIdBuf::Ipv4(UPF));
    c.recovery_time_stamp = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    c.heartbeat_interval = Duration::from_secs(10);
    c.t1 = Duration::from_secs(2);
    c.n1 = 3;
    c.gtpu = vec![GtpuEndpoint {
        interface: SourceInterface::ACCESS,
        ipv4: Some(N3),
        ipv6: None,
        network_instance: None,
    }];
    c.ue_pools = vec![UePool {
        prefix: "10.45.0.0".parse().unwrap(),
        prefix_len: 16,
        dnn: None,
        network_instance: None,
        ue_prefix_len: 64,
    }];
    c.teid_first = 0x1000;
    c.teid_last = 0x1fff;
    c
}

pub struct Bench {
    pub node: Node,
    pub up: FakeUp,
    pub t0: Instant,
    pub now: Instant,
    pub smf: SocketAddr,
    pub seq: u32,
    /// Datagrams the node sent that the test has not looked at.
    pub sent: Vec<Transmit>,
    /// Answer the node's Heartbeat Requests (a live SMF) during `advance`.
    pub auto_heartbeat: bool,
}

impl Bench {
    pub fn new() -> Self {
        Self::with(config())
    }
    pub fn with(cfg: Config) -> Self {
        let t0 = Instant::now();
        let node = Node::new(cfg, t0, wall0()).unwrap();
        Self {
            node,
            up: FakeUp::default(),
            t0,
            now: t0,
            smf: SocketAddr::new(IpAddr::V4(SMF), 8805),
            seq: 100,
            sent: Vec::new(),
            auto_heartbeat: true,
        }
    }

    /// The user plane saw a packet of `seid` now.
    pub fn packet(&mut self, seid: u64) {
        let wall = wall0() + (self.now - self.t0);
        self.up.last_packet.insert(seid, wall);
    }

    pub fn next_seq(&mut self) -> u32 {
        self.seq += 1;
        self.seq
    }

    /// Send raw bytes from `from`; return what the node sends right away.
    pub fn raw_from(&mut self, from: SocketAddr, bytes: &[u8]) -> Vec<Transmit> {
        self.node.handle(self.now, from, bytes, &mut self.up);
        self.drain()
    }

    pub fn drain(&mut self) -> Vec<Transmit> {
        std::iter::from_fn(|| self.node.poll_transmit()).collect()
    }

    /// Send a message from the SMF; return the decoded answers.
    pub fn send(&mut self, m: &Pfcp<'_>) -> Vec<Pfcp<'static>> {
        let mut b = Vec::new();
        m.encode(&mut b).unwrap();
        let smf = self.smf;
        self.raw_from(smf, &b)
            .iter()
            .map(|t| decode(&t.payload))
            .collect()
    }

    /// Send and expect exactly one answer, to the SMF's address and port.
    pub fn request(&mut self, m: &Pfcp<'_>) -> Pfcp<'static> {
        let mut b = Vec::new();
        m.encode(&mut b).unwrap();
        let smf = self.smf;
        let out = self.raw_from(smf, &b);
        assert_eq!(out.len(), 1, "one answer to {:?}", m.message.msg_type());
        assert_eq!(
            out[0].dst, smf,
            "answer goes to the source address and port"
        );
        let r = decode(&out[0].payload);
        assert_eq!(r.seq, m.seq, "answer carries the request's sequence number");
        r
    }

    pub fn associate(&mut self) {
        let seq = self.next_seq();
        let r = self.request(&pfcp::sample::association_setup_request(seq, SMF, SMF_RTS));
        let Message::AssociationSetupResponse(a) = r.message else {
            panic!("{r:?}")
        };
        assert_eq!(a.cause, pfcp::codec::ies::Cause::REQUEST_ACCEPTED);
    }

    /// Advance the simulated clock by `d`, firing every timer on the way;
    /// return what the node sent (but Heartbeat Requests, which the SMF
    /// answers itself while `auto_heartbeat` is on).
    pub fn advance(&mut self, d: Duration) -> Vec<Transmit> {
        let end = self.now + d;
        let mut out = Vec::new();
        while let Some(t) = self.node.poll_timeout() {
            if t > end {
                break;
            }
            self.now = self.now.max(t);
            self.node.handle_timeout(self.now, &mut self.up);
            let sent = self.drain();
            out.extend(self.heartbeats(sent));
        }
        self.now = end;
        self.node.handle_timeout(self.now, &mut self.up);
        let sent = self.drain();
        out.extend(self.heartbeats(sent));
        out
    }

    fn heartbeats(&mut self, sent: Vec<Transmit>) -> Vec<Transmit> {
        if !self.auto_heartbeat {
            return sent;
        }
        let mut rest = Vec::new();
        for t in sent {
            let m = decode(&t.payload);
            if matches!(m.message, Message::HeartbeatRequest(_)) {
                let answer = Pfcp::node(
                    m.seq,
                    pfcp::codec::message::HeartbeatResponse {
                        recovery_time_stamp: SMF_RTS,
                    },
                );
                let mut b = Vec::new();
                answer.encode(&mut b).unwrap();
                self.node.handle(self.now, t.dst, &b, &mut self.up);
                rest.extend(self.drain());
            } else {
                rest.push(t);
            }
        }
        rest
    }

    pub fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.node.poll_event()).collect()
    }
}

/// Decode a datagram the node sent (leaked: answers outlive the buffer).
pub fn decode(b: &[u8]) -> Pfcp<'static> {
    let b: &'static [u8] = Box::leak(b.to_vec().into_boxed_slice());
    let (m, rest) =
        Pfcp::decode(b).unwrap_or_else(|e| panic!("node sent undecodable {b:02x?}: {e}"));
    assert!(rest.is_empty());
    m
}
