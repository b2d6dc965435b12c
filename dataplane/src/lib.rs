//! The UPF's data plane: packet views, session tables and the GTP-U/QoS
//! pipeline that the poll-mode workers run. Everything here is generic over
//! [`buf::PacketBuf`], so it is tested and benchmarked without DPDK.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod buf;
pub mod wire;
