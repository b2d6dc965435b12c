//! Replays the committed fuzz corpus (`fuzz/corpus/pipeline`) on stable, so
//! every input the fuzzer kept stays covered by `cargo test`.

use dataplane::iface::Iface;
use dataplane::testkit::*;
use dataplane::wire::{arp, ethernet::MacAddr, ethernet::ethertype, gtpu};
use std::path::PathBuf;

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/pipeline")
}

#[test]
fn replay_committed_corpus() {
    let mut n = 0;
    let mut files: Vec<_> = std::fs::read_dir(corpus())
        .expect("corpus directory")
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in files {
        let data = std::fs::read(&f).unwrap();
        fuzz_pipeline(&data);
        n += 1;
    }
    assert!(n >= 10, "only {n} corpus files");
}

fn seed(iface: Iface, frame: &[u8]) -> Vec<u8> {
    let mut v = vec![iface as u8];
    v.extend_from_slice(frame);
    v
}

/// Writes the hand-made seeds (run once with `--ignored`; the fuzzer adds
/// its own findings to the same folder).
#[test]
#[ignore = "writes the seed corpus"]
fn write_seed_corpus() {
    let s = SessionSpec::nth(0);
    let b = SessionSpec::nth(4);
    let mut seeds = vec![
        seed(
            Iface::N3,
            &ul_frame(s.ul_teid, 9, &udp4(s.ue, DN_IP, 1000, 53, 64)),
        ),
        seed(
            Iface::N3,
            &ul_frame(0x4242, 9, &udp4(s.ue, DN_IP, 1000, 53, 64)),
        ),
        seed(
            Iface::N3,
            &ul_frame(b.ul_teid, 9, &udp4(b.ue, DN_IP, 1000, 53, 10)),
        ),
        seed(Iface::N6, &dl_frame(&udp4(DN_IP, s.ue, 53, 1000, 64))),
        seed(Iface::N6, &dl_frame(&udp4(DN_IP, b.ue, 53, 1000, 64))),
        seed(
            Iface::N6,
            &dl_frame(&udp6(
                "2001:db8::1".parse().unwrap(),
                "2001:db8:45::1".parse().unwrap(),
                1,
                2,
                20,
            )),
        ),
    ];
    let echo = gtpu::Repr {
        msg_type: gtpu::msg::ECHO_REQUEST,
        seq: Some(7),
        ..gtpu::Repr::gpdu(0, 0)
    };
    seeds.push(seed(
        Iface::N3,
        &frame(
            N3_MAC,
            GNB_MAC,
            ethertype::IPV4,
            &gtpu4(GNB_IP, N3_IP, 2152, echo, &[]),
        ),
    ));
    let ies = gtpu::Ies {
        recovery: None,
        teid_data_i: Some(0x20000),
        peer_address: Some(GNB_IP.into()),
    };
    let mut p = vec![0u8; ies.wire_len()];
    ies.emit(&mut p).unwrap();
    let ei = gtpu::Repr {
        msg_type: gtpu::msg::ERROR_INDICATION,
        seq: Some(0),
        udp_port: Some(2152),
        ..gtpu::Repr::gpdu(0, 0)
    };
    seeds.push(seed(
        Iface::N3,
        &frame(
            N3_MAC,
            GNB_MAC,
            ethertype::IPV4,
            &gtpu4(GNB_IP, N3_IP, 2152, ei, &p),
        ),
    ));
    let em = gtpu::Repr {
        msg_type: gtpu::msg::END_MARKER,
        ..gtpu::Repr::gpdu(s.ul_teid, 0)
    };
    seeds.push(seed(
        Iface::N3,
        &frame(
            N3_MAC,
            GNB_MAC,
            ethertype::IPV4,
            &gtpu4(GNB_IP, N3_IP, 2152, em, &[]),
        ),
    ));
    let psc = gtpu::PduSessionContainer {
        pdu_type: gtpu::PduType::Dl,
        qfi: 5,
        rqi: true,
        ppi: Some(3),
    };
    let g = gtpu::Repr {
        psc: Some(psc),
        seq: Some(1),
        npdu: Some(2),
        ..gtpu::Repr::gpdu(s.ul_teid, 0)
    };
    seeds.push(seed(
        Iface::N9,
        &frame(
            N9_MAC,
            PEER_MAC,
            ethertype::IPV4,
            &gtpu4(PEER_IP, N9_IP, 2152, g, &udp4(s.ue, DN_IP, 1, 2, 5)),
        ),
    ));
    let mut a = [0u8; 28];
    arp::Repr {
        op: arp::Operation::Request,
        sha: GW_MAC,
        spa: GW_IP,
        tha: MacAddr::ZERO,
        tpa: N6_IP,
    }
    .emit(&mut a)
    .unwrap();
    seeds.push(seed(
        Iface::N6,
        &frame(MacAddr::BROADCAST, GW_MAC, ethertype::ARP, &a),
    ));
    arp::Repr {
        op: arp::Operation::Reply,
        sha: GNB_MAC,
        spa: GNB_IP,
        tha: N3_MAC,
        tpa: N3_IP,
    }
    .emit(&mut a)
    .unwrap();
    seeds.push(seed(Iface::N3, &frame(N3_MAC, GNB_MAC, ethertype::ARP, &a)));
    let mut ping = udp4(GW_IP, N6_IP, 0, 0, 8);
    ping[9] = 1;
    ping[20..28].copy_from_slice(&[8, 0, 0xf7, 0xfe, 0, 1, 0, 0]);
    seeds.push(seed(Iface::N6, &dl_frame(&ping)));
    let dir = corpus();
    std::fs::create_dir_all(&dir).unwrap();
    for (i, s) in seeds.iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i:02}")), s).unwrap();
    }
}
