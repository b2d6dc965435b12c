//! PFCP messages (TS 29.244 §7.2-7.5): the header (version, FO/MP/S
//! flags, length, SEID, sequence number, message priority) and the body of
//! every node and session message the UPF exchanges with an SMF.

use crate::codec::grouped::{
    ApplicationIdsPfds, CreateBar, CreateFar, CreatePdr, CreateQer, CreateUrr, CreatedPdr,
    DownlinkDataReport, ErrorIndicationReport, QueryUrr, RemoveBar, RemoveFar, RemovePdr,
    RemoveQer, RemoveUrr, UpdateBar, UpdateFar, UpdatePdr, UpdateQer, UpdateUrr, UsageReport,
    UserPlanePathReport,
};
use crate::codec::ie_type as t;
#[allow(clippy::wildcard_imports)]
use crate::codec::ies::*;
use crate::codec::{DecodeError, EncodeError, ErrorKind, IeValue, Present, ies_struct};

/// Message type numbers (Table 7.3-1).
pub mod msg_type {
    pub const HEARTBEAT_REQUEST: u8 = 1;
    pub const HEARTBEAT_RESPONSE: u8 = 2;
    pub const PFD_MANAGEMENT_REQUEST: u8 = 3;
    pub const PFD_MANAGEMENT_RESPONSE: u8 = 4;
    pub const ASSOCIATION_SETUP_REQUEST: u8 = 5;
    pub const ASSOCIATION_SETUP_RESPONSE: u8 = 6;
    pub const ASSOCIATION_UPDATE_REQUEST: u8 = 7;
    pub const ASSOCIATION_UPDATE_RESPONSE: u8 = 8;
    pub const ASSOCIATION_RELEASE_REQUEST: u8 = 9;
    pub const ASSOCIATION_RELEASE_RESPONSE: u8 = 10;
    pub const VERSION_NOT_SUPPORTED_RESPONSE: u8 = 11;
    pub const NODE_REPORT_REQUEST: u8 = 12;
    pub const NODE_REPORT_RESPONSE: u8 = 13;
    pub const SESSION_SET_DELETION_REQUEST: u8 = 14;
    pub const SESSION_SET_DELETION_RESPONSE: u8 = 15;
    pub const SESSION_SET_MODIFICATION_REQUEST: u8 = 16;
    pub const SESSION_SET_MODIFICATION_RESPONSE: u8 = 17;
    pub const SESSION_ESTABLISHMENT_REQUEST: u8 = 50;
    pub const SESSION_ESTABLISHMENT_RESPONSE: u8 = 51;
    pub const SESSION_MODIFICATION_REQUEST: u8 = 52;
    pub const SESSION_MODIFICATION_RESPONSE: u8 = 53;
    pub const SESSION_DELETION_REQUEST: u8 = 54;
    pub const SESSION_DELETION_RESPONSE: u8 = 55;
    pub const SESSION_REPORT_REQUEST: u8 = 56;
    pub const SESSION_REPORT_RESPONSE: u8 = 57;

    /// Whether the type is a request (the other side answers it).
    #[must_use]
    pub const fn is_request(t: u8) -> bool {
        matches!(t, 1 | 3 | 5 | 7 | 9 | 12 | 14 | 16 | 50 | 52 | 54 | 56)
    }
    /// Whether the type is a session message (S flag and SEID in the header).
    #[must_use]
    pub const fn is_session(t: u8) -> bool {
        t >= 50
    }
    /// Name for logs and metrics labels.
    #[must_use]
    pub const fn name(t: u8) -> &'static str {
        match t {
            1 => "heartbeat_request",
            2 => "heartbeat_response",
            3 => "pfd_management_request",
            4 => "pfd_management_response",
            5 => "association_setup_request",
            6 => "association_setup_response",
            7 => "association_update_request",
            8 => "association_update_response",
            9 => "association_release_request",
            10 => "association_release_response",
            11 => "version_not_supported_response",
            12 => "node_report_request",
            13 => "node_report_response",
            14 => "session_set_deletion_request",
            15 => "session_set_deletion_response",
            16 => "session_set_modification_request",
            17 => "session_set_modification_response",
            50 => "session_establishment_request",
            51 => "session_establishment_response",
            52 => "session_modification_request",
            53 => "session_modification_response",
            54 => "session_deletion_request",
            55 => "session_deletion_response",
            56 => "session_report_request",
            57 => "session_report_response",
            _ => "unknown",
        }
    }
}

// ---- node messages -------------------------------------------------------------

ies_struct! {
    /// Heartbeat Request (Table 7.4.2.1-1).
    pub struct HeartbeatRequest {
        recovery_time_stamp: M[u32] = t::RECOVERY_TIME_STAMP,
    }
}
ies_struct! {
    /// Heartbeat Response (Table 7.4.2.2-1).
    pub struct HeartbeatResponse {
        recovery_time_stamp: M[u32] = t::RECOVERY_TIME_STAMP,
    }
}
ies_struct! {
    /// PFD Management Request (Table 7.4.3.1-1). Node ID came in Rel-16.
    pub struct PfdManagementRequest<'a> {
        application_ids_pfds: V[ApplicationIdsPfds<'a>] = t::APPLICATION_IDS_PFDS,
        node_id: O[NodeId<'a>] = t::NODE_ID,
    }
}
ies_struct! {
    /// PFD Management Response (Table 7.4.3.2-1). Node ID came in Rel-16.
    pub struct PfdManagementResponse<'a> {
        cause: M[Cause] = t::CAUSE,
        offending_ie: O[u16] = t::OFFENDING_IE,
        node_id: O[NodeId<'a>] = t::NODE_ID,
    }
}
ies_struct! {
    /// Association Setup Request (Table 7.4.4.1-1).
    pub struct AssociationSetupRequest<'a> {
        node_id: M[NodeId<'a>] = t::NODE_ID,
        recovery_time_stamp: M[u32] = t::RECOVERY_TIME_STAMP,
        up_function_features: O[UpFunctionFeatures] = t::UP_FUNCTION_FEATURES,
        cp_function_features: O[CpFunctionFeatures] = t::CP_FUNCTION_FEATURES,
        /// User Plane IP Resource Information (removed in Rel-16), raw.
        user_plane_ip_resource_information: V[&'a [u8]] = t::USER_PLANE_IP_RESOURCE_INFORMATION,
    }
}
ies_struct! {
    /// Association Setup Response (Table 7.4.4.2-1).
    pub struct AssociationSetupResponse<'a> {
        node_id: M[NodeId<'a>] = t::NODE_ID,
        cause: M[Cause] = t::CAUSE,
        recovery_time_stamp: M[u32] = t::RECOVERY_TIME_STAMP,
        up_function_features: O[UpFunctionFeatures] = t::UP_FUNCTION_FEATURES,
        cp_function_features: O[CpFunctionFeatures] = t::CP_FUNCTION_FEATURES,
        user_plane_ip_resource_information: V[&'a [u8]] = t::USER_PLANE_IP_RESOURCE_INFORMATION,
    }
}
ies_struct! {
    /// Association Update Request (Table 7.4.4.3-1).
    pub struct AssociationUpdateRequest<'a> {
        node_id: M[NodeId<'a>] = t::NODE_ID,
        up_function_features: O[UpFunctionFeatures] = t::UP_FUNCTION_FEATURES,
        cp_function_features: O[CpFunctionFeatures] = t::CP_FUNCTION_FEATURES,
        association_release_request: O[PfcpAssociationReleaseRequest] = t::PFCP_ASSOCIATION_RELEASE_REQUEST,
        graceful_release_period: O[u8] = t::GRACEFUL_RELEASE_PERIOD,
        user_plane_ip_resource_information: V[&'a [u8]] = t::USER_PLANE_IP_RESOURCE_INFORMATION,
        pfcpaureq_flags: O[PfcpauReqFlags] = t::PFCPAUREQ_FLAGS,
    }
}
ies_struct! {
    /// Association Update Response (Table 7.4.4.4-1).
    pub struct AssociationUpdateResponse<'a> {
        node_id: M[NodeId<'a>] = t::NODE_ID,
        cause: M[Cause] = t::CAUSE,
        up_function_features: O[UpFunctionFeatures] = t::UP_FUNCTION_FEATURES,
        cp_function_features: O[CpFunctionFeatures] = t::CP_FUNCTION_FEATURES,
    }
}
ies_struct! {
    /// Association Release Request (Table 7.4.4.5-1).
    pub struct AssociationReleaseRequest<'a> {
        node_id: M[NodeId<'a>] = t::NODE_ID,
    }
}
ies_struct! {
    /// Association Release Response (Table 7.4.4.6-1).
    pub struct AssociationReleaseResponse<'a> {
        node_id: M[NodeId<'a>] = t::NODE_ID,
        cause: M[Cause] = t::CAUSE,
    }
}
ies_struct! {
    /// Version Not Supported Response (§7.4.4.7): header only.
    pub struct VersionNotSupportedResponse {}
}
ies_struct! {
    /// Node Report Request (Table 7.4.5.1-1).
    pub struct NodeReportRequest<'a> {
        node_id: M[NodeId<'a>] = t::NODE_ID,
        node_report_type: M[NodeReportType] = t::NODE_REPORT_TYPE,
        user_plane_path_failure_report: O[UserPlanePathReport<'a>] = t::USER_PLANE_PATH_FAILURE_REPORT,
        user_plane_path_recovery_report: O[UserPlanePathReport<'a>] = t::USER_PLANE_PATH_RECOVERY_REPORT,
    }
}
ies_struct! {
    /// Node Report Response (Table 7.4.5.2-1).
    pub struct NodeReportResponse<'a> {
        node_id: M[NodeId<'a>] = t::NODE_ID,
        cause: M[Cause] = t::CAUSE,
        offending_ie: O[u16] = t::OFFENDING_IE,
    }
}

ies_struct! {
    /// Session Set Deletion Request (Table 7.4.6.1-1): Node ID, then the
    /// SGW-C, PGW-C/SMF, PGW-U/SGW-U/UPF, TWAN, ePDG and MME FQ-CSIDs. All
    /// six are IE type 65 and PFCP has no instance numbers, so they are
    /// kept as one list in the order received: a CSID is named by its
    /// node's address, whatever the node's role.
    pub struct SessionSetDeletionRequest<'a> {
        node_id: M[NodeId<'a>] = t::NODE_ID,
        fq_csids: V[FqCsid] = t::FQ_CSID,
    }
}
ies_struct! {
    /// Session Set Deletion Response (Table 7.4.6.2-1).
    pub struct SessionSetDeletionResponse<'a> {
        node_id: M[NodeId<'a>] = t::NODE_ID,
        cause: M[Cause] = t::CAUSE,
        offending_ie: O[u16] = t::OFFENDING_IE,
    }
}

ies_struct! {
    /// Session Set Modification Request (Rel-17, TS 29.244 §7.4.7.1,
    /// Table 7.4.7.1-1): the Alternative SMF IP Address (M) that the
    /// sessions named by the PGW-C/SMF FQ-CSIDs, Group Ids and CP IP
    /// Addresses (each C, several allowed) report to from now on. FQ-CSIDs
    /// of any role share IE type 65 and are kept as one list (as in
    /// Session Set Deletion). Node ID is not in the table as we read it;
    /// a CP that sends it anyway (as in every other node request) is
    /// found by it.
    pub struct SessionSetModificationRequest<'a> {
        node_id: O[NodeId<'a>] = t::NODE_ID,
        alternative_smf_ip_address: M[AlternativeSmfIpAddress] = t::ALTERNATIVE_SMF_IP_ADDRESS,
        fq_csids: V[FqCsid] = t::FQ_CSID,
        group_ids: V[&'a [u8]] = t::GROUP_ID,
        cp_ip_addresses: V[CpIpAddress] = t::CP_IP_ADDRESS,
    }
}
ies_struct! {
    /// Session Set Modification Response (Table 7.4.7.2-1).
    pub struct SessionSetModificationResponse<'a> {
        node_id: M[NodeId<'a>] = t::NODE_ID,
        cause: M[Cause] = t::CAUSE,
        offending_ie: O[u16] = t::OFFENDING_IE,
    }
}

// ---- session messages --------------------------------------------------------------

ies_struct! {
    /// Session Establishment Request (Table 7.5.2.1-1).
    pub struct SessionEstablishmentRequest<'a> {
        node_id: M[NodeId<'a>] = t::NODE_ID,
        cp_f_seid: M[FSeid] = t::F_SEID,
        create_pdr: L[CreatePdr<'a>] = t::CREATE_PDR,
        create_far: L[CreateFar<'a>] = t::CREATE_FAR,
        create_urr: V[CreateUrr] = t::CREATE_URR,
        create_qer: V[CreateQer] = t::CREATE_QER,
        create_bar: O[CreateBar] = t::CREATE_BAR,
        /// Create Traffic Endpoint: not supported.
        create_traffic_endpoint: P[Present] = t::CREATE_TRAFFIC_ENDPOINT,
        pdn_type: O[u8] = t::PDN_TYPE,
        /// SGW-C, MME, PGW-C/SMF, ePDG and TWAN FQ-CSIDs (one IE type,
        /// no instances: in the order received).
        fq_csids: V[FqCsid] = t::FQ_CSID,
        user_plane_inactivity_timer: O[u32] = t::USER_PLANE_INACTIVITY_TIMER,
        user_id: O[&'a [u8]] = t::USER_ID,
        apn_dnn: O[Name<'a>] = t::APN_DNN,
        /// Create MAR (ATSSS): not supported.
        create_mar: P[Present] = t::CREATE_MAR,
        pfcpsereq_flags: O[PfcpseReqFlags] = t::PFCPSEREQ_FLAGS,
        /// Rel-17: the group of sessions this one belongs to (an opaque
        /// string), for Session Set Modification.
        group_id: O[&'a [u8]] = t::GROUP_ID,
        /// Rel-17: the CP function's IP address for this session, for
        /// Session Set Modification.
        cp_ip_address: O[CpIpAddress] = t::CP_IP_ADDRESS,
    }
}
ies_struct! {
    /// Session Establishment Response (Table 7.5.3.1-1). Node ID is
    /// mandatory in the spec, but OAI's UPF omits it, so it is optional here.
    pub struct SessionEstablishmentResponse<'a> {
        node_id: O[NodeId<'a>] = t::NODE_ID,
        cause: M[Cause] = t::CAUSE,
        offending_ie: O[u16] = t::OFFENDING_IE,
        up_f_seid: O[FSeid] = t::F_SEID,
        created_pdr: V[CreatedPdr] = t::CREATED_PDR,
        /// PGW-U/SGW-U/UPF FQ-CSID: this UPF allocates none (docs/N4.md).
        up_fq_csid: O[FqCsid] = t::FQ_CSID,
        failed_rule_id: O[FailedRuleId] = t::FAILED_RULE_ID,
    }
}
ies_struct! {
    /// Session Modification Request (Table 7.5.4.1-1).
    pub struct SessionModificationRequest<'a> {
        cp_f_seid: O[FSeid] = t::F_SEID,
        remove_pdr: V[RemovePdr] = t::REMOVE_PDR,
        remove_far: V[RemoveFar] = t::REMOVE_FAR,
        remove_urr: V[RemoveUrr] = t::REMOVE_URR,
        remove_qer: V[RemoveQer] = t::REMOVE_QER,
        remove_bar: O[RemoveBar] = t::REMOVE_BAR,
        remove_traffic_endpoint: P[Present] = t::REMOVE_TRAFFIC_ENDPOINT,
        create_pdr: V[CreatePdr<'a>] = t::CREATE_PDR,
        create_far: V[CreateFar<'a>] = t::CREATE_FAR,
        create_urr: V[CreateUrr] = t::CREATE_URR,
        create_qer: V[CreateQer] = t::CREATE_QER,
        create_bar: O[CreateBar] = t::CREATE_BAR,
        create_traffic_endpoint: P[Present] = t::CREATE_TRAFFIC_ENDPOINT,
        update_pdr: V[UpdatePdr<'a>] = t::UPDATE_PDR,
        update_far: V[UpdateFar<'a>] = t::UPDATE_FAR,
        update_urr: V[UpdateUrr] = t::UPDATE_URR,
        update_qer: V[UpdateQer] = t::UPDATE_QER,
        update_bar: O[UpdateBar] = t::UPDATE_BAR,
        update_traffic_endpoint: P[Present] = t::UPDATE_TRAFFIC_ENDPOINT,
        /// SGW-C, MME, PGW-C/SMF, ePDG and TWAN FQ-CSIDs that changed.
        fq_csids: V[FqCsid] = t::FQ_CSID,
        pfcpsmreq_flags: O[PfcpsmReqFlags] = t::PFCPSMREQ_FLAGS,
        query_urr: V[QueryUrr] = t::QUERY_URR,
        user_plane_inactivity_timer: O[u32] = t::USER_PLANE_INACTIVITY_TIMER,
        query_urr_reference: O[u32] = t::QUERY_URR_REFERENCE,
        remove_mar: P[Present] = t::REMOVE_MAR,
        update_mar: P[Present] = t::UPDATE_MAR,
        create_mar: P[Present] = t::CREATE_MAR,
        node_id: O[NodeId<'a>] = t::NODE_ID,
        /// Rel-17 Group Id / CP IP Address: replace the session's.
        group_id: O[&'a [u8]] = t::GROUP_ID,
        cp_ip_address: O[CpIpAddress] = t::CP_IP_ADDRESS,
    }
}
ies_struct! {
    /// Session Modification Response (Table 7.5.5.1-1).
    pub struct SessionModificationResponse<'a> {
        cause: M[Cause] = t::CAUSE,
        offending_ie: O[u16] = t::OFFENDING_IE,
        created_pdr: V[CreatedPdr] = t::CREATED_PDR,
        usage_report: V[UsageReport<'a>] = t::USAGE_REPORT_MODIFICATION,
        failed_rule_id: O[FailedRuleId] = t::FAILED_RULE_ID,
    }
}
ies_struct! {
    /// Session Deletion Request (Table 7.5.6.1-1): header only in practice.
    pub struct SessionDeletionRequest {}
}
ies_struct! {
    /// Session Deletion Response (Table 7.5.7.1-1).
    pub struct SessionDeletionResponse<'a> {
        cause: M[Cause] = t::CAUSE,
        offending_ie: O[u16] = t::OFFENDING_IE,
        usage_report: V[UsageReport<'a>] = t::USAGE_REPORT_DELETION,
    }
}
ies_struct! {
    /// Session Report Request (Table 7.5.8.1-1).
    pub struct SessionReportRequest<'a> {
        report_type: M[ReportType] = t::REPORT_TYPE,
        downlink_data_report: O[DownlinkDataReport] = t::DOWNLINK_DATA_REPORT,
        usage_report: V[UsageReport<'a>] = t::USAGE_REPORT_REPORT,
        error_indication_report: O[ErrorIndicationReport] = t::ERROR_INDICATION_REPORT,
        pfcpsrreq_flags: O[PfcpsrReqFlags] = t::PFCPSRREQ_FLAGS,
        old_cp_f_seid: O[FSeid] = t::F_SEID,
    }
}
ies_struct! {
    /// Session Report Response (Table 7.5.9.1-1).
    pub struct SessionReportResponse<'a> {
        cause: M[Cause] = t::CAUSE,
        offending_ie: O[u16] = t::OFFENDING_IE,
        update_bar: O[UpdateBar] = t::UPDATE_BAR_REPORT_RESPONSE,
        pfcpsrrsp_flags: O[PfcpsrRspFlags] = t::PFCPSRRSP_FLAGS,
        cp_f_seid: O[FSeid] = t::F_SEID,
        n4u_f_teid: O[FTeid] = t::F_TEID,
        alternative_smf_ip_address: O[&'a [u8]] = t::ALTERNATIVE_SMF_IP_ADDRESS,
    }
}

// ---- the message enum ------------------------------------------------------------------

macro_rules! messages {
    ($( $variant:ident $(<$lt:lifetime>)? = $code:path ),* $(,)?) => {
        /// Any message body the codec knows. Variants are unboxed on
        /// purpose: a message is decoded on the stack and not moved much,
        /// and boxing would cost an allocation per message.
        #[derive(Debug, Clone, PartialEq)]
        #[allow(clippy::large_enum_variant)]
        pub enum Message<'a> {
            $( $variant($variant $(<$lt>)?), )*
        }

        impl<'a> Message<'a> {
            /// Message type number.
            #[must_use]
            pub fn msg_type(&self) -> u8 {
                match self { $( Message::$variant(_) => $code, )* }
            }
            fn decode_body(msg_type: u8, body: &'a [u8]) -> Result<Self, DecodeError> {
                $(
                    if msg_type == $code {
                        return Ok(Message::$variant(<$variant $(<$lt>)? as IeValue<'a>>::decode(body)?));
                    }
                )*
                Err(DecodeError::new(ErrorKind::UnknownMessageType(msg_type)))
            }
            fn encode_body(&self, out: &mut Vec<u8>) {
                match self { $( Message::$variant(m) => m.encode(out), )* }
            }
        }

        $(
            impl<'a> From<$variant $(<$lt>)?> for Message<'a> {
                fn from(m: $variant $(<$lt>)?) -> Self {
                    Message::$variant(m)
                }
            }
        )*

        #[cfg(test)]
        pub(crate) fn gen_message(g: &mut $crate::codec::testgen::G) -> Message<'static> {
            use $crate::codec::testgen::Gen;
            let all: &[fn(&mut $crate::codec::testgen::G) -> Message<'static>] = &[
                $( |g| Message::$variant(Gen::generate(g)), )*
            ];
            let i = g.range(0, all.len() - 1);
            all[i](g)
        }
    };
}

use msg_type as mt;
messages! {
    HeartbeatRequest = mt::HEARTBEAT_REQUEST,
    HeartbeatResponse = mt::HEARTBEAT_RESPONSE,
    PfdManagementRequest<'a> = mt::PFD_MANAGEMENT_REQUEST,
    PfdManagementResponse<'a> = mt::PFD_MANAGEMENT_RESPONSE,
    AssociationSetupRequest<'a> = mt::ASSOCIATION_SETUP_REQUEST,
    AssociationSetupResponse<'a> = mt::ASSOCIATION_SETUP_RESPONSE,
    AssociationUpdateRequest<'a> = mt::ASSOCIATION_UPDATE_REQUEST,
    AssociationUpdateResponse<'a> = mt::ASSOCIATION_UPDATE_RESPONSE,
    AssociationReleaseRequest<'a> = mt::ASSOCIATION_RELEASE_REQUEST,
    AssociationReleaseResponse<'a> = mt::ASSOCIATION_RELEASE_RESPONSE,
    VersionNotSupportedResponse = mt::VERSION_NOT_SUPPORTED_RESPONSE,
    NodeReportRequest<'a> = mt::NODE_REPORT_REQUEST,
    NodeReportResponse<'a> = mt::NODE_REPORT_RESPONSE,
    SessionSetDeletionRequest<'a> = mt::SESSION_SET_DELETION_REQUEST,
    SessionSetDeletionResponse<'a> = mt::SESSION_SET_DELETION_RESPONSE,
    SessionSetModificationRequest<'a> = mt::SESSION_SET_MODIFICATION_REQUEST,
    SessionSetModificationResponse<'a> = mt::SESSION_SET_MODIFICATION_RESPONSE,
    SessionEstablishmentRequest<'a> = mt::SESSION_ESTABLISHMENT_REQUEST,
    SessionEstablishmentResponse<'a> = mt::SESSION_ESTABLISHMENT_RESPONSE,
    SessionModificationRequest<'a> = mt::SESSION_MODIFICATION_REQUEST,
    SessionModificationResponse<'a> = mt::SESSION_MODIFICATION_RESPONSE,
    SessionDeletionRequest = mt::SESSION_DELETION_REQUEST,
    SessionDeletionResponse<'a> = mt::SESSION_DELETION_RESPONSE,
    SessionReportRequest<'a> = mt::SESSION_REPORT_REQUEST,
    SessionReportResponse<'a> = mt::SESSION_REPORT_RESPONSE,
}

// ---- header ---------------------------------------------------------------------------

/// The fixed header of a PFCP message (§7.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub version: u8,
    /// FO: another message follows in the same datagram.
    pub follow_on: bool,
    pub msg_type: u8,
    /// Octets after the first four.
    pub length: u16,
    /// Present when the S flag is set.
    pub seid: Option<u64>,
    /// 24-bit sequence number.
    pub seq: u32,
    /// Message priority (MP flag), 0 (highest) to 15.
    pub priority: Option<u8>,
}

impl Header {
    /// Parse the header. The version is not checked here.
    ///
    /// # Errors
    /// [`ErrorKind::TruncatedHeader`] when `buf` is shorter than the header.
    pub fn parse(buf: &[u8]) -> Result<(Header, usize), DecodeError> {
        let trunc = DecodeError::new(ErrorKind::TruncatedHeader);
        let [flags, msg_type, l0, l1] = *buf.first_chunk::<4>().ok_or(trunc)?;
        let s = flags & 0x01 != 0;
        let mp = flags & 0x02 != 0;
        let hdr_len = if s { 16 } else { 8 };
        let h = buf.get(..hdr_len).ok_or(trunc)?;
        let (seid, rest) = if s {
            let mut b = [0; 8];
            b.copy_from_slice(&h[4..12]);
            (Some(u64::from_be_bytes(b)), &h[12..16])
        } else {
            (None, &h[4..8])
        };
        let seq = u32::from_be_bytes([0, rest[0], rest[1], rest[2]]);
        let priority = (mp && s).then_some(rest[3] >> 4);
        Ok((
            Header {
                version: flags >> 5,
                follow_on: flags & 0x04 != 0,
                msg_type,
                length: u16::from_be_bytes([l0, l1]),
                seid,
                seq,
                priority,
            },
            hdr_len,
        ))
    }
}

/// A message that failed to decode, with its header when that was readable
/// (so that a request can still be answered with the right cause).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageError {
    pub header: Option<Header>,
    pub error: DecodeError,
}

impl std::fmt::Display for MessageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.header {
            Some(h) => write!(
                f,
                "{} (seq {}): {}",
                msg_type::name(h.msg_type),
                h.seq,
                self.error
            ),
            None => write!(f, "{}", self.error),
        }
    }
}

impl std::error::Error for MessageError {}

/// A whole PFCP message: header fields and body.
#[derive(Debug, Clone, PartialEq)]
pub struct Pfcp<'a> {
    /// SEID of a session message (the receiver's SEID; 0 in a Session
    /// Establishment Request). Ignored for node messages.
    pub seid: Option<u64>,
    /// 24-bit sequence number.
    pub seq: u32,
    /// Message priority of a session message (MP flag).
    pub priority: Option<u8>,
    pub message: Message<'a>,
}

impl<'a> Pfcp<'a> {
    /// A node message.
    #[must_use]
    pub fn node(seq: u32, message: impl Into<Message<'a>>) -> Self {
        Self {
            seid: None,
            seq,
            priority: None,
            message: message.into(),
        }
    }
    /// A session message to the peer's `seid`.
    #[must_use]
    pub fn session(seid: u64, seq: u32, message: impl Into<Message<'a>>) -> Self {
        Self {
            seid: Some(seid),
            seq,
            priority: None,
            message: message.into(),
        }
    }

    /// Decode the first message of `buf`; the remainder is returned when
    /// the FO flag says another message follows.
    ///
    /// # Errors
    /// A [`MessageError`] with the header when it was readable.
    pub fn decode(buf: &'a [u8]) -> Result<(Self, &'a [u8]), MessageError> {
        let (h, hdr_len) = Header::parse(buf).map_err(|error| MessageError {
            header: None,
            error,
        })?;
        let err = |error| MessageError {
            header: Some(h),
            error,
        };
        if h.version != 1 {
            return Err(err(DecodeError::new(ErrorKind::UnsupportedVersion(
                h.version,
            ))));
        }
        let total = usize::from(h.length) + 4;
        if total < hdr_len || total > buf.len() {
            return Err(err(DecodeError::length()));
        }
        let (msg, rest) = buf.split_at(total);
        if !rest.is_empty() && !h.follow_on {
            return Err(err(DecodeError::length()));
        }
        let known = matches!(h.msg_type, 1..=17 | 50..=57);
        if !known {
            return Err(err(DecodeError::new(ErrorKind::UnknownMessageType(
                h.msg_type,
            ))));
        }
        if msg_type::is_session(h.msg_type) != h.seid.is_some() {
            return Err(err(DecodeError::new(ErrorKind::InvalidSeidFlag)));
        }
        let message = Message::decode_body(h.msg_type, &msg[hdr_len..]).map_err(err)?;
        Ok((
            Pfcp {
                seid: h.seid,
                seq: h.seq,
                priority: h.priority,
                message,
            },
            rest,
        ))
    }

    /// Append the encoded message to `out`.
    ///
    /// # Errors
    /// [`EncodeError`] when it exceeds PFCP's 16-bit length (nothing is
    /// appended then).
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.encode_fo(out, false)
    }

    fn encode_fo(&self, out: &mut Vec<u8>, follow_on: bool) -> Result<(), EncodeError> {
        let start = out.len();
        let t = self.message.msg_type();
        let session = msg_type::is_session(t);
        let mp = session && self.priority.is_some();
        out.push(0x20 | u8::from(follow_on) << 2 | u8::from(mp) << 1 | u8::from(session));
        out.push(t);
        out.extend_from_slice(&[0, 0]);
        if session {
            out.extend_from_slice(&self.seid.unwrap_or(0).to_be_bytes());
        }
        out.extend_from_slice(&(self.seq & 0x00ff_ffff).to_be_bytes()[1..]);
        out.push(if mp {
            self.priority.unwrap_or(0) << 4
        } else {
            0
        });
        self.message.encode_body(out);
        let len = out.len() - start - 4;
        let Ok(len16) = u16::try_from(len) else {
            out.truncate(start);
            return Err(EncodeError(len + 4));
        };
        out[start + 2..start + 4].copy_from_slice(&len16.to_be_bytes());
        Ok(())
    }
}

/// Encode several messages into one datagram, FO set on all but the last.
///
/// # Errors
/// [`EncodeError`] when one of them is too long (`out` is left as it was).
pub fn encode_batch(msgs: &[Pfcp<'_>], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let start = out.len();
    for (i, m) in msgs.iter().enumerate() {
        if let Err(e) = m.encode_fo(out, i + 1 < msgs.len()) {
            out.truncate(start);
            return Err(e);
        }
    }
    Ok(())
}

/// Iterate the messages of a datagram (several when FO is set). Stops
/// after the first error.
pub fn decode_datagram(buf: &[u8]) -> impl Iterator<Item = Result<Pfcp<'_>, MessageError>> {
    let mut rest = Some(buf);
    std::iter::from_fn(move || {
        let b = rest.take()?;
        if b.is_empty() {
            return None;
        }
        match Pfcp::decode(b) {
            Ok((m, r)) => {
                rest = Some(r);
                Some(Ok(m))
            }
            Err(e) => Some(Err(e)),
        }
    })
}
