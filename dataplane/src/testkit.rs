//! Builders for frames, sessions and a ready-made interface setup, shared by
//! the unit and integration tests, the fuzz target and the pipeline
//! benchmark. Not used on the packet path.

use crate::control::{Batch, Control, DataplaneConfig, WorkerPort};
use crate::iface::{IfaceConfig, NetConfig};
use crate::rules::{
    ApplyAction, DestinationInterface, Far, ForwardingParameters, Fteid, Gate, OuterHeaderCreation,
    OuterHeaderRemoval, Pdi, Pdr, Qer, Session, SourceInterface, UeIp, Urr,
};
use crate::wire::ethernet::{self, MacAddr, ethertype};
use crate::wire::{gtpu, ipv4, ipv6, udp};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The UPF's N3 MAC.
pub const N3_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0x03, 0x01]);
/// The UPF's N6 MAC.
pub const N6_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0x06, 0x01]);
/// The UPF's N9 MAC.
pub const N9_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0x09, 0x01]);
/// The gNB's MAC.
pub const GNB_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0x03, 0x02]);
/// The N6 gateway's MAC.
pub const GW_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0x06, 0xfe]);
/// The peer UPF's MAC on N9.
pub const PEER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0x09, 0x02]);
/// The UPF's N3 address.
pub const N3_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);
/// The gNB's address.
pub const GNB_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 2);
/// The UPF's N6 address.
pub const N6_IP: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 1);
/// The N6 gateway.
pub const GW_IP: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 254);
/// The UPF's N9 address.
pub const N9_IP: Ipv4Addr = Ipv4Addr::new(172, 16, 9, 1);
/// The peer UPF's N9 address.
pub const PEER_IP: Ipv4Addr = Ipv4Addr::new(172, 16, 9, 2);
/// A host on the data network.
pub const DN_IP: Ipv4Addr = Ipv4Addr::new(8, 8, 8, 8);
/// TSC rate used by tests (1 GHz: one tick per nanosecond).
pub const TSC_HZ: u64 = 1_000_000_000;

/// The `n`-th UE address (10.45.0.0/16 and beyond).
#[must_use]
pub fn ue_ip(n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 45, 0, 2)) + n)
}

/// N3, N6 and N9 with static neighbours for the gNB, the gateway and the peer.
#[must_use]
pub fn net(static_neighbors: bool) -> NetConfig {
    let mut n3 = IfaceConfig::v4(N3_MAC, N3_IP, 24);
    let mut n6 = IfaceConfig::v4(N6_MAC, N6_IP, 24);
    n6.gateway4 = Some(GW_IP);
    let mut n9 = IfaceConfig::v4(N9_MAC, N9_IP, 24);
    if static_neighbors {
        n3.neighbors.push((GNB_IP.into(), GNB_MAC));
        n6.neighbors.push((GW_IP.into(), GW_MAC));
        n9.neighbors.push((PEER_IP.into(), PEER_MAC));
    }
    NetConfig {
        ifaces: [Some(n3), Some(n6), Some(n9)],
        error_indication_pps: 100,
        arp_requests_per_sec: 10,
        n4: None,
    }
}

/// Shared state for `workers` workers on [`net`].
#[must_use]
pub fn dataplane(workers: usize, static_neighbors: bool) -> (Control, Vec<WorkerPort>) {
    let mut cfg = DataplaneConfig::new(workers, TSC_HZ);
    cfg.net = net(static_neighbors);
    Control::new(cfg)
}

/// What [`session`] builds.
#[derive(Debug, Clone, Copy)]
pub struct SessionSpec {
    /// SEID.
    pub id: u64,
    /// UE address.
    pub ue: Ipv4Addr,
    /// Uplink (local) TEID.
    pub ul_teid: u32,
    /// Downlink (gNB) TEID.
    pub dl_teid: u32,
    /// QFI.
    pub qfi: u8,
    /// Uplink MBR in bit/s.
    pub mbr_ul: Option<u64>,
    /// Downlink MBR in bit/s.
    pub mbr_dl: Option<u64>,
}

impl SessionSpec {
    /// Session `n`: SEID n+1, UE [`ue_ip`]`(n)`, TEIDs 0x1000+n / 0x20000+n, QFI 9.
    #[must_use]
    pub fn nth(n: u32) -> Self {
        Self {
            id: u64::from(n) + 1,
            ue: ue_ip(n),
            ul_teid: 0x1000 + n,
            dl_teid: 0x20000 + n,
            qfi: 9,
            mbr_ul: None,
            mbr_dl: None,
        }
    }
}

/// The config short form as rules: UL PDR on the F-TEID with the UE address
/// (anti-spoofing), DL PDR on the UE address, a FAR each way, one QER (QFI,
/// optional MBRs), one URR on both PDRs.
#[must_use]
pub fn session(s: &SessionSpec) -> Session {
    Session {
        id: s.id,
        pdrs: vec![
            Pdr {
                id: 1,
                precedence: 100,
                pdi: Pdi {
                    source_interface: SourceInterface::Access,
                    local_fteid: Some(Fteid {
                        teid: s.ul_teid,
                        ipv4: Some(N3_IP),
                        ipv6: None,
                    }),
                    ue_ip: Some(UeIp {
                        ipv4: Some(s.ue),
                        ipv6: None,
                    }),
                    sdf_filters: vec![],
                    qfi: None,
                },
                outer_header_removal: Some(OuterHeaderRemoval::GtpuUdpIpv4),
                far_id: 1,
                qer_ids: vec![1],
                urr_ids: vec![1],
            },
            Pdr {
                id: 2,
                precedence: 100,
                pdi: Pdi {
                    source_interface: SourceInterface::Core,
                    local_fteid: None,
                    ue_ip: Some(UeIp {
                        ipv4: Some(s.ue),
                        ipv6: None,
                    }),
                    sdf_filters: vec![],
                    qfi: None,
                },
                outer_header_removal: None,
                far_id: 2,
                qer_ids: vec![1],
                urr_ids: vec![1],
            },
        ],
        fars: vec![
            Far {
                id: 1,
                apply_action: ApplyAction {
                    forw: true,
                    ..ApplyAction::default()
                },
                forwarding: Some(ForwardingParameters {
                    destination: DestinationInterface::Core,
                    outer_header_creation: None,
                    transport_level_marking: None,
                }),
            },
            Far {
                id: 2,
                apply_action: ApplyAction {
                    forw: true,
                    ..ApplyAction::default()
                },
                forwarding: Some(ForwardingParameters {
                    destination: DestinationInterface::Access,
                    outer_header_creation: Some(OuterHeaderCreation {
                        teid: s.dl_teid,
                        peer: GNB_IP.into(),
                    }),
                    transport_level_marking: None,
                }),
            },
        ],
        qers: vec![Qer {
            id: 1,
            gate_ul: Gate::Open,
            gate_dl: Gate::Open,
            mbr_ul_bps: s.mbr_ul,
            mbr_dl_bps: s.mbr_dl,
            qfi: Some(s.qfi),
            ..Qer::default()
        }],
        urrs: vec![Urr {
            id: 1,
            ..Urr::default()
        }],
    }
}

/// Sessions of the shapes the fast paths treat differently, for the tests
/// that compare them with the general path: `first` two QERs (the second
/// tier), `first + 1` uplink re-encapsulated toward the N9 peer and DSCP on
/// the downlink, `first + 2` a QER without QFI (no PDU Session Container
/// on the downlink) and a tight uplink MBR, `first + 3` two URRs, `first + 4`
/// a closed downlink gate.
#[must_use]
pub fn variant_sessions(first: u32) -> Vec<Session> {
    let two_qers = {
        let mut s = session(&SessionSpec::nth(first));
        s.qers.push(Qer {
            id: 2,
            gate_ul: Gate::Open,
            gate_dl: Gate::Open,
            mbr_ul_bps: Some(2_000_000),
            mbr_dl_bps: Some(3_000_000),
            qfi: Some(5),
            ..Qer::default()
        });
        for p in &mut s.pdrs {
            p.qer_ids.push(2);
        }
        s
    };
    let n9 = {
        let mut s = session(&SessionSpec::nth(first + 1));
        s.fars[0].forwarding = Some(ForwardingParameters {
            destination: DestinationInterface::Core,
            outer_header_creation: Some(OuterHeaderCreation {
                teid: 0x00ab_cd00 + first,
                peer: PEER_IP.into(),
            }),
            transport_level_marking: Some(10),
        });
        if let Some(f) = &mut s.fars[1].forwarding {
            f.transport_level_marking = Some(46);
        }
        s
    };
    let no_qfi = {
        let mut s = session(&SessionSpec {
            mbr_ul: Some(1_000_000),
            ..SessionSpec::nth(first + 2)
        });
        s.qers[0].qfi = None;
        s
    };
    let two_urrs = {
        let mut s = session(&SessionSpec::nth(first + 3));
        s.urrs.push(Urr {
            id: 2,
            ..Urr::default()
        });
        for p in &mut s.pdrs {
            p.urr_ids.push(2);
        }
        s
    };
    let closed = {
        let mut s = session(&SessionSpec::nth(first + 4));
        s.qers[0].gate_dl = Gate::Closed;
        s
    };
    vec![two_qers, n9, no_qfi, two_urrs, closed]
}

/// Installs sessions `0..n` built by [`SessionSpec::nth`], in batches.
pub fn install(ctl: &mut Control, n: u32) {
    let mut i = 0;
    while i < n {
        let end = (i + 100_000).min(n);
        let upserts = (i..end).map(|k| session(&SessionSpec::nth(k))).collect();
        if let Err(e) = ctl.publish(Batch {
            upserts,
            removals: vec![],
        }) {
            log_error(&e);
        }
        i = end;
    }
}

fn log_error(e: &dyn std::error::Error) {
    eprintln!("testkit: {e}");
}

/// An IPv4/UDP packet with `payload_len` bytes of payload (a counting pattern).
#[must_use]
pub fn udp4(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, payload_len: usize) -> Vec<u8> {
    let mut v = vec![0u8; 28 + payload_len];
    let ul = u16::try_from(payload_len + 8).unwrap_or(u16::MAX);
    let _ = ipv4::Repr {
        src,
        dst,
        protocol: 17,
        ttl: 64,
        tos: 0,
        ident: 1,
        dont_frag: false,
        payload_len: ul,
    }
    .emit(&mut v);
    let _ = udp::Repr {
        src_port: sport,
        dst_port: dport,
        payload_len: ul - 8,
    }
    .emit(&mut v[20..]);
    for (i, b) in v[28..].iter_mut().enumerate() {
        *b = i as u8;
    }
    if let Ok(mut u) = udp::Packet::new_checked(&mut v[20..]) {
        u.fill_checksum(src.into(), dst.into());
    }
    v
}

/// An IPv6/UDP packet.
#[must_use]
pub fn udp6(src: Ipv6Addr, dst: Ipv6Addr, sport: u16, dport: u16, payload_len: usize) -> Vec<u8> {
    let mut v = vec![0u8; 48 + payload_len];
    let ul = u16::try_from(payload_len + 8).unwrap_or(u16::MAX);
    let _ = ipv6::Repr {
        src,
        dst,
        next_header: 17,
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0,
        payload_len: ul,
    }
    .emit(&mut v);
    let _ = udp::Repr {
        src_port: sport,
        dst_port: dport,
        payload_len: ul - 8,
    }
    .emit(&mut v[40..]);
    if let Ok(mut u) = udp::Packet::new_checked(&mut v[40..]) {
        u.fill_checksum(src.into(), dst.into());
    }
    v
}

/// An Ethernet frame from `src` to `dst` carrying `payload`.
#[must_use]
pub fn frame(dst: MacAddr, src: MacAddr, et: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0u8; 14 + payload.len()];
    let _ = ethernet::Repr {
        dst,
        src,
        vlan: None,
        ethertype: et,
    }
    .emit(&mut v);
    v[14..].copy_from_slice(payload);
    v
}

/// A GTP-U packet (IPv4/UDP/GTP-U) from `src` to `dst` with header `gh`
/// (its payload length is set from `payload`).
#[must_use]
pub fn gtpu4(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, gh: gtpu::Repr, payload: &[u8]) -> Vec<u8> {
    let gh = gtpu::Repr {
        payload_len: u16::try_from(payload.len()).unwrap_or(0),
        ..gh
    };
    let ghl = gh.header_len();
    let ul = u16::try_from(8 + ghl + payload.len()).unwrap_or(u16::MAX);
    let mut v = vec![0u8; 20 + usize::from(ul)];
    let _ = ipv4::Repr {
        src,
        dst,
        protocol: 17,
        ttl: 64,
        tos: 0,
        ident: 0,
        dont_frag: true,
        payload_len: ul,
    }
    .emit(&mut v);
    let _ = udp::Repr {
        src_port: sport,
        dst_port: gtpu::PORT,
        payload_len: ul - 8,
    }
    .emit(&mut v[20..]);
    let _ = gh.emit(&mut v[28..]);
    v[28 + ghl..].copy_from_slice(payload);
    v
}

/// An uplink G-PDU frame gNB → UPF N3 with a UL PDU Session Container.
#[must_use]
pub fn ul_frame(teid: u32, qfi: u8, inner: &[u8]) -> Vec<u8> {
    let psc = gtpu::PduSessionContainer {
        pdu_type: gtpu::PduType::Ul,
        qfi,
        rqi: false,
        ppi: None,
    };
    let gh = gtpu::Repr {
        psc: Some(psc),
        ..gtpu::Repr::gpdu(teid, 0)
    };
    frame(
        N3_MAC,
        GNB_MAC,
        ethertype::IPV4,
        &gtpu4(GNB_IP, N3_IP, 40000, gh, inner),
    )
}

/// A downlink frame gateway → UPF N6.
#[must_use]
pub fn dl_frame(inner: &[u8]) -> Vec<u8> {
    let et = if inner.first().is_some_and(|b| b >> 4 == 6) {
        ethertype::IPV6
    } else {
        ethertype::IPV4
    };
    frame(N6_MAC, GW_MAC, et, inner)
}

/// The address `a` as an [`IpAddr`].
#[must_use]
pub fn ip(a: Ipv4Addr) -> IpAddr {
    a.into()
}

/// The fuzz entry shared by `fuzz/fuzz_targets/pipeline.rs` and the corpus
/// replay test: the first byte picks the interface, the rest is a frame.
/// The frame goes through two data planes with the same sessions, one with
/// the fast path off; both must send the same bytes and count the same.
pub fn fuzz_pipeline(data: &[u8]) {
    use crate::iface::Iface;
    use crate::worker::{MemIo, Worker};
    use std::cell::RefCell;
    struct Planes {
        ctl: [Control; 2],
        w: [Worker<MemIo>; 2],
        now: u64,
    }
    fn plane(fast: bool) -> (Control, Worker<MemIo>) {
        let (mut ctl, mut ports) = dataplane(1, true);
        install(&mut ctl, 4);
        let mut buff = session(&SessionSpec {
            mbr_ul: Some(1_000_000),
            mbr_dl: Some(2_000_000),
            ..SessionSpec::nth(4)
        });
        buff.fars[1].apply_action = ApplyAction {
            buff: true,
            nocp: true,
            ..ApplyAction::default()
        };
        buff.pdrs[0].pdi.sdf_filters = vec![crate::rules::SdfFilter {
            protocol: Some(17),
            from: crate::rules::FilterAddr::Any,
            from_ports: vec![crate::rules::PortRange { lo: 53, hi: 53 }],
            to: crate::rules::FilterAddr::Assigned,
            to_ports: vec![],
        }];
        let mut upserts = vec![buff];
        upserts.extend(variant_sessions(5));
        if let Err(e) = ctl.publish(Batch {
            upserts,
            removals: vec![],
        }) {
            log_error(&e);
        }
        let port = ports.remove(0);
        let mut w = Worker::new(
            port,
            MemIo {
                pool: Some(1_000_000),
                ..MemIo::default()
            },
        );
        w.set_fast_path(fast);
        (ctl, w)
    }
    thread_local! {
        static PLANES: RefCell<Option<Planes>> = const { RefCell::new(None) };
    }
    let Some((&sel, frame)) = data.split_first() else {
        return;
    };
    let iface = Iface::ALL[usize::from(sel) % 3];
    PLANES.with(|p| {
        let mut p = p.borrow_mut();
        let planes = p.get_or_insert_with(|| {
            let (c0, w0) = plane(true);
            let (c1, w1) = plane(false);
            Planes {
                ctl: [c0, c1],
                w: [w0, w1],
                now: 1_000_000_000,
            }
        });
        planes.now += u64::from(sel) * 1000;
        let now = planes.now;
        let mut sent: [Vec<Vec<Vec<u8>>>; 2] = [Vec::new(), Vec::new()];
        for (i, w) in planes.w.iter_mut().enumerate() {
            w.io_mut().push_rx(iface, frame);
            w.poll(now);
            sent[i] = Iface::ALL.iter().map(|&o| w.io_mut().take_tx(o)).collect();
        }
        assert_eq!(
            sent[0], sent[1],
            "fast and general paths sent different frames"
        );
        assert_eq!(
            planes.ctl[0].counters(),
            planes.ctl[1].counters(),
            "fast and general paths counted differently"
        );
        for c in &mut planes.ctl {
            c.drain_events();
            c.reclaim();
        }
    });
}
