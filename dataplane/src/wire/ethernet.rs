//! Ethernet II frames with an optional 802.1Q tag: the first header every
//! received frame goes through, and the one every transmitted frame gets.

use super::{Error, Result, be16};
use core::fmt;

/// A MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: Self = Self([0xff; 6]);
    /// 00:00:00:00:00:00 (the target of an ARP request).
    pub const ZERO: Self = Self([0; 6]);

    /// `true` for group (multicast and broadcast) addresses.
    #[must_use]
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl core::str::FromStr for MacAddr {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let mut out = [0u8; 6];
        let mut n = 0;
        for part in s.split([':', '-']) {
            if n == 6 || part.len() != 2 {
                return Err(Error::Malformed);
            }
            out[n] = u8::from_str_radix(part, 16).map_err(|_| Error::Malformed)?;
            n += 1;
        }
        if n == 6 {
            Ok(Self(out))
        } else {
            Err(Error::Malformed)
        }
    }
}

/// EtherType values the data plane understands.
pub mod ethertype {
    /// IPv4.
    pub const IPV4: u16 = 0x0800;
    /// ARP.
    pub const ARP: u16 = 0x0806;
    /// 802.1Q VLAN tag.
    pub const VLAN: u16 = 0x8100;
    /// 802.1ad service tag (QinQ outer tag).
    pub const QINQ: u16 = 0x88a8;
    /// IPv6.
    pub const IPV6: u16 = 0x86dd;
}

mod field {
    use core::ops::Range;
    pub const DST: Range<usize> = 0..6;
    pub const SRC: Range<usize> = 6..12;
    pub const ETHERTYPE: Range<usize> = 12..14;
    pub const TCI: Range<usize> = 14..16;
    pub const INNER_ETHERTYPE: Range<usize> = 16..18;
}

/// Length of an untagged Ethernet header.
pub const HEADER_LEN: usize = 14;
/// Length of an 802.1Q tag.
pub const VLAN_TAG_LEN: usize = 4;

/// A zero-copy view of an Ethernet frame.
#[derive(Debug, Clone)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Wraps `buffer` without checking it; accessors may then panic.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps `buffer` after checking it holds a whole (possibly tagged) header.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let f = Self::new_unchecked(buffer);
        let len = f.buffer.as_ref().len();
        if len < HEADER_LEN || (f.is_tagged() && len < HEADER_LEN + VLAN_TAG_LEN) {
            return Err(Error::Truncated);
        }
        Ok(f)
    }

    /// Destination address.
    pub fn dst(&self) -> MacAddr {
        let mut a = [0; 6];
        a.copy_from_slice(&self.buffer.as_ref()[field::DST]);
        MacAddr(a)
    }

    /// Source address.
    pub fn src(&self) -> MacAddr {
        let mut a = [0; 6];
        a.copy_from_slice(&self.buffer.as_ref()[field::SRC]);
        MacAddr(a)
    }

    /// `true` when the frame carries an 802.1Q (or 802.1ad) tag.
    pub fn is_tagged(&self) -> bool {
        let b = self.buffer.as_ref();
        b.len() >= HEADER_LEN
            && matches!(
                be16(&b[field::ETHERTYPE]),
                ethertype::VLAN | ethertype::QINQ
            )
    }

    /// The VLAN id of the tag, if any.
    pub fn vlan(&self) -> Option<u16> {
        self.is_tagged()
            .then(|| be16(&self.buffer.as_ref()[field::TCI]) & 0x0fff)
    }

    /// The EtherType of the payload (after the tag, if any).
    pub fn ethertype(&self) -> u16 {
        let b = self.buffer.as_ref();
        if self.is_tagged() {
            be16(&b[field::INNER_ETHERTYPE])
        } else {
            be16(&b[field::ETHERTYPE])
        }
    }

    /// Length of the header including the tag.
    pub fn header_len(&self) -> usize {
        if self.is_tagged() {
            HEADER_LEN + VLAN_TAG_LEN
        } else {
            HEADER_LEN
        }
    }

    /// The payload.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    /// Sets the destination address.
    pub fn set_dst(&mut self, a: MacAddr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&a.0);
    }
    /// Sets the source address.
    pub fn set_src(&mut self, a: MacAddr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&a.0);
    }
}

/// The parsed form of an Ethernet header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Destination address.
    pub dst: MacAddr,
    /// Source address.
    pub src: MacAddr,
    /// 802.1Q VLAN id (12 bits), if tagged.
    pub vlan: Option<u16>,
    /// EtherType of the payload.
    pub ethertype: u16,
}

impl Repr {
    /// Parses a checked frame.
    pub fn parse<T: AsRef<[u8]>>(f: &Frame<T>) -> Self {
        Self {
            dst: f.dst(),
            src: f.src(),
            vlan: f.vlan(),
            ethertype: f.ethertype(),
        }
    }

    /// Bytes [`emit`](Self::emit) writes.
    #[must_use]
    pub const fn header_len(&self) -> usize {
        if self.vlan.is_some() {
            HEADER_LEN + VLAN_TAG_LEN
        } else {
            HEADER_LEN
        }
    }

    /// Writes the header at the start of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        if buf.len() < self.header_len() {
            return Err(Error::Truncated);
        }
        buf[field::DST].copy_from_slice(&self.dst.0);
        buf[field::SRC].copy_from_slice(&self.src.0);
        match self.vlan {
            Some(v) => {
                buf[field::ETHERTYPE].copy_from_slice(&ethertype::VLAN.to_be_bytes());
                buf[field::TCI].copy_from_slice(&(v & 0x0fff).to_be_bytes());
                buf[field::INNER_ETHERTYPE].copy_from_slice(&self.ethertype.to_be_bytes());
            }
            None => buf[field::ETHERTYPE].copy_from_slice(&self.ethertype.to_be_bytes()),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tagged_frame() {
        let mut b = [0u8; 22];
        b[12] = 0x81;
        b[15] = 0x64; // vlan 100
        b[16] = 0x08;
        let f = Frame::new_checked(&b[..]).unwrap();
        assert_eq!(f.vlan(), Some(100));
        assert_eq!(f.ethertype(), ethertype::IPV4);
        assert_eq!(f.header_len(), 18);
        assert_eq!(Frame::new_checked(&b[..17]).unwrap_err(), Error::Truncated);
    }

    #[test]
    fn mac_parse() {
        let m: MacAddr = "02:00:00:00:00:fe".parse().unwrap();
        assert_eq!(m.0, [2, 0, 0, 0, 0, 0xfe]);
        assert_eq!(m.to_string(), "02:00:00:00:00:fe");
        assert!("02:00:00:00:00".parse::<MacAddr>().is_err());
        assert!("02:00:00:00:00:fe:01".parse::<MacAddr>().is_err());
    }

    proptest! {
        #[test]
        fn roundtrip(dst in any::<[u8; 6]>(), src in any::<[u8; 6]>(), vlan in proptest::option::of(0u16..4096), et in any::<u16>()) {
            prop_assume!(et != ethertype::VLAN && et != ethertype::QINQ);
            let r = Repr { dst: MacAddr(dst), src: MacAddr(src), vlan, ethertype: et };
            let mut b = vec![0u8; r.header_len()];
            r.emit(&mut b).unwrap();
            let f = Frame::new_checked(&b[..]).unwrap();
            prop_assert_eq!(Repr::parse(&f), r);
        }

        #[test]
        fn any_bytes(b in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(f) = Frame::new_checked(&b[..]) {
                let _ = Repr::parse(&f);
                let _ = f.payload();
            }
        }
    }
}
