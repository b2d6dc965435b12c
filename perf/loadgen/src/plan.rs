//! The session plan: which TEIDs, UE addresses and ports session *i* uses.
//! It mirrors `perf/gen/sessions.py` field for field (same defaults, same
//! mapping), so the traffic this generator sends hits the static sessions of
//! a config that script wrote.

use std::net::Ipv4Addr;

use thiserror::Error;

/// Outer UDP source ports: 0xC000 | (i & 0x3FFF), one flow per session.
pub const SPORT_BASE: u16 = 0xC000;
/// Low bits of the outer source port that follow the session index.
pub const SPORT_MASK: u16 = 0x3FFF;
/// Inner UDP port of the UE.
pub const UE_PORT: u16 = 40000;
/// Inner UDP port of the data-network server.
pub const DN_PORT: u16 = 5001;
/// GTP-U's UDP port (TS 29.281 §4.4.2).
pub const GTPU_PORT: u16 = 2152;

/// A plan that cannot be honoured (same checks as `sessions.py`).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PlanError {
    /// Zero sessions.
    #[error("sessions must be >= 1")]
    NoSessions,
    /// The sessions do not fit the UE pool.
    #[error(
        "{sessions} sessions do not fit in UE pool {pool}/{prefix} ({usable} usable from offset {offset}); pass a larger --ue-pool, e.g. 10.64.0.0/10"
    )]
    PoolTooSmall {
        /// Sessions asked for.
        sessions: u32,
        /// Pool network.
        pool: Ipv4Addr,
        /// Pool prefix length.
        prefix: u8,
        /// Addresses usable.
        usable: u64,
        /// First offset.
        offset: u32,
    },
    /// A TEID range leaves the 32-bit space or starts at 0.
    #[error(
        "{name} {base:#x} + {sessions} sessions leaves the 32-bit TEID space (TEID 0 is reserved)"
    )]
    TeidRange {
        /// Which base.
        name: &'static str,
        /// Its value.
        base: u32,
        /// Sessions.
        sessions: u32,
    },
    /// The two TEID ranges overlap.
    #[error("uplink and downlink TEID ranges overlap; choose bases further apart")]
    TeidOverlap,
    /// QFI beyond 6 bits.
    #[error("QFI is 6 bits (0..63), got {0}")]
    Qfi(u8),
    /// Not a CIDR.
    #[error("bad UE pool {0:?}: expected a.b.c.d/len")]
    Pool(String),
}

/// The deterministic session layout (`sessions.py`'s `Plan`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Number of sessions.
    pub sessions: u32,
    /// UE pool network address.
    pub ue_pool: Ipv4Addr,
    /// UE pool prefix length.
    pub ue_prefix: u8,
    /// First UE = pool network + this.
    pub ue_offset: u32,
    /// N3 F-TEID of session 0.
    pub ul_teid_base: u32,
    /// gNB TEID of session 0.
    pub dl_teid_base: u32,
    /// QoS flow of every session.
    pub qfi: u8,
    /// gNB N3 address.
    pub gnb: Ipv4Addr,
    /// UPF N3 address.
    pub upf_n3: Ipv4Addr,
    /// Data-network server (UL inner destination, DL source).
    pub dn_server: Ipv4Addr,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            sessions: 10_000,
            ue_pool: Ipv4Addr::new(10, 45, 0, 0),
            ue_prefix: 16,
            ue_offset: 2,
            ul_teid_base: 0x0100_0000,
            dl_teid_base: 0x0200_0000,
            qfi: 9,
            gnb: Ipv4Addr::new(192, 168, 1, 2),
            upf_n3: Ipv4Addr::new(192, 168, 1, 1),
            dn_server: Ipv4Addr::new(198, 51, 100, 1),
        }
    }
}

/// One session's identifiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Session {
    /// 0-based index.
    pub index: u32,
    /// UE address.
    pub ue_ip: Ipv4Addr,
    /// N3 F-TEID (UL G-PDUs carry it).
    pub ul_teid: u32,
    /// gNB TEID (DL G-PDUs carry it).
    pub dl_teid: u32,
    /// Outer UDP source port of its UL G-PDUs.
    pub outer_sport: u16,
}

/// Parses `a.b.c.d/len` into (network, len), the network masked.
///
/// # Errors
/// [`PlanError::Pool`] when it is not a CIDR.
pub fn parse_cidr(s: &str) -> Result<(Ipv4Addr, u8), PlanError> {
    let bad = || PlanError::Pool(s.to_owned());
    let (a, l) = s.split_once('/').ok_or_else(bad)?;
    let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
    let len: u8 = l.parse().map_err(|_| bad())?;
    if len > 32 {
        return Err(bad());
    }
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    Ok((Ipv4Addr::from(u32::from(addr) & mask), len))
}

impl Plan {
    /// Checks the plan as `sessions.py` does.
    ///
    /// # Errors
    /// The first [`PlanError`] found.
    pub fn validate(&self) -> Result<(), PlanError> {
        if self.sessions < 1 {
            return Err(PlanError::NoSessions);
        }
        let size = 1u64 << (32 - u32::from(self.ue_prefix));
        // Keep the broadcast address out, as sessions.py does.
        let usable = size.saturating_sub(u64::from(self.ue_offset) + 1);
        if u64::from(self.sessions) > usable {
            return Err(PlanError::PoolTooSmall {
                sessions: self.sessions,
                pool: self.ue_pool,
                prefix: self.ue_prefix,
                usable,
                offset: self.ue_offset,
            });
        }
        for (name, base) in [
            ("ul_teid_base", self.ul_teid_base),
            ("dl_teid_base", self.dl_teid_base),
        ] {
            if base < 1 || u64::from(base) + u64::from(self.sessions) - 1 > u64::from(u32::MAX) {
                return Err(PlanError::TeidRange {
                    name,
                    base,
                    sessions: self.sessions,
                });
            }
        }
        let (ul, dl) = (u64::from(self.ul_teid_base), u64::from(self.dl_teid_base));
        let n = u64::from(self.sessions);
        if ul < dl + n && dl < ul + n {
            return Err(PlanError::TeidOverlap);
        }
        if self.qfi > 63 {
            return Err(PlanError::Qfi(self.qfi));
        }
        Ok(())
    }

    /// UE address of session `i`.
    #[must_use]
    pub fn ue_ip(&self, i: u32) -> Ipv4Addr {
        Ipv4Addr::from(
            u32::from(self.ue_pool)
                .wrapping_add(self.ue_offset)
                .wrapping_add(i),
        )
    }

    /// Session `i` (the caller keeps `i < sessions`).
    #[must_use]
    pub fn session(&self, i: u32) -> Session {
        Session {
            index: i,
            ue_ip: self.ue_ip(i),
            ul_teid: self.ul_teid_base.wrapping_add(i),
            dl_teid: self.dl_teid_base.wrapping_add(i),
            #[allow(clippy::cast_possible_truncation)] // masked to 14 bits
            outer_sport: SPORT_BASE | (i as u16 & SPORT_MASK),
        }
    }

    /// The session whose UE address is `ip`, if any.
    #[must_use]
    pub fn session_of_ue(&self, ip: Ipv4Addr) -> Option<u32> {
        let first = u32::from(self.ue_pool).wrapping_add(self.ue_offset);
        let i = u32::from(ip).wrapping_sub(first);
        (i < self.sessions).then_some(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_sessions_py() {
        // perf/README.md, "The session plan": session 0 and 16384.
        let p = Plan::default();
        p.validate().unwrap();
        let s = p.session(0);
        assert_eq!(s.ue_ip, Ipv4Addr::new(10, 45, 0, 2));
        assert_eq!(s.ul_teid, 0x0100_0000);
        assert_eq!(s.dl_teid, 0x0200_0000);
        assert_eq!(s.outer_sport, 0xC000);
        let s = p.session(16384 + 5);
        assert_eq!(s.outer_sport, 0xC005);
        assert_eq!(p.session(9999).ue_ip, Ipv4Addr::new(10, 45, 39, 17));
        assert_eq!(p.session_of_ue(Ipv4Addr::new(10, 45, 39, 17)), Some(9999));
        assert_eq!(p.session_of_ue(Ipv4Addr::new(10, 45, 39, 18)), None);
        assert_eq!(p.session_of_ue(Ipv4Addr::new(10, 45, 0, 1)), None);
    }

    #[test]
    fn refuses_what_sessions_py_refuses() {
        let p = Plan {
            sessions: 65_534,
            ..Plan::default()
        };
        assert!(matches!(p.validate(), Err(PlanError::PoolTooSmall { .. })));
        let p = Plan {
            sessions: 65_533,
            ..Plan::default()
        };
        p.validate().unwrap();
        let p = Plan {
            dl_teid_base: 0x0100_0010,
            ..Plan::default()
        };
        assert_eq!(p.validate(), Err(PlanError::TeidOverlap));
        let p = Plan {
            qfi: 64,
            ..Plan::default()
        };
        assert_eq!(p.validate(), Err(PlanError::Qfi(64)));
        let p = Plan {
            ul_teid_base: 0,
            ..Plan::default()
        };
        assert!(matches!(p.validate(), Err(PlanError::TeidRange { .. })));
    }

    #[test]
    fn cidr() {
        assert_eq!(
            parse_cidr("10.64.1.2/10").unwrap(),
            (Ipv4Addr::new(10, 64, 0, 0), 10)
        );
        assert!(parse_cidr("10.0.0.0").is_err());
        assert!(parse_cidr("10.0.0.0/33").is_err());
    }
}
