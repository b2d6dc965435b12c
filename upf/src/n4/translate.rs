//! PFCP rule sets (`pfcp::rules`, validated by the PFCP node) translated
//! into the dataplane's rule model (`dataplane::rules`), which the control
//! thread publishes to the workers. The dataplane never sees PFCP types.
//!
//! What the dataplane cannot do is refused here with cause 76 and the
//! Offending IE (never silently dropped); rules it refuses on validation
//! map to cause 73 with the Failed Rule ID ([`rule_error`]).
//!
//! Accepted without effect in the dataplane, by design: Network Instance
//! (one N3, one N6), Source/Destination Interface Type, BAR (the workers
//! buffer up to a fixed number of frames; DL Data Notification Delay and
//! the suggested packet count are hints), GBR (recorded: the meter
//! enforces the MBR), the URR's thresholds, quotas and timers (the PFCP
//! node evaluates them from the counters; a used-up quota comes back here
//! as `quota_exhausted`).
//!
//! Application ID: the PFDs provisioned by PFD Management
//! ([`session_with_pfds`]); an application whose PFDs are all Flow
//! Descriptions becomes those flows as SDF filters, anything else is 76
//! for a PDR that names it anew; a PDR that named it already and whose
//! application has lost its usable PFDs since is left out (matches
//! nothing) rather than refusing the session ([`session_replacing`]).
//!
//! User Plane Inactivity Timer: the node asks for the time of the
//! session's last packet ([`pfcp::UserPlane::last_packet`]), read from the
//! counters of the session's URRs. A PDR that counts against none of them
//! gets the internal URR [`INACTIVITY_URR_ID`], in the dataplane only
//! (never reported to the SMF): sessions without the timer pay nothing,
//! and a session whose PDRs all have URRs pays nothing extra.

use std::net::IpAddr;

use dataplane::rules as dp;
use std::sync::Arc;

use pfcp::UpError;
use pfcp::codec::ie_type as t;
use pfcp::codec::ies::{MeasurementInformation, MeasurementMethod};
use pfcp::flow::FlowDescription;
use pfcp::pfd::PfdTable;
use pfcp::rules::{
    ApplyAction, DestinationInterface, FlowAction, FlowAddress, Gate, OuterHeaderCreation, RuleRef,
    Session, SourceInterface,
};

/// The dataplane-only URR that observes the traffic of PDRs without a URR
/// of their own in sessions with a User Plane Inactivity Timer. URR IDs
/// with the top bit set name rules predefined in the UP function
/// (§8.2.54), which an SMF does not allocate; one that uses this one
/// anyway is refused (cause 73) when the internal URR is needed.
pub const INACTIVITY_URR_ID: u32 = u32::MAX;

/// The dataplane's session id of a PFCP session: its UP SEID. The PFCP
/// node allocates SEIDs below 2^63 ([`pfcp::node::MAX_SEID`]), so they never
/// meet static sessions' ids ([`static_session_id`]).
#[must_use]
pub const fn pfcp_session_id(seid: u64) -> dp::SessionId {
    seid
}

/// The top bit marks static (YAML) sessions in the dataplane's id space.
pub const STATIC_SESSION_BIT: u64 = 1 << 63;

/// The dataplane's session id of static session `id` (from the config):
/// `id` with the top bit set. `None` when `id` already uses the top bit.
#[must_use]
pub const fn static_session_id(id: u64) -> Option<dp::SessionId> {
    if id & STATIC_SESSION_BIT == 0 {
        Some(id | STATIC_SESSION_BIT)
    } else {
        None
    }
}

/// A FAR id that cannot be a PFCP one is not needed: ids are 32-bit, and
/// the synthetic "quota used up" FAR takes the highest id the session
/// does not use.
fn free_far_id(s: &Session) -> u32 {
    let mut id = u32::MAX;
    while s.fars.iter().any(|f| f.id == id) {
        id -= 1;
    }
    id
}

fn unsupported(rule: Option<RuleRef>, ie: u16, reason: impl Into<String>) -> UpError {
    UpError::Unsupported {
        rule,
        ie,
        reason: reason.into(),
    }
}

fn bad_rule(rule: RuleRef, reason: impl Into<String>) -> UpError {
    UpError::Rule {
        rule,
        reason: reason.into(),
    }
}

/// Translates a PFCP session's complete rule set into the dataplane's,
/// under session id `id`.
///
/// # Errors
/// [`UpError::Unsupported`] (cause 76) for what the dataplane cannot do,
/// [`UpError::Rule`] (cause 73) for a rule it cannot install as given.
pub fn session(s: &Session, id: dp::SessionId) -> Result<dp::Session, UpError> {
    session_with_pfds(s, id, &PfdTable::default())
}

/// [`session`], with the PFDs provisioned by PFD Management: a PDI naming
/// an Application ID whose PFDs are all Flow Descriptions matches them as
/// its SDF filters.
///
/// # Errors
/// As [`session`]; an Application ID without PFDs, with URL, domain name
/// or custom PFDs, or next to SDF filters in one PDI is refused (cause 76).
pub fn session_with_pfds(
    s: &Session,
    id: dp::SessionId,
    pfds: &PfdTable,
) -> Result<dp::Session, UpError> {
    session_replacing(s, None, id, pfds)
}

/// [`session_with_pfds`] for a session that replaces `previous` (a
/// Session Modification, or the same rules again after a PFD change). A
/// PDR that named the same Application ID in `previous`, whose
/// application has since lost the PFDs the dataplane can match (removed,
/// or now URL / domain-name / unparsable ones), is left out of the
/// dataplane: the application is no longer detected (TS 29.244 §5.12:
/// the PFDs are what detects it), its packets take the session's other
/// PDRs. Refusing instead refused every later modification of the
/// session, a handover's Update FAR included, for a rule it did not touch.
///
/// # Errors
/// As [`session_with_pfds`] (a PDR naming an application anew without
/// usable PFDs: 76).
pub fn session_replacing(
    s: &Session,
    previous: Option<&Session>,
    id: dp::SessionId,
    pfds: &PfdTable,
) -> Result<dp::Session, UpError> {
    if let Some(pdn) = s.pdn_type.filter(|p| *p == 4 || *p == 5) {
        let what = if pdn == 4 { "Non-IP" } else { "Ethernet" };
        return Err(unsupported(
            None,
            t::PDN_TYPE,
            format!("{what} PDU sessions"),
        ));
    }
    let mut out = dp::Session {
        id,
        pdrs: Vec::with_capacity(s.pdrs.len()),
        fars: Vec::with_capacity(s.fars.len()),
        qers: Vec::with_capacity(s.qers.len()),
        urrs: Vec::with_capacity(s.urrs.len()),
    };
    for f in &s.fars {
        out.fars.push(far(f)?);
    }
    for q in &s.qers {
        out.qers.push(qer(q)?);
    }
    for u in &s.urrs {
        check_urr(u)?;
        out.urrs.push(dp::Urr {
            id: u.id,
            ..dp::Urr::default()
        });
    }
    // A used-up quota stops the traffic of the PDRs that count against
    // it: they take the URR's FAR for quota action, or a dropping FAR.
    let mut quota_drop: Option<u32> = None;
    for p in &s.pdrs {
        if p.pdi.source_interface == SourceInterface::CP_FUNCTION {
            // Open5GS's cp2up PDR (the SMF's IPv6 Router Advertisements,
            // GTP-U over N4-u): no N4-u here, so it matches nothing and
            // stays out of the dataplane rather than refusing the session.
            continue;
        }
        let mut pdr = match pdr(s, p, pfds) {
            Ok(x) => x,
            Err(UpError::Unsupported { ie, .. })
                if ie == t::APPLICATION_ID && names_app_already(p, previous) =>
            {
                continue;
            }
            Err(e) => return Err(e),
        };
        let exhausted = p
            .urr_ids()
            .iter()
            .filter_map(|id| s.urr(*id))
            .find(|u| u.quota_exhausted);
        if let Some(u) = exhausted {
            pdr.far_id = match u.far_id_for_quota_action {
                Some(f) => f,
                None => *quota_drop.get_or_insert_with(|| free_far_id(s)),
            };
        }
        out.pdrs.push(pdr);
    }
    if s.inactivity_timer_s.is_some() {
        let mut watched = false;
        for p in out.pdrs.iter_mut().filter(|p| p.urr_ids.is_empty()) {
            p.urr_ids.push(INACTIVITY_URR_ID);
            watched = true;
        }
        if watched {
            if s.urr(INACTIVITY_URR_ID).is_some() {
                return Err(bad_rule(
                    RuleRef::Urr(INACTIVITY_URR_ID),
                    "URR ID reserved for the inactivity timer",
                ));
            }
            out.urrs.push(dp::Urr {
                id: INACTIVITY_URR_ID,
                ..dp::Urr::default()
            });
        }
    }
    if let Some(id) = quota_drop {
        out.fars.push(dp::Far {
            id,
            apply_action: dp::ApplyAction {
                drop: true,
                ..dp::ApplyAction::default()
            },
            forwarding: None,
        });
    }
    Ok(out)
}

fn source_interface(v: SourceInterface, rule: RuleRef) -> Result<dp::SourceInterface, UpError> {
    Ok(match v {
        SourceInterface::ACCESS => dp::SourceInterface::Access,
        SourceInterface::CORE => dp::SourceInterface::Core,
        SourceInterface::SGI_LAN_N6_LAN => dp::SourceInterface::SgiLan,
        SourceInterface::CP_FUNCTION => {
            return Err(unsupported(
                Some(rule),
                t::SOURCE_INTERFACE,
                "packets from the CP function (N4-u)",
            ));
        }
        other => {
            return Err(unsupported(
                Some(rule),
                t::SOURCE_INTERFACE,
                format!("source interface {}", other.0),
            ));
        }
    })
}

fn pdr(s: &Session, p: &pfcp::rules::Pdr, pfds: &PfdTable) -> Result<dp::Pdr, UpError> {
    let rule = RuleRef::Pdr(p.id);
    let pdi = &p.pdi;
    let source_interface = source_interface(pdi.source_interface, rule)?;
    let app_filters = match pdi.application_id() {
        None => None,
        Some(app) => Some(application_filters(app, pdi, pfds, rule)?),
    };
    let qfi = match pdi.qfis.len() {
        0 => None,
        1 => pdi.qfis.single(),
        _ => {
            return Err(unsupported(
                Some(rule),
                t::QFI,
                "more than one QFI in one PDI",
            ));
        }
    };
    let uplink = source_interface == dp::SourceInterface::Access;
    let ue_ip = match pdi.ue_ip {
        None => None,
        Some(u) => {
            // The dataplane matches the UE address as the inner source on
            // access-side PDRs (anti-spoofing) and as the destination on
            // core-side ones; the other way round it cannot.
            if uplink && u.is_destination {
                return Err(unsupported(
                    Some(rule),
                    t::UE_IP_ADDRESS,
                    "UE address as destination on an access-side PDR",
                ));
            }
            if u.ipv6.is_some() && u.ipv6_prefix_len < 64 {
                return Err(unsupported(
                    Some(rule),
                    t::UE_IP_ADDRESS,
                    format!(
                        "UE IPv6 prefix /{} (prefixes are matched as /64)",
                        u.ipv6_prefix_len
                    ),
                ));
            }
            Some(dp::UeIp {
                ipv4: u.ipv4,
                ipv6: u.ipv6,
            })
        }
    };
    let sdf_filters = match app_filters {
        Some(f) => f,
        None => {
            let mut v = Vec::with_capacity(pdi.sdf_filters.len());
            for f in &pdi.sdf_filters {
                v.push(sdf(f, rule)?);
            }
            v
        }
    };
    let outer_header_removal = match p.outer_header_removal {
        None => None,
        Some(o) => {
            if pdi.local_f_teid.is_none() {
                return Err(bad_rule(
                    rule,
                    "outer header removal on a PDR without a local F-TEID",
                ));
            }
            Some(match o.description {
                0 => dp::OuterHeaderRemoval::GtpuUdpIpv4,
                1 => dp::OuterHeaderRemoval::GtpuUdpIpv6,
                6 => dp::OuterHeaderRemoval::GtpuUdpIp,
                d => {
                    return Err(unsupported(
                        Some(rule),
                        t::OUTER_HEADER_REMOVAL,
                        format!("outer header removal description {d} (only GTP-U/UDP/IP)"),
                    ));
                }
            })
        }
    };
    // An inactive URR (INAM) does not measure: leave it off the PDR.
    let urr_ids = p
        .urr_ids()
        .iter()
        .copied()
        .filter(|id| {
            s.urr(*id).is_none_or(|u| {
                !u.measurement_information
                    .is_some_and(|m| m.contains(MeasurementInformation::INAM))
            })
        })
        .collect();
    Ok(dp::Pdr {
        id: p.id,
        precedence: p.precedence,
        pdi: dp::Pdi {
            source_interface,
            local_fteid: pdi.local_f_teid.map(|f| dp::Fteid {
                teid: f.teid,
                ipv4: f.ipv4,
                ipv6: f.ipv6,
            }),
            ue_ip,
            sdf_filters,
            qfi,
        },
        outer_header_removal,
        far_id: p.far_id,
        qer_ids: p.qer_ids().to_vec(),
        urr_ids,
    })
}

/// Whether `previous` has PDR `p` (its ID) naming the same application.
fn names_app_already(p: &pfcp::rules::Pdr, previous: Option<&Session>) -> bool {
    let Some(app) = p.pdi.application_id() else {
        return false;
    };
    previous.is_some_and(|s| {
        s.pdrs
            .iter()
            .any(|q| q.id == p.id && q.pdi.application_id() == Some(app))
    })
}

/// Application detection by Flow Descriptions only: the PDR matches any
/// flow description of any PFD of the application, which is what SDF
/// filters do (any one matching is enough). URLs and domain names need
/// inspection of the payload, which the dataplane does not do.
fn application_filters(
    app: &str,
    pdi: &pfcp::rules::Pdi,
    pfds: &PfdTable,
    rule: RuleRef,
) -> Result<Vec<dp::SdfFilter>, UpError> {
    let refuse = |why: String| Err(unsupported(Some(rule), t::APPLICATION_ID, why));
    if !pdi.sdf_filters.is_empty() {
        return refuse(format!(
            "application detection ({app:?}) together with SDF filters"
        ));
    }
    let Some(list) = pfds.get(app.as_bytes()) else {
        return refuse(format!(
            "application detection ({app:?}): no PFDs provisioned for it"
        ));
    };
    if !list.iter().all(pfcp::pfd::Pfd::is_flow_only) {
        return refuse(format!(
            "application detection ({app:?}) by URL, domain name or custom PFD"
        ));
    }
    let mut out = Vec::new();
    for fd in list.iter().flat_map(|p| &p.flow_descriptions) {
        let text = String::from_utf8_lossy(fd);
        let flow = match text.parse::<FlowDescription>() {
            Ok(f) => f,
            Err(e) => return refuse(format!("application {app:?}: PFD {e}")),
        };
        let filter = pfcp::rules::SdfFilter {
            flow: Some(Arc::new(flow)),
            tos_traffic_class: None,
            security_parameter_index: None,
            flow_label: None,
            filter_id: None,
        };
        out.push(sdf(&filter, rule).map_err(|e| match e {
            // Name what the SMF sent: the Application ID, not an SDF filter.
            UpError::Unsupported { rule, reason, .. } => UpError::Unsupported {
                rule,
                ie: t::APPLICATION_ID,
                reason: format!("application {app:?}: {reason}"),
            },
            e => e,
        })?);
    }
    Ok(out)
}

fn sdf(f: &pfcp::rules::SdfFilter, rule: RuleRef) -> Result<dp::SdfFilter, UpError> {
    if f.tos_traffic_class.is_some() {
        return Err(unsupported(
            Some(rule),
            t::SDF_FILTER,
            "SDF filter on ToS / Traffic Class",
        ));
    }
    if f.security_parameter_index.is_some() {
        return Err(unsupported(
            Some(rule),
            t::SDF_FILTER,
            "SDF filter on the IPsec SPI",
        ));
    }
    if f.flow_label.is_some() {
        return Err(unsupported(
            Some(rule),
            t::SDF_FILTER,
            "SDF filter on the IPv6 flow label",
        ));
    }
    let Some(flow) = &f.flow else {
        return Err(unsupported(
            Some(rule),
            t::SDF_FILTER,
            "SDF filter without a flow description (pre-provisioned filter ids)",
        ));
    };
    if flow.action == FlowAction::Deny {
        return Err(unsupported(
            Some(rule),
            t::SDF_FILTER,
            format!("deny rule {:?}", flow.text),
        ));
    }
    if !flow.options.is_empty() {
        return Err(unsupported(
            Some(rule),
            t::SDF_FILTER,
            format!("IPFilterRule options in {:?}", flow.text),
        ));
    }
    let addr = |a: FlowAddress| match a {
        FlowAddress::Any => dp::FilterAddr::Any,
        FlowAddress::Assigned => dp::FilterAddr::Assigned,
        FlowAddress::Prefix(addr, prefix) => dp::FilterAddr::Net(dp::IpNet { addr, prefix }),
    };
    let ports = |p: &[(u16, u16)]| -> Result<Vec<dp::PortRange>, UpError> {
        if p.len() > dp::MAX_PORT_RANGES {
            return Err(bad_rule(
                rule,
                format!(
                    "{} port ranges in {:?} (at most {})",
                    p.len(),
                    flow.text,
                    dp::MAX_PORT_RANGES
                ),
            ));
        }
        Ok(p.iter().map(|&(lo, hi)| dp::PortRange { lo, hi }).collect())
    };
    // The dataplane's filter is written for the downlink: from the remote
    // side to the UE (TS 29.244 §5.2.1A), whatever the rule's direction.
    let (remote, ue) = (flow.remote_side(), flow.ue_side());
    Ok(dp::SdfFilter {
        protocol: flow.protocol,
        from: addr(remote.address),
        from_ports: ports(&remote.ports)?,
        to: addr(ue.address),
        to_ports: ports(&ue.ports)?,
    })
}

fn far(f: &pfcp::rules::Far) -> Result<dp::Far, UpError> {
    let rule = RuleRef::Far(f.id);
    let a = f.apply_action;
    let known = ApplyAction::DROP
        | ApplyAction::FORW
        | ApplyAction::BUFF
        | ApplyAction::NOCP
        | ApplyAction::DUPL;
    let mut other = a;
    other.remove(known);
    if !other.is_empty() {
        return Err(unsupported(
            Some(rule),
            t::APPLY_ACTION,
            format!("apply action flags {:?}", other.names().collect::<Vec<_>>()),
        ));
    }
    // Forwarding to the CP function (Open5GS's up2cp FAR: the UE's IPv6
    // Router Solicitations to the SMF over N4-u) is not done here: such a
    // FAR drops, and the session is accepted.
    let to_cp = f
        .forwarding
        .as_ref()
        .is_some_and(|fp| fp.destination_interface == DestinationInterface::CP_FUNCTION);
    let forwarding = match &f.forwarding {
        Some(fp) if !to_cp => Some(forwarding(fp, rule)?),
        _ => None,
    };
    // FORW with nowhere to go yet: free5GC-style SMFs install the downlink
    // FAR as FORW toward Access before the gNB's tunnel is known (Outer
    // Header Creation comes with the N2 setup's Update FAR). Nothing can be
    // delivered, so the data plane drops until then, and the session is
    // accepted rather than refused.
    let nowhere = a.contains(ApplyAction::FORW)
        && forwarding.is_none_or(|fp| {
            fp.destination == dp::DestinationInterface::Access && fp.outer_header_creation.is_none()
        });
    let apply_action = dp::ApplyAction {
        drop: a.contains(ApplyAction::DROP) || nowhere,
        forw: a.contains(ApplyAction::FORW) && !nowhere,
        buff: a.contains(ApplyAction::BUFF),
        nocp: a.contains(ApplyAction::NOCP),
        dupl: a.contains(ApplyAction::DUPL),
    };
    Ok(dp::Far {
        id: f.id,
        apply_action,
        forwarding,
    })
}

fn forwarding(
    fp: &pfcp::rules::Forwarding,
    rule: RuleRef,
) -> Result<dp::ForwardingParameters, UpError> {
    let destination = match fp.destination_interface {
        DestinationInterface::ACCESS => dp::DestinationInterface::Access,
        DestinationInterface::CORE => dp::DestinationInterface::Core,
        DestinationInterface::SGI_LAN_N6_LAN => dp::DestinationInterface::SgiLan,
        DestinationInterface::CP_FUNCTION => {
            return Err(unsupported(
                Some(rule),
                t::DESTINATION_INTERFACE,
                "forwarding to the CP function (N4-u)",
            ));
        }
        DestinationInterface::LI_FUNCTION => {
            return Err(unsupported(
                Some(rule),
                t::DESTINATION_INTERFACE,
                "forwarding to the LI function",
            ));
        }
        other => {
            return Err(unsupported(
                Some(rule),
                t::DESTINATION_INTERFACE,
                format!("destination interface {}", other.0),
            ));
        }
    };
    let outer_header_creation = match &fp.outer_header_creation {
        None => None,
        Some(o) => Some(outer_header_creation(o, rule)?),
    };
    let transport_level_marking = match fp.transport_level_marking {
        None => None,
        Some((tos, mask)) => {
            // Only the DSCP (upper six bits of the ToS octet) is written;
            // a mask that keeps part of the DSCP cannot be honoured.
            if mask & 0xfc != 0xfc {
                return Err(unsupported(
                    Some(rule),
                    t::TRANSPORT_LEVEL_MARKING,
                    format!("ToS mask {mask:#04x} (only the whole DSCP is set)"),
                ));
            }
            Some(tos >> 2)
        }
    };
    Ok(dp::ForwardingParameters {
        destination,
        outer_header_creation,
        transport_level_marking,
    })
}

fn outer_header_creation(
    o: &OuterHeaderCreation,
    rule: RuleRef,
) -> Result<dp::OuterHeaderCreation, UpError> {
    let gtpu = OuterHeaderCreation::GTPU_UDP_IPV4 | OuterHeaderCreation::GTPU_UDP_IPV6;
    if o.description & !gtpu != 0 || o.description & gtpu == 0 {
        return Err(unsupported(
            Some(rule),
            t::OUTER_HEADER_CREATION,
            format!(
                "outer header creation {:#06x} (only GTP-U/UDP/IPv4 or IPv6)",
                o.description
            ),
        ));
    }
    let Some(teid) = o.teid else {
        return Err(bad_rule(rule, "GTP-U outer header creation without a TEID"));
    };
    // Both families offered (a dual-stack peer): IPv4 is as good as IPv6.
    let peer = match (
        o.ipv4
            .filter(|_| o.description & OuterHeaderCreation::GTPU_UDP_IPV4 != 0),
        o.ipv6
            .filter(|_| o.description & OuterHeaderCreation::GTPU_UDP_IPV6 != 0),
    ) {
        (Some(a), _) => IpAddr::V4(a),
        (None, Some(a)) => IpAddr::V6(a),
        (None, None) => {
            return Err(bad_rule(
                rule,
                "GTP-U outer header creation without a peer address",
            ));
        }
    };
    Ok(dp::OuterHeaderCreation { teid, peer })
}

fn qer(q: &pfcp::rules::Qer) -> Result<dp::Qer, UpError> {
    let rule = Some(RuleRef::Qer(q.id));
    if q.correlation_id.is_some() {
        return Err(unsupported(
            rule,
            t::QER_CORRELATION_ID,
            "QER correlation (a meter shared between sessions)",
        ));
    }
    if q.paging_policy_indicator.is_some() {
        return Err(unsupported(
            rule,
            t::PAGING_POLICY_INDICATOR,
            "paging policy differentiation",
        ));
    }
    // PFCP bit rates are kbit/s (TS 29.244 §8.2.8); the dataplane's bit/s.
    let bps = |kbps: u64| kbps.saturating_mul(1000);
    let mbr_ul_bps = q.mbr.map(|m| bps(m.ul_kbps));
    let mbr_dl_bps = q.mbr.map(|m| bps(m.dl_kbps));
    // The averaging window is the span over which the MBR is measured
    // (TS 23.501 §5.7.3.6): the bucket holds that much at the MBR.
    let burst_bytes = q.averaging_window_ms.map(|w| {
        let rate = mbr_ul_bps.unwrap_or(0).max(mbr_dl_bps.unwrap_or(0));
        (rate / 8).saturating_mul(u64::from(w)) / 1000
    });
    let gate = |g: Gate| match g {
        Gate::Open => dp::Gate::Open,
        Gate::Closed => dp::Gate::Closed,
    };
    Ok(dp::Qer {
        id: q.id,
        gate_ul: gate(q.gate.ul),
        gate_dl: gate(q.gate.dl),
        mbr_ul_bps,
        mbr_dl_bps,
        gbr_ul_bps: q.gbr.map(|g| bps(g.ul_kbps)),
        gbr_dl_bps: q.gbr.map(|g| bps(g.dl_kbps)),
        qfi: q.qfi,
        rqi: q.rqi,
        burst_bytes: burst_bytes.filter(|b| *b > 0),
    })
}

fn check_urr(u: &pfcp::rules::Urr) -> Result<(), UpError> {
    let rule = Some(RuleRef::Urr(u.id));
    if u.measurement_method.contains(MeasurementMethod::EVENT) {
        return Err(unsupported(
            rule,
            t::MEASUREMENT_METHOD,
            "event measurement",
        ));
    }
    if let Some(m) = u.measurement_information {
        let refused = MeasurementInformation::MBQE
            | MeasurementInformation::SSPOC
            | MeasurementInformation::ASPOC
            | MeasurementInformation::CIAM;
        if m.intersects(refused) {
            let mut accepted = m;
            accepted.remove(refused);
            let mut hit = m;
            hit.remove(accepted);
            return Err(unsupported(
                rule,
                t::MEASUREMENT_INFORMATION,
                format!(
                    "measurement information {:?} (counting is after QoS enforcement, no charging pause)",
                    hit.names().collect::<Vec<_>>()
                ),
            ));
        }
    }
    Ok(())
}

/// The PFCP error for a rule set the dataplane refused on publish: cause
/// 73 with the rule it names, 75 when the tables are full.
#[must_use]
pub fn rule_error(e: &dp::RuleError, s: &dp::Session) -> UpError {
    use dp::RuleError as E;
    let reason = e.to_string();
    let pdr_with = |f: &dyn Fn(&dp::Pdr) -> bool| {
        s.pdrs
            .iter()
            .find(|p| f(p))
            .map_or(RuleRef::Pdr(0), |p| RuleRef::Pdr(p.id))
    };
    let rule = match *e {
        E::DuplicatePdr { pdr, .. }
        | E::UnknownFar { pdr, .. }
        | E::UnknownQer { pdr, .. }
        | E::UnknownUrr { pdr, .. }
        | E::TooManyRefs { pdr, .. }
        | E::NoLookupKey { pdr, .. } => RuleRef::Pdr(pdr),
        E::DuplicateFar { far, .. }
        | E::InvalidApplyAction { far, .. }
        | E::MissingForwardingParameters { far, .. }
        | E::MissingOuterHeaderCreation { far, .. }
        | E::InvalidDscp { far, .. } => RuleRef::Far(far),
        E::DuplicationUnsupported { far, .. } => {
            return unsupported(Some(RuleRef::Far(far)), t::APPLY_ACTION, reason);
        }
        E::UnsupportedDestination { far, .. } => {
            return unsupported(Some(RuleRef::Far(far)), t::DESTINATION_INTERFACE, reason);
        }
        E::DuplicateQer { qer, .. } => RuleRef::Qer(qer),
        E::DuplicateUrr { urr, .. } => RuleRef::Urr(urr),
        E::InvalidQfi { rule, qfi, .. } => {
            if s.qers.iter().any(|q| q.id == rule && q.qfi == Some(qfi)) {
                RuleRef::Qer(rule)
            } else {
                RuleRef::Pdr(u16::try_from(rule).unwrap_or(0))
            }
        }
        E::TeidInUse { teid, .. } => {
            pdr_with(&|p| p.pdi.local_fteid.is_some_and(|f| f.teid == teid))
        }
        E::UeIpInUse { addr, .. } => pdr_with(&|p| {
            p.pdi.local_fteid.is_none()
                && p.pdi.ue_ip.is_some_and(|u| match addr {
                    IpAddr::V4(a) => u.ipv4 == Some(a),
                    IpAddr::V6(a) => u
                        .ipv6
                        .is_some_and(|b| u128::from(a) >> 64 == u128::from(b) >> 64),
                })
        }),
        E::Full => return UpError::NoResources(reason),
        E::DuplicateSession { .. }
        | E::UnknownSession { .. }
        | E::QerSetChanged { .. }
        | E::RqiWithoutQfi { .. } => {
            return UpError::Other(reason);
        }
    };
    UpError::Rule { rule, reason }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pfcp::codec::SmallVec;
    use pfcp::codec::grouped::{ApplicationIdsPfds, PfdContext};
    use pfcp::codec::ies::{
        Bitrate, FSeid, GateStatus, OuterHeaderRemoval, PfdContents, ReportingTriggers,
    };
    use pfcp::rules::{Far, Forwarding, LocalFTeid, Pdi, Pdr, Qer, SdfFilter, UeIp, Urr};
    use std::net::Ipv4Addr;
    use std::sync::Arc;

    const UE: Ipv4Addr = Ipv4Addr::new(10, 45, 0, 7);
    const GNB: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 2);

    fn pdi(src: SourceInterface) -> Pdi {
        let ul = src == SourceInterface::ACCESS;
        Pdi {
            source_interface: src,
            local_f_teid: ul.then_some(LocalFTeid {
                teid: 0x1234,
                ipv4: Some(Ipv4Addr::new(192, 168, 1, 1)),
                ipv6: None,
                chosen: true,
            }),
            network_instance: Some(Arc::from("internet")),
            ue_ip: Some(UeIp {
                ipv4: Some(UE),
                ipv6: None,
                ipv6_prefix_len: 64,
                is_destination: !ul,
                chosen: true,
            }),
            sdf_filters: Box::default(),
            qfis: if ul {
                [9].into_iter().collect()
            } else {
                pfcp::rules::QfiSet::default()
            },
            rare: None,
        }
    }

    fn urr(id: u32) -> Urr {
        Urr {
            id,
            measurement_method: MeasurementMethod::VOLUM,
            reporting_triggers: ReportingTriggers::empty(),
            measurement_period: None,
            volume_threshold: None,
            volume_quota: None,
            time_threshold: None,
            time_quota: None,
            quota_holding_time: None,
            monitoring_time: None,
            subsequent_volume_threshold: None,
            subsequent_time_threshold: None,
            inactivity_detection_time: None,
            linked_urr_ids: SmallVec::new(),
            measurement_information: None,
            far_id_for_quota_action: None,
            quota_exhausted: false,
        }
    }

    /// UL PDR 1 (F-TEID, UE source, QFI 9) and DL PDR 2 (UE destination),
    /// FAR 1 to the core, FAR 2 to the gNB, QER 1, URR 1 on both.
    fn session() -> Session {
        Session {
            seid: 5,
            cp_f_seid: FSeid {
                seid: 9,
                ipv4: None,
                ipv6: None,
            },
            pdrs: vec![
                Pdr {
                    id: 1,
                    precedence: 10,
                    pdi: pdi(SourceInterface::ACCESS),
                    outer_header_removal: Some(OuterHeaderRemoval {
                        description: OuterHeaderRemoval::GTPU_UDP_IPV4,
                        ext_header_deletion: None,
                    }),
                    far_id: 1,
                    ids: smallvec::smallvec![1, 1],
                    n_urrs: 1,
                },
                Pdr {
                    id: 2,
                    precedence: 10,
                    pdi: pdi(SourceInterface::SGI_LAN_N6_LAN),
                    outer_header_removal: None,
                    far_id: 2,
                    ids: smallvec::smallvec![1, 1],
                    n_urrs: 1,
                },
            ],
            fars: smallvec::smallvec![
                Arc::new(Far {
                    id: 1,
                    apply_action: ApplyAction::FORW,
                    forwarding: Some(Forwarding {
                        destination_interface: DestinationInterface::CORE,
                        network_instance: None,
                        outer_header_creation: None,
                        transport_level_marking: None,
                        destination_interface_type: None,
                    }),
                    bar_id: None,
                }),
                Arc::new(Far {
                    id: 2,
                    apply_action: ApplyAction::FORW,
                    forwarding: Some(Forwarding {
                        destination_interface: DestinationInterface::ACCESS,
                        network_instance: None,
                        outer_header_creation: Some(OuterHeaderCreation::gtpu_v4(0x200, GNB)),
                        transport_level_marking: Some((0xb8, 0xff)),
                        destination_interface_type: None,
                    }),
                    bar_id: None,
                }),
            ],
            qers: smallvec::smallvec![Arc::new(Qer {
                id: 1,
                correlation_id: None,
                gate: GateStatus::default(),
                mbr: Some(Bitrate {
                    ul_kbps: 10_000,
                    dl_kbps: 20_000,
                }),
                gbr: None,
                qfi: Some(9),
                rqi: false,
                paging_policy_indicator: None,
                averaging_window_ms: None,
            })],
            urrs: smallvec::smallvec![Arc::new(urr(1))],
            bar: None,
            pdn_type: Some(1),
            dnn: None,
            inactivity_timer_s: None,
        }
    }

    fn refused(s: &Session) -> (Option<RuleRef>, u16) {
        match super::session(s, 1) {
            Err(UpError::Unsupported { rule, ie, .. }) => (rule, ie),
            other => panic!("expected a cause-76 refusal, got {other:?}"),
        }
    }

    #[test]
    fn typical_session_translates_field_by_field() {
        let d = super::session(&session(), pfcp_session_id(5)).unwrap();
        d.validate().unwrap();
        assert_eq!(d.id, 5);
        let ul = &d.pdrs[0];
        assert_eq!(ul.pdi.source_interface, dp::SourceInterface::Access);
        assert_eq!(ul.pdi.local_fteid.unwrap().teid, 0x1234);
        assert_eq!(ul.pdi.ue_ip.unwrap().ipv4, Some(UE));
        assert_eq!(ul.pdi.qfi, Some(9));
        assert_eq!(
            ul.outer_header_removal,
            Some(dp::OuterHeaderRemoval::GtpuUdpIpv4)
        );
        let dl = &d.pdrs[1];
        assert_eq!(dl.pdi.source_interface, dp::SourceInterface::SgiLan);
        assert!(dl.pdi.local_fteid.is_none());
        let f = d.fars[1].forwarding.unwrap();
        assert_eq!(f.destination, dp::DestinationInterface::Access);
        assert_eq!(
            f.outer_header_creation,
            Some(dp::OuterHeaderCreation {
                teid: 0x200,
                peer: GNB.into()
            })
        );
        assert_eq!(f.transport_level_marking, Some(46), "ToS 0xb8 is DSCP EF");
        let q = d.qers[0];
        assert_eq!(
            (q.mbr_ul_bps, q.mbr_dl_bps),
            (Some(10_000_000), Some(20_000_000)),
            "kbit/s to bit/s"
        );
        assert_eq!(q.qfi, Some(9));
        assert_eq!(d.urrs[0].id, 1);
        assert_eq!(d.urrs[0].volume_quota, None, "the node owns quotas");
    }

    fn pfd_table(apps: &[(&'static [u8], &[PfdContents<'static>])]) -> PfdTable {
        let list: Vec<ApplicationIdsPfds<'static>> = apps
            .iter()
            .map(|(app, pfds)| ApplicationIdsPfds {
                application_id: app,
                pfd_contexts: vec![PfdContext {
                    pfd_contents: pfds.to_vec(),
                }],
            })
            .collect();
        let mut t = PfdTable::default();
        t.apply(&list).unwrap();
        t
    }

    fn with_app(mut s: Session, pdr: usize, app: &str) -> Session {
        s.pdrs[pdr].pdi.rare = Some(Box::new(pfcp::rules::PdiRare {
            application_id: Some(Arc::from(app)),
            source_interface_type: None,
        }));
        s
    }

    fn fd(text: &'static str) -> PfdContents<'static> {
        PfdContents {
            flow_description: Some(text.as_bytes()),
            ..PfdContents::default()
        }
    }

    #[test]
    fn application_with_flow_description_pfds_becomes_sdf_filters() {
        let fd1 = "permit out 6 from 198.51.100.0/24 443 to assigned";
        let fd2 = "permit out 17 from 203.0.113.9 3478-3480 to assigned";
        let fd3 = "permit out ip from 192.0.2.1 to assigned";
        // Two PFDs; the second has an Additional Flow Description.
        let mut afd = (fd3.len() as u16).to_be_bytes().to_vec();
        afd.extend_from_slice(fd3.as_bytes());
        let afd: &'static [u8] = Box::leak(afd.into_boxed_slice());
        let pfds = pfd_table(&[(
            b"video",
            &[
                fd(fd1),
                PfdContents {
                    flow_description: Some(fd2.as_bytes()),
                    additional_flow_description: Some(afd),
                    ..PfdContents::default()
                },
            ],
        )]);
        let s = with_app(session(), 1, "video");
        let d = session_with_pfds(&s, 1, &pfds).unwrap();
        // The same filters as SDF filters with those flow descriptions.
        let mut as_sdf = session();
        as_sdf.pdrs[1].pdi.sdf_filters = [fd1, fd2, fd3]
            .iter()
            .map(|t| SdfFilter {
                flow: Some(Arc::new(t.parse().unwrap())),
                tos_traffic_class: None,
                security_parameter_index: None,
                flow_label: None,
                filter_id: None,
            })
            .collect();
        let want = super::session(&as_sdf, 1).unwrap();
        assert_eq!(d.pdrs[1].pdi.sdf_filters.len(), 3);
        assert_eq!(d.pdrs[1].pdi.sdf_filters, want.pdrs[1].pdi.sdf_filters);
        assert_eq!(d.pdrs[0], want.pdrs[0], "other PDRs untouched");
        // Without the PFDs (not provisioned, or removed) it is refused.
        let e = super::session(&s, 1).unwrap_err();
        assert!(
            matches!(&e, UpError::Unsupported { rule: Some(RuleRef::Pdr(2)), ie, reason }
                if *ie == t::APPLICATION_ID && reason.contains("no PFDs")),
            "{e:?}"
        );
    }

    #[test]
    fn application_detection_beyond_flow_descriptions_is_refused() {
        let refused_with = |pfds: &PfdTable, s: &Session| match session_with_pfds(s, 1, pfds) {
            Err(UpError::Unsupported { rule, ie, reason }) => (rule, ie, reason),
            other => panic!("expected a cause-76 refusal, got {other:?}"),
        };
        let fd1 = "permit out 6 from 198.51.100.0/24 443 to assigned";
        let url = PfdContents {
            url: Some(b"http://video.example.com/"),
            ..PfdContents::default()
        };
        let dn = PfdContents {
            flow_description: Some(fd1.as_bytes()),
            domain_name: Some(b"video.example.com"),
            ..PfdContents::default()
        };
        let cases: Vec<(PfdTable, &str)> = vec![
            // One URL PFD among flow descriptions.
            (pfd_table(&[(b"video", &[fd(fd1), url])]), "URL"),
            // A PFD with a flow description and a domain name.
            (pfd_table(&[(b"video", &[dn])]), "URL, domain name"),
            // A flow description the SDF filter parser refuses.
            (pfd_table(&[(b"video", &[fd("permit sideways ip")])]), "PFD"),
            // One the dataplane cannot match (deny).
            (
                pfd_table(&[(b"video", &[fd("deny out ip from any to assigned")])]),
                "deny",
            ),
        ];
        let s = with_app(session(), 1, "video");
        for (pfds, why) in cases {
            let (rule, ie, reason) = refused_with(&pfds, &s);
            assert_eq!(
                (rule, ie),
                (Some(RuleRef::Pdr(2)), t::APPLICATION_ID),
                "{reason}"
            );
            assert!(reason.contains(why), "{reason:?} should mention {why:?}");
        }
        // An Application ID next to SDF filters: their intersection is not
        // expressible as filters.
        let pfds = pfd_table(&[(b"video", &[fd(fd1)])]);
        let mut s2 = s.clone();
        s2.pdrs[1].pdi.sdf_filters = Box::new([SdfFilter {
            flow: Some(Arc::new(fd1.parse().unwrap())),
            tos_traffic_class: None,
            security_parameter_index: None,
            flow_label: None,
            filter_id: None,
        }]);
        let (_, ie, reason) = refused_with(&pfds, &s2);
        assert_eq!(ie, t::APPLICATION_ID);
        assert!(reason.contains("together with SDF filters"), "{reason}");
    }

    #[test]
    fn sdf_filters_are_written_from_the_remote_side_to_the_ue() {
        let mut s = session();
        for (text, remote_port, ue_port) in [
            (
                "permit out 17 from 10.1.0.0/16 5000-5100 to assigned 4000",
                5000,
                4000,
            ),
            // `in` rules are written from the UE: the same flow.
            (
                "permit in 17 from assigned 4000 to 10.1.0.0/16 5000-5100",
                5000,
                4000,
            ),
        ] {
            s.pdrs[0].pdi.sdf_filters = Box::new([SdfFilter {
                flow: Some(Arc::new(text.parse().unwrap())),
                tos_traffic_class: None,
                security_parameter_index: None,
                flow_label: None,
                filter_id: None,
            }]);
            let d = super::session(&s, 1).unwrap();
            let f = &d.pdrs[0].pdi.sdf_filters[0];
            assert_eq!(f.protocol, Some(17));
            assert_eq!(
                f.from,
                dp::FilterAddr::Net(dp::IpNet {
                    addr: "10.1.0.0".parse().unwrap(),
                    prefix: 16
                }),
                "{text}"
            );
            assert_eq!(f.from_ports[0].lo, remote_port);
            assert_eq!(f.to, dp::FilterAddr::Assigned);
            assert_eq!(f.to_ports[0].lo, ue_port);
        }
    }

    #[test]
    fn exhausted_quota_sends_its_pdrs_to_a_dropping_far_or_the_quota_far() {
        let mut s = session();
        Arc::make_mut(&mut s.urrs[0]).quota_exhausted = true;
        let d = super::session(&s, 1).unwrap();
        d.validate().unwrap();
        let far = d.pdrs[0].far_id;
        assert!(far != 1 && far != 2);
        assert_eq!(d.pdrs[1].far_id, far, "one drop FAR for all");
        let f = d.fars.iter().find(|f| f.id == far).unwrap();
        assert!(f.apply_action.drop && !f.apply_action.forw);
        // With a FAR for quota action, that one applies.
        s.fars.push(Arc::new(Far {
            id: 7,
            apply_action: ApplyAction::BUFF,
            forwarding: None,
            bar_id: None,
        }));
        Arc::make_mut(&mut s.urrs[0]).far_id_for_quota_action = Some(7);
        let d = super::session(&s, 1).unwrap();
        assert_eq!((d.pdrs[0].far_id, d.pdrs[1].far_id), (7, 7));
        assert_eq!(d.fars.len(), 3, "no synthetic FAR");
    }

    /// free5GC-style establishment: the downlink FAR is FORW toward Access
    /// (with its Network Instance) but no Outer Header Creation until the
    /// N2 setup's Update FAR; another SMF's FORW FAR may come without
    /// Forwarding Parameters at all. Accepted, dropping until the tunnel
    /// exists; forwarding as soon as it does.
    #[test]
    fn forw_without_a_tunnel_yet_drops_instead_of_refusing_the_session() {
        let mut s = session();
        let mut dl = (*s.fars[1]).clone();
        dl.forwarding.as_mut().unwrap().outer_header_creation = None;
        s.fars[1] = Arc::new(dl.clone());
        let d = super::session(&s, pfcp_session_id(5)).unwrap();
        d.validate().unwrap();
        let a = d.fars[1].apply_action;
        assert!(a.drop && !a.forw, "{a:?}");
        // The UL FAR (Core, no tunnel needed) still forwards.
        assert!(d.fars[0].apply_action.forw);
        dl.forwarding = None;
        s.fars[1] = Arc::new(dl.clone());
        let d = super::session(&s, pfcp_session_id(5)).unwrap();
        d.validate().unwrap();
        assert!(d.fars[1].apply_action.drop && !d.fars[1].apply_action.forw);
        // The Update FAR with Outer Header Creation: forwards.
        s.fars[1] = session().fars[1].clone();
        let d = super::session(&s, pfcp_session_id(5)).unwrap();
        assert!(d.fars[1].apply_action.forw && !d.fars[1].apply_action.drop);
    }

    /// Open5GS's IPv6 rules through the SMF (cp2up: PDR from the CP
    /// function; up2cp: a FAR to the CP function for the UE's Router
    /// Solicitations): no N4-u here, so the PDR stays out and the FAR
    /// drops; the session (its IPv4 half, and IPv6 data) is accepted.
    #[test]
    fn cp_function_rules_are_inert_open5gs() {
        let mut s = session();
        let mut cp2up = s.pdrs[0].clone();
        cp2up.id = 9;
        cp2up.pdi.source_interface = SourceInterface::CP_FUNCTION;
        cp2up.pdi.ue_ip = None;
        s.pdrs.push(cp2up);
        let mut up2cp = (*s.fars[0]).clone();
        up2cp.id = 9;
        up2cp.forwarding.as_mut().unwrap().destination_interface =
            DestinationInterface::CP_FUNCTION;
        up2cp.forwarding.as_mut().unwrap().outer_header_creation =
            Some(OuterHeaderCreation::gtpu_v4(1, Ipv4Addr::LOCALHOST));
        s.fars.push(Arc::new(up2cp));
        let d = super::session(&s, pfcp_session_id(5)).unwrap();
        d.validate().unwrap();
        assert!(d.pdrs.iter().all(|p| p.id != 9), "cp2up left out");
        let f = d.fars.iter().find(|f| f.id == 9).unwrap();
        assert!(f.apply_action.drop && !f.apply_action.forw && f.forwarding.is_none());
    }

    #[test]
    fn inactive_urr_is_not_counted() {
        let mut s = session();
        Arc::make_mut(&mut s.urrs[0]).measurement_information = Some(MeasurementInformation::INAM);
        let d = super::session(&s, 1).unwrap();
        assert!(d.pdrs.iter().all(|p| p.urr_ids.is_empty()));
        assert_eq!(d.urrs.len(), 1, "the URR itself stays (for its reports)");
    }

    #[test]
    fn inactivity_timer_watches_pdrs_without_a_urr() {
        use super::INACTIVITY_URR_ID as I;
        let mut s = session();
        s.inactivity_timer_s = Some(60);
        // Every PDR counts against URR 1: its counters tell activity.
        let d = super::session(&s, 1).unwrap();
        assert!(d.pdrs.iter().all(|p| !p.urr_ids.contains(&I)));
        assert!(d.urrs.iter().all(|u| u.id != I));
        // No PDR with a counting URR: the internal one on every PDR.
        Arc::make_mut(&mut s.urrs[0]).measurement_information = Some(MeasurementInformation::INAM);
        let d = super::session(&s, 1).unwrap();
        assert!(d.pdrs.iter().all(|p| p.urr_ids == [I]), "{:?}", d.pdrs);
        assert_eq!(d.urrs.iter().filter(|u| u.id == I).count(), 1);
        // Without the timer: nothing added.
        s.inactivity_timer_s = None;
        let d = super::session(&s, 1).unwrap();
        assert!(d.pdrs.iter().all(|p| p.urr_ids.is_empty()));
        assert!(d.urrs.iter().all(|u| u.id != I));
    }

    #[test]
    fn averaging_window_sets_the_bucket_depth() {
        let mut s = session();
        Arc::make_mut(&mut s.qers[0]).averaging_window_ms = Some(2000);
        let d = super::session(&s, 1).unwrap();
        assert_eq!(d.qers[0].burst_bytes, Some(20_000_000 / 8 * 2));
    }

    #[test]
    fn what_the_dataplane_cannot_do_is_refused_with_its_ie() {
        type Edit = Box<dyn Fn(&mut Session)>;
        let cases: Vec<(Edit, Option<RuleRef>, u16)> = vec![
            (
                Box::new(|s| s.pdrs[0].pdi.qfis = [5, 9].into_iter().collect()),
                Some(RuleRef::Pdr(1)),
                t::QFI,
            ),
            (
                Box::new(|s| {
                    s.pdrs[1].pdi.rare = Some(Box::new(pfcp::rules::PdiRare {
                        application_id: Some(Arc::from("youtube")),
                        source_interface_type: None,
                    }));
                }),
                Some(RuleRef::Pdr(2)),
                t::APPLICATION_ID,
            ),
            (
                Box::new(|s| {
                    s.pdrs[0].pdi.source_interface = SourceInterface::VN_INTERNAL_5G;
                }),
                Some(RuleRef::Pdr(1)),
                t::SOURCE_INTERFACE,
            ),
            (
                Box::new(|s| {
                    if let Some(u) = &mut s.pdrs[0].pdi.ue_ip {
                        u.is_destination = true;
                    }
                }),
                Some(RuleRef::Pdr(1)),
                t::UE_IP_ADDRESS,
            ),
            (
                Box::new(|s| {
                    s.pdrs[0].pdi.sdf_filters = Box::new([SdfFilter {
                        flow: Some(Arc::new(
                            "permit out ip from any to assigned".parse().unwrap(),
                        )),
                        tos_traffic_class: Some((0xb8, 0xfc)),
                        security_parameter_index: None,
                        flow_label: None,
                        filter_id: None,
                    }]);
                }),
                Some(RuleRef::Pdr(1)),
                t::SDF_FILTER,
            ),
            (
                Box::new(|s| {
                    s.pdrs[0].outer_header_removal = Some(OuterHeaderRemoval {
                        description: 2,
                        ext_header_deletion: None,
                    });
                }),
                Some(RuleRef::Pdr(1)),
                t::OUTER_HEADER_REMOVAL,
            ),
            (
                Box::new(|s| {
                    Arc::make_mut(&mut s.fars[0]).apply_action =
                        ApplyAction::FORW | ApplyAction::IPMA;
                }),
                Some(RuleRef::Far(1)),
                t::APPLY_ACTION,
            ),
            (
                Box::new(|s| {
                    if let Some(f) = &mut Arc::make_mut(&mut s.fars[0]).forwarding {
                        f.destination_interface = DestinationInterface::LI_FUNCTION;
                    }
                }),
                Some(RuleRef::Far(1)),
                t::DESTINATION_INTERFACE,
            ),
            (
                Box::new(|s| {
                    if let Some(f) = &mut Arc::make_mut(&mut s.fars[1]).forwarding {
                        f.outer_header_creation = Some(OuterHeaderCreation {
                            description: OuterHeaderCreation::UDP_IPV4,
                            teid: None,
                            ipv4: Some(GNB),
                            ipv6: None,
                            port: Some(2152),
                            c_tag: None,
                            s_tag: None,
                        });
                    }
                }),
                Some(RuleRef::Far(2)),
                t::OUTER_HEADER_CREATION,
            ),
            (
                Box::new(|s| {
                    if let Some(f) = &mut Arc::make_mut(&mut s.fars[1]).forwarding {
                        f.transport_level_marking = Some((0xb8, 0x0f));
                    }
                }),
                Some(RuleRef::Far(2)),
                t::TRANSPORT_LEVEL_MARKING,
            ),
            (
                Box::new(|s| Arc::make_mut(&mut s.qers[0]).correlation_id = Some(3)),
                Some(RuleRef::Qer(1)),
                t::QER_CORRELATION_ID,
            ),
            (
                Box::new(|s| Arc::make_mut(&mut s.qers[0]).paging_policy_indicator = Some(1)),
                Some(RuleRef::Qer(1)),
                t::PAGING_POLICY_INDICATOR,
            ),
            (
                Box::new(|s| {
                    Arc::make_mut(&mut s.urrs[0]).measurement_method = MeasurementMethod::EVENT;
                }),
                Some(RuleRef::Urr(1)),
                t::MEASUREMENT_METHOD,
            ),
            (
                Box::new(|s| {
                    Arc::make_mut(&mut s.urrs[0]).measurement_information =
                        Some(MeasurementInformation::MBQE);
                }),
                Some(RuleRef::Urr(1)),
                t::MEASUREMENT_INFORMATION,
            ),
            (Box::new(|s| s.pdn_type = Some(5)), None, t::PDN_TYPE),
        ];
        for (i, (edit, rule, ie)) in cases.into_iter().enumerate() {
            let mut s = session();
            edit(&mut s);
            assert_eq!(refused(&s), (rule, ie), "case {i}");
        }
    }

    #[test]
    fn dataplane_refusals_name_the_rule() {
        let d = super::session(&session(), 1).unwrap();
        let e = dp::RuleError::TeidInUse {
            session: 1,
            teid: 0x1234,
            owner: 9,
        };
        assert!(matches!(
            rule_error(&e, &d),
            UpError::Rule {
                rule: RuleRef::Pdr(1),
                ..
            }
        ));
        let e = dp::RuleError::UeIpInUse {
            session: 1,
            addr: UE.into(),
            owner: 9,
        };
        assert!(
            matches!(
                rule_error(&e, &d),
                UpError::Rule {
                    rule: RuleRef::Pdr(2),
                    ..
                }
            ),
            "the downlink PDR keyed on the address"
        );
        let e = dp::RuleError::MissingOuterHeaderCreation { session: 1, far: 2 };
        assert!(matches!(
            rule_error(&e, &d),
            UpError::Rule {
                rule: RuleRef::Far(2),
                ..
            }
        ));
        assert!(matches!(
            rule_error(&dp::RuleError::Full, &d),
            UpError::NoResources(_)
        ));
        assert_eq!(
            rule_error(&dp::RuleError::Full, &d).cause(),
            pfcp::codec::ies::Cause::NO_RESOURCES_AVAILABLE
        );
    }

    #[test]
    fn session_ids_of_static_and_pfcp_sessions_never_meet() {
        assert_eq!(static_session_id(1), Some(STATIC_SESSION_BIT | 1));
        assert_eq!(static_session_id(STATIC_SESSION_BIT), None);
        assert_eq!(
            pfcp_session_id(pfcp::node::MAX_SEID) & STATIC_SESSION_BIT,
            0
        );
    }
}
