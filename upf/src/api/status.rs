//! `GET /status`: the telemetry model as one JSON document (the metrics'
//! figures plus the facts that are not numbers: PFCP associations, the
//! last reload, addresses). The field names are part of the public API.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::SystemTime;

use serde::Serialize;

use super::telemetry::{
    DataplaneOccupancy, FqCsidNode, PfcpOccupancy, PfdApplication, ReloadResult, Telemetry,
    TelemetryModel,
};

/// RFC 3339 UTC text of `t`.
fn rfc3339(t: SystemTime) -> String {
    jiff::Timestamp::try_from(t)
        .map(|ts| ts.to_string())
        .unwrap_or_default()
}

#[derive(Debug, Serialize)]
pub struct StatusDoc {
    pub version: String,
    pub git: String,
    pub node_id: String,
    pub state: &'static str,
    /// Memory mapped after DPDK's start is locked into RAM, so no worker
    /// takes a page fault on it (false without CAP_IPC_LOCK and with a
    /// limited memlock: the log says so at start).
    pub memory_locked: bool,
    pub started_at: String,
    pub uptime_seconds: f64,
    pub interfaces: Vec<InterfaceDoc>,
    pub workers: Vec<WorkerDoc>,
    pub sessions: SessionsDoc,
    pub drops: BTreeMap<String, u64>,
    pub pfcp: PfcpDoc,
    pub reloads: ReloadsDoc,
    /// What the process holds now (tables, slots, queues, allocations):
    /// after sessions come and go these return to their former values.
    pub occupancy: OccupancyDoc,
}

#[derive(Debug, Serialize)]
pub struct OccupancyDoc {
    pub dataplane: DataplaneOccupancy,
    /// Absent without N4 (`pfcp.listen`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pfcp: Option<PfcpOccupancy>,
}

#[derive(Debug, Serialize)]
pub struct InterfaceDoc {
    pub name: String,
    pub device: String,
    pub addresses: Vec<String>,
    pub mac: Option<String>,
    pub link_up: Option<bool>,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub rx_missed: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
}

#[derive(Debug, Serialize)]
pub struct WorkerDoc {
    pub index: u32,
    pub lcore: u32,
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub busy_polls: u64,
    pub idle_polls: u64,
}

#[derive(Debug, Serialize)]
pub struct SessionsDoc {
    pub total: u64,
    pub pfcp: u64,
    #[serde(rename = "static")]
    pub static_: u64,
}

#[derive(Debug, Serialize)]
pub struct PfcpDoc {
    pub listen: Option<SocketAddr>,
    pub associations: Vec<AssociationDoc>,
    pub messages: Vec<PfcpMessageDoc>,
    /// PFD Management: the applications whose PFDs an SMF provisioned.
    pub pfd_applications: Vec<PfdApplication>,
    /// The CPs' FQ-CSIDs (partial failure handling) and the Session Set
    /// Deletion / Modification figures.
    pub fq_csids: FqCsidsDoc,
}

#[derive(Debug, Serialize)]
pub struct FqCsidsDoc {
    /// Sessions that carry FQ-CSIDs.
    pub sessions: u64,
    /// FQ-CSIDs, Group Ids and CP IP Addresses not stored (tables full).
    pub dropped: u64,
    /// Sessions removed by Session Set Deletion Requests.
    pub set_deleted_sessions: u64,
    /// Sessions redirected by Session Set Modification Requests.
    pub set_modified_sessions: u64,
    /// Per CSID node address: distinct CSIDs and the largest sets
    /// (at most 32 nodes, 16 sets each).
    pub nodes: Vec<FqCsidNode>,
}

#[derive(Debug, Serialize)]
pub struct AssociationDoc {
    pub node_id: String,
    pub address: SocketAddr,
    pub established_at: String,
    pub last_heartbeat_at: Option<String>,
    pub sessions: u64,
}

#[derive(Debug, Serialize)]
pub struct PfcpMessageDoc {
    #[serde(rename = "type")]
    pub msg_type: String,
    pub direction: &'static str,
    pub count: u64,
}

#[derive(Debug, Serialize)]
pub struct ReloadsDoc {
    pub applied: u64,
    pub rejected: u64,
    pub last: Option<LastReloadDoc>,
}

#[derive(Debug, Serialize)]
pub struct LastReloadDoc {
    pub at: String,
    pub result: &'static str,
    pub summary: String,
    pub duration_ms: f64,
    /// `signal` or `watch`; absent for a file that did not validate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sessions_added: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sessions_removed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sessions_changed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parse_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub translate_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apply_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publish_ms: Option<f64>,
    /// Longest gap between two polls of a worker around the publish
    /// (null until measured, a tick after the reload).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_poll_gap_us: Option<f64>,
    /// Preemptions of the workers by the kernel in that window: non-zero
    /// means the gap may be another process's doing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker_preemptions: Option<u64>,
}

impl StatusDoc {
    #[must_use]
    pub fn from_model(t: &Telemetry, m: &TelemetryModel) -> Self {
        let count = |r| m.reloads.get(&r).copied().unwrap_or(0);
        Self {
            version: t.build().version.clone(),
            git: t.build().git.clone(),
            node_id: m.node_id.clone(),
            state: m.state.as_str(),
            memory_locked: m.memory_locked,
            started_at: rfc3339(t.started_at()),
            uptime_seconds: t.uptime().as_secs_f64(),
            interfaces: m
                .interfaces
                .iter()
                .map(|i| InterfaceDoc {
                    name: i.name.clone(),
                    device: i.device.clone(),
                    addresses: i.addresses.clone(),
                    mac: i.mac.clone(),
                    link_up: i.link_up,
                    rx_packets: i.rx_packets,
                    rx_bytes: i.rx_bytes,
                    tx_packets: i.tx_packets,
                    tx_bytes: i.tx_bytes,
                    rx_missed: i.rx_missed,
                    rx_errors: i.rx_errors,
                    tx_errors: i.tx_errors,
                })
                .collect(),
            workers: m
                .workers
                .iter()
                .map(|w| WorkerDoc {
                    index: w.index,
                    lcore: w.lcore,
                    rx_packets: w.rx_packets,
                    tx_packets: w.tx_packets,
                    busy_polls: w.busy_polls,
                    idle_polls: w.idle_polls,
                })
                .collect(),
            sessions: SessionsDoc {
                total: m.sessions(),
                pfcp: m.pfcp_sessions,
                static_: m.static_sessions,
            },
            drops: m.drops.clone(),
            pfcp: PfcpDoc {
                listen: m.pfcp_listen,
                associations: m
                    .associations
                    .iter()
                    .map(|a| AssociationDoc {
                        node_id: a.node_id.clone(),
                        address: a.address,
                        established_at: rfc3339(a.established),
                        last_heartbeat_at: a.last_heartbeat.map(rfc3339),
                        sessions: a.sessions,
                    })
                    .collect(),
                messages: m
                    .pfcp_messages
                    .iter()
                    .map(|((ty, dir), n)| PfcpMessageDoc {
                        msg_type: ty.clone(),
                        direction: dir.as_str(),
                        count: *n,
                    })
                    .collect(),
                pfd_applications: m.pfd_applications.clone(),
                fq_csids: FqCsidsDoc {
                    sessions: m.fq_csid_sessions,
                    dropped: m.fq_csids_dropped,
                    set_deleted_sessions: m.set_deleted_sessions,
                    set_modified_sessions: m.set_modified_sessions,
                    nodes: m.fq_csid_nodes.clone(),
                },
            },
            reloads: ReloadsDoc {
                applied: count(ReloadResult::Applied),
                rejected: count(ReloadResult::Rejected),
                last: m.last_reload.as_ref().map(|r| LastReloadDoc {
                    at: rfc3339(r.at),
                    result: r.result.as_str(),
                    summary: r.summary.clone(),
                    duration_ms: ms(r.duration),
                    trigger: r.details.as_ref().map(|d| d.trigger),
                    sessions_added: r.details.as_ref().map(|d| d.sessions_added),
                    sessions_removed: r.details.as_ref().map(|d| d.sessions_removed),
                    sessions_changed: r.details.as_ref().map(|d| d.sessions_changed),
                    parse_ms: r.details.as_ref().map(|d| ms(d.parse)),
                    diff_ms: r.details.as_ref().map(|d| ms(d.diff)),
                    translate_ms: r.details.as_ref().map(|d| ms(d.translate)),
                    apply_ms: r.details.as_ref().map(|d| ms(d.apply)),
                    publish_ms: r.details.as_ref().map(|d| ms(d.publish)),
                    max_poll_gap_us: r
                        .details
                        .as_ref()
                        .and_then(|d| d.max_poll_gap)
                        .map(|g| g.as_secs_f64() * 1e6),
                    worker_preemptions: r.details.as_ref().and_then(|d| d.worker_preemptions),
                }),
            },
            occupancy: OccupancyDoc {
                dataplane: m.dataplane_occupancy.clone(),
                pfcp: m.pfcp_occupancy.clone(),
            },
        }
    }
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
