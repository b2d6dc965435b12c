//! Value types of the non-grouped IEs (TS 29.244 §8.2), each with its exact
//! bit layout. Strings are borrowed from the datagram; flag IEs keep their
//! raw octets so that re-encoding is byte-exact.

use std::borrow::Cow;
use std::net::{Ipv4Addr, Ipv6Addr};

#[cfg(test)]
use crate::codec::testgen::{G, Gen};
use crate::codec::{DecodeError, IeValue, Rd, flags_ie};

// ---- integers and octet strings ------------------------------------------

macro_rules! int_ie {
    ($t:ty, $n:literal) => {
        /// Fixed-size big-endian integer; extra octets (extendable IE) ignored.
        impl<'a> IeValue<'a> for $t {
            fn decode(v: &'a [u8]) -> Result<Self, DecodeError> {
                Ok(<$t>::from_be_bytes(Rd::new(v).array::<$n>()?))
            }
            fn encode(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_be_bytes());
            }
        }
    };
}
int_ie!(u8, 1);
int_ie!(u16, 2);
int_ie!(u32, 4);
int_ie!(u64, 8);

/// Octet string of any length (zero included).
impl<'a> IeValue<'a> for &'a [u8] {
    fn decode(v: &'a [u8]) -> Result<Self, DecodeError> {
        Ok(v)
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
}

/// A name that may be plain text or DNS-label encoded: Network Instance
/// (SMFs send both forms), APN/DNN and FQDN (labels). Borrowed raw bytes;
/// [`Name::to_text`] gives the dotted text either way.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Name<'a>(pub &'a [u8]);

impl<'a> Name<'a> {
    /// Dotted text: DNS labels are joined with '.', anything else is taken
    /// as text (invalid UTF-8 replaced).
    #[must_use]
    pub fn to_text(&self) -> Cow<'a, str> {
        let b = self.0;
        if looks_like_labels(b) {
            let mut s = String::with_capacity(b.len());
            let mut i = 0;
            while i < b.len() {
                let n = usize::from(b[i]);
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(&String::from_utf8_lossy(&b[i + 1..i + 1 + n]));
                i += 1 + n;
            }
            Cow::Owned(s)
        } else {
            String::from_utf8_lossy(b)
        }
    }
}

/// Whether `b` is a valid sequence of DNS labels (length octet + printable
/// label), which plain text cannot be unless it starts with a control octet.
fn looks_like_labels(b: &[u8]) -> bool {
    if b.is_empty() || b[0] == 0 || b[0] > 63 {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let n = usize::from(b[i]);
        if n == 0 || n > 63 || i + 1 + n > b.len() {
            return false;
        }
        if !b[i + 1..i + 1 + n].iter().all(u8::is_ascii_graphic) {
            return false;
        }
        i += 1 + n;
    }
    true
}

/// DNS-label encoding of a dotted name ("internet.mnc01" → 8internet5mnc01).
#[must_use]
pub fn encode_labels(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 1);
    for label in text.split('.').filter(|l| !l.is_empty()) {
        let bytes = &label.as_bytes()[..label.len().min(63)];
        #[allow(clippy::cast_possible_truncation)]
        out.push(bytes.len() as u8);
        out.extend_from_slice(bytes);
    }
    out
}

impl std::fmt::Debug for Name<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Name({:?})", self.to_text())
    }
}

impl<'a> IeValue<'a> for Name<'a> {
    fn decode(v: &'a [u8]) -> Result<Self, DecodeError> {
        Ok(Name(v))
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.0);
    }
}

// ---- Cause ----------------------------------------------------------------

/// Cause (§8.2.1): 1 is success, 64 and above are rejections.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cause(pub u8);

impl Cause {
    pub const REQUEST_ACCEPTED: Self = Self(1);
    pub const MORE_USAGE_REPORT_TO_SEND: Self = Self(2);
    pub const REQUEST_PARTIALLY_ACCEPTED: Self = Self(3);
    pub const REQUEST_REJECTED: Self = Self(64);
    pub const SESSION_CONTEXT_NOT_FOUND: Self = Self(65);
    pub const MANDATORY_IE_MISSING: Self = Self(66);
    pub const CONDITIONAL_IE_MISSING: Self = Self(67);
    pub const INVALID_LENGTH: Self = Self(68);
    pub const MANDATORY_IE_INCORRECT: Self = Self(69);
    pub const INVALID_FORWARDING_POLICY: Self = Self(70);
    pub const INVALID_F_TEID_ALLOCATION_OPTION: Self = Self(71);
    pub const NO_ESTABLISHED_PFCP_ASSOCIATION: Self = Self(72);
    pub const RULE_CREATION_MODIFICATION_FAILURE: Self = Self(73);
    pub const PFCP_ENTITY_IN_CONGESTION: Self = Self(74);
    pub const NO_RESOURCES_AVAILABLE: Self = Self(75);
    pub const SERVICE_NOT_SUPPORTED: Self = Self(76);
    pub const SYSTEM_FAILURE: Self = Self(77);
    pub const REDIRECTION_REQUESTED: Self = Self(78);
    pub const ALL_DYNAMIC_ADDRESSES_OCCUPIED: Self = Self(79);

    /// Whether the cause means the request was (at least partly) accepted.
    #[must_use]
    pub const fn is_success(self) -> bool {
        self.0 >= 1 && self.0 < 64
    }

    #[must_use]
    pub const fn name(self) -> &'static str {
        match self.0 {
            1 => "Request accepted",
            2 => "More Usage Report to send",
            3 => "Request partially accepted",
            64 => "Request rejected",
            65 => "Session context not found",
            66 => "Mandatory IE missing",
            67 => "Conditional IE missing",
            68 => "Invalid length",
            69 => "Mandatory IE incorrect",
            70 => "Invalid Forwarding Policy",
            71 => "Invalid F-TEID allocation option",
            72 => "No established PFCP Association",
            73 => "Rule creation/modification Failure",
            74 => "PFCP entity in congestion",
            75 => "No resources available",
            76 => "Service not supported",
            77 => "System failure",
            78 => "Redirection Requested",
            79 => "All dynamic addresses are occupied",
            _ => "unknown cause",
        }
    }
}

impl std::fmt::Debug for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cause({} {})", self.0, self.name())
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

impl<'a> IeValue<'a> for Cause {
    fn decode(v: &'a [u8]) -> Result<Self, DecodeError> {
        Ok(Self(Rd::new(v).u8()?))
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.0);
    }
}

// ---- Node ID, F-SEID, F-TEID -------------------------------------------------

/// Node ID (§8.2.38).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeId<'a> {
    Ipv4(Ipv4Addr),
    Ipv6(Ipv6Addr),
    /// DNS-label encoded FQDN, as on the wire.
    Fqdn(Name<'a>),
}

impl NodeId<'_> {
    /// Owned form, used as the key of an association.
    #[must_use]
    pub fn to_owned_id(&self) -> NodeIdBuf {
        match *self {
            NodeId::Ipv4(a) => NodeIdBuf::Ipv4(a),
            NodeId::Ipv6(a) => NodeIdBuf::Ipv6(a),
            NodeId::Fqdn(n) => NodeIdBuf::Fqdn(n.to_text().to_ascii_lowercase()),
        }
    }
}

impl<'a> IeValue<'a> for NodeId<'a> {
    fn decode(v: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Rd::new(v);
        match r.u8()? & 0x0f {
            0 => Ok(NodeId::Ipv4(r.ipv4()?)),
            1 => Ok(NodeId::Ipv6(r.ipv6()?)),
            2 => {
                let name = r.rest();
                if name.is_empty() {
                    return Err(DecodeError::length());
                }
                Ok(NodeId::Fqdn(Name(name)))
            }
            _ => Err(DecodeError::value()),
        }
    }
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            NodeId::Ipv4(a) => {
                out.push(0);
                out.extend_from_slice(&a.octets());
            }
            NodeId::Ipv6(a) => {
                out.push(1);
                out.extend_from_slice(&a.octets());
            }
            NodeId::Fqdn(n) => {
                out.push(2);
                out.extend_from_slice(n.0);
            }
        }
    }
}

/// Owned Node ID (configuration, association keys). FQDNs are kept as
/// lower-case dotted text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NodeIdBuf {
    Ipv4(Ipv4Addr),
    Ipv6(Ipv6Addr),
    Fqdn(String),
}

impl NodeIdBuf {
    /// Encode into `scratch` and borrow it as a wire [`NodeId`].
    #[must_use]
    pub fn as_node_id<'s>(&self, scratch: &'s mut Vec<u8>) -> NodeId<'s> {
        match self {
            NodeIdBuf::Ipv4(a) => NodeId::Ipv4(*a),
            NodeIdBuf::Ipv6(a) => NodeId::Ipv6(*a),
            NodeIdBuf::Fqdn(s) => {
                *scratch = encode_labels(s);
                NodeId::Fqdn(Name(scratch))
            }
        }
    }
}

impl std::fmt::Display for NodeIdBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NodeIdBuf::Ipv4(a) => write!(f, "{a}"),
            NodeIdBuf::Ipv6(a) => write!(f, "{a}"),
            NodeIdBuf::Fqdn(s) => f.write_str(s),
        }
    }
}

/// F-SEID (§8.2.37).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FSeid {
    pub seid: u64,
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
}

impl<'a> IeValue<'a> for FSeid {
    fn decode(v: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Rd::new(v);
        let flags = r.u8()?;
        let seid = r.u64()?;
        let (ipv4, ipv6) = read_ip_pair(&mut r, flags)?;
        Ok(Self { seid, ipv4, ipv6 })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(self.ipv4.is_some()) << 1 | u8::from(self.ipv6.is_some()));
        out.extend_from_slice(&self.seid.to_be_bytes());
        write_ip_pair(out, self.ipv4, self.ipv6);
    }
}

/// F-TEID (§8.2.3): either a TEID with addresses, or a request that the UP
/// function choose one (CH), optionally shared by CHOOSE ID (CHID).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FTeid {
    Assigned {
        teid: u32,
        ipv4: Option<Ipv4Addr>,
        ipv6: Option<Ipv6Addr>,
    },
    /// CH=1. Real SMFs sometimes set neither V4 nor V6: take the
    /// interface's family then.
    Choose {
        v4: bool,
        v6: bool,
        choose_id: Option<u8>,
    },
}

impl<'a> IeValue<'a> for FTeid {
    fn decode(v: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Rd::new(v);
        let flags = r.u8()?;
        let (v4, v6, ch, chid) = (
            flags & 0x01 != 0,
            flags & 0x02 != 0,
            flags & 0x04 != 0,
            flags & 0x08 != 0,
        );
        if ch {
            let choose_id = if chid { Some(r.u8()?) } else { None };
            Ok(FTeid::Choose { v4, v6, choose_id })
        } else {
            let teid = r.u32()?;
            let ipv4 = if v4 { Some(r.ipv4()?) } else { None };
            let ipv6 = if v6 { Some(r.ipv6()?) } else { None };
            Ok(FTeid::Assigned { teid, ipv4, ipv6 })
        }
    }
    fn encode(&self, out: &mut Vec<u8>) {
        match *self {
            FTeid::Assigned { teid, ipv4, ipv6 } => {
                out.push(u8::from(ipv6.is_some()) << 1 | u8::from(ipv4.is_some()));
                out.extend_from_slice(&teid.to_be_bytes());
                if let Some(a) = ipv4 {
                    out.extend_from_slice(&a.octets());
                }
                if let Some(a) = ipv6 {
                    out.extend_from_slice(&a.octets());
                }
            }
            FTeid::Choose { v4, v6, choose_id } => {
                out.push(
                    u8::from(choose_id.is_some()) << 3 | 0x04 | u8::from(v6) << 1 | u8::from(v4),
                );
                if let Some(id) = choose_id {
                    out.push(id);
                }
            }
        }
    }
}

// ---- interfaces ------------------------------------------------------------

/// Source Interface (§8.2.2), 4 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SourceInterface(pub u8);
impl SourceInterface {
    pub const ACCESS: Self = Self(0);
    pub const CORE: Self = Self(1);
    pub const SGI_LAN_N6_LAN: Self = Self(2);
    pub const CP_FUNCTION: Self = Self(3);
    pub const VN_INTERNAL_5G: Self = Self(4);
    /// Whether the value is defined (higher values are spare).
    #[must_use]
    pub const fn is_known(self) -> bool {
        self.0 <= 4
    }
}

/// Destination Interface (§8.2.24), 4 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DestinationInterface(pub u8);
impl DestinationInterface {
    pub const ACCESS: Self = Self(0);
    pub const CORE: Self = Self(1);
    pub const SGI_LAN_N6_LAN: Self = Self(2);
    pub const CP_FUNCTION: Self = Self(3);
    pub const LI_FUNCTION: Self = Self(4);
    pub const VN_INTERNAL_5G: Self = Self(5);
    #[must_use]
    pub const fn is_known(self) -> bool {
        self.0 <= 5
    }
}

macro_rules! nibble_ie {
    ($t:ident) => {
        impl<'a> IeValue<'a> for $t {
            fn decode(v: &'a [u8]) -> Result<Self, DecodeError> {
                Ok(Self(Rd::new(v).u8()? & 0x0f))
            }
            fn encode(&self, out: &mut Vec<u8>) {
                out.push(self.0 & 0x0f);
            }
        }
        #[cfg(test)]
        impl Gen for $t {
            fn generate(g: &mut G) -> Self {
                Self(g.u8() & 0x0f)
            }
        }
    };
}
nibble_ie!(SourceInterface);
nibble_ie!(DestinationInterface);

/// QFI (§8.2.89), 6 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Qfi(pub u8);

impl<'a> IeValue<'a> for Qfi {
    fn decode(v: &'a [u8]) -> Result<Self, DecodeError> {
        Ok(Self(Rd::new(v).u8()? & 0x3f))
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.0 & 0x3f);
    }
}

// ---- SDF filter, UE IP address ----------------------------------------------

/// SDF Filter (§8.2.5). The flow description is the IPFilterRule text of
/// TS 29.212 §5.4.2, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SdfFilter<'a> {
    pub flow_description: Option<&'a [u8]>,
    /// ToS/Traffic Class value and mask.
    pub tos_traffic_class: Option<u16>,
    pub security_parameter_index: Option<u32>,
    /// 20-bit IPv6 flow label.
    pub flow_label: Option<u32>,
    /// SDF Filter ID (BID flag).
    pub filter_id: Option<u32>,
}

impl<'a> IeValue<'a> for SdfFilter<'a> {
    fn decode(v: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Rd::new(v);
        let flags = r.u8()?;
        let _spare = r.u8()?;
        let mut s = SdfFilter::default();
        if flags & 0x01 != 0 {
            let n = usize::from(r.u16()?);
            s.flow_description = Some(r.bytes(n)?);
        }
        if flags & 0x02 != 0 {
            s.tos_traffic_class = Some(r.u16()?);
        }
        if flags & 0x04 != 0 {
            s.security_parameter_index = Some(r.u32()?);
        }
        if flags & 0x08 != 0 {
            s.flow_label = Some(r.u24()? & 0x000f_ffff);
        }
        if flags & 0x10 != 0 {
            s.filter_id = Some(r.u32()?);
        }
        Ok(s)
    }
    fn encode(&self, out: &mut Vec<u8>) {
        let flags = u8::from(self.flow_description.is_some())
            | u8::from(self.tos_traffic_class.is_some()) << 1
            | u8::from(self.security_parameter_index.is_some()) << 2
            | u8::from(self.flow_label.is_some()) << 3
            | u8::from(self.filter_id.is_some()) << 4;
        out.extend_from_slice(&[flags, 0]);
        if let Some(fd) = self.flow_description {
            let n = u16::try_from(fd.len()).unwrap_or(u16::MAX);
            out.extend_from_slice(&n.to_be_bytes());
            out.extend_from_slice(&fd[..usize::from(n)]);
        }
        if let Some(t) = self.tos_traffic_class {
            out.extend_from_slice(&t.to_be_bytes());
        }
        if let Some(s) = self.security_parameter_index {
            out.extend_from_slice(&s.to_be_bytes());
        }
        if let Some(l) = self.flow_label {
            out.extend_from_slice(&(l & 0x000f_ffff).to_be_bytes()[1..]);
        }
        if let Some(id) = self.filter_id {
            out.extend_from_slice(&id.to_be_bytes());
        }
    }
}

/// PFD contents (§8.2.39): one Packet Flow Description of an application,
/// provisioned by PFD Management. A flag per field (FD, URL, DN, CP, DNP,
/// AFD, AURL, ADNP), a spare octet, then each present field as a 2-octet
/// length and its value, in flag order. The fields are borrowed raw; the
/// additional ones (AFD, AURL, ADNP) are themselves lists of 2-octet length
/// + value items, read with [`PfdContents::items`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PfdContents<'a> {
    /// FD: an IPFilterRule (TS 29.212 §5.4.2), as in an SDF filter.
    pub flow_description: Option<&'a [u8]>,
    pub url: Option<&'a [u8]>,
    pub domain_name: Option<&'a [u8]>,
    /// CP: custom PFD content (operator-specific).
    pub custom_pfd_content: Option<&'a [u8]>,
    pub domain_name_protocol: Option<&'a [u8]>,
    pub additional_flow_description: Option<&'a [u8]>,
    pub additional_url: Option<&'a [u8]>,
    pub additional_domain_name_and_protocol: Option<&'a [u8]>,
}

impl<'a> PfdContents<'a> {
    fn fields(&self) -> [Option<&'a [u8]>; 8] {
        [
            self.flow_description,
            self.url,
            self.domain_name,
            self.custom_pfd_content,
            self.domain_name_protocol,
            self.additional_flow_description,
            self.additional_url,
            self.additional_domain_name_and_protocol,
        ]
    }

    /// The items of an additional field (AFD, AURL, ADNP): each a 2-octet
    /// length and its value.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidLength`](crate::codec::ErrorKind::InvalidLength)
    /// when a length runs past the field or octets are left over.
    pub fn items(field: &'a [u8]) -> Result<Vec<&'a [u8]>, DecodeError> {
        let mut r = Rd::new(field);
        let mut out = Vec::new();
        while r.remaining() > 0 {
            let n = usize::from(r.u16()?);
            out.push(r.bytes(n)?);
        }
        Ok(out)
    }
}

impl<'a> IeValue<'a> for PfdContents<'a> {
    fn decode(v: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Rd::new(v);
        let flags = r.u8()?;
        let _spare = r.u8()?;
        let mut f: [Option<&'a [u8]>; 8] = [None; 8];
        for (bit, slot) in f.iter_mut().enumerate() {
            if flags & (1 << bit) != 0 {
                let n = usize::from(r.u16()?);
                *slot = Some(r.bytes(n)?);
            }
        }
        let [fd, url, dn, cp, dnp, afd, aurl, adnp] = f;
        Ok(PfdContents {
            flow_description: fd,
            url,
            domain_name: dn,
            custom_pfd_content: cp,
            domain_name_protocol: dnp,
            additional_flow_description: afd,
            additional_url: aurl,
            additional_domain_name_and_protocol: adnp,
        })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        let fields = self.fields();
        let flags = fields
            .iter()
            .enumerate()
            .fold(0u8, |acc, (bit, f)| acc | u8::from(f.is_some()) << bit);
        out.extend_from_slice(&[flags, 0]);
        for v in fields.into_iter().flatten() {
            let n = u16::try_from(v.len()).unwrap_or(u16::MAX);
            out.extend_from_slice(&n.to_be_bytes());
            out.extend_from_slice(&v[..usize::from(n)]);
        }
    }
}

/// UE IP Address (§8.2.62).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct UeIpAddress {
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    /// S/D: the address is the destination (downlink PDR) rather than the source.
    pub is_destination: bool,
    /// CHV4: the UP function shall allocate an IPv4 address.
    pub choose_v4: bool,
    /// CHV6: the UP function shall allocate an IPv6 prefix.
    pub choose_v6: bool,
    /// IPv6 Prefix Delegation Bits (IPv6D).
    pub ipv6_prefix_delegation_bits: Option<u8>,
    /// IPv6 Prefix Length (IP6PL).
    pub ipv6_prefix_length: Option<u8>,
}

impl<'a> IeValue<'a> for UeIpAddress {
    fn decode(v: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Rd::new(v);
        let f = r.u8()?;
        let (v6, v4, sd, v6d, chv4, chv6, v6pl) = (
            f & 0x01 != 0,
            f & 0x02 != 0,
            f & 0x04 != 0,
            f & 0x08 != 0,
            f & 0x10 != 0,
            f & 0x20 != 0,
            f & 0x40 != 0,
        );
        // With CHV4 the spec omits the address; some senders also set V4.
        // When both are set the length tells whether an address follows.
        let fixed = usize::from(v4 && !chv4) * 4
            + usize::from(v6 && !chv6) * 16
            + usize::from(v6d)
            + usize::from(v6pl);
        let mut extra = r
            .remaining()
            .checked_sub(fixed)
            .ok_or_else(DecodeError::length)?;
        let amb6 = v6 && chv6;
        let p4 = v4 && (!chv4 || (extra >= 4 && !(amb6 && extra == 16)));
        if v4 && chv4 && p4 {
            extra -= 4;
        }
        let p6 = v6 && (!chv6 || extra >= 16);
        let ipv4 = if p4 { Some(r.ipv4()?) } else { None };
        let ipv6 = if p6 { Some(r.ipv6()?) } else { None };
        let ipv6_prefix_delegation_bits = if v6d { Some(r.u8()?) } else { None };
        let ipv6_prefix_length = if v6pl { Some(r.u8()?) } else { None };
        Ok(Self {
            ipv4,
            ipv6,
            is_destination: sd,
            choose_v4: chv4,
            choose_v6: chv6,
            ipv6_prefix_delegation_bits,
            ipv6_prefix_length,
        })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(
            u8::from(self.ipv6.is_some())
                | u8::from(self.ipv4.is_some()) << 1
                | u8::from(self.is_destination) << 2
                | u8::from(self.ipv6_prefix_delegation_bits.is_some()) << 3
                | u8::from(self.choose_v4) << 4
                | u8::from(self.choose_v6) << 5
                | u8::from(self.ipv6_prefix_length.is_some()) << 6,
        );
        if let Some(a) = self.ipv4 {
            out.extend_from_slice(&a.octets());
        }
        if let Some(a) = self.ipv6 {
            out.extend_from_slice(&a.octets());
        }
        if let Some(b) = self.ipv6_prefix_delegation_bits {
            out.push(b);
        }
        if let Some(l) = self.ipv6_prefix_length {
            out.push(l);
        }
    }
}

// ---- outer headers ------------------------------------------------------------

/// Outer Header Removal (§8.2.64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OuterHeaderRemoval {
    /// 0 GTP-U/UDP/IPv4, 1 GTP-U/UDP/IPv6, 2 UDP/IPv4, 3 UDP/IPv6, 4 IPv4,
    /// 5 IPv6, 6 GTP-U/UDP/IP, 7 VLAN S-TAG, 8 S-TAG and C-TAG.
    pub description: u8,
    /// GTP-U Extension Header Deletion (bit 1: PDU Session Container).
    pub ext_header_deletion: Option<u8>,
}

impl OuterHeaderRemoval {
    pub const GTPU_UDP_IPV4: u8 = 0;
    pub const GTPU_UDP_IPV6: u8 = 1;
    pub const UDP_IPV4: u8 = 2;
    pub const UDP_IPV6: u8 = 3;
    pub const IPV4: u8 = 4;
    pub const IPV6: u8 = 5;
    pub const GTPU_UDP_IP: u8 = 6;
}

impl<'a> IeValue<'a> for OuterHeaderRemoval {
    fn decode(v: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Rd::new(v);
        let description = r.u8()?;
        let ext_header_deletion = if r.remaining() > 0 {
            Some(r.u8()?)
        } else {
            None
        };
        Ok(Self {
            description,
            ext_header_deletion,
        })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.description);
        if let Some(e) = self.ext_header_deletion {
            out.push(e);
        }
    }
}

/// Outer Header Creation (§8.2.56). Which fields are on the wire follows
/// from `description`; the encoder writes exactly those.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OuterHeaderCreation {
    /// Description as a big-endian u16 (octet 5 is the high byte).
    pub description: u16,
    pub teid: Option<u32>,
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    pub port: Option<u16>,
    pub c_tag: Option<[u8; 3]>,
    pub s_tag: Option<[u8; 3]>,
}

impl OuterHeaderCreation {
    pub const GTPU_UDP_IPV4: u16 = 0x0100;
    pub const GTPU_UDP_IPV6: u16 = 0x0200;
    pub const UDP_IPV4: u16 = 0x0400;
    pub const UDP_IPV6: u16 = 0x0800;
    pub const IPV4: u16 = 0x1000;
    pub const IPV6: u16 = 0x2000;
    pub const C_TAG: u16 = 0x4000;
    pub const S_TAG: u16 = 0x8000;
    pub const N19_INDICATION: u16 = 0x0001;
    pub const N6_INDICATION: u16 = 0x0002;

    const HAS_TEID: u16 = Self::GTPU_UDP_IPV4 | Self::GTPU_UDP_IPV6;
    const HAS_V4: u16 = Self::GTPU_UDP_IPV4 | Self::UDP_IPV4 | Self::IPV4;
    const HAS_V6: u16 = Self::GTPU_UDP_IPV6 | Self::UDP_IPV6 | Self::IPV6;
    const HAS_PORT: u16 = Self::UDP_IPV4 | Self::UDP_IPV6;

    /// GTP-U/UDP/IPv4 towards `addr` with `teid`.
    #[must_use]
    pub fn gtpu_v4(teid: u32, addr: Ipv4Addr) -> Self {
        Self {
            description: Self::GTPU_UDP_IPV4,
            teid: Some(teid),
            ipv4: Some(addr),
            ipv6: None,
            port: None,
            c_tag: None,
            s_tag: None,
        }
    }
    /// GTP-U/UDP/IPv6 towards `addr` with `teid`.
    #[must_use]
    pub fn gtpu_v6(teid: u32, addr: Ipv6Addr) -> Self {
        Self {
            description: Self::GTPU_UDP_IPV6,
            teid: Some(teid),
            ipv4: None,
            ipv6: Some(addr),
            port: None,
            c_tag: None,
            s_tag: None,
        }
    }
}

impl<'a> IeValue<'a> for OuterHeaderCreation {
    fn decode(v: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Rd::new(v);
        let d = r.u16()?;
        let teid = if d & Self::HAS_TEID != 0 {
            Some(r.u32()?)
        } else {
            None
        };
        let ipv4 = if d & Self::HAS_V4 != 0 {
            Some(r.ipv4()?)
        } else {
            None
        };
        let ipv6 = if d & Self::HAS_V6 != 0 {
            Some(r.ipv6()?)
        } else {
            None
        };
        let port = if d & Self::HAS_PORT != 0 {
            Some(r.u16()?)
        } else {
            None
        };
        let c_tag = if d & Self::C_TAG != 0 {
            Some(r.array()?)
        } else {
            None
        };
        let s_tag = if d & Self::S_TAG != 0 {
            Some(r.array()?)
        } else {
            None
        };
        Ok(Self {
            description: d,
            teid,
            ipv4,
            ipv6,
            port,
            c_tag,
            s_tag,
        })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        let d = self.description;
        out.extend_from_slice(&d.to_be_bytes());
        if d & Self::HAS_TEID != 0 {
            out.extend_from_slice(&self.teid.unwrap_or(0).to_be_bytes());
        }
        if d & Self::HAS_V4 != 0 {
            out.extend_from_slice(&self.ipv4.unwrap_or(Ipv4Addr::UNSPECIFIED).octets());
        }
        if d & Self::HAS_V6 != 0 {
            out.extend_from_slice(&self.ipv6.unwrap_or(Ipv6Addr::UNSPECIFIED).octets());
        }
        if d & Self::HAS_PORT != 0 {
            out.extend_from_slice(&self.port.unwrap_or(0).to_be_bytes());
        }
        if d & Self::C_TAG != 0 {
            out.extend_from_slice(&self.c_tag.unwrap_or_default());
        }
        if d & Self::S_TAG != 0 {
            out.extend_from_slice(&self.s_tag.unwrap_or_default());
        }
    }
}

// ---- QoS ----------------------------------------------------------------------

/// One gate of Gate Status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Gate {
    #[default]
    Open,
    Closed,
}

/// Gate Status (§8.2.7): UL gate in bits 4-3, DL gate in bits 2-1;
/// 0 = OPEN, 1 = CLOSED (2 and 3 are spare and read as CLOSED).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct GateStatus {
    pub ul: Gate,
    pub dl: Gate,
}

impl<'a> IeValue<'a> for GateStatus {
    fn decode(v: &'a [u8]) -> Result<Self, DecodeError> {
        let b = Rd::new(v).u8()?;
        let gate = |x: u8| if x == 0 { Gate::Open } else { Gate::Closed };
        Ok(Self {
            ul: gate((b >> 2) & 0x03),
            dl: gate(b & 0x03),
        })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        let bit = |g: Gate| u8::from(g == Gate::Closed);
        out.push(bit(self.ul) << 2 | bit(self.dl));
    }
}

/// MBR / GBR (§8.2.8-9): uplink and downlink in kbit/s, 40 bits each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Bitrate {
    pub ul_kbps: u64,
    pub dl_kbps: u64,
}

impl<'a> IeValue<'a> for Bitrate {
    fn decode(v: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Rd::new(v);
        Ok(Self {
            ul_kbps: r.u40()?,
            dl_kbps: r.u40()?,
        })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.ul_kbps & 0xff_ffff_ffff).to_be_bytes()[3..]);
        out.extend_from_slice(&(self.dl_kbps & 0xff_ffff_ffff).to_be_bytes()[3..]);
    }
}

// ---- usage --------------------------------------------------------------------

/// Volume Threshold / Volume Quota / Subsequent Volume Threshold/Quota
/// (§8.2.13, §8.2.50): octets, each direction optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Volume {
    pub total: Option<u64>,
    pub ul: Option<u64>,
    pub dl: Option<u64>,
}

impl<'a> IeValue<'a> for Volume {
    fn decode(v: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Rd::new(v);
        let f = r.u8()?;
        let total = if f & 0x01 != 0 { Some(r.u64()?) } else { None };
        let ul = if f & 0x02 != 0 { Some(r.u64()?) } else { None };
        let dl = if f & 0x04 != 0 { Some(r.u64()?) } else { None };
        Ok(Self { total, ul, dl })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(
            u8::from(self.total.is_some())
                | u8::from(self.ul.is_some()) << 1
                | u8::from(self.dl.is_some()) << 2,
        );
        for x in [self.total, self.ul, self.dl].into_iter().flatten() {
            out.extend_from_slice(&x.to_be_bytes());
        }
    }
}

/// Volume Measurement (§8.2.44): octets and (MNOP) packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct VolumeMeasurement {
    pub total: Option<u64>,
    pub ul: Option<u64>,
    pub dl: Option<u64>,
    pub total_packets: Option<u64>,
    pub ul_packets: Option<u64>,
    pub dl_packets: Option<u64>,
}

impl<'a> IeValue<'a> for VolumeMeasurement {
    fn decode(v: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Rd::new(v);
        let f = r.u8()?;
        let mut get = |bit: u8| {
            if f & bit != 0 {
                r.u64().map(Some)
            } else {
                Ok(None)
            }
        };
        Ok(Self {
            total: get(0x01)?,
            ul: get(0x02)?,
            dl: get(0x04)?,
            total_packets: get(0x08)?,
            ul_packets: get(0x10)?,
            dl_packets: get(0x20)?,
        })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        let all = [
            self.total,
            self.ul,
            self.dl,
            self.total_packets,
            self.ul_packets,
            self.dl_packets,
        ];
        let mut f = 0u8;
        for (i, x) in all.iter().enumerate() {
            f |= u8::from(x.is_some()) << i;
        }
        out.push(f);
        for x in all.into_iter().flatten() {
            out.extend_from_slice(&x.to_be_bytes());
        }
    }
}

// ---- rules, reports -------------------------------------------------------------

/// Rule type of a Failed Rule ID (§8.2.80).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleType {
    Pdr,
    Far,
    Qer,
    Urr,
    Bar,
}

/// Failed Rule ID (§8.2.80): which rule made a message fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FailedRuleId {
    pub rule_type: RuleType,
    pub id: u32,
}

impl<'a> IeValue<'a> for FailedRuleId {
    fn decode(v: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Rd::new(v);
        let (rule_type, id) = match r.u8()? & 0x1f {
            0 => (RuleType::Pdr, u32::from(r.u16()?)),
            1 => (RuleType::Far, r.u32()?),
            2 => (RuleType::Qer, r.u32()?),
            3 => (RuleType::Urr, r.u32()?),
            4 => (RuleType::Bar, u32::from(r.u8()?)),
            _ => return Err(DecodeError::value()),
        };
        Ok(Self { rule_type, id })
    }
    #[allow(clippy::cast_possible_truncation)]
    fn encode(&self, out: &mut Vec<u8>) {
        match self.rule_type {
            RuleType::Pdr => {
                out.push(0);
                out.extend_from_slice(&(self.id as u16).to_be_bytes());
            }
            RuleType::Far => {
                out.push(1);
                out.extend_from_slice(&self.id.to_be_bytes());
            }
            RuleType::Qer => {
                out.push(2);
                out.extend_from_slice(&self.id.to_be_bytes());
            }
            RuleType::Urr => {
                out.push(3);
                out.extend_from_slice(&self.id.to_be_bytes());
            }
            RuleType::Bar => out.extend_from_slice(&[4, self.id as u8]),
        }
    }
}

/// Downlink Data Service Information (§8.2.27): Paging Policy Indication
/// and QFI of the buffered packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DownlinkDataServiceInformation {
    pub ppi: Option<u8>,
    pub qfi: Option<u8>,
}

impl<'a> IeValue<'a> for DownlinkDataServiceInformation {
    fn decode(v: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Rd::new(v);
        let f = r.u8()?;
        let ppi = if f & 0x01 != 0 {
            Some(r.u8()? & 0x3f)
        } else {
            None
        };
        let qfi = if f & 0x02 != 0 {
            Some(r.u8()? & 0x3f)
        } else {
            None
        };
        Ok(Self { ppi, qfi })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(self.ppi.is_some()) | u8::from(self.qfi.is_some()) << 1);
        if let Some(p) = self.ppi {
            out.push(p & 0x3f);
        }
        if let Some(q) = self.qfi {
            out.push(q & 0x3f);
        }
    }
}

/// DL Buffering Suggested Packet Count (§8.2.30): one or two octets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PacketCount(pub u16);

impl<'a> IeValue<'a> for PacketCount {
    fn decode(v: &'a [u8]) -> Result<Self, DecodeError> {
        match v {
            [] => Err(DecodeError::length()),
            [a] => Ok(Self(u16::from(*a))),
            [a, b, ..] => Ok(Self(u16::from_be_bytes([*a, *b]))),
        }
    }
    fn encode(&self, out: &mut Vec<u8>) {
        match u8::try_from(self.0) {
            Ok(b) => out.push(b),
            Err(_) => out.extend_from_slice(&self.0.to_be_bytes()),
        }
    }
}

/// Remote GTP-U Peer (§8.2.70), in a User Plane Path Failure Report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RemoteGtpuPeer<'a> {
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    pub destination_interface: Option<DestinationInterface>,
    pub network_instance: Option<Name<'a>>,
}

impl<'a> IeValue<'a> for RemoteGtpuPeer<'a> {
    fn decode(v: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Rd::new(v);
        let f = r.u8()?;
        let ipv4 = if f & 0x02 != 0 { Some(r.ipv4()?) } else { None };
        let ipv6 = if f & 0x01 != 0 { Some(r.ipv6()?) } else { None };
        let destination_interface = if f & 0x04 != 0 {
            let n = usize::from(r.u16()?);
            let b = r.bytes(n)?;
            Some(DestinationInterface(
                b.first().copied().ok_or_else(DecodeError::length)? & 0x0f,
            ))
        } else {
            None
        };
        let network_instance = if f & 0x08 != 0 {
            let n = usize::from(r.u16()?);
            Some(Name(r.bytes(n)?))
        } else {
            None
        };
        Ok(Self {
            ipv4,
            ipv6,
            destination_interface,
            network_instance,
        })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(
            u8::from(self.ipv6.is_some())
                | u8::from(self.ipv4.is_some()) << 1
                | u8::from(self.destination_interface.is_some()) << 2
                | u8::from(self.network_instance.is_some()) << 3,
        );
        if let Some(a) = self.ipv4 {
            out.extend_from_slice(&a.octets());
        }
        if let Some(a) = self.ipv6 {
            out.extend_from_slice(&a.octets());
        }
        if let Some(d) = self.destination_interface {
            out.extend_from_slice(&[0, 1, d.0 & 0x0f]);
        }
        if let Some(n) = self.network_instance {
            let len = u16::try_from(n.0.len()).unwrap_or(u16::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&n.0[..usize::from(len)]);
        }
    }
}

// ---- FQ-CSID --------------------------------------------------------------------

/// Node address of an FQ-CSID (§8.2.43): who allocated its CSIDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CsidNode {
    /// Node-ID Type 0.
    Ipv4(Ipv4Addr),
    /// Node-ID Type 1.
    Ipv6(Ipv6Addr),
    /// Node-ID Type 2: (MCC × 1000 + MNC) in the top 20 bits, an
    /// operator-assigned node number in the low 12.
    Plmn(u32),
}

/// Fully qualified PDN Connection Set Identifier (§8.2.43): a node's
/// address and the CSIDs (sets of sessions) it names there.
///
/// At most 15 CSIDs fit the 4-bit count; an encoder given more writes the
/// first 15. `node_type` is the Rel-17 octet after the CSIDs (spare bits,
/// then the node type, e.g. in a Session Modification Request that removes
/// the FQ-CSID of one node type with 0 CSIDs and an all-zero address);
/// older senders leave it out.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FqCsid {
    pub node: CsidNode,
    pub csids: smallvec::SmallVec<[u16; 2]>,
    pub node_type: Option<u8>,
}

/// Most CSIDs one FQ-CSID can carry (4-bit count).
pub const MAX_CSIDS: usize = 15;

impl<'a> IeValue<'a> for FqCsid {
    fn decode(v: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Rd::new(v);
        let first = r.u8()?;
        let node = match first >> 4 {
            0 => CsidNode::Ipv4(r.ipv4()?),
            1 => CsidNode::Ipv6(r.ipv6()?),
            2 => CsidNode::Plmn(r.u32()?),
            _ => return Err(DecodeError::value()),
        };
        let m = usize::from(first & 0x0f);
        let mut csids = smallvec::SmallVec::with_capacity(m);
        for _ in 0..m {
            csids.push(r.u16()?);
        }
        // Octets after the node type: a later release's (extendable IE).
        let node_type = (r.remaining() > 0)
            .then(|| r.u8())
            .transpose()?
            .map(|o| o & 0x0f);
        Ok(Self {
            node,
            csids,
            node_type,
        })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        let m = self.csids.len().min(MAX_CSIDS);
        #[allow(clippy::cast_possible_truncation)]
        let m8 = m as u8;
        match self.node {
            CsidNode::Ipv4(a) => {
                out.push(m8);
                out.extend_from_slice(&a.octets());
            }
            CsidNode::Ipv6(a) => {
                out.push(0x10 | m8);
                out.extend_from_slice(&a.octets());
            }
            CsidNode::Plmn(x) => {
                out.push(0x20 | m8);
                out.extend_from_slice(&x.to_be_bytes());
            }
        }
        for c in &self.csids[..m] {
            out.extend_from_slice(&c.to_be_bytes());
        }
        if let Some(t) = self.node_type {
            out.push(t & 0x0f);
        }
    }
}

// ---- SMF set restoration (Rel-17) ---------------------------------------------------

/// An IPv4 and/or IPv6 address behind a flags octet whose bit 1 is V6 and
/// bit 2 V4 (like F-SEID), IPv4 first. Shared by Alternative SMF IP
/// Address (IE type 178) and CP IP Address (IE type 292) of TS 29.244
/// Table 8.1.2-1; the layouts were checked against Wireshark 4.0's PFCP
/// dissector (`pfcp/tests/dissectors.rs`). Neither flag: nothing to use,
/// an invalid value (cause 69); octets after the addresses are ignored
/// (a later release's).
fn decode_ip_pair(
    r: &mut Rd<'_>,
    flags: u8,
) -> Result<(Option<Ipv4Addr>, Option<Ipv6Addr>), DecodeError> {
    if flags & 0x03 == 0 {
        return Err(DecodeError::value());
    }
    read_ip_pair(r, flags)
}

/// The IPv4 (flag bit 2) then IPv6 (bit 1) address a flags octet
/// announces: F-SEID's layout, which IEs 178 and 292 share.
fn read_ip_pair(
    r: &mut Rd<'_>,
    flags: u8,
) -> Result<(Option<Ipv4Addr>, Option<Ipv6Addr>), DecodeError> {
    let ipv4 = if flags & 0x02 != 0 {
        Some(r.ipv4()?)
    } else {
        None
    };
    let ipv6 = if flags & 0x01 != 0 {
        Some(r.ipv6()?)
    } else {
        None
    };
    Ok((ipv4, ipv6))
}

/// Writes the addresses [`read_ip_pair`] reads (the flags are the caller's).
fn write_ip_pair(out: &mut Vec<u8>, ipv4: Option<Ipv4Addr>, ipv6: Option<Ipv6Addr>) {
    if let Some(a) = ipv4 {
        out.extend_from_slice(&a.octets());
    }
    if let Some(a) = ipv6 {
        out.extend_from_slice(&a.octets());
    }
}

fn encode_ip_pair(out: &mut Vec<u8>, flags: u8, ipv4: Option<Ipv4Addr>, ipv6: Option<Ipv6Addr>) {
    out.push(flags | u8::from(ipv4.is_some()) << 1 | u8::from(ipv6.is_some()));
    write_ip_pair(out, ipv4, ipv6);
}

/// Alternative SMF IP Address (IE type 178): octet 5 bit 1 V6, bit 2 V4,
/// bit 3 PPE (Preferred PFCP Entity, Rel-17), then the addresses. In a
/// Session Set Modification Request, the SMF address the UP function
/// sends the named sessions' Session Report Requests to from then on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AlternativeSmfIpAddress {
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    pub ppe: bool,
}

impl<'a> IeValue<'a> for AlternativeSmfIpAddress {
    fn decode(v: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Rd::new(v);
        let flags = r.u8()?;
        let (ipv4, ipv6) = decode_ip_pair(&mut r, flags)?;
        Ok(Self {
            ipv4,
            ipv6,
            ppe: flags & 0x04 != 0,
        })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        encode_ip_pair(out, u8::from(self.ppe) << 2, self.ipv4, self.ipv6);
    }
}

/// CP IP Address (IE type 292): octet 5 bit 1 V6, bit 2 V4, then the
/// addresses. Names the PFCP sessions of a CP function's IP address
/// (Session Set Modification); a session may carry one (Rel-17
/// establishment and modification IE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CpIpAddress {
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
}

impl CpIpAddress {
    /// Whether the two share an address.
    #[must_use]
    pub fn overlaps(&self, other: &Self) -> bool {
        (self.ipv4.is_some() && self.ipv4 == other.ipv4)
            || (self.ipv6.is_some() && self.ipv6 == other.ipv6)
    }
}

impl<'a> IeValue<'a> for CpIpAddress {
    fn decode(v: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Rd::new(v);
        let flags = r.u8()?;
        let (ipv4, ipv6) = decode_ip_pair(&mut r, flags)?;
        Ok(Self { ipv4, ipv6 })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        encode_ip_pair(out, 0, self.ipv4, self.ipv6);
    }
}

// ---- flag IEs -------------------------------------------------------------------

flags_ie! {
    /// UP Function Features (§8.2.25). Octet 5 is index 0.
    pub struct UpFunctionFeatures: min 2, wire 2, max 16 {
        BUCP = (0, 0x01), DDND = (0, 0x02), DLBD = (0, 0x04), TRST = (0, 0x08),
        FTUP = (0, 0x10), PFDM = (0, 0x20), HEEU = (0, 0x40), TREU = (0, 0x80),
        EMPU = (1, 0x01), PDIU = (1, 0x02), UDBC = (1, 0x04), QUOAC = (1, 0x08),
        TRACE = (1, 0x10), FRRT = (1, 0x20), PFDE = (1, 0x40), EPFAR = (1, 0x80),
        DPDRA = (2, 0x01), ADPDP = (2, 0x02), UEIP = (2, 0x04), SSET = (2, 0x08),
        MNOP = (2, 0x10), MTE = (2, 0x20), BUNDL = (2, 0x40), GCOM = (2, 0x80),
        MPAS = (3, 0x01), RTTL = (3, 0x02), VTIME = (3, 0x04), NORP = (3, 0x08),
        IPTV = (3, 0x10), IP6PL = (3, 0x20), TSCU = (3, 0x40), MPTCP = (3, 0x80),
        ATSSSLL = (4, 0x01), QFQM = (4, 0x02), GPQM = (4, 0x04), MTEDT = (4, 0x08),
        CIOT = (4, 0x10), ETHAR = (4, 0x20), DDDS = (4, 0x40), RDS = (4, 0x80),
        RTTWP = (5, 0x01), QUASF = (5, 0x02), NSPOC = (5, 0x04), L2TP = (5, 0x08),
        UPBER = (5, 0x10), RESPS = (5, 0x20), IPREP = (5, 0x40), DNSTS = (5, 0x80),
    }
}

flags_ie! {
    /// CP Function Features (§8.2.58).
    pub struct CpFunctionFeatures: min 1, wire 1, max 8 {
        LOAD = (0, 0x01), OVRL = (0, 0x02), EPFAR = (0, 0x04), SSET = (0, 0x08),
        BUNDL = (0, 0x10), MPAS = (0, 0x20), ARDR = (0, 0x40), UIAUR = (0, 0x80),
        PSUCC = (1, 0x01), RPGUR = (1, 0x02),
    }
}

flags_ie! {
    /// Apply Action (§8.2.26).
    pub struct ApplyAction: min 1, wire 1, max 2 {
        DROP = (0, 0x01), FORW = (0, 0x02), BUFF = (0, 0x04), NOCP = (0, 0x08),
        DUPL = (0, 0x10), IPMA = (0, 0x20), IPMD = (0, 0x40), DFRT = (0, 0x80),
        EDRT = (1, 0x01), BDPN = (1, 0x02), DDPN = (1, 0x04), FSSM = (1, 0x08),
        MBSU = (1, 0x10),
    }
}

flags_ie! {
    /// Measurement Method (§8.2.40).
    pub struct MeasurementMethod: min 1, wire 1, max 1 {
        DURAT = (0, 0x01), VOLUM = (0, 0x02), EVENT = (0, 0x04),
    }
}

flags_ie! {
    /// Reporting Triggers (§8.2.19). Rel-14 senders use one octet, so one
    /// is accepted; build with `|` from the constants.
    pub struct ReportingTriggers: min 1, wire 2, max 3 {
        PERIO = (0, 0x01), VOLTH = (0, 0x02), TIMTH = (0, 0x04), QUHTI = (0, 0x08),
        START = (0, 0x10), STOPT = (0, 0x20), DROTH = (0, 0x40), LIUSA = (0, 0x80),
        VOLQU = (1, 0x01), TIMQU = (1, 0x02), ENVCL = (1, 0x04), MACAR = (1, 0x08),
        EVETH = (1, 0x10), EVEQU = (1, 0x20), IPMJL = (1, 0x40), QUVTI = (1, 0x80),
        REEMR = (2, 0x01), UPINT = (2, 0x02),
    }
}

flags_ie! {
    /// Usage Report Trigger (§8.2.41).
    pub struct UsageReportTrigger: min 1, wire 2, max 3 {
        PERIO = (0, 0x01), VOLTH = (0, 0x02), TIMTH = (0, 0x04), QUHTI = (0, 0x08),
        START = (0, 0x10), STOPT = (0, 0x20), DROTH = (0, 0x40), IMMER = (0, 0x80),
        VOLQU = (1, 0x01), TIMQU = (1, 0x02), LIUSA = (1, 0x04), TERMR = (1, 0x08),
        MONIT = (1, 0x10), ENVCL = (1, 0x20), MACAR = (1, 0x40), EVETH = (1, 0x80),
        EVEQU = (2, 0x01), TEBUR = (2, 0x02), IPMJL = (2, 0x04), QUVTI = (2, 0x08),
        EMRRE = (2, 0x10), UPINT = (2, 0x20),
    }
}

flags_ie! {
    /// Report Type (§8.2.21).
    pub struct ReportType: min 1, wire 1, max 1 {
        DLDR = (0, 0x01), USAR = (0, 0x02), ERIR = (0, 0x04), UPIR = (0, 0x08),
        TMIR = (0, 0x10), SESR = (0, 0x20), UISR = (0, 0x40),
    }
}

flags_ie! {
    /// PFCPSMReq-Flags (§8.2.31): in the Session Modification Request and,
    /// with SNDEM, inside Update Forwarding Parameters.
    pub struct PfcpsmReqFlags: min 1, wire 1, max 1 {
        DROBU = (0, 0x01), SNDEM = (0, 0x02), QAURR = (0, 0x04), SUMPC = (0, 0x08),
        RUMUC = (0, 0x10), DETEID = (0, 0x20),
    }
}

flags_ie! {
    /// PFCPSRRsp-Flags (§8.2.32).
    pub struct PfcpsrRspFlags: min 1, wire 1, max 1 { DROBU = (0, 0x01) }
}

flags_ie! {
    /// PFCPSRReq-Flags (§8.2.112).
    pub struct PfcpsrReqFlags: min 1, wire 1, max 1 { PSDBU = (0, 0x01) }
}

flags_ie! {
    /// PFCPAUReq-Flags (§8.2.115).
    pub struct PfcpauReqFlags: min 1, wire 1, max 1 { PARPS = (0, 0x01) }
}

flags_ie! {
    /// PFCPSEReq-Flags (§8.2.136).
    pub struct PfcpseReqFlags: min 1, wire 1, max 1 { RESTI = (0, 0x01), SUMPC = (0, 0x02) }
}

flags_ie! {
    /// PFCP Association Release Request (§8.2.77).
    pub struct PfcpAssociationReleaseRequest: min 1, wire 1, max 1 { SARR = (0, 0x01), URSS = (0, 0x02) }
}

flags_ie! {
    /// Node Report Type (§8.2.69).
    pub struct NodeReportType: min 1, wire 1, max 1 {
        UPFR = (0, 0x01), UPRR = (0, 0x02), CKDR = (0, 0x04), GPQR = (0, 0x08),
        PURR = (0, 0x10), VSR = (0, 0x20),
    }
}

flags_ie! {
    /// Measurement Information (§8.2.68).
    pub struct MeasurementInformation: min 1, wire 1, max 1 {
        MBQE = (0, 0x01), INAM = (0, 0x02), RADI = (0, 0x04), ISTM = (0, 0x08),
        MNOP = (0, 0x10), SSPOC = (0, 0x20), ASPOC = (0, 0x40), CIAM = (0, 0x80),
    }
}

flags_ie! {
    /// Usage Information (§8.2.83).
    pub struct UsageInformation: min 1, wire 1, max 1 {
        BEF = (0, 0x01), AFT = (0, 0x02), UAE = (0, 0x04), UBE = (0, 0x08),
    }
}

flags_ie! {
    /// RQI (§8.2.88).
    pub struct Rqi: min 1, wire 1, max 1 { RQI = (0, 0x01) }
}

// ---- test generators --------------------------------------------------------------

#[cfg(test)]
mod gen_impls {
    use super::*;

    fn v4(g: &mut G) -> Ipv4Addr {
        Ipv4Addr::from(g.u32())
    }
    fn v6(g: &mut G) -> Ipv6Addr {
        Ipv6Addr::from(u128::from(g.u64()) << 64 | u128::from(g.u64()))
    }

    impl Gen for Name<'_> {
        fn generate(g: &mut G) -> Self {
            Name(g.bytes(16))
        }
    }
    impl Gen for Cause {
        fn generate(g: &mut G) -> Self {
            Cause(g.u8())
        }
    }
    impl Gen for NodeId<'_> {
        fn generate(g: &mut G) -> Self {
            match g.range(0, 2) {
                0 => NodeId::Ipv4(v4(g)),
                1 => NodeId::Ipv6(v6(g)),
                _ => NodeId::Fqdn(Name(g.text(1, 20))),
            }
        }
    }
    impl Gen for FSeid {
        fn generate(g: &mut G) -> Self {
            FSeid {
                seid: g.u64(),
                ipv4: g.opt(v4),
                ipv6: g.opt(v6),
            }
        }
    }
    impl Gen for FTeid {
        fn generate(g: &mut G) -> Self {
            if g.bool() {
                FTeid::Assigned {
                    teid: g.u32(),
                    ipv4: g.opt(v4),
                    ipv6: g.opt(v6),
                }
            } else {
                FTeid::Choose {
                    v4: g.bool(),
                    v6: g.bool(),
                    choose_id: g.opt(G::u8),
                }
            }
        }
    }
    impl Gen for Qfi {
        fn generate(g: &mut G) -> Self {
            Qfi(g.u8() & 0x3f)
        }
    }
    impl Gen for SdfFilter<'_> {
        fn generate(g: &mut G) -> Self {
            SdfFilter {
                flow_description: g.opt(|g| g.text(0, 40)),
                tos_traffic_class: g.opt(G::u16),
                security_parameter_index: g.opt(G::u32),
                flow_label: g.opt(|g| g.u32() & 0x000f_ffff),
                filter_id: g.opt(G::u32),
            }
        }
    }
    impl Gen for PfdContents<'_> {
        fn generate(g: &mut G) -> Self {
            PfdContents {
                flow_description: g.opt(|g| g.text(0, 40)),
                url: g.opt(|g| g.text(0, 20)),
                domain_name: g.opt(|g| g.text(0, 20)),
                custom_pfd_content: g.opt(|g| g.bytes(8)),
                domain_name_protocol: g.opt(|g| g.text(0, 8)),
                additional_flow_description: g.opt(|g| g.bytes(12)),
                additional_url: g.opt(|g| g.bytes(12)),
                additional_domain_name_and_protocol: g.opt(|g| g.bytes(12)),
            }
        }
    }
    impl Gen for UeIpAddress {
        fn generate(g: &mut G) -> Self {
            UeIpAddress {
                ipv4: g.opt(v4),
                ipv6: g.opt(v6),
                is_destination: g.bool(),
                choose_v4: g.bool(),
                choose_v6: g.bool(),
                ipv6_prefix_delegation_bits: g.opt(G::u8),
                ipv6_prefix_length: g.opt(G::u8),
            }
        }
    }
    impl Gen for OuterHeaderRemoval {
        fn generate(g: &mut G) -> Self {
            OuterHeaderRemoval {
                description: g.u8(),
                ext_header_deletion: g.opt(G::u8),
            }
        }
    }
    impl Gen for OuterHeaderCreation {
        fn generate(g: &mut G) -> Self {
            let d = g.u16();
            let on = |m: u16| d & m != 0;
            OuterHeaderCreation {
                description: d,
                teid: on(Self::HAS_TEID).then(|| g.u32()),
                ipv4: on(Self::HAS_V4).then(|| v4(g)),
                ipv6: on(Self::HAS_V6).then(|| v6(g)),
                port: on(Self::HAS_PORT).then(|| g.u16()),
                c_tag: on(Self::C_TAG).then(|| [g.u8(), g.u8(), g.u8()]),
                s_tag: on(Self::S_TAG).then(|| [g.u8(), g.u8(), g.u8()]),
            }
        }
    }
    impl Gen for GateStatus {
        fn generate(g: &mut G) -> Self {
            let gate = |b: bool| if b { Gate::Closed } else { Gate::Open };
            GateStatus {
                ul: gate(g.bool()),
                dl: gate(g.bool()),
            }
        }
    }
    impl Gen for Bitrate {
        fn generate(g: &mut G) -> Self {
            Bitrate {
                ul_kbps: g.u64() & 0xff_ffff_ffff,
                dl_kbps: g.u64() & 0xff_ffff_ffff,
            }
        }
    }
    impl Gen for Volume {
        fn generate(g: &mut G) -> Self {
            Volume {
                total: g.opt(G::u64),
                ul: g.opt(G::u64),
                dl: g.opt(G::u64),
            }
        }
    }
    impl Gen for VolumeMeasurement {
        fn generate(g: &mut G) -> Self {
            VolumeMeasurement {
                total: g.opt(G::u64),
                ul: g.opt(G::u64),
                dl: g.opt(G::u64),
                total_packets: g.opt(G::u64),
                ul_packets: g.opt(G::u64),
                dl_packets: g.opt(G::u64),
            }
        }
    }
    impl Gen for FailedRuleId {
        fn generate(g: &mut G) -> Self {
            let (rule_type, id) = match g.range(0, 4) {
                0 => (RuleType::Pdr, u32::from(g.u16())),
                1 => (RuleType::Far, g.u32()),
                2 => (RuleType::Qer, g.u32()),
                3 => (RuleType::Urr, g.u32()),
                _ => (RuleType::Bar, u32::from(g.u8())),
            };
            FailedRuleId { rule_type, id }
        }
    }
    impl Gen for DownlinkDataServiceInformation {
        fn generate(g: &mut G) -> Self {
            DownlinkDataServiceInformation {
                ppi: g.opt(|g| g.u8() & 0x3f),
                qfi: g.opt(|g| g.u8() & 0x3f),
            }
        }
    }
    impl Gen for PacketCount {
        fn generate(g: &mut G) -> Self {
            PacketCount(g.u16())
        }
    }
    impl Gen for FqCsid {
        fn generate(g: &mut G) -> Self {
            let node = match g.range(0, 2) {
                0 => CsidNode::Ipv4(v4(g)),
                1 => CsidNode::Ipv6(v6(g)),
                _ => CsidNode::Plmn(g.u32()),
            };
            let n = g.range(0, 4);
            FqCsid {
                node,
                csids: (0..n).map(|_| g.u16()).collect(),
                node_type: g.opt(|g| g.u8() & 0x0f),
            }
        }
    }
    /// At least one address: neither is an invalid value on decode.
    fn ip_pair(g: &mut G) -> (Option<Ipv4Addr>, Option<Ipv6Addr>) {
        match g.range(0, 2) {
            0 => (Some(v4(g)), None),
            1 => (None, Some(v6(g))),
            _ => (Some(v4(g)), Some(v6(g))),
        }
    }
    impl Gen for AlternativeSmfIpAddress {
        fn generate(g: &mut G) -> Self {
            let (ipv4, ipv6) = ip_pair(g);
            AlternativeSmfIpAddress {
                ipv4,
                ipv6,
                ppe: g.bool(),
            }
        }
    }
    impl Gen for CpIpAddress {
        fn generate(g: &mut G) -> Self {
            let (ipv4, ipv6) = ip_pair(g);
            CpIpAddress { ipv4, ipv6 }
        }
    }
    impl Gen for RemoteGtpuPeer<'_> {
        fn generate(g: &mut G) -> Self {
            RemoteGtpuPeer {
                ipv4: g.opt(v4),
                ipv6: g.opt(v6),
                destination_interface: g.opt(|g| DestinationInterface(g.u8() & 0x0f)),
                network_instance: g.opt(|g| Name(g.text(0, 10))),
            }
        }
    }
}
