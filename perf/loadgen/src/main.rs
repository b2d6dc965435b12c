//! `loadgen`: sends UL GTP-U to a UPF's N3 and DL IPv4 to its N6 over two
//! DPDK ports at a paced rate, receives what it forwards, and reports
//! throughput, loss, reordering and latency (fixed rate, or NDR/PDR search
//! with latency at 50 % of NDR). See `loadgen --help` and perf/README.md.
#![forbid(unsafe_code)]

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use loadgen::engine::{Engine, EngineConfig, MAX_BURST, TrialReport};
use loadgen::plan::{Plan, parse_cidr};
use loadgen::report::{self, RowCommon};
use loadgen::search::{SearchConfig, SearchResult, search};
use loadgen::stamp::Dir;
use loadgen::template::{PortMacs, Templates};
use loadgen::wire::{Expect, FrameSpec, MAX_INNER, MIN_INNER, Mac, mac_to_string, parse_mac};
use serde_json::json;

/// Exit status when the device sends nothing back in the warm-up trial.
const EXIT_NOTHING_BACK: u8 = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Traffic {
    /// UL G-PDUs to N3 only.
    Ul,
    /// DL IPv4 to N6 only.
    Dl,
    /// Both, the same rate each way.
    Bidir,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// One trial at --rate-mpps for --duration-s.
    Fixed,
    /// NDR, then PDR, then a latency trial at 50 % of NDR.
    Search,
}

fn parse_u32_auto(s: &str) -> Result<u32, String> {
    let r = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u32::from_str_radix(h, 16)
    } else {
        s.parse()
    };
    r.map_err(|e| format!("{s:?}: {e}"))
}

/// DPDK load generator for the UPF: UL GTP-U toward N3, DL IPv4 toward N6,
/// both received back and measured (Mpps, Gbps, loss, reordering, latency).
///
/// EAL arguments go after `--` (default: -l 0,1 --no-huge -m 256 --no-pci
/// --file-prefix loadgen-PID). The session plan options match
/// perf/gen/sessions.py, whose `config` output the UPF must run.
#[derive(Debug, Parser)]
#[command(name = "loadgen", version)]
#[allow(clippy::struct_excessive_bools)]
struct Cli {
    /// N3-facing device (UL leaves, DL returns), e.g.
    /// net_memif0,role=server,socket=/tmp/x/n3.sock,socket-abstract=no
    #[arg(long)]
    n3: Option<String>,
    /// N6-facing device (DL leaves, UL returns).
    #[arg(long)]
    n6: Option<String>,
    /// The device's MAC on the N3 link (default: learned by ARP for
    /// --upf-n3, or from the first frame it sends).
    #[arg(long, value_parser = parse_mac)]
    n3_peer_mac: Option<Mac>,
    /// The device's MAC on the N6 link (default: learned by ARP for --upf-n6).
    #[arg(long, value_parser = parse_mac)]
    n6_peer_mac: Option<Mac>,
    /// The UPF's N6 address (ARP target when learning its MAC).
    #[arg(long, default_value = "10.200.0.1")]
    upf_n6: Ipv4Addr,
    /// Our address on N6: the UPF's gateway to the data network (we
    /// answer ARP for it).
    #[arg(long, default_value = "10.200.0.254")]
    gateway: Ipv4Addr,
    /// Seconds to wait for the links (memif: the peer connecting).
    #[arg(long, default_value_t = 15.0)]
    link_timeout_s: f64,
    /// Seconds to try to learn the device's MACs.
    #[arg(long, default_value_t = 5.0)]
    resolve_timeout_s: f64,

    /// Sessions (as sessions.py -n).
    #[arg(long, short = 'n', default_value_t = 10_000)]
    sessions: u32,
    /// UE addresses are taken from this CIDR.
    #[arg(long, default_value = "10.45.0.0/16")]
    ue_pool: String,
    /// First UE = pool network + offset.
    #[arg(long, default_value_t = 2)]
    ue_offset: u32,
    /// N3 F-TEID of session 0.
    #[arg(long, default_value = "0x01000000", value_parser = parse_u32_auto)]
    ul_teid_base: u32,
    /// gNB TEID of session 0.
    #[arg(long, default_value = "0x02000000", value_parser = parse_u32_auto)]
    dl_teid_base: u32,
    /// Also accept DL G-PDUs with gNB TEID `this + session` (a reload
    /// switching TEIDs); reported as `alt_teid` and version switches.
    #[arg(long, value_parser = parse_u32_auto)]
    dl_teid_alt_base: Option<u32>,
    /// QFI in the PDU Session Containers.
    #[arg(long, default_value_t = 9)]
    qfi: u8,
    /// gNB N3 address (UL outer source; we answer ARP for it on N3).
    #[arg(long, default_value = "192.168.1.2")]
    gnb: Ipv4Addr,
    /// UPF N3 address (UL outer destination).
    #[arg(long, default_value = "192.168.1.1")]
    upf_n3: Ipv4Addr,
    /// Data-network server (UL inner destination, DL source).
    #[arg(long, default_value = "198.51.100.1")]
    dn_server: Ipv4Addr,
    /// UL G-PDUs without the PDU Session Container.
    #[arg(long)]
    no_psc: bool,

    /// Directions sent.
    #[arg(long, value_enum, default_value_t = Traffic::Bidir)]
    traffic: Traffic,
    /// Inner IP packet bytes (UL: inside the tunnel; DL: the IP packet).
    #[arg(long, default_value_t = 64)]
    inner_bytes: usize,
    /// Packets per burst.
    #[arg(long, default_value_t = 32)]
    burst: usize,
    /// Seed of the session send order.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// What the device sends back: upf (UL decapsulated, DL encapsulated),
    /// passthrough (unchanged, e.g. testpmd), any.
    #[arg(long, value_enum, default_value_t = Expect::Any)]
    expect: Expect,

    /// fixed: one trial; search: NDR, PDR, latency at 50 % NDR.
    #[arg(long, value_enum, default_value_t = Mode::Fixed)]
    mode: Mode,
    /// Rate per direction (fixed mode).
    #[arg(long, default_value_t = 0.1)]
    rate_mpps: f64,
    /// Seconds of sending (fixed mode).
    #[arg(long, default_value_t = 5.0)]
    duration_s: f64,
    /// Fixed mode: end the sending early once this file exists (looked for
    /// every 50 ms; the drain follows), so that a test done with the
    /// traffic need not wait out --duration-s. Rates are over the time sent.
    #[arg(long)]
    stop_file: Option<PathBuf>,
    /// Warm-up trial before anything is measured (0: none).
    #[arg(long, default_value_t = 0.5)]
    warmup_s: f64,
    /// Warm-up rate per direction.
    #[arg(long, default_value_t = 0.02)]
    warmup_mpps: f64,
    /// Search: lowest rate per direction worth trying.
    #[arg(long, default_value_t = 0.01)]
    min_mpps: f64,
    /// Search: highest rate per direction tried.
    #[arg(long, default_value_t = 10.0)]
    max_mpps: f64,
    /// Search: stop when the interval is narrower than this fraction.
    #[arg(long, default_value_t = 0.02)]
    precision: f64,
    /// Search: seconds per trial.
    #[arg(long, default_value_t = 1.0)]
    trial_s: f64,
    /// Search: seconds of a confirmation trial at the result (0: none).
    #[arg(long, default_value_t = 0.0)]
    final_s: f64,
    /// Search: seconds of the latency trial at 50 % of NDR (0: none).
    #[arg(long, default_value_t = 2.0)]
    latency_s: f64,
    /// Search: after the trial at 50 % of NDR, a latency trial (of
    /// --latency-s) at each of these rates per direction, Mpps,
    /// comma-separated: the same absolute load for every device, so that
    /// their latencies compare (50 % of each one's own NDR does not).
    #[arg(long, value_delimiter = ',')]
    latency_mpps: Vec<f64>,
    /// Search: loss ratio of the PDR.
    #[arg(long, default_value_t = 0.005)]
    pdr_loss: f64,
    /// Search: NDR only.
    #[arg(long)]
    no_pdr: bool,
    /// Milliseconds to keep receiving after the last packet of a trial.
    #[arg(long, default_value_t = 200)]
    drain_ms: u64,
    /// After a stall, at most this many microseconds of traffic are sent
    /// late; the rest is skipped (and reported).
    #[arg(long, default_value_t = 10_000.0)]
    max_backlog_us: f64,
    /// PID of the device under test: its worker threads' CPU time is
    /// measured per trial (packets per CPU-second on a shared machine).
    #[arg(long)]
    dut_pid: Option<u32>,
    /// File holding the device's PID, read once the links are up (the
    /// device starts after the generator when the generator is the memif
    /// server).
    #[arg(long, conflicts_with = "dut_pid")]
    dut_pidfile: Option<PathBuf>,
    /// Name prefix of the device's worker threads (EAL names its lcore
    /// threads rte-worker-N).
    #[arg(long, default_value = "rte-worker")]
    dut_threads: String,

    /// Lcore that sends (default: the first EAL worker lcore).
    #[arg(long)]
    tx_lcore: Option<u32>,
    /// Separate lcore that receives (default: the tx lcore does both).
    #[arg(long)]
    rx_lcore: Option<u32>,
    /// Mbufs in the pool.
    #[arg(long, default_value_t = 16_384)]
    mbufs: u32,

    /// Write the results document (ARCHITECTURE.md format) here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Name of the device under test in the results.
    #[arg(long, default_value = "dut")]
    label: String,
    /// Write the frames that would be sent (stamped, in send order) to this
    /// pcap and exit, without DPDK.
    #[arg(long)]
    dump_pcap: Option<PathBuf>,
    /// Frames per direction in the dump (default: one per session, at most
    /// 100,000).
    #[arg(long)]
    dump_count: Option<usize>,

    /// Create this file once both ports are started: a memif client may
    /// connect from then on (a server whose port is not started yet turns
    /// clients away: "ID not found", and DPDK's client does not retry).
    #[arg(long)]
    ready_file: Option<PathBuf>,
    /// After the run, keep the ports up until a link goes down (the device
    /// disconnected) or this many seconds pass, so that a memif client can
    /// stop while its server is still there (DPDK 22.11's memif client can
    /// crash when it stops after its server is gone).
    #[arg(long, default_value_t = 0.0)]
    linger_s: f64,

    /// EAL arguments.
    #[arg(last = true)]
    eal: Vec<String>,
}

impl Cli {
    fn plan(&self) -> anyhow::Result<Plan> {
        let (ue_pool, ue_prefix) = parse_cidr(&self.ue_pool)?;
        let p = Plan {
            sessions: self.sessions,
            ue_pool,
            ue_prefix,
            ue_offset: self.ue_offset,
            ul_teid_base: self.ul_teid_base,
            dl_teid_base: self.dl_teid_base,
            qfi: self.qfi,
            gnb: self.gnb,
            upf_n3: self.upf_n3,
            dn_server: self.dn_server,
        };
        p.validate()?;
        Ok(p)
    }

    fn spec(&self) -> anyhow::Result<FrameSpec> {
        if !(MIN_INNER..=MAX_INNER).contains(&self.inner_bytes) {
            bail!(
                "--inner-bytes {}: must be {MIN_INNER}..={MAX_INNER} (IPv4 + UDP + the 24-byte stamp at least)",
                self.inner_bytes
            );
        }
        Ok(FrameSpec {
            inner_bytes: self.inner_bytes,
            psc: !self.no_psc,
        })
    }

    fn dirs(&self) -> Vec<Dir> {
        match self.traffic {
            Traffic::Ul => vec![Dir::Ul],
            Traffic::Dl => vec![Dir::Dl],
            Traffic::Bidir => vec![Dir::Ul, Dir::Dl],
        }
    }

    fn check(&self) -> anyhow::Result<()> {
        if self.burst == 0 || self.burst > MAX_BURST {
            bail!("--burst {}: must be 1..={MAX_BURST}", self.burst);
        }
        for (name, v) in [
            ("--rate-mpps", self.rate_mpps),
            ("--min-mpps", self.min_mpps),
            ("--max-mpps", self.max_mpps),
            ("--duration-s", self.duration_s),
            ("--trial-s", self.trial_s),
        ] {
            if !(v.is_finite() && v > 0.0) {
                bail!("{name} {v}: must be a positive number");
            }
        }
        if let Some(v) = self
            .latency_mpps
            .iter()
            .find(|v| !(v.is_finite() && **v > 0.0))
        {
            bail!("--latency-mpps {v}: must be positive numbers");
        }
        if self.min_mpps >= self.max_mpps {
            bail!("--min-mpps must be below --max-mpps");
        }
        if !(self.precision > 0.0 && self.precision < 1.0) {
            bail!("--precision {}: must be between 0 and 1", self.precision);
        }
        if !(self.pdr_loss > 0.0 && self.pdr_loss < 1.0) {
            bail!("--pdr-loss {}: must be between 0 and 1", self.pdr_loss);
        }
        Ok(())
    }

    fn row_common(&self, spec: FrameSpec) -> RowCommon {
        let dirs = self.dirs();
        let fb: serde_json::Map<String, serde_json::Value> = dirs
            .iter()
            .map(|d| (d.name().to_owned(), json!(spec.frame_len(*d))))
            .collect();
        RowCommon {
            system: self.label.clone(),
            direction: dirs.iter().map(|d| d.name()).collect::<Vec<_>>().join("+"),
            sessions: self.sessions,
            inner_bytes: self.inner_bytes,
            frame_bytes: serde_json::Value::Object(fb),
            expect: format!("{:?}", self.expect).to_lowercase(),
        }
    }
}

/// Default MACs for a dump without ports: locally administered.
const DUMP_OURS: [Mac; 2] = [[2, 0, 0, 0, 0x33, 2], [2, 0, 0, 0, 0x66, 2]];
const DUMP_PEER: [Mac; 2] = [[2, 0, 0, 0, 0x33, 1], [2, 0, 0, 0, 0x66, 1]];

fn dump(cli: &Cli, path: &PathBuf) -> anyhow::Result<()> {
    let plan = cli.plan()?;
    let spec = cli.spec()?;
    let macs = |i: usize| PortMacs {
        ours: DUMP_OURS[i],
        peer: [cli.n3_peer_mac, cli.n6_peer_mac][i].unwrap_or(DUMP_PEER[i]),
    };
    let mut t = Templates::build(&plan, spec, macs(0), macs(1), cli.seed);
    t.set_trial(1);
    let count = cli
        .dump_count
        .unwrap_or_else(|| (plan.sessions as usize).min(100_000));
    let mut frames = Vec::new();
    let mut seq = [
        vec![0u32; plan.sessions as usize],
        vec![0u32; plan.sessions as usize],
    ];
    for k in 0..count {
        for d in cli.dirs() {
            let s = t.order[k % t.order.len()] as usize;
            let dt = &t.dirs[d.index()];
            let mut f = vec![0u8; dt.frame_len()];
            dt.write(s, &mut f, seq[d.index()][s], k as u64);
            seq[d.index()][s] += 1;
            frames.push(f);
        }
    }
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    loadgen::pcap::write(
        std::io::BufWriter::new(file),
        frames.iter().map(Vec::as_slice),
    )
    .with_context(|| format!("writing {}", path.display()))?;
    eprintln!(
        "loadgen: wrote {} frames ({} per direction, {}) to {}",
        frames.len(),
        count,
        cli.dirs()
            .iter()
            .map(|d| d.name())
            .collect::<Vec<_>>()
            .join("+"),
        path.display()
    );
    Ok(())
}

fn eal_args(cli: &Cli) -> Vec<String> {
    if cli.eal.is_empty() {
        [
            "-l",
            "0,1",
            "--no-huge",
            "-m",
            "256",
            "--no-pci",
            "--file-prefix",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .chain([format!("loadgen-{}", std::process::id())])
        .collect()
    } else {
        cli.eal.clone()
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

/// The run's outcome for the exit status.
enum Outcome {
    Done,
    NothingBack,
}

fn run(cli: &Cli) -> anyhow::Result<Outcome> {
    let plan = cli.plan()?;
    let spec = cli.spec()?;
    cli.check()?;
    let (Some(n3), Some(n6)) = (&cli.n3, &cli.n6) else {
        bail!("--n3 and --n6 devices are required (or --dump-pcap)");
    };
    let eal = dpdk::Eal::init(&eal_args(cli)).context("starting DPDK (EAL)")?;
    let workers = eal.worker_lcores();
    let lcore = |id: Option<u32>, what: &str| -> anyhow::Result<Option<dpdk::Lcore>> {
        match id {
            None => Ok(None),
            Some(i) => match eal.lcore(i) {
                Some(l) if l != eal.main_lcore() => Ok(Some(l)),
                _ => bail!("{what} {i} is not an EAL worker lcore (workers: {workers:?})"),
            },
        }
    };
    let tx_lcore = match lcore(cli.tx_lcore, "--tx-lcore")? {
        Some(l) => l,
        None => *workers
            .first()
            .context("EAL has no worker lcore: give it two, e.g. -l 0,1 or --lcores 0@0,1@0")?,
    };
    let rx_lcore = lcore(cli.rx_lcore, "--rx-lcore")?;
    if rx_lcore == Some(tx_lcore) {
        bail!("--rx-lcore must differ from the tx lcore (omit it to use one lcore for both)");
    }
    let rate_for_backlog = if cli.mode == Mode::Fixed {
        cli.rate_mpps
    } else {
        cli.max_mpps
    };
    let max_backlog = ((rate_for_backlog * cli.max_backlog_us) as u64).max(cli.burst as u64);
    let cfg = EngineConfig {
        devices: [n3.clone(), n6.clone()],
        mbufs: cli.mbufs,
        burst: cli.burst,
        dirs: cli.dirs(),
        drain: Duration::from_millis(cli.drain_ms),
        max_backlog,
        plan: plan.clone(),
        spec,
        expect: cli.expect,
        tx_lcore,
        rx_lcore,
        ips: [plan.gnb, cli.gateway],
        peer_ips: [plan.upf_n3, cli.upf_n6],
        dut_threads: None,
        alt_dl_teid_base: cli.dl_teid_alt_base,
    };
    let mut eng = Engine::open(&eal, cfg)?;
    let names = eng.port_names();
    let ours = eng.macs();
    eprintln!(
        "loadgen: N3 {} (mac {}), N6 {} (mac {}); tsc {} Hz; tx {tx_lcore}{}",
        names[0],
        mac_to_string(&ours[0]),
        names[1],
        mac_to_string(&ours[1]),
        eng.tsc_hz(),
        rx_lcore.map_or_else(|| " (also rx)".to_owned(), |l| format!(", rx {l}"))
    );
    if let Some(f) = &cli.ready_file {
        std::fs::write(f, format!("{}\n", std::process::id()))
            .with_context(|| format!("writing --ready-file {}", f.display()))?;
    }
    eng.wait_links(secs(cli.link_timeout_s))?;
    let dut_pid =
        match (&cli.dut_pid, &cli.dut_pidfile) {
            (Some(p), _) => Some(*p),
            (None, Some(f)) => {
                let s = std::fs::read_to_string(f)
                    .with_context(|| format!("reading --dut-pidfile {}", f.display()))?;
                Some(s.trim().parse().with_context(|| {
                    format!("--dut-pidfile {}: {s:?} is not a PID", f.display())
                })?)
            }
            (None, None) => None,
        };
    if let Some(pid) = dut_pid {
        if loadgen::cpustat::threads_of(pid, &cli.dut_threads).is_none() {
            log::warn!(
                "no thread named {}* in process {pid}: the device's CPU time will not be measured",
                cli.dut_threads
            );
        }
        eng.set_dut_threads(pid, &cli.dut_threads);
    }
    eng.announce()?;
    let peers = eng.resolve(
        [cli.n3_peer_mac, cli.n6_peer_mac],
        secs(cli.resolve_timeout_s),
    )?;
    eprintln!(
        "loadgen: links up; device MACs: N3 {}, N6 {}",
        mac_to_string(&peers[0]),
        mac_to_string(&peers[1])
    );
    eng.set_templates(Templates::build(
        &plan,
        spec,
        PortMacs {
            ours: ours[0],
            peer: peers[0],
        },
        PortMacs {
            ours: ours[1],
            peer: peers[1],
        },
        cli.seed,
    ))?;
    let common = cli.row_common(spec);
    println!(
        "loadgen: {}: {} sessions, {}, inner {} B (frames: {}), expect {}",
        cli.label,
        plan.sessions,
        common.direction,
        spec.inner_bytes,
        cli.dirs()
            .iter()
            .map(|d| format!("{} {} B", d.name(), spec.frame_len(*d)))
            .collect::<Vec<_>>()
            .join(", "),
        common.expect
    );

    if cli.warmup_s > 0.0 {
        let t = eng.trial(cli.warmup_mpps * 1e6, secs(cli.warmup_s))?;
        println!("{}", report::trial_line("warmup", &t));
        if t.directions.iter().all(|d| d.received == 0) {
            let bad: u64 = t.directions.iter().map(|d| d.mismatched.total()).sum();
            eprintln!(
                "loadgen: nothing came back in the warm-up trial ({} frames offered; {bad} came back with wrong headers, {} unrecognised): the device forwards nothing",
                t.directions.iter().map(|d| d.tx.offered).sum::<u64>(),
                t.other
            );
            write_json(
                cli,
                &eng,
                &[],
                json!({"error": "nothing came back in the warm-up trial", "warmup": t}),
            )?;
            linger(cli, eng);
            return Ok(Outcome::NothingBack);
        }
    }

    let rows = match cli.mode {
        Mode::Fixed => {
            let t = eng.trial_until(
                cli.rate_mpps * 1e6,
                secs(cli.duration_s),
                cli.stop_file.as_deref(),
            )?;
            println!("{}", report::trial_line("fixed", &t));
            summary_fixed(&t);
            vec![report::fixed_row(&common, &t)]
        }
        Mode::Search => {
            let base = SearchConfig {
                min_pps: cli.min_mpps * 1e6,
                max_pps: cli.max_mpps * 1e6,
                precision: cli.precision,
                trial_s: cli.trial_s,
                final_s: cli.final_s,
                max_loss: 0.0,
            };
            let ndr = search(&base, &[], trial_fn(&mut eng, "ndr"))?;
            let pdr_cfg = SearchConfig {
                max_loss: cli.pdr_loss,
                ..base
            };
            let pdr = if cli.no_pdr {
                None
            } else {
                Some(search(&pdr_cfg, &ndr.trials, trial_fn(&mut eng, "pdr"))?)
            };
            let lat = match ndr.rate_pps {
                Some(r) if cli.latency_s > 0.0 => {
                    let t = eng.trial(r * 0.5, secs(cli.latency_s))?;
                    println!("{}", report::trial_line("lat@50%", &t));
                    Some(t)
                }
                _ => None,
            };
            let mut at_rates = Vec::new();
            if cli.latency_s > 0.0 {
                for &r in &cli.latency_mpps {
                    let t = eng.trial(r * 1e6, secs(cli.latency_s))?;
                    println!("{}", report::trial_line("lat@rate", &t));
                    at_rates.push(t);
                }
            }
            summary_search(&ndr, pdr.as_ref(), lat.as_ref(), cli.pdr_loss);
            report::search_rows(
                &common,
                &ndr,
                pdr.as_ref(),
                lat.as_ref(),
                &at_rates,
                [0.0, cli.pdr_loss],
            )
        }
    };
    write_json(cli, &eng, &rows, json!({}))?;
    linger(cli, eng);
    Ok(Outcome::Done)
}

/// Waits for a link to go down, at most `--linger-s`, then ends the
/// process. The queues are not polled meanwhile: DPDK 22.11's memif PMD
/// unmaps a link's rings from its control thread when the peer disconnects,
/// racing with a concurrent rx/tx burst (a segfault, seen here). For the
/// same reason a port whose peer is gone is not closed: when a link went
/// down the engine is leaked and the process exits as is (the OS reclaims
/// everything; the caller removes the DPDK runtime directory as always).
fn linger(cli: &Cli, eng: Engine) {
    if cli.linger_s <= 0.0 {
        return;
    }
    eprintln!(
        "loadgen: done; waiting up to {} s for the device to disconnect",
        cli.linger_s
    );
    let t0 = std::time::Instant::now();
    while t0.elapsed() < secs(cli.linger_s) && eng.links_up() {
        std::thread::sleep(Duration::from_millis(20));
    }
    if !eng.links_up() {
        eprintln!("loadgen: the device disconnected; exiting without closing the ports");
        std::mem::forget(eng);
    }
}

/// One search trial: run it and print its line.
fn trial_fn<'a>(
    eng: &'a mut Engine,
    what: &'static str,
) -> impl FnMut(f64, f64) -> anyhow::Result<TrialReport> + 'a {
    move |pps, dur| {
        let t = eng.trial(pps, secs(dur))?;
        println!("{}", report::trial_line(what, &t));
        Ok(t)
    }
}

fn write_json(
    cli: &Cli,
    eng: &Engine,
    rows: &[serde_json::Value],
    extra: serde_json::Value,
) -> anyhow::Result<()> {
    let Some(path) = &cli.json else { return Ok(()) };
    let stats = eng.port_stats();
    let mut info = json!({
        "label": cli.label,
        "devices": { "n3": cli.n3, "n6": cli.n6 },
        "traffic": format!("{:?}", cli.traffic).to_lowercase(),
        "burst": cli.burst,
        "drain_ms": cli.drain_ms,
        "trial_s": cli.trial_s,
        "precision": cli.precision,
        "tx_lcore": cli.tx_lcore,
        "rx_lcore": cli.rx_lcore,
        "eal": eal_args(cli),
        "port_stats": {
            "n3": stats[0].map(|s| json!({"ipackets": s.ipackets, "opackets": s.opackets, "imissed": s.imissed, "oerrors": s.oerrors, "rx_nombuf": s.rx_nombuf})),
            "n6": stats[1].map(|s| json!({"ipackets": s.ipackets, "opackets": s.opackets, "imissed": s.imissed, "oerrors": s.oerrors, "rx_nombuf": s.rx_nombuf})),
        },
    });
    if let (serde_json::Value::Object(i), serde_json::Value::Object(e)) = (&mut info, extra) {
        i.extend(e);
    }
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let doc = report::document(&command, Some(eng.tsc_hz()), rows, &info);
    let tmp = path.with_extension("json.tmp");
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    serde_json::to_writer_pretty(&mut f, &doc)?;
    f.write_all(b"\n")?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("loadgen: wrote {}", path.display());
    Ok(())
}

fn summary_fixed(t: &TrialReport) {
    for d in &t.directions {
        let l = &d.latency;
        println!(
            "{}: offered {} received {} lost {} ({:.4} %), {:.4} Mpps {:.3} Gbps, reordered {}, bad {}, latency us p50 {:?} p99 {:?} p99.9 {:?} max {:?}",
            d.direction,
            d.tx.offered,
            d.received,
            d.lost,
            d.loss * 100.0,
            d.rx_mpps,
            d.rx_gbps,
            d.reordered,
            d.mismatched.total(),
            l.p50_us,
            l.p99_us,
            l.p999_us,
            l.max_us
        );
    }
}

fn summary_search(
    ndr: &SearchResult<TrialReport>,
    pdr: Option<&SearchResult<TrialReport>>,
    lat: Option<&TrialReport>,
    pdr_loss: f64,
) {
    let line =
        |name: String, r: &SearchResult<TrialReport>| match r.best.and_then(|i| r.trials.get(i)) {
            Some(t) => println!(
                "{name}: {:.4} Mpps/dir ({:.4} Mpps total, {:.3} Gbps), loss {:.4} %{}",
                t.outcome.offered_mpps_per_dir,
                t.outcome.offered_mpps_per_dir * t.outcome.directions.len() as f64,
                t.outcome.directions.iter().map(|d| d.rx_gbps).sum::<f64>(),
                t.outcome.loss * 100.0,
                if r.generator_limited {
                    " [generator-limited: the device may do more]"
                } else {
                    ""
                }
            ),
            None => println!("{name}: none (loss even at the lowest rate tried)"),
        };
    line("NDR".into(), ndr);
    if let Some(p) = pdr {
        line(format!("PDR ({} %)", pdr_loss * 100.0), p);
    }
    if let Some(t) = lat {
        for d in &t.directions {
            let l = &d.latency;
            println!(
                "latency at {:.4} Mpps/dir (50 % NDR), {}: p50 {:?} p99 {:?} p99.9 {:?} max {:?} us (loss {:.4} %)",
                t.offered_mpps_per_dir,
                d.direction,
                l.p50_us,
                l.p99_us,
                l.p999_us,
                l.max_us,
                d.loss * 100.0
            );
        }
    }
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    let res = match &cli.dump_pcap {
        Some(p) => dump(&cli, p).map(|()| Outcome::Done),
        None => run(&cli),
    };
    match res {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::NothingBack) => ExitCode::from(EXIT_NOTHING_BACK),
        Err(e) => {
            eprintln!("loadgen: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
