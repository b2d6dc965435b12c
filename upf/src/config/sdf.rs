//! SDF filters of static-session PDRs, written as IPFilterRule strings
//! (RFC 6733 §4.3.3, as restricted by TS 29.212 §5.4.2 and carried in the
//! PFCP Flow Description IE, TS 29.244 §8.2.5):
//! `permit out 17 from 10.0.0.0/8 1000-2000 to assigned 5060`.
//!
//! Parsed at config load so that a typo is a config error with a position,
//! not a rule that silently never matches.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FilterAction {
    Permit,
    Deny,
}

/// `in` or `out` as written in the rule. TS 29.244 §5.2.1A.2 defines how
/// the UP function applies an `out` rule to uplink traffic (source and
/// destination swapped); that interpretation belongs to the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FilterDirection {
    In,
    Out,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowAddress {
    /// `any`
    Any,
    /// `assigned`: the UE's address (the PDR's UE IP).
    Assigned,
    /// An address or prefix; a bare address is a host prefix.
    Net(IpNet),
}

/// An inclusive port range; a single port has `first == last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FlowEndpoint {
    pub address: FlowAddress,
    /// Empty means any port.
    pub ports: Vec<PortRange>,
}

/// One parsed IPFilterRule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SdfFilter {
    pub action: FilterAction,
    pub direction: FilterDirection,
    /// IP protocol number; `None` for `ip` (any protocol).
    pub protocol: Option<u8>,
    pub source: FlowEndpoint,
    pub destination: FlowEndpoint,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SdfError(String);

fn err(msg: impl Into<String>) -> SdfError {
    SdfError(msg.into())
}

fn protocol_number(tok: &str) -> Result<Option<u8>, SdfError> {
    Ok(Some(match tok.to_ascii_lowercase().as_str() {
        "ip" => return Ok(None),
        "icmp" => 1,
        "tcp" => 6,
        "udp" => 17,
        "gre" => 47,
        "esp" => 50,
        "icmpv6" | "ipv6-icmp" => 58,
        "sctp" => 132,
        other => other.parse::<u8>().map_err(|_| {
            err(format!(
                "protocol `{tok}` is not `ip`, a protocol number 0-255 or one of tcp, udp, icmp, icmpv6, sctp, gre, esp"
            ))
        })?,
    }))
}

fn parse_address(tok: &str) -> Result<FlowAddress, SdfError> {
    if tok.starts_with('!') {
        return Err(err(format!(
            "`{tok}`: negated addresses are not supported (TS 29.212 §5.4.2)"
        )));
    }
    match tok {
        "any" => Ok(FlowAddress::Any),
        "assigned" => Ok(FlowAddress::Assigned),
        _ if tok.contains('/') => tok.parse::<IpNet>().map(FlowAddress::Net).map_err(|_| {
            err(format!(
                "`{tok}` is not an address/prefix-length, `any` or `assigned`"
            ))
        }),
        _ => tok
            .parse::<IpAddr>()
            .map(|a| FlowAddress::Net(IpNet::from(a)))
            .map_err(|_| err(format!("`{tok}` is not an IP address, `any` or `assigned`"))),
    }
}

fn looks_like_ports(tok: &str) -> bool {
    !tok.is_empty()
        && tok
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'-' || b == b',')
}

fn parse_ports(tok: &str) -> Result<Vec<PortRange>, SdfError> {
    tok.split(',')
        .map(|part| {
            let bad = || {
                err(format!(
                    "`{part}` in `{tok}` is not a port or port range (e.g. 80, 1000-2000)"
                ))
            };
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            let first: u16 = a.parse().map_err(|_| bad())?;
            let last: u16 = b.parse().map_err(|_| bad())?;
            if first > last {
                return Err(err(format!("port range `{part}` is reversed")));
            }
            Ok(PortRange { first, last })
        })
        .collect()
}

fn parse_endpoint<'a>(
    tokens: &mut std::iter::Peekable<impl Iterator<Item = &'a str>>,
    what: &str,
) -> Result<FlowEndpoint, SdfError> {
    let addr_tok = tokens.next().ok_or_else(|| {
        err(format!(
            "missing {what} address after `{}`",
            if what == "source" { "from" } else { "to" }
        ))
    })?;
    let address = parse_address(addr_tok)?;
    let ports = match tokens.peek() {
        Some(t) if looks_like_ports(t) => {
            let t = tokens.next().unwrap_or_default();
            parse_ports(t)?
        }
        _ => Vec::new(),
    };
    Ok(FlowEndpoint { address, ports })
}

impl FromStr for SdfFilter {
    type Err = SdfError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut tokens = s.split_whitespace().peekable();
        let action = match tokens.next() {
            Some("permit") => FilterAction::Permit,
            Some("deny") => FilterAction::Deny,
            Some(t) => {
                return Err(err(format!(
                    "rule starts with `{t}`; expected `permit` or `deny`"
                )));
            }
            None => {
                return Err(err(
                    "empty filter; expected e.g. `permit out ip from any to assigned`",
                ));
            }
        };
        let direction = match tokens.next() {
            Some("in") => FilterDirection::In,
            Some("out") => FilterDirection::Out,
            Some(t) => return Err(err(format!("direction `{t}`; expected `in` or `out`"))),
            None => return Err(err("missing direction (`in` or `out`)")),
        };
        let protocol = protocol_number(tokens.next().ok_or_else(|| err("missing protocol"))?)?;
        match tokens.next() {
            Some("from") => {}
            Some(t) => return Err(err(format!("expected `from`, found `{t}`"))),
            None => return Err(err("missing `from`")),
        }
        let source = parse_endpoint(&mut tokens, "source")?;
        match tokens.next() {
            Some("to") => {}
            Some(t) => return Err(err(format!("expected `to` after the source, found `{t}`"))),
            None => return Err(err("missing `to`")),
        }
        let destination = parse_endpoint(&mut tokens, "destination")?;
        if let Some(t) = tokens.next() {
            return Err(err(format!(
                "unexpected `{t}` after the destination; IPFilterRule options are not supported (TS 29.212 §5.4.2)"
            )));
        }
        if let (FlowAddress::Net(a), FlowAddress::Net(b)) = (source.address, destination.address)
            && a.addr().is_ipv4() != b.addr().is_ipv4()
        {
            return Err(err("source and destination are of different IP versions"));
        }
        Ok(Self {
            action,
            direction,
            protocol,
            source,
            destination,
        })
    }
}

impl fmt::Display for FlowAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("any"),
            Self::Assigned => f.write_str("assigned"),
            Self::Net(n) if n.prefix_len() == n.max_prefix_len() => write!(f, "{}", n.addr()),
            Self::Net(n) => write!(f, "{n}"),
        }
    }
}

impl fmt::Display for FlowEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.address)?;
        for (i, p) in self.ports.iter().enumerate() {
            f.write_str(if i == 0 { " " } else { "," })?;
            if p.first == p.last {
                write!(f, "{}", p.first)?;
            } else {
                write!(f, "{}-{}", p.first, p.last)?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for SdfFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let action = match self.action {
            FilterAction::Permit => "permit",
            FilterAction::Deny => "deny",
        };
        let dir = match self.direction {
            FilterDirection::In => "in",
            FilterDirection::Out => "out",
        };
        write!(f, "{action} {dir} ")?;
        match self.protocol {
            None => f.write_str("ip")?,
            Some(p) => write!(f, "{p}")?,
        }
        write!(f, " from {} to {}", self.source, self.destination)
    }
}

impl<'de> serde::Deserialize<'de> for SdfFilter {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for SdfFilter {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_the_common_forms() {
        let f: SdfFilter = "permit out ip from any to assigned".parse().unwrap();
        assert_eq!(f.protocol, None);
        assert_eq!(f.source.address, FlowAddress::Any);
        assert_eq!(f.destination.address, FlowAddress::Assigned);

        let f: SdfFilter = "permit out 17 from 10.0.0.0/8 1000-2000,3000 to assigned 5060"
            .parse()
            .unwrap();
        assert_eq!(f.protocol, Some(17));
        assert_eq!(
            f.source.address,
            FlowAddress::Net("10.0.0.0/8".parse().unwrap())
        );
        assert_eq!(
            f.source.ports,
            vec![
                PortRange {
                    first: 1000,
                    last: 2000
                },
                PortRange {
                    first: 3000,
                    last: 3000
                }
            ]
        );
        assert_eq!(
            f.destination.ports,
            vec![PortRange {
                first: 5060,
                last: 5060
            }]
        );

        let f: SdfFilter = "deny in tcp from 2001:db8::/32 to 2001:db8::1 443"
            .parse()
            .unwrap();
        assert_eq!(f.protocol, Some(6));
        assert_eq!(
            f.to_string(),
            "deny in 6 from 2001:db8::/32 to 2001:db8::1 443"
        );
    }

    #[test]
    fn rejects_what_it_cannot_honour() {
        let cases = [
            ("", "empty"),
            ("allow out ip from any to any", "`permit` or `deny`"),
            ("permit up ip from any to any", "direction"),
            ("permit out foo from any to any", "protocol `foo`"),
            ("permit out ip any to any", "expected `from`"),
            ("permit out ip from any", "missing `to`"),
            ("permit out ip from any to", "missing destination"),
            ("permit out ip from !10.0.0.1 to any", "negated"),
            ("permit out ip from 10.0.0.300 to any", "not an IP address"),
            ("permit out ip from 10.0.0.0/33 to any", "prefix-length"),
            ("permit out ip from any 2000-1000 to any", "reversed"),
            ("permit out ip from any 70000 to any", "not a port"),
            (
                "permit out tcp from any to any established",
                "options are not supported",
            ),
            (
                "permit out ip from 10.0.0.1 to ::1",
                "different IP versions",
            ),
        ];
        for (text, want) in cases {
            let e = text.parse::<SdfFilter>().unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e:?} lacks {want:?}");
        }
    }

    fn arb_net() -> impl Strategy<Value = IpNet> {
        prop_oneof![
            (any::<[u8; 4]>(), 0u8..=32).prop_map(|(a, l)| IpNet::new(IpAddr::from(a), l).unwrap()),
            (any::<[u8; 16]>(), 0u8..=128)
                .prop_map(|(a, l)| IpNet::new(IpAddr::from(a), l).unwrap()),
        ]
    }

    fn arb_endpoint(v4: bool) -> impl Strategy<Value = FlowEndpoint> {
        let addr = prop_oneof![
            Just(FlowAddress::Any),
            Just(FlowAddress::Assigned),
            arb_net().prop_filter_map("family", move |n| (n.addr().is_ipv4() == v4)
                .then_some(FlowAddress::Net(n))),
        ];
        let ports = prop::collection::vec(
            (any::<u16>(), any::<u16>()).prop_map(|(a, b)| PortRange {
                first: a.min(b),
                last: a.max(b),
            }),
            0..4,
        );
        (addr, ports).prop_map(|(address, ports)| FlowEndpoint { address, ports })
    }

    fn arb_filter() -> impl Strategy<Value = SdfFilter> {
        (
            any::<bool>(),
            any::<bool>(),
            any::<Option<u8>>(),
            any::<bool>(),
        )
            .prop_flat_map(|(p, o, protocol, v4)| {
                (arb_endpoint(v4), arb_endpoint(v4)).prop_map(move |(source, destination)| {
                    SdfFilter {
                        action: if p {
                            FilterAction::Permit
                        } else {
                            FilterAction::Deny
                        },
                        direction: if o {
                            FilterDirection::Out
                        } else {
                            FilterDirection::In
                        },
                        protocol,
                        source,
                        destination,
                    }
                })
            })
    }

    proptest! {
        #[test]
        fn parse_emit_roundtrip(f in arb_filter()) {
            prop_assert_eq!(f.to_string().parse::<SdfFilter>().unwrap(), f);
        }

        #[test]
        fn any_text_is_ok_or_err(s in "\\PC{0,80}") {
            let _ = s.parse::<SdfFilter>();
        }

        #[test]
        fn rule_shaped_text_is_ok_or_err(
            s in "(permit|deny) (in|out) (ip|tcp|[0-9]{1,4}) from [0-9a-f.:/!]{0,20} [0-9,-]{0,12} to [0-9a-z.:/]{0,20} [0-9,-]{0,12}"
        ) {
            let _ = s.parse::<SdfFilter>();
        }
    }
}
