//! Usage reporting state of one URR: what was counted since the last
//! report and since the quota was set, and the report it becomes. The node
//! polls the user plane's counters ([`crate::UserPlane::usage`]) and
//! decides here when a threshold or quota is reached.

use std::time::{Duration, Instant, SystemTime};

use crate::codec::grouped::UsageReport;
use crate::codec::ies::{
    MeasurementInformation, MeasurementMethod, UsageReportTrigger, Volume, VolumeMeasurement,
};
use crate::rules::Urr;
use crate::user_plane::UsageSample;

/// Seconds between the NTP epoch (1900) and the Unix epoch (1970).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// NTP seconds (32 bits, as PFCP time stamps) of a wall-clock time.
#[must_use]
pub fn ntp_seconds(t: SystemTime) -> u32 {
    let unix = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    #[allow(clippy::cast_possible_truncation)]
    {
        (unix + NTP_UNIX_OFFSET) as u32
    }
}

/// Wall-clock time of the node's monotonic instants.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    base: Instant,
    wall: SystemTime,
}

impl Clock {
    pub(crate) fn new(now: Instant, wall: SystemTime) -> Self {
        Self { base: now, wall }
    }
    pub(crate) fn wall(&self, t: Instant) -> SystemTime {
        match t.checked_duration_since(self.base) {
            Some(d) => self.wall + d,
            None => self.wall - self.base.duration_since(t),
        }
    }
    /// The instant of wall-clock time `w` (the inverse of `wall`).
    pub(crate) fn instant(&self, w: SystemTime) -> Instant {
        match w.duration_since(self.wall) {
            Ok(d) => self.base.checked_add(d).unwrap_or(self.base),
            Err(e) => self.base.checked_sub(e.duration()).unwrap_or(self.base),
        }
    }
    pub(crate) fn ntp(&self, t: Instant) -> u32 {
        ntp_seconds(self.wall(t))
    }
}

/// Counters of a URR.
#[derive(Debug, Clone)]
pub(crate) struct UrrState {
    pub(crate) id: u32,
    /// UR-SEQN of the next report.
    seqn: u32,
    /// Start of the current measurement (creation or last report).
    pub(crate) since: Instant,
    ul: u64,
    dl: u64,
    ul_pkts: u64,
    dl_pkts: u64,
    /// Times of the first and last packet, as the NTP seconds reported.
    first_packet: Option<u32>,
    last_packet: Option<u32>,
    /// Volume counted against the quota since it was provisioned.
    quota_ul: u64,
    quota_dl: u64,
    pub(crate) quota_since: Instant,
    /// Generations of the time-threshold and time-quota timers: a timer
    /// whose generation differs is stale (a report restarted the
    /// measurement, or a new quota came).
    pub(crate) th_gen: u32,
    pub(crate) quota_gen: u32,
    /// Generation of the periodic timer (bumped when the period changes).
    pub(crate) period_gen: u32,
}

impl UrrState {
    pub(crate) fn new(id: u32, now: Instant) -> Self {
        Self {
            id,
            seqn: 0,
            since: now,
            ul: 0,
            dl: 0,
            ul_pkts: 0,
            dl_pkts: 0,
            first_packet: None,
            last_packet: None,
            quota_ul: 0,
            quota_dl: 0,
            quota_since: now,
            th_gen: 0,
            quota_gen: 0,
            period_gen: 0,
        }
    }

    pub(crate) fn add(&mut self, s: &UsageSample) {
        self.ul = self.ul.saturating_add(s.ul_bytes);
        self.dl = self.dl.saturating_add(s.dl_bytes);
        self.ul_pkts = self.ul_pkts.saturating_add(s.ul_packets);
        self.dl_pkts = self.dl_pkts.saturating_add(s.dl_packets);
        self.quota_ul = self.quota_ul.saturating_add(s.ul_bytes);
        self.quota_dl = self.quota_dl.saturating_add(s.dl_bytes);
        if self.first_packet.is_none() {
            self.first_packet = s.first_packet.map(ntp_seconds);
        }
        if let Some(t) = s.last_packet {
            self.last_packet = Some(ntp_seconds(t));
        }
    }

    /// A new quota was provisioned: count from zero again.
    pub(crate) fn reset_quota(&mut self, now: Instant) {
        self.quota_ul = 0;
        self.quota_dl = 0;
        self.quota_since = now;
        self.quota_gen = self.quota_gen.wrapping_add(1);
    }

    /// VOLQU or VOLTH if the counters reached the URR's quota or threshold.
    pub(crate) fn volume_trigger(&self, urr: &Urr) -> Option<UsageReportTrigger> {
        use crate::codec::ies::ReportingTriggers as R;
        let reached = |v: &Volume, ul: u64, dl: u64| {
            v.total.is_some_and(|x| ul.saturating_add(dl) >= x)
                || v.ul.is_some_and(|x| ul >= x)
                || v.dl.is_some_and(|x| dl >= x)
        };
        let tr = urr.reporting_triggers;
        if tr.contains(R::VOLQU)
            && !urr.quota_exhausted
            && let Some(q) = &urr.volume_quota
            && reached(q, self.quota_ul, self.quota_dl)
        {
            return Some(UsageReportTrigger::VOLQU);
        }
        if tr.contains(R::VOLTH)
            && let Some(t) = &urr.volume_threshold
            && reached(t, self.ul, self.dl)
        {
            return Some(UsageReportTrigger::VOLTH);
        }
        None
    }

    /// The usage report for what was counted since the last one; the
    /// counters start again from zero.
    pub(crate) fn report(
        &mut self,
        urr: &Urr,
        trigger: UsageReportTrigger,
        now: Instant,
        clock: &Clock,
    ) -> UsageReport<'static> {
        let m = urr.measurement_method;
        let packets = urr
            .measurement_information
            .is_some_and(|i| i.contains(MeasurementInformation::MNOP));
        let volume = m
            .contains(MeasurementMethod::VOLUM)
            .then(|| VolumeMeasurement {
                total: Some(self.ul.saturating_add(self.dl)),
                ul: Some(self.ul),
                dl: Some(self.dl),
                total_packets: packets.then(|| self.ul_pkts.saturating_add(self.dl_pkts)),
                ul_packets: packets.then_some(self.ul_pkts),
                dl_packets: packets.then_some(self.dl_pkts),
            });
        let secs = now.saturating_duration_since(self.since).as_secs();
        let report = UsageReport {
            urr_id: self.id,
            ur_seqn: self.seqn,
            usage_report_trigger: trigger,
            start_time: Some(clock.ntp(self.since)),
            end_time: Some(clock.ntp(now)),
            volume_measurement: volume,
            duration_measurement: m
                .contains(MeasurementMethod::DURAT)
                .then(|| u32::try_from(secs).unwrap_or(u32::MAX)),
            ue_ip_address: None,
            network_instance: None,
            time_of_first_packet: self.first_packet,
            time_of_last_packet: self.last_packet,
            usage_information: None,
            query_urr_reference: None,
        };
        self.seqn = self.seqn.wrapping_add(1);
        self.since = now;
        self.ul = 0;
        self.dl = 0;
        self.ul_pkts = 0;
        self.dl_pkts = 0;
        self.first_packet = None;
        self.last_packet = None;
        self.th_gen = self.th_gen.wrapping_add(1);
        report
    }
}

/// Seconds as a Duration.
pub(crate) fn secs(s: u32) -> Duration {
    Duration::from_secs(u64::from(s))
}
