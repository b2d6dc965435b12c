//! A bad EAL argument list is an error (not an exit), and EAL cannot be
//! retried in the same process.

use dpdk::{Eal, Error};

#[test]
fn bad_eal_arguments_are_an_error() {
    assert!(
        matches!(
            Eal::init(&["--no-huge", "bad\0arg"]),
            Err(Error::InvalidArgument { .. })
        ),
        "a NUL byte is refused before DPDK runs"
    );
    let err = Eal::init(&["--definitely-not-an-eal-option"]).unwrap_err();
    match &err {
        Error::Dpdk { op, errno, .. } => {
            assert_eq!(*op, "rte_eal_init");
            assert_eq!(*errno, 22, "EINVAL: {err}");
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert!(
        err.to_string().contains("--definitely-not-an-eal-option"),
        "{err}"
    );
    assert_eq!(
        Eal::init(&["--no-huge", "-m", "512", "--no-pci"]).unwrap_err(),
        Error::AlreadyInitialized
    );
}
