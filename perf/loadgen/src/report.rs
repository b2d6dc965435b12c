//! Output: a line per trial and a summary for people, and the results
//! document of ARCHITECTURE.md ("Benchmark results": `bench: "e2e"`,
//! `mpps`, `loss`, `p50_us`/`p99_us`/`p999_us`, unknown figures `null`)
//! for `perf/e2e-bench.sh` and other scripts.

use serde::Serialize;
use serde_json::{Value, json};

use crate::engine::TrialReport;
use crate::search::SearchResult;
use crate::stats::Latency;

/// One line for a finished trial.
#[must_use]
pub fn trial_line(what: &str, t: &TrialReport) -> String {
    let mut s = format!(
        "{what:<8} #{:<3} target {:>8.4} offered {:>8.4} Mpps/dir {:>5.2} s  loss {:>8.4} %",
        t.trial,
        t.target_mpps_per_dir,
        t.offered_mpps_per_dir,
        t.duration_s,
        t.loss * 100.0
    );
    for d in &t.directions {
        let l = &d.latency;
        s.push_str(&format!(
            " | {} rx {:.4} Mpps {:.3} Gbps lost {} reord {} bad {} lat p50 {} p99 {} max {} us",
            d.direction,
            d.rx_mpps,
            d.rx_gbps,
            d.lost,
            d.reordered,
            d.mismatched.total(),
            opt(l.p50_us),
            opt(l.p99_us),
            opt(l.max_us)
        ));
        if d.tx.skipped > 0 {
            s.push_str(&format!(" (generator skipped {})", d.tx.skipped));
        }
    }
    if let Some(c) = t.generator_cpu {
        s.push_str(&format!(" | cpu: gen {:.0} %", c.run * 100.0));
    }
    if let Some(c) = t.dut_cpu {
        s.push_str(&format!(
            " dut {:.0} % (waits {:.0} %), {:.3} Mpps/dut-cpu",
            c.run * 100.0,
            c.wait * 100.0,
            t.rx_mpps_per_dut_cpu.unwrap_or(0.0)
        ));
    }
    s
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.2}"))
}

/// The worst (highest) of a latency figure over the directions.
fn worst(t: &TrialReport, f: impl Fn(&Latency) -> Option<f64>) -> Option<f64> {
    t.directions
        .iter()
        .filter_map(|d| f(&d.latency))
        .reduce(f64::max)
}

/// What every row of one run shares.
#[derive(Clone, Debug, Serialize)]
pub struct RowCommon {
    /// Label of the device under test.
    pub system: String,
    /// "ul", "dl" or "ul+dl".
    pub direction: String,
    /// Sessions of the plan.
    pub sessions: u32,
    /// Inner IP packet bytes.
    pub inner_bytes: usize,
    /// Frame bytes per direction.
    pub frame_bytes: Value,
    /// What the device was expected to send back.
    pub expect: String,
}

fn base_row(c: &RowCommon, search: &str) -> serde_json::Map<String, Value> {
    let v = json!({
        "bench": "e2e",
        "system": c.system,
        "direction": c.direction,
        "sessions": c.sessions,
        "inner_bytes": c.inner_bytes,
        "workers": null,
        "mpps": null,
        "cycles_per_pkt": null,
        "instr_per_pkt": null,
        "ratio_to_testpmd": null,
        "loss": null,
        "p50_us": null,
        "p99_us": null,
        "p999_us": null,
        "search": search,
        "frame_bytes": c.frame_bytes,
        "expect": c.expect,
    });
    match v {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

fn rates(m: &mut serde_json::Map<String, Value>, t: &TrialReport) {
    let n = t.directions.len() as f64;
    m.insert("mpps".into(), json!(round6(t.offered_mpps_per_dir * n)));
    m.insert(
        "mpps_per_direction".into(),
        json!(round6(t.offered_mpps_per_dir)),
    );
    m.insert(
        "rx_mpps".into(),
        json!(round6(t.directions.iter().map(|d| d.rx_mpps).sum::<f64>())),
    );
    m.insert(
        "gbps".into(),
        json!(round6(t.directions.iter().map(|d| d.rx_gbps).sum::<f64>())),
    );
    m.insert("loss".into(), json!(t.loss));
}

fn latency(m: &mut serde_json::Map<String, Value>, t: &TrialReport) {
    m.insert("p50_us".into(), json!(worst(t, |l| l.p50_us)));
    m.insert("p99_us".into(), json!(worst(t, |l| l.p99_us)));
    m.insert("p999_us".into(), json!(worst(t, |l| l.p999_us)));
    m.insert("max_us".into(), json!(worst(t, |l| l.max_us)));
    let per: serde_json::Map<String, Value> = t
        .directions
        .iter()
        .map(|d| (d.direction.to_string(), json!(d.latency)))
        .collect();
    m.insert(
        "latency".into(),
        json!({
            "at_mpps_per_direction": round6(t.offered_mpps_per_dir),
            "loss": t.loss,
            "per_direction": per,
            "source": "loadgen TSC stamps, hdrhistogram (3 significant digits); includes the generator's own tx/rx path",
            "dut_cpu": t.dut_cpu,
            "generator_cpu": t.generator_cpu,
        }),
    );
}

/// One latency trial at a fixed rate, worst direction: what
/// `latency_at_rates` lists.
fn latency_at(t: &TrialReport) -> Value {
    json!({
        "at_mpps_per_direction": round6(t.target_mpps_per_dir),
        "offered_mpps_per_direction": round6(t.offered_mpps_per_dir),
        "loss": t.loss,
        "p50_us": worst(t, |l| l.p50_us),
        "p99_us": worst(t, |l| l.p99_us),
        "p999_us": worst(t, |l| l.p999_us),
        "max_us": worst(t, |l| l.max_us),
        "dut_cpu": t.dut_cpu,
        "generator_cpu": t.generator_cpu,
    })
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// The row of a fixed-rate run.
#[must_use]
pub fn fixed_row(c: &RowCommon, t: &TrialReport) -> Value {
    let mut m = base_row(c, "fixed");
    rates(&mut m, t);
    latency(&mut m, t);
    m.insert("trials".into(), json!([t]));
    Value::Object(m)
}

/// The rows of an NDR (with the latency trial at 50 % of it and those at
/// fixed rates, `at_rates`) and a PDR search.
#[must_use]
pub fn search_rows(
    c: &RowCommon,
    ndr: &SearchResult<TrialReport>,
    pdr: Option<&SearchResult<TrialReport>>,
    lat: Option<&TrialReport>,
    at_rates: &[TrialReport],
    max_loss: [f64; 2],
) -> Vec<Value> {
    let mut rows = Vec::new();
    for (name, res, ml) in [("ndr", Some(ndr), max_loss[0]), ("pdr", pdr, max_loss[1])] {
        let Some(res) = res else { continue };
        let mut m = base_row(c, name);
        m.insert("max_loss".into(), json!(ml));
        m.insert("generator_limited".into(), json!(res.generator_limited));
        match res.best.and_then(|i| res.trials.get(i)) {
            Some(t) => rates(&mut m, &t.outcome),
            None => {
                m.insert(
                    "not_measured".into(),
                    json!(format!(
                        "loss above {} % even at the lowest rate tried",
                        ml * 100.0
                    )),
                );
            }
        }
        if let (Some(l), "ndr") = (lat, name) {
            latency(&mut m, l);
        }
        if name == "ndr" && !at_rates.is_empty() {
            m.insert(
                "latency_at_rates".into(),
                Value::Array(at_rates.iter().map(latency_at).collect()),
            );
        }
        let trials: Vec<Value> = res
            .trials
            .iter()
            .map(|t| {
                let mut v = json!(t.outcome);
                if let Value::Object(o) = &mut v {
                    o.insert("pass".into(), json!(t.pass));
                    o.insert("reused".into(), json!(t.reused));
                }
                v
            })
            .collect();
        m.insert("trials".into(), Value::Array(trials));
        rows.push(Value::Object(m));
    }
    rows
}

/// The machine, as ARCHITECTURE.md's results want it.
#[must_use]
pub fn machine(tsc_hz: Option<u64>) -> Value {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |k: &str| {
        info.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
    };
    let mhz = field("cpu MHz")
        .and_then(|v| v.parse::<f64>().ok())
        .map(f64::round);
    let cores = std::thread::available_parallelism()
        .map(std::num::NonZero::get)
        .ok();
    json!({ "cpu": field("model name"), "mhz": mhz, "cores": cores, "tsc_hz": tsc_hz })
}

/// The short git revision of the working directory, if any.
#[must_use]
pub fn git_rev() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()?;
    let rev = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && !rev.is_empty()).then_some(rev)
}

/// Now as `YYYY-MM-DDTHH:MM:SSZ`.
#[must_use]
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    utc(secs)
}

/// `secs` since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (empty past jiff's
/// range, year 9999).
#[must_use]
pub fn utc(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .map_or_else(String::new, |t| {
            t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
        })
}

/// The whole results document.
#[must_use]
pub fn document(command: &str, tsc_hz: Option<u64>, rows: &[Value], extra: &Value) -> Value {
    json!({
        "date": utc_now(),
        "git": git_rev(),
        "command": command,
        "machine": machine(tsc_hz),
        "results": rows,
        "loadgen": extra,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpustat::CpuShare;
    use crate::engine::{DirReport, TxDir};
    use crate::search::Trial;
    use crate::stats::Mismatches;

    fn dir(name: &'static str, p50: f64) -> DirReport {
        DirReport {
            direction: name,
            frame_bytes: 78,
            tx: TxDir::default(),
            received: 1,
            received_bytes: 78,
            lost: 0,
            loss: 0.0,
            offered_mpps: 0.5,
            rx_mpps: 0.5,
            rx_gbps: 0.3,
            reordered: 0,
            duplicates: 0,
            mismatched: Mismatches::default(),
            clock_skew: 0,
            alt_teid: 0,
            version_switches: 0,
            session_switches: 0,
            latency: Latency {
                samples: 1,
                p50_us: Some(p50),
                p99_us: Some(p50 * 10.0),
                p999_us: Some(p50 * 20.0),
                max_us: Some(p50 * 30.0),
                ..Latency::default()
            },
        }
    }

    fn trial(mpps: f64, p50s: [f64; 2], dut: f64) -> TrialReport {
        TrialReport {
            trial: 1,
            target_mpps_per_dir: mpps,
            offered_mpps_per_dir: mpps * 0.99,
            duration_s: 1.0,
            loss: 0.0,
            directions: vec![dir("ul", p50s[0]), dir("dl", p50s[1])],
            stale: 0,
            other: 0,
            arp: 0,
            generator_cpu: Some(CpuShare {
                run: 0.9,
                wait: 0.1,
            }),
            dut_cpu: Some(CpuShare {
                run: dut,
                wait: 1.0 - dut,
            }),
            rx_mpps_per_dut_cpu: None,
        }
    }

    #[test]
    fn latency_at_fixed_rates_goes_in_the_ndr_row_only() {
        let common = RowCommon {
            system: "dut".into(),
            direction: "ul+dl".into(),
            sessions: 1,
            inner_bytes: 64,
            frame_bytes: json!({}),
            expect: "any".into(),
        };
        let search = |t: TrialReport| SearchResult {
            rate_pps: Some(t.offered_mpps_per_dir * 1e6),
            best: Some(0),
            trials: vec![Trial {
                target_pps: t.target_mpps_per_dir * 1e6,
                duration_s: 1.0,
                pass: true,
                outcome: t,
                reused: false,
            }],
            generator_limited: false,
        };
        let (ndr, pdr) = (
            search(trial(2.0, [1.0, 1.0], 0.5)),
            search(trial(2.2, [1.0, 1.0], 0.5)),
        );
        let lat = trial(1.0, [3.0, 2.0], 0.4);
        let at = [trial(0.01, [4.0, 5.0], 0.6), trial(0.5, [7.0, 6.0], 0.7)];
        let rows = search_rows(&common, &ndr, Some(&pdr), Some(&lat), &at, [0.0, 0.005]);
        assert_eq!(rows.len(), 2);
        assert!(
            rows[1].get("latency_at_rates").is_none(),
            "pdr row: {}",
            rows[1]
        );
        let r = &rows[0];
        // The trial at 50 % of NDR: worst direction, and the device's CPU share.
        assert_eq!(r["p50_us"], json!(3.0));
        assert_eq!(r["latency"]["dut_cpu"]["run"], json!(0.4));
        let a = r["latency_at_rates"].as_array().expect("latency_at_rates");
        assert_eq!(a.len(), 2);
        assert_eq!(a[0]["at_mpps_per_direction"], json!(0.01));
        assert_eq!(a[0]["p50_us"], json!(5.0), "worst direction: {}", a[0]);
        assert_eq!(a[0]["p99_us"], json!(50.0));
        assert_eq!(a[0]["dut_cpu"]["run"], json!(0.6));
        assert_eq!(a[1]["at_mpps_per_direction"], json!(0.5));
        assert_eq!(a[1]["p50_us"], json!(7.0));
        assert_eq!(a[1]["max_us"], json!(210.0));
        // Without fixed-rate trials the row has no such field.
        let rows = search_rows(&common, &ndr, None, Some(&lat), &[], [0.0, 0.005]);
        assert!(rows[0].get("latency_at_rates").is_none());
    }

    #[test]
    fn dates() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        // 2026-11-30T12:00:00Z (ARCHITECTURE.md's example date).
        assert_eq!(utc(1_796_040_000), "2026-11-30T12:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
    }
}
