//! The UPF's data plane: packet views, session tables and the GTP-U/QoS
//! pipeline that the poll-mode workers run. Everything here is generic over
//! [`buf::PacketBuf`], so it is tested and benchmarked without DPDK.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod buf;
pub mod control;
pub mod counters;
pub mod iface;
pub mod neighbor;
pub mod pipeline;
pub mod rules;
pub mod tables;
pub mod testkit;
pub mod wire;
pub mod worker;
