//! PFCP wire codec (TS 29.244 clauses 7 and 8): the message header, every
//! node and session message the UPF sends or receives, and their IEs.
//!
//! Why our own: the public Rust PFCP crates we evaluated mis-encode the Gate
//! Status bits, the inner IDs of Remove PDR/FAR/QER/URR, the PFCPSMReq-Flags
//! inside Update Forwarding Parameters, zero-length IEs and the FO header
//! flag, and they allocate for every IE. Here decoding borrows from the
//! datagram (`&'a [u8]` for Network Instance, FQDN, SDF filter text, ...),
//! lists of a few items live inline ([`SmallVec`]), and encoding appends to a
//! caller-owned `Vec<u8>`, so a busy N4 socket allocates little.
//!
//! Decoding rules (TS 29.244 §7.6, §8.1.1):
//! * unknown IE types and vendor-specific (enterprise, type ≥ 32768) IEs are
//!   skipped; of a repeated single-instance IE the first one counts;
//! * an IE whose fixed part is shorter than the spec's is an error
//!   ([`ErrorKind::InvalidLength`], cause 68); octets after the known part of
//!   an *extendable* IE are ignored, because later releases append fields;
//! * an IE length that runs past its container, or 1..3 stray octets that
//!   cannot form an IE header, are errors naming the IE;
//! * zero-length IEs are accepted wherever their content allows it (octet
//!   strings, grouped IEs without mandatory children);
//! * every error carries the type of the offending IE, so the node can
//!   answer with cause 64/66/68/69 and an Offending IE.

pub mod grouped;
pub mod ie_type;
pub mod ies;
pub mod message;
#[cfg(test)]
pub(crate) mod testgen;
#[cfg(test)]
mod tests;

pub use smallvec::SmallVec;

use crate::codec::ies::Cause;

/// What is wrong with a message or IE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Length shorter than the fixed part, running past the container, or
    /// stray trailing octets (cause 68, Invalid length).
    InvalidLength,
    /// A mandatory IE is absent (cause 66).
    MissingMandatory,
    /// A conditional IE required by the content of another is absent (cause 67).
    MissingConditional,
    /// The content of an IE cannot be understood (cause 69).
    InvalidValue,
    /// The datagram is shorter than a PFCP header: nothing to answer.
    TruncatedHeader,
    /// PFCP version other than 1 (answer: Version Not Supported Response).
    UnsupportedVersion(u8),
    /// The S flag disagrees with the message type (session vs node message).
    InvalidSeidFlag,
    /// A message type this codec does not know (silently discarded, §7.6).
    UnknownMessageType(u8),
}

/// A decoding error, with the IE it concerns (the innermost one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeError {
    pub kind: ErrorKind,
    /// Type of the offending IE, when the error is inside one.
    pub ie: Option<u16>,
}

impl DecodeError {
    #[must_use]
    pub const fn new(kind: ErrorKind) -> Self {
        Self { kind, ie: None }
    }
    #[must_use]
    pub const fn length() -> Self {
        Self::new(ErrorKind::InvalidLength)
    }
    #[must_use]
    pub const fn value() -> Self {
        Self::new(ErrorKind::InvalidValue)
    }
    #[must_use]
    pub const fn missing(ie: u16) -> Self {
        Self {
            kind: ErrorKind::MissingMandatory,
            ie: Some(ie),
        }
    }
    /// Attach the IE type unless an inner IE was already named.
    #[must_use]
    pub const fn within(self, ie: u16) -> Self {
        match self.ie {
            Some(_) => self,
            None => Self {
                kind: self.kind,
                ie: Some(ie),
            },
        }
    }
    /// The PFCP cause to answer a request that failed this way.
    #[must_use]
    pub const fn cause(&self) -> Cause {
        match self.kind {
            ErrorKind::InvalidLength => Cause::INVALID_LENGTH,
            ErrorKind::MissingMandatory => Cause::MANDATORY_IE_MISSING,
            ErrorKind::MissingConditional => Cause::CONDITIONAL_IE_MISSING,
            ErrorKind::InvalidValue => Cause::MANDATORY_IE_INCORRECT,
            _ => Cause::REQUEST_REJECTED,
        }
    }
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.kind {
            ErrorKind::InvalidLength => "invalid length".to_string(),
            ErrorKind::MissingMandatory => "mandatory IE missing".to_string(),
            ErrorKind::MissingConditional => "conditional IE missing".to_string(),
            ErrorKind::InvalidValue => "invalid value".to_string(),
            ErrorKind::TruncatedHeader => "datagram shorter than a PFCP header".to_string(),
            ErrorKind::UnsupportedVersion(v) => format!("PFCP version {v} not supported"),
            ErrorKind::InvalidSeidFlag => "S flag does not match the message type".to_string(),
            ErrorKind::UnknownMessageType(t) => format!("unknown message type {t}"),
        };
        match self.ie {
            Some(t) => write!(f, "{what}: IE {} ({t})", ie_type::name(t)),
            None => f.write_str(&what),
        }
    }
}

impl std::error::Error for DecodeError {}

/// The value of a presence-only (`P`) field: any content is accepted and
/// ignored, nothing is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Present;

impl<'a> IeValue<'a> for Present {
    fn decode(_value: &'a [u8]) -> Result<Self, DecodeError> {
        Ok(Present)
    }
    fn encode(&self, _out: &mut Vec<u8>) {}
}

/// Encoding failed: the message would not fit PFCP's 16-bit length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("PFCP message too long ({0} octets)")]
pub struct EncodeError(pub usize);

/// The value part of an IE: decoded from (borrowing) and encoded to bytes.
pub trait IeValue<'a>: Sized {
    /// Decode the IE's value (the octets after type and length).
    ///
    /// # Errors
    /// A [`DecodeError`] naming the innermost offending IE, if any.
    fn decode(value: &'a [u8]) -> Result<Self, DecodeError>;
    /// Append the IE's value (without type and length) to `out`.
    fn encode(&self, out: &mut Vec<u8>);
}

/// Iterates the IEs of a message body or grouped IE: `(type, value)`.
/// Vendor-specific IEs are skipped here; a header that does not fit or a
/// length running past the end is an error.
pub struct IeIter<'a> {
    buf: &'a [u8],
}

impl<'a> IeIter<'a> {
    #[must_use]
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }
}

impl<'a> Iterator for IeIter<'a> {
    type Item = Result<(u16, &'a [u8]), DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.buf.is_empty() {
                return None;
            }
            let Some((hdr, rest)) = self.buf.split_first_chunk::<4>() else {
                // 1..3 stray octets: the container's length is wrong.
                self.buf = &[];
                return Some(Err(DecodeError::length()));
            };
            let ie_type = u16::from_be_bytes([hdr[0], hdr[1]]);
            let len = usize::from(u16::from_be_bytes([hdr[2], hdr[3]]));
            if len > rest.len() {
                self.buf = &[];
                return Some(Err(DecodeError {
                    kind: ErrorKind::InvalidLength,
                    ie: Some(ie_type),
                }));
            }
            let (value, next) = rest.split_at(len);
            self.buf = next;
            if ie_type & 0x8000 != 0 {
                // Vendor-specific: Enterprise ID then data; nothing we use.
                continue;
            }
            return Some(Ok((ie_type, value)));
        }
    }
}

/// Append a whole IE (type, length, value). A value longer than 65535
/// octets writes a wrong length; the message encoder then refuses the
/// message because it cannot fit either.
#[inline]
pub fn put_ie<'a, T: IeValue<'a>>(out: &mut Vec<u8>, ie_type: u16, value: &T) {
    let start = out.len();
    let [t0, t1] = ie_type.to_be_bytes();
    out.extend_from_slice(&[t0, t1, 0, 0]);
    value.encode(out);
    let len = u16::try_from(out.len() - start - 4).unwrap_or(u16::MAX);
    out[start + 2..start + 4].copy_from_slice(&len.to_be_bytes());
}

/// Bounds-checked big-endian reader over an IE value.
pub(crate) struct Rd<'a> {
    buf: &'a [u8],
}

impl<'a> Rd<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }
    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.buf.len() {
            return Err(DecodeError::length());
        }
        let (a, b) = self.buf.split_at(n);
        self.buf = b;
        Ok(a)
    }
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let Some((a, b)) = self.buf.split_first_chunk::<N>() else {
            return Err(DecodeError::length());
        };
        self.buf = b;
        Ok(*a)
    }
    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }
    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    pub(crate) fn u24(&mut self) -> Result<u32, DecodeError> {
        let [a, b, c] = self.array()?;
        Ok(u32::from_be_bytes([0, a, b, c]))
    }
    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    pub(crate) fn u40(&mut self) -> Result<u64, DecodeError> {
        let [a, b, c, d, e] = self.array()?;
        Ok(u64::from_be_bytes([0, 0, 0, a, b, c, d, e]))
    }
    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    pub(crate) fn ipv4(&mut self) -> Result<std::net::Ipv4Addr, DecodeError> {
        Ok(std::net::Ipv4Addr::from(self.array::<4>()?))
    }
    pub(crate) fn ipv6(&mut self) -> Result<std::net::Ipv6Addr, DecodeError> {
        Ok(std::net::Ipv6Addr::from(self.array::<16>()?))
    }
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }
}

// ---- Field plumbing for the `ies_struct!` macro -------------------------

/// Field type by multiplicity: `M` mandatory, `O` optional, `V` a list
/// (heap), `L` a mandatory list (at least one), `S`/`S1` a short list kept
/// inline (2 / 1 items), `P` presence only: an IE the UPF does not support
/// and must reject (encoded as an empty IE; its content is not kept).
macro_rules! ies_field_ty {
    (M, $t:ty) => { $t };
    (O, $t:ty) => { Option<$t> };
    (V, $t:ty) => { Vec<$t> };
    (L, $t:ty) => { Vec<$t> };
    (S, $t:ty) => { $crate::codec::SmallVec<[$t; 2]> };
    (S1, $t:ty) => { $crate::codec::SmallVec<[$t; 1]> };
    (P, $t:ty) => { bool };
}
macro_rules! ies_field_init {
    (M, $t:ty) => {
        None::<$t>
    };
    (O, $t:ty) => {
        None::<$t>
    };
    (V, $t:ty) => {
        Vec::<$t>::new()
    };
    (L, $t:ty) => {
        Vec::<$t>::new()
    };
    (S, $t:ty) => {
        $crate::codec::SmallVec::<[$t; 2]>::new()
    };
    (S1, $t:ty) => {
        $crate::codec::SmallVec::<[$t; 1]>::new()
    };
    (P, $t:ty) => {
        false
    };
}
macro_rules! ies_field_push {
    (M, $f:ident, $v:expr) => {
        if $f.is_none() {
            $f = Some($v);
        }
    };
    (O, $f:ident, $v:expr) => {
        if $f.is_none() {
            $f = Some($v);
        }
    };
    (V, $f:ident, $v:expr) => {
        $f.push($v)
    };
    (L, $f:ident, $v:expr) => {
        $f.push($v)
    };
    (S, $f:ident, $v:expr) => {
        $f.push($v)
    };
    (S1, $f:ident, $v:expr) => {
        $f.push($v)
    };
    (P, $f:ident, $v:expr) => {
        $f = true
    };
}
macro_rules! ies_field_finish {
    (M, $f:ident, $code:expr) => {
        match $f {
            Some(v) => v,
            None => return Err($crate::codec::DecodeError::missing($code)),
        }
    };
    (O, $f:ident, $code:expr) => {
        $f
    };
    (V, $f:ident, $code:expr) => {
        $f
    };
    (L, $f:ident, $code:expr) => {
        if $f.is_empty() {
            return Err($crate::codec::DecodeError::missing($code));
        } else {
            $f
        }
    };
    (S, $f:ident, $code:expr) => {
        $f
    };
    (S1, $f:ident, $code:expr) => {
        $f
    };
    (P, $f:ident, $code:expr) => {
        $f
    };
}
macro_rules! ies_field_encode {
    (M, $v:expr, $code:expr, $out:ident) => {
        $crate::codec::put_ie($out, $code, &$v)
    };
    (O, $v:expr, $code:expr, $out:ident) => {
        if let Some(v) = &$v {
            $crate::codec::put_ie($out, $code, v)
        }
    };
    (V, $v:expr, $code:expr, $out:ident) => {
        for v in &$v {
            $crate::codec::put_ie($out, $code, v)
        }
    };
    (L, $v:expr, $code:expr, $out:ident) => {
        for v in &$v {
            $crate::codec::put_ie($out, $code, v)
        }
    };
    (S, $v:expr, $code:expr, $out:ident) => {
        for v in &$v {
            $crate::codec::put_ie($out, $code, v)
        }
    };
    (S1, $v:expr, $code:expr, $out:ident) => {
        for v in &$v {
            $crate::codec::put_ie($out, $code, v)
        }
    };
    (P, $v:expr, $code:expr, $out:ident) => {
        if $v {
            $crate::codec::put_ie($out, $code, &$crate::codec::Present)
        }
    };
}
#[cfg(test)]
macro_rules! ies_field_gen {
    (M, $t:ty, $g:ident) => {
        <$t as $crate::codec::testgen::Gen>::generate($g)
    };
    (O, $t:ty, $g:ident) => {
        $g.opt(|g| <$t as $crate::codec::testgen::Gen>::generate(g))
    };
    (V, $t:ty, $g:ident) => {
        $g.list(|g| <$t as $crate::codec::testgen::Gen>::generate(g))
    };
    (L, $t:ty, $g:ident) => {{
        let mut v = $g.list(|g| <$t as $crate::codec::testgen::Gen>::generate(g));
        if v.is_empty() {
            v.push(<$t as $crate::codec::testgen::Gen>::generate($g));
        }
        v
    }};
    (S, $t:ty, $g:ident) => {
        $g.list(|g| <$t as $crate::codec::testgen::Gen>::generate(g))
            .into_iter()
            .collect()
    };
    (S1, $t:ty, $g:ident) => {
        $g.list(|g| <$t as $crate::codec::testgen::Gen>::generate(g))
            .into_iter()
            .collect()
    };
    (P, $t:ty, $g:ident) => {
        $g.bool()
    };
}

/// Declares a struct made of IEs (a grouped IE or a message body): the
/// struct, its decoder (any order, unknown IEs skipped, first of a repeated
/// single IE kept) and its encoder (in the order of the spec's table).
macro_rules! ies_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident $(<$lt:lifetime>)? {
            $(
                $(#[$fmeta:meta])*
                $field:ident : $kind:ident [$ty:ty] = $code:path
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name $(<$lt>)? {
            $( $(#[$fmeta])* pub $field: $crate::codec::ies_field_ty!($kind, $ty), )*
        }

        impl<'a> $crate::codec::IeValue<'a> for $name $(<$lt>)? {
            #[allow(unused_variables, unused_mut)]
            fn decode(buf: &'a [u8]) -> Result<Self, $crate::codec::DecodeError> {
                $( let mut $field = $crate::codec::ies_field_init!($kind, $ty); )*
                for item in $crate::codec::IeIter::new(buf) {
                    let (ie_type, value) = item?;
                    match ie_type {
                        $(
                            $code => {
                                let v = <$ty as $crate::codec::IeValue<'a>>::decode(value)
                                    .map_err(|e| e.within($code))?;
                                $crate::codec::ies_field_push!($kind, $field, v);
                            }
                        )*
                        _ => {}
                    }
                }
                Ok(Self { $( $field: $crate::codec::ies_field_finish!($kind, $field, $code), )* })
            }

            #[allow(unused_variables)]
            fn encode(&self, out: &mut Vec<u8>) {
                $( $crate::codec::ies_field_encode!($kind, self.$field, $code, out); )*
            }
        }

        #[cfg(test)]
        impl<'a> $crate::codec::testgen::Gen for $name $(<$lt>)? {
            #[allow(unused_variables)]
            fn generate(g: &mut $crate::codec::testgen::G) -> Self {
                Self { $( $field: $crate::codec::ies_field_gen!($kind, $ty, g), )* }
            }
        }
    };
}

/// Declares a flags IE (Apply Action, Reporting Triggers, UP Function
/// Features, ...): raw octets plus how many were on the wire, so that
/// re-encoding is byte-exact and flags of later releases survive. `min`
/// octets are required to decode (older releases sent fewer), `wire` are
/// written when we build one (the current release's mandatory octets).
macro_rules! flags_ie {
    (
        $(#[$meta:meta])*
        pub struct $name:ident : min $min:literal, wire $wire:literal, max $max:literal {
            $( $(#[$fm:meta])* $flag:ident = ($oct:literal, $mask:literal) ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name {
            octets: [u8; $max],
            len: u8,
        }

        impl $name {
            $( $(#[$fm])* pub const $flag: Self = Self::bit($oct, $mask); )*
            const NAMES: &'static [(&'static str, Self)] = &[$((stringify!($flag), Self::$flag)),*];

            /// No flag set, as many octets as the spec makes mandatory.
            #[must_use]
            pub const fn empty() -> Self {
                Self { octets: [0; $max], len: $wire }
            }
            const fn bit(octet: usize, mask: u8) -> Self {
                let mut octets = [0; $max];
                octets[octet] = mask;
                let len = if octet + 1 > $wire { octet + 1 } else { $wire };
                #[allow(clippy::cast_possible_truncation)]
                Self { octets, len: len as u8 }
            }
            /// Whether every flag set in `other` is set here.
            #[must_use]
            pub fn contains(&self, other: Self) -> bool {
                self.octets.iter().zip(other.octets.iter()).all(|(a, b)| a & b == *b)
            }
            /// Whether any flag set in `other` is set here.
            #[must_use]
            pub fn intersects(&self, other: Self) -> bool {
                self.octets.iter().zip(other.octets.iter()).any(|(a, b)| a & b != 0)
            }
            /// Set the flags of `other` (growing the octet count if needed).
            pub fn insert(&mut self, other: Self) {
                for (a, b) in self.octets.iter_mut().zip(other.octets.iter()) {
                    *a |= *b;
                }
                self.len = self.len.max(other.len);
            }
            /// Clear the flags of `other`.
            pub fn remove(&mut self, other: Self) {
                for (a, b) in self.octets.iter_mut().zip(other.octets.iter()) {
                    *a &= !*b;
                }
            }
            #[must_use]
            pub fn with(mut self, other: Self) -> Self {
                self.insert(other);
                self
            }
            /// No flag set.
            #[must_use]
            pub fn is_empty(&self) -> bool {
                self.octets.iter().all(|o| *o == 0)
            }
            /// The octets as on the wire.
            #[must_use]
            pub fn octets(&self) -> &[u8] {
                &self.octets[..usize::from(self.len)]
            }
            /// Build from raw octets as received (at most the known maximum
            /// are kept; fewer than the decoder's minimum are zero-padded).
            #[must_use]
            pub fn from_octets(raw: &[u8]) -> Self {
                let mut s = Self { octets: [0; $max], len: $min };
                let n = raw.len().min($max);
                s.octets[..n].copy_from_slice(&raw[..n]);
                #[allow(clippy::cast_possible_truncation)]
                { s.len = (n as u8).max($min); }
                s
            }
            /// Names of the known flags that are set.
            pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
                Self::NAMES.iter().filter(|(_, f)| self.contains(*f)).map(|(n, _)| *n)
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::empty()
            }
        }

        impl std::ops::BitOr for $name {
            type Output = Self;
            fn bitor(self, rhs: Self) -> Self {
                self.with(rhs)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}(", stringify!($name))?;
                let mut first = true;
                for n in self.names() {
                    if !first { f.write_str("|")?; }
                    f.write_str(n)?;
                    first = false;
                }
                write!(f, "; {:02x?})", self.octets())
            }
        }

        impl<'a> $crate::codec::IeValue<'a> for $name {
            fn decode(value: &'a [u8]) -> Result<Self, $crate::codec::DecodeError> {
                if value.len() < $min {
                    return Err($crate::codec::DecodeError::length());
                }
                Ok(Self::from_octets(value))
            }
            fn encode(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(self.octets());
            }
        }

        #[cfg(test)]
        impl $crate::codec::testgen::Gen for $name {
            fn generate(g: &mut $crate::codec::testgen::G) -> Self {
                let len = g.range($min, $max);
                let raw: Vec<u8> = (0..len).map(|_| g.u8()).collect();
                Self::from_octets(&raw)
            }
        }
    };
}

#[cfg(test)]
pub(crate) use ies_field_gen;
pub(crate) use {
    flags_ie, ies_field_encode, ies_field_finish, ies_field_init, ies_field_push, ies_field_ty,
    ies_struct,
};
