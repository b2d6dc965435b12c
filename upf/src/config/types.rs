//! Network-flavoured value types of the config: the PFCP Node ID (IP or
//! FQDN), listen addresses with a default port, "one value or a list"
//! address fields, and peer prefixes. Each parses from what an operator
//! writes and prints back in a form that parses to the same value.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use ipnet::IpNet;
use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The PFCP Node ID (TS 29.244 §8.2.38): an IPv4 or IPv6 address or an FQDN.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NodeId {
    Ip(IpAddr),
    Fqdn(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(pub(crate) String);

/// Checks an FQDN per RFC 1035 §2.3.1 (letters, digits, hyphens; labels of
/// 1-63 octets; 253 octets in all); a trailing dot is accepted.
fn check_fqdn(s: &str) -> Result<(), String> {
    let name = s.strip_suffix('.').unwrap_or(s);
    if name.is_empty() || name.len() > 253 {
        return Err(format!(
            "`{s}` is not an FQDN: it must be 1 to 253 characters"
        ));
    }
    for label in name.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(format!(
                "`{s}` is not an FQDN: label `{label}` must be 1-63 letters, digits or inner hyphens"
            ));
        }
    }
    // All-numeric dotted text is a mistyped IPv4 address, not a host name.
    if name.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(format!("`{s}` is not a valid IPv4 address"));
    }
    Ok(())
}

impl FromStr for NodeId {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(Self::Ip(ip));
        }
        if s.contains(':') {
            return Err(ValueError(format!("`{s}` is not a valid IPv6 address")));
        }
        check_fqdn(s).map_err(ValueError)?;
        Ok(Self::Fqdn(s.to_owned()))
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip(ip) => write!(f, "{ip}"),
            Self::Fqdn(n) => f.write_str(n),
        }
    }
}

/// A listen address: `ip:port`, `[v6]:port`, or a bare IP that takes the
/// default port of its section (filled in at validation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenSpec {
    pub ip: IpAddr,
    pub port: Option<u16>,
}

impl ListenSpec {
    #[must_use]
    pub const fn new(ip: IpAddr, port: u16) -> Self {
        Self {
            ip,
            port: Some(port),
        }
    }

    #[must_use]
    pub fn socket_addr(&self, default_port: u16) -> SocketAddr {
        SocketAddr::new(self.ip, self.port.unwrap_or(default_port))
    }
}

impl FromStr for ListenSpec {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(sa) = s.parse::<SocketAddr>() {
            return Ok(Self {
                ip: sa.ip(),
                port: Some(sa.port()),
            });
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(Self { ip, port: None });
        }
        Err(ValueError(format!(
            "`{s}` is not a listen address; expected IP:PORT (e.g. 127.0.0.1:9100, [::1]:8805) or an IP"
        )))
    }
}

impl fmt::Display for ListenSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(p) => write!(f, "{}", SocketAddr::new(self.ip, p)),
            None => write!(f, "{}", self.ip),
        }
    }
}

/// An address or prefix: `10.0.0.5` (a host) or `10.0.0.0/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostOrNet(pub IpNet);

impl FromStr for HostOrNet {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parsed = if s.contains('/') {
            s.parse::<IpNet>().ok()
        } else {
            s.parse::<IpAddr>().ok().map(IpNet::from)
        };
        parsed.map(Self).ok_or_else(|| {
            ValueError(format!(
                "`{s}` is not an IP address or address/prefix-length"
            ))
        })
    }
}

impl fmt::Display for HostOrNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.prefix_len() == self.0.max_prefix_len() {
            write!(f, "{}", self.0.addr())
        } else {
            write!(f, "{}", self.0)
        }
    }
}

macro_rules! serde_str {
    ($ty:ty, $expecting:literal) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$ty, E> {
                        v.parse().map_err(E::custom)
                    }
                }
                d.deserialize_str(V)
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    };
}

serde_str!(NodeId, "an IPv4 address, an IPv6 address or an FQDN");
serde_str!(ListenSpec, "a listen address IP:PORT");
serde_str!(HostOrNet, "an IP address or address/prefix-length");

/// A field that takes one value or a list (`address: 10.0.0.1/24` or
/// `address: [10.0.0.1/24, "2001:db8::1/64"]`). Prints a single value as a
/// scalar.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OneOrMany<T>(pub Vec<T>);

impl<'de, T> Deserialize<'de> for OneOrMany<T>
where
    T: FromStr,
    T::Err: fmt::Display,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T> Visitor<'de> for V<T>
        where
            T: FromStr,
            T::Err: fmt::Display,
        {
            type Value = OneOrMany<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an address or a list of addresses")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                v.parse().map(|x| OneOrMany(vec![x])).map_err(E::custom)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    out.push(s.parse().map_err(de::Error::custom)?);
                }
                Ok(OneOrMany(out))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

impl<T: fmt::Display> Serialize for OneOrMany<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if let [one] = self.0.as_slice() {
            s.collect_str(one)
        } else {
            s.collect_seq(self.0.iter().map(ToString::to_string))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn node_ids() {
        assert_eq!(
            "192.168.1.1".parse::<NodeId>().unwrap(),
            NodeId::Ip("192.168.1.1".parse().unwrap())
        );
        assert_eq!(
            "2001:db8::1".parse::<NodeId>().unwrap(),
            NodeId::Ip("2001:db8::1".parse().unwrap())
        );
        assert_eq!(
            "upf1.example.org".parse::<NodeId>().unwrap(),
            NodeId::Fqdn("upf1.example.org".into())
        );
        assert!(
            "192.168.1.300"
                .parse::<NodeId>()
                .unwrap_err()
                .to_string()
                .contains("IPv4")
        );
        assert!(
            "2001:db8::zz"
                .parse::<NodeId>()
                .unwrap_err()
                .to_string()
                .contains("IPv6")
        );
        assert!("bad_name.org".parse::<NodeId>().is_err());
        assert!("-a.org".parse::<NodeId>().is_err());
        assert!("".parse::<NodeId>().is_err());
    }

    #[test]
    fn listen_specs() {
        let l: ListenSpec = "127.0.0.1:9100".parse().unwrap();
        assert_eq!(l.socket_addr(1), "127.0.0.1:9100".parse().unwrap());
        let l: ListenSpec = "::1".parse().unwrap();
        assert_eq!(l.socket_addr(8805), "[::1]:8805".parse().unwrap());
        assert!("localhost:80".parse::<ListenSpec>().is_err());
    }

    proptest! {
        #[test]
        fn text_roundtrips(ip in any::<IpAddr>(), port in any::<Option<u16>>(), len in 0u8..=128) {
            let l = ListenSpec { ip, port };
            prop_assert_eq!(l.to_string().parse::<ListenSpec>().unwrap(), l);
            let n = NodeId::Ip(ip);
            prop_assert_eq!(n.to_string().parse::<NodeId>().unwrap(), n);
            let len = if ip.is_ipv4() { len % 33 } else { len };
            let h = HostOrNet(IpNet::new(ip, len).unwrap());
            prop_assert_eq!(h.to_string().parse::<HostOrNet>().unwrap(), h);
        }

        #[test]
        fn fqdn_roundtrips(labels in prop::collection::vec("[a-z][a-z0-9-]{0,10}[a-z0-9]", 1..5)) {
            let name = labels.join(".");
            let n: NodeId = name.parse().unwrap();
            prop_assert_eq!(n.to_string(), name);
        }

        #[test]
        fn parsers_never_panic(s in "\\PC{0,40}") {
            let _ = s.parse::<NodeId>();
            let _ = s.parse::<ListenSpec>();
            let _ = s.parse::<HostOrNet>();
        }
    }
}
