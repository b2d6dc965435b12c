//! Grouped IEs (TS 29.244 §7.5): the rules an SMF creates, updates and
//! removes, and what the UPF reports back. Field order is the order of the
//! spec's tables, which is the order we encode in. IEs we do not implement
//! but must notice (to answer "Service not supported") are presence flags.

use crate::codec::ie_type as t;
#[allow(clippy::wildcard_imports)]
use crate::codec::ies::*;
use crate::codec::{Present, ies_struct};

ies_struct! {
    /// PDI (Table 7.5.2.2-2): what a PDR matches.
    pub struct Pdi<'a> {
        source_interface: M[SourceInterface] = t::SOURCE_INTERFACE,
        local_f_teid: O[FTeid] = t::F_TEID,
        network_instance: O[Name<'a>] = t::NETWORK_INSTANCE,
        ue_ip_address: S1[UeIpAddress] = t::UE_IP_ADDRESS,
        /// Traffic Endpoint ID (PDI optimisation): not supported.
        traffic_endpoint_id: P[Present] = t::TRAFFIC_ENDPOINT_ID,
        sdf_filters: S1[SdfFilter<'a>] = t::SDF_FILTER,
        application_id: O[&'a [u8]] = t::APPLICATION_ID,
        /// Ethernet PDU session: not supported.
        ethernet_pdu_session_information: P[Present] = t::ETHERNET_PDU_SESSION_INFORMATION,
        /// Ethernet Packet Filter: not supported.
        ethernet_packet_filter: P[Present] = t::ETHERNET_PACKET_FILTER,
        qfis: S[Qfi] = t::QFI,
        /// Framed-Route / Framed-Routing / Framed-IPv6-Route: not supported.
        framed_route: P[Present] = t::FRAMED_ROUTE,
        framed_routing: P[Present] = t::FRAMED_ROUTING,
        framed_ipv6_route: P[Present] = t::FRAMED_IPV6_ROUTE,
        /// Source Interface Type (3GPP Interface Type: N3, N9, ...).
        source_interface_type: O[u8] = t::TGPP_INTERFACE_TYPE,
    }
}

ies_struct! {
    /// Create PDR (Table 7.5.2.2-1).
    pub struct CreatePdr<'a> {
        pdr_id: M[u16] = t::PDR_ID,
        precedence: M[u32] = t::PRECEDENCE,
        pdi: M[Pdi<'a>] = t::PDI,
        outer_header_removal: O[OuterHeaderRemoval] = t::OUTER_HEADER_REMOVAL,
        far_id: O[u32] = t::FAR_ID,
        urr_ids: S[u32] = t::URR_ID,
        qer_ids: S[u32] = t::QER_ID,
        /// Activate Predefined Rules: not supported.
        activate_predefined_rules: P[Present] = t::ACTIVATE_PREDEFINED_RULES,
        /// Activation / Deactivation Time: not supported.
        activation_time: P[Present] = t::ACTIVATION_TIME,
        deactivation_time: P[Present] = t::DEACTIVATION_TIME,
        ue_ip_address_pool_identity: O[&'a [u8]] = t::UE_IP_ADDRESS_POOL_IDENTITY,
    }
}

ies_struct! {
    /// Forwarding Parameters (Table 7.5.2.3-2).
    pub struct ForwardingParameters<'a> {
        destination_interface: M[DestinationInterface] = t::DESTINATION_INTERFACE,
        network_instance: O[Name<'a>] = t::NETWORK_INSTANCE,
        /// Redirect Information: not supported.
        redirect_information: P[Present] = t::REDIRECT_INFORMATION,
        outer_header_creation: O[OuterHeaderCreation] = t::OUTER_HEADER_CREATION,
        transport_level_marking: O[u16] = t::TRANSPORT_LEVEL_MARKING,
        /// Forwarding Policy / Header Enrichment / Linked Traffic Endpoint ID:
        /// not supported.
        forwarding_policy: P[Present] = t::FORWARDING_POLICY,
        header_enrichment: P[Present] = t::HEADER_ENRICHMENT,
        linked_traffic_endpoint_id: P[Present] = t::TRAFFIC_ENDPOINT_ID,
        destination_interface_type: O[u8] = t::TGPP_INTERFACE_TYPE,
    }
}

ies_struct! {
    /// Create FAR (Table 7.5.2.3-1).
    pub struct CreateFar<'a> {
        far_id: M[u32] = t::FAR_ID,
        apply_action: M[ApplyAction] = t::APPLY_ACTION,
        forwarding_parameters: O[ForwardingParameters<'a>] = t::FORWARDING_PARAMETERS,
        /// Duplicating Parameters (lawful interception): not supported.
        duplicating_parameters: P[Present] = t::DUPLICATING_PARAMETERS,
        bar_id: O[u8] = t::BAR_ID,
    }
}

ies_struct! {
    /// Create URR (Table 7.5.2.4-1).
    pub struct CreateUrr {
        urr_id: M[u32] = t::URR_ID,
        measurement_method: M[MeasurementMethod] = t::MEASUREMENT_METHOD,
        reporting_triggers: M[ReportingTriggers] = t::REPORTING_TRIGGERS,
        measurement_period: O[u32] = t::MEASUREMENT_PERIOD,
        volume_threshold: O[Volume] = t::VOLUME_THRESHOLD,
        volume_quota: O[Volume] = t::VOLUME_QUOTA,
        time_threshold: O[u32] = t::TIME_THRESHOLD,
        time_quota: O[u32] = t::TIME_QUOTA,
        quota_holding_time: O[u32] = t::QUOTA_HOLDING_TIME,
        dropped_dl_traffic_threshold: P[Present] = t::DROPPED_DL_TRAFFIC_THRESHOLD,
        monitoring_time: O[u32] = t::MONITORING_TIME,
        subsequent_volume_threshold: O[Volume] = t::SUBSEQUENT_VOLUME_THRESHOLD,
        subsequent_time_threshold: O[u32] = t::SUBSEQUENT_TIME_THRESHOLD,
        subsequent_volume_quota: O[Volume] = t::SUBSEQUENT_VOLUME_QUOTA,
        subsequent_time_quota: O[u32] = t::SUBSEQUENT_TIME_QUOTA,
        inactivity_detection_time: O[u32] = t::INACTIVITY_DETECTION_TIME,
        linked_urr_ids: S[u32] = t::LINKED_URR_ID,
        measurement_information: O[MeasurementInformation] = t::MEASUREMENT_INFORMATION,
        far_id_for_quota_action: O[u32] = t::FAR_ID,
    }
}

ies_struct! {
    /// Create QER (Table 7.5.2.5-1).
    pub struct CreateQer {
        qer_id: M[u32] = t::QER_ID,
        qer_correlation_id: O[u32] = t::QER_CORRELATION_ID,
        gate_status: M[GateStatus] = t::GATE_STATUS,
        mbr: O[Bitrate] = t::MBR,
        gbr: O[Bitrate] = t::GBR,
        /// Packet Rate / DL Flow Level Marking: not supported.
        packet_rate: P[Present] = t::PACKET_RATE,
        dl_flow_level_marking: P[Present] = t::DL_FLOW_LEVEL_MARKING,
        qfi: O[Qfi] = t::QFI,
        rqi: O[Rqi] = t::RQI,
        paging_policy_indicator: O[u8] = t::PAGING_POLICY_INDICATOR,
        averaging_window: O[u32] = t::AVERAGING_WINDOW,
    }
}

ies_struct! {
    /// Create BAR (Table 7.5.2.6-1).
    pub struct CreateBar {
        bar_id: M[u8] = t::BAR_ID,
        downlink_data_notification_delay: O[u8] = t::DOWNLINK_DATA_NOTIFICATION_DELAY,
        suggested_buffering_packets_count: O[u8] = t::SUGGESTED_BUFFERING_PACKETS_COUNT,
    }
}

ies_struct! {
    /// Created PDR (Table 7.5.3.2-1): what the UP function allocated.
    pub struct CreatedPdr {
        pdr_id: M[u16] = t::PDR_ID,
        local_f_teid: O[FTeid] = t::F_TEID,
        ue_ip_address: O[UeIpAddress] = t::UE_IP_ADDRESS,
    }
}

ies_struct! {
    /// Update PDR (Table 7.5.4.2-1). Present fields replace; a present PDI
    /// replaces the whole PDI; present URR/QER IDs replace the lists.
    pub struct UpdatePdr<'a> {
        pdr_id: M[u16] = t::PDR_ID,
        outer_header_removal: O[OuterHeaderRemoval] = t::OUTER_HEADER_REMOVAL,
        precedence: O[u32] = t::PRECEDENCE,
        pdi: O[Pdi<'a>] = t::PDI,
        far_id: O[u32] = t::FAR_ID,
        urr_ids: S[u32] = t::URR_ID,
        qer_ids: S[u32] = t::QER_ID,
        activate_predefined_rules: P[Present] = t::ACTIVATE_PREDEFINED_RULES,
        deactivate_predefined_rules: P[Present] = t::DEACTIVATE_PREDEFINED_RULES,
        activation_time: P[Present] = t::ACTIVATION_TIME,
        deactivation_time: P[Present] = t::DEACTIVATION_TIME,
    }
}

ies_struct! {
    /// Update Forwarding Parameters (Table 7.5.4.3-2): every child is
    /// conditional, so a zero-length IE is valid (and changes nothing).
    pub struct UpdateForwardingParameters<'a> {
        destination_interface: O[DestinationInterface] = t::DESTINATION_INTERFACE,
        network_instance: O[Name<'a>] = t::NETWORK_INSTANCE,
        redirect_information: P[Present] = t::REDIRECT_INFORMATION,
        outer_header_creation: O[OuterHeaderCreation] = t::OUTER_HEADER_CREATION,
        transport_level_marking: O[u16] = t::TRANSPORT_LEVEL_MARKING,
        forwarding_policy: P[Present] = t::FORWARDING_POLICY,
        header_enrichment: P[Present] = t::HEADER_ENRICHMENT,
        /// PFCPSMReq-Flags: SNDEM asks for End Marker packets on the old path.
        pfcpsmreq_flags: O[PfcpsmReqFlags] = t::PFCPSMREQ_FLAGS,
        linked_traffic_endpoint_id: P[Present] = t::TRAFFIC_ENDPOINT_ID,
        destination_interface_type: O[u8] = t::TGPP_INTERFACE_TYPE,
    }
}

ies_struct! {
    /// Update FAR (Table 7.5.4.3-1).
    pub struct UpdateFar<'a> {
        far_id: M[u32] = t::FAR_ID,
        apply_action: O[ApplyAction] = t::APPLY_ACTION,
        update_forwarding_parameters: O[UpdateForwardingParameters<'a>] = t::UPDATE_FORWARDING_PARAMETERS,
        bar_id: O[u8] = t::BAR_ID,
    }
}

ies_struct! {
    /// Update URR (Table 7.5.4.4-1).
    pub struct UpdateUrr {
        urr_id: M[u32] = t::URR_ID,
        measurement_method: O[MeasurementMethod] = t::MEASUREMENT_METHOD,
        reporting_triggers: O[ReportingTriggers] = t::REPORTING_TRIGGERS,
        measurement_period: O[u32] = t::MEASUREMENT_PERIOD,
        volume_threshold: O[Volume] = t::VOLUME_THRESHOLD,
        volume_quota: O[Volume] = t::VOLUME_QUOTA,
        time_threshold: O[u32] = t::TIME_THRESHOLD,
        time_quota: O[u32] = t::TIME_QUOTA,
        quota_holding_time: O[u32] = t::QUOTA_HOLDING_TIME,
        dropped_dl_traffic_threshold: P[Present] = t::DROPPED_DL_TRAFFIC_THRESHOLD,
        monitoring_time: O[u32] = t::MONITORING_TIME,
        subsequent_volume_threshold: O[Volume] = t::SUBSEQUENT_VOLUME_THRESHOLD,
        subsequent_time_threshold: O[u32] = t::SUBSEQUENT_TIME_THRESHOLD,
        subsequent_volume_quota: O[Volume] = t::SUBSEQUENT_VOLUME_QUOTA,
        subsequent_time_quota: O[u32] = t::SUBSEQUENT_TIME_QUOTA,
        inactivity_detection_time: O[u32] = t::INACTIVITY_DETECTION_TIME,
        linked_urr_ids: S[u32] = t::LINKED_URR_ID,
        measurement_information: O[MeasurementInformation] = t::MEASUREMENT_INFORMATION,
        far_id_for_quota_action: O[u32] = t::FAR_ID,
    }
}

ies_struct! {
    /// Update QER (Table 7.5.4.5-1).
    pub struct UpdateQer {
        qer_id: M[u32] = t::QER_ID,
        qer_correlation_id: O[u32] = t::QER_CORRELATION_ID,
        gate_status: O[GateStatus] = t::GATE_STATUS,
        mbr: O[Bitrate] = t::MBR,
        gbr: O[Bitrate] = t::GBR,
        packet_rate: P[Present] = t::PACKET_RATE,
        dl_flow_level_marking: P[Present] = t::DL_FLOW_LEVEL_MARKING,
        qfi: O[Qfi] = t::QFI,
        rqi: O[Rqi] = t::RQI,
        paging_policy_indicator: O[u8] = t::PAGING_POLICY_INDICATOR,
        averaging_window: O[u32] = t::AVERAGING_WINDOW,
    }
}

ies_struct! {
    /// Update BAR, both kinds: in the Session Modification Request (type
    /// 86, Table 7.5.4.11-1) and the Session Report Response (type 12,
    /// Table 7.5.9.2-1; the DL buffering fields occur only there).
    pub struct UpdateBar {
        bar_id: M[u8] = t::BAR_ID,
        downlink_data_notification_delay: O[u8] = t::DOWNLINK_DATA_NOTIFICATION_DELAY,
        dl_buffering_duration: O[u8] = t::DL_BUFFERING_DURATION,
        dl_buffering_suggested_packet_count: O[PacketCount] = t::DL_BUFFERING_SUGGESTED_PACKET_COUNT,
        suggested_buffering_packets_count: O[u8] = t::SUGGESTED_BUFFERING_PACKETS_COUNT,
    }
}

ies_struct! {
    /// Remove PDR (Table 7.5.4.6-1).
    pub struct RemovePdr { pdr_id: M[u16] = t::PDR_ID }
}
ies_struct! {
    /// Remove FAR (Table 7.5.4.7-1).
    pub struct RemoveFar { far_id: M[u32] = t::FAR_ID }
}
ies_struct! {
    /// Remove URR (Table 7.5.4.8-1).
    pub struct RemoveUrr { urr_id: M[u32] = t::URR_ID }
}
ies_struct! {
    /// Remove QER (Table 7.5.4.9-1).
    pub struct RemoveQer { qer_id: M[u32] = t::QER_ID }
}
ies_struct! {
    /// Remove BAR (Table 7.5.4.12-1).
    pub struct RemoveBar { bar_id: M[u8] = t::BAR_ID }
}
ies_struct! {
    /// Query URR (Table 7.5.4.10-1).
    pub struct QueryUrr { urr_id: M[u32] = t::URR_ID }
}

ies_struct! {
    /// Usage Report (Tables 7.5.5.2-1, 7.5.7.2-1, 7.5.8.3-1): one layout,
    /// IE type 78, 79 or 80 depending on the message that carries it.
    pub struct UsageReport<'a> {
        urr_id: M[u32] = t::URR_ID,
        ur_seqn: M[u32] = t::UR_SEQN,
        usage_report_trigger: M[UsageReportTrigger] = t::USAGE_REPORT_TRIGGER,
        /// NTP seconds.
        start_time: O[u32] = t::START_TIME,
        end_time: O[u32] = t::END_TIME,
        volume_measurement: O[VolumeMeasurement] = t::VOLUME_MEASUREMENT,
        /// Seconds.
        duration_measurement: O[u32] = t::DURATION_MEASUREMENT,
        ue_ip_address: O[UeIpAddress] = t::UE_IP_ADDRESS,
        network_instance: O[Name<'a>] = t::NETWORK_INSTANCE,
        time_of_first_packet: O[u32] = t::TIME_OF_FIRST_PACKET,
        time_of_last_packet: O[u32] = t::TIME_OF_LAST_PACKET,
        usage_information: O[UsageInformation] = t::USAGE_INFORMATION,
        query_urr_reference: O[u32] = t::QUERY_URR_REFERENCE,
    }
}

ies_struct! {
    /// Downlink Data Report (Table 7.5.8.2-1).
    pub struct DownlinkDataReport {
        pdr_ids: S[u16] = t::PDR_ID,
        downlink_data_service_information: S[DownlinkDataServiceInformation] = t::DOWNLINK_DATA_SERVICE_INFORMATION,
    }
}

ies_struct! {
    /// Error Indication Report (Table 7.5.8.4-1): the remote F-TEIDs that
    /// answered with a GTP-U Error Indication.
    pub struct ErrorIndicationReport {
        remote_f_teids: V[FTeid] = t::F_TEID,
    }
}

ies_struct! {
    /// User Plane Path Failure / Recovery Report (Tables 7.4.5.1.2-1, 7.4.5.1.3-1).
    pub struct UserPlanePathReport<'a> {
        remote_gtpu_peers: V[RemoteGtpuPeer<'a>] = t::REMOTE_GTP_U_PEER,
    }
}

ies_struct! {
    /// PFD context (Table 7.4.3.1-3): the PFDs of one application.
    pub struct PfdContext<'a> {
        pfd_contents: L[PfdContents<'a>] = t::PFD_CONTENTS,
    }
}

ies_struct! {
    /// Application ID's PFDs (Table 7.4.3.1-2): an application and all its
    /// PFDs; without a PFD context, the application's PFDs are removed.
    pub struct ApplicationIdsPfds<'a> {
        application_id: M[&'a [u8]] = t::APPLICATION_ID,
        pfd_contexts: V[PfdContext<'a>] = t::PFD_CONTEXT,
    }
}
