//! Devices DPDK cannot open give a clear error naming the device, and the
//! process carries on: a good device opens and works afterwards. Also the
//! other refusals: a second EAL init, a port opened twice, wrong port state.

mod common;

use common::{eal_args, with_eal};
use dpdk::{Burst, Eal, Error, Mempool, Port, PortConfig, Socket};

fn open_err(eal: &Eal, device: &str) -> Error {
    let err = Port::open(eal, device).expect_err(device);
    let text = err.to_string();
    assert!(matches!(err, Error::DeviceOpen { .. }), "{device}: {err:?}");
    eprintln!("error: {err}");
    assert!(text.contains(device), "error names the device: {text}");
    err
}

#[test]
fn bad_devices_are_clear_errors_and_harmless() {
    with_eal("baddev", 1, |eal| {
        assert_eq!(
            Eal::init(&eal_args("again", 1)).unwrap_err(),
            Error::AlreadyInitialized
        );

        open_err(eal, "net_nosuchdriver0");
        let pcap = open_err(
            eal,
            "net_pcap0,rx_pcap=/nonexistent/in.pcap,tx_pcap=/nonexistent/out.pcap",
        );
        assert!(
            pcap.to_string()
                .contains("Couldn't open /nonexistent/in.pcap"),
            "the driver's reason is in the error: {pcap}"
        );
        open_err(eal, "net_null0,no_such_arg=1");
        let pci = open_err(eal, "0000:99:00.0");
        assert!(pci.to_string().contains("vfio-pci"), "PCI hint: {pci}");
        let unknown = open_err(eal, "net_nosuchdriver1");
        assert!(
            unknown.to_string().contains("no DPDK bus or driver"),
            "{unknown}"
        );
        open_err(eal, "");
        assert!(matches!(
            Port::open(eal, "net_null0\0x"),
            Err(Error::DeviceOpen { .. })
        ));
        assert!(matches!(
            Port::by_name(eal, "net_null9"),
            Err(Error::DeviceOpen { .. })
        ));

        // The process is fine: a good device opens and forwards.
        let pool = Mempool::pktmbuf(
            eal,
            "baddev",
            1023,
            0,
            dpdk::MBUF_DEFAULT_BUF_SIZE,
            Socket::Any,
        )
        .unwrap();
        let mut port = Port::open(eal, "net_null0").unwrap();
        assert!(
            matches!(
                Port::open(eal, "net_null0"),
                Err(Error::InvalidArgument { .. })
            ),
            "a port is opened once"
        );
        assert!(
            matches!(port.start(), Err(Error::PortState { .. })),
            "not configured"
        );
        let too_many = PortConfig::new(port.info().unwrap().max_rx_queues + 1);
        assert!(matches!(
            port.configure(&too_many, &pool),
            Err(Error::InvalidArgument { .. })
        ));
        assert!(matches!(
            port.configure(&PortConfig::new(0), &pool),
            Err(Error::InvalidArgument { .. })
        ));

        port.configure(&PortConfig::new(2), &pool).unwrap();
        let (mut rx, mut tx) = port.start().unwrap();
        assert_eq!((rx.len(), tx.len()), (2, 2));
        assert!(matches!(
            port.start(),
            Err(Error::QueuesInUse { handles: 4, .. })
        ));
        assert!(matches!(
            port.configure(&PortConfig::new(1), &pool),
            Err(Error::QueuesInUse { .. })
        ));
        let mut b = Burst::<32>::new();
        assert_eq!(rx[1].rx_burst(&mut b), 32);
        assert_eq!(tx[1].tx_burst(&mut b), 32);
        drop((rx, tx));
        port.stop().unwrap();
        assert!(!port.is_started());
        // Restart after stop hands out fresh queues.
        let (rx, tx) = port.start().unwrap();
        assert_eq!(rx.len(), 2);
        drop(port); // closes once the queue handles are gone too
        drop(rx);
        assert!(
            matches!(
                Port::open(eal, "net_null0"),
                Err(Error::InvalidArgument { .. })
            ),
            "still open while a tx handle lives"
        );
        drop(tx);
        // The hot-plugged device was removed: it can be opened again.
        let again = Port::open(eal, "net_null0").unwrap();
        drop(again);
        assert_eq!(pool.in_use(), 0);
    });
}
