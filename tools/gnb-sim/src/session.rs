//! The PDU sessions the simulator serves, from `--ue` arguments or from the
//! JSON session file that the SMF simulator writes. Each maps a UE IPv4
//! address to its N3 tunnel: UL TEID at the UPF, DL TEID at this gNB, QFI.
//!
//! JSON session file (the interchange format with `smf-sim`):
//!
//! ```json
//! { "sessions": [
//!     { "ue_ip": "10.45.0.2", "upf_n3": "192.168.1.1",
//!       "ul_teid": 4096, "dl_teid": "0x200", "qfi": 9 }
//! ] }
//! ```
//!
//! - `ue_ip`: the UE's IPv4 address (UPF-allocated with PFCP CHOOSE).
//! - `upf_n3`: the UPF's N3 IPv4 address from its F-TEID; optional, defaults
//!   to `--upf`.
//! - `ul_teid`: the UPF's F-TEID (UL G-PDUs carry it); `dl_teid`: the gNB's
//!   TEID (DL G-PDUs carry it). Number or `"0x…"` string, 1..=0xffffffff.
//! - `qfi`: 0..=63, sent in the UL PDU Session Container.
//! - `alt_dl_teids`: optional list of further gNB TEIDs accepted for this UE
//!   (a path switch: the SMF moves DL to one of them while the UPF sends the
//!   End Marker on the old one). DL on them is counted in `dl_packets_alt`.
//! - `id`, `seid`: optional, informational (numbers or hex strings), shown in
//!   stats. Any other field is an error, so typos do not pass silently.

use std::collections::HashMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    pub ue_ip: Ipv4Addr,
    pub upf_n3: Ipv4Addr,
    pub ul_teid: u32,
    pub dl_teid: u32,
    pub qfi: u8,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alt_dl_teids: Vec<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seid: Option<u64>,
}

impl fmt::Display for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ue {} ul_teid {:#x} @ {} dl_teid {:#x} qfi {}",
            self.ue_ip, self.ul_teid, self.upf_n3, self.dl_teid, self.qfi
        )
    }
}

#[derive(Debug, Error)]
pub enum Error {
    #[error("--ue {spec:?}: {reason}")]
    Spec { spec: String, reason: String },
    #[error("session file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// serde_json's message carries line and column.
    #[error("session file {path}: {source}")]
    Json {
        path: String,
        source: serde_json::Error,
    },
    #[error("session {index} ({ue_ip}): {reason}")]
    Invalid {
        index: usize,
        ue_ip: Ipv4Addr,
        reason: String,
    },
    #[error("no sessions: give --ue or --sessions")]
    Empty,
}

/// A TEID or SEID in JSON: a number, or a string in decimal or `0x` hex.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(untagged)]
enum Num {
    N(u64),
    S(#[serde(deserialize_with = "de_num_str")] u64),
}

fn parse_num(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let r = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(h, 16)
    } else {
        s.parse()
    };
    r.map_err(|e| format!("{s:?} is not a number: {e}"))
}

fn de_num_str<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let s = String::deserialize(d)?;
    parse_num(&s).map_err(serde::de::Error::custom)
}

fn teid(v: u64) -> Result<u32, String> {
    match u32::try_from(v) {
        Ok(0) => Err("TEID 0 is reserved (TS 29.281 §5.1)".into()),
        Ok(t) => Ok(t),
        Err(_) => Err(format!("TEID {v:#x} does not fit 32 bits")),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSession {
    ue_ip: Ipv4Addr,
    #[serde(default)]
    upf_n3: Option<Ipv4Addr>,
    ul_teid: Num,
    dl_teid: Num,
    qfi: u8,
    #[serde(default)]
    alt_dl_teids: Vec<Num>,
    #[serde(default)]
    id: Option<Num>,
    #[serde(default)]
    seid: Option<Num>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionFile {
    sessions: Vec<FileSession>,
}

fn num(n: Num) -> u64 {
    match n {
        Num::N(v) | Num::S(v) => v,
    }
}

/// Parses the JSON session file format (see the module doc).
pub fn parse_file_str(
    text: &str,
    path: &str,
    default_upf: Ipv4Addr,
) -> Result<Vec<Session>, Error> {
    let f: SessionFile = serde_json::from_str(text).map_err(|source| Error::Json {
        path: path.to_owned(),
        source,
    })?;
    f.sessions
        .into_iter()
        .enumerate()
        .map(|(index, s)| {
            let bad = |reason: String| Error::Invalid {
                index,
                ue_ip: s.ue_ip,
                reason,
            };
            Ok(Session {
                ue_ip: s.ue_ip,
                upf_n3: s.upf_n3.unwrap_or(default_upf),
                ul_teid: teid(num(s.ul_teid)).map_err(|r| bad(format!("ul_teid: {r}")))?,
                dl_teid: teid(num(s.dl_teid)).map_err(|r| bad(format!("dl_teid: {r}")))?,
                qfi: s.qfi,
                alt_dl_teids: s
                    .alt_dl_teids
                    .iter()
                    .map(|t| teid(num(*t)).map_err(|r| bad(format!("alt_dl_teids: {r}"))))
                    .collect::<Result<_, _>>()?,
                id: s.id.map(num),
                seid: s.seid.map(num),
            })
        })
        .collect()
}

pub fn load_file(path: &Path, default_upf: Ipv4Addr) -> Result<Vec<Session>, Error> {
    let p = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: p.clone(),
        source,
    })?;
    parse_file_str(&text, &p, default_upf)
}

/// Parses `--ue 10.45.0.2,ul_teid=0x100,dl_teid=0x200,qfi=9[,upf=192.168.1.1]`
/// `[,alt_dl_teid=0x300]...[,id=N]`.
pub fn parse_spec(spec: &str, default_upf: Ipv4Addr) -> Result<Session, Error> {
    let err = |reason: String| Error::Spec {
        spec: spec.to_owned(),
        reason,
    };
    let mut parts = spec.split(',');
    let ue = parts.next().unwrap_or_default();
    let ue_ip =
        Ipv4Addr::from_str(ue.trim()).map_err(|e| err(format!("UE address {ue:?}: {e}")))?;
    let (mut ul, mut dl, mut qfi, mut upf, mut id) = (None, None, None, None, None);
    let mut alt = Vec::new();
    for kv in parts {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| err(format!("{kv:?} is not key=value")))?;
        match k.trim() {
            "ul_teid" => ul = Some(teid(parse_num(v).map_err(&err)?).map_err(&err)?),
            "dl_teid" => dl = Some(teid(parse_num(v).map_err(&err)?).map_err(&err)?),
            "qfi" => {
                qfi = Some(
                    u8::try_from(parse_num(v).map_err(&err)?)
                        .map_err(|_| err(format!("qfi {v} > 63")))?,
                );
            }
            "upf" => {
                upf =
                    Some(Ipv4Addr::from_str(v.trim()).map_err(|e| err(format!("upf {v:?}: {e}")))?);
            }
            "alt_dl_teid" => alt.push(teid(parse_num(v).map_err(&err)?).map_err(&err)?),
            "id" => id = Some(parse_num(v).map_err(&err)?),
            other => {
                return Err(err(format!(
                    "unknown key {other:?} (ul_teid, dl_teid, qfi, upf, alt_dl_teid, id)"
                )));
            }
        }
    }
    Ok(Session {
        ue_ip,
        upf_n3: upf.unwrap_or(default_upf),
        ul_teid: ul.ok_or_else(|| err("ul_teid missing".into()))?,
        dl_teid: dl.ok_or_else(|| err("dl_teid missing".into()))?,
        qfi: qfi.ok_or_else(|| err("qfi missing".into()))?,
        alt_dl_teids: alt,
        id,
        seid: None,
    })
}

/// The validated set of sessions, indexed both ways.
#[derive(Debug)]
pub struct SessionTable {
    sessions: Vec<Session>,
    by_ue: HashMap<Ipv4Addr, usize>,
    by_dl_teid: HashMap<u32, usize>,
}

impl SessionTable {
    pub fn new(sessions: Vec<Session>) -> Result<Self, Error> {
        if sessions.is_empty() {
            return Err(Error::Empty);
        }
        let mut by_ue = HashMap::new();
        let mut by_dl_teid = HashMap::new();
        let mut ul = HashMap::new();
        for (index, s) in sessions.iter().enumerate() {
            let bad = |reason: String| {
                Err(Error::Invalid {
                    index,
                    ue_ip: s.ue_ip,
                    reason,
                })
            };
            if s.qfi > 63 {
                return bad(format!("qfi {} > 63", s.qfi));
            }
            if let Some(o) = by_ue.insert(s.ue_ip, index) {
                return bad(format!("UE address also used by session {o}"));
            }
            for &t in std::iter::once(&s.dl_teid).chain(&s.alt_dl_teids) {
                if let Some(o) = by_dl_teid.insert(t, index) {
                    return bad(format!("dl_teid {t:#x} also used by session {o}"));
                }
            }
            if let Some(o) = ul.insert((s.upf_n3, s.ul_teid), index) {
                return bad(format!(
                    "ul_teid {:#x} at {} also used by session {o}",
                    s.ul_teid, s.upf_n3
                ));
            }
        }
        Ok(Self {
            sessions,
            by_ue,
            by_dl_teid,
        })
    }

    #[must_use]
    pub fn sessions(&self) -> &[Session] {
        &self.sessions
    }
    #[must_use]
    pub fn by_ue(&self, ip: Ipv4Addr) -> Option<usize> {
        self.by_ue.get(&ip).copied()
    }
    #[must_use]
    pub fn by_dl_teid(&self, teid: u32) -> Option<usize> {
        self.by_dl_teid.get(&teid).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPF: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);

    #[test]
    fn spec_parses_hex_and_decimal() {
        let s = parse_spec("10.45.0.2,ul_teid=0x100,dl_teid=512,qfi=9", UPF).unwrap();
        assert_eq!(
            (s.ue_ip, s.ul_teid, s.dl_teid, s.qfi, s.upf_n3),
            ("10.45.0.2".parse().unwrap(), 0x100, 0x200, 9, UPF)
        );
        let s = parse_spec("10.45.0.3,ul_teid=1,dl_teid=2,qfi=1,upf=192.168.1.9", UPF).unwrap();
        assert_eq!(s.upf_n3, Ipv4Addr::new(192, 168, 1, 9));
        let s = parse_spec(
            "10.45.0.3,ul_teid=1,dl_teid=2,qfi=1,alt_dl_teid=0x30,alt_dl_teid=4",
            UPF,
        )
        .unwrap();
        assert_eq!(s.alt_dl_teids, vec![0x30, 4]);
    }

    #[test]
    fn spec_errors_are_clear() {
        let e = parse_spec("10.45.0.2,ul_teid=0x100,qfi=9", UPF)
            .unwrap_err()
            .to_string();
        assert!(e.contains("dl_teid missing"), "{e}");
        let e = parse_spec("10.45.0.2,ul_teid=0,dl_teid=1,qfi=9", UPF)
            .unwrap_err()
            .to_string();
        assert!(e.contains("reserved"), "{e}");
        let e = parse_spec("10.45.0.2,ul_teid=1,dl_teid=1,qfi=9,colour=red", UPF)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown key"), "{e}");
        let e = parse_spec("10.45.0.256,ul_teid=1,dl_teid=1,qfi=9", UPF)
            .unwrap_err()
            .to_string();
        assert!(e.contains("UE address"), "{e}");
        let e = parse_spec("10.45.0.2,ul_teid=0x1ffffffff,dl_teid=1,qfi=9", UPF)
            .unwrap_err()
            .to_string();
        assert!(e.contains("32 bits"), "{e}");
    }

    #[test]
    fn file_format() {
        let text = r#"{ "sessions": [
            { "ue_ip": "10.45.0.2", "upf_n3": "192.168.1.1", "ul_teid": 4096, "dl_teid": "0x200", "qfi": 9, "seid": "0x10" },
            { "ue_ip": "10.45.0.3", "ul_teid": "0x1001", "dl_teid": 513, "qfi": 5, "id": 2, "alt_dl_teids": ["0x300", 769] }
        ] }"#;
        let s = parse_file_str(text, "t.json", Ipv4Addr::new(1, 2, 3, 4)).unwrap();
        assert_eq!(s[0].ul_teid, 4096);
        assert_eq!(s[0].dl_teid, 0x200);
        assert_eq!(s[0].seid, Some(0x10));
        assert_eq!(s[1].upf_n3, Ipv4Addr::new(1, 2, 3, 4));
        assert_eq!(s[1].id, Some(2));
        assert_eq!(s[1].alt_dl_teids, vec![0x300, 769]);
        let t = SessionTable::new(s).unwrap();
        assert_eq!(t.by_dl_teid(0x301), Some(1));
        assert_eq!(t.by_dl_teid(0x200), Some(0));
    }

    #[test]
    fn file_errors_name_position_and_field() {
        let e = parse_file_str(
            "{ \"sessions\": [ { \"ue_ip\": \"10.45.0.2\", \"qif\": 9 } ] }",
            "s.json",
            UPF,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("s.json") && e.contains("qif") && e.contains("line 1 column"),
            "{e}"
        );
        let e = parse_file_str(
            r#"{"sessions":[{"ue_ip":"10.45.0.2","ul_teid":"zz","dl_teid":1,"qfi":1}]}"#,
            "s.json",
            UPF,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("s.json"), "{e}");
    }

    #[test]
    fn table_rejects_duplicates_and_bad_qfi() {
        let a = parse_spec("10.45.0.2,ul_teid=1,dl_teid=2,qfi=9", UPF).unwrap();
        let mut b = parse_spec("10.45.0.3,ul_teid=3,dl_teid=2,qfi=9", UPF).unwrap();
        assert!(
            SessionTable::new(vec![a.clone(), b.clone()])
                .unwrap_err()
                .to_string()
                .contains("dl_teid 0x2")
        );
        b.dl_teid = 4;
        b.alt_dl_teids = vec![2];
        assert!(
            SessionTable::new(vec![a.clone(), b.clone()])
                .unwrap_err()
                .to_string()
                .contains("dl_teid 0x2")
        );
        b.alt_dl_teids = vec![5];
        b.ue_ip = a.ue_ip;
        assert!(
            SessionTable::new(vec![a.clone(), b.clone()])
                .unwrap_err()
                .to_string()
                .contains("UE address")
        );
        b.ue_ip = "10.45.0.3".parse().unwrap();
        b.ul_teid = 1;
        assert!(
            SessionTable::new(vec![a.clone(), b.clone()])
                .unwrap_err()
                .to_string()
                .contains("ul_teid")
        );
        b.ul_teid = 3;
        b.qfi = 64;
        assert!(
            SessionTable::new(vec![a.clone(), b.clone()])
                .unwrap_err()
                .to_string()
                .contains("qfi")
        );
        b.qfi = 63;
        let t = SessionTable::new(vec![a, b]).unwrap();
        assert_eq!(t.by_dl_teid(4), Some(1));
        assert_eq!(t.by_ue("10.45.0.2".parse().unwrap()), Some(0));
        assert!(SessionTable::new(vec![]).is_err());
    }
}
