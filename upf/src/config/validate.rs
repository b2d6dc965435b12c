//! Semantic validation: turns the deserialized schema into the model,
//! checking what types alone cannot (overlaps, duplicates, references,
//! reachability, host CPUs). Every problem is reported with the key path
//! of the offending value, which the source map turns into line:column;
//! all problems are collected, not just the first.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use smallvec::SmallVec;

use super::error::Diagnostic;
use super::host::{HostInfo, MAX_LCORE};
use super::model::{
    ApiConfig, Config, Cores, DataplaneConfig, DpdkConfig, Far, IdleBackoff, Interface,
    InterfaceName, Interfaces, LocalFteid, OuterHeaderCreation, Pdr, PfcpConfig, Qer, ReloadConfig,
    StaticSession, TeidRange, UePool, Urr, Volume,
};
use super::raw::{
    DEFAULT_API_PORT, DEFAULT_PFCP_PORT, DestinationInterface, FarAction, GateStatus, Measurement,
    OuterHeaderRemoval, RawConfig, RawInterface, RawSession, RawVolume, SourceInterface,
};
use super::sdf::FlowAddress;
use super::units::{Bitrate, Teid};

/// Precedence of the PDRs the short form expands to.
pub const SHORT_FORM_PRECEDENCE: u32 = 255;

/// Collects problems by key path; positions are looked up afterwards, and
/// only when there is something to report (a large valid file is then
/// parsed once, not twice).
#[derive(Default)]
struct Ctx {
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
}

impl Ctx {
    fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(Diagnostic {
            pos: None,
            path: path.into(),
            message: message.into(),
        });
    }

    fn warn(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Diagnostic {
            pos: None,
            path: path.into(),
            message: message.into(),
        });
    }
}

fn is_usable_unicast(ip: IpAddr) -> bool {
    !(ip.is_unspecified() || ip.is_multicast() || matches!(ip, IpAddr::V4(a) if a.is_broadcast()))
}

/// `prev`: a config validated before (the running one, on reload), whose
/// sessions need not be checked against the dataplane's rules again where
/// they are unchanged (see below). `reused[i]`: `raw.sessions[i]` is a
/// copy of `prev`'s `effective.sessions[i]` (the reader took it from
/// there unread, `fast::deserialize`), so equal to it without comparing;
/// empty or shorter when not known.
pub(crate) fn validate(
    mut raw: RawConfig,
    host: Option<&HostInfo>,
    prev: Option<&Config>,
    reused: &[bool],
) -> Result<Config, Vec<Diagnostic>> {
    let mut cx = Ctx::default();

    let cores = validate_cores(&mut cx, &raw, host);
    let interfaces = validate_interfaces(&mut cx, &raw);
    let dpdk = validate_dpdk(&mut cx, &raw, &interfaces, cores.workers.len());

    // PFCP
    let p = &raw.pfcp;
    let listen = p.listen.map(|l| l.socket_addr(DEFAULT_PFCP_PORT));
    let mut peers: Vec<IpNet> = Vec::new();
    for (i, peer) in p.peers.iter().enumerate() {
        if peers.contains(&peer.0) {
            cx.error(
                format!("pfcp.peers[{i}]"),
                format!("{peer} is listed twice"),
            );
        }
        peers.push(peer.0);
    }
    let hb = p.heartbeat_interval.0;
    if hb < std::time::Duration::from_millis(100) || hb > std::time::Duration::from_secs(3600) {
        cx.error(
            "pfcp.heartbeat_interval",
            format!("{} is out of range 100ms..=1h", p.heartbeat_interval),
        );
    }
    let t1 = p.request_timeout.0;
    if t1 < std::time::Duration::from_millis(100) || t1 > std::time::Duration::from_secs(60) {
        cx.error(
            "pfcp.request_timeout",
            format!("{} is out of range 100ms..=60s", p.request_timeout),
        );
    }
    if p.request_retries > 10 {
        cx.error(
            "pfcp.request_retries",
            format!("{} is out of range 0..=10", p.request_retries),
        );
    }
    // `pfcp.listen` on a DPDK interface's own address is served through
    // that port (docs/N4.md, "N4 through the DPDK port"): nothing to say.
    let pfcp = PfcpConfig {
        listen,
        peers,
        heartbeat_interval: hb,
        request_timeout: t1,
        request_retries: p.request_retries,
    };

    let ue_pools = validate_pools(&mut cx, &raw, &interfaces);

    // TEID range
    let (first, last) = (raw.teid_range.first.0, raw.teid_range.last.0);
    if first == 0 {
        cx.error(
            "teid_range.first",
            "TEID 0 is reserved (GTP-U signalling); start at 1 or above",
        );
    }
    if first > last {
        cx.error(
            "teid_range.last",
            format!("{} is below teid_range.first {}", Teid(last), Teid(first)),
        );
    }
    let teid_range = TeidRange { first, last };

    let api = ApiConfig {
        listen: raw.api.listen.socket_addr(DEFAULT_API_PORT),
    };

    let reload = ReloadConfig {
        watch: raw.reload.watch,
        debounce: raw.reload.debounce.0,
    };
    if reload.debounce > std::time::Duration::from_secs(10) {
        cx.error(
            "reload.debounce",
            format!("{} is out of range 0..=10s", raw.reload.debounce),
        );
    }

    let d = &raw.dataplane;
    if d.burst == 0 || d.burst > 512 {
        cx.error(
            "dataplane.burst",
            format!("{} is out of range 1..=512", d.burst),
        );
    } else if d.burst > dpdk.rx_descriptors {
        cx.error(
            "dataplane.burst",
            format!(
                "{} is larger than dpdk.rx_descriptors ({})",
                d.burst, dpdk.rx_descriptors
            ),
        );
    }
    if d.max_sessions == 0 {
        cx.error("dataplane.max_sessions", "must be at least 1");
    }
    let ib = &d.idle_backoff;
    if ib.enabled {
        if ib.empty_polls == 0 {
            cx.error("dataplane.idle_backoff.empty_polls", "must be at least 1");
        }
        if ib.sleep.0.is_zero() || ib.sleep.0 > std::time::Duration::from_millis(10) {
            cx.error(
                "dataplane.idle_backoff.sleep",
                format!("{} is out of range 1ns..=10ms", ib.sleep),
            );
        }
    }
    let dataplane = DataplaneConfig {
        burst: d.burst,
        max_sessions: d.max_sessions,
        idle_backoff: ib.enabled.then_some(IdleBackoff {
            empty_polls: ib.empty_polls,
            sleep: ib.sleep.0,
        }),
    };

    let (sessions, index) = validate_sessions(
        &mut cx,
        &raw.sessions,
        &interfaces,
        teid_range,
        prev,
        reused,
    );
    if sessions.len() > usize::try_from(dataplane.max_sessions).unwrap_or(usize::MAX) {
        cx.error(
            "sessions",
            format!(
                "{} static sessions exceed dataplane.max_sessions ({})",
                sessions.len(),
                dataplane.max_sessions
            ),
        );
    }

    if cx.errors.is_empty() {
        // `check_session` is a function of the interfaces and the session
        // alone: a session equal to the one at the same place in a config
        // that passed it, under the same interfaces, passes it again. A
        // reload of 100,000 sessions of which a few changed skips the
        // translation of the rest (half of the validation's time).
        let before = prev
            .filter(|p| p.interfaces == interfaces)
            .map_or(&[][..], |p| p.sessions.as_slice());
        // What the dataplane would refuse at start, refused here with a position.
        for (i, s) in sessions.iter().enumerate() {
            let prev_session = before.get(i);
            if prev_session.is_some_and(|b| Arc::ptr_eq(b, s)) {
                continue;
            }
            // A short-form entry becomes a session of one fixed shape (two
            // PDRs, two FARs, one QER, one URR) that the dataplane takes
            // whenever `short_form`'s own checks passed, as they did
            // here (no errors): not translated just to be dropped (a
            // tenth of a reload that changes 100,000 sessions). The
            // property test `short_form_sessions_pass_check_session`
            // holds it to that.
            let short_form = raw.sessions.get(i).is_some_and(|r| {
                r.pdrs.is_empty() && r.fars.is_empty() && r.qers.is_empty() && r.urrs.is_empty()
            });
            if s.id >= crate::translate::STATIC_SESSION_BIT {
                cx.error(
                    format!("sessions[{i}].id"),
                    format!("{} is out of range 0..2^63", s.id),
                );
            } else if short_form || prev_session.is_some_and(|b| **b == **s) {
                // (Equal to the one before: passed. Compared only for the
                // full form: 100,000 edited short-form sessions were as
                // many deep comparisons for nothing.)
                continue;
            } else if let Err(e) = crate::translate::check_session(&interfaces, s) {
                let path = if e.path.is_empty() {
                    format!("sessions[{i}]")
                } else {
                    format!("sessions[{i}].{}", e.path)
                };
                cx.error(path, e.message);
            }
        }
    }
    if !cx.errors.is_empty() {
        return Err(cx.errors);
    }

    // Fill in what the effective config should show explicitly.
    if let Some(l) = raw.pfcp.listen.as_mut() {
        l.port.get_or_insert(DEFAULT_PFCP_PORT);
    }
    raw.api.listen.port.get_or_insert(DEFAULT_API_PORT);

    Ok(Config {
        node_id: raw.node_id.clone(),
        dpdk,
        cores,
        interfaces,
        pfcp,
        ue_pools,
        teid_range,
        api,
        log_level: raw.log.level.filter(),
        reload,
        dataplane,
        sessions,
        warnings: cx.warnings,
        effective: raw,
        source: super::model::Source::default(),
        index: super::model::Index(index),
    })
}

fn validate_cores(cx: &mut Ctx, raw: &RawConfig, host: Option<&HostInfo>) -> Cores {
    let c = &raw.cores;
    let check = |cx: &mut Ctx, path: String, core: u32| {
        if core >= MAX_LCORE {
            cx.error(
                path,
                format!("lcore {core} is out of range 0..{MAX_LCORE} (DPDK RTE_MAX_LCORE)"),
            );
        } else if let Some(h) = host
            && !h.cpus.contains(&core)
        {
            cx.error(
                path,
                format!(
                    "core {core} does not exist or is not available to this process (usable: {})",
                    h.cpu_list()
                ),
            );
        }
    };
    check(cx, "cores.control".into(), c.control);
    if c.workers.is_empty() {
        cx.error("cores.workers", "at least one worker core is needed");
    }
    let mut seen = HashMap::new();
    for (i, &w) in c.workers.iter().enumerate() {
        let path = format!("cores.workers[{i}]");
        check(cx, path.clone(), w);
        if w == c.control {
            cx.error(
                path,
                format!("core {w} is also cores.control; a polling worker needs a core of its own"),
            );
        } else if let Some(j) = seen.insert(w, i) {
            cx.error(
                path,
                format!("core {w} is listed twice (also cores.workers[{j}])"),
            );
        }
    }
    Cores {
        control: c.control,
        workers: c.workers.clone(),
    }
}

/// EAL options that upf derives from other keys; giving them in
/// `dpdk.args` would contradict those keys.
const RESERVED_EAL: &[(&str, &str)] = &[
    ("-l", "cores"),
    ("-c", "cores"),
    ("--lcores", "cores"),
    ("--main-lcore", "cores.control"),
    ("--master-lcore", "cores.control"),
];

fn validate_dpdk(cx: &mut Ctx, raw: &RawConfig, ifs: &Interfaces, workers: usize) -> DpdkConfig {
    let d = &raw.dpdk;
    let mut has = (false, false); // (--no-huge, --in-memory)
    for (i, arg) in d.args.iter().enumerate() {
        let path = format!("dpdk.args[{i}]");
        if arg.trim().is_empty() {
            cx.error(path.clone(), "empty argument");
        }
        for &(opt, key) in RESERVED_EAL {
            let short_attached = opt.len() == 2 && arg.starts_with(opt) && !arg.starts_with("--");
            let long_eq = arg.strip_prefix(opt).is_some_and(|r| r.starts_with('='));
            if arg == opt || short_attached || long_eq {
                cx.error(
                    path.clone(),
                    format!("`{arg}` is set by upf from `{key}`; remove it from dpdk.args"),
                );
            }
        }
        has.0 |= arg == "--no-huge";
        has.1 |= arg == "--in-memory";
    }
    if has.0 && has.1 {
        let i = d.args.iter().position(|a| a == "--in-memory").unwrap_or(0);
        cx.error(
            format!("dpdk.args[{i}]"),
            "DPDK 22.11 refuses --in-memory together with --no-huge; use a unique --file-prefix instead",
        );
    }
    for (key, v) in [
        ("rx_descriptors", d.rx_descriptors),
        ("tx_descriptors", d.tx_descriptors),
    ] {
        if !(64..=16384).contains(&v) || !v.is_power_of_two() {
            cx.error(
                format!("dpdk.{key}"),
                format!("{v} must be a power of two in 64..=16384"),
            );
        }
    }
    if d.args.iter().any(|a| a == "--no-pci") {
        for iface in ifs.iter() {
            if matches!(iface.device_kind(), super::model::DeviceKind::Pci { .. }) {
                cx.error(
                    format!("interfaces.{}.device", iface.name),
                    format!(
                        "`{}` is a PCI device, but dpdk.args has --no-pci",
                        iface.device
                    ),
                );
            }
        }
    }
    let ports = ifs.iter().count() as u64;
    let need = ports
        * (workers.max(1) as u64)
        * (u64::from(d.rx_descriptors) + u64::from(d.tx_descriptors));
    if u64::from(d.mbufs) < need {
        cx.error(
            "dpdk.mbufs",
            format!(
                "{} is too few: {ports} ports x {} workers x ({} rx + {} tx descriptors) need at least {need}",
                d.mbufs,
                workers.max(1),
                d.rx_descriptors,
                d.tx_descriptors
            ),
        );
    }
    DpdkConfig {
        args: d.args.clone(),
        mbufs: d.mbufs,
        rx_descriptors: d.rx_descriptors,
        tx_descriptors: d.tx_descriptors,
    }
}

fn validate_interface(cx: &mut Ctx, name: InterfaceName, r: &RawInterface) -> Interface {
    let base = format!("interfaces.{name}");
    if r.device.trim().is_empty() {
        cx.error(
            format!("{base}.device"),
            "empty device; expected a PCI address or a DPDK vdev string",
        );
    } else if r.device.chars().any(char::is_whitespace) {
        cx.error(
            format!("{base}.device"),
            format!("`{}` contains whitespace", r.device),
        );
    }
    let mut ipv4 = None;
    let mut ipv6 = None;
    if r.address.0.is_empty() {
        cx.error(format!("{base}.address"), "at least one address is needed");
    }
    for (i, net) in r.address.0.iter().enumerate() {
        let path = format!("{base}.address[{i}]");
        let addr = net.addr();
        if !is_usable_unicast(addr) || addr.is_loopback() {
            cx.error(
                path.clone(),
                format!("{addr} cannot be an interface address"),
            );
            continue;
        }
        if let IpNet::V4(n) = net
            && n.prefix_len() <= 30
            && (n.addr() == n.network() || n.addr() == n.broadcast())
        {
            cx.error(
                path.clone(),
                format!(
                    "{addr} is the network or broadcast address of {}",
                    n.trunc()
                ),
            );
            continue;
        }
        match net {
            IpNet::V4(n) if ipv4.is_none() => ipv4 = Some(*n),
            IpNet::V6(n) if ipv6.is_none() => ipv6 = Some(*n),
            _ => cx.error(path, "at most one IPv4 and one IPv6 address per interface"),
        }
    }
    let mut gateway_v4 = None;
    let mut gateway_v6 = None;
    let probe = Interface {
        name,
        device: String::new(),
        ipv4,
        ipv6,
        gateway_v4: None,
        gateway_v6: None,
        neighbors: BTreeMap::new(),
        mtu: r.mtu,
    };
    if let Some(gws) = &r.gateway {
        for (i, gw) in gws.0.iter().enumerate() {
            let path = format!("{base}.gateway[{i}]");
            let own = probe.own_address_for(*gw);
            if own.is_none() {
                cx.error(
                    path,
                    format!("{gw}: {base} has no address of this IP version"),
                );
            } else if !probe.is_on_link(*gw) {
                let prefix = probe
                    .prefixes()
                    .find(|p| p.addr().is_ipv4() == gw.is_ipv4());
                cx.error(
                    path,
                    format!(
                        "{gw} is not inside {base}.address {}",
                        prefix.map(|p| p.to_string()).unwrap_or_default()
                    ),
                );
            } else if own == Some(*gw) {
                cx.error(path, format!("{gw} is the interface's own address"));
            } else {
                match gw {
                    IpAddr::V4(a) if gateway_v4.is_none() => gateway_v4 = Some(*a),
                    IpAddr::V6(a) if gateway_v6.is_none() => gateway_v6 = Some(*a),
                    _ => cx.error(path, "at most one gateway per IP version"),
                }
            }
        }
    }
    for (ip, mac) in &r.neighbors {
        let path = format!("{base}.neighbors.{ip}");
        if !probe.is_on_link(*ip) {
            cx.error(
                path,
                format!("neighbor {ip} is not on-link for {base}.address"),
            );
        } else if mac.is_group() || mac.is_zero() {
            cx.error(path, format!("{mac} is not a unicast MAC address"));
        }
    }
    let min_mtu = if ipv6.is_some() { 1280 } else { 576 };
    if r.mtu < min_mtu || r.mtu > 9216 {
        cx.error(
            format!("{base}.mtu"),
            format!("{} is out of range {min_mtu}..=9216", r.mtu),
        );
    }
    Interface {
        name,
        device: r.device.clone(),
        ipv4,
        ipv6,
        gateway_v4,
        gateway_v6,
        neighbors: r.neighbors.clone(),
        mtu: r.mtu,
    }
}

fn validate_interfaces(cx: &mut Ctx, raw: &RawConfig) -> Interfaces {
    let r = &raw.interfaces;
    let ifs = Interfaces {
        n3: validate_interface(cx, InterfaceName::N3, &r.n3),
        n6: validate_interface(cx, InterfaceName::N6, &r.n6),
        n9: r
            .n9
            .as_ref()
            .map(|n9| validate_interface(cx, InterfaceName::N9, n9)),
    };
    let all: Vec<&Interface> = ifs.iter().collect();
    for (i, a) in all.iter().enumerate() {
        for b in &all[..i] {
            let dev = |s: &str| s.split(',').next().unwrap_or_default().trim().to_owned();
            if !a.device.is_empty() && dev(&a.device) == dev(&b.device) {
                cx.error(
                    format!("interfaces.{}.device", a.name),
                    format!(
                        "device `{}` is already used by interfaces.{}",
                        dev(&a.device),
                        b.name
                    ),
                );
            }
            for pa in a.prefixes() {
                for pb in b.prefixes() {
                    if pa.trunc().contains(&pb.trunc().network())
                        || pb.trunc().contains(&pa.trunc().network())
                    {
                        cx.error(
                            format!("interfaces.{}.address", a.name),
                            format!("{pa} overlaps interfaces.{}.address {pb}", b.name),
                        );
                    }
                }
            }
        }
    }
    ifs
}

fn validate_pools(cx: &mut Ctx, raw: &RawConfig, ifs: &Interfaces) -> Vec<UePool> {
    let mut pools: Vec<UePool> = Vec::new();
    for (i, p) in raw.ue_pools.iter().enumerate() {
        let path = format!("ue_pools[{i}]");
        if p.cidr != p.cidr.trunc() {
            cx.error(
                format!("{path}.cidr"),
                format!(
                    "{} has host bits set; did you mean {}?",
                    p.cidr,
                    p.cidr.trunc()
                ),
            );
            continue;
        }
        if let IpNet::V6(n) = p.cidr
            && n.prefix_len() > 64
        {
            cx.error(
                format!("{path}.cidr"),
                format!(
                    "{n}: IPv6 pools hand out /64 prefixes, so the pool must be /64 or shorter"
                ),
            );
        }
        if p.dnn.trim().is_empty() || p.dnn.len() > 100 {
            cx.error(format!("{path}.dnn"), "a DNN is 1 to 100 characters");
        }
        for (j, q) in pools.iter().enumerate() {
            if p.cidr.contains(&q.cidr.network()) || q.cidr.contains(&p.cidr.network()) {
                cx.error(
                    format!("{path}.cidr"),
                    format!("{} overlaps ue_pools[{j}] {}", p.cidr, q.cidr),
                );
            }
        }
        for iface in ifs.iter() {
            for pre in iface.prefixes() {
                let pre = pre.trunc();
                if p.cidr.contains(&pre.network()) || pre.contains(&p.cidr.network()) {
                    cx.error(
                        format!("{path}.cidr"),
                        format!(
                            "{} overlaps interfaces.{}.address {pre}",
                            p.cidr, iface.name
                        ),
                    );
                }
            }
        }
        pools.push(UePool {
            cidr: p.cidr,
            dnn: p.dnn.clone(),
        });
    }
    pools
}

// ------------------------------------------------------------ static sessions

/// Keys a session occupies in the lookup tables, with the path that set them.
#[derive(Default)]
struct SessionKeys {
    fteids: SmallVec<[(LocalFteid, KeyPath); 1]>,
    ue_ips: SmallVec<[(IpAddr, KeyPath); 1]>,
}

/// Where a table key was set: a field of short-form session `i` (the path
/// is written only for an error: a valid file of 100,000 sessions then
/// costs no string per key) or a full-form path.
enum KeyPath {
    Short(usize, &'static str),
    Full(String),
}

impl KeyPath {
    fn render(&self) -> String {
        match self {
            Self::Short(i, field) => format!("sessions[{i}].{field}"),
            Self::Full(p) => p.clone(),
        }
    }
}

/// The maps of `validate_sessions`: one entry per session, keys the file
/// chooses, checked once per validation; foldhash over SipHash halves the
/// cost for 100,000 sessions.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

fn fast_map<K, V>(n: usize) -> FastMap<K, V> {
    FastMap::with_capacity_and_hasher(n, foldhash::fast::RandomState::default())
}

/// `prev`: a config validated before (see [`validate`]).
/// Which session holds each id and table key, in a config that passed
/// validation: kept with it (`Config::index`), so that the next reload
/// checks only the sessions that changed against the others
/// ([`validate_changed`]).
#[derive(Debug, Clone)]
pub(crate) struct SessionIndex {
    ids: FastMap<u64, usize>,
    fteids: FastMap<LocalFteid, usize>,
    ue_ips: FastMap<IpAddr, usize>,
}

fn is_short_form(s: &RawSession) -> bool {
    (s.ue_ip.is_some() || s.uplink.is_some() || s.downlink.is_some() || s.qos.is_some())
        && s.pdrs.is_empty()
        && s.fars.is_empty()
        && s.qers.is_empty()
        && s.urrs.is_empty()
}

/// The short-form keys of `s` (at `i`), if it has them all.
fn short_keys_of(i: usize, s: &RawSession) -> Option<SessionKeys> {
    let (Some(ul), Some(ue_ip), Some(_)) = (&s.uplink, s.ue_ip, &s.downlink) else {
        return None;
    };
    Some(short_form_keys(i, ul.teid.0, ue_ip))
}

/// [`validate_sessions`] for a reload where `prev` (valid, with its
/// index) has as many sessions under the same interfaces and TEID range,
/// and every entry that differs from the one at its place there is of the
/// short form in both, and they are fewer than a quarter of the file:
/// entries equal to `prev`'s are `prev`'s sessions
/// (as in the full path), and only the others are checked, against the
/// index (a duplicate needs a changed session: two unchanged ones were
/// already apart in `prev`). The index of the result is `prev`'s with the
/// changed sessions' keys moved. `None` (nothing reported) on any error
/// or doubt: the full path then runs and reports, the same as ever.
fn validate_changed(
    cx: &mut Ctx,
    raw: &[RawSession],
    ifs: &Interfaces,
    teid_range: TeidRange,
    prev: Option<&Config>,
    reused: &[bool],
) -> Option<(Vec<Arc<StaticSession>>, Arc<SessionIndex>)> {
    let p = prev?;
    let idx = p.index.0.as_deref()?;
    let (raws, done) = (&p.effective.sessions, &p.sessions);
    if p.interfaces != *ifs
        || p.teid_range != teid_range
        || raw.len() != done.len()
        || raws.len() != done.len()
    {
        return None;
    }
    // Which entries changed, first: when most did, building the full
    // index is less work than moving that many keys in a copy of the old
    // one, and nothing has been built for nothing.
    // An entry whose id and keys (uplink TEID, UE address) are those of
    // the entry it replaces (a QoS or downlink edit, the common case)
    // moves nothing in the index, whose checks its keys passed in `prev`
    // under the same interfaces and TEID range: it is read, and counts as
    // unchanged for the uniqueness checks (a moved key that clashes with
    // it is a clash with an entry outside `changed`, as it should be). So
    // the quarter bounds only the entries that move keys.
    let same_keys = |a: &RawSession, b: &RawSession| {
        a.id == b.id
            && a.ue_ip.is_some()
            && a.ue_ip == b.ue_ip
            && matches!((&a.uplink, &b.uplink), (Some(x), Some(y)) if x.teid == y.teid)
            && a.downlink.is_some()
            && b.downlink.is_some()
    };
    let mut which = Vec::new();
    let mut moved = 0usize;
    for (i, s) in raw.iter().enumerate() {
        let (old_raw, old) = (&raws[i], &done[i]);
        // A copy the reader made of `old_raw` is equal to it: not read
        // again (100,000 cold entries on each side at k = 0).
        let copied = reused.get(i).copied().unwrap_or(false);
        debug_assert!(!copied || old_raw == s, "sessions[{i}] marked as reused");
        let same = copied || old_raw == s;
        if same && old.id == s.id && short_keys_of(i, s).is_some() {
            continue;
        }
        if same || !is_short_form(s) || !is_short_form(old_raw) {
            // A full-form entry (the full path shares an unchanged one
            // too, but its keys are not at hand here).
            return None;
        }
        let keeps = same_keys(s, old_raw) && old.id == s.id;
        if !keeps {
            if moved >= raw.len() / 4 {
                return None;
            }
            moved += 1;
        }
        which.push((i, keeps));
    }
    let errors = cx.errors.len();
    let warnings = cx.warnings.len();
    let mut out = Vec::with_capacity(raw.len());
    // (index, new keys, old keys), in index order.
    let mut changed: Vec<(usize, SessionKeys, SessionKeys)> = Vec::with_capacity(which.len());
    let mut peer_ok = None;
    let mut next_changed = which.iter().copied().peekable();
    // The running config's sessions and entries lie in tens of megabytes
    // that the first pass has long left behind, and each clone of an
    // `Arc` there is a locked increment that waits for its cache line
    // (most of this loop at 100,000 sessions): fetched ahead, the
    // sessions `SESSION_AHEAD` places on, and for the changed entries
    // (which `short_form` builds around the running session's lists) the
    // old entry and the lists `LISTS_AHEAD` changed entries on (reached
    // through the session, fetched earlier). Hints only: nothing read
    // depends on them.
    const SESSION_AHEAD: usize = 16;
    const LISTS_AHEAD: usize = 4;
    let lists_of = |k: usize| {
        if let Some(&(j, _)) = which.get(k) {
            cpu::prefetch(&raws[j]);
            cpu::prefetch(&raws[j].downlink);
            cpu::prefetch(&*done[j].pdrs);
            cpu::prefetch(&*done[j].fars);
        }
    };
    (0..LISTS_AHEAD).for_each(lists_of);
    let mut nth_changed = 0;
    for (i, s) in raw.iter().enumerate() {
        if let Some(a) = done.get(i + SESSION_AHEAD) {
            cpu::prefetch(&**a);
        }
        let Some((_, keeps)) = next_changed.next_if(|c| c.0 == i) else {
            out.push(Arc::clone(&done[i]));
            continue;
        };
        lists_of(nth_changed + LISTS_AHEAD);
        nth_changed += 1;
        let old_keys = if keeps {
            None
        } else {
            Some(short_keys_of(i, &raws[i])?)
        };
        // The running session's lists that the edit keeps are shared.
        let (session, keys) = short_form(cx, i, s, ifs, &mut peer_ok, Some((&raws[i], &done[i])));
        if cx.errors.len() > errors || cx.warnings.len() > warnings {
            cx.errors.truncate(errors);
            cx.warnings.truncate(warnings);
            return None;
        }
        if let Some(old_keys) = old_keys {
            changed.push((i, keys, old_keys));
        }
        out.push(Arc::new(session));
    }
    let in_changed = |j: usize| changed.binary_search_by_key(&j, |c| c.0).is_ok();
    let clash = |owner: Option<&usize>, i: usize| owner.is_some_and(|&j| j != i && !in_changed(j));
    let mut ids: FastMap<u64, usize> = fast_map(changed.len());
    let mut fteids: FastMap<LocalFteid, usize> = fast_map(changed.len());
    let mut ue_ips: FastMap<IpAddr, usize> = fast_map(changed.len());
    for (i, keys, _) in &changed {
        let (i, id) = (*i, raw[*i].id);
        if clash(idx.ids.get(&id), i) || ids.insert(id, i).is_some() {
            return None;
        }
        for (key, _) in &keys.fteids {
            if key.teid == 0
                || teid_range.contains(key.teid)
                || clash(idx.fteids.get(key), i)
                || fteids.insert(*key, i).is_some()
            {
                return None;
            }
        }
        for (ip, _) in &keys.ue_ips {
            if !is_usable_unicast(*ip)
                || ip.is_loopback()
                || ifs.iter().any(|f| f.is_on_link(*ip))
                || clash(idx.ue_ips.get(ip), i)
                || ue_ips.insert(*ip, i).is_some()
            {
                return None;
            }
        }
    }
    let mut next = if changed.is_empty() {
        return Some((out, Arc::clone(p.index.0.as_ref()?)));
    } else {
        idx.clone()
    };
    for (i, _, old_keys) in &changed {
        let i = *i;
        let gone = |m: &mut FastMap<_, usize>, k| {
            if m.get(k) == Some(&i) {
                m.remove(k);
            }
        };
        gone(&mut next.ids, &raws[i].id);
        for (k, _) in &old_keys.fteids {
            if next.fteids.get(k) == Some(&i) {
                next.fteids.remove(k);
            }
        }
        for (k, _) in &old_keys.ue_ips {
            if next.ue_ips.get(k) == Some(&i) {
                next.ue_ips.remove(k);
            }
        }
    }
    next.ids.extend(ids);
    next.fteids.extend(fteids);
    next.ue_ips.extend(ue_ips);
    Some((out, Arc::new(next)))
}

fn validate_sessions(
    cx: &mut Ctx,
    raw: &[RawSession],
    ifs: &Interfaces,
    teid_range: TeidRange,
    prev: Option<&Config>,
    reused: &[bool],
) -> (Vec<Arc<StaticSession>>, Option<Arc<SessionIndex>>) {
    if let Some((out, index)) = validate_changed(cx, raw, ifs, teid_range, prev, reused) {
        return (out, Some(index));
    }
    // A short-form session is a function of its raw entry and the
    // interfaces alone, and so are its checks (no warnings): one equal to
    // the entry at the same place in a config that passed them, under the
    // same interfaces, is that config's session, shared. What involves the
    // other sessions (duplicates) or other settings (`teid_range`, UE
    // addresses on interfaces) is checked below for every session.
    let reuse = prev
        .filter(|p| p.interfaces == *ifs && p.effective.sessions.len() == p.sessions.len())
        .map(|p| (p.effective.sessions.as_slice(), p.sessions.as_slice()));
    let reused = |i: usize, s: &RawSession| -> Option<(Arc<StaticSession>, SessionKeys)> {
        let (raws, done) = reuse?;
        let old = done.get(i).filter(|o| o.id == s.id)?;
        if raws.get(i) != Some(s) {
            return None;
        }
        let (Some(ul), Some(ue_ip), Some(_)) = (&s.uplink, s.ue_ip, &s.downlink) else {
            return None;
        };
        Some((Arc::clone(old), short_form_keys(i, ul.teid.0, ue_ip)))
    };
    let mut out = Vec::with_capacity(raw.len());
    let mut ids: FastMap<u64, usize> = fast_map(raw.len());
    let mut fteids: FastMap<LocalFteid, usize> = fast_map(raw.len());
    let mut ue_ips: FastMap<IpAddr, usize> = fast_map(raw.len());
    let mut peer_ok = None;
    for (i, s) in raw.iter().enumerate() {
        let base = || format!("sessions[{i}]");
        if let Some(j) = ids.insert(s.id, i) {
            cx.error(
                format!("{}.id", base()),
                format!("duplicate session id {} (also sessions[{j}])", s.id),
            );
        }
        let short =
            s.ue_ip.is_some() || s.uplink.is_some() || s.downlink.is_some() || s.qos.is_some();
        let full =
            !(s.pdrs.is_empty() && s.fars.is_empty() && s.qers.is_empty() && s.urrs.is_empty());
        let (session, keys) = match (short, full) {
            (true, true) => {
                cx.error(
                    base(),
                    "mixes the short form (ue_ip/uplink/downlink/qos) with the full form (pdrs/fars/qers/urrs); use one",
                );
                continue;
            }
            (false, false) => {
                cx.error(base(), "empty session: give ue_ip, uplink and downlink (short form) or pdrs and fars (full form)");
                continue;
            }
            (true, false) => reused(i, s).unwrap_or_else(|| {
                // An edited entry: the lists it keeps from the entry at
                // its place in `prev` are shared.
                let like = reuse
                    .and_then(|(raws, done)| Some((raws.get(i)?, &**done.get(i)?)))
                    .filter(|(r, _)| is_short_form(r));
                let (session, keys) = short_form(cx, i, s, ifs, &mut peer_ok, like);
                (Arc::new(session), keys)
            }),
            (false, true) => {
                let (session, keys) = full_form(cx, &base(), s, ifs);
                (Arc::new(session), keys)
            }
        };
        for (key, path) in keys.fteids {
            if key.teid == 0 {
                cx.error(path.render(), "TEID 0 is reserved (GTP-U signalling)");
                continue;
            }
            if teid_range.contains(key.teid) {
                cx.error(
                    path.render(),
                    format!(
                        "TEID {} is inside teid_range {}..={}, which the UPF allocates from; pick one outside it",
                        Teid(key.teid),
                        Teid(teid_range.first),
                        Teid(teid_range.last)
                    ),
                );
            }
            match fteids.get(&key) {
                Some(&j) if j != i => cx.error(
                    path.render(),
                    format!(
                        "duplicate TEID {} on {} (also used by sessions[{j}])",
                        Teid(key.teid),
                        key.interface
                    ),
                ),
                _ => {
                    fteids.insert(key, i);
                }
            }
        }
        for (ip, path) in keys.ue_ips {
            if !is_usable_unicast(ip) || ip.is_loopback() {
                cx.error(path.render(), format!("{ip} cannot be a UE address"));
                continue;
            }
            if let Some(iface) = ifs.iter().find(|f| f.is_on_link(ip)) {
                cx.error(
                    path.render(),
                    format!(
                        "UE address {ip} is inside interfaces.{}.address",
                        iface.name
                    ),
                );
                continue;
            }
            match ue_ips.get(&ip) {
                Some(&j) if j != i => {
                    cx.error(
                        path.render(),
                        format!("duplicate UE IP {ip} (also used by sessions[{j}])"),
                    );
                }
                _ => {
                    ue_ips.insert(ip, i);
                }
            }
        }
        out.push(session);
    }
    let index = cx.errors.is_empty().then(|| {
        Arc::new(SessionIndex {
            ids,
            fteids,
            ue_ips,
        })
    });
    (out, index)
}

fn check_qfi(cx: &mut Ctx, path: impl FnOnce() -> String, qfi: u8) {
    if qfi > 63 {
        cx.error(path(), format!("QFI {qfi} is out of range 0..=63"));
    }
}

fn check_mbr(cx: &mut Ctx, path: impl FnOnce() -> String, b: Bitrate) {
    if b.bps() == 0 {
        cx.error(
            path(),
            "an MBR of 0 blocks all traffic; close the gate instead",
        );
    }
}

/// Checks that `peer` can be reached through `iface`.
fn check_peer(cx: &mut Ctx, path: impl FnOnce() -> String, iface: &Interface, peer: IpAddr) {
    if !is_usable_unicast(peer) {
        cx.error(path(), format!("{peer} is not a unicast address"));
    } else if iface.own_address_for(peer).is_none() {
        cx.error(
            path(),
            format!(
                "{peer}: interfaces.{} has no address of this IP version",
                iface.name
            ),
        );
    } else if iface.own_address_for(peer) == Some(peer) {
        cx.error(
            path(),
            format!("{peer} is the UPF's own interfaces.{} address", iface.name),
        );
    } else if iface.next_hop(peer).is_none() {
        cx.error(
            path(),
            format!("{peer} is not on-link for interfaces.{0}.address and interfaces.{0} has no gateway", iface.name),
        );
    }
}

/// The keys a short-form session `i` holds (its N3 F-TEID and UE
/// address), in the order `short_form` checks them; also what a session
/// reused from the running config holds.
fn short_form_keys(i: usize, teid: u32, ue_ip: IpAddr) -> SessionKeys {
    let mut keys = SessionKeys::default();
    keys.fteids.push((
        LocalFteid {
            interface: InterfaceName::N3,
            teid,
        },
        KeyPath::Short(i, "uplink.teid"),
    ));
    keys.ue_ips.push((ue_ip, KeyPath::Short(i, "ue_ip")));
    keys
}

/// `peer_ok`: the last gNB address that passed `check_peer` on N3.
/// `like`: a short-form entry and the session it became in a config that
/// passed validation (the one at the same place in the running config,
/// on reload): each rule list of the new session that depends only on
/// values the two entries share is that session's list, shared, not
/// built again (a QoS edit builds its QER list alone). The property test
/// `short_form_sharing_gives_what_building_gives` holds it to that.
fn short_form(
    cx: &mut Ctx,
    i: usize,
    s: &RawSession,
    ifs: &Interfaces,
    peer_ok: &mut Option<IpAddr>,
    like: Option<(&RawSession, &StaticSession)>,
) -> (StaticSession, SessionKeys) {
    let (Some(ue_ip), Some(ul), Some(dl)) = (s.ue_ip, &s.uplink, &s.downlink) else {
        let missing: Vec<&str> = [
            ("ue_ip", s.ue_ip.is_none()),
            ("uplink", s.uplink.is_none()),
            ("downlink", s.downlink.is_none()),
        ]
        .iter()
        .filter_map(|(k, m)| m.then_some(*k))
        .collect();
        cx.error(
            format!("sessions[{i}]"),
            format!("short-form session lacks {}", missing.join(", ")),
        );
        let empty = StaticSession {
            id: s.id,
            pdrs: Arc::new([]),
            fars: Arc::new([]),
            qers: Arc::new([]),
            urrs: Arc::new([]),
        };
        return (empty, SessionKeys::default());
    };
    let keys = short_form_keys(i, ul.teid.0, ue_ip);
    if dl.teid.0 == 0 {
        cx.error(
            format!("sessions[{i}].downlink.teid"),
            "TEID 0 is reserved (GTP-U signalling)",
        );
    }
    check_qfi(cx, || format!("sessions[{i}].downlink.qfi"), dl.qfi);
    // A pure function of the interface and the address, and most sessions
    // name one of a few gNBs: an address that passed is not checked again.
    if *peer_ok != Some(dl.gnb) {
        let errors = cx.errors.len();
        check_peer(
            cx,
            || format!("sessions[{i}].downlink.gnb"),
            &ifs.n3,
            dl.gnb,
        );
        if cx.errors.len() == errors {
            *peer_ok = Some(dl.gnb);
        }
    }
    let (mbr_ul, mbr_dl) = s
        .qos
        .as_ref()
        .map_or((None, None), |q| (q.mbr_ul, q.mbr_dl));
    if let Some(b) = mbr_ul {
        check_mbr(cx, || format!("sessions[{i}].qos.mbr_ul"), b);
    }
    if let Some(b) = mbr_dl {
        check_mbr(cx, || format!("sessions[{i}].qos.mbr_dl"), b);
    }
    // What each list is a function of, in the entry before (`like`).
    let like = like.and_then(|(r, old)| {
        let (Some(o_ue), Some(o_ul), Some(o_dl)) = (r.ue_ip, &r.uplink, &r.downlink) else {
            return None;
        };
        let o_qos = r
            .qos
            .as_ref()
            .map_or((None, None), |q| (q.mbr_ul, q.mbr_dl));
        (old.pdrs.len() == 2 && old.fars.len() == 2 && old.qers.len() == 1 && old.urrs.len() == 1)
            .then_some((o_ue, o_ul.teid, o_dl, o_qos, old))
    });
    let pdrs = match like {
        Some((o_ue, o_teid, o_dl, (o_ul, _), old))
            if o_ue == ue_ip
                && o_teid == ul.teid
                && o_dl.gnb.is_ipv4() == dl.gnb.is_ipv4()
                && o_ul.is_some() == mbr_ul.is_some() =>
        {
            Arc::clone(&old.pdrs)
        }
        _ => short_form_pdrs(ue_ip, ul.teid.0, dl.gnb, mbr_ul.is_some()),
    };
    let fars = match like {
        Some((_, _, o_dl, _, old)) if o_dl.gnb == dl.gnb && o_dl.teid == dl.teid => {
            Arc::clone(&old.fars)
        }
        _ => Arc::new([
            Far {
                id: 1,
                action: FarAction::Forward,
                notify_cp: false,
                destination: Some(DestinationInterface::Core),
                outer_header_creation: None,
                dscp: None,
            },
            Far {
                id: 2,
                action: FarAction::Forward,
                notify_cp: false,
                destination: Some(DestinationInterface::Access),
                outer_header_creation: Some(OuterHeaderCreation {
                    teid: dl.teid.0,
                    peer: dl.gnb,
                }),
                dscp: None,
            },
        ]),
    };
    let qers = match like {
        Some((_, _, o_dl, o_qos, old)) if o_dl.qfi == dl.qfi && o_qos == (mbr_ul, mbr_dl) => {
            Arc::clone(&old.qers)
        }
        _ => Arc::new([Qer {
            id: 1,
            gate_ul: GateStatus::Open,
            gate_dl: GateStatus::Open,
            mbr_ul,
            mbr_dl,
            gbr_ul: None,
            gbr_dl: None,
            qfi: Some(dl.qfi),
        }]),
    };
    let session = StaticSession {
        id: s.id,
        pdrs,
        fars,
        qers,
        // The same for every short-form session: one list for all.
        urrs: Arc::clone(&SHORT_FORM_URRS),
    };
    (session, keys)
}

/// The one URR of every short-form session (volume, no thresholds).
static SHORT_FORM_URRS: std::sync::LazyLock<Arc<[Urr]>> = std::sync::LazyLock::new(|| {
    Arc::new([Urr {
        id: 1,
        measure_volume: true,
        measure_duration: false,
        volume_threshold: None,
        volume_quota: None,
        time_threshold: None,
        time_quota: None,
        period: None,
    }])
});

/// The two PDRs of a short-form session: uplink on the N3 TEID (outer
/// header removed by the gNB's IP version), downlink to the UE address.
fn short_form_pdrs(ue_ip: IpAddr, teid: u32, gnb: IpAddr, qer_ul: bool) -> Arc<[Pdr]> {
    // Uplink arrives over the IP version the gNB uses.
    let ohr = if gnb.is_ipv4() {
        OuterHeaderRemoval::GtpuUdpIpv4
    } else {
        OuterHeaderRemoval::GtpuUdpIpv6
    };
    Arc::new([
        Pdr {
            id: 1,
            precedence: SHORT_FORM_PRECEDENCE,
            source: SourceInterface::Access,
            local_fteid: Some(LocalFteid {
                interface: InterfaceName::N3,
                teid,
            }),
            ue_ip: Some(ue_ip),
            sdf_filters: Vec::new(),
            qfi: None,
            outer_header_removal: Some(ohr),
            far_id: 1,
            qer_ids: if qer_ul { vec![1] } else { Vec::new() },
            urr_ids: vec![1],
        },
        Pdr {
            id: 2,
            precedence: SHORT_FORM_PRECEDENCE,
            source: SourceInterface::Core,
            local_fteid: None,
            ue_ip: Some(ue_ip),
            sdf_filters: Vec::new(),
            qfi: None,
            outer_header_removal: None,
            far_id: 2,
            qer_ids: vec![1],
            urr_ids: vec![1],
        },
    ])
}

fn unique_ids<T: Copy + Eq + std::hash::Hash + std::fmt::Display>(
    cx: &mut Ctx,
    base: &str,
    kind: &str,
    ids: impl Iterator<Item = T>,
) -> HashSet<T> {
    let mut seen: HashMap<T, usize> = HashMap::new();
    for (i, id) in ids.enumerate() {
        if let Some(j) = seen.insert(id, i) {
            cx.error(
                format!("{base}.{kind}[{i}].id"),
                format!(
                    "duplicate {} id {id} (also {base}.{kind}[{j}])",
                    kind.trim_end_matches('s').to_uppercase()
                ),
            );
        }
    }
    seen.into_keys().collect()
}

fn volume(cx: &mut Ctx, path: &str, v: Option<&RawVolume>) -> Option<Volume> {
    let v = v?;
    if v.total.is_none() && v.ul.is_none() && v.dl.is_none() {
        cx.error(path, "give at least one of total, ul, dl");
    }
    for (k, x) in [("total", v.total), ("ul", v.ul), ("dl", v.dl)] {
        if x.is_some_and(|b| b.0 == 0) {
            cx.error(format!("{path}.{k}"), "must be more than 0 bytes");
        }
    }
    Some(Volume {
        total: v.total.map(|b| b.0),
        ul: v.ul.map(|b| b.0),
        dl: v.dl.map(|b| b.0),
    })
}

#[allow(clippy::too_many_lines)] // one linear pass over the four rule kinds reads best in one place
fn full_form(
    cx: &mut Ctx,
    base: &str,
    s: &RawSession,
    ifs: &Interfaces,
) -> (StaticSession, SessionKeys) {
    let mut keys = SessionKeys::default();
    if s.pdrs.is_empty() {
        cx.error(
            format!("{base}.pdrs"),
            "a full-form session needs at least one PDR",
        );
    }
    let far_ids = unique_ids(cx, base, "fars", s.fars.iter().map(|f| f.id));
    let qer_ids = unique_ids(cx, base, "qers", s.qers.iter().map(|q| q.id));
    let urr_ids = unique_ids(cx, base, "urrs", s.urrs.iter().map(|u| u.id));
    unique_ids(cx, base, "pdrs", s.pdrs.iter().map(|p| p.id));
    let mut used_fars = HashSet::new();
    let mut used_qers = HashSet::new();
    let mut used_urrs = HashSet::new();

    let mut pdrs = Vec::new();
    for (i, p) in s.pdrs.iter().enumerate() {
        let pb = format!("{base}.pdrs[{i}]");
        let local_fteid = match (p.source, p.teid) {
            (SourceInterface::CpFunction, _) => {
                cx.error(
                    format!("{pb}.source"),
                    "cp-function PDRs are not supported in static sessions",
                );
                None
            }
            (SourceInterface::Access, None) => {
                cx.error(
                    pb.clone(),
                    "an access PDR needs `teid` (the uplink F-TEID on N3)",
                );
                None
            }
            (SourceInterface::Access, Some(t)) => Some(LocalFteid {
                interface: InterfaceName::N3,
                teid: t.0,
            }),
            (_, Some(t)) => {
                if ifs.n9.is_none() {
                    cx.error(format!("{pb}.teid"), "a core-side PDR with a TEID receives GTP-U on N9, but interfaces.n9 is not configured");
                }
                Some(LocalFteid {
                    interface: InterfaceName::N9,
                    teid: t.0,
                })
            }
            (_, None) => {
                if p.ue_ip.is_none() {
                    cx.error(pb.clone(), "a core-side PDR needs `ue_ip` (downlink is matched on the UE address) or `teid` (N9)");
                }
                None
            }
        };
        if let Some(f) = local_fteid {
            keys.fteids.push((f, KeyPath::Full(format!("{pb}.teid"))));
        }
        if let Some(ip) = p.ue_ip {
            // Only downlink UE addresses are table keys; uplink ones filter.
            if local_fteid.is_none() {
                keys.ue_ips.push((ip, KeyPath::Full(format!("{pb}.ue_ip"))));
            } else if !is_usable_unicast(ip) {
                cx.error(
                    format!("{pb}.ue_ip"),
                    format!("{ip} cannot be a UE address"),
                );
            }
        }
        for (j, f) in p.sdf.iter().enumerate() {
            let assigned = matches!(f.source.address, FlowAddress::Assigned)
                || matches!(f.destination.address, FlowAddress::Assigned);
            if assigned && p.ue_ip.is_none() {
                cx.error(
                    format!("{pb}.sdf[{j}]"),
                    "`assigned` means the PDR's ue_ip, which is not set",
                );
            }
            let fam = [f.source.address, f.destination.address]
                .into_iter()
                .find_map(|a| match a {
                    FlowAddress::Net(n) => Some(n.addr().is_ipv4()),
                    _ => None,
                });
            if let (Some(v4), Some(ip)) = (fam, p.ue_ip)
                && v4 != ip.is_ipv4()
                && assigned
            {
                cx.error(
                    format!("{pb}.sdf[{j}]"),
                    "filter and ue_ip are of different IP versions",
                );
            }
        }
        if let Some(q) = p.qfi {
            check_qfi(cx, || format!("{pb}.qfi"), q);
        }
        if let Some(ohr) = p.outer_header_removal {
            if !ohr.is_gtpu() {
                cx.error(
                    format!("{pb}.outer_header_removal"),
                    "only GTP-U removal (gtpu-udp-ipv4, gtpu-udp-ipv6, gtpu-udp-ip) is supported",
                );
            } else if local_fteid.is_none() {
                cx.error(
                    format!("{pb}.outer_header_removal"),
                    "GTP-U removal needs a `teid` on this PDR",
                );
            }
        } else if local_fteid.is_some() {
            cx.warn(
                format!("{pb}.outer_header_removal"),
                "no outer_header_removal: packets keep their GTP-U header when forwarded",
            );
        }
        if far_ids.contains(&p.far_id) {
            used_fars.insert(p.far_id);
        } else {
            cx.error(
                format!("{pb}.far_id"),
                format!("FAR {} is not defined in {base}.fars", p.far_id),
            );
        }
        let mut seen = HashSet::new();
        for (j, q) in p.qer_ids.iter().enumerate() {
            if !qer_ids.contains(q) {
                cx.error(
                    format!("{pb}.qer_ids[{j}]"),
                    format!("QER {q} is not defined in {base}.qers"),
                );
            } else if !seen.insert(*q) {
                cx.error(
                    format!("{pb}.qer_ids[{j}]"),
                    format!("QER {q} is listed twice"),
                );
            }
            used_qers.insert(*q);
        }
        let mut seen = HashSet::new();
        for (j, u) in p.urr_ids.iter().enumerate() {
            if !urr_ids.contains(u) {
                cx.error(
                    format!("{pb}.urr_ids[{j}]"),
                    format!("URR {u} is not defined in {base}.urrs"),
                );
            } else if !seen.insert(*u) {
                cx.error(
                    format!("{pb}.urr_ids[{j}]"),
                    format!("URR {u} is listed twice"),
                );
            }
            used_urrs.insert(*u);
        }
        pdrs.push(Pdr {
            id: p.id,
            precedence: p.precedence,
            source: p.source,
            local_fteid,
            ue_ip: p.ue_ip,
            sdf_filters: p.sdf.clone(),
            qfi: p.qfi,
            outer_header_removal: p.outer_header_removal,
            far_id: p.far_id,
            qer_ids: p.qer_ids.clone(),
            urr_ids: p.urr_ids.clone(),
        });
    }

    let mut fars = Vec::new();
    for (i, f) in s.fars.iter().enumerate() {
        let fb = format!("{base}.fars[{i}]");
        if !used_fars.contains(&f.id) {
            cx.warn(
                format!("{fb}.id"),
                format!("FAR {} is not used by any PDR", f.id),
            );
        }
        if f.notify_cp && f.action != FarAction::Buffer {
            cx.error(
                format!("{fb}.notify_cp"),
                "notify_cp only applies to action buffer",
            );
        }
        if let Some(d) = f.dscp
            && d > 63
        {
            cx.error(
                format!("{fb}.dscp"),
                format!("DSCP {d} is out of range 0..=63"),
            );
        }
        let ohc = f
            .outer_header_creation
            .as_ref()
            .map(|o| OuterHeaderCreation {
                teid: o.teid.0,
                peer: o.address,
            });
        let far = Far {
            id: f.id,
            action: f.action,
            notify_cp: f.notify_cp,
            destination: f.destination,
            outer_header_creation: ohc,
            dscp: f.dscp,
        };
        if f.action == FarAction::Forward {
            match f.destination {
                None => cx.error(fb.clone(), "action forward needs `destination`"),
                Some(DestinationInterface::CpFunction) => {
                    cx.error(format!("{fb}.destination"), "forwarding to cp-function is not supported in static sessions");
                }
                Some(DestinationInterface::Access) if ohc.is_none() => cx.error(
                    fb.clone(),
                    "forwarding to access needs `outer_header_creation` (the gNB's TEID and address)",
                ),
                Some(_) => {}
            }
            if let (Some(o), Some(egress)) = (ohc, far.egress()) {
                let path = format!("{fb}.outer_header_creation");
                if o.teid == 0 {
                    cx.error(
                        format!("{path}.teid"),
                        "TEID 0 is reserved (GTP-U signalling)",
                    );
                }
                match ifs.get(egress) {
                    Some(iface) => check_peer(cx, || format!("{path}.address"), iface, o.peer),
                    None => cx.error(path, format!("GTP-U towards the core goes out on {egress}, but interfaces.{egress} is not configured")),
                }
            }
        } else {
            if f.destination.is_some() {
                cx.error(
                    format!("{fb}.destination"),
                    "destination only applies to action forward",
                );
            }
            if f.outer_header_creation.is_some() {
                cx.error(
                    format!("{fb}.outer_header_creation"),
                    "outer_header_creation only applies to action forward",
                );
            }
        }
        fars.push(far);
    }

    let mut qers = Vec::new();
    for (i, q) in s.qers.iter().enumerate() {
        let qb = format!("{base}.qers[{i}]");
        if !used_qers.contains(&q.id) {
            cx.warn(
                format!("{qb}.id"),
                format!("QER {} is not used by any PDR", q.id),
            );
        }
        if let Some(x) = q.qfi {
            check_qfi(cx, || format!("{qb}.qfi"), x);
        }
        let mbr = q.mbr.clone().unwrap_or_default();
        let gbr = q.gbr.clone().unwrap_or_default();
        for (dir, m, g) in [("ul", mbr.ul, gbr.ul), ("dl", mbr.dl, gbr.dl)] {
            if let Some(m) = m {
                check_mbr(cx, || format!("{qb}.mbr.{dir}"), m);
            }
            if let (Some(m), Some(g)) = (m, g)
                && g > m
            {
                cx.error(
                    format!("{qb}.gbr.{dir}"),
                    format!("GBR {g} is above the MBR {m}"),
                );
            }
        }
        qers.push(Qer {
            id: q.id,
            gate_ul: q.gate.ul,
            gate_dl: q.gate.dl,
            mbr_ul: mbr.ul,
            mbr_dl: mbr.dl,
            gbr_ul: gbr.ul,
            gbr_dl: gbr.dl,
            qfi: q.qfi,
        });
    }

    let mut urrs = Vec::new();
    for (i, u) in s.urrs.iter().enumerate() {
        let ub = format!("{base}.urrs[{i}]");
        if !used_urrs.contains(&u.id) {
            cx.warn(
                format!("{ub}.id"),
                format!("URR {} is not used by any PDR", u.id),
            );
        }
        if u.measurement.is_empty() {
            cx.error(
                format!("{ub}.measurement"),
                "give at least one of volume, duration",
            );
        }
        let mut m = HashSet::new();
        for (j, x) in u.measurement.iter().enumerate() {
            if !m.insert(*x) {
                cx.error(format!("{ub}.measurement[{j}]"), "listed twice");
            }
        }
        let vol = m.contains(&Measurement::Volume);
        let dur = m.contains(&Measurement::Duration);
        for (key, present) in [
            ("volume_threshold", u.volume_threshold.is_some()),
            ("volume_quota", u.volume_quota.is_some()),
        ] {
            if present && !vol {
                cx.error(format!("{ub}.{key}"), "needs `volume` in measurement");
            }
        }
        for (key, v) in [
            ("time_threshold", u.time_threshold),
            ("time_quota", u.time_quota),
        ] {
            if v.is_some() && !dur {
                cx.error(format!("{ub}.{key}"), "needs `duration` in measurement");
            }
            if v.is_some_and(|d| d.0.is_zero()) {
                cx.error(format!("{ub}.{key}"), "must be more than 0");
            }
        }
        if u.period
            .is_some_and(|p| p.0 < std::time::Duration::from_secs(1))
        {
            cx.error(format!("{ub}.period"), "must be at least 1s");
        }
        urrs.push(Urr {
            id: u.id,
            measure_volume: vol,
            measure_duration: dur,
            volume_threshold: volume(
                cx,
                &format!("{ub}.volume_threshold"),
                u.volume_threshold.as_ref(),
            ),
            volume_quota: volume(cx, &format!("{ub}.volume_quota"), u.volume_quota.as_ref()),
            time_threshold: u.time_threshold.map(|d| d.0),
            time_quota: u.time_quota.map(|d| d.0),
            period: u.period.map(|d| d.0),
        });
    }

    (
        StaticSession {
            id: s.id,
            pdrs: pdrs.into(),
            fars: fars.into(),
            qers: qers.into(),
            urrs: urrs.into(),
        },
        keys,
    )
}
