//! Config → dataplane: the validated YAML model (`config::StaticSession`,
//! `config::Interface`) in the dataplane's own terms (`rules::Session`,
//! `iface::NetConfig`). Runs on the control thread at start-up, on reload,
//! and in `upf check` (so that a rule set the dataplane would refuse is a
//! config error with a position, not a failed start).

use std::net::{IpAddr, SocketAddr};

use dataplane::control::QerUpdate;
use dataplane::iface::{IFACE_COUNT, Iface, IfaceConfig, NetConfig};
use dataplane::rules;
use dataplane::wire::ethernet::MacAddr;

use crate::config::sdf::{FilterAction, FilterDirection, FlowAddress};
use crate::config::units::Bitrate;
use crate::config::{
    self, Config, DestinationInterface, FarAction, GateStatus, Interface, InterfaceName,
    Interfaces, OuterHeaderRemoval, SourceInterface, StaticSession,
};

/// Static sessions live in the upper half of the session id space; the PFCP
/// driver allocates UP SEIDs below it, so the two never collide in the one
/// table the dataplane keeps.
pub const STATIC_SESSION_BIT: u64 = 1 << 63;

/// The dataplane session id of static session `id` (the config's `id`).
#[must_use]
pub const fn static_session_id(id: u64) -> rules::SessionId {
    id | STATIC_SESSION_BIT
}

/// A static session that the dataplane cannot express. `path` is relative
/// to the session (`pdrs[0].sdf[1]`), for the config error's key path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct TranslateError {
    pub path: String,
    pub message: String,
}

fn terr(path: impl Into<String>, message: impl Into<String>) -> TranslateError {
    TranslateError {
        path: path.into(),
        message: message.into(),
    }
}

/// The dataplane's [`Iface`] for a config interface name.
#[must_use]
pub const fn iface_of(name: InterfaceName) -> Iface {
    match name {
        InterfaceName::N3 => Iface::N3,
        InterfaceName::N6 => Iface::N6,
        InterfaceName::N9 => Iface::N9,
    }
}

/// The addresses, gateways and static neighbours of `iface` with the
/// port's MAC address `mac`.
#[must_use]
pub fn iface_config(iface: &Interface, mac: [u8; 6]) -> IfaceConfig {
    IfaceConfig {
        mac: MacAddr(mac),
        ipv4: iface.ipv4.map(|n| (n.addr(), n.prefix_len())),
        ipv6: iface.ipv6.map(|n| (n.addr(), n.prefix_len())),
        gateway4: iface.gateway_v4,
        gateway6: iface.gateway_v6,
        vlan: None,
        neighbors: iface
            .neighbors
            .iter()
            .map(|(ip, m)| (*ip, MacAddr(m.0)))
            .collect(),
    }
}

/// The dataplane's interface table: every configured interface with the MAC
/// its port reports (`macs[Iface::index()]`; a missing MAC makes the
/// interface absent, which only happens for an interface not configured).
#[must_use]
pub fn net_config(cfg: &Config, macs: &[Option<[u8; 6]>; IFACE_COUNT]) -> NetConfig {
    let mut ifaces: [Option<IfaceConfig>; IFACE_COUNT] = Default::default();
    for i in cfg.interfaces.iter() {
        let idx = iface_of(i.name).index();
        if let Some(mac) = macs[idx] {
            ifaces[idx] = Some(iface_config(i, mac));
        }
    }
    NetConfig {
        ifaces,
        // The dataplane's defaults (DataplaneConfig::new); not config keys yet.
        error_indication_pps: 100,
        arp_requests_per_sec: 10,
        n4: n4_through_dataplane(cfg).map(|(_, a, _)| a),
    }
}

/// N4 through the DPDK port: when `pfcp.listen`'s address is one of a
/// DPDK interface's own, that interface, `pfcp.listen` and the interface's
/// IP MTU (the kernel does not have the address, so the workers hand N4's
/// datagrams to the control thread). `None`: N4 is a kernel socket.
#[must_use]
pub fn n4_through_dataplane(cfg: &Config) -> Option<(Iface, SocketAddr, u16)> {
    let l = cfg.pfcp.listen?;
    cfg.interfaces
        .iter()
        .find(|i| i.prefixes().any(|n| n.addr() == l.ip()))
        .map(|i| (iface_of(i.name), l, i.mtu))
}

fn filter_addr(a: FlowAddress) -> rules::FilterAddr {
    match a {
        FlowAddress::Any => rules::FilterAddr::Any,
        FlowAddress::Assigned => rules::FilterAddr::Assigned,
        FlowAddress::Net(n) => rules::FilterAddr::Net(rules::IpNet {
            addr: n.addr(),
            prefix: n.prefix_len(),
        }),
    }
}

fn ports(
    p: &[config::sdf::PortRange],
    path: &str,
) -> Result<Vec<rules::PortRange>, TranslateError> {
    if p.len() > rules::MAX_PORT_RANGES {
        return Err(terr(
            path,
            format!(
                "{} port ranges; the data plane takes at most {} per side",
                p.len(),
                rules::MAX_PORT_RANGES
            ),
        ));
    }
    Ok(p.iter()
        .map(|r| rules::PortRange {
            lo: r.first,
            hi: r.last,
        })
        .collect())
}

fn sdf(f: &config::sdf::SdfFilter, path: &str) -> Result<rules::SdfFilter, TranslateError> {
    if f.action != FilterAction::Permit || f.direction != FilterDirection::Out {
        return Err(terr(
            path,
            format!(
                "`{f}`: only `permit out` flow descriptions are supported (TS 29.244 5.2.1A: the SMF writes them for the downlink, the UPF matches them reversed on uplink)"
            ),
        ));
    }
    Ok(rules::SdfFilter {
        protocol: f.protocol,
        from: filter_addr(f.source.address),
        from_ports: ports(&f.source.ports, path)?,
        to: filter_addr(f.destination.address),
        to_ports: ports(&f.destination.ports, path)?,
    })
}

fn ue_ip(ip: IpAddr) -> rules::UeIp {
    match ip {
        IpAddr::V4(a) => rules::UeIp {
            ipv4: Some(a),
            ipv6: None,
        },
        IpAddr::V6(a) => rules::UeIp {
            ipv4: None,
            ipv6: Some(a),
        },
    }
}

/// Translates one validated static session. `ifs` supplies the addresses
/// of local F-TEIDs. The result still goes through
/// [`rules::Session::validate`] (done by [`check_session`] and by
/// `Control::publish`).
///
/// # Errors
/// Rules the data plane cannot express (deny/in flow descriptions, too many
/// port ranges, non-GTP-U outer header removal).
pub fn session(ifs: &Interfaces, s: &StaticSession) -> Result<rules::Session, TranslateError> {
    let mut pdrs = Vec::with_capacity(s.pdrs.len());
    for (i, p) in s.pdrs.iter().enumerate() {
        // Only errors need the path.
        let base = || format!("pdrs[{i}]");
        let source_interface = match p.source {
            SourceInterface::Access => rules::SourceInterface::Access,
            SourceInterface::Core => rules::SourceInterface::Core,
            SourceInterface::SgiLan => rules::SourceInterface::SgiLan,
            SourceInterface::CpFunction => rules::SourceInterface::CpFunction,
        };
        let local_fteid = p.local_fteid.map(|f| {
            let own = ifs.get(f.interface);
            rules::Fteid {
                teid: f.teid,
                ipv4: own.and_then(|i| i.ipv4).map(|n| n.addr()),
                ipv6: own.and_then(|i| i.ipv6).map(|n| n.addr()),
            }
        });
        let sdf_filters = p
            .sdf_filters
            .iter()
            .enumerate()
            .map(|(j, f)| sdf(f, &format!("{}.sdf[{j}]", base())))
            .collect::<Result<Vec<_>, _>>()?;
        let outer_header_removal = match p.outer_header_removal {
            None => None,
            Some(OuterHeaderRemoval::GtpuUdpIpv4) => Some(rules::OuterHeaderRemoval::GtpuUdpIpv4),
            Some(OuterHeaderRemoval::GtpuUdpIpv6) => Some(rules::OuterHeaderRemoval::GtpuUdpIpv6),
            Some(OuterHeaderRemoval::GtpuUdpIp) => Some(rules::OuterHeaderRemoval::GtpuUdpIp),
            Some(other) => {
                return Err(terr(
                    format!("{}.outer_header_removal", base()),
                    format!("{other:?} is not a GTP-U removal"),
                ));
            }
        };
        pdrs.push(rules::Pdr {
            id: p.id,
            precedence: p.precedence,
            pdi: rules::Pdi {
                source_interface,
                local_fteid,
                ue_ip: p.ue_ip.map(ue_ip),
                sdf_filters,
                qfi: p.qfi,
            },
            outer_header_removal,
            far_id: p.far_id,
            qer_ids: p.qer_ids.clone(),
            urr_ids: p.urr_ids.clone(),
        });
    }
    let fars = s
        .fars
        .iter()
        .map(|f| rules::Far {
            id: f.id,
            apply_action: rules::ApplyAction {
                drop: f.action == FarAction::Drop,
                forw: f.action == FarAction::Forward,
                buff: f.action == FarAction::Buffer,
                nocp: f.notify_cp,
                dupl: false,
            },
            forwarding: f.destination.map(|d| rules::ForwardingParameters {
                destination: match d {
                    DestinationInterface::Access => rules::DestinationInterface::Access,
                    DestinationInterface::Core => rules::DestinationInterface::Core,
                    DestinationInterface::SgiLan => rules::DestinationInterface::SgiLan,
                    DestinationInterface::CpFunction => rules::DestinationInterface::CpFunction,
                },
                outer_header_creation: f.outer_header_creation.map(|o| {
                    rules::OuterHeaderCreation {
                        teid: o.teid,
                        peer: o.peer,
                    }
                }),
                transport_level_marking: f.dscp,
            }),
        })
        .collect();
    let qers = s.qers.iter().map(qer).collect();
    let volume = |v: config::Volume| rules::Volume {
        total: v.total,
        ul: v.ul,
        dl: v.dl,
    };
    let urrs = s
        .urrs
        .iter()
        .map(|u| rules::Urr {
            id: u.id,
            volume_threshold: u.volume_threshold.map(volume),
            volume_quota: u.volume_quota.map(volume),
            // The dataplane's time threshold is a reporting period.
            time_threshold_s: u
                .period
                .map(|d| u32::try_from(d.as_secs().max(1)).unwrap_or(u32::MAX)),
            start_time_s: None,
            end_time_s: None,
        })
        .collect();
    Ok(rules::Session {
        id: static_session_id(s.id),
        pdrs,
        fars,
        qers,
        urrs,
    })
}

/// One QER in the dataplane's terms.
fn qer(q: &config::Qer) -> rules::Qer {
    let gate = |g: GateStatus| match g {
        GateStatus::Open => rules::Gate::Open,
        GateStatus::Closed => rules::Gate::Closed,
    };
    rules::Qer {
        id: q.id,
        gate_ul: gate(q.gate_ul),
        gate_dl: gate(q.gate_dl),
        mbr_ul_bps: q.mbr_ul.map(Bitrate::bps),
        mbr_dl_bps: q.mbr_dl.map(Bitrate::bps),
        gbr_ul_bps: q.gbr_ul.map(Bitrate::bps),
        gbr_dl_bps: q.gbr_dl.map(Bitrate::bps),
        qfi: q.qfi,
        rqi: false,
        burst_bytes: None,
    }
}

/// The QoS-only update of static session `s` (the config's diff found
/// that only its QERs' values changed): its QERs as [`session`]
/// translates them, for `Control::publish_changes`.
#[must_use]
pub fn qos_update(s: &StaticSession) -> QerUpdate {
    QerUpdate {
        session: static_session_id(s.id),
        qers: s.qers.iter().map(qer).collect(),
    }
}

/// Translates and validates `s` as `Control::publish` would (apart from
/// conflicts with other sessions, which config validation checks).
///
/// # Errors
/// The first problem, with a key path relative to the session.
pub fn check_session(
    ifs: &Interfaces,
    s: &StaticSession,
) -> Result<rules::Session, TranslateError> {
    let out = session(ifs, s)?;
    out.validate().map_err(|e| {
        // The dataplane names the session by its table id; the config by `id`.
        let msg = e
            .to_string()
            .replacen(&format!("session {}: ", out.id), "", 1);
        terr(String::new(), msg)
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "\
node_id: 192.168.1.1
dpdk: { args: [--no-huge, --no-pci] }
cores: { control: 0, workers: [1] }
interfaces:
  n3: { device: net_null0, address: 192.168.1.1/24, neighbors: { 192.168.1.2: '02:00:00:00:01:02' } }
  n6: { device: net_null1, address: 10.200.0.1/24, gateway: 10.200.0.254 }
api: { listen: 127.0.0.1:0 }
";

    fn cfg(extra: &str) -> Config {
        config::parse(&format!("{BASE}{extra}"), "test.yaml", None)
            .unwrap_or_else(|e| panic!("{}", e.render_with_source()))
    }

    #[test]
    fn short_form_becomes_an_uplink_and_a_downlink_pdr() {
        let c = cfg("sessions:
  - { id: 7, ue_ip: 10.45.0.2, uplink: { teid: 0x100 }, downlink: { gnb: 192.168.1.2, teid: 0x200, qfi: 5 }, qos: { mbr_dl: 1Mbps } }
");
        let s = check_session(&c.interfaces, &c.sessions[0]).unwrap();
        assert_eq!(s.id, 7 | STATIC_SESSION_BIT);
        let ul = &s.pdrs[0];
        assert_eq!(ul.pdi.source_interface, rules::SourceInterface::Access);
        let f = ul.pdi.local_fteid.unwrap();
        assert_eq!(f.teid, 0x100);
        assert_eq!(f.ipv4, Some("192.168.1.1".parse().unwrap()));
        assert_eq!(
            ul.pdi.ue_ip.unwrap().ipv4,
            Some("10.45.0.2".parse().unwrap()),
            "anti-spoofing: the UE address on the uplink PDR"
        );
        assert_eq!(
            ul.outer_header_removal,
            Some(rules::OuterHeaderRemoval::GtpuUdpIpv4)
        );
        let dl = &s.pdrs[1];
        assert_eq!(dl.pdi.source_interface, rules::SourceInterface::Core);
        assert!(dl.pdi.local_fteid.is_none());
        let far = s.fars.iter().find(|f| f.id == dl.far_id).unwrap();
        let fp = far.forwarding.unwrap();
        assert_eq!(fp.destination, rules::DestinationInterface::Access);
        assert_eq!(
            fp.outer_header_creation,
            Some(rules::OuterHeaderCreation {
                teid: 0x200,
                peer: "192.168.1.2".parse().unwrap()
            })
        );
        assert_eq!(s.qers[0].qfi, Some(5));
        assert_eq!(s.qers[0].mbr_dl_bps, Some(1_000_000));
        assert_eq!(s.qers[0].mbr_ul_bps, None);
        assert_eq!(s.urrs.len(), 1);
    }

    #[test]
    fn full_form_keeps_every_rule() {
        let c = cfg("sessions:
  - id: 2
    pdrs:
      - { id: 1, precedence: 10, source: access, teid: 0x300, ue_ip: 10.45.0.3, qfi: 9,
          outer_header_removal: gtpu-udp-ipv4, far_id: 1, qer_ids: [1], urr_ids: [1],
          sdf: ['permit out udp from 198.51.100.0/24 5000-5010 to assigned'] }
      - { id: 2, precedence: 10, source: core, ue_ip: 10.45.0.3, far_id: 2, qer_ids: [1], urr_ids: [1] }
    fars:
      - { id: 1, action: forward, destination: core }
      - { id: 2, action: forward, destination: access, dscp: 46, outer_header_creation: { teid: 0x400, address: 192.168.1.2 } }
    qers:
      - { id: 1, gate: { ul: closed, dl: open }, mbr: { ul: 2Mbps, dl: 4Mbps }, qfi: 9 }
    urrs:
      - { id: 1, measurement: [volume], volume_threshold: { total: 1MB }, period: 10s }
");
        let s = check_session(&c.interfaces, &c.sessions[0]).unwrap();
        let ul = &s.pdrs[0];
        assert_eq!(ul.precedence, 10);
        assert_eq!(ul.pdi.qfi, Some(9));
        let f = &ul.pdi.sdf_filters[0];
        assert_eq!(f.protocol, Some(17));
        assert_eq!(
            f.from,
            rules::FilterAddr::Net(rules::IpNet {
                addr: "198.51.100.0".parse().unwrap(),
                prefix: 24
            })
        );
        assert_eq!(f.from_ports, vec![rules::PortRange { lo: 5000, hi: 5010 }]);
        assert_eq!(f.to, rules::FilterAddr::Assigned);
        assert_eq!(s.qers[0].gate_ul, rules::Gate::Closed);
        assert_eq!(s.qers[0].gate_dl, rules::Gate::Open);
        assert_eq!(s.qers[0].mbr_ul_bps, Some(2_000_000));
        let far2 = s.fars.iter().find(|f| f.id == 2).unwrap();
        assert_eq!(far2.forwarding.unwrap().transport_level_marking, Some(46));
        assert_eq!(s.urrs[0].time_threshold_s, Some(10));
        assert_eq!(s.urrs[0].volume_threshold.unwrap().total, Some(1_000_000));
    }

    #[test]
    fn deny_filters_are_a_config_error_with_a_position() {
        let text = format!(
            "{BASE}sessions:
  - id: 3
    pdrs:
      - {{ id: 1, precedence: 1, source: core, ue_ip: 10.45.0.4, far_id: 1, sdf: ['permit out ip from any to assigned', 'deny out ip from any to assigned'] }}
    fars: [ {{ id: 1, action: drop }} ]
"
        );
        let e = config::parse(&text, "t.yaml", None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("t.yaml:11:") && e.contains("sessions[0].pdrs[0].sdf[1]"),
            "{e}"
        );
        assert!(e.contains("only `permit out`"), "{e}");
    }

    #[test]
    fn too_many_qers_on_a_pdr_are_a_config_error() {
        let text = format!(
            "{BASE}sessions:
  - id: 4
    pdrs:
      - {{ id: 1, precedence: 1, source: core, ue_ip: 10.45.0.5, far_id: 1, qer_ids: [1, 2, 3] }}
    fars: [ {{ id: 1, action: drop }} ]
    qers: [ {{ id: 1 }}, {{ id: 2 }}, {{ id: 3 }} ]
"
        );
        let e = config::parse(&text, "t.yaml", None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("sessions[0]") && e.contains("too many QERs"),
            "{e}"
        );
    }

    #[test]
    fn net_config_carries_macs_addresses_and_neighbours() {
        let c = cfg("");
        let mut macs = [None; IFACE_COUNT];
        macs[Iface::N3.index()] = Some([2, 0, 0, 0, 3, 1]);
        macs[Iface::N6.index()] = Some([2, 0, 0, 0, 6, 1]);
        let net = net_config(&c, &macs);
        let n3 = net.iface(Iface::N3).unwrap();
        assert_eq!(n3.mac, MacAddr([2, 0, 0, 0, 3, 1]));
        assert_eq!(n3.ipv4, Some(("192.168.1.1".parse().unwrap(), 24)));
        assert_eq!(
            n3.neighbors,
            vec![("192.168.1.2".parse().unwrap(), MacAddr([2, 0, 0, 0, 1, 2]))]
        );
        let n6 = net.iface(Iface::N6).unwrap();
        assert_eq!(n6.gateway4, Some("10.200.0.254".parse().unwrap()));
        assert!(net.iface(Iface::N9).is_none());
    }
}
