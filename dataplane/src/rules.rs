//! The session rule model of TS 29.244 in data-plane terms (no PFCP types):
//! what the control thread hands to [`crate::control::Control::publish`].
//! Validation errors are typed so the control thread can map each one to a
//! PFCP cause and Offending IE.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// Session identifier: the UP F-SEID's SEID, or a static session's id.
pub type SessionId = u64;

/// Where a PDR's traffic comes from (TS 29.244 section 8.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceInterface {
    /// From the access side (gNB on N3, or an I-UPF on N9): uplink.
    Access,
    /// From the core side (N6, or a PSA on N9): downlink.
    Core,
    /// From an SGi-LAN / N6-LAN: downlink.
    SgiLan,
    /// From the CP function (not handled by the data plane).
    CpFunction,
}

/// Where a FAR sends traffic (TS 29.244 section 8.2.24).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DestinationInterface {
    /// Toward the access side (N3, or N9 toward an I-UPF).
    Access,
    /// Toward the core (N6, or N9 toward a PSA when outer header creation is given).
    Core,
    /// SGi-LAN / N6-LAN: out of N6.
    SgiLan,
    /// To the CP function: not supported by the data plane.
    CpFunction,
}

/// Traffic direction of a PDR, from its source interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Uplink (from access).
    Ul,
    /// Downlink (from core).
    Dl,
}

impl SourceInterface {
    /// The direction this interface implies for QER gates, meters and URRs.
    #[must_use]
    pub const fn direction(self) -> Direction {
        match self {
            Self::Access | Self::CpFunction => Direction::Ul,
            Self::Core | Self::SgiLan => Direction::Dl,
        }
    }
}

/// A local F-TEID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fteid {
    /// The TEID; unique per UPF across sessions.
    pub teid: u32,
    /// Local IPv4 address (informational: lookup is by TEID).
    pub ipv4: Option<Ipv4Addr>,
    /// Local IPv6 address (informational).
    pub ipv6: Option<Ipv6Addr>,
}

/// The UE address of a PDI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UeIp {
    /// UE IPv4 address.
    pub ipv4: Option<Ipv4Addr>,
    /// UE IPv6 address or prefix; downlink lookup uses its upper 64 bits.
    pub ipv6: Option<Ipv6Addr>,
}

/// An address with a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    /// The address (host bits are ignored when matching).
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix: u8,
}

impl IpNet {
    /// `true` when `a` lies in this network (families must agree).
    #[must_use]
    pub fn contains(&self, a: IpAddr) -> bool {
        match (self.addr, a) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let m = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(self.prefix.min(32)))
                };
                u32::from(n) & m == u32::from(a) & m
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let m = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(self.prefix.min(128)))
                };
                u128::from(n) & m == u128::from(a) & m
            }
            _ => false,
        }
    }
}

/// An address term of an IPFilterRule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterAddr {
    /// `any`.
    Any,
    /// `assigned`: the UE's address.
    Assigned,
    /// An address or network.
    Net(IpNet),
}

/// An inclusive port range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    /// First port.
    pub lo: u16,
    /// Last port.
    pub hi: u16,
}

/// Most port ranges one side of a filter may list.
pub const MAX_PORT_RANGES: usize = 8;

/// An SDF filter's flow description: the IPFilterRule subset of TS 29.212
/// section 5.4.2 that SMFs send, `permit out <proto> from <addr>[/len]
/// [ports] to <addr>[/len] [ports]`.
///
/// As TS 29.244 section 5.2.1A says, the description is written for the
/// downlink ("from" the remote side "to" the UE); for an uplink PDR the
/// pipeline matches it reversed (packet destination against "from").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdfFilter {
    /// IP protocol; `None` for `ip` (any).
    pub protocol: Option<u8>,
    /// The remote side.
    pub from: FilterAddr,
    /// Remote ports; empty for any.
    pub from_ports: Vec<PortRange>,
    /// The UE side.
    pub to: FilterAddr,
    /// UE ports; empty for any.
    pub to_ports: Vec<PortRange>,
}

/// An IPFilterRule that cannot be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid flow description {rule:?}: {reason}")]
pub struct SdfError {
    /// The rule text.
    pub rule: String,
    /// What is wrong.
    pub reason: &'static str,
}

impl FromStr for SdfFilter {
    type Err = SdfError;

    fn from_str(s: &str) -> Result<Self, SdfError> {
        let err = |reason| SdfError {
            rule: s.to_owned(),
            reason,
        };
        let mut t = s.split_whitespace().peekable();
        if t.next() != Some("permit") {
            return Err(err("expected `permit`"));
        }
        if t.next() != Some("out") {
            return Err(err("expected `out`"));
        }
        let protocol = match t.next().ok_or_else(|| err("missing protocol"))? {
            "ip" | "any" => None,
            "tcp" => Some(6),
            "udp" => Some(17),
            "icmp" => Some(1),
            "icmpv6" | "ipv6-icmp" => Some(58),
            n => Some(n.parse::<u8>().map_err(|_| err("bad protocol"))?),
        };
        if t.next() != Some("from") {
            return Err(err("expected `from`"));
        }
        let from = parse_addr(t.next().ok_or_else(|| err("missing source"))?)
            .ok_or_else(|| err("bad source address"))?;
        let mut from_ports = Vec::new();
        if let Some(p) = t.peek().copied().filter(|p| *p != "to") {
            from_ports = parse_ports(p).ok_or_else(|| err("bad source ports"))?;
            t.next();
        }
        if t.next() != Some("to") {
            return Err(err("expected `to`"));
        }
        let to = parse_addr(t.next().ok_or_else(|| err("missing destination"))?)
            .ok_or_else(|| err("bad destination address"))?;
        let mut to_ports = Vec::new();
        if let Some(p) = t.next() {
            to_ports = parse_ports(p).ok_or_else(|| err("bad destination ports"))?;
        }
        if t.next().is_some() {
            return Err(err("unexpected trailing option"));
        }
        Ok(Self {
            protocol,
            from,
            from_ports,
            to,
            to_ports,
        })
    }
}

fn parse_addr(s: &str) -> Option<FilterAddr> {
    match s {
        "any" => return Some(FilterAddr::Any),
        "assigned" => return Some(FilterAddr::Assigned),
        _ => {}
    }
    let (a, p) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p.parse::<u8>().ok()?)),
        None => (s, None),
    };
    let addr: IpAddr = a.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = p.unwrap_or(max);
    (prefix <= max).then_some(FilterAddr::Net(IpNet { addr, prefix }))
}

fn parse_ports(s: &str) -> Option<Vec<PortRange>> {
    let mut v = Vec::new();
    for part in s.split(',') {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
            None => {
                let p = part.parse().ok()?;
                (p, p)
            }
        };
        if lo > hi || v.len() == MAX_PORT_RANGES {
            return None;
        }
        v.push(PortRange { lo, hi });
    }
    Some(v)
}

/// The Packet Detection Information of a PDR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pdi {
    /// Source interface.
    pub source_interface: SourceInterface,
    /// Local F-TEID: the PDR matches GTP-U traffic with this TEID.
    pub local_fteid: Option<Fteid>,
    /// UE address: destination of downlink, source of uplink (anti-spoofing).
    pub ue_ip: Option<UeIp>,
    /// SDF filters; empty matches everything. Any one filter matching is enough.
    pub sdf_filters: Vec<SdfFilter>,
    /// QFI the uplink PDU Session Container must carry.
    pub qfi: Option<u8>,
}

/// Outer header removal (TS 29.244 section 8.2.64): the ones that apply to GTP-U.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OuterHeaderRemoval {
    /// GTP-U/UDP/IPv4.
    GtpuUdpIpv4,
    /// GTP-U/UDP/IPv6.
    GtpuUdpIpv6,
    /// GTP-U/UDP/IP (either family).
    GtpuUdpIp,
}

/// A Packet Detection Rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pdr {
    /// Rule id (unique in the session).
    pub id: u16,
    /// Precedence: lower values are matched first.
    pub precedence: u32,
    /// What the PDR matches.
    pub pdi: Pdi,
    /// Whether to strip the GTP-U tunnel.
    pub outer_header_removal: Option<OuterHeaderRemoval>,
    /// The FAR applied to matching packets.
    pub far_id: u32,
    /// QERs applied (gates and meters, in order).
    pub qer_ids: Vec<u32>,
    /// URRs that count the packets.
    pub urr_ids: Vec<u32>,
}

/// FAR Apply Action flags (TS 29.244 section 8.2.26).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[allow(clippy::struct_excessive_bools)]
pub struct ApplyAction {
    /// Drop.
    pub drop: bool,
    /// Forward.
    pub forw: bool,
    /// Buffer.
    pub buff: bool,
    /// Notify the CP function (Downlink Data Report).
    pub nocp: bool,
    /// Duplicate (not supported: rejected by validation).
    pub dupl: bool,
}

/// Outer header creation: GTP-U/UDP/IPv4 or IPv6 following the peer's family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OuterHeaderCreation {
    /// Remote TEID.
    pub teid: u32,
    /// Remote GTP-U endpoint (gNB or peer UPF).
    pub peer: IpAddr,
}

/// Forwarding parameters of a FAR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForwardingParameters {
    /// Destination interface.
    pub destination: DestinationInterface,
    /// GTP-U encapsulation, for Access destinations and N9.
    pub outer_header_creation: Option<OuterHeaderCreation>,
    /// Transport level marking, as the DSCP (6 bits) of the outer header.
    pub transport_level_marking: Option<u8>,
}

/// A Forwarding Action Rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Far {
    /// Rule id.
    pub id: u32,
    /// What to do.
    pub apply_action: ApplyAction,
    /// Where to, when forwarding.
    pub forwarding: Option<ForwardingParameters>,
}

/// A gate status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Gate {
    /// Packets pass.
    #[default]
    Open,
    /// Packets are dropped.
    Closed,
}

/// A QoS Enforcement Rule. Bit rates are in bits per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Qer {
    /// Rule id.
    pub id: u32,
    /// Uplink gate.
    pub gate_ul: Gate,
    /// Downlink gate.
    pub gate_dl: Gate,
    /// Uplink maximum bit rate.
    pub mbr_ul_bps: Option<u64>,
    /// Downlink maximum bit rate.
    pub mbr_dl_bps: Option<u64>,
    /// Uplink guaranteed bit rate (recorded; not enforced: a GBR is a
    /// reservation, and the meter enforces the MBR).
    pub gbr_ul_bps: Option<u64>,
    /// Downlink guaranteed bit rate (recorded, not enforced).
    pub gbr_dl_bps: Option<u64>,
    /// QFI written into downlink PDU Session Containers.
    pub qfi: Option<u8>,
    /// Reflective QoS Indicator for downlink PDU Session Containers.
    pub rqi: bool,
    /// Meter bucket depth in bytes; default: 100 ms at the MBR, at least 3000.
    pub burst_bytes: Option<u64>,
}

/// Volume limits; `None` fields are not checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Volume {
    /// Uplink plus downlink bytes.
    pub total: Option<u64>,
    /// Uplink bytes.
    pub ul: Option<u64>,
    /// Downlink bytes.
    pub dl: Option<u64>,
}

/// A Usage Reporting Rule. The workers count; the control thread compares
/// the sums against these limits ([`crate::control::Control::check_urrs`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Urr {
    /// Rule id.
    pub id: u32,
    /// Report when a volume reaches this.
    pub volume_threshold: Option<Volume>,
    /// Report (and stop forwarding, by the CP's FAR update) at this volume.
    pub volume_quota: Option<Volume>,
    /// Report every this many seconds.
    pub time_threshold_s: Option<u32>,
    /// Measurement starts at this time (control-thread seconds).
    pub start_time_s: Option<u64>,
    /// Measurement ends at this time (control-thread seconds).
    pub end_time_s: Option<u64>,
}

/// One PFCP session's rules, complete (an update replaces them all).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Session {
    /// SEID.
    pub id: SessionId,
    /// PDRs.
    pub pdrs: Vec<Pdr>,
    /// FARs.
    pub fars: Vec<Far>,
    /// QERs.
    pub qers: Vec<Qer>,
    /// URRs.
    pub urrs: Vec<Urr>,
}

/// Most QERs one PDR may reference (session-level and flow-level).
pub const MAX_QERS_PER_PDR: usize = 2;
/// Most URRs one PDR may reference.
pub const MAX_URRS_PER_PDR: usize = 4;

/// A rule set the data plane refuses. Each maps to a PFCP cause (mostly
/// "Rule creation/modification failure" with the named IE as Offending IE).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// Two PDRs with one id.
    #[error("session {session}: duplicate PDR id {pdr}")]
    DuplicatePdr { session: SessionId, pdr: u16 },
    /// Two FARs with one id.
    #[error("session {session}: duplicate FAR id {far}")]
    DuplicateFar { session: SessionId, far: u32 },
    /// Two QERs with one id.
    #[error("session {session}: duplicate QER id {qer}")]
    DuplicateQer { session: SessionId, qer: u32 },
    /// Two URRs with one id.
    #[error("session {session}: duplicate URR id {urr}")]
    DuplicateUrr { session: SessionId, urr: u32 },
    /// A PDR names a FAR the session lacks.
    #[error("session {session}: PDR {pdr} references missing FAR {far}")]
    UnknownFar {
        session: SessionId,
        pdr: u16,
        far: u32,
    },
    /// A PDR names a QER the session lacks.
    #[error("session {session}: PDR {pdr} references missing QER {qer}")]
    UnknownQer {
        session: SessionId,
        pdr: u16,
        qer: u32,
    },
    /// A PDR names a URR the session lacks.
    #[error("session {session}: PDR {pdr} references missing URR {urr}")]
    UnknownUrr {
        session: SessionId,
        pdr: u16,
        urr: u32,
    },
    /// More QERs or URRs on one PDR than the data plane supports.
    #[error("session {session}: PDR {pdr} references too many QERs or URRs")]
    TooManyRefs { session: SessionId, pdr: u16 },
    /// A PDR that can be found neither by TEID nor by UE address.
    #[error("session {session}: PDR {pdr} has neither a local F-TEID nor a downlink UE IP address")]
    NoLookupKey { session: SessionId, pdr: u16 },
    /// A QFI outside 0..=63.
    #[error("session {session}: QFI {qfi} out of range in rule {rule}")]
    InvalidQfi {
        session: SessionId,
        rule: u32,
        qfi: u8,
    },
    /// DUPL is not implemented.
    #[error("session {session}: FAR {far} asks for duplication (DUPL), which is not supported")]
    DuplicationUnsupported { session: SessionId, far: u32 },
    /// Contradictory or empty apply action.
    #[error("session {session}: FAR {far} has an invalid apply action")]
    InvalidApplyAction { session: SessionId, far: u32 },
    /// FORW without forwarding parameters.
    #[error("session {session}: FAR {far} forwards but has no forwarding parameters")]
    MissingForwardingParameters { session: SessionId, far: u32 },
    /// Forwarding to the CP function.
    #[error(
        "session {session}: FAR {far} forwards to the CP function, which the data plane does not do"
    )]
    UnsupportedDestination { session: SessionId, far: u32 },
    /// Forwarding to Access without GTP-U encapsulation.
    #[error("session {session}: FAR {far} forwards to Access without outer header creation")]
    MissingOuterHeaderCreation { session: SessionId, far: u32 },
    /// A DSCP above 63.
    #[error("session {session}: FAR {far} has transport level marking {dscp} (DSCP is 6 bits)")]
    InvalidDscp {
        session: SessionId,
        far: u32,
        dscp: u8,
    },
    /// A TEID another session (or another PDR set) already uses.
    #[error("session {session}: TEID {teid:#x} is already used by session {owner}")]
    TeidInUse {
        session: SessionId,
        teid: u32,
        owner: SessionId,
    },
    /// A UE address another session already uses for downlink.
    #[error("session {session}: UE address {addr} is already used by session {owner}")]
    UeIpInUse {
        session: SessionId,
        addr: IpAddr,
        owner: SessionId,
    },
    /// A session id given twice in one batch.
    #[error("session {session} appears twice in one batch")]
    DuplicateSession { session: SessionId },
    /// Removal of a session that does not exist.
    #[error("session {session} does not exist")]
    UnknownSession { session: SessionId },
    /// A QoS-only update ([`crate::control::QerUpdate`]) whose QER ids
    /// are not those the session has.
    #[error("session {session}: a QoS-only update must keep the session's QER ids")]
    QerSetChanged { session: SessionId },
    /// A QoS-only update that sets RQI on a QER without a QFI: a compact
    /// table entry cannot hold that (see `tables::Rules`), so the session
    /// must be published whole.
    #[error(
        "session {session}: QER {qer} sets RQI without a QFI, which a QoS-only update cannot express; publish the whole session"
    )]
    RqiWithoutQfi { session: SessionId, qer: u32 },
    /// The data plane's capacity for session state is reached.
    #[error("session table full")]
    Full,
}

impl Session {
    /// Checks the rule set is self-consistent and within what the data
    /// plane supports. Cross-session conflicts (TEIDs, UE addresses) are
    /// checked by [`crate::control::Control::publish`].
    pub fn validate(&self) -> Result<(), RuleError> {
        let session = self.id;
        // The smallest id that comes twice. A session has a handful of
        // rules: compared pairwise, nothing collected or sorted (a reload
        // validates 100,000 sessions); sorted when there are many.
        fn dup<T>(rules: &[T], id: impl Fn(&T) -> u64) -> Option<u64> {
            if rules.len() > 16 {
                let mut ids: Vec<u64> = rules.iter().map(id).collect();
                ids.sort_unstable();
                return ids.windows(2).find(|w| w[0] == w[1]).map(|w| w[0]);
            }
            let mut min: Option<u64> = None;
            for (i, a) in rules.iter().enumerate() {
                let a = id(a);
                if rules[..i].iter().any(|b| id(b) == a) && min.is_none_or(|m| a < m) {
                    min = Some(a);
                }
            }
            min
        }
        if let Some(pdr) = dup(&self.pdrs, |p| u64::from(p.id)) {
            return Err(RuleError::DuplicatePdr {
                session,
                pdr: u16::try_from(pdr).unwrap_or(u16::MAX),
            });
        }
        if let Some(far) = dup(&self.fars, |f| u64::from(f.id)) {
            return Err(RuleError::DuplicateFar {
                session,
                far: u32::try_from(far).unwrap_or(u32::MAX),
            });
        }
        if let Some(qer) = dup(&self.qers, |q| u64::from(q.id)) {
            return Err(RuleError::DuplicateQer {
                session,
                qer: u32::try_from(qer).unwrap_or(u32::MAX),
            });
        }
        if let Some(urr) = dup(&self.urrs, |u| u64::from(u.id)) {
            return Err(RuleError::DuplicateUrr {
                session,
                urr: u32::try_from(urr).unwrap_or(u32::MAX),
            });
        }
        for f in &self.fars {
            let a = f.apply_action;
            if a.dupl {
                return Err(RuleError::DuplicationUnsupported { session, far: f.id });
            }
            let exclusive = u8::from(a.drop) + u8::from(a.forw) + u8::from(a.buff);
            if exclusive > 1 || (exclusive == 0 && !a.nocp) {
                return Err(RuleError::InvalidApplyAction { session, far: f.id });
            }
            if a.forw {
                let Some(fp) = f.forwarding else {
                    return Err(RuleError::MissingForwardingParameters { session, far: f.id });
                };
                if fp.destination == DestinationInterface::CpFunction {
                    return Err(RuleError::UnsupportedDestination { session, far: f.id });
                }
                if fp.destination == DestinationInterface::Access
                    && fp.outer_header_creation.is_none()
                {
                    return Err(RuleError::MissingOuterHeaderCreation { session, far: f.id });
                }
            }
            if let Some(dscp) = f
                .forwarding
                .and_then(|fp| fp.transport_level_marking)
                .filter(|d| *d > 63)
            {
                return Err(RuleError::InvalidDscp {
                    session,
                    far: f.id,
                    dscp,
                });
            }
        }
        for q in &self.qers {
            if let Some(qfi) = q.qfi.filter(|q| *q > 63) {
                return Err(RuleError::InvalidQfi {
                    session,
                    rule: q.id,
                    qfi,
                });
            }
        }
        for p in &self.pdrs {
            if !self.fars.iter().any(|f| f.id == p.far_id) {
                return Err(RuleError::UnknownFar {
                    session,
                    pdr: p.id,
                    far: p.far_id,
                });
            }
            if let Some(&qer) = p
                .qer_ids
                .iter()
                .find(|id| !self.qers.iter().any(|q| q.id == **id))
            {
                return Err(RuleError::UnknownQer {
                    session,
                    pdr: p.id,
                    qer,
                });
            }
            if let Some(&urr) = p
                .urr_ids
                .iter()
                .find(|id| !self.urrs.iter().any(|u| u.id == **id))
            {
                return Err(RuleError::UnknownUrr {
                    session,
                    pdr: p.id,
                    urr,
                });
            }
            if p.qer_ids.len() > MAX_QERS_PER_PDR || p.urr_ids.len() > MAX_URRS_PER_PDR {
                return Err(RuleError::TooManyRefs { session, pdr: p.id });
            }
            if let Some(qfi) = p.pdi.qfi.filter(|q| *q > 63) {
                return Err(RuleError::InvalidQfi {
                    session,
                    rule: u32::from(p.id),
                    qfi,
                });
            }
            let dl_ue = p.pdi.source_interface.direction() == Direction::Dl
                && p.pdi
                    .ue_ip
                    .is_some_and(|u| u.ipv4.is_some() || u.ipv6.is_some());
            if p.pdi.local_fteid.is_none() && !dl_ue {
                return Err(RuleError::NoLookupKey { session, pdr: p.id });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ipfilterrule_forms() {
        let f: SdfFilter = "permit out ip from any to assigned".parse().unwrap();
        assert_eq!(
            f,
            SdfFilter {
                protocol: None,
                from: FilterAddr::Any,
                from_ports: vec![],
                to: FilterAddr::Assigned,
                to_ports: vec![]
            }
        );
        let f: SdfFilter = "permit out 17 from 10.1.0.0/16 53,1000-2000 to 10.45.0.2 5000"
            .parse()
            .unwrap();
        assert_eq!(f.protocol, Some(17));
        assert_eq!(
            f.from,
            FilterAddr::Net(IpNet {
                addr: "10.1.0.0".parse().unwrap(),
                prefix: 16
            })
        );
        assert_eq!(
            f.from_ports,
            vec![
                PortRange { lo: 53, hi: 53 },
                PortRange { lo: 1000, hi: 2000 }
            ]
        );
        assert_eq!(f.to_ports, vec![PortRange { lo: 5000, hi: 5000 }]);
        let f: SdfFilter = "permit out tcp from 2001:db8::/32 to any 443"
            .parse()
            .unwrap();
        assert_eq!(f.protocol, Some(6));
        for bad in [
            "deny out ip from any to any",
            "permit in ip from any to any",
            "permit out ip from any",
            "permit out ip from 10.0.0.0/33 to any",
            "permit out ip from any to any 2000-1000",
            "permit out foo from any to any",
            "permit out ip from any to any 1 2",
        ] {
            assert!(bad.parse::<SdfFilter>().is_err(), "{bad}");
        }
    }

    #[test]
    fn ipnet_contains() {
        let n = IpNet {
            addr: "10.45.0.0".parse().unwrap(),
            prefix: 16,
        };
        assert!(n.contains("10.45.3.4".parse().unwrap()));
        assert!(!n.contains("10.46.0.1".parse().unwrap()));
        assert!(!n.contains("::1".parse().unwrap()));
        assert!(
            IpNet {
                addr: "::".parse().unwrap(),
                prefix: 0
            }
            .contains("2001:db8::1".parse().unwrap())
        );
    }

    fn minimal() -> Session {
        Session {
            id: 7,
            pdrs: vec![Pdr {
                id: 1,
                precedence: 100,
                pdi: Pdi {
                    source_interface: SourceInterface::Access,
                    local_fteid: Some(Fteid {
                        teid: 1,
                        ipv4: None,
                        ipv6: None,
                    }),
                    ue_ip: None,
                    sdf_filters: vec![],
                    qfi: None,
                },
                outer_header_removal: Some(OuterHeaderRemoval::GtpuUdpIpv4),
                far_id: 1,
                qer_ids: vec![],
                urr_ids: vec![],
            }],
            fars: vec![Far {
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
            }],
            qers: vec![],
            urrs: vec![],
        }
    }

    #[test]
    fn validation_names_the_bad_rule() {
        assert_eq!(minimal().validate(), Ok(()));
        let mut s = minimal();
        s.pdrs[0].far_id = 9;
        assert_eq!(
            s.validate(),
            Err(RuleError::UnknownFar {
                session: 7,
                pdr: 1,
                far: 9
            })
        );
        let mut s = minimal();
        s.pdrs[0].qer_ids = vec![3];
        assert_eq!(
            s.validate(),
            Err(RuleError::UnknownQer {
                session: 7,
                pdr: 1,
                qer: 3
            })
        );
        let mut s = minimal();
        s.fars[0].apply_action.dupl = true;
        assert_eq!(
            s.validate(),
            Err(RuleError::DuplicationUnsupported { session: 7, far: 1 })
        );
        let mut s = minimal();
        s.fars[0].apply_action.drop = true;
        assert_eq!(
            s.validate(),
            Err(RuleError::InvalidApplyAction { session: 7, far: 1 })
        );
        let mut s = minimal();
        s.fars[0].forwarding = None;
        assert_eq!(
            s.validate(),
            Err(RuleError::MissingForwardingParameters { session: 7, far: 1 })
        );
        let mut s = minimal();
        s.pdrs.push(s.pdrs[0].clone());
        assert_eq!(
            s.validate(),
            Err(RuleError::DuplicatePdr { session: 7, pdr: 1 })
        );
        let mut s = minimal();
        s.pdrs[0].pdi.local_fteid = None;
        assert_eq!(
            s.validate(),
            Err(RuleError::NoLookupKey { session: 7, pdr: 1 })
        );
        let mut s = minimal();
        s.fars[0].forwarding = Some(ForwardingParameters {
            destination: DestinationInterface::Access,
            outer_header_creation: None,
            transport_level_marking: None,
        });
        assert_eq!(
            s.validate(),
            Err(RuleError::MissingOuterHeaderCreation { session: 7, far: 1 })
        );
    }

    proptest! {
        // The duplicate a session is refused for is the smallest id that
        // comes twice, however many PDRs (pairwise up to 16, sorted above).
        #[test]
        fn duplicate_pdr_is_the_smallest_repeated_id(
            ids in proptest::collection::vec(0u16..8, 1..30),
        ) {
            let mut s = crate::testkit::session(&crate::testkit::SessionSpec::nth(0));
            let ul = s.pdrs[0].clone();
            s.pdrs = ids.iter().map(|&id| Pdr { id, ..ul.clone() }).collect();
            let mut sorted = ids.clone();
            sorted.sort_unstable();
            let want = sorted.windows(2).find(|w| w[0] == w[1]).map(|w| w[0]);
            match (s.validate(), want) {
                (Err(RuleError::DuplicatePdr { pdr, .. }), Some(w)) => prop_assert_eq!(pdr, w),
                (Err(RuleError::DuplicatePdr { .. }), None) => prop_assert!(false, "no duplicate"),
                (r, Some(w)) => prop_assert!(false, "{:?}, want duplicate {}", r, w),
                (_, None) => {}
            }
        }

        #[test]
        fn any_flow_description_never_panics(s in "\\PC{0,80}") {
            let _ = s.parse::<SdfFilter>();
        }

        #[test]
        fn flow_description_roundtrip(proto in proptest::option::of(any::<u8>()), a in any::<u32>(), plen in 0u8..=32, lo in any::<u16>(), span in 0u16..100) {
            let hi = lo.saturating_add(span);
            let proto_s = proto.map_or("ip".to_owned(), |p| p.to_string());
            let text = format!("permit out {proto_s} from {}/{plen} {lo}-{hi} to assigned", Ipv4Addr::from(a));
            let f: SdfFilter = text.parse().unwrap();
            prop_assert_eq!(f.protocol, proto);
            prop_assert_eq!(f.from, FilterAddr::Net(IpNet { addr: Ipv4Addr::from(a).into(), prefix: plen }));
            prop_assert_eq!(f.from_ports, vec![PortRange { lo, hi }]);
        }
    }
}

/// The config's short form of a static session (ARCHITECTURE.md:
/// `sessions: - { id, ue_ip, uplink: { teid }, downlink: { gnb, teid, qfi }, qos }`),
/// expanded into rules by [`ShortForm::to_session`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShortForm {
    /// Session id.
    pub id: SessionId,
    /// UE address (IPv4 or IPv6).
    pub ue_ip: IpAddr,
    /// Uplink F-TEID on the UPF's N3 address.
    pub ul_teid: u32,
    /// The UPF's N3 address (informational F-TEID address).
    pub n3_addr: Option<IpAddr>,
    /// The gNB's GTP-U address.
    pub gnb: IpAddr,
    /// Downlink TEID at the gNB.
    pub dl_teid: u32,
    /// QFI for downlink PDU Session Containers.
    pub qfi: Option<u8>,
    /// Uplink MBR in bit/s.
    pub mbr_ul_bps: Option<u64>,
    /// Downlink MBR in bit/s.
    pub mbr_dl_bps: Option<u64>,
}

impl ShortForm {
    /// An uplink PDR on the F-TEID that also matches the UE address as inner
    /// source (anti-spoofing), a downlink PDR on the UE address, a FAR each
    /// way, a QER (QFI and MBRs) and a URR counting both directions.
    #[must_use]
    pub fn to_session(&self) -> Session {
        let ue = match self.ue_ip {
            IpAddr::V4(a) => UeIp {
                ipv4: Some(a),
                ipv6: None,
            },
            IpAddr::V6(a) => UeIp {
                ipv4: None,
                ipv6: Some(a),
            },
        };
        let (v4, v6) = match self.n3_addr {
            Some(IpAddr::V4(a)) => (Some(a), None),
            Some(IpAddr::V6(a)) => (None, Some(a)),
            None => (None, None),
        };
        let pdr = |id, src, fteid, far_id| Pdr {
            id,
            precedence: 100,
            pdi: Pdi {
                source_interface: src,
                local_fteid: fteid,
                ue_ip: Some(ue),
                sdf_filters: vec![],
                qfi: None,
            },
            outer_header_removal: fteid.map(|_| OuterHeaderRemoval::GtpuUdpIp),
            far_id,
            qer_ids: vec![1],
            urr_ids: vec![1],
        };
        let forw = ApplyAction {
            forw: true,
            ..ApplyAction::default()
        };
        Session {
            id: self.id,
            pdrs: vec![
                pdr(
                    1,
                    SourceInterface::Access,
                    Some(Fteid {
                        teid: self.ul_teid,
                        ipv4: v4,
                        ipv6: v6,
                    }),
                    1,
                ),
                pdr(2, SourceInterface::Core, None, 2),
            ],
            fars: vec![
                Far {
                    id: 1,
                    apply_action: forw,
                    forwarding: Some(ForwardingParameters {
                        destination: DestinationInterface::Core,
                        outer_header_creation: None,
                        transport_level_marking: None,
                    }),
                },
                Far {
                    id: 2,
                    apply_action: forw,
                    forwarding: Some(ForwardingParameters {
                        destination: DestinationInterface::Access,
                        outer_header_creation: Some(OuterHeaderCreation {
                            teid: self.dl_teid,
                            peer: self.gnb,
                        }),
                        transport_level_marking: None,
                    }),
                },
            ],
            qers: vec![Qer {
                id: 1,
                mbr_ul_bps: self.mbr_ul_bps,
                mbr_dl_bps: self.mbr_dl_bps,
                qfi: self.qfi,
                ..Qer::default()
            }],
            urrs: vec![Urr {
                id: 1,
                ..Urr::default()
            }],
        }
    }
}

#[cfg(test)]
mod short_form_tests {
    use super::*;

    #[test]
    fn short_form_is_valid_and_complete() {
        let s = ShortForm {
            id: 1,
            ue_ip: "10.45.0.2".parse().unwrap(),
            ul_teid: 0x100,
            n3_addr: Some("192.168.1.1".parse().unwrap()),
            gnb: "192.168.1.2".parse().unwrap(),
            dl_teid: 0x200,
            qfi: Some(9),
            mbr_ul_bps: Some(50_000_000),
            mbr_dl_bps: Some(100_000_000),
        }
        .to_session();
        assert_eq!(s.validate(), Ok(()));
        assert_eq!(s.pdrs.len(), 2);
        assert_eq!(s.pdrs[0].pdi.local_fteid.map(|f| f.teid), Some(0x100));
        assert_eq!(
            s.pdrs[0].pdi.ue_ip.and_then(|u| u.ipv4),
            Some("10.45.0.2".parse().unwrap())
        );
        assert_eq!(
            s.fars[1]
                .forwarding
                .and_then(|f| f.outer_header_creation)
                .map(|o| o.teid),
            Some(0x200)
        );
        assert_eq!(s.qers[0].mbr_dl_bps, Some(100_000_000));
    }
}
