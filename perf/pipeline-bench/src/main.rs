//! Pipeline microbenchmark: one worker, in-memory I/O, no driver. Measures
//! TSC cycles per packet and packets per second for uplink (N3 → N6) and
//! downlink (N6 → N3) with a QER (MBR meter) and a URR on every session,
//! choosing the session of each packet uniformly at random; with
//! `--callgrind` it runs itself under `valgrind --tool=callgrind` to count
//! instructions per packet. Prints a table and writes the JSON results
//! format of ARCHITECTURE.md.
//!
//! The I/O copies a template frame into a recycled buffer for every packet
//! and patches the session's TEID / UE address into it; that cost is
//! measured separately (`io_cycles_per_pkt`, the same loop without the
//! pipeline) and reported next to the total.
#![forbid(unsafe_code)]

use anyhow::{Context, Result, bail};
use dataplane::buf::{PacketBuf, VecBuf};
use dataplane::control::Control;
use dataplane::iface::Iface;
use dataplane::testkit::{self, SessionSpec};
use dataplane::worker::{BURST, Worker, WorkerIo};
use std::fmt::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

// jemalloc, for its live-heap counter: RSS after a million inserts mostly
// measures the allocator's fragmentation, not what the tables hold.
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Bytes currently allocated (live heap).
fn heap_bytes() -> Option<u64> {
    tikv_jemalloc_ctl::epoch::advance().ok()?;
    tikv_jemalloc_ctl::stats::allocated::read()
        .ok()
        .map(|b| b as u64)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Dir {
    Ul,
    Dl,
}

impl Dir {
    fn name(self) -> &'static str {
        match self {
            Self::Ul => "ul",
            Self::Dl => "dl",
        }
    }
}

/// Frames for one direction: a template, patched per packet.
struct BenchIo {
    dir: Dir,
    template: Vec<u8>,
    sessions: u32,
    rng: u64,
    free: Vec<VecBuf>,
    /// Left to receive.
    budget: u64,
    sent: u64,
    /// Skip the pipeline: tx what rx gave (I/O baseline).
    passthrough: bool,
}

impl BenchIo {
    fn new(dir: Dir, inner_bytes: usize, sessions: u32) -> Self {
        let template = match dir {
            Dir::Ul => testkit::ul_frame(
                0,
                9,
                &testkit::udp4(
                    testkit::ue_ip(0),
                    testkit::DN_IP,
                    1000,
                    53,
                    inner_bytes - 28,
                ),
            ),
            Dir::Dl => testkit::dl_frame(&testkit::udp4(
                testkit::DN_IP,
                testkit::ue_ip(0),
                53,
                1000,
                inner_bytes - 28,
            )),
        };
        let free = (0..4 * BURST)
            .map(|_| VecBuf::from_frame(&template))
            .collect();
        Self {
            dir,
            template,
            sessions,
            rng: 0x9e37_79b9_7f4a_7c15,
            free,
            budget: 0,
            sent: 0,
            passthrough: false,
        }
    }

    #[inline(always)]
    fn next_session(&mut self) -> u32 {
        // xorshift64*: uniform enough, a few cycles.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let r = self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (((r >> 32) * u64::from(self.sessions)) >> 32) as u32
    }
}

impl WorkerIo for BenchIo {
    type Buf = VecBuf;

    fn rx_burst(&mut self, iface: Iface, out: &mut Vec<VecBuf>, max: usize) {
        let want = match self.dir {
            Dir::Ul => Iface::N3,
            Dir::Dl => Iface::N6,
        };
        if iface != want {
            return;
        }
        let n = (max as u64).min(self.budget) as usize;
        for _ in 0..n {
            let Some(mut b) = self.free.pop() else { break };
            let s = self.next_session();
            b.reset(&self.template);
            let d = b.data_mut();
            let ue = testkit::ue_ip(s).octets();
            match self.dir {
                Dir::Ul => {
                    // TEID at 14+20+8+4, inner source at 14+20+8+16+12.
                    d[46..50].copy_from_slice(&(0x1000 + s).to_be_bytes());
                    d[70..74].copy_from_slice(&ue);
                }
                Dir::Dl => d[30..34].copy_from_slice(&ue),
            }
            out.push(b);
        }
        self.budget -= out.len() as u64;
        if self.passthrough {
            self.sent += out.len() as u64;
            self.free.append(out);
        }
    }

    fn tx_burst(&mut self, _iface: Iface, frames: &mut Vec<VecBuf>) {
        self.sent += frames.len() as u64;
        self.free.append(frames);
    }

    fn alloc(&mut self) -> Option<VecBuf> {
        self.free.pop()
    }

    fn free(&mut self, buf: VecBuf) {
        self.free.push(buf);
    }
}

struct Figures {
    cycles_per_pkt: f64,
    wall_cycles_per_pkt: f64,
    io_cycles_per_pkt: f64,
    mpps: f64,
    loss: f64,
    instr_per_pkt: Option<f64>,
}

fn setup(sessions: u32) -> (Control, dataplane::control::WorkerPort) {
    let (mut ctl, mut ports) = testkit::dataplane(1, true);
    // MBR far above the offered rate: the meter runs on every packet, drops nothing.
    let mut i = 0;
    while i < sessions {
        let end = (i + 100_000).min(sessions);
        let upserts = (i..end)
            .map(|k| {
                testkit::session(&SessionSpec {
                    mbr_ul: Some(400_000_000_000),
                    mbr_dl: Some(400_000_000_000),
                    ..SessionSpec::nth(k)
                })
            })
            .collect();
        ctl.publish(dataplane::control::Batch {
            upserts,
            removals: vec![],
        })
        .ok();
        ctl.reclaim();
        i = end;
    }
    let port = ports.remove(0);
    (ctl, port)
}

/// Microseconds per publish of one modified session (a PFCP Session
/// Modification's worth), on top of `sessions` installed ones.
fn single_publish_us(ctl: &mut Control, sessions: u32) -> f64 {
    let n: u32 = std::env::var("PB_PUBLISHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let t0 = Instant::now();
    for i in 0..n {
        let k = (i * 7919) % sessions;
        let s = testkit::session(&SessionSpec {
            dl_teid: 0x0300_0000 + i,
            ..SessionSpec::nth(k)
        });
        ctl.publish(dataplane::control::Batch {
            upserts: vec![s],
            removals: vec![],
        })
        .ok();
        ctl.reclaim();
    }
    t0.elapsed().as_secs_f64() * 1e6 / f64::from(n)
}

/// Nanoseconds this thread has spent on a CPU (the machine is shared: wall
/// time includes the time other processes ran on our core).
fn on_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// Wall TSC cycles and on-CPU nanoseconds of a run.
#[derive(Clone, Copy)]
struct Spent {
    tsc: u64,
    cpu_ns: u64,
}

/// The measured loop (a separate symbol so callgrind can collect just it).
#[inline(never)]
fn measured(w: &mut Worker<BenchIo>, packets: u64) -> Spent {
    w.io_mut().budget = packets;
    w.io_mut().sent = 0;
    let c0 = on_cpu_ns();
    let t0 = cpu::rdtsc();
    while w.io_mut().budget > 0 {
        w.poll(cpu::rdtsc());
    }
    w.poll(cpu::rdtsc());
    Spent {
        tsc: cpu::rdtsc() - t0,
        cpu_ns: on_cpu_ns() - c0,
    }
}

#[inline(never)]
fn io_only(io: &mut BenchIo, packets: u64) -> Spent {
    io.budget = packets;
    io.passthrough = true;
    let mut v = Vec::with_capacity(BURST);
    let iface = if io.dir == Dir::Ul {
        Iface::N3
    } else {
        Iface::N6
    };
    let c0 = on_cpu_ns();
    let t0 = cpu::rdtsc();
    while io.budget > 0 {
        io.rx_burst(iface, &mut v, BURST);
    }
    let t = Spent {
        tsc: cpu::rdtsc() - t0,
        cpu_ns: on_cpu_ns() - c0,
    };
    io.passthrough = false;
    t
}

fn run_one(
    dir: Dir,
    inner: usize,
    sessions: u32,
    packets: u64,
    tsc_hz: u64,
    ctl_port: (Control, dataplane::control::WorkerPort),
) -> Figures {
    let (mut ctl, port) = ctl_port;
    let mut w = Worker::new(port, BenchIo::new(dir, inner, sessions));
    // Warm up: touch the tables and the state once.
    measured(&mut w, packets.min(200_000));
    ctl.reclaim();
    let spent = measured(&mut w, packets);
    let sent = w.io_mut().sent;
    let mut io = BenchIo::new(dir, inner, sessions);
    io_only(&mut io, packets.min(1_000_000));
    let io_spent = io_only(&mut io, packets);
    let c = ctl.counters();
    let dropped: u64 = c.drops.iter().sum();
    if dropped > 0 {
        eprintln!("warning: {dropped} drops: {:?}", c.drops);
    }
    // Cycles while on a CPU: on-CPU time at the TSC rate. Falls back to wall
    // TSC where schedstat is unavailable.
    let cyc = |s: Spent| {
        if s.cpu_ns > 0 {
            s.cpu_ns as f64 * tsc_hz as f64 / 1e9
        } else {
            s.tsc as f64
        }
    };
    Figures {
        cycles_per_pkt: cyc(spent) / packets as f64,
        wall_cycles_per_pkt: spent.tsc as f64 / packets as f64,
        io_cycles_per_pkt: cyc(io_spent) / packets as f64,
        mpps: packets as f64 / (cyc(spent) / tsc_hz as f64) / 1e6,
        loss: 1.0 - sent as f64 / packets as f64,
        instr_per_pkt: None,
    }
}

fn rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let l = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    l.split_whitespace()
        .nth(1)?
        .parse::<u64>()
        .ok()
        .map(|k| k * 1024)
}

fn iso_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn machine() -> (String, u64, usize) {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |k: &str| {
        info.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split(':').nth(1))
            .map(|v| v.trim().to_owned())
    };
    let cpu = field("model name").unwrap_or_else(|| "unknown".into());
    let mhz = field("cpu MHz")
        .and_then(|m| m.parse::<f64>().ok())
        .map_or(0, |m| m as u64);
    (
        cpu,
        mhz,
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
    )
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "null".into(), |v| format!("{v:.2}"))
}

struct Args {
    sessions: Vec<u32>,
    sizes: Vec<usize>,
    dirs: Vec<Dir>,
    packets: u64,
    callgrind: bool,
    out: Option<String>,
    inner_run: bool,
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        sessions: vec![1, 10_000, 100_000, 1_000_000],
        sizes: vec![64, 1400],
        dirs: vec![Dir::Ul, Dir::Dl],
        packets: 5_000_000,
        callgrind: false,
        out: None,
        inner_run: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut val = || it.next().with_context(|| format!("{k} needs a value"));
        match k.as_str() {
            "--sessions" => {
                a.sessions = val()?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?;
            }
            "--sizes" => {
                a.sizes = val()?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?;
            }
            "--dirs" => {
                a.dirs = val()?
                    .split(',')
                    .map(|d| match d {
                        "ul" => Ok(Dir::Ul),
                        "dl" => Ok(Dir::Dl),
                        _ => bail!("direction {d}: ul or dl"),
                    })
                    .collect::<Result<_>>()?;
            }
            "--packets" => a.packets = val()?.parse()?,
            "--callgrind" => a.callgrind = true,
            "--quick" => {
                a.sessions = vec![1, 10_000, 1_000_000];
                a.sizes = vec![64];
                a.packets = 2_000_000;
            }
            "--out" => a.out = Some(val()?),
            "--inner-run" => a.inner_run = true,
            "-h" | "--help" => {
                println!(
                    "pipeline-bench [--sessions 1,10000,...] [--sizes 64,1400] [--dirs ul,dl] [--packets N] [--quick] [--callgrind] [--out FILE]"
                );
                std::process::exit(0);
            }
            _ => bail!("unknown argument {k}"),
        }
    }
    for &s in &a.sizes {
        if !(48..=1500).contains(&s) {
            bail!("inner size {s} out of 48..=1500");
        }
    }
    Ok(a)
}

/// Under callgrind: instructions of `measured` divided by packets.
fn callgrind(dir: Dir, inner: usize, sessions: u32, packets: u64) -> Result<f64> {
    let exe = std::env::current_exe()?;
    let out = std::env::temp_dir().join(format!(
        "pipeline-bench-{}-{}-{inner}-{sessions}.cg",
        std::process::id(),
        dir.name()
    ));
    let status = Command::new("valgrind")
        .args([
            "--tool=callgrind",
            "--collect-atstart=no",
            "--toggle-collect=*measured*",
        ])
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(&exe)
        .args([
            "--inner-run",
            "--dirs",
            dir.name(),
            "--sizes",
            &inner.to_string(),
            "--sessions",
            &sessions.to_string(),
        ])
        .args(["--packets", &packets.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .context("running valgrind")?;
    if !status.success() {
        bail!("valgrind failed: {status}");
    }
    let text = std::fs::read_to_string(&out)?;
    let total: u64 = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("summary:")
                .or_else(|| l.strip_prefix("totals:"))
        })
        .and_then(|v| v.split_whitespace().next())
        .context("no totals in callgrind output")?
        .parse()?;
    eprintln!("callgrind profile kept in {}", out.display());
    // `measured` runs twice (warm-up of min(packets, 200k), then packets).
    Ok(total as f64 / (packets + packets.min(200_000)) as f64)
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let tsc_hz = cpu::measure_tsc_hz(Duration::from_millis(50));
    let mut rows = Vec::new();
    if !args.inner_run {
        println!(
            "pipeline bench: 1 worker, QER (MBR) + URR on, uniform random sessions; TSC {:.3} GHz",
            tsc_hz as f64 / 1e9
        );
        println!(
            "cyc/pkt: TSC cycles while on CPU (schedstat); wall: TSC over wall time (inflated on a shared machine)"
        );
        println!(
            "{:>4} {:>6} {:>9} {:>10} {:>10} {:>8} {:>10} {:>10} {:>8}",
            "dir",
            "inner",
            "sessions",
            "cyc/pkt",
            "wall",
            "Mpps",
            "io cyc/pkt",
            "instr/pkt",
            "loss"
        );
    }
    for &sessions in &args.sessions {
        let rss0 = rss_bytes();
        let heap0 = heap_bytes();
        let t0 = Instant::now();
        let mut built = Some(setup(sessions));
        let install = t0.elapsed();
        let heap = heap_bytes().zip(heap0).map(|(b, a)| b.saturating_sub(a));
        let publish_us = built
            .as_mut()
            .map_or(0.0, |(c, _)| single_publish_us(c, sessions));
        if let (Some(a), Some(b)) = (rss0, rss_bytes())
            && !args.inner_run
        {
            println!(
                "  {sessions} sessions installed in {install:.2?} (batches of 100k); live heap +{:.1} MiB ({:.0} B/session, state for 1 worker included; RSS +{:.1} MiB); one-session publish {publish_us:.1} us",
                heap.unwrap_or(0) as f64 / 1048576.0,
                heap.unwrap_or(0) as f64 / f64::from(sessions),
                (b.saturating_sub(a)) as f64 / 1048576.0,
            );
        }
        for &dir in &args.dirs {
            for &inner in &args.sizes {
                let cp = match built.take() {
                    Some(c) => c,
                    None => setup(sessions),
                };
                if args.inner_run {
                    let _ = run_one(dir, inner, sessions, args.packets, tsc_hz, cp);
                    continue;
                }
                let mut f = run_one(dir, inner, sessions, args.packets, tsc_hz, cp);
                if args.callgrind {
                    f.instr_per_pkt =
                        Some(callgrind(dir, inner, sessions, args.packets.min(300_000))?);
                }
                println!(
                    "{:>4} {:>6} {:>9} {:>10.1} {:>10.1} {:>8.2} {:>10.1} {:>10} {:>8.4}",
                    dir.name(),
                    inner,
                    sessions,
                    f.cycles_per_pkt,
                    f.wall_cycles_per_pkt,
                    f.mpps,
                    f.io_cycles_per_pkt,
                    opt(f.instr_per_pkt),
                    f.loss
                );
                rows.push((dir, inner, sessions, f, heap, publish_us));
            }
        }
    }
    if args.inner_run {
        return Ok(());
    }
    let (cpu, mhz, cores) = machine();
    let git = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let mut j = String::new();
    let _ = write!(
        j,
        "{{\n  \"date\": {}, \"git\": {}, \"command\": {},\n  \"machine\": {{ \"cpu\": {}, \"mhz\": {mhz}, \"cores\": {cores}, \"tsc_hz\": {tsc_hz} }},\n  \"results\": [\n",
        json_str(&iso_now()),
        git.as_deref().map_or_else(|| "null".into(), json_str),
        json_str(&command),
        json_str(&cpu)
    );
    for (i, (dir, inner, sessions, f, heap, publish_us)) in rows.iter().enumerate() {
        let _ = writeln!(
            j,
            "    {{ \"bench\": \"pipeline\", \"direction\": \"{}\", \"sessions\": {sessions}, \"inner_bytes\": {inner}, \"workers\": 1, \"mpps\": {:.3}, \"cycles_per_pkt\": {:.1}, \"wall_cycles_per_pkt\": {:.1}, \"instr_per_pkt\": {}, \"io_cycles_per_pkt\": {:.1}, \"heap_bytes_per_session\": {}, \"publish_one_session_us\": {:.1}, \"ratio_to_testpmd\": null, \"loss\": {:.6}, \"p50_us\": null, \"p99_us\": null, \"p999_us\": null }}{}",
            dir.name(),
            f.mpps,
            f.cycles_per_pkt,
            f.wall_cycles_per_pkt,
            opt(f.instr_per_pkt),
            f.io_cycles_per_pkt,
            heap.map_or_else(
                || "null".to_owned(),
                |h| (h / u64::from(*sessions)).to_string()
            ),
            publish_us,
            f.loss,
            if i + 1 < rows.len() { "," } else { "" }
        );
    }
    j.push_str("  ]\n}\n");
    let path = args
        .out
        .unwrap_or_else(|| format!("perf/results/pipeline-{}.json", iso_now().replace(':', "")));
    if let Some(dir) = std::path::Path::new(&path).parent() {
        std::fs::create_dir_all(dir).ok();
    }
    std::fs::write(&path, &j).with_context(|| format!("writing {path}"))?;
    println!("results written to {path}");
    Ok(())
}
