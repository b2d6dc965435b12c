//! The template pool: every session's frame, prebuilt once per direction,
//! so that sending a packet is two copies (headers + stamp, then the
//! payload tail) and two stores (sequence number, TSC). Sits between the
//! session plan and the tx loop.
//!
//! Only the bytes up to the end of the stamp differ between sessions; the
//! payload behind it is shared, so a million sessions of 1400-byte packets
//! cost about 100 MB of headers, not 1.4 GB of frames.

use crate::plan::Plan;
use crate::stamp::{Dir, SEQ_OFFSET, STAMP_LEN, Stamp, TSC_OFFSET};
use crate::wire::{FrameSpec, Mac, build_frame};

/// Prebuilt frames of one direction.
#[derive(Clone, Debug)]
pub struct DirTemplates {
    /// Per-session prefix (headers + stamp), `stride` bytes each.
    heads: Vec<u8>,
    stride: usize,
    /// The payload after the stamp, the same for every session.
    tail: Vec<u8>,
    stamp_offset: usize,
}

impl DirTemplates {
    /// Frame length.
    #[must_use]
    pub fn frame_len(&self) -> usize {
        self.stride + self.tail.len()
    }

    /// Writes session `s`'s frame with `seq` and `tsc` into `out` (exactly
    /// [`frame_len`](Self::frame_len) bytes).
    ///
    /// # Panics
    /// If `out` has the wrong length or `s` is out of range.
    #[inline]
    pub fn write(&self, s: usize, out: &mut [u8], seq: u32, tsc: u64) {
        let (head, tail) = out.split_at_mut(self.stride);
        head.copy_from_slice(&self.heads[s * self.stride..(s + 1) * self.stride]);
        tail.copy_from_slice(&self.tail);
        Stamp::write_per_packet(&mut head[self.stamp_offset..], seq, tsc);
    }

    /// Copies session `s`'s frame into `out` without the per-packet fields
    /// (they are written by [`stamp`](Self::stamp) just before transmission).
    #[inline]
    pub fn copy(&self, s: usize, out: &mut [u8]) {
        let (head, tail) = out.split_at_mut(self.stride);
        head.copy_from_slice(&self.heads[s * self.stride..(s + 1) * self.stride]);
        tail.copy_from_slice(&self.tail);
    }

    /// Writes `seq` and `tsc` into a frame made by [`copy`](Self::copy).
    #[inline(always)]
    pub fn stamp(&self, out: &mut [u8], seq: u32, tsc: u64) {
        let at = self.stamp_offset;
        out[at + SEQ_OFFSET..at + SEQ_OFFSET + 4].copy_from_slice(&seq.to_be_bytes());
        out[at + TSC_OFFSET..at + TSC_OFFSET + 8].copy_from_slice(&tsc.to_be_bytes());
    }

    /// Sets the trial number in every session's stamp.
    pub fn set_trial(&mut self, trial: u16) {
        let at = self.stamp_offset + 4;
        for h in self.heads.chunks_exact_mut(self.stride) {
            h[at..at + 2].copy_from_slice(&trial.to_be_bytes());
        }
    }
}

/// Both directions' templates plus the order sessions are sent in.
#[derive(Clone, Debug)]
pub struct Templates {
    /// Indexed by [`Dir::index`].
    pub dirs: [DirTemplates; 2],
    /// A seeded shuffle of the session indexes: each pass sends every
    /// session once, in an order with no locality for the device's tables.
    pub order: Vec<u32>,
}

/// MAC addresses of one port: ours and the device's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortMacs {
    /// Our port's MAC (source of what we send).
    pub ours: Mac,
    /// The device's MAC on that link (destination of what we send).
    pub peer: Mac,
}

impl Templates {
    /// Builds the templates: UL frames leave on N3 (`n3` MACs), DL frames
    /// on N6 (`n6` MACs).
    #[must_use]
    pub fn build(plan: &Plan, spec: FrameSpec, n3: PortMacs, n6: PortMacs, seed: u64) -> Self {
        let dir = |d: Dir, m: PortMacs| {
            let stamp_offset = spec.stamp_offset(d);
            let stride = stamp_offset + STAMP_LEN;
            let mut heads = Vec::with_capacity(stride * plan.sessions as usize);
            let mut tail = Vec::new();
            for i in 0..plan.sessions {
                let s = plan.session(i);
                let st = Stamp {
                    trial: 0,
                    dir: d,
                    session: i,
                    seq: 0,
                    tsc: 0,
                };
                let f = build_frame(plan, &s, d, spec, &m.peer, &m.ours, &st);
                heads.extend_from_slice(&f[..stride]);
                if i == 0 {
                    tail = f[stride..].to_vec();
                }
            }
            DirTemplates {
                heads,
                stride,
                tail,
                stamp_offset,
            }
        };
        Templates {
            dirs: [dir(Dir::Ul, n3), dir(Dir::Dl, n6)],
            order: shuffled(plan.sessions, seed),
        }
    }

    /// Sets the trial number in every template.
    pub fn set_trial(&mut self, trial: u16) {
        for d in &mut self.dirs {
            d.set_trial(trial);
        }
    }
}

/// SplitMix64: a small, well-mixed PRNG for the send order (no crate
/// needed for a reproducible shuffle).
#[derive(Clone, Debug)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// Next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// 0..n in a Fisher–Yates shuffle seeded by `seed`.
#[must_use]
pub fn shuffled(n: u32, seed: u64) -> Vec<u32> {
    let mut v: Vec<u32> = (0..n).collect();
    let mut r = SplitMix64(seed);
    for i in (1..v.len()).rev() {
        let j = (r.next_u64() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Classified, classify};

    #[test]
    fn templates_make_the_same_frames_as_the_builder() {
        let plan = Plan {
            sessions: 100,
            ..Plan::default()
        };
        let spec = FrameSpec {
            inner_bytes: 1400,
            psc: true,
        };
        let n3 = PortMacs {
            ours: [2, 0, 0, 0, 0x33, 2],
            peer: [2, 0, 0, 0, 0x33, 1],
        };
        let n6 = PortMacs {
            ours: [2, 0, 0, 0, 0x66, 2],
            peer: [2, 0, 0, 0, 0x66, 1],
        };
        let mut t = Templates::build(&plan, spec, n3, n6, 1);
        t.set_trial(9);
        for d in Dir::ALL {
            let m = if d == Dir::Ul { n3 } else { n6 };
            for i in [0u32, 1, 99] {
                let mut out = vec![0xAAu8; t.dirs[d.index()].frame_len()];
                t.dirs[d.index()].write(i as usize, &mut out, 1234, 5678);
                let st = Stamp {
                    trial: 9,
                    dir: d,
                    session: i,
                    seq: 1234,
                    tsc: 5678,
                };
                let want = build_frame(&plan, &plan.session(i), d, spec, &m.peer, &m.ours, &st);
                assert_eq!(out, want, "{d:?} session {i}");
                let mut out2 = vec![0x55u8; out.len()];
                t.dirs[d.index()].copy(i as usize, &mut out2);
                t.dirs[d.index()].stamp(&mut out2, 1234, 5678);
                assert_eq!(out2, want);
                let Classified::Stamped(s) = classify(&out) else {
                    panic!()
                };
                assert_eq!(s.stamp, st);
            }
        }
    }

    #[test]
    fn shuffle_is_a_seeded_permutation() {
        let a = shuffled(10_000, 1);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..10_000).collect::<Vec<_>>());
        assert_eq!(a, shuffled(10_000, 1));
        assert_ne!(a, shuffled(10_000, 2));
        assert_ne!(a, sorted);
    }
}
