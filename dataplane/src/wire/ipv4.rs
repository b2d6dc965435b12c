//! IPv4 headers (RFC 791) with options and the header checksum: the outer
//! transport of GTP-U on N3/N9 and the inner (UE) packets on every interface.

use super::{Error, Result, be16, checksum, ipv4_at};
use std::net::Ipv4Addr;

mod field {
    use core::ops::Range;
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const LEN: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const FLAGS_FRAG: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC: Range<usize> = 12..16;
    pub const DST: Range<usize> = 16..20;
}

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;

/// IP protocol numbers used here.
pub mod protocol {
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
}

/// A zero-copy view of an IPv4 packet.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps without checks.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Checks version, header length and total length against the buffer
    /// (which may be longer: Ethernet padding).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if b[field::VER_IHL] >> 4 != 4 {
            return Err(Error::Malformed);
        }
        let ihl = usize::from(b[field::VER_IHL] & 0x0f) * 4;
        let total = usize::from(be16(&b[field::LEN]));
        if ihl < HEADER_LEN || total < ihl {
            return Err(Error::Malformed);
        }
        if total > b.len() {
            return Err(Error::Truncated);
        }
        Ok(Self { buffer })
    }

    /// Header length including options.
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }
    /// Total length field.
    pub fn total_len(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::LEN])
    }
    /// DSCP and ECN byte.
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[field::TOS]
    }
    /// Identification.
    pub fn ident(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::IDENT])
    }
    /// Don't Fragment flag.
    pub fn dont_frag(&self) -> bool {
        self.buffer.as_ref()[field::FLAGS_FRAG.start] & 0x40 != 0
    }
    /// `true` for any fragment (MF set or a non-zero offset).
    pub fn is_fragment(&self) -> bool {
        be16(&self.buffer.as_ref()[field::FLAGS_FRAG]) & 0x3fff != 0
    }
    /// `true` for a fragment other than the first one (it has no L4 header).
    pub fn is_later_fragment(&self) -> bool {
        be16(&self.buffer.as_ref()[field::FLAGS_FRAG]) & 0x1fff != 0
    }
    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }
    /// Protocol of the payload.
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }
    /// Header checksum field.
    pub fn checksum(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::CHECKSUM])
    }
    /// Source address.
    pub fn src(&self) -> Ipv4Addr {
        ipv4_at(self.buffer.as_ref(), field::SRC.start)
    }
    /// Destination address.
    pub fn dst(&self) -> Ipv4Addr {
        ipv4_at(self.buffer.as_ref(), field::DST.start)
    }
    /// `true` when the header checksum is correct.
    pub fn verify_checksum(&self) -> bool {
        checksum::fold(checksum::sum(&self.buffer.as_ref()[..self.header_len()])) == 0xffff
    }
    /// The options bytes.
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }
    /// The payload, without Ethernet padding.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..usize::from(self.total_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Recomputes the header checksum.
    pub fn fill_checksum(&mut self) {
        let hl = self.header_len();
        let b = self.buffer.as_mut();
        b[field::CHECKSUM].copy_from_slice(&[0, 0]);
        let c = checksum::finish(checksum::sum(&b[..hl]));
        b[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    }

    /// Decrements the TTL and patches the checksum incrementally (RFC 1624).
    /// Returns `false`, changing nothing, when the TTL would reach zero.
    pub fn decrement_ttl(&mut self) -> bool {
        let b = self.buffer.as_mut();
        let ttl = b[field::TTL];
        if ttl <= 1 {
            return false;
        }
        let old = u16::from_be_bytes([ttl, b[field::PROTOCOL]]);
        let new = u16::from_be_bytes([ttl - 1, b[field::PROTOCOL]]);
        b[field::TTL] = ttl - 1;
        let c = checksum::update(be16(&b[field::CHECKSUM]), old, new);
        b[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
        true
    }

    /// Sets the DSCP (upper six bits of the TOS byte), keeping ECN, and
    /// patches the checksum.
    pub fn set_dscp(&mut self, dscp: u8) {
        let b = self.buffer.as_mut();
        let old = u16::from_be_bytes([b[0], b[1]]);
        b[field::TOS] = (dscp << 2) | (b[field::TOS] & 0x03);
        let new = u16::from_be_bytes([b[0], b[1]]);
        let c = checksum::update(be16(&b[field::CHECKSUM]), old, new);
        b[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    }
}

/// The parsed form of an IPv4 header (options are not kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Payload protocol.
    pub protocol: u8,
    /// Time to live.
    pub ttl: u8,
    /// DSCP (upper 6 bits) and ECN.
    pub tos: u8,
    /// Identification.
    pub ident: u16,
    /// Don't Fragment.
    pub dont_frag: bool,
    /// Payload length in bytes.
    pub payload_len: u16,
}

impl Repr {
    /// Parses a checked packet, verifying the header checksum.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Self> {
        if !p.verify_checksum() {
            return Err(Error::Checksum);
        }
        let hl = u16::try_from(p.header_len()).map_err(|_| Error::Malformed)?;
        Ok(Self {
            src: p.src(),
            dst: p.dst(),
            protocol: p.protocol(),
            ttl: p.ttl(),
            tos: p.tos(),
            ident: p.ident(),
            dont_frag: p.dont_frag(),
            payload_len: p.total_len() - hl,
        })
    }

    /// Writes a 20-byte header (no options) with its checksum at the start of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        if buf.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let total = self.payload_len.checked_add(20).ok_or(Error::Malformed)?;
        let b = &mut buf[..HEADER_LEN];
        b[field::VER_IHL] = 0x45;
        b[field::TOS] = self.tos;
        b[field::LEN].copy_from_slice(&total.to_be_bytes());
        b[field::IDENT].copy_from_slice(&self.ident.to_be_bytes());
        b[field::FLAGS_FRAG]
            .copy_from_slice(&(if self.dont_frag { 0x4000u16 } else { 0 }).to_be_bytes());
        b[field::TTL] = self.ttl;
        b[field::PROTOCOL] = self.protocol;
        b[field::CHECKSUM].copy_from_slice(&[0, 0]);
        b[field::SRC].copy_from_slice(&self.src.octets());
        b[field::DST].copy_from_slice(&self.dst.octets());
        let c = checksum::finish(checksum::sum(b));
        b[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // The header from the Wikipedia "IPv4 header checksum" example
    // (4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7), checksum b861.
    const GOLDEN: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];

    #[test]
    fn golden_checksum() {
        let mut b = GOLDEN.to_vec();
        b.resize(0x73, 0);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.verify_checksum());
        let r = Repr::parse(&p).unwrap();
        assert_eq!(r.src, Ipv4Addr::new(192, 168, 0, 1));
        assert_eq!(r.protocol, protocol::UDP);
        let mut out = vec![0u8; 20];
        r.emit(&mut out).unwrap();
        assert_eq!(out, GOLDEN);
    }

    #[test]
    fn options_and_ttl() {
        let mut b = [0u8; 32];
        b[0] = 0x46; // ihl 6: 4 bytes of options
        b[3] = 32;
        b[8] = 2;
        b[20..24].copy_from_slice(&[1, 1, 1, 0]); // NOP NOP NOP EOL
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.fill_checksum();
        assert!(p.verify_checksum());
        assert_eq!(p.options(), &[1, 1, 1, 0]);
        assert_eq!(p.payload().len(), 8);
        assert!(p.decrement_ttl());
        assert!(p.verify_checksum());
        assert!(!p.decrement_ttl(), "ttl 1 must not be forwarded");
        assert_eq!(p.ttl(), 1);
        p.set_dscp(46);
        assert!(p.verify_checksum());
        assert_eq!(p.tos() >> 2, 46);
    }

    #[test]
    fn rejects_bad_lengths() {
        let mut b = GOLDEN.to_vec();
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), Error::Truncated);
        b[0] = 0x44;
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), Error::Malformed);
        b[0] = 0x65;
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), Error::Malformed);
    }

    proptest! {
        #[test]
        fn roundtrip(src in any::<u32>(), dst in any::<u32>(), protocol in any::<u8>(), ttl in any::<u8>(), tos in any::<u8>(), ident in any::<u16>(), df in any::<bool>(), payload_len in 0u16..1500) {
            let r = Repr { src: src.into(), dst: dst.into(), protocol, ttl, tos, ident, dont_frag: df, payload_len };
            let mut b = vec![0u8; 20 + usize::from(payload_len)];
            r.emit(&mut b).unwrap();
            prop_assert_eq!(Repr::parse(&Packet::new_checked(&b[..]).unwrap()).unwrap(), r);
        }

        #[test]
        fn any_bytes(b in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(p) = Packet::new_checked(&b[..]) {
                let _ = Repr::parse(&p);
                let _ = (p.payload(), p.options(), p.is_fragment());
            }
        }
    }
}
