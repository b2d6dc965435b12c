//! PFCP (TS 29.244) codec and sans-IO node.
#![forbid(unsafe_code)]
