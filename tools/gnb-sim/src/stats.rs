//! Packet counters of the gNB simulator and the test peer: per UE and global,
//! written by the I/O threads with relaxed atomics (single writer per field in
//! practice), read for the report printed on SIGINT/SIGTERM/SIGUSR1 and the
//! JSON stats file.

use std::sync::atomic::{AtomicU64, Ordering};

/// A monotonic counter shared between threads.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    #[must_use]
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Defines a struct of `Counter`s and its plain, serializable snapshot.
macro_rules! counters {
    ($(#[$m:meta])* $name:ident => $snap:ident { $($(#[$fm:meta])* $field:ident),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Default)]
        pub struct $name { $($(#[$fm])* pub $field: $crate::stats::Counter,)* }

        #[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
        pub struct $snap { $(pub $field: u64,)* }

        impl $name {
            #[must_use]
            pub fn snapshot(&self) -> $snap {
                $snap { $($field: self.$field.get(),)* }
            }
        }

        impl $snap {
            /// `(name, value)` pairs in declaration order, for printing.
            #[must_use]
            pub fn fields(&self) -> Vec<(&'static str, u64)> {
                vec![$((stringify!($field), self.$field),)*]
            }
        }
    };
}
pub(crate) use counters;

counters! {
    /// Per UE / session. Bytes are inner IP packet bytes (the T-PDU), as the
    /// UE sees them; the outer GTP-U/UDP/IP adds 44 bytes per packet.
    UeCounters => UeSnapshot {
        ul_packets, ul_bytes, dl_packets, dl_bytes,
        /// Of `dl_packets`, those received on one of `alt_dl_teids`.
        dl_packets_alt,
        /// End Marker messages received on this session's DL TEID.
        end_markers,
        /// DL G-PDUs without a PDU Session Container (still delivered).
        dl_no_psc,
        /// DL G-PDUs whose container is not DL PDU SESSION INFORMATION.
        dl_bad_psc_type,
        /// DL G-PDUs whose QFI differs from the session's (still delivered).
        dl_qfi_mismatch,
        /// DL G-PDUs with RQI set.
        dl_rqi,
    }
}

counters! {
    GlobalCounters => GlobalSnapshot {
        echo_requests, echo_responses, error_indications,
        /// Datagrams on N3 that are not valid GTP-U v1.
        malformed,
        /// G-PDUs / End Markers for a TEID we did not hand out.
        unknown_teid,
        /// Valid GTP-U of a type we do not handle.
        unknown_msg,
        /// DL T-PDUs whose inner destination is not the session's UE.
        dl_wrong_dst,
        dl_not_ipv4,
        /// UL packets from the TUN whose source is no session's UE.
        ul_no_session,
        ul_not_ipv4,
        ul_send_errors,
        tun_write_errors,
    }
}
