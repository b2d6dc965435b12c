//! Frames on the wire: building the UL G-PDUs and DL IPv4 packets the
//! generator sends (the same layout as `perf/gen/sessions.py`), ARP, and
//! classifying what comes back from either side of the device under test
//! (a G-PDU, a plain IPv4 packet, an ARP frame, or something else).
//!
//! Our own small parser rather than a packet crate: it must find the stamp
//! behind any number of GTP-U extension headers at a few nanoseconds per
//! frame without allocating, and report the tunnel fields it walked past
//! (TEID, QFI) so the receiver can check what the UPF wrote.

use std::net::Ipv4Addr;

use crate::plan::{DN_PORT, GTPU_PORT, Plan, Session, UE_PORT};
use crate::stamp::{Dir, STAMP_LEN, Stamp};

/// Ethernet header without VLAN tag.
pub const ETH_LEN: usize = 14;
/// IPv4 header without options.
pub const IPV4_LEN: usize = 20;
/// UDP header.
pub const UDP_LEN: usize = 8;
/// Mandatory GTP-U header.
pub const GTPU_LEN: usize = 8;
/// Optional fields (sequence number, N-PDU number, next extension type)
/// plus one 4-octet PDU Session Container.
pub const GTPU_PSC_EXTRA: usize = 8;
/// Smallest inner IP packet that carries a stamp.
pub const MIN_INNER: usize = IPV4_LEN + UDP_LEN + STAMP_LEN;
/// Largest inner IP packet: a UL frame must fit a 2048-byte mbuf.
pub const MAX_INNER: usize = 1500;
/// Ethernet minimum frame without FCS; shorter frames are padded.
pub const ETH_MIN: usize = 60;

/// `EtherType` IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// `EtherType` ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// `EtherType` 802.1Q.
pub const ETHERTYPE_VLAN: u16 = 0x8100;
/// TS 29.281 §5.2.1: next extension header type of the PDU Session Container.
pub const EXT_PSC: u8 = 0x85;
/// TS 38.415 §5.5.2: PDU Type of UL PDU SESSION INFORMATION.
pub const PSC_UL: u8 = 1;
/// TS 38.415 §5.5.2: PDU Type of DL PDU SESSION INFORMATION.
pub const PSC_DL: u8 = 0;

/// A MAC address.
pub type Mac = [u8; 6];

/// Broadcast MAC.
pub const BROADCAST: Mac = [0xFF; 6];

/// Formats a MAC as `aa:bb:cc:dd:ee:ff`.
#[must_use]
pub fn mac_to_string(m: &Mac) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

/// Parses `aa:bb:cc:dd:ee:ff`.
///
/// # Errors
/// A message naming the bad input.
pub fn parse_mac(s: &str) -> Result<Mac, String> {
    let mut out = [0u8; 6];
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return Err(format!("bad MAC address {s:?}: expected aa:bb:cc:dd:ee:ff"));
    }
    for (o, p) in out.iter_mut().zip(parts) {
        *o = u8::from_str_radix(p, 16)
            .map_err(|_| format!("bad MAC address {s:?}: {p:?} is not a hex byte"))?;
    }
    Ok(out)
}

/// The RFC 1071 Internet checksum of `data`.
#[must_use]
pub fn inet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

fn push_eth(out: &mut Vec<u8>, dst: &Mac, src: &Mac, ethertype: u16) {
    out.extend_from_slice(dst);
    out.extend_from_slice(src);
    out.extend_from_slice(&ethertype.to_be_bytes());
}

/// IPv4 header (DF set, TTL 64) with a valid checksum.
pub(crate) fn push_ipv4(out: &mut Vec<u8>, src: Ipv4Addr, dst: Ipv4Addr, total: usize, ident: u16) {
    let start = out.len();
    out.extend_from_slice(&[0x45, 0]);
    out.extend_from_slice(&(total as u16).to_be_bytes());
    out.extend_from_slice(&ident.to_be_bytes());
    out.extend_from_slice(&0x4000u16.to_be_bytes());
    out.extend_from_slice(&[64, 17, 0, 0]);
    out.extend_from_slice(&src.octets());
    out.extend_from_slice(&dst.octets());
    let c = inet_checksum(&out[start..]);
    out[start + 10..start + 12].copy_from_slice(&c.to_be_bytes());
}

/// UDP header with checksum 0 ("none", valid for IPv4: RFC 768): the
/// payload changes per packet and the generator must not recompute it.
pub(crate) fn push_udp(out: &mut Vec<u8>, sport: u16, dport: u16, len: usize) {
    out.extend_from_slice(&sport.to_be_bytes());
    out.extend_from_slice(&dport.to_be_bytes());
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0]);
}

/// What to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameSpec {
    /// Inner IP packet bytes (UL: inside the tunnel; DL: the whole IP packet).
    pub inner_bytes: usize,
    /// UL G-PDUs carry a PDU Session Container with the QFI.
    pub psc: bool,
}

impl FrameSpec {
    /// Bytes in front of the inner IP header of a frame in direction `dir`.
    #[must_use]
    pub fn overhead(&self, dir: Dir) -> usize {
        match dir {
            Dir::Ul => {
                ETH_LEN + IPV4_LEN + UDP_LEN + GTPU_LEN + if self.psc { GTPU_PSC_EXTRA } else { 0 }
            }
            Dir::Dl => ETH_LEN,
        }
    }

    /// Offset of the stamp in a frame of direction `dir`.
    #[must_use]
    pub fn stamp_offset(&self, dir: Dir) -> usize {
        self.overhead(dir) + IPV4_LEN + UDP_LEN
    }

    /// Frame bytes (without FCS) in direction `dir`, padded to the
    /// Ethernet minimum.
    #[must_use]
    pub fn frame_len(&self, dir: Dir) -> usize {
        (self.overhead(dir) + self.inner_bytes).max(ETH_MIN)
    }
}

/// Builds the frame of session `s` in direction `dir` with `stamp` in its
/// payload and the rest of the payload zero.
///
/// UL: gNB → UPF N3 G-PDU (outer UDP source port per session, outer UDP
/// checksum 0, optional PDU Session Container type UL with the plan's QFI),
/// inner UDP from the UE to the DN server. DL: DN server → UE. IPv4 header
/// checksums valid, inner UDP checksum 0, IP identification = session index
/// (as `sessions.py`).
///
/// # Panics
/// If `spec.inner_bytes` is outside [`MIN_INNER`]..=[`MAX_INNER`] (the CLI
/// refuses those).
#[must_use]
pub fn build_frame(
    plan: &Plan,
    s: &Session,
    dir: Dir,
    spec: FrameSpec,
    dst: &Mac,
    src: &Mac,
    stamp: &Stamp,
) -> Vec<u8> {
    assert!(
        (MIN_INNER..=MAX_INNER).contains(&spec.inner_bytes),
        "inner packet size {} outside {MIN_INNER}..={MAX_INNER}",
        spec.inner_bytes
    );
    let inner = spec.inner_bytes;
    let ident = s.index as u16;
    let mut out = Vec::with_capacity(spec.frame_len(dir));
    push_eth(&mut out, dst, src, ETHERTYPE_IPV4);
    match dir {
        Dir::Ul => {
            let ext = if spec.psc { GTPU_PSC_EXTRA } else { 0 };
            let gtp_len = GTPU_LEN + ext + inner;
            push_ipv4(
                &mut out,
                plan.gnb,
                plan.upf_n3,
                IPV4_LEN + UDP_LEN + gtp_len,
                ident,
            );
            push_udp(&mut out, s.outer_sport, GTPU_PORT, UDP_LEN + gtp_len);
            // TS 29.281 §5.1: version 1, PT 1, E set when a container follows.
            out.push(if spec.psc { 0x34 } else { 0x30 });
            out.push(0xFF); // G-PDU
            out.extend_from_slice(&((ext + inner) as u16).to_be_bytes());
            out.extend_from_slice(&s.ul_teid.to_be_bytes());
            if spec.psc {
                // Sequence number 0, N-PDU 0, next extension: PDU Session Container.
                out.extend_from_slice(&[0, 0, 0, EXT_PSC]);
                // TS 38.415 §5.5.2.2 UL PDU SESSION INFORMATION: length 1 (×4
                // octets), PDU type 1 in the high nibble, QFI, next type 0.
                out.extend_from_slice(&[1, PSC_UL << 4, plan.qfi & 0x3F, 0]);
            }
            push_ipv4(&mut out, s.ue_ip, plan.dn_server, inner, ident);
            push_udp(&mut out, UE_PORT, DN_PORT, inner - IPV4_LEN);
        }
        Dir::Dl => {
            push_ipv4(&mut out, plan.dn_server, s.ue_ip, inner, ident);
            push_udp(&mut out, DN_PORT, UE_PORT, inner - IPV4_LEN);
        }
    }
    let at = out.len();
    out.resize(at + (inner - IPV4_LEN - UDP_LEN), 0);
    stamp.write(&mut out[at..]);
    if out.len() < ETH_MIN {
        out.resize(ETH_MIN, 0);
    }
    out
}

/// An ARP packet (RFC 826, Ethernet/IPv4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arp {
    /// 1 request, 2 reply.
    pub op: u16,
    /// Sender hardware address.
    pub sha: Mac,
    /// Sender protocol address.
    pub spa: Ipv4Addr,
    /// Target hardware address.
    pub tha: Mac,
    /// Target protocol address.
    pub tpa: Ipv4Addr,
}

/// ARP request.
pub const ARP_REQUEST: u16 = 1;
/// ARP reply.
pub const ARP_REPLY: u16 = 2;

impl Arp {
    /// The frame carrying this ARP packet, padded to 60 bytes. Requests go
    /// to broadcast, replies to the target.
    #[must_use]
    pub fn frame(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(ETH_MIN);
        let dst = if self.op == ARP_REQUEST {
            BROADCAST
        } else {
            self.tha
        };
        push_eth(&mut out, &dst, &self.sha, ETHERTYPE_ARP);
        out.extend_from_slice(&[0, 1, 8, 0, 6, 4]);
        out.extend_from_slice(&self.op.to_be_bytes());
        out.extend_from_slice(&self.sha);
        out.extend_from_slice(&self.spa.octets());
        out.extend_from_slice(&self.tha);
        out.extend_from_slice(&self.tpa.octets());
        out.resize(ETH_MIN, 0);
        out
    }

    fn parse(b: &[u8]) -> Option<Arp> {
        let b = b.get(..28)?;
        if b[0..6] != [0, 1, 8, 0, 6, 4] {
            return None;
        }
        let mac = |o: usize| -> Mac { [b[o], b[o + 1], b[o + 2], b[o + 3], b[o + 4], b[o + 5]] };
        let ip = |o: usize| Ipv4Addr::new(b[o], b[o + 1], b[o + 2], b[o + 3]);
        Some(Arp {
            op: u16::from_be_bytes([b[6], b[7]]),
            sha: mac(8),
            spa: ip(14),
            tha: mac(18),
            tpa: ip(24),
        })
    }
}

/// The GTP-U tunnel a stamp was found in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tunnel {
    /// Outer source address.
    pub src: Ipv4Addr,
    /// Outer destination address.
    pub dst: Ipv4Addr,
    /// TEID.
    pub teid: u32,
    /// PDU Session Container: (PDU type, QFI), if present.
    pub psc: Option<(u8, u8)>,
}

/// A frame that carries one of our stamps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamped {
    /// The stamp.
    pub stamp: Stamp,
    /// Where it starts in the frame.
    pub offset: usize,
    /// The tunnel around the packet, if it came encapsulated.
    pub tunnel: Option<Tunnel>,
    /// Source and destination of the IP packet holding the stamp (the inner
    /// one when tunnelled); `None` when found by scanning.
    pub ip: Option<(Ipv4Addr, Ipv4Addr)>,
}

/// What a received frame is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Classified {
    /// Carries a stamp.
    Stamped(Stamped),
    /// An ARP packet.
    Arp(Arp),
    /// Anything else.
    Other,
}

/// An IPv4/UDP packet: (src, dst, sport, dport, UDP payload range in `b`).
type Udp4 = (Ipv4Addr, Ipv4Addr, u16, u16, std::ops::Range<usize>);

/// Parses an IPv4 header + UDP header at the start of `b`.
fn ipv4_udp(b: &[u8]) -> Option<Udp4> {
    let h = b.get(..IPV4_LEN)?;
    if h[0] >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(h[0] & 0x0F) * 4;
    let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
    // Protocol UDP, not a fragment (MF clear, offset 0).
    if ihl < IPV4_LEN || total < ihl + UDP_LEN || total > b.len() || h[9] != 17 {
        return None;
    }
    if u16::from_be_bytes([h[6], h[7]]) & 0x3FFF != 0 {
        return None;
    }
    let src = Ipv4Addr::new(h[12], h[13], h[14], h[15]);
    let dst = Ipv4Addr::new(h[16], h[17], h[18], h[19]);
    let u = &b[ihl..total];
    let ulen = usize::from(u16::from_be_bytes([u[4], u[5]]));
    if ulen < UDP_LEN || ulen > u.len() {
        return None;
    }
    let sport = u16::from_be_bytes([u[0], u[1]]);
    let dport = u16::from_be_bytes([u[2], u[3]]);
    Some((src, dst, sport, dport, ihl + UDP_LEN..ihl + ulen))
}

/// A G-PDU: TEID, PDU Session Container (type, QFI), T-PDU range.
type Gpdu = (u32, Option<(u8, u8)>, std::ops::Range<usize>);

/// Parses a G-PDU (TS 29.281 §5) at the start of `b`: the tunnel fields
/// and the range of the T-PDU inside `b`.
fn gtpu(b: &[u8]) -> Option<Gpdu> {
    let h = b.get(..GTPU_LEN)?;
    // Version 1, PT 1 (GTP, not GTP'), message type 255 (G-PDU).
    if h[0] >> 5 != 1 || h[0] & 0x10 == 0 || h[1] != 0xFF {
        return None;
    }
    let end = GTPU_LEN + usize::from(u16::from_be_bytes([h[2], h[3]]));
    if end > b.len() {
        return None;
    }
    let teid = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
    let mut off = GTPU_LEN;
    let mut psc = None;
    if h[0] & 0x07 != 0 {
        let opt = b.get(off..off + 4)?;
        off += 4;
        let mut next = if h[0] & 0x04 != 0 { opt[3] } else { 0 };
        while next != 0 {
            let len = usize::from(*b.get(off)?) * 4;
            if len == 0 || off + len > end {
                return None;
            }
            if next == EXT_PSC && len >= 4 {
                psc = Some((b[off + 1] >> 4, b[off + 2] & 0x3F));
            }
            next = b[off + len - 1];
            off += len;
        }
    }
    (off <= end).then_some((teid, psc, off..end))
}

/// Classifies a received frame: finds the stamp behind Ethernet (one
/// optional VLAN tag), IPv4, UDP and, when the UDP port is GTP-U's, a
/// G-PDU with any extension headers; falls back to scanning the first 256
/// bytes for the stamp's magic.
#[must_use]
pub fn classify(frame: &[u8]) -> Classified {
    let Some(h) = frame.get(..ETH_LEN) else {
        return Classified::Other;
    };
    let mut l3 = ETH_LEN;
    let mut ethertype = u16::from_be_bytes([h[12], h[13]]);
    if ethertype == ETHERTYPE_VLAN {
        let Some(t) = frame.get(ETH_LEN + 2..ETH_LEN + 4) else {
            return Classified::Other;
        };
        ethertype = u16::from_be_bytes([t[0], t[1]]);
        l3 += 4;
    }
    match ethertype {
        ETHERTYPE_ARP => {
            return Arp::parse(&frame[l3..]).map_or(Classified::Other, Classified::Arp);
        }
        ETHERTYPE_IPV4 => {
            if let Some(s) = classify_ipv4(frame, l3) {
                return Classified::Stamped(s);
            }
        }
        _ => {}
    }
    match Stamp::scan(frame, 256) {
        Some((offset, stamp)) => Classified::Stamped(Stamped {
            stamp,
            offset,
            tunnel: None,
            ip: None,
        }),
        None => Classified::Other,
    }
}

fn classify_ipv4(frame: &[u8], l3: usize) -> Option<Stamped> {
    let (src, dst, sport, dport, pl) = ipv4_udp(&frame[l3..])?;
    let payload = l3 + pl.start..l3 + pl.end;
    if dport == GTPU_PORT || sport == GTPU_PORT {
        let (teid, psc, tpdu) = gtpu(&frame[payload.clone()])?;
        let inner_at = payload.start + tpdu.start;
        let (isrc, idst, _, _, ipl) = ipv4_udp(&frame[inner_at..payload.start + tpdu.end])?;
        let offset = inner_at + ipl.start;
        let stamp = Stamp::read(&frame[offset..inner_at + ipl.end])?;
        return Some(Stamped {
            stamp,
            offset,
            tunnel: Some(Tunnel {
                src,
                dst,
                teid,
                psc,
            }),
            ip: Some((isrc, idst)),
        });
    }
    let stamp = Stamp::read(&frame[payload.clone()])?;
    Some(Stamped {
        stamp,
        offset: payload.start,
        tunnel: None,
        ip: Some((src, dst)),
    })
}

/// What a stamped frame should look like, given the device under test.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Expect {
    /// Either form (tunnelled or not), fields checked for the form found.
    #[default]
    Any,
    /// A UPF: UL comes out decapsulated on N6, DL encapsulated on N3 with
    /// the session's gNB TEID, the gNB as outer destination and (if a PDU
    /// Session Container is present) a DL container with the plan's QFI.
    Upf,
    /// A forwarder that changes no header above Ethernet (testpmd io,
    /// macswap): frames come back as they were sent.
    Passthrough,
}

/// Why a stamped frame is not what was expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mismatch {
    /// Tunnelled where it should be plain, or the reverse.
    Form,
    /// Wrong TEID for the session.
    Teid,
    /// Wrong PDU Session Container type or QFI.
    Qfi,
    /// Wrong UE or server address (inner or plain), or wrong outer address.
    Address,
    /// The stamp's session is not one of the plan's.
    Session,
}

/// Checks the headers around a stamp against the session it names.
///
/// # Errors
/// The first [`Mismatch`] found.
pub fn check(plan: &Plan, spec: FrameSpec, expect: Expect, st: &Stamped) -> Result<(), Mismatch> {
    if st.stamp.session >= plan.sessions {
        return Err(Mismatch::Session);
    }
    let s = plan.session(st.stamp.session);
    let tunnelled = st.tunnel.is_some();
    match (expect, st.stamp.dir, tunnelled) {
        (Expect::Upf, Dir::Ul, true) | (Expect::Upf, Dir::Dl, false) => return Err(Mismatch::Form),
        (Expect::Passthrough, Dir::Ul, false) | (Expect::Passthrough, Dir::Dl, true) => {
            return Err(Mismatch::Form);
        }
        _ => {}
    }
    let (ue_src, ue_dst) = match st.stamp.dir {
        Dir::Ul => (s.ue_ip, plan.dn_server),
        Dir::Dl => (plan.dn_server, s.ue_ip),
    };
    if st.ip.is_some_and(|ip| ip != (ue_src, ue_dst)) {
        return Err(Mismatch::Address);
    }
    if let Some(t) = st.tunnel {
        match st.stamp.dir {
            Dir::Ul => {
                if t.teid != s.ul_teid {
                    return Err(Mismatch::Teid);
                }
                if (t.src, t.dst) != (plan.gnb, plan.upf_n3) {
                    return Err(Mismatch::Address);
                }
                if spec.psc && t.psc != Some((PSC_UL, plan.qfi)) {
                    return Err(Mismatch::Qfi);
                }
            }
            Dir::Dl => {
                if t.teid != s.dl_teid {
                    return Err(Mismatch::Teid);
                }
                if t.dst != plan.gnb {
                    return Err(Mismatch::Address);
                }
                if t.psc.is_some_and(|psc| psc != (PSC_DL, plan.qfi)) {
                    return Err(Mismatch::Qfi);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DST: Mac = [2, 0, 0, 0, 0x33, 1];
    const SRC: Mac = [2, 0, 0, 0, 0x33, 2];

    fn stamp(dir: Dir, session: u32) -> Stamp {
        Stamp {
            trial: 3,
            dir,
            session,
            seq: 17,
            tsc: 0x0102_0304_0506_0708,
        }
    }

    fn spec(inner: usize) -> FrameSpec {
        FrameSpec {
            inner_bytes: inner,
            psc: true,
        }
    }

    /// A strict, independent walk of a UL G-PDU by fixed offsets (not
    /// through `classify`): every length field and checksum.
    fn assert_valid_ul(f: &[u8], plan: &Plan, s: &Session, inner: usize, psc: bool) {
        let ext = if psc { 8 } else { 0 };
        assert_eq!(f.len(), 14 + 20 + 8 + 8 + ext + inner);
        assert_eq!(&f[0..6], &DST);
        assert_eq!(&f[6..12], &SRC);
        assert_eq!(&f[12..14], &[8, 0]);
        let ip = &f[14..34];
        assert_eq!(inet_checksum(ip), 0, "outer IPv4 checksum");
        assert_eq!(
            usize::from(u16::from_be_bytes([ip[2], ip[3]])),
            f.len() - 14
        );
        assert_eq!(&ip[12..16], &plan.gnb.octets());
        assert_eq!(&ip[16..20], &plan.upf_n3.octets());
        let udp = &f[34..42];
        assert_eq!(u16::from_be_bytes([udp[0], udp[1]]), s.outer_sport);
        assert_eq!(u16::from_be_bytes([udp[2], udp[3]]), 2152);
        assert_eq!(
            usize::from(u16::from_be_bytes([udp[4], udp[5]])),
            f.len() - 34
        );
        assert_eq!(&udp[6..8], &[0, 0], "outer UDP checksum 0");
        let g = &f[42..];
        assert_eq!(g[0], if psc { 0x34 } else { 0x30 });
        assert_eq!(g[1], 0xFF);
        assert_eq!(usize::from(u16::from_be_bytes([g[2], g[3]])), g.len() - 8);
        assert_eq!(u32::from_be_bytes([g[4], g[5], g[6], g[7]]), s.ul_teid);
        if psc {
            assert_eq!(&g[8..12], &[0, 0, 0, 0x85]);
            assert_eq!(&g[12..16], &[1, 0x10, plan.qfi, 0]);
        }
        let i = &g[8 + ext..];
        assert_eq!(i.len(), inner);
        assert_eq!(inet_checksum(&i[..20]), 0, "inner IPv4 checksum");
        assert_eq!(usize::from(u16::from_be_bytes([i[2], i[3]])), inner);
        assert_eq!(&i[12..16], &s.ue_ip.octets());
        assert_eq!(&i[16..20], &plan.dn_server.octets());
        assert_eq!(usize::from(u16::from_be_bytes([i[24], i[25]])), inner - 20);
    }

    #[test]
    fn ul_frames_are_valid_gpdus_for_their_session() {
        let plan = Plan::default();
        for (i, inner, psc) in [(0, 64, true), (9999, 1400, true), (77, 64, false)] {
            let s = plan.session(i);
            let sp = FrameSpec {
                inner_bytes: inner,
                psc,
            };
            let f = build_frame(&plan, &s, Dir::Ul, sp, &DST, &SRC, &stamp(Dir::Ul, i));
            assert_valid_ul(&f, &plan, &s, inner, psc);
            assert_eq!(f.len(), sp.frame_len(Dir::Ul));
            let Classified::Stamped(st) = classify(&f) else {
                panic!("no stamp found")
            };
            assert_eq!(st.stamp, stamp(Dir::Ul, i));
            assert_eq!(st.offset, sp.stamp_offset(Dir::Ul));
            let t = st.tunnel.unwrap();
            assert_eq!(t.teid, s.ul_teid);
            assert_eq!(t.psc, psc.then_some((PSC_UL, plan.qfi)));
            assert_eq!(st.ip, Some((s.ue_ip, plan.dn_server)));
            assert_eq!(check(&plan, sp, Expect::Passthrough, &st), Ok(()));
            assert_eq!(check(&plan, sp, Expect::Upf, &st), Err(Mismatch::Form));
        }
    }

    #[test]
    fn dl_frames_are_valid_ipv4_to_the_ue() {
        let plan = Plan::default();
        let s = plan.session(42);
        let f = build_frame(
            &plan,
            &s,
            Dir::Dl,
            spec(64),
            &DST,
            &SRC,
            &stamp(Dir::Dl, 42),
        );
        assert_eq!(f.len(), 78);
        assert_eq!(inet_checksum(&f[14..34]), 0);
        assert_eq!(&f[30..34], &s.ue_ip.octets());
        assert_eq!(u16::from_be_bytes([f[34], f[35]]), 5001);
        assert_eq!(u16::from_be_bytes([f[36], f[37]]), 40000);
        let Classified::Stamped(st) = classify(&f) else {
            panic!()
        };
        assert_eq!(st.stamp, stamp(Dir::Dl, 42));
        assert_eq!(st.tunnel, None);
        assert_eq!(check(&plan, spec(64), Expect::Passthrough, &st), Ok(()));
        assert_eq!(check(&plan, spec(64), Expect::Any, &st), Ok(()));
    }

    /// What a UPF does to our frames: UL decapsulated (new Ethernet header
    /// in front of the inner packet), DL encapsulated with the gNB TEID and
    /// a DL PDU Session Container.
    fn upf_ul(f: &[u8], sp: FrameSpec) -> Vec<u8> {
        let mut out = f[..14].to_vec();
        out.extend_from_slice(&f[sp.overhead(Dir::Ul)..]);
        out
    }

    fn upf_dl(plan: &Plan, s: &Session, f: &[u8], qfi: u8) -> Vec<u8> {
        let inner = &f[14..];
        let mut out = f[..14].to_vec();
        let gtp = 8 + 8 + inner.len();
        push_ipv4(&mut out, plan.upf_n3, plan.gnb, 28 + gtp, 0);
        push_udp(&mut out, 2152, 2152, 8 + gtp);
        out.extend_from_slice(&[0x34, 0xFF]);
        out.extend_from_slice(&((8 + inner.len()) as u16).to_be_bytes());
        out.extend_from_slice(&s.dl_teid.to_be_bytes());
        out.extend_from_slice(&[0, 0, 0, 0x85, 1, PSC_DL << 4, qfi, 0]);
        out.extend_from_slice(inner);
        out
    }

    #[test]
    fn finds_stamps_in_what_a_upf_sends_back() {
        let plan = Plan::default();
        let sp = spec(64);
        let s = plan.session(5);
        let ul = build_frame(&plan, &s, Dir::Ul, sp, &DST, &SRC, &stamp(Dir::Ul, 5));
        let Classified::Stamped(st) = classify(&upf_ul(&ul, sp)) else {
            panic!()
        };
        assert_eq!(st.stamp, stamp(Dir::Ul, 5));
        assert_eq!(st.tunnel, None);
        assert_eq!(check(&plan, sp, Expect::Upf, &st), Ok(()));
        assert_eq!(
            check(&plan, sp, Expect::Passthrough, &st),
            Err(Mismatch::Form)
        );

        let dl = build_frame(&plan, &s, Dir::Dl, sp, &DST, &SRC, &stamp(Dir::Dl, 5));
        let Classified::Stamped(st) = classify(&upf_dl(&plan, &s, &dl, plan.qfi)) else {
            panic!()
        };
        assert_eq!(st.stamp, stamp(Dir::Dl, 5));
        assert_eq!(st.tunnel.unwrap().teid, s.dl_teid);
        assert_eq!(check(&plan, sp, Expect::Upf, &st), Ok(()));
        // Wrong QFI, wrong TEID (another session's), wrong session index.
        let Classified::Stamped(st) = classify(&upf_dl(&plan, &s, &dl, 5)) else {
            panic!()
        };
        assert_eq!(check(&plan, sp, Expect::Upf, &st), Err(Mismatch::Qfi));
        let other = plan.session(6);
        let Classified::Stamped(st) = classify(&upf_dl(&plan, &other, &dl, plan.qfi)) else {
            panic!()
        };
        assert_eq!(check(&plan, sp, Expect::Upf, &st), Err(Mismatch::Teid));
        let small = Plan {
            sessions: 5,
            ..Plan::default()
        };
        assert_eq!(check(&small, sp, Expect::Upf, &st), Err(Mismatch::Session));
    }

    #[test]
    fn vlan_and_unknown_encapsulations_still_yield_the_stamp() {
        let plan = Plan::default();
        let s = plan.session(1);
        let f = build_frame(&plan, &s, Dir::Dl, spec(64), &DST, &SRC, &stamp(Dir::Dl, 1));
        let mut tagged = f[..12].to_vec();
        tagged.extend_from_slice(&[0x81, 0, 0, 100]);
        tagged.extend_from_slice(&f[12..]);
        let Classified::Stamped(st) = classify(&tagged) else {
            panic!()
        };
        assert_eq!(st.offset, 14 + 4 + 28);
        assert!(st.ip.is_some());
        // MPLS in front: only the scan finds it.
        let mut mpls = f[..12].to_vec();
        mpls.extend_from_slice(&[0x88, 0x47, 0, 0, 0x11, 0x40]);
        mpls.extend_from_slice(&f[14..]);
        let Classified::Stamped(st) = classify(&mpls) else {
            panic!()
        };
        assert_eq!(st.stamp, stamp(Dir::Dl, 1));
        assert_eq!(st.ip, None);
    }

    #[test]
    fn arp_roundtrip() {
        let a = Arp {
            op: ARP_REQUEST,
            sha: SRC,
            spa: Ipv4Addr::new(192, 168, 1, 2),
            tha: [0; 6],
            tpa: Ipv4Addr::new(192, 168, 1, 1),
        };
        let f = a.frame();
        assert_eq!(f.len(), 60);
        assert_eq!(&f[0..6], &BROADCAST);
        assert_eq!(classify(&f), Classified::Arp(a));
    }

    #[test]
    fn macs() {
        assert_eq!(
            parse_mac("02:00:00:00:33:0a").unwrap(),
            [2, 0, 0, 0, 0x33, 10]
        );
        assert_eq!(mac_to_string(&[2, 0, 0, 0, 0x33, 10]), "02:00:00:00:33:0a");
        assert!(parse_mac("02:00:00:00:33").is_err());
        assert!(parse_mac("02:00:00:00:33:zz").is_err());
    }

    proptest! {
        #[test]
        fn classify_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = classify(&bytes);
        }

        #[test]
        fn classify_never_panics_on_mangled_gpdus(i in 0u32..10_000, cut in 0usize..122, pos in 0usize..122, val: u8) {
            let plan = Plan::default();
            let s = plan.session(i);
            let mut f = build_frame(&plan, &s, Dir::Ul, spec(64), &DST, &SRC, &stamp(Dir::Ul, i));
            let p = pos.min(f.len() - 1);
            f[p] = val;
            f.truncate(cut.max(1));
            if let Classified::Stamped(st) = classify(&f) {
                let _ = check(&plan, spec(64), Expect::Any, &st);
            }
        }

        #[test]
        fn every_session_and_size_parses_back(i in 0u32..10_000, inner in MIN_INNER..=MAX_INNER, dl: bool, psc: bool) {
            let plan = Plan::default();
            let s = plan.session(i);
            let dir = if dl { Dir::Dl } else { Dir::Ul };
            let sp = FrameSpec { inner_bytes: inner, psc };
            let f = build_frame(&plan, &s, dir, sp, &DST, &SRC, &stamp(dir, i));
            prop_assert_eq!(f.len(), sp.frame_len(dir));
            let Classified::Stamped(st) = classify(&f) else { panic!("no stamp") };
            prop_assert_eq!(st.stamp, stamp(dir, i));
            prop_assert_eq!(st.offset, sp.stamp_offset(dir));
            prop_assert_eq!(check(&plan, sp, Expect::Passthrough, &st), Ok(()));
        }
    }
}
