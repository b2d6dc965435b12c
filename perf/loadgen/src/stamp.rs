//! The stamp: 24 bytes at the start of the inner UDP payload of every frame
//! the generator sends, found again in whatever comes back (decapsulated,
//! encapsulated or untouched), so that loss, order and latency are measured
//! per packet without any state in the device under test.
//!
//! ```text
//!  0        4      6   7   8          12         16                 24
//! | magic  |trial |dir|ver| session  |   seq    |       tsc        |
//! ```
//! All fields big-endian. Magic, trial, direction, version and session are
//! part of the per-session template; the sender writes only `seq` and `tsc`
//! per packet.

/// "LGST".
pub const MAGIC: u32 = 0x4C47_5354;
/// Format version.
pub const VERSION: u8 = 1;
/// Bytes of a stamp.
pub const STAMP_LEN: usize = 24;
/// Offset of the sequence number inside the stamp.
pub const SEQ_OFFSET: usize = 12;
/// Offset of the TSC inside the stamp.
pub const TSC_OFFSET: usize = 16;

/// Direction of a flow of the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dir {
    /// gNB → UPF N3 (G-PDU) → data network.
    Ul = 0,
    /// Data network → UPF N6 (plain IP) → gNB.
    Dl = 1,
}

impl Dir {
    /// Both, UL first.
    pub const ALL: [Dir; 2] = [Dir::Ul, Dir::Dl];

    /// Index 0 or 1.
    #[must_use]
    pub fn index(self) -> usize {
        self as usize
    }

    /// "ul" / "dl".
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Dir::Ul => "ul",
            Dir::Dl => "dl",
        }
    }

    fn from_u8(v: u8) -> Option<Dir> {
        match v {
            0 => Some(Dir::Ul),
            1 => Some(Dir::Dl),
            _ => None,
        }
    }
}

/// A parsed stamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// Trial number (frames of an earlier trial are not counted).
    pub trial: u16,
    /// Direction the frame was sent in.
    pub dir: Dir,
    /// Session index of the plan.
    pub session: u32,
    /// Per-session, per-direction sequence number within the trial.
    pub seq: u32,
    /// TSC when the burst left the generator.
    pub tsc: u64,
}

impl Stamp {
    /// Writes the stamp into `buf[..STAMP_LEN]`.
    ///
    /// # Panics
    /// If `buf` is shorter than [`STAMP_LEN`] (templates are sized for it).
    pub fn write(&self, buf: &mut [u8]) {
        let b = &mut buf[..STAMP_LEN];
        b[0..4].copy_from_slice(&MAGIC.to_be_bytes());
        b[4..6].copy_from_slice(&self.trial.to_be_bytes());
        b[6] = self.dir as u8;
        b[7] = VERSION;
        b[8..12].copy_from_slice(&self.session.to_be_bytes());
        b[12..16].copy_from_slice(&self.seq.to_be_bytes());
        b[16..24].copy_from_slice(&self.tsc.to_be_bytes());
    }

    /// Reads a stamp at the start of `buf`; `None` when there is none
    /// (too short, wrong magic, version or direction).
    #[must_use]
    pub fn read(buf: &[u8]) -> Option<Stamp> {
        let b = buf.get(..STAMP_LEN)?;
        if b[0..4] != MAGIC.to_be_bytes() || b[7] != VERSION {
            return None;
        }
        Some(Stamp {
            trial: u16::from_be_bytes([b[4], b[5]]),
            dir: Dir::from_u8(b[6])?,
            session: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            seq: u32::from_be_bytes([b[12], b[13], b[14], b[15]]),
            tsc: u64::from_be_bytes([b[16], b[17], b[18], b[19], b[20], b[21], b[22], b[23]]),
        })
    }

    /// Writes only the per-packet fields (`seq`, `tsc`) of a stamp whose
    /// constant part is already in `buf` (the template).
    #[inline(always)]
    pub fn write_per_packet(buf: &mut [u8], seq: u32, tsc: u64) {
        buf[SEQ_OFFSET..SEQ_OFFSET + 4].copy_from_slice(&seq.to_be_bytes());
        buf[TSC_OFFSET..TSC_OFFSET + 8].copy_from_slice(&tsc.to_be_bytes());
    }

    /// Finds a stamp anywhere in the first `limit` bytes of `frame` (the
    /// fallback when the headers in front of it are not ones the parser
    /// knows).
    #[must_use]
    pub fn scan(frame: &[u8], limit: usize) -> Option<(usize, Stamp)> {
        let end = frame.len().min(limit);
        let magic = MAGIC.to_be_bytes();
        (0..end.saturating_sub(STAMP_LEN - 1))
            .filter(|&i| frame[i..i + 4] == magic)
            .find_map(|i| Stamp::read(&frame[i..]).map(|s| (i, s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn roundtrip(trial: u16, dl: bool, session: u32, seq: u32, tsc: u64) {
            let s = Stamp { trial, dir: if dl { Dir::Dl } else { Dir::Ul }, session, seq, tsc };
            let mut buf = [0u8; STAMP_LEN];
            s.write(&mut buf);
            prop_assert_eq!(Stamp::read(&buf), Some(s));
            let mut buf2 = buf;
            Stamp::write_per_packet(&mut buf2, seq ^ 1, !tsc);
            prop_assert_eq!(Stamp::read(&buf2), Some(Stamp { seq: seq ^ 1, tsc: !tsc, ..s }));
        }

        #[test]
        fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = Stamp::read(&bytes);
            let _ = Stamp::scan(&bytes, 64);
        }
    }

    #[test]
    fn scan_finds_a_stamp_at_any_offset_and_rejects_near_misses() {
        let s = Stamp {
            trial: 7,
            dir: Dir::Dl,
            session: 42,
            seq: 3,
            tsc: 99,
        };
        let mut frame = vec![0xEEu8; 100];
        s.write(&mut frame[37..]);
        assert_eq!(Stamp::scan(&frame, 100), Some((37, s)));
        // Outside the scanned window.
        assert_eq!(Stamp::scan(&frame, 50), None);
        // A wrong version is not a stamp.
        frame[37 + 7] = 2;
        assert_eq!(Stamp::scan(&frame, 100), None);
        // Truncated.
        assert_eq!(Stamp::read(&frame[37..50]), None);
    }
}
