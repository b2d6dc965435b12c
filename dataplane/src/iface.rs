//! The UPF's network interfaces as the data plane sees them: which port a
//! frame came in on or goes out of, and the addresses the worker answers for.

use crate::wire::ethernet::MacAddr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// A logical interface; each maps to one DPDK port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Iface {
    /// Access side: GTP-U from and to gNBs.
    N3 = 0,
    /// Core side: plain IP to and from the data network.
    N6 = 1,
    /// GTP-U to and from other UPFs.
    N9 = 2,
}

/// Number of [`Iface`] values.
pub const IFACE_COUNT: usize = 3;

impl Iface {
    /// All interfaces, in index order.
    pub const ALL: [Self; IFACE_COUNT] = [Self::N3, Self::N6, Self::N9];

    /// Index into per-interface arrays.
    #[must_use]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The config key and metrics label (`n3`, `n6`, `n9`).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::N3 => "n3",
            Self::N6 => "n6",
            Self::N9 => "n9",
        }
    }

    /// `true` for the GTP-U interfaces.
    #[must_use]
    pub const fn is_gtpu(self) -> bool {
        !matches!(self, Self::N6)
    }
}

/// Addresses and next hops of one interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfaceConfig {
    /// The port's MAC address (source of every frame sent).
    pub mac: MacAddr,
    /// Own IPv4 address and prefix length.
    pub ipv4: Option<(Ipv4Addr, u8)>,
    /// Own IPv6 address and prefix length.
    pub ipv6: Option<(Ipv6Addr, u8)>,
    /// IPv4 next hop for destinations off the subnet (N6: the data network gateway).
    pub gateway4: Option<Ipv4Addr>,
    /// IPv6 next hop for destinations off the subnet.
    pub gateway6: Option<Ipv6Addr>,
    /// 802.1Q VLAN id put on transmitted frames.
    pub vlan: Option<u16>,
    /// Static neighbours (no ARP needed; required for IPv6 next hops).
    pub neighbors: Vec<(IpAddr, MacAddr)>,
}

impl IfaceConfig {
    /// An interface with just a MAC and an IPv4 address.
    #[must_use]
    pub fn v4(mac: MacAddr, addr: Ipv4Addr, prefix: u8) -> Self {
        Self {
            mac,
            ipv4: Some((addr, prefix)),
            ipv6: None,
            gateway4: None,
            gateway6: None,
            vlan: None,
            neighbors: Vec::new(),
        }
    }

    /// `true` when `a` is one of this interface's own addresses.
    #[must_use]
    pub fn is_own(&self, a: IpAddr) -> bool {
        match a {
            IpAddr::V4(a) => self.ipv4.is_some_and(|(o, _)| o == a),
            IpAddr::V6(a) => self.ipv6.is_some_and(|(o, _)| o == a),
        }
    }

    /// The neighbour a packet for `dst` goes to: `dst` itself when on-link,
    /// else the gateway of its family.
    #[must_use]
    pub fn next_hop(&self, dst: IpAddr) -> Option<IpAddr> {
        match dst {
            IpAddr::V4(d) => {
                let (own, p) = self.ipv4?;
                let m = if p == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(p.min(32)))
                };
                if u32::from(own) & m == u32::from(d) & m {
                    Some(dst)
                } else {
                    self.gateway4.map(IpAddr::V4)
                }
            }
            IpAddr::V6(d) => {
                let on_link = self.ipv6.is_some_and(|(own, p)| {
                    let m = if p == 0 {
                        0
                    } else {
                        u128::MAX << (128 - u32::from(p.min(128)))
                    };
                    u128::from(own) & m == u128::from(d) & m
                });
                if on_link {
                    Some(dst)
                } else {
                    self.gateway6.map(IpAddr::V6)
                }
            }
        }
    }
}

/// The interfaces of the UPF and worker-wide parameters, published with
/// every snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetConfig {
    /// Per interface, `None` where not configured.
    pub ifaces: [Option<IfaceConfig>; IFACE_COUNT],
    /// Most GTP-U Error Indications a worker sends per second.
    pub error_indication_pps: u32,
    /// Most ARP requests a worker sends per second per next hop.
    pub arp_requests_per_sec: u32,
    /// N4 served through the dataplane: UDP to exactly this address and
    /// port, on the interface that owns the address, goes to the control
    /// thread as [`crate::counters::Event::N4Datagram`] (`pfcp.listen` on
    /// an address only DPDK has). `None`: N4 is a kernel socket.
    pub n4: Option<SocketAddr>,
}

impl NetConfig {
    /// The config of `i`.
    #[must_use]
    pub fn iface(&self, i: Iface) -> Option<&IfaceConfig> {
        self.ifaces[i.index()].as_ref()
    }
}
