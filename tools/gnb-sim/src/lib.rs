//! gNB simulator for the UPF testbed (N3 side): a minimal GTP-U codec, the
//! session table, the sans-IO UL/DL logic, and the kernel set-up of the UE
//! TUN. The `gnb-sim` binary drives it; `gtpu-peer` is a test peer that plays
//! the UPF until the real one runs.

#![forbid(unsafe_code)]

pub mod gnb;
pub mod gtpu;
pub mod ip;
pub mod netcfg;
pub mod peer;
pub mod session;
pub mod stats;
