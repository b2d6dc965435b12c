//! Helpers shared by the integration tests: a minimal pcap reader for the
//! golden captures (pcap or pcapng; Ethernet / IPv4 / UDP, which is what
//! they hold).
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

/// One UDP datagram of a capture.
pub struct Datagram {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub payload: Vec<u8>,
}

/// Ethernet frames of a capture: classic pcap or pcapng (little-endian).
pub fn frames(file: &[u8]) -> Vec<&[u8]> {
    let le32 = |b: &[u8]| u32::from_le_bytes(b[..4].try_into().unwrap()) as usize;
    let mut out = Vec::new();
    if file[..4] == [0xd4, 0xc3, 0xb2, 0xa1] {
        assert_eq!(le32(&file[20..]), 1, "Ethernet link type expected");
        let mut i = 24;
        while i + 16 <= file.len() {
            let incl = le32(&file[i + 8..]);
            out.push(&file[i + 16..i + 16 + incl]);
            i += 16 + incl;
        }
    } else if file[..4] == [0x0a, 0x0d, 0x0d, 0x0a] {
        assert_eq!(
            &file[8..12],
            &[0x4d, 0x3c, 0x2b, 0x1a],
            "little-endian pcapng expected"
        );
        let mut i = 0;
        while i + 12 <= file.len() {
            let (btype, blen) = (le32(&file[i..]), le32(&file[i + 4..]));
            let body = &file[i + 8..i + blen - 4];
            match btype {
                1 => assert_eq!(
                    u16::from_le_bytes([body[0], body[1]]),
                    1,
                    "Ethernet link type"
                ),
                6 => out.push(&body[20..20 + le32(&body[12..])]),
                _ => {}
            }
            i += blen;
        }
    } else {
        panic!("not a pcap or pcapng file");
    }
    out
}

/// UDP datagrams to or from `port` in a capture (Ethernet / IPv4 / UDP).
pub fn udp_datagrams(file: &[u8], port: u16) -> Vec<Datagram> {
    let mut out = Vec::new();
    for frame in frames(file) {
        if frame.len() < 14 + 20 + 8 || frame[12..14] != [0x08, 0x00] {
            continue;
        }
        let ip = &frame[14..];
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        if ip[9] != 17 {
            continue;
        }
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
        let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
        let udp = &ip[ihl..total];
        let sport = u16::from_be_bytes([udp[0], udp[1]]);
        let dport = u16::from_be_bytes([udp[2], udp[3]]);
        if sport != port && dport != port {
            continue;
        }
        out.push(Datagram {
            src: SocketAddr::V4(SocketAddrV4::new(src, sport)),
            dst: SocketAddr::V4(SocketAddrV4::new(dst, dport)),
            payload: udp[8..].to_vec(),
        });
    }
    out
}

/// The OAI SMF ↔ UPF capture (source: public repository orion-belt/tempo,
/// upf.pcap; see tests/data/README.md).
pub fn oai_capture() -> Vec<Datagram> {
    let pcap = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/pfcp-oai-smf-lifecycle.pcap"
    ))
    .expect("golden capture");
    udp_datagrams(&pcap, 8805)
}
