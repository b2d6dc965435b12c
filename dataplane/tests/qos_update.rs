//! QoS-only updates (`Control::publish_changes` with `QerUpdate`s): the
//! tables get exactly what publishing the whole session again gives, a
//! worker meters by the new values from the next packet on while the
//! session's counters go on, and such updates share one snapshot with the
//! rest of a publish or are refused with nothing changed.

use dataplane::control::{Batch, Control, QerUpdate};
use dataplane::counters::DropReason;
use dataplane::iface::Iface;
use dataplane::rules::*;
use dataplane::tables::Rules;
use dataplane::testkit::*;
use dataplane::worker::{MemIo, Worker};
use proptest::prelude::*;
use smallvec::SmallVec;
use std::net::Ipv6Addr;

/// Sessions of every shape the tables keep differently: the short form,
/// `variant_sessions` (two QERs, N9 and DSCP, no QFI, two URRs, a closed
/// gate), an IPv6 UE, SDF filters under one key, and a QER on the uplink
/// only (not paired with the URR).
fn shapes() -> Vec<Session> {
    let mut out = vec![session(&SessionSpec {
        mbr_ul: Some(50_000_000),
        mbr_dl: Some(100_000_000),
        ..SessionSpec::nth(0)
    })];
    out.extend(variant_sessions(1));
    let mut v6 = session(&SessionSpec::nth(10));
    v6.pdrs[1].pdi.ue_ip = Some(UeIp {
        ipv4: Some(ue_ip(10)),
        ipv6: Some(Ipv6Addr::new(0x2001, 0xdb8, 0, 10, 0, 0, 0, 0)),
    });
    out.push(v6);
    let mut sdf = session(&SessionSpec::nth(11));
    let mut p3 = sdf.pdrs[1].clone();
    p3.id = 3;
    p3.precedence = 10;
    p3.pdi.sdf_filters = vec![SdfFilter {
        protocol: Some(17),
        from: FilterAddr::Net(IpNet {
            addr: DN_IP.into(),
            prefix: 32,
        }),
        from_ports: vec![],
        to: FilterAddr::Assigned,
        to_ports: vec![PortRange { lo: 53, hi: 53 }],
    }];
    sdf.pdrs.push(p3);
    out.push(sdf);
    let mut ul_only = session(&SessionSpec::nth(12));
    ul_only.qers.push(Qer {
        id: 2,
        mbr_ul_bps: Some(1_000_000),
        ..Qer::default()
    });
    ul_only.pdrs[0].qer_ids = vec![2];
    out.push(ul_only);
    out
}

fn update(s: &Session, qers: &[Qer]) -> QerUpdate {
    QerUpdate {
        session: s.id,
        qers: SmallVec::from_slice(qers),
    }
}

/// Every key of the three tables with its entry, in key order.
fn tables(ctl: &Control) -> Vec<(String, Rules)> {
    let snap = ctl.snapshot();
    let mut out: Vec<(String, Rules)> = snap
        .teid
        .iter()
        .map(|(k, r)| (format!("teid {k:#x}"), r.clone()))
        .chain(
            snap.ue4
                .iter()
                .map(|(k, r)| (format!("ue4 {k:#x}"), r.clone())),
        )
        .chain(
            snap.ue6
                .iter()
                .map(|(k, r)| (format!("ue6 {k:#x}"), r.clone())),
        )
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn same_tables(a: &Control, b: &Control) {
    let (ta, tb) = (tables(a), tables(b));
    assert_eq!(ta.len(), tb.len());
    for ((ka, ra), (kb, rb)) in ta.iter().zip(&tb) {
        assert_eq!(ka, kb);
        assert_eq!(ra.session(), rb.session(), "{ka}");
        assert_eq!(ra.fast(), rb.fast(), "{ka}");
        assert_eq!(ra.is_compact(), rb.is_compact(), "{ka}");
        assert_eq!(&*ra.pdrs(), &*rb.pdrs(), "{ka}");
    }
}

fn gate() -> impl Strategy<Value = Gate> {
    prop_oneof![Just(Gate::Open), Just(Gate::Closed)]
}

fn qer_values(id: u32) -> impl Strategy<Value = Qer> {
    (
        (gate(), gate()),
        proptest::option::of(1u64..20_000_000_000),
        proptest::option::of(1u64..20_000_000_000),
        proptest::option::of(0u8..=63),
        any::<bool>(),
        proptest::option::of(1u64..10_000_000),
    )
        .prop_map(move |((gate_ul, gate_dl), ul, dl, qfi, rqi, burst)| Qer {
            id,
            gate_ul,
            gate_dl,
            mbr_ul_bps: ul,
            mbr_dl_bps: dl,
            gbr_ul_bps: None,
            gbr_dl_bps: None,
            qfi,
            // RQI without a QFI is refused (below).
            rqi: rqi && qfi.is_some(),
            burst_bytes: burst,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A QoS-only update gives every table entry (digest, compactness,
    /// PDRs with their state lines and version) that publishing the
    /// sessions again with the new QERs gives.
    #[test]
    fn a_qos_update_gives_the_tables_an_upsert_gives(
        q1 in qer_values(1),
        q2 in qer_values(2),
    ) {
        let (mut a, _pa) = dataplane(1, true);
        let (mut b, _pb) = dataplane(1, true);
        let all = shapes();
        for c in [&mut a, &mut b] {
            c.publish(Batch { upserts: all.clone(), removals: vec![] }).unwrap();
        }
        let mut upserts = Vec::new();
        let mut qos = Vec::new();
        for s in &all {
            let mut n = s.clone();
            for q in &mut n.qers {
                let v = if q.id == 1 { &q1 } else { &q2 };
                *q = Qer { id: q.id, ..*v };
            }
            qos.push(update(s, &n.qers));
            upserts.push(n);
        }
        a.publish(Batch { upserts, removals: vec![] }).unwrap();
        b.publish_changes(Batch::default(), &qos, None).unwrap();
        same_tables(&a, &b);
    }
}

#[test]
fn a_qos_update_on_a_live_worker_changes_the_meter_and_keeps_counters() {
    let (mut ctl, mut ports) = dataplane(1, true);
    let mut w = Worker::new(ports.remove(0), MemIo::default());
    let mut now = 1_000_000_000u64;
    let spec = SessionSpec {
        mbr_dl: Some(8_000_000), // 100 ms bucket: 100,000 bytes
        ..SessionSpec::nth(0)
    };
    let s = session(&spec);
    ctl.publish(Batch {
        upserts: vec![s.clone()],
        removals: vec![],
    })
    .unwrap();
    w.poll(now);
    let inner = udp4(DN_IP, spec.ue, 1, 2, 972); // 1000 bytes
    let burst = |w: &mut Worker<MemIo>, now: u64, n: usize| {
        for _ in 0..n {
            w.io_mut().push_rx(Iface::N6, &dl_frame(&inner));
        }
        w.poll(now);
        w.io_mut().take_tx(Iface::N3).len()
    };
    assert_eq!(burst(&mut w, now, 20), 20, "the 100,000-byte bucket");
    let before = ctl.usage(spec.id, 1).unwrap();
    assert_eq!(before.dl_packets, 20);
    let g = ctl.generation();
    // A 5,000-byte bucket at the same rate: the bucket left (80,000
    // bytes) is cut to it at the next packet.
    let mut q = s.qers[0];
    q.burst_bytes = Some(5000);
    ctl.publish_changes(Batch::default(), &[update(&s, &[q])], None)
        .unwrap();
    assert_eq!(ctl.generation(), g + 1, "one snapshot");
    now += 1000;
    assert_eq!(burst(&mut w, now, 20), 5, "the new bucket");
    assert_eq!(ctl.worker_generation(0), g + 1);
    let after = ctl.usage(spec.id, 1).unwrap();
    assert_eq!(
        (after.dl_packets, after.dl_bytes),
        (25, before.dl_bytes + 5 * 1000),
        "the URR counts on in its line"
    );
    assert_eq!(ctl.counters().dropped(DropReason::MbrExceeded), 15);
    // Closing the downlink gate, then opening it without a meter.
    let closed = Qer {
        gate_dl: Gate::Closed,
        ..q
    };
    ctl.publish_changes(Batch::default(), &[update(&s, &[closed])], None)
        .unwrap();
    now += 1000;
    assert_eq!(burst(&mut w, now, 3), 0);
    assert_eq!(ctl.counters().dropped(DropReason::GateClosed), 3);
    let open = Qer {
        mbr_dl_bps: None,
        ..s.qers[0]
    };
    ctl.publish_changes(Batch::default(), &[update(&s, &[open])], None)
        .unwrap();
    now += 1000;
    assert_eq!(burst(&mut w, now, 30), 30, "no meter");
    assert_eq!(ctl.usage(spec.id, 1).unwrap().dl_packets, 55);
    // Uplink still forwards and counts in the same URR.
    w.io_mut().push_rx(
        Iface::N3,
        &ul_frame(spec.ul_teid, 9, &udp4(spec.ue, DN_IP, 2, 1, 100)),
    );
    w.poll(now);
    assert_eq!(w.io_mut().take_tx(Iface::N6).len(), 1);
    assert_eq!(ctl.usage(spec.id, 1).unwrap().ul_packets, 1);
}

/// Upserts, removals and QoS updates of one publish become visible in one
/// snapshot: a worker that has not polled sees none of them, then all.
#[test]
fn a_mixed_publish_is_one_snapshot() {
    let (mut ctl, mut ports) = dataplane(1, true);
    let mut w = Worker::new(ports.remove(0), MemIo::default());
    let mut now = 1_000_000_000u64;
    let specs: Vec<SessionSpec> = (0..3).map(SessionSpec::nth).collect();
    ctl.publish(Batch {
        upserts: specs.iter().map(session).collect(),
        removals: vec![],
    })
    .unwrap();
    w.poll(now);
    let dl = |w: &mut Worker<MemIo>, now: &mut u64, n: u32| {
        *now += 1000;
        w.io_mut()
            .push_rx(Iface::N6, &dl_frame(&udp4(DN_IP, ue_ip(n), 1, 2, 100)));
        w.poll(*now);
        w.io_mut().take_tx(Iface::N3)
    };
    let g = ctl.generation();
    // Session 0: downlink gate closed (QoS only); session 1: new DL TEID
    // (an upsert); session 2: removed.
    let s0 = session(&specs[0]);
    let closed = Qer {
        gate_dl: Gate::Closed,
        ..s0.qers[0]
    };
    let mut s1 = session(&specs[1]);
    s1.fars[1]
        .forwarding
        .as_mut()
        .unwrap()
        .outer_header_creation
        .as_mut()
        .unwrap()
        .teid = 0x777;
    ctl.publish_changes(
        Batch {
            upserts: vec![s1],
            removals: vec![specs[2].id],
        },
        &[update(&s0, &[closed])],
        None,
    )
    .unwrap();
    assert_eq!(ctl.generation(), g + 1);
    // The worker has not polled since: everything as before... (its poll
    // takes the new snapshot before the burst, so look at the tables the
    // old snapshot had instead: the generation the worker reports).
    assert_eq!(ctl.worker_generation(0), g);
    assert_eq!(dl(&mut w, &mut now, 0).len(), 0, "gate closed");
    assert_eq!(ctl.worker_generation(0), g + 1);
    let out = dl(&mut w, &mut now, 1);
    assert_eq!(out.len(), 1);
    assert_eq!(
        &out[0][14 + 20 + 8 + 4..14 + 20 + 8 + 8],
        &0x777u32.to_be_bytes(),
        "new DL TEID"
    );
    assert!(dl(&mut w, &mut now, 2).is_empty(), "removed");
    assert!(ctl.has_session(specs[0].id));
    assert!(!ctl.has_session(specs[2].id));
}

#[test]
fn bad_qos_updates_are_refused_and_change_nothing() {
    let (mut ctl, _ports) = dataplane(1, true);
    let specs: Vec<SessionSpec> = (0..2).map(SessionSpec::nth).collect();
    let s: Vec<Session> = specs.iter().map(session).collect();
    ctl.publish(Batch {
        upserts: s.clone(),
        removals: vec![],
    })
    .unwrap();
    let g = ctl.generation();
    let before = tables(&ctl);
    let q = s[0].qers[0];
    let id = s[0].id;
    let cases: Vec<(Batch, Vec<QerUpdate>, RuleError)> = vec![
        (
            Batch::default(),
            vec![QerUpdate {
                session: 99,
                qers: SmallVec::from_slice(&[q]),
            }],
            RuleError::UnknownSession { session: 99 },
        ),
        (
            Batch {
                upserts: vec![s[0].clone()],
                removals: vec![],
            },
            vec![update(&s[0], &[q])],
            RuleError::DuplicateSession { session: id },
        ),
        (
            Batch {
                upserts: vec![],
                removals: vec![id],
            },
            vec![update(&s[0], &[q])],
            RuleError::DuplicateSession { session: id },
        ),
        (
            Batch::default(),
            vec![update(&s[0], &[q]), update(&s[0], &[q])],
            RuleError::DuplicateSession { session: id },
        ),
        (
            Batch::default(),
            vec![update(&s[0], &[Qer { id: 2, ..q }])],
            RuleError::QerSetChanged { session: id },
        ),
        (
            Batch::default(),
            vec![update(&s[0], &[q, Qer { id: 2, ..q }])],
            RuleError::QerSetChanged { session: id },
        ),
        (
            Batch::default(),
            vec![update(&s[0], &[q, q])],
            RuleError::DuplicateQer {
                session: id,
                qer: 1,
            },
        ),
        (
            Batch::default(),
            vec![update(&s[0], &[Qer { qfi: Some(64), ..q }])],
            RuleError::InvalidQfi {
                session: id,
                rule: 1,
                qfi: 64,
            },
        ),
        (
            Batch::default(),
            vec![update(
                &s[0],
                &[Qer {
                    qfi: None,
                    rqi: true,
                    ..q
                }],
            )],
            RuleError::RqiWithoutQfi {
                session: id,
                qer: 1,
            },
        ),
    ];
    for (batch, qos, want) in cases {
        assert_eq!(ctl.publish_changes(batch, &qos, None), Err(want.clone()));
        assert_eq!(ctl.generation(), g, "{want}");
        assert_eq!(tables(&ctl).len(), before.len());
    }
    // A session updated for QoS keeps its keys: an upsert that takes one
    // is refused, as for any session the batch does not change.
    let mut thief = session(&SessionSpec::nth(5));
    thief.pdrs[0].pdi.local_fteid.as_mut().unwrap().teid = specs[0].ul_teid;
    assert_eq!(
        ctl.publish_changes(
            Batch {
                upserts: vec![thief.clone()],
                removals: vec![]
            },
            &[update(&s[0], &[q])],
            None
        ),
        Err(RuleError::TeidInUse {
            session: thief.id,
            teid: specs[0].ul_teid,
            owner: id
        })
    );
    assert_eq!(ctl.generation(), g);
    same_entries(&before, &tables(&ctl));
}

fn same_entries(a: &[(String, Rules)], b: &[(String, Rules)]) {
    assert_eq!(a.len(), b.len());
    for ((ka, ra), (kb, rb)) in a.iter().zip(b) {
        assert_eq!((ka, ra.fast()), (kb, rb.fast()));
        assert_eq!(&*ra.pdrs(), &*rb.pdrs());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// Many updates (longer than the distance at which the checks fetch
    /// records ahead), in any order: they give the tables that
    /// publishing the sessions whole gives; and with bad updates at any
    /// places, the first of them in order names the error and nothing
    /// changes.
    #[test]
    fn long_qos_updates_in_any_order(
        n in 1usize..80,
        order in proptest::collection::vec(any::<u32>(), 80),
        bad in proptest::collection::vec((0usize..80, 0u8..4), 0..3),
        mbr in 1_000_000u64..1_000_000_000,
    ) {
        let all: Vec<Session> = (0..n).map(|i| session(&SessionSpec {
            mbr_ul: Some(50_000_000),
            mbr_dl: Some(100_000_000),
            ..SessionSpec::nth(i as u32)
        })).collect();
        let (mut a, _pa) = dataplane(1, true);
        let (mut b, _pb) = dataplane(1, true);
        for c in [&mut a, &mut b] {
            c.publish(Batch { upserts: all.clone(), removals: vec![] }).unwrap();
        }
        let mut idx: Vec<usize> = (0..n).collect();
        idx.sort_by_key(|&i| order[i]);
        let mut upserts = Vec::new();
        let mut qos = Vec::new();
        for &i in &idx {
            let mut s = all[i].clone();
            s.qers[0].mbr_dl_bps = Some(mbr);
            qos.push(update(&s, &s.qers));
            upserts.push(s);
        }
        let mut first_bad: Option<(usize, RuleError)> = None;
        let mut bad_qos = qos.clone();
        let mut places = Vec::new();
        for &(at, kind) in &bad {
            let at = at % n;
            if places.contains(&at) {
                continue;
            }
            places.push(at);
            let u = &mut bad_qos[at];
            let id = u.session;
            let err = match kind {
                0 => {
                    u.session = 1_000_000;
                    RuleError::UnknownSession { session: 1_000_000 }
                }
                1 => {
                    u.qers[0].id = 7;
                    RuleError::QerSetChanged { session: id }
                }
                2 => {
                    u.qers[0].qfi = Some(64);
                    RuleError::InvalidQfi { session: id, rule: 1, qfi: 64 }
                }
                _ => {
                    u.qers[0].qfi = None;
                    u.qers[0].rqi = true;
                    RuleError::RqiWithoutQfi { session: id, qer: 1 }
                }
            };
            if first_bad.as_ref().is_none_or(|(f, _)| at < *f) {
                first_bad = Some((at, err));
            }
        }
        if let Some((_, want)) = first_bad {
            let g = b.generation();
            let before = tables(&b);
            prop_assert_eq!(b.publish_changes(Batch::default(), &bad_qos, None), Err(want));
            prop_assert_eq!(b.generation(), g);
            same_entries(&before, &tables(&b));
        }
        a.publish(Batch { upserts, removals: vec![] }).unwrap();
        b.publish_changes(Batch::default(), &qos, None).unwrap();
        same_tables(&a, &b);
    }
}
