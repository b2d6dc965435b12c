//! Publishing through the left-right lookup tables (`tables::MapWriter`):
//! a publish writes the spare table in place once every worker has left
//! the snapshots that used it, copies it while a worker may still read it,
//! and a worker forwards by the version it holds, old or new, never a mix.

use dataplane::control::{Batch, Control};
use dataplane::iface::Iface;
use dataplane::testkit::*;
use dataplane::worker::{MemIo, Worker};

const N: u32 = 1000;

/// Which of the sessions `0..N` the worker forwards downlink now.
fn forwarded(w: &mut Worker<MemIo>, now: &mut u64) -> Vec<bool> {
    (0..N)
        .map(|n| {
            *now += 1000;
            w.io_mut()
                .push_rx(Iface::N6, &dl_frame(&udp4(DN_IP, ue_ip(n), 53, 1000, 20)));
            w.poll(*now);
            !w.io_mut().take_tx(Iface::N3).is_empty()
        })
        .collect()
}

fn remove(ctl: &mut Control, n: u32) {
    ctl.publish(Batch {
        upserts: vec![],
        removals: vec![SessionSpec::nth(n).id],
    })
    .unwrap();
}

#[test]
fn spare_tables_are_written_in_place_once_workers_moved_on() {
    let (mut ctl, ports) = dataplane(1, true);
    install(&mut ctl, N);
    let mut w = Worker::new(ports.into_iter().next().unwrap(), MemIo::default());
    let mut now = 1_000_000_000;
    assert!(forwarded(&mut w, &mut now).iter().all(|f| *f));
    let gen_installed = w.generation();

    // The worker holds the installed version; the spare of each map is a
    // copy (none existed yet), then the installed version's table.
    remove(&mut ctl, 5);
    let a = ctl.map_stats();
    // The worker has not polled: it still reads the installed version,
    // which uses the spare table, so this publish copies again.
    remove(&mut ctl, 6);
    let b = ctl.map_stats();
    assert_eq!(
        (b.copies - a.copies, b.in_place - a.in_place),
        (3, 0),
        "a table a worker may read is never written"
    );
    assert_eq!(w.generation(), gen_installed);
    let seen = forwarded(&mut w, &mut now);
    assert_eq!(w.generation(), ctl.generation());
    assert!(!seen[5] && !seen[6] && seen[7]);

    // The worker moved on: the next publishes write the spare in place.
    remove(&mut ctl, 7);
    let _ = forwarded(&mut w, &mut now);
    remove(&mut ctl, 8);
    let c = ctl.map_stats();
    assert_eq!(
        (c.copies - b.copies, c.in_place - b.in_place),
        (0, 6),
        "both publishes wrote the spare tables in place"
    );
    let seen = forwarded(&mut w, &mut now);
    for (n, f) in seen.iter().enumerate() {
        assert_eq!(*f, !(5..=8).contains(&n), "session {n}");
    }
    ctl.reclaim();
    assert_eq!(ctl.retired_count(), 0);
}

/// The session (id) each map's key of sessions `0..n` maps to now.
fn owners(ctl: &Control, n: u32) -> Vec<(Option<u64>, Option<u64>)> {
    let snap = ctl.snapshot();
    (0..n)
        .map(|i| {
            let s = SessionSpec::nth(i);
            (
                snap.ue4
                    .get(u32::from(s.ue))
                    .map(dataplane::tables::Rules::session),
                snap.teid
                    .get(s.ul_teid)
                    .map(dataplane::tables::Rules::session),
            )
        })
        .collect()
}

// A publish writes removals before inserts, without a map of the changes
// by key: keys that move from one session to another within a batch (two
// sessions swap UE addresses and TEIDs; a removed session's keys go to a
// new session) end up with their new owner, in the version in force and,
// after the spare tables are caught up between publishes
// (`Control::reclaim`) or replayed by the next publish, in the next ones.
#[test]
fn keys_moving_between_sessions_in_one_batch() {
    let (mut ctl, ports) = dataplane(1, true);
    install(&mut ctl, 20);
    let mut w = Worker::new(ports.into_iter().next().unwrap(), MemIo::default());
    let mut now = 1_000_000_000;
    let moved = |a: u32, b: u32| SessionSpec {
        id: SessionSpec::nth(a).id,
        ..SessionSpec::nth(b)
    };
    let mut expect: Vec<(Option<u64>, Option<u64>)> = (0..20u32)
        .map(|i| (Some(u64::from(i) + 1), Some(u64::from(i) + 1)))
        .collect();
    assert_eq!(owners(&ctl, 20), expect);
    for round in 0..4 {
        let _ = forwarded(&mut w, &mut now);
        if round % 2 == 0 {
            ctl.reclaim();
        }
        // Sessions 3 and 4 swap keys; session 7 goes, a new session takes
        // its keys; then back.
        let (upserts, removals) = if round % 2 == 0 {
            let new7 = SessionSpec {
                id: 1000,
                ..SessionSpec::nth(7)
            };
            (
                vec![session(&moved(3, 4)), session(&moved(4, 3)), session(&new7)],
                vec![SessionSpec::nth(7).id],
            )
        } else {
            (
                vec![
                    session(&SessionSpec::nth(3)),
                    session(&SessionSpec::nth(4)),
                    session(&SessionSpec::nth(7)),
                ],
                vec![1000],
            )
        };
        ctl.publish(Batch { upserts, removals }).unwrap();
        if round % 2 == 0 {
            expect[3] = (Some(5), Some(5));
            expect[4] = (Some(4), Some(4));
            expect[7] = (Some(1000), Some(1000));
        } else {
            expect[3] = (Some(4), Some(4));
            expect[4] = (Some(5), Some(5));
            expect[7] = (Some(8), Some(8));
        }
        assert_eq!(owners(&ctl, 20), expect, "round {round}");
        assert_eq!(ctl.session_count(), 20);
    }
    assert!(ctl.map_stats().in_place > 0);
}
