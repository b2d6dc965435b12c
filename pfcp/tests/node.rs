//! The node against a test SMF with a simulated clock: associations,
//! sessions, every cause code, duplicates, retransmission, restart and
//! heartbeat failure, usage reports, and the OAI capture replayed.

mod common;
mod harness;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use harness::*;
use pfcp::codec::SmallVec;
use pfcp::codec::grouped::*;
use pfcp::codec::ie_type as t;
use pfcp::codec::ies::*;
use pfcp::codec::message::*;
use pfcp::codec::put_ie;
use pfcp::sample::{self, SessionParams};
use pfcp::{DownReason, Event, RemoveReason, UpError};

fn params(cp_seid: u64) -> SessionParams {
    SessionParams {
        cp_seid,
        smf_addr: SMF,
        ue_ip: None,
        ul_teid: None,
        gnb: Some((0x200, GNB)),
    }
}

fn est_response<'a>(r: &'a Pfcp<'static>) -> &'a SessionEstablishmentResponse<'static> {
    match &r.message {
        Message::SessionEstablishmentResponse(x) => x,
        m => panic!("not an establishment response: {m:?}"),
    }
}
fn mod_response<'a>(r: &'a Pfcp<'static>) -> &'a SessionModificationResponse<'static> {
    match &r.message {
        Message::SessionModificationResponse(x) => x,
        m => panic!("not a modification response: {m:?}"),
    }
}

/// Establish a typical session; return our SEID.
fn establish(b: &mut Bench, p: &SessionParams) -> u64 {
    let seq = b.next_seq();
    let r = b.request(&sample::establishment_request(seq, p));
    assert_eq!(r.seid, Some(p.cp_seid), "answer to the SMF's SEID");
    let e = est_response(&r);
    assert_eq!(e.cause, Cause::REQUEST_ACCEPTED, "{e:?}");
    e.up_f_seid.unwrap().seid
}

/// Send an establishment request and expect a rejection with this cause.
fn rejected(b: &mut Bench, m: &Pfcp<'_>) -> (Cause, Option<u16>, Option<FailedRuleId>) {
    let installs = b.up.installs;
    let sessions = b.node.session_count();
    let usage = b.node.resource_usage();
    let r = b.request(m);
    let (cause, ie, rule) = match &r.message {
        Message::SessionEstablishmentResponse(x) => (x.cause, x.offending_ie, x.failed_rule_id),
        Message::SessionModificationResponse(x) => (x.cause, x.offending_ie, x.failed_rule_id),
        Message::SessionDeletionResponse(x) => (x.cause, x.offending_ie, None),
        Message::AssociationUpdateResponse(x) => (x.cause, None, None),
        Message::AssociationReleaseResponse(x) => (x.cause, None, None),
        m => panic!("unexpected {m:?}"),
    };
    assert!(!cause.is_success(), "expected a rejection, got {cause}");
    assert_eq!(b.up.installs, installs, "nothing installed");
    assert_eq!(
        b.node.session_count(),
        sessions,
        "no session added or removed"
    );
    assert_eq!(b.node.resource_usage(), usage, "no TEID or address kept");
    (cause, ie, rule)
}

fn establishment(
    seq: u32,
    p: &SessionParams,
) -> (Pfcp<'static>, SessionEstablishmentRequest<'static>) {
    let m = sample::establishment_request(seq, p);
    let Message::SessionEstablishmentRequest(r) = m.message.clone() else {
        unreachable!()
    };
    (m, r)
}

fn with_body(seq: u32, r: SessionEstablishmentRequest<'static>) -> Pfcp<'static> {
    Pfcp::session(0, seq, r)
}

// ---- associations -------------------------------------------------------------------

#[test]
fn association_setup_advertises_what_we_implement() {
    let mut b = Bench::new();
    let seq = b.next_seq();
    let r = b.request(&sample::association_setup_request(seq, SMF, SMF_RTS));
    let Message::AssociationSetupResponse(a) = r.message else {
        panic!()
    };
    assert_eq!(a.cause, Cause::REQUEST_ACCEPTED);
    assert_eq!(a.node_id, NodeId::Ipv4(UPF));
    assert_eq!(a.recovery_time_stamp, b.node.recovery_time_stamp());
    let f = a.up_function_features.unwrap();
    assert_eq!(
        f.names().collect::<Vec<_>>(),
        ["FTUP", "PFDM", "EMPU", "UEIP", "MNOP"]
    );
    assert_eq!(
        b.events(),
        [Event::AssociationUp {
            node_id: NodeIdBuf::Ipv4(SMF),
            addr: b.smf
        }]
    );
    assert_eq!(b.node.associations().len(), 1);
}

/// free5GC's SMF finds the SM context of an Establishment Response by its
/// header SEID: a refused establishment is answered to the CP F-SEID's SEID
/// (TS 29.244 7.2.2.4.2 allows 0 only when the peer's SEID is unknown).
/// Suite 42 (scripts/tests/smf_interop.py) checks it over UDP.
#[test]
fn refused_establishment_is_answered_to_the_smfs_seid_free5gc() {
    let mut b = Bench::new();
    let seq = b.next_seq();
    let r = b.request(&sample::establishment_request(seq, &params(0x0123_4567)));
    assert_eq!(r.seid, Some(0x0123_4567));
    assert_eq!(
        est_response(&r).cause,
        Cause::NO_ESTABLISHED_PFCP_ASSOCIATION
    );
}

#[test]
fn cause_72_requests_before_association() {
    let mut b = Bench::new();
    let seq = b.next_seq();
    let (c, _, _) = rejected(&mut b, &sample::establishment_request(seq, &params(1)));
    assert_eq!(c, Cause::NO_ESTABLISHED_PFCP_ASSOCIATION);
    let seq = b.next_seq();
    let (c, _, _) = rejected(&mut b, &sample::deletion_request(seq, 1));
    assert_eq!(c, Cause::NO_ESTABLISHED_PFCP_ASSOCIATION);
    let seq = b.next_seq();
    let upd = Pfcp::node(
        seq,
        AssociationUpdateRequest {
            node_id: NodeId::Ipv4(SMF),
            up_function_features: None,
            cp_function_features: None,
            association_release_request: None,
            graceful_release_period: None,
            user_plane_ip_resource_information: Vec::new(),
            pfcpaureq_flags: None,
        },
    );
    assert_eq!(
        rejected(&mut b, &upd).0,
        Cause::NO_ESTABLISHED_PFCP_ASSOCIATION
    );
    // Heartbeats need no association.
    let seq = b.next_seq();
    let r = b.request(&Pfcp::node(
        seq,
        HeartbeatRequest {
            recovery_time_stamp: SMF_RTS,
        },
    ));
    assert!(matches!(r.message, Message::HeartbeatResponse(_)));
}

#[test]
fn association_release_by_smf_removes_its_sessions() {
    let mut b = Bench::new();
    b.associate();
    let s1 = establish(&mut b, &params(1));
    let s2 = establish(&mut b, &params(2));
    let seq = b.next_seq();
    let r = b.request(&Pfcp::node(
        seq,
        AssociationReleaseRequest {
            node_id: NodeId::Ipv4(SMF),
        },
    ));
    let Message::AssociationReleaseResponse(a) = r.message else {
        panic!()
    };
    assert_eq!(a.cause, Cause::REQUEST_ACCEPTED);
    b.up.removed.sort_unstable();
    assert_eq!(b.up.removed, [s1, s2]);
    assert_eq!(b.node.session_count(), 0);
    assert_eq!(b.node.resource_usage().teids_used, 0);
    assert!(b.events().contains(&Event::AssociationDown {
        node_id: NodeIdBuf::Ipv4(SMF),
        reason: DownReason::ReleasedByPeer,
        sessions_removed: 2
    }));
}

#[test]
fn upf_initiated_association_is_retransmitted_until_answered() {
    let mut b = Bench::new();
    b.node.associate(b.now, b.smf);
    let first = b.drain();
    assert_eq!(first.len(), 1);
    let req = decode(&first[0].payload);
    assert!(matches!(req.message, Message::AssociationSetupRequest(_)));
    // T1 passes: the same bytes again.
    let again = b.advance(Duration::from_secs(2));
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].payload, first[0].payload);
    assert_eq!(b.node.stats().retransmissions, 1);
    // The SMF answers.
    let answer = Pfcp::node(
        req.seq,
        AssociationSetupResponse {
            node_id: NodeId::Ipv4(SMF),
            cause: Cause::REQUEST_ACCEPTED,
            recovery_time_stamp: SMF_RTS,
            up_function_features: None,
            cp_function_features: Some(CpFunctionFeatures::LOAD),
            user_plane_ip_resource_information: Vec::new(),
        },
    );
    assert!(b.send(&answer).is_empty());
    assert_eq!(b.node.associations().len(), 1);
    // No more retransmissions; heartbeats start instead.
    b.auto_heartbeat = false;
    let later = b.advance(Duration::from_secs(9));
    assert!(later.is_empty(), "{later:?}");
    let hb = b.advance(Duration::from_secs(1));
    assert!(matches!(
        decode(&hb[0].payload).message,
        Message::HeartbeatRequest(_)
    ));
}

#[test]
fn upf_requests_release_with_sarr() {
    let mut b = Bench::new();
    b.associate();
    assert!(b.node.request_release(b.now, &NodeIdBuf::Ipv4(SMF)));
    let out = b.drain();
    let Message::AssociationUpdateRequest(u) = decode(&out[0].payload).message else {
        panic!()
    };
    assert!(
        u.association_release_request
            .unwrap()
            .contains(PfcpAssociationReleaseRequest::SARR)
    );
}

// ---- heartbeats, restart, failure -----------------------------------------------------

#[test]
fn smf_restart_detected_by_heartbeat_purges_its_sessions() {
    let mut b = Bench::new();
    b.associate();
    let s = establish(&mut b, &params(1));
    b.events();
    // Same recovery time stamp: nothing happens (twice: the first one is
    // what later heartbeats are compared with).
    for _ in 0..2 {
        let seq = b.next_seq();
        b.request(&Pfcp::node(
            seq,
            HeartbeatRequest {
                recovery_time_stamp: SMF_RTS,
            },
        ));
    }
    assert_eq!(b.node.session_count(), 1);
    // Changed: the SMF restarted.
    let seq = b.next_seq();
    let r = b.request(&Pfcp::node(
        seq,
        HeartbeatRequest {
            recovery_time_stamp: SMF_RTS + 60,
        },
    ));
    assert!(matches!(r.message, Message::HeartbeatResponse(_)));
    assert_eq!(b.up.removed, [s]);
    assert_eq!(b.node.session_count(), 0);
    assert_eq!(b.node.associations().len(), 0);
    assert_eq!(
        b.events(),
        [Event::AssociationDown {
            node_id: NodeIdBuf::Ipv4(SMF),
            reason: DownReason::PeerRestarted,
            sessions_removed: 1
        }]
    );
    // Its new incarnation sets up again.
    let seq = b.next_seq();
    b.request(&sample::association_setup_request(seq, SMF, SMF_RTS + 60));
    assert_eq!(
        b.node.associations()[0].peer_recovery_time_stamp,
        SMF_RTS + 60
    );
}

#[test]
fn smf_restart_detected_by_association_setup() {
    let mut b = Bench::new();
    b.associate();
    establish(&mut b, &params(1));
    // Same time stamp: a repeated setup keeps the sessions.
    let seq = b.next_seq();
    b.request(&sample::association_setup_request(seq, SMF, SMF_RTS));
    assert_eq!(b.node.session_count(), 1);
    // New time stamp: restarted, sessions purged, new association.
    let seq = b.next_seq();
    b.request(&sample::association_setup_request(seq, SMF, SMF_RTS + 1));
    assert_eq!(b.node.session_count(), 0);
    assert_eq!(b.node.associations().len(), 1);
}

#[test]
fn smf_restart_detected_by_heartbeat_response() {
    let mut b = Bench::new();
    b.auto_heartbeat = false;
    b.associate();
    establish(&mut b, &params(1));
    for rts in [SMF_RTS, SMF_RTS, SMF_RTS + 5] {
        let out = b.advance(Duration::from_secs(10));
        let hb = decode(&out[0].payload);
        assert!(matches!(hb.message, Message::HeartbeatRequest(_)));
        assert_eq!(b.node.session_count(), 1);
        b.send(&Pfcp::node(
            hb.seq,
            HeartbeatResponse {
                recovery_time_stamp: rts,
            },
        ));
    }
    assert_eq!(b.node.session_count(), 0);
}

/// OAI's SMF (the golden capture: requests from port 34848, the UPF's
/// Heartbeat Request to port 8805, answered from 8805) sends from an
/// ephemeral port and listens on 8805, where TS 29.244 has requests go.
/// Our requests go to the source port first (our own smf-sim listens
/// there); unanswered, the retransmissions alternate with 8805, and once
/// 8805 answers, later requests go there directly.
#[test]
fn requests_to_an_smf_on_an_ephemeral_port_fall_back_to_8805_oai() {
    let mut b = Bench::new();
    b.auto_heartbeat = false;
    b.smf = SocketAddr::new(IpAddr::V4(SMF), 34848);
    b.associate();
    let out = b.advance(Duration::from_secs(10));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].dst, b.smf, "first to the port the SMF sent from");
    // T1 (2 s) later, the retransmission goes to 8805, and is answered.
    let out = b.advance(Duration::from_secs(2));
    assert_eq!(out.len(), 1);
    let listener = SocketAddr::new(IpAddr::V4(SMF), 8805);
    assert_eq!(out[0].dst, listener);
    let hb = decode(&out[0].payload);
    let mut a = Vec::new();
    Pfcp::node(
        hb.seq,
        HeartbeatResponse {
            recovery_time_stamp: SMF_RTS,
        },
    )
    .encode(&mut a)
    .unwrap();
    assert!(b.raw_from(listener, &a).is_empty());
    // The next heartbeat goes to 8805 at once; the association stays.
    let out = b.advance(Duration::from_secs(8));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].dst, listener);
    assert_eq!(b.node.associations().len(), 1);
    assert_eq!(b.node.stats().request_timeouts, 0);
    // Should 8805 go quiet, the retransmission tries the source port again.
    let out = b.advance(Duration::from_secs(2));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].dst, b.smf);
}

#[test]
fn heartbeat_failure_after_n1_retransmissions() {
    let mut b = Bench::new();
    b.auto_heartbeat = false;
    b.associate();
    let s = establish(&mut b, &params(1));
    b.events();
    // Heartbeat answered: association stays.
    let out = b.advance(Duration::from_secs(10));
    let hb = decode(&out[0].payload);
    b.send(&Pfcp::node(
        hb.seq,
        HeartbeatResponse {
            recovery_time_stamp: SMF_RTS,
        },
    ));
    // Then the SMF goes silent: heartbeat at 20 s, retransmitted at 22,
    // 24, 26 (N1 = 3, T1 = 2 s), given up at 28 s.
    let out = b.advance(Duration::from_secs(10));
    assert_eq!(out.len(), 1);
    let out = b.advance(Duration::from_secs(7));
    assert_eq!(out.len(), 3, "N1 retransmissions");
    assert!(out.iter().all(|t| t.payload == out[0].payload));
    assert_eq!(b.node.session_count(), 1, "not yet");
    b.advance(Duration::from_secs(1));
    assert_eq!(b.node.session_count(), 0);
    assert_eq!(b.up.removed, [s]);
    let ev = b.events();
    assert!(
        ev.contains(&Event::AssociationDown {
            node_id: NodeIdBuf::Ipv4(SMF),
            reason: DownReason::HeartbeatTimeout,
            sessions_removed: 1
        }),
        "{ev:?}"
    );
    assert_eq!(b.node.stats().request_timeouts, 1);
    // No more heartbeats to a peer we no longer have.
    assert!(b.advance(Duration::from_secs(60)).is_empty());
}

// ---- sessions -------------------------------------------------------------------------

/// Open5GS with a dual-stack GTP-U address asks CHOOSE with V4 and V6
/// (and a CHOOSE ID); an IPv4-only N3 allocates IPv4 (TS 29.244 8.2.3:
/// IPv4 and/or IPv6) instead of refusing with cause 71. One family the
/// interface lacks, asked alone, is still refused. Suite 42 replays it.
#[test]
fn choose_v4_and_v6_on_an_ipv4_n3_allocates_ipv4_open5gs() {
    let mut b = Bench::new();
    b.associate();
    let choose = |v4, v6| {
        move |e: &mut SessionEstablishmentRequest<'static>| {
            for p in e.create_pdr.iter_mut() {
                if p.pdi.local_f_teid.is_some() {
                    p.pdi.local_f_teid = Some(FTeid::Choose {
                        v4,
                        v6,
                        choose_id: Some(5),
                    });
                }
            }
        }
    };
    let seq = b.next_seq();
    let (_, mut r) = establishment(seq, &params(7));
    choose(true, true)(&mut r);
    let a = b.request(&with_body(seq, r));
    let e = est_response(&a);
    assert_eq!(e.cause, Cause::REQUEST_ACCEPTED, "{e:?}");
    let f = e.created_pdr.iter().find_map(|c| c.local_f_teid).unwrap();
    let FTeid::Assigned { ipv4, ipv6, .. } = f else {
        panic!("{f:?}")
    };
    assert_eq!((ipv4, ipv6), (Some(N3), None));
    let seq = b.next_seq();
    let (_, mut r) = establishment(seq, &params(8));
    choose(false, true)(&mut r);
    let (c, ie, _) = rejected(&mut b, &with_body(seq, r));
    assert_eq!(
        (c, ie),
        (Cause::INVALID_F_TEID_ALLOCATION_OPTION, Some(t::F_TEID))
    );
}

#[test]
fn establishment_with_choose() {
    let mut b = Bench::new();
    b.associate();
    let seq = b.next_seq();
    let p = SessionParams {
        gnb: None,
        ..params(7)
    };
    let r = b.request(&sample::establishment_request(seq, &p));
    let e = est_response(&r);
    assert_eq!(e.cause, Cause::REQUEST_ACCEPTED);
    assert_eq!(e.node_id, Some(NodeId::Ipv4(UPF)));
    let f_seid = e.up_f_seid.unwrap();
    assert_eq!(f_seid.ipv4, Some(UPF));
    // Created PDR: PDRs 1 and 3 share CHOOSE ID 1, so one F-TEID; every
    // PDR has the one UE address we chose.
    assert_eq!(e.created_pdr.len(), 4);
    let teid_of = |id: u16| match e
        .created_pdr
        .iter()
        .find(|c| c.pdr_id == id)
        .unwrap()
        .local_f_teid
    {
        Some(FTeid::Assigned { teid, ipv4, .. }) => {
            assert_eq!(ipv4, Some(N3));
            Some(teid)
        }
        _ => None,
    };
    let teid = teid_of(1).unwrap();
    assert!((0x1000..=0x1fff).contains(&teid));
    assert_eq!(teid_of(3), Some(teid));
    assert_eq!(teid_of(2), None);
    let ue: Vec<_> = e
        .created_pdr
        .iter()
        .map(|c| c.ue_ip_address.unwrap().ipv4.unwrap())
        .collect();
    assert!(ue.iter().all(|a| *a == ue[0]));
    assert_eq!(ue[0], Ipv4Addr::new(10, 45, 0, 1));
    assert!(
        e.created_pdr
            .iter()
            .find(|c| c.pdr_id == 2)
            .unwrap()
            .ue_ip_address
            .unwrap()
            .is_destination
    );

    // What the user plane got: resolved, validated, ordered rules.
    let s = &b.up.installed[&f_seid.seid];
    assert_eq!(s.cp_f_seid.seid, 7);
    assert_eq!(s.dnn.as_deref(), Some("internet"));
    assert_eq!(
        s.pdrs.iter().map(|p| p.id).collect::<Vec<_>>(),
        [3, 4, 1, 2],
        "by precedence"
    );
    let ul = s.pdr(1).unwrap();
    assert!(ul.is_uplink());
    assert_eq!(ul.pdi.local_f_teid.unwrap().teid, teid);
    assert_eq!(ul.pdi.network_instance.as_deref(), Some("access"));
    assert_eq!(ul.pdi.qfis.iter().collect::<Vec<_>>(), [9]);
    let voice = s.pdr(3).unwrap().pdi.sdf_filters[0].flow.as_ref().unwrap();
    assert_eq!(voice.protocol, Some(17));
    assert_eq!(voice.remote_side().ports, [(5000, 5100)]);
    let dl = s.pdr(2).unwrap();
    assert_eq!(
        dl.pdi.ue_ip.unwrap().ipv4,
        Some(Ipv4Addr::new(10, 45, 0, 1))
    );
    assert!(dl.pdi.ue_ip.unwrap().is_destination);
    assert!(s.far(2).unwrap().buffers() && s.far(2).unwrap().notifies_cp());
    assert_eq!(
        s.qer(2).unwrap().gbr,
        Some(Bitrate {
            ul_kbps: 64,
            dl_kbps: 64
        })
    );
    assert_eq!(b.node.resource_usage().teids_used, 1);
}

#[test]
fn duplicate_request_is_answered_from_cache_without_reapplying() {
    let mut b = Bench::new();
    b.associate();
    let seq = b.next_seq();
    let m = sample::establishment_request(seq, &params(1));
    let mut bytes = Vec::new();
    m.encode(&mut bytes).unwrap();
    let smf = b.smf;
    let first = b.raw_from(smf, &bytes);
    let second = b.raw_from(smf, &bytes);
    assert_eq!(first, second, "same answer, byte for byte");
    assert_eq!(b.up.installs, 1, "applied once");
    assert_eq!(b.node.session_count(), 1);
    assert_eq!(b.node.stats().rx_duplicates, 1);
    // The same sequence number from another port is another request.
    let other = SocketAddr::new(IpAddr::V4(SMF), 40000);
    let third = b.raw_from(other, &bytes);
    assert_eq!(
        est_response(&decode(&third[0].payload)).cause,
        Cause::REQUEST_REJECTED,
        "same CP F-SEID again"
    );
    // After the cache time the entry is gone (a late copy is a new request).
    b.advance(Duration::from_secs(31));
    let late = b.raw_from(smf, &bytes);
    assert_eq!(
        est_response(&decode(&late[0].payload)).cause,
        Cause::REQUEST_REJECTED
    );
}

#[test]
fn path_switch_with_sndem_sends_end_marker_to_old_gnb() {
    let mut b = Bench::new();
    b.associate();
    let seid = establish(&mut b, &params(1));
    let gnb2 = Ipv4Addr::new(192, 168, 1, 3);
    let seq = b.next_seq();
    let r = b.request(&sample::path_switch_request(seq, seid, 0x300, gnb2, true));
    assert_eq!(mod_response(&r).cause, Cause::REQUEST_ACCEPTED);
    assert_eq!(b.up.end_markers, [(IpAddr::V4(GNB), 0x200)]);
    let ohc = b.up.installed[&seid]
        .far(2)
        .unwrap()
        .forwarding
        .as_ref()
        .unwrap()
        .outer_header_creation
        .unwrap();
    assert_eq!((ohc.teid, ohc.ipv4), (Some(0x300), Some(gnb2)));
    // Without SNDEM: no End Marker. DROBU: the buffer is dropped.
    let seq = b.next_seq();
    let mut m = sample::path_switch_request(seq, seid, 0x400, GNB, false);
    if let Message::SessionModificationRequest(r) = &mut m.message {
        r.pfcpsmreq_flags = Some(PfcpsmReqFlags::DROBU);
    }
    b.request(&m);
    assert_eq!(b.up.end_markers.len(), 1);
    assert_eq!(b.up.dropped_buffers, [seid]);
}

/// Commercial SMFs tag a Query URR with a Query URR Reference; the
/// Usage Reports of the answer carry it back (TS 29.244 7.5.5.2), also for
/// QAURR. Suite 42 checks it over UDP.
#[test]
fn query_urr_reference_is_echoed_in_the_reports() {
    let mut b = Bench::new();
    b.associate();
    let seid = establish(&mut b, &params(1));
    b.up.pending_usage.insert((seid, 1), (10, 20));
    let seq = b.next_seq();
    let mut m = sample::query_urr_request(seq, seid, &[1]);
    if let Message::SessionModificationRequest(r) = &mut m.message {
        r.query_urr_reference = Some(0xC0FFEE);
    }
    let r = b.request(&m);
    let u = &mod_response(&r).usage_report;
    assert_eq!(u.len(), 1);
    assert_eq!(u[0].query_urr_reference, Some(0xC0FFEE));
    // Without a reference: none in the report.
    let seq = b.next_seq();
    let r = b.request(&sample::query_urr_request(seq, seid, &[1]));
    assert_eq!(mod_response(&r).usage_report[0].query_urr_reference, None);
}

#[test]
fn query_urr_and_deletion_report_usage() {
    let mut b = Bench::new();
    b.associate();
    let seid = establish(&mut b, &params(1));
    b.up.pending_usage.insert((seid, 1), (1000, 5000));
    b.now += Duration::from_secs(30);
    let seq = b.next_seq();
    let r = b.request(&sample::query_urr_request(seq, seid, &[1]));
    let m = mod_response(&r);
    assert_eq!(m.usage_report.len(), 1);
    let u = &m.usage_report[0];
    assert!(u.usage_report_trigger.contains(UsageReportTrigger::IMMER));
    let v = u.volume_measurement.unwrap();
    assert_eq!((v.total, v.ul, v.dl), (Some(6000), Some(1000), Some(5000)));
    assert_eq!(u.duration_measurement, Some(30));
    assert_eq!(u.ur_seqn, 0);
    // Deletion: final report of what came since, TERMR.
    b.up.pending_usage.insert((seid, 1), (7, 3));
    let seq = b.next_seq();
    let r = b.request(&sample::deletion_request(seq, seid));
    let Message::SessionDeletionResponse(d) = &r.message else {
        panic!()
    };
    assert_eq!(d.cause, Cause::REQUEST_ACCEPTED);
    assert_eq!(r.seid, Some(1));
    let u = &d.usage_report[0];
    assert!(u.usage_report_trigger.contains(UsageReportTrigger::TERMR));
    assert_eq!(u.volume_measurement.unwrap().total, Some(10));
    assert_eq!(u.ur_seqn, 1);
    assert_eq!(b.up.removed, [seid]);
    assert_eq!(b.node.resource_usage().teids_used, 0);
    assert_eq!(
        b.node.resource_usage().ue_pools[0].1,
        0,
        "UE address back in the pool"
    );
}

#[test]
fn modification_creates_updates_removes_atomically() {
    let mut b = Bench::new();
    b.associate();
    let seid = establish(&mut b, &params(1));
    let before = b.up.installed[&seid].clone();
    // A valid new PDR with CHOOSE, then a removal of a PDR that does not
    // exist: nothing must change (and the chosen TEID must be given back).
    let Message::SessionEstablishmentRequest(est) =
        sample::establishment_request(0, &params(1)).message
    else {
        unreachable!()
    };
    let mut new_pdr = est.create_pdr[0].clone();
    new_pdr.pdr_id = 10;
    new_pdr.pdi.local_f_teid = Some(FTeid::Choose {
        v4: true,
        v6: false,
        choose_id: None,
    });
    let mut m = sample::empty_modification();
    m.create_pdr = vec![new_pdr.clone()];
    m.remove_pdr = vec![RemovePdr { pdr_id: 99 }];
    let seq = b.next_seq();
    let (c, ie, rule) = rejected(&mut b, &Pfcp::session(seid, seq, m));
    assert_eq!(c, Cause::RULE_CREATION_MODIFICATION_FAILURE);
    assert_eq!(ie, Some(t::PDR_ID));
    assert_eq!(
        rule,
        Some(FailedRuleId {
            rule_type: RuleType::Pdr,
            id: 99
        })
    );
    assert_eq!(b.up.installed[&seid], before);
    assert_eq!(b.node.session(seid).unwrap(), &before);

    // The same without the bad removal: applied, Created PDR returned.
    let mut m = sample::empty_modification();
    m.create_pdr = vec![new_pdr];
    m.remove_pdr = vec![RemovePdr { pdr_id: 3 }];
    m.update_qer = vec![UpdateQer {
        qer_id: 1,
        qer_correlation_id: None,
        gate_status: Some(GateStatus {
            ul: Gate::Closed,
            dl: Gate::Open,
        }),
        mbr: Some(Bitrate {
            ul_kbps: 1,
            dl_kbps: 2,
        }),
        gbr: None,
        packet_rate: false,
        dl_flow_level_marking: false,
        qfi: None,
        rqi: None,
        paging_policy_indicator: None,
        averaging_window: None,
    }];
    let seq = b.next_seq();
    let r = b.request(&Pfcp::session(seid, seq, m));
    let mr = mod_response(&r);
    assert_eq!(mr.cause, Cause::REQUEST_ACCEPTED);
    assert_eq!(mr.created_pdr.len(), 1);
    assert_eq!(mr.created_pdr[0].pdr_id, 10);
    let s = &b.up.installed[&seid];
    assert!(s.pdr(3).is_none() && s.pdr(10).is_some());
    assert_eq!(s.qer(1).unwrap().gate.ul, Gate::Closed);
    assert_eq!(
        s.qer(1).unwrap().mbr,
        Some(Bitrate {
            ul_kbps: 1,
            dl_kbps: 2
        })
    );
    // PDR 1 keeps the shared F-TEID; PDR 10 got its own.
    assert_eq!(b.node.resource_usage().teids_used, 2);
}

// ---- every cause code ------------------------------------------------------------------

#[test]
fn cause_64_same_cp_f_seid_twice() {
    let mut b = Bench::new();
    b.associate();
    establish(&mut b, &params(5));
    let seq = b.next_seq();
    let (c, ie, _) = rejected(&mut b, &sample::establishment_request(seq, &params(5)));
    assert_eq!((c, ie), (Cause::REQUEST_REJECTED, Some(t::F_SEID)));
    // With RESTI the old session is replaced.
    let (_, mut r) = establishment(0, &params(5));
    r.pfcpsereq_flags = Some(PfcpseReqFlags::RESTI);
    let seq = b.next_seq();
    let resp = b.request(&with_body(seq, r));
    assert_eq!(est_response(&resp).cause, Cause::REQUEST_ACCEPTED);
    assert_eq!(b.node.session_count(), 1);
    assert!(b.events().iter().any(|e| matches!(
        e,
        Event::SessionRemoved {
            reason: RemoveReason::Restored,
            ..
        }
    )));
}

#[test]
fn cause_64_user_plane_other_error() {
    let mut b = Bench::new();
    b.associate();
    b.up.fail_next_install = Some(UpError::Other("busy".into()));
    let seq = b.next_seq();
    let (c, _, _) = rejected(&mut b, &sample::establishment_request(seq, &params(1)));
    assert_eq!(c, Cause::REQUEST_REJECTED);
}

#[test]
fn cause_65_unknown_seid() {
    let mut b = Bench::new();
    b.associate();
    let seq = b.next_seq();
    let (c, _, _) = rejected(
        &mut b,
        &sample::path_switch_request(seq, 4242, 1, GNB, false),
    );
    assert_eq!(c, Cause::SESSION_CONTEXT_NOT_FOUND);
    let seq = b.next_seq();
    let (c, _, _) = rejected(&mut b, &sample::deletion_request(seq, 4242));
    assert_eq!(c, Cause::SESSION_CONTEXT_NOT_FOUND);
}

#[test]
fn cause_66_mandatory_ie_missing() {
    let mut b = Bench::new();
    b.associate();
    // An establishment request without any Create FAR.
    let mut bytes = Vec::new();
    sample::establishment_request(b.next_seq(), &params(1))
        .encode(&mut bytes)
        .unwrap();
    let mut msg = Vec::new();
    let hdr = &bytes[..16];
    for item in top_level_ies(&bytes[16..]) {
        if item.0 != t::CREATE_FAR {
            msg.extend_from_slice(&item.1);
        }
    }
    let mut out = hdr.to_vec();
    out.extend_from_slice(&msg);
    let len = u16::try_from(out.len() - 4).unwrap();
    out[2..4].copy_from_slice(&len.to_be_bytes());
    let smf = b.smf;
    let r = b.raw_from(smf, &out);
    let e = decode(&r[0].payload);
    let e = est_response(&e);
    assert_eq!(
        (e.cause, e.offending_ie),
        (Cause::MANDATORY_IE_MISSING, Some(t::CREATE_FAR))
    );
    assert_eq!(b.node.session_count(), 0);
}

/// (type, whole IE bytes) of each top-level IE.
fn top_level_ies(mut b: &[u8]) -> Vec<(u16, Vec<u8>)> {
    let mut v = Vec::new();
    while b.len() >= 4 {
        let ty = u16::from_be_bytes([b[0], b[1]]);
        let len = usize::from(u16::from_be_bytes([b[2], b[3]]));
        v.push((ty, b[..4 + len].to_vec()));
        b = &b[4 + len..];
    }
    v
}

#[test]
fn cause_67_conditional_ie_missing() {
    let mut b = Bench::new();
    b.associate();
    // FORW without Forwarding Parameters.
    let (_, mut r) = establishment(0, &params(1));
    r.create_far[0].forwarding_parameters = None;
    let seq = b.next_seq();
    let (c, ie, rule) = rejected(&mut b, &with_body(seq, r));
    assert_eq!(
        (c, ie),
        (
            Cause::CONDITIONAL_IE_MISSING,
            Some(t::FORWARDING_PARAMETERS)
        )
    );
    assert_eq!(
        rule,
        Some(FailedRuleId {
            rule_type: RuleType::Far,
            id: 1
        })
    );
    // Periodic reporting without a Measurement Period.
    let (_, mut r) = establishment(0, &params(1));
    r.create_urr[0].measurement_period = None;
    let seq = b.next_seq();
    let (c, ie, _) = rejected(&mut b, &with_body(seq, r));
    assert_eq!(
        (c, ie),
        (Cause::CONDITIONAL_IE_MISSING, Some(t::MEASUREMENT_PERIOD))
    );
    // A PDR without a FAR ID.
    let (_, mut r) = establishment(0, &params(1));
    r.create_pdr[1].far_id = None;
    let seq = b.next_seq();
    let (c, ie, _) = rejected(&mut b, &with_body(seq, r));
    assert_eq!((c, ie), (Cause::CONDITIONAL_IE_MISSING, Some(t::FAR_ID)));
}

#[test]
fn cause_68_invalid_length() {
    let mut b = Bench::new();
    b.associate();
    let mut bytes = Vec::new();
    sample::deletion_request(b.next_seq(), 1)
        .encode(&mut bytes)
        .unwrap();
    // A Session Modification Request whose CP F-SEID is 5 octets long.
    bytes[1] = msg_type::SESSION_MODIFICATION_REQUEST;
    bytes.extend_from_slice(&[0, 57, 0, 5, 2, 0, 0, 0, 0]);
    let len = u16::try_from(bytes.len() - 4).unwrap();
    bytes[2..4].copy_from_slice(&len.to_be_bytes());
    let smf = b.smf;
    let r = b.raw_from(smf, &bytes);
    let m = decode(&r[0].payload);
    let m = mod_response(&m);
    assert_eq!(
        (m.cause, m.offending_ie),
        (Cause::INVALID_LENGTH, Some(t::F_SEID))
    );
    assert_eq!(b.node.stats().rx_malformed, 1);
}

#[test]
fn cause_69_mandatory_ie_incorrect() {
    let mut b = Bench::new();
    b.associate();
    // Source Interface 15 (spare value).
    let (_, mut r) = establishment(0, &params(1));
    r.create_pdr[0].pdi.source_interface = SourceInterface(15);
    let seq = b.next_seq();
    let (c, ie, rule) = rejected(&mut b, &with_body(seq, r));
    assert_eq!(
        (c, ie),
        (Cause::MANDATORY_IE_INCORRECT, Some(t::SOURCE_INTERFACE))
    );
    assert_eq!(
        rule,
        Some(FailedRuleId {
            rule_type: RuleType::Pdr,
            id: 1
        })
    );
    // DROP and FORW at once.
    let (_, mut r) = establishment(0, &params(1));
    r.create_far[0].apply_action = ApplyAction::DROP | ApplyAction::FORW;
    let seq = b.next_seq();
    let (c, ie, _) = rejected(&mut b, &with_body(seq, r));
    assert_eq!(
        (c, ie),
        (Cause::MANDATORY_IE_INCORRECT, Some(t::APPLY_ACTION))
    );
    // Node ID of unknown type, in an Association Setup Request.
    let mut bytes = Vec::new();
    sample::association_setup_request(b.next_seq(), SMF, 1)
        .encode(&mut bytes)
        .unwrap();
    bytes[12] = 7;
    let smf = b.smf;
    let out = b.raw_from(smf, &bytes);
    let Message::AssociationSetupResponse(a) = decode(&out[0].payload).message else {
        panic!()
    };
    assert_eq!(a.cause, Cause::MANDATORY_IE_INCORRECT);
}

#[test]
fn cause_71_invalid_f_teid_allocation_option() {
    let mut b = Bench::new();
    b.associate();
    // CHOOSE an IPv6 F-TEID: we have no IPv6 GTP-U address.
    let (_, mut r) = establishment(0, &params(1));
    r.create_pdr[0].pdi.local_f_teid = Some(FTeid::Choose {
        v4: false,
        v6: true,
        choose_id: None,
    });
    let seq = b.next_seq();
    let (c, ie, _) = rejected(&mut b, &with_body(seq, r));
    assert_eq!(
        (c, ie),
        (Cause::INVALID_F_TEID_ALLOCATION_OPTION, Some(t::F_TEID))
    );
}

#[test]
fn cause_73_rule_creation_failure() {
    let mut b = Bench::new();
    b.associate();
    // PDR pointing at a FAR that does not exist.
    let (_, mut r) = establishment(0, &params(1));
    r.create_pdr[1].far_id = Some(77);
    let seq = b.next_seq();
    let (c, ie, rule) = rejected(&mut b, &with_body(seq, r));
    assert_eq!(
        (c, ie),
        (Cause::RULE_CREATION_MODIFICATION_FAILURE, Some(t::FAR_ID))
    );
    assert_eq!(
        rule,
        Some(FailedRuleId {
            rule_type: RuleType::Pdr,
            id: 2
        })
    );
    // Two PDRs with the same ID.
    let (_, mut r) = establishment(0, &params(1));
    r.create_pdr[1].pdr_id = 1;
    let seq = b.next_seq();
    let (c, _, rule) = rejected(&mut b, &with_body(seq, r));
    assert_eq!(c, Cause::RULE_CREATION_MODIFICATION_FAILURE);
    assert_eq!(
        rule,
        Some(FailedRuleId {
            rule_type: RuleType::Pdr,
            id: 1
        })
    );
    // An SDF filter we cannot parse.
    let (_, mut r) = establishment(0, &params(1));
    r.create_pdr[0].pdi.sdf_filters[0].flow_description =
        Some(b"permit out ip from nowhere to assigned");
    let seq = b.next_seq();
    let (c, ie, _) = rejected(&mut b, &with_body(seq, r));
    assert_eq!(
        (c, ie),
        (
            Cause::RULE_CREATION_MODIFICATION_FAILURE,
            Some(t::SDF_FILTER)
        )
    );
    // A downlink UE address another session already uses.
    let given = SessionParams {
        ue_ip: Some(Ipv4Addr::new(10, 99, 0, 1)),
        ..params(1)
    };
    establish(&mut b, &given);
    let seq = b.next_seq();
    let (c, ie, _) = rejected(
        &mut b,
        &sample::establishment_request(
            seq,
            &SessionParams {
                cp_seid: 2,
                ..given
            },
        ),
    );
    assert_eq!(
        (c, ie),
        (
            Cause::RULE_CREATION_MODIFICATION_FAILURE,
            Some(t::UE_IP_ADDRESS)
        )
    );
    // The user plane refuses one rule.
    b.up.fail_next_install = Some(UpError::Rule {
        rule: pfcp::rules::RuleRef::Qer(2),
        reason: "meter table full".into(),
    });
    let seq = b.next_seq();
    let (c, _, rule) = rejected(&mut b, &sample::establishment_request(seq, &params(3)));
    assert_eq!(c, Cause::RULE_CREATION_MODIFICATION_FAILURE);
    assert_eq!(
        rule,
        Some(FailedRuleId {
            rule_type: RuleType::Qer,
            id: 2
        })
    );
}

#[test]
fn cause_74_congestion() {
    let mut b = Bench::new();
    b.associate();
    b.up.fail_next_install = Some(UpError::Congestion("publish queue full".into()));
    let seq = b.next_seq();
    let (c, _, _) = rejected(&mut b, &sample::establishment_request(seq, &params(1)));
    assert_eq!(c, Cause::PFCP_ENTITY_IN_CONGESTION);
}

#[test]
fn cause_75_no_resources() {
    let mut cfg = config();
    cfg.teid_first = 0x1000;
    cfg.teid_last = 0x1000;
    let mut b = Bench::with(cfg);
    b.associate();
    establish(&mut b, &params(1));
    // The only TEID is taken.
    let seq = b.next_seq();
    let (c, ie, _) = rejected(&mut b, &sample::establishment_request(seq, &params(2)));
    assert_eq!((c, ie), (Cause::NO_RESOURCES_AVAILABLE, Some(t::F_TEID)));
    // The user plane is out of table space.
    b.up.fail_next_install = Some(UpError::NoResources("table full".into()));
    let seq = b.next_seq();
    let p = SessionParams {
        ul_teid: Some((0x5000, N3)),
        ue_ip: Some(Ipv4Addr::new(10, 50, 0, 1)),
        ..params(3)
    };
    let (c, _, _) = rejected(&mut b, &sample::establishment_request(seq, &p));
    assert_eq!(c, Cause::NO_RESOURCES_AVAILABLE);
    // max_sessions.
    let mut cfg = config();
    cfg.max_sessions = 1;
    let mut b = Bench::with(cfg);
    b.associate();
    establish(&mut b, &params(1));
    let seq = b.next_seq();
    assert_eq!(
        rejected(&mut b, &sample::establishment_request(seq, &params(2))).0,
        Cause::NO_RESOURCES_AVAILABLE
    );
}

#[test]
fn cause_76_service_not_supported() {
    let mut b = Bench::new();
    b.associate();
    let (_, mut r) = establishment(0, &params(1));
    r.create_far[0].apply_action = ApplyAction::FORW | ApplyAction::DUPL;
    let seq = b.next_seq();
    let (c, ie, _) = rejected(&mut b, &with_body(seq, r));
    assert_eq!(
        (c, ie),
        (Cause::SERVICE_NOT_SUPPORTED, Some(t::APPLY_ACTION))
    );
    let (_, mut r) = establishment(0, &params(1));
    r.create_traffic_endpoint = true;
    let seq = b.next_seq();
    let (c, ie, _) = rejected(&mut b, &with_body(seq, r));
    assert_eq!(
        (c, ie),
        (
            Cause::SERVICE_NOT_SUPPORTED,
            Some(t::CREATE_TRAFFIC_ENDPOINT)
        )
    );
    let (_, mut r) = establishment(0, &params(1));
    r.create_pdr[0].pdi.framed_route = true;
    let seq = b.next_seq();
    let (c, ie, _) = rejected(&mut b, &with_body(seq, r));
    assert_eq!(
        (c, ie),
        (Cause::SERVICE_NOT_SUPPORTED, Some(t::FRAMED_ROUTE))
    );
    b.up.fail_next_install = Some(UpError::NotSupported("ethernet".into()));
    let seq = b.next_seq();
    assert_eq!(
        rejected(&mut b, &sample::establishment_request(seq, &params(1))).0,
        Cause::SERVICE_NOT_SUPPORTED
    );
    // A user plane refusing one rule's feature names the IE and the rule.
    b.up.fail_next_install = Some(UpError::Unsupported {
        rule: Some(pfcp::rules::RuleRef::Pdr(1)),
        ie: t::SDF_FILTER,
        reason: "deny rules".into(),
    });
    let seq = b.next_seq();
    let (c, ie, rule) = rejected(&mut b, &sample::establishment_request(seq, &params(1)));
    assert_eq!((c, ie), (Cause::SERVICE_NOT_SUPPORTED, Some(t::SDF_FILTER)));
    let rule = rule.unwrap();
    assert_eq!((rule.rule_type, rule.id), (RuleType::Pdr, 1));
}

// ---- responses held until the user plane's counts are final --------------------------

fn deletion_answer<'a>(r: &'a Pfcp<'static>) -> &'a SessionDeletionResponse<'static> {
    match &r.message {
        Message::SessionDeletionResponse(d) => d,
        m => panic!("not a deletion response: {m:?}"),
    }
}

#[test]
fn deletion_answer_waits_for_final_usage() {
    let mut b = Bench::new();
    b.associate();
    let seid = establish(&mut b, &params(1));
    let other = establish(&mut b, &params(2));
    b.up.unsettled.insert(seid);
    let seq = b.next_seq();
    let del = sample::deletion_request(seq, seid);
    let answers = b.send(&del);
    assert!(answers.is_empty(), "held: {answers:?}");
    assert_eq!(b.up.removed, [seid], "out of the user plane at once");
    assert_eq!(b.node.parked(), 1);
    // A retransmission while held is not applied again nor answered.
    assert!(b.send(&del).is_empty());
    assert_eq!(b.up.removed, [seid]);
    // Other requests go on meanwhile.
    let seq = b.next_seq();
    let r = b.request(&sample::query_urr_request(seq, other, &[1]));
    assert_eq!(mod_response(&r).cause, Cause::REQUEST_ACCEPTED);
    // Still counting: the retry timer finds it unsettled.
    assert!(b.advance(Duration::from_millis(5)).is_empty());
    // Settled: the final count is read after the removal and answered once.
    b.up.unsettled.clear();
    b.up.pending_usage.insert((seid, 1), (40, 60));
    let out = b.advance(Duration::from_millis(2));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].dst, b.smf);
    let r = decode(&out[0].payload);
    assert_eq!(r.seq, seq - 1);
    let d = deletion_answer(&r);
    assert_eq!(d.cause, Cause::REQUEST_ACCEPTED);
    assert_eq!(
        d.usage_report[0].volume_measurement.unwrap().total,
        Some(100)
    );
    assert_eq!(b.node.parked(), 0);
    assert_eq!(b.node.poll_timeout().map(|t| t <= b.now), Some(false));
    // The answer is cached: a late retransmission gets the same bytes.
    let again = b.send(&del);
    assert_eq!(again.len(), 1);
    assert_eq!(deletion_answer(&again[0]).usage_report.len(), 1);
    assert_eq!(b.up.removed, [seid]);
}

#[test]
fn removed_urr_is_reported_once_its_count_is_final() {
    let mut b = Bench::new();
    b.associate();
    let seid = establish(&mut b, &params(1));
    // A second URR, then remove it while the user plane still counts it.
    let mut m = sample::empty_modification();
    m.create_urr = vec![sample::urr(2, None, None)];
    let seq = b.next_seq();
    let r = b.request(&Pfcp::session(seid, seq, m));
    assert_eq!(mod_response(&r).cause, Cause::REQUEST_ACCEPTED);
    b.up.unsettled.insert(seid);
    let mut m = sample::empty_modification();
    m.remove_urr = vec![RemoveUrr { urr_id: 2 }];
    let seq = b.next_seq();
    assert!(b.send(&Pfcp::session(seid, seq, m)).is_empty());
    assert!(
        b.up.installed[&seid].urr(2).is_none(),
        "the new rules are in force at once"
    );
    b.up.pending_usage.insert((seid, 2), (11, 22));
    b.up.unsettled.clear();
    let out = b.advance(Duration::from_millis(2));
    assert_eq!(out.len(), 1);
    let r = decode(&out[0].payload);
    let m = mod_response(&r);
    assert_eq!(m.cause, Cause::REQUEST_ACCEPTED);
    assert_eq!(m.usage_report.len(), 1);
    assert_eq!(m.usage_report[0].urr_id, 2);
    assert!(
        m.usage_report[0]
            .usage_report_trigger
            .contains(UsageReportTrigger::TERMR)
    );
    assert_eq!(
        m.usage_report[0].volume_measurement.unwrap().total,
        Some(33)
    );
}

#[test]
fn held_answer_goes_out_after_park_max_even_if_never_settled() {
    let mut b = Bench::new();
    b.associate();
    let seid = establish(&mut b, &params(1));
    b.up.unsettled.insert(seid);
    let seq = b.next_seq();
    assert!(b.send(&sample::deletion_request(seq, seid)).is_empty());
    assert!(b.advance(Duration::from_millis(900)).is_empty());
    let out = b.advance(Duration::from_millis(200));
    assert_eq!(out.len(), 1);
    assert_eq!(
        deletion_answer(&decode(&out[0].payload)).cause,
        Cause::REQUEST_ACCEPTED
    );
    assert_eq!(b.node.stats().parked_overdue, 1);
}

#[test]
fn reserved_ue_ips_are_never_chosen() {
    let mut cfg = config();
    cfg.ue_pools[0].prefix_len = 29; // six addresses: .1 to .6
    cfg.reserved_ue_ips = vec!["10.45.0.1".parse().unwrap(), "10.45.0.3".parse().unwrap()];
    let mut b = Bench::with(cfg);
    b.associate();
    let mut got = Vec::new();
    for i in 1..=4 {
        let seq = b.next_seq();
        let r = b.request(&sample::establishment_request(seq, &params(i)));
        let e = est_response(&r);
        assert_eq!(e.cause, Cause::REQUEST_ACCEPTED);
        got.extend(
            e.created_pdr
                .iter()
                .filter_map(|c| c.ue_ip_address.and_then(|u| u.ipv4)),
        );
    }
    got.sort_unstable();
    got.dedup();
    let want: Vec<Ipv4Addr> = [2, 4, 5, 6].map(|n| Ipv4Addr::new(10, 45, 0, n)).to_vec();
    assert_eq!(got, want);
    let seq = b.next_seq();
    let r = b.request(&sample::establishment_request(seq, &params(9)));
    assert_eq!(
        est_response(&r).cause,
        Cause::ALL_DYNAMIC_ADDRESSES_OCCUPIED
    );
    // An SMF naming a reserved address is refused.
    let mut p = params(10);
    p.ue_ip = Some(Ipv4Addr::new(10, 45, 0, 3));
    let seq = b.next_seq();
    let (c, ie, _) = rejected(&mut b, &sample::establishment_request(seq, &p));
    assert_eq!(
        (c, ie),
        (
            Cause::RULE_CREATION_MODIFICATION_FAILURE,
            Some(t::UE_IP_ADDRESS)
        )
    );
    // Released (its static session went away): allocatable again.
    b.node.release_ue_ip("10.45.0.3".parse().unwrap());
    let seq = b.next_seq();
    let r = b.request(&sample::establishment_request(seq, &params(11)));
    let e = est_response(&r);
    assert_eq!(e.cause, Cause::REQUEST_ACCEPTED);
    // And an address a PFCP session holds cannot be reserved.
    assert!(!b.node.reserve_ue_ip("10.45.0.2".parse().unwrap()));
    assert!(
        b.node.reserve_ue_ip("10.45.7.7".parse().unwrap()),
        "outside the pools: nothing to do"
    );
}

#[test]
fn cause_79_all_dynamic_addresses_occupied() {
    let mut cfg = config();
    cfg.ue_pools[0].prefix_len = 30; // two addresses
    let mut b = Bench::with(cfg);
    b.associate();
    establish(&mut b, &params(1));
    establish(&mut b, &params(2));
    let seq = b.next_seq();
    let (c, ie, _) = rejected(&mut b, &sample::establishment_request(seq, &params(3)));
    assert_eq!(
        (c, ie),
        (
            Cause::ALL_DYNAMIC_ADDRESSES_OCCUPIED,
            Some(t::UE_IP_ADDRESS)
        )
    );
}

#[test]
fn version_not_supported() {
    let mut b = Bench::new();
    let mut bytes = Vec::new();
    Pfcp::node(
        77,
        HeartbeatRequest {
            recovery_time_stamp: 1,
        },
    )
    .encode(&mut bytes)
    .unwrap();
    bytes[0] = 0x40; // version 2
    let smf = b.smf;
    let out = b.raw_from(smf, &bytes);
    let r = decode(&out[0].payload);
    assert_eq!(r.seq, 77);
    assert!(matches!(r.message, Message::VersionNotSupportedResponse(_)));
    assert_eq!(b.node.stats().rx_bad_version, 1);
}

#[test]
fn peers_outside_the_allowlist_are_dropped_and_counted() {
    let mut cfg = config();
    cfg.allowed_peers = vec![IpAddr::V4(SMF)];
    let mut b = Bench::with(cfg);
    let stranger = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(6, 6, 6, 6)), 8805);
    let mut bytes = Vec::new();
    sample::association_setup_request(1, Ipv4Addr::new(6, 6, 6, 6), 1)
        .encode(&mut bytes)
        .unwrap();
    assert!(b.raw_from(stranger, &bytes).is_empty());
    assert_eq!(b.node.stats().rx_not_allowed, 1);
    assert!(b.node.associations().is_empty());
    b.associate();
    assert_eq!(b.node.associations().len(), 1);
    // A reload that allows a network instead: 6.6.0.0/16 gets in (and
    // the SMF, now outside, keeps its association).
    let kept = b.node.set_allowed_peers(
        Vec::new(),
        vec![(IpAddr::V4(Ipv4Addr::new(6, 6, 0, 0)), 16)],
    );
    assert_eq!(kept, [NodeIdBuf::Ipv4(SMF)]);
    assert_eq!(b.raw_from(stranger, &bytes).len(), 1);
    let far = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(6, 7, 0, 1)), 8805);
    assert!(b.raw_from(far, &bytes).is_empty());
    assert_eq!(b.node.stats().rx_not_allowed, 2);
}

#[test]
fn an_smf_taken_off_the_allowlist_keeps_its_sessions_until_it_releases_them() {
    let other = IpAddr::V4(Ipv4Addr::new(10, 100, 0, 9));
    let mut cfg = config();
    cfg.allowed_peers = vec![IpAddr::V4(SMF), other];
    let mut b = Bench::with(cfg);
    b.associate();
    let s = establish(&mut b, &params(1));
    b.events();
    // A reload that keeps the SMF allowed changes nothing.
    assert!(
        b.node
            .set_allowed_peers(vec![other, IpAddr::V4(SMF)], Vec::new())
            .is_empty()
    );
    // One that leaves it out: the association and its session stay (a
    // reload never touches PFCP sessions), and the SMF is still served.
    assert_eq!(
        b.node.set_allowed_peers(vec![other], Vec::new()),
        [NodeIdBuf::Ipv4(SMF)]
    );
    assert_eq!(
        (b.node.associations().len(), b.node.session_count()),
        (1, 1)
    );
    assert!(b.up.removed.is_empty());
    let before = b.node.stats().rx_not_allowed;
    let seq = b.next_seq();
    let r = b.request(&Pfcp::node(
        seq,
        HeartbeatRequest {
            recovery_time_stamp: SMF_RTS,
        },
    ));
    assert!(matches!(r.message, Message::HeartbeatResponse(_)));
    // Until it releases the association: then it is a stranger, and its
    // next Association Setup is dropped and counted.
    let seq = b.next_seq();
    let r = b.request(&Pfcp::node(
        seq,
        AssociationReleaseRequest {
            node_id: NodeId::Ipv4(SMF),
        },
    ));
    assert!(matches!(r.message, Message::AssociationReleaseResponse(_)));
    assert_eq!(b.up.removed, [s]);
    assert_eq!(b.node.stats().rx_not_allowed, before);
    let mut bytes = Vec::new();
    sample::association_setup_request(b.next_seq(), SMF, SMF_RTS)
        .encode(&mut bytes)
        .unwrap();
    let smf = b.smf;
    assert!(b.raw_from(smf, &bytes).is_empty());
    assert!(b.node.associations().is_empty());
    assert_eq!(b.node.stats().rx_not_allowed, before + 1);
}

#[test]
fn a_reloaded_heartbeat_interval_counts_from_the_last_heartbeat() {
    let mut b = Bench::new();
    b.auto_heartbeat = false;
    b.associate();
    let (t1, n1) = (Duration::from_secs(2), 3);
    // Interval 10 s; at 1 s a reload makes it 2 s: the next heartbeat goes
    // at 2 s (setup + 2 s), not at 10 s.
    assert!(b.advance(Duration::from_secs(1)).is_empty());
    b.node.set_timers(Duration::from_secs(2), t1, n1).unwrap();
    let answer = |b: &mut Bench, out: &[pfcp::Transmit]| {
        assert_eq!(out.len(), 1, "one heartbeat");
        let hb = decode(&out[0].payload);
        assert!(matches!(hb.message, Message::HeartbeatRequest(_)));
        b.send(&Pfcp::node(
            hb.seq,
            HeartbeatResponse {
                recovery_time_stamp: SMF_RTS,
            },
        ));
    };
    assert!(b.advance(Duration::from_millis(900)).is_empty());
    let out = b.advance(Duration::from_millis(100));
    answer(&mut b, &out);
    // Then every 2 s.
    assert!(b.advance(Duration::from_millis(1900)).is_empty());
    let out = b.advance(Duration::from_millis(100));
    answer(&mut b, &out);
    // A longer interval (at 5 s: 1 s after the last heartbeat) postpones
    // the next one to the last + 7 s = 11 s.
    assert!(b.advance(Duration::from_secs(1)).is_empty());
    b.node.set_timers(Duration::from_secs(7), t1, n1).unwrap();
    assert!(b.advance(Duration::from_millis(5900)).is_empty());
    let out = b.advance(Duration::from_millis(100));
    answer(&mut b, &out);
    // A reload to an interval already past since the last heartbeat
    // sends one at once.
    b.advance(Duration::from_secs(5));
    b.node.set_timers(Duration::from_secs(3), t1, n1).unwrap();
    let out = b.advance(Duration::ZERO);
    answer(&mut b, &out);
    assert_eq!(b.node.associations().len(), 1);
}

#[test]
fn garbage_burst_does_not_stop_valid_peers() {
    let mut b = Bench::new();
    b.associate();
    let attacker = SocketAddr::new(IpAddr::V4(SMF), 5555);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..20_000u32 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = (x % 200) as usize;
        let mut d: Vec<u8> = (0..len).map(|k| (x >> (k % 56)) as u8).collect();
        if i % 3 == 0 && d.len() > 4 {
            // Look like PFCP v1 requests, with random bodies.
            d[0] = 0x21;
            d[1] = [50, 52, 54, 5, 1][(x % 5) as usize];
        }
        b.node.handle(b.now, attacker, &d, &mut b.up);
        b.drain();
    }
    assert!(b.node.stats().rx_malformed > 1000);
    // The real SMF is still served, and the garbage left nothing behind.
    let seid = establish(&mut b, &params(1));
    assert!(b.node.session(seid).is_some());
    assert_eq!(b.node.session_count(), 1);
    assert_eq!(b.node.associations().len(), 1);
}

// ---- usage reports ---------------------------------------------------------------------------

fn report_of(t: &pfcp::Transmit) -> (u32, SessionReportRequest<'static>) {
    let m = decode(&t.payload);
    match m.message {
        Message::SessionReportRequest(r) => (m.seq, r),
        other => panic!("not a report: {other:?}"),
    }
}

fn answer_report(b: &mut Bench, seq: u32, cause: Cause) {
    let a = Pfcp::session(
        1,
        seq,
        SessionReportResponse {
            cause,
            offending_ie: None,
            update_bar: None,
            pfcpsrrsp_flags: None,
            cp_f_seid: None,
            n4u_f_teid: None,
            alternative_smf_ip_address: None,
        },
    );
    assert!(b.send(&a).is_empty());
}

#[test]
fn volume_threshold_report_is_retransmitted_until_answered() {
    let mut b = Bench::new();
    b.associate();
    let seid = establish(&mut b, &params(1)); // URR 1: threshold 100 MB, period 60 s
    b.up.pending_usage
        .insert((seid, 1), (40_000_000, 70_000_000));
    let out = b.advance(Duration::from_secs(1));
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].dst, b.smf);
    let (seq, r) = report_of(&out[0]);
    assert!(r.report_type.contains(ReportType::USAR));
    let u = &r.usage_report[0];
    assert!(u.usage_report_trigger.contains(UsageReportTrigger::VOLTH));
    assert_eq!(u.volume_measurement.unwrap().total, Some(110_000_000));
    // Not answered: retransmitted after T1, same bytes.
    let again = b.advance(Duration::from_secs(2));
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].payload, out[0].payload);
    answer_report(&mut b, seq, Cause::REQUEST_ACCEPTED);
    assert!(b.advance(Duration::from_secs(10)).is_empty());
    // Counting starts again after a report.
    b.up.pending_usage.insert((seid, 1), (10, 10));
    assert!(b.advance(Duration::from_secs(2)).is_empty());
}

#[test]
fn report_answered_with_65_removes_the_session() {
    let mut b = Bench::new();
    b.associate();
    let seid = establish(&mut b, &params(1));
    b.up.pending_usage.insert((seid, 1), (200_000_000, 0));
    let out = b.advance(Duration::from_secs(1));
    let (seq, _) = report_of(&out[0]);
    answer_report(&mut b, seq, Cause::SESSION_CONTEXT_NOT_FOUND);
    assert_eq!(b.up.removed, [seid]);
    assert!(b.events().contains(&Event::SessionRemoved {
        seid,
        reason: RemoveReason::UnknownAtSmf
    }));
}

#[test]
fn unanswered_report_times_out_after_n1() {
    let mut b = Bench::new();
    b.associate();
    let seid = establish(&mut b, &params(1));
    b.up.pending_usage.insert((seid, 1), (200_000_000, 0));
    let out = b.advance(Duration::from_secs(1));
    assert_eq!(out.len(), 1);
    let out = b.advance(Duration::from_millis(7_500));
    assert_eq!(
        out.iter().filter(|t| report_of_opt(t)).count(),
        3,
        "N1 = 3 retransmissions"
    );
    b.advance(Duration::from_secs(1));
    assert!(
        b.events()
            .iter()
            .any(|e| matches!(e, Event::RequestTimedOut { seid: Some(s), .. } if *s == seid))
    );
}

fn report_of_opt(t: &pfcp::Transmit) -> bool {
    matches!(decode(&t.payload).message, Message::SessionReportRequest(_))
}

#[test]
fn periodic_reports_follow_the_measurement_period() {
    let mut b = Bench::new();
    b.associate();
    let seid = establish(&mut b, &params(1)); // period 60 s
    let mut seen = Vec::new();
    for i in 1..=3u32 {
        b.up.pending_usage.insert((seid, 1), (u64::from(i), 0));
        let out = b.advance(Duration::from_secs(60));
        let reports: Vec<_> = out.iter().filter(|t| report_of_opt(t)).collect();
        assert_eq!(reports.len(), 1, "one report per period");
        let (seq, r) = report_of(reports[0]);
        let u = &r.usage_report[0];
        assert!(u.usage_report_trigger.contains(UsageReportTrigger::PERIO));
        assert_eq!(u.duration_measurement, Some(60));
        seen.push((u.ur_seqn, u.volume_measurement.unwrap().ul.unwrap()));
        answer_report(&mut b, seq, Cause::REQUEST_ACCEPTED);
    }
    assert_eq!(seen, [(0, 1), (1, 2), (2, 3)]);
}

/// Soak finding: timers are cancelled lazily, so every deleted session
/// left its periodic-report timer in the heap until due (a URR's period
/// or time threshold can be an hour or a day: under churn the heap grew
/// by a day's worth of sessions). Dead timers are now swept out when the
/// heap doubles; live ones still fire.
#[test]
fn deleted_sessions_timers_do_not_pile_up() {
    let mut b = Bench::new();
    b.associate();
    let keep = establish(&mut b, &params(1)); // period 60 s
    for i in 0..5000u64 {
        let seid = establish(&mut b, &params(100 + i));
        let seq = b.next_seq();
        b.request(&sample::deletion_request(seq, seid));
    }
    let o = b.node.occupancy();
    assert_eq!(o.sessions, 1);
    assert!(
        o.timers <= 1024,
        "dead timers swept: {} in the heap",
        o.timers
    );
    // The live session's timer survived the sweeps.
    b.up.pending_usage.insert((keep, 1), (7, 0));
    let out = b.advance(Duration::from_secs(60));
    assert_eq!(out.iter().filter(|t| report_of_opt(t)).count(), 1);
}

fn urr_modification(seid: u64, seq: u32, urr: CreateUrr) -> Pfcp<'static> {
    let mut m = sample::empty_modification();
    m.remove_urr = vec![RemoveUrr { urr_id: 1 }];
    m.create_urr = vec![urr];
    m.update_pdr = (1..=4)
        .map(|id| UpdatePdr {
            pdr_id: id,
            outer_header_removal: None,
            precedence: None,
            pdi: None,
            far_id: None,
            urr_ids: SmallVec::from_elem(2, 1),
            qer_ids: SmallVec::new(),
            activate_predefined_rules: false,
            deactivate_predefined_rules: false,
            activation_time: false,
            deactivation_time: false,
        })
        .collect();
    Pfcp::session(seid, seq, m)
}

#[test]
fn time_threshold_and_volume_quota() {
    let mut b = Bench::new();
    b.associate();
    let seid = establish(&mut b, &params(1));
    let mut u = sample::urr(2, None, None);
    u.reporting_triggers = ReportingTriggers::TIMTH | ReportingTriggers::VOLQU;
    u.time_threshold = Some(30);
    u.volume_quota = Some(Volume {
        total: Some(1000),
        ul: None,
        dl: None,
    });
    let seq = b.next_seq();
    let r = b.request(&urr_modification(seid, seq, u));
    let m = mod_response(&r);
    assert_eq!(m.cause, Cause::REQUEST_ACCEPTED, "{m:?}");
    assert!(
        m.usage_report[0]
            .usage_report_trigger
            .contains(UsageReportTrigger::TERMR),
        "removed URR 1 reported"
    );
    // Time threshold: a report after 30 s.
    let out = b.advance(Duration::from_secs(30));
    let (seq, r) = report_of(&out[0]);
    assert!(
        r.usage_report[0]
            .usage_report_trigger
            .contains(UsageReportTrigger::TIMTH)
    );
    answer_report(&mut b, seq, Cause::REQUEST_ACCEPTED);
    // Quota used up: report VOLQU and the user plane is told to stop.
    b.up.pending_usage.insert((seid, 2), (600, 600));
    let out = b.advance(Duration::from_secs(1));
    let (seq, r) = report_of(&out[0]);
    assert!(
        r.usage_report[0]
            .usage_report_trigger
            .contains(UsageReportTrigger::VOLQU)
    );
    answer_report(&mut b, seq, Cause::REQUEST_ACCEPTED);
    assert!(b.up.installed[&seid].urr(2).unwrap().quota_exhausted);
    // A new quota from the SMF lifts it.
    let mut m = sample::empty_modification();
    m.update_urr = vec![sample::quota_update(2, 5000)];
    let seq = b.next_seq();
    b.request(&Pfcp::session(seid, seq, m));
    assert!(!b.up.installed[&seid].urr(2).unwrap().quota_exhausted);
}

#[test]
fn time_quota_exhausts() {
    let mut b = Bench::new();
    b.associate();
    let seid = establish(&mut b, &params(1));
    let mut u = sample::urr(2, None, None);
    u.reporting_triggers = ReportingTriggers::TIMQU;
    u.time_quota = Some(100);
    let seq = b.next_seq();
    b.request(&urr_modification(seid, seq, u));
    assert!(b.advance(Duration::from_secs(99)).is_empty());
    let out = b.advance(Duration::from_secs(1));
    let (_, r) = report_of(&out[0]);
    assert!(
        r.usage_report[0]
            .usage_report_trigger
            .contains(UsageReportTrigger::TIMQU)
    );
    assert!(b.up.installed[&seid].urr(2).unwrap().quota_exhausted);
}

#[test]
fn downlink_data_report_once_until_modified() {
    let mut b = Bench::new();
    b.associate();
    let p = SessionParams {
        gnb: None,
        ..params(1)
    }; // DL FAR: BUFF + NOCP
    let seid = establish(&mut b, &p);
    assert!(b.node.downlink_data(b.now, seid, 2, Some(9)));
    let out = b.drain();
    let (seq, r) = report_of(&out[0]);
    assert!(r.report_type.contains(ReportType::DLDR));
    let d = r.downlink_data_report.unwrap();
    assert_eq!(d.pdr_ids.as_slice(), [2]);
    assert_eq!(d.downlink_data_service_information[0].qfi, Some(9));
    answer_report(&mut b, seq, Cause::REQUEST_ACCEPTED);
    assert!(
        !b.node.downlink_data(b.now, seid, 2, Some(9)),
        "reported already"
    );
    // The SMF sets up the downlink path; buffering again later reports again.
    let seq = b.next_seq();
    b.request(&sample::path_switch_request(seq, seid, 0x500, GNB, false));
    assert!(
        !b.node.downlink_data(b.now, seid, 2, None),
        "FAR forwards now, no NOCP"
    );
    assert!(!b.node.downlink_data(b.now, 999, 2, None));
}

/// Paging failed: the SMF answers the Downlink Data Report with
/// PFCPSRRsp-Flags DROBU (Open5GS). The user plane gets the unchanged
/// rules again (it drops the buffer by republishing them) and the drop.
#[test]
fn drobu_in_the_report_response_drops_the_buffer_open5gs() {
    let mut b = Bench::new();
    b.associate();
    let p = SessionParams {
        gnb: None,
        ..params(1)
    };
    let seid = establish(&mut b, &p);
    assert!(b.node.downlink_data(b.now, seid, 2, Some(9)));
    let out = b.drain();
    let (seq, _) = report_of(&out[0]);
    let installs = b.up.installs;
    let a = Pfcp::session(
        1,
        seq,
        SessionReportResponse {
            cause: Cause::REQUEST_ACCEPTED,
            offending_ie: None,
            update_bar: None,
            pfcpsrrsp_flags: Some(PfcpsrRspFlags::DROBU),
            cp_f_seid: None,
            n4u_f_teid: None,
            alternative_smf_ip_address: None,
        },
    );
    assert!(b.send(&a).is_empty());
    assert_eq!(
        b.up.installs,
        installs + 1,
        "the same rules, installed again"
    );
    assert_eq!(b.up.dropped_buffers, [seid]);
}

#[test]
fn error_indication_and_path_failure_reports() {
    let mut b = Bench::new();
    b.associate();
    establish(&mut b, &params(1));
    assert_eq!(b.node.error_indication(b.now, IpAddr::V4(GNB), 0x200), 1);
    let out = b.drain();
    let (_, r) = report_of(&out[0]);
    assert!(r.report_type.contains(ReportType::ERIR));
    assert_eq!(
        r.error_indication_report.unwrap().remote_f_teids,
        [FTeid::Assigned {
            teid: 0x200,
            ipv4: Some(GNB),
            ipv6: None
        }]
    );
    assert_eq!(b.node.error_indication(b.now, IpAddr::V4(GNB), 0x999), 0);
    b.node.path_failure(b.now, &[IpAddr::V4(GNB)]);
    let out = b.drain();
    let Message::NodeReportRequest(n) = decode(&out[0].payload).message else {
        panic!()
    };
    assert!(n.node_report_type.contains(NodeReportType::UPFR));
}

#[test]
fn message_counters() {
    let mut b = Bench::new();
    b.associate();
    establish(&mut b, &params(1));
    let s = b.node.stats();
    use pfcp::Direction::{Rx, Tx};
    assert_eq!(s.count(msg_type::ASSOCIATION_SETUP_REQUEST, Rx), 1);
    assert_eq!(s.count(msg_type::ASSOCIATION_SETUP_RESPONSE, Tx), 1);
    assert_eq!(s.count(msg_type::SESSION_ESTABLISHMENT_RESPONSE, Tx), 1);
    let names: Vec<_> = s.messages().collect();
    assert!(names.contains(&("session_establishment_request", Rx, 1)));
}

// ---- the OAI capture, replayed ----------------------------------------------------------------

/// Every request the OAI SMF sent in the capture (tests/data, source
/// orion-belt/tempo upf.pcap) is accepted by our node.
#[test]
fn oai_smf_requests_are_accepted() {
    let dgrams = common::oai_capture();
    let smf_ip: IpAddr = "192.168.61.196".parse().unwrap();
    let mut cfg = config();
    cfg.gtpu[0].ipv4 = Some(Ipv4Addr::new(172, 20, 16, 2));
    let mut b = Bench::with(cfg);
    let mut our_seid = None;
    let mut accepted = 0;
    for d in dgrams.iter().filter(|d| d.src.ip() == smf_ip) {
        let mut payload = d.payload.clone();
        let (m, _) = Pfcp::decode(&d.payload).unwrap();
        if !msg_type::is_request(m.message.msg_type()) {
            continue;
        }
        // The capture's SEIDs are the other UPF's; use ours.
        if let (Some(s), Some(_)) = (our_seid, m.seid)
            && m.message.msg_type() != msg_type::SESSION_ESTABLISHMENT_REQUEST
        {
            payload[4..12].copy_from_slice(&u64::to_be_bytes(s));
        }
        let out = b.raw_from(d.src, &payload);
        assert_eq!(out.len(), 1, "{:?}", m.message.msg_type());
        assert_eq!(out[0].dst, d.src);
        let r = decode(&out[0].payload);
        let cause = match &r.message {
            Message::HeartbeatResponse(_) => Cause::REQUEST_ACCEPTED,
            Message::AssociationSetupResponse(x) => x.cause,
            Message::SessionEstablishmentResponse(x) => {
                our_seid = x.up_f_seid.map(|f| f.seid);
                assert_eq!(x.cause, Cause::REQUEST_ACCEPTED, "{x:?}");
                let pdr = &x.created_pdr[0];
                assert!(
                    matches!(pdr.local_f_teid, Some(FTeid::Assigned { ipv4: Some(a), .. }) if a == Ipv4Addr::new(172, 20, 16, 2))
                );
                x.cause
            }
            Message::SessionModificationResponse(x) => x.cause,
            Message::SessionDeletionResponse(x) => x.cause,
            other => panic!("{other:?}"),
        };
        assert_eq!(cause, Cause::REQUEST_ACCEPTED, "{:?}", r.message);
        accepted += 1;
    }
    assert!(accepted >= 12, "{accepted}");
    // The downlink PDR from SGi-LAN with S/D unset still keys on the UE address.
    assert_eq!(
        b.node.session_count(),
        0,
        "deleted at the end of the capture"
    );
    let installs = b.up.installs;
    assert_eq!(installs, 2, "establishment and modification");
}

#[test]
fn reused_sequence_number_with_new_content_is_a_new_request() {
    let mut b = Bench::new();
    b.associate();
    let seid = establish(&mut b, &params(1));
    // The SMF restarts and happens to reuse the sequence number of its
    // last establishment for a deletion: not a duplicate.
    let seq = b.seq;
    let r = b.request(&sample::deletion_request(seq, seid));
    let Message::SessionDeletionResponse(d) = &r.message else {
        panic!("{r:?}")
    };
    assert_eq!(d.cause, Cause::REQUEST_ACCEPTED);
    assert_eq!(b.node.session_count(), 0);
    assert_eq!(b.node.stats().rx_duplicates, 0);
}

#[test]
fn several_messages_in_one_datagram() {
    let mut b = Bench::new();
    b.associate();
    let msgs = [
        Pfcp::node(
            b.next_seq(),
            HeartbeatRequest {
                recovery_time_stamp: SMF_RTS,
            },
        ),
        sample::establishment_request(b.next_seq(), &params(1)),
        sample::establishment_request(b.next_seq(), &params(2)),
    ];
    let mut bytes = Vec::new();
    encode_batch(&msgs, &mut bytes).unwrap();
    let smf = b.smf;
    let out = b.raw_from(smf, &bytes);
    assert_eq!(out.len(), 3);
    assert!(matches!(
        decode(&out[0].payload).message,
        Message::HeartbeatResponse(_)
    ));
    assert_eq!(
        est_response(&decode(&out[2].payload)).cause,
        Cause::REQUEST_ACCEPTED
    );
    assert_eq!(b.node.session_count(), 2);
}

#[test]
fn ipv6_ue_prefix_and_f_teid_are_chosen() {
    let mut cfg = config();
    cfg.gtpu[0].ipv6 = Some("2001:db8::1".parse().unwrap());
    cfg.ue_pools.push(pfcp::UePool {
        prefix: "2001:db8:100::".parse().unwrap(),
        prefix_len: 48,
        dnn: Some("internet".into()),
        network_instance: None,
        ue_prefix_len: 64,
    });
    let mut b = Bench::with(cfg);
    b.associate();
    let (_, mut r) = establishment(0, &params(1));
    for pdr in &mut r.create_pdr {
        pdr.pdi.ue_ip_address[0].choose_v6 = true;
        if pdr.pdi.local_f_teid.is_some() {
            pdr.pdi.local_f_teid = Some(FTeid::Choose {
                v4: true,
                v6: true,
                choose_id: Some(1),
            });
        }
    }
    let seq = b.next_seq();
    let resp = b.request(&with_body(seq, r));
    let e = est_response(&resp);
    assert_eq!(e.cause, Cause::REQUEST_ACCEPTED, "{e:?}");
    let c = e.created_pdr.iter().find(|c| c.pdr_id == 1).unwrap();
    let Some(FTeid::Assigned { ipv4, ipv6, .. }) = c.local_f_teid else {
        panic!()
    };
    assert_eq!(
        (ipv4, ipv6),
        (Some(N3), Some("2001:db8::1".parse().unwrap()))
    );
    let ue = c.ue_ip_address.unwrap();
    assert_eq!(ue.ipv6, Some("2001:db8:100::".parse().unwrap()));
    assert!(ue.ipv4.is_some(), "dual stack");
    let s = b.up.installed.values().next().unwrap();
    assert_eq!(s.ue_ipv6(), Some(("2001:db8:100::".parse().unwrap(), 64)));
    assert!(
        s.pdr(2)
            .unwrap()
            .pdi
            .ue_ip
            .unwrap()
            .contains("2001:db8:100::42".parse().unwrap())
    );
}

#[test]
fn zero_length_update_forwarding_parameters_is_accepted() {
    let mut b = Bench::new();
    b.associate();
    let seid = establish(&mut b, &params(1));
    // Update FAR 2 { FAR ID 2, Update Forwarding Parameters (empty) }.
    let mut bytes = Vec::new();
    sample::deletion_request(b.next_seq(), seid)
        .encode(&mut bytes)
        .unwrap();
    bytes[1] = msg_type::SESSION_MODIFICATION_REQUEST;
    bytes.extend_from_slice(&[0, 10, 0, 12, 0, 108, 0, 4, 0, 0, 0, 2, 0, 11, 0, 0]);
    let len = u16::try_from(bytes.len() - 4).unwrap();
    bytes[2..4].copy_from_slice(&len.to_be_bytes());
    let smf = b.smf;
    let out = b.raw_from(smf, &bytes);
    assert_eq!(
        mod_response(&decode(&out[0].payload)).cause,
        Cause::REQUEST_ACCEPTED
    );
}

/// Found by the soak (suite 66): every reload rebuilt the allocators with
/// their cursors at the start, so the next CHOOSE handed out the TEID and
/// UE address a session had given back just before, against the
/// allocator's promise (a late packet of the old session must not reach
/// the new one).
#[test]
fn a_reload_does_not_hand_out_at_once_what_was_freed_before_it() {
    let cfg = config();
    let mut b = Bench::with(cfg.clone());
    b.associate();
    let chosen = |r: &Pfcp<'static>| {
        let e = est_response(r);
        assert_eq!(e.cause, Cause::REQUEST_ACCEPTED, "{e:?}");
        let ue = e
            .created_pdr
            .iter()
            .find_map(|c| c.ue_ip_address.and_then(|u| u.ipv4))
            .unwrap();
        let teid = e
            .created_pdr
            .iter()
            .find_map(|c| match c.local_f_teid {
                Some(FTeid::Assigned { teid, .. }) => Some(teid),
                _ => None,
            })
            .unwrap();
        (e.up_f_seid.unwrap().seid, ue, teid)
    };
    let mut freed = Vec::new();
    for i in 1..=3 {
        let seq = b.next_seq();
        let (seid, ue, teid) = chosen(&b.request(&sample::establishment_request(seq, &params(i))));
        let seq = b.next_seq();
        b.request(&sample::deletion_request(seq, seid));
        freed.push((ue, teid));
    }
    // Unchanged pools and range (a reload of something else), then a
    // smaller pool and a TEID range holding the old position.
    let mut smaller = cfg.clone();
    smaller.ue_pools[0].prefix_len += 1;
    smaller.teid_last = cfg.teid_first + 0x7ff;
    for (i, c) in [(4, &cfg), (5, &smaller)] {
        b.node.set_resources(c).unwrap();
        let seq = b.next_seq();
        let (_, ue, teid) = chosen(&b.request(&sample::establishment_request(seq, &params(i))));
        assert!(
            freed.iter().all(|(u, t)| *u != ue && *t != teid),
            "reload {i}: {ue} / {teid:#x} was freed just before ({freed:x?})"
        );
        freed.push((ue, teid));
    }
    // The TEID range moved off and back, the pool removed and added
    // again: each goes on where it was, not at its start.
    let mut away = smaller.clone();
    away.teid_first = 0x1800;
    away.teid_last = 0x1fff;
    away.ue_pools[0].prefix = "10.99.0.0".parse().unwrap();
    away.ue_pools[0].prefix_len = 24;
    for (i, c) in [(6, &away), (7, &smaller)] {
        b.node.set_resources(c).unwrap();
        let seq = b.next_seq();
        let (seid, ue, teid) = chosen(&b.request(&sample::establishment_request(seq, &params(i))));
        assert!(
            freed.iter().all(|(u, t)| *u != ue && *t != teid),
            "reload {i}: {ue} / {teid:#x} was freed before ({freed:x?})"
        );
        let seq = b.next_seq();
        b.request(&sample::deletion_request(seq, seid));
        freed.push((ue, teid));
    }
}

#[test]
fn reload_of_pools_and_timers_keeps_what_sessions_use() {
    let mut cfg = config();
    cfg.ue_pools[0].prefix_len = 29; // .1 to .6
    cfg.teid_first = 0x1000;
    cfg.teid_last = 0x1003;
    let mut b = Bench::with(cfg.clone());
    b.associate();
    let ue_of = |r: &Pfcp<'static>| {
        est_response(r)
            .created_pdr
            .iter()
            .find_map(|c| c.ue_ip_address.and_then(|u| u.ipv4))
            .unwrap()
    };
    let teid_of = |r: &Pfcp<'static>| {
        est_response(r)
            .created_pdr
            .iter()
            .find_map(|c| match c.local_f_teid {
                Some(FTeid::Assigned { teid, .. }) => Some(teid),
                _ => None,
            })
            .unwrap()
    };
    let seq = b.next_seq();
    let first = b.request(&sample::establishment_request(seq, &params(1)));
    let (ue1, teid1) = (ue_of(&first), teid_of(&first));
    // Wider pool and TEID range; the first session's values stay taken.
    cfg.ue_pools[0].prefix_len = 28;
    cfg.teid_last = 0x1fff;
    cfg.reserved_ue_ips = vec!["10.45.0.9".parse().unwrap()];
    b.node.set_resources(&cfg).unwrap();
    let mut ues = vec![ue1];
    let mut teids = vec![teid1];
    // /28: 14 addresses, one reserved: 13 sessions in all.
    for i in 2..=13 {
        let seq = b.next_seq();
        let r = b.request(&sample::establishment_request(seq, &params(i)));
        assert_eq!(
            est_response(&r).cause,
            Cause::REQUEST_ACCEPTED,
            "session {i}"
        );
        ues.push(ue_of(&r));
        teids.push(teid_of(&r));
    }
    let seq = b.next_seq();
    let r = b.request(&sample::establishment_request(seq, &params(14)));
    assert_eq!(
        est_response(&r).cause,
        Cause::ALL_DYNAMIC_ADDRESSES_OCCUPIED
    );
    ues.sort_unstable();
    ues.dedup();
    teids.sort_unstable();
    teids.dedup();
    assert_eq!(ues.len(), 13, "no address handed out twice");
    assert_eq!(teids.len(), 13, "no TEID handed out twice");
    assert!(!ues.contains(&Ipv4Addr::new(10, 45, 0, 9)), "reserved");
    // Bad values change nothing.
    let mut bad = cfg.clone();
    bad.teid_first = 0;
    assert!(b.node.set_resources(&bad).is_err());
    assert!(
        b.node
            .set_timers(Duration::ZERO, Duration::from_secs(1), 3)
            .is_err()
    );
    b.node
        .set_timers(Duration::from_secs(1), Duration::from_secs(1), 1)
        .unwrap();
}

#[test]
fn sessions_of_one_profile_share_their_common_rules() {
    let mut b = Bench::new();
    b.associate();
    let s1 = establish(&mut b, &params(1));
    let s2 = establish(&mut b, &params(2));
    let (a, c) = (&b.node.session(s1).unwrap(), &b.node.session(s2).unwrap());
    assert!(std::sync::Arc::ptr_eq(&a.qers[0], &c.qers[0]), "one QER");
    assert!(std::sync::Arc::ptr_eq(&a.urrs[0], &c.urrs[0]), "one URR");
    let ul = |s: &pfcp::Session| s.fars.iter().find(|f| f.id == 1).cloned().unwrap();
    assert!(std::sync::Arc::ptr_eq(&ul(a), &ul(c)), "one uplink FAR");
    // A change to one session's rule leaves the other's alone.
    let mut m = sample::empty_modification();
    m.update_qer = vec![UpdateQer {
        qer_id: 1,
        qer_correlation_id: None,
        gate_status: Some(GateStatus {
            ul: Gate::Closed,
            dl: Gate::Closed,
        }),
        mbr: None,
        gbr: None,
        packet_rate: false,
        dl_flow_level_marking: false,
        qfi: None,
        rqi: None,
        paging_policy_indicator: None,
        averaging_window: None,
    }];
    let seq = b.next_seq();
    let r = b.request(&Pfcp::session(s1, seq, m));
    assert_eq!(mod_response(&r).cause, Cause::REQUEST_ACCEPTED);
    assert_eq!(
        b.node.session(s1).unwrap().qer(1).unwrap().gate.ul,
        Gate::Closed
    );
    assert_eq!(
        b.node.session(s2).unwrap().qer(1).unwrap().gate.ul,
        Gate::Open
    );
}

#[test]
fn error_indication_finds_sessions_by_their_current_tunnel() {
    let mut b = Bench::new();
    b.associate();
    let s1 = establish(&mut b, &params(1));
    let mut p2 = params(2);
    p2.gnb = Some((0x201, GNB));
    establish(&mut b, &p2);
    let gnb = IpAddr::V4(GNB);
    assert_eq!(b.node.error_indication(b.now, gnb, 0x200), 1);
    assert_eq!(
        b.node.error_indication(b.now, IpAddr::V4(SMF), 0x200),
        0,
        "another peer"
    );
    assert_eq!(b.drain().len(), 1, "one Session Report Request");
    let seq = b.next_seq();
    b.request(&sample::path_switch_request(seq, s1, 0x777, GNB, false));
    assert_eq!(
        b.node.error_indication(b.now, gnb, 0x200),
        0,
        "the old tunnel is gone"
    );
    assert_eq!(b.node.error_indication(b.now, gnb, 0x777), 1);
    b.drain();
    let seq = b.next_seq();
    b.request(&sample::deletion_request(seq, s1));
    assert_eq!(b.node.error_indication(b.now, gnb, 0x777), 0);
    assert_eq!(b.node.error_indication(b.now, gnb, 0x201), 1);
}

#[test]
fn error_indication_with_one_remote_teid_at_several_peers() {
    let mut b = Bench::new();
    b.associate();
    let peers = [
        GNB,
        Ipv4Addr::new(192, 0, 2, 77),
        Ipv4Addr::new(192, 0, 2, 78),
    ];
    let mut seids = Vec::new();
    for (i, g) in (1u64..).zip(peers) {
        let mut p = params(i);
        p.gnb = Some((0x300, g));
        seids.push(establish(&mut b, &p));
    }
    for g in peers {
        assert_eq!(b.node.error_indication(b.now, IpAddr::V4(g), 0x300), 1);
    }
    b.drain();
    // The index's first user goes: the others are still found.
    let seq = b.next_seq();
    b.request(&sample::deletion_request(seq, seids[0]));
    let found = |b: &mut Bench, g: Ipv4Addr| b.node.error_indication(b.now, IpAddr::V4(g), 0x300);
    assert_eq!(found(&mut b, peers[0]), 0);
    assert_eq!(found(&mut b, peers[1]), 1);
    assert_eq!(found(&mut b, peers[2]), 1);
    b.drain();
    let seq = b.next_seq();
    b.request(&sample::deletion_request(seq, seids[2]));
    assert_eq!(found(&mut b, peers[1]), 1);
    assert_eq!(found(&mut b, peers[2]), 0);
    b.drain();
    let seq = b.next_seq();
    b.request(&sample::deletion_request(seq, seids[1]));
    assert_eq!(found(&mut b, peers[1]), 0);
}

// ---- User Plane Inactivity Timer ---------------------------------------------------------------

/// The UPIR Session Report Requests among `out`.
fn upir_reports(out: &[pfcp::Transmit]) -> Vec<(u32, SessionReportRequest<'static>)> {
    out.iter()
        .filter(|t| report_of_opt(t))
        .map(report_of)
        .filter(|(_, r)| r.report_type.contains(ReportType::UPIR))
        .collect()
}

/// Establish the typical session with a User Plane Inactivity Timer.
fn establish_with_timer(b: &mut Bench, cp_seid: u64, timer_s: u32) -> u64 {
    let seq = b.next_seq();
    let (_, mut r) = establishment(seq, &params(cp_seid));
    r.user_plane_inactivity_timer = Some(timer_s);
    let a = b.request(&with_body(seq, r));
    let e = est_response(&a);
    assert_eq!(e.cause, Cause::REQUEST_ACCEPTED, "{e:?}");
    e.up_f_seid.unwrap().seid
}

fn set_timer(b: &mut Bench, seid: u64, timer_s: u32) {
    let seq = b.next_seq();
    let m = Pfcp::session(
        seid,
        seq,
        SessionModificationRequest {
            user_plane_inactivity_timer: Some(timer_s),
            ..sample::empty_modification()
        },
    );
    let r = b.request(&m);
    assert_eq!(mod_response(&r).cause, Cause::REQUEST_ACCEPTED);
}

#[test]
fn inactivity_timer_reports_upir_once_per_silent_period() {
    let mut b = Bench::new();
    b.associate();
    let seid = establish_with_timer(&mut b, 1, 10);
    assert_eq!(b.up.installed[&seid].inactivity_timer_s, Some(10));
    // Traffic every 4 s for 20 s: never inactive.
    for _ in 0..5 {
        assert!(upir_reports(&b.advance(Duration::from_secs(4))).is_empty());
        b.packet(seid);
    }
    // Last packet at 20 s: nothing at 29 s, the report at 30 s.
    assert!(upir_reports(&b.advance(Duration::from_secs(9))).is_empty());
    let out = b.advance(Duration::from_secs(2));
    let reports = upir_reports(&out);
    assert_eq!(reports.len(), 1, "{out:?}");
    let (seq, r) = &reports[0];
    assert_eq!(r.report_type, ReportType::UPIR, "UPIR alone");
    assert!(r.usage_report.is_empty());
    assert_eq!(decode(&out[0].payload).seid, Some(1), "to the SMF's SEID");
    assert_eq!(out[0].dst, b.smf);
    assert_eq!(b.node.stats().inactivity_reports, 1);
    // Retransmitted on T1 until answered, same bytes.
    let again = b.advance(Duration::from_secs(2));
    assert_eq!(upir_reports(&again).len(), 1);
    assert_eq!(again[0].payload, out[0].payload);
    answer_report(&mut b, *seq, Cause::REQUEST_ACCEPTED);
    // Still silent: no second report for the same silent period.
    assert!(upir_reports(&b.advance(Duration::from_secs(30))).is_empty());
    // Traffic resumes (62 s, 67 s) and stops: reported again 10 s after
    // the last packet.
    b.packet(seid);
    b.advance(Duration::from_secs(5));
    b.packet(seid);
    assert!(upir_reports(&b.advance(Duration::from_secs(9))).is_empty());
    let out = b.advance(Duration::from_secs(2));
    let reports = upir_reports(&out);
    assert_eq!(reports.len(), 1, "{out:?}");
    answer_report(&mut b, reports[0].0, Cause::REQUEST_ACCEPTED);
    assert_eq!(b.node.stats().inactivity_reports, 2);
}

#[test]
fn inactivity_timer_zero_or_absent_never_reports() {
    let mut b = Bench::new();
    b.associate();
    let seid = establish_with_timer(&mut b, 1, 0);
    assert_eq!(
        b.up.installed[&seid].inactivity_timer_s, None,
        "0: no timer"
    );
    let plain = establish(&mut b, &params(2));
    assert_eq!(b.up.installed[&plain].inactivity_timer_s, None);
    assert!(upir_reports(&b.advance(Duration::from_secs(100))).is_empty());
    assert_eq!(b.node.stats().inactivity_reports, 0);
}

#[test]
fn inactivity_timer_is_set_changed_and_disabled_by_modification() {
    let mut b = Bench::new();
    b.associate();
    let seid = establish_with_timer(&mut b, 1, 10);
    b.advance(Duration::from_secs(5));
    // Disabled at 5 s: nothing at 10 s nor ever after.
    set_timer(&mut b, seid, 0);
    assert_eq!(b.up.installed[&seid].inactivity_timer_s, None);
    assert!(upir_reports(&b.advance(Duration::from_secs(50))).is_empty());
    // Set again by a modification (at 55 s): reported 20 s later.
    set_timer(&mut b, seid, 20);
    assert_eq!(b.up.installed[&seid].inactivity_timer_s, Some(20));
    assert!(upir_reports(&b.advance(Duration::from_secs(19))).is_empty());
    let out = b.advance(Duration::from_secs(2));
    let reports = upir_reports(&out);
    assert_eq!(reports.len(), 1, "{out:?}");
    answer_report(&mut b, reports[0].0, Cause::REQUEST_ACCEPTED);
    // A modification without the IE keeps it; a new value restarts it.
    b.packet(seid);
    set_timer(&mut b, seid, 5);
    assert!(upir_reports(&b.advance(Duration::from_secs(4))).is_empty());
    let reports = upir_reports(&b.advance(Duration::from_secs(2)));
    assert_eq!(reports.len(), 1);
    answer_report(&mut b, reports[0].0, Cause::REQUEST_ACCEPTED);
    // Disabled after a report: no more, even with traffic and silence.
    set_timer(&mut b, seid, 0);
    b.packet(seid);
    assert!(upir_reports(&b.advance(Duration::from_secs(60))).is_empty());
}

// ---- PFD Management (TS 29.244 §6.2.2) ---------------------------------------------------

fn fd_pfd(fd: &'static [u8]) -> PfdContents<'static> {
    PfdContents {
        flow_description: Some(fd),
        ..PfdContents::default()
    }
}

fn app_pfds(app: &'static [u8], pfds: &[PfdContents<'static>]) -> ApplicationIdsPfds<'static> {
    ApplicationIdsPfds {
        application_id: app,
        pfd_contexts: if pfds.is_empty() {
            Vec::new()
        } else {
            vec![PfdContext {
                pfd_contents: pfds.to_vec(),
            }]
        },
    }
}

fn pfd_request(seq: u32, apps: Vec<ApplicationIdsPfds<'static>>) -> Pfcp<'static> {
    Pfcp::node(
        seq,
        PfdManagementRequest {
            application_ids_pfds: apps,
            node_id: None,
        },
    )
}

fn pfd_answer(r: &Pfcp<'static>) -> (Cause, Option<u16>) {
    match &r.message {
        Message::PfdManagementResponse(x) => (x.cause, x.offending_ie),
        m => panic!("not a PFD management response: {m:?}"),
    }
}

fn flows(b: &Bench, app: &[u8]) -> Option<Vec<Vec<Vec<u8>>>> {
    b.node
        .pfds(app)
        .map(|p| p.iter().map(|p| p.flow_descriptions.clone()).collect())
}

#[test]
fn pfd_management_before_association_is_cause_72() {
    let mut b = Bench::new();
    let seq = b.next_seq();
    let r = b.request(&pfd_request(
        seq,
        vec![app_pfds(
            b"app1",
            &[fd_pfd(b"permit out ip from any to assigned")],
        )],
    ));
    assert_eq!(pfd_answer(&r).0, Cause::NO_ESTABLISHED_PFCP_ASSOCIATION);
    assert!(b.node.pfd_table().is_empty(), "nothing stored");
}

#[test]
fn pfd_management_replaces_and_removes_each_named_application() {
    let mut b = Bench::new();
    b.associate();
    let fd1: &[u8] = b"permit out 6 from 198.51.100.1 443 to assigned";
    let fd2: &[u8] = b"permit out 17 from 198.51.100.2 53 to assigned";
    let afd: &[u8] = b"\x00\x04abcd";
    let url = PfdContents {
        url: Some(b"http://example.com/video"),
        ..PfdContents::default()
    };
    let both = PfdContents {
        flow_description: Some(fd1),
        additional_flow_description: Some(afd),
        ..PfdContents::default()
    };
    let seq = b.next_seq();
    let r = b.request(&pfd_request(
        seq,
        vec![
            app_pfds(b"app1", &[fd_pfd(fd1), both]),
            app_pfds(b"app2", &[url]),
        ],
    ));
    assert_eq!(pfd_answer(&r), (Cause::REQUEST_ACCEPTED, None));
    assert_eq!(
        flows(&b, b"app1").unwrap(),
        vec![vec![fd1.to_vec()], vec![fd1.to_vec(), b"abcd".to_vec()]],
        "two PFDs, the second with its additional flow description"
    );
    let app2 = b.node.pfds(b"app2").unwrap();
    assert_eq!(app2.len(), 1);
    assert_eq!(app2[0].urls, vec![b"http://example.com/video".to_vec()]);
    assert!(!app2[0].is_flow_only());
    let held = |b: &Bench| {
        let o = b.node.occupancy();
        (o.pfd_applications, o.pfds)
    };
    assert_eq!(held(&b), (2, 3), "occupancy: 2 applications, 3 PFDs");
    assert!(
        b.node
            .pfds(b"app1")
            .unwrap()
            .iter()
            .all(pfcp::pfd::Pfd::is_flow_only)
    );
    // Naming app1 again replaces its PFDs and leaves app2 alone.
    let seq = b.next_seq();
    let r = b.request(&pfd_request(seq, vec![app_pfds(b"app1", &[fd_pfd(fd2)])]));
    assert_eq!(pfd_answer(&r).0, Cause::REQUEST_ACCEPTED);
    assert_eq!(flows(&b, b"app1").unwrap(), vec![vec![fd2.to_vec()]]);
    assert!(b.node.pfds(b"app2").is_some());
    assert_eq!(held(&b), (2, 2), "app1's two PFDs replaced by one");
    assert_eq!(b.up.pfd_updates, 2, "the user plane hears of each change");
    assert_eq!(&b.up.pfds, b.node.pfd_table());
    // An application without PFD context: its PFDs are removed.
    let seq = b.next_seq();
    let r = b.request(&pfd_request(seq, vec![app_pfds(b"app2", &[])]));
    assert_eq!(pfd_answer(&r).0, Cause::REQUEST_ACCEPTED);
    assert!(b.node.pfds(b"app2").is_none());
    assert_eq!(b.node.pfd_table().len(), 1);
    assert_eq!(held(&b), (1, 1));
    // No application at all: every PFD is removed.
    let seq = b.next_seq();
    let r = b.request(&pfd_request(seq, Vec::new()));
    assert_eq!(pfd_answer(&r).0, Cause::REQUEST_ACCEPTED);
    assert!(b.node.pfd_table().is_empty());
    assert_eq!(held(&b), (0, 0));
}

#[test]
fn pfd_management_answers_with_node_id_when_asked_with_one() {
    let mut b = Bench::new();
    b.associate();
    let seq = b.next_seq();
    let mut m = pfd_request(
        seq,
        vec![app_pfds(
            b"app1",
            &[fd_pfd(b"permit out ip from any to assigned")],
        )],
    );
    if let Message::PfdManagementRequest(r) = &mut m.message {
        r.node_id = Some(NodeId::Ipv4(SMF));
    }
    let r = b.request(&m);
    let Message::PfdManagementResponse(x) = &r.message else {
        panic!("{r:?}")
    };
    assert_eq!(x.cause, Cause::REQUEST_ACCEPTED);
    assert_eq!(x.node_id, Some(NodeId::Ipv4(UPF)));
}

#[test]
fn duplicate_pfd_management_is_answered_from_cache_without_reapplying() {
    let mut b = Bench::new();
    b.associate();
    let fd1: &[u8] = b"permit out ip from 198.51.100.1 to assigned";
    let fd2: &[u8] = b"permit out ip from 198.51.100.2 to assigned";
    let seq = b.next_seq();
    let mut first = Vec::new();
    pfd_request(seq, vec![app_pfds(b"app1", &[fd_pfd(fd1)])])
        .encode(&mut first)
        .unwrap();
    let smf = b.smf;
    let a1 = b.raw_from(smf, &first);
    let seq = b.next_seq();
    let r = b.request(&pfd_request(seq, vec![app_pfds(b"app1", &[fd_pfd(fd2)])]));
    assert_eq!(pfd_answer(&r).0, Cause::REQUEST_ACCEPTED);
    // The SMF retransmits the first request: same answer, not re-applied.
    let a2 = b.raw_from(smf, &first);
    assert_eq!(a1, a2, "same answer, byte for byte");
    assert_eq!(b.node.stats().rx_duplicates, 1);
    assert_eq!(flows(&b, b"app1").unwrap(), vec![vec![fd2.to_vec()]]);
}

#[test]
fn malformed_pfd_management_is_refused_with_the_offending_ie() {
    let mut b = Bench::new();
    b.associate();
    let fd1: &[u8] = b"permit out ip from 198.51.100.1 to assigned";
    let seq = b.next_seq();
    let r = b.request(&pfd_request(seq, vec![app_pfds(b"app1", &[fd_pfd(fd1)])]));
    assert_eq!(pfd_answer(&r).0, Cause::REQUEST_ACCEPTED);
    let before = b.node.pfd_table().clone();
    let smf = b.smf;
    let send_body = |b: &mut Bench, body: &[u8]| {
        let seq = b.next_seq();
        let mut bytes = Vec::new();
        pfd_request(seq, Vec::new()).encode(&mut bytes).unwrap();
        bytes.extend_from_slice(body);
        let len = u16::try_from(bytes.len() - 4).unwrap();
        bytes[2..4].copy_from_slice(&len.to_be_bytes());
        let out = b.raw_from(smf, &bytes);
        assert_eq!(out.len(), 1);
        pfd_answer(&decode(&out[0].payload))
    };
    // PFD context without PFD contents (mandatory): cause 66.
    let mut app = Vec::new();
    put_ie(&mut app, t::APPLICATION_ID, &&b"app1"[..]);
    put_ie(&mut app, t::PFD_CONTEXT, &&b""[..]);
    let mut body = Vec::new();
    put_ie(&mut body, t::APPLICATION_IDS_PFDS, &&app[..]);
    assert_eq!(
        send_body(&mut b, &body),
        (Cause::MANDATORY_IE_MISSING, Some(t::PFD_CONTENTS))
    );
    // Application ID's PFDs without Application ID: cause 66.
    let mut body = Vec::new();
    put_ie(&mut body, t::APPLICATION_IDS_PFDS, &&b""[..]);
    assert_eq!(
        send_body(&mut b, &body),
        (Cause::MANDATORY_IE_MISSING, Some(t::APPLICATION_ID))
    );
    // PFD contents whose FD length runs past the IE: cause 68.
    let mut ctx = Vec::new();
    put_ie(&mut ctx, t::PFD_CONTENTS, &&[0x01u8, 0, 0, 50, b'p'][..]);
    let mut app = Vec::new();
    put_ie(&mut app, t::APPLICATION_ID, &&b"app1"[..]);
    put_ie(&mut app, t::PFD_CONTEXT, &&ctx[..]);
    let mut body = Vec::new();
    put_ie(&mut body, t::APPLICATION_IDS_PFDS, &&app[..]);
    assert_eq!(
        send_body(&mut b, &body),
        (Cause::INVALID_LENGTH, Some(t::PFD_CONTENTS))
    );
    // An Additional Flow Description item running past its field: cause 68,
    // and the valid application before it in the same request is not applied.
    let bad = PfdContents {
        flow_description: Some(fd1),
        additional_flow_description: Some(b"\x00\x09ab"),
        ..PfdContents::default()
    };
    let seq = b.next_seq();
    let r = b.request(&pfd_request(
        seq,
        vec![app_pfds(b"app2", &[fd_pfd(fd1)]), app_pfds(b"app1", &[bad])],
    ));
    assert_eq!(
        pfd_answer(&r),
        (Cause::INVALID_LENGTH, Some(t::PFD_CONTENTS))
    );
    // An empty Application ID: cause 69.
    let seq = b.next_seq();
    let r = b.request(&pfd_request(seq, vec![app_pfds(b"", &[fd_pfd(fd1)])]));
    assert_eq!(
        pfd_answer(&r),
        (Cause::MANDATORY_IE_INCORRECT, Some(t::APPLICATION_ID))
    );
    assert_eq!(b.node.pfd_table(), &before, "nothing changed");
    assert_eq!(
        b.up.pfd_updates, 1,
        "only the accepted request reached the user plane"
    );
}

#[test]
fn pfd_change_reinstalls_the_sessions_that_name_the_application() {
    let mut b = Bench::new();
    b.associate();
    let seq = b.next_seq();
    let mut m = sample::establishment_request(seq, &params(1));
    let Message::SessionEstablishmentRequest(e) = &mut m.message else {
        unreachable!()
    };
    e.create_pdr[1].pdi.application_id = Some(b"video");
    let r = b.request(&m);
    let seid = est_response(&r).up_f_seid.unwrap().seid;
    establish(&mut b, &params(2));
    let installs = b.up.installs;
    let fd: &[u8] = b"permit out 6 from 198.51.100.1 443 to assigned";
    // Another application: nothing to reinstall.
    let seq = b.next_seq();
    let r = b.request(&pfd_request(seq, vec![app_pfds(b"audio", &[fd_pfd(fd)])]));
    assert_eq!(pfd_answer(&r).0, Cause::REQUEST_ACCEPTED);
    assert_eq!(b.up.installs, installs);
    // The session's application: that session (only) installed again,
    // unchanged, after the user plane got the new table.
    let seq = b.next_seq();
    let r = b.request(&pfd_request(seq, vec![app_pfds(b"video", &[fd_pfd(fd)])]));
    assert_eq!(pfd_answer(&r).0, Cause::REQUEST_ACCEPTED);
    assert_eq!(b.up.installs, installs + 1);
    assert_eq!(b.up.installed.get(&seid), b.node.session(seid));
    assert!(b.up.pfds.get(b"video").is_some());
    // Removing every PFD reinstalls it too; a refusal is an event and
    // the PFD request is still accepted.
    b.up.fail_next_install = Some(UpError::NotSupported("application".into()));
    let seq = b.next_seq();
    let r = b.request(&pfd_request(seq, Vec::new()));
    assert_eq!(pfd_answer(&r).0, Cause::REQUEST_ACCEPTED);
    assert!(
        b.events()
            .iter()
            .any(|e| matches!(e, Event::UserPlaneError { seid: s, .. } if *s == seid))
    );
    assert_eq!(b.node.session_count(), 2, "the session stays");
}

// ---- Session Set Deletion (FQ-CSIDs, partial failure) -----------------------------

const SMF2: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);
/// An MME whose CSIDs both SMFs' sessions carry.
const MME: Ipv4Addr = Ipv4Addr::new(10, 1, 1, 1);

fn fq(node: Ipv4Addr, csids: &[u16]) -> FqCsid {
    FqCsid {
        node: CsidNode::Ipv4(node),
        csids: csids.iter().copied().collect(),
        node_type: None,
    }
}

/// Associate a second SMF (SMF2, port 8805); the bench keeps talking as
/// `b.smf` afterwards.
fn associate_smf2(b: &mut Bench) -> SocketAddr {
    let smf2 = SocketAddr::new(IpAddr::V4(SMF2), 8805);
    let seq = b.next_seq();
    let mut bytes = Vec::new();
    sample::association_setup_request(seq, SMF2, SMF_RTS)
        .encode(&mut bytes)
        .unwrap();
    let out = b.raw_from(smf2, &bytes);
    let Message::AssociationSetupResponse(a) = decode(&out[0].payload).message else {
        panic!("{out:?}")
    };
    assert_eq!(a.cause, Cause::REQUEST_ACCEPTED);
    smf2
}

/// Establish a session of the CP at `from` (Node ID and F-SEID from
/// `smf`) with these FQ-CSIDs.
fn establish_with_csids(
    b: &mut Bench,
    from: SocketAddr,
    smf: Ipv4Addr,
    cp_seid: u64,
    fq_csids: Vec<FqCsid>,
) -> u64 {
    let seq = b.next_seq();
    let p = SessionParams {
        smf_addr: smf,
        ..params(cp_seid)
    };
    let (_, mut r) = establishment(seq, &p);
    r.fq_csids = fq_csids;
    let mut bytes = Vec::new();
    with_body(seq, r).encode(&mut bytes).unwrap();
    let out = b.raw_from(from, &bytes);
    assert_eq!(out.len(), 1);
    let a = decode(&out[0].payload);
    let e = est_response(&a);
    assert_eq!(e.cause, Cause::REQUEST_ACCEPTED, "{e:?}");
    assert_eq!(e.up_fq_csid, None, "this UPF allocates no FQ-CSID");
    e.up_f_seid.unwrap().seid
}

fn set_deletion(seq: u32, node: Ipv4Addr, fq_csids: Vec<FqCsid>) -> Pfcp<'static> {
    Pfcp::node(
        seq,
        SessionSetDeletionRequest {
            node_id: NodeId::Ipv4(node),
            fq_csids,
        },
    )
}

/// Send raw bytes from `from`; the one answer's bytes.
fn one_answer(b: &mut Bench, from: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let out = b.raw_from(from, bytes);
    assert_eq!(out.len(), 1, "one answer");
    assert_eq!(out[0].dst, from);
    out[0].payload.clone()
}

fn encoded(m: &Pfcp<'_>) -> Vec<u8> {
    let mut v = Vec::new();
    m.encode(&mut v).unwrap();
    v
}

/// The Session Set Deletion Response we expect, byte for byte (TS 29.244
/// §7.2.2.1 node header: version 1, no S flag, type 15; Node ID IPv4 of
/// the UPF, Cause; Offending IE when given).
fn set_deletion_answer_bytes(seq: u32, cause: u8, offending: Option<u16>) -> Vec<u8> {
    let mut body = vec![
        0x00, 0x3c, 0x00, 0x05, 0x00, 10, 0, 0, 2, 0x00, 0x13, 0x00, 0x01, cause,
    ];
    if let Some(ie) = offending {
        body.extend_from_slice(&[0x00, 0x28, 0x00, 0x02]);
        body.extend_from_slice(&ie.to_be_bytes());
    }
    node_message_bytes(15, seq, &body)
}

/// A node-related message (§7.2.2.1 header: version 1, no S flag) of
/// `msg_type` carrying the encoded IEs `body`.
fn node_message_bytes(msg_type: u8, seq: u32, body: &[u8]) -> Vec<u8> {
    let len = u16::try_from(body.len() + 4).unwrap();
    let mut v = vec![0x20, msg_type];
    v.extend_from_slice(&len.to_be_bytes());
    v.extend_from_slice(&seq.to_be_bytes()[1..]);
    v.push(0);
    v.extend_from_slice(body);
    v
}

#[test]
fn establishment_and_modification_store_the_cps_fq_csids() {
    let mut b = Bench::new();
    b.associate();
    let smf = b.smf;
    let plain = establish(&mut b, &params(1));
    assert!(b.node.session_fq_csids(plain).is_empty());
    assert_eq!(
        b.node.sessions_with_csids(),
        0,
        "nothing stored without CSIDs"
    );
    let s = establish_with_csids(&mut b, smf, SMF, 2, vec![fq(SMF, &[1]), fq(MME, &[7])]);
    assert_eq!(
        b.node.session_fq_csids(s),
        vec![fq(SMF, &[1]), fq(MME, &[7])]
    );
    // The MME's CSID changed: the modification replaces that node's.
    let seq = b.next_seq();
    let r = b.request(&Pfcp::session(
        s,
        seq,
        SessionModificationRequest {
            fq_csids: vec![fq(MME, &[9])],
            ..sample::empty_modification()
        },
    ));
    assert_eq!(mod_response(&r).cause, Cause::REQUEST_ACCEPTED);
    assert_eq!(
        b.node.session_fq_csids(s),
        vec![fq(SMF, &[1]), fq(MME, &[9])]
    );
    // The old set no longer names it.
    let seq = b.next_seq();
    let r = b.request(&set_deletion(seq, SMF, vec![fq(MME, &[7])]));
    assert_eq!(encoded(&r), set_deletion_answer_bytes(seq, 1, None));
    assert_eq!(b.node.session_count(), 2);
    // A deleted session's FQ-CSIDs are forgotten.
    let seq = b.next_seq();
    let r = b.request(&Pfcp::session(s, seq, SessionDeletionRequest {}));
    assert!(matches!(r.message, Message::SessionDeletionResponse(_)));
    assert_eq!(b.node.sessions_with_csids(), 0);
}

#[test]
fn session_set_deletion_removes_the_named_sets_of_that_cp_only() {
    let mut b = Bench::new();
    b.associate();
    let smf = b.smf;
    let smf2 = associate_smf2(&mut b);
    // SMF's sessions: its own CSIDs 1 and 2, the MME's 7 and 8.
    let s1 = establish_with_csids(&mut b, smf, SMF, 1, vec![fq(SMF, &[1]), fq(MME, &[7])]);
    let s2 = establish_with_csids(&mut b, smf, SMF, 2, vec![fq(SMF, &[2]), fq(MME, &[8])]);
    let s3 = establish(&mut b, &params(3));
    let s4 = establish_with_csids(&mut b, smf, SMF, 4, vec![fq(SMF, &[2]), fq(MME, &[7])]);
    // SMF2's sessions: the same MME set 7, and its own CSID 1.
    let t1 = establish_with_csids(&mut b, smf2, SMF2, 11, vec![fq(SMF2, &[1]), fq(MME, &[7])]);
    let t2 = establish_with_csids(&mut b, smf2, SMF2, 12, vec![fq(SMF2, &[2])]);
    b.events();
    let teids = b.node.resource_usage().teids_used;
    // The MME behind SMF failed: SMF asks to delete MME set 7.
    let seq = b.next_seq();
    let bytes = encoded(&set_deletion(seq, SMF, vec![fq(MME, &[7])]));
    let answer = one_answer(&mut b, smf, &bytes);
    assert_eq!(answer, set_deletion_answer_bytes(seq, 1, None));
    b.up.removed.sort_unstable();
    assert_eq!(b.up.removed, [s1, s4], "SMF's sessions of MME set 7");
    assert!(
        b.node.session(t1).is_some(),
        "SMF2's session of that set stays"
    );
    for s in [s2, s3, t1, t2] {
        assert!(b.node.session(s).is_some());
    }
    assert_eq!(b.node.session_count(), 4);
    assert!(
        b.node.resource_usage().teids_used < teids,
        "their TEIDs freed"
    );
    assert_eq!(
        b.events(),
        [Event::SessionSetDeleted {
            node_id: NodeIdBuf::Ipv4(SMF),
            sessions_removed: 2
        }]
    );
    assert_eq!(b.node.stats().set_deleted_sessions, 2);
    assert_eq!(
        b.node
            .associations()
            .iter()
            .map(|a| a.sessions)
            .collect::<Vec<_>>(),
        [2, 2]
    );
    // No usage report follows for them: nothing else was sent.
    assert!(b.advance(Duration::from_secs(5)).is_empty());
    // The SMF retransmits: the same answer from the cache.
    assert_eq!(one_answer(&mut b, smf, &bytes), answer);
    assert_eq!(b.node.stats().rx_duplicates, 1);
    // A CSID of SMF2's address, sent by SMF: names none of SMF's sessions.
    let seq = b.next_seq();
    let r = b.request(&set_deletion(seq, SMF, vec![fq(SMF2, &[1, 2])]));
    assert_eq!(encoded(&r), set_deletion_answer_bytes(seq, 1, None));
    assert_eq!(b.node.session_count(), 4);
    // SMF2 deletes its own set 2 and MME set 7 (two FQ-CSIDs, as an SGW-C
    // sends its own and the MME's).
    let seq = b.next_seq();
    let bytes = encoded(&set_deletion(
        seq,
        SMF2,
        vec![fq(SMF2, &[2]), fq(MME, &[7, 99])],
    ));
    let answer = one_answer(&mut b, smf2, &bytes);
    let mut expected = set_deletion_answer_bytes(seq, 1, None);
    assert_eq!(answer, expected);
    b.up.removed.sort_unstable();
    assert_eq!(b.up.removed, [s1, s4, t1, t2]);
    // Several CSIDs of one node in one FQ-CSID (allowed in this message).
    let seq = b.next_seq();
    let r = b.request(&set_deletion(seq, SMF, vec![fq(SMF, &[5, 2])]));
    expected = set_deletion_answer_bytes(seq, 1, None);
    assert_eq!(encoded(&r), expected);
    assert_eq!(b.node.session_count(), 1);
    assert!(
        b.node.session(s3).is_some(),
        "the session without CSIDs stays"
    );
    assert_eq!(b.node.sessions_with_csids(), 0);
}

#[test]
fn session_set_deletion_before_association_is_cause_72() {
    let mut b = Bench::new();
    let smf = b.smf;
    let seq = b.next_seq();
    let answer = one_answer(
        &mut b,
        smf,
        &encoded(&set_deletion(seq, SMF, vec![fq(SMF, &[1])])),
    );
    assert_eq!(answer, set_deletion_answer_bytes(seq, 72, None));
    // From an associated SMF but naming an unknown Node ID and sent from
    // a stranger's address: still 72.
    b.associate();
    let stranger = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 77)), 8805);
    let seq = b.next_seq();
    let answer = one_answer(
        &mut b,
        stranger,
        &encoded(&set_deletion(
            seq,
            Ipv4Addr::new(10, 0, 0, 77),
            vec![fq(SMF, &[1])],
        )),
    );
    assert_eq!(answer, set_deletion_answer_bytes(seq, 72, None));
}

#[test]
fn malformed_session_set_deletion_gets_the_cause_and_offending_ie() {
    let mut b = Bench::new();
    b.associate();
    let smf = b.smf;
    let s = establish_with_csids(&mut b, smf, SMF, 1, vec![fq(SMF, &[1])]);
    let send_body = |b: &mut Bench, body: &[u8]| {
        let seq = b.next_seq();
        (seq, one_answer(b, smf, &node_message_bytes(14, seq, body)))
    };
    let node_id = [0x00, 0x3c, 0x00, 0x05, 0x00, 10, 0, 0, 1];
    let good_fq = [0x00, 0x41, 0x00, 0x07, 0x01, 10, 0, 0, 1, 0x00, 0x01];
    // No Node ID (mandatory): 66.
    let (seq, a) = send_body(&mut b, &good_fq);
    assert_eq!(a, set_deletion_answer_bytes(seq, 66, Some(t::NODE_ID)));
    // No FQ-CSID at all: 67 (each is conditional; none names no set).
    let (seq, a) = send_body(&mut b, &node_id);
    assert_eq!(a, set_deletion_answer_bytes(seq, 67, Some(t::FQ_CSID)));
    // FQ-CSID with a reserved Node-ID Type (3): 69.
    let mut body = node_id.to_vec();
    body.extend_from_slice(&[0x00, 0x41, 0x00, 0x07, 0x31, 10, 0, 0, 1, 0x00, 0x01]);
    let (seq, a) = send_body(&mut b, &body);
    assert_eq!(a, set_deletion_answer_bytes(seq, 69, Some(t::FQ_CSID)));
    // FQ-CSID announcing two CSIDs with room for one: 68.
    let mut body = node_id.to_vec();
    body.extend_from_slice(&[0x00, 0x41, 0x00, 0x07, 0x02, 10, 0, 0, 1, 0x00, 0x01]);
    let (seq, a) = send_body(&mut b, &body);
    assert_eq!(a, set_deletion_answer_bytes(seq, 68, Some(t::FQ_CSID)));
    // Node ID with a reserved type: 69 naming the Node ID.
    let mut body = vec![0x00, 0x3c, 0x00, 0x05, 0x07, 10, 0, 0, 1];
    body.extend_from_slice(&good_fq);
    let (seq, a) = send_body(&mut b, &body);
    assert_eq!(a, set_deletion_answer_bytes(seq, 69, Some(t::NODE_ID)));
    assert!(
        b.node.session(s).is_some(),
        "nothing deleted by a refused request"
    );
    assert!(b.up.removed.is_empty());
    // The well-formed request deletes it.
    let mut body = node_id.to_vec();
    body.extend_from_slice(&good_fq);
    let (seq, a) = send_body(&mut b, &body);
    assert_eq!(a, set_deletion_answer_bytes(seq, 1, None));
    assert_eq!(b.up.removed, [s]);
}

// ---- Session Set Modification (Rel-17: SMF set restoration) ------------------------

/// The Session Set Modification Response we expect, byte for byte (node
/// header, type 17; Node ID IPv4 of the UPF, Cause; Offending IE when
/// given: Table 7.4.7.2-1).
fn set_modification_answer_bytes(seq: u32, cause: u8, offending: Option<u16>) -> Vec<u8> {
    let mut v = set_deletion_answer_bytes(seq, cause, offending);
    v[1] = 17;
    v
}

fn alt_v4(a: Ipv4Addr) -> AlternativeSmfIpAddress {
    AlternativeSmfIpAddress {
        ipv4: Some(a),
        ipv6: None,
        ppe: false,
    }
}

fn cp_ip(a: Ipv4Addr) -> CpIpAddress {
    CpIpAddress {
        ipv4: Some(a),
        ipv6: None,
    }
}

fn set_modification(
    seq: u32,
    alt: AlternativeSmfIpAddress,
    fq_csids: Vec<FqCsid>,
    group_ids: Vec<&'static [u8]>,
    cp_ip_addresses: Vec<CpIpAddress>,
) -> Pfcp<'static> {
    Pfcp::node(
        seq,
        SessionSetModificationRequest {
            node_id: None,
            alternative_smf_ip_address: alt,
            fq_csids,
            group_ids,
            cp_ip_addresses,
        },
    )
}

/// Establish a session of the SMF with a Group Id and/or a CP IP Address.
fn establish_tagged(
    b: &mut Bench,
    cp_seid: u64,
    group_id: Option<&'static [u8]>,
    cp_ip_address: Option<CpIpAddress>,
) -> u64 {
    let seq = b.next_seq();
    let (_, mut r) = establishment(seq, &params(cp_seid));
    r.group_id = group_id;
    r.cp_ip_address = cp_ip_address;
    let a = b.request(&with_body(seq, r));
    let e = est_response(&a);
    assert_eq!(e.cause, Cause::REQUEST_ACCEPTED, "{e:?}");
    e.up_f_seid.unwrap().seid
}

/// A Downlink Data Report of `seid` (its DL FAR buffers): where it goes
/// and the SEID in its header.
fn report_destination(b: &mut Bench, seid: u64) -> (SocketAddr, Option<u64>) {
    assert!(b.node.downlink_data(b.now, seid, 2, Some(9)), "reported");
    let out = b.drain();
    assert_eq!(out.len(), 1);
    let m = decode(&out[0].payload);
    assert!(matches!(m.message, Message::SessionReportRequest(_)));
    (out[0].dst, m.seid)
}

fn buffering(cp_seid: u64) -> SessionParams {
    SessionParams {
        gnb: None,
        ..params(cp_seid)
    }
}

/// SMF fails; SMF2 of its set takes over the sessions of SMF's PGW-C/SMF
/// CSID 1 (TS 29.244 §7.4.7, TS 23.527 restoration): their CP F-SEID
/// gets SMF2's address (SEID kept), their reports go to SMF2, and they
/// move to SMF2's association, so that SMF2 may modify them and they
/// outlive SMF's association. The other sessions stay as they were.
#[test]
fn session_set_modification_moves_the_named_csid_sets_to_the_alternative_smf() {
    let mut b = Bench::new();
    b.associate();
    let smf = b.smf;
    let smf2 = associate_smf2(&mut b);
    let p1 = buffering(1);
    let s1 = {
        let seq = b.next_seq();
        let (_, mut r) = establishment(seq, &p1);
        r.fq_csids = vec![fq(SMF, &[1]), fq(MME, &[7])];
        est_response(&b.request(&with_body(seq, r)))
            .up_f_seid
            .unwrap()
            .seid
    };
    let s2 = {
        let seq = b.next_seq();
        let (_, mut r) = establishment(seq, &buffering(2));
        r.fq_csids = vec![fq(SMF, &[2]), fq(MME, &[7])];
        est_response(&b.request(&with_body(seq, r)))
            .up_f_seid
            .unwrap()
            .seid
    };
    let s3 = establish(&mut b, &buffering(3));
    assert_eq!(report_destination(&mut b, s3), (smf, Some(3)));
    b.events();
    let installs = b.up.installs;
    // SMF2 names SMF's set 1 (an MME CSID of the other set: no match).
    let seq = b.next_seq();
    let bytes = encoded(&set_modification(
        seq,
        alt_v4(SMF2),
        vec![fq(SMF, &[1]), fq(MME, &[99])],
        Vec::new(),
        Vec::new(),
    ));
    let answer = one_answer(&mut b, smf2, &bytes);
    assert_eq!(answer, set_modification_answer_bytes(seq, 1, None));
    let f = b.node.session(s1).unwrap().cp_f_seid;
    assert_eq!(
        f,
        FSeid {
            seid: 1,
            ipv4: Some(SMF2),
            ipv6: None
        },
        "the alternative address, the SEID kept"
    );
    assert_eq!(b.node.session(s2).unwrap().cp_f_seid.ipv4, Some(SMF));
    assert_eq!(b.node.session(s3).unwrap().cp_f_seid.ipv4, Some(SMF));
    assert_eq!(b.up.installs, installs, "nothing for the user plane");
    assert_eq!(b.node.session_association(s1), Some(&NodeIdBuf::Ipv4(SMF2)));
    assert_eq!(
        b.node
            .associations()
            .iter()
            .map(|a| (a.node_id.clone(), a.sessions))
            .collect::<std::collections::HashMap<_, _>>(),
        [(NodeIdBuf::Ipv4(SMF), 2), (NodeIdBuf::Ipv4(SMF2), 1)].into()
    );
    assert_eq!(
        b.events(),
        [Event::SessionSetModified {
            node_id: NodeIdBuf::Ipv4(SMF2),
            alternative: alt_v4(SMF2),
            moved_to: NodeIdBuf::Ipv4(SMF2),
            sessions_modified: 1,
        }]
    );
    assert_eq!(b.node.stats().set_modified_sessions, 1);
    // Its next report goes to SMF2, to the SMF's SEID; the others' to SMF.
    let (seq_dst, seid) = report_destination(&mut b, s1);
    assert_eq!((seq_dst, seid), (smf2, Some(1)));
    assert_eq!(report_destination(&mut b, s2), (smf, Some(2)));
    // A retransmitted request: the same answer from the cache.
    assert_eq!(one_answer(&mut b, smf2, &bytes), answer);
    // SMF2 now controls it: its modification is accepted, SMF's is not.
    let seq = b.next_seq();
    let m = encoded(&Pfcp::session(s1, seq, sample::empty_modification()));
    let a = decode(&one_answer(&mut b, smf2, &m));
    assert_eq!(mod_response(&a).cause, Cause::REQUEST_ACCEPTED);
    let seq = b.next_seq();
    let r = b.request(&Pfcp::session(s1, seq, sample::empty_modification()));
    assert_eq!(mod_response(&r).cause, Cause::SESSION_CONTEXT_NOT_FOUND);
    // SMF's association goes: its sessions go, the one SMF2 took stays.
    let seq = b.next_seq();
    b.request(&Pfcp::node(
        seq,
        AssociationReleaseRequest {
            node_id: NodeId::Ipv4(SMF),
        },
    ));
    assert!(b.node.session(s1).is_some());
    assert!(b.node.session(s2).is_none() && b.node.session(s3).is_none());
    // SMF2 deletes it like any of its sessions.
    let seq = b.next_seq();
    let m = encoded(&Pfcp::session(s1, seq, SessionDeletionRequest {}));
    let a = decode(&one_answer(&mut b, smf2, &m));
    assert!(
        matches!(a.message, Message::SessionDeletionResponse(ref d) if d.cause == Cause::REQUEST_ACCEPTED)
    );
    assert_eq!(b.node.session_count(), 0);
}

/// Matching by Group Id and by CP IP Address (stored from the Rel-17
/// establishment IEs, replaced by a modification's; or the CP F-SEID's
/// address); an alternative address no association has: the sessions
/// stay in the requester's association and report to that address,
/// port 8805.
#[test]
fn session_set_modification_by_group_id_and_cp_ip_address() {
    let mut b = Bench::new();
    b.associate();
    let cp_a = Ipv4Addr::new(10, 9, 9, 1);
    let a = establish_tagged(&mut b, 1, Some(b"group-a"), None);
    let g = establish_tagged(&mut b, 2, Some(b"group-b"), Some(cp_ip(cp_a)));
    let c = establish_tagged(&mut b, 3, None, Some(cp_ip(cp_a)));
    let plain = establish(&mut b, &params(4));
    assert_eq!(b.node.session_group(a), (Some(&b"group-a"[..]), None));
    assert_eq!(
        b.node.session_group(g),
        (Some(&b"group-b"[..]), Some(cp_ip(cp_a)))
    );
    assert_eq!(b.node.session_group(plain), (None, None));
    // A modification moves g into group-a (its CP IP Address stays).
    let seq = b.next_seq();
    let r = b.request(&Pfcp::session(
        g,
        seq,
        SessionModificationRequest {
            group_id: Some(b"group-a"),
            ..sample::empty_modification()
        },
    ));
    assert_eq!(mod_response(&r).cause, Cause::REQUEST_ACCEPTED);
    assert_eq!(
        b.node.session_group(g),
        (Some(&b"group-a"[..]), Some(cp_ip(cp_a)))
    );
    let elsewhere = Ipv4Addr::new(10, 7, 7, 7);
    let f = |b: &Bench, s: u64| b.node.session(s).unwrap().cp_f_seid.ipv4;
    // By Group Id.
    let seq = b.next_seq();
    let r = b.request(&set_modification(
        seq,
        alt_v4(elsewhere),
        Vec::new(),
        vec![b"group-a", b"group-x"],
        Vec::new(),
    ));
    assert_eq!(encoded(&r), set_modification_answer_bytes(seq, 1, None));
    assert_eq!(f(&b, a), Some(elsewhere));
    assert_eq!(f(&b, g), Some(elsewhere));
    assert_eq!(f(&b, c), Some(SMF));
    assert_eq!(f(&b, plain), Some(SMF));
    assert_eq!(
        b.node.session_association(a),
        Some(&NodeIdBuf::Ipv4(SMF)),
        "no association at the alternative address: the requester's"
    );
    // By the stored CP IP Address (c), and the IPv6 one naming nothing.
    let seq = b.next_seq();
    let v6 = CpIpAddress {
        ipv4: None,
        ipv6: Some("2001:db8::9".parse().unwrap()),
    };
    let alt2 = Ipv4Addr::new(10, 7, 7, 8);
    let r = b.request(&set_modification(
        seq,
        alt_v4(alt2),
        Vec::new(),
        Vec::new(),
        vec![cp_ip(cp_a), v6],
    ));
    assert_eq!(encoded(&r), set_modification_answer_bytes(seq, 1, None));
    assert_eq!(f(&b, c), Some(alt2));
    assert_eq!(f(&b, g), Some(alt2), "g carries that CP IP Address too");
    assert_eq!(f(&b, a), Some(elsewhere));
    assert_eq!(f(&b, plain), Some(SMF));
    // By the CP F-SEID's address: the session still at SMF's.
    let seq = b.next_seq();
    let r = b.request(&set_modification(
        seq,
        alt_v4(alt2),
        Vec::new(),
        Vec::new(),
        vec![cp_ip(SMF)],
    ));
    assert_eq!(encoded(&r), set_modification_answer_bytes(seq, 1, None));
    assert_eq!(f(&b, plain), Some(alt2));
    assert_eq!(b.node.stats().set_modified_sessions, 5);
    // Nothing matches: still accepted (the sets may be empty here, as
    // for Set Deletion), nothing changes.
    let seq = b.next_seq();
    let r = b.request(&set_modification(
        seq,
        alt_v4(SMF),
        vec![fq(Ipv4Addr::new(10, 5, 5, 5), &[1])],
        vec![b"nobody"],
        vec![cp_ip(Ipv4Addr::new(10, 5, 5, 6))],
    ));
    assert_eq!(encoded(&r), set_modification_answer_bytes(seq, 1, None));
    assert_eq!(f(&b, plain), Some(alt2));
    assert_eq!(b.node.stats().set_modified_sessions, 5);
}

/// A redirected session's reports go to the alternative address (port
/// 8805) when no association has it, and keep going there after a
/// modification without a CP F-SEID.
#[test]
fn reports_of_a_redirected_session_go_to_the_alternative_address() {
    let mut b = Bench::new();
    b.associate();
    let s = {
        let seq = b.next_seq();
        let (_, mut r) = establishment(seq, &buffering(5));
        r.group_id = Some(b"g");
        est_response(&b.request(&with_body(seq, r)))
            .up_f_seid
            .unwrap()
            .seid
    };
    let v6: std::net::Ipv6Addr = "2001:db8::7".parse().unwrap();
    let alt = AlternativeSmfIpAddress {
        ipv4: Some(Ipv4Addr::new(10, 7, 7, 7)),
        ipv6: Some(v6),
        ppe: true,
    };
    let seq = b.next_seq();
    let r = b.request(&set_modification(
        seq,
        alt,
        Vec::new(),
        vec![b"g"],
        Vec::new(),
    ));
    assert_eq!(encoded(&r), set_modification_answer_bytes(seq, 1, None));
    let f = b.node.session(s).unwrap().cp_f_seid;
    assert_eq!((f.seid, f.ipv4, f.ipv6), (5, alt.ipv4, Some(v6)));
    // Both families: the association's (IPv4 here).
    let expected = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 7, 7, 7)), 8805);
    assert_eq!(report_destination(&mut b, s), (expected, Some(5)));
    // Retransmitted there on T1.
    let out = b.advance(Duration::from_secs(4));
    assert!(
        !out.is_empty() && out.iter().all(|t| t.dst == expected),
        "{out:?}"
    );
}

#[test]
fn session_set_modification_before_association_is_cause_72() {
    let mut b = Bench::new();
    let smf = b.smf;
    let seq = b.next_seq();
    let bytes = encoded(&set_modification(
        seq,
        alt_v4(SMF2),
        vec![fq(SMF, &[1])],
        Vec::new(),
        Vec::new(),
    ));
    assert_eq!(
        one_answer(&mut b, smf, &bytes),
        set_modification_answer_bytes(seq, 72, None)
    );
    // Associated SMF, but the request comes from a stranger: 72.
    b.associate();
    let stranger = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 77)), 8805);
    let seq = b.next_seq();
    let bytes = encoded(&set_modification(
        seq,
        alt_v4(SMF2),
        vec![fq(SMF, &[1])],
        Vec::new(),
        Vec::new(),
    ));
    assert_eq!(
        one_answer(&mut b, stranger, &bytes),
        set_modification_answer_bytes(seq, 72, None)
    );
}

/// Malformed requests: the cause and Offending IE of TS 29.244 §7.6
/// (66 mandatory IE missing, 67 conditional IE missing, 68 invalid
/// length, 69 mandatory IE incorrect), and nothing changes.
#[test]
fn malformed_session_set_modification_gets_the_cause_and_offending_ie() {
    let mut b = Bench::new();
    b.associate();
    let smf = b.smf;
    let s = establish_with_csids(&mut b, smf, SMF, 1, vec![fq(SMF, &[1])]);
    let send_body = |b: &mut Bench, body: &[u8]| {
        let seq = b.next_seq();
        (seq, one_answer(b, smf, &node_message_bytes(16, seq, body)))
    };
    let alt = [0x00, 0xb2, 0x00, 0x05, 0x02, 10, 0, 0, 3];
    let good_fq = [0x00, 0x41, 0x00, 0x07, 0x01, 10, 0, 0, 1, 0x00, 0x01];
    let cat = |a: &[u8], b: &[u8]| [a, b].concat();
    // No Alternative SMF IP Address (mandatory): 66.
    let (seq, a) = send_body(&mut b, &good_fq);
    assert_eq!(
        a,
        set_modification_answer_bytes(seq, 66, Some(t::ALTERNATIVE_SMF_IP_ADDRESS))
    );
    // Neither V4 nor V6 in it: 69.
    let (seq, a) = send_body(&mut b, &cat(&[0x00, 0xb2, 0x00, 0x01, 0x04], &good_fq));
    assert_eq!(
        a,
        set_modification_answer_bytes(seq, 69, Some(t::ALTERNATIVE_SMF_IP_ADDRESS))
    );
    // V4 flag with two octets of address: 68.
    let (seq, a) = send_body(
        &mut b,
        &cat(&[0x00, 0xb2, 0x00, 0x03, 0x02, 10, 0], &good_fq),
    );
    assert_eq!(
        a,
        set_modification_answer_bytes(seq, 68, Some(t::ALTERNATIVE_SMF_IP_ADDRESS))
    );
    // No FQ-CSID, Group Id or CP IP Address: 67.
    let (seq, a) = send_body(&mut b, &alt);
    assert_eq!(a, set_modification_answer_bytes(seq, 67, Some(t::FQ_CSID)));
    // An empty Group Id: 69.
    let (seq, a) = send_body(&mut b, &cat(&alt, &[0x01, 0x23, 0x00, 0x00]));
    assert_eq!(a, set_modification_answer_bytes(seq, 69, Some(t::GROUP_ID)));
    // A CP IP Address announcing IPv6 with four octets: 68.
    let (seq, a) = send_body(
        &mut b,
        &cat(&alt, &[0x01, 0x24, 0x00, 0x05, 0x01, 1, 2, 3, 4]),
    );
    assert_eq!(
        a,
        set_modification_answer_bytes(seq, 68, Some(t::CP_IP_ADDRESS))
    );
    // An FQ-CSID with a reserved Node-ID Type: 69.
    let (seq, a) = send_body(
        &mut b,
        &cat(
            &alt,
            &[0x00, 0x41, 0x00, 0x07, 0x31, 10, 0, 0, 1, 0x00, 0x01],
        ),
    );
    assert_eq!(a, set_modification_answer_bytes(seq, 69, Some(t::FQ_CSID)));
    assert_eq!(b.node.session(s).unwrap().cp_f_seid.ipv4, Some(SMF));
    assert_eq!(b.node.stats().set_modified_sessions, 0);
    // The well-formed request applies.
    let (seq, a) = send_body(&mut b, &cat(&alt, &good_fq));
    assert_eq!(a, set_modification_answer_bytes(seq, 1, None));
    assert_eq!(b.node.session(s).unwrap().cp_f_seid.ipv4, Some(SMF2));
}

/// /status figures: sessions per (CSID node, CSID), kept as sessions come
/// and go.
#[test]
fn fq_csid_sets_count_sessions_per_csid() {
    let mut b = Bench::new();
    b.associate();
    let smf = b.smf;
    let s1 = establish_with_csids(&mut b, smf, SMF, 1, vec![fq(SMF, &[1]), fq(MME, &[7])]);
    establish_with_csids(&mut b, smf, SMF, 2, vec![fq(SMF, &[2]), fq(MME, &[7])]);
    establish_with_csids(&mut b, smf, SMF, 3, vec![fq(SMF, &[2])]);
    let sets = b.node.fq_csid_sets(16, 16);
    assert_eq!(
        sets,
        [
            pfcp::CsidSets {
                node: CsidNode::Ipv4(SMF),
                csids: 2,
                sets: vec![(2, 2), (1, 1)],
            },
            pfcp::CsidSets {
                node: CsidNode::Ipv4(MME),
                csids: 1,
                sets: vec![(7, 2)],
            },
        ]
    );
    // Bounded: one node, one set (the largest).
    let sets = b.node.fq_csid_sets(1, 1);
    assert_eq!(sets.len(), 1);
    assert_eq!(sets[0].csids, 2);
    assert_eq!(sets[0].sets, [(2, 2)]);
    let seq = b.next_seq();
    b.request(&Pfcp::session(s1, seq, SessionDeletionRequest {}));
    let sets = b.node.fq_csid_sets(16, 16);
    assert_eq!(sets[0].sets, [(2, 2)]);
    assert_eq!(sets[1].sets, [(7, 1)]);
    assert_eq!(b.node.csids_dropped(), 0);
}
