//! Value types of the YAML config that carry a unit or a format: bitrates
//! (`50Mbps`), durations (`500ms`), byte sizes (`1GB`), TEIDs (`0x100`) and
//! MAC addresses. Each parses from the text an operator writes and prints
//! back the same way, so `upf check` output is itself a valid config.
//!
//! Written here rather than taken from crates such as `humantime` or
//! `bytesize` because those accept spellings we want to reject (floats that
//! lose precision, `MBps` meaning bytes) and print forms we cannot re-parse
//! the same way.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a unit-bearing value did not parse; the message is shown to the
/// operator after the file position and key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnitError(String);

impl UnitError {
    fn new(msg: impl Into<String>) -> Self {
        Self(msg.into())
    }
}

/// Parses a non-negative decimal number (`12`, `1.5`) exactly and multiplies
/// it by `scale`. Fails when the result is not a whole number of the base
/// unit or does not fit in `u64`.
fn scaled_decimal(number: &str, scale: u64, what: &str) -> Result<u64, UnitError> {
    let (int, frac) = match number.split_once('.') {
        Some((i, f)) => (i, f),
        None => (number, ""),
    };
    let digits_ok = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty()
        || !digits_ok(int)
        || !digits_ok(frac)
        || (number.contains('.') && frac.is_empty())
    {
        return Err(UnitError::new(format!("`{number}` is not a number")));
    }
    if int.len() > 20 || frac.len() > 18 {
        return Err(UnitError::new(format!(
            "{what} `{number}` is too large or too precise"
        )));
    }
    let int_v: u128 = int
        .parse()
        .map_err(|_| UnitError::new(format!("`{number}` is not a number")))?;
    let mut total = int_v * u128::from(scale);
    if !frac.is_empty() {
        let frac_v: u128 = frac
            .parse()
            .map_err(|_| UnitError::new(format!("`{number}` is not a number")))?;
        let denom = 10u128.pow(u32::try_from(frac.len()).unwrap_or(18));
        let num = frac_v * u128::from(scale);
        if !num.is_multiple_of(denom) {
            return Err(UnitError::new(format!(
                "{what} `{number}` is finer than the smallest unit; use a smaller unit"
            )));
        }
        total += num / denom;
    }
    u64::try_from(total).map_err(|_| UnitError::new(format!("{what} `{number}` is too large")))
}

/// Splits `"1.5 Gbps"` into (`"1.5"`, `"Gbps"`).
fn split_number_unit(s: &str) -> (&str, &str) {
    let s = s.trim();
    let idx = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    (&s[..idx], s[idx..].trim_start())
}

/// Prints `value` in the largest unit of `units` (ascending scale) that
/// divides it exactly.
fn format_scaled(value: u64, units: &[(u64, &str)], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let mut best = units[0];
    for &(scale, name) in units {
        if value != 0 && value.is_multiple_of(scale) {
            best = (scale, name);
        }
    }
    write!(f, "{}{}", value / best.0, best.1)
}

// ---------------------------------------------------------------- Bitrate

/// A bit rate in bits per second. Written `50Mbps`, `1.5Gbps`, `800Kbps`,
/// `64000bps` or a bare integer (bits per second). Prefixes are decimal
/// (K = 1000) as in TS 29.244's bitrate IEs (which carry kbps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bitrate(u64);

impl Bitrate {
    #[must_use]
    pub const fn from_bps(bps: u64) -> Self {
        Self(bps)
    }

    #[must_use]
    pub const fn bps(self) -> u64 {
        self.0
    }

    /// The value in kilobits per second, rounded up (PFCP MBR/GBR IEs carry kbps).
    #[must_use]
    pub const fn kbps_ceil(self) -> u64 {
        self.0.div_ceil(1000)
    }
}

const BITRATE_UNITS: &[(u64, &str)] = &[
    (1, "bps"),
    (1_000, "Kbps"),
    (1_000_000, "Mbps"),
    (1_000_000_000, "Gbps"),
    (1_000_000_000_000, "Tbps"),
];

/// The multiplier of a bitrate unit (`bps`, `Kbps`/`kbps` … `Tbps`/`tbps`);
/// `None` for anything else. Also the config fast reader's (`fast::bitrate`).
pub(crate) fn bitrate_scale(unit: &str) -> Option<u64> {
    Some(match unit {
        "bps" => 1,
        "Kbps" | "kbps" => 1_000,
        "Mbps" | "mbps" => 1_000_000,
        "Gbps" | "gbps" => 1_000_000_000,
        "Tbps" | "tbps" => 1_000_000_000_000,
        _ => return None,
    })
}

impl FromStr for Bitrate {
    type Err = UnitError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (num, unit) = split_number_unit(s);
        if num.is_empty() {
            return Err(UnitError::new(format!(
                "`{s}` is not a bitrate; expected a number and a unit such as 50Mbps, 1.5Gbps, 800Kbps or 64000bps"
            )));
        }
        let scale = match (unit, bitrate_scale(unit)) {
            ("", _) => 1,
            (_, Some(scale)) => scale,
            (u, None) if u.to_ascii_lowercase().ends_with("bps") && u.ends_with("Bps") => {
                return Err(UnitError::new(format!(
                    "`{s}`: `{u}` would mean bytes per second; bitrates are in bits: use bps, Kbps, Mbps, Gbps"
                )));
            }
            (u, None) => {
                return Err(UnitError::new(format!(
                    "`{s}`: unknown bitrate unit `{u}`; expected bps, Kbps, Mbps, Gbps or Tbps"
                )));
            }
        };
        scaled_decimal(num, scale, "bitrate").map(Self)
    }
}

impl fmt::Display for Bitrate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        format_scaled(self.0, BITRATE_UNITS, f)
    }
}

// ---------------------------------------------------------------- Duration

/// A duration written with a unit: `5s`, `500ms`, `100us` (or `µs`), `10ns`,
/// `2m`, `1h`, `1.5s`. A bare number is rejected: seconds or milliseconds
/// would be a guess.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HumanDuration(pub Duration);

const DURATION_UNITS: &[(u64, &str)] = &[
    (1, "ns"),
    (1_000, "us"),
    (1_000_000, "ms"),
    (1_000_000_000, "s"),
    (60_000_000_000, "m"),
    (3_600_000_000_000, "h"),
];

impl HumanDuration {
    #[must_use]
    pub const fn from_millis(ms: u64) -> Self {
        Self(Duration::from_millis(ms))
    }

    #[must_use]
    pub const fn from_secs(s: u64) -> Self {
        Self(Duration::from_secs(s))
    }
}

impl FromStr for HumanDuration {
    type Err = UnitError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (num, unit) = split_number_unit(s);
        if num.is_empty() {
            return Err(UnitError::new(format!(
                "`{s}` is not a duration; expected a number and a unit such as 5s, 500ms or 100us"
            )));
        }
        let scale = match unit {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" | "min" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => {
                return Err(UnitError::new(format!(
                    "`{s}` has no unit; write e.g. {s}s or {s}ms"
                )));
            }
            u => {
                return Err(UnitError::new(format!(
                    "`{s}`: unknown duration unit `{u}`; expected ns, us, ms, s, m or h"
                )));
            }
        };
        let ns = scaled_decimal(num, scale, "duration")?;
        Ok(Self(Duration::from_nanos(ns)))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Durations beyond u64 nanoseconds (584 years) cannot come from the parser.
        let ns = u64::try_from(self.0.as_nanos()).unwrap_or(u64::MAX);
        format_scaled(ns, DURATION_UNITS, f)
    }
}

// ---------------------------------------------------------------- ByteSize

/// A byte count: `1500`, `64KB`, `1.5GB` (decimal) or `4KiB`, `2GiB` (binary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub u64);

const BYTE_UNITS: &[(u64, &str)] = &[
    (1, "B"),
    (1_000, "KB"),
    (1 << 10, "KiB"),
    (1_000_000, "MB"),
    (1 << 20, "MiB"),
    (1_000_000_000, "GB"),
    (1 << 30, "GiB"),
    (1_000_000_000_000, "TB"),
    (1 << 40, "TiB"),
];

impl FromStr for ByteSize {
    type Err = UnitError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (num, unit) = split_number_unit(s);
        if num.is_empty() {
            return Err(UnitError::new(format!(
                "`{s}` is not a byte size; expected e.g. 1500, 64KB, 1.5GB or 2GiB"
            )));
        }
        let scale = if unit.is_empty() {
            1
        } else if let Some(&(scale, _)) = BYTE_UNITS.iter().find(|(_, name)| *name == unit) {
            scale
        } else {
            return Err(UnitError::new(format!(
                "`{s}`: unknown size unit `{unit}`; expected B, KB, MB, GB, TB, KiB, MiB, GiB or TiB"
            )));
        };
        scaled_decimal(num, scale, "size").map(Self)
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Prefer decimal units when both divide: an operator writing 1GB
        // expects to read 1GB back, and 1GiB is not a multiple of 10^9.
        let mut best = (1, "B");
        for &(scale, name) in BYTE_UNITS {
            if self.0 != 0 && self.0.is_multiple_of(scale) && scale > best.0 {
                best = (scale, name);
            }
        }
        write!(f, "{}{}", self.0 / best.0, best.1)
    }
}

// ---------------------------------------------------------------- Teid

/// A GTP-U Tunnel Endpoint Identifier. Written as an integer, decimal or
/// `0x` hexadecimal; printed in hexadecimal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Teid(pub u32);

impl FromStr for Teid {
    type Err = UnitError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let parsed = if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
            u32::from_str_radix(hex, 16)
        } else {
            t.parse::<u32>()
        };
        parsed.map(Self).map_err(|_| {
            UnitError::new(format!(
                "`{s}` is not a TEID; expected an integer 0..=0xffffffff"
            ))
        })
    }
}

impl fmt::Display for Teid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

// ---------------------------------------------------------------- MacAddr

/// An Ethernet MAC address, `02:00:00:00:00:fe` (six colon-separated hex
/// octets; `-` separators are accepted too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// True for group (multicast/broadcast) addresses, which can never be a
    /// neighbour's address.
    #[must_use]
    pub const fn is_group(&self) -> bool {
        self.0[0] & 1 == 1
    }

    #[must_use]
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 6]
    }
}

impl FromStr for MacAddr {
    type Err = UnitError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            UnitError::new(format!(
                "`{s}` is not a MAC address; expected six hex octets like 02:00:00:00:00:fe"
            ))
        };
        let sep = if s.contains('-') { '-' } else { ':' };
        let mut out = [0u8; 6];
        let mut parts = s.split(sep);
        for slot in &mut out {
            let part = parts.next().ok_or_else(bad)?;
            if part.len() != 2 {
                return Err(bad());
            }
            *slot = u8::from_str_radix(part, 16).map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(Self(out))
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

// ---------------------------------------------------------------- serde glue

/// Implements serde for a type that is written as a string or, where
/// `$ints` is true, also as a plain YAML integer.
macro_rules! serde_via_str {
    ($ty:ty, $expecting:literal, ints = $ints:literal) => {
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
                    fn visit_u64<E: de::Error>(self, v: u64) -> Result<$ty, E> {
                        if $ints {
                            v.to_string().parse().map_err(E::custom)
                        } else {
                            Err(E::invalid_type(de::Unexpected::Unsigned(v), &self))
                        }
                    }
                    fn visit_i64<E: de::Error>(self, v: i64) -> Result<$ty, E> {
                        if $ints && v >= 0 {
                            v.to_string().parse().map_err(E::custom)
                        } else {
                            Err(E::invalid_type(de::Unexpected::Signed(v), &self))
                        }
                    }
                    fn visit_f64<E: de::Error>(self, v: f64) -> Result<$ty, E> {
                        Err(E::invalid_type(de::Unexpected::Float(v), &self))
                    }
                }
                d.deserialize_any(V)
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    };
}

serde_via_str!(
    Bitrate,
    "a bitrate such as 50Mbps, 1.5Gbps or 800Kbps",
    ints = true
);
serde_via_str!(
    HumanDuration,
    "a duration such as 5s, 500ms or 100us",
    ints = false
);
serde_via_str!(
    ByteSize,
    "a byte size such as 1500, 64KB or 2GiB",
    ints = true
);
serde_via_str!(
    MacAddr,
    "a MAC address such as 02:00:00:00:00:fe",
    ints = false
);

impl<'de> Deserialize<'de> for Teid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Teid;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a TEID: an integer 0..=0xffffffff, decimal or 0x hexadecimal")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Teid, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Teid, E> {
                u32::try_from(v)
                    .map(Teid)
                    .map_err(|_| E::custom(format!("TEID {v:#x} is larger than 0xffffffff")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Teid, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom(format!("TEID {v} is negative")))
                    .and_then(|v| self.visit_u64(v))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Teid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bitrates_parse_with_units() {
        assert_eq!("50Mbps".parse::<Bitrate>().unwrap().bps(), 50_000_000);
        assert_eq!("1.5Gbps".parse::<Bitrate>().unwrap().bps(), 1_500_000_000);
        assert_eq!("800Kbps".parse::<Bitrate>().unwrap().bps(), 800_000);
        assert_eq!("800kbps".parse::<Bitrate>().unwrap().bps(), 800_000);
        assert_eq!("64000bps".parse::<Bitrate>().unwrap().bps(), 64_000);
        assert_eq!("64000".parse::<Bitrate>().unwrap().bps(), 64_000);
        assert_eq!("10 Mbps".parse::<Bitrate>().unwrap().bps(), 10_000_000);
    }

    #[test]
    fn bitrates_reject_bytes_and_junk() {
        let e = "50MBps".parse::<Bitrate>().unwrap_err().to_string();
        assert!(e.contains("bytes per second"), "{e}");
        assert!("fast".parse::<Bitrate>().is_err());
        assert!(
            "50Mb"
                .parse::<Bitrate>()
                .unwrap_err()
                .to_string()
                .contains("unknown bitrate unit")
        );
        assert!(
            "0.5bps"
                .parse::<Bitrate>()
                .unwrap_err()
                .to_string()
                .contains("finer")
        );
        assert!("1.".parse::<Bitrate>().is_err());
        assert!("99999999999999999999Tbps".parse::<Bitrate>().is_err());
    }

    #[test]
    fn bitrates_print_in_the_largest_exact_unit() {
        assert_eq!(Bitrate::from_bps(50_000_000).to_string(), "50Mbps");
        assert_eq!(Bitrate::from_bps(1_500_000_000).to_string(), "1500Mbps");
        assert_eq!(Bitrate::from_bps(1234).to_string(), "1234bps");
        assert_eq!(Bitrate::from_bps(0).to_string(), "0bps");
    }

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(
            "5s".parse::<HumanDuration>().unwrap().0,
            Duration::from_secs(5)
        );
        assert_eq!(
            "500ms".parse::<HumanDuration>().unwrap().0,
            Duration::from_millis(500)
        );
        assert_eq!(
            "100us".parse::<HumanDuration>().unwrap().0,
            Duration::from_micros(100)
        );
        assert_eq!(
            "100µs".parse::<HumanDuration>().unwrap().0,
            Duration::from_micros(100)
        );
        assert_eq!(
            "1.5s".parse::<HumanDuration>().unwrap().0,
            Duration::from_millis(1500)
        );
        assert_eq!(
            "2m".parse::<HumanDuration>().unwrap().0,
            Duration::from_secs(120)
        );
        assert!(
            "5".parse::<HumanDuration>()
                .unwrap_err()
                .to_string()
                .contains("no unit")
        );
        assert!(
            "5 parsecs"
                .parse::<HumanDuration>()
                .unwrap_err()
                .to_string()
                .contains("unknown duration unit")
        );
        assert_eq!(
            HumanDuration(Duration::from_millis(1500)).to_string(),
            "1500ms"
        );
        assert_eq!(HumanDuration(Duration::from_secs(3600)).to_string(), "1h");
    }

    #[test]
    fn byte_sizes() {
        assert_eq!("1GB".parse::<ByteSize>().unwrap().0, 1_000_000_000);
        assert_eq!("2GiB".parse::<ByteSize>().unwrap().0, 2 << 30);
        assert_eq!("1500".parse::<ByteSize>().unwrap().0, 1500);
        assert_eq!(ByteSize(1_000_000_000).to_string(), "1GB");
        assert_eq!(ByteSize(2 << 30).to_string(), "2GiB");
        assert!("1gb".parse::<ByteSize>().is_err());
    }

    #[test]
    fn teids_and_macs() {
        assert_eq!("0x100".parse::<Teid>().unwrap(), Teid(0x100));
        assert_eq!("256".parse::<Teid>().unwrap(), Teid(0x100));
        assert!("0x1_0000_0000".parse::<Teid>().is_err());
        assert_eq!(Teid(0x100).to_string(), "0x100");
        let mac: MacAddr = "02:00:00:00:00:FE".parse().unwrap();
        assert_eq!(mac.0, [2, 0, 0, 0, 0, 0xfe]);
        assert_eq!(mac.to_string(), "02:00:00:00:00:fe");
        assert_eq!("02-00-00-00-00-fe".parse::<MacAddr>().unwrap(), mac);
        assert!("02:00:00:00:00".parse::<MacAddr>().is_err());
        assert!("02:00:00:00:00:fe:01".parse::<MacAddr>().is_err());
        assert!("2:0:0:0:0:fe".parse::<MacAddr>().is_err());
        assert!("01:00:5e:00:00:01".parse::<MacAddr>().unwrap().is_group());
    }

    proptest! {
        #[test]
        fn bitrate_roundtrips(bps in any::<u64>()) {
            let b = Bitrate::from_bps(bps);
            prop_assert_eq!(b.to_string().parse::<Bitrate>().unwrap(), b);
        }

        #[test]
        fn duration_roundtrips(ns in any::<u64>()) {
            let d = HumanDuration(Duration::from_nanos(ns));
            prop_assert_eq!(d.to_string().parse::<HumanDuration>().unwrap(), d);
        }

        #[test]
        fn bytesize_roundtrips(n in any::<u64>()) {
            let b = ByteSize(n);
            prop_assert_eq!(b.to_string().parse::<ByteSize>().unwrap(), b);
        }

        #[test]
        fn teid_and_mac_roundtrip(t in any::<u32>(), m in any::<[u8; 6]>()) {
            prop_assert_eq!(Teid(t).to_string().parse::<Teid>().unwrap(), Teid(t));
            prop_assert_eq!(MacAddr(m).to_string().parse::<MacAddr>().unwrap(), MacAddr(m));
        }

        #[test]
        fn unit_parsers_never_panic(s in "\\PC{0,24}") {
            let _ = s.parse::<Bitrate>();
            let _ = s.parse::<HumanDuration>();
            let _ = s.parse::<ByteSize>();
            let _ = s.parse::<Teid>();
            let _ = s.parse::<MacAddr>();
        }

        #[test]
        fn unit_parsers_never_panic_on_numberish(s in "[0-9.]{0,30}[a-zA-Zµ]{0,5}") {
            let _ = s.parse::<Bitrate>();
            let _ = s.parse::<HumanDuration>();
            let _ = s.parse::<ByteSize>();
        }
    }
}
