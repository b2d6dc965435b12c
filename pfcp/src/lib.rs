//! PFCP (3GPP TS 29.244) for the UPF: the N4 wire codec, a sans-IO node
//! (associations, heartbeats, retransmission, duplicate detection) and the
//! PFCP-level session state machine. No sockets, threads or clocks inside:
//! the `upf` control thread feeds datagrams and time in, and reaches the
//! user plane only through the [`UserPlane`] trait.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod codec;
pub mod sample;
