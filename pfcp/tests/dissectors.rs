//! Cross-check against independent PFCP implementations: Wireshark's
//! dissector (tshark) must decode every message we encode without a
//! malformed field or an expert warning, and read back the fields we meant;
//! scapy's `scapy.contrib.pfcp` must parse and rebuild our bytes unchanged,
//! and what scapy builds we must decode to the values it was given.
//!
//! Needs the Debian packages `tshark` and `python3-scapy`.

mod common;

use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use pfcp::codec::SmallVec;
use pfcp::codec::grouped::*;
use pfcp::codec::ies::*;
use pfcp::codec::message::*;
use pfcp::sample::{self, SessionParams};

const SMF: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const UPF: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const GNB: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 1);

fn bytes(m: &Pfcp<'_>) -> Vec<u8> {
    let mut b = Vec::new();
    m.encode(&mut b).unwrap();
    b
}

/// Every message type, with most IEs, as the UPF or an SMF would send them.
fn corpus() -> Vec<(&'static str, Vec<u8>)> {
    let p = SessionParams {
        cp_seid: 7,
        smf_addr: SMF,
        ue_ip: None,
        ul_teid: None,
        gnb: None,
    };
    let given = SessionParams {
        cp_seid: 8,
        smf_addr: SMF,
        ue_ip: Some(Ipv4Addr::new(10, 45, 0, 2)),
        ul_teid: Some((0x100, UPF)),
        gnb: Some((0x200, GNB)),
    };
    let up_features = UpFunctionFeatures::FTUP
        | UpFunctionFeatures::EMPU
        | UpFunctionFeatures::UEIP
        | UpFunctionFeatures::MNOP;
    let full_urr = CreateUrr {
        urr_id: 2,
        measurement_method: MeasurementMethod::VOLUM | MeasurementMethod::DURAT,
        reporting_triggers: ReportingTriggers::VOLTH
            | ReportingTriggers::VOLQU
            | ReportingTriggers::TIMTH
            | ReportingTriggers::TIMQU
            | ReportingTriggers::PERIO,
        measurement_period: Some(30),
        volume_threshold: Some(Volume {
            total: Some(1000),
            ul: Some(400),
            dl: Some(600),
        }),
        volume_quota: Some(Volume {
            total: Some(5000),
            ul: None,
            dl: None,
        }),
        time_threshold: Some(60),
        time_quota: Some(600),
        quota_holding_time: Some(30),
        dropped_dl_traffic_threshold: false,
        monitoring_time: Some(3_900_000_000),
        subsequent_volume_threshold: Some(Volume {
            total: Some(2000),
            ul: None,
            dl: None,
        }),
        subsequent_time_threshold: Some(120),
        subsequent_volume_quota: None,
        subsequent_time_quota: None,
        inactivity_detection_time: Some(10),
        linked_urr_ids: SmallVec::from_elem(1, 1),
        measurement_information: Some(MeasurementInformation::MNOP),
        far_id_for_quota_action: None,
    };
    let mut est_full = sample::establishment_request(3, &given);
    if let Message::SessionEstablishmentRequest(r) = &mut est_full.message {
        r.create_urr.push(full_urr);
        r.create_bar = Some(CreateBar {
            bar_id: 1,
            downlink_data_notification_delay: Some(2),
            suggested_buffering_packets_count: Some(10),
        });
        r.create_far[1].bar_id = Some(1);
        r.create_qer[0].gate_status = GateStatus {
            ul: Gate::Closed,
            dl: Gate::Open,
        };
        r.create_qer[0].qer_correlation_id = Some(77);
        r.create_qer[0].rqi = Some(Rqi::RQI);
        r.user_plane_inactivity_timer = Some(300);
    }
    let mut modify = sample::empty_modification();
    modify.cp_f_seid = Some(FSeid {
        seid: 7,
        ipv4: Some(SMF),
        ipv6: None,
    });
    modify.remove_pdr = vec![RemovePdr { pdr_id: 3 }];
    modify.remove_far = vec![RemoveFar { far_id: 3 }];
    modify.remove_urr = vec![RemoveUrr { urr_id: 3 }];
    modify.remove_qer = vec![RemoveQer { qer_id: 3 }];
    modify.remove_bar = Some(RemoveBar { bar_id: 1 });
    modify.update_pdr = vec![UpdatePdr {
        pdr_id: 1,
        outer_header_removal: None,
        precedence: Some(10),
        pdi: None,
        far_id: Some(1),
        urr_ids: SmallVec::from_elem(1, 1),
        qer_ids: SmallVec::from_elem(1, 1),
        activate_predefined_rules: false,
        deactivate_predefined_rules: false,
        activation_time: false,
        deactivation_time: false,
    }];
    modify.update_urr = vec![UpdateUrr {
        reporting_triggers: Some(ReportingTriggers::VOLQU),
        ..sample::quota_update(1, 1 << 30)
    }];
    modify.update_qer = vec![UpdateQer {
        qer_id: 1,
        qer_correlation_id: None,
        gate_status: Some(GateStatus {
            ul: Gate::Open,
            dl: Gate::Closed,
        }),
        mbr: Some(Bitrate {
            ul_kbps: 1000,
            dl_kbps: 2000,
        }),
        gbr: None,
        packet_rate: false,
        dl_flow_level_marking: false,
        qfi: Some(Qfi(9)),
        rqi: None,
        paging_policy_indicator: None,
        averaging_window: None,
    }];
    modify.update_bar = Some(UpdateBar {
        bar_id: 1,
        downlink_data_notification_delay: Some(1),
        dl_buffering_duration: None,
        dl_buffering_suggested_packet_count: None,
        suggested_buffering_packets_count: Some(5),
    });
    modify.pfcpsmreq_flags = Some(PfcpsmReqFlags::QAURR);
    modify.query_urr = vec![QueryUrr { urr_id: 1 }];

    let usage = sample::usage_report(1, 3, UsageReportTrigger::VOLTH, 100, 200);
    let node = NodeId::Ipv4(UPF);
    vec![
        (
            "heartbeat request",
            bytes(&Pfcp::node(
                1,
                HeartbeatRequest {
                    recovery_time_stamp: 3_900_000_000,
                },
            )),
        ),
        (
            "heartbeat response",
            bytes(&Pfcp::node(
                1,
                HeartbeatResponse {
                    recovery_time_stamp: 3_900_000_001,
                },
            )),
        ),
        (
            "association setup request",
            bytes(&sample::association_setup_request(2, SMF, 3_900_000_000)),
        ),
        (
            "association setup response",
            bytes(&Pfcp::node(
                2,
                AssociationSetupResponse {
                    node_id: NodeId::Fqdn(Name(b"\x03upf\x04test")),
                    cause: Cause::REQUEST_ACCEPTED,
                    recovery_time_stamp: 3_900_000_001,
                    up_function_features: Some(up_features),
                    cp_function_features: None,
                    user_plane_ip_resource_information: Vec::new(),
                },
            )),
        ),
        (
            "association update request",
            bytes(&Pfcp::node(
                3,
                AssociationUpdateRequest {
                    node_id: node,
                    up_function_features: Some(up_features),
                    cp_function_features: None,
                    association_release_request: Some(PfcpAssociationReleaseRequest::SARR),
                    graceful_release_period: Some(0x21),
                    user_plane_ip_resource_information: Vec::new(),
                    pfcpaureq_flags: Some(PfcpauReqFlags::PARPS),
                },
            )),
        ),
        (
            "association update response",
            bytes(&Pfcp::node(
                3,
                AssociationUpdateResponse {
                    node_id: NodeId::Ipv4(SMF),
                    cause: Cause::REQUEST_ACCEPTED,
                    up_function_features: None,
                    cp_function_features: Some(CpFunctionFeatures::LOAD),
                },
            )),
        ),
        (
            "association release request",
            bytes(&Pfcp::node(
                4,
                AssociationReleaseRequest {
                    node_id: NodeId::Ipv4(SMF),
                },
            )),
        ),
        (
            "association release response",
            bytes(&Pfcp::node(
                4,
                AssociationReleaseResponse {
                    node_id: node,
                    cause: Cause::REQUEST_ACCEPTED,
                },
            )),
        ),
        (
            "version not supported",
            bytes(&Pfcp::node(5, VersionNotSupportedResponse {})),
        ),
        (
            "node report request",
            bytes(&Pfcp::node(
                6,
                NodeReportRequest {
                    node_id: node,
                    node_report_type: NodeReportType::UPFR,
                    user_plane_path_failure_report: Some(UserPlanePathReport {
                        remote_gtpu_peers: vec![RemoteGtpuPeer {
                            ipv4: Some(GNB),
                            ..RemoteGtpuPeer::default()
                        }],
                    }),
                    user_plane_path_recovery_report: None,
                },
            )),
        ),
        (
            "node report response",
            bytes(&Pfcp::node(
                6,
                NodeReportResponse {
                    node_id: NodeId::Ipv4(SMF),
                    cause: Cause::REQUEST_ACCEPTED,
                    offending_ie: None,
                },
            )),
        ),
        (
            "establishment request (CHOOSE)",
            bytes(&sample::establishment_request(7, &p)),
        ),
        ("establishment request (full)", bytes(&est_full)),
        (
            "establishment response",
            bytes(&sample::establishment_response(
                7,
                7,
                UPF,
                1,
                0x1000,
                Ipv4Addr::new(10, 45, 0, 3),
            )),
        ),
        (
            "establishment response (rejected)",
            bytes(&Pfcp::session(
                7,
                8,
                SessionEstablishmentResponse {
                    node_id: Some(node),
                    cause: Cause::RULE_CREATION_MODIFICATION_FAILURE,
                    offending_ie: Some(108),
                    up_f_seid: None,
                    created_pdr: Vec::new(),
                    up_fq_csid: None,
                    failed_rule_id: Some(FailedRuleId {
                        rule_type: RuleType::Pdr,
                        id: 2,
                    }),
                },
            )),
        ),
        (
            "modification request (path switch, SNDEM)",
            bytes(&sample::path_switch_request(9, 1, 0x300, GNB, true)),
        ),
        (
            "modification request (query URR)",
            bytes(&sample::query_urr_request(10, 1, &[1])),
        ),
        (
            "modification request (all operations)",
            bytes(&Pfcp::session(1, 11, modify)),
        ),
        (
            "modification response",
            bytes(&Pfcp::session(
                7,
                11,
                SessionModificationResponse {
                    cause: Cause::REQUEST_ACCEPTED,
                    offending_ie: None,
                    created_pdr: vec![CreatedPdr {
                        pdr_id: 5,
                        local_f_teid: Some(FTeid::Assigned {
                            teid: 0x1001,
                            ipv4: Some(UPF),
                            ipv6: None,
                        }),
                        ue_ip_address: None,
                    }],
                    usage_report: vec![usage.clone()],
                    failed_rule_id: None,
                },
            )),
        ),
        ("deletion request", bytes(&sample::deletion_request(12, 1))),
        (
            "deletion response",
            bytes(&Pfcp::session(
                7,
                12,
                SessionDeletionResponse {
                    cause: Cause::REQUEST_ACCEPTED,
                    offending_ie: None,
                    usage_report: vec![sample::usage_report(1, 4, UsageReportTrigger::TERMR, 1, 2)],
                },
            )),
        ),
        (
            "report request (usage)",
            bytes(&sample::report_request(13, 7)),
        ),
        (
            "report request (downlink data)",
            bytes(&Pfcp::session(
                7,
                14,
                SessionReportRequest {
                    report_type: ReportType::DLDR,
                    downlink_data_report: Some(DownlinkDataReport {
                        pdr_ids: SmallVec::from_elem(2, 1),
                        downlink_data_service_information: SmallVec::from_elem(
                            DownlinkDataServiceInformation {
                                ppi: None,
                                qfi: Some(9),
                            },
                            1,
                        ),
                    }),
                    usage_report: Vec::new(),
                    error_indication_report: None,
                    pfcpsrreq_flags: None,
                    old_cp_f_seid: None,
                },
            )),
        ),
        (
            "report request (error indication)",
            bytes(&Pfcp::session(
                7,
                15,
                SessionReportRequest {
                    report_type: ReportType::ERIR,
                    downlink_data_report: None,
                    usage_report: Vec::new(),
                    error_indication_report: Some(ErrorIndicationReport {
                        remote_f_teids: vec![FTeid::Assigned {
                            teid: 0x200,
                            ipv4: Some(GNB),
                            ipv6: None,
                        }],
                    }),
                    pfcpsrreq_flags: None,
                    old_cp_f_seid: None,
                },
            )),
        ),
        (
            "report request (user plane inactivity)",
            bytes(&Pfcp::session(
                7,
                16,
                SessionReportRequest {
                    report_type: ReportType::UPIR,
                    downlink_data_report: None,
                    usage_report: Vec::new(),
                    error_indication_report: None,
                    pfcpsrreq_flags: None,
                    old_cp_f_seid: None,
                },
            )),
        ),
        (
            "report response",
            bytes(&Pfcp::session(
                1,
                13,
                SessionReportResponse {
                    cause: Cause::REQUEST_ACCEPTED,
                    offending_ie: None,
                    update_bar: Some(UpdateBar {
                        bar_id: 1,
                        downlink_data_notification_delay: Some(3),
                        dl_buffering_duration: Some(0x22),
                        dl_buffering_suggested_packet_count: Some(PacketCount(300)),
                        suggested_buffering_packets_count: None,
                    }),
                    pfcpsrrsp_flags: Some(PfcpsrRspFlags::DROBU),
                    cp_f_seid: None,
                    n4u_f_teid: None,
                    alternative_smf_ip_address: None,
                },
            )),
        ),
        (
            "pfd management request",
            bytes(&Pfcp::node(
                14,
                PfdManagementRequest {
                    application_ids_pfds: vec![
                        ApplicationIdsPfds {
                            application_id: b"app1",
                            pfd_contexts: vec![PfdContext {
                                pfd_contents: vec![
                                    PfdContents {
                                        flow_description: Some(
                                            b"permit out 6 from 198.51.100.1 443 to assigned",
                                        ),
                                        ..PfdContents::default()
                                    },
                                    PfdContents {
                                        url: Some(b"http://example.com/video"),
                                        ..PfdContents::default()
                                    },
                                    PfdContents {
                                        domain_name: Some(b"example.com"),
                                        custom_pfd_content: Some(b"\x01\x02"),
                                        ..PfdContents::default()
                                    },
                                ],
                            }],
                        },
                        ApplicationIdsPfds {
                            application_id: b"app2",
                            pfd_contexts: Vec::new(),
                        },
                    ],
                    node_id: None,
                },
            )),
        ),
        (
            "session set deletion request",
            bytes(&Pfcp::node(
                21,
                SessionSetDeletionRequest {
                    node_id: NodeId::Ipv4(SMF),
                    fq_csids: vec![
                        FqCsid {
                            node: CsidNode::Ipv4(SMF),
                            csids: SmallVec::from_slice(&[1, 0x0203]),
                            node_type: None,
                        },
                        FqCsid {
                            node: CsidNode::Ipv6("2001:db8::1".parse().unwrap()),
                            csids: SmallVec::from_elem(7, 1),
                            node_type: None,
                        },
                        FqCsid {
                            // MCC 001, MNC 01: (1 * 1000 + 1) << 12 | node 5.
                            node: CsidNode::Plmn(1001 << 12 | 5),
                            csids: SmallVec::from_elem(9, 1),
                            node_type: None,
                        },
                    ],
                },
            )),
        ),
        (
            "session set deletion response",
            bytes(&Pfcp::node(
                21,
                SessionSetDeletionResponse {
                    node_id: NodeId::Ipv4(UPF),
                    cause: Cause::REQUEST_ACCEPTED,
                    offending_ie: None,
                },
            )),
        ),
        (
            "session set deletion response (rejected)",
            bytes(&Pfcp::node(
                22,
                SessionSetDeletionResponse {
                    node_id: NodeId::Ipv4(UPF),
                    cause: Cause::MANDATORY_IE_MISSING,
                    offending_ie: Some(60),
                },
            )),
        ),
        (
            "establishment request (FQ-CSIDs)",
            bytes(&{
                let mut m = sample::establishment_request(23, &p);
                if let Message::SessionEstablishmentRequest(r) = &mut m.message {
                    r.fq_csids = vec![
                        FqCsid {
                            node: CsidNode::Ipv4(SMF),
                            csids: SmallVec::from_elem(0x11, 1),
                            node_type: None,
                        },
                        FqCsid {
                            node: CsidNode::Ipv4(Ipv4Addr::new(10, 1, 1, 1)),
                            csids: SmallVec::from_elem(0x22, 1),
                            // Rel-17 Node Type octet.
                            node_type: Some(0),
                        },
                    ];
                }
                m
            }),
        ),
        (
            "pfd management response",
            bytes(&Pfcp::node(
                14,
                PfdManagementResponse {
                    cause: Cause::MANDATORY_IE_MISSING,
                    offending_ie: Some(61),
                    node_id: None,
                },
            )),
        ),
    ]
}

/// A pcap (Ethernet / IPv4 / UDP 8805) of the payloads.
fn write_pcap(path: &std::path::Path, payloads: &[Vec<u8>]) {
    let mut f = Vec::new();
    f.extend_from_slice(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    f.extend_from_slice(&65535u32.to_le_bytes());
    f.extend_from_slice(&1u32.to_le_bytes());
    for (i, p) in payloads.iter().enumerate() {
        let udp_len = 8 + p.len();
        let ip_len = 20 + udp_len;
        let mut frame = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0];
        let mut ip = vec![
            0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        ip[2..4].copy_from_slice(&u16::try_from(ip_len).unwrap().to_be_bytes());
        let sum = !ip
            .chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
            .sum::<u32>()
            .rem_euclid(0xffff) as u16;
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        frame.extend_from_slice(&ip);
        frame.extend_from_slice(&[0x22, 0x65, 0x22, 0x65]);
        frame.extend_from_slice(&u16::try_from(udp_len).unwrap().to_be_bytes());
        frame.extend_from_slice(&[0, 0]);
        frame.extend_from_slice(p);
        f.extend_from_slice(&u32::try_from(i).unwrap().to_le_bytes());
        f.extend_from_slice(&0u32.to_le_bytes());
        f.extend_from_slice(&u32::try_from(frame.len()).unwrap().to_le_bytes());
        f.extend_from_slice(&u32::try_from(frame.len()).unwrap().to_le_bytes());
        f.extend_from_slice(&frame);
    }
    std::fs::write(path, f).unwrap();
}

fn temp_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("pfcp-test-{}-{name}", std::process::id()))
}

fn tshark(args: &[&str]) -> String {
    let out = Command::new("tshark")
        .args(args)
        .output()
        .expect("tshark not found: install the Debian package `tshark`");
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn tshark_decodes_what_we_encode_without_warnings() {
    let corpus = corpus();
    let path = temp_path("corpus.pcap");
    write_pcap(
        &path,
        &corpus.iter().map(|(_, b)| b.clone()).collect::<Vec<_>>(),
    );
    let p = path.to_str().unwrap();

    // Every frame is PFCP, of the type we encoded.
    let types = tshark(&["-r", p, "-T", "fields", "-e", "pfcp.msg_type"]);
    let types: Vec<u8> = types.lines().map(|l| l.trim().parse().unwrap()).collect();
    let ours: Vec<u8> = corpus.iter().map(|(_, b)| b[1]).collect();
    assert_eq!(types, ours);

    // No malformed packet, no expert info at all (errors, warnings, notes
    // such as "data not decoded"), frame by frame so the failure names it.
    let verbose = tshark(&["-r", p, "-V", "-o", "ip.check_checksum:TRUE"]);
    let frames: Vec<&str> = verbose.split("\nFrame ").collect();
    assert_eq!(frames.len(), corpus.len());
    for ((name, _), frame) in corpus.iter().zip(&frames) {
        let text = frame
            .split("Packet Forwarding Control Protocol")
            .nth(1)
            .unwrap_or("");
        assert!(!text.is_empty(), "{name}: not dissected as PFCP");
        for bad in [
            "Malformed",
            "Expert Info",
            "[Unknown",
            "Unknown IE",
            "Reserved",
        ] {
            assert!(
                !text.contains(bad),
                "{name}: tshark reports {bad:?}:\n{text}"
            );
        }
    }

    // Fields read back by tshark equal what we meant (the bits that public
    // crates get wrong among them).
    const FIELDS: &[&str] = &[
        "pfcp.gate_status.ulgate",
        "pfcp.gate_status.dlgate",
        "pfcp.ue_ip_addr_ipv4",
        "pfcp.f_teid.teid",
        "pfcp.flow_desc",
        "pfcp.volume_quota.tovol",
        "pfcp.f_teid_flags.ch",
        "pfcp.f_teid_flags.ch_id",
        "pfcp.ue_ip_address_flag.chv4",
        "pfcp.smreq_flags.sndem",
        "pfcp.outer_hdr_creation.teid",
        "pfcp.pdr_id",
        "pfcp.far_id",
        "pfcp.urr_id",
        "pfcp.qer_id",
        "pfcp.cause",
        "pfcp.offending_ie",
        "pfcp.report_type.upir",
        "pfcp.report_type.usar",
        "pfcp.fq_csid_node_id_type",
        "pfcp.num_csid",
        "pfcp.q_csid_node_id.ipv4",
        "pfcp.q_csid_node_id.ipv6",
        "pfcp.q_csid_node_id.mcc_mnc",
        "pfcp.q_csid_node_id.int",
        "pfcp.csid",
        "pfcp.fq_csid_node_type",
        "pfcp.node_id_ipv4",
    ];
    let mut args = vec!["-r", p, "-T", "fields", "-E", "occurrence=a"];
    for f in FIELDS {
        args.extend(["-e", f]);
    }
    let table = tshark(&args);
    let rows: Vec<Vec<&str>> = table.lines().map(|l| l.split('\t').collect()).collect();
    let field = |frame: usize, f: &str| {
        let col = FIELDS.iter().position(|x| *x == f).unwrap();
        rows[frame][col].to_string()
    };
    let idx = |name: &str| corpus.iter().position(|(n, _)| *n == name).unwrap();
    let full = idx("establishment request (full)");
    assert_eq!(
        field(full, "pfcp.gate_status.ulgate"),
        "1,0",
        "UL gate closed in QER 1, open in QER 2"
    );
    assert_eq!(field(full, "pfcp.gate_status.dlgate"), "0,0");
    assert_eq!(
        field(full, "pfcp.ue_ip_addr_ipv4"),
        "10.45.0.2,10.45.0.2,10.45.0.2,10.45.0.2"
    );
    assert_eq!(field(full, "pfcp.f_teid.teid"), "0x00000100,0x00000100");
    assert_eq!(
        field(full, "pfcp.flow_desc"),
        "permit out ip from any to assigned,permit out ip from any to assigned,permit out 17 from 10.1.0.0/16 5000-5100 to assigned,permit out 17 from 10.1.0.0/16 5000-5100 to assigned"
    );
    assert_eq!(field(full, "pfcp.volume_quota.tovol"), "5000");
    let choose = idx("establishment request (CHOOSE)");
    assert_eq!(field(choose, "pfcp.f_teid_flags.ch"), "1,1");
    assert_eq!(field(choose, "pfcp.f_teid_flags.ch_id"), "1,1");
    assert_eq!(field(choose, "pfcp.ue_ip_address_flag.chv4"), "1,1,1,1");
    let sw = idx("modification request (path switch, SNDEM)");
    assert_eq!(field(sw, "pfcp.smreq_flags.sndem"), "1");
    assert_eq!(field(sw, "pfcp.outer_hdr_creation.teid"), "0x00000300");
    let upir = idx("report request (user plane inactivity)");
    assert_eq!(field(upir, "pfcp.report_type.upir"), "1");
    assert_eq!(field(upir, "pfcp.report_type.usar"), "0");
    let all = idx("modification request (all operations)");
    assert_eq!(field(all, "pfcp.pdr_id"), "3,1");
    assert_eq!(field(all, "pfcp.far_id"), "3,1");
    assert_eq!(field(all, "pfcp.urr_id"), "3,1,1,1");
    assert_eq!(field(all, "pfcp.qer_id"), "3,1,1");
    assert_eq!(field(all, "pfcp.gate_status.dlgate"), "1");
    let rej = idx("establishment response (rejected)");
    assert_eq!(field(rej, "pfcp.cause"), "73");
    assert_eq!(field(rej, "pfcp.offending_ie"), "108");
    let ssd = idx("session set deletion request");
    assert_eq!(field(ssd, "pfcp.node_id_ipv4"), "10.0.0.1");
    assert_eq!(field(ssd, "pfcp.fq_csid_node_id_type"), "0,1,2");
    assert_eq!(field(ssd, "pfcp.num_csid"), "2,1,1");
    assert_eq!(field(ssd, "pfcp.q_csid_node_id.ipv4"), "10.0.0.1");
    assert_eq!(field(ssd, "pfcp.q_csid_node_id.ipv6"), "2001:db8::1");
    assert_eq!(field(ssd, "pfcp.q_csid_node_id.mcc_mnc"), "1001");
    assert_eq!(field(ssd, "pfcp.q_csid_node_id.int"), "5");
    assert_eq!(field(ssd, "pfcp.csid"), "1,515,7,9");
    let ssr = idx("session set deletion response");
    assert_eq!(field(ssr, "pfcp.node_id_ipv4"), "10.0.0.2");
    assert_eq!(field(ssr, "pfcp.cause"), "1");
    assert_eq!(field(ssr, "pfcp.offending_ie"), "");
    let ssr = idx("session set deletion response (rejected)");
    assert_eq!(field(ssr, "pfcp.cause"), "66");
    assert_eq!(field(ssr, "pfcp.offending_ie"), "60");
    let est = idx("establishment request (FQ-CSIDs)");
    assert_eq!(field(est, "pfcp.q_csid_node_id.ipv4"), "10.0.0.1,10.1.1.1");
    assert_eq!(field(est, "pfcp.csid"), "17,34");
    assert_eq!(field(est, "pfcp.fq_csid_node_type"), "0");
    let _ = std::fs::remove_file(&path);
}

/// Find a Python 3 that has scapy (the Debian python3-scapy package lives
/// in the system interpreter, which a pyenv shim may hide).
fn python_with_scapy() -> String {
    let mut candidates = Vec::new();
    if let Ok(p) = std::env::var("PFCP_TEST_PYTHON") {
        candidates.push(p);
    }
    candidates.extend(["python3".to_string(), "/usr/bin/python3".to_string()]);
    for c in &candidates {
        let ok = Command::new(c)
            .args(["-c", "import scapy.contrib.pfcp"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return c.clone();
        }
    }
    panic!(
        "no python3 with scapy: install the Debian package `python3-scapy` (or set PFCP_TEST_PYTHON)"
    );
}

fn scapy(mode: &str, input: &str) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scapy_pfcp.py");
    let mut child = Command::new(python_with_scapy())
        .args([script, mode])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "scapy script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn scapy_parses_and_rebuilds_what_we_encode() {
    let corpus = corpus();
    let input: String = corpus
        .iter()
        .map(|(n, b)| format!("{}\t{}\n", n.replace(' ', "_"), hex(b)))
        .collect();
    let out = scapy("parse", &input);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), corpus.len(), "{out}");
    // "<name>\tOK" or "<name>\t<problems>"
    let bad: Vec<&str> = lines.into_iter().filter(|l| !l.ends_with("\tOK")).collect();
    assert!(bad.is_empty(), "scapy disagrees:\n{}", bad.join("\n"));
}

#[test]
fn we_decode_what_scapy_builds() {
    let out = scapy("build", "");
    let msgs: Vec<(String, Vec<u8>)> = out
        .lines()
        .map(|l| {
            let (n, h) = l.split_once('\t').unwrap();
            (n.to_string(), unhex(h))
        })
        .collect();
    assert!(msgs.len() >= 8, "{out}");
    for (name, b) in &msgs {
        let (m, rest) = Pfcp::decode(b).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(rest.is_empty());
        // Values scapy was given (see tests/scapy_pfcp.py).
        match (name.as_str(), &m.message) {
            ("heartbeat", Message::HeartbeatRequest(r)) => {
                assert_eq!(r.recovery_time_stamp, 3_900_000_000);
            }
            ("association_setup", Message::AssociationSetupRequest(r)) => {
                assert_eq!(r.node_id, NodeId::Ipv4(SMF));
                assert_eq!(r.recovery_time_stamp, 3_900_000_000);
            }
            ("establishment", Message::SessionEstablishmentRequest(r)) => {
                assert_eq!(m.seq, 42);
                assert_eq!(
                    r.cp_f_seid,
                    FSeid {
                        seid: 0x1234,
                        ipv4: Some(SMF),
                        ipv6: None
                    }
                );
                assert_eq!(r.create_pdr.len(), 2);
                let ul = &r.create_pdr[0];
                assert_eq!(ul.pdr_id, 1);
                assert_eq!(ul.precedence, 200);
                assert_eq!(ul.pdi.source_interface, SourceInterface::ACCESS);
                assert_eq!(
                    ul.pdi.local_f_teid,
                    Some(FTeid::Choose {
                        v4: true,
                        v6: false,
                        choose_id: Some(5)
                    })
                );
                assert_eq!(ul.pdi.network_instance.unwrap().to_text(), "access");
                assert_eq!(
                    ul.pdi.sdf_filters[0].flow_description,
                    Some(&b"permit out ip from any to assigned"[..])
                );
                assert_eq!(ul.pdi.qfis[0], Qfi(9));
                assert_eq!(ul.outer_header_removal.unwrap().description, 0);
                assert_eq!(&ul.urr_ids[..], &[1]);
                assert_eq!(&ul.qer_ids[..], &[1]);
                let dl = &r.create_pdr[1];
                assert_eq!(
                    dl.pdi.ue_ip_address[0].ipv4,
                    Some(Ipv4Addr::new(10, 45, 0, 9))
                );
                assert!(dl.pdi.ue_ip_address[0].is_destination);
                let far = &r.create_far[1];
                assert!(far.apply_action.contains(ApplyAction::FORW));
                let ohc = far
                    .forwarding_parameters
                    .as_ref()
                    .unwrap()
                    .outer_header_creation
                    .unwrap();
                assert_eq!((ohc.teid, ohc.ipv4), (Some(0xabcd), Some(GNB)));
                let q = &r.create_qer[0];
                assert_eq!(
                    q.gate_status,
                    GateStatus {
                        ul: Gate::Open,
                        dl: Gate::Closed
                    }
                );
                assert_eq!(
                    q.mbr,
                    Some(Bitrate {
                        ul_kbps: 1000,
                        dl_kbps: 2000
                    })
                );
                assert_eq!(q.qfi, Some(Qfi(9)));
                let u = &r.create_urr[0];
                assert!(
                    u.reporting_triggers
                        .contains(ReportingTriggers::VOLTH | ReportingTriggers::PERIO)
                );
                assert_eq!(
                    u.volume_threshold,
                    Some(Volume {
                        total: Some(10_000),
                        ul: None,
                        dl: None
                    })
                );
                assert_eq!(u.measurement_period, Some(60));
            }
            ("modification", Message::SessionModificationRequest(r)) => {
                assert_eq!(m.seid, Some(0x99));
                assert_eq!(r.remove_pdr[0].pdr_id, 4);
                assert_eq!(r.remove_far[0].far_id, 4);
                let uf = &r.update_far[0];
                let ufp = uf.update_forwarding_parameters.as_ref().unwrap();
                assert!(ufp.pfcpsmreq_flags.unwrap().contains(PfcpsmReqFlags::SNDEM));
                assert_eq!(ufp.outer_header_creation.unwrap().teid, Some(0x5555));
                assert_eq!(r.query_urr[0].urr_id, 1);
            }
            ("deletion", Message::SessionDeletionRequest(_)) => assert_eq!(m.seid, Some(0x99)),
            ("report_response", Message::SessionReportResponse(r)) => {
                assert_eq!(r.cause, Cause::REQUEST_ACCEPTED);
            }
            ("association_release", Message::AssociationReleaseRequest(r)) => {
                assert_eq!(r.node_id, NodeId::Ipv4(SMF));
            }
            ("pfd_management", Message::PfdManagementRequest(r)) => {
                let a = &r.application_ids_pfds[0];
                assert_eq!(a.application_id, b"app1");
                let c = &a.pfd_contexts[0].pfd_contents;
                assert_eq!(
                    c[0].flow_description,
                    Some(&b"permit out 6 from 198.51.100.1 443 to assigned"[..])
                );
                assert_eq!(c[1].url, Some(&b"http://example.com/"[..]));
                assert_eq!(c[1].flow_description, None);
                assert_eq!(r.application_ids_pfds[1].application_id, b"app2");
                assert!(r.application_ids_pfds[1].pfd_contexts.is_empty());
            }
            ("session_set_deletion", Message::SessionSetDeletionRequest(r)) => {
                assert_eq!(r.node_id, NodeId::Ipv4(SMF));
                assert_eq!(
                    r.fq_csids,
                    vec![
                        FqCsid {
                            node: CsidNode::Ipv4(SMF),
                            csids: SmallVec::from_slice(&[1, 2]),
                            node_type: None,
                        },
                        FqCsid {
                            node: CsidNode::Ipv6("2001:db8::9".parse().unwrap()),
                            csids: SmallVec::from_elem(3, 1),
                            node_type: None,
                        },
                        FqCsid {
                            node: CsidNode::Plmn(0x12345 << 12 | 0x678),
                            csids: SmallVec::from_elem(4, 1),
                            node_type: None,
                        },
                    ]
                );
            }
            ("session_set_deletion_response", Message::SessionSetDeletionResponse(r)) => {
                assert_eq!(r.node_id, NodeId::Ipv4(UPF));
                assert_eq!(r.cause, Cause::MANDATORY_IE_MISSING);
                assert_eq!(r.offending_ie, Some(60));
            }
            ("establishment_fq_csid", Message::SessionEstablishmentRequest(r)) => {
                assert_eq!(
                    r.fq_csids,
                    vec![FqCsid {
                        node: CsidNode::Ipv4(SMF),
                        csids: SmallVec::from_elem(0x11, 1),
                        node_type: None,
                    }]
                );
            }
            ("heartbeat_response", Message::HeartbeatResponse(r)) => {
                assert_eq!(r.recovery_time_stamp, 1);
            }
            (n, other) => panic!("unexpected {n}: {other:?}"),
        }
    }
}

/// Session Set Modification Request/Response (Rel-17, types 16/17) and
/// the Rel-17 Group Id / CP IP Address in an establishment: Wireshark 4.0
/// decodes them without a warning and reads back the addresses, flags and
/// causes we meant. (Not in the scapy corpus: scapy 2.5 has no message 16
/// or 17.)
#[test]
fn tshark_decodes_session_set_modification() {
    let v6: std::net::Ipv6Addr = "2001:db8::5".parse().unwrap();
    let msgs: Vec<(&str, Vec<u8>)> = vec![
        (
            "session set modification request",
            bytes(&Pfcp::node(
                31,
                SessionSetModificationRequest {
                    node_id: None,
                    alternative_smf_ip_address: AlternativeSmfIpAddress {
                        ipv4: Some(Ipv4Addr::new(10, 0, 0, 9)),
                        ipv6: Some(v6),
                        ppe: true,
                    },
                    fq_csids: vec![FqCsid {
                        node: CsidNode::Ipv4(SMF),
                        csids: SmallVec::from_slice(&[1, 2]),
                        node_type: None,
                    }],
                    group_ids: vec![b"grp-a", b"grp-b"],
                    cp_ip_addresses: vec![
                        CpIpAddress {
                            ipv4: Some(SMF),
                            ipv6: None,
                        },
                        CpIpAddress {
                            ipv4: None,
                            ipv6: Some(v6),
                        },
                    ],
                },
            )),
        ),
        (
            "session set modification response",
            bytes(&Pfcp::node(
                31,
                SessionSetModificationResponse {
                    node_id: NodeId::Ipv4(UPF),
                    cause: Cause::MANDATORY_IE_MISSING,
                    offending_ie: Some(178),
                },
            )),
        ),
        (
            "establishment request (Group Id, CP IP Address)",
            bytes(&{
                let mut m = sample::establishment_request(
                    32,
                    &SessionParams {
                        cp_seid: 9,
                        smf_addr: SMF,
                        ue_ip: None,
                        ul_teid: None,
                        gnb: None,
                    },
                );
                if let Message::SessionEstablishmentRequest(r) = &mut m.message {
                    r.group_id = Some(b"grp-a");
                    r.cp_ip_address = Some(CpIpAddress {
                        ipv4: Some(Ipv4Addr::new(10, 9, 9, 9)),
                        ipv6: None,
                    });
                }
                m
            }),
        ),
    ];
    let path = temp_path("ssm.pcap");
    write_pcap(
        &path,
        &msgs.iter().map(|(_, b)| b.clone()).collect::<Vec<_>>(),
    );
    let p = path.to_str().unwrap();
    let verbose = tshark(&["-r", p, "-V"]);
    let frames: Vec<&str> = verbose.split("\nFrame ").collect();
    assert_eq!(frames.len(), msgs.len());
    for ((name, _), frame) in msgs.iter().zip(&frames) {
        let text = frame
            .split("Packet Forwarding Control Protocol")
            .nth(1)
            .unwrap_or("");
        assert!(!text.is_empty(), "{name}: not dissected as PFCP");
        for bad in ["Malformed", "Expert Info", "[Unknown", "Unknown IE"] {
            assert!(
                !text.contains(bad),
                "{name}: tshark reports {bad:?}:\n{text}"
            );
        }
    }
    const FIELDS: &[&str] = &[
        "pfcp.msg_type",
        "pfcp.alternative_smf_ip_address.ipv4",
        "pfcp.alternative_smf_ip_address.ipv6",
        "pfcp.alternative_smf_ip_address_flags.ppe",
        "pfcp.q_csid_node_id.ipv4",
        "pfcp.csid",
        "pfcp.group_id",
        "pfcp.cp_ip_address.ipv4",
        "pfcp.cp_ip_address.ipv6",
        "pfcp.node_id_ipv4",
        "pfcp.cause",
        "pfcp.offending_ie",
    ];
    let mut args = vec!["-r", p, "-T", "fields", "-E", "occurrence=a"];
    for f in FIELDS {
        args.extend(["-e", f]);
    }
    let table = tshark(&args);
    let rows: Vec<Vec<&str>> = table.lines().map(|l| l.split('\t').collect()).collect();
    let field = |frame: usize, f: &str| {
        let col = FIELDS.iter().position(|x| *x == f).unwrap();
        rows[frame][col].to_string()
    };
    assert_eq!(field(0, "pfcp.msg_type"), "16");
    assert_eq!(field(0, "pfcp.alternative_smf_ip_address.ipv4"), "10.0.0.9");
    assert_eq!(
        field(0, "pfcp.alternative_smf_ip_address.ipv6"),
        "2001:db8::5"
    );
    assert_eq!(field(0, "pfcp.alternative_smf_ip_address_flags.ppe"), "1");
    assert_eq!(field(0, "pfcp.q_csid_node_id.ipv4"), "10.0.0.1");
    assert_eq!(field(0, "pfcp.csid"), "1,2");
    assert_eq!(field(0, "pfcp.group_id"), "grp-a,grp-b");
    assert_eq!(field(0, "pfcp.cp_ip_address.ipv4"), "10.0.0.1");
    assert_eq!(field(0, "pfcp.cp_ip_address.ipv6"), "2001:db8::5");
    assert_eq!(field(1, "pfcp.msg_type"), "17");
    assert_eq!(field(1, "pfcp.node_id_ipv4"), "10.0.0.2");
    assert_eq!(field(1, "pfcp.cause"), "66");
    assert_eq!(field(1, "pfcp.offending_ie"), "178");
    assert_eq!(field(2, "pfcp.group_id"), "grp-a");
    assert_eq!(field(2, "pfcp.cp_ip_address.ipv4"), "10.9.9.9");
    let _ = std::fs::remove_file(&path);
}
