//! ARP for IPv4 over Ethernet (RFC 826): the worker answers requests for its
//! own addresses and resolves next hops (N6 gateway, gNBs, peer UPFs).

use super::ethernet::MacAddr;
use super::{Error, Result, be16, ipv4_at};
use std::net::Ipv4Addr;

mod field {
    use core::ops::Range;
    pub const HTYPE: Range<usize> = 0..2;
    pub const PTYPE: Range<usize> = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Range<usize> = 6..8;
    pub const SHA: Range<usize> = 8..14;
    pub const SPA: Range<usize> = 14..18;
    pub const THA: Range<usize> = 18..24;
    pub const TPA: Range<usize> = 24..28;
}

/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = 28;

/// ARP operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Who has `tpa`?
    Request,
    /// `spa` is at `sha`.
    Reply,
}

/// A zero-copy view of an ARP packet.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks the buffer holds an Ethernet/IPv4 ARP packet.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let b = buffer.as_ref();
        if b.len() < PACKET_LEN {
            return Err(Error::Truncated);
        }
        if be16(&b[field::HTYPE]) != 1
            || be16(&b[field::PTYPE]) != 0x0800
            || b[field::HLEN] != 6
            || b[field::PLEN] != 4
        {
            return Err(Error::Unsupported);
        }
        Ok(Self { buffer })
    }

    /// The raw operation code.
    pub fn oper(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::OPER])
    }
}

/// The parsed form of an ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Request or reply.
    pub op: Operation,
    /// Sender hardware address.
    pub sha: MacAddr,
    /// Sender protocol address.
    pub spa: Ipv4Addr,
    /// Target hardware address.
    pub tha: MacAddr,
    /// Target protocol address.
    pub tpa: Ipv4Addr,
}

impl Repr {
    /// Parses a checked packet.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Self> {
        let b = p.buffer.as_ref();
        let op = match p.oper() {
            1 => Operation::Request,
            2 => Operation::Reply,
            _ => return Err(Error::Unsupported),
        };
        let mac = |r: core::ops::Range<usize>| {
            let mut a = [0; 6];
            a.copy_from_slice(&b[r]);
            MacAddr(a)
        };
        Ok(Self {
            op,
            sha: mac(field::SHA),
            spa: ipv4_at(b, 14),
            tha: mac(field::THA),
            tpa: ipv4_at(b, 24),
        })
    }

    /// Writes the packet at the start of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        if buf.len() < PACKET_LEN {
            return Err(Error::Truncated);
        }
        buf[field::HTYPE].copy_from_slice(&1u16.to_be_bytes());
        buf[field::PTYPE].copy_from_slice(&0x0800u16.to_be_bytes());
        buf[field::HLEN] = 6;
        buf[field::PLEN] = 4;
        let op: u16 = match self.op {
            Operation::Request => 1,
            Operation::Reply => 2,
        };
        buf[field::OPER].copy_from_slice(&op.to_be_bytes());
        buf[field::SHA].copy_from_slice(&self.sha.0);
        buf[field::SPA].copy_from_slice(&self.spa.octets());
        buf[field::THA].copy_from_slice(&self.tha.0);
        buf[field::TPA].copy_from_slice(&self.tpa.octets());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn golden_request() {
        // An ARP request as captured by tcpdump: who-has 10.0.0.2 tell 10.0.0.1.
        let b = [
            0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 10,
            0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2,
        ];
        let r = Repr::parse(&Packet::new_checked(&b[..]).unwrap()).unwrap();
        assert_eq!(r.op, Operation::Request);
        assert_eq!(r.spa, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(r.tpa, Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(r.sha, MacAddr([2, 0, 0, 0, 0, 1]));
    }

    proptest! {
        #[test]
        fn roundtrip(req in any::<bool>(), sha in any::<[u8; 6]>(), spa in any::<u32>(), tha in any::<[u8; 6]>(), tpa in any::<u32>()) {
            let r = Repr { op: if req { Operation::Request } else { Operation::Reply }, sha: MacAddr(sha), spa: spa.into(), tha: MacAddr(tha), tpa: tpa.into() };
            let mut b = [0u8; PACKET_LEN];
            r.emit(&mut b).unwrap();
            prop_assert_eq!(Repr::parse(&Packet::new_checked(&b[..]).unwrap()).unwrap(), r);
        }

        #[test]
        fn any_bytes(b in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(p) = Packet::new_checked(&b[..]) { let _ = Repr::parse(&p); }
        }
    }
}
