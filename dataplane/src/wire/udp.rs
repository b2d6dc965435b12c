//! UDP (RFC 768) with its checksum over the IPv4 or IPv6 pseudo header: the
//! transport of GTP-U (port 2152) on N3/N9, and part of inner SDF matching.

use super::{Error, Result, be16, checksum};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
}

/// Header length.
pub const HEADER_LEN: usize = 8;

/// A zero-copy view of a UDP datagram.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps without checks.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Checks the length field against the buffer.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let len = usize::from(be16(&b[field::LENGTH]));
        if len < HEADER_LEN {
            return Err(Error::Malformed);
        }
        if len > b.len() {
            return Err(Error::Truncated);
        }
        Ok(Self { buffer })
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::SRC_PORT])
    }
    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::DST_PORT])
    }
    /// Length field (header and payload).
    pub fn len(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::LENGTH])
    }
    /// `true` for a datagram without payload.
    pub fn is_empty(&self) -> bool {
        self.len() <= 8
    }
    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::CHECKSUM])
    }
    /// The payload.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.len())]
    }

    /// `true` if the checksum is correct (or absent, which IPv4 allows).
    pub fn verify_checksum(&self, src: IpAddr, dst: IpAddr) -> bool {
        let c = self.checksum();
        if c == 0 {
            return matches!(src, IpAddr::V4(_));
        }
        let data = &self.buffer.as_ref()[..usize::from(self.len())];
        let ph = pseudo(src, dst, self.len());
        checksum::fold(checksum::combine(ph, checksum::sum(data))) == 0xffff
    }
}

fn pseudo(src: IpAddr, dst: IpAddr, len: u16) -> u32 {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => checksum::pseudo_v4(s, d, 17, len),
        (s, d) => checksum::pseudo_v6(&v6(s), &v6(d), 17, u32::from(len)),
    }
}

fn v6(a: IpAddr) -> Ipv6Addr {
    match a {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Computes and writes the checksum over the pseudo header and the datagram.
    pub fn fill_checksum(&mut self, src: IpAddr, dst: IpAddr) {
        let len = self.len();
        let b = self.buffer.as_mut();
        b[field::CHECKSUM].copy_from_slice(&[0, 0]);
        let mut c = checksum::finish(checksum::combine(
            pseudo(src, dst, len),
            checksum::sum(&b[..usize::from(len)]),
        ));
        if c == 0 {
            c = 0xffff; // RFC 768: a computed zero is sent as all ones
        }
        b[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    }

    /// Sets the checksum to zero ("not computed", IPv4 only).
    pub fn clear_checksum(&mut self) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&[0, 0]);
    }
}

/// The parsed form of a UDP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Payload length.
    pub payload_len: u16,
}

impl Repr {
    /// Parses a checked datagram, verifying its checksum against the addresses.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>, src: IpAddr, dst: IpAddr) -> Result<Self> {
        if !p.verify_checksum(src, dst) {
            return Err(Error::Checksum);
        }
        Ok(Self {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            payload_len: p.len() - 8,
        })
    }

    /// Writes the header with a zero checksum; call
    /// [`Packet::fill_checksum`] once the payload is in place.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        if buf.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let len = self.payload_len.checked_add(8).ok_or(Error::Malformed)?;
        buf[field::SRC_PORT].copy_from_slice(&self.src_port.to_be_bytes());
        buf[field::DST_PORT].copy_from_slice(&self.dst_port.to_be_bytes());
        buf[field::LENGTH].copy_from_slice(&len.to_be_bytes());
        buf[field::CHECKSUM].copy_from_slice(&[0, 0]);
        Ok(())
    }
}

/// An unspecified IPv4 address, for callers that need a placeholder.
pub const UNSPECIFIED: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn golden_v4_checksum() {
        // A constructed datagram 192.168.1.10:53000 -> 8.8.8.8:53 with payload
        // "abcd"; the RFC 768 value is checked independently by tshark in
        // tests/dissector.rs. Here: fill and verify agree, wrong addresses fail.
        let src: IpAddr = Ipv4Addr::new(192, 168, 1, 10).into();
        let dst: IpAddr = Ipv4Addr::new(8, 8, 8, 8).into();
        let mut b = vec![0u8; 12];
        Repr {
            src_port: 53000,
            dst_port: 53,
            payload_len: 4,
        }
        .emit(&mut b)
        .unwrap();
        b[8..].copy_from_slice(b"abcd");
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.fill_checksum(src, dst);
        assert!(p.verify_checksum(src, dst));
        assert!(!p.verify_checksum(dst, Ipv4Addr::new(8, 8, 8, 9).into()));
        p.clear_checksum();
        assert!(p.verify_checksum(src, dst), "zero checksum allowed on IPv4");
        assert!(
            !p.verify_checksum(Ipv6Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()),
            "zero checksum rejected on IPv6"
        );
    }

    proptest! {
        #[test]
        fn roundtrip(sp in any::<u16>(), dp in any::<u16>(), payload in proptest::collection::vec(any::<u8>(), 0..64), v6addr in any::<bool>()) {
            let (src, dst): (IpAddr, IpAddr) = if v6addr { (Ipv6Addr::LOCALHOST.into(), Ipv6Addr::UNSPECIFIED.into()) } else { (Ipv4Addr::LOCALHOST.into(), Ipv4Addr::BROADCAST.into()) };
            let r = Repr { src_port: sp, dst_port: dp, payload_len: u16::try_from(payload.len()).unwrap() };
            let mut b = vec![0u8; 8 + payload.len()];
            r.emit(&mut b).unwrap();
            b[8..].copy_from_slice(&payload);
            Packet::new_checked(&mut b[..]).unwrap().fill_checksum(src, dst);
            prop_assert_eq!(Repr::parse(&Packet::new_checked(&b[..]).unwrap(), src, dst).unwrap(), r);
        }

        #[test]
        fn any_bytes(b in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(p) = Packet::new_checked(&b[..]) {
                let _ = (Repr::parse(&p, UNSPECIFIED, UNSPECIFIED), p.payload());
            }
        }
    }
}
