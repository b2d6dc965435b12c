//! The boundary between the PFCP node and the data plane. The `upf` crate
//! implements [`UserPlane`] on its control thread: translate the rule set
//! into dataplane rules, publish them to the workers, read their counters.

use std::net::IpAddr;
use std::time::SystemTime;

use crate::codec::ies::Cause;
use crate::pfd::PfdTable;
use crate::rules::{RuleRef, Session};

/// What the node needs from the user plane. All calls come from the
/// thread that drives the node; none may block for long.
pub trait UserPlane {
    /// Install or replace the complete rule set of a session; called once
    /// per accepted establishment or modification, after validation, with
    /// the rule set it replaces (`None` for a new session). On error the
    /// node keeps the previous rules and rejects the PFCP request. The
    /// CP F-SEID is not a rule for the user plane: a Session Set
    /// Modification changes it in the node without a call here, so
    /// `previous` may carry a newer one than the last install did.
    ///
    /// # Errors
    /// [`UpError`], mapped to the PFCP cause of the rejection.
    fn install(&mut self, session: &Session, previous: Option<&Session>) -> Result<(), UpError>;

    /// Remove a session (deletion, or purge after an SMF restart, failure
    /// or association release).
    fn remove(&mut self, seid: u64);

    /// Append to `out` the usage counted for each of `urr_ids` since the
    /// previous call for that URR (or since it was installed): the node
    /// accumulates, so every counted packet must be returned exactly once.
    /// A URR with no traffic may be left out.
    ///
    /// The node also asks for URRs that the last [`UserPlane::install`]
    /// dropped from the session, and for every URR of a session after
    /// [`UserPlane::remove`] (deletion): the answer is then their final
    /// count, once [`UserPlane::usage_settled`] says it is complete, and
    /// the user plane may forget them.
    fn usage(&mut self, seid: u64, urr_ids: &[u32], out: &mut Vec<UsageSample>);

    /// Whether the counters of URRs that `install` or `remove` took away
    /// from `seid` are final: a user plane whose workers may still be
    /// counting packets against the old rules says `false` until they have
    /// all moved on. The node then holds the response that reports them
    /// (deletion, Remove URR) and asks again from
    /// [`crate::Node::handle_timeout`] / [`crate::Node::resume`]. A user
    /// plane should give up waiting after a bounded time and say `true`.
    fn usage_settled(&mut self, seid: u64) -> bool {
        let _ = seid;
        true
    }

    /// Wall-clock time of the last packet of session `seid` the user plane
    /// has seen, for the User Plane Inactivity Timer (TS 29.244 §5.11.3);
    /// asked only for sessions that have the timer, about once per timer
    /// period. `None`: no packet seen since the timer was set (a user
    /// plane that cannot observe traffic says so, and every such session
    /// is then reported inactive).
    fn last_packet(&mut self, seid: u64) -> Option<SystemTime> {
        let _ = seid;
        None
    }

    /// Send a GTP-U End Marker (TS 29.281 §7.3.2) to the old downlink peer
    /// after a path switch with SNDEM.
    fn send_end_marker(&mut self, peer: IpAddr, teid: u32);

    /// The PFDs provisioned by PFD Management changed (TS 29.244 §6.2.2):
    /// the node passes its whole table after each accepted request, then
    /// calls [`UserPlane::install`] again (unchanged rules, `previous` the
    /// same) for every session whose PDRs name a changed application. A
    /// user plane that detects applications by their PFDs keeps a copy.
    fn set_pfds(&mut self, pfds: &PfdTable) {
        let _ = pfds;
    }

    /// Discard the packets buffered for the session (DROBU).
    fn drop_buffered(&mut self, seid: u64) {
        let _ = seid;
    }
}

/// Usage of one URR since the previous report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UsageSample {
    pub urr_id: u32,
    pub ul_bytes: u64,
    pub dl_bytes: u64,
    pub ul_packets: u64,
    pub dl_packets: u64,
    /// Wall-clock time of the first / last packet counted, if known.
    pub first_packet: Option<SystemTime>,
    pub last_packet: Option<SystemTime>,
}

/// Why the user plane refused a rule set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpError {
    /// Tables full, no memory: cause 75 (No resources available).
    #[error("no resources: {0}")]
    NoResources(String),
    /// Temporarily overloaded: cause 74 (PFCP entity in congestion).
    #[error("congestion: {0}")]
    Congestion(String),
    /// One rule cannot be installed: cause 73 with Failed Rule ID.
    #[error("rule {rule:?} refused: {reason}")]
    Rule { rule: RuleRef, reason: String },
    /// A feature the user plane does not implement: cause 76.
    #[error("not supported: {0}")]
    NotSupported(String),
    /// A rule (or the session, `rule: None`) uses a feature the user
    /// plane does not implement: cause 76 with the Offending IE (its IE
    /// type) and the Failed Rule ID when a rule is named.
    #[error("{reason} (rule {rule:?}) is not supported")]
    Unsupported {
        rule: Option<RuleRef>,
        /// IE type of the feature (`pfcp::codec::ie_type`).
        ie: u16,
        reason: String,
    },
    /// Anything else: cause 64 (Request rejected).
    #[error("{0}")]
    Other(String),
}

impl UpError {
    /// The PFCP cause for this error.
    #[must_use]
    pub fn cause(&self) -> Cause {
        match self {
            UpError::NoResources(_) => Cause::NO_RESOURCES_AVAILABLE,
            UpError::Congestion(_) => Cause::PFCP_ENTITY_IN_CONGESTION,
            UpError::Rule { .. } => Cause::RULE_CREATION_MODIFICATION_FAILURE,
            UpError::NotSupported(_) | UpError::Unsupported { .. } => Cause::SERVICE_NOT_SUPPORTED,
            UpError::Other(_) => Cause::REQUEST_REJECTED,
        }
    }
}
