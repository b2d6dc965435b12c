//! Reload phases without DPDK: parse + validate, diff, translate and one
//! dataplane publish of a file of N static sessions of which the first k
//! change, timed one by one (the profile behind perf/reload-bench.sh's
//! figures). `cargo run --release -p upf --example reload_phases -- 100000 100000 [rounds] [--full]`
//! (`--full`: publish QoS-only changes as whole sessions, as before
//! `QerUpdate`).

use std::time::Instant;

#[global_allocator]
static A: mimalloc::MiMalloc = mimalloc::MiMalloc; // as the upf binary

use dataplane::control::{Batch, Control, DataplaneConfig};
use upf::config;
use upf::translate;

fn ue_ip(i: usize) -> String {
    let n = 2 + i;
    format!("10.{}.{}.{}", 64 + (n >> 16), (n >> 8) & 255, n & 255)
}

fn text(n: usize, changed: usize) -> String {
    let mut out = String::from(
        "node_id: 192.168.1.1\ncores: { control: 0, workers: [1] }\ninterfaces:\n  n3: { device: \"net_null0\", address: 192.168.1.1/24 }\n  n6: { device: \"net_null1\", address: 10.200.0.1/24, gateway: 10.200.0.254 }\nsessions:\n",
    );
    for i in 0..n {
        let q = if i < changed { "200Mbps" } else { "100Mbps" };
        out.push_str(&format!(
            "  - {{ id: {}, ue_ip: {}, uplink: {{ teid: {:#010x} }}, downlink: {{ gnb: 192.168.1.2, teid: {:#010x}, qfi: 9 }}, qos: {{ mbr_ul: {q}, mbr_dl: {q} }} }}\n",
            i + 1,
            ue_ip(i),
            0x0100_0000 + i,
            0x0200_0000 + i
        ));
    }
    out
}

/// The reload's parse, by name for `valgrind --toggle-collect=*reload_parse*`.
#[inline(never)]
fn reload_parse(text: String, old: &config::Config) -> config::Config {
    config::parse_text(text, "b.yaml", None, Some(old)).expect("valid")
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

fn main() {
    let full = std::env::args().any(|a| a == "--full");
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter(|a| a != "--full")
        .map(|a| a.parse().expect("number"))
        .collect();
    let n = args.first().copied().unwrap_or(100_000);
    let k = args.get(1).copied().unwrap_or(n);
    let (a, b) = (text(n, 0), text(n, k));
    // Kept with its text, as `upf run` loads it.
    let old = config::parse_text(a.clone(), "a.yaml", None, None).expect("valid");
    let t = Instant::now();
    let new = config::parse(&b, "b.yaml", None).expect("valid");
    println!("parse+validate {:.1} ms", ms(t));
    let t = Instant::now();
    let again = reload_parse(b.clone(), &old);
    println!(
        "parse+validate after the running config (reload) {:.1} ms",
        ms(t)
    );
    assert!(again == new);
    let t = Instant::now();
    let d = old.diff(&new);
    println!(
        "diff {:.1} ms ({} changed)",
        ms(t),
        d.sessions_changed.len()
    );
    let (mut ctl, _ports) = Control::new(DataplaneConfig::new(1, 2_000_000_000));
    let all: Vec<_> = old
        .sessions
        .iter()
        .map(|s| translate::check_session(&old.interfaces, s).expect("ok"))
        .collect();
    let t = Instant::now();
    ctl.publish(Batch {
        upserts: all,
        removals: Vec::new(),
    })
    .expect("publish");
    println!("initial publish {:.1} ms", ms(t));
    let rounds: usize = args.get(2).copied().unwrap_or(3);
    // Reloads as `upf run` does them, one after the other in the same
    // process (the allocator's state carries over, as it does there):
    // parse after the running config, diff, translate, publish.
    let mut cur = old;
    for round in 0..rounds {
        let src = if round % 2 == 0 { &b } else { &a };
        let t = Instant::now();
        let next = reload_parse(src.clone(), &cur);
        let pa = ms(t);
        let t = Instant::now();
        let d = cur.diff(&next);
        let di = ms(t);
        let t = Instant::now();
        // As `upf run` applies a reload: QoS-only changes as updates of
        // the entries in force (`--full`: every change as an upsert).
        let mut ups = Vec::new();
        let mut qos = Vec::new();
        let mut qos_only = d.qos_only_at.iter().copied().peekable();
        for &i in &d.upserted_at {
            let s = &next.sessions[i];
            if !full && qos_only.next_if_eq(&i).is_some() {
                qos.push(translate::qos_update(s));
            } else {
                ups.push(translate::session(&next.interfaces, s).expect("ok"));
            }
        }
        let tr = ms(t);
        let t = Instant::now();
        ctl.publish_changes(
            Batch {
                upserts: ups,
                removals: Vec::new(),
            },
            &qos,
            None,
        )
        .expect("publish");
        let p = ms(t);
        let t = Instant::now();
        drop(std::mem::replace(&mut cur, next));
        let dr = ms(t);
        let t = Instant::now();
        ctl.reclaim();
        let r = ms(t);
        println!(
            "round {round}: parse {pa:.1} ms, diff {di:.1} ms, translate {tr:.1} ms, publish {p:.1} ms, total {:.1} ms; then drop the old config {dr:.1} ms, reclaim {r:.1} ms",
            pa + di + tr + p
        );
    }
}
