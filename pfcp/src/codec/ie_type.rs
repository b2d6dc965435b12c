//! IE type numbers (TS 29.244 Table 8.1.2-1) and their names, for error
//! messages, Offending IE and counters. Only the types the codec knows are
//! listed; any other type is skipped on decode.

macro_rules! ie_types {
    ($($name:ident = $val:literal, $text:literal;)*) => {
        $(pub const $name: u16 = $val;)*
        /// Human-readable name of an IE type ("Create PDR"), or "unknown".
        #[must_use]
        pub fn name(ie_type: u16) -> &'static str {
            match ie_type {
                $($val => $text,)*
                t if t & 0x8000 != 0 => "vendor-specific",
                _ => "unknown",
            }
        }
    };
}

ie_types! {
    CREATE_PDR = 1, "Create PDR";
    PDI = 2, "PDI";
    CREATE_FAR = 3, "Create FAR";
    FORWARDING_PARAMETERS = 4, "Forwarding Parameters";
    DUPLICATING_PARAMETERS = 5, "Duplicating Parameters";
    CREATE_URR = 6, "Create URR";
    CREATE_QER = 7, "Create QER";
    CREATED_PDR = 8, "Created PDR";
    UPDATE_PDR = 9, "Update PDR";
    UPDATE_FAR = 10, "Update FAR";
    UPDATE_FORWARDING_PARAMETERS = 11, "Update Forwarding Parameters";
    UPDATE_BAR_REPORT_RESPONSE = 12, "Update BAR (Session Report Response)";
    UPDATE_URR = 13, "Update URR";
    UPDATE_QER = 14, "Update QER";
    REMOVE_PDR = 15, "Remove PDR";
    REMOVE_FAR = 16, "Remove FAR";
    REMOVE_URR = 17, "Remove URR";
    REMOVE_QER = 18, "Remove QER";
    CAUSE = 19, "Cause";
    SOURCE_INTERFACE = 20, "Source Interface";
    F_TEID = 21, "F-TEID";
    NETWORK_INSTANCE = 22, "Network Instance";
    SDF_FILTER = 23, "SDF Filter";
    APPLICATION_ID = 24, "Application ID";
    GATE_STATUS = 25, "Gate Status";
    MBR = 26, "MBR";
    GBR = 27, "GBR";
    QER_CORRELATION_ID = 28, "QER Correlation ID";
    PRECEDENCE = 29, "Precedence";
    TRANSPORT_LEVEL_MARKING = 30, "Transport Level Marking";
    VOLUME_THRESHOLD = 31, "Volume Threshold";
    TIME_THRESHOLD = 32, "Time Threshold";
    MONITORING_TIME = 33, "Monitoring Time";
    SUBSEQUENT_VOLUME_THRESHOLD = 34, "Subsequent Volume Threshold";
    SUBSEQUENT_TIME_THRESHOLD = 35, "Subsequent Time Threshold";
    INACTIVITY_DETECTION_TIME = 36, "Inactivity Detection Time";
    REPORTING_TRIGGERS = 37, "Reporting Triggers";
    REDIRECT_INFORMATION = 38, "Redirect Information";
    REPORT_TYPE = 39, "Report Type";
    OFFENDING_IE = 40, "Offending IE";
    FORWARDING_POLICY = 41, "Forwarding Policy";
    DESTINATION_INTERFACE = 42, "Destination Interface";
    UP_FUNCTION_FEATURES = 43, "UP Function Features";
    APPLY_ACTION = 44, "Apply Action";
    DOWNLINK_DATA_SERVICE_INFORMATION = 45, "Downlink Data Service Information";
    DOWNLINK_DATA_NOTIFICATION_DELAY = 46, "Downlink Data Notification Delay";
    DL_BUFFERING_DURATION = 47, "DL Buffering Duration";
    DL_BUFFERING_SUGGESTED_PACKET_COUNT = 48, "DL Buffering Suggested Packet Count";
    PFCPSMREQ_FLAGS = 49, "PFCPSMReq-Flags";
    PFCPSRRSP_FLAGS = 50, "PFCPSRRsp-Flags";
    LOAD_CONTROL_INFORMATION = 51, "Load Control Information";
    SEQUENCE_NUMBER = 52, "Sequence Number";
    METRIC = 53, "Metric";
    OVERLOAD_CONTROL_INFORMATION = 54, "Overload Control Information";
    TIMER = 55, "Timer";
    PDR_ID = 56, "PDR ID";
    F_SEID = 57, "F-SEID";
    APPLICATION_IDS_PFDS = 58, "Application ID's PFDs";
    PFD_CONTEXT = 59, "PFD context";
    NODE_ID = 60, "Node ID";
    PFD_CONTENTS = 61, "PFD contents";
    MEASUREMENT_METHOD = 62, "Measurement Method";
    USAGE_REPORT_TRIGGER = 63, "Usage Report Trigger";
    MEASUREMENT_PERIOD = 64, "Measurement Period";
    FQ_CSID = 65, "FQ-CSID";
    VOLUME_MEASUREMENT = 66, "Volume Measurement";
    DURATION_MEASUREMENT = 67, "Duration Measurement";
    TIME_OF_FIRST_PACKET = 69, "Time of First Packet";
    TIME_OF_LAST_PACKET = 70, "Time of Last Packet";
    QUOTA_HOLDING_TIME = 71, "Quota Holding Time";
    DROPPED_DL_TRAFFIC_THRESHOLD = 72, "Dropped DL Traffic Threshold";
    VOLUME_QUOTA = 73, "Volume Quota";
    TIME_QUOTA = 74, "Time Quota";
    START_TIME = 75, "Start Time";
    END_TIME = 76, "End Time";
    QUERY_URR = 77, "Query URR";
    USAGE_REPORT_MODIFICATION = 78, "Usage Report (Session Modification Response)";
    USAGE_REPORT_DELETION = 79, "Usage Report (Session Deletion Response)";
    USAGE_REPORT_REPORT = 80, "Usage Report (Session Report Request)";
    URR_ID = 81, "URR ID";
    LINKED_URR_ID = 82, "Linked URR ID";
    DOWNLINK_DATA_REPORT = 83, "Downlink Data Report";
    OUTER_HEADER_CREATION = 84, "Outer Header Creation";
    CREATE_BAR = 85, "Create BAR";
    UPDATE_BAR = 86, "Update BAR (Session Modification Request)";
    REMOVE_BAR = 87, "Remove BAR";
    BAR_ID = 88, "BAR ID";
    CP_FUNCTION_FEATURES = 89, "CP Function Features";
    USAGE_INFORMATION = 90, "Usage Information";
    APPLICATION_INSTANCE_ID = 91, "Application Instance ID";
    FLOW_INFORMATION = 92, "Flow Information";
    UE_IP_ADDRESS = 93, "UE IP Address";
    PACKET_RATE = 94, "Packet Rate";
    OUTER_HEADER_REMOVAL = 95, "Outer Header Removal";
    RECOVERY_TIME_STAMP = 96, "Recovery Time Stamp";
    DL_FLOW_LEVEL_MARKING = 97, "DL Flow Level Marking";
    HEADER_ENRICHMENT = 98, "Header Enrichment";
    ERROR_INDICATION_REPORT = 99, "Error Indication Report";
    MEASUREMENT_INFORMATION = 100, "Measurement Information";
    NODE_REPORT_TYPE = 101, "Node Report Type";
    USER_PLANE_PATH_FAILURE_REPORT = 102, "User Plane Path Failure Report";
    REMOTE_GTP_U_PEER = 103, "Remote GTP-U Peer";
    UR_SEQN = 104, "UR-SEQN";
    ACTIVATE_PREDEFINED_RULES = 106, "Activate Predefined Rules";
    DEACTIVATE_PREDEFINED_RULES = 107, "Deactivate Predefined Rules";
    FAR_ID = 108, "FAR ID";
    QER_ID = 109, "QER ID";
    OCI_FLAGS = 110, "OCI Flags";
    PFCP_ASSOCIATION_RELEASE_REQUEST = 111, "PFCP Association Release Request";
    GRACEFUL_RELEASE_PERIOD = 112, "Graceful Release Period";
    PDN_TYPE = 113, "PDN Type";
    FAILED_RULE_ID = 114, "Failed Rule ID";
    USER_PLANE_IP_RESOURCE_INFORMATION = 116, "User Plane IP Resource Information";
    USER_PLANE_INACTIVITY_TIMER = 117, "User Plane Inactivity Timer";
    MULTIPLIER = 119, "Multiplier";
    SUBSEQUENT_VOLUME_QUOTA = 121, "Subsequent Volume Quota";
    SUBSEQUENT_TIME_QUOTA = 122, "Subsequent Time Quota";
    RQI = 123, "RQI";
    QFI = 124, "QFI";
    QUERY_URR_REFERENCE = 125, "Query URR Reference";
    ADDITIONAL_USAGE_REPORTS_INFORMATION = 126, "Additional Usage Reports Information";
    CREATE_TRAFFIC_ENDPOINT = 127, "Create Traffic Endpoint";
    CREATED_TRAFFIC_ENDPOINT = 128, "Created Traffic Endpoint";
    UPDATE_TRAFFIC_ENDPOINT = 129, "Update Traffic Endpoint";
    REMOVE_TRAFFIC_ENDPOINT = 130, "Remove Traffic Endpoint";
    TRAFFIC_ENDPOINT_ID = 131, "Traffic Endpoint ID";
    ETHERNET_PACKET_FILTER = 132, "Ethernet Packet Filter";
    SUGGESTED_BUFFERING_PACKETS_COUNT = 140, "Suggested Buffering Packets Count";
    USER_ID = 141, "User ID";
    ETHERNET_PDU_SESSION_INFORMATION = 142, "Ethernet PDU Session Information";
    FRAMED_ROUTE = 153, "Framed-Route";
    FRAMED_ROUTING = 154, "Framed-Routing";
    FRAMED_IPV6_ROUTE = 155, "Framed-IPv6-Route";
    AVERAGING_WINDOW = 157, "Averaging Window";
    PAGING_POLICY_INDICATOR = 158, "Paging Policy Indicator";
    APN_DNN = 159, "APN/DNN";
    TGPP_INTERFACE_TYPE = 160, "3GPP Interface Type";
    PFCPSRREQ_FLAGS = 161, "PFCPSRReq-Flags";
    PFCPAUREQ_FLAGS = 162, "PFCPAUReq-Flags";
    ACTIVATION_TIME = 163, "Activation Time";
    DEACTIVATION_TIME = 164, "Deactivation Time";
    CREATE_MAR = 165, "Create MAR";
    REMOVE_MAR = 168, "Remove MAR";
    UPDATE_MAR = 169, "Update MAR";
    UE_IP_ADDRESS_POOL_IDENTITY = 177, "UE IP address Pool Identity";
    ALTERNATIVE_SMF_IP_ADDRESS = 178, "Alternative SMF IP Address";
    PFCPSEREQ_FLAGS = 186, "PFCPSEReq-Flags";
    USER_PLANE_PATH_RECOVERY_REPORT = 187, "User Plane Path Recovery Report";
    GROUP_ID = 291, "Group Id";
    CP_IP_ADDRESS = 292, "CP IP Address";
}
