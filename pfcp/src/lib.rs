//! PFCP (3GPP TS 29.244) for the UPF: the N4 wire codec, a sans-IO node
//! (associations, heartbeats, retransmission, duplicate detection) and the
//! PFCP-level session state machine. No sockets, threads or clocks inside:
//! the `upf` control thread feeds datagrams and time in, and reaches the
//! user plane only through the [`UserPlane`] trait.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod alloc;
mod cache;
pub mod codec;
pub mod config;
mod csid;
pub mod flow;
pub mod node;
pub mod pfd;
pub mod rules;
pub mod sample;
mod session;
mod usage;
pub mod user_plane;

/// Maps keyed by what peers send (SEIDs, TEIDs, sequence numbers):
/// foldhash is several times faster than SipHash and, seeded per map,
/// still resists crafted collisions.
pub(crate) type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

pub use config::{Config, ConfigError, GtpuEndpoint, UePool};
pub use csid::CsidSets;
pub use node::{
    AssociationInfo, Direction, DownReason, Event, Node, Occupancy, RemoveReason, ResourceUsage,
    Stats, Transmit,
};
pub use rules::Session;
pub use session::Rejection;
pub use usage::ntp_seconds;
pub use user_plane::{UpError, UsageSample, UserPlane};
