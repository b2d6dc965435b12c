//! `Control::publish_with_net`: a config reload's session changes and its
//! interface changes (gateway, neighbours) become visible in one snapshot,
//! or not at all.

use dataplane::control::Batch;
use dataplane::iface::Iface;
use dataplane::testkit::{SessionSpec, dataplane, net, session};
use std::net::Ipv4Addr;

#[test]
fn sessions_and_interfaces_change_in_one_generation() {
    let (mut ctl, _ports) = dataplane(1, true);
    let g0 = ctl.generation();
    let mut n = net(true);
    let gw = Ipv4Addr::new(10, 200, 0, 253);
    if let Some(i) = n.ifaces[Iface::N6.index()].as_mut() {
        i.gateway4 = Some(gw);
    }
    let batch = Batch {
        upserts: vec![session(&SessionSpec::nth(0)), session(&SessionSpec::nth(1))],
        removals: vec![],
    };
    let g = ctl.publish_with_net(batch, Some(n)).unwrap();
    assert_eq!(g, g0 + 1, "one snapshot for sessions and interfaces");
    assert_eq!(ctl.generation(), g);
    assert_eq!(ctl.session_count(), 2);
    assert_eq!(
        ctl.net().iface(Iface::N6).and_then(|i| i.gateway4),
        Some(gw)
    );
    assert_eq!(
        ctl.snapshot().net.iface(Iface::N6).and_then(|i| i.gateway4),
        Some(gw)
    );

    // Without `net`, the interfaces stay as they are.
    let spec = SessionSpec {
        dl_teid: 0x30000,
        ..SessionSpec::nth(0)
    };
    let g2 = ctl
        .publish_with_net(
            Batch {
                upserts: vec![session(&spec)],
                removals: vec![],
            },
            None,
        )
        .unwrap();
    assert_eq!(g2, g + 1);
    assert_eq!(
        ctl.net().iface(Iface::N6).and_then(|i| i.gateway4),
        Some(gw)
    );
}

#[test]
fn a_refused_batch_changes_neither_sessions_nor_interfaces() {
    let (mut ctl, _ports) = dataplane(1, true);
    let g0 = ctl.generation();
    let before = ctl.net().iface(Iface::N6).and_then(|i| i.gateway4);
    let mut n = net(true);
    if let Some(i) = n.ifaces[Iface::N6.index()].as_mut() {
        i.gateway4 = Some(Ipv4Addr::new(10, 200, 0, 253));
    }
    // The same session twice: refused as a whole.
    let s = session(&SessionSpec::nth(0));
    let r = ctl.publish_with_net(
        Batch {
            upserts: vec![s.clone(), s],
            removals: vec![],
        },
        Some(n),
    );
    assert!(r.is_err());
    assert_eq!(ctl.generation(), g0);
    assert_eq!(ctl.session_count(), 0);
    assert_eq!(ctl.net().iface(Iface::N6).and_then(|i| i.gateway4), before);
}
