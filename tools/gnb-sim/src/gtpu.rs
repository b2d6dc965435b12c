//! GTP-U (TS 29.281) and the PDU Session Container (TS 38.415 §5.5.2) as the
//! gNB simulator needs them: the outer tunnel of every N3 packet it sends to
//! and receives from the UPF.
//!
//! Deliberately minimal and independent of `dataplane/` (the appliance's full
//! codec): the test tool must not depend on the code it tests, and two
//! independent codecs catch each other's bugs. Covered: the mandatory header,
//! the optional sequence / N-PDU fields, the extension-header chain (the PDU
//! Session Container parsed, any other extension kept as raw bytes), and
//! helpers for Echo Response. No IEs beyond Recovery, no GTP' (PT=0).

use thiserror::Error;

/// UDP port of GTP-U (TS 29.281 §4.4.2.3).
pub const PORT: u16 = 2152;

/// Message types used here (TS 29.281 §6.1).
pub mod msg {
    pub const ECHO_REQUEST: u8 = 1;
    pub const ECHO_RESPONSE: u8 = 2;
    pub const ERROR_INDICATION: u8 = 26;
    pub const SUPPORTED_EXT_HEADERS: u8 = 31;
    pub const END_MARKER: u8 = 254;
    pub const G_PDU: u8 = 255;
}

/// Extension header type of the PDU Session Container (TS 29.281 §5.2.1).
pub const EXT_PDU_SESSION_CONTAINER: u8 = 0x85;
/// Recovery IE (TS 29.281 §8.2), TV with a one-octet restart counter.
pub const IE_RECOVERY: u8 = 14;

/// Mandatory header length.
pub const HEADER_LEN: usize = 8;
/// Sequence number (2), N-PDU number (1), next extension type (1): present
/// when any of E, S, PN is set.
pub const OPT_LEN: usize = 4;
/// Header length of a G-PDU with exactly one minimal PDU Session Container,
/// which is what the simulator sends.
pub const GPDU_PSC_HEADER_LEN: usize = HEADER_LEN + OPT_LEN + 4;

mod field {
    pub const FLAGS: usize = 0;
    pub const MSG_TYPE: usize = 1;
    pub const LENGTH: core::ops::Range<usize> = 2..4;
    pub const TEID: core::ops::Range<usize> = 4..8;
    pub const SEQ: core::ops::Range<usize> = 8..10;
    pub const NPDU: usize = 10;
    pub const NEXT_EXT: usize = 11;
}

const FLAG_E: u8 = 0x04;
const FLAG_S: u8 = 0x02;
const FLAG_PN: u8 = 0x01;
const FLAG_PT: u8 = 0x10;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Error {
    #[error("truncated GTP-U: need {need} bytes, have {have}")]
    Truncated { need: usize, have: usize },
    #[error("GTP version {0}, expected 1")]
    Version(u8),
    #[error("protocol type 0 (GTP'), expected GTP")]
    GtpPrime,
    #[error("GTP-U length field {declared} exceeds the {available} bytes after the header")]
    Length { declared: usize, available: usize },
    #[error("extension header of length 0 at offset {0}")]
    ZeroExtension(usize),
    #[error("extension header at offset {offset} runs past the message end ({end})")]
    ExtensionTruncated { offset: usize, end: usize },
    #[error("PDU Session Container with {0} content bytes, need at least 2")]
    PscTooShort(usize),
    #[error("extension content of {0} bytes; must be 4n-2")]
    ExtensionContentLength(usize),
    #[error("output buffer of {have} bytes, need {need}")]
    BufferTooSmall { need: usize, have: usize },
    #[error("message of {0} bytes does not fit the 16-bit length field")]
    TooLong(usize),
}

/// PDU type of a PDU Session Container (TS 38.415 §5.5.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PduType {
    /// DL PDU SESSION INFORMATION (0): UPF → gNB.
    Dl,
    /// UL PDU SESSION INFORMATION (1): gNB → UPF.
    Ul,
    Other(u8),
}

impl PduType {
    fn from_nibble(v: u8) -> Self {
        match v & 0x0f {
            0 => Self::Dl,
            1 => Self::Ul,
            x => Self::Other(x),
        }
    }
    fn nibble(self) -> u8 {
        match self {
            Self::Dl => 0,
            Self::Ul => 1,
            Self::Other(x) => x & 0x0f,
        }
    }
}

/// PDU Session Container. The first two octets are named; whatever follows
/// (optional fields such as timestamps, plus padding) is kept raw so that
/// parse/emit round-trip exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PduSessionContainer {
    pub pdu_type: PduType,
    /// Low four bits of octet 1 (DL: QMP, SNP, MSNP, spare; UL: QMP, DL/UL
    /// delay indications, SNP). The simulator sends 0.
    pub flags: u8,
    /// Octet 2 bit 8: DL = PPP, UL = N3/N9 Delay Ind.
    pub bit8: bool,
    /// Octet 2 bit 7: DL = RQI, UL = New IE Flag.
    pub bit7: bool,
    /// QoS Flow Identifier (6 bits).
    pub qfi: u8,
    /// Octets 3.. of the content, unparsed; length must be a multiple of 4.
    pub rest: Vec<u8>,
}

impl PduSessionContainer {
    /// Minimal UL PDU SESSION INFORMATION carrying `qfi`.
    #[must_use]
    pub fn ul(qfi: u8) -> Self {
        Self {
            pdu_type: PduType::Ul,
            flags: 0,
            bit8: false,
            bit7: false,
            qfi: qfi & 0x3f,
            rest: Vec::new(),
        }
    }
    /// Minimal DL PDU SESSION INFORMATION carrying `qfi`.
    #[must_use]
    pub fn dl(qfi: u8) -> Self {
        Self {
            pdu_type: PduType::Dl,
            flags: 0,
            bit8: false,
            bit7: false,
            qfi: qfi & 0x3f,
            rest: Vec::new(),
        }
    }

    /// RQI (only meaningful in a DL container).
    #[must_use]
    pub fn rqi(&self) -> bool {
        self.pdu_type == PduType::Dl && self.bit7
    }

    fn parse(content: &[u8]) -> Result<Self, Error> {
        let [o1, o2, rest @ ..] = content else {
            return Err(Error::PscTooShort(content.len()));
        };
        Ok(Self {
            pdu_type: PduType::from_nibble(o1 >> 4),
            flags: o1 & 0x0f,
            bit8: o2 & 0x80 != 0,
            bit7: o2 & 0x40 != 0,
            qfi: o2 & 0x3f,
            rest: rest.to_vec(),
        })
    }

    fn content_len(&self) -> usize {
        2 + self.rest.len()
    }

    fn emit_content(&self, out: &mut [u8]) {
        out[0] = (self.pdu_type.nibble() << 4) | (self.flags & 0x0f);
        out[1] = (u8::from(self.bit8) << 7) | (u8::from(self.bit7) << 6) | (self.qfi & 0x3f);
        out[2..2 + self.rest.len()].copy_from_slice(&self.rest);
    }
}

/// One extension header, in wire order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extension {
    PduSession(PduSessionContainer),
    /// Any other type, content kept raw (length 4n-2, without the length
    /// octet and the next-type octet).
    Other {
        ext_type: u8,
        content: Vec<u8>,
    },
}

impl Extension {
    fn ext_type(&self) -> u8 {
        match self {
            Self::PduSession(_) => EXT_PDU_SESSION_CONTAINER,
            Self::Other { ext_type, .. } => *ext_type,
        }
    }
    fn content_len(&self) -> usize {
        match self {
            Self::PduSession(p) => p.content_len(),
            Self::Other { content, .. } => content.len(),
        }
    }
    fn wire_len(&self) -> usize {
        self.content_len() + 2
    }
}

/// A zero-copy view over one GTP-U message (smoltcp style).
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
    /// Offset of the payload (after optional fields and extensions).
    payload_at: usize,
    /// End of the message as the length field says (trailing bytes ignored).
    end: usize,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Validates the whole header chain once; accessors cannot fail after.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated {
                need: HEADER_LEN,
                have: b.len(),
            });
        }
        let flags = b[field::FLAGS];
        if flags >> 5 != 1 {
            return Err(Error::Version(flags >> 5));
        }
        if flags & FLAG_PT == 0 {
            return Err(Error::GtpPrime);
        }
        let declared = usize::from(u16::from_be_bytes([b[2], b[3]]));
        let available = b.len() - HEADER_LEN;
        if declared > available {
            return Err(Error::Length {
                declared,
                available,
            });
        }
        let end = HEADER_LEN + declared;
        let mut at = HEADER_LEN;
        if flags & (FLAG_E | FLAG_S | FLAG_PN) != 0 {
            if end < HEADER_LEN + OPT_LEN {
                return Err(Error::Truncated {
                    need: HEADER_LEN + OPT_LEN,
                    have: end,
                });
            }
            at += OPT_LEN;
            if flags & FLAG_E != 0 {
                let mut next = b[field::NEXT_EXT];
                while next != 0 {
                    if at >= end {
                        return Err(Error::ExtensionTruncated { offset: at, end });
                    }
                    let len = usize::from(b[at]) * 4;
                    if len == 0 {
                        return Err(Error::ZeroExtension(at));
                    }
                    if at + len > end {
                        return Err(Error::ExtensionTruncated { offset: at, end });
                    }
                    next = b[at + len - 1];
                    at += len;
                }
            }
        }
        Ok(Self {
            buffer,
            payload_at: at,
            end,
        })
    }

    fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }
    #[must_use]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::MSG_TYPE]
    }
    /// The length field: bytes after the mandatory 8-byte header.
    #[must_use]
    pub fn length(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[field::LENGTH.start], b[field::LENGTH.start + 1]])
    }
    #[must_use]
    pub fn teid(&self) -> u32 {
        let b = &self.buffer.as_ref()[field::TEID];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }
    /// Sequence number, when the S flag says it is meaningful.
    #[must_use]
    pub fn seq(&self) -> Option<u16> {
        (self.flags() & FLAG_S != 0).then(|| {
            let b = self.buffer.as_ref();
            u16::from_be_bytes([b[field::SEQ.start], b[field::SEQ.start + 1]])
        })
    }
    #[must_use]
    pub fn npdu(&self) -> Option<u8> {
        (self.flags() & FLAG_PN != 0).then(|| self.buffer.as_ref()[field::NPDU])
    }
    /// The extension headers, in order (validated by `new_checked`).
    #[must_use]
    pub fn extensions(&self) -> ExtIter<'_> {
        let b = self.buffer.as_ref();
        let next = if self.flags() & FLAG_E != 0 {
            b[field::NEXT_EXT]
        } else {
            0
        };
        ExtIter {
            buf: &b[..self.end],
            at: HEADER_LEN + OPT_LEN,
            next,
        }
    }
    /// The first PDU Session Container, if any (no allocation).
    #[must_use]
    pub fn psc_qfi(&self) -> Option<(PduType, u8)> {
        self.extensions().find_map(|(t, c)| {
            (t == EXT_PDU_SESSION_CONTAINER).then(|| (PduType::from_nibble(c[0] >> 4), c[1] & 0x3f))
        })
    }
    /// Offset of the payload (the T-PDU of a G-PDU, IEs otherwise).
    #[must_use]
    pub fn payload_offset(&self) -> usize {
        self.payload_at
    }
    #[must_use]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.payload_at..self.end]
    }
}

/// Iterates `(extension type, content)` over a validated chain.
pub struct ExtIter<'a> {
    buf: &'a [u8],
    at: usize,
    next: u8,
}

impl<'a> Iterator for ExtIter<'a> {
    type Item = (u8, &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        if self.next == 0 {
            return None;
        }
        let len = usize::from(*self.buf.get(self.at)?) * 4;
        let ext = self.buf.get(self.at..self.at + len)?;
        let item = (self.next, ext.get(1..len - 1)?);
        self.next = ext[len - 1];
        self.at += len;
        Some(item)
    }
}

/// Owned form of a GTP-U header (everything before the payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repr {
    pub msg_type: u8,
    pub teid: u32,
    pub seq: Option<u16>,
    pub npdu: Option<u8>,
    pub extensions: Vec<Extension>,
}

impl Repr {
    /// A G-PDU header with one PDU Session Container, no sequence number.
    #[must_use]
    pub fn gpdu(teid: u32, psc: PduSessionContainer) -> Self {
        Self {
            msg_type: msg::G_PDU,
            teid,
            seq: None,
            npdu: None,
            extensions: vec![Extension::PduSession(psc)],
        }
    }

    /// Parses the header of a message; returns it with the payload offset.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Self, Error> {
        let mut extensions = Vec::new();
        for (ext_type, content) in p.extensions() {
            extensions.push(if ext_type == EXT_PDU_SESSION_CONTAINER {
                Extension::PduSession(PduSessionContainer::parse(content)?)
            } else {
                Extension::Other {
                    ext_type,
                    content: content.to_vec(),
                }
            });
        }
        Ok(Self {
            msg_type: p.msg_type(),
            teid: p.teid(),
            seq: p.seq(),
            npdu: p.npdu(),
            extensions,
        })
    }

    fn has_opt(&self) -> bool {
        self.seq.is_some() || self.npdu.is_some() || !self.extensions.is_empty()
    }

    /// Header length on the wire.
    #[must_use]
    pub fn header_len(&self) -> usize {
        let mut n = HEADER_LEN;
        if self.has_opt() {
            n += OPT_LEN
                + self
                    .extensions
                    .iter()
                    .map(Extension::wire_len)
                    .sum::<usize>();
        }
        n
    }

    /// Writes the header into `buf[..header_len()]`, with a length field that
    /// covers `payload_len` bytes which the caller places right after it.
    /// Returns the header length.
    pub fn emit(&self, buf: &mut [u8], payload_len: usize) -> Result<usize, Error> {
        let hlen = self.header_len();
        if buf.len() < hlen {
            return Err(Error::BufferTooSmall {
                need: hlen,
                have: buf.len(),
            });
        }
        for e in &self.extensions {
            let n = e.content_len();
            if n < 2 || (n + 2) % 4 != 0 || n + 2 > 255 * 4 {
                return Err(Error::ExtensionContentLength(n));
            }
        }
        let length = u16::try_from(hlen - HEADER_LEN + payload_len)
            .map_err(|_| Error::TooLong(hlen + payload_len))?;
        let mut flags = 0x20 | FLAG_PT;
        if !self.extensions.is_empty() {
            flags |= FLAG_E;
        }
        if self.seq.is_some() {
            flags |= FLAG_S;
        }
        if self.npdu.is_some() {
            flags |= FLAG_PN;
        }
        buf[field::FLAGS] = flags;
        buf[field::MSG_TYPE] = self.msg_type;
        buf[field::LENGTH].copy_from_slice(&length.to_be_bytes());
        buf[field::TEID].copy_from_slice(&self.teid.to_be_bytes());
        if self.has_opt() {
            buf[field::SEQ].copy_from_slice(&self.seq.unwrap_or(0).to_be_bytes());
            buf[field::NPDU] = self.npdu.unwrap_or(0);
            let mut at = HEADER_LEN + OPT_LEN;
            let mut next_slot = field::NEXT_EXT;
            for e in &self.extensions {
                buf[next_slot] = e.ext_type();
                let wl = e.wire_len();
                // Checked above: wl <= 255 * 4 and a multiple of 4.
                buf[at] = u8::try_from(wl / 4).map_err(|_| Error::ExtensionContentLength(wl))?;
                let content = &mut buf[at + 1..at + wl - 1];
                match e {
                    Extension::PduSession(p) => p.emit_content(content),
                    Extension::Other { content: c, .. } => content.copy_from_slice(c),
                }
                next_slot = at + wl - 1;
                at += wl;
            }
            buf[next_slot] = 0;
        }
        Ok(hlen)
    }
}

/// Writes the header of a G-PDU with one minimal PDU Session Container into
/// `buf[..GPDU_PSC_HEADER_LEN]`, without allocating: the per-packet path of
/// the simulator and the test peer. Same bytes as `Repr::gpdu(..).emit(..)`.
pub fn emit_gpdu_psc(
    buf: &mut [u8],
    teid: u32,
    pdu_type: PduType,
    qfi: u8,
    payload_len: usize,
) -> Result<usize, Error> {
    if buf.len() < GPDU_PSC_HEADER_LEN {
        return Err(Error::BufferTooSmall {
            need: GPDU_PSC_HEADER_LEN,
            have: buf.len(),
        });
    }
    let length = u16::try_from(GPDU_PSC_HEADER_LEN - HEADER_LEN + payload_len)
        .map_err(|_| Error::TooLong(GPDU_PSC_HEADER_LEN + payload_len))?;
    let [l0, l1] = length.to_be_bytes();
    let [t0, t1, t2, t3] = teid.to_be_bytes();
    buf[..GPDU_PSC_HEADER_LEN].copy_from_slice(&[
        0x20 | FLAG_PT | FLAG_E,
        msg::G_PDU,
        l0,
        l1,
        t0,
        t1,
        t2,
        t3,
        0,
        0,
        0,
        EXT_PDU_SESSION_CONTAINER,
        1,
        pdu_type.nibble() << 4,
        qfi & 0x3f,
        0,
    ]);
    Ok(GPDU_PSC_HEADER_LEN)
}

/// Builds a complete Echo Response (TS 29.281 §7.2.2) to a request with
/// sequence number `seq`; Recovery IE with restart counter 0, as the spec
/// asks of GTP-U.
#[must_use]
pub fn echo_response(seq: u16) -> Vec<u8> {
    let repr = Repr {
        msg_type: msg::ECHO_RESPONSE,
        teid: 0,
        seq: Some(seq),
        npdu: None,
        extensions: Vec::new(),
    };
    let mut out = vec![0u8; repr.header_len() + 2];
    // Cannot fail: the buffer is sized from header_len and the IE is 2 bytes.
    let h = repr.emit(&mut out, 2).unwrap_or(0);
    out[h] = IE_RECOVERY;
    out[h + 1] = 0;
    out
}

/// Builds an Echo Request with sequence number `seq` (no IEs: the private
/// extension is optional and Recovery is not sent in a request).
#[must_use]
pub fn echo_request(seq: u16) -> Vec<u8> {
    let repr = Repr {
        msg_type: msg::ECHO_REQUEST,
        teid: 0,
        seq: Some(seq),
        npdu: None,
        extensions: Vec::new(),
    };
    let mut out = vec![0u8; repr.header_len()];
    let _ = repr.emit(&mut out, 0);
    out
}

/// Builds an End Marker (TS 29.281 §7.3.2) for `teid`, as a UPF sends it
/// on the old path after a path switch.
#[must_use]
pub fn end_marker(teid: u32) -> Vec<u8> {
    let repr = Repr {
        msg_type: msg::END_MARKER,
        teid,
        seq: None,
        npdu: None,
        extensions: Vec::new(),
    };
    let mut out = vec![0u8; repr.header_len()];
    let _ = repr.emit(&mut out, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A G-PDU as a gNB sends it: flags 0x34 (v1, PT, E), type 0xff,
    /// length 4 + 4 + 4, TEID 0x100, seq 0, N-PDU 0, next ext 0x85, PSC
    /// len 1, UL (0x10), QFI 9, next ext 0; then a 4-byte payload.
    /// Layout from TS 29.281 §5.1 / §5.2.2.7 and TS 38.415 §5.5.2.2.
    const UL_GPDU: [u8; 20] = [
        0x34, 0xff, 0x00, 0x0c, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x85, 0x01, 0x10, 0x09,
        0x00, 0xde, 0xad, 0xbe, 0xef,
    ];

    #[test]
    fn golden_ul_gpdu_parse_and_emit() {
        let p = Packet::new_checked(&UL_GPDU[..]).unwrap();
        assert_eq!(p.msg_type(), msg::G_PDU);
        assert_eq!(p.teid(), 0x100);
        assert_eq!(p.seq(), None);
        assert_eq!(p.psc_qfi(), Some((PduType::Ul, 9)));
        assert_eq!(p.payload(), &[0xde, 0xad, 0xbe, 0xef]);
        let r = Repr::parse(&p).unwrap();
        assert_eq!(r, Repr::gpdu(0x100, PduSessionContainer::ul(9)));
        let mut out = [0u8; 20];
        let h = r.emit(&mut out, 4).unwrap();
        assert_eq!(h, GPDU_PSC_HEADER_LEN);
        out[h..].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(out, UL_GPDU);
    }

    #[test]
    fn echo_response_layout() {
        // flags 0x32 (v1, PT, S), type 2, length 6, TEID 0, seq, N-PDU 0,
        // next ext 0, Recovery IE (14) = 0.
        assert_eq!(
            echo_response(0x1234),
            [0x32, 2, 0, 6, 0, 0, 0, 0, 0x12, 0x34, 0, 0, 14, 0]
        );
        assert_eq!(echo_request(7), [0x32, 1, 0, 4, 0, 0, 0, 0, 0, 7, 0, 0]);
        assert_eq!(end_marker(0x200), [0x30, 254, 0, 0, 0, 0, 2, 0]);
    }

    #[test]
    fn unknown_extension_skipped_and_kept() {
        // UDP Port extension (0x40) with content [0x12, 0x34], then a DL PSC.
        let b = [
            0x34, 0xff, 0x00, 0x0d, 0, 0, 0, 1, 0, 0, 0, 0x40, 0x01, 0x12, 0x34, 0x85, 0x01, 0x00,
            0x45, 0x00, 0xaa,
        ];
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.psc_qfi(), Some((PduType::Dl, 5)));
        assert_eq!(p.payload(), &[0xaa]);
        let r = Repr::parse(&p).unwrap();
        assert_eq!(
            r.extensions[0],
            Extension::Other {
                ext_type: 0x40,
                content: vec![0x12, 0x34]
            }
        );
        let Extension::PduSession(psc) = &r.extensions[1] else {
            panic!("second ext is not a PSC")
        };
        assert!(psc.rqi());
    }

    #[test]
    fn rejects_bad_headers() {
        assert!(matches!(
            Packet::new_checked(&[0x30u8, 0xff, 0, 0][..]),
            Err(Error::Truncated { .. })
        ));
        assert_eq!(
            Packet::new_checked(&[0x50u8, 0xff, 0, 0, 0, 0, 0, 0][..]).unwrap_err(),
            Error::Version(2)
        );
        assert_eq!(
            Packet::new_checked(&[0x20u8, 0xff, 0, 0, 0, 0, 0, 0][..]).unwrap_err(),
            Error::GtpPrime
        );
        assert!(matches!(
            Packet::new_checked(&[0x30u8, 0xff, 0, 9, 0, 0, 0, 0][..]),
            Err(Error::Length { .. })
        ));
        // E set, extension length 0.
        let b = [0x34u8, 0xff, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0x85, 0];
        assert_eq!(
            Packet::new_checked(&b[..]).unwrap_err(),
            Error::ZeroExtension(12)
        );
        // E set, extension runs past the end.
        let b = [0x34u8, 0xff, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0x85, 2, 0];
        assert!(matches!(
            Packet::new_checked(&b[..]),
            Err(Error::ExtensionTruncated { .. })
        ));
    }

    #[test]
    fn emit_rejects_bad_extension_lengths() {
        let r = Repr {
            msg_type: msg::G_PDU,
            teid: 1,
            seq: None,
            npdu: None,
            extensions: vec![Extension::Other {
                ext_type: 0x40,
                content: vec![1, 2, 3],
            }],
        };
        let mut buf = [0u8; 64];
        assert_eq!(r.emit(&mut buf, 0), Err(Error::ExtensionContentLength(3)));
    }

    fn arb_psc() -> impl Strategy<Value = PduSessionContainer> {
        (
            0u8..16,
            0u8..16,
            any::<bool>(),
            any::<bool>(),
            0u8..64,
            0usize..3,
        )
            .prop_flat_map(|(t, f, b8, b7, qfi, words)| {
                proptest::collection::vec(any::<u8>(), words * 4).prop_map(move |rest| {
                    PduSessionContainer {
                        pdu_type: PduType::from_nibble(t),
                        flags: f,
                        bit8: b8,
                        bit7: b7,
                        qfi,
                        rest,
                    }
                })
            })
    }

    fn arb_ext() -> impl Strategy<Value = Extension> {
        prop_oneof![
            arb_psc().prop_map(Extension::PduSession),
            (
                (1u8..=255).prop_filter("not PSC", |t| *t != EXT_PDU_SESSION_CONTAINER),
                0usize..4
            )
                .prop_flat_map(|(t, words)| proptest::collection::vec(
                    any::<u8>(),
                    words * 4 + 2
                )
                .prop_map(move |content| Extension::Other {
                    ext_type: t,
                    content
                })),
        ]
    }

    fn arb_repr() -> impl Strategy<Value = Repr> {
        (
            any::<u8>(),
            any::<u32>(),
            proptest::option::of(any::<u16>()),
            proptest::option::of(any::<u8>()),
            proptest::collection::vec(arb_ext(), 0..4),
        )
            .prop_map(|(msg_type, teid, seq, npdu, extensions)| Repr {
                msg_type,
                teid,
                seq,
                npdu,
                extensions,
            })
    }

    proptest! {
        #[test]
        fn parse_emit_roundtrip(repr in arb_repr(), payload in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut buf = vec![0u8; repr.header_len() + payload.len()];
            let h = repr.emit(&mut buf, payload.len()).unwrap();
            buf[h..].copy_from_slice(&payload);
            let p = Packet::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(p.payload(), &payload[..]);
            prop_assert_eq!(p.payload_offset(), h);
            prop_assert_eq!(Repr::parse(&p).unwrap(), repr);
        }

        #[test]
        fn fast_emit_matches_repr(teid in any::<u32>(), ul in any::<bool>(), qfi in 0u8..64, plen in 0usize..2000) {
            let psc = if ul { PduSessionContainer::ul(qfi) } else { PduSessionContainer::dl(qfi) };
            let mut a = [0u8; GPDU_PSC_HEADER_LEN];
            let mut b = [0u8; GPDU_PSC_HEADER_LEN];
            Repr::gpdu(teid, psc.clone()).emit(&mut a, plen).unwrap();
            emit_gpdu_psc(&mut b, teid, psc.pdu_type, qfi, plen).unwrap();
            prop_assert_eq!(a, b);
        }

        #[test]
        fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
            if let Ok(p) = Packet::new_checked(&bytes[..]) {
                let _ = p.payload();
                let _ = p.psc_qfi();
                let _ = p.extensions().count();
                let _ = Repr::parse(&p);
            }
        }

        #[test]
        fn any_bytes_after_valid_flags_never_panic(
            flags in prop_oneof![Just(0x30u8), Just(0x32), Just(0x34), Just(0x37)],
            rest in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            // Most random bytes fail the version check; this drives the
            // extension walk with a plausible header instead.
            let mut b = vec![flags, 0xff];
            let len = u16::try_from(rest.len().saturating_sub(6)).unwrap();
            b.extend_from_slice(&len.to_be_bytes());
            b.extend_from_slice(&rest);
            if let Ok(p) = Packet::new_checked(&b[..]) {
                let _ = p.payload();
                let _ = p.psc_qfi();
                let _ = Repr::parse(&p);
            }
        }
    }
}
