//! Pipeline microbenchmark (issue 7 item 1): one worker, in-memory I/O, no
//! driver. Measures TSC cycles per packet and packets per second for uplink
//! decap (N3 → N6), downlink encap (N6 → N3) and a 50/50 mix, with a QER
//! (MBR meter) and a URR on every session and the session of each packet
//! chosen uniformly at random; with `--callgrind` it runs itself under
//! `valgrind --tool=callgrind` to count instructions per packet. Prints a
//! table and writes the JSON results format of ARCHITECTURE.md.
//!
//! The I/O harness is kept cheap and reported separately: every buffer is
//! filled once with a complete, valid frame; when the pipeline hands it back
//! (tx), the harness restores only the header bytes the pipeline may have
//! rewritten (the payload is never touched by the fast path), resets the
//! frame's start and length, and patches the next session's TEID / UE
//! address with incremental checksum updates, so the pipeline sees a
//! realistic, valid frame every time. `io_*` figures are that harness alone
//! (rx, patch, tx back) without the pipeline, measured the same way.
#![forbid(unsafe_code)]

use anyhow::{Context, Result, bail};
use dataplane::buf::{PacketBuf, VecBuf};
use dataplane::control::{Control, WorkerPort};
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
    Mix,
}

impl Dir {
    fn name(self) -> &'static str {
        match self {
            Self::Ul => "ul",
            Self::Dl => "dl",
            Self::Mix => "mix",
        }
    }
}

/// Incremental one's-complement update (RFC 1624) of checksum `c` for a
/// 32-bit field changing from `old` to `new`.
fn csum_adjust(c: u16, old: u32, new: u32) -> u16 {
    let mut s =
        u32::from(!c) + ((!old >> 16) & 0xffff) + (!old & 0xffff) + (new >> 16) + (new & 0xffff);
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// One direction's traffic: a template frame for session 0 and where the
/// per-session fields sit in it.
struct Source {
    template: Vec<u8>,
    /// Header bytes restored on reuse (everything the pipeline rewrites).
    prefix: usize,
    /// Offset of the TEID (uplink only).
    teid: Option<usize>,
    /// Offsets of the UE address, the inner IPv4 checksum, the inner UDP checksum.
    ue: usize,
    ip_csum: usize,
    udp_csum: usize,
    /// Buffers filled with this template, ready for reuse.
    pool: Vec<VecBuf>,
}

const UE0: u32 = 0x0a2d_0002; // testkit::ue_ip(0)

impl Source {
    fn new(ul: bool, inner_bytes: usize) -> Self {
        if ul {
            let template = testkit::ul_frame(
                0x1000,
                9,
                &testkit::udp4(
                    testkit::ue_ip(0),
                    testkit::DN_IP,
                    1000,
                    53,
                    inner_bytes - 28,
                ),
            );
            // Ethernet 14, IPv4 20, UDP 8, GTP-U 8 + 4 + PSC 4: inner IPv4 at 58.
            Self {
                template,
                prefix: 58 + 28,
                teid: Some(46),
                ue: 58 + 12,
                ip_csum: 58 + 10,
                udp_csum: 58 + 26,
                pool: Vec::new(),
            }
        } else {
            let template = testkit::dl_frame(&testkit::udp4(
                testkit::DN_IP,
                testkit::ue_ip(0),
                53,
                1000,
                inner_bytes - 28,
            ));
            Self {
                template,
                prefix: 14 + 28,
                teid: None,
                ue: 14 + 16,
                ip_csum: 14 + 10,
                udp_csum: 14 + 26,
                pool: Vec::new(),
            }
        }
    }

    /// Turns `b` (holding this template, maybe rewritten in its headers)
    /// into session `s`'s frame.
    #[inline(always)]
    fn fill(&self, b: &mut VecBuf, s: u32) {
        let t = &self.template;
        b.reset_prefix(t.len(), &t[..self.prefix]);
        let d = b.data_mut();
        let ue = UE0 + s;
        d[self.ue..self.ue + 4].copy_from_slice(&ue.to_be_bytes());
        let at = |d: &[u8], o: usize| u16::from_be_bytes([d[o], d[o + 1]]);
        let c = csum_adjust(at(d, self.ip_csum), UE0, ue);
        d[self.ip_csum..self.ip_csum + 2].copy_from_slice(&c.to_be_bytes());
        let u = at(d, self.udp_csum);
        if u != 0 {
            let c = match csum_adjust(u, UE0, ue) {
                0 => 0xffff,
                c => c,
            };
            d[self.udp_csum..self.udp_csum + 2].copy_from_slice(&c.to_be_bytes());
        }
        if let Some(o) = self.teid {
            d[o..o + 4].copy_from_slice(&(0x1000 + s).to_be_bytes());
        }
    }
}

/// The benchmark's [`WorkerIo`]: UL frames on N3, DL frames on N6.
struct BenchIo {
    ul: Option<Source>,
    dl: Option<Source>,
    sessions: u32,
    rng: u64,
    /// Buffers of unknown content (dropped frames, allocations): refilled in full.
    spare: Vec<VecBuf>,
    /// Left to receive.
    budget: u64,
    sent: u64,
}

impl BenchIo {
    fn new(sessions: u32) -> Self {
        Self {
            ul: None,
            dl: None,
            sessions,
            rng: 0x9e37_79b9_7f4a_7c15,
            spare: Vec::new(),
            budget: 0,
            sent: 0,
        }
    }

    /// Switches to `dir` with `inner` bytes of inner IP packet.
    fn configure(&mut self, dir: Dir, inner: usize) {
        let mk = |ul: bool| {
            let mut s = Source::new(ul, inner);
            s.pool = (0..4 * BURST)
                .map(|_| VecBuf::from_frame(&s.template))
                .collect();
            s
        };
        self.ul = matches!(dir, Dir::Ul | Dir::Mix).then(|| mk(true));
        self.dl = matches!(dir, Dir::Dl | Dir::Mix).then(|| mk(false));
        self.rng = 0x9e37_79b9_7f4a_7c15;
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

    #[inline]
    fn rx_burst(&mut self, iface: Iface, out: &mut Vec<VecBuf>, max: usize) {
        let n = (max as u64).min(self.budget) as usize;
        let active = match iface {
            Iface::N3 => self.ul.is_some(),
            Iface::N6 => self.dl.is_some(),
            Iface::N9 => false,
        };
        if !active {
            return;
        }
        let before = out.len();
        for _ in 0..n {
            let s = self.next_session();
            let src = match iface {
                Iface::N3 => self.ul.as_mut(),
                _ => self.dl.as_mut(),
            };
            let Some(src) = src else { break };
            let mut b = match src.pool.pop() {
                Some(b) => b,
                None => {
                    let mut b = self
                        .spare
                        .pop()
                        .unwrap_or_else(|| VecBuf::from_frame(&src.template));
                    b.reset(&src.template);
                    b
                }
            };
            src.fill(&mut b, s);
            out.push(b);
        }
        self.budget -= (out.len() - before) as u64;
    }

    #[inline]
    fn tx_burst(&mut self, iface: Iface, frames: &mut Vec<VecBuf>) {
        self.sent += frames.len() as u64;
        // What leaves on N6 was an uplink frame, on N3 a downlink one.
        let pool = match iface {
            Iface::N6 => self.ul.as_mut().map(|s| &mut s.pool),
            Iface::N3 => self.dl.as_mut().map(|s| &mut s.pool),
            Iface::N9 => None,
        };
        match pool {
            Some(p) => p.append(frames),
            None => self.spare.append(frames),
        }
    }

    fn alloc(&mut self) -> Option<VecBuf> {
        Some(self.spare.pop().unwrap_or_else(|| VecBuf::from_frame(&[])))
    }

    fn free(&mut self, buf: VecBuf) {
        self.spare.push(buf);
    }
}

/// `sized`: the tables sized for `sessions` keys (as `upf run` does with
/// `dataplane.max_sessions`), else grown by doubling from empty.
fn setup(sessions: u32, sized: bool) -> (Control, WorkerPort) {
    let mut cfg = dataplane::control::DataplaneConfig::new(1, testkit::TSC_HZ);
    cfg.net = testkit::net(true);
    if sized {
        cfg.max_sessions = sessions as usize;
    }
    let (mut ctl, mut ports) = Control::new(cfg);
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
        if let Err(e) = ctl.publish(dataplane::control::Batch {
            upserts,
            removals: vec![],
        }) {
            eprintln!("publish: {e}");
        }
        ctl.reclaim();
        i = end;
    }
    let port = ports.remove(0);
    (ctl, port)
}

/// Microseconds per publish of one modified session (a PFCP Session
/// Modification's worth), on top of `sessions` installed ones.
fn single_publish_us(ctl: &mut Control, sessions: u32, n: u32) -> f64 {
    let t0 = Instant::now();
    for i in 0..n {
        let k = (i * 7919) % sessions;
        let s = testkit::session(&SessionSpec {
            dl_teid: 0x0300_0000 + i,
            mbr_ul: Some(400_000_000_000),
            mbr_dl: Some(400_000_000_000),
            ..SessionSpec::nth(k)
        });
        ctl.publish(dataplane::control::Batch {
            upserts: vec![s],
            removals: vec![],
        })
        .ok();
        ctl.reclaim();
    }
    t0.elapsed().as_secs_f64() * 1e6 / f64::from(n.max(1))
}

/// Nanoseconds this thread has spent on a CPU (the machine is shared: wall
/// time includes the time other processes ran on our core).
fn on_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// Wall TSC cycles and on-CPU nanoseconds of a run, and its TSC cycles per
/// packet chunk by chunk.
#[derive(Clone)]
struct Spent {
    tsc: u64,
    cpu_ns: u64,
    /// Cycles per packet of each run of `CHUNK_POLLS` polls.
    chunks: Vec<f64>,
}

impl Spent {
    /// The run's cycles per packet: the median chunk. The machine is
    /// shared: a chunk during which the thread was descheduled, or another
    /// process thrashed the caches, is an outlier the median ignores (the
    /// on-CPU time of schedstat is counted in scheduler ticks here, too
    /// coarse for one run).
    fn cycles_per_pkt(&self) -> f64 {
        median(&self.chunks).unwrap_or(0.0)
    }
}

/// Polls per timing chunk: 128 polls of 32-packet bursts, about 0.1 to
/// 1 ms, well under a scheduler time slice.
const CHUNK_POLLS: u32 = 128;

/// Times chunks of a loop: `tick(left)` after every step with the packets
/// left to receive.
struct Chunker {
    chunks: Vec<f64>,
    t: u64,
    left: u64,
    steps: u32,
}

impl Chunker {
    fn new(left: u64) -> Self {
        Self {
            chunks: Vec::with_capacity(usize::try_from(left / 2048).unwrap_or(0) + 8),
            t: cpu::rdtsc(),
            left,
            steps: 0,
        }
    }

    #[inline(always)]
    fn tick(&mut self, left: u64) {
        self.steps += 1;
        if self.steps == CHUNK_POLLS {
            let t = cpu::rdtsc();
            if left < self.left {
                self.chunks
                    .push((t - self.t) as f64 / (self.left - left) as f64);
            }
            (self.t, self.left, self.steps) = (t, left, 0);
        }
    }
}

fn run_worker(w: &mut Worker<BenchIo>, packets: u64) -> Spent {
    w.io_mut().budget = packets;
    w.io_mut().sent = 0;
    let c0 = on_cpu_ns();
    let t0 = cpu::rdtsc();
    let mut ch = Chunker::new(packets);
    while w.io_mut().budget > 0 {
        w.poll(cpu::rdtsc());
        ch.tick(w.io_mut().budget);
    }
    w.poll(cpu::rdtsc());
    Spent {
        tsc: cpu::rdtsc() - t0,
        cpu_ns: on_cpu_ns() - c0,
        chunks: ch.chunks,
    }
}

/// Runs `job` in the one symbol callgrind collects (and dumps a profile
/// part after): every measured loop and harness-only loop goes through it.
#[inline(never)]
fn collected(job: &mut dyn FnMut() -> Spent) -> Spent {
    job()
}

/// The measured loop.
fn measured(w: &mut Worker<BenchIo>, packets: u64) -> Spent {
    collected(&mut || run_worker(w, packets))
}

/// The harness alone: rx bursts handed straight back to tx, as the worker
/// would, without the pipeline.
fn io_only(io: &mut BenchIo, packets: u64) -> Spent {
    collected(&mut || io_loop(io, packets))
}

fn io_loop(io: &mut BenchIo, packets: u64) -> Spent {
    io.budget = packets;
    let mut v = Vec::with_capacity(BURST);
    let c0 = on_cpu_ns();
    let t0 = cpu::rdtsc();
    let mut ch = Chunker::new(packets);
    while io.budget > 0 {
        for (rx, tx) in [(Iface::N3, Iface::N6), (Iface::N6, Iface::N3)] {
            v.clear();
            io.rx_burst(rx, &mut v, BURST);
            io.tx_burst(tx, &mut v);
        }
        ch.tick(io.budget);
    }
    Spent {
        tsc: cpu::rdtsc() - t0,
        cpu_ns: on_cpu_ns() - c0,
        chunks: ch.chunks,
    }
}

/// One configuration's figures.
#[derive(Default)]
struct Figures {
    /// Cycles/packet of each repetition (median chunk of wall TSC).
    cycles: Vec<f64>,
    wall_cycles: Vec<f64>,
    on_cpu_cycles: Vec<f64>,
    io_cycles: Vec<f64>,
    loss: f64,
    drops: u64,
    instr_per_pkt: Option<f64>,
    io_instr_per_pkt: Option<f64>,
}

fn median(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => None,
        n if n % 2 == 1 => Some(v[n / 2]),
        n => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

fn min_of(v: &[f64]) -> Option<f64> {
    v.iter().copied().reduce(f64::min)
}

fn max_of(v: &[f64]) -> Option<f64> {
    v.iter().copied().reduce(f64::max)
}

#[allow(clippy::too_many_arguments)]
fn run_one(
    ctl: &mut Control,
    w: &mut Worker<BenchIo>,
    dir: Dir,
    inner: usize,
    packets: u64,
    reps: usize,
    tsc_hz: u64,
    inner_run: bool,
) -> Figures {
    let sessions = w.io_mut().sessions;
    w.io_mut().configure(dir, inner);
    let before: u64 = ctl.counters().drops.iter().sum();
    // Warm up: touch the tables, the state and the buffers once.
    run_worker(w, packets.min(200_000));
    ctl.reclaim();
    // On-CPU time at the TSC rate, for reference (scheduler-tick granular).
    let on_cpu = |s: &Spent| {
        if s.cpu_ns > 0 {
            s.cpu_ns as f64 * tsc_hz as f64 / 1e9
        } else {
            s.tsc as f64
        }
    };
    let mut f = Figures::default();
    let mut sent = 0;
    for _ in 0..reps.max(1) {
        let spent = measured(w, packets);
        sent += w.io_mut().sent;
        f.cycles.push(spent.cycles_per_pkt());
        f.wall_cycles.push(spent.tsc as f64 / packets as f64);
        f.on_cpu_cycles.push(on_cpu(&spent) / packets as f64);
    }
    f.loss = 1.0 - sent as f64 / (packets * reps.max(1) as u64) as f64;
    let mut io = BenchIo::new(sessions);
    io.configure(dir, inner);
    io_loop(&mut io, packets.min(200_000));
    for _ in 0..if inner_run { 1 } else { reps.max(1) } {
        let s = io_only(&mut io, packets);
        f.io_cycles.push(s.cycles_per_pkt());
    }
    f.drops = ctl.counters().drops.iter().sum::<u64>() - before;
    if f.drops > 0 {
        eprintln!("warning: {} drops: {:?}", f.drops, ctl.counters().drops);
    }
    f
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
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

struct Machine {
    cpu: String,
    mhz: u64,
    cores: usize,
    load: Option<String>,
}

fn machine() -> Machine {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |k: &str| {
        info.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split(':').nth(1))
            .map(|v| v.trim().to_owned())
    };
    let mut cpu = field("model name").unwrap_or_else(|| "unknown".into());
    // Guests often name just the vendor: add family/model/stepping.
    if let (Some(f), Some(m)) = (field("cpu family"), field("model\t")) {
        let _ = write!(cpu, " (family {f} model {m})");
    }
    let mhz = field("cpu MHz")
        .and_then(|m| m.parse::<f64>().ok())
        .map_or(0, |m| m as u64);
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
    Machine {
        cpu,
        mhz,
        cores: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        load,
    }
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
    v.map_or_else(|| "null".into(), |v| format!("{v:.1}"))
}

fn list(v: &[f64]) -> String {
    let items: Vec<String> = v.iter().map(|x| format!("{x:.1}")).collect();
    format!("[{}]", items.join(", "))
}

struct Args {
    sessions: Vec<u32>,
    sizes: Vec<usize>,
    dirs: Vec<Dir>,
    packets: u64,
    reps: usize,
    callgrind: bool,
    /// Session counts to run under callgrind (default: all of `sessions`).
    callgrind_sessions: Option<Vec<u32>>,
    callgrind_packets: u64,
    publishes: u32,
    out: Option<String>,
    inner_run: bool,
    quick: bool,
    sized: bool,
}

fn parse_list<T: std::str::FromStr>(v: &str) -> Result<Vec<T>>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    Ok(v.split(',').map(str::parse).collect::<Result<_, _>>()?)
}

const USAGE: &str = "pipeline-bench [--quick] [--sessions 1,10000,100000,1000000] [--sizes 64,1400] \
[--dirs ul,dl,mix] [--packets N] [--reps N] [--callgrind] [--callgrind-sessions LIST] \
[--callgrind-packets N] [--publishes N] [--sized] [--out FILE]";

fn parse_args() -> Result<Args> {
    let mut a = Args {
        sessions: vec![1, 10_000, 100_000, 1_000_000],
        sizes: vec![64, 1400],
        dirs: vec![Dir::Ul, Dir::Dl, Dir::Mix],
        packets: 2_000_000,
        reps: 5,
        callgrind: false,
        callgrind_sessions: None,
        callgrind_packets: 200_000,
        publishes: 200,
        out: None,
        inner_run: false,
        quick: false,
        sized: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut val = || it.next().with_context(|| format!("{k} needs a value"));
        match k.as_str() {
            "--sessions" => a.sessions = parse_list(&val()?)?,
            "--sizes" => a.sizes = parse_list(&val()?)?,
            "--dirs" => {
                a.dirs = val()?
                    .split(',')
                    .map(|d| match d {
                        "ul" => Ok(Dir::Ul),
                        "dl" => Ok(Dir::Dl),
                        "mix" => Ok(Dir::Mix),
                        _ => bail!("direction {d}: ul, dl or mix"),
                    })
                    .collect::<Result<_>>()?;
            }
            "--packets" => a.packets = val()?.parse()?,
            "--reps" => a.reps = val()?.parse()?,
            "--callgrind" => a.callgrind = true,
            "--callgrind-sessions" => a.callgrind_sessions = Some(parse_list(&val()?)?),
            "--callgrind-packets" => a.callgrind_packets = val()?.parse()?,
            "--publishes" => a.publishes = val()?.parse()?,
            "--quick" => {
                // perf/run.sh --quick: every direction and session count,
                // 64 B only, fewer packets, callgrind at 10k sessions only.
                a.quick = true;
                a.sizes = vec![64];
                a.packets = 1_000_000;
                a.reps = 3;
                a.callgrind_sessions = Some(vec![10_000]);
                a.callgrind_packets = 100_000;
                a.publishes = 50;
            }
            "--out" => a.out = Some(val()?),
            "--inner-run" => a.inner_run = true,
            "--sized" => a.sized = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => bail!("unknown argument {k}\n{USAGE}"),
        }
    }
    for &s in &a.sizes {
        if !(48..=1500).contains(&s) {
            bail!("inner size {s} out of 48..=1500");
        }
    }
    if a.sessions.contains(&0) {
        bail!("sessions must be at least 1");
    }
    Ok(a)
}

/// Instructions per packet of the pipeline loop (I/O harness included) and
/// of the harness alone, for every (direction, size) of `sessions`, from
/// one run of this program under callgrind: each call of [`collected`] is
/// dumped as its own part.
fn callgrind(
    args: &Args,
    sessions: u32,
    combos: &[(Dir, usize)],
) -> Result<Vec<(Option<f64>, Option<f64>)>> {
    let exe = std::env::current_exe()?;
    let base = std::env::temp_dir().join(format!(
        "pipeline-bench-{}-{sessions}.cg",
        std::process::id()
    ));
    let dirs: Vec<&str> = args.dirs.iter().map(|d| d.name()).collect();
    let sizes: Vec<String> = args.sizes.iter().map(ToString::to_string).collect();
    let status = Command::new("valgrind")
        .args([
            "--tool=callgrind",
            "--collect-atstart=no",
            // Every part self-contained, for callgrind_annotate.
            "--compress-strings=no",
            "--compress-pos=no",
            // Exact names: valgrind 3.19 ignores a wildcard --dump-after.
            "--toggle-collect=pipeline_bench::collected",
            "--dump-after=pipeline_bench::collected",
        ])
        .arg(format!("--callgrind-out-file={}", base.display()))
        .arg(&exe)
        .args(["--inner-run", "--reps", "1", "--publishes", "0"])
        .args(["--dirs", &dirs.join(","), "--sizes", &sizes.join(",")])
        .args(["--sessions", &sessions.to_string()])
        .args(["--packets", &args.callgrind_packets.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .context("running valgrind")?;
    if !status.success() {
        bail!("valgrind failed: {status}");
    }
    // Parts 1, 2, ...: measured, io_only for each combination in order.
    let part = |n: usize| -> Option<f64> {
        let p = format!("{}.{n}", base.display());
        let text = std::fs::read_to_string(&p).ok()?;
        let total: u64 = text
            .lines()
            .find_map(|l| {
                l.strip_prefix("summary:")
                    .or_else(|| l.strip_prefix("totals:"))
            })?
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        Some(total as f64 / args.callgrind_packets as f64)
    };
    let out = (0..combos.len())
        .map(|i| (part(2 * i + 1), part(2 * i + 2)))
        .collect();
    eprintln!(
        "callgrind profiles kept in {}.N (N = 1, 3, ... pipeline; 2, 4, ... harness); \
         see them with callgrind_annotate",
        base.display()
    );
    Ok(out)
}

struct Row {
    dir: Dir,
    inner: usize,
    sessions: u32,
    f: Figures,
    heap_per_session: Option<u64>,
    heap_total: Option<u64>,
    publish_us: Option<f64>,
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let tsc_hz = cpu::measure_tsc_hz(Duration::from_millis(50));
    let combos: Vec<(Dir, usize)> = args
        .dirs
        .iter()
        .flat_map(|&d| args.sizes.iter().map(move |&s| (d, s)))
        .collect();
    let mut rows: Vec<Row> = Vec::new();
    if !args.inner_run {
        println!(
            "pipeline bench: 1 worker, QER (MBR) + URR on, uniform random sessions; TSC {:.3} GHz; {} x {} packets per figure",
            tsc_hz as f64 / 1e9,
            args.reps,
            args.packets
        );
        println!(
            "cyc/pkt: median over reps of the median chunk's TSC cycles per packet, harness included; io: the harness alone; pipe = cyc - io"
        );
        println!(
            "{:>4} {:>6} {:>9} {:>8} {:>8} {:>8} {:>7} {:>7} {:>7} {:>9} {:>9} {:>7}",
            "dir",
            "inner",
            "sessions",
            "cyc/pkt",
            "min",
            "max",
            "io",
            "pipe",
            "Mpps",
            "instr/pkt",
            "io instr",
            "loss"
        );
    }
    for &sessions in &args.sessions {
        let rss0 = rss_bytes();
        let heap0 = heap_bytes();
        let t0 = Instant::now();
        let (mut ctl, port) = setup(sessions, args.sized);
        let install = t0.elapsed();
        let heap = heap_bytes().zip(heap0).map(|(b, a)| b.saturating_sub(a));
        let publish_us =
            (args.publishes > 0).then(|| single_publish_us(&mut ctl, sessions, args.publishes));
        if !args.inner_run {
            println!(
                "  {sessions} sessions installed in {install:.2?} (batches of 100k); live heap +{:.1} MiB ({:.0} B/session, state for 1 worker included; RSS +{:.1} MiB); one-session publish {} us",
                heap.unwrap_or(0) as f64 / 1_048_576.0,
                heap.unwrap_or(0) as f64 / f64::from(sessions),
                rss_bytes()
                    .zip(rss0)
                    .map_or(0, |(b, a)| b.saturating_sub(a)) as f64
                    / 1_048_576.0,
                opt(publish_us),
            );
        }
        let mut w = Worker::new(port, BenchIo::new(sessions));
        let mut these = Vec::new();
        for &(dir, inner) in &combos {
            let f = run_one(
                &mut ctl,
                &mut w,
                dir,
                inner,
                args.packets,
                args.reps,
                tsc_hz,
                args.inner_run,
            );
            these.push(Row {
                dir,
                inner,
                sessions,
                f,
                heap_per_session: heap.map(|h| h / u64::from(sessions)),
                heap_total: heap,
                publish_us,
            });
        }
        drop(w);
        drop(ctl);
        if args.inner_run {
            continue;
        }
        let under_cg = args.callgrind
            && args
                .callgrind_sessions
                .as_ref()
                .is_none_or(|l| l.contains(&sessions));
        if under_cg {
            for (r, (i, io)) in these.iter_mut().zip(callgrind(&args, sessions, &combos)?) {
                r.f.instr_per_pkt = i;
                r.f.io_instr_per_pkt = io;
            }
        }
        for r in &these {
            let f = &r.f;
            let med = median(&f.cycles);
            let io = median(&f.io_cycles);
            println!(
                "{:>4} {:>6} {:>9} {:>8} {:>8} {:>8} {:>7} {:>7} {:>7.2} {:>9} {:>9} {:>7.4}",
                r.dir.name(),
                r.inner,
                r.sessions,
                opt(med),
                opt(min_of(&f.cycles)),
                opt(max_of(&f.cycles)),
                opt(io),
                opt(med.zip(io).map(|(a, b)| a - b)),
                med.map_or(0.0, |c| tsc_hz as f64 / c / 1e6),
                opt(f.instr_per_pkt),
                opt(f.io_instr_per_pkt),
                f.loss
            );
        }
        rows.extend(these);
    }
    if args.inner_run {
        return Ok(());
    }
    let m = machine();
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
        "{{\n  \"date\": {}, \"git\": {}, \"command\": {},\n  \"machine\": {{ \"cpu\": {}, \"mhz\": {}, \"cores\": {}, \"tsc_hz\": {tsc_hz}, \"loadavg\": {} }},\n  \"notes\": {},\n  \"results\": [\n",
        json_str(&iso_now()),
        git.as_deref().map_or_else(|| "null".into(), json_str),
        json_str(&command),
        json_str(&m.cpu),
        m.mhz,
        m.cores,
        m.load.as_deref().map_or_else(|| "null".into(), json_str),
        json_str(
            "cycles_per_pkt: median over reps of each rep's median chunk (128 polls) of wall TSC cycles per packet, I/O harness included; \
             wall_cycles_per_pkt: whole reps; on_cpu_cycles_per_pkt: schedstat on-CPU time (scheduler-tick granular); \
             io_cycles_per_pkt / io_instr_per_pkt: the harness alone (header restore + session patch, rx/tx); \
             pipeline_* = total - io"
        ),
    );
    for (i, r) in rows.iter().enumerate() {
        let f = &r.f;
        let med = median(&f.cycles);
        let io = median(&f.io_cycles);
        let _ = writeln!(
            j,
            "    {{ \"bench\": \"pipeline\", \"direction\": \"{}\", \"sessions\": {}, \"inner_bytes\": {}, \"workers\": 1, \
\"mpps\": {}, \"cycles_per_pkt\": {}, \"cycles_per_pkt_min\": {}, \"cycles_per_pkt_max\": {}, \"cycles_per_pkt_reps\": {}, \
\"wall_cycles_per_pkt\": {}, \"on_cpu_cycles_per_pkt\": {}, \"io_cycles_per_pkt\": {}, \"pipeline_cycles_per_pkt\": {}, \
\"instr_per_pkt\": {}, \"io_instr_per_pkt\": {}, \"pipeline_instr_per_pkt\": {}, \
\"heap_bytes_per_session\": {}, \"heap_bytes_total\": {}, \"publish_one_session_us\": {}, \"drops\": {}, \
\"ratio_to_testpmd\": null, \"loss\": {:.6}, \"p50_us\": null, \"p99_us\": null, \"p999_us\": null }}{}",
            r.dir.name(),
            r.sessions,
            r.inner,
            med.map_or_else(
                || "null".into(),
                |c| format!("{:.3}", tsc_hz as f64 / c / 1e6)
            ),
            opt(med),
            opt(min_of(&f.cycles)),
            opt(max_of(&f.cycles)),
            list(&f.cycles),
            opt(median(&f.wall_cycles)),
            opt(median(&f.on_cpu_cycles)),
            opt(io),
            opt(med.zip(io).map(|(a, b)| a - b)),
            opt(f.instr_per_pkt),
            opt(f.io_instr_per_pkt),
            opt(f.instr_per_pkt.zip(f.io_instr_per_pkt).map(|(a, b)| a - b)),
            r.heap_per_session
                .map_or_else(|| "null".to_owned(), |h| h.to_string()),
            r.heap_total
                .map_or_else(|| "null".to_owned(), |h| h.to_string()),
            opt(r.publish_us),
            f.drops,
            f.loss,
            if i + 1 < rows.len() { "," } else { "" }
        );
    }
    j.push_str("  ]\n}\n");
    let path = args.out.clone().unwrap_or_else(|| {
        format!(
            "perf/results/pipeline-{}{}.json",
            iso_now().replace(':', ""),
            if args.quick { "-quick" } else { "" }
        )
    });
    if let Some(dir) = std::path::Path::new(&path).parent() {
        std::fs::create_dir_all(dir).ok();
    }
    std::fs::write(&path, &j).with_context(|| format!("writing {path}"))?;
    println!("results written to {path}");
    Ok(())
}
