//! The YAML schema, as serde types: what the file may contain, with the
//! defaults of every optional key. Deserializing checks types and rejects
//! unknown keys; `validate` then checks meaning and builds the model.
//! After validation fills in defaults, the same types serialize to the
//! effective config that `upf check` prints (and that parses back to the
//! same model).
//!
//! Keep this file and `config/upf.yaml` (the commented reference) in step.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::sdf::SdfFilter;
use super::types::{HostOrNet, ListenSpec, NodeId, OneOrMany};
use super::units::{Bitrate, ByteSize, HumanDuration, MacAddr, Teid};

pub const DEFAULT_PFCP_PORT: u16 = 8805;
pub const DEFAULT_API_PORT: u16 = 9100;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub node_id: NodeId,
    #[serde(default)]
    pub dpdk: RawDpdk,
    pub cores: RawCores,
    pub interfaces: RawInterfaces,
    #[serde(default)]
    pub pfcp: RawPfcp,
    #[serde(default)]
    pub ue_pools: Vec<RawUePool>,
    #[serde(default)]
    pub teid_range: RawTeidRange,
    #[serde(default)]
    pub api: RawApi,
    #[serde(default)]
    pub log: RawLog,
    #[serde(default)]
    pub reload: RawReload,
    #[serde(default)]
    pub dataplane: RawDataplane,
    #[serde(default)]
    pub sessions: Vec<RawSession>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawDpdk {
    pub args: Vec<String>,
    pub mbufs: u32,
    pub rx_descriptors: u16,
    pub tx_descriptors: u16,
}

impl Default for RawDpdk {
    fn default() -> Self {
        Self {
            args: Vec::new(),
            mbufs: 65536,
            rx_descriptors: 1024,
            tx_descriptors: 1024,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawCores {
    pub control: u32,
    pub workers: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawInterfaces {
    pub n3: RawInterface,
    pub n6: RawInterface,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n9: Option<RawInterface>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawInterface {
    pub device: String,
    pub address: OneOrMany<IpNet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<OneOrMany<IpAddr>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub neighbors: BTreeMap<IpAddr, MacAddr>,
    #[serde(default = "default_mtu")]
    pub mtu: u16,
}

const fn default_mtu() -> u16 {
    1500
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawPfcp {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<ListenSpec>,
    pub peers: Vec<HostOrNet>,
    pub heartbeat_interval: HumanDuration,
    pub request_timeout: HumanDuration,
    pub request_retries: u8,
}

impl Default for RawPfcp {
    fn default() -> Self {
        Self {
            listen: None,
            peers: Vec::new(),
            heartbeat_interval: HumanDuration::from_secs(5),
            request_timeout: HumanDuration::from_secs(3),
            request_retries: 3,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawUePool {
    pub cidr: IpNet,
    #[serde(default = "default_dnn")]
    pub dnn: String,
}

fn default_dnn() -> String {
    "internet".to_owned()
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawTeidRange {
    pub first: Teid,
    pub last: Teid,
}

impl Default for RawTeidRange {
    fn default() -> Self {
        Self {
            first: Teid(0x1000),
            last: Teid(0x00ff_ffff),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawApi {
    pub listen: ListenSpec,
}

impl Default for RawApi {
    fn default() -> Self {
        Self {
            listen: ListenSpec::new(IpAddr::V4(Ipv4Addr::LOCALHOST), DEFAULT_API_PORT),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Off,
    Error,
    Warn,
    #[default]
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    #[must_use]
    pub const fn filter(self) -> log::LevelFilter {
        match self {
            Self::Off => log::LevelFilter::Off,
            Self::Error => log::LevelFilter::Error,
            Self::Warn => log::LevelFilter::Warn,
            Self::Info => log::LevelFilter::Info,
            Self::Debug => log::LevelFilter::Debug,
            Self::Trace => log::LevelFilter::Trace,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RawLog {
    pub level: LogLevel,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawReload {
    pub watch: bool,
    pub debounce: HumanDuration,
}

impl Default for RawReload {
    fn default() -> Self {
        Self {
            watch: false,
            debounce: HumanDuration::from_millis(200),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawDataplane {
    pub burst: u16,
    pub max_sessions: u32,
    pub idle_backoff: RawIdleBackoff,
}

impl Default for RawDataplane {
    fn default() -> Self {
        Self {
            burst: 32,
            max_sessions: 1_000_000,
            idle_backoff: RawIdleBackoff::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawIdleBackoff {
    pub enabled: bool,
    pub empty_polls: u32,
    pub sleep: HumanDuration,
}

impl Default for RawIdleBackoff {
    fn default() -> Self {
        Self {
            enabled: false,
            empty_polls: 1024,
            sleep: HumanDuration(std::time::Duration::from_micros(50)),
        }
    }
}

// ------------------------------------------------------------ static sessions

/// A static session in either form: the short form (`ue_ip`, `uplink`,
/// `downlink`, `qos`) or the full form (`pdrs`, `fars`, `qers`, `urrs`).
/// Which one is decided in validation, so that a mix gets a clear message
/// rather than serde's "did not match any variant".
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawSession {
    pub id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ue_ip: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uplink: Option<RawUplink>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downlink: Option<RawDownlink>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qos: Option<RawQos>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pdrs: Vec<RawPdr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fars: Vec<RawFar>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub qers: Vec<RawQer>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urrs: Vec<RawUrr>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawUplink {
    pub teid: Teid,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawDownlink {
    pub gnb: IpAddr,
    pub teid: Teid,
    #[serde(default = "default_qfi")]
    pub qfi: u8,
}

const fn default_qfi() -> u8 {
    9
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawQos {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mbr_ul: Option<Bitrate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mbr_dl: Option<Bitrate>,
}

/// PDI source interface (TS 29.244 §8.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceInterface {
    Access,
    Core,
    #[serde(alias = "n6-lan")]
    SgiLan,
    CpFunction,
}

/// Destination interface of a FAR (TS 29.244 §8.2.24).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DestinationInterface {
    Access,
    Core,
    #[serde(alias = "n6-lan")]
    SgiLan,
    CpFunction,
}

/// Outer Header Removal description (TS 29.244 §8.2.64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OuterHeaderRemoval {
    GtpuUdpIpv4,
    GtpuUdpIpv6,
    UdpIpv4,
    UdpIpv6,
    Ipv4,
    Ipv6,
    GtpuUdpIp,
}

impl OuterHeaderRemoval {
    #[must_use]
    pub const fn is_gtpu(self) -> bool {
        matches!(
            self,
            Self::GtpuUdpIpv4 | Self::GtpuUdpIpv6 | Self::GtpuUdpIp
        )
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawPdr {
    pub id: u16,
    pub precedence: u32,
    pub source: SourceInterface,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teid: Option<Teid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ue_ip: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sdf: Vec<SdfFilter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qfi: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outer_header_removal: Option<OuterHeaderRemoval>,
    pub far_id: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub qer_ids: Vec<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urr_ids: Vec<u32>,
}

/// Apply Action (TS 29.244 §8.2.26), the mutually exclusive part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FarAction {
    Forward,
    Drop,
    Buffer,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawFar {
    pub id: u32,
    pub action: FarAction,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub notify_cp: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<DestinationInterface>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outer_header_creation: Option<RawOuterHeaderCreation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dscp: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawOuterHeaderCreation {
    pub teid: Teid,
    pub address: IpAddr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum GateStatus {
    #[default]
    Open,
    Closed,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RawGate {
    pub ul: GateStatus,
    pub dl: GateStatus,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawUlDl<T> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ul: Option<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dl: Option<T>,
}

impl<T> Default for RawUlDl<T> {
    fn default() -> Self {
        Self { ul: None, dl: None }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawQer {
    pub id: u32,
    #[serde(default)]
    pub gate: RawGate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mbr: Option<RawUlDl<Bitrate>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gbr: Option<RawUlDl<Bitrate>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qfi: Option<u8>,
}

/// Measurement Method (TS 29.244 §8.2.40).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Measurement {
    Volume,
    Duration,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RawVolume {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<ByteSize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ul: Option<ByteSize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dl: Option<ByteSize>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawUrr {
    pub id: u32,
    #[serde(default = "default_measurement")]
    pub measurement: Vec<Measurement>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_threshold: Option<RawVolume>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_quota: Option<RawVolume>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_threshold: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_quota: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<HumanDuration>,
}

fn default_measurement() -> Vec<Measurement> {
    vec![Measurement::Volume]
}
