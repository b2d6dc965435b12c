//! smf-sim against the pfcp node on a real UDP socket (pfcp-stub-upf):
//! the whole life cycle, and the JSON the demo and gNB simulator read.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

struct Stub(Child, String);

impl Drop for Stub {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start the stub UPF on an ephemeral port; return it and its address.
fn stub(extra: &[&str]) -> Stub {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pfcp-stub-upf"))
        .args(["--listen", "127.0.0.1:0", "--duration", "60"])
        .args(extra)
        .stderr(Stdio::piped())
        .spawn()
        .expect("pfcp-stub-upf starts");
    let mut line = String::new();
    BufReader::new(child.stderr.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(addr.starts_with("127.0.0.1:"), "{line}");
    Stub(child, addr)
}

fn run_sim(upf: &str, args: &[&str], json: &std::path::Path) -> (bool, serde_json::Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_smf-sim"))
        .args(["--upf", upf, "--json", json.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let doc = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    (out.status.success(), doc, stdout)
}

fn tmp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("smf-sim-test-{}-{name}.json", std::process::id()))
}

#[test]
fn full_life_cycle_with_choose() {
    let s = stub(&["--pool", "10.60.0.0/24", "--n3", "192.168.9.1"]);
    let json = tmp("life");
    let (ok, doc, stdout) = run_sim(
        &s.1,
        &[
            "-n",
            "20",
            "--window",
            "8",
            "--profile",
            "typical",
            "--modify",
            "--sndem",
            "--query",
            "--delete",
            "--release",
        ],
        &json,
    );
    assert!(ok, "{stdout}");
    let sessions = doc["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 20);
    let mut teids = std::collections::HashSet::new();
    let mut ues = std::collections::HashSet::new();
    for x in sessions {
        assert_eq!(x["ul_addr"], "192.168.9.1");
        assert!(
            teids.insert(x["ul_teid"].as_u64().unwrap()),
            "distinct TEIDs"
        );
        let ue = x["ue_ipv4"].as_str().unwrap();
        assert!(ue.starts_with("10.60.0."), "{ue}");
        assert!(ues.insert(ue.to_string()), "distinct UE addresses");
        assert_eq!(x["established"], false, "deleted at the end");
    }
    let phases: Vec<&str> = doc["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["phase"].as_str().unwrap())
        .collect();
    assert_eq!(
        phases,
        [
            "associate",
            "establish",
            "modify",
            "query",
            "delete",
            "release"
        ]
    );
    for p in doc["phases"].as_array().unwrap() {
        assert_eq!(p["accepted"], p["requests"], "{p}");
    }
    // Query and deletion each report URR 1 of every session.
    assert_eq!(doc["usage"]["reports"], 40);
    let _ = std::fs::remove_file(json);
}

#[test]
fn gnb_session_file_is_what_gnb_sim_reads() {
    let s = stub(&["--pool", "10.61.0.0/24", "--n3", "192.168.9.1"]);
    let json = tmp("gnbfmt");
    let gnb = tmp("gnbfile");
    let (ok, doc, stdout) = run_sim(
        &s.1,
        &[
            "-n",
            "5",
            "--modify",
            "--gnb-teid-start",
            "0x500",
            "--new-gnb-teid-start",
            "0x900",
            "--qfi",
            "7",
            "--gnb-sessions",
            gnb.to_str().unwrap(),
        ],
        &json,
    );
    assert!(ok, "{stdout}");
    let text = std::fs::read_to_string(&gnb).unwrap();
    let parsed =
        gnb_sim::session::parse_file_str(&text, "gnb.json", "192.168.1.1".parse().unwrap())
            .unwrap_or_else(|e| panic!("gnb-sim refuses smf-sim's file: {e}\n{text}"));
    assert_eq!(parsed.len(), 5);
    let sessions = doc["sessions"].as_array().unwrap();
    for (i, (g, x)) in parsed.iter().zip(sessions).enumerate() {
        assert_eq!(g.ue_ip.to_string(), x["ue_ipv4"].as_str().unwrap());
        assert_eq!(u64::from(g.ul_teid), x["ul_teid"].as_u64().unwrap());
        assert_eq!(g.upf_n3.to_string(), "192.168.9.1");
        assert_eq!(g.dl_teid, 0x500 + i as u32);
        assert_eq!(g.alt_dl_teids, vec![0x900 + i as u32]);
        assert_eq!(g.qfi, 7);
    }
    let _ = std::fs::remove_file(json);
    let _ = std::fs::remove_file(gnb);
}

#[test]
fn given_addresses_and_pipelined_rate() {
    let s = stub(&[]);
    let json = tmp("given");
    let (ok, doc, stdout) = run_sim(
        &s.1,
        &[
            "-n",
            "200",
            "--rate",
            "2000",
            "--window",
            "32",
            "--ue-ip-start",
            "10.70.0.1",
            "--ul-teid-start",
            "0x50000",
            "--upf-n3",
            "192.168.1.1",
        ],
        &json,
    );
    assert!(ok, "{stdout}");
    let sessions = doc["sessions"].as_array().unwrap();
    assert_eq!(sessions[0]["ue_ipv4"], "10.70.0.1");
    assert_eq!(sessions[199]["ue_ipv4"], "10.70.0.200");
    assert_eq!(sessions[5]["ul_teid"], 0x50005);
    assert!(sessions.iter().all(|x| x["established"] == true));
    let est = &doc["phases"][1];
    assert_eq!(est["accepted"], 200);
    // 200 requests at 2000/s take at least ~0.1 s.
    assert!(est["elapsed_s"].as_f64().unwrap() >= 0.09, "{est}");
    let _ = std::fs::remove_file(json);
}

#[test]
fn rejections_are_counted_and_fail_the_run() {
    // A pool of 2 addresses: the third session is refused (cause 79).
    let s = stub(&["--pool", "10.80.0.0/30"]);
    let json = tmp("reject");
    let (ok, doc, _) = run_sim(&s.1, &["-n", "3", "--window", "1"], &json);
    assert!(!ok, "exit status says something failed");
    let est = &doc["phases"][1];
    assert_eq!(est["accepted"], 2);
    assert_eq!(est["rejected"]["79"], 1);
    let _ = std::fs::remove_file(json);
}
