//! Zero-copy, bounds-checked packet views in the style of smoltcp's `wire`
//! module: a `Packet<T: AsRef<[u8]>>` per header with `new_checked`, field
//! offsets as named ranges, and an owned `Repr` with `parse`/`emit`. The
//! pipeline parses every received frame through these, once.
//!
//! Written here rather than taken from a crate: smoltcp and etherparse have
//! no GTP-U, and the pipeline needs one pass that yields offsets it can
//! rewrite in place.

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod gtpu;
pub mod icmp;
pub mod ipv4;
pub mod ipv6;
pub mod udp;

use std::net::{Ipv4Addr, Ipv6Addr};

/// Why a header could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The buffer ends before the header or the length it announces.
    #[error("truncated packet")]
    Truncated,
    /// A field holds a value the protocol does not allow.
    #[error("malformed header")]
    Malformed,
    /// A checksum does not match.
    #[error("bad checksum")]
    Checksum,
    /// A valid header of a kind the data plane does not handle.
    #[error("unsupported protocol or message")]
    Unsupported,
    /// A GTP-U extension header whose comprehension is required but is unknown.
    #[error("GTP-U extension header {0:#04x} requires comprehension")]
    ComprehensionRequired(u8),
}

/// Result of parsing.
pub type Result<T> = core::result::Result<T, Error>;

/// Reads a big-endian u16 from the first two bytes of `b`; callers pass
/// slices cut by checked ranges.
#[inline(always)]
pub(crate) fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

/// Reads a big-endian u32 from the first four bytes of `b`.
#[inline(always)]
pub(crate) fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// The IPv4 address at `off`.
#[inline(always)]
pub(crate) fn ipv4_at(b: &[u8], off: usize) -> Ipv4Addr {
    Ipv4Addr::new(b[off], b[off + 1], b[off + 2], b[off + 3])
}

/// The IPv6 address at `off`.
#[inline(always)]
pub(crate) fn ipv6_at(b: &[u8], off: usize) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[off..off + 16]);
    Ipv6Addr::from(a)
}
