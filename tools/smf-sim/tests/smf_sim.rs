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
