//! The fast path and the general path must agree byte for byte: every frame
//! goes through two identical data planes, one with the fast path off.

use dataplane::control::Control;
use dataplane::iface::Iface;
use dataplane::testkit::*;
use dataplane::wire::gtpu;
use dataplane::worker::{MemIo, Worker};
use proptest::prelude::*;

fn plane(fast: bool) -> (Control, Worker<MemIo>) {
    let (mut ctl, mut ports) = dataplane(1, true);
    install(&mut ctl, 3);
    let mut s = session(&SessionSpec {
        mbr_dl: Some(1_000_000),
        ..SessionSpec::nth(7)
    });
    s.pdrs[0].pdi.qfi = Some(9);
    let mut upserts = vec![s];
    upserts.extend(variant_sessions(10));
    ctl.publish(dataplane::control::Batch {
        upserts,
        removals: vec![],
    })
    .unwrap();
    let mut w = Worker::new(ports.remove(0), MemIo::default());
    w.set_fast_path(fast);
    w.poll(1);
    (ctl, w)
}

fn frame_for(
    ul: bool,
    n: u32,
    size: usize,
    qfi: Option<u8>,
    ports: (u16, u16),
    proto: u8,
) -> Vec<u8> {
    let spec = SessionSpec::nth(n);
    let mut inner = udp4(
        if ul { spec.ue } else { DN_IP },
        if ul { DN_IP } else { spec.ue },
        ports.0,
        ports.1,
        size,
    );
    inner[9] = proto;
    if ul {
        let psc = qfi.map(|q| gtpu::PduSessionContainer {
            pdu_type: gtpu::PduType::Ul,
            qfi: q,
            rqi: false,
            ppi: None,
        });
        let gh = gtpu::Repr {
            psc,
            ..gtpu::Repr::gpdu(spec.ul_teid, 0)
        };
        frame(
            N3_MAC,
            GNB_MAC,
            dataplane::wire::ethernet::ethertype::IPV4,
            &gtpu4(GNB_IP, N3_IP, 40000, gh, &inner),
        )
    } else {
        dl_frame(&inner)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn fast_and_general_paths_agree(
        pkts in proptest::collection::vec(
            (any::<bool>(), prop_oneof![Just(0u32), Just(1), Just(2), Just(7), Just(9), 10u32..15], 0usize..200, proptest::option::of(8u8..10),
             any::<(u16, u16)>(), prop_oneof![Just(17u8), Just(6), Just(1)],
             proptest::collection::vec((any::<usize>(), any::<u8>()), 0..3), 0u64..2_000_000),
            1..40)
    ) {
        let (ca, mut a) = plane(true);
        let (cb, mut b) = plane(false);
        let mut now = 1_000_000_000u64;
        for (ul, n, size, qfi, ports, proto, muts, dt) in pkts {
            let mut f = frame_for(ul, n, size, qfi, ports, proto);
            for (pos, v) in muts {
                let i = pos % f.len();
                f[i] = v;
            }
            let iface = if ul { Iface::N3 } else { Iface::N6 };
            now += dt;
            a.io_mut().push_rx(iface, &f);
            b.io_mut().push_rx(iface, &f);
            a.poll(now);
            b.poll(now);
            for i in Iface::ALL {
                let (ta, tb) = (a.io_mut().take_tx(i), b.io_mut().take_tx(i));
                prop_assert_eq!(ta, tb, "frame {:02x?} on {:?}", f, i);
            }
            prop_assert_eq!(ca.counters(), cb.counters(), "frame {:02x?}", f);
        }
        for n in [0u64, 1, 2, 8, 11, 12, 13, 14, 15] {
            prop_assert_eq!(ca.usage(n, 1), cb.usage(n, 1));
        }
        prop_assert_eq!(ca.usage(14, 2), cb.usage(14, 2));
    }
}

#[test]
fn the_fast_path_takes_the_common_shapes() {
    let (_c, mut a) = plane(true);
    let frames = [
        (Iface::N3, frame_for(true, 0, 100, Some(9), (1, 2), 17)),
        (Iface::N3, frame_for(true, 1, 100, None, (1, 2), 6)),
        (Iface::N6, frame_for(false, 2, 10, None, (1, 2), 17)),
        (Iface::N6, frame_for(false, 7, 1000, None, (1, 2), 1)),
    ];
    for (i, f) in &frames {
        a.io_mut().push_rx(*i, f);
    }
    a.poll(1_000_000_000);
    assert_eq!(a.fast_hits(), 4);
    assert_eq!(
        a.io_mut().take_tx(Iface::N6).len() + a.io_mut().take_tx(Iface::N3).len(),
        4
    );
    // The other single-PDR shapes: two QERs, N9 re-encapsulation, no QFI,
    // two URRs, a closed gate (dropped by the fast path).
    for n in 10..15 {
        a.io_mut()
            .push_rx(Iface::N3, &frame_for(true, n, 100, Some(9), (1, 2), 17));
        a.io_mut()
            .push_rx(Iface::N6, &frame_for(false, n, 100, None, (1, 2), 17));
    }
    a.poll(1_000_000_001);
    assert_eq!(a.fast_hits(), 14);
    assert_eq!(a.io_mut().take_tx(Iface::N6).len(), 4, "uplink but N9's");
    assert_eq!(a.io_mut().take_tx(Iface::N9).len(), 1, "re-encapsulated");
    assert_eq!(
        a.io_mut().take_tx(Iface::N3).len(),
        4,
        "downlink but the closed gate's"
    );
}
