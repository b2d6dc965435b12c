//! What changed between two validated configs, for reload: static sessions
//! added/removed/changed (by id), settings that can change live, and
//! settings that need a restart (named by key path so a refusal can say
//! exactly which).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use super::model::{Config, Interface, StaticSession};
use super::raw::RawSession;

/// The difference `old → new`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigDiff {
    /// Key paths whose change needs a restart (`cores.workers`,
    /// `interfaces.n3.device`, ...).
    pub restart_required: Vec<String>,
    /// Key paths outside `sessions` that changed and can be applied live
    /// (`log.level`, `pfcp.peers`, `interfaces.n6.gateway`, ...).
    pub live: Vec<String>,
    /// Static session ids, ascending.
    pub sessions_added: Vec<u64>,
    pub sessions_removed: Vec<u64>,
    pub sessions_changed: Vec<u64>,
    /// Where the added and changed sessions are in the new config's
    /// `sessions`, ascending: what a reload translates, found without a
    /// map of every session by id.
    pub upserted_at: Vec<usize>,
    /// Those of `upserted_at` that are changed sessions differing from
    /// the running ones only in their QERs' values (the same QER ids in
    /// the same order; rules, keys and everything else equal): a reload
    /// hands them to the dataplane as QoS-only updates, ascending.
    pub qos_only_at: Vec<usize>,
}

impl ConfigDiff {
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.restart_required.is_empty()
            && self.live.is_empty()
            && self.sessions_added.is_empty()
            && self.sessions_removed.is_empty()
            && self.sessions_changed.is_empty()
    }

    #[must_use]
    pub fn sessions_touched(&self) -> usize {
        self.sessions_added.len() + self.sessions_removed.len() + self.sessions_changed.len()
    }
}

/// One line for logs and `/status`: `sessions +2 -1 ~3; live: log.level;
/// restart needed: cores.workers`.
impl fmt::Display for ConfigDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("no changes");
        }
        write!(
            f,
            "sessions +{} -{} ~{}",
            self.sessions_added.len(),
            self.sessions_removed.len(),
            self.sessions_changed.len()
        )?;
        if !self.live.is_empty() {
            write!(f, "; live: {}", self.live.join(", "))?;
        }
        if !self.restart_required.is_empty() {
            write!(f, "; restart needed: {}", self.restart_required.join(", "))?;
        }
        Ok(())
    }
}

fn interface_diff(
    name: &str,
    old: Option<&Interface>,
    new: Option<&Interface>,
    d: &mut ConfigDiff,
) {
    match (old, new) {
        (None, None) => {}
        (Some(_), None) | (None, Some(_)) => d.restart_required.push(format!("interfaces.{name}")),
        (Some(a), Some(b)) => {
            if a.device != b.device {
                d.restart_required.push(format!("interfaces.{name}.device"));
            }
            if (a.ipv4, a.ipv6) != (b.ipv4, b.ipv6) {
                d.restart_required
                    .push(format!("interfaces.{name}.address"));
            }
            if a.mtu != b.mtu {
                d.restart_required.push(format!("interfaces.{name}.mtu"));
            }
            if (a.gateway_v4, a.gateway_v6) != (b.gateway_v4, b.gateway_v6) {
                d.live.push(format!("interfaces.{name}.gateway"));
            }
            if a.neighbors != b.neighbors {
                d.live.push(format!("interfaces.{name}.neighbors"));
            }
        }
    }
}

/// `a` → `b` (two different sessions of one id) changes only the values
/// of its QERs: the ids and order of the QERs stay, and so does
/// everything else.
/// How `a` → `b` (two sessions of one id) changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    None,
    /// Only the values of its QERs (ids and order the same).
    Qos,
    Other,
}

/// Each part of the two sessions compared once (100,000 changed sessions
/// are a few cache misses each).
fn change(a: &Arc<StaticSession>, b: &Arc<StaticSession>) -> Change {
    // A session reused from the running config (`parse_after`) is the
    // same allocation: no need to compare its rules.
    if Arc::ptr_eq(a, b) {
        return Change::None;
    }
    if a.id != b.id || a.pdrs != b.pdrs || a.fars != b.fars || a.urrs != b.urrs {
        return Change::Other;
    }
    if a.qers == b.qers {
        Change::None
    } else if a.qers.len() == b.qers.len()
        && a.qers.iter().zip(b.qers.iter()).all(|(x, y)| x.id == y.id)
    {
        Change::Qos
    } else {
        Change::Other
    }
}

/// The raw entries `c`'s sessions were read from (`Config::effective`),
/// one per session, in order: what the diff compares first.
pub(super) fn raws_of(c: &Config) -> Option<&[RawSession]> {
    (c.effective.sessions.len() == c.sessions.len()).then_some(c.effective.sessions.as_slice())
}

/// Two short-form entries that give the same PDRs, FARs and URRs (and the
/// one QER id): the same id, UE address, uplink TEID, gNB and downlink
/// TEID, and an uplink MBR in both or neither (the uplink PDR names the
/// QER only then). A short-form session is a function of its entry alone
/// (`validate::short_form`), so two such entries differ at most in
/// their QER's values.
fn same_rules(x: &RawSession, y: &RawSession) -> bool {
    let short = |r: &RawSession| {
        r.pdrs.is_empty() && r.fars.is_empty() && r.qers.is_empty() && r.urrs.is_empty()
    };
    let mbr_ul = |r: &RawSession| r.qos.as_ref().is_some_and(|q| q.mbr_ul.is_some());
    short(x)
        && short(y)
        && x.id == y.id
        && x.ue_ip == y.ue_ip
        && x.uplink == y.uplink
        && matches!((&x.downlink, &y.downlink), (Some(a), Some(b)) if a.gnb == b.gnb && a.teid == b.teid)
        && mbr_ul(x) == mbr_ul(y)
}

/// [`change`], from the raw entries where they tell: entries lie one
/// after the other in one vector, while each session's rules are a few
/// heap blocks of their own (100,000 edited sessions were ~12 cache
/// misses each to compare). Equal short-form entries give equal
/// sessions; entries that differ only in QoS values differ in their one
/// QER when its values do (an entry written differently, `qos: {}` for
/// no `qos`, may still give the same QER).
fn change_at(
    a: &Arc<StaticSession>,
    b: &Arc<StaticSession>,
    raws: Option<(&RawSession, &RawSession)>,
) -> Change {
    if Arc::ptr_eq(a, b) {
        return Change::None;
    }
    if let Some((x, y)) = raws
        && same_rules(x, y)
    {
        // Its one QER is made of the MBRs and the downlink QFI alone
        // (`short_form`; the property test
        // `diff_through_raw_entries_is_the_diff_of_the_sessions` holds the
        // two to it): no need to read the sessions.
        let qer = |r: &RawSession| {
            (
                r.qos.as_ref().and_then(|q| q.mbr_ul),
                r.qos.as_ref().and_then(|q| q.mbr_dl),
                r.downlink.as_ref().map(|d| d.qfi),
            )
        };
        return if x == y || qer(x) == qer(y) {
            Change::None
        } else {
            Change::Qos
        };
    }
    change(a, b)
}

/// Static sessions added, removed and changed, by id (ascending). Files
/// usually keep their order from one version to the next, so the two lists
/// are walked side by side while their ids agree (no map, no allocation
/// per session: 100,000 sessions diff in a few milliseconds); the rest is
/// matched by id through maps.
/// `raws`: the entries of `old` and `new` ([`raws_of`]), when both have
/// them.
pub(super) fn sessions_diff(
    old: &[Arc<StaticSession>],
    new: &[Arc<StaticSession>],
    raws: Option<(&[RawSession], &[RawSession])>,
    d: &mut ConfigDiff,
) {
    let raw_at = |i: usize| raws.and_then(|(o, n)| Some((o.get(i)?, n.get(i)?)));
    // The pointers first: a shared session is not read at all (100,000
    // of them were a cache miss each, ~10 ms); then the entries' ids.
    let same = old
        .iter()
        .zip(new)
        .enumerate()
        .take_while(|(i, (a, b))| {
            Arc::ptr_eq(a, b) || raw_at(*i).map_or_else(|| a.id == b.id, |(x, y)| x.id == y.id)
        })
        .count();
    for (i, (a, b)) in old[..same].iter().zip(&new[..same]).enumerate() {
        let c = change_at(a, b, raw_at(i));
        if c != Change::None {
            d.sessions_changed.push(a.id);
            d.upserted_at.push(i);
            if c == Change::Qos {
                d.qos_only_at.push(i);
            }
        }
    }
    let (old, new) = (&old[same..], &new[same..]);
    if !old.is_empty() || !new.is_empty() {
        let old_by: BTreeMap<u64, &Arc<StaticSession>> = old.iter().map(|s| (s.id, s)).collect();
        let new_by: BTreeMap<u64, (usize, &Arc<StaticSession>)> = new
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id, (same + i, s)))
            .collect();
        for (id, (i, s)) in &new_by {
            match old_by.get(id).map(|o| change(o, s)) {
                None => d.sessions_added.push(*id),
                Some(Change::None) => continue,
                Some(c) => {
                    d.sessions_changed.push(*id);
                    if c == Change::Qos {
                        d.qos_only_at.push(*i);
                    }
                }
            }
            d.upserted_at.push(*i);
        }
        d.sessions_removed = old_by
            .keys()
            .filter(|id| !new_by.contains_key(id))
            .copied()
            .collect();
    }
    d.sessions_changed.sort_unstable();
    d.upserted_at.sort_unstable();
    d.qos_only_at.sort_unstable();
}

impl Config {
    /// What a reload from `self` to `new` would change.
    #[must_use]
    pub fn diff(&self, new: &Self) -> ConfigDiff {
        let mut d = ConfigDiff::default();
        let mut restart = |changed: bool, key: &str| {
            if changed {
                d.restart_required.push(key.to_owned());
            }
        };
        restart(self.node_id != new.node_id, "node_id");
        restart(self.dpdk != new.dpdk, "dpdk");
        restart(self.cores.control != new.cores.control, "cores.control");
        restart(self.cores.workers != new.cores.workers, "cores.workers");
        restart(self.pfcp.listen != new.pfcp.listen, "pfcp.listen");
        restart(self.api.listen != new.api.listen, "api.listen");
        restart(self.dataplane != new.dataplane, "dataplane");
        let ifs = [
            ("n3", Some(&self.interfaces.n3), Some(&new.interfaces.n3)),
            ("n6", Some(&self.interfaces.n6), Some(&new.interfaces.n6)),
            (
                "n9",
                self.interfaces.n9.as_ref(),
                new.interfaces.n9.as_ref(),
            ),
        ];
        for (name, a, b) in ifs {
            interface_diff(name, a, b, &mut d);
        }
        let mut live = |changed: bool, key: &str| {
            if changed {
                d.live.push(key.to_owned());
            }
        };
        live(self.log_level != new.log_level, "log.level");
        live(self.pfcp.peers != new.pfcp.peers, "pfcp.peers");
        live(
            self.pfcp.heartbeat_interval != new.pfcp.heartbeat_interval,
            "pfcp.heartbeat_interval",
        );
        live(
            (self.pfcp.request_timeout, self.pfcp.request_retries)
                != (new.pfcp.request_timeout, new.pfcp.request_retries),
            "pfcp.request_timeout/retries",
        );
        live(self.ue_pools != new.ue_pools, "ue_pools");
        live(self.teid_range != new.teid_range, "teid_range");
        live(self.reload != new.reload, "reload");

        let raws = raws_of(self).zip(raws_of(new));
        sessions_diff(&self.sessions, &new.sessions, raws, &mut d);
        d
    }
}
