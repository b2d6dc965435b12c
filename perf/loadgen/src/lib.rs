//! `loadgen`: the UPF's end-to-end load generator. It sends uplink GTP-U
//! toward the UPF's N3 and downlink IPv4 toward its N6 over two DPDK ports,
//! receives what comes out of the other side, and measures throughput,
//! loss, reordering and latency per packet from a stamp in the payload;
//! NDR/PDR search on top (see `perf/README.md`, "End to end").
//!
//! Module map: [`plan`] (session plan, as `perf/gen/sessions.py`) →
//! [`wire`] (frames, parsing) → [`template`] (per-session frames) →
//! [`pace`] (TSC rate control) → [`engine`] (DPDK ports and lcores) →
//! [`stats`] (receive accounting) → [`search`] (NDR/PDR) → [`report`];
//! [`cpustat`] says how much CPU the generator and the device really had.
#![forbid(unsafe_code)]

pub mod cpustat;
pub mod engine;
pub mod pace;
pub mod pcap;
pub mod plan;
pub mod report;
pub mod search;
pub mod stamp;
pub mod stats;
pub mod template;
pub mod wire;
