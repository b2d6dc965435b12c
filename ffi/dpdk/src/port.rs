//! Ethernet ports and their queues: the ends of the packet path (NIC or
//! virtual device in, NIC or virtual device out).
//!
//! A [`Port`] is opened from a device string (a vdev such as
//! `net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap`, or a PCI address),
//! configured with one rx and one tx queue per worker, and started; starting
//! hands out the [`RxQueue`]/[`TxQueue`] handles, which move to the worker
//! threads (worker *i* owns queue *i* of every port, so no queue is shared
//! and no lock exists). Stopping or reconfiguring requires every handle to
//! be dropped first, so a worker can never poll a queue that is being torn
//! down. The port is stopped and closed (and a hot-plugged device removed)
//! when the `Port` and all its queue handles are gone.

use std::collections::HashSet;
use std::ffi::{CStr, CString};
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::sync::{Arc, Mutex};

use dpdk_sys as sys;

use crate::error::{Error, Result, from_ret};
use crate::mbuf::{Burst, Mbuf};
use crate::{Eal, Mempool};

/// Most frames one [`RxQueue::rx_burst_into`] or [`TxQueue::tx_burst_from`]
/// call hands to DPDK (the config's `dataplane.burst` maximum).
pub const MAX_BURST: usize = 512;

/// Port ids owned by a live `Port` in this process (a port is opened once).
static OPEN_PORTS: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// Which headers RSS hashes to spread packets over rx queues.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Rss {
    /// No RSS: every packet lands on queue 0.
    None,
    /// Source and destination IP (IPv4 and IPv6): all packets between two
    /// hosts on one queue (N3: one gNB's tunnel on one worker).
    Ip,
    /// IP addresses plus UDP ports.
    #[default]
    IpUdp,
}

impl Rss {
    /// The `RTE_ETH_RSS_*` hash types this asks for.
    #[must_use]
    pub fn hash_types(self) -> u64 {
        match self {
            Rss::None => 0,
            // SAFETY: reading constants the C shim exports.
            Rss::Ip => unsafe { sys::shim_ETH_RSS_IP },
            // SAFETY: as above.
            Rss::IpUdp => unsafe { sys::shim_ETH_RSS_IP | sys::shim_ETH_RSS_UDP },
        }
    }
}

/// How to configure a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortConfig {
    /// Rx queues and tx queues (one pair per worker).
    pub queues: u16,
    /// Rx descriptors per queue (adjusted to the device's limits).
    pub rx_desc: u16,
    /// Tx descriptors per queue (adjusted to the device's limits).
    pub tx_desc: u16,
    /// RSS, applied only as far as the device supports it (see
    /// [`Port::rss_hf`] for what was applied).
    pub rss: Rss,
    /// MTU in bytes (L3); `None` keeps the device default (1500).
    pub mtu: Option<u16>,
    /// `RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE` where supported: faster tx
    /// completion, but only valid if every mbuf sent on a queue comes from
    /// one mempool and is not shared (refcnt 1).
    pub fast_free: bool,
}

impl PortConfig {
    /// `queues` queue pairs, 1024 descriptors each way, RSS on IP + UDP,
    /// default MTU, no fast free.
    #[must_use]
    pub fn new(queues: u16) -> Self {
        Self {
            queues,
            rx_desc: 1024,
            tx_desc: 1024,
            rss: Rss::IpUdp,
            mtu: None,
            fast_free: false,
        }
    }
}

/// What the device says about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevInfo {
    /// The PMD's name (`net_null`, `net_ixgbe`, ...).
    pub driver_name: String,
    /// Kernel interface index bound to the port, if any.
    pub if_index: u32,
    /// Maximum rx queues.
    pub max_rx_queues: u16,
    /// Maximum tx queues.
    pub max_tx_queues: u16,
    /// Smallest MTU the device accepts.
    pub min_mtu: u16,
    /// Largest MTU the device accepts.
    pub max_mtu: u16,
    /// `RTE_ETH_RSS_*` hash types the device supports (0: no RSS).
    pub rss_offloads: u64,
    /// `RTE_ETH_RX_OFFLOAD_*` capabilities.
    pub rx_offload_capa: u64,
    /// `RTE_ETH_TX_OFFLOAD_*` capabilities.
    pub tx_offload_capa: u64,
    /// NUMA socket the device is attached to (`None`: unknown / virtual).
    pub socket_id: Option<u32>,
}

/// Port counters (`rte_eth_stats`). Bytes exclude the CRC.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames received.
    pub ipackets: u64,
    /// Frames sent.
    pub opackets: u64,
    /// Bytes received.
    pub ibytes: u64,
    /// Bytes sent.
    pub obytes: u64,
    /// Frames the NIC dropped because rx queues were full.
    pub imissed: u64,
    /// Erroneous received frames.
    pub ierrors: u64,
    /// Failed transmissions.
    pub oerrors: u64,
    /// Rx mbuf allocation failures (mempool empty).
    pub rx_nombuf: u64,
}

/// Link state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Link {
    /// Link up.
    pub up: bool,
    /// Speed in Mbit/s (0 if unknown).
    pub speed_mbps: u32,
    /// Full duplex.
    pub full_duplex: bool,
    /// Autonegotiated.
    pub autoneg: bool,
}

struct PortShared {
    id: u16,
    name: String,
    device: String,
    /// Bus to hot-unplug from on close, when we hot-plugged the device.
    hotplugged: Option<&'static str>,
    configured_queues: u16,
    started: bool,
    rss_hf: u64,
    /// The rx queues' mempool: must outlive the queues' descriptors.
    pool: Option<Mempool>,
    _eal: Eal,
}

impl Drop for PortShared {
    fn drop(&mut self) {
        // SAFETY: the last handle to the port is gone: no queue is polled,
        // and no other `Port` owns this id (OPEN_PORTS).
        unsafe {
            if self.started {
                let ret = sys::rte_eth_dev_stop(self.id);
                if ret != 0 {
                    log::warn!("port {} ({}): stop failed: {ret}", self.id, self.name);
                }
            }
            let ret = sys::rte_eth_dev_close(self.id);
            if ret != 0 {
                log::warn!("port {} ({}): close failed: {ret}", self.id, self.name);
            }
        }
        if let Some(bus) = self.hotplugged
            && let (Ok(b), Ok(n)) = (CString::new(bus), CString::new(self.name.as_str()))
        {
            // SAFETY: valid C strings; the port using the device is closed.
            let ret = unsafe { sys::rte_eal_hotplug_remove(b.as_ptr(), n.as_ptr()) };
            if ret != 0 {
                log::warn!("device {:?}: hot-unplug failed: {ret}", self.device);
            }
        }
        let mut g = OPEN_PORTS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(set) = g.as_mut() {
            set.remove(&self.id);
        }
    }
}

/// An Ethernet port (physical NIC or virtual device).
///
/// `Send` but not `Sync`: DPDK's control functions are not thread-safe, so
/// one thread (the control thread) drives the port; the queue handles go
/// to the workers.
pub struct Port {
    shared: Arc<PortShared>,
    _not_sync: PhantomData<std::cell::Cell<()>>,
}

impl std::fmt::Debug for Port {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Port")
            .field("id", &self.shared.id)
            .field("name", &self.shared.name)
            .field("device", &self.shared.device)
            .field("started", &self.shared.started)
            .finish_non_exhaustive()
    }
}

/// The ethdev name and the bus of a device string: the part before the
/// first comma; PCI addresses in their canonical `dddd:bb:dd.f` form.
fn device_name(device: &str) -> (String, &'static str) {
    let head = device.split(',').next().unwrap_or(device).trim();
    match parse_pci(head) {
        Some((d, b, s, f)) => (format!("{d:04x}:{b:02x}:{s:02x}.{f:x}"), "pci"),
        None => (head.to_owned(), "vdev"),
    }
}

/// The canonical PCI address (`dddd:bb:dd.f`) of a device string, or `None`
/// for a vdev. The UPF adds `-a <address>` to the EAL arguments for each
/// PCI device it will open, so that EAL probes those and no other NIC.
#[must_use]
pub fn pci_address(device: &str) -> Option<String> {
    match device_name(device) {
        (name, "pci") => Some(name),
        _ => None,
    }
}

/// `[dddd:]bb:dd.f` in hex.
fn parse_pci(s: &str) -> Option<(u32, u8, u8, u8)> {
    let (rest, func) = s.rsplit_once('.')?;
    let parts: Vec<&str> = rest.split(':').collect();
    let (dom, bus, dev) = match parts.as_slice() {
        [d, b, s] => (*d, *b, *s),
        [b, s] => ("0", *b, *s),
        _ => return None,
    };
    let hex_ok = |x: &str, max: usize| {
        !x.is_empty() && x.len() <= max && x.bytes().all(|c| c.is_ascii_hexdigit())
    };
    if !(hex_ok(dom, 8) && hex_ok(bus, 2) && hex_ok(dev, 2) && hex_ok(func, 1)) {
        return None;
    }
    let f = u8::from_str_radix(func, 16).ok()?;
    let d = u8::from_str_radix(dev, 16).ok()?;
    if f > 7 || d > 31 {
        return None;
    }
    Some((
        u32::from_str_radix(dom, 16).ok()?,
        u8::from_str_radix(bus, 16).ok()?,
        d,
        f,
    ))
}

/// Why `rte_dev_probe` failed, in words a user can act on. DPDK's errno
/// values here are generic (-1 from a driver reads as EPERM), so they are
/// only appended.
#[cold]
fn probe_failure(bus: &str, ret: i32, log: &str) -> String {
    let errno = ret.saturating_neg();
    let what = match (bus, errno) {
        (_, 14) => {
            "no DPDK bus or driver recognises this device name (a vdev starts with a known \
             driver name such as net_pcap0, net_af_packet0, net_null0, net_ring0, net_tap0, \
             net_memif0; a PCI device is written dddd:bb:dd.f)"
        }
        ("pci", 19) => {
            "no such PCI device usable by DPDK: is it bound to vfio-pci (mlx5: to its kernel \
             driver), and was EAL started without --no-pci?"
        }
        ("pci", _) => "the PCI driver refused the device or its arguments",
        (_, 17) => "a device by that name already exists",
        _ => "the driver refused the device or its arguments",
    };
    let e = crate::error::dpdk_error("rte_dev_probe", &"device", errno);
    let msg = match &e {
        Error::Dpdk { message, .. } => message.as_str(),
        _ => "",
    };
    let log: Vec<&str> = log
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if log.is_empty() {
        format!("{what} (rte_dev_probe: {msg}, errno {errno})")
    } else {
        format!(
            "{what}; DPDK said: {} (rte_dev_probe: {msg}, errno {errno})",
            log.join(" | ")
        )
    }
}

/// DPDK's log redirected into memory while a device is probed, so that the
/// driver's reason (a missing file, an unknown key) ends up in the error.
/// Echoed to stderr as well, so the log loses nothing.
struct LogCapture {
    active: bool,
}

impl LogCapture {
    fn begin() -> Self {
        // SAFETY: swaps DPDK's log stream for a memory stream; refuses (-1)
        // if a capture is already running.
        let ret = unsafe { sys::shim_log_capture_begin() };
        Self { active: ret == 0 }
    }

    fn end(self) -> String {
        if !self.active {
            return String::new();
        }
        let mut buf = vec![0u8; 2048];
        // SAFETY: buf is writable for its length; the shim writes at most
        // len - 1 bytes plus a NUL and restores the default log stream.
        unsafe { sys::shim_log_capture_end(buf.as_mut_ptr().cast(), buf.len()) };
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    }
}

fn port_by_name(name: &CStr) -> Option<u16> {
    let mut id = 0u16;
    // SAFETY: valid C string and out-pointer; EAL is initialised.
    let ret = unsafe { sys::rte_eth_dev_get_port_by_name(name.as_ptr(), &raw mut id) };
    (ret == 0).then_some(id)
}

impl Port {
    /// Opens the port for `device`: a vdev string (`net_null0`,
    /// `net_af_packet0,iface=veth0`, `net_pcap0,rx_pcap=a.pcap,tx_pcap=b.pcap`)
    /// or a PCI address (`0000:01:00.0`, optionally with `,key=value`
    /// devargs). A device EAL already probed (PCI devices on the `-a`
    /// allowlist, `--vdev` arguments) is taken as is; any other is
    /// hot-plugged now and hot-unplugged when the port is dropped.
    ///
    /// # Errors
    /// [`Error::DeviceOpen`] naming the device when DPDK cannot open it
    /// (unknown driver, bad devargs, missing file or interface, PCI device
    /// not bound to a DPDK-compatible driver); [`Error::InvalidArgument`] if
    /// the port is already open in this process.
    pub fn open(eal: &Eal, device: &str) -> Result<Port> {
        let open_err = |reason: String| Error::DeviceOpen {
            device: device.to_owned(),
            reason,
        };
        let cdevice = CString::new(device).map_err(|_| open_err("contains a NUL byte".into()))?;
        let (name, bus) = device_name(device);
        if name.is_empty() {
            return Err(open_err("empty device name".into()));
        }
        let cname =
            CString::new(name.as_str()).map_err(|_| open_err("contains a NUL byte".into()))?;
        if let Some(id) = port_by_name(&cname) {
            return Self::adopt(eal, id, name, device, None);
        }
        // Probing is a control operation; two threads opening ports at once
        // is fine for DPDK (its hot-plug path takes a lock), the log capture
        // then simply does not run for the second.
        let capture = LogCapture::begin();
        // SAFETY: valid C string; EAL is initialised.
        let ret = unsafe { sys::rte_dev_probe(cdevice.as_ptr()) };
        let log = capture.end();
        if ret < 0 {
            return Err(open_err(probe_failure(bus, ret, &log)));
        }
        let Some(id) = port_by_name(&cname) else {
            // Probed, but it is not an ethdev by that name: undo the probe.
            let b = CString::new(bus).map_err(|_| open_err("bus name".into()))?;
            // SAFETY: valid C strings.
            unsafe { sys::rte_eal_hotplug_remove(b.as_ptr(), cname.as_ptr()) };
            return Err(open_err(format!(
                "probed, but no Ethernet port named {name:?} appeared"
            )));
        };
        Self::adopt(eal, id, name, device, Some(bus))
    }

    /// The port EAL already created under `name` (`--vdev` or `-a`).
    ///
    /// # Errors
    /// [`Error::DeviceOpen`] if no such port exists.
    pub fn by_name(eal: &Eal, name: &str) -> Result<Port> {
        let cname = CString::new(name).map_err(|_| Error::DeviceOpen {
            device: name.to_owned(),
            reason: "contains a NUL byte".into(),
        })?;
        let id = port_by_name(&cname).ok_or_else(|| Error::DeviceOpen {
            device: name.to_owned(),
            reason: "no Ethernet port by that name (was it given to EAL with --vdev or -a?)".into(),
        })?;
        Self::adopt(eal, id, name.to_owned(), name, None)
    }

    fn adopt(
        eal: &Eal,
        id: u16,
        name: String,
        device: &str,
        hotplugged: Option<&'static str>,
    ) -> Result<Port> {
        {
            let mut g = OPEN_PORTS
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if !g.get_or_insert_with(HashSet::new).insert(id) {
                return Err(Error::InvalidArgument {
                    what: "device",
                    value: device.to_owned(),
                    reason: "its port is already open in this process",
                });
            }
        }
        Ok(Port {
            shared: Arc::new(PortShared {
                id,
                name,
                device: device.to_owned(),
                hotplugged,
                configured_queues: 0,
                started: false,
                rss_hf: 0,
                pool: None,
                _eal: eal.clone(),
            }),
            _not_sync: PhantomData,
        })
    }

    /// DPDK's port id.
    #[must_use]
    pub fn id(&self) -> u16 {
        self.shared.id
    }

    /// The ethdev name (`net_pcap0`, `0000:01:00.0`).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The device string the port was opened with.
    #[must_use]
    pub fn device(&self) -> &str {
        &self.shared.device
    }

    /// `true` between a successful [`start`](Self::start) and
    /// [`stop`](Self::stop).
    #[must_use]
    pub fn is_started(&self) -> bool {
        self.shared.started
    }

    /// The `RTE_ETH_RSS_*` hash types in effect (0: no RSS).
    #[must_use]
    pub fn rss_hf(&self) -> u64 {
        self.shared.rss_hf
    }

    /// Queue pairs configured.
    #[must_use]
    pub fn queues(&self) -> u16 {
        self.shared.configured_queues
    }

    /// Live queue handles.
    fn handles(&self) -> usize {
        Arc::strong_count(&self.shared) - 1
    }

    fn exclusive(&mut self, op: &'static str) -> Result<&mut PortShared> {
        let handles = self.handles();
        let port = self.shared.id;
        Arc::get_mut(&mut self.shared).ok_or(Error::QueuesInUse { port, op, handles })
    }

    /// Device information.
    ///
    /// # Errors
    /// [`Error::Dpdk`] if the driver refuses.
    pub fn info(&self) -> Result<DevInfo> {
        let mut info = sys::rte_eth_dev_info::default();
        // SAFETY: valid port id (we own it) and out-pointer.
        let ret = unsafe { sys::rte_eth_dev_info_get(self.id(), &raw mut info) };
        if ret != 0 {
            return Err(from_ret("rte_eth_dev_info_get", self, ret));
        }
        let driver_name = if info.driver_name.is_null() {
            String::new()
        } else {
            // SAFETY: the driver name is a static C string of the PMD.
            unsafe { CStr::from_ptr(info.driver_name) }
                .to_string_lossy()
                .into_owned()
        };
        // SAFETY: valid port id.
        let socket = unsafe { sys::rte_eth_dev_socket_id(self.id()) };
        Ok(DevInfo {
            driver_name,
            if_index: info.if_index,
            max_rx_queues: info.max_rx_queues,
            max_tx_queues: info.max_tx_queues,
            min_mtu: info.min_mtu,
            max_mtu: info.max_mtu,
            rss_offloads: info.flow_type_rss_offloads,
            rx_offload_capa: info.rx_offload_capa,
            tx_offload_capa: info.tx_offload_capa,
            socket_id: u32::try_from(socket).ok(),
        })
    }

    /// Configures `cfg.queues` rx and tx queues, rx buffers from `pool`.
    /// Reconfiguring is allowed while stopped.
    ///
    /// # Errors
    /// [`Error::QueuesInUse`] / [`Error::PortState`] if the port is running,
    /// [`Error::InvalidArgument`] for a queue count the device cannot do,
    /// [`Error::Dpdk`] when the driver refuses the configuration.
    pub fn configure(&mut self, cfg: &PortConfig, pool: &Mempool) -> Result<()> {
        let info = self.info()?;
        let id = self.id();
        let max = info.max_rx_queues.min(info.max_tx_queues);
        if cfg.queues == 0 || cfg.queues > max {
            return Err(Error::InvalidArgument {
                what: "queue count",
                value: format!(
                    "{} (port {id} {}: at most {max})",
                    cfg.queues, info.driver_name
                ),
                reason: "must be between 1 and the device's maximum",
            });
        }
        let shared = self.exclusive("configure")?;
        if shared.started {
            return Err(Error::PortState {
                port: id,
                op: "configure",
                reason: "port is started; stop it first",
            });
        }
        // Until every queue is set up the port must not start, and the new
        // pool must already be held: queues set up before a failure use it.
        shared.configured_queues = 0;
        shared.pool = Some(pool.clone());
        let want = cfg.rss.hash_types();
        let rss_hf = want & info.rss_offloads;
        if want != 0 && rss_hf == 0 && cfg.queues > 1 {
            log::warn!(
                "port {id} ({}): no RSS support; all traffic arrives on queue 0",
                info.driver_name
            );
        }
        let mut conf = sys::rte_eth_conf::default();
        if rss_hf != 0 {
            conf.rxmode.mq_mode = sys::rte_eth_rx_mq_mode_RTE_ETH_MQ_RX_RSS;
            conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
        }
        conf.rxmode.mtu = cfg.mtu.map_or(0, u32::from);
        // SAFETY: reading a constant the C shim exports.
        let fast_free = unsafe { sys::shim_ETH_TX_OFFLOAD_MBUF_FAST_FREE };
        if cfg.fast_free && info.tx_offload_capa & fast_free != 0 {
            conf.txmode.offloads |= fast_free;
        }
        // SAFETY: valid port id, stopped, no queue handle alive; conf is a
        // fully initialised rte_eth_conf.
        let ret =
            unsafe { sys::rte_eth_dev_configure(id, cfg.queues, cfg.queues, &raw const conf) };
        if ret != 0 {
            return Err(from_ret("rte_eth_dev_configure", &PortLabel(id), ret));
        }
        let (mut rx_desc, mut tx_desc) = (cfg.rx_desc, cfg.tx_desc);
        // SAFETY: valid port id and out-pointers.
        let ret = unsafe {
            sys::rte_eth_dev_adjust_nb_rx_tx_desc(id, &raw mut rx_desc, &raw mut tx_desc)
        };
        if ret != 0 {
            return Err(from_ret(
                "rte_eth_dev_adjust_nb_rx_tx_desc",
                &PortLabel(id),
                ret,
            ));
        }
        // SAFETY: valid port id. -1 (unknown) becomes SOCKET_ID_ANY below.
        let socket = unsafe { sys::rte_eth_dev_socket_id(id) };
        #[allow(clippy::cast_sign_loss)] // -1 -> SOCKET_ID_ANY as DPDK expects
        let socket = socket as u32;
        for q in 0..cfg.queues {
            // SAFETY: configured port, q < queues, NULL conf = driver
            // defaults; the pool outlives the queue (stored below).
            let ret = unsafe {
                sys::rte_eth_rx_queue_setup(id, q, rx_desc, socket, std::ptr::null(), pool.as_ptr())
            };
            if ret != 0 {
                return Err(from_ret("rte_eth_rx_queue_setup", &PortLabel(id), ret));
            }
            // SAFETY: as above.
            let ret =
                unsafe { sys::rte_eth_tx_queue_setup(id, q, tx_desc, socket, std::ptr::null()) };
            if ret != 0 {
                return Err(from_ret("rte_eth_tx_queue_setup", &PortLabel(id), ret));
            }
        }
        shared.configured_queues = cfg.queues;
        shared.rss_hf = rss_hf;
        Ok(())
    }

    /// Starts the port and hands out its queue handles: element *i* of
    /// each vector is queue *i*, for worker *i*.
    ///
    /// # Errors
    /// [`Error::PortState`] if not configured or already started,
    /// [`Error::Dpdk`] if the driver fails to start.
    pub fn start(&mut self) -> Result<(Vec<RxQueue>, Vec<TxQueue>)> {
        let shared = self.exclusive("start")?;
        let id = shared.id;
        if shared.configured_queues == 0 {
            return Err(Error::PortState {
                port: id,
                op: "start",
                reason: "port is not configured",
            });
        }
        if shared.started {
            return Err(Error::PortState {
                port: id,
                op: "start",
                reason: "port is already started",
            });
        }
        // SAFETY: configured port, no queue handles alive.
        let ret = unsafe { sys::rte_eth_dev_start(id) };
        if ret != 0 {
            return Err(from_ret("rte_eth_dev_start", &PortLabel(id), ret));
        }
        shared.started = true;
        let n = shared.configured_queues;
        let rx = (0..n)
            .map(|q| RxQueue {
                port: id,
                queue: q,
                _shared: Arc::clone(&self.shared),
            })
            .collect();
        let tx = (0..n)
            .map(|q| TxQueue {
                port: id,
                queue: q,
                dropped: 0,
                _shared: Arc::clone(&self.shared),
            })
            .collect();
        Ok((rx, tx))
    }

    /// Stops the port (a no-op if stopped).
    ///
    /// # Errors
    /// [`Error::QueuesInUse`] while any queue handle is alive (the workers
    /// must have returned and dropped them), [`Error::Dpdk`] on failure.
    pub fn stop(&mut self) -> Result<()> {
        let shared = self.exclusive("stop")?;
        if !shared.started {
            return Ok(());
        }
        let id = shared.id;
        // SAFETY: no queue handle alive, so no worker polls the port.
        let ret = unsafe { sys::rte_eth_dev_stop(id) };
        if ret != 0 {
            return Err(from_ret("rte_eth_dev_stop", &PortLabel(id), ret));
        }
        shared.started = false;
        Ok(())
    }

    /// Turns promiscuous mode on or off.
    ///
    /// # Errors
    /// [`Error::Dpdk`] if the driver refuses (e.g. `ENOTSUP`).
    pub fn set_promiscuous(&self, on: bool) -> Result<()> {
        // SAFETY: valid port id; control call from the one thread owning
        // the !Sync Port.
        let ret = unsafe {
            if on {
                sys::rte_eth_promiscuous_enable(self.id())
            } else {
                sys::rte_eth_promiscuous_disable(self.id())
            }
        };
        if ret != 0 {
            return Err(from_ret("rte_eth_promiscuous_enable/disable", self, ret));
        }
        Ok(())
    }

    /// Whether promiscuous mode is on.
    #[must_use]
    pub fn is_promiscuous(&self) -> bool {
        // SAFETY: valid port id.
        unsafe { sys::rte_eth_promiscuous_get(self.id()) == 1 }
    }

    /// The port's MAC address.
    ///
    /// # Errors
    /// [`Error::Dpdk`] on failure.
    pub fn mac_address(&self) -> Result<[u8; 6]> {
        let mut mac = sys::rte_ether_addr::default();
        // SAFETY: valid port id and out-pointer.
        let ret = unsafe { sys::rte_eth_macaddr_get(self.id(), &raw mut mac) };
        if ret != 0 {
            return Err(from_ret("rte_eth_macaddr_get", self, ret));
        }
        Ok(mac.addr_bytes)
    }

    /// The MTU in effect.
    ///
    /// # Errors
    /// [`Error::Dpdk`] on failure.
    pub fn mtu(&self) -> Result<u16> {
        let mut mtu = 0u16;
        // SAFETY: valid port id and out-pointer.
        let ret = unsafe { sys::rte_eth_dev_get_mtu(self.id(), &raw mut mtu) };
        if ret != 0 {
            return Err(from_ret("rte_eth_dev_get_mtu", self, ret));
        }
        Ok(mtu)
    }

    /// Changes the MTU (some drivers only while stopped).
    ///
    /// # Errors
    /// [`Error::Dpdk`] if the driver refuses.
    pub fn set_mtu(&mut self, mtu: u16) -> Result<()> {
        // SAFETY: valid port id.
        let ret = unsafe { sys::rte_eth_dev_set_mtu(self.id(), mtu) };
        if ret != 0 {
            return Err(from_ret("rte_eth_dev_set_mtu", self, ret));
        }
        Ok(())
    }

    /// Link state, without waiting for autonegotiation.
    ///
    /// # Errors
    /// [`Error::Dpdk`] on failure.
    pub fn link(&self) -> Result<Link> {
        let mut link = sys::rte_eth_link::default();
        // SAFETY: valid port id and out-pointer.
        let ret = unsafe { sys::rte_eth_link_get_nowait(self.id(), &raw mut link) };
        if ret != 0 {
            return Err(from_ret("rte_eth_link_get_nowait", self, ret));
        }
        Ok(Link {
            up: link.link_status() != 0,
            speed_mbps: link.link_speed,
            full_duplex: link.link_duplex() != 0,
            autoneg: link.link_autoneg() != 0,
        })
    }

    /// Port counters. Safe to call while workers run (the control thread's
    /// metrics path).
    ///
    /// # Errors
    /// [`Error::Dpdk`] on failure.
    pub fn stats(&self) -> Result<Stats> {
        let mut s = sys::rte_eth_stats::default();
        // SAFETY: valid port id and out-pointer.
        let ret = unsafe { sys::rte_eth_stats_get(self.id(), &raw mut s) };
        if ret != 0 {
            return Err(from_ret("rte_eth_stats_get", self, ret));
        }
        Ok(Stats {
            ipackets: s.ipackets,
            opackets: s.opackets,
            ibytes: s.ibytes,
            obytes: s.obytes,
            imissed: s.imissed,
            ierrors: s.ierrors,
            oerrors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
        })
    }

    /// Zeroes the port counters.
    ///
    /// # Errors
    /// [`Error::Dpdk`] on failure.
    pub fn reset_stats(&self) -> Result<()> {
        // SAFETY: valid port id.
        let ret = unsafe { sys::rte_eth_stats_reset(self.id()) };
        if ret != 0 {
            return Err(from_ret("rte_eth_stats_reset", self, ret));
        }
        Ok(())
    }
}

impl std::fmt::Display for Port {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "port {} ({})", self.shared.id, self.shared.name)
    }
}

struct PortLabel(u16);
impl std::fmt::Display for PortLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "port {}", self.0)
    }
}

/// Receive side of one queue of a started port. Owned by one worker.
pub struct RxQueue {
    port: u16,
    queue: u16,
    _shared: Arc<PortShared>,
}

impl RxQueue {
    /// Receives into the free slots of `burst` (at most `N - len`) and
    /// returns how many arrived. One C call per burst.
    #[inline]
    pub fn rx_burst<const N: usize>(&mut self, burst: &mut Burst<N>) -> usize {
        let room = burst.room();
        if room == 0 {
            return 0;
        }
        let len = burst.len();
        // SAFETY: the port is started and stays so while this handle lives
        // (stop needs every handle dropped); &mut self makes this thread the
        // only poller of the queue; the `room` slots from `len` are free and
        // DPDK writes at most `room` owned mbufs there. room <= N <= u16::MAX.
        #[allow(clippy::cast_possible_truncation)]
        let n = unsafe {
            sys::shim_rx_burst(
                self.port,
                self.queue,
                burst.raw_slots().add(len),
                room as u16,
            )
        };
        let n = usize::from(n);
        // SAFETY: DPDK wrote `n` owned mbufs into the free slots.
        unsafe { burst.grow(n) };
        n
    }

    /// Receives up to `max` frames (at most [`MAX_BURST`]) and appends
    /// them to `out` as `T`s, in arrival order; returns how many arrived.
    ///
    /// For a worker that keeps its packets in a `Vec` of an mbuf newtype:
    /// DPDK writes the pointers into a stack array and they are moved into
    /// `out` in one pass (no per-packet capacity check) without reading
    /// the mbuf headers: any pass over them right after the PMD's rx cost
    /// ~3.5 ns a frame on net_null (perf/README.md, "the rx binding's
    /// header pass"). Frames may be chained (net_pcap chains frames larger
    /// than a segment even with scatter off): the caller prefetches and
    /// linearizes the frames it keeps ([`Mbuf::prefetch_data`],
    /// [`Mbuf::linearize`]), after it has dropped the junk, which needs
    /// neither (a chain is freed whole).
    #[inline]
    pub fn rx_burst_into<T: From<Mbuf>>(&mut self, out: &mut Vec<T>, max: usize) -> usize {
        let want = max.min(MAX_BURST);
        if want == 0 {
            return 0;
        }
        let mut raw = [const { MaybeUninit::<*mut sys::rte_mbuf>::uninit() }; MAX_BURST];
        // SAFETY: the port is started and stays so while this handle lives;
        // &mut self makes this thread the queue's only poller; `raw` has room
        // for `want` pointers and DPDK writes at most that many, each an
        // owned mbuf. want <= MAX_BURST <= u16::MAX.
        #[allow(clippy::cast_possible_truncation)]
        let n = usize::from(unsafe {
            sys::shim_rx_burst(self.port, self.queue, raw.as_mut_ptr().cast(), want as u16)
        });
        let got = &raw[..n.min(want)];
        out.reserve(got.len());
        out.extend(got.iter().map(|p| {
            // SAFETY: each of the first `n` slots holds a valid mbuf that DPDK
            // handed over to us, read exactly once here (non-null by DPDK's
            // contract for the returned count).
            let m = unsafe { Mbuf::from_raw_ptr(p.assume_init()) };
            T::from(m)
        }));
        got.len()
    }

    /// Port id.
    #[must_use]
    pub fn port_id(&self) -> u16 {
        self.port
    }

    /// Queue index.
    #[must_use]
    pub fn queue_id(&self) -> u16 {
        self.queue
    }
}

/// Transmit side of one queue of a started port. Owned by one worker.
pub struct TxQueue {
    port: u16,
    queue: u16,
    dropped: u64,
    _shared: Arc<PortShared>,
}

impl TxQueue {
    /// Hands the mbufs of `burst` to the NIC, front first, and returns how
    /// many it took; those not taken stay in `burst` (moved to its front)
    /// for the caller to retry or drop.
    #[inline]
    pub fn tx_burst<const N: usize>(&mut self, burst: &mut Burst<N>) -> usize {
        let len = burst.len();
        if len == 0 {
            return 0;
        }
        // SAFETY: started port (see RxQueue::rx_burst), exclusive queue; the
        // first `len` slots hold owned mbufs; DPDK takes ownership of the
        // first `sent` of them. len <= N <= u16::MAX.
        #[allow(clippy::cast_possible_truncation)]
        let sent =
            unsafe { sys::shim_tx_burst(self.port, self.queue, burst.raw_slots(), len as u16) };
        let sent = usize::from(sent);
        // SAFETY: DPDK owns the first `sent` mbufs now.
        unsafe { burst.forget_front(sent) };
        sent
    }

    /// Hands the frames at the front of `frames` to the NIC, in bursts of
    /// at most [`MAX_BURST`], removing those it took; returns how many. What
    /// is left in `frames` (a full queue) was not sent, in order, for the
    /// caller to retry or drop.
    ///
    /// The mirror of [`RxQueue::rx_burst_into`]: one pass moves the mbuf
    /// pointers out of the `Vec` into a stack array for DPDK.
    #[inline]
    pub fn tx_burst_from<T>(&mut self, frames: &mut Vec<T>) -> usize
    where
        T: Into<Mbuf> + From<Mbuf>,
    {
        let mut total = 0;
        while !frames.is_empty() {
            let n = frames.len().min(MAX_BURST);
            let mut raw = [const { MaybeUninit::<*mut sys::rte_mbuf>::uninit() }; MAX_BURST];
            for (slot, f) in raw.iter_mut().zip(frames.drain(..n)) {
                slot.write(f.into().into_raw().as_ptr());
            }
            // SAFETY: started port, exclusive queue (see RxQueue::rx_burst);
            // the first n slots hold owned mbufs; DPDK takes ownership of the
            // first `sent` of them. n <= MAX_BURST <= u16::MAX.
            #[allow(clippy::cast_possible_truncation)]
            let sent = usize::from(unsafe {
                sys::shim_tx_burst(self.port, self.queue, raw.as_mut_ptr().cast(), n as u16)
            })
            .min(n);
            total += sent;
            if sent < n {
                // Give the rest back, in order, in front: `frames` just lost
                // n elements, so this does not allocate.
                drop(frames.splice(
                    0..0,
                    raw[sent..n].iter().map(|p| {
                        // SAFETY: slots sent..n hold mbufs DPDK did not take;
                        // we own them again, each read once.
                        T::from(unsafe { Mbuf::from_raw_ptr(p.assume_init()) })
                    }),
                ));
                return total;
            }
        }
        total
    }

    /// Like [`tx_burst`](Self::tx_burst), then frees what the NIC did not
    /// take (one bulk call) and adds it to [`dropped`](Self::dropped).
    /// `burst` is empty afterwards.
    #[inline]
    pub fn tx_burst_or_free<const N: usize>(&mut self, burst: &mut Burst<N>) -> usize {
        let sent = self.tx_burst(burst);
        if !burst.is_empty() {
            self.dropped += burst.len() as u64;
            burst.clear();
        }
        sent
    }

    /// Mbufs freed by [`tx_burst_or_free`](Self::tx_burst_or_free) because
    /// the queue was full.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Port id.
    #[must_use]
    pub fn port_id(&self) -> u16 {
        self.port
    }

    /// Queue index.
    #[must_use]
    pub fn queue_id(&self) -> u16 {
        self.queue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_and_buses() {
        assert_eq!(device_name("net_null0"), ("net_null0".into(), "vdev"));
        assert_eq!(
            device_name("net_pcap0,rx_pcap=a.pcap,tx_pcap=b.pcap"),
            ("net_pcap0".into(), "vdev")
        );
        assert_eq!(device_name("0000:01:00.0"), ("0000:01:00.0".into(), "pci"));
        assert_eq!(device_name("3b:00.1,foo=1"), ("0000:3b:00.1".into(), "pci"));
        assert_eq!(device_name("0001:AF:1f.7"), ("0001:af:1f.7".into(), "pci"));
        // Not PCI: function > 7, device > 31, junk.
        assert_eq!(device_name("00:00.8").1, "vdev");
        assert_eq!(device_name("00:20.0").1, "vdev");
        assert_eq!(device_name("net_tap0,iface=x.1").1, "vdev");
        assert_eq!(pci_address("01:00.1,x=y").as_deref(), Some("0000:01:00.1"));
        assert_eq!(pci_address("net_null0"), None);
    }
}
