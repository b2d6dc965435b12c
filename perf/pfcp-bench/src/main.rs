//! PFCP micro-benchmarks: nanoseconds and heap allocations to decode and
//! encode typical N4 messages, and to process a Session Establishment
//! Request through the sans-IO node. Prints a table and writes one JSON
//! file in the results format of ARCHITECTURE.md (`bench: "pfcp"`).
//!
//! Usage: `pfcp-bench [--quick] [--out DIR]` (build with `--release`).

use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Instant;

use anyhow::{Context, Result};
use pfcp::codec::message::Pfcp;
use pfcp::sample::{self, SessionParams};
use serde_json::json;

mod node_bench;

const SMF: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const UPF: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

/// One measured figure.
pub struct Row {
    pub op: &'static str,
    pub message: &'static str,
    pub bytes: usize,
    pub ns: f64,
    pub allocs: u64,
}

/// Median over `rounds` of the mean time per call of `f` over `iters` calls.
pub fn time_ns(rounds: usize, iters: usize, mut f: impl FnMut()) -> f64 {
    let mut v: Vec<f64> = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            t.elapsed().as_nanos() as f64 / iters as f64
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Heap allocations made by one call of `f` (after a warm-up call).
pub fn allocs(mut f: impl FnMut()) -> u64 {
    f();
    allocation_counter::measure(f).count_total
}

fn messages() -> Vec<(&'static str, Pfcp<'static>)> {
    let p = SessionParams {
        cp_seid: 7,
        smf_addr: SMF,
        ue_ip: None,
        ul_teid: None,
        gnb: None,
    };
    vec![
        (
            "heartbeat_request",
            Pfcp::node(
                1,
                pfcp::codec::message::HeartbeatRequest {
                    recovery_time_stamp: 1,
                },
            ),
        ),
        (
            "association_setup_request",
            sample::association_setup_request(2, SMF, 1),
        ),
        (
            "session_establishment_request_4pdr",
            sample::establishment_request(3, &p),
        ),
        (
            "session_establishment_response",
            sample::establishment_response(3, 7, UPF, 1, 0x1000, Ipv4Addr::new(10, 45, 0, 2)),
        ),
        (
            "session_modification_request_path_switch",
            sample::path_switch_request(4, 1, 0x300, Ipv4Addr::new(10, 0, 1, 1), true),
        ),
        ("session_deletion_request", sample::deletion_request(5, 1)),
        ("session_report_request_usage", sample::report_request(6, 7)),
    ]
}

fn codec_rows(quick: bool) -> Vec<Row> {
    let (rounds, iters) = if quick { (5, 20_000) } else { (15, 100_000) };
    let mut rows = Vec::new();
    for (name, m) in messages() {
        let mut buf = Vec::with_capacity(2048);
        m.encode(&mut buf).expect("encodes");
        let bytes = buf.clone();
        let ns = time_ns(rounds, iters, || {
            let d = Pfcp::decode(black_box(&bytes)).expect("decodes");
            black_box(&d);
        });
        let a = allocs(|| {
            black_box(Pfcp::decode(black_box(&bytes)).expect("decodes"));
        });
        rows.push(Row {
            op: "decode",
            message: name,
            bytes: bytes.len(),
            ns,
            allocs: a,
        });
        let ns = time_ns(rounds, iters, || {
            buf.clear();
            black_box(&m).encode(&mut buf).expect("encodes");
            black_box(&buf);
        });
        let a = allocs(|| {
            buf.clear();
            black_box(&m).encode(&mut buf).expect("encodes");
        });
        rows.push(Row {
            op: "encode",
            message: name,
            bytes: bytes.len(),
            ns,
            allocs: a,
        });
    }
    rows
}

fn machine() -> serde_json::Value {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let get = |k: &str| {
        info.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split(':').nth(1))
            .map(|v| v.trim().to_string())
    };
    let mhz = get("cpu MHz")
        .and_then(|m| m.parse::<f64>().ok())
        .map(|m| m.round() as u64);
    json!({
        "cpu": get("model name"),
        "mhz": mhz,
        "cores": std::thread::available_parallelism().map(std::num::NonZero::get).ok(),
    })
}

/// UTC date-time in RFC 3339, whole seconds.
fn utc_now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn git_rev() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `--loop OP MESSAGE N`: run one operation N times and nothing else, for
/// `valgrind --tool=callgrind` (instruction counts are repeatable where
/// wall-clock time on a shared machine is not).
fn run_loop(op: &str, name: &str, n: usize) -> Result<()> {
    let (_, m) = messages()
        .into_iter()
        .find(|(n2, _)| *n2 == name)
        .context("unknown message")?;
    let mut buf = Vec::with_capacity(2048);
    m.encode(&mut buf)?;
    let bytes = buf.clone();
    for _ in 0..n {
        match op {
            "decode" => {
                black_box(Pfcp::decode(black_box(&bytes)).expect("decodes"));
            }
            _ => {
                buf.clear();
                black_box(&m).encode(&mut buf)?;
            }
        }
    }
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--loop") {
        let n = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1000);
        if args[1].starts_with("node_") {
            node_bench::run_loop(&args[1], &args[2], n);
            return Ok(());
        }
        return run_loop(&args[1], &args[2], n);
    }
    let quick = args.iter().any(|a| a == "--quick");
    let out_dir = args
        .iter()
        .position(|a| a == "--out")
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| "perf/results".to_string());
    if cfg!(debug_assertions) {
        eprintln!("warning: debug build; run with `cargo run --release -p pfcp-bench`");
    }

    let mut rows = codec_rows(quick);
    rows.extend(node_bench::rows(quick));

    println!(
        "{:<8} {:<42} {:>6} {:>10} {:>7}",
        "op", "message", "bytes", "ns", "allocs"
    );
    for r in &rows {
        println!(
            "{:<8} {:<42} {:>6} {:>10.0} {:>7}",
            r.op, r.message, r.bytes, r.ns, r.allocs
        );
    }

    let results: Vec<_> = rows
        .iter()
        .map(|r| {
            json!({
                "bench": "pfcp", "op": r.op, "message": r.message, "bytes": r.bytes,
                "ns": (r.ns * 10.0).round() / 10.0, "allocs": r.allocs,
                "per_sec": (1e9 / r.ns).round(),
                "mpps": null, "cycles_per_pkt": null, "instr_per_pkt": null,
            })
        })
        .collect();
    let command = std::iter::once("pfcp-bench".to_string())
        .chain(args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    let doc = json!({
        "date": utc_now(),
        "git": git_rev(),
        "command": command,
        "machine": machine(),
        "note": "shared 2-vCPU machine: compare figures only within one run",
        "results": results,
    });
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {out_dir}"))?;
    let path = format!("{out_dir}/pfcp-{}.json", utc_now().replace(':', ""));
    std::fs::write(&path, serde_json::to_string_pretty(&doc)?)
        .with_context(|| format!("writing {path}"))?;
    println!("wrote {path}");
    let _ = SocketAddr::from((SMF, 8805));
    Ok(())
}
