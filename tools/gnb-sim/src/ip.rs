//! The little of inner IPv4 that the simulator and its test peer look at:
//! addresses (session lookup), and the reflector's rewrite of a UE packet
//! into the answer the data network would give (swap addresses and ports,
//! ICMP Echo Request → Echo Reply).

use std::net::Ipv4Addr;

const PROTO_ICMP: u8 = 1;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;

/// Source and destination of an IPv4 packet, if it is one (version 4, a
/// full header, IHL ≥ 5).
#[must_use]
pub fn v4_addrs(p: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr)> {
    let h = p.get(..20)?;
    if h[0] >> 4 != 4 || h[0] & 0x0f < 5 {
        return None;
    }
    Some((
        Ipv4Addr::new(h[12], h[13], h[14], h[15]),
        Ipv4Addr::new(h[16], h[17], h[18], h[19]),
    ))
}

/// RFC 1071 Internet checksum of `data`.
#[must_use]
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = chunks.remainder() {
        sum += u32::from(*b) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    // After folding, sum fits 16 bits.
    !u16::try_from(sum).unwrap_or(0xffff)
}

/// Why a packet could not be reflected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReflectError {
    NotIpv4,
    Fragment,
    Truncated,
}

/// Turns a UE's packet into the reply a data-network host would send, in
/// place: addresses swapped; for UDP and TCP ports swapped (the checksums
/// stay valid: the pseudo-header sum is symmetric); ICMP Echo Request becomes
/// Echo Reply with a recomputed checksum. Other protocols: addresses only.
pub fn reflect(p: &mut [u8]) -> Result<(), ReflectError> {
    if v4_addrs(p).is_none() {
        return Err(ReflectError::NotIpv4);
    }
    let ihl = usize::from(p[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
    if p.len() < ihl || total < ihl || p.len() < total {
        return Err(ReflectError::Truncated);
    }
    let frag = u16::from_be_bytes([p[6], p[7]]);
    let proto = p[9];
    let (src, dst) = ([p[12], p[13], p[14], p[15]], [p[16], p[17], p[18], p[19]]);
    p[12..16].copy_from_slice(&dst);
    p[16..20].copy_from_slice(&src);
    if frag & 0x1fff != 0 {
        // A non-first fragment carries no L4 header: addresses only.
        return Ok(());
    }
    let l4 = &mut p[ihl..total];
    match proto {
        PROTO_UDP | PROTO_TCP => {
            if l4.len() < 4 {
                return Err(ReflectError::Truncated);
            }
            let (sp, dp) = ([l4[0], l4[1]], [l4[2], l4[3]]);
            l4[0..2].copy_from_slice(&dp);
            l4[2..4].copy_from_slice(&sp);
        }
        PROTO_ICMP if l4.first() == Some(&8) => {
            if l4.len() < 8 {
                return Err(ReflectError::Truncated);
            }
            if frag & 0x2000 != 0 {
                // The ICMP checksum spans all fragments; cannot recompute.
                return Err(ReflectError::Fragment);
            }
            l4[0] = 0;
            l4[2..4].copy_from_slice(&[0, 0]);
            let c = checksum(l4);
            l4[2..4].copy_from_slice(&c.to_be_bytes());
        }
        _ => {}
    }
    Ok(())
}

/// Builds an IPv4 ICMP Echo packet (`icmp_type` 8 = request, 0 = reply) with
/// valid checksums: test traffic for the simulator's and the peer's tests.
#[must_use]
pub fn icmp_echo(src: Ipv4Addr, dst: Ipv4Addr, icmp_type: u8, payload: &[u8]) -> Vec<u8> {
    let total = 20 + 8 + payload.len();
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&u16::try_from(total).unwrap_or(u16::MAX).to_be_bytes());
    p[8] = 64;
    p[9] = PROTO_ICMP;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    let c = checksum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p[20] = icmp_type;
    p[24..26].copy_from_slice(&0x1234u16.to_be_bytes());
    p[26..28].copy_from_slice(&1u16.to_be_bytes());
    p[28..].copy_from_slice(payload);
    let c = checksum(&p[20..]);
    p[22..24].copy_from_slice(&c.to_be_bytes());
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn checksum_rfc1071_example() {
        // RFC 1071 §3 example bytes: 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2.
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            !0xddf2
        );
    }

    #[test]
    fn echo_request_becomes_valid_reply() {
        let a = Ipv4Addr::new(10, 45, 0, 2);
        let b = Ipv4Addr::new(10, 200, 0, 254);
        let mut p = icmp_echo(a, b, 8, b"abcdefg");
        reflect(&mut p).unwrap();
        assert_eq!(p, icmp_echo(b, a, 0, b"abcdefg"));
        assert_eq!(checksum(&p[..20]), 0);
        assert_eq!(checksum(&p[20..]), 0);
    }

    #[test]
    fn udp_ports_and_addresses_swap() {
        let mut p = vec![
            0x45, 0, 0, 30, 0, 0, 0, 0, 64, 17, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0x10, 0x00, 0x14,
            0x51, 0, 10, 0, 0, 1, 2,
        ];
        reflect(&mut p).unwrap();
        assert_eq!(
            &p[12..24],
            &[5, 6, 7, 8, 1, 2, 3, 4, 0x14, 0x51, 0x10, 0x00]
        );
        assert_eq!(reflect(&mut p[..10]), Err(ReflectError::NotIpv4));
        let mut short = p[..22].to_vec();
        assert_eq!(reflect(&mut short), Err(ReflectError::Truncated));
    }

    proptest! {
        #[test]
        fn reflect_never_panics(mut bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = reflect(&mut bytes);
        }
        #[test]
        fn reflect_twice_restores_udp(payload in proptest::collection::vec(any::<u8>(), 0..40), sp in any::<u16>(), dp in any::<u16>()) {
            let total = 28 + payload.len();
            let mut p = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0, 10, 45, 0, 2, 10, 200, 0, 254];
            p[2..4].copy_from_slice(&u16::try_from(total).unwrap().to_be_bytes());
            p.extend_from_slice(&sp.to_be_bytes());
            p.extend_from_slice(&dp.to_be_bytes());
            p.extend_from_slice(&[0, 0, 0, 0]);
            p.extend_from_slice(&payload);
            let orig = p.clone();
            reflect(&mut p).unwrap();
            reflect(&mut p).unwrap();
            prop_assert_eq!(p, orig);
        }
    }
}
