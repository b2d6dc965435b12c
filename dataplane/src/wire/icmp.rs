//! ICMP (RFC 792) and ICMPv6 (RFC 4443) echo messages: the worker answers
//! pings to the UPF's own addresses on every interface.

use super::{Error, Result, be16, checksum};
use std::net::Ipv6Addr;

mod field {
    use core::ops::Range;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const SEQ: Range<usize> = 6..8;
}

/// Length of an echo header.
pub const HEADER_LEN: usize = 8;

/// ICMP and ICMPv6 type numbers for echo.
pub mod kind {
    /// ICMP Echo Reply.
    pub const V4_ECHO_REPLY: u8 = 0;
    /// ICMP Echo Request.
    pub const V4_ECHO_REQUEST: u8 = 8;
    /// ICMPv6 Echo Request.
    pub const V6_ECHO_REQUEST: u8 = 128;
    /// ICMPv6 Echo Reply.
    pub const V6_ECHO_REPLY: u8 = 129;
}

/// A zero-copy view of an ICMP or ICMPv6 message.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks the buffer holds at least an echo-sized header. `buffer` must
    /// be exactly the ICMP message (the IP payload).
    pub fn new_checked(buffer: T) -> Result<Self> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(Self { buffer })
    }
    /// Type.
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }
    /// Code.
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }
    /// Identifier (echo).
    pub fn ident(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::IDENT])
    }
    /// Sequence number (echo).
    pub fn seq(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::SEQ])
    }
    /// Data after the echo header.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
    /// `true` if the ICMPv4 checksum is right.
    pub fn verify_checksum_v4(&self) -> bool {
        checksum::fold(checksum::sum(self.buffer.as_ref())) == 0xffff
    }
    /// `true` if the ICMPv6 checksum (with pseudo header) is right.
    pub fn verify_checksum_v6(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        let b = self.buffer.as_ref();
        let Ok(len) = u32::try_from(b.len()) else {
            return false;
        };
        checksum::fold(checksum::combine(
            checksum::pseudo_v6(src, dst, 58, len),
            checksum::sum(b),
        )) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the type.
    pub fn set_msg_type(&mut self, t: u8) {
        self.buffer.as_mut()[field::TYPE] = t;
    }
    /// Recomputes the ICMPv4 checksum.
    pub fn fill_checksum_v4(&mut self) {
        let b = self.buffer.as_mut();
        b[field::CHECKSUM].copy_from_slice(&[0, 0]);
        let c = checksum::finish(checksum::sum(b));
        b[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    }
    /// Recomputes the ICMPv6 checksum.
    pub fn fill_checksum_v6(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        let b = self.buffer.as_mut();
        let len = u32::try_from(b.len()).unwrap_or(u32::MAX);
        b[field::CHECKSUM].copy_from_slice(&[0, 0]);
        let c = checksum::finish(checksum::combine(
            checksum::pseudo_v6(src, dst, 58, len),
            checksum::sum(b),
        ));
        b[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    }
}

/// The parsed form of an echo message header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoRepr {
    /// ICMPv6 rather than ICMPv4.
    pub v6: bool,
    /// Request rather than reply.
    pub request: bool,
    /// Identifier.
    pub ident: u16,
    /// Sequence number.
    pub seq: u16,
}

impl EchoRepr {
    /// Parses an echo request or reply (checksums are checked by the caller,
    /// which knows the addresses).
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>, v6: bool) -> Result<Self> {
        let request = match (v6, p.msg_type()) {
            (false, kind::V4_ECHO_REQUEST) | (true, kind::V6_ECHO_REQUEST) => true,
            (false, kind::V4_ECHO_REPLY) | (true, kind::V6_ECHO_REPLY) => false,
            _ => return Err(Error::Unsupported),
        };
        if p.code() != 0 {
            return Err(Error::Malformed);
        }
        Ok(Self {
            v6,
            request,
            ident: p.ident(),
            seq: p.seq(),
        })
    }

    /// Writes the echo header (checksum zero) at the start of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        if buf.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        buf[field::TYPE] = match (self.v6, self.request) {
            (false, true) => kind::V4_ECHO_REQUEST,
            (false, false) => kind::V4_ECHO_REPLY,
            (true, true) => kind::V6_ECHO_REQUEST,
            (true, false) => kind::V6_ECHO_REPLY,
        };
        buf[field::CODE] = 0;
        buf[field::CHECKSUM].copy_from_slice(&[0, 0]);
        buf[field::IDENT].copy_from_slice(&self.ident.to_be_bytes());
        buf[field::SEQ].copy_from_slice(&self.seq.to_be_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn golden_ping() {
        // A constructed echo request id 0x1234 seq 1 with data "abcd" (RFC 792
        // layout); its checksum must be 0x2104 = !(0x0800+0x1234+0x0001+0x6162+0x6364).
        let mut b = vec![8, 0, 0, 0, 0x12, 0x34, 0, 1, b'a', b'b', b'c', b'd'];
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.fill_checksum_v4();
        assert!(p.verify_checksum_v4());
        assert_eq!(&b[2..4], &[0x21, 0x04]);
        let p = Packet::new_checked(&mut b[..]).unwrap();
        let r = EchoRepr::parse(&p, false).unwrap();
        assert_eq!(
            r,
            EchoRepr {
                v6: false,
                request: true,
                ident: 0x1234,
                seq: 1
            }
        );
        let mut p = p;
        p.set_msg_type(0);
        assert!(!p.verify_checksum_v4());
    }

    proptest! {
        #[test]
        fn roundtrip(v6 in any::<bool>(), request in any::<bool>(), ident in any::<u16>(), seq in any::<u16>()) {
            let r = EchoRepr { v6, request, ident, seq };
            let mut b = [0u8; 8];
            r.emit(&mut b).unwrap();
            prop_assert_eq!(EchoRepr::parse(&Packet::new_checked(&b[..]).unwrap(), v6).unwrap(), r);
        }

        #[test]
        fn any_bytes(b in proptest::collection::vec(any::<u8>(), 0..20), v6 in any::<bool>()) {
            if let Ok(p) = Packet::new_checked(&b[..]) {
                let _ = (EchoRepr::parse(&p, v6), p.verify_checksum_v4(), p.verify_checksum_v6(&Ipv6Addr::LOCALHOST, &Ipv6Addr::LOCALHOST), p.data());
            }
        }
    }
}
