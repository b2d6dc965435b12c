//! `upf prepare`: readies a bare-metal host for `upf run`, once per boot and
//! before the daemon starts (`upf-prepare.service`): reserves hugepages and
//! mounts hugetlbfs, binds the configured PCI NICs to vfio-pci, and writes
//! the CPU list that `upf.service` pins the daemon to. Outside the packet
//! path; it runs as root and exits.
//!
//! Every step first reads the current state and acts only when it differs,
//! so running it twice is harmless, and each step says what it did, or
//! "already" when there was nothing to do. [`Mode::DryRun`] reads and
//! reports without writing.
//!
//! Why our own code rather than DPDK's `dpdk-hugepages.py` and
//! `dpdk-devbind.py`: the work is a handful of sysfs writes; doing them here
//! keeps the package free of Python and the `dpdk` tools package, lets the
//! steps be idempotent and explained one line each, and lets them be tested
//! against a fake sysfs tree. The kernel interfaces are the ones those
//! scripts use: `nr_hugepages` under `/sys/kernel/mm/hugepages` (or per NUMA
//! node), a `hugetlbfs` mount, and `driver_override` + `drivers_probe`.
//!
//! This module depends on nothing else in the crate: the caller turns the
//! config into a [`PrepareSpec`] (see [`PrepareSpec::new`]).
#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The driver DPDK's PCI poll-mode drivers use on our appliances.
pub const VFIO_DRIVER: &str = "vfio-pci";

/// Where [`prepare`] writes the daemon's CPU list; `upf.service` reads it
/// with `EnvironmentFile=` and starts the daemon under `taskset`.
pub const DEFAULT_ENV_FILE: &str = "/run/upf/prepare.env";

/// Hugepages reserved when `dpdk.args` asks for hugepages but says neither
/// `-m` nor `--socket-mem`: DPDK then grows on demand, and this covers the
/// mempools of the default config (65,536 mbufs per socket) with room.
pub const DEFAULT_HUGEPAGE_BYTES: u64 = 1 << 30;

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;
const KIB: u64 = 1 << 10;

/// PCI vendor ids whose DPDK drivers are bifurcated: they run next to the
/// kernel driver (Mellanox/NVIDIA mlx4/mlx5), so binding them to vfio-pci
/// would break them.
const BIFURCATED_VENDORS: &[(&str, &str)] = &[("0x15b3", "mlx5_core/mlx4_core (NVIDIA Mellanox)")];

/// What the host should look like for `upf run`, taken from the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrepareSpec {
    /// The `interfaces.*.device` strings. PCI addresses (`0000:3b:00.0`,
    /// `3b:00.0`, with or without `,devargs`) are bound to vfio-pci; DPDK
    /// virtual devices (`net_af_packet0,iface=…`) need nothing.
    pub devices: Vec<String>,
    /// Hugepages to reserve; `None` when DPDK runs with `--no-huge`.
    pub hugepages: Option<HugepageSpec>,
    /// CPUs the daemon runs on: `cores.control` and `cores.workers`. Written
    /// to [`PrepareSpec::env_file`] as `UPF_CPUS`; empty = all online CPUs.
    pub cpus: Vec<u32>,
    /// Where to write `UPF_CPUS` ([`DEFAULT_ENV_FILE`]); `None` skips it.
    pub env_file: Option<PathBuf>,
    /// Turn on vfio's no-IOMMU mode for devices without an IOMMU group
    /// (VMs without a virtual IOMMU). Unsafe: the device can DMA anywhere,
    /// and DPDK then needs physical addresses (CAP_SYS_ADMIN).
    pub allow_noiommu: bool,
    /// Bind a NIC even when its kernel interface is up. Off by default so
    /// that a typo in `device` cannot take the management interface away.
    pub force: bool,
}

/// How much hugepage memory DPDK needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HugepageSpec {
    pub page_size: PageSize,
    pub amount: HugepageAmount,
    /// Mount point DPDK was told to use (`--huge-dir`); `None`: any
    /// hugetlbfs mount of the right page size, `/dev/hugepages` (default
    /// size) or `/dev/hugepages-<size>` when one has to be made.
    pub mount_point: Option<PathBuf>,
    /// DPDK runs with `--in-memory` and maps hugepages without a mount.
    pub needs_mount: bool,
}

/// Hugepage size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageSize {
    /// 1 GiB pages when enough of them are already reserved (at boot, see
    /// the README), else the kernel's default size (2 MiB on x86): 1 GiB
    /// pages rarely reserve at run time once memory is fragmented.
    Auto,
    /// This size, in bytes.
    Bytes(u64),
}

/// Total hugepage memory, or per NUMA node (DPDK's `--socket-mem`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HugepageAmount {
    Total(u64),
    /// Bytes per NUMA node, index = node id; zeros are skipped.
    PerNode(Vec<u64>),
}

impl HugepageAmount {
    fn total(&self) -> u64 {
        match self {
            Self::Total(b) => *b,
            Self::PerNode(v) => v.iter().sum(),
        }
    }
}

impl PrepareSpec {
    /// The spec for a config: its interfaces' `device` strings, its
    /// `dpdk.args` (hugepage needs are read from `--no-huge`, `-m`,
    /// `--socket-mem`, `--huge-dir` and `--in-memory`) and its CPUs
    /// (`cores.control` followed by `cores.workers`). Writes `UPF_CPUS` to
    /// [`DEFAULT_ENV_FILE`]; no-IOMMU and force are off.
    ///
    /// # Errors
    /// [`PrepareError::EalArgs`] when `-m`/`--socket-mem`/`--huge-dir`
    /// lack a valid value.
    pub fn new(
        devices: Vec<String>,
        eal_args: &[String],
        cpus: Vec<u32>,
    ) -> Result<Self, PrepareError> {
        Ok(Self {
            devices,
            hugepages: hugepages_from_eal_args(eal_args)?,
            cpus,
            env_file: Some(PathBuf::from(DEFAULT_ENV_FILE)),
            allow_noiommu: false,
            force: false,
        })
    }
}

/// Reads DPDK EAL arguments the way EAL does for memory: `--no-huge` needs
/// no hugepages; `--socket-mem A,B` (MiB per NUMA node) or `-m N` (MiB)
/// size them; without either, [`DEFAULT_HUGEPAGE_BYTES`].
///
/// # Errors
/// [`PrepareError::EalArgs`] for a missing or malformed value.
pub fn hugepages_from_eal_args(args: &[String]) -> Result<Option<HugepageSpec>, PrepareError> {
    let mut no_huge = false;
    let mut in_memory = false;
    let mut total_mib: Option<u64> = None;
    let mut per_node_mib: Option<Vec<u64>> = None;
    let mut huge_dir: Option<PathBuf> = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        // EAL takes both `--opt value` and `--opt=value`.
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_owned())),
            _ => (arg.as_str(), None),
        };
        let mut value = |what: &str| -> Result<String, PrepareError> {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| PrepareError::EalArgs(format!("{what} needs a value")))
        };
        match name {
            "--no-huge" => no_huge = true,
            "--in-memory" => in_memory = true,
            "-m" => {
                let v = value("-m")?;
                total_mib = Some(v.trim().parse().map_err(|_| {
                    PrepareError::EalArgs(format!("-m {v}: expected a size in MiB"))
                })?);
            }
            "--socket-mem" => {
                let v = value("--socket-mem")?;
                let nodes = v
                    .split(',')
                    .map(|s| s.trim().parse::<u64>())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| {
                        PrepareError::EalArgs(format!(
                            "--socket-mem {v}: expected MiB per NUMA node, like 1024,1024"
                        ))
                    })?;
                per_node_mib = Some(nodes);
            }
            "--huge-dir" => huge_dir = Some(PathBuf::from(value("--huge-dir")?)),
            _ => {}
        }
    }
    if no_huge {
        return Ok(None);
    }
    let amount = match (per_node_mib, total_mib) {
        (Some(nodes), _) => HugepageAmount::PerNode(nodes.into_iter().map(|m| m * MIB).collect()),
        (None, Some(m)) => HugepageAmount::Total(m * MIB),
        (None, None) => HugepageAmount::Total(DEFAULT_HUGEPAGE_BYTES),
    };
    Ok(Some(HugepageSpec {
        page_size: PageSize::Auto,
        amount,
        mount_point: huge_dir,
        needs_mount: !in_memory,
    }))
}

/// Whether to change the host or only say what would change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Apply,
    DryRun,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// What the line is about: `hugepages`, `hugetlbfs`, a PCI address,
    /// `vfio`, `cpus`.
    pub subject: String,
    pub outcome: Outcome,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The host was changed.
    Done,
    /// Nothing to do: the host was already as wanted.
    Already,
    /// Dry run: this change would be made.
    WouldDo,
    /// Not applicable (a virtual device, a bifurcated driver).
    Skipped,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.outcome {
            Outcome::Done => "done",
            Outcome::Already => "already",
            Outcome::WouldDo => "would",
            Outcome::Skipped => "skip",
        };
        write!(f, "{}: {tag}: {}", self.subject, self.detail)
    }
}

/// What [`prepare`] did, and what failed. Steps are independent (one bad
/// device does not stop hugepages or the other devices), so all problems
/// show up in one run.
#[derive(Debug, Default)]
pub struct Report {
    pub actions: Vec<Action>,
    pub errors: Vec<PrepareError>,
}

impl Report {
    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    fn push(&mut self, subject: impl Into<String>, outcome: Outcome, detail: impl Into<String>) {
        self.actions.push(Action {
            subject: subject.into(),
            outcome,
            detail: detail.into(),
        });
    }
}

impl fmt::Display for Report {
    /// One line per action, then one `error:` line per failure.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for a in &self.actions {
            writeln!(f, "{a}")?;
        }
        for e in &self.errors {
            writeln!(f, "error: {e}")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("dpdk.args: {0}")]
    EalArgs(String),
    #[error("{path}: cannot {op}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("`{command}` failed: {message}")]
    Command { command: String, message: String },
    #[error(
        "hugepages of {} are not supported by this kernel (supported: {}); \
         pick one of those or enable the size at boot (hugepagesz=)",
        human_bytes(*size), supported.iter().map(|s| human_bytes(*s)).collect::<Vec<_>>().join(", ")
    )]
    PageSizeUnsupported { size: u64, supported: Vec<u64> },
    #[error(
        "{where_}: asked for {wanted} hugepages of {}, the kernel reserved {got}: memory is \
         fragmented or too small; reserve them at boot (kernel command line \
         `default_hugepagesz=1G hugepagesz=1G hugepages=N`, see the README)",
        human_bytes(*size)
    )]
    HugepagesShort {
        where_: String,
        size: u64,
        wanted: u64,
        got: u64,
    },
    #[error("NUMA node {node} does not exist (--socket-mem lists {nodes} nodes)")]
    NoSuchNode { node: usize, nodes: usize },
    #[error("{addr}: no such PCI device (list them with `lspci -D`)")]
    NoSuchPciDevice { addr: String },
    #[error(
        "{addr}: kernel interface {ifname} is up; binding would take it away from the kernel. \
         Bring it down (`ip link set {ifname} down`) if it is really meant for the UPF, \
         or force the binding"
    )]
    InterfaceUp { addr: String, ifname: String },
    #[error(
        "{addr}: has no IOMMU group: enable the IOMMU (intel_iommu=on iommu=pt or amd_iommu=on \
         on the kernel command line, VT-d/AMD-Vi in the firmware), or allow vfio's unsafe \
         no-IOMMU mode (VMs without a virtual IOMMU)"
    )]
    NoIommu { addr: String },
    #[error("the vfio-pci driver is not available after loading its module")]
    NoVfioDriver,
    #[error("{addr}: still bound to {now} after asking for {VFIO_DRIVER}")]
    BindFailed { addr: String, now: String },
    #[error("cpu {cpu} is not online (online: {online})")]
    CpuOffline { cpu: u32, online: String },
}

/// The host as [`prepare`] sees it: files under `/sys`, `/proc`, `/dev`
/// and `/run`, and two commands (`modprobe`, `mount`). Paths are absolute
/// host paths; an implementation may map them elsewhere (tests).
pub trait System {
    /// # Errors
    /// As the file system reports them.
    fn read_to_string(&self, path: &Path) -> io::Result<String>;
    /// Writes `contents` in place (sysfs attributes take one write).
    ///
    /// # Errors
    /// As the file system reports them.
    fn write(&self, path: &Path, contents: &str) -> io::Result<()>;
    /// Replaces a regular file atomically (temporary file and rename),
    /// creating its directory.
    ///
    /// # Errors
    /// As the file system reports them.
    fn replace_file(&self, path: &Path, contents: &str) -> io::Result<()>;
    /// # Errors
    /// As the file system reports them.
    fn read_link(&self, path: &Path) -> io::Result<PathBuf>;
    /// Names of the entries of a directory.
    ///
    /// # Errors
    /// As the file system reports them.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>>;
    fn exists(&self, path: &Path) -> bool;
    /// # Errors
    /// As the file system reports them.
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Runs a command to completion.
    ///
    /// # Errors
    /// A message with the exit status and stderr when it fails.
    fn run(&self, program: &str, args: &[&str]) -> Result<(), String>;
}

/// The real host, or a copy of its trees under another root directory
/// (then [`System::run`] refuses: commands act on the real host).
#[derive(Debug, Clone)]
pub struct HostSystem {
    root: PathBuf,
}

impl HostSystem {
    /// `root` is `/` on a real host; another directory maps `/sys/...` to
    /// `root/sys/...` (for tests and dry runs against a captured tree).
    #[must_use]
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Where a host path lives under this root.
    #[must_use]
    pub fn map(&self, path: &Path) -> PathBuf {
        self.root.join(path.strip_prefix("/").unwrap_or(path))
    }

    fn is_real_root(&self) -> bool {
        self.root == Path::new("/")
    }
}

impl System for HostSystem {
    fn read_to_string(&self, path: &Path) -> io::Result<String> {
        std::fs::read_to_string(self.map(path))
    }

    fn write(&self, path: &Path, contents: &str) -> io::Result<()> {
        std::fs::write(self.map(path), contents)
    }

    fn replace_file(&self, path: &Path, contents: &str) -> io::Result<()> {
        let target = self.map(path);
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut tmp = target.clone().into_os_string();
        tmp.push(".tmp");
        std::fs::write(&tmp, contents)?;
        std::fs::rename(&tmp, &target)
    }

    fn read_link(&self, path: &Path) -> io::Result<PathBuf> {
        std::fs::read_link(self.map(path))
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let mut names = std::fs::read_dir(self.map(path))?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<io::Result<Vec<_>>>()?;
        names.sort();
        Ok(names)
    }

    fn exists(&self, path: &Path) -> bool {
        self.map(path).exists()
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(self.map(path))
    }

    fn run(&self, program: &str, args: &[&str]) -> Result<(), String> {
        if !self.is_real_root() {
            return Err(format!(
                "not run: the host tree is mapped to {}",
                self.root.display()
            ));
        }
        let out = Command::new(program)
            .args(args)
            .output()
            .map_err(|e| format!("cannot start {program}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }
}

/// Brings the host to `spec`. Never lowers what is already there (other
/// programs may use the hugepages; a NIC already on vfio-pci stays).
///
/// `upf prepare --config F [--dry-run] [--allow-noiommu] [--force]` is:
///
/// ```ignore
/// // No host checks: under isolcpus= this process may not be allowed on
/// // the worker cores, and it does not run them.
/// let cfg = config::load(path, None)?;
/// let mut spec = prepare::PrepareSpec::new(
///     cfg.interfaces.iter().map(|i| i.device.clone()).collect(),
///     &cfg.dpdk.args,
///     std::iter::once(cfg.cores.control).chain(cfg.cores.workers.iter().copied()).collect(),
/// )?;
/// spec.allow_noiommu = allow_noiommu;
/// spec.force = force;
/// let mode = if dry_run { prepare::Mode::DryRun } else { prepare::Mode::Apply };
/// let report = prepare::prepare(&spec, &prepare::HostSystem::new("/"), mode);
/// print!("{report}"); // one line per step, then `error:` lines
/// // exit status 1 unless report.is_ok()
/// ```
pub fn prepare(spec: &PrepareSpec, sys: &dyn System, mode: Mode) -> Report {
    let cx = Cx {
        sys,
        mode,
        report: RefCell::new(Report::default()),
    };
    if let Some(h) = &spec.hugepages {
        if let Err(e) = cx.hugepages(h) {
            cx.fail(e);
        }
    } else {
        cx.push(
            "hugepages",
            Outcome::Skipped,
            "none needed (dpdk.args has --no-huge)",
        );
    }
    cx.devices(spec);
    if let Some(env) = &spec.env_file
        && let Err(e) = cx.cpus(&spec.cpus, env)
    {
        cx.fail(e);
    }
    cx.report.into_inner()
}

struct Cx<'a> {
    sys: &'a dyn System,
    mode: Mode,
    report: RefCell<Report>,
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> PrepareError {
    let path = path.to_path_buf();
    move |source| PrepareError::Io { op, path, source }
}

impl Cx<'_> {
    fn push(&self, subject: impl Into<String>, outcome: Outcome, detail: impl Into<String>) {
        self.report.borrow_mut().push(subject, outcome, detail);
    }

    fn fail(&self, e: PrepareError) {
        self.report.borrow_mut().errors.push(e);
    }

    fn dry(&self) -> bool {
        self.mode == Mode::DryRun
    }

    fn read(&self, path: &Path) -> Result<String, PrepareError> {
        self.sys.read_to_string(path).map_err(io_err("read", path))
    }

    fn read_u64(&self, path: &Path) -> Result<u64, PrepareError> {
        let s = self.read(path)?;
        s.trim().parse().map_err(|_| PrepareError::Io {
            op: "parse",
            path: path.to_path_buf(),
            source: io::Error::new(io::ErrorKind::InvalidData, format!("not a number: {s:?}")),
        })
    }

    fn write(&self, path: &Path, contents: &str) -> Result<(), PrepareError> {
        self.sys
            .write(path, contents)
            .map_err(io_err("write", path))
    }

    fn run(&self, program: &str, args: &[&str]) -> Result<(), PrepareError> {
        self.sys
            .run(program, args)
            .map_err(|message| PrepareError::Command {
                command: std::iter::once(program)
                    .chain(args.iter().copied())
                    .collect::<Vec<_>>()
                    .join(" "),
                message,
            })
    }

    // ---- hugepages -------------------------------------------------------

    /// Page sizes the kernel supports, in bytes, ascending.
    fn supported_sizes(&self) -> Result<Vec<u64>, PrepareError> {
        let dir = Path::new("/sys/kernel/mm/hugepages");
        let names = self.sys.list_dir(dir).map_err(io_err("list", dir))?;
        let mut sizes: Vec<u64> = names
            .iter()
            .filter_map(|n| {
                n.strip_prefix("hugepages-")?
                    .strip_suffix("kB")?
                    .parse::<u64>()
                    .ok()
            })
            .map(|kb| kb * KIB)
            .collect();
        sizes.sort_unstable();
        Ok(sizes)
    }

    fn default_size(&self) -> Result<u64, PrepareError> {
        let path = Path::new("/proc/meminfo");
        let meminfo = self.read(path)?;
        meminfo
            .lines()
            .find_map(|l| {
                let v = l.strip_prefix("Hugepagesize:")?.trim();
                v.strip_suffix("kB")?.trim().parse::<u64>().ok()
            })
            .map(|kb| kb * KIB)
            .ok_or_else(|| PrepareError::Io {
                op: "find Hugepagesize in",
                path: path.to_path_buf(),
                source: io::Error::new(io::ErrorKind::NotFound, "no Hugepagesize line"),
            })
    }

    fn pool_dir(size: u64, node: Option<usize>) -> PathBuf {
        let leaf = format!("hugepages/hugepages-{}kB", size / KIB);
        match node {
            None => Path::new("/sys/kernel/mm").join(leaf),
            Some(n) => PathBuf::from(format!("/sys/devices/system/node/node{n}")).join(leaf),
        }
    }

    fn hugepages(&self, h: &HugepageSpec) -> Result<(), PrepareError> {
        let supported = self.supported_sizes()?;
        let default = self.default_size()?;
        let size = match h.page_size {
            PageSize::Bytes(s) => s,
            PageSize::Auto => {
                // Use 1 GiB pages when the boot already reserved enough.
                let enough_1g = supported.contains(&GIB) && {
                    let have = self.read_u64(&Self::pool_dir(GIB, None).join("nr_hugepages"))?;
                    have * GIB >= h.amount.total()
                };
                if enough_1g { GIB } else { default }
            }
        };
        if !supported.contains(&size) {
            return Err(PrepareError::PageSizeUnsupported { size, supported });
        }
        match &h.amount {
            HugepageAmount::Total(bytes) => self.reserve(size, None, *bytes)?,
            HugepageAmount::PerNode(nodes) => {
                for (node, &bytes) in nodes.iter().enumerate() {
                    if bytes == 0 {
                        continue;
                    }
                    let dir = Self::pool_dir(size, Some(node));
                    if !self.sys.exists(&dir) {
                        self.fail(PrepareError::NoSuchNode {
                            node,
                            nodes: nodes.len(),
                        });
                        continue;
                    }
                    if let Err(e) = self.reserve(size, Some(node), bytes) {
                        self.fail(e);
                    }
                }
            }
        }
        if h.needs_mount {
            self.mount_hugetlbfs(size, default, h.mount_point.as_deref())?;
        } else {
            self.push(
                "hugetlbfs",
                Outcome::Skipped,
                "no mount needed (dpdk.args has --in-memory)",
            );
        }
        Ok(())
    }

    fn reserve(&self, size: u64, node: Option<usize>, bytes: u64) -> Result<(), PrepareError> {
        let wanted = bytes.div_ceil(size);
        let path = Self::pool_dir(size, node).join("nr_hugepages");
        let subject = match node {
            None => "hugepages".to_owned(),
            Some(n) => format!("hugepages node{n}"),
        };
        let have = self.read_u64(&path)?;
        let what = |n: u64| format!("{n} x {}", human_bytes(size));
        if have >= wanted {
            self.push(
                subject,
                Outcome::Already,
                format!(
                    "{} reserved (need {} for {})",
                    what(have),
                    wanted,
                    human_bytes(bytes)
                ),
            );
            return Ok(());
        }
        if self.dry() {
            self.push(
                subject,
                Outcome::WouldDo,
                format!("reserve {} (now {have})", what(wanted)),
            );
            return Ok(());
        }
        self.write(&path, &wanted.to_string())?;
        let got = self.read_u64(&path)?;
        if got < wanted {
            // Leave what the kernel gave: lowering it back helps nobody.
            return Err(PrepareError::HugepagesShort {
                where_: subject,
                size,
                wanted,
                got,
            });
        }
        self.push(
            subject,
            Outcome::Done,
            format!("reserved {} (was {have})", what(got)),
        );
        Ok(())
    }

    /// hugetlbfs mounts as (mount point, page size).
    fn hugetlbfs_mounts(&self, default: u64) -> Result<Vec<(PathBuf, u64)>, PrepareError> {
        let mounts = self.read(Path::new("/proc/mounts"))?;
        Ok(mounts
            .lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                let (_src, dir, fstype, opts) = (f.next()?, f.next()?, f.next()?, f.next()?);
                if fstype != "hugetlbfs" {
                    return None;
                }
                let size = opts
                    .split(',')
                    .find_map(|o| o.strip_prefix("pagesize="))
                    .map_or(Some(default), parse_size)?;
                Some((PathBuf::from(unescape_mount_path(dir)), size))
            })
            .collect())
    }

    fn mount_hugetlbfs(
        &self,
        size: u64,
        default: u64,
        wanted_dir: Option<&Path>,
    ) -> Result<(), PrepareError> {
        let mounts = self.hugetlbfs_mounts(default)?;
        let found = mounts
            .iter()
            .find(|(dir, s)| *s == size && wanted_dir.is_none_or(|w| w == dir));
        if let Some((dir, _)) = found {
            self.push(
                "hugetlbfs",
                Outcome::Already,
                format!("{} pages mounted at {}", human_bytes(size), dir.display()),
            );
            return Ok(());
        }
        let dir = match wanted_dir {
            Some(d) => d.to_path_buf(),
            None if size == default
                && !mounts.iter().any(|(d, _)| d == Path::new("/dev/hugepages")) =>
            {
                PathBuf::from("/dev/hugepages")
            }
            None => PathBuf::from(format!("/dev/hugepages-{}", short_size(size))),
        };
        if let Some((_, other)) = mounts.iter().find(|(d, _)| *d == dir) {
            // Something else is mounted there with another page size: a
            // second mount on top would hide it from whoever uses it.
            return Err(PrepareError::Command {
                command: format!("mount hugetlbfs at {}", dir.display()),
                message: format!(
                    "{} already holds a hugetlbfs of {} pages; give dpdk.args another --huge-dir",
                    dir.display(),
                    human_bytes(*other)
                ),
            });
        }
        let detail = format!(
            "mount hugetlbfs ({} pages) at {}",
            human_bytes(size),
            dir.display()
        );
        if self.dry() {
            self.push("hugetlbfs", Outcome::WouldDo, detail);
            return Ok(());
        }
        self.sys
            .create_dir_all(&dir)
            .map_err(io_err("create", &dir))?;
        let dir_s = dir.to_string_lossy().into_owned();
        let opt = format!("pagesize={}", short_size(size));
        self.run("mount", &["-t", "hugetlbfs", "-o", &opt, "nodev", &dir_s])?;
        self.push(
            "hugetlbfs",
            Outcome::Done,
            format!("mounted {} pages at {}", human_bytes(size), dir.display()),
        );
        Ok(())
    }

    // ---- PCI devices -----------------------------------------------------

    fn devices(&self, spec: &PrepareSpec) {
        let mut seen = BTreeSet::new();
        let mut pci = Vec::new();
        for dev in &spec.devices {
            match pci_address(dev) {
                Some(addr) => {
                    if seen.insert(addr.clone()) {
                        pci.push(addr);
                    }
                }
                None => self.push(
                    dev.split(',').next().unwrap_or(dev),
                    Outcome::Skipped,
                    "DPDK virtual device, nothing to bind",
                ),
            }
        }
        if pci.is_empty() {
            return;
        }
        let mut vfio_ready = None;
        for addr in pci {
            if let Err(e) = self.device(&addr, spec, &mut vfio_ready) {
                self.fail(e);
            }
        }
    }

    /// Loads vfio-pci once, on the first device that needs it. `Some(true)`:
    /// the driver is there (or would be, in a dry run).
    fn ensure_vfio(&self, state: &mut Option<bool>) -> Result<(), PrepareError> {
        if state.is_some() {
            return Ok(());
        }
        let drv = Path::new("/sys/bus/pci/drivers").join(VFIO_DRIVER);
        if self.sys.exists(&drv) {
            self.push("vfio", Outcome::Already, "vfio-pci driver loaded");
        } else if self.dry() {
            self.push(
                "vfio",
                Outcome::WouldDo,
                "load the vfio-pci module (modprobe vfio-pci)",
            );
        } else {
            self.run("modprobe", &[VFIO_DRIVER])?;
            if !self.sys.exists(&drv) {
                return Err(PrepareError::NoVfioDriver);
            }
            self.push("vfio", Outcome::Done, "loaded the vfio-pci module");
        }
        *state = Some(true);
        Ok(())
    }

    fn noiommu(&self, addr: &str, allow: bool) -> Result<(), PrepareError> {
        let param = Path::new("/sys/module/vfio/parameters/enable_unsafe_noiommu_mode");
        let on = self
            .sys
            .read_to_string(param)
            .is_ok_and(|v| matches!(v.trim(), "Y" | "y" | "1"));
        if on {
            self.push(
                addr,
                Outcome::Already,
                "no IOMMU group; vfio no-IOMMU mode is on (unsafe: DPDK needs CAP_SYS_ADMIN and CAP_SYS_RAWIO)",
            );
            return Ok(());
        }
        if !allow {
            return Err(PrepareError::NoIommu {
                addr: addr.to_owned(),
            });
        }
        if self.dry() {
            self.push(
                "vfio",
                Outcome::WouldDo,
                "turn on vfio's unsafe no-IOMMU mode",
            );
            return Ok(());
        }
        self.write(param, "1")?;
        self.push(
            "vfio",
            Outcome::Done,
            "turned on vfio's unsafe no-IOMMU mode (DPDK then needs CAP_SYS_ADMIN and CAP_SYS_RAWIO)",
        );
        Ok(())
    }

    fn device(
        &self,
        addr: &str,
        spec: &PrepareSpec,
        vfio: &mut Option<bool>,
    ) -> Result<(), PrepareError> {
        let dev = Path::new("/sys/bus/pci/devices").join(addr);
        if !self.sys.exists(&dev) {
            return Err(PrepareError::NoSuchPciDevice {
                addr: addr.to_owned(),
            });
        }
        let driver = self
            .sys
            .read_link(&dev.join("driver"))
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
        if driver.as_deref() == Some(VFIO_DRIVER) {
            self.push(addr, Outcome::Already, format!("bound to {VFIO_DRIVER}"));
            return Ok(());
        }
        let vendor = self
            .sys
            .read_to_string(&dev.join("vendor"))
            .unwrap_or_default();
        if let Some((_, name)) = BIFURCATED_VENDORS.iter().find(|(v, _)| *v == vendor.trim()) {
            self.push(
                addr,
                Outcome::Skipped,
                format!(
                    "kept on {}: DPDK's driver for this NIC works beside the kernel driver",
                    driver.as_deref().unwrap_or(name)
                ),
            );
            return Ok(());
        }
        // Kernel interfaces of this device, and whether one is up.
        const IFF_UP: u32 = 0x1;
        let ifnames = self.sys.list_dir(&dev.join("net")).unwrap_or_default();
        for ifname in &ifnames {
            let flags = self
                .sys
                .read_to_string(&dev.join("net").join(ifname).join("flags"))
                .ok()
                .and_then(|s| u32::from_str_radix(s.trim().trim_start_matches("0x"), 16).ok())
                .unwrap_or(0);
            if flags & IFF_UP != 0 && !spec.force {
                return Err(PrepareError::InterfaceUp {
                    addr: addr.to_owned(),
                    ifname: ifname.clone(),
                });
            }
        }
        if !self.sys.exists(&dev.join("iommu_group")) {
            self.ensure_vfio(vfio)?;
            self.noiommu(addr, spec.allow_noiommu)?;
        } else {
            self.ensure_vfio(vfio)?;
        }
        let was = match (&driver, ifnames.is_empty()) {
            (Some(d), true) => format!("was {d}"),
            (Some(d), false) => format!("was {d}, interface {}", ifnames.join(", ")),
            (None, _) => "was unbound".to_owned(),
        };
        if self.dry() {
            self.push(
                addr,
                Outcome::WouldDo,
                format!("bind to {VFIO_DRIVER} ({was})"),
            );
            return Ok(());
        }
        // driver_override makes the next probe pick vfio-pci and keeps the
        // kernel driver from taking the device back until reboot.
        self.write(&dev.join("driver_override"), VFIO_DRIVER)?;
        if driver.is_some() {
            self.write(&dev.join("driver/unbind"), addr)?;
        }
        self.write(Path::new("/sys/bus/pci/drivers_probe"), addr)?;
        let now = self
            .sys
            .read_link(&dev.join("driver"))
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
        if now.as_deref() != Some(VFIO_DRIVER) {
            return Err(PrepareError::BindFailed {
                addr: addr.to_owned(),
                now: now.unwrap_or_else(|| "no driver".to_owned()),
            });
        }
        self.push(
            addr,
            Outcome::Done,
            format!("bound to {VFIO_DRIVER} ({was})"),
        );
        Ok(())
    }

    // ---- CPUs ------------------------------------------------------------

    fn cpus(&self, cpus: &[u32], env: &Path) -> Result<(), PrepareError> {
        let online_path = Path::new("/sys/devices/system/cpu/online");
        let online_s = self.read(online_path)?;
        let online = parse_cpu_list(online_s.trim()).ok_or_else(|| PrepareError::Io {
            op: "parse",
            path: online_path.to_path_buf(),
            source: io::Error::new(io::ErrorKind::InvalidData, online_s.trim().to_owned()),
        })?;
        let set: BTreeSet<u32> = if cpus.is_empty() {
            online.clone()
        } else {
            cpus.iter().copied().collect()
        };
        if let Some(&cpu) = set.iter().find(|c| !online.contains(c)) {
            return Err(PrepareError::CpuOffline {
                cpu,
                online: online_s.trim().to_owned(),
            });
        }
        let list = format_cpu_list(&set);
        let contents = format!(
            "# Written by `upf prepare`: the CPUs of cores.control and cores.workers.\n\
             # upf.service starts the daemon under `taskset -c $UPF_CPUS`.\n\
             UPF_CPUS={list}\n"
        );
        let subject = "cpus";
        if self.sys.read_to_string(env).is_ok_and(|c| c == contents) {
            self.push(
                subject,
                Outcome::Already,
                format!("UPF_CPUS={list} in {}", env.display()),
            );
            return Ok(());
        }
        if self.dry() {
            self.push(
                subject,
                Outcome::WouldDo,
                format!("write UPF_CPUS={list} to {}", env.display()),
            );
            return Ok(());
        }
        self.sys
            .replace_file(env, &contents)
            .map_err(io_err("write", env))?;
        self.push(
            subject,
            Outcome::Done,
            format!("wrote UPF_CPUS={list} to {}", env.display()),
        );
        Ok(())
    }
}

/// The canonical PCI address (`0000:3b:00.0`) of a DPDK device string, or
/// `None` for a virtual device. Accepts `3b:00.0` (domain 0) and trailing
/// `,devargs`.
#[must_use]
pub fn pci_address(device: &str) -> Option<String> {
    let addr = device.split(',').next()?.trim();
    let parts: Vec<&str> = addr.split(':').collect();
    let (domain, bus, devfn) = match parts.as_slice() {
        [d, b, df] => (*d, *b, *df),
        [b, df] => ("0000", *b, *df),
        _ => return None,
    };
    let (dev, func) = devfn.split_once('.')?;
    let hex = |s: &str, len: usize| s.len() == len && s.chars().all(|c| c.is_ascii_hexdigit());
    let func_ok = func.len() == 1 && matches!(func.as_bytes()[0], b'0'..=b'7');
    (hex(domain, 4) && hex(bus, 2) && hex(dev, 2) && func_ok)
        .then(|| format!("{domain}:{bus}:{dev}.{func}").to_ascii_lowercase())
}

/// Parses the kernel's CPU list format (`0-3,6`).
#[must_use]
pub fn parse_cpu_list(s: &str) -> Option<BTreeSet<u32>> {
    let mut set = BTreeSet::new();
    if s.is_empty() {
        return Some(set);
    }
    for part in s.split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b): (u32, u32) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
        if a > b || b - a > 65536 {
            return None;
        }
        set.extend(a..=b);
    }
    Some(set)
}

/// Formats CPUs in the kernel's list format, which `taskset -c` reads.
#[must_use]
pub fn format_cpu_list(cpus: &BTreeSet<u32>) -> String {
    let mut out = Vec::new();
    let mut it = cpus.iter().copied().peekable();
    while let Some(start) = it.next() {
        let mut end = start;
        while it.peek() == Some(&(end + 1)) {
            end += 1;
            it.next();
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    out.join(",")
}

/// `2M`, `1G`, `1024M`, `64K`, plain bytes → bytes.
fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = match s.as_bytes().last()? {
        b'K' | b'k' => (&s[..s.len() - 1], KIB),
        b'M' | b'm' => (&s[..s.len() - 1], MIB),
        b'G' | b'g' => (&s[..s.len() - 1], GIB),
        _ => (s, 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mult)
}

/// `1G`, `2M`, `64K`: the form `mount -o pagesize=` takes and mount point
/// names use.
fn short_size(bytes: u64) -> String {
    if bytes.is_multiple_of(GIB) {
        format!("{}G", bytes / GIB)
    } else if bytes.is_multiple_of(MIB) {
        format!("{}M", bytes / MIB)
    } else {
        format!("{}K", bytes / KIB)
    }
}

fn human_bytes(bytes: u64) -> String {
    if bytes >= GIB && bytes.is_multiple_of(GIB) {
        format!("{} GiB", bytes / GIB)
    } else if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= KIB && bytes.is_multiple_of(KIB) {
        format!("{} KiB", bytes / KIB)
    } else {
        format!("{bytes} B")
    }
}

/// `/proc/mounts` writes space, tab, newline and backslash as octal escapes.
fn unescape_mount_path(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..=i + 3].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    //! Against a fake sysfs tree in a temporary directory. `FakeKernel`
    //! plays the kernel's part: a write to `drivers_probe` binds the device
    //! to its `driver_override`, `unbind` removes the driver link,
    //! `nr_hugepages` is capped at what the fake has free, `modprobe`
    //! makes the driver appear and `mount` adds a line to `/proc/mounts`.
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct TempDir(PathBuf);
    impl TempDir {
        fn new(name: &str) -> Self {
            static N: AtomicUsize = AtomicUsize::new(0);
            let p = std::env::temp_dir().join(format!(
                "upf-prepare-{}-{}-{name}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            Self(p)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    struct FakeKernel {
        _dir: TempDir,
        host: HostSystem,
        /// Most hugepages of each size (bytes) the fake can reserve.
        capacity: RefCell<Vec<(u64, u64)>>,
        /// Commands run and sysfs writes, in order.
        log: RefCell<Vec<String>>,
        modprobe_works: bool,
    }

    impl FakeKernel {
        /// An x86 host: 2 MiB default pages, 1 GiB supported, two NUMA
        /// nodes, CPUs 0-7 online, devtmpfs-style /dev/hugepages mounted,
        /// vfio-pci not loaded, no PCI devices yet.
        fn new(name: &str) -> Self {
            let dir = TempDir::new(name);
            let host = HostSystem::new(&dir.0);
            let k = Self {
                _dir: dir,
                host,
                capacity: RefCell::new(vec![(2 * MIB, 100_000), (GIB, 64)]),
                log: RefCell::new(Vec::new()),
                modprobe_works: true,
            };
            for kb in ["2048", "1048576"] {
                k.file(
                    &format!("/sys/kernel/mm/hugepages/hugepages-{kb}kB/nr_hugepages"),
                    "0\n",
                );
                k.file(
                    &format!("/sys/kernel/mm/hugepages/hugepages-{kb}kB/free_hugepages"),
                    "0\n",
                );
                for node in 0..2 {
                    k.file(
                        &format!("/sys/devices/system/node/node{node}/hugepages/hugepages-{kb}kB/nr_hugepages"),
                        "0\n",
                    );
                }
            }
            k.file(
                "/proc/meminfo",
                "MemTotal:       65536000 kB\nHugePages_Total:       0\nHugepagesize:       2048 kB\n",
            );
            k.file(
                "/proc/mounts",
                "sysfs /sys sysfs rw,nosuid 0 0\nhugetlbfs /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0\n",
            );
            k.file("/sys/devices/system/cpu/online", "0-7\n");
            k.file("/sys/bus/pci/drivers_probe", "");
            k.driver("ixgbe");
            k
        }

        fn path(&self, p: &str) -> PathBuf {
            self.host.map(Path::new(p))
        }

        fn file(&self, p: &str, contents: &str) {
            let path = self.path(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, contents).unwrap();
        }

        fn read(&self, p: &str) -> String {
            std::fs::read_to_string(self.path(p)).unwrap()
        }

        fn driver(&self, name: &str) {
            self.file(&format!("/sys/bus/pci/drivers/{name}/unbind"), "");
            self.file(&format!("/sys/bus/pci/drivers/{name}/bind"), "");
        }

        /// A NIC at `addr` bound to `driver` with kernel interface `ifname`
        /// (flags 0x1002 when up: IFF_UP|IFF_BROADCAST, else 0x1002 & !1).
        fn nic(&self, addr: &str, driver: Option<&str>, ifname: Option<(&str, bool)>, iommu: bool) {
            let dev = format!("/sys/bus/pci/devices/{addr}");
            self.file(&format!("{dev}/vendor"), "0x8086\n");
            self.file(&format!("{dev}/driver_override"), "(null)\n");
            if let Some(d) = driver {
                self.link(
                    &format!("{dev}/driver"),
                    &format!("/sys/bus/pci/drivers/{d}"),
                );
            }
            if let Some((name, up)) = ifname {
                self.file(
                    &format!("{dev}/net/{name}/flags"),
                    if up { "0x1003\n" } else { "0x1002\n" },
                );
            }
            if iommu {
                self.file("/sys/kernel/iommu_groups/17/type", "DMA\n");
                self.link(&format!("{dev}/iommu_group"), "/sys/kernel/iommu_groups/17");
            }
        }

        fn link(&self, p: &str, target: &str) {
            let path = self.path(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let _ = std::fs::remove_file(&path);
            std::os::unix::fs::symlink(self.path(target), path).unwrap();
        }

        fn driver_of(&self, addr: &str) -> Option<String> {
            std::fs::read_link(self.path(&format!("/sys/bus/pci/devices/{addr}/driver")))
                .ok()
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        }

        fn log(&self) -> Vec<String> {
            self.log.borrow().clone()
        }
    }

    impl System for FakeKernel {
        fn read_to_string(&self, path: &Path) -> io::Result<String> {
            self.host.read_to_string(path)
        }

        fn write(&self, path: &Path, contents: &str) -> io::Result<()> {
            self.log
                .borrow_mut()
                .push(format!("write {} {contents}", path.display()));
            let p = path.to_string_lossy();
            if p.ends_with("/nr_hugepages") {
                let kb: u64 = p
                    .split("hugepages-")
                    .nth(1)
                    .and_then(|s| s.split("kB").next())
                    .and_then(|s| s.parse().ok())
                    .unwrap();
                let cap = self
                    .capacity
                    .borrow()
                    .iter()
                    .find(|(s, _)| *s == kb * KIB)
                    .map_or(0, |(_, c)| *c);
                let n: u64 = contents
                    .trim()
                    .parse()
                    .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
                return self.host.write(path, &format!("{}\n", n.min(cap)));
            }
            if p == "/sys/bus/pci/drivers_probe" {
                let addr = contents.trim();
                let dev = format!("/sys/bus/pci/devices/{addr}");
                let ovr = self
                    .host
                    .read_to_string(Path::new(&format!("{dev}/driver_override")))?;
                let ovr = ovr.trim();
                let drv = format!("/sys/bus/pci/drivers/{ovr}");
                if self.driver_of(addr).is_none() && self.host.exists(Path::new(&drv)) {
                    self.link(&format!("{dev}/driver"), &drv);
                    // The kernel interface goes away with its driver.
                    let _ = std::fs::remove_dir_all(self.path(&format!("{dev}/net")));
                }
                return Ok(());
            }
            if p.ends_with("/driver/unbind") {
                let addr = contents.trim();
                let link = self.path(&format!("/sys/bus/pci/devices/{addr}/driver"));
                return std::fs::remove_file(link);
            }
            self.host.write(path, contents)
        }

        fn replace_file(&self, path: &Path, contents: &str) -> io::Result<()> {
            self.log
                .borrow_mut()
                .push(format!("replace {}", path.display()));
            self.host.replace_file(path, contents)
        }

        fn read_link(&self, path: &Path) -> io::Result<PathBuf> {
            self.host.read_link(path)
        }

        fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
            self.host.list_dir(path)
        }

        fn exists(&self, path: &Path) -> bool {
            self.host.exists(path)
        }

        fn create_dir_all(&self, path: &Path) -> io::Result<()> {
            self.log
                .borrow_mut()
                .push(format!("mkdir {}", path.display()));
            self.host.create_dir_all(path)
        }

        fn run(&self, program: &str, args: &[&str]) -> Result<(), String> {
            self.log
                .borrow_mut()
                .push(format!("run {program} {}", args.join(" ")));
            match (program, args) {
                ("modprobe", ["vfio-pci"]) if self.modprobe_works => {
                    self.driver("vfio-pci");
                    self.file(
                        "/sys/module/vfio/parameters/enable_unsafe_noiommu_mode",
                        "N\n",
                    );
                    Ok(())
                }
                ("modprobe", _) => {
                    Err("exit status: 1: modprobe: FATAL: Module vfio-pci not found".into())
                }
                ("mount", ["-t", "hugetlbfs", "-o", opt, "nodev", dir]) => {
                    let mut m = self.read("/proc/mounts");
                    m.push_str(&format!("nodev {dir} hugetlbfs rw,relatime,{opt} 0 0\n"));
                    self.file("/proc/mounts", &m);
                    Ok(())
                }
                _ => Err(format!("unexpected command {program} {args:?}")),
            }
        }
    }

    fn spec(devices: &[&str], hugepages: Option<HugepageSpec>, cpus: &[u32]) -> PrepareSpec {
        PrepareSpec {
            devices: devices.iter().map(|s| (*s).to_owned()).collect(),
            hugepages,
            cpus: cpus.to_vec(),
            env_file: Some(PathBuf::from(DEFAULT_ENV_FILE)),
            allow_noiommu: false,
            force: false,
        }
    }

    fn total(bytes: u64) -> Option<HugepageSpec> {
        Some(HugepageSpec {
            page_size: PageSize::Auto,
            amount: HugepageAmount::Total(bytes),
            mount_point: None,
            needs_mount: true,
        })
    }

    fn outcomes(r: &Report) -> Vec<(String, Outcome)> {
        r.actions
            .iter()
            .map(|a| (a.subject.clone(), a.outcome))
            .collect()
    }

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn eal_args_give_the_hugepage_need() {
        assert_eq!(
            hugepages_from_eal_args(&args("--no-huge -m 512 --no-pci")).unwrap(),
            None
        );
        let h = hugepages_from_eal_args(&args("--file-prefix upf -m 2048"))
            .unwrap()
            .unwrap();
        assert_eq!(h.amount, HugepageAmount::Total(2048 * MIB));
        assert!(h.needs_mount);
        assert_eq!(h.mount_point, None);
        let h = hugepages_from_eal_args(&args(
            "--socket-mem=1024,0,512 --huge-dir /mnt/huge --in-memory",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(h.amount, HugepageAmount::PerNode(vec![GIB, 0, 512 * MIB]));
        assert_eq!(h.mount_point, Some(PathBuf::from("/mnt/huge")));
        assert!(!h.needs_mount);
        let h = hugepages_from_eal_args(&args("--file-prefix upf"))
            .unwrap()
            .unwrap();
        assert_eq!(h.amount, HugepageAmount::Total(DEFAULT_HUGEPAGE_BYTES));
        for bad in ["-m", "-m lots", "--socket-mem 1G,1G", "--huge-dir"] {
            let e = hugepages_from_eal_args(&args(bad)).unwrap_err();
            assert!(matches!(e, PrepareError::EalArgs(_)), "{bad}: {e}");
        }
    }

    #[test]
    fn pci_addresses_and_vdevs() {
        assert_eq!(pci_address("0000:3B:00.1").as_deref(), Some("0000:3b:00.1"));
        assert_eq!(pci_address("3b:00.0").as_deref(), Some("0000:3b:00.0"));
        assert_eq!(
            pci_address("0000:3b:00.0,rxq_cqe_comp_en=0").as_deref(),
            Some("0000:3b:00.0")
        );
        for v in [
            "net_af_packet0,iface=upf-n3",
            "net_null0",
            "3b:00.8",
            "3b:0.0",
            "zz:00.0",
            "",
        ] {
            assert_eq!(pci_address(v), None, "{v}");
        }
    }

    #[test]
    fn cpu_lists_round_trip() {
        let set: BTreeSet<u32> = [0, 1, 2, 3, 6, 8, 9].into_iter().collect();
        assert_eq!(format_cpu_list(&set), "0-3,6,8-9");
        assert_eq!(parse_cpu_list("0-3,6,8-9").unwrap(), set);
        assert!(parse_cpu_list("3-1").is_none());
    }

    #[test]
    fn first_run_reserves_mounts_binds_and_writes_cpus_then_second_run_is_all_already() {
        let k = FakeKernel::new("full");
        k.nic("0000:3b:00.0", Some("ixgbe"), Some(("eth2", false)), true);
        k.nic("0000:3b:00.1", Some("ixgbe"), Some(("eth3", false)), true);
        let s = spec(
            &["0000:3b:00.0", "3b:00.1,rx_low_latency=1", "net_null0"],
            total(3 * GIB),
            &[2, 3, 4],
        );

        let r = prepare(&s, &k, Mode::Apply);
        assert!(r.is_ok(), "{r}");
        // 1 GiB pool empty: Auto falls back to the default 2 MiB pages.
        assert_eq!(
            k.read("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages")
                .trim(),
            "1536"
        );
        assert_eq!(k.driver_of("0000:3b:00.0").as_deref(), Some("vfio-pci"));
        assert_eq!(k.driver_of("0000:3b:00.1").as_deref(), Some("vfio-pci"));
        assert_eq!(
            k.read("/sys/bus/pci/devices/0000:3b:00.0/driver_override")
                .trim(),
            "vfio-pci"
        );
        assert!(k.read(DEFAULT_ENV_FILE).contains("\nUPF_CPUS=2-4\n"));
        assert_eq!(
            outcomes(&r),
            vec![
                ("hugepages".into(), Outcome::Done),
                ("hugetlbfs".into(), Outcome::Already),
                ("net_null0".into(), Outcome::Skipped),
                ("vfio".into(), Outcome::Done),
                ("0000:3b:00.0".into(), Outcome::Done),
                ("0000:3b:00.1".into(), Outcome::Done),
                ("cpus".into(), Outcome::Done),
            ]
        );
        let text = r.to_string();
        assert!(
            text.contains("0000:3b:00.0: done: bound to vfio-pci (was ixgbe, interface eth2)"),
            "{text}"
        );
        assert!(
            text.contains("hugepages: done: reserved 1536 x 2 MiB (was 0)"),
            "{text}"
        );
        assert_eq!(text.lines().count(), 7);

        let writes_before = k.log().len();
        let again = prepare(&s, &k, Mode::Apply);
        assert!(again.is_ok(), "{again}");
        assert!(
            again
                .actions
                .iter()
                .all(|a| matches!(a.outcome, Outcome::Already | Outcome::Skipped)),
            "{again}"
        );
        assert_eq!(
            k.log().len(),
            writes_before,
            "the second run changed something: {:?}",
            k.log()
        );
    }

    #[test]
    fn dry_run_reports_and_writes_nothing() {
        let k = FakeKernel::new("dry");
        k.nic("0000:3b:00.0", Some("ixgbe"), None, true);
        let s = spec(&["0000:3b:00.0"], total(GIB), &[1]);
        let r = prepare(&s, &k, Mode::DryRun);
        assert!(r.is_ok(), "{r}");
        assert!(
            k.log().is_empty(),
            "dry run touched the host: {:?}",
            k.log()
        );
        assert_eq!(k.driver_of("0000:3b:00.0").as_deref(), Some("ixgbe"));
        let text = r.to_string();
        assert!(
            text.contains("hugepages: would: reserve 512 x 2 MiB (now 0)"),
            "{text}"
        );
        assert!(
            text.contains("vfio: would: load the vfio-pci module"),
            "{text}"
        );
        assert!(
            text.contains("0000:3b:00.0: would: bind to vfio-pci (was ixgbe)"),
            "{text}"
        );
        assert!(
            text.contains("cpus: would: write UPF_CPUS=1 to /run/upf/prepare.env"),
            "{text}"
        );
    }

    #[test]
    fn one_gib_pages_reserved_at_boot_are_used_and_mounted() {
        let k = FakeKernel::new("1g");
        k.file(
            "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages",
            "4\n",
        );
        let r = prepare(&spec(&[], total(4 * GIB), &[0]), &k, Mode::Apply);
        assert!(r.is_ok(), "{r}");
        assert!(
            r.to_string()
                .contains("hugepages: already: 4 x 1 GiB reserved (need 4 for 4 GiB)"),
            "{r}"
        );
        assert!(
            k.log().contains(
                &"run mount -t hugetlbfs -o pagesize=1G nodev /dev/hugepages-1G".to_owned()
            )
        );
        assert!(
            r.to_string()
                .contains("hugetlbfs: done: mounted 1 GiB pages at /dev/hugepages-1G"),
            "{r}"
        );
        // 2 MiB pool untouched.
        assert_eq!(
            k.read("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages")
                .trim(),
            "0"
        );
        let again = prepare(&spec(&[], total(4 * GIB), &[0]), &k, Mode::Apply);
        assert!(
            again
                .to_string()
                .contains("hugetlbfs: already: 1 GiB pages mounted at /dev/hugepages-1G"),
            "{again}"
        );
    }

    #[test]
    fn never_lowers_a_bigger_reservation() {
        let k = FakeKernel::new("keep");
        k.file(
            "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages",
            "4096\n",
        );
        let r = prepare(&spec(&[], total(GIB), &[0]), &k, Mode::Apply);
        assert!(r.is_ok(), "{r}");
        assert_eq!(
            k.read("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages")
                .trim(),
            "4096"
        );
        assert!(!k.log().iter().any(|l| l.contains("nr_hugepages")));
    }

    #[test]
    fn a_short_reservation_is_an_error_naming_the_counts() {
        let k = FakeKernel::new("short");
        *k.capacity.borrow_mut() = vec![(2 * MIB, 100), (GIB, 0)];
        let r = prepare(&spec(&[], total(GIB), &[0]), &k, Mode::Apply);
        assert_eq!(r.errors.len(), 1, "{r}");
        let e = r.errors[0].to_string();
        assert!(
            e.contains("asked for 512 hugepages of 2 MiB, the kernel reserved 100"),
            "{e}"
        );
    }

    #[test]
    fn per_node_reservation_and_missing_node() {
        let k = FakeKernel::new("numa");
        let h = Some(HugepageSpec {
            page_size: PageSize::Bytes(2 * MIB),
            amount: HugepageAmount::PerNode(vec![GIB, 0, 2 * GIB]),
            mount_point: None,
            needs_mount: true,
        });
        let r = prepare(&spec(&[], h, &[0]), &k, Mode::Apply);
        assert_eq!(
            k.read("/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages")
                .trim(),
            "512"
        );
        assert_eq!(
            k.read("/sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages")
                .trim(),
            "0"
        );
        assert_eq!(r.errors.len(), 1, "{r}");
        assert!(matches!(
            r.errors[0],
            PrepareError::NoSuchNode { node: 2, nodes: 3 }
        ));
    }

    #[test]
    fn unsupported_page_size_is_refused() {
        let k = FakeKernel::new("size");
        let h = Some(HugepageSpec {
            page_size: PageSize::Bytes(16 * GIB),
            amount: HugepageAmount::Total(16 * GIB),
            mount_point: None,
            needs_mount: true,
        });
        let r = prepare(&spec(&[], h, &[0]), &k, Mode::Apply);
        assert!(
            r.errors[0].to_string().contains(
                "hugepages of 16 GiB are not supported by this kernel (supported: 2 MiB, 1 GiB)"
            ),
            "{r}"
        );
    }

    #[test]
    fn huge_dir_is_mounted_where_dpdk_looks() {
        let k = FakeKernel::new("hugedir");
        let h = hugepages_from_eal_args(&args("-m 1024 --huge-dir /mnt/upf-huge")).unwrap();
        let r = prepare(&spec(&[], h, &[0]), &k, Mode::Apply);
        assert!(r.is_ok(), "{r}");
        assert!(
            k.log()
                .contains(&"run mount -t hugetlbfs -o pagesize=2M nodev /mnt/upf-huge".to_owned())
        );
        assert!(k.path("/mnt/upf-huge").is_dir());
    }

    #[test]
    fn no_huge_needs_nothing() {
        let k = FakeKernel::new("nohuge");
        let h = hugepages_from_eal_args(&args("--no-huge -m 512")).unwrap();
        let r = prepare(
            &spec(&["net_af_packet0,iface=upf-n3"], h, &[0, 1]),
            &k,
            Mode::Apply,
        );
        assert!(r.is_ok(), "{r}");
        let text = r.to_string();
        assert!(
            text.contains("hugepages: skip: none needed (dpdk.args has --no-huge)"),
            "{text}"
        );
        assert!(
            text.contains("net_af_packet0: skip: DPDK virtual device, nothing to bind"),
            "{text}"
        );
        assert!(
            k.log().iter().all(|l| l.starts_with("replace ")),
            "{:?}",
            k.log()
        );
    }

    #[test]
    fn an_interface_that_is_up_is_not_taken_unless_forced() {
        let k = FakeKernel::new("up");
        k.nic("0000:3b:00.0", Some("ixgbe"), Some(("eno1", true)), true);
        let mut s = spec(&["0000:3b:00.0"], None, &[0]);
        let r = prepare(&s, &k, Mode::Apply);
        assert_eq!(r.errors.len(), 1);
        assert!(
            r.errors[0]
                .to_string()
                .contains("kernel interface eno1 is up"),
            "{r}"
        );
        assert_eq!(k.driver_of("0000:3b:00.0").as_deref(), Some("ixgbe"));
        // The other steps still ran.
        assert!(
            r.actions
                .iter()
                .any(|a| a.subject == "cpus" && a.outcome == Outcome::Done)
        );
        s.force = true;
        let r = prepare(&s, &k, Mode::Apply);
        assert!(r.is_ok(), "{r}");
        assert_eq!(k.driver_of("0000:3b:00.0").as_deref(), Some("vfio-pci"));
    }

    #[test]
    fn missing_device_and_missing_iommu_are_explained() {
        let k = FakeKernel::new("iommu");
        k.nic("0000:00:04.0", Some("virtio-pci"), None, false);
        let mut s = spec(&["0000:00:04.0", "0000:99:00.0"], None, &[0]);
        let r = prepare(&s, &k, Mode::Apply);
        assert_eq!(r.errors.len(), 2, "{r}");
        assert!(matches!(&r.errors[0], PrepareError::NoIommu { addr } if addr == "0000:00:04.0"));
        assert!(
            matches!(&r.errors[1], PrepareError::NoSuchPciDevice { addr } if addr == "0000:99:00.0")
        );
        assert!(r.errors[0].to_string().contains("intel_iommu=on"));

        s.devices.pop();
        s.allow_noiommu = true;
        let r = prepare(&s, &k, Mode::Apply);
        assert!(r.is_ok(), "{r}");
        assert_eq!(
            k.read("/sys/module/vfio/parameters/enable_unsafe_noiommu_mode"),
            "1"
        );
        assert_eq!(k.driver_of("0000:00:04.0").as_deref(), Some("vfio-pci"));
    }

    #[test]
    fn mellanox_nics_stay_on_their_kernel_driver() {
        let k = FakeKernel::new("mlx");
        k.driver("mlx5_core");
        k.nic(
            "0000:5e:00.0",
            Some("mlx5_core"),
            Some(("ens1f0", true)),
            true,
        );
        k.file("/sys/bus/pci/devices/0000:5e:00.0/vendor", "0x15b3\n");
        let r = prepare(&spec(&["0000:5e:00.0"], None, &[0]), &k, Mode::Apply);
        assert!(r.is_ok(), "{r}");
        assert!(
            r.to_string()
                .contains("0000:5e:00.0: skip: kept on mlx5_core"),
            "{r}"
        );
        assert_eq!(k.driver_of("0000:5e:00.0").as_deref(), Some("mlx5_core"));
        assert!(!k.log().iter().any(|l| l.contains("modprobe")));
    }

    #[test]
    fn unbound_device_is_probed_and_failed_modprobe_is_reported() {
        let mut k = FakeKernel::new("modprobe");
        k.nic("0000:3b:00.0", None, None, true);
        k.modprobe_works = false;
        let s = spec(&["0000:3b:00.0"], None, &[0]);
        let r = prepare(&s, &k, Mode::Apply);
        assert_eq!(r.errors.len(), 1, "{r}");
        assert!(
            r.errors[0]
                .to_string()
                .contains("`modprobe vfio-pci` failed"),
            "{r}"
        );
        k.modprobe_works = true;
        let r = prepare(&s, &k, Mode::Apply);
        assert!(r.is_ok(), "{r}");
        assert!(
            r.to_string()
                .contains("0000:3b:00.0: done: bound to vfio-pci (was unbound)"),
            "{r}"
        );
    }

    #[test]
    fn offline_cpu_is_refused_and_empty_list_means_all_online() {
        let k = FakeKernel::new("cpus");
        let r = prepare(&spec(&[], None, &[0, 9]), &k, Mode::Apply);
        assert!(
            matches!(r.errors[0], PrepareError::CpuOffline { cpu: 9, .. }),
            "{r}"
        );
        let r = prepare(&spec(&[], None, &[]), &k, Mode::Apply);
        assert!(r.is_ok(), "{r}");
        assert!(k.read(DEFAULT_ENV_FILE).contains("UPF_CPUS=0-7\n"));
    }

    #[test]
    fn a_mapped_root_refuses_to_run_commands() {
        let d = TempDir::new("norun");
        let e = HostSystem::new(&d.0).run("true", &[]).unwrap_err();
        assert!(e.contains("not run"), "{e}");
    }

    #[test]
    fn mount_table_parsing() {
        assert_eq!(parse_size("2M"), Some(2 * MIB));
        assert_eq!(parse_size("1024M"), Some(GIB));
        assert_eq!(parse_size("1G"), Some(GIB));
        assert_eq!(parse_size("x"), None);
        assert_eq!(
            unescape_mount_path("/mnt/huge\\040pages"),
            "/mnt/huge pages"
        );
        assert_eq!(short_size(GIB), "1G");
        assert_eq!(short_size(2 * MIB), "2M");
    }
}
