//! N4 over a real UDP socket: the `N4` driver served by `n4::socket::serve`
//! on 127.0.0.1 (a random port), a dataplane with one worker thread on
//! `MemIo`, and the `smf-sim` binary (tools/smf-sim) associating,
//! establishing, switching paths, querying and deleting sessions.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use dataplane::control::{Control, DataplaneConfig};
use dataplane::testkit::{self, N3_IP, TSC_HZ};
use dataplane::worker::{MemIo, Worker};
use pfcp::codec::ies::{NodeIdBuf, SourceInterface};
use pfcp::{GtpuEndpoint, UePool};
use upf::n4::socket::{N4Socket, serve};
use upf::n4::{N4, TscClock};

/// The smf-sim binary of this workspace, built if needed.
fn smf_sim() -> PathBuf {
    let mut dir = std::env::current_exe().unwrap();
    dir.pop(); // deps
    dir.pop(); // debug
    let bin = dir.join("smf-sim");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let ok = Command::new(cargo)
            .args(["build", "-q", "-p", "smf-sim"])
            .status()
            .unwrap()
            .success();
        assert!(ok, "building smf-sim");
    }
    bin
}

fn config() -> pfcp::Config {
    let mut c = pfcp::Config::new(NodeIdBuf::Ipv4(Ipv4Addr::LOCALHOST));
    c.gtpu = vec![GtpuEndpoint {
        interface: SourceInterface::ACCESS,
        ipv4: Some(N3_IP),
        ipv6: None,
        network_instance: None,
    }];
    c.ue_pools = vec![UePool {
        prefix: "10.45.0.0".parse().unwrap(),
        prefix_len: 16,
        dnn: None,
        network_instance: None,
        ue_prefix_len: 64,
    }];
    c
}

#[test]
fn smf_sim_establishes_modifies_queries_and_deletes_over_udp() {
    let sim = smf_sim();
    let mut dcfg = DataplaneConfig::new(1, TSC_HZ);
    dcfg.net = testkit::net(true);
    let (mut ctl, ports) = Control::new(dcfg);
    let stop = Arc::new(AtomicBool::new(false));
    let port = ports.into_iter().next().unwrap();
    let worker = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut w = Worker::new(port, MemIo::default());
            let mut tsc = 1;
            let mut end_markers = 0;
            while !stop.load(Ordering::Relaxed) {
                tsc += 1000;
                w.poll(tsc);
                end_markers += w.io_mut().take_tx(dataplane::iface::Iface::N3).len();
                std::thread::sleep(Duration::from_micros(100));
            }
            end_markers
        })
    };
    let now = Instant::now();
    let clock = TscClock {
        hz: TSC_HZ,
        tsc: 1,
        wall: SystemTime::now(),
    };
    let mut n4 = N4::new(config(), 1, clock, now, SystemTime::now()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        rt.block_on(async {
            let mut sock =
                N4Socket::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)).unwrap();
            addr_tx.send(sock.local_addr().unwrap()).unwrap();
            serve(&mut sock, &mut n4, &mut ctl, async {
                let _ = stop_rx.await;
            })
            .await
            .unwrap();
            (n4, ctl, sock.received, sock.sent)
        })
    });
    let upf = addr_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let json = std::env::temp_dir().join(format!("n4-smf-sim-{}.json", std::process::id()));
    let n = 300;
    let out = Command::new(&sim)
        .args([
            "--upf",
            &upf.to_string(),
            "--bind",
            "127.0.0.1:0",
            "--node-id",
            "127.0.0.1",
            "-n",
            &n.to_string(),
            "--profile",
            "typical",
            "--modify",
            "--sndem",
            "--query",
            "--delete",
            "--t1-ms",
            "1000",
            "--json",
        ])
        .arg(&json)
        .output()
        .unwrap();
    let _ = stop_tx.send(());
    let (n4, ctl, received, sent) = server.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    let end_markers = worker.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "smf-sim failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let _ = std::fs::remove_file(&json);
    for phase in doc["phases"].as_array().unwrap() {
        let name = phase["phase"].as_str().unwrap();
        let want = if name == "associate" { 1 } else { n };
        assert_eq!(phase["accepted"], want, "{name}: {phase}");
        assert_eq!(phase["timeouts"], 0, "{name}");
        assert_eq!(phase["retransmissions"], 0, "{name}: nothing lost");
        assert_eq!(phase["out_of_order"], 0, "{name}: answers in request order");
    }
    let sessions = doc["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), n);
    let mut teids: Vec<u64> = sessions
        .iter()
        .map(|s| s["ul_teid"].as_u64().unwrap())
        .collect();
    teids.sort_unstable();
    teids.dedup();
    assert_eq!(teids.len(), n, "a distinct F-TEID each");
    assert_eq!(n4.node().session_count(), 0, "all deleted");
    assert_eq!(ctl.session_count(), 0, "and out of the dataplane");
    assert_eq!(received, sent, "one answer per request");
    assert_eq!(end_markers, n, "one End Marker per path switch");
}
