//! Cross-checks what the pipeline emits with an independent dissector:
//! tshark (Wireshark) decodes the GTP-U frames we send. Skipped, loudly,
//! where tshark is not installed (`apt-get install tshark`).

use dataplane::control::Batch;
use dataplane::iface::Iface;
use dataplane::testkit::*;
use dataplane::wire::{ethernet::ethertype, gtpu};
use dataplane::worker::{MemIo, Worker};
use std::process::Command;

fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
    // Classic libpcap: magic, v2.4, zone 0, sigfigs 0, snaplen, LINKTYPE_ETHERNET.
    let mut v = Vec::new();
    v.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&4u16.to_le_bytes());
    for w in [0u32, 0, 65535, 1] {
        v.extend_from_slice(&w.to_le_bytes());
    }
    for (i, f) in frames.iter().enumerate() {
        let len = u32::try_from(f.len()).unwrap();
        for w in [u32::try_from(i).unwrap(), 0, len, len] {
            v.extend_from_slice(&w.to_le_bytes());
        }
        v.extend_from_slice(f);
    }
    v
}

#[test]
fn tshark_decodes_what_we_send() {
    if Command::new("tshark").arg("--version").output().is_err() {
        eprintln!("SKIPPED: tshark is not installed");
        return;
    }
    let (mut ctl, mut ports) = dataplane(1, true);
    let spec = SessionSpec::nth(0);
    let mut s = session(&spec);
    s.qers[0].rqi = true;
    ctl.publish(Batch {
        upserts: vec![s],
        removals: vec![],
    })
    .unwrap();
    let mut w = Worker::new(ports.remove(0), MemIo::default());
    let ul_in = ul_frame(spec.ul_teid, 9, &udp4(spec.ue, DN_IP, 1000, 53, 40));
    w.io_mut()
        .push_rx(Iface::N6, &dl_frame(&udp4(DN_IP, spec.ue, 53, 1000, 100)));
    let echo = gtpu::Repr {
        msg_type: gtpu::msg::ECHO_REQUEST,
        seq: Some(0x1234),
        ..gtpu::Repr::gpdu(0, 0)
    };
    w.io_mut().push_rx(
        Iface::N3,
        &frame(
            N3_MAC,
            GNB_MAC,
            ethertype::IPV4,
            &gtpu4(GNB_IP, N3_IP, 2152, echo, &[]),
        ),
    );
    w.io_mut().push_rx(
        Iface::N3,
        &ul_frame(0xdead, 9, &udp4(spec.ue, DN_IP, 1000, 53, 40)),
    );
    w.poll(1_000_000_000);
    let mut frames = vec![ul_in];
    frames.extend(w.io_mut().take_tx(Iface::N3));
    assert_eq!(
        frames.len(),
        4,
        "input UL, echo response, error indication, DL G-PDU"
    );
    let dir = std::env::temp_dir().join(format!("dataplane-dissector-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("out.pcap");
    std::fs::write(&file, pcap(&frames)).unwrap();
    let out = Command::new("tshark")
        .args([
            "-n",
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "udp.check_checksum:TRUE",
            "-r",
        ])
        .arg(&file)
        .args(["-T", "fields", "-E", "separator=|", "-E", "occurrence=f"])
        .args([
            "-e",
            "ip.src",
            "-e",
            "ip.dst",
            "-e",
            "ip.checksum.status",
            "-e",
            "udp.dstport",
            "-e",
            "gtp.message",
        ])
        .args([
            "-e",
            "gtp.teid",
            "-e",
            "gtp.ext_hdr.pdu_ses_con.pdu_type",
            "-e",
            "gtp.ext_hdr.pdu_ses_con.qos_flow_id",
        ])
        .args([
            "-e",
            "gtp.teid_data",
            "-e",
            "gtp.gsn_ipv4",
            "-e",
            "gtp.recovery",
            "-e",
            "gtp.seq_number",
            "-e",
            "gtp.ext_hdr.udp_port",
        ])
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('|').collect()).collect();
    eprintln!("{text}");
    assert_eq!(rows.len(), 4);
    let col = |r: usize, c: usize| rows[r][c].to_owned();
    // 0: our UL input (the golden layout in wire::gtpu): UL PSC, QFI 9.
    assert_eq!((col(0, 6), col(0, 7)), ("1".into(), "9".into()));
    for r in 1..4 {
        assert_eq!(
            col(r, 2),
            "1",
            "tshark: outer IPv4 header checksum good in frame {r}"
        );
        assert_eq!(col(r, 3), "2152");
        assert_eq!(
            (col(r, 0), col(r, 1)),
            (N3_IP.to_string(), GNB_IP.to_string())
        );
    }
    // 1: Echo Response with the request's sequence number and Recovery.
    assert_eq!(col(1, 4), "0x02");
    assert_eq!(col(1, 10), "0");
    assert_eq!(col(1, 11), "0x1234");
    // 2: Error Indication about TEID 0xdead, naming our N3 address and the
    // G-PDU's source port.
    assert_eq!(col(2, 4), "0x1a");
    assert_eq!(col(2, 8), "0x0000dead");
    assert_eq!(col(2, 9), N3_IP.to_string());
    assert_eq!(col(2, 12), "40000");
    // 3: downlink G-PDU toward the gNB: DL PDU SESSION INFORMATION, QFI 9.
    assert_eq!(col(3, 4), "0xff");
    assert_eq!(col(3, 5), format!("0x{:08x}", spec.dl_teid));
    assert_eq!((col(3, 6), col(3, 7)), ("0".into(), "9".into()));
}

/// The Supported Extension Headers Notification we send for an unknown
/// comprehension-required extension header decodes in tshark as message
/// 31 with an Extension Header Type List of our five types.
#[test]
fn tshark_decodes_supported_extension_headers_notification() {
    if Command::new("tshark").arg("--version").output().is_err() {
        eprintln!("SKIPPED: tshark is not installed");
        return;
    }
    let (mut ctl, mut ports) = dataplane(1, true);
    let spec = SessionSpec::nth(0);
    ctl.publish(Batch {
        upserts: vec![session(&spec)],
        removals: vec![],
    })
    .unwrap();
    let mut w = Worker::new(ports.remove(0), MemIo::default());
    let mut f = ul_frame(spec.ul_teid, 9, &udp4(spec.ue, DN_IP, 1000, 53, 40));
    f[53] = 0x84; // NR RAN Container: comprehension required, not ours
    w.io_mut().push_rx(Iface::N3, &f);
    w.poll(1_000_000_000);
    let sent = w.io_mut().take_tx(Iface::N3);
    assert_eq!(sent.len(), 1);
    let dir = std::env::temp_dir().join(format!("dataplane-sehn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("sehn.pcap");
    std::fs::write(&file, pcap(&sent)).unwrap();
    let out = Command::new("tshark")
        .args(["-n", "-o", "udp.check_checksum:TRUE", "-r"])
        .arg(&file)
        .args(["-T", "fields", "-E", "separator=|", "-E", "occurrence=a"])
        .args(["-e", "gtp.message", "-e", "gtp.teid", "-e", "udp.dstport"])
        .args(["-e", "gtp.num_ext_hdr_types", "-e", "gtp.ext_hdr_type"])
        .args(["-e", "_ws.malformed", "-e", "_ws.expert"])
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    eprintln!("{text}");
    let row: Vec<&str> = text.trim_end().split('|').collect();
    assert_eq!(row[..4], ["0x1f", "0x00000000", "2152", "5"]);
    let types: Vec<u32> = row[4]
        .split(',')
        .map(|t| match t.strip_prefix("0x") {
            Some(h) => u32::from_str_radix(h, 16).unwrap(),
            None => t.parse().unwrap(),
        })
        .collect();
    assert_eq!(types, [0x20, 0x40, 0x82, 0x85, 0xc0]);
    assert_eq!(row[5], "", "tshark finds the frame malformed");
}
