//! Typical messages as 5G SMFs and UPFs exchange them, built with the codec:
//! used by the SMF simulator, the benchmarks, the dissector cross-checks
//! and as fuzz seeds. Not used by the node itself.

use std::net::Ipv4Addr;

use crate::codec::SmallVec;
use crate::codec::grouped::{
    CreateFar, CreatePdr, CreateQer, CreateUrr, CreatedPdr, ForwardingParameters, Pdi, QueryUrr,
    UpdateFar, UpdateForwardingParameters, UpdateUrr, UsageReport,
};
#[allow(clippy::wildcard_imports)]
use crate::codec::ies::*;
use crate::codec::message::*;

/// Parameters of a typical PDU session set up by an SMF.
#[derive(Debug, Clone, Copy)]
pub struct SessionParams {
    /// The SMF's SEID (in the CP F-SEID).
    pub cp_seid: u64,
    pub smf_addr: Ipv4Addr,
    /// UE IPv4 address; `None` asks the UPF to choose (CHV4).
    pub ue_ip: Option<Ipv4Addr>,
    /// Uplink F-TEID on the UPF; `None` asks the UPF to choose (CH, CHID 1).
    pub ul_teid: Option<(u32, Ipv4Addr)>,
    /// Downlink tunnel to the gNB (TEID, address); `None` buffers (BUFF).
    pub gnb: Option<(u32, Ipv4Addr)>,
}

const NI_ACCESS: &[u8] = b"access";
const NI_INTERNET: &[u8] = b"internet";
const FILTER_ANY: &[u8] = b"permit out ip from any to assigned";
const FILTER_VOICE: &[u8] = b"permit out 17 from 10.1.0.0/16 5000-5100 to assigned";

fn ue_ip(p: &SessionParams, destination: bool) -> UeIpAddress {
    UeIpAddress {
        ipv4: p.ue_ip,
        is_destination: destination,
        choose_v4: p.ue_ip.is_none(),
        ..UeIpAddress::default()
    }
}

fn ul_pdr(
    p: &SessionParams,
    id: u16,
    precedence: u32,
    filter: &'static [u8],
    qfi: u8,
    qer: u32,
) -> CreatePdr<'static> {
    let f_teid = match p.ul_teid {
        Some((teid, addr)) => FTeid::Assigned {
            teid,
            ipv4: Some(addr),
            ipv6: None,
        },
        None => FTeid::Choose {
            v4: true,
            v6: false,
            choose_id: Some(1),
        },
    };
    CreatePdr {
        pdr_id: id,
        precedence,
        pdi: Pdi {
            source_interface: SourceInterface::ACCESS,
            local_f_teid: Some(f_teid),
            network_instance: Some(Name(NI_ACCESS)),
            ue_ip_address: SmallVec::from_elem(ue_ip(p, false), 1),
            traffic_endpoint_id: false,
            sdf_filters: SmallVec::from_elem(
                SdfFilter {
                    flow_description: Some(filter),
                    ..SdfFilter::default()
                },
                1,
            ),
            application_id: None,
            ethernet_pdu_session_information: false,
            ethernet_packet_filter: false,
            qfis: SmallVec::from_elem(Qfi(qfi), 1),
            framed_route: false,
            framed_routing: false,
            framed_ipv6_route: false,
            source_interface_type: None,
        },
        outer_header_removal: Some(OuterHeaderRemoval {
            description: OuterHeaderRemoval::GTPU_UDP_IPV4,
            ext_header_deletion: Some(1),
        }),
        far_id: Some(1),
        urr_ids: SmallVec::from_elem(1, 1),
        qer_ids: SmallVec::from_elem(qer, 1),
        activate_predefined_rules: false,
        activation_time: false,
        deactivation_time: false,
        ue_ip_address_pool_identity: None,
    }
}

fn dl_pdr(
    p: &SessionParams,
    id: u16,
    precedence: u32,
    filter: &'static [u8],
    qer: u32,
) -> CreatePdr<'static> {
    CreatePdr {
        pdr_id: id,
        precedence,
        pdi: Pdi {
            source_interface: SourceInterface::CORE,
            local_f_teid: None,
            network_instance: Some(Name(NI_INTERNET)),
            ue_ip_address: SmallVec::from_elem(ue_ip(p, true), 1),
            traffic_endpoint_id: false,
            sdf_filters: SmallVec::from_elem(
                SdfFilter {
                    flow_description: Some(filter),
                    ..SdfFilter::default()
                },
                1,
            ),
            application_id: None,
            ethernet_pdu_session_information: false,
            ethernet_packet_filter: false,
            qfis: SmallVec::new(),
            framed_route: false,
            framed_routing: false,
            framed_ipv6_route: false,
            source_interface_type: None,
        },
        outer_header_removal: None,
        far_id: Some(2),
        urr_ids: SmallVec::from_elem(1, 1),
        qer_ids: SmallVec::from_elem(qer, 1),
        activate_predefined_rules: false,
        activation_time: false,
        deactivation_time: false,
        ue_ip_address_pool_identity: None,
    }
}

fn forwarding(
    dest: DestinationInterface,
    ni: &'static [u8],
    ohc: Option<OuterHeaderCreation>,
) -> ForwardingParameters<'static> {
    ForwardingParameters {
        destination_interface: dest,
        network_instance: Some(Name(ni)),
        redirect_information: false,
        outer_header_creation: ohc,
        transport_level_marking: None,
        forwarding_policy: false,
        header_enrichment: false,
        linked_traffic_endpoint_id: false,
        destination_interface_type: None,
    }
}

fn qer(id: u32, qfi: u8, mbr: Option<Bitrate>, gbr: Option<Bitrate>) -> CreateQer {
    CreateQer {
        qer_id: id,
        qer_correlation_id: None,
        gate_status: GateStatus::default(),
        mbr,
        gbr,
        packet_rate: false,
        dl_flow_level_marking: false,
        qfi: Some(Qfi(qfi)),
        rqi: None,
        paging_policy_indicator: None,
        averaging_window: None,
    }
}

/// A usage-reporting rule: volume and duration, periodic and threshold.
#[must_use]
pub fn urr(id: u32, period_s: Option<u32>, volume_threshold: Option<u64>) -> CreateUrr {
    let mut triggers = ReportingTriggers::empty();
    if period_s.is_some() {
        triggers.insert(ReportingTriggers::PERIO);
    }
    if volume_threshold.is_some() {
        triggers.insert(ReportingTriggers::VOLTH);
    }
    CreateUrr {
        urr_id: id,
        measurement_method: MeasurementMethod::VOLUM | MeasurementMethod::DURAT,
        reporting_triggers: triggers,
        measurement_period: period_s,
        volume_threshold: volume_threshold.map(|v| Volume {
            total: Some(v),
            ul: None,
            dl: None,
        }),
        volume_quota: None,
        time_threshold: None,
        time_quota: None,
        quota_holding_time: None,
        dropped_dl_traffic_threshold: false,
        monitoring_time: None,
        subsequent_volume_threshold: None,
        subsequent_time_threshold: None,
        subsequent_volume_quota: None,
        subsequent_time_quota: None,
        inactivity_detection_time: None,
        linked_urr_ids: SmallVec::new(),
        measurement_information: None,
        far_id_for_quota_action: None,
    }
}

/// An Update URR that only provides a new volume quota (the usual
/// answer to a VOLQU report).
#[must_use]
pub fn quota_update(urr_id: u32, total_bytes: u64) -> UpdateUrr {
    UpdateUrr {
        urr_id,
        measurement_method: None,
        reporting_triggers: None,
        measurement_period: None,
        volume_threshold: None,
        volume_quota: Some(Volume {
            total: Some(total_bytes),
            ul: None,
            dl: None,
        }),
        time_threshold: None,
        time_quota: None,
        quota_holding_time: None,
        dropped_dl_traffic_threshold: false,
        monitoring_time: None,
        subsequent_volume_threshold: None,
        subsequent_time_threshold: None,
        subsequent_volume_quota: None,
        subsequent_time_quota: None,
        inactivity_detection_time: None,
        linked_urr_ids: SmallVec::new(),
        measurement_information: None,
        far_id_for_quota_action: None,
    }
}

/// Association Setup Request from an SMF.
#[must_use]
pub fn association_setup_request(seq: u32, smf: Ipv4Addr, recovery: u32) -> Pfcp<'static> {
    Pfcp::node(
        seq,
        AssociationSetupRequest {
            node_id: NodeId::Ipv4(smf),
            recovery_time_stamp: recovery,
            up_function_features: None,
            cp_function_features: Some(CpFunctionFeatures::LOAD | CpFunctionFeatures::OVRL),
            user_plane_ip_resource_information: Vec::new(),
        },
    )
}

/// A Session Establishment Request as a 5G SMF sends it for an IPv4 PDU
/// session with two QoS flows: 4 PDRs (UL/DL × default/voice, with SDF
/// filters and QFIs), 2 FARs, 2 QERs, 1 URR.
#[must_use]
pub fn establishment_request(seq: u32, p: &SessionParams) -> Pfcp<'static> {
    let dl_ohc = p
        .gnb
        .map(|(teid, addr)| OuterHeaderCreation::gtpu_v4(teid, addr));
    let dl_action = if p.gnb.is_some() {
        ApplyAction::FORW
    } else {
        ApplyAction::BUFF | ApplyAction::NOCP
    };
    Pfcp::session(
        0,
        seq,
        SessionEstablishmentRequest {
            node_id: NodeId::Ipv4(p.smf_addr),
            cp_f_seid: FSeid {
                seid: p.cp_seid,
                ipv4: Some(p.smf_addr),
                ipv6: None,
            },
            create_pdr: vec![
                ul_pdr(p, 1, 255, FILTER_ANY, 9, 1),
                dl_pdr(p, 2, 255, FILTER_ANY, 1),
                ul_pdr(p, 3, 100, FILTER_VOICE, 5, 2),
                dl_pdr(p, 4, 100, FILTER_VOICE, 2),
            ],
            create_far: vec![
                CreateFar {
                    far_id: 1,
                    apply_action: ApplyAction::FORW,
                    forwarding_parameters: Some(forwarding(
                        DestinationInterface::CORE,
                        NI_INTERNET,
                        None,
                    )),
                    duplicating_parameters: false,
                    bar_id: None,
                },
                CreateFar {
                    far_id: 2,
                    apply_action: dl_action,
                    forwarding_parameters: dl_ohc
                        .map(|o| forwarding(DestinationInterface::ACCESS, NI_ACCESS, Some(o))),
                    duplicating_parameters: false,
                    bar_id: None,
                },
            ],
            create_urr: vec![urr(1, Some(60), Some(100_000_000))],
            create_qer: vec![
                qer(
                    1,
                    9,
                    Some(Bitrate {
                        ul_kbps: 50_000,
                        dl_kbps: 100_000,
                    }),
                    None,
                ),
                qer(
                    2,
                    5,
                    Some(Bitrate {
                        ul_kbps: 128,
                        dl_kbps: 128,
                    }),
                    Some(Bitrate {
                        ul_kbps: 64,
                        dl_kbps: 64,
                    }),
                ),
            ],
            create_bar: None,
            create_traffic_endpoint: false,
            pdn_type: Some(1),
            fq_csids: Vec::new(),
            user_plane_inactivity_timer: None,
            user_id: None,
            apn_dnn: Some(Name(b"\x08internet")),
            create_mar: false,
            pfcpsereq_flags: None,
            group_id: None,
            cp_ip_address: None,
        },
    )
}

/// A minimal PDU session, the shape of the 1,000,000-session benchmark:
/// an uplink and a downlink PDR (no SDF filter), a FAR each way, one QER
/// and one URR (volume, no trigger).
#[must_use]
pub fn simple_establishment_request(seq: u32, p: &SessionParams) -> Pfcp<'static> {
    let mut m = establishment_request(seq, p);
    if let Message::SessionEstablishmentRequest(r) = &mut m.message {
        r.create_pdr.truncate(2);
        for pdr in &mut r.create_pdr {
            pdr.pdi.sdf_filters.clear();
            pdr.qer_ids = SmallVec::from_elem(1, 1);
        }
        r.create_qer.truncate(1);
        r.create_urr = vec![urr(1, None, None)];
    }
    m
}

/// The UPF's answer to [`establishment_request`] with CHOOSE.
#[must_use]
pub fn establishment_response(
    seq: u32,
    cp_seid: u64,
    upf: Ipv4Addr,
    up_seid: u64,
    teid: u32,
    ue: Ipv4Addr,
) -> Pfcp<'static> {
    let created = |pdr_id, f_teid, ue_dst: bool| CreatedPdr {
        pdr_id,
        local_f_teid: f_teid,
        ue_ip_address: Some(UeIpAddress {
            ipv4: Some(ue),
            is_destination: ue_dst,
            ..UeIpAddress::default()
        }),
    };
    let f_teid = Some(FTeid::Assigned {
        teid,
        ipv4: Some(upf),
        ipv6: None,
    });
    Pfcp::session(
        cp_seid,
        seq,
        SessionEstablishmentResponse {
            node_id: Some(NodeId::Ipv4(upf)),
            cause: Cause::REQUEST_ACCEPTED,
            offending_ie: None,
            up_f_seid: Some(FSeid {
                seid: up_seid,
                ipv4: Some(upf),
                ipv6: None,
            }),
            created_pdr: vec![
                created(1, f_teid, false),
                created(2, None, true),
                created(3, f_teid, false),
                created(4, None, true),
            ],
            up_fq_csid: None,
            failed_rule_id: None,
        },
    )
}

/// Path switch (handover): the downlink FAR now forwards to a new gNB
/// tunnel; with `end_marker`, SNDEM asks for End Markers on the old path.
#[must_use]
pub fn path_switch_request(
    seq: u32,
    up_seid: u64,
    gnb_teid: u32,
    gnb: Ipv4Addr,
    end_marker: bool,
) -> Pfcp<'static> {
    Pfcp::session(
        up_seid,
        seq,
        SessionModificationRequest {
            update_far: vec![UpdateFar {
                far_id: 2,
                apply_action: Some(ApplyAction::FORW),
                update_forwarding_parameters: Some(UpdateForwardingParameters {
                    destination_interface: Some(DestinationInterface::ACCESS),
                    network_instance: Some(Name(NI_ACCESS)),
                    redirect_information: false,
                    outer_header_creation: Some(OuterHeaderCreation::gtpu_v4(gnb_teid, gnb)),
                    transport_level_marking: None,
                    forwarding_policy: false,
                    header_enrichment: false,
                    pfcpsmreq_flags: end_marker.then_some(PfcpsmReqFlags::SNDEM),
                    linked_traffic_endpoint_id: false,
                    destination_interface_type: None,
                }),
                bar_id: None,
            }],
            ..empty_modification()
        },
    )
}

/// A modification that only queries URRs.
#[must_use]
pub fn query_urr_request(seq: u32, up_seid: u64, urr_ids: &[u32]) -> Pfcp<'static> {
    Pfcp::session(
        up_seid,
        seq,
        SessionModificationRequest {
            query_urr: urr_ids.iter().map(|&urr_id| QueryUrr { urr_id }).collect(),
            ..empty_modification()
        },
    )
}

/// A Session Modification Request that changes nothing (fill in fields).
#[must_use]
pub fn empty_modification() -> SessionModificationRequest<'static> {
    SessionModificationRequest {
        cp_f_seid: None,
        remove_pdr: Vec::new(),
        remove_far: Vec::new(),
        remove_urr: Vec::new(),
        remove_qer: Vec::new(),
        remove_bar: None,
        remove_traffic_endpoint: false,
        create_pdr: Vec::new(),
        create_far: Vec::new(),
        create_urr: Vec::new(),
        create_qer: Vec::new(),
        create_bar: None,
        create_traffic_endpoint: false,
        update_pdr: Vec::new(),
        update_far: Vec::new(),
        update_urr: Vec::new(),
        update_qer: Vec::new(),
        update_bar: None,
        update_traffic_endpoint: false,
        fq_csids: Vec::new(),
        pfcpsmreq_flags: None,
        query_urr: Vec::new(),
        user_plane_inactivity_timer: None,
        query_urr_reference: None,
        remove_mar: false,
        update_mar: false,
        create_mar: false,
        node_id: None,
        group_id: None,
        cp_ip_address: None,
    }
}

/// Session Deletion Request.
#[must_use]
pub fn deletion_request(seq: u32, up_seid: u64) -> Pfcp<'static> {
    Pfcp::session(up_seid, seq, SessionDeletionRequest {})
}

/// A usage report as the UPF sends it.
#[must_use]
pub fn usage_report(
    urr_id: u32,
    seqn: u32,
    trigger: UsageReportTrigger,
    ul: u64,
    dl: u64,
) -> UsageReport<'static> {
    UsageReport {
        urr_id,
        ur_seqn: seqn,
        usage_report_trigger: trigger,
        start_time: Some(3_900_000_000),
        end_time: Some(3_900_000_060),
        volume_measurement: Some(VolumeMeasurement {
            total: Some(ul + dl),
            ul: Some(ul),
            dl: Some(dl),
            ..VolumeMeasurement::default()
        }),
        duration_measurement: Some(60),
        ue_ip_address: None,
        network_instance: None,
        time_of_first_packet: None,
        time_of_last_packet: None,
        usage_information: None,
        query_urr_reference: None,
    }
}

/// Session Report Request with a periodic usage report.
#[must_use]
pub fn report_request(seq: u32, cp_seid: u64) -> Pfcp<'static> {
    Pfcp::session(
        cp_seid,
        seq,
        SessionReportRequest {
            report_type: ReportType::USAR,
            downlink_data_report: None,
            usage_report: vec![usage_report(
                1,
                0,
                UsageReportTrigger::PERIO,
                1_000_000,
                9_000_000,
            )],
            error_indication_report: None,
            pfcpsrreq_flags: None,
            old_cp_f_seid: None,
        },
    )
}
