//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624),
//! shared by IPv4, UDP and ICMP emitters and by the TTL decrement on the
//! forwarding path.

use std::net::{Ipv4Addr, Ipv6Addr};

/// One's-complement sum of `data` as 16-bit big-endian words, not folded.
#[must_use]
pub fn sum(data: &[u8]) -> u32 {
    let mut acc: u64 = 0;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        acc += (w >> 48) + ((w >> 32) & 0xffff) + ((w >> 16) & 0xffff) + (w & 0xffff);
    }
    let rest = chunks.remainder();
    let mut pairs = rest.chunks_exact(2);
    for p in &mut pairs {
        acc += u64::from(u16::from_be_bytes([p[0], p[1]]));
    }
    if let [last] = pairs.remainder() {
        acc += u64::from(*last) << 8;
    }
    fold64(acc)
}

fn fold64(mut acc: u64) -> u32 {
    while acc > 0xffff_ffff {
        acc = (acc & 0xffff_ffff) + (acc >> 32);
    }
    // Cannot truncate: the loop leaves at most 32 bits.
    u32::try_from(acc).unwrap_or(u32::MAX)
}

/// Folds a 32-bit one's-complement sum to 16 bits.
#[must_use]
pub fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    // Cannot truncate after folding.
    u16::try_from(acc).unwrap_or(u16::MAX)
}

/// Adds two partial sums.
#[must_use]
pub fn combine(a: u32, b: u32) -> u32 {
    let (s, carry) = a.overflowing_add(b);
    s + u32::from(carry)
}

/// The checksum field value for data whose partial sum is `acc`.
#[must_use]
pub fn finish(acc: u32) -> u16 {
    !fold(acc)
}

/// Partial sum of the IPv4 pseudo header.
#[must_use]
pub fn pseudo_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, len: u16) -> u32 {
    let mut acc = sum(&src.octets()) + sum(&dst.octets());
    acc += u32::from(protocol) + u32::from(len);
    acc
}

/// Partial sum of the IPv6 pseudo header (RFC 8200 section 8.1).
#[must_use]
pub fn pseudo_v6(src: &Ipv6Addr, dst: &Ipv6Addr, next_header: u8, len: u32) -> u32 {
    let acc = combine(sum(&src.octets()), sum(&dst.octets()));
    combine(
        acc,
        combine((len >> 16) + (len & 0xffff), u32::from(next_header)),
    )
}

/// RFC 1624 eqn. 3: the new checksum after a 16-bit word changed from `old` to `new`.
#[must_use]
pub fn update(check: u16, old: u16, new: u16) -> u16 {
    let acc = u32::from(!check) + u32::from(!old) + u32::from(new);
    !fold(acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3 example: sum of 0001 f203 f4f5 f6f7 is ddf2.
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&d)), 0xddf2);
        assert_eq!(
            fold(sum(&d[..7])),
            fold(sum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0x00]))
        );
    }

    proptest::proptest! {
        #[test]
        fn incremental_update_matches_full(mut data in proptest::collection::vec(proptest::num::u8::ANY, 2..64), new in 0u16..) {
            if data.len() % 2 == 1 { data.push(0); }
            let before = finish(sum(&data));
            let old = u16::from_be_bytes([data[0], data[1]]);
            data[..2].copy_from_slice(&new.to_be_bytes());
            let full = finish(sum(&data));
            let inc = update(before, old, new);
            // 0x0000 and 0xffff are the same value in one's complement.
            proptest::prop_assert!(inc == full || (inc == 0 && full == 0xffff) || (inc == 0xffff && full == 0));
        }

        #[test]
        fn wide_sum_equals_word_sum(data in proptest::collection::vec(proptest::num::u8::ANY, 0..100)) {
            let mut acc: u32 = 0;
            for c in data.chunks(2) {
                let w = if c.len() == 2 { u16::from_be_bytes([c[0], c[1]]) } else { u16::from(c[0]) << 8 };
                acc = combine(acc, u32::from(w));
            }
            proptest::prop_assert_eq!(fold(sum(&data)), fold(acc));
        }
    }
}
