//! GTP-U version 1 (TS 29.281): the tunnel header of every N3/N9 packet,
//! its extension header chain with the PDU Session Container (TS 38.415),
//! and the path messages (Echo, Error Indication, End Marker).

use super::{Error, Result, be16, be32};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The registered GTP-U UDP port.
pub const PORT: u16 = 2152;
/// Length of the mandatory header.
pub const HEADER_LEN: usize = 8;
/// Length of the optional sequence number / N-PDU / next-extension word.
pub const OPTIONAL_LEN: usize = 4;

mod field {
    use core::ops::Range;
    pub const FLAGS: usize = 0;
    pub const MSG_TYPE: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const TEID: Range<usize> = 4..8;
    pub const SEQ: Range<usize> = 8..10;
    pub const NPDU: usize = 10;
    pub const NEXT_EXT: usize = 11;
}

/// Flag bits of the first octet.
pub mod flags {
    /// Version 1, protocol type GTP.
    pub const V1_GTP: u8 = 0x30;
    /// Extension header present.
    pub const E: u8 = 0x04;
    /// Sequence number present.
    pub const S: u8 = 0x02;
    /// N-PDU number present.
    pub const PN: u8 = 0x01;
}

/// Message types used by the user plane (TS 29.281 table 6.1-1).
pub mod msg {
    /// Echo Request.
    pub const ECHO_REQUEST: u8 = 1;
    /// Echo Response.
    pub const ECHO_RESPONSE: u8 = 2;
    /// Error Indication.
    pub const ERROR_INDICATION: u8 = 26;
    /// Supported Extension Headers Notification.
    pub const SUPPORTED_EXT_HEADERS: u8 = 31;
    /// End Marker.
    pub const END_MARKER: u8 = 254;
    /// G-PDU (user data).
    pub const G_PDU: u8 = 255;
}

/// Extension header types (TS 29.281 figure 5.2.1-3).
pub mod ext {
    /// No more extension headers.
    pub const NONE: u8 = 0x00;
    /// Service Class Indicator.
    pub const SERVICE_CLASS: u8 = 0x20;
    /// UDP Port (in Error Indication).
    pub const UDP_PORT: u8 = 0x40;
    /// Long PDCP PDU Number.
    pub const LONG_PDCP: u8 = 0x82;
    /// PDU Session Container.
    pub const PDU_SESSION: u8 = 0x85;
    /// PDCP PDU Number.
    pub const PDCP: u8 = 0xc0;
    /// The types [`super::Repr::parse`] understands or may skip, as a
    /// Supported Extension Headers Notification lists them.
    pub const SUPPORTED: [u8; 5] = [SERVICE_CLASS, UDP_PORT, LONG_PDCP, PDU_SESSION, PDCP];
}

/// IE types (TS 29.281 section 8).
pub mod ie {
    /// Recovery (TV, 1 octet).
    pub const RECOVERY: u8 = 14;
    /// Tunnel Endpoint Identifier Data I (TV, 4 octets).
    pub const TEID_DATA_I: u8 = 16;
    /// GTP-U Peer Address (TLV).
    pub const PEER_ADDRESS: u8 = 133;
    /// Extension Header Type List (TLV with a one-octet length, TS 29.281
    /// section 8.5 / TS 29.060 section 7.7.40).
    pub const EXT_HEADER_TYPE_LIST: u8 = 141;
    /// Private Extension (TLV).
    pub const PRIVATE_EXTENSION: u8 = 255;
}

/// PDU type of a PDU Session Container (TS 38.415 section 5.5.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PduType {
    /// DL PDU SESSION INFORMATION (0).
    Dl,
    /// UL PDU SESSION INFORMATION (1).
    Ul,
}

/// The fields of a PDU Session Container the UPF uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PduSessionContainer {
    /// Direction of the information.
    pub pdu_type: PduType,
    /// QoS Flow Identifier (6 bits).
    pub qfi: u8,
    /// Reflective QoS Indicator (DL only).
    pub rqi: bool,
    /// Paging Policy Indicator (3 bits, DL only).
    pub ppi: Option<u8>,
}

impl PduSessionContainer {
    /// Length in bytes of the extension header [`Repr::emit`] writes.
    #[must_use]
    pub const fn wire_len(&self) -> usize {
        if self.ppi.is_some() { 8 } else { 4 }
    }

    fn parse(content: &[u8]) -> Result<Self> {
        if content.len() < 2 {
            return Err(Error::Malformed);
        }
        let qfi = content[1] & 0x3f;
        match content[0] >> 4 {
            0 => {
                let ppp = content[1] & 0x80 != 0;
                let ppi = if ppp {
                    Some(content.get(2).ok_or(Error::Malformed)? >> 5)
                } else {
                    None
                };
                Ok(Self {
                    pdu_type: PduType::Dl,
                    qfi,
                    rqi: content[1] & 0x40 != 0,
                    ppi,
                })
            }
            1 => Ok(Self {
                pdu_type: PduType::Ul,
                qfi,
                rqi: false,
                ppi: None,
            }),
            _ => Err(Error::Unsupported),
        }
    }

    /// Writes the extension header (length, content, next type).
    fn emit(&self, buf: &mut [u8], next: u8) {
        let qfi = self.qfi & 0x3f;
        match (self.pdu_type, self.ppi) {
            (PduType::Ul, _) => {
                buf[..4].copy_from_slice(&[1, 0x10, qfi, next]);
            }
            (PduType::Dl, None) => {
                buf[..4].copy_from_slice(&[1, 0x00, (u8::from(self.rqi) << 6) | qfi, next]);
            }
            (PduType::Dl, Some(ppi)) => buf[..8].copy_from_slice(&[
                2,
                0x00,
                0x80 | (u8::from(self.rqi) << 6) | qfi,
                (ppi & 7) << 5,
                0,
                0,
                0,
                next,
            ]),
        }
    }
}

/// A zero-copy view of a GTP-U message.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks version, protocol type and the length field; `buffer` is the
    /// UDP payload (it may not be shorter than the length field says).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if b[field::FLAGS] & 0xf0 != flags::V1_GTP {
            return Err(Error::Unsupported);
        }
        let len = usize::from(be16(&b[field::LENGTH]));
        if HEADER_LEN + len > b.len() {
            return Err(Error::Truncated);
        }
        if b[field::FLAGS] & (flags::E | flags::S | flags::PN) != 0 && len < OPTIONAL_LEN {
            return Err(Error::Malformed);
        }
        Ok(Self { buffer })
    }

    /// The flags octet.
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }
    /// Message type.
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::MSG_TYPE]
    }
    /// Length field: bytes after the mandatory header.
    pub fn length(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::LENGTH])
    }
    /// Tunnel endpoint identifier.
    pub fn teid(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::TEID])
    }
    /// The whole message (header and payload), without anything after it.
    pub fn message(&self) -> &[u8] {
        &self.buffer.as_ref()[..HEADER_LEN + usize::from(self.length())]
    }
}

/// The parsed form of a GTP-U header, extension headers included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Message type.
    pub msg_type: u8,
    /// Tunnel endpoint identifier.
    pub teid: u32,
    /// Sequence number (S flag).
    pub seq: Option<u16>,
    /// N-PDU number (PN flag).
    pub npdu: Option<u8>,
    /// PDU Session Container.
    pub psc: Option<PduSessionContainer>,
    /// UDP Port extension header.
    pub udp_port: Option<u16>,
    /// Bytes after the header and its extensions.
    pub payload_len: u16,
}

impl Repr {
    /// A G-PDU header without options.
    #[must_use]
    pub const fn gpdu(teid: u32, payload_len: u16) -> Self {
        Self {
            msg_type: msg::G_PDU,
            teid,
            seq: None,
            npdu: None,
            psc: None,
            udp_port: None,
            payload_len,
        }
    }

    /// Parses the header and walks the extension chain once. Unknown
    /// extension headers are skipped unless their type says comprehension
    /// is required (TS 29.281 section 5.2.1), which is an error.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Self> {
        let b = p.message();
        let fl = p.flags();
        let mut r = Self {
            msg_type: p.msg_type(),
            teid: p.teid(),
            seq: None,
            npdu: None,
            psc: None,
            udp_port: None,
            payload_len: 0,
        };
        let mut off = HEADER_LEN;
        if fl & (flags::E | flags::S | flags::PN) != 0 {
            if fl & flags::S != 0 {
                r.seq = Some(be16(&b[field::SEQ]));
            }
            if fl & flags::PN != 0 {
                r.npdu = Some(b[field::NPDU]);
            }
            let mut next = if fl & flags::E != 0 {
                b[field::NEXT_EXT]
            } else {
                ext::NONE
            };
            off += OPTIONAL_LEN;
            let mut count = 0;
            while next != ext::NONE {
                count += 1;
                if count > 16 {
                    return Err(Error::Malformed);
                }
                let units = usize::from(*b.get(off).ok_or(Error::Truncated)?);
                if units == 0 {
                    return Err(Error::Malformed);
                }
                let end = off + units * 4;
                if end > b.len() {
                    return Err(Error::Truncated);
                }
                let content = &b[off + 1..end - 1];
                match next {
                    ext::PDU_SESSION => r.psc = Some(PduSessionContainer::parse(content)?),
                    ext::UDP_PORT => {
                        r.udp_port = Some(be16(content.get(..2).ok_or(Error::Malformed)?));
                    }
                    ext::SERVICE_CLASS | ext::PDCP | ext::LONG_PDCP => {}
                    t if t & 0x80 != 0 => return Err(Error::ComprehensionRequired(t)),
                    _ => {}
                }
                next = b[end - 1];
                off = end;
            }
        }
        r.payload_len = u16::try_from(b.len() - off).map_err(|_| Error::Malformed)?;
        Ok(r)
    }

    /// `true` when the optional word (seq / N-PDU / next type) is present.
    #[must_use]
    pub const fn has_optional(&self) -> bool {
        self.seq.is_some() || self.npdu.is_some() || self.psc.is_some() || self.udp_port.is_some()
    }

    /// Length of the header [`emit`](Self::emit) writes. A received header
    /// may be longer (E set with no extension after it): the payload starts
    /// `payload_len` bytes before the end of [`Packet::message`].
    #[must_use]
    pub const fn header_len(&self) -> usize {
        let mut n = HEADER_LEN;
        if self.has_optional() {
            n += OPTIONAL_LEN;
        }
        if let Some(p) = self.psc {
            n += p.wire_len();
        }
        if self.udp_port.is_some() {
            n += 4;
        }
        n
    }

    /// Writes the header (everything before the payload) at the start of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let hl = self.header_len();
        if buf.len() < hl {
            return Err(Error::Truncated);
        }
        let length = u16::try_from(hl - HEADER_LEN + usize::from(self.payload_len))
            .map_err(|_| Error::Malformed)?;
        let mut fl = flags::V1_GTP;
        let has_ext = self.psc.is_some() || self.udp_port.is_some();
        if has_ext {
            fl |= flags::E;
        }
        if self.seq.is_some() {
            fl |= flags::S;
        }
        if self.npdu.is_some() {
            fl |= flags::PN;
        }
        buf[field::FLAGS] = fl;
        buf[field::MSG_TYPE] = self.msg_type;
        buf[field::LENGTH].copy_from_slice(&length.to_be_bytes());
        buf[field::TEID].copy_from_slice(&self.teid.to_be_bytes());
        if !self.has_optional() {
            return Ok(());
        }
        buf[field::SEQ].copy_from_slice(&self.seq.unwrap_or(0).to_be_bytes());
        buf[field::NPDU] = self.npdu.unwrap_or(0);
        let mut off = HEADER_LEN + OPTIONAL_LEN;
        let mut next_slot = field::NEXT_EXT;
        if let Some(p) = self.psc {
            buf[next_slot] = ext::PDU_SESSION;
            p.emit(&mut buf[off..], ext::NONE);
            off += p.wire_len();
            next_slot = off - 1;
        }
        if let Some(port) = self.udp_port {
            buf[next_slot] = ext::UDP_PORT;
            let pb = port.to_be_bytes();
            buf[off..off + 4].copy_from_slice(&[1, pb[0], pb[1], ext::NONE]);
            next_slot = off + 3;
        }
        buf[next_slot] = ext::NONE;
        Ok(())
    }
}

/// The information elements of path management messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ies {
    /// Recovery (restart counter; TS 29.281 says send 0, ignore on receipt).
    pub recovery: Option<u8>,
    /// TEID Data I (the TEID of the G-PDU an Error Indication is about).
    pub teid_data_i: Option<u32>,
    /// GTP-U Peer Address.
    pub peer_address: Option<IpAddr>,
}

impl Ies {
    /// Parses IEs; unknown TV types below 128 cannot be skipped and are an
    /// error, unknown TLVs (128 and up) are skipped.
    pub fn parse(mut b: &[u8]) -> Result<Self> {
        let mut r = Self::default();
        while let Some(&t) = b.first() {
            match t {
                ie::RECOVERY => {
                    r.recovery = Some(*b.get(1).ok_or(Error::Truncated)?);
                    b = &b[2..];
                }
                ie::TEID_DATA_I => {
                    r.teid_data_i = Some(be32(b.get(1..5).ok_or(Error::Truncated)?));
                    b = &b[5..];
                }
                t if t >= 128 => {
                    let len = usize::from(be16(b.get(1..3).ok_or(Error::Truncated)?));
                    let v = b.get(3..3 + len).ok_or(Error::Truncated)?;
                    if t == ie::PEER_ADDRESS {
                        r.peer_address = Some(match len {
                            4 => IpAddr::V4(Ipv4Addr::new(v[0], v[1], v[2], v[3])),
                            16 => {
                                let mut a = [0u8; 16];
                                a.copy_from_slice(v);
                                IpAddr::V6(Ipv6Addr::from(a))
                            }
                            _ => return Err(Error::Malformed),
                        });
                    }
                    b = &b[3 + len..];
                }
                _ => return Err(Error::Unsupported),
            }
        }
        Ok(r)
    }

    /// Bytes [`emit`](Self::emit) writes.
    #[must_use]
    pub const fn wire_len(&self) -> usize {
        let mut n = 0;
        if self.recovery.is_some() {
            n += 2;
        }
        if self.teid_data_i.is_some() {
            n += 5;
        }
        match self.peer_address {
            Some(IpAddr::V4(_)) => n += 7,
            Some(IpAddr::V6(_)) => n += 19,
            None => {}
        }
        n
    }

    /// Writes the IEs in ascending type order (TS 29.281 section 8.1).
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        if buf.len() < self.wire_len() {
            return Err(Error::Truncated);
        }
        let mut off = 0;
        if let Some(r) = self.recovery {
            buf[off..off + 2].copy_from_slice(&[ie::RECOVERY, r]);
            off += 2;
        }
        if let Some(t) = self.teid_data_i {
            buf[off] = ie::TEID_DATA_I;
            buf[off + 1..off + 5].copy_from_slice(&t.to_be_bytes());
            off += 5;
        }
        match self.peer_address {
            Some(IpAddr::V4(a)) => {
                buf[off..off + 3].copy_from_slice(&[ie::PEER_ADDRESS, 0, 4]);
                buf[off + 3..off + 7].copy_from_slice(&a.octets());
            }
            Some(IpAddr::V6(a)) => {
                buf[off..off + 3].copy_from_slice(&[ie::PEER_ADDRESS, 0, 16]);
                buf[off + 3..off + 19].copy_from_slice(&a.octets());
            }
            None => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A G-PDU with a UL PDU Session Container (QFI 9), laid out by hand from
    /// TS 29.281 figure 5.1-1 and TS 38.415 section 5.5.2.2 (the same bytes
    /// tshark decodes as "UL PDU SESSION INFORMATION, QFI 9"; see
    /// tests/dissector.rs): 34 ff 0010 00000001 | 0000 00 85 | 01 10 09 00 | payload.
    const GOLDEN_UL: [u8; 24] = [
        0x34, 0xff, 0x00, 0x10, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x85, 0x01, 0x10, 0x09,
        0x00, 0x45, 0x00, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef,
    ];

    #[test]
    fn golden_ul_gpdu_with_psc() {
        let p = Packet::new_checked(&GOLDEN_UL[..]).unwrap();
        let r = Repr::parse(&p).unwrap();
        assert_eq!(r.msg_type, msg::G_PDU);
        assert_eq!(r.teid, 1);
        assert_eq!(
            r.psc,
            Some(PduSessionContainer {
                pdu_type: PduType::Ul,
                qfi: 9,
                rqi: false,
                ppi: None
            })
        );
        assert_eq!(r.header_len(), 16);
        assert_eq!(r.payload_len, 8);
        let mut out = [0u8; 16];
        r.emit(&mut out).unwrap();
        assert_eq!(out, GOLDEN_UL[..16]);
    }

    #[test]
    fn golden_echo_response() {
        // TS 29.281 section 7.2.2: Echo Response with S=1, Recovery IE (value 0).
        let b = [0x32, 0x02, 0x00, 0x06, 0, 0, 0, 0, 0x12, 0x34, 0, 0, 14, 0];
        let p = Packet::new_checked(&b[..]).unwrap();
        let r = Repr::parse(&p).unwrap();
        assert_eq!(r.seq, Some(0x1234));
        assert_eq!(r.msg_type, msg::ECHO_RESPONSE);
        let ies = Ies::parse(&b[r.header_len()..]).unwrap();
        assert_eq!(ies.recovery, Some(0));
    }

    #[test]
    fn unknown_extensions() {
        // Unknown type 0x01 (comprehension not required) is skipped; then the PSC.
        let mut b = vec![
            0x34, 0xff, 0, 12, 0, 0, 0, 7, 0, 0, 0, 0x01, 1, 0xaa, 0xbb, 0x85, 1, 0x10, 5, 0,
        ];
        let r = Repr::parse(&Packet::new_checked(&b[..]).unwrap()).unwrap();
        assert_eq!(r.psc.map(|p| p.qfi), Some(5));
        assert_eq!(r.payload_len, 0);
        // Same with an unknown type 0xa1: comprehension required.
        b[11] = 0xa1;
        assert_eq!(
            Repr::parse(&Packet::new_checked(&b[..]).unwrap()).unwrap_err(),
            Error::ComprehensionRequired(0xa1)
        );
        // Zero-length extension header.
        b[11] = 0x01;
        b[12] = 0;
        assert_eq!(
            Repr::parse(&Packet::new_checked(&b[..]).unwrap()).unwrap_err(),
            Error::Malformed
        );
        // An extension running past the message.
        b[12] = 3;
        assert_eq!(
            Repr::parse(&Packet::new_checked(&b[..]).unwrap()).unwrap_err(),
            Error::Truncated
        );
    }

    #[test]
    fn e_flag_without_extension_keeps_the_payload_length_exact() {
        // E set, next extension type 0, then 4 bytes of payload.
        let b = [
            0x34, 0xff, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0, 0xaa, 0xbb, 0xcc, 0xdd,
        ];
        let p = Packet::new_checked(&b[..]).unwrap();
        let r = Repr::parse(&p).unwrap();
        assert_eq!(r.payload_len, 4);
        assert_eq!(p.message().len() - usize::from(r.payload_len), 12);
    }

    #[test]
    fn error_indication_ies() {
        let ies = Ies {
            recovery: None,
            teid_data_i: Some(0xdead_beef),
            peer_address: Some(Ipv4Addr::new(10, 0, 0, 1).into()),
        };
        let mut b = vec![0u8; ies.wire_len()];
        ies.emit(&mut b).unwrap();
        assert_eq!(b, [16, 0xde, 0xad, 0xbe, 0xef, 133, 0, 4, 10, 0, 0, 1]);
        assert_eq!(Ies::parse(&b).unwrap(), ies);
        assert_eq!(Ies::parse(&[7, 1]).unwrap_err(), Error::Unsupported);
    }

    fn psc() -> impl Strategy<Value = PduSessionContainer> {
        prop_oneof![
            (0u8..64, any::<bool>(), proptest::option::of(0u8..8)).prop_map(|(qfi, rqi, ppi)| {
                PduSessionContainer {
                    pdu_type: PduType::Dl,
                    qfi,
                    rqi,
                    ppi,
                }
            }),
            (0u8..64).prop_map(|qfi| PduSessionContainer {
                pdu_type: PduType::Ul,
                qfi,
                rqi: false,
                ppi: None
            }),
        ]
    }

    proptest! {
        #[test]
        fn roundtrip(msg_type in any::<u8>(), teid in any::<u32>(), seq in proptest::option::of(any::<u16>()), npdu in proptest::option::of(any::<u8>()),
                     psc in proptest::option::of(psc()), udp_port in proptest::option::of(any::<u16>()), payload_len in 0u16..100) {
            let r = Repr { msg_type, teid, seq, npdu, psc, udp_port, payload_len };
            let mut b = vec![0u8; r.header_len() + usize::from(payload_len)];
            r.emit(&mut b).unwrap();
            prop_assert_eq!(Repr::parse(&Packet::new_checked(&b[..]).unwrap()).unwrap(), r);
        }

        #[test]
        fn ies_roundtrip(recovery in proptest::option::of(any::<u8>()), teid in proptest::option::of(any::<u32>()), v4 in proptest::option::of(any::<u32>()), v6 in proptest::option::of(any::<u128>())) {
            let peer_address = v4.map(|a| IpAddr::V4(a.into())).or(v6.map(|a| IpAddr::V6(a.into())));
            let ies = Ies { recovery, teid_data_i: teid, peer_address };
            let mut b = vec![0u8; ies.wire_len()];
            ies.emit(&mut b).unwrap();
            prop_assert_eq!(Ies::parse(&b).unwrap(), ies);
        }

        #[test]
        fn any_bytes(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(p) = Packet::new_checked(&b[..]) { let _ = Repr::parse(&p); }
            let _ = Ies::parse(&b);
        }

        #[test]
        fn any_extension_chain(mut b in proptest::collection::vec(any::<u8>(), 12..64)) {
            b[0] = 0x34;
            let len = u16::try_from(b.len() - 8).unwrap();
            b[2..4].copy_from_slice(&len.to_be_bytes());
            let _ = Repr::parse(&Packet::new_checked(&b[..]).unwrap());
        }
    }
}
