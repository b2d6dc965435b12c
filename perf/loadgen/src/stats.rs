//! The receive side's accounting: every frame that comes back is
//! classified, checked against the session its stamp names, and counted
//! per direction — received, late (reordered), duplicated, malformed, on the
//! wrong port — with its latency (receive TSC minus stamped TSC) in an HDR
//! histogram. Pure logic over byte slices; the rx loop feeds it.

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::plan::Plan;
use crate::stamp::Dir;
use crate::wire::{Arp, Classified, Expect, FrameSpec, Mismatch, check, classify};

/// The two ports of the generator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Facing the UPF's N3 (we are the gNB): UL leaves here, DL returns.
    N3 = 0,
    /// Facing the UPF's N6 (we are the data network): DL leaves, UL returns.
    N6 = 1,
}

impl Side {
    /// Both, N3 first.
    pub const ALL: [Side; 2] = [Side::N3, Side::N6];

    /// Index 0 or 1.
    #[must_use]
    pub fn index(self) -> usize {
        self as usize
    }

    /// The port a direction's frames leave on.
    #[must_use]
    pub fn tx_of(dir: Dir) -> Side {
        match dir {
            Dir::Ul => Side::N3,
            Dir::Dl => Side::N6,
        }
    }

    /// The port a direction's frames come back on.
    #[must_use]
    pub fn rx_of(dir: Dir) -> Side {
        match dir {
            Dir::Ul => Side::N6,
            Dir::Dl => Side::N3,
        }
    }

    /// "n3" / "n6".
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Side::N3 => "n3",
            Side::N6 => "n6",
        }
    }
}

/// Frames back with a stamp that failed [`check`], by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Mismatches {
    /// Tunnelled where plain was expected, or the reverse.
    pub form: u64,
    /// Wrong TEID.
    pub teid: u64,
    /// Wrong PDU Session Container type or QFI.
    pub qfi: u64,
    /// Wrong IP address.
    pub address: u64,
    /// Session index outside the plan.
    pub session: u64,
    /// Arrived on the port it was sent from (or the wrong one).
    pub wrong_port: u64,
}

impl Mismatches {
    /// All of them.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.form + self.teid + self.qfi + self.address + self.session + self.wrong_port
    }

    fn add(&mut self, m: Mismatch) {
        match m {
            Mismatch::Form => self.form += 1,
            Mismatch::Teid => self.teid += 1,
            Mismatch::Qfi => self.qfi += 1,
            Mismatch::Address => self.address += 1,
            Mismatch::Session => self.session += 1,
        }
    }
}

/// Receive counters of one direction in one trial.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RxDir {
    /// Good frames (stamp of this trial, headers as expected, right port).
    pub packets: u64,
    /// Their frame bytes (Ethernet header included, FCS excluded).
    pub bytes: u64,
    /// Good frames whose sequence number was below the highest already
    /// seen for their session (RFC 4737 "reordered").
    pub reordered: u64,
    /// Good frames whose sequence number equalled the highest seen.
    pub duplicates: u64,
    /// Frames with our stamp that failed the header check.
    pub mismatched: Mismatches,
    /// Frames whose receive TSC was before their stamp (TSCs not in step
    /// between cores): recorded as latency 0.
    pub clock_skew: u64,
    /// Good DL frames that carried the session's alternative gNB TEID
    /// (`--dl-teid-alt-base`: a reload switches the sessions' TEIDs).
    pub alt_teid: u64,
    /// Times two consecutively received good DL frames carried different
    /// TEID versions (base/alternative), whatever their sessions. With one
    /// UPF worker and one receive queue the receive order is the order the
    /// worker forwarded in, so an atomic switch of every session's TEID
    /// shows as exactly one change per switch; a partly applied switch
    /// interleaves versions and shows more.
    pub version_switches: u64,
    /// Version changes summed over sessions (each session's own frames).
    pub session_switches: u64,
}

/// Latency figures in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Samples.
    pub samples: u64,
    /// Minimum.
    pub min_us: Option<f64>,
    /// Mean.
    pub mean_us: Option<f64>,
    /// Median.
    pub p50_us: Option<f64>,
    /// 99th percentile.
    pub p99_us: Option<f64>,
    /// 99.9th percentile.
    pub p999_us: Option<f64>,
    /// Maximum.
    pub max_us: Option<f64>,
    /// Points of the latency CDF, `[percentile, µs]` at [`CDF_PERCENTILES`]
    /// (for plots: perf/run.sh draws them); `None` without samples.
    pub cdf: Option<[[f64; 2]; CDF_POINTS]>,
}

/// Number of points of [`Latency::cdf`].
pub const CDF_POINTS: usize = 24;

/// The percentiles of [`Latency::cdf`]: even steps through the body, then
/// the "nines" of the tail, where latency targets live.
pub const CDF_PERCENTILES: [f64; CDF_POINTS] = [
    0.0, 1.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 95.0, 97.0, 99.0, 99.5,
    99.7, 99.9, 99.95, 99.97, 99.99, 99.995, 99.999, 100.0,
];

/// Nanoseconds to microseconds, kept to the nanosecond.
fn us(ns: f64) -> Option<f64> {
    Some(ns.round() / 1000.0)
}

impl Latency {
    /// Summary of a histogram of nanoseconds.
    #[must_use]
    pub fn of(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        #[allow(clippy::cast_precision_loss)]
        let q = |p: f64| us(h.value_at_quantile(p) as f64);
        #[allow(clippy::cast_precision_loss)]
        Latency {
            samples: h.len(),
            min_us: us(h.min() as f64),
            mean_us: us(h.mean()),
            p50_us: q(0.5),
            p99_us: q(0.99),
            p999_us: q(0.999),
            max_us: us(h.max() as f64),
            cdf: Some(CDF_PERCENTILES.map(|p| [p, q(p / 100.0).unwrap_or(0.0)])),
        }
    }
}

/// Everything the receive side learns in one trial.
pub struct Receiver {
    plan: Plan,
    spec: FrameSpec,
    expect: Expect,
    trial: u16,
    ns_per_tick: f64,
    /// Highest sequence number seen per session, per direction (`None` as
    /// `u32::MAX`).
    last_seq: [Vec<u32>; 2],
    /// gNB TEID of session 0 in the alternative TEID version.
    alt_dl_teid_base: Option<u32>,
    /// TEID version of the last good DL frame, overall and per session
    /// (`u8::MAX`: none yet).
    last_version: u8,
    session_version: Vec<u8>,
    /// Per direction.
    pub dirs: [RxDir; 2],
    /// Latency in nanoseconds per direction.
    pub hist: [Histogram<u64>; 2],
    /// Stamped frames of an earlier trial (late arrivals).
    pub stale: u64,
    /// Frames without a stamp that are not ARP.
    pub other: u64,
    /// ARP frames seen.
    pub arp: u64,
    /// Source MAC of the first frame each port received that was not sent
    /// by one of our own MACs (to learn the device's MAC).
    pub first_src: [Option<[u8; 6]>; 2],
    own_macs: [[u8; 6]; 2],
}

/// Highest trackable latency: 10 s, far beyond any drain period.
const MAX_NS: u64 = 10_000_000_000;

impl Receiver {
    /// A receiver for `plan`'s frames; `tsc_hz` converts TSC ticks to time;
    /// frames from `own_macs` never count as the device's (a passthrough
    /// device returns our own ARP requests).
    ///
    /// # Panics
    /// Never in practice: the histogram bounds are constants that
    /// `hdrhistogram` accepts.
    #[must_use]
    pub fn new(
        plan: &Plan,
        spec: FrameSpec,
        expect: Expect,
        tsc_hz: u64,
        own_macs: [[u8; 6]; 2],
    ) -> Self {
        let n = plan.sessions as usize;
        #[allow(clippy::expect_used)]
        let h = || {
            Histogram::<u64>::new_with_bounds(1, MAX_NS, 3)
                .expect("constant histogram bounds are valid")
        };
        Receiver {
            plan: plan.clone(),
            spec,
            expect,
            trial: 0,
            ns_per_tick: 1e9 / tsc_hz.max(1) as f64,
            last_seq: [vec![u32::MAX; n], vec![u32::MAX; n]],
            alt_dl_teid_base: None,
            last_version: u8::MAX,
            session_version: vec![u8::MAX; n],
            dirs: Default::default(),
            hist: [h(), h()],
            stale: 0,
            other: 0,
            arp: 0,
            first_src: [None; 2],
            own_macs,
        }
    }

    /// Accepts a DL frame whose TEID is `base + session` as well as the
    /// plan's, counting it as the alternative version.
    pub fn set_alt_dl_teid_base(&mut self, base: Option<u32>) {
        self.alt_dl_teid_base = base;
    }

    /// Starts counting trial `trial` from zero.
    pub fn begin(&mut self, trial: u16) {
        self.trial = trial;
        self.last_version = u8::MAX;
        self.session_version.fill(u8::MAX);
        for v in &mut self.last_seq {
            v.fill(u32::MAX);
        }
        self.dirs = Default::default();
        for h in &mut self.hist {
            h.reset();
        }
        self.stale = 0;
        self.other = 0;
        self.arp = 0;
    }

    /// Accounts one frame received on `side` at TSC `now`; returns the ARP
    /// packet if it was one (the caller answers it).
    #[inline]
    pub fn on_frame(&mut self, side: Side, frame: &[u8], now: u64) -> Option<Arp> {
        if self.first_src[side.index()].is_none() && frame.len() >= 12 {
            let mut src = [0u8; 6];
            src.copy_from_slice(&frame[6..12]);
            if !self.own_macs.contains(&src) {
                self.first_src[side.index()] = Some(src);
            }
        }
        let st = match classify(frame) {
            Classified::Stamped(st) => st,
            Classified::Arp(a) => {
                self.arp += 1;
                return Some(a);
            }
            Classified::Other => {
                self.other += 1;
                return None;
            }
        };
        if st.stamp.trial != self.trial {
            self.stale += 1;
            return None;
        }
        let d = st.stamp.dir.index();
        let dir = &mut self.dirs[d];
        if side != Side::rx_of(st.stamp.dir) {
            dir.mismatched.wrong_port += 1;
            return None;
        }
        let mut st = st;
        let mut version = 0u8;
        if let (Some(base), Some(t), Dir::Dl) =
            (self.alt_dl_teid_base, st.tunnel.as_mut(), st.stamp.dir)
            && st.stamp.session < self.plan.sessions
            && t.teid == base.wrapping_add(st.stamp.session)
        {
            t.teid = self.plan.session(st.stamp.session).dl_teid;
            version = 1;
        }
        if let Err(m) = check(&self.plan, self.spec, self.expect, &st) {
            dir.mismatched.add(m);
            return None;
        }
        if st.stamp.dir == Dir::Dl && self.alt_dl_teid_base.is_some() {
            dir.alt_teid += u64::from(version);
            if self.last_version != u8::MAX && self.last_version != version {
                dir.version_switches += 1;
            }
            self.last_version = version;
            if let Some(v) = self.session_version.get_mut(st.stamp.session as usize) {
                if *v != u8::MAX && *v != version {
                    dir.session_switches += 1;
                }
                *v = version;
            }
        }
        dir.packets += 1;
        dir.bytes += frame.len() as u64;
        let last = &mut self.last_seq[d][st.stamp.session as usize];
        let seq = st.stamp.seq;
        if *last == u32::MAX || seq > *last {
            *last = seq;
        } else if seq == *last {
            dir.duplicates += 1;
        } else {
            dir.reordered += 1;
        }
        let ns = if now >= st.stamp.tsc {
            ((now - st.stamp.tsc) as f64 * self.ns_per_tick) as u64
        } else {
            dir.clock_skew += 1;
            0
        };
        self.hist[d].saturating_record(ns.max(1));
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stamp::Stamp;
    use crate::wire::build_frame;

    const HZ: u64 = 1_000_000_000; // 1 tick = 1 ns
    const A: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const B: [u8; 6] = [2, 0, 0, 0, 0, 2];

    fn plan() -> Plan {
        Plan {
            sessions: 10,
            ..Plan::default()
        }
    }

    fn spec() -> FrameSpec {
        FrameSpec {
            inner_bytes: 64,
            psc: true,
        }
    }

    fn frame(trial: u16, dir: Dir, session: u32, seq: u32, tsc: u64) -> Vec<u8> {
        let p = plan();
        let st = Stamp {
            trial,
            dir,
            session,
            seq,
            tsc,
        };
        build_frame(&p, &p.session(session), dir, spec(), &[9; 6], &[8; 6], &st)
    }

    /// What a UPF sends on N3 for DL frame `f` of `session`: `f`'s IP
    /// packet in a G-PDU with gNB TEID `teid`.
    fn encap(f: &[u8], teid: u32) -> Vec<u8> {
        let p = plan();
        let inner = &f[14..];
        let mut out = f[..14].to_vec();
        let gtp = 8 + 8 + inner.len();
        crate::wire::push_ipv4(&mut out, p.upf_n3, p.gnb, 28 + gtp, 0);
        crate::wire::push_udp(&mut out, 2152, 2152, 8 + gtp);
        out.extend_from_slice(&[0x34, 0xFF]);
        out.extend_from_slice(&((8 + inner.len()) as u16).to_be_bytes());
        out.extend_from_slice(&teid.to_be_bytes());
        out.extend_from_slice(&[0, 0, 0, 0x85, 1, crate::wire::PSC_DL << 4, p.qfi, 0]);
        out.extend_from_slice(inner);
        out
    }

    #[test]
    fn alternative_teids_count_as_good_and_version_switches_are_counted() {
        let p = plan();
        let alt = 0x0700_0000;
        let mut r = Receiver::new(&p, spec(), Expect::Upf, HZ, [A, B]);
        r.set_alt_dl_teid_base(Some(alt));
        r.begin(1);
        let dl = |s: u32, seq: u32, v: u32| {
            let t = if v == 0 {
                p.session(s).dl_teid
            } else {
                alt + s
            };
            encap(&frame(1, Dir::Dl, s, seq, 1), t)
        };
        // Sessions 1 and 2: old, old, then both new (one switch overall).
        for f in [dl(1, 0, 0), dl(2, 0, 0), dl(1, 1, 1), dl(2, 1, 1)] {
            r.on_frame(Side::N3, &f, 10);
        }
        let d = &r.dirs[Dir::Dl.index()];
        assert_eq!((d.packets, d.alt_teid, d.mismatched.total()), (4, 2, 0));
        assert_eq!((d.version_switches, d.session_switches), (1, 2));
        // A mix: session 1 back to old after session 2 went new again.
        for f in [dl(2, 2, 1), dl(1, 2, 0), dl(2, 3, 1)] {
            r.on_frame(Side::N3, &f, 10);
        }
        let d = &r.dirs[Dir::Dl.index()];
        assert_eq!((d.version_switches, d.session_switches), (3, 3));
        // A TEID that is neither is still a mismatch.
        r.on_frame(Side::N3, &encap(&frame(1, Dir::Dl, 3, 9, 1), alt + 4), 10);
        assert_eq!(r.dirs[Dir::Dl.index()].mismatched.teid, 1);
    }

    #[test]
    fn counts_order_duplicates_latency_and_stale_frames() {
        let mut r = Receiver::new(&plan(), spec(), Expect::Passthrough, HZ, [A, B]);
        r.begin(4);
        // Session 3, UL: 0, 1, 3, 2 (late), 3 (duplicate); latency 1..5 µs.
        for (i, seq) in [0u32, 1, 3, 2, 3].into_iter().enumerate() {
            let f = frame(4, Dir::Ul, 3, seq, 1000);
            assert_eq!(r.on_frame(Side::N6, &f, 1000 + 1000 * (i as u64 + 1)), None);
        }
        // Another session's numbering is independent.
        r.on_frame(Side::N6, &frame(4, Dir::Ul, 4, 0, 0), 10);
        // A frame of trial 3 arriving late is not counted.
        r.on_frame(Side::N6, &frame(3, Dir::Ul, 3, 9, 0), 10);
        // DL back on N3.
        r.on_frame(Side::N3, &frame(4, Dir::Dl, 0, 0, 0), 2_000_000);
        let ul = &r.dirs[0];
        assert_eq!(ul.packets, 6);
        assert_eq!(ul.reordered, 1);
        assert_eq!(ul.duplicates, 1);
        assert_eq!(ul.bytes, 6 * 122);
        assert_eq!(r.stale, 1);
        assert_eq!(r.dirs[1].packets, 1);
        let l = Latency::of(&r.hist[0]);
        assert_eq!(l.samples, 6);
        assert_eq!(l.min_us, Some(0.01));
        assert_eq!(l.p50_us, Some(2.0));
        // 3 significant digits: 5000 ns lands in a 4 ns bucket.
        assert!((l.max_us.unwrap() - 5.0).abs() < 0.005, "{l:?}");
        // The CDF is monotonic and ends at the extremes.
        let cdf = l.cdf.unwrap();
        assert_eq!(cdf[0], [0.0, 0.01]);
        assert_eq!(cdf[7], [50.0, 2.0]);
        assert!((cdf[CDF_POINTS - 1][1] - 5.0).abs() < 0.005, "{cdf:?}");
        assert!(
            cdf.windows(2)
                .all(|w| w[0][0] < w[1][0] && w[0][1] <= w[1][1]),
            "{cdf:?}"
        );
        assert_eq!(Latency::of(&r.hist[1]).cdf.map(|c| c[0][0]), Some(0.0));
        let l = Latency::of(&r.hist[1]);
        assert!((l.p50_us.unwrap() - 2000.0).abs() < 2.0, "{l:?}");
        // Starting a new trial clears everything.
        r.begin(5);
        assert_eq!(r.dirs[0], RxDir::default());
        assert!(r.hist[0].is_empty());
        r.on_frame(Side::N6, &frame(5, Dir::Ul, 3, 0, 0), 1);
        assert_eq!((r.dirs[0].packets, r.dirs[0].reordered), (1, 0));
    }

    #[test]
    fn wrong_port_wrong_form_and_foreign_frames_are_not_received() {
        let mut r = Receiver::new(&plan(), spec(), Expect::Upf, HZ, [A, B]);
        r.begin(1);
        // UL coming back on N3 (looped), and UL still tunnelled on N6.
        r.on_frame(Side::N3, &frame(1, Dir::Ul, 0, 0, 0), 1);
        r.on_frame(Side::N6, &frame(1, Dir::Ul, 0, 1, 0), 1);
        r.on_frame(Side::N6, &[0u8; 60], 1);
        assert_eq!(r.dirs[0].packets, 0);
        assert_eq!(r.dirs[0].mismatched.wrong_port, 1);
        assert_eq!(r.dirs[0].mismatched.form, 1);
        assert_eq!(r.dirs[0].mismatched.total(), 2);
        assert_eq!(r.other, 1);
    }

    #[test]
    fn learns_the_first_foreign_source_mac_per_port() {
        let mut r = Receiver::new(&plan(), spec(), Expect::Any, HZ, [[8; 6], B]);
        r.begin(1);
        // Our own frame looped back: ignored for learning.
        r.on_frame(Side::N6, &frame(1, Dir::Ul, 0, 0, 0), 1);
        assert_eq!(r.first_src, [None, None]);
        let mut f = frame(1, Dir::Dl, 0, 0, 0);
        f[6..12].copy_from_slice(&[7; 6]);
        r.on_frame(Side::N3, &f, 1);
        assert_eq!(r.first_src, [Some([7; 6]), None]);
    }

    #[test]
    fn arp_is_handed_back() {
        let mut r = Receiver::new(&plan(), spec(), Expect::Any, HZ, [A, B]);
        let a = Arp {
            op: crate::wire::ARP_REQUEST,
            sha: [7; 6],
            spa: "192.168.1.1".parse().unwrap(),
            tha: [0; 6],
            tpa: "192.168.1.2".parse().unwrap(),
        };
        assert_eq!(r.on_frame(Side::N3, &a.frame(), 0), Some(a));
        assert_eq!(r.arp, 1);
    }
}
