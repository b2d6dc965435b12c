//! The `upf` binary as users and scripts run it: `--version`, `check` on
//! good and bad files (exit status, error text, effective config), and
//! `run`: API up, SIGHUP reload (applied, rejected for a bad file, refused
//! for a restart-only change), clean exit 0 on SIGTERM and SIGINT, a
//! device DPDK cannot open (exit 1, nothing left behind), and readiness
//! to systemd (READY=1, STOPPING=1).

mod common;

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const UPF: &str = env!("CARGO_BIN_EXE_upf");

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("upfcfg-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn config(prefix: &str, extra: &str) -> String {
    format!(
        "\
node_id: 192.168.1.1
dpdk:
  args: [--no-huge, -m, '256', --no-pci, --file-prefix, {prefix}]
  mbufs: 8192
cores: {{ control: 0, workers: [1] }}
interfaces:
  n3: {{ device: net_null0, address: 192.168.1.1/24 }}
  n6: {{ device: net_null1, address: 10.200.0.1/24, gateway: 10.200.0.254 }}
api: {{ listen: 127.0.0.1:0 }}
dataplane: {{ idle_backoff: {{ enabled: true, empty_polls: 64, sleep: 200us }} }}
{extra}"
    )
}

const SESSION: &str = "\
sessions:
  - id: 1
    ue_ip: 10.45.0.2
    uplink: { teid: 0x100 }
    downlink: { gnb: 192.168.1.2, teid: 0x200 }
";

fn upf(args: &[&str]) -> std::process::Output {
    Command::new(UPF)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run upf")
}

#[test]
fn version_names_the_build() {
    let out = upf(&["--version"]);
    assert!(out.status.success());
    let v = String::from_utf8(out.stdout).unwrap();
    assert!(
        v.starts_with(&format!("upf {} (git ", env!("CARGO_PKG_VERSION"))),
        "{v}"
    );
}

#[test]
fn check_prints_the_effective_config_and_exits_0() {
    let d = TempDir::new("check-ok");
    let p = d.write("good.yaml", &config("upfcfg-check", SESSION));
    let out = upf(&["check", "--config", p.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(
        printed.contains("heartbeat_interval: 5s"),
        "defaults filled in:\n{printed}"
    );
    // What check prints is itself a valid config.
    let again = d.write("again.yaml", &printed);
    assert_eq!(
        upf(&["check", "-q", "-c", again.to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );
    assert!(
        upf(&["check", "-q", "-c", again.to_str().unwrap()])
            .stdout
            .is_empty()
    );
}

#[test]
fn check_rejects_bad_files_with_position_and_exit_1() {
    let d = TempDir::new("check-bad");
    let p = d.write("bad.yaml", &config("upfcfg-check", "sessions:\n  - { id: 1, ue_ip: 10.45.0.2, uplink: { teid: 0x100 }, downlink: { gnb: 192.168.1.2, teid: 0x200 }, qos: { mbr_ul: 5 MBps } }\n"));
    let out = upf(&["check", "--config", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    let first = err.lines().next().unwrap();
    let expected_prefix = format!("{}:12:", p.display());
    assert!(first.starts_with(&expected_prefix), "{first}");
    assert!(first.contains(": sessions[0].qos.mbr_ul: "), "{first}");
    assert!(first.contains("bytes per second"), "{first}");

    let missing = d.0.join("nope.yaml");
    let out = upf(&["check", "-c", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));

    // A config for a bigger machine: only host checks fail.
    let big = d.write(
        "big.yaml",
        &config("upfcfg-check", "").replace("workers: [1]", "workers: [1, 100]"),
    );
    assert_eq!(
        upf(&["check", "-q", "-c", big.to_str().unwrap()])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        upf(&[
            "check",
            "-q",
            "--no-host-checks",
            "-c",
            big.to_str().unwrap()
        ])
        .status
        .code(),
        Some(0)
    );
}

#[test]
fn run_refuses_a_bad_config_with_exit_1() {
    let d = TempDir::new("run-bad");
    let p = d.write("bad.yaml", "node_id: 1.2.3.4\ncolour: red\n");
    let out = upf(&["run", "--config", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains(&format!("{}:2:1: colour: unknown key", p.display())),
        "{err}"
    );
    assert!(!err.contains("API on"), "nothing may start: {err}");
}

/// A running `upf` whose stderr lines arrive on a channel. Holds the DPDK
/// test lock while it lives.
struct Running {
    child: Child,
    /// The EAL `--file-prefix` of its config: its runtime directory is
    /// removed if the test ends without a clean stop.
    prefix: String,
    _lock: std::fs::File,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(config: &Path, prefix: &str) -> Self {
        Self::start_with(config, prefix, &[])
    }

    fn start_with(config: &Path, prefix: &str, env: &[(&str, &std::ffi::OsStr)]) -> Self {
        let lock = common::dpdk_lock();
        let mut child = Command::new(UPF)
            .envs(env.iter().copied())
            .args(["run", "--config", config.to_str().unwrap()])
            .env_remove("RUST_LOG")
            .stderr(Stdio::piped())
            .spawn()
            .expect("start upf run");
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            prefix: prefix.to_owned(),
            _lock: lock,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits (up to 10 s) for a log line containing `needle`.
    fn wait_line(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if l.contains(needle) {
                        return l;
                    }
                }
                Err(_) => break,
            }
        }
        panic!(
            "no log line with {needle:?}; saw:\n{}",
            self.seen.join("\n")
        );
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    }

    /// Waits (up to 5 s) for the exit status.
    fn wait_exit(&mut self) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        panic!("upf did not exit within 5 s");
    }
}

impl Drop for Running {
    /// A test that fails half-way still stops `upf` the clean way (SIGTERM),
    /// then by force, and removes what a killed EAL leaves behind.
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline && self.child.try_wait().ok().flatten().is_none() {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(common::eal_runtime_dir(&self.prefix));
    }
}

fn api_addr(line: &str) -> SocketAddr {
    let rest = line.split("http://").nth(1).unwrap();
    rest.split_whitespace().next().unwrap().parse().unwrap()
}

async fn status(addr: SocketAddr) -> serde_json::Value {
    let r = common::get(addr, "/status", None).await;
    serde_json::from_str(&r.body).unwrap()
}

/// Polls /status until `pred` holds (up to 10 s).
async fn wait_status(
    addr: SocketAddr,
    what: &str,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let doc = status(addr).await;
        if pred(&doc) {
            return doc;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; last status: {doc}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn run_serves_reloads_on_sighup_and_stops_on_sigterm() {
    let d = TempDir::new("run");
    let prefix = format!("upfcfg-run-{}", std::process::id());
    let path = d.write("upf.yaml", &config(&prefix, ""));
    let mut upf = Running::start(&path, &prefix);
    let addr = api_addr(&upf.wait_line("API on http://"));

    let doc = wait_status(addr, "running", |d| d["state"] == "running").await;
    assert_eq!(doc["sessions"]["static"], 0);
    assert_eq!(doc["interfaces"][0]["device"], "net_null0");

    // A valid change: a session added, applied live.
    std::fs::write(&path, config(&prefix, SESSION)).unwrap();
    upf.signal("-HUP");
    let doc = wait_status(addr, "an applied reload", |d| d["reloads"]["applied"] == 1).await;
    assert_eq!(doc["reloads"]["last"]["summary"], "sessions +1 -0 ~0");
    assert_eq!(doc["sessions"]["static"], 1);

    // An invalid file: rejected with the check error; the config stays.
    std::fs::write(
        &path,
        config(&prefix, SESSION).replace("teid: 0x100", "teid: 0x1234"),
    )
    .unwrap();
    upf.signal("-HUP");
    let doc = wait_status(addr, "a rejected reload", |d| d["reloads"]["rejected"] == 1).await;
    let summary = doc["reloads"]["last"]["summary"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        summary.starts_with(&format!(
            "{}:14:21: sessions[0].uplink.teid:",
            path.display()
        )),
        "{summary}"
    );
    assert_eq!(doc["sessions"]["static"], 1);

    // A restart-only change: refused by name.
    std::fs::write(
        &path,
        config(&prefix, SESSION).replace("net_null0", "net_null7"),
    )
    .unwrap();
    upf.signal("-HUP");
    let doc = wait_status(addr, "a refused reload", |d| d["reloads"]["rejected"] == 2).await;
    let summary = doc["reloads"]["last"]["summary"].as_str().unwrap();
    assert!(
        summary.contains("restart") && summary.contains("interfaces.n3.device"),
        "{summary}"
    );

    // The metrics agree.
    let m = common::get(addr, "/metrics", None).await.body;
    assert!(
        m.contains("upf_config_reloads_total{result=\"rejected\"} 2"),
        "{m}"
    );
    assert!(
        m.contains("upf_config_reloads_total{result=\"applied\"} 1"),
        "{m}"
    );

    let t0 = Instant::now();
    upf.signal("-TERM");
    assert_eq!(upf.wait_exit(), Some(0));
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "stop took {:?}",
        t0.elapsed()
    );
    upf.wait_line("final n3");
}

#[test]
fn run_stops_on_sigint_with_exit_0() {
    let d = TempDir::new("run-int");
    let prefix = format!("upfcfg-int-{}", std::process::id());
    let path = d.write("upf.yaml", &config(&prefix, ""));
    let mut upf = Running::start(&path, &prefix);
    upf.wait_line("running:");
    upf.signal("-INT");
    assert_eq!(upf.wait_exit(), Some(0));
    assert!(
        !common::eal_runtime_dir(&prefix).exists(),
        "runtime dir left behind"
    );
}

/// A config naming devices DPDK cannot open: exit 1 with an error naming
/// the device and the driver's reason, no worker left, the EAL runtime
/// directory removed.
#[test]
fn run_refuses_a_device_dpdk_cannot_open() {
    let d = TempDir::new("run-baddev");
    for (tag, device, reason) in [
        (
            "pcap",
            "net_pcap0,rx_pcap=/nonexistent/in.pcap,tx_pcap=/nonexistent/out.pcap",
            "Couldn't open /nonexistent/in.pcap",
        ),
        ("nodrv", "net_nosuchdriver0", "no DPDK bus or driver"),
        ("devargs", "net_null2,no_such_arg=1", "the driver refused"),
    ] {
        let prefix = format!("upfcfg-baddev-{tag}-{}", std::process::id());
        let text = config(&prefix, "").replace("device: net_null1", &format!("device: '{device}'"));
        let p = d.write(&format!("{tag}.yaml"), &text);
        let _lock = common::dpdk_lock();
        let t0 = Instant::now();
        let out = upf(&["run", "--config", p.to_str().unwrap()]);
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(1), "{tag}: {err}");
        assert!(
            err.contains(&format!(
                "interfaces.n6.device: cannot open device {device:?}"
            )),
            "{tag}: the error names the key and the device: {err}"
        );
        assert!(err.contains(reason), "{tag}: the driver's reason: {err}");
        assert!(!err.contains("polling"), "{tag}: no worker started: {err}");
        assert!(
            !common::eal_runtime_dir(&prefix).exists(),
            "{tag}: EAL runtime dir {} left behind",
            common::eal_runtime_dir(&prefix).display()
        );
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "{tag}: took {:?}",
            t0.elapsed()
        );
    }
}

/// Readiness for systemd's Type=notify: READY=1 once the ports are up and
/// the workers poll (and /status says running), STOPPING=1 on SIGTERM.
#[test]
fn run_notifies_systemd_ready_and_stopping() {
    use std::os::unix::net::UnixDatagram;
    let d = TempDir::new("run-notify");
    let prefix = format!("upfcfg-notify-{}", std::process::id());
    let path = d.write("upf.yaml", &config(&prefix, ""));
    let sock_path = d.0.join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut upf = Running::start_with(&path, &prefix, &[("NOTIFY_SOCKET", sock_path.as_os_str())]);
    let mut buf = [0u8; 512];
    let n = sock.recv(&mut buf).expect("a notification within 20 s");
    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(msg.lines().any(|l| l == "READY=1"), "{msg}");
    // READY comes after the workers run: the log says so first.
    upf.wait_line("worker(s) polling");
    upf.signal("-TERM");
    let n = sock.recv(&mut buf).expect("STOPPING=1 after SIGTERM");
    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(msg.lines().any(|l| l == "STOPPING=1"), "{msg}");
    assert_eq!(upf.wait_exit(), Some(0));
    assert!(
        !common::eal_runtime_dir(&prefix).exists(),
        "runtime dir left behind"
    );
}
