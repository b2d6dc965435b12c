//! Codec tests: round trip of every IE and message (property tests), any
//! bytes decode without panicking, and the encodings that public crates get
//! wrong, checked bit by bit against TS 29.244.

use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::grouped::*;
use super::ie_type as t;
use super::ies::*;
use super::message::*;
use super::testgen::{G, Gen};
use super::{DecodeError, ErrorKind, IeValue, put_ie};

fn enc<'a, T: IeValue<'a>>(v: &T) -> Vec<u8> {
    let mut out = Vec::new();
    v.encode(&mut out);
    out
}

/// `decode(encode(x)) == x` and re-encoding gives the same bytes.
fn check_roundtrip<T>(seed: u64)
where
    T: IeValue<'static> + Gen + PartialEq + std::fmt::Debug,
{
    let v = T::generate(&mut G::new(seed));
    // Leaked, so that borrowing types decode at 'static like the generator's.
    let bytes: &'static [u8] = Box::leak(enc(&v).into_boxed_slice());
    let back = T::decode(bytes).unwrap_or_else(|e| panic!("{v:?} -> {bytes:02x?}: {e}"));
    assert_eq!(back, v, "bytes {bytes:02x?}");
    assert_eq!(enc(&back), bytes);
}

macro_rules! roundtrip_tests {
    ($($name:ident: $ty:ty,)*) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]
            $(
                #[test]
                fn $name(seed in any::<u64>()) {
                    check_roundtrip::<$ty>(seed);
                }
            )*
        }
    };
}

// Borrowing types are tested at 'static (the generator leaks its bytes).
roundtrip_tests! {
    rt_cause: Cause,
    rt_node_id: NodeId<'static>,
    rt_f_seid: FSeid,
    rt_f_teid: FTeid,
    rt_source_interface: SourceInterface,
    rt_destination_interface: DestinationInterface,
    rt_network_instance: Name<'static>,
    rt_sdf_filter: SdfFilter<'static>,
    rt_ue_ip_address: UeIpAddress,
    rt_qfi: Qfi,
    rt_outer_header_removal: OuterHeaderRemoval,
    rt_outer_header_creation: OuterHeaderCreation,
    rt_gate_status: GateStatus,
    rt_bitrate: Bitrate,
    rt_volume: Volume,
    rt_volume_measurement: VolumeMeasurement,
    rt_failed_rule_id: FailedRuleId,
    rt_dl_data_service_information: DownlinkDataServiceInformation,
    rt_packet_count: PacketCount,
    rt_remote_gtpu_peer: RemoteGtpuPeer<'static>,
    rt_up_function_features: UpFunctionFeatures,
    rt_cp_function_features: CpFunctionFeatures,
    rt_apply_action: ApplyAction,
    rt_measurement_method: MeasurementMethod,
    rt_reporting_triggers: ReportingTriggers,
    rt_usage_report_trigger: UsageReportTrigger,
    rt_report_type: ReportType,
    rt_pfcpsmreq_flags: PfcpsmReqFlags,
    rt_pfcpsrrsp_flags: PfcpsrRspFlags,
    rt_pfcpsrreq_flags: PfcpsrReqFlags,
    rt_pfcpaureq_flags: PfcpauReqFlags,
    rt_pfcpsereq_flags: PfcpseReqFlags,
    rt_association_release_request_ie: PfcpAssociationReleaseRequest,
    rt_node_report_type: NodeReportType,
    rt_measurement_information: MeasurementInformation,
    rt_usage_information: UsageInformation,
    rt_rqi: Rqi,
    rt_pfd_contents: PfdContents<'static>,
    rt_pfd_context: PfdContext<'static>,
    rt_application_ids_pfds: ApplicationIdsPfds<'static>,
    rt_pfd_management_request: PfdManagementRequest<'static>,
    rt_pfd_management_response: PfdManagementResponse<'static>,
    rt_pdi: Pdi<'static>,
    rt_create_pdr: CreatePdr<'static>,
    rt_forwarding_parameters: ForwardingParameters<'static>,
    rt_create_far: CreateFar<'static>,
    rt_create_urr: CreateUrr,
    rt_create_qer: CreateQer,
    rt_create_bar: CreateBar,
    rt_created_pdr: CreatedPdr,
    rt_update_pdr: UpdatePdr<'static>,
    rt_update_forwarding_parameters: UpdateForwardingParameters<'static>,
    rt_update_far: UpdateFar<'static>,
    rt_update_urr: UpdateUrr,
    rt_update_qer: UpdateQer,
    rt_update_bar: UpdateBar,
    rt_remove_pdr: RemovePdr,
    rt_remove_far: RemoveFar,
    rt_remove_urr: RemoveUrr,
    rt_remove_qer: RemoveQer,
    rt_remove_bar: RemoveBar,
    rt_query_urr: QueryUrr,
    rt_usage_report: UsageReport<'static>,
    rt_downlink_data_report: DownlinkDataReport,
    rt_error_indication_report: ErrorIndicationReport,
    rt_user_plane_path_report: UserPlanePathReport<'static>,
    rt_heartbeat_request: HeartbeatRequest,
    rt_heartbeat_response: HeartbeatResponse,
    rt_association_setup_request: AssociationSetupRequest<'static>,
    rt_association_setup_response: AssociationSetupResponse<'static>,
    rt_association_update_request: AssociationUpdateRequest<'static>,
    rt_association_update_response: AssociationUpdateResponse<'static>,
    rt_association_release_request: AssociationReleaseRequest<'static>,
    rt_association_release_response: AssociationReleaseResponse<'static>,
    rt_version_not_supported_response: VersionNotSupportedResponse,
    rt_node_report_request: NodeReportRequest<'static>,
    rt_node_report_response: NodeReportResponse<'static>,
    rt_fq_csid: FqCsid,
    rt_session_set_deletion_request: SessionSetDeletionRequest<'static>,
    rt_session_set_deletion_response: SessionSetDeletionResponse<'static>,
    rt_alternative_smf_ip_address: AlternativeSmfIpAddress,
    rt_cp_ip_address: CpIpAddress,
    rt_session_set_modification_request: SessionSetModificationRequest<'static>,
    rt_session_set_modification_response: SessionSetModificationResponse<'static>,
    rt_session_establishment_request: SessionEstablishmentRequest<'static>,
    rt_session_establishment_response: SessionEstablishmentResponse<'static>,
    rt_session_modification_request: SessionModificationRequest<'static>,
    rt_session_modification_response: SessionModificationResponse<'static>,
    rt_session_deletion_request: SessionDeletionRequest,
    rt_session_deletion_response: SessionDeletionResponse<'static>,
    rt_session_report_request: SessionReportRequest<'static>,
    rt_session_report_response: SessionReportResponse<'static>,
}

fn gen_pfcp(seed: u64) -> Pfcp<'static> {
    let mut g = G::new(seed);
    let message = gen_message(&mut g);
    let session = msg_type::is_session(message.msg_type());
    Pfcp {
        seid: session.then(|| g.u64()),
        seq: g.u32() & 0x00ff_ffff,
        priority: if session {
            g.opt(|g| g.u8() & 0x0f)
        } else {
            None
        },
        message,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Whole messages, header included, round trip exactly.
    #[test]
    fn message_roundtrip(seed in any::<u64>()) {
        let m = gen_pfcp(seed);
        let mut buf = Vec::new();
        m.encode(&mut buf).unwrap();
        // SmallVec makes messages invariant in their lifetime: decode at 'static.
        let buf: &'static [u8] = Box::leak(buf.into_boxed_slice());
        let (back, rest) = Pfcp::decode(buf).unwrap();
        prop_assert!(rest.is_empty());
        prop_assert_eq!(&back, &m);
        let mut again = Vec::new();
        back.encode(&mut again).unwrap();
        prop_assert_eq!(&again[..], buf);
    }

    /// Several messages in one datagram with FO.
    #[test]
    fn batch_roundtrip(a in any::<u64>(), b in any::<u64>(), c in any::<u64>()) {
        let msgs = [gen_pfcp(a), gen_pfcp(b), gen_pfcp(c)];
        let mut buf = Vec::new();
        encode_batch(&msgs, &mut buf).unwrap();
        let buf: &'static [u8] = Box::leak(buf.into_boxed_slice());
        let back: Vec<_> = decode_datagram(buf).collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(&back[..], &msgs[..]);
    }

    /// Any bytes: Ok or Err, never a panic.
    #[test]
    fn any_bytes_decode(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        for r in decode_datagram(&bytes) {
            let _ = r;
        }
        let _ = SessionEstablishmentRequest::decode(&bytes);
        let _ = SessionModificationRequest::decode(&bytes);
        let _ = UeIpAddress::decode(&bytes);
        let _ = FTeid::decode(&bytes);
        let _ = SdfFilter::decode(&bytes);
        let _ = OuterHeaderCreation::decode(&bytes);
        let _ = RemoteGtpuPeer::decode(&bytes);
    }

    /// Valid messages with bytes flipped: Ok or Err, never a panic.
    #[test]
    fn mutated_messages_decode(seed in any::<u64>(), flips in proptest::collection::vec((any::<u16>(), any::<u8>()), 1..8)) {
        let mut buf = Vec::new();
        gen_pfcp(seed).encode(&mut buf).unwrap();
        for (pos, val) in flips {
            let i = usize::from(pos) % buf.len();
            buf[i] = val;
        }
        for r in decode_datagram(&buf) {
            let _ = r;
        }
    }
}

// ---- exact encodings -----------------------------------------------------------

#[test]
fn gate_status_bits() {
    // UL gate is bits 4-3, DL gate bits 2-1 (§8.2.7).
    let g = GateStatus {
        ul: Gate::Closed,
        dl: Gate::Open,
    };
    assert_eq!(enc(&g), [0b0000_0100]);
    let g = GateStatus {
        ul: Gate::Open,
        dl: Gate::Closed,
    };
    assert_eq!(enc(&g), [0b0000_0001]);
    assert_eq!(
        GateStatus::decode(&[0x05]).unwrap(),
        GateStatus {
            ul: Gate::Closed,
            dl: Gate::Closed
        }
    );
}

#[test]
fn remove_rules_carry_their_inner_id_ie() {
    let mut out = Vec::new();
    put_ie(&mut out, t::REMOVE_PDR, &RemovePdr { pdr_id: 7 });
    assert_eq!(out, [0, 15, 0, 6, 0, 56, 0, 2, 0, 7]);
    out.clear();
    put_ie(
        &mut out,
        t::REMOVE_FAR,
        &RemoveFar {
            far_id: 0x0102_0304,
        },
    );
    assert_eq!(out, [0, 16, 0, 8, 0, 108, 0, 4, 1, 2, 3, 4]);
    out.clear();
    put_ie(&mut out, t::REMOVE_QER, &RemoveQer { qer_id: 9 });
    assert_eq!(out, [0, 18, 0, 8, 0, 109, 0, 4, 0, 0, 0, 9]);
    out.clear();
    put_ie(&mut out, t::REMOVE_URR, &RemoveUrr { urr_id: 3 });
    assert_eq!(out, [0, 17, 0, 8, 0, 81, 0, 4, 0, 0, 0, 3]);
}

#[test]
fn update_forwarding_parameters_carry_sndem() {
    let ufp = UpdateForwardingParameters {
        destination_interface: None,
        network_instance: None,
        redirect_information: false,
        outer_header_creation: Some(OuterHeaderCreation::gtpu_v4(
            0x1234,
            Ipv4Addr::new(10, 0, 0, 2),
        )),
        transport_level_marking: None,
        forwarding_policy: false,
        header_enrichment: false,
        pfcpsmreq_flags: Some(PfcpsmReqFlags::SNDEM),
        linked_traffic_endpoint_id: false,
        destination_interface_type: None,
    };
    let b = enc(&ufp);
    assert_eq!(
        b,
        [
            0, 84, 0, 10, 0x01, 0x00, 0, 0, 0x12, 0x34, 10, 0, 0, 2, // OHC
            0, 49, 0, 1, 0x02, // PFCPSMReq-Flags: SNDEM is bit 2
        ]
    );
    let back = UpdateForwardingParameters::decode(&b).unwrap();
    assert!(
        back.pfcpsmreq_flags
            .unwrap()
            .contains(PfcpsmReqFlags::SNDEM)
    );
}

#[test]
fn zero_length_ies() {
    // A grouped IE with only conditional children may be empty.
    let ufp = UpdateForwardingParameters::decode(&[]).unwrap();
    assert_eq!(ufp.outer_header_creation, None);
    // An empty Update Forwarding Parameters inside Update FAR.
    let uf = UpdateFar::decode(&[0, 108, 0, 4, 0, 0, 0, 1, 0, 11, 0, 0]).unwrap();
    assert!(uf.update_forwarding_parameters.is_some());
    // A zero-length Network Instance is an empty name.
    let fp = ForwardingParameters::decode(&[0, 42, 0, 1, 1, 0, 22, 0, 0]).unwrap();
    assert_eq!(fp.network_instance, Some(Name(&[])));
    // A grouped IE with a mandatory child cannot be empty: name the child.
    assert_eq!(
        CreateFar::decode(&[]).unwrap_err(),
        DecodeError::missing(t::FAR_ID)
    );
    // A fixed IE cannot be empty.
    let e = RemoveFar::decode(&[0, 108, 0, 0]).unwrap_err();
    assert_eq!(
        e,
        DecodeError {
            kind: ErrorKind::InvalidLength,
            ie: Some(t::FAR_ID)
        }
    );
}

#[test]
fn follow_on_flag() {
    let a = Pfcp::node(
        1,
        HeartbeatRequest {
            recovery_time_stamp: 5,
        },
    );
    let b = Pfcp::node(
        2,
        HeartbeatResponse {
            recovery_time_stamp: 6,
        },
    );
    let mut buf = Vec::new();
    encode_batch(&[a.clone(), b.clone()], &mut buf).unwrap();
    assert_eq!(buf[0], 0x24, "FO set on the first");
    assert_eq!(buf[16], 0x20, "FO clear on the last");
    let leaked: &'static [u8] = Box::leak(buf.clone().into_boxed_slice());
    let v: Vec<_> = decode_datagram(leaked).map(Result::unwrap).collect();
    assert_eq!(v, [a.clone(), b]);
    // Without FO, a second message is trailing garbage.
    buf[0] = 0x20;
    let e = Pfcp::decode(&buf).unwrap_err();
    assert_eq!(e.error.kind, ErrorKind::InvalidLength);
    assert_eq!(e.header.unwrap().seq, 1);
    // A single message never has FO.
    let mut one = Vec::new();
    a.encode(&mut one).unwrap();
    assert_eq!(one[0], 0x20);
}

#[test]
fn header_layouts() {
    let m = Pfcp {
        seid: Some(0x0102_0304_0506_0708),
        seq: 0xabcdef,
        priority: Some(3),
        message: SessionDeletionRequest {}.into(),
    };
    let mut b = Vec::new();
    m.encode(&mut b).unwrap();
    assert_eq!(
        b,
        [
            0x23, 54, 0, 12, 1, 2, 3, 4, 5, 6, 7, 8, 0xab, 0xcd, 0xef, 0x30
        ]
    );
    let hb = Pfcp::node(
        0x010203,
        HeartbeatRequest {
            recovery_time_stamp: 0x11223344,
        },
    );
    b.clear();
    hb.encode(&mut b).unwrap();
    assert_eq!(
        b,
        [
            0x20, 1, 0, 12, 1, 2, 3, 0, 0, 96, 0, 4, 0x11, 0x22, 0x33, 0x44
        ]
    );
}

#[test]
fn header_errors() {
    assert_eq!(
        Pfcp::decode(&[0x20, 1, 0]).unwrap_err().error.kind,
        ErrorKind::TruncatedHeader
    );
    let e = Pfcp::decode(&[0x40, 1, 0, 4, 0, 0, 9, 0]).unwrap_err();
    assert_eq!(e.error.kind, ErrorKind::UnsupportedVersion(2));
    assert_eq!(e.header.unwrap().seq, 9);
    // Session message without S flag.
    let e = Pfcp::decode(&[0x20, 54, 0, 4, 0, 0, 9, 0]).unwrap_err();
    assert_eq!(e.error.kind, ErrorKind::InvalidSeidFlag);
    // Length beyond the datagram.
    let e = Pfcp::decode(&[0x20, 1, 0, 40, 0, 0, 9, 0]).unwrap_err();
    assert_eq!(e.error.kind, ErrorKind::InvalidLength);
    let e = Pfcp::decode(&[0x20, 99, 0, 4, 0, 0, 9, 0]).unwrap_err();
    assert_eq!(e.error.kind, ErrorKind::UnknownMessageType(99));
}

#[test]
fn errors_name_the_ie() {
    // F-TEID says V4 but is 2 octets short: invalid length of F-TEID,
    // reported through PDI and Create PDR as the innermost IE.
    let mut pdi = Vec::new();
    put_ie(&mut pdi, t::SOURCE_INTERFACE, &SourceInterface::ACCESS);
    pdi.extend_from_slice(&[0, 21, 0, 7, 0x01, 0, 0, 0, 1, 10, 0]);
    let e = Pdi::decode(&pdi).unwrap_err();
    assert_eq!(
        e,
        DecodeError {
            kind: ErrorKind::InvalidLength,
            ie: Some(t::F_TEID)
        }
    );
    assert_eq!(e.cause(), Cause::INVALID_LENGTH);
    assert!(e.to_string().contains("F-TEID"), "{e}");
    // An IE length that runs past its container.
    let e = Pdi::decode(&[0, 20, 0, 9, 0]).unwrap_err();
    assert_eq!(
        e,
        DecodeError {
            kind: ErrorKind::InvalidLength,
            ie: Some(t::SOURCE_INTERFACE)
        }
    );
    // Stray octets after the last IE: the container is named by its parent.
    let mut cp = Vec::new();
    put_ie(&mut cp, t::PDR_ID, &1u16);
    put_ie(&mut cp, t::PRECEDENCE, &1u32);
    cp.extend_from_slice(&[0, 2, 0, 7, 0, 20, 0, 1, 0, 0xff, 0xff]);
    let e = CreatePdr::decode(&cp).unwrap_err();
    assert_eq!(
        e,
        DecodeError {
            kind: ErrorKind::InvalidLength,
            ie: Some(t::PDI)
        }
    );
    // Bad content: Node ID type 7.
    let e = AssociationSetupRequest::decode(&[0, 60, 0, 5, 7, 1, 2, 3, 4, 0, 96, 0, 4, 0, 0, 0, 0])
        .unwrap_err();
    assert_eq!(
        e,
        DecodeError {
            kind: ErrorKind::InvalidValue,
            ie: Some(t::NODE_ID)
        }
    );
    assert_eq!(e.cause(), Cause::MANDATORY_IE_INCORRECT);
}

#[test]
fn unknown_and_vendor_ies_are_skipped() {
    let mut b = Vec::new();
    b.extend_from_slice(&[0x80, 0x01, 0, 6, 0x12, 0x34, 1, 2, 3, 4]); // vendor IE
    b.extend_from_slice(&[0x03, 0xe7, 0, 2, 9, 9]); // type 999, unknown
    put_ie(&mut b, t::RECOVERY_TIME_STAMP, &77u32);
    assert_eq!(
        HeartbeatRequest::decode(&b).unwrap().recovery_time_stamp,
        77
    );
}

#[test]
fn extendable_ies_ignore_extra_octets() {
    // A Rel-17 sender may append octets to an extendable IE.
    assert_eq!(u32::decode(&[0, 0, 0, 5, 0xee]).unwrap(), 5);
    let f = FSeid::decode(&[0x02, 0, 0, 0, 0, 0, 0, 0, 1, 10, 0, 0, 1, 0xee]).unwrap();
    assert_eq!(f.ipv4, Some(Ipv4Addr::new(10, 0, 0, 1)));
}

#[test]
fn f_teid_choose_forms() {
    assert_eq!(
        FTeid::decode(&[0x05]).unwrap(),
        FTeid::Choose {
            v4: true,
            v6: false,
            choose_id: None
        }
    );
    assert_eq!(
        FTeid::decode(&[0x0d, 7]).unwrap(),
        FTeid::Choose {
            v4: true,
            v6: false,
            choose_id: Some(7)
        }
    );
    // CHOOSE without an address family (seen from real SMFs).
    assert_eq!(
        FTeid::decode(&[0x04]).unwrap(),
        FTeid::Choose {
            v4: false,
            v6: false,
            choose_id: None
        }
    );
    assert_eq!(
        enc(&FTeid::Choose {
            v4: true,
            v6: true,
            choose_id: Some(2)
        }),
        [0x0f, 2]
    );
}

#[test]
fn ue_ip_address_choose_forms() {
    // CHV4 alone (the spec's form).
    let u = UeIpAddress::decode(&[0x10]).unwrap();
    assert!(u.choose_v4 && u.ipv4.is_none());
    // CHV4 with V4 and no address (some SMFs): still a CHOOSE.
    let u = UeIpAddress::decode(&[0x12]).unwrap();
    assert!(u.choose_v4 && u.ipv4.is_none());
    // CHV4 with V4 and an address.
    let u = UeIpAddress::decode(&[0x12, 10, 0, 0, 1]).unwrap();
    assert_eq!(u.ipv4, Some(Ipv4Addr::new(10, 0, 0, 1)));
    // Destination address.
    let u = UeIpAddress::decode(&[0x06, 10, 45, 0, 2]).unwrap();
    assert!(u.is_destination);
    assert_eq!(u.ipv4, Some(Ipv4Addr::new(10, 45, 0, 2)));
    assert_eq!(enc(&u), [0x06, 10, 45, 0, 2]);
}

#[test]
fn names_plain_and_labels() {
    assert_eq!(Name(b"internet").to_text(), "internet");
    assert_eq!(Name(b"\x08internet\x05mnc01").to_text(), "internet.mnc01");
    assert_eq!(encode_labels("internet.mnc01"), b"\x08internet\x05mnc01");
    assert_eq!(Name(b"sgi1").to_text(), "sgi1");
}

#[test]
fn flags_ie_helpers() {
    let a = ApplyAction::FORW | ApplyAction::NOCP;
    assert!(a.contains(ApplyAction::FORW));
    assert!(!a.contains(ApplyAction::DROP));
    assert_eq!(enc(&a), [0x0a]);
    let b = ApplyAction::DROP | ApplyAction::BDPN;
    assert_eq!(enc(&b), [0x01, 0x02]);
    let f = UpFunctionFeatures::FTUP | UpFunctionFeatures::UEIP;
    assert_eq!(enc(&f), [0x10, 0x00, 0x04]);
    assert_eq!(f.names().collect::<Vec<_>>(), ["FTUP", "UEIP"]);
    assert_eq!(enc(&UpFunctionFeatures::empty()), [0, 0]);
}

#[test]
fn message_body_missing_mandatory() {
    let m = Pfcp::session(0, 1, SessionDeletionRequest {});
    let mut b = Vec::new();
    m.encode(&mut b).unwrap();
    b[1] = msg_type::SESSION_ESTABLISHMENT_REQUEST;
    let e = Pfcp::decode(&b).unwrap_err();
    assert_eq!(e.error, DecodeError::missing(t::NODE_ID));
    assert_eq!(e.error.cause(), Cause::MANDATORY_IE_MISSING);
    assert_eq!(
        e.header.unwrap().msg_type,
        msg_type::SESSION_ESTABLISHMENT_REQUEST
    );
}

/// PFD contents (TS 29.244 §8.2.39, Rel-15 layout): flags FD=bit 1 ...
/// ADNP=bit 8, a spare octet, then each present field as length + value in
/// flag order; the additional fields are lists of length + value items.
#[test]
fn pfd_contents_layout() {
    let afd: &[u8] = &[0, 3, b'a', b'b', b'c', 0, 1, b'd'];
    let p = PfdContents {
        flow_description: Some(b"permit out ip from 10.0.0.1 to assigned"),
        domain_name: Some(b"example.com"),
        additional_flow_description: Some(afd),
        ..PfdContents::default()
    };
    let b = enc(&p);
    assert_eq!(b[0], 0x01 | 0x04 | 0x20);
    assert_eq!(b[1], 0);
    assert_eq!(&b[2..4], &[0, 39]);
    assert_eq!(&b[4..43], b"permit out ip from 10.0.0.1 to assigned");
    assert_eq!(&b[43..45], &[0, 11]);
    assert_eq!(&b[45..56], b"example.com");
    assert_eq!(&b[56..58], &[0, 8]);
    assert_eq!(&b[58..], afd);
    assert_eq!(PfdContents::decode(&b).unwrap(), p);
    assert_eq!(
        PfdContents::items(afd).unwrap(),
        vec![&b"abc"[..], &b"d"[..]]
    );
    assert_eq!(
        PfdContents::items(&[0, 5, 1]).unwrap_err().kind,
        ErrorKind::InvalidLength
    );
    // URL flag set but the length runs past the IE.
    let e = PfdContents::decode(&[0x02, 0, 0, 9, b'x']).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidLength);
    // Flags without the spare octet.
    assert!(PfdContents::decode(&[0x00]).is_err());
    // A PFD context needs at least one PFD contents; the error names it.
    let mut app = Vec::new();
    put_ie(&mut app, t::APPLICATION_ID, &&b"app1"[..]);
    put_ie(&mut app, t::PFD_CONTEXT, &&b""[..]);
    let e = ApplicationIdsPfds::decode(&app).unwrap_err();
    assert_eq!(e, DecodeError::missing(t::PFD_CONTENTS));
}

/// FQ-CSID (TS 29.244 §8.2.43, Figure 8.2.43-1): octet 5 is the Node-ID
/// Type (high nibble: 0 IPv4, 1 IPv6, 2 MCC/MNC + node number) and the
/// number of CSIDs (low nibble), then the node address (4, 16 or 4
/// octets), the CSIDs (2 octets each), then the Rel-17 octet with the
/// Node Type in its low nibble when present.
#[test]
fn fq_csid_layout() {
    let v4 = FqCsid {
        node: CsidNode::Ipv4(Ipv4Addr::new(10, 0, 0, 1)),
        csids: [1, 0x0203].into_iter().collect(),
        node_type: None,
    };
    assert_eq!(enc(&v4), [0x02, 10, 0, 0, 1, 0, 1, 2, 3]);
    let v6 = FqCsid {
        node: CsidNode::Ipv6("2001:db8::1".parse().unwrap()),
        csids: [7].into_iter().collect(),
        node_type: Some(2),
    };
    let mut b = vec![0x11, 0x20, 0x01, 0x0d, 0xb8];
    b.extend_from_slice(&[0; 11]);
    b.extend_from_slice(&[1, 0, 7, 2]);
    assert_eq!(enc(&v6), b);
    // MCC 262, MNC 01: (262 * 1000 + 1) << 12 | node 0x0ab.
    let plmn = FqCsid {
        node: CsidNode::Plmn(262_001 << 12 | 0x0ab),
        csids: [9].into_iter().collect(),
        node_type: None,
    };
    assert_eq!(enc(&plmn), [0x21, 0x3f, 0xf7, 0x10, 0xab, 0, 9]);
    assert_eq!(FqCsid::decode(&enc(&plmn)).unwrap(), plmn);
    // The Rel-17 removal form: no CSID, all-zero address, a node type.
    let removal = FqCsid::decode(&[0x00, 0, 0, 0, 0, 0x01]).unwrap();
    assert!(removal.csids.is_empty());
    assert_eq!(removal.node_type, Some(1));
    // Spare bits of the node-type octet and later octets are ignored.
    let later = FqCsid::decode(&[0x01, 10, 0, 0, 1, 0, 5, 0xf3, 0xaa]).unwrap();
    assert_eq!(later.node_type, Some(3));
    // Reserved Node-ID Type: invalid value; a short address or CSID list:
    // invalid length.
    assert_eq!(
        FqCsid::decode(&[0x31, 10, 0, 0, 1, 0, 5]).unwrap_err(),
        DecodeError::value()
    );
    assert_eq!(
        FqCsid::decode(&[0x12, 10, 0, 0, 1, 0, 5]).unwrap_err(),
        DecodeError::length()
    );
    assert_eq!(
        FqCsid::decode(&[0x02, 10, 0, 0, 1, 0, 5]).unwrap_err(),
        DecodeError::length()
    );
    // More than 15 CSIDs cannot be counted: the first 15 are written.
    let many = FqCsid {
        node: CsidNode::Ipv4(Ipv4Addr::new(10, 0, 0, 1)),
        csids: (0..20).collect(),
        node_type: None,
    };
    let b = enc(&many);
    assert_eq!(b[0], 0x0f);
    assert_eq!(FqCsid::decode(&b).unwrap().csids.len(), MAX_CSIDS);
}

/// Session Set Deletion Request (type 14) is a node message: no S flag;
/// with the S flag set it is refused like any node message with one.
#[test]
fn session_set_deletion_is_a_node_message() {
    let m = Pfcp::node(
        0x0a0b0c,
        SessionSetDeletionRequest {
            node_id: NodeId::Ipv4(Ipv4Addr::new(10, 0, 0, 1)),
            fq_csids: Vec::new(),
        },
    );
    let mut b = Vec::new();
    m.encode(&mut b).unwrap();
    assert_eq!(
        b,
        [
            0x20, 14, 0, 13, 0x0a, 0x0b, 0x0c, 0, 0, 60, 0, 5, 0, 10, 0, 0, 1
        ]
    );
    let mut s = vec![0x21, 14, 0, 21];
    s.extend_from_slice(&[0; 8]);
    s.extend_from_slice(&b[4..]);
    assert_eq!(
        Pfcp::decode(&s).unwrap_err().error.kind,
        ErrorKind::InvalidSeidFlag
    );
}

/// Alternative SMF IP Address (IE type 178) and CP IP Address (IE type
/// 292): octet 5 bit 1 V6, bit 2 V4 (bit 3 PPE in the former), then the
/// IPv4 and the IPv6 address. The same bytes decode in Wireshark 4.0
/// with these flags and addresses (`pfcp/tests/dissectors.rs`).
#[test]
fn alternative_smf_and_cp_ip_address_layout() {
    let v6: std::net::Ipv6Addr = "2001:db8::5".parse().unwrap();
    let mut v6b = vec![0x20, 0x01, 0x0d, 0xb8];
    v6b.extend_from_slice(&[0; 11]);
    v6b.push(5);
    let a = AlternativeSmfIpAddress {
        ipv4: Some(Ipv4Addr::new(10, 0, 0, 9)),
        ipv6: None,
        ppe: false,
    };
    assert_eq!(enc(&a), [0x02, 10, 0, 0, 9]);
    let both = AlternativeSmfIpAddress {
        ipv4: Some(Ipv4Addr::new(10, 0, 0, 9)),
        ipv6: Some(v6),
        ppe: true,
    };
    let mut b = vec![0x07, 10, 0, 0, 9];
    b.extend_from_slice(&v6b);
    assert_eq!(enc(&both), b);
    let c = CpIpAddress {
        ipv4: None,
        ipv6: Some(v6),
    };
    let mut b = vec![0x01];
    b.extend_from_slice(&v6b);
    assert_eq!(enc(&c), b);
    assert_eq!(CpIpAddress::decode(&b).unwrap(), c);
    // Octets after the addresses: a later release's, ignored.
    assert_eq!(
        AlternativeSmfIpAddress::decode(&[0x02, 10, 0, 0, 9, 0xff]).unwrap(),
        a
    );
    // No address flag: nothing to use (cause 69); an address cut short:
    // invalid length (68).
    assert_eq!(
        AlternativeSmfIpAddress::decode(&[0x04]).unwrap_err(),
        DecodeError::value()
    );
    assert_eq!(
        CpIpAddress::decode(&[0x00, 10, 0, 0, 1]).unwrap_err(),
        DecodeError::value()
    );
    assert_eq!(
        CpIpAddress::decode(&[0x03, 10, 0, 0, 1, 0x20]).unwrap_err(),
        DecodeError::length()
    );
    assert_eq!(
        AlternativeSmfIpAddress::decode(&[]).unwrap_err(),
        DecodeError::length()
    );
}

/// Session Set Modification Request (type 16) and Response (type 17):
/// node messages (no S flag), IEs in the order of Tables 7.4.7.1-1 /
/// 7.4.7.2-1; a request without the Alternative SMF IP Address is
/// missing a mandatory IE (cause 66) naming IE 178.
#[test]
fn session_set_modification_layout() {
    let m = Pfcp::node(
        0x000102,
        SessionSetModificationRequest {
            node_id: None,
            alternative_smf_ip_address: AlternativeSmfIpAddress {
                ipv4: Some(Ipv4Addr::new(10, 0, 0, 9)),
                ipv6: None,
                ppe: false,
            },
            fq_csids: vec![FqCsid {
                node: CsidNode::Ipv4(Ipv4Addr::new(10, 0, 0, 1)),
                csids: [7].into_iter().collect(),
                node_type: None,
            }],
            group_ids: vec![b"g1"],
            cp_ip_addresses: vec![CpIpAddress {
                ipv4: Some(Ipv4Addr::new(10, 0, 0, 1)),
                ipv6: None,
            }],
        },
    );
    let mut b = Vec::new();
    m.encode(&mut b).unwrap();
    let expected = [
        0x20, 16, 0, 39, 0x00, 0x01, 0x02, 0, // header
        0, 178, 0, 5, 0x02, 10, 0, 0, 9, // Alternative SMF IP Address
        0, 65, 0, 7, 0x01, 10, 0, 0, 1, 0, 7, // FQ-CSID
        0x01, 0x23, 0, 2, b'g', b'1', // Group Id (291)
        0x01, 0x24, 0, 5, 0x02, 10, 0, 0, 1, // CP IP Address (292)
    ];
    assert_eq!(b, expected);
    let b: &'static [u8] = Box::leak(b.into_boxed_slice());
    assert_eq!(Pfcp::decode(b).unwrap().0, m);
    let r = Pfcp::node(
        0x000102,
        SessionSetModificationResponse {
            node_id: NodeId::Ipv4(Ipv4Addr::new(10, 0, 0, 2)),
            cause: Cause::MANDATORY_IE_MISSING,
            offending_ie: Some(178),
        },
    );
    let mut b = Vec::new();
    r.encode(&mut b).unwrap();
    assert_eq!(
        b,
        [
            0x20, 17, 0, 24, 0x00, 0x01, 0x02, 0, 0, 60, 0, 5, 0, 10, 0, 0, 2, 0, 19, 0, 1, 66, 0,
            40, 0, 2, 0, 178
        ]
    );
    // Without the Alternative SMF IP Address.
    let e = Pfcp::decode(&[0x20, 16, 0, 4, 0, 0, 1, 0]).unwrap_err();
    assert_eq!(e.error, DecodeError::missing(t::ALTERNATIVE_SMF_IP_ADDRESS));
    assert_eq!(e.error.cause(), Cause::MANDATORY_IE_MISSING);
    // With the S flag: refused like any node message with one.
    let mut s = vec![0x21, 16, 0, 12];
    s.extend_from_slice(&[0; 8]);
    s.extend_from_slice(&[0, 0, 1, 0]);
    assert_eq!(
        Pfcp::decode(&s).unwrap_err().error.kind,
        ErrorKind::InvalidSeidFlag
    );
    assert_eq!(msg_type::name(16), "session_set_modification_request");
    assert_eq!(msg_type::name(17), "session_set_modification_response");
}
