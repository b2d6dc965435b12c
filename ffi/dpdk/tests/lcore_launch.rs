//! Launching closures on worker lcores: return values, the lcore they run
//! on, refusals (main lcore, unknown lcore, busy lcore, non-main caller),
//! panics, and a worker owning port queues.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::with_eal;
use dpdk::{Burst, Error, Mempool, Port, PortConfig, Socket};

#[test]
fn launch_and_wait() {
    // The test harness runs this on its own thread: it becomes the main lcore.
    with_eal("lcore", 2, |eal| {
        let main = eal.main_lcore();
        assert_eq!(main.id(), 0);
        assert_eq!(eal.current_lcore(), Some(main));
        let workers = eal.worker_lcores();
        assert_eq!(workers.iter().map(|l| l.id()).collect::<Vec<_>>(), [1]);
        let w = workers[0];
        assert_eq!(w.socket_id(), main.socket_id());
        assert!(eal.lcore(1).is_some() && eal.lcore(5).is_none() && eal.lcore(100_000).is_none());
        assert!(eal.tsc_hz() > 0);

        // Return value and placement.
        let e = eal.clone();
        let h = eal
            .launch(w, move || {
                1000 + e.current_lcore().map_or(-1, |l| l.id() as i32)
            })
            .unwrap();
        assert_eq!(h.lcore(), w);
        assert_eq!(h.wait().unwrap(), 1001);

        // Refusals.
        assert!(matches!(
            eal.launch(main, || 0),
            Err(Error::NotWorkerLcore { lcore: 0 })
        ));
        let fake = eal.lcore(0).unwrap();
        assert!(matches!(
            eal.launch(fake, || 0),
            Err(Error::NotWorkerLcore { .. })
        ));
        let e = eal.clone();
        let from_other_thread = std::thread::spawn(move || e.launch(w, || 0).map(|_| ()))
            .join()
            .unwrap();
        assert!(matches!(from_other_thread, Err(Error::NotMainLcore { .. })));

        // A busy lcore refuses a second job (EBUSY) until the first ends.
        let release = Arc::new(AtomicBool::new(false));
        let r = Arc::clone(&release);
        let h = eal
            .launch(w, move || {
                let deadline = Instant::now() + Duration::from_secs(10);
                while !r.load(Ordering::Acquire) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(1));
                }
                7
            })
            .unwrap();
        let busy = eal.launch(w, || 0).map(|_| ()).unwrap_err();
        assert_eq!(busy.errno(), Some(16), "EBUSY: {busy}");
        release.store(true, Ordering::Release);
        assert_eq!(h.wait().unwrap(), 7);

        // A panic is caught at the FFI boundary and reported.
        let h = eal
            .launch(w, || panic!("worker panics on purpose"))
            .unwrap();
        assert_eq!(h.wait().unwrap_err(), Error::WorkerPanicked { lcore: 1 });

        // Dropping a handle joins the worker.
        let done = Arc::new(AtomicBool::new(false));
        let d = Arc::clone(&done);
        drop(eal.launch(w, move || {
            std::thread::sleep(Duration::from_millis(50));
            d.store(true, Ordering::Release);
            0
        }));
        assert!(done.load(Ordering::Acquire), "drop waited for the worker");

        // A worker owns its queues: receive on one port, send on another.
        let pool = Mempool::pktmbuf(
            eal,
            "lcore",
            2047,
            32,
            dpdk::MBUF_DEFAULT_BUF_SIZE,
            Socket::Any,
        )
        .unwrap();
        let mut a = Port::open(eal, "net_null0").unwrap();
        let mut b = Port::open(eal, "net_null1").unwrap();
        a.configure(&PortConfig::new(1), &pool).unwrap();
        b.configure(&PortConfig::new(1), &pool).unwrap();
        let (mut rx, _) = a.start().unwrap();
        let (_, mut tx) = b.start().unwrap();
        let (mut rx, mut tx) = (rx.remove(0), tx.remove(0));
        let h = eal
            .launch(w, move || {
                let mut burst = Burst::<32>::new();
                let mut n = 0;
                for _ in 0..100 {
                    rx.rx_burst(&mut burst);
                    n += tx.tx_burst_or_free(&mut burst);
                }
                i32::try_from(n).unwrap()
            })
            .unwrap();
        assert_eq!(h.wait().unwrap(), 3200);
        assert_eq!(b.stats().unwrap().opackets, 3200);
        drop((a, b));
        assert_eq!(pool.in_use(), 0);
    });
}
