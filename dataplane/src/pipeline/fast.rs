//! The fast paths: the common shapes (untagged Ethernet, IPv4 without
//! options, a G-PDU with at most one PDU Session Container, an IPv4 inner
//! packet, one PDR without SDF filters, forward with or without GTP-U/IPv4
//! encapsulation) read at fixed offsets of a fixed-size header array (no
//! per-field bounds checks), instead of going through the general parsers.
//!
//! Two tiers. [`Pipeline::fast_slot`] works from the table slot the burst
//! loop found and prefetched, and reads nothing but the frame, that slot's
//! [`FastRule`] and the two state lines: the PDR shape of nearly every
//! session (one QER, one URR). [`Pipeline::fast`] takes the other
//! single-PDR entries (two QERs, several URRs) from the [`CPdr`]. Anything
//! else returns `None` before changing any state, and the general path
//! handles it; fast and general are compared frame by frame in
//! `tests/differential.rs` and under the fuzzer.

use super::{Ctx, LookupKey, Pipeline, Verdict, meter_conform};
use crate::buf::PacketBuf;
use crate::counters::DropReason as D;
use crate::iface::Iface;
use crate::rules::Direction;
use crate::tables::{
    CPdr, FarAction, FastRule, Rules, Slot, count_paired, count_urr, fast, line, qer_line,
};
use crate::wire::checksum;
use crate::wire::ethernet::MacAddr;

/// Bytes of an uplink frame the fast path reads: Ethernet, IPv4, UDP,
/// GTP-U with optional word and a 4-byte PSC, inner IPv4 header and ports.
const UL_HDR: usize = 14 + 20 + 8 + 16 + 24;
/// Bytes of a downlink frame it reads: Ethernet, IPv4, ports.
const DL_HDR: usize = 14 + 24;

#[inline(always)]
fn be16<const N: usize>(d: &[u8; N], o: usize) -> usize {
    usize::from(u16::from_be_bytes([d[o], d[o + 1]]))
}

#[inline(always)]
fn be32<const N: usize>(d: &[u8; N], o: usize) -> u32 {
    u32::from_be_bytes([d[o], d[o + 1], d[o + 2], d[o + 3]])
}

/// One's-complement sum of a 20-byte IPv4 header, folded.
#[inline(always)]
fn hdr_sum(h: &[u8; 20]) -> u16 {
    let mut s: u32 = 0;
    for i in 0..10 {
        s += u32::from(u16::from_be_bytes([h[2 * i], h[2 * i + 1]]));
    }
    checksum::fold(s)
}

/// The flow hash of an IPv4 header whose first 24 bytes are `h` (ports
/// only when they lie inside the `ip_len` bytes of the packet).
#[inline(always)]
fn flow_hash(h: &[u8], ip_len: usize) -> u32 {
    let Some(h) = h.get(..24) else { return 0 };
    let w = |o: usize| u32::from_be_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]]);
    let proto = h[9];
    let first = (h[6] & 0x1f) | h[7] == 0;
    let ports = if (proto == 6 || proto == 17) && first && ip_len >= 24 {
        w(20)
    } else {
        0
    };
    w(12) ^ w(16).rotate_left(16) ^ ports ^ u32::from(proto)
}

/// What the fast parse found.
struct Fast<'e> {
    pdr: &'e CPdr,
    /// Offset of the (inner) IPv4 packet.
    inner: usize,
    ip_len: usize,
    dst: u32,
    /// Entropy for the outer UDP source port.
    hash: u32,
    psc_qfi: Option<u8>,
}

impl Pipeline {
    /// Tries the fast path; `None` means "not handled, nothing changed".
    #[inline]
    pub(super) fn fast<B: PacketBuf>(
        &mut self,
        ctx: Ctx<'_>,
        iface: Iface,
        buf: &mut B,
        hint: (LookupKey, Option<&Rules>),
    ) -> Option<Verdict> {
        let f = if iface.is_gtpu() {
            Self::fast_ul(ctx, iface, buf.data(), hint)?
        } else {
            Self::fast_dl(ctx, iface, buf.data(), hint)?
        };
        self.fast_apply(ctx, buf, &f)
    }

    #[inline(always)]
    fn fast_ul<'e>(
        ctx: Ctx<'e>,
        iface: Iface,
        d: &[u8],
        hint: (LookupKey, Option<&'e Rules>),
    ) -> Option<Fast<'e>> {
        let h: &[u8; UL_HDR] = d.get(..UL_HDR)?.try_into().ok()?;
        let ni = &ctx.snap.fast_net[iface.index()];
        if h[12] != 0x08
            || h[13] != 0x00
            || h[14] != 0x45
            || h[23] != 17
            || be32(h, 30) != ni.own
            || ni.own == 0
            || (h[20] & 0x3f) | h[21] != 0
        {
            return None;
        }
        let tot = be16(h, 16);
        let ip: &[u8; 20] = h[14..34].try_into().ok()?;
        if tot < 64
            || tot + 14 > d.len()
            || be16(h, 36) != 2152
            || be16(h, 38) + 20 != tot
            || hdr_sum(ip) != 0xffff
        {
            return None;
        }
        let flags = h[42];
        if flags & 0xf0 != 0x30 || h[43] != 0xff || be16(h, 44) + 36 != tot {
            return None;
        }
        let teid = be32(h, 46);
        let (inner, psc_qfi) = if flags & 0x07 == 0 {
            (50, None)
        } else if flags & 0x04 == 0 || h[53] == 0 {
            (54, None)
        } else if h[53] == 0x85
            && h[54] == 1
            && h[57] == 0
            && (h[55] >> 4 == 1 || (h[55] >> 4 == 0 && h[56] & 0x80 == 0))
        {
            // A 4-byte PSC: UL, or DL without a PPI (PPP set needs a longer one).
            (58, Some(h[56] & 0x3f))
        } else {
            return None;
        };
        let avail = (tot + 14).checked_sub(inner)?;
        let ih = &h[inner..];
        if avail < 20 || ih[0] != 0x45 {
            return None;
        }
        let ip_len = usize::from(u16::from_be_bytes([ih[2], ih[3]]));
        if ip_len < 20 || ip_len > avail {
            return None;
        }
        let src = u32::from_be_bytes([ih[12], ih[13], ih[14], ih[15]]);
        let dst = u32::from_be_bytes([ih[16], ih[17], ih[18], ih[19]]);
        let entry = if hint.0 == LookupKey::Teid(teid) {
            hint.1
        } else {
            ctx.snap.teid.get(teid)
        }?;
        // A compact entry's packets that tier 1 declined take the general path.
        let [pdr] = entry.shared()? else { return None };
        if pdr.dir != Direction::Ul
            || !pdr.sdf.is_empty()
            || pdr.ue4 != Some(src)
            || pdr.qfi.is_some_and(|q| Some(q) != psc_qfi)
            || !(pdr.remove_outer || pdr.far.ohc.is_some())
        {
            return None;
        }
        Some(Fast {
            pdr,
            inner,
            ip_len,
            dst,
            hash: flow_hash(ih, ip_len),
            psc_qfi,
        })
    }

    #[inline(always)]
    fn fast_dl<'e>(
        ctx: Ctx<'e>,
        iface: Iface,
        d: &[u8],
        hint: (LookupKey, Option<&'e Rules>),
    ) -> Option<Fast<'e>> {
        let h: &[u8; DL_HDR] = d.get(..DL_HDR)?.try_into().ok()?;
        if h[12] != 0x08 || h[13] != 0x00 || h[14] != 0x45 {
            return None;
        }
        let ip_len = be16(h, 16);
        let dst = be32(h, 30);
        if ip_len < 20 || ip_len + 14 > d.len() || dst == ctx.snap.fast_net[iface.index()].own {
            return None;
        }
        let entry = if hint.0 == LookupKey::Ue4(dst) {
            hint.1
        } else {
            ctx.snap.ue4.get(dst)
        }?;
        let [pdr] = entry.shared()? else { return None };
        if pdr.dir != Direction::Dl || !pdr.sdf.is_empty() {
            return None;
        }
        Some(Fast {
            pdr,
            inner: 14,
            ip_len,
            dst,
            hash: flow_hash(&h[14..], ip_len),
            psc_qfi: None,
        })
    }

    #[inline(always)]
    fn fast_apply<B: PacketBuf>(
        &mut self,
        ctx: Ctx<'_>,
        buf: &mut B,
        f: &Fast<'_>,
    ) -> Option<Verdict> {
        let pdr = f.pdr;
        let far = &pdr.far;
        let out = far.out;
        let ni = ctx.snap.fast_net[out.index()];
        if far.action != FarAction::Forward || far.notify || !ni.usable {
            return None;
        }
        let peer = match far.ohc {
            None => None,
            Some(o) => match o.peer {
                std::net::IpAddr::V4(p) => Some((u32::from(p), o.teid)),
                std::net::IpAddr::V6(_) => return None,
            },
        };
        // From here on the packet is ours: state changes, verdicts are final.
        let dl = pdr.dir == Direction::Dl;
        let len = f.ip_len as u64;
        let mut qfi = None;
        let mut rqi = false;
        for q in pdr.qers.iter().flatten() {
            if !q.open {
                return Some(Verdict::Drop(D::GateClosed));
            }
            if let (Some(m), Some(l)) = (q.meter(), line(ctx.lines, q.slot))
                && !meter_conform(&m, l, dl, ctx.now, len)
            {
                return Some(Verdict::Drop(D::MbrExceeded));
            }
            if qfi.is_none() {
                qfi = q.qfi;
                rqi = q.rqi;
            }
        }
        super::count(pdr, ctx.lines, dl, len, ctx.now);
        // Keep just the IPv4 packet and decrement its TTL.
        let extra = buf.len() - f.inner - f.ip_len;
        if !buf.adj(f.inner) || !buf.trim(extra) {
            return Some(Verdict::Drop(D::Malformed));
        }
        {
            let Some(d) = buf.data_mut().get_mut(..12) else {
                return Some(Verdict::Drop(D::Malformed));
            };
            if d[8] <= 1 {
                return Some(Verdict::Drop(D::TtlExceeded));
            }
            let old = u16::from_be_bytes([d[8], d[9]]);
            d[8] -= 1;
            let c = checksum::update(u16::from_be_bytes([d[10], d[11]]), old, old - 0x100);
            d[10..12].copy_from_slice(&c.to_be_bytes());
        }
        let nh_dst = match peer {
            Some((peer, teid)) => {
                let psc = qfi.or(f.psc_qfi);
                let hl = if psc.is_some() { 14 + 44 } else { 14 + 36 };
                if !buf.prepend(hl) {
                    return Some(Verdict::Drop(D::NoBuffer));
                }
                let d = buf.data_mut();
                let total = d.len() - 14;
                let Some(e) = d.get_mut(..58) else {
                    return Some(Verdict::Drop(D::NoBuffer));
                };
                let e: &mut [u8; 58] = e.try_into().ok()?;
                // The Ethernet header is filled below; IPv4 at 14, UDP at 34, GTP-U at 42.
                let tos = far.dscp.map_or(0, |x| x << 2);
                let tl = (total as u16).to_be_bytes();
                let ob = ni.own.to_be_bytes();
                let pb = peer.to_be_bytes();
                let ip: [u8; 20] = [
                    0x45, tos, tl[0], tl[1], 0, 0, 0x40, 0, 64, 17, 0, 0, ob[0], ob[1], ob[2],
                    ob[3], pb[0], pb[1], pb[2], pb[3],
                ];
                let c = (!hdr_sum(&ip)).to_be_bytes();
                e[14..34].copy_from_slice(&ip);
                e[24] = c[0];
                e[25] = c[1];
                let sp = super::port_of_hash(f.hash).to_be_bytes();
                let ul = ((total - 20) as u16).to_be_bytes();
                e[34..42].copy_from_slice(&[sp[0], sp[1], 0x08, 0x68, ul[0], ul[1], 0, 0]);
                let gl = ((total - 36) as u16).to_be_bytes();
                let t = teid.to_be_bytes();
                match psc {
                    Some(q) => {
                        let (kind, b2) = if dl {
                            (0x00, (u8::from(rqi) << 6) | (q & 0x3f))
                        } else {
                            (0x10, q & 0x3f)
                        };
                        e[42..58].copy_from_slice(&[
                            0x34, 0xff, gl[0], gl[1], t[0], t[1], t[2], t[3], 0, 0, 0, 0x85, 1,
                            kind, b2, 0,
                        ]);
                    }
                    None => e[42..50]
                        .copy_from_slice(&[0x30, 0xff, gl[0], gl[1], t[0], t[1], t[2], t[3]]),
                }
                peer
            }
            None => {
                if !buf.prepend(14) {
                    return Some(Verdict::Drop(D::NoBuffer));
                }
                f.dst
            }
        };
        // Next hop and Ethernet header.
        let nh = if ni.own & ni.mask == nh_dst & ni.mask {
            nh_dst
        } else {
            ni.gateway
        };
        if nh == 0 {
            return Some(Verdict::Drop(D::NextHopUnresolved));
        }
        let cached = self.nh_cache[out.index()];
        let mac = if cached.0 == nh {
            Some(cached.1)
        } else {
            let m = self.neigh.lookup(out, std::net::Ipv4Addr::from(nh).into());
            if let Some(m) = m {
                self.nh_cache[out.index()] = (nh, m);
            }
            m
        };
        let Some(d) = buf.data_mut().get_mut(..14) else {
            return Some(Verdict::Drop(D::NoBuffer));
        };
        d[..6].copy_from_slice(&mac.unwrap_or(MacAddr::ZERO).0);
        d[6..12].copy_from_slice(&ni.mac.0);
        d[12..14].copy_from_slice(&[0x08, 0x00]);
        Some(match mac {
            Some(_) => Verdict::Tx(out),
            None => Verdict::Pending {
                iface: out,
                next_hop: std::net::Ipv4Addr::from(nh).into(),
            },
        })
    }
}

/// The TTL|protocol|checksum word of an IPv4 header after the TTL dropped
/// by one: RFC 1624 eqn. 3 with `~m + m'` = 0xfeff, the same bits as
/// `checksum::update` (and `Packet::decrement_ttl`) give.
#[inline(always)]
fn ttl_word(w: u32) -> u32 {
    let acc = u32::from(!(w as u16)) + 0xfeff;
    let check = !(((acc & 0xffff) + (acc >> 16)) as u16);
    (w & 0x00ff_0000) + ((w >> 24) - 1) * 0x0100_0000 + u32::from(check)
}

#[inline(always)]
fn put32<const N: usize>(d: &mut [u8; N], o: usize, v: u32) {
    d[o..o + 4].copy_from_slice(&v.to_be_bytes());
}

/// Folds a one's-complement sum of at most 2^31 to 16 bits.
#[inline(always)]
fn fold2(s: u32) -> u16 {
    let s = (s & 0xffff) + (s >> 16);
    ((s & 0xffff) + (s >> 16)) as u16
}

/// `true` when the 20-byte IPv4 header at `h[14..34]` has a valid checksum.
/// The one's-complement sum is byte-order independent, and so is its
/// all-ones result: the words are added as they lie in memory.
#[inline(always)]
fn ip_hdr_ok(h: &[u8; UL_HDR]) -> bool {
    let w = |o: usize| u64::from(u32::from_ne_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]]));
    let s = w(14) + w(18) + w(22) + w(26) + w(30);
    let s = (s & 0xffff_ffff) + (s >> 32);
    let s = (s & 0xffff) + (s >> 16);
    let s = (s & 0xffff) + (s >> 16);
    (s & 0xffff) + (s >> 16) == 0xffff
}

/// The flow hash of the IPv4 packet of `ip_len` bytes at `at` in `d`
/// (ports only when it has them), as `flow_hash_v4` computes it.
#[inline(always)]
fn flow_hash_at(d: &[u8], at: usize, ip_len: usize) -> u32 {
    let Some(h) = d.get(at..at + 20) else {
        return 0;
    };
    let w = |o: usize| u32::from_be_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]]);
    let proto = h[9];
    let first = (h[6] & 0x1f) | h[7] == 0;
    let ports = match d.get(at + 20..at + 24) {
        Some(p) if (proto == 6 || proto == 17) && first && ip_len >= 24 => {
            u32::from_be_bytes([p[0], p[1], p[2], p[3]])
        }
        _ => 0,
    };
    w(12) ^ w(16).rotate_left(16) ^ ports ^ u32::from(proto)
}

/// What the tier-1 parse found.
#[derive(Clone, Copy)]
struct Parsed {
    /// Offset of the (inner) IPv4 packet.
    inner: usize,
    ip_len: usize,
    /// QFI of a received PDU Session Container, `fast::NONE` without one.
    psc_qfi: u8,
    /// The packet's TTL|protocol|checksum word.
    ttl: u32,
    /// Its destination address.
    dst: u32,
}

/// An uplink G-PDU of the fast shape for TEID `teid` and rule `r`, to an
/// interface whose address is `own`.
#[inline(always)]
fn parse_ul(d: &[u8], own: u32, teid: u32, r: &FastRule) -> Option<Parsed> {
    let h: &[u8; UL_HDR] = d.get(..UL_HDR)?.try_into().ok()?;
    let tot = be16(h, 16);
    // IPv4 in untagged Ethernet, no options; UDP, not a fragment; to us;
    // UDP to 2152 with a length that fills the IP packet, which fits the
    // frame; the header checksum.
    if be32(h, 12) & 0xffff_ff00 != 0x0800_4500
        || be32(h, 20) & 0x3fff_00ff != 17
        || be32(h, 30) != own
        || own == 0
        || tot < 64
        || tot + 14 > d.len()
        || be32(h, 36) != (2152 << 16 | (tot as u32 - 20))
        || !ip_hdr_ok(h)
    {
        return None;
    }
    // GTP-U v1 G-PDU whose length fills the UDP payload; our TEID.
    let g = be32(h, 42);
    if g & 0xf0ff_ffff != (0x30ff_0000 | (tot as u32 - 36)) || be32(h, 46) != teid {
        return None;
    }
    let (inner, psc_qfi) = if g & 0x0700_0000 == 0 {
        (50, fast::NONE)
    } else if g & 0x0400_0000 == 0 || h[53] == 0 {
        (54, fast::NONE)
    } else if h[53] == 0x85
        && h[54] == 1
        && h[57] == 0
        && (h[55] >> 4 == 1 || (h[55] >> 4 == 0 && h[56] & 0x80 == 0))
    {
        // A 4-byte PSC: UL, or DL without a PPI (PPP set needs a longer one).
        (58, h[56] & 0x3f)
    } else {
        return None;
    };
    let ih: &[u8; 20] = h.get(inner..inner + 20)?.try_into().ok()?;
    let ip_len = be16(ih, 2);
    // Inner IPv4 without options that fits the G-PDU; from the UE; the
    // PDR's QFI if it has one.
    if ih[0] != 0x45
        || ip_len < 20
        || ip_len + inner > tot + 14
        || be32(ih, 12) != r.ue4
        || (r.qfi != fast::NONE && r.qfi != psc_qfi)
    {
        return None;
    }
    Some(Parsed {
        inner,
        ip_len,
        psc_qfi,
        ttl: be32(ih, 8),
        dst: be32(ih, 16),
    })
}

/// A downlink IPv4 packet in untagged Ethernet for UE address `ue`, not to
/// the interface's own address `own`.
#[inline(always)]
fn parse_dl(d: &[u8], own: u32, ue: u32) -> Option<Parsed> {
    let h: &[u8; 34] = d.get(..34)?.try_into().ok()?;
    let ip_len = be16(h, 16);
    if be32(h, 12) & 0xffff_ff00 != 0x0800_4500
        || ip_len < 20
        || ip_len + 14 > d.len()
        || be32(h, 30) != ue
        || ue == own
    {
        return None;
    }
    Some(Parsed {
        inner: 14,
        ip_len,
        psc_qfi: fast::NONE,
        ttl: be32(h, 22),
        dst: ue,
    })
}

impl Pipeline {
    /// Tier 1: `slot` is the table slot of the frame's key (the burst loop
    /// found it); `None` means "not handled, nothing changed".
    #[inline(always)]
    pub(crate) fn fast_slot<B: PacketBuf>(
        &mut self,
        ctx: &Ctx<'_>,
        iface: Iface,
        buf: &mut B,
        slot: &Slot<u32>,
        state: super::State<'_>,
    ) -> Option<Verdict> {
        let r = slot.fast();
        let (qer, urr) = state;
        let own = ctx.snap.fast_net[iface.index()].own;
        let dl = !iface.is_gtpu();
        let p = if dl {
            if r.flags & (fast::VALID | fast::UL) != fast::VALID {
                return None;
            }
            parse_dl(buf.data(), own, slot.key())?
        } else {
            if r.flags & (fast::VALID | fast::UL) != fast::VALID | fast::UL {
                return None;
            }
            parse_ul(buf.data(), own, slot.key(), r)?
        };
        let out = r.out;
        let ni = &ctx.snap.fast_net[out.index()];
        if !ni.usable {
            return None;
        }
        // From here on the packet is ours: state changes, verdicts are final.
        let bytes = p.ip_len as u64;
        if r.flags & fast::QER != 0 {
            if r.flags & fast::GATE_OPEN == 0 {
                return Some(Verdict::Drop(D::GateClosed));
            }
            if r.flags & fast::METER != 0
                && let Some(l) = qer
            {
                let (t, s) = if dl {
                    (qer_line::DL_TOKENS, qer_line::DL_LAST)
                } else {
                    (qer_line::UL_TOKENS, qer_line::UL_LAST)
                };
                let burst = u64::from(r.burst) << 32;
                if !crate::tables::conform(r.rate_q32, burst, &l.0[t], &l.0[s], ctx.now, bytes) {
                    return Some(Verdict::Drop(D::MbrExceeded));
                }
            }
        }
        if r.flags & fast::PAIRED != 0 {
            if let Some(l) = qer {
                count_paired(l, ctx.lines, r.urr_slot, dl, bytes, ctx.now);
            }
        } else if let Some(l) = urr {
            count_urr(l, dl, bytes, ctx.now);
        }
        if p.ttl >> 24 <= 1 {
            return Some(Verdict::Drop(D::TtlExceeded));
        }
        let ttl = ttl_word(p.ttl);
        if r.flags & fast::ENCAP == 0 {
            if !buf.reframe(p.inner as isize - 14, 14 + p.ip_len) {
                return Some(Verdict::Drop(D::NoBuffer));
            }
            let Some(e) = buf.data_mut().get_mut(..34) else {
                return Some(Verdict::Drop(D::NoBuffer));
            };
            let Ok(e): Result<&mut [u8; 34], _> = e.try_into() else {
                return Some(Verdict::Drop(D::NoBuffer));
            };
            put32(e, 22, ttl);
            return Some(self.eth_out(out, ni, p.dst, e));
        }
        let hash = flow_hash_at(buf.data(), p.inner, p.ip_len);
        let (psc, rqi) = if r.psc == fast::NONE {
            (p.psc_qfi, false)
        } else {
            (r.psc & 0x3f, r.psc & 0x40 != 0)
        };
        let encap = Encap {
            ni,
            r,
            ip_len: p.ip_len,
            ttl,
            sport: super::port_of_hash(hash),
            dl,
            psc,
            rqi,
        };
        let hdr = if psc == fast::NONE { 50 } else { 58 };
        if !buf.reframe(p.inner as isize - hdr as isize, hdr + p.ip_len) {
            return Some(Verdict::Drop(D::NoBuffer));
        }
        let d = buf.data_mut();
        if hdr == 58 {
            let Some(Ok(e)) = d.get_mut(..70).map(<&mut [u8; 70]>::try_from) else {
                return Some(Verdict::Drop(D::NoBuffer));
            };
            encap.write(e);
            Some(self.eth_out(out, ni, r.peer, e))
        } else {
            let Some(Ok(e)) = d.get_mut(..62).map(<&mut [u8; 62]>::try_from) else {
                return Some(Verdict::Drop(D::NoBuffer));
            };
            encap.write(e);
            Some(self.eth_out(out, ni, r.peer, e))
        }
    }

    /// Writes the Ethernet header toward the next hop of `dst` out of `out`
    /// at the start of `e` (destination zero while unresolved).
    #[inline(always)]
    fn eth_out<const N: usize>(
        &mut self,
        out: Iface,
        ni: &crate::tables::FastIface,
        dst: u32,
        e: &mut [u8; N],
    ) -> Verdict {
        let nh = if (ni.own ^ dst) & ni.mask == 0 {
            dst
        } else {
            ni.gateway
        };
        if nh == 0 {
            return Verdict::Drop(D::NextHopUnresolved);
        }
        let cached = self.nh_cache[out.index()];
        let mac = if cached.0 == nh {
            Some(cached.1)
        } else {
            let m = self.neigh.lookup(out, std::net::Ipv4Addr::from(nh).into());
            if let Some(m) = m {
                self.nh_cache[out.index()] = (nh, m);
            }
            m
        };
        e[..6].copy_from_slice(&mac.unwrap_or(MacAddr::ZERO).0);
        e[6..12].copy_from_slice(&ni.mac.0);
        e[12] = 0x08;
        e[13] = 0x00;
        match mac {
            Some(_) => Verdict::Tx(out),
            None => Verdict::Pending {
                iface: out,
                next_hop: std::net::Ipv4Addr::from(nh).into(),
            },
        }
    }
}

/// The outer headers of a GTP-U/IPv4 encapsulation.
struct Encap<'a> {
    ni: &'a crate::tables::FastIface,
    r: &'a FastRule,
    ip_len: usize,
    /// The inner packet's new TTL|protocol|checksum word.
    ttl: u32,
    sport: u16,
    dl: bool,
    /// QFI of the PDU Session Container, `fast::NONE` for none.
    psc: u8,
    rqi: bool,
}

impl Encap<'_> {
    /// Fills `e` (the frame from its start to the inner packet's checksum:
    /// 62 bytes without a PDU Session Container, 70 with one) but the
    /// Ethernet addresses.
    #[inline(always)]
    fn write<const N: usize>(&self, e: &mut [u8; N]) {
        let hdr = N - 12;
        let r = self.r;
        let total = (hdr - 14 + self.ip_len) as u32;
        // Outer IPv4 (14..34): the checksum from the interface's
        // precomputed constant words plus TOS, length and peer.
        let sum = self.ni.ip_sum + u32::from(r.tos) + total + (r.peer >> 16) + (r.peer & 0xffff);
        put32(e, 14, 0x4500_0000 | u32::from(r.tos) << 16 | total);
        put32(e, 18, 0x0000_4000);
        put32(e, 22, 0x4011_0000 | u32::from(!fold2(sum)));
        put32(e, 26, self.ni.own);
        put32(e, 30, r.peer);
        // UDP (34..42), checksum 0; GTP-U (42..50).
        put32(e, 34, u32::from(self.sport) << 16 | 2152);
        put32(e, 38, (total - 20) << 16);
        let flags = if hdr == 58 { 0x34ff_0000 } else { 0x30ff_0000 };
        put32(e, 42, flags | (total - 36));
        put32(e, 46, r.teid);
        if hdr == 58 {
            // Sequence 0, N-PDU 0, next: PDU Session Container (50..58).
            put32(e, 50, 0x85);
            let (kind, b2): (u32, u8) = if self.dl {
                (0x00, u8::from(self.rqi) << 6 | self.psc)
            } else {
                (0x10, self.psc)
            };
            put32(e, 54, 0x0100_0000 | kind << 16 | u32::from(b2) << 8);
        }
        put32(e, hdr + 8, self.ttl);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ipv4;
    use proptest::prelude::*;

    proptest! {
        // Any header, and the same header with its checksum filled in:
        // the word-sum shortcut agrees with the IPv4 view's check.
        #[test]
        fn header_checksum_shortcut_agrees(hdr in proptest::array::uniform20(any::<u8>()), fill: bool) {
            let mut h = [0u8; UL_HDR];
            h[14..34].copy_from_slice(&hdr);
            h[14] = 0x45;
            if fill {
                ipv4::Packet::new_unchecked(&mut h[14..34]).fill_checksum();
            }
            let view = ipv4::Packet::new_unchecked(&h[14..34]);
            prop_assert_eq!(ip_hdr_ok(&h), view.verify_checksum());
        }

        #[test]
        fn ttl_word_matches_decrement_ttl(hdr in proptest::array::uniform20(any::<u8>()), ttl in 2u8..) {
            let mut a = hdr;
            a[0] = 0x45;
            a[8] = ttl;
            let w = u32::from_be_bytes([a[8], a[9], a[10], a[11]]);
            let mut b = a;
            prop_assert!(ipv4::Packet::new_unchecked(&mut b[..]).decrement_ttl());
            prop_assert_eq!(ttl_word(w).to_be_bytes(), [b[8], b[9], b[10], b[11]]);
        }
    }
}
