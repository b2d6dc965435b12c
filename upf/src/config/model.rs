//! The validated configuration: plain owned Rust types with every default
//! filled in and every cross-reference checked. This is what the control
//! thread consumes at start-up and on reload; it knows nothing of YAML,
//! DPDK or the dataplane's table types (the integrator translates).

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::error::Diagnostic;
use super::raw::RawConfig;
use super::sdf::SdfFilter;
use super::types::NodeId;
use super::units::{Bitrate, MacAddr};

pub use super::raw::{
    DestinationInterface, FarAction, GateStatus, OuterHeaderRemoval, SourceInterface,
};

/// A validated config. Built only by [`super::load`] / [`super::parse`].
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub node_id: NodeId,
    pub dpdk: DpdkConfig,
    pub cores: Cores,
    pub interfaces: Interfaces,
    pub pfcp: PfcpConfig,
    pub ue_pools: Vec<UePool>,
    pub teid_range: TeidRange,
    pub api: ApiConfig,
    pub log_level: log::LevelFilter,
    pub reload: ReloadConfig,
    pub dataplane: DataplaneConfig,
    /// In file order; ids are unique.
    /// Shared, so that a reload reuses the running config's unchanged
    /// sessions without copying them (`config::parse_after`).
    pub sessions: Vec<Arc<StaticSession>>,
    /// Things that are legal but probably not meant (an unused FAR, ...).
    pub warnings: Vec<Diagnostic>,
    pub(crate) effective: RawConfig,
    /// Where the `sessions:` list was read from, for the next reload.
    pub(crate) source: Source,
    /// Which session holds each id and table key, for the next reload.
    pub(crate) index: Index,
}

/// Which session holds each id and table key ([`super::validate`]):
/// derived from the sessions, so not part of the config's value either.
#[derive(Clone, Default)]
pub(crate) struct Index(pub(crate) Option<Arc<super::validate::SessionIndex>>);

impl PartialEq for Index {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl fmt::Debug for Index {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Index(..)")
    }
}

/// The text a config was read from and where its `sessions:` items lie
/// (when the fast path read them and the caller handed the text over):
/// the next reload reuses the items whose bytes did not change
/// (`config::fast`). Not part of the config's value: two configs equal in
/// everything else are equal whatever text they were read from.
#[derive(Clone, Default)]
pub(crate) struct Source(pub(crate) Option<Arc<super::fast::Items>>);

impl PartialEq for Source {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(i) => write!(f, "Source({} bytes)", i.text.len()),
            None => f.write_str("Source(none)"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpdkConfig {
    /// Extra EAL arguments; upf adds the lcore list and devices itself.
    pub args: Vec<String>,
    /// mbufs per mempool (one mempool per NUMA socket in use).
    pub mbufs: u32,
    pub rx_descriptors: u16,
    pub tx_descriptors: u16,
}

/// DPDK lcore ids (equal to CPU ids: upf passes no lcore remapping).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cores {
    pub control: u32,
    /// One pinned worker per entry, in this order (worker i = rx/tx queue i).
    pub workers: Vec<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InterfaceName {
    N3,
    N6,
    N9,
}

impl InterfaceName {
    /// The config key, also the `interface` label of the metrics.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::N3 => "n3",
            Self::N6 => "n6",
            Self::N9 => "n9",
        }
    }
}

impl fmt::Display for InterfaceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub name: InterfaceName,
    /// PCI address or DPDK vdev string, passed to EAL as given.
    pub device: String,
    /// The UPF's own address on this interface (answers ARP/ND and ping),
    /// with the on-link prefix. At least one of the two is set.
    pub ipv4: Option<Ipv4Net>,
    pub ipv6: Option<Ipv6Net>,
    /// Next hop for destinations that are not on-link.
    pub gateway_v4: Option<Ipv4Addr>,
    pub gateway_v6: Option<Ipv6Addr>,
    /// Static neighbour entries (no ARP/ND needed for these).
    pub neighbors: BTreeMap<IpAddr, MacAddr>,
    /// IP MTU of the link.
    pub mtu: u16,
}

/// How EAL is told about an interface's device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind<'a> {
    /// A PCI device (`0000:3b:00.0`, optionally `,devargs`): passed with `-a`.
    Pci { address: &'a str },
    /// A virtual device (`net_af_packet0,iface=x`): passed with `--vdev`.
    Vdev { name: &'a str },
}

fn is_pci_address(s: &str) -> bool {
    let b = s.as_bytes();
    let hex = |r: std::ops::Range<usize>| {
        b.get(r)
            .is_some_and(|x| x.iter().all(u8::is_ascii_hexdigit))
    };
    let bdf = |o: usize| {
        b.len() == o + 7
            && hex(o..o + 2)
            && b[o + 2] == b':'
            && hex(o + 3..o + 5)
            && b[o + 5] == b'.'
            && (b'0'..=b'7').contains(&b[o + 6])
    };
    bdf(0) || (b.len() > 4 && hex(0..4) && b[4] == b':' && bdf(5))
}

impl Interface {
    /// Whether `device` is a PCI address or a vdev, and its bare name.
    #[must_use]
    pub fn device_kind(&self) -> DeviceKind<'_> {
        let name = self.device.split(',').next().unwrap_or_default().trim();
        if is_pci_address(name) {
            DeviceKind::Pci { address: name }
        } else {
            DeviceKind::Vdev { name }
        }
    }

    /// The name EAL gives the port (for `rte_eth_dev_get_port_by_name`):
    /// the PCI address or the vdev name, without devargs.
    #[must_use]
    pub fn port_name(&self) -> &str {
        match self.device_kind() {
            DeviceKind::Pci { address } => address,
            DeviceKind::Vdev { name } => name,
        }
    }

    /// The interface's own address of `ip`'s family.
    #[must_use]
    pub fn own_address_for(&self, ip: IpAddr) -> Option<IpAddr> {
        match ip {
            IpAddr::V4(_) => self.ipv4.map(|n| IpAddr::V4(n.addr())),
            IpAddr::V6(_) => self.ipv6.map(|n| IpAddr::V6(n.addr())),
        }
    }

    /// True if `ip` is inside one of the interface's prefixes.
    #[must_use]
    pub fn is_on_link(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => self.ipv4.is_some_and(|n| n.contains(&a)),
            IpAddr::V6(a) => self.ipv6.is_some_and(|n| n.contains(&a)),
        }
    }

    /// The next hop towards `dst`: `dst` itself when on-link, else the
    /// gateway of its family, else `None` (unreachable).
    #[must_use]
    pub fn next_hop(&self, dst: IpAddr) -> Option<IpAddr> {
        if self.is_on_link(dst) {
            return Some(dst);
        }
        match dst {
            IpAddr::V4(_) => self.gateway_v4.map(IpAddr::V4),
            IpAddr::V6(_) => self.gateway_v6.map(IpAddr::V6),
        }
    }

    /// The interface's own address(es) with their prefix.
    pub fn prefixes(&self) -> impl Iterator<Item = IpNet> + '_ {
        self.ipv4
            .map(IpNet::V4)
            .into_iter()
            .chain(self.ipv6.map(IpNet::V6))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interfaces {
    pub n3: Interface,
    pub n6: Interface,
    pub n9: Option<Interface>,
}

impl Interfaces {
    /// n3, n6, then n9 if configured: the DPDK port order.
    pub fn iter(&self) -> impl Iterator<Item = &Interface> {
        [Some(&self.n3), Some(&self.n6), self.n9.as_ref()]
            .into_iter()
            .flatten()
    }

    #[must_use]
    pub fn get(&self, name: InterfaceName) -> Option<&Interface> {
        match name {
            InterfaceName::N3 => Some(&self.n3),
            InterfaceName::N6 => Some(&self.n6),
            InterfaceName::N9 => self.n9.as_ref(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PfcpConfig {
    /// N4 UDP socket; `None`: static sessions only, no PFCP.
    pub listen: Option<SocketAddr>,
    /// SMF addresses allowed to associate; empty = any.
    pub peers: Vec<IpNet>,
    pub heartbeat_interval: Duration,
    /// T1 of TS 29.244 §6.4: wait for a response before retransmitting.
    pub request_timeout: Duration,
    /// N1: retransmissions before giving up on a request.
    pub request_retries: u8,
}

impl PfcpConfig {
    /// True when `ip` may talk PFCP to us.
    #[must_use]
    pub fn peer_allowed(&self, ip: IpAddr) -> bool {
        self.peers.is_empty() || self.peers.iter().any(|n| n.contains(&ip))
    }
}

/// UE addresses the UPF hands out when the SMF asks it to choose.
/// Static sessions' UE IPs inside a pool are reserved: see
/// [`Config::reserved_ue_ips`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UePool {
    pub cidr: IpNet,
    pub dnn: String,
}

/// F-TEIDs the UPF allocates for CHOOSE requests, inclusive. Static
/// sessions' TEIDs lie outside it (validated), so the allocator needs no
/// knowledge of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TeidRange {
    pub first: u32,
    pub last: u32,
}

impl TeidRange {
    #[must_use]
    pub const fn contains(&self, teid: u32) -> bool {
        self.first <= teid && teid <= self.last
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiConfig {
    /// HTTP listen address for `/metrics` and `/status` (port 0: any free port).
    pub listen: SocketAddr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReloadConfig {
    /// Re-read the file when it changes (in addition to SIGHUP).
    pub watch: bool,
    /// Quiet time after the last change event before reading the file.
    pub debounce: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataplaneConfig {
    /// Packets per rx burst.
    pub burst: u16,
    /// Session capacity (static + PFCP); establishment beyond it is refused.
    pub max_sessions: u32,
    /// Idle back-off of the workers; `None`: pure busy polling.
    pub idle_backoff: Option<IdleBackoff>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdleBackoff {
    /// Consecutive empty polls before a worker pauses.
    pub empty_polls: u32,
    /// Length of one pause.
    pub sleep: Duration,
}

// ------------------------------------------------------------ static sessions

/// One static session, in PFCP terms, whichever form the file used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticSession {
    /// The `id` from the file: unique among static sessions, the key that
    /// reload diffs by. Not a PFCP SEID.
    pub id: u64,
    /// The rule lists are shared, not owned: a reload that changes some
    /// of a static session (its QoS, the common edit) builds the new
    /// session around the lists of the running one that stay the same
    /// (`config::validate`'s `short_form`), and equal lists compare by
    /// pointer first.
    pub pdrs: Arc<[Pdr]>,
    pub fars: Arc<[Far]>,
    pub qers: Arc<[Qer]>,
    pub urrs: Arc<[Urr]>,
}

impl StaticSession {
    #[must_use]
    pub fn far(&self, id: u32) -> Option<&Far> {
        self.fars.iter().find(|f| f.id == id)
    }

    #[must_use]
    pub fn qer(&self, id: u32) -> Option<&Qer> {
        self.qers.iter().find(|q| q.id == id)
    }

    #[must_use]
    pub fn urr(&self, id: u32) -> Option<&Urr> {
        self.urrs.iter().find(|u| u.id == id)
    }

    /// UE addresses this session receives downlink traffic for.
    pub fn downlink_ue_ips(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.pdrs
            .iter()
            .filter(|p| p.local_fteid.is_none() && p.source != SourceInterface::Access)
            .filter_map(|p| p.ue_ip)
    }

    /// Local F-TEIDs this session receives GTP-U on.
    pub fn local_fteids(&self) -> impl Iterator<Item = LocalFteid> + '_ {
        self.pdrs.iter().filter_map(|p| p.local_fteid)
    }
}

/// A local F-TEID: the TEID on the UPF's own address of `interface`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocalFteid {
    pub interface: InterfaceName,
    pub teid: u32,
}

/// Packet Detection Rule (TS 29.244 §5.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pdr {
    pub id: u16,
    /// Lower value = matched first.
    pub precedence: u32,
    pub source: SourceInterface,
    /// GTP-U traffic: the TEID it arrives on (uplink on N3, or from N9).
    pub local_fteid: Option<LocalFteid>,
    /// The UE's address: matched as the inner *source* when `source` is
    /// access (anti-spoofing), as the *destination* otherwise.
    pub ue_ip: Option<IpAddr>,
    /// Empty: match all traffic of the PDI.
    pub sdf_filters: Vec<SdfFilter>,
    /// Match only this QFI (from the PDU Session Container).
    pub qfi: Option<u8>,
    pub outer_header_removal: Option<OuterHeaderRemoval>,
    pub far_id: u32,
    pub qer_ids: Vec<u32>,
    pub urr_ids: Vec<u32>,
}

/// Forwarding Action Rule (TS 29.244 §5.2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Far {
    pub id: u32,
    pub action: FarAction,
    /// Notify the CP of the first buffered downlink packet (NOCP).
    pub notify_cp: bool,
    /// Set when `action` is forward.
    pub destination: Option<DestinationInterface>,
    pub outer_header_creation: Option<OuterHeaderCreation>,
    /// DSCP of the outer IP header (Transport Level Marking).
    pub dscp: Option<u8>,
}

impl Far {
    /// The interface a forwarded packet leaves on: access → n3; core with
    /// GTP-U encapsulation → n9 (another UPF); otherwise n6, SGi-LAN with
    /// encapsulation included (a tunnel into the N6 LAN), as the dataplane
    /// sends it (`dataplane::control`'s compile).
    #[must_use]
    pub fn egress(&self) -> Option<InterfaceName> {
        if self.action != FarAction::Forward {
            return None;
        }
        match (self.destination?, &self.outer_header_creation) {
            (DestinationInterface::Access, _) => Some(InterfaceName::N3),
            (DestinationInterface::Core, Some(_)) => Some(InterfaceName::N9),
            (DestinationInterface::Core | DestinationInterface::SgiLan, _) => {
                Some(InterfaceName::N6)
            }
            (DestinationInterface::CpFunction, _) => None,
        }
    }
}

/// GTP-U/UDP/IP encapsulation towards `peer` with `teid`; the family of
/// `peer` decides IPv4 or IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OuterHeaderCreation {
    pub teid: u32,
    pub peer: IpAddr,
}

/// QoS Enforcement Rule (TS 29.244 §5.2.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qer {
    pub id: u32,
    pub gate_ul: GateStatus,
    pub gate_dl: GateStatus,
    pub mbr_ul: Option<Bitrate>,
    pub mbr_dl: Option<Bitrate>,
    pub gbr_ul: Option<Bitrate>,
    pub gbr_dl: Option<Bitrate>,
    /// QFI written into downlink PDU Session Containers.
    pub qfi: Option<u8>,
}

/// Usage Reporting Rule (TS 29.244 §5.2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Urr {
    pub id: u32,
    pub measure_volume: bool,
    pub measure_duration: bool,
    pub volume_threshold: Option<Volume>,
    pub volume_quota: Option<Volume>,
    pub time_threshold: Option<Duration>,
    pub time_quota: Option<Duration>,
    /// Periodic reporting interval.
    pub period: Option<Duration>,
}

/// Byte counts per direction; at least one is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Volume {
    pub total: Option<u64>,
    pub ul: Option<u64>,
    pub dl: Option<u64>,
}

impl Config {
    /// The effective config as YAML: every default filled in. Parses back
    /// to an equal `Config`.
    ///
    /// # Errors
    /// Only if the YAML serializer fails, which our types do not provoke.
    pub fn to_yaml(&self) -> Result<String, serde_saphyr::ser_error::Error> {
        serde_saphyr::to_string(&self.effective)
    }

    /// Static sessions' UE IPs that lie inside a UE pool: the allocator
    /// must not hand these out.
    #[must_use]
    pub fn reserved_ue_ips(&self) -> Vec<IpAddr> {
        let mut v: Vec<IpAddr> = self
            .sessions
            .iter()
            .flat_map(|s| s.downlink_ue_ips())
            .filter(|ip| self.ue_pools.iter().any(|p| p.cidr.contains(ip)))
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The EAL argument list (argv, `program` first): the lcores from
    /// `cores` (`-l`, `--main-lcore`), `dpdk.args`, then `-a PCI[,devargs]`
    /// for each PCI interface so that EAL probes those NICs and no other.
    ///
    /// Virtual devices are not passed with `--vdev`: `upf run` hot-plugs
    /// every vdev itself, because a vdev that EAL fails to probe at start
    /// is only logged, while a failed hot-plug is an error naming the device
    /// and the driver's reason, and leaves nothing behind.
    ///
    /// Defaults added unless `dpdk.args` says otherwise: `--file-prefix upf`
    /// (DPDK's default `rte` is shared with every other DPDK program),
    /// `--no-pci` when no interface is a PCI device (else EAL would probe
    /// every NIC bound to vfio-pci on the host), and `--huge-unlink=always`
    /// with hugepages (no hugepage files outlive the process, even a crash;
    /// not with `--single-file-segments`, which EAL refuses it with).
    #[must_use]
    pub fn eal_args(&self, program: &str) -> Vec<String> {
        let mut lcores = vec![self.cores.control];
        lcores.extend(&self.cores.workers);
        let lcores: Vec<String> = lcores.iter().map(ToString::to_string).collect();
        let mut args = vec![
            program.to_owned(),
            "-l".to_owned(),
            lcores.join(","),
            "--main-lcore".to_owned(),
            self.cores.control.to_string(),
        ];
        let user = &self.dpdk.args;
        let has = |opt: &str| {
            user.iter()
                .any(|a| a == opt || a.strip_prefix(opt).is_some_and(|r| r.starts_with('=')))
        };
        args.extend(user.iter().cloned());
        if !has("--file-prefix") {
            args.extend(["--file-prefix".to_owned(), "upf".to_owned()]);
        }
        let pci: Vec<&Interface> = self
            .interfaces
            .iter()
            .filter(|i| matches!(i.device_kind(), DeviceKind::Pci { .. }))
            .collect();
        let allowlist = has("-a") || has("--allow") || has("-b") || has("--block");
        if pci.is_empty() && !allowlist && !has("--no-pci") {
            args.push("--no-pci".to_owned());
        }
        if !has("--no-huge")
            && !has("--in-memory")
            && !has("--huge-unlink")
            && !has("--single-file-segments")
        {
            args.push("--huge-unlink=always".to_owned());
        }
        for iface in pci {
            args.push("-a".to_owned());
            args.push(iface.device.clone());
        }
        args
    }

    /// The `--file-prefix` EAL runs with (see [`Config::eal_args`]).
    #[must_use]
    pub fn file_prefix(&self) -> String {
        let args = self.eal_args("upf");
        let mut it = args.iter();
        let mut prefix = "upf".to_owned();
        while let Some(a) = it.next() {
            if a == "--file-prefix" {
                if let Some(v) = it.next() {
                    prefix.clone_from(v);
                }
            } else if let Some(v) = a.strip_prefix("--file-prefix=") {
                v.clone_into(&mut prefix);
            }
        }
        prefix
    }

    /// Static session by id.
    #[must_use]
    pub fn session(&self, id: u64) -> Option<&StaticSession> {
        self.sessions.iter().find(|s| s.id == id).map(|s| &**s)
    }
}
