//! The PFCP-level rule set of a session, owned and validated: what the node
//! hands to [`crate::UserPlane::install`]. Every reference resolves (a PDR's
//! FAR, QERs and URRs exist), every CHOOSE is replaced by what was
//! allocated, names are dotted text and SDF filters are parsed. The `upf`
//! control thread translates this into dataplane rules.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use smallvec::SmallVec;

pub use crate::codec::ies::{
    ApplyAction, Bitrate, DestinationInterface, FSeid, Gate, GateStatus, MeasurementInformation,
    MeasurementMethod, NodeIdBuf, OuterHeaderCreation, OuterHeaderRemoval, ReportingTriggers,
    SourceInterface, Volume,
};
pub use crate::flow::{FlowAction, FlowAddress, FlowDescription, FlowDirection, FlowEndpoint};

/// A session's complete rule set.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// Our (UP) SEID: the key of the session.
    pub seid: u64,
    /// The SMF's F-SEID. (Its association, and so its Node ID, is the
    /// node's to know: no copy per session, which for an FQDN was a heap
    /// block per session too.)
    pub cp_f_seid: FSeid,
    /// Sorted by precedence (lowest value = highest precedence), then ID.
    pub pdrs: Vec<Pdr>,
    /// FARs, QERs and URRs are shared between sessions that have equal
    /// ones (a million sessions of one profile hold one copy of their
    /// common rules): change one through `Arc::make_mut`. Two of each
    /// fit without an allocation of their own (the common session has two
    /// FARs, one QER and one URR): -96 bytes a session.
    pub fars: SmallVec<[Arc<Far>; 2]>,
    pub qers: SmallVec<[Arc<Qer>; 2]>,
    pub urrs: SmallVec<[Arc<Urr>; 2]>,
    pub bar: Option<Bar>,
    /// PDN Type (1 IPv4, 2 IPv6, 3 IPv4v6, 4 Non-IP, 5 Ethernet), if given.
    pub pdn_type: Option<u8>,
    /// APN/DNN as dotted text, if given.
    pub dnn: Option<Arc<str>>,
    /// User Plane Inactivity Timer (seconds), if given.
    pub inactivity_timer_s: Option<u32>,
}

impl Session {
    #[must_use]
    pub fn pdr(&self, id: u16) -> Option<&Pdr> {
        self.pdrs.iter().find(|p| p.id == id)
    }
    #[must_use]
    pub fn far(&self, id: u32) -> Option<&Far> {
        self.fars.iter().find(|f| f.id == id).map(|f| &**f)
    }
    #[must_use]
    pub fn qer(&self, id: u32) -> Option<&Qer> {
        self.qers.iter().find(|q| q.id == id).map(|q| &**q)
    }
    #[must_use]
    pub fn urr(&self, id: u32) -> Option<&Urr> {
        self.urrs.iter().find(|u| u.id == id).map(|u| &**u)
    }
    /// The UE's IPv4 address (from any PDR), if the session has one.
    #[must_use]
    pub fn ue_ipv4(&self) -> Option<Ipv4Addr> {
        self.pdrs
            .iter()
            .find_map(|p| p.pdi.ue_ip.and_then(|u| u.ipv4))
    }
    /// The UE's IPv6 prefix (from any PDR), if the session has one.
    #[must_use]
    pub fn ue_ipv6(&self) -> Option<(Ipv6Addr, u8)> {
        self.pdrs.iter().find_map(|p| {
            p.pdi
                .ue_ip
                .and_then(|u| u.ipv6.map(|a| (a, u.ipv6_prefix_len)))
        })
    }
}

/// Packet Detection Rule. 144 bytes (two per common session, in one
/// `Vec`): the URR and QER ids share one inline list, QFIs are a bit set,
/// and the rarely given PDI fields are boxed.
#[derive(Debug, Clone, PartialEq)]
pub struct Pdr {
    pub id: u16,
    /// Lower value = matched first. Real SMFs send 0 for every PDR.
    pub precedence: u32,
    pub pdi: Pdi,
    pub outer_header_removal: Option<OuterHeaderRemoval>,
    /// Always present: predefined rules are not supported.
    pub far_id: u32,
    /// The URR ids, then the QER ids: one inline list holds the common
    /// one of each (two `SmallVec`s took 48 bytes). See
    /// [`Pdr::urr_ids`], [`Pdr::qer_ids`], [`Pdr::set_rule_ids`].
    pub ids: SmallVec<[u32; 4]>,
    /// How many of `ids` are URR ids.
    pub n_urrs: u8,
}

const _: () = assert!(std::mem::size_of::<Pdr>() <= 144);

impl Pdr {
    /// Whether the PDR matches traffic from the access side (N3/N9 GTP-U,
    /// uplink) rather than from the core (N6, downlink).
    #[must_use]
    pub fn is_uplink(&self) -> bool {
        self.pdi.source_interface == SourceInterface::ACCESS
    }
    /// The URRs that count the PDR's packets.
    #[must_use]
    pub fn urr_ids(&self) -> &[u32] {
        self.ids
            .get(..usize::from(self.n_urrs))
            .unwrap_or(&self.ids)
    }
    /// The QERs applied to the PDR's packets.
    #[must_use]
    pub fn qer_ids(&self) -> &[u32] {
        self.ids.get(usize::from(self.n_urrs)..).unwrap_or_default()
    }
    /// Sets the URR and QER ids; `false` (nothing changed) for more than
    /// 255 URR ids.
    pub fn set_rule_ids(&mut self, urr_ids: &[u32], qer_ids: &[u32]) -> bool {
        let Ok(n) = u8::try_from(urr_ids.len()) else {
            return false;
        };
        self.ids.clear();
        self.ids.extend_from_slice(urr_ids);
        self.ids.extend_from_slice(qer_ids);
        self.ids.shrink_to_fit();
        self.n_urrs = n;
        true
    }
}

/// A set of QFIs (6-bit values) as bits of a word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct QfiSet(u64);

impl QfiSet {
    /// Adds `qfi` (its low 6 bits: a QFI has no more).
    pub fn insert(&mut self, qfi: u8) {
        self.0 |= 1 << (qfi & 0x3f);
    }
    #[must_use]
    pub fn contains(self, qfi: u8) -> bool {
        qfi < 64 && self.0 & (1 << qfi) != 0
    }
    #[must_use]
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    #[must_use]
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }
    /// The QFIs, smallest first.
    pub fn iter(self) -> impl Iterator<Item = u8> {
        (0..64u8).filter(move |q| self.contains(*q))
    }
    /// The one QFI of a set of one.
    #[must_use]
    pub fn single(self) -> Option<u8> {
        (self.len() == 1).then(|| self.0.trailing_zeros() as u8)
    }
}

impl FromIterator<u8> for QfiSet {
    fn from_iter<I: IntoIterator<Item = u8>>(it: I) -> Self {
        let mut s = Self::default();
        for q in it {
            s.insert(q);
        }
        s
    }
}

/// PDI fields real SMFs rarely send, boxed so that a PDI without them
/// carries one word instead of three.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PdiRare {
    pub application_id: Option<Arc<str>>,
    /// Source Interface Type (3GPP Interface Type), if given.
    pub source_interface_type: Option<u8>,
}

/// Packet Detection Information.
#[derive(Debug, Clone, PartialEq)]
pub struct Pdi {
    /// Access (uplink GTP-U), Core (downlink, or N9 from another UPF),
    /// SGi-LAN/N6-LAN, CP-function, 5G VN internal.
    pub source_interface: SourceInterface,
    /// Our GTP-U tunnel endpoint, with CHOOSE resolved.
    pub local_f_teid: Option<LocalFTeid>,
    /// Network Instance as dotted text (shared between sessions).
    pub network_instance: Option<Arc<str>>,
    /// The UE address (source for uplink PDRs, destination for downlink).
    pub ue_ip: Option<UeIp>,
    pub sdf_filters: Box<[SdfFilter]>,
    /// QFIs to match (uplink); empty: any.
    pub qfis: QfiSet,
    /// Application ID and Source Interface Type, when either is given.
    pub rare: Option<Box<PdiRare>>,
}

impl Pdi {
    #[must_use]
    pub fn application_id(&self) -> Option<&Arc<str>> {
        self.rare.as_ref().and_then(|r| r.application_id.as_ref())
    }
    #[must_use]
    pub fn source_interface_type(&self) -> Option<u8> {
        self.rare.as_ref().and_then(|r| r.source_interface_type)
    }
}

/// A local F-TEID, allocated by us (CHOOSE) or given by the SMF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LocalFTeid {
    pub teid: u32,
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    /// Allocated by the UPF (CHOOSE).
    pub chosen: bool,
}

/// A UE address (IPv4 and/or IPv6 prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UeIp {
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    /// Length of the IPv6 prefix (64 unless the SMF said otherwise).
    pub ipv6_prefix_len: u8,
    /// The address is the packet's destination: S/D set, or the PDR's
    /// source interface is not Access (some SMFs omit S/D on downlink PDRs).
    pub is_destination: bool,
    /// Allocated by the UPF (CHV4/CHV6).
    pub chosen: bool,
}

impl UeIp {
    /// Whether `ip` is this UE's address (or inside its IPv6 prefix).
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => self.ipv4 == Some(a),
            IpAddr::V6(a) => self.ipv6.is_some_and(|p| {
                let len = u32::from(self.ipv6_prefix_len.min(128));
                let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
                u128::from(p) & mask == u128::from(a) & mask
            }),
        }
    }
}

/// SDF Filter.
#[derive(Debug, Clone, PartialEq)]
pub struct SdfFilter {
    /// Parsed IPFilterRule (shared between sessions that use the same text).
    pub flow: Option<Arc<FlowDescription>>,
    /// ToS/Traffic Class: (value, mask).
    pub tos_traffic_class: Option<(u8, u8)>,
    pub security_parameter_index: Option<u32>,
    pub flow_label: Option<u32>,
    pub filter_id: Option<u32>,
}

/// Forwarding Action Rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Far {
    pub id: u32,
    /// DROP, FORW, BUFF, NOCP (DUPL is refused).
    pub apply_action: ApplyAction,
    /// Present when the action forwards.
    pub forwarding: Option<Forwarding>,
    pub bar_id: Option<u8>,
}

impl Far {
    #[must_use]
    pub fn forwards(&self) -> bool {
        self.apply_action.contains(ApplyAction::FORW)
    }
    #[must_use]
    pub fn drops(&self) -> bool {
        self.apply_action.contains(ApplyAction::DROP)
    }
    #[must_use]
    pub fn buffers(&self) -> bool {
        self.apply_action.contains(ApplyAction::BUFF)
    }
    /// NOCP: the user plane must tell the node (Downlink Data Report) when
    /// the first downlink packet arrives.
    #[must_use]
    pub fn notifies_cp(&self) -> bool {
        self.apply_action.contains(ApplyAction::NOCP)
    }
}

/// Forwarding Parameters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Forwarding {
    /// Access (towards the gNB), Core (N9 or N6), SGi-LAN/N6-LAN, ...
    pub destination_interface: DestinationInterface,
    pub network_instance: Option<Arc<str>>,
    /// GTP-U tunnel to create (TEID and peer address), if any.
    pub outer_header_creation: Option<OuterHeaderCreation>,
    /// ToS/Traffic Class to set on the outer header: (value, mask).
    pub transport_level_marking: Option<(u8, u8)>,
    pub destination_interface_type: Option<u8>,
}

/// QoS Enforcement Rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Qer {
    pub id: u32,
    pub correlation_id: Option<u32>,
    pub gate: GateStatus,
    /// Maximum bit rate, kbit/s.
    pub mbr: Option<Bitrate>,
    /// Guaranteed bit rate, kbit/s.
    pub gbr: Option<Bitrate>,
    /// QFI to mark (downlink PDU Session Container).
    pub qfi: Option<u8>,
    /// Reflective QoS indication to mark.
    pub rqi: bool,
    pub paging_policy_indicator: Option<u8>,
    /// Averaging window (ms), if given.
    pub averaging_window_ms: Option<u32>,
}

/// Usage Reporting Rule. Thresholds, quotas and timers are evaluated by
/// the node; the user plane only counts and, when `quota_exhausted`, stops
/// forwarding the traffic of the PDRs that use this URR.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Urr {
    pub id: u32,
    pub measurement_method: MeasurementMethod,
    pub reporting_triggers: ReportingTriggers,
    /// Seconds.
    pub measurement_period: Option<u32>,
    pub volume_threshold: Option<Volume>,
    pub volume_quota: Option<Volume>,
    /// Seconds.
    pub time_threshold: Option<u32>,
    /// Seconds.
    pub time_quota: Option<u32>,
    pub quota_holding_time: Option<u32>,
    pub monitoring_time: Option<u32>,
    pub subsequent_volume_threshold: Option<Volume>,
    pub subsequent_time_threshold: Option<u32>,
    pub inactivity_detection_time: Option<u32>,
    pub linked_urr_ids: SmallVec<[u32; 2]>,
    pub measurement_information: Option<MeasurementInformation>,
    pub far_id_for_quota_action: Option<u32>,
    /// Set by the node when the volume or time quota is used up; cleared
    /// when the SMF provides a new quota.
    pub quota_exhausted: bool,
}

/// Buffering Action Rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bar {
    pub id: u8,
    /// In units of 50 ms.
    pub downlink_data_notification_delay: Option<u8>,
    pub suggested_buffering_packets_count: Option<u8>,
}

/// A reference to one rule of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleRef {
    Pdr(u16),
    Far(u32),
    Qer(u32),
    Urr(u32),
    Bar(u8),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qfi_set_holds_six_bit_values() {
        let s: QfiSet = [9, 5, 9, 63].into_iter().collect();
        assert_eq!(s.iter().collect::<Vec<_>>(), [5, 9, 63]);
        assert_eq!((s.len(), s.single()), (3, None));
        assert!(s.contains(63) && !s.contains(64) && !s.contains(0));
        let one: QfiSet = [7].into_iter().collect();
        assert_eq!(one.single(), Some(7));
        assert!(QfiSet::default().is_empty());
    }

    #[test]
    fn urr_and_qer_ids_share_one_list() {
        let mut p = Pdr {
            id: 1,
            precedence: 0,
            pdi: Pdi {
                source_interface: SourceInterface::ACCESS,
                local_f_teid: None,
                network_instance: None,
                ue_ip: None,
                sdf_filters: Box::default(),
                qfis: QfiSet::default(),
                rare: None,
            },
            outer_header_removal: None,
            far_id: 1,
            ids: SmallVec::new(),
            n_urrs: 0,
        };
        assert!(p.set_rule_ids(&[1, 2], &[3]));
        assert_eq!((p.urr_ids(), p.qer_ids()), (&[1, 2][..], &[3][..]));
        assert!(p.set_rule_ids(&[], &[4, 5, 6, 7, 8]));
        assert_eq!((p.urr_ids(), p.qer_ids()), (&[][..], &[4, 5, 6, 7, 8][..]));
        let many: Vec<u32> = (0..256).collect();
        assert!(!p.set_rule_ids(&many, &[]), "more than 255 URRs");
        assert_eq!(p.qer_ids(), [4, 5, 6, 7, 8], "unchanged");
    }
}
