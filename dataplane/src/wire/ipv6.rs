//! IPv6 headers (RFC 8200): outer transport of GTP-U and inner UE traffic.
//! Extension headers are skipped to find the transport protocol.

use super::{Error, Result, be16, ipv6_at};
use std::net::Ipv6Addr;

mod field {
    use core::ops::Range;
    pub const VER_TC_FLOW: Range<usize> = 0..4;
    pub const PAYLOAD_LEN: Range<usize> = 4..6;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: Range<usize> = 8..24;
    pub const DST: Range<usize> = 24..40;
}

/// Length of the fixed header.
pub const HEADER_LEN: usize = 40;

/// Extension header numbers that are skipped.
pub mod ext {
    /// Hop-by-Hop Options.
    pub const HOP_BY_HOP: u8 = 0;
    /// Routing.
    pub const ROUTING: u8 = 43;
    /// Fragment.
    pub const FRAGMENT: u8 = 44;
    /// Authentication Header.
    pub const AH: u8 = 51;
    /// Destination Options.
    pub const DEST_OPTS: u8 = 60;
    /// No Next Header.
    pub const NO_NEXT: u8 = 59;
}

/// Where the transport header sits, found by skipping extension headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transport {
    /// The upper-layer protocol.
    pub protocol: u8,
    /// Offset of the upper-layer header from the start of the IPv6 header.
    pub offset: usize,
    /// `true` for a non-first fragment: no upper-layer header follows.
    pub later_fragment: bool,
}

/// A zero-copy view of an IPv6 packet.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps without checks.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Checks version and payload length against the buffer.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if b[0] >> 4 != 6 {
            return Err(Error::Malformed);
        }
        if HEADER_LEN + usize::from(be16(&b[field::PAYLOAD_LEN])) > b.len() {
            return Err(Error::Truncated);
        }
        Ok(Self { buffer })
    }

    /// Traffic class.
    pub fn traffic_class(&self) -> u8 {
        let b = self.buffer.as_ref();
        (b[0] << 4) | (b[1] >> 4)
    }
    /// Flow label (20 bits).
    pub fn flow_label(&self) -> u32 {
        let b = self.buffer.as_ref();
        (u32::from(b[1] & 0x0f) << 16) | u32::from(be16(&b[2..4]))
    }
    /// Payload length field.
    pub fn payload_len(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::PAYLOAD_LEN])
    }
    /// Next header of the fixed header.
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NEXT_HEADER]
    }
    /// Hop limit.
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }
    /// Source address.
    pub fn src(&self) -> Ipv6Addr {
        ipv6_at(self.buffer.as_ref(), field::SRC.start)
    }
    /// Destination address.
    pub fn dst(&self) -> Ipv6Addr {
        ipv6_at(self.buffer.as_ref(), field::DST.start)
    }
    /// Total length (header and payload), without link padding.
    pub fn total_len(&self) -> usize {
        HEADER_LEN + usize::from(self.payload_len())
    }

    /// Skips extension headers (Hop-by-Hop, Routing, Fragment, Destination
    /// Options, AH) to find the upper-layer protocol.
    pub fn transport(&self) -> Result<Transport> {
        let b = &self.buffer.as_ref()[..self.total_len()];
        let mut nh = self.next_header();
        let mut off = HEADER_LEN;
        let mut later_fragment = false;
        // A packet cannot hold more headers than 8-byte units; the bound only
        // protects against loops in malformed input.
        for _ in 0..32 {
            match nh {
                ext::HOP_BY_HOP | ext::ROUTING | ext::DEST_OPTS | ext::AH | ext::FRAGMENT => {
                    let h = b.get(off..off + 8).ok_or(Error::Truncated)?;
                    let len = match nh {
                        ext::FRAGMENT => {
                            later_fragment |= be16(&h[2..4]) & 0xfff8 != 0;
                            8
                        }
                        ext::AH => (usize::from(h[1]) + 2) * 4,
                        _ => (usize::from(h[1]) + 1) * 8,
                    };
                    if off + len > b.len() {
                        return Err(Error::Truncated);
                    }
                    nh = h[0];
                    off += len;
                }
                _ => {
                    return Ok(Transport {
                        protocol: nh,
                        offset: off,
                        later_fragment,
                    });
                }
            }
        }
        Err(Error::Malformed)
    }

    /// The payload after the fixed header, without link padding.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.total_len()]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Decrements the hop limit; `false`, changing nothing, when it would reach zero.
    pub fn decrement_hop_limit(&mut self) -> bool {
        let b = self.buffer.as_mut();
        if b[field::HOP_LIMIT] <= 1 {
            return false;
        }
        b[field::HOP_LIMIT] -= 1;
        true
    }

    /// Sets the DSCP (upper six bits of the traffic class), keeping ECN.
    pub fn set_dscp(&mut self, dscp: u8) {
        let tc = (dscp << 2) | (self.traffic_class() & 0x03);
        let b = self.buffer.as_mut();
        b[0] = 0x60 | (tc >> 4);
        b[1] = (tc << 4) | (b[1] & 0x0f);
    }
}

/// The parsed form of the fixed IPv6 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// Next header.
    pub next_header: u8,
    /// Hop limit.
    pub hop_limit: u8,
    /// Traffic class.
    pub traffic_class: u8,
    /// Flow label (20 bits).
    pub flow_label: u32,
    /// Payload length.
    pub payload_len: u16,
}

impl Repr {
    /// Parses a checked packet.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Self {
        Self {
            src: p.src(),
            dst: p.dst(),
            next_header: p.next_header(),
            hop_limit: p.hop_limit(),
            traffic_class: p.traffic_class(),
            flow_label: p.flow_label(),
            payload_len: p.payload_len(),
        }
    }

    /// Writes the fixed header at the start of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        if buf.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let vtf =
            (6u32 << 28) | (u32::from(self.traffic_class) << 20) | (self.flow_label & 0x000f_ffff);
        buf[field::VER_TC_FLOW].copy_from_slice(&vtf.to_be_bytes());
        buf[field::PAYLOAD_LEN].copy_from_slice(&self.payload_len.to_be_bytes());
        buf[field::NEXT_HEADER] = self.next_header;
        buf[field::HOP_LIMIT] = self.hop_limit;
        buf[field::SRC].copy_from_slice(&self.src.octets());
        buf[field::DST].copy_from_slice(&self.dst.octets());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn skips_extension_headers() {
        let mut b = vec![0u8; 40 + 8 + 8 + 8];
        Repr {
            src: Ipv6Addr::LOCALHOST,
            dst: Ipv6Addr::LOCALHOST,
            next_header: ext::HOP_BY_HOP,
            hop_limit: 64,
            traffic_class: 0,
            flow_label: 0,
            payload_len: 24,
        }
        .emit(&mut b)
        .unwrap();
        b[40] = ext::FRAGMENT; // hop-by-hop, 8 bytes
        b[48] = 17; // fragment header -> UDP, offset 0
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(
            p.transport().unwrap(),
            Transport {
                protocol: 17,
                offset: 56,
                later_fragment: false
            }
        );
        b[50] = 0x01; // fragment offset != 0
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.transport().unwrap().later_fragment);
        b[41] = 5; // hop-by-hop claims 48 bytes: beyond the payload
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.transport().unwrap_err(), Error::Truncated);
    }

    #[test]
    fn dscp_keeps_ecn_and_flow() {
        let mut b = vec![0u8; 40];
        Repr {
            src: Ipv6Addr::LOCALHOST,
            dst: Ipv6Addr::LOCALHOST,
            next_header: 59,
            hop_limit: 1,
            traffic_class: 0x03,
            flow_label: 0xabcde,
            payload_len: 0,
        }
        .emit(&mut b)
        .unwrap();
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.set_dscp(46);
        assert_eq!(p.traffic_class(), (46 << 2) | 3);
        assert_eq!(p.flow_label(), 0xabcde);
        assert!(!p.decrement_hop_limit());
    }

    proptest! {
        #[test]
        fn roundtrip(src in any::<u128>(), dst in any::<u128>(), nh in any::<u8>(), hl in any::<u8>(), tc in any::<u8>(), fl in 0u32..0x10_0000, len in 0u16..200) {
            let r = Repr { src: src.into(), dst: dst.into(), next_header: nh, hop_limit: hl, traffic_class: tc, flow_label: fl, payload_len: len };
            let mut b = vec![0u8; 40 + usize::from(len)];
            r.emit(&mut b).unwrap();
            prop_assert_eq!(Repr::parse(&Packet::new_checked(&b[..]).unwrap()), r);
        }

        #[test]
        fn any_bytes(b in proptest::collection::vec(any::<u8>(), 0..120)) {
            if let Ok(p) = Packet::new_checked(&b[..]) {
                let _ = (p.transport(), Repr::parse(&p), p.payload());
            }
        }
    }
}
