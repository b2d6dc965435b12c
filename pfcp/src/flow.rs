//! SDF filter flow descriptions: the IPFilterRule text of TS 29.212 §5.4.2
//! (RFC 6733 §4.3 syntax), parsed once when a rule is installed so that the
//! user plane gets addresses, prefixes and port ranges instead of text.
//!
//! `action dir proto from src [ports] to dst [ports] [options]`, e.g.
//! `permit out 17 from 10.1.0.0/16 5000-5100 to assigned`.

use std::net::IpAddr;

/// permit / deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowAction {
    Permit,
    Deny,
}

/// `out`: from the network to the UE (downlink); `in`: from the UE.
/// TS 29.244 §5.2.1A.2A: a filter with `out` also matches the uplink with
/// source and destination swapped, which [`FlowDescription::ue_side`] and
/// [`FlowDescription::remote_side`] express directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowDirection {
    In,
    Out,
}

/// An address match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowAddress {
    /// `any`
    Any,
    /// `assigned`: the UE's own address.
    Assigned,
    /// An address with a prefix length (a host is /32 or /128).
    Prefix(IpAddr, u8),
}

impl FlowAddress {
    /// Whether `ip` matches, given the UE's address for `assigned`.
    #[must_use]
    pub fn matches(&self, ip: IpAddr, ue: Option<IpAddr>) -> bool {
        match *self {
            FlowAddress::Any => true,
            FlowAddress::Assigned => ue.is_none_or(|u| u == ip),
            FlowAddress::Prefix(net, len) => prefix_match(net, len, ip),
        }
    }
}

fn prefix_match(net: IpAddr, len: u8, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

/// One side of a flow: address and port ranges (empty: any port).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FlowEndpoint {
    pub address: FlowAddress,
    /// Inclusive port ranges.
    pub ports: Vec<(u16, u16)>,
}

impl FlowEndpoint {
    /// Whether the port matches (any port when no range is given).
    #[must_use]
    pub fn port_matches(&self, port: u16) -> bool {
        self.ports.is_empty() || self.ports.iter().any(|&(lo, hi)| lo <= port && port <= hi)
    }
}

/// A parsed IPFilterRule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FlowDescription {
    pub action: FlowAction,
    pub direction: FlowDirection,
    /// IP protocol number; `None` for `ip` (any).
    pub protocol: Option<u8>,
    pub source: FlowEndpoint,
    pub destination: FlowEndpoint,
    /// Options after the destination (`frag`, `established`, ...), which the
    /// user plane may not support; empty in what SMFs send.
    pub options: Vec<String>,
    /// The original text.
    pub text: String,
}

impl FlowDescription {
    /// The endpoint on the UE's side (the destination of an `out` rule).
    #[must_use]
    pub fn ue_side(&self) -> &FlowEndpoint {
        match self.direction {
            FlowDirection::Out => &self.destination,
            FlowDirection::In => &self.source,
        }
    }
    /// The endpoint on the network's side.
    #[must_use]
    pub fn remote_side(&self) -> &FlowEndpoint {
        match self.direction {
            FlowDirection::Out => &self.source,
            FlowDirection::In => &self.destination,
        }
    }
}

/// Why a flow description was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("flow description {text:?}: {reason}")]
pub struct FlowError {
    pub text: String,
    pub reason: &'static str,
}

impl std::str::FromStr for FlowDescription {
    type Err = FlowError;

    fn from_str(text: &str) -> Result<Self, FlowError> {
        let err = |reason| FlowError {
            text: text.to_string(),
            reason,
        };
        let mut toks = text.split_ascii_whitespace().peekable();
        let action = match toks.next() {
            Some("permit") => FlowAction::Permit,
            Some("deny") => FlowAction::Deny,
            _ => return Err(err("expected permit or deny")),
        };
        let direction = match toks.next() {
            Some("out") => FlowDirection::Out,
            Some("in") => FlowDirection::In,
            _ => return Err(err("expected in or out")),
        };
        let protocol = match toks.next() {
            Some("ip") => None,
            Some(p) => Some(protocol_number(p).ok_or_else(|| err("unknown protocol"))?),
            None => return Err(err("missing protocol")),
        };
        if toks.next() != Some("from") {
            return Err(err("expected from"));
        }
        let source = endpoint(&mut toks, "to").map_err(err)?;
        if toks.next() != Some("to") {
            return Err(err("expected to"));
        }
        let destination = endpoint(&mut toks, "").map_err(err)?;
        let options = toks.map(str::to_string).collect();
        Ok(Self {
            action,
            direction,
            protocol,
            source,
            destination,
            options,
            text: text.to_string(),
        })
    }
}

fn protocol_number(p: &str) -> Option<u8> {
    match p {
        "icmp" => Some(1),
        "tcp" => Some(6),
        "udp" => Some(17),
        "gre" => Some(47),
        "esp" => Some(50),
        "icmpv6" | "ipv6-icmp" => Some(58),
        "sctp" => Some(132),
        n => n.parse().ok(),
    }
}

fn endpoint<'t>(
    toks: &mut std::iter::Peekable<impl Iterator<Item = &'t str>>,
    stop: &str,
) -> Result<FlowEndpoint, &'static str> {
    let a = toks.next().ok_or("missing address")?;
    let address = match a {
        "any" => FlowAddress::Any,
        "assigned" => FlowAddress::Assigned,
        a if a.starts_with('!') => return Err("negated addresses are not supported"),
        a => parse_prefix(a).ok_or("invalid address")?,
    };
    let mut ports = Vec::new();
    if let Some(&t) = toks.peek()
        && t != stop
        && t.starts_with(|c: char| c.is_ascii_digit())
    {
        toks.next();
        for range in t.split(',') {
            let (lo, hi) = match range.split_once('-') {
                Some((lo, hi)) => (lo, hi),
                None => (range, range),
            };
            let lo: u16 = lo.parse().map_err(|_| "invalid port")?;
            let hi: u16 = hi.parse().map_err(|_| "invalid port")?;
            if lo > hi {
                return Err("port range reversed");
            }
            ports.push((lo, hi));
        }
    }
    Ok(FlowEndpoint { address, ports })
}

fn parse_prefix(s: &str) -> Option<FlowAddress> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let ip: IpAddr = addr.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => max,
        Some(l) => match l.parse::<u8>() {
            Ok(n) => n,
            // A dotted IPv4 mask (contiguous).
            Err(_) => {
                let m: std::net::Ipv4Addr = l.parse().ok()?;
                let m = u32::from(m);
                if m.leading_ones() + m.trailing_zeros() != 32 {
                    return None;
                }
                #[allow(clippy::cast_possible_truncation)]
                {
                    m.leading_ones() as u8
                }
            }
        },
    };
    (len <= max).then_some(FlowAddress::Prefix(ip, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> FlowDescription {
        s.parse().unwrap()
    }

    #[test]
    fn typical_filters() {
        let f = p("permit out ip from any to assigned");
        assert_eq!(f.protocol, None);
        assert_eq!(f.source.address, FlowAddress::Any);
        assert_eq!(f.ue_side().address, FlowAddress::Assigned);
        let f = p("permit out 17 from 10.1.0.0/16 5000-5100 to assigned");
        assert_eq!(f.protocol, Some(17));
        assert_eq!(
            f.remote_side().address,
            FlowAddress::Prefix("10.1.0.0".parse().unwrap(), 16)
        );
        assert_eq!(f.remote_side().ports, [(5000, 5100)]);
        assert!(f.remote_side().port_matches(5050));
        assert!(!f.remote_side().port_matches(80));
        let f = p("permit in tcp from assigned 1024-65535 to 2001:db8::/32 80,443");
        assert_eq!(f.direction, FlowDirection::In);
        assert_eq!(f.ue_side().ports, [(1024, 65535)]);
        assert_eq!(f.remote_side().ports, [(80, 80), (443, 443)]);
        let f = p("permit out ip from 192.168.0.0/255.255.0.0 to 10.45.0.2");
        assert_eq!(
            f.source.address,
            FlowAddress::Prefix("192.168.0.0".parse().unwrap(), 16)
        );
        assert_eq!(
            f.destination.address,
            FlowAddress::Prefix("10.45.0.2".parse().unwrap(), 32)
        );
        assert!(p("permit out ip from any to any frag").options == ["frag"]);
    }

    #[test]
    fn matching() {
        let a = FlowAddress::Prefix("10.1.0.0".parse().unwrap(), 16);
        assert!(a.matches("10.1.200.3".parse().unwrap(), None));
        assert!(!a.matches("10.2.0.1".parse().unwrap(), None));
        assert!(!a.matches("::1".parse().unwrap(), None));
        assert!(
            FlowAddress::Prefix("0.0.0.0".parse().unwrap(), 0)
                .matches("1.2.3.4".parse().unwrap(), None)
        );
        let ue = Some("10.45.0.2".parse().unwrap());
        assert!(FlowAddress::Assigned.matches("10.45.0.2".parse().unwrap(), ue));
        assert!(!FlowAddress::Assigned.matches("10.45.0.3".parse().unwrap(), ue));
    }

    #[test]
    fn refusals() {
        for bad in [
            "",
            "allow out ip from any to any",
            "permit sideways ip from any to any",
            "permit out bogus from any to any",
            "permit out ip to any",
            "permit out ip from any",
            "permit out ip from !10.0.0.0/8 to any",
            "permit out ip from 10.0.0.0/33 to any",
            "permit out ip from any 90-80 to any",
            "permit out ip from any 70000 to any",
            "permit out ip from 10.0.0.0/255.0.255.0 to any",
        ] {
            assert!(bad.parse::<FlowDescription>().is_err(), "{bad:?}");
        }
    }
}
