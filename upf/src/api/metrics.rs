//! `GET /metrics`: the telemetry model rendered with `prometheus-client` at
//! scrape time. A collector (rather than registered counters) because the
//! values are totals the control thread already aggregates from per-worker
//! counters; copying them into atomic counters would add a second source
//! of truth.

use std::time::UNIX_EPOCH;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeCounterValue, EncodeGaugeValue, EncodeLabelSet, NoLabelSet,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::telemetry::{ReloadResult, Telemetry, TelemetryModel};

/// Emits one metric family: `samples` are (labels, value).
fn family<L: EncodeLabelSet, V>(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    kind: MetricType,
    samples: impl IntoIterator<Item = (L, V)>,
) -> Result<(), std::fmt::Error>
where
    V: EncodeCounterValue + EncodeGaugeValue,
{
    let mut m = enc.encode_descriptor(name, help, None, kind)?;
    for (labels, value) in samples {
        let mut s = m.encode_family(&labels)?;
        match kind {
            MetricType::Counter => s.encode_counter::<NoLabelSet, _, u64>(&value, None)?,
            _ => s.encode_gauge(&value)?,
        }
    }
    Ok(())
}

type Labels<'a> = Vec<(&'static str, &'a str)>;

#[derive(Debug)]
struct ModelCollector {
    telemetry: Telemetry,
}

impl ModelCollector {
    #[allow(clippy::too_many_lines)] // a flat list of metric families
    fn encode_model(
        &self,
        m: &TelemetryModel,
        mut enc: DescriptorEncoder<'_>,
    ) -> Result<(), std::fmt::Error> {
        use MetricType::{Counter, Gauge};
        let t = &self.telemetry;
        let b = t.build();
        family(
            &mut enc,
            "upf_build_info",
            "Version and git commit of the running upf (value is always 1)",
            Gauge,
            [(
                vec![("version", b.version.as_str()), ("git", b.git.as_str())],
                1u64,
            )],
        )?;
        let start = t
            .started_at()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        let mut s = enc.encode_descriptor(
            "upf_start_time_seconds",
            "Start time of the process since the Unix epoch",
            None,
            Gauge,
        )?;
        s.encode_gauge(&start)?;
        family(
            &mut enc,
            "upf_ready",
            "1 while the appliance is running (ports up, workers polling), else 0",
            Gauge,
            [(
                Labels::new(),
                u64::from(m.state == super::RunState::Running),
            )],
        )?;

        let ifs = &m.interfaces;
        let per_if = |f: fn(&super::InterfaceStats) -> u64| -> Vec<(Labels<'_>, u64)> {
            ifs.iter()
                .map(|i| (vec![("interface", i.name.as_str())], f(i)))
                .collect()
        };
        family(
            &mut enc,
            "upf_rx_packets",
            "Packets received per interface",
            Counter,
            per_if(|i| i.rx_packets),
        )?;
        family(
            &mut enc,
            "upf_tx_packets",
            "Packets transmitted per interface",
            Counter,
            per_if(|i| i.tx_packets),
        )?;
        family(
            &mut enc,
            "upf_rx_bytes",
            "Bytes received per interface (frames with Ethernet header, without CRC)",
            Counter,
            per_if(|i| i.rx_bytes),
        )?;
        family(
            &mut enc,
            "upf_tx_bytes",
            "Bytes transmitted per interface (frames with Ethernet header, without CRC)",
            Counter,
            per_if(|i| i.tx_bytes),
        )?;
        family(
            &mut enc,
            "upf_rx_missed_packets",
            "Packets the NIC dropped for want of receive descriptors",
            Counter,
            per_if(|i| i.rx_missed),
        )?;
        family(
            &mut enc,
            "upf_rx_errors",
            "Receive errors reported by the port",
            Counter,
            per_if(|i| i.rx_errors),
        )?;
        family(
            &mut enc,
            "upf_tx_errors",
            "Transmit errors reported by the port",
            Counter,
            per_if(|i| i.tx_errors),
        )?;
        family(
            &mut enc,
            "upf_link_up",
            "1 if the port reports link up, 0 if down (absent while unknown)",
            Gauge,
            ifs.iter().filter_map(|i| {
                i.link_up
                    .map(|u| (vec![("interface", i.name.as_str())], u64::from(u)))
            }),
        )?;

        family(
            &mut enc,
            "upf_dropped_packets",
            "Packets dropped by the UPF, by reason",
            Counter,
            m.drops
                .iter()
                .map(|(r, n)| (vec![("reason", r.as_str())], *n)),
        )?;

        family(
            &mut enc,
            "upf_sessions",
            "Sessions installed (PFCP and static)",
            Gauge,
            [(Labels::new(), m.sessions())],
        )?;
        family(
            &mut enc,
            "upf_sessions_by_origin",
            "Sessions installed, by origin (pfcp or static)",
            Gauge,
            [
                (vec![("origin", "pfcp")], m.pfcp_sessions),
                (vec![("origin", "static")], m.static_sessions),
            ],
        )?;

        family(
            &mut enc,
            "upf_pfcp_messages",
            "PFCP messages by message type and direction (rx: received, tx: sent)",
            Counter,
            m.pfcp_messages.iter().map(|((ty, dir), n)| {
                (vec![("type", ty.as_str()), ("direction", dir.as_str())], *n)
            }),
        )?;
        family(
            &mut enc,
            "upf_pfcp_associations",
            "PFCP associations currently established",
            Gauge,
            [(Labels::new(), m.associations.len() as u64)],
        )?;

        family(
            &mut enc,
            "upf_pfcp_sessions_with_fq_csids",
            "PFCP sessions that carry FQ-CSIDs (partial failure handling)",
            Gauge,
            [(Labels::new(), m.fq_csid_sessions)],
        )?;
        family(
            &mut enc,
            "upf_pfcp_fq_csids_dropped",
            "FQ-CSIDs, Group Ids and CP IP Addresses the PFCP node could not store (its tables full)",
            Counter,
            [(Labels::new(), m.fq_csids_dropped)],
        )?;
        family(
            &mut enc,
            "upf_pfcp_session_set_sessions",
            "PFCP sessions named by Session Set requests; operation=deleted (Session Set Deletion), modified (Session Set Modification)",
            Counter,
            [
                (vec![("operation", "deleted")], m.set_deleted_sessions),
                (vec![("operation", "modified")], m.set_modified_sessions),
            ],
        )?;

        let d = &m.dataplane_occupancy;
        family(
            &mut enc,
            "upf_dataplane_table_keys",
            "Keys in the dataplane's lookup tables; table=teid (N3/N9 TEIDs), ue_ipv4, ue_ipv6 (/64 prefixes)",
            Gauge,
            [
                (vec![("table", "teid")], d.teid_keys),
                (vec![("table", "ue_ipv4")], d.ue_ipv4_keys),
                (vec![("table", "ue_ipv6")], d.ue_ipv6_keys),
            ],
        )?;
        family(
            &mut enc,
            "upf_dataplane_state_lines",
            "Per-worker QER/URR state lines allocated; state=used (held by rules or waiting to be freed), free",
            Gauge,
            [
                (vec![("state", "used")], d.state_lines_used),
                (vec![("state", "free")], d.state_lines_free),
            ],
        )?;
        family(
            &mut enc,
            "upf_dataplane_pending_reclaims",
            "Dataplane memory waiting for the workers to move on; kind=state_lines (removed rules' lines), snapshots (replaced snapshots)",
            Gauge,
            [
                (vec![("kind", "state_lines")], d.deferred_frees),
                (vec![("kind", "snapshots")], d.retired_snapshots),
            ],
        )?;
        family(
            &mut enc,
            "upf_buffered_packets",
            "Downlink packets held by buffering FARs",
            Gauge,
            [(Labels::new(), d.buffered_packets)],
        )?;
        family(
            &mut enc,
            "upf_mbufs",
            "Packet buffers (DPDK mbufs); state=in_use (NIC rings, workers, buffering FARs), free",
            Gauge,
            [
                (vec![("state", "in_use")], d.mbufs_in_use),
                (
                    vec![("state", "free")],
                    d.mbufs.saturating_sub(d.mbufs_in_use),
                ),
            ],
        )?;
        if let Some(p) = &m.pfcp_occupancy {
            family(
                &mut enc,
                "upf_pfcp_requests_in_flight",
                "PFCP requests the UPF sent that wait for an answer (heartbeats, Session Reports, ...)",
                Gauge,
                [(Labels::new(), p.requests_in_flight)],
            )?;
            family(
                &mut enc,
                "upf_pfcp_response_cache_entries",
                "PFCP answers kept for retransmitted requests",
                Gauge,
                [(Labels::new(), p.response_cache)],
            )?;
            family(
                &mut enc,
                "upf_pfcp_timers",
                "PFCP node timers armed (heartbeats, retransmissions, usage and inactivity timers)",
                Gauge,
                [(Labels::new(), p.timers)],
            )?;
            family(
                &mut enc,
                "upf_pfcp_allocations",
                "Resources the PFCP node allocated; resource=teid (CHOOSE F-TEIDs), ue_ip (UE pool addresses, static sessions' included)",
                Gauge,
                [
                    (vec![("resource", "teid")], p.teids_allocated),
                    (vec![("resource", "ue_ip")], p.ue_ips_allocated),
                ],
            )?;
        }

        family(
            &mut enc,
            "upf_config_reloads",
            "Config reloads by result (applied, rejected)",
            Counter,
            ReloadResult::ALL.iter().map(|r| {
                (
                    vec![("result", r.as_str())],
                    m.reloads.get(r).copied().unwrap_or(0),
                )
            }),
        )?;

        let workers: Vec<(String, String)> = m
            .workers
            .iter()
            .map(|w| (w.index.to_string(), w.lcore.to_string()))
            .collect();
        let wl = |i: usize| -> Labels<'_> {
            vec![
                ("worker", workers[i].0.as_str()),
                ("lcore", workers[i].1.as_str()),
            ]
        };
        family(
            &mut enc,
            "upf_worker_rx_packets",
            "Packets received per worker",
            Counter,
            m.workers
                .iter()
                .enumerate()
                .map(|(i, w)| (wl(i), w.rx_packets)),
        )?;
        family(
            &mut enc,
            "upf_worker_tx_packets",
            "Packets transmitted per worker",
            Counter,
            m.workers
                .iter()
                .enumerate()
                .map(|(i, w)| (wl(i), w.tx_packets)),
        )?;
        family(
            &mut enc,
            "upf_worker_polls",
            "Receive polls per worker; kind=busy returned packets, kind=idle returned none",
            Counter,
            m.workers.iter().enumerate().flat_map(|(i, w)| {
                let mut busy = wl(i);
                busy.push(("kind", "busy"));
                let mut idle = wl(i);
                idle.push(("kind", "idle"));
                [(busy, w.busy_polls), (idle, w.idle_polls)]
            }),
        )?;
        Ok(())
    }
}

impl Collector for ModelCollector {
    fn encode(&self, encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let m = self.telemetry.snapshot();
        self.encode_model(&m, encoder)
    }
}

/// A registry whose only collector reads `telemetry` at each scrape.
#[must_use]
pub fn registry(telemetry: Telemetry) -> Registry {
    let mut r = Registry::default();
    r.register_collector(Box::new(ModelCollector { telemetry }));
    r
}

/// Which exposition format a scraper asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4 (the default).
    PrometheusText,
    /// OpenMetrics 1.0 text, when the `Accept` header asks for it.
    OpenMetrics,
}

impl Format {
    #[must_use]
    pub fn from_accept(accept: Option<&str>) -> Self {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Self::OpenMetrics,
            _ => Self::PrometheusText,
        }
    }

    #[must_use]
    pub const fn content_type(self) -> &'static str {
        match self {
            Self::PrometheusText => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// Renders the registry in `format`.
///
/// # Errors
/// Only if an encoder fails, which writing to a `String` does not.
pub fn render(registry: &Registry, format: Format) -> Result<String, std::fmt::Error> {
    let mut out = String::new();
    match format {
        Format::PrometheusText => {
            prometheus_client::encoding::prometheus_text::encode(&mut out, registry)?;
        }
        Format::OpenMetrics => prometheus_client::encoding::text::encode(&mut out, registry)?,
    }
    Ok(out)
}
