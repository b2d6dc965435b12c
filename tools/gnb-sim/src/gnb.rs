//! The gNB's N3 user plane, sans-IO: turns UE packets (from the TUN) into UL
//! G-PDUs for the UPF, and GTP-U from the UPF into UE packets (for the TUN),
//! Echo Responses, or counted events. `main.rs` does the socket and TUN I/O.

use std::net::{Ipv4Addr, SocketAddrV4};

use crate::gtpu::{self, PduType};
use crate::ip;
use crate::session::{Session, SessionTable};
use crate::stats::{GlobalCounters, GlobalSnapshot, UeCounters, UeSnapshot};

/// Bytes to leave in front of a UE packet for the UL GTP-U header.
pub const UL_HEADROOM: usize = gtpu::GPDU_PSC_HEADER_LEN;

/// Why an UL packet from the TUN was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UlDrop {
    NotIpv4,
    NoSession(Ipv4Addr),
    TooLong,
}

/// What to do with a datagram received on N3.
#[derive(Debug, PartialEq, Eq)]
pub enum Downlink {
    /// Write `datagram[offset..offset + len]` (an IPv4 packet) into the TUN.
    ToTun {
        session: usize,
        offset: usize,
        len: usize,
    },
    /// Send these bytes back to the datagram's source (Echo Response).
    Reply(Vec<u8>),
    /// Counted and logged; nothing to send (End Marker, Echo Response, Error Indication).
    Consumed(Event),
    /// Counted and dropped.
    Drop(DlDrop),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    EndMarker { session: usize },
    EchoResponse { seq: Option<u16> },
    ErrorIndication { teid: Option<u32> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DlDrop {
    Malformed(gtpu::Error),
    UnknownTeid { msg_type: u8, teid: u32 },
    UnknownMsg(u8),
    NotIpv4,
    WrongDst { session: usize, dst: Ipv4Addr },
}

pub struct Gnb {
    table: SessionTable,
    ue: Vec<UeCounters>,
    global: GlobalCounters,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct UeReport {
    #[serde(flatten)]
    pub session: Session,
    #[serde(flatten)]
    pub counters: UeSnapshot,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub ues: Vec<UeReport>,
    pub global: GlobalSnapshot,
}

impl Gnb {
    #[must_use]
    pub fn new(table: SessionTable) -> Self {
        let ue = table
            .sessions()
            .iter()
            .map(|_| UeCounters::default())
            .collect();
        Self {
            table,
            ue,
            global: GlobalCounters::default(),
        }
    }

    #[must_use]
    pub fn sessions(&self) -> &[Session] {
        self.table.sessions()
    }

    #[must_use]
    pub fn global(&self) -> &GlobalCounters {
        &self.global
    }

    #[must_use]
    pub fn report(&self) -> Report {
        Report {
            ues: self
                .table
                .sessions()
                .iter()
                .zip(&self.ue)
                .map(|(s, c)| UeReport {
                    session: s.clone(),
                    counters: c.snapshot(),
                })
                .collect(),
            global: self.global.snapshot(),
        }
    }

    /// Encapsulates the UE packet at `buf[UL_HEADROOM..UL_HEADROOM + ip_len]`
    /// in place; returns where to send `buf[..len]`.
    pub fn uplink(&self, buf: &mut [u8], ip_len: usize) -> Result<(SocketAddrV4, usize), UlDrop> {
        let Some(pkt) = buf.get(UL_HEADROOM..UL_HEADROOM + ip_len) else {
            return Err(UlDrop::TooLong);
        };
        let Some((src, _)) = ip::v4_addrs(pkt) else {
            self.global.ul_not_ipv4.inc();
            return Err(UlDrop::NotIpv4);
        };
        let Some(i) = self.table.by_ue(src) else {
            self.global.ul_no_session.inc();
            return Err(UlDrop::NoSession(src));
        };
        let s = &self.table.sessions()[i];
        gtpu::emit_gpdu_psc(buf, s.ul_teid, PduType::Ul, s.qfi, ip_len)
            .map_err(|_| UlDrop::TooLong)?;
        let c = &self.ue[i];
        c.ul_packets.inc();
        c.ul_bytes.add(ip_len as u64);
        Ok((
            SocketAddrV4::new(s.upf_n3, gtpu::PORT),
            UL_HEADROOM + ip_len,
        ))
    }

    /// Handles one datagram received on the N3 socket.
    pub fn downlink(&self, datagram: &[u8]) -> Downlink {
        let p = match gtpu::Packet::new_checked(datagram) {
            Ok(p) => p,
            Err(e) => {
                self.global.malformed.inc();
                return Downlink::Drop(DlDrop::Malformed(e));
            }
        };
        match p.msg_type() {
            gtpu::msg::G_PDU => self.gpdu(&p),
            gtpu::msg::ECHO_REQUEST => {
                self.global.echo_requests.inc();
                Downlink::Reply(gtpu::echo_response(p.seq().unwrap_or(0)))
            }
            gtpu::msg::ECHO_RESPONSE => {
                self.global.echo_responses.inc();
                Downlink::Consumed(Event::EchoResponse { seq: p.seq() })
            }
            gtpu::msg::END_MARKER => match self.table.by_dl_teid(p.teid()) {
                Some(i) => {
                    self.ue[i].end_markers.inc();
                    Downlink::Consumed(Event::EndMarker { session: i })
                }
                None => {
                    self.global.unknown_teid.inc();
                    Downlink::Drop(DlDrop::UnknownTeid {
                        msg_type: p.msg_type(),
                        teid: p.teid(),
                    })
                }
            },
            gtpu::msg::ERROR_INDICATION => {
                self.global.error_indications.inc();
                // TEID Data I (type 16, TV, 4 octets) comes first (TS 29.281 §7.3.1).
                let teid = match p.payload() {
                    [16, a, b, c, d, ..] => Some(u32::from_be_bytes([*a, *b, *c, *d])),
                    _ => None,
                };
                Downlink::Consumed(Event::ErrorIndication { teid })
            }
            t => {
                self.global.unknown_msg.inc();
                Downlink::Drop(DlDrop::UnknownMsg(t))
            }
        }
    }

    fn gpdu(&self, p: &gtpu::Packet<&[u8]>) -> Downlink {
        let Some(i) = self.table.by_dl_teid(p.teid()) else {
            self.global.unknown_teid.inc();
            return Downlink::Drop(DlDrop::UnknownTeid {
                msg_type: gtpu::msg::G_PDU,
                teid: p.teid(),
            });
        };
        let (s, c) = (&self.table.sessions()[i], &self.ue[i]);
        let inner = p.payload();
        let Some((_, dst)) = ip::v4_addrs(inner) else {
            self.global.dl_not_ipv4.inc();
            return Downlink::Drop(DlDrop::NotIpv4);
        };
        if dst != s.ue_ip {
            self.global.dl_wrong_dst.inc();
            return Downlink::Drop(DlDrop::WrongDst { session: i, dst });
        }
        match p.psc_qfi() {
            None => c.dl_no_psc.inc(),
            Some((PduType::Dl, qfi)) => {
                if qfi != s.qfi {
                    c.dl_qfi_mismatch.inc();
                }
                if p.extensions()
                    .any(|(t, b)| t == gtpu::EXT_PDU_SESSION_CONTAINER && b[1] & 0x40 != 0)
                {
                    c.dl_rqi.inc();
                }
            }
            Some(_) => c.dl_bad_psc_type.inc(),
        }
        c.dl_packets.inc();
        c.dl_bytes.add(inner.len() as u64);
        if p.teid() != s.dl_teid {
            c.dl_packets_alt.inc();
        }
        Downlink::ToTun {
            session: i,
            offset: p.payload_offset(),
            len: inner.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gtpu::{PduSessionContainer, Repr};
    use crate::session::parse_spec;

    fn gnb() -> Gnb {
        let upf = Ipv4Addr::new(192, 168, 1, 1);
        Gnb::new(
            SessionTable::new(vec![
                parse_spec("10.45.0.2,ul_teid=0x100,dl_teid=0x200,qfi=9", upf).unwrap(),
                parse_spec(
                    "10.45.0.3,ul_teid=0x101,dl_teid=0x201,qfi=5,upf=192.168.1.7",
                    upf,
                )
                .unwrap(),
            ])
            .unwrap(),
        )
    }

    fn icmp(src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
        ip::icmp_echo(src.into(), dst.into(), 8, b"hello")
    }

    fn dl(teid: u32, psc: Option<PduSessionContainer>, inner: &[u8]) -> Vec<u8> {
        let repr = Repr {
            msg_type: gtpu::msg::G_PDU,
            teid,
            seq: None,
            npdu: None,
            extensions: psc.into_iter().map(gtpu::Extension::PduSession).collect(),
        };
        let mut b = vec![0; repr.header_len() + inner.len()];
        let h = repr.emit(&mut b, inner.len()).unwrap();
        b[h..].copy_from_slice(inner);
        b
    }

    #[test]
    fn uplink_encapsulates_with_session_teid_and_qfi() {
        let g = gnb();
        let pkt = icmp([10, 45, 0, 3], [10, 200, 0, 254]);
        let mut buf = vec![0u8; UL_HEADROOM + pkt.len()];
        buf[UL_HEADROOM..].copy_from_slice(&pkt);
        let (to, len) = g.uplink(&mut buf, pkt.len()).unwrap();
        assert_eq!(to, "192.168.1.7:2152".parse().unwrap());
        let p = gtpu::Packet::new_checked(&buf[..len]).unwrap();
        assert_eq!((p.msg_type(), p.teid()), (gtpu::msg::G_PDU, 0x101));
        assert_eq!(p.psc_qfi(), Some((PduType::Ul, 5)));
        assert_eq!(p.payload(), &pkt[..]);
        let r = g.report();
        assert_eq!(
            (r.ues[1].counters.ul_packets, r.ues[1].counters.ul_bytes),
            (1, pkt.len() as u64)
        );
        assert_eq!(r.ues[0].counters.ul_packets, 0);
    }

    #[test]
    fn uplink_drops_unknown_source_and_non_ipv4() {
        let g = gnb();
        let pkt = icmp([10, 45, 0, 9], [10, 200, 0, 254]);
        let mut buf = vec![0u8; UL_HEADROOM + pkt.len()];
        buf[UL_HEADROOM..].copy_from_slice(&pkt);
        assert_eq!(
            g.uplink(&mut buf, pkt.len()),
            Err(UlDrop::NoSession(Ipv4Addr::new(10, 45, 0, 9)))
        );
        buf[UL_HEADROOM] = 0x60;
        assert_eq!(g.uplink(&mut buf, pkt.len()), Err(UlDrop::NotIpv4));
        let r = g.report();
        assert_eq!((r.global.ul_no_session, r.global.ul_not_ipv4), (1, 1));
    }

    #[test]
    fn downlink_delivers_and_checks_psc() {
        let g = gnb();
        let inner = icmp([10, 200, 0, 254], [10, 45, 0, 2]);
        let d = dl(0x200, Some(PduSessionContainer::dl(9)), &inner);
        let Downlink::ToTun {
            session: 0,
            offset,
            len,
        } = g.downlink(&d)
        else {
            panic!("not delivered")
        };
        assert_eq!(&d[offset..offset + len], &inner[..]);
        // Wrong QFI, no PSC, UL-type PSC: delivered but counted.
        assert!(matches!(
            g.downlink(&dl(0x200, Some(PduSessionContainer::dl(3)), &inner)),
            Downlink::ToTun { .. }
        ));
        assert!(matches!(
            g.downlink(&dl(0x200, None, &inner)),
            Downlink::ToTun { .. }
        ));
        assert!(matches!(
            g.downlink(&dl(0x200, Some(PduSessionContainer::ul(9)), &inner)),
            Downlink::ToTun { .. }
        ));
        let c = &g.report().ues[0].counters;
        assert_eq!(
            (
                c.dl_packets,
                c.dl_bytes,
                c.dl_qfi_mismatch,
                c.dl_no_psc,
                c.dl_bad_psc_type
            ),
            (4, 4 * inner.len() as u64, 1, 1, 1)
        );
    }

    #[test]
    fn downlink_drops_wrong_teid_and_wrong_ue() {
        let g = gnb();
        let inner = icmp([10, 200, 0, 254], [10, 45, 0, 3]);
        assert_eq!(
            g.downlink(&dl(0x999, Some(PduSessionContainer::dl(9)), &inner)),
            Downlink::Drop(DlDrop::UnknownTeid {
                msg_type: 255,
                teid: 0x999
            })
        );
        // TEID of UE .2 carrying a packet for UE .3.
        assert!(matches!(
            g.downlink(&dl(0x200, Some(PduSessionContainer::dl(9)), &inner)),
            Downlink::Drop(DlDrop::WrongDst { session: 0, .. })
        ));
        assert!(matches!(
            g.downlink(&[0x30, 0xff, 0, 50, 0, 0, 0, 1]),
            Downlink::Drop(DlDrop::Malformed(_))
        ));
        let r = g.report();
        assert_eq!(
            (
                r.global.unknown_teid,
                r.global.dl_wrong_dst,
                r.global.malformed
            ),
            (1, 1, 1)
        );
        assert_eq!(r.ues[0].counters.dl_packets, 0);
    }

    #[test]
    fn echo_end_marker_error_indication() {
        let g = gnb();
        assert_eq!(
            g.downlink(&gtpu::echo_request(77)),
            Downlink::Reply(gtpu::echo_response(77))
        );
        assert_eq!(
            g.downlink(&gtpu::end_marker(0x201)),
            Downlink::Consumed(Event::EndMarker { session: 1 })
        );
        assert!(matches!(
            g.downlink(&gtpu::end_marker(0x777)),
            Downlink::Drop(DlDrop::UnknownTeid { .. })
        ));
        // Error Indication with TEID Data I = 0x201 and a GTP-U peer address IE.
        let mut ei = vec![
            0x32, 26, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 16, 0, 0, 2, 1, 133, 0, 4, 192, 168, 1, 2,
        ];
        ei[3] = u8::try_from(ei.len() - 8).unwrap();
        assert_eq!(
            g.downlink(&ei),
            Downlink::Consumed(Event::ErrorIndication { teid: Some(0x201) })
        );
        let r = g.report();
        assert_eq!(r.ues[1].counters.end_markers, 1);
        assert_eq!(
            (
                r.global.echo_requests,
                r.global.error_indications,
                r.global.unknown_teid
            ),
            (1, 1, 1)
        );
    }

    /// A path switch as the gNB sees it: DL moves to the alternate TEID, the
    /// End Marker arrives on the old one; both count for the same UE.
    #[test]
    fn path_switch_to_alternate_teid() {
        let upf = Ipv4Addr::new(192, 168, 1, 1);
        let g = Gnb::new(
            SessionTable::new(vec![
                parse_spec(
                    "10.45.0.2,ul_teid=0x100,dl_teid=0x200,qfi=9,alt_dl_teid=0x300",
                    upf,
                )
                .unwrap(),
            ])
            .unwrap(),
        );
        let inner = icmp([10, 200, 0, 254], [10, 45, 0, 2]);
        assert!(matches!(
            g.downlink(&dl(0x200, Some(PduSessionContainer::dl(9)), &inner)),
            Downlink::ToTun { .. }
        ));
        assert!(matches!(
            g.downlink(&dl(0x300, Some(PduSessionContainer::dl(9)), &inner)),
            Downlink::ToTun { .. }
        ));
        assert_eq!(
            g.downlink(&gtpu::end_marker(0x200)),
            Downlink::Consumed(Event::EndMarker { session: 0 })
        );
        let c = &g.report().ues[0].counters;
        assert_eq!((c.dl_packets, c.dl_packets_alt, c.end_markers), (2, 1, 1));
    }

    #[test]
    fn report_serializes_flat() {
        let v = serde_json::to_value(gnb().report()).unwrap();
        assert_eq!(v["ues"][0]["ue_ip"], "10.45.0.2");
        assert_eq!(v["ues"][0]["ul_teid"], 0x100);
        assert_eq!(v["ues"][0]["dl_packets"], 0);
        assert_eq!(v["global"]["malformed"], 0);
    }
}
