//! `loadgen --dump-pcap` writes the frames the generator sends; tshark, an
//! independent dissector, must read them as valid GTP-U (UL, with the PDU
//! Session Container type UL and the QFI) and plain IPv4 (DL), every length
//! field consistent with the frame, IPv4 checksums good, no malformed
//! packet or expert warning, and each TEID / UE address / outer source port
//! must belong to one session of the plan that `perf/gen/sessions.py` uses
//! (session i: UE 10.45.0.2 + i, UL TEID 0x01000000 + i, port 0xC000 | i).
//!
//! Needs `tshark` (Debian package `tshark`; scripts/test.sh installs it).

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Command;

const FIELDS: &[&str] = &[
    "frame.number",
    "frame.len",
    "ip.src",
    "ip.dst",
    "ip.len",
    "udp.srcport",
    "udp.dstport",
    "udp.length",
    "gtp.teid",
    "gtp.length",
    "gtp.ext_hdr.pdu_ses_con.pdu_type",
    "gtp.ext_hdr.pdu_ses_con.qos_flow_id",
    "ip.checksum.status",
    "_ws.expert.severity",
    "_ws.malformed",
    "_ws.expert.message",
];
/// Wireshark's PI_WARN.
const EXPERT_WARN: u32 = 0x60_0000;

struct Row(Vec<Vec<String>>);

impl Row {
    fn get(&self, f: &str) -> &[String] {
        let i = FIELDS.iter().position(|x| *x == f).unwrap();
        &self.0[i]
    }
    fn num(&self, f: &str, k: usize) -> u64 {
        self.get(f)[k].parse().unwrap()
    }
}

fn tmpdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("loadgen-tshark-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn dump(args: &[&str], pcap: &PathBuf) {
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .arg("--dump-pcap")
        .arg(pcap)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "loadgen --dump-pcap: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn tshark(pcap: &PathBuf) -> Vec<Row> {
    let mut cmd = Command::new("tshark");
    cmd.args(["-n", "-r"])
        .arg(pcap)
        .args([
            "-o",
            "ip.check_checksum:TRUE",
            "-T",
            "fields",
            "-E",
            "separator=\t",
        ])
        .args(["-E", "occurrence=a", "-E", "aggregator=|"]);
    for f in FIELDS {
        cmd.args(["-e", f]);
    }
    let out = cmd
        .output()
        .expect("tshark must be installed (apt-get install tshark) for this test");
    assert!(
        out.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let mut cols: Vec<Vec<String>> = l
                .split('\t')
                .map(|c| {
                    if c.is_empty() {
                        vec![]
                    } else {
                        c.split('|').map(str::to_owned).collect()
                    }
                })
                .collect();
            cols.resize(FIELDS.len(), vec![]);
            Row(cols)
        })
        .collect()
}

fn ip_index(ip: &str, first: [u8; 4]) -> u64 {
    let a: Vec<u64> = ip.split('.').map(|x| x.parse().unwrap()).collect();
    let v = (a[0] << 24) | (a[1] << 16) | (a[2] << 8) | a[3];
    let f = (u64::from(first[0]) << 24)
        | (u64::from(first[1]) << 16)
        | (u64::from(first[2]) << 8)
        | u64::from(first[3]);
    v - f
}

fn check(sessions: u64, inner: u64, psc: bool) {
    let dir = tmpdir();
    let pcap = dir.join(format!("dump-{inner}-{psc}.pcap"));
    let n = sessions.to_string();
    let size = inner.to_string();
    let mut args = vec![
        "-n",
        &n,
        "--inner-bytes",
        &size,
        "--traffic",
        "bidir",
        "--dump-count",
        &n,
    ];
    if !psc {
        args.push("--no-psc");
    }
    dump(&args, &pcap);
    let rows = tshark(&pcap);
    assert_eq!(
        rows.len() as u64,
        2 * sessions,
        "one UL and one DL frame per session"
    );
    let mut ul_seen = HashSet::new();
    let mut dl_seen = HashSet::new();
    let overhead = 14 + 20 + 8 + 8 + if psc { 8 } else { 0 };
    for r in &rows {
        let id = &r.get("frame.number")[0];
        let sev: Vec<u32> = r
            .get("_ws.expert.severity")
            .iter()
            .map(|s| u32::from_str_radix(s.trim_start_matches("0x"), 16).unwrap())
            .collect();
        assert!(
            r.get("_ws.malformed").is_empty() && sev.iter().all(|s| *s < EXPERT_WARN),
            "#{id}: tshark complains: {:?}",
            r.get("_ws.expert.message")
        );
        assert!(
            r.get("ip.checksum.status").iter().all(|s| s == "1"),
            "#{id}: IPv4 checksum not good (status 1 = good): {:?}",
            r.get("ip.checksum.status")
        );
        let flen = r.num("frame.len", 0);
        if r.get("gtp.teid").is_empty() {
            // DL: DN server -> UE, plain IPv4/UDP.
            assert_eq!(r.get("ip.src"), ["198.51.100.1"], "#{id}");
            assert_eq!(flen, 14 + inner, "#{id}");
            assert_eq!(r.num("ip.len", 0), inner);
            assert_eq!(r.num("udp.length", 0), inner - 20);
            assert_eq!(
                (r.num("udp.srcport", 0), r.num("udp.dstport", 0)),
                (5001, 40000)
            );
            let i = ip_index(&r.get("ip.dst")[0], [10, 45, 0, 2]);
            assert!(
                i < sessions && dl_seen.insert(i),
                "#{id}: UE {:?}",
                r.get("ip.dst")
            );
        } else {
            // UL: gNB -> UPF N3, G-PDU around UE -> DN server.
            assert_eq!(
                r.get("ip.src"),
                ["192.168.1.2", &r.get("ip.src")[1]],
                "#{id}"
            );
            assert_eq!(r.get("ip.dst"), ["192.168.1.1", "198.51.100.1"], "#{id}");
            assert_eq!(flen, overhead + inner, "#{id}");
            assert_eq!(r.num("ip.len", 0), flen - 14);
            assert_eq!(r.num("ip.len", 1), inner);
            assert_eq!(r.num("udp.length", 0), flen - 34);
            assert_eq!(r.num("udp.length", 1), inner - 20);
            assert_eq!(r.num("gtp.length", 0), flen - 42 - 8);
            assert_eq!(r.num("udp.dstport", 0), 2152);
            let i = ip_index(&r.get("ip.src")[1], [10, 45, 0, 2]);
            let teid =
                u64::from_str_radix(r.get("gtp.teid")[0].trim_start_matches("0x"), 16).unwrap();
            assert_eq!(teid, 0x0100_0000 + i, "#{id}: TEID of another session");
            assert_eq!(
                r.num("udp.srcport", 0),
                0xC000 | (i & 0x3FFF),
                "#{id}: outer source port"
            );
            if psc {
                assert_eq!(
                    r.get("gtp.ext_hdr.pdu_ses_con.pdu_type"),
                    ["1"],
                    "#{id}: PSC type UL"
                );
                assert_eq!(
                    r.get("gtp.ext_hdr.pdu_ses_con.qos_flow_id"),
                    ["9"],
                    "#{id}: QFI"
                );
            } else {
                assert!(r.get("gtp.ext_hdr.pdu_ses_con.pdu_type").is_empty());
            }
            assert!(
                i < sessions && ul_seen.insert(i),
                "#{id}: session {i} twice or out of range"
            );
        }
    }
    assert_eq!(ul_seen.len() as u64, sessions);
    assert_eq!(dl_seen.len() as u64, sessions);
    std::fs::remove_file(&pcap).unwrap();
}

#[test]
fn dumped_frames_are_valid_per_tshark_64b() {
    check(1000, 64, true);
}

#[test]
fn dumped_frames_are_valid_per_tshark_1400b() {
    check(300, 1400, true);
}

#[test]
fn dumped_frames_are_valid_per_tshark_without_psc() {
    check(300, 64, false);
}

#[test]
fn dump_refuses_a_plan_sessions_py_refuses() {
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["-n", "70000", "--dump-pcap", "/nonexistent/x.pcap"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("do not fit in UE pool"), "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["--inner-bytes", "40", "--dump-pcap", "/nonexistent/x.pcap"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--inner-bytes 40"));
}
