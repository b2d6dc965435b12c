//! Configuration of the PFCP node: who we are, whom we talk to, timers, and
//! the resources we hand out on CHOOSE (TEIDs, UE addresses). The `upf`
//! crate fills it from its YAML config.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, SystemTime};

use crate::codec::ies::{NodeIdBuf, SourceInterface, UpFunctionFeatures};

/// Node configuration. [`Config::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct Config {
    /// Our Node ID.
    pub node_id: NodeIdBuf,
    /// Addresses for our F-SEID; default: the Node ID when it is an address.
    pub f_seid_ipv4: Option<Ipv4Addr>,
    pub f_seid_ipv6: Option<Ipv6Addr>,
    /// When we started (Recovery Time Stamp); an SMF that sees it change
    /// knows we restarted.
    pub recovery_time_stamp: SystemTime,
    /// SMF addresses allowed to talk to us; empty: any.
    pub allowed_peers: Vec<IpAddr>,
    /// SMF networks allowed to talk to us (address, prefix length), in
    /// addition to `allowed_peers`; both empty: any.
    pub allowed_peer_nets: Vec<(IpAddr, u8)>,
    /// How often we send Heartbeat Requests to each associated SMF.
    pub heartbeat_interval: Duration,
    /// Retransmission timer and count for our requests (TS 29.244 §6.4).
    pub t1: Duration,
    pub n1: u32,
    /// UP Function Features we advertise. Default: FTUP (F-TEID
    /// allocation), PFDM (PFD Management), UEIP (UE IP allocation), EMPU
    /// (End Marker), MNOP (packet counts): what this node implements.
    pub features: UpFunctionFeatures,
    /// TEIDs we allocate on CHOOSE (inclusive).
    pub teid_first: u32,
    pub teid_last: u32,
    /// Our GTP-U addresses by interface, used for CHOOSE F-TEIDs.
    pub gtpu: Vec<GtpuEndpoint>,
    /// UE address pools for CHV4/CHV6.
    pub ue_pools: Vec<UePool>,
    /// Addresses inside the pools that CHOOSE must never hand out (static
    /// sessions use them); an SMF that names one explicitly is refused.
    pub reserved_ue_ips: Vec<IpAddr>,
    /// Most sessions accepted; more get cause 75.
    pub max_sessions: usize,
    /// How long answers are kept to answer retransmitted requests.
    pub response_cache_ttl: Duration,
    /// Most answers kept (oldest dropped first).
    pub response_cache_max: usize,
    /// Most bytes the kept answers take, with about 64 bytes of
    /// bookkeeping each, and most memory the cache's containers reserve
    /// (oldest dropped first). The default, 128 MiB, keeps about 650,000
    /// answers of ~100 bytes (13 s at 50,000 establishments per second,
    /// 11 s at 60,000): longer than an SMF retransmits (N1 x T1, typically
    /// 3 x 3 s), with the 30 s `response_cache_ttl` for slower rates.
    pub response_cache_bytes: usize,
    /// How often volume thresholds and quotas are checked against the
    /// user plane's counters.
    pub usage_poll_interval: Duration,
}

/// A local GTP-U endpoint for CHOOSE F-TEIDs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GtpuEndpoint {
    /// The PDI Source Interface this endpoint serves (Access for N3,
    /// Core for N9).
    pub interface: SourceInterface,
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    /// Restrict to PDIs with this Network Instance (dotted text); `None`: any.
    pub network_instance: Option<String>,
}

/// A UE address pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UePool {
    /// Network address and prefix length (10.45.0.0/16, 2001:db8:1::/48).
    pub prefix: IpAddr,
    pub prefix_len: u8,
    /// Serve only sessions with this APN/DNN; `None`: any.
    pub dnn: Option<String>,
    /// Serve only PDIs with this Network Instance; `None`: any.
    pub network_instance: Option<String>,
    /// IPv6: the prefix length handed to each UE (default 64).
    pub ue_prefix_len: u8,
}

/// Configuration errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("teid_range: first {first:#x} is above last {last:#x}, or first is 0")]
    TeidRange { first: u32, last: u32 },
    #[error("ue pool {0}: invalid prefix length")]
    PoolPrefix(String),
    #[error("t1 and heartbeat_interval must be non-zero and n1 at least 1")]
    Timers,
    #[error("no F-SEID address: the Node ID is an FQDN, set f_seid_ipv4 or f_seid_ipv6")]
    NoFSeidAddress,
}

impl Config {
    /// Defaults: heartbeat every 5 s, T1 3 s, N1 3, TEIDs 0x1000..=0x00ff_ffff.
    #[must_use]
    pub fn new(node_id: NodeIdBuf) -> Self {
        let (f_seid_ipv4, f_seid_ipv6) = match &node_id {
            NodeIdBuf::Ipv4(a) => (Some(*a), None),
            NodeIdBuf::Ipv6(a) => (None, Some(*a)),
            NodeIdBuf::Fqdn(_) => (None, None),
        };
        Self {
            node_id,
            f_seid_ipv4,
            f_seid_ipv6,
            recovery_time_stamp: SystemTime::now(),
            allowed_peers: Vec::new(),
            allowed_peer_nets: Vec::new(),
            heartbeat_interval: Duration::from_secs(5),
            t1: Duration::from_secs(3),
            n1: 3,
            features: UpFunctionFeatures::FTUP
                | UpFunctionFeatures::PFDM
                | UpFunctionFeatures::UEIP
                | UpFunctionFeatures::EMPU
                | UpFunctionFeatures::MNOP,
            teid_first: 0x1000,
            teid_last: 0x00ff_ffff,
            gtpu: Vec::new(),
            ue_pools: Vec::new(),
            reserved_ue_ips: Vec::new(),
            max_sessions: 2_000_000,
            response_cache_ttl: Duration::from_secs(30),
            response_cache_max: 1_000_000,
            response_cache_bytes: 128 << 20,
            usage_poll_interval: Duration::from_secs(1),
        }
    }

    /// Whether `ip` may talk to us.
    #[must_use]
    pub fn peer_allowed(&self, ip: IpAddr) -> bool {
        if self.allowed_peers.is_empty() && self.allowed_peer_nets.is_empty() {
            return true;
        }
        self.allowed_peers.contains(&ip)
            || self
                .allowed_peer_nets
                .iter()
                .any(|&(net, len)| match (net, ip) {
                    (IpAddr::V4(n), IpAddr::V4(a)) => {
                        let m = u32::MAX
                            .checked_shl(32 - u32::from(len.min(32)))
                            .unwrap_or(0);
                        u32::from(n) & m == u32::from(a) & m
                    }
                    (IpAddr::V6(n), IpAddr::V6(a)) => {
                        let m = u128::MAX
                            .checked_shl(128 - u32::from(len.min(128)))
                            .unwrap_or(0);
                        u128::from(n) & m == u128::from(a) & m
                    }
                    _ => false,
                })
    }

    /// Check the values that the node relies on.
    ///
    /// # Errors
    /// The first problem found.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.teid_first == 0 || self.teid_first > self.teid_last {
            return Err(ConfigError::TeidRange {
                first: self.teid_first,
                last: self.teid_last,
            });
        }
        if self.t1.is_zero() || self.heartbeat_interval.is_zero() || self.n1 == 0 {
            return Err(ConfigError::Timers);
        }
        if self.f_seid_ipv4.is_none() && self.f_seid_ipv6.is_none() {
            return Err(ConfigError::NoFSeidAddress);
        }
        for p in &self.ue_pools {
            let ok = match p.prefix {
                IpAddr::V4(_) => p.prefix_len <= 30 && p.prefix_len >= 8,
                IpAddr::V6(_) => p.prefix_len < p.ue_prefix_len && p.ue_prefix_len <= 128,
            };
            if !ok {
                return Err(ConfigError::PoolPrefix(format!(
                    "{}/{}",
                    p.prefix, p.prefix_len
                )));
            }
        }
        Ok(())
    }
}
