//! A test peer that plays the UPF's N3 side against `gnb-sim`, sans-IO: it
//! checks every UL G-PDU the way a strict UPF would (TEID, PDU Session
//! Container type and QFI, inner source = the session's UE) and builds DL
//! G-PDUs with the gNB's TEID and a DL container. The `gtpu-peer` binary
//! either reflects UL packets back (ICMP Echo → Reply) or routes them through
//! a kernel TUN into the data network namespace.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use crate::gtpu::{self, PduType};
use crate::ip;
use crate::session::Session;
use crate::stats::counters;

counters! {
    PeerCounters => PeerSnapshot {
        /// UL G-PDUs that passed every check.
        ul_ok, ul_bytes,
        ul_unknown_teid, ul_no_psc, ul_bad_psc_type, ul_qfi_mismatch,
        /// Inner source is not the session's UE.
        ul_wrong_src,
        ul_not_ipv4,
        malformed,
        echo_requests, echo_responses,
        other_msgs,
        /// DL G-PDUs sent (reflected or routed).
        dl_sent, dl_bytes,
        reflect_failed,
        /// Packets from the kernel TUN for no session's UE.
        dl_no_session,
        send_errors,
    }
}

/// What the peer does with one datagram from the gNB.
#[derive(Debug, PartialEq, Eq)]
pub enum Ul {
    /// A checked T-PDU at `datagram[offset..offset + len]`.
    Inner {
        session: usize,
        offset: usize,
        len: usize,
    },
    /// Send back (Echo Response).
    Reply(Vec<u8>),
    /// Counted, nothing to do.
    Done,
    /// Counted and dropped; the string says why (logged).
    Bad(String),
}

pub struct Peer {
    sessions: Vec<Session>,
    by_ul: HashMap<u32, usize>,
    by_ue: HashMap<Ipv4Addr, usize>,
    pub counters: PeerCounters,
}

impl Peer {
    #[must_use]
    pub fn new(sessions: Vec<Session>) -> Self {
        let by_ul = sessions
            .iter()
            .enumerate()
            .map(|(i, s)| (s.ul_teid, i))
            .collect();
        let by_ue = sessions
            .iter()
            .enumerate()
            .map(|(i, s)| (s.ue_ip, i))
            .collect();
        Self {
            sessions,
            by_ul,
            by_ue,
            counters: PeerCounters::default(),
        }
    }

    #[must_use]
    pub fn sessions(&self) -> &[Session] {
        &self.sessions
    }

    pub fn uplink(&self, datagram: &[u8]) -> Ul {
        let c = &self.counters;
        let p = match gtpu::Packet::new_checked(datagram) {
            Ok(p) => p,
            Err(e) => {
                c.malformed.inc();
                return Ul::Bad(format!("malformed: {e}"));
            }
        };
        match p.msg_type() {
            gtpu::msg::G_PDU => {}
            gtpu::msg::ECHO_REQUEST => {
                c.echo_requests.inc();
                return Ul::Reply(gtpu::echo_response(p.seq().unwrap_or(0)));
            }
            gtpu::msg::ECHO_RESPONSE => {
                c.echo_responses.inc();
                return Ul::Done;
            }
            t => {
                c.other_msgs.inc();
                return Ul::Bad(format!("message type {t}"));
            }
        }
        let Some(&i) = self.by_ul.get(&p.teid()) else {
            c.ul_unknown_teid.inc();
            return Ul::Bad(format!("unknown UL TEID {:#x}", p.teid()));
        };
        let s = &self.sessions[i];
        match p.psc_qfi() {
            None => {
                c.ul_no_psc.inc();
                return Ul::Bad("no PDU Session Container".into());
            }
            Some((PduType::Ul, q)) if q == s.qfi => {}
            Some((PduType::Ul, q)) => {
                c.ul_qfi_mismatch.inc();
                return Ul::Bad(format!("QFI {q}, session has {}", s.qfi));
            }
            Some((t, _)) => {
                c.ul_bad_psc_type.inc();
                return Ul::Bad(format!("PDU type {t:?} in an UL container"));
            }
        }
        let inner = p.payload();
        match ip::v4_addrs(inner) {
            None => {
                c.ul_not_ipv4.inc();
                Ul::Bad("inner packet is not IPv4".into())
            }
            Some((src, _)) if src != s.ue_ip => {
                c.ul_wrong_src.inc();
                Ul::Bad(format!("inner source {src} on the TEID of {}", s.ue_ip))
            }
            Some(_) => {
                c.ul_ok.inc();
                c.ul_bytes.add(inner.len() as u64);
                Ul::Inner {
                    session: i,
                    offset: p.payload_offset(),
                    len: inner.len(),
                }
            }
        }
    }

    /// Encapsulates the IPv4 packet at `buf[GPDU_PSC_HEADER_LEN..][..ip_len]`
    /// for session `i`; returns the datagram length.
    pub fn encap_dl(&self, i: usize, buf: &mut [u8], ip_len: usize) -> Option<usize> {
        let s = self.sessions.get(i)?;
        let h = gtpu::emit_gpdu_psc(buf, s.dl_teid, PduType::Dl, s.qfi, ip_len).ok()?;
        self.counters.dl_sent.inc();
        self.counters.dl_bytes.add(ip_len as u64);
        Some(h + ip_len)
    }

    /// Session of a DL packet (by inner destination) from the kernel TUN.
    pub fn dl_session(&self, ip_packet: &[u8]) -> Option<usize> {
        let r = ip::v4_addrs(ip_packet).and_then(|(_, dst)| self.by_ue.get(&dst).copied());
        if r.is_none() {
            self.counters.dl_no_session.inc();
        }
        r
    }

    /// Reflects the checked UL datagram's T-PDU into a DL G-PDU in `out`.
    pub fn reflect(
        &self,
        datagram: &[u8],
        session: usize,
        offset: usize,
        len: usize,
        out: &mut [u8],
    ) -> Option<usize> {
        let h = gtpu::GPDU_PSC_HEADER_LEN;
        let dst = out.get_mut(h..h + len)?;
        dst.copy_from_slice(datagram.get(offset..offset + len)?);
        if ip::reflect(dst).is_err() {
            self.counters.reflect_failed.inc();
            return None;
        }
        self.encap_dl(session, out, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gnb::{Downlink, Gnb, UL_HEADROOM};
    use crate::session::{SessionTable, parse_spec};

    fn sessions() -> Vec<Session> {
        let upf = Ipv4Addr::new(192, 168, 1, 1);
        vec![
            parse_spec("10.45.0.2,ul_teid=0x100,dl_teid=0x200,qfi=9", upf).unwrap(),
            parse_spec("10.45.0.3,ul_teid=0x101,dl_teid=0x201,qfi=5", upf).unwrap(),
        ]
    }

    /// gNB → peer → gNB in memory: what `ping -I <ue>` does through the
    /// testbed, without sockets.
    #[test]
    fn ping_through_gnb_and_reflector() {
        let gnb = Gnb::new(SessionTable::new(sessions()).unwrap());
        let peer = Peer::new(sessions());
        for (k, ue) in [Ipv4Addr::new(10, 45, 0, 2), Ipv4Addr::new(10, 45, 0, 3)]
            .into_iter()
            .enumerate()
        {
            let dn = Ipv4Addr::new(10, 200, 0, 254);
            let req = ip::icmp_echo(ue, dn, 8, b"ping payload");
            let mut ul = vec![0u8; UL_HEADROOM + req.len()];
            ul[UL_HEADROOM..].copy_from_slice(&req);
            let (_, len) = gnb.uplink(&mut ul, req.len()).unwrap();
            let Ul::Inner {
                session,
                offset,
                len: ilen,
            } = peer.uplink(&ul[..len])
            else {
                panic!("peer rejected UL")
            };
            assert_eq!(session, k);
            let mut dl = vec![0u8; 2048];
            let dlen = peer
                .reflect(&ul[..len], session, offset, ilen, &mut dl)
                .unwrap();
            let Downlink::ToTun {
                session: s,
                offset,
                len,
            } = gnb.downlink(&dl[..dlen])
            else {
                panic!("gNB dropped DL")
            };
            assert_eq!(s, k);
            assert_eq!(
                &dl[offset..offset + len],
                &ip::icmp_echo(dn, ue, 0, b"ping payload")[..]
            );
        }
        let r = gnb.report();
        assert!(
            r.ues
                .iter()
                .all(|u| u.counters.dl_qfi_mismatch == 0 && u.counters.dl_no_psc == 0)
        );
        assert_eq!(peer.counters.snapshot().ul_ok, 2);
    }

    #[test]
    fn peer_rejects_what_a_strict_upf_rejects() {
        let peer = Peer::new(sessions());
        let req = ip::icmp_echo(
            Ipv4Addr::new(10, 45, 0, 2),
            Ipv4Addr::new(10, 200, 0, 254),
            8,
            b"x",
        );
        let gpdu = |teid, t, qfi, inner: &[u8]| {
            let mut b = vec![0u8; gtpu::GPDU_PSC_HEADER_LEN + inner.len()];
            gtpu::emit_gpdu_psc(&mut b, teid, t, qfi, inner.len()).unwrap();
            b[gtpu::GPDU_PSC_HEADER_LEN..].copy_from_slice(inner);
            b
        };
        assert!(matches!(
            peer.uplink(&gpdu(0x100, PduType::Ul, 9, &req)),
            Ul::Inner { .. }
        ));
        assert!(matches!(
            peer.uplink(&gpdu(0x999, PduType::Ul, 9, &req)),
            Ul::Bad(_)
        ));
        assert!(matches!(
            peer.uplink(&gpdu(0x100, PduType::Ul, 8, &req)),
            Ul::Bad(_)
        ));
        assert!(matches!(
            peer.uplink(&gpdu(0x100, PduType::Dl, 9, &req)),
            Ul::Bad(_)
        ));
        assert!(matches!(
            peer.uplink(&gpdu(0x101, PduType::Ul, 5, &req)),
            Ul::Bad(_)
        ));
        let mut no_psc = vec![0x30, 0xff, 0, 0, 0, 0, 1, 0];
        no_psc[3] = u8::try_from(req.len()).unwrap();
        no_psc.extend_from_slice(&req);
        assert!(matches!(peer.uplink(&no_psc), Ul::Bad(_)));
        assert_eq!(
            peer.uplink(&gtpu::echo_request(3)),
            Ul::Reply(gtpu::echo_response(3))
        );
        let c = peer.counters.snapshot();
        assert_eq!(
            (
                c.ul_ok,
                c.ul_unknown_teid,
                c.ul_qfi_mismatch,
                c.ul_bad_psc_type,
                c.ul_wrong_src,
                c.ul_no_psc
            ),
            (1, 1, 1, 1, 1, 1)
        );
    }
}
