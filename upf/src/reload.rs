//! Config reload, the decision part: read and validate the file exactly as
//! `upf check` does, diff it against the running config, and decide
//! whether it may be applied. Applying (publishing session tables, PFCP
//! settings) is the caller's job (`run.rs`); this stays free of I/O beyond
//! reading the file so that it is testable. [`watch`] turns changes of the
//! file into reload triggers (`reload.watch`).
//!
//! Policy: a reload that changes a restart-only setting (devices, cores,
//! EAL arguments, node ID, listen addresses, dataplane sizing) is refused
//! as a whole, naming those settings; nothing changes. All-or-nothing keeps
//! the running config equal to a file that `upf check` accepts.

pub mod watch;

use std::path::Path;
use std::time::{Duration, Instant};

use dataplane::control::{Batch, QerUpdate};

use crate::config::{self, Config, ConfigDiff, ConfigError, HostInfo};
use crate::translate;

/// What started a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// SIGHUP: always re-reads the file.
    Signal,
    /// `reload.watch`: the file (or its directory entry) changed and then
    /// stayed quiet for `reload.debounce`.
    Watch,
}

impl Trigger {
    /// The name used in logs and `/status`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Signal => "signal",
            Self::Watch => "watch",
        }
    }
}

/// Why a reload did not go ahead. The running config stays as it was.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The new file is invalid: the same error `upf check` prints.
    #[error("{0}")]
    Invalid(ConfigError),
    /// The new file is valid but changes settings that need a restart.
    #[error("refused: needs a restart to change {}", .0.restart_required.join(", "))]
    /// (Boxed: a diff is large beside the other variant.)
    NeedsRestart(Box<ConfigDiff>),
}

/// A validated new config and what it changes.
#[derive(Debug)]
pub struct ReloadPlan {
    pub config: Config,
    pub diff: ConfigDiff,
    /// Time spent parsing and validating the file.
    pub parse_time: Duration,
    /// Time spent comparing it with the running config.
    pub diff_time: Duration,
}

/// Parses and validates `bytes` (the content of `path`, already read)
/// exactly as `upf check` does. Runs on a helper thread during a reload.
/// `prev`: the running config, whose unchanged sessions need not be
/// checked against the dataplane's rules again (`config::parse_after`:
/// the same result, sooner).
///
/// # Errors
/// The file's problems, with file, line and column.
pub fn parse_bytes(
    path: &Path,
    bytes: Vec<u8>,
    host: Option<&HostInfo>,
    prev: Option<&Config>,
) -> Result<Config, ConfigError> {
    match String::from_utf8(bytes) {
        Ok(text) => {
            let origin = path.display().to_string();
            config::parse_text(text, &origin, host, prev)
        }
        // `load` words the encoding error with its position.
        Err(_) => config::load(path, host),
    }
}

/// Diffs a validated `config` against `current` and applies the policy.
///
/// # Errors
/// [`ReloadError::NeedsRestart`] for a change that cannot be applied live.
pub fn plan_config(
    current: &Config,
    config: Config,
    parse_time: Duration,
) -> Result<ReloadPlan, ReloadError> {
    let t1 = Instant::now();
    let diff = current.diff(&config);
    let diff_time = t1.elapsed();
    if !diff.restart_required.is_empty() {
        return Err(ReloadError::NeedsRestart(Box::new(diff)));
    }
    Ok(ReloadPlan {
        config,
        diff,
        parse_time,
        diff_time,
    })
}

/// Validates `bytes` (the content of `path`, already read) and diffs it
/// against `current`.
///
/// # Errors
/// [`ReloadError::Invalid`] for a bad file, [`ReloadError::NeedsRestart`]
/// for a change that cannot be applied live.
pub fn plan_bytes(
    current: &Config,
    path: &Path,
    bytes: Vec<u8>,
    host: Option<&HostInfo>,
) -> Result<ReloadPlan, ReloadError> {
    let t0 = Instant::now();
    let config = parse_bytes(path, bytes, host, Some(current)).map_err(ReloadError::Invalid)?;
    plan_config(current, config, t0.elapsed())
}

/// Reads `path`, validates it and diffs it against `current`.
///
/// # Errors
/// As [`plan_bytes`]; a file that cannot be read is
/// [`ReloadError::Invalid`] with `upf check`'s wording.
pub fn plan(
    current: &Config,
    path: &Path,
    host: Option<&HostInfo>,
) -> Result<ReloadPlan, ReloadError> {
    match std::fs::read(path) {
        Ok(bytes) => plan_bytes(current, path, bytes, host),
        Err(_) => Err(ReloadError::Invalid(
            config::load(path, host).err().unwrap_or_else(|| {
                ConfigError::io(&path.display().to_string(), "cannot read".to_owned())
            }),
        )),
    }
}

/// A reload made ready on the helper thread: the validated config and
/// its diff against the running one (restart-only changes refused), and
/// the static session changes already in the dataplane's terms, so that
/// the control thread only publishes.
#[derive(Debug)]
pub struct Prepared {
    pub plan: ReloadPlan,
    /// [`dataplane_changes`] of the plan (an error is a bug: validation
    /// refuses what the dataplane cannot express; the reload is then
    /// refused).
    pub changes: anyhow::Result<(Batch, Vec<QerUpdate>)>,
    /// Time spent on `changes`.
    pub translate_time: Duration,
}

/// Everything of a reload that does not touch the running system, for the
/// helper thread: parse and validate `bytes` exactly as `upf check` does
/// ([`parse_bytes`], given the running config `current`), diff and apply
/// the policy ([`plan_config`]), and translate the session changes
/// ([`dataplane_changes`]). The result is that of doing the same steps on
/// the control thread; it stays valid while `current` is the running
/// config (reloads run one at a time).
///
/// # Errors
/// As [`plan_bytes`].
pub fn prepare(
    current: &Config,
    path: &Path,
    bytes: Vec<u8>,
    host: Option<&HostInfo>,
) -> Result<Prepared, ReloadError> {
    let plan = plan_bytes(current, path, bytes, host)?;
    let t = Instant::now();
    let changes = dataplane_changes(&plan.config, &plan.diff);
    Ok(Prepared {
        plan,
        changes,
        translate_time: t.elapsed(),
    })
}

/// The static session changes of a reload in the dataplane's terms, for
/// the one publish that applies it (`Control::publish_changes`): added
/// and changed sessions as upserts, removed ones as removals, and changed
/// sessions whose QERs' values alone changed (`ConfigDiff::qos_only_at`)
/// as QoS-only updates, which the dataplane derives from the entries in
/// force instead of compiling the sessions again.
///
/// # Errors
/// A session the dataplane cannot express (validation refuses those; a
/// bug if it happens) or a diff that does not belong to `new`.
pub fn dataplane_changes(
    new: &Config,
    diff: &ConfigDiff,
) -> anyhow::Result<(Batch, Vec<QerUpdate>)> {
    let mut batch = Batch::default();
    batch.upserts.reserve(
        (diff.sessions_added.len() + diff.sessions_changed.len())
            .saturating_sub(diff.qos_only_at.len()),
    );
    let mut qos = Vec::with_capacity(diff.qos_only_at.len());
    let mut qos_only = diff.qos_only_at.iter().copied().peekable();
    // By position, from the diff: no map of every session by id (a
    // reload of a 100,000-session file built one even for 17 changes).
    for &i in &diff.upserted_at {
        let s = new
            .sessions
            .get(i)
            .ok_or_else(|| anyhow::anyhow!("sessions[{i}] missing from the new config"))?;
        if qos_only.next_if_eq(&i).is_some() {
            qos.push(translate::qos_update(s));
            continue;
        }
        // Validation checked it (`check_session`, which a short-form
        // session always passes), and the publish validates the batch
        // again: translate only.
        batch.upserts.push(
            translate::session(&new.interfaces, s)
                .map_err(|e| anyhow::anyhow!("sessions (id {}): {e}", s.id))?,
        );
    }
    batch.removals = diff
        .sessions_removed
        .iter()
        .map(|&id| translate::static_session_id(id))
        .collect();
    Ok((batch, qos))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "\
node_id: 192.168.1.1
cores: { control: 0, workers: [1] }
interfaces:
  n3: { device: net_null0, address: 192.168.1.1/24 }
  n6: { device: net_null1, address: 10.200.0.1/24, gateway: 10.200.0.254 }
pfcp: { listen: 127.0.0.1:8805, peers: [], heartbeat_interval: 5s }
ue_pools:
  - { cidr: 10.45.0.0/16, dnn: internet }
teid_range: { first: 0x1000, last: 0xffff }
sessions:
  - { id: 1, ue_ip: 10.45.0.2, uplink: { teid: 0x100000 }, downlink: { gnb: 192.168.1.2, teid: 0x200 } }
  - { id: 2, ue_ip: 10.45.0.3, uplink: { teid: 0x100001 }, downlink: { gnb: 192.168.1.2, teid: 0x201 } }
";

    fn host() -> HostInfo {
        HostInfo::with_cpus(4)
    }

    fn current() -> Config {
        config::parse(BASE, "t.yaml", Some(&host())).unwrap()
    }

    fn plan_of(text: &str) -> Result<ReloadPlan, ReloadError> {
        plan_bytes(
            &current(),
            Path::new("t.yaml"),
            text.as_bytes().to_vec(),
            Some(&host()),
        )
    }

    #[test]
    fn live_changes_are_planned_with_their_diff() {
        let text = BASE
            .replace("teid: 0x200 }", "teid: 0x300 }")
            .replace("peers: []", "peers: [10.0.0.9]")
            .replace("heartbeat_interval: 5s", "heartbeat_interval: 2s")
            .replace("gateway: 10.200.0.254", "gateway: 10.200.0.253")
            .replace("last: 0xffff", "last: 0x1ffff")
            .replace("10.45.0.0/16", "10.44.0.0/15")
            + "  - { id: 3, ue_ip: 10.45.0.4, uplink: { teid: 0x100002 }, downlink: { gnb: 192.168.1.2, teid: 0x202 } }\n"
            + "log: { level: debug }\n";
        let p = plan_of(&text).unwrap();
        assert_eq!(p.diff.sessions_changed, vec![1]);
        assert_eq!(p.diff.sessions_added, vec![3]);
        assert!(p.diff.sessions_removed.is_empty());
        assert!(p.diff.restart_required.is_empty());
        for k in [
            "log.level",
            "pfcp.peers",
            "pfcp.heartbeat_interval",
            "interfaces.n6.gateway",
            "ue_pools",
            "teid_range",
        ] {
            assert!(
                p.diff.live.iter().any(|l| l == k),
                "{k} in {:?}",
                p.diff.live
            );
        }
        assert_eq!(p.config.log_level, log::LevelFilter::Debug);
    }

    #[test]
    fn an_invalid_file_is_refused_with_its_position() {
        // Session 2's DL TEID 0 is reserved: line 12, inside the flow map.
        let text = BASE.replace("teid: 0x201 }", "teid: 0 }");
        let Err(ReloadError::Invalid(e)) = plan_of(&text) else {
            panic!("expected Invalid");
        };
        let first = e.to_string();
        assert!(first.starts_with("t.yaml:12:"), "{first}");
        // A YAML syntax error is refused the same way.
        let Err(ReloadError::Invalid(e)) = plan_of("node_id: [\n") else {
            panic!("expected Invalid");
        };
        assert!(e.to_string().starts_with("t.yaml:"), "{e}");
    }

    #[test]
    fn restart_only_changes_refuse_the_whole_reload_by_name() {
        let text = BASE
            .replace("workers: [1]", "workers: [2]")
            .replace("127.0.0.1:8805", "127.0.0.1:8806")
            .replace("node_id: 192.168.1.1", "node_id: 192.168.1.9")
            // A live change beside them is not applied either.
            .replace("teid: 0x200 }", "teid: 0x300 }");
        let Err(ReloadError::NeedsRestart(d)) = plan_of(&text) else {
            panic!("expected NeedsRestart");
        };
        assert_eq!(
            d.restart_required,
            vec!["node_id", "cores.workers", "pfcp.listen"]
        );
        let msg = ReloadError::NeedsRestart(d).to_string();
        assert_eq!(
            msg,
            "refused: needs a restart to change node_id, cores.workers, pfcp.listen"
        );
    }

    /// A reload that changes one session's QoS values (a QoS-only
    /// update), another's DL TEID (an upsert), removes one and adds one:
    /// one publish, whose tables are those of publishing every change as
    /// a whole session (the state lines included: the URR and QER lines
    /// carry over), and a PFCP session beside them is left as it was.
    #[test]
    fn a_reload_publishes_qos_only_changes_as_updates_in_one_snapshot() {
        use dataplane::control::{Control, DataplaneConfig};
        use dataplane::tables::Rules;

        let sessions = |qos: &str, dl2: &str, last: &str| {
            format!(
                "sessions:\n  - {{ id: 1, ue_ip: 10.45.0.2, uplink: {{ teid: 0x100000 }}, downlink: {{ gnb: 192.168.1.2, teid: 0x200 }}, qos: {{ mbr_ul: {qos}, mbr_dl: {qos} }} }}\n  - {{ id: 2, ue_ip: 10.45.0.3, uplink: {{ teid: 0x100001 }}, downlink: {{ gnb: 192.168.1.2, teid: {dl2} }}, qos: {{ mbr_dl: 5Mbps }} }}\n{last}"
            )
        };
        let head = BASE.split("sessions:").next().unwrap().to_owned();
        let a = head.clone()
            + &sessions(
                "100Mbps",
                "0x201",
                "  - { id: 3, ue_ip: 10.45.0.4, uplink: { teid: 0x100002 }, downlink: { gnb: 192.168.1.2, teid: 0x202 } }\n",
            );
        let b = head
            + &sessions(
                "200Mbps",
                "0x301",
                "  - { id: 4, ue_ip: 10.45.0.5, uplink: { teid: 0x100003 }, downlink: { gnb: 192.168.1.2, teid: 0x203 } }\n",
            );
        let old = config::parse(&a, "a.yaml", Some(&host())).unwrap();
        let p = plan_bytes(&old, Path::new("b.yaml"), b.into_bytes(), Some(&host())).unwrap();
        assert_eq!(p.diff.sessions_changed, vec![1, 2]);
        assert_eq!(p.diff.qos_only_at, vec![0]);
        let (batch, qos) = dataplane_changes(&p.config, &p.diff).unwrap();
        assert_eq!(qos.len(), 1);
        assert_eq!(qos[0].session, translate::static_session_id(1));
        assert_eq!(
            batch
                .upserts
                .iter()
                .map(|s| s.id & !translate::STATIC_SESSION_BIT)
                .collect::<Vec<_>>(),
            vec![2, 4]
        );
        assert_eq!(batch.removals, vec![translate::static_session_id(3)]);

        // Two dataplanes with the old config and a PFCP session (an id
        // without the static bit).
        let pfcp = {
            let mut s = dataplane::testkit::session(&dataplane::testkit::SessionSpec::nth(7));
            s.id = 42;
            s
        };
        let install = || {
            let (mut ctl, ports) = Control::new(DataplaneConfig::new(1, 2_000_000_000));
            let mut all: Vec<_> = old
                .sessions
                .iter()
                .map(|s| translate::session(&old.interfaces, s).unwrap())
                .collect();
            all.push(pfcp.clone());
            ctl.publish(Batch {
                upserts: all,
                removals: vec![],
            })
            .unwrap();
            (ctl, ports)
        };
        let entries = |ctl: &Control| -> Vec<(u32, Rules)> {
            let mut v: Vec<(u32, Rules)> = ctl
                .snapshot()
                .teid
                .iter()
                .chain(ctl.snapshot().ue4.iter())
                .map(|(k, r)| (k, r.clone()))
                .collect();
            v.sort_by_key(|e| e.0);
            v
        };
        let (mut quick, _q) = install();
        let (mut whole, _w) = install();
        let pfcp_before: Vec<_> = entries(&quick)
            .into_iter()
            .filter(|(_, r)| r.session() == 42)
            .collect();
        let g = quick.generation();
        quick.publish_changes(batch, &qos, None).unwrap();
        assert_eq!(quick.generation(), g + 1, "one snapshot");
        // Every change as a whole session, as before QoS-only updates.
        let mut all = Batch::default();
        for &i in &p.diff.upserted_at {
            all.upserts
                .push(translate::session(&p.config.interfaces, &p.config.sessions[i]).unwrap());
        }
        all.removals = vec![translate::static_session_id(3)];
        whole.publish(all).unwrap();
        let (eq, ew) = (entries(&quick), entries(&whole));
        assert_eq!(eq.len(), ew.len());
        for ((kq, rq), (kw, rw)) in eq.iter().zip(&ew) {
            assert_eq!((kq, rq.session(), rq.fast()), (kw, rw.session(), rw.fast()));
            // Versions count publishes' sessions in their own order.
            let unversioned = |r: &Rules| {
                r.pdrs()
                    .iter()
                    .map(|p| dataplane::tables::CPdr {
                        version: 0,
                        ..p.clone()
                    })
                    .collect::<Vec<_>>()
            };
            assert_eq!(unversioned(rq), unversioned(rw), "key {kq:#x}");
        }
        // Session 1's meters are the new ones; the PFCP session's entries
        // are untouched.
        let s1 = eq
            .iter()
            .find(|(k, _)| *k == 0x0010_0000)
            .map(|(_, r)| r.fast().rate_q32)
            .unwrap();
        let want = dataplane::tables::MeterParams::new(200_000_000, 0, 2_000_000_000).rate_q32;
        assert_eq!(s1, want);
        let pfcp_after: Vec<_> = eq.into_iter().filter(|(_, r)| r.session() == 42).collect();
        assert_eq!(pfcp_after.len(), pfcp_before.len());
        for ((ka, ra), (kb, rb)) in pfcp_after.iter().zip(&pfcp_before) {
            assert_eq!((ka, ra.fast(), &*ra.pdrs()), (kb, rb.fast(), &*rb.pdrs()));
        }
    }

    /// What the helper thread prepares (`prepare`) is what the control
    /// thread computed before: the same plan, diff and dataplane changes,
    /// and the same refusals.
    #[test]
    fn prepare_gives_what_plan_and_translate_give() {
        let text = BASE.replace("teid: 0x200 }", "teid: 0x300 }").replace(
            "teid: 0x201 }",
            "teid: 0x201 }, qos: { mbr_ul: 5Mbps, mbr_dl: 5Mbps }",
        ) + "  - { id: 3, ue_ip: 10.45.0.4, uplink: { teid: 0x100002 }, downlink: { gnb: 192.168.1.2, teid: 0x202 } }\n";
        let cur = current();
        let path = Path::new("t.yaml");
        let r = prepare(&cur, path, text.clone().into_bytes(), Some(&host())).unwrap();
        let p = plan_bytes(&cur, path, text.into_bytes(), Some(&host())).unwrap();
        assert_eq!(r.plan.config, p.config);
        assert_eq!(r.plan.diff, p.diff);
        let (b1, q1) = r.changes.unwrap();
        let (b2, q2) = dataplane_changes(&p.config, &p.diff).unwrap();
        // (Batch and QerUpdate have no `PartialEq`: compared as printed.)
        assert_eq!(format!("{b1:?}"), format!("{b2:?}"));
        assert_eq!(format!("{q1:?}"), format!("{q2:?}"));
        assert_eq!(b1.upserts.len(), 3, "sessions 1, 2 (a new QER) and 3");
        // Refusals are the same errors.
        let bad = BASE.replace("teid: 0x201 }", "teid: 0 }");
        let Err(ReloadError::Invalid(e)) = prepare(&cur, path, bad.into_bytes(), Some(&host()))
        else {
            panic!("expected Invalid");
        };
        assert!(e.to_string().starts_with("t.yaml:12:"), "{e}");
        let restart = BASE.replace("workers: [1]", "workers: [2]");
        let Err(ReloadError::NeedsRestart(d)) =
            prepare(&cur, path, restart.into_bytes(), Some(&host()))
        else {
            panic!("expected NeedsRestart");
        };
        assert_eq!(d.restart_required, vec!["cores.workers"]);
    }

    #[test]
    fn not_utf8_is_invalid_not_a_panic() {
        let dir = std::env::temp_dir().join(format!("upf-reload-utf8-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("bad.yaml");
        std::fs::write(&f, b"node_id: \xff\n").unwrap();
        let r = plan(&current(), &f, Some(&host()));
        assert!(matches!(r, Err(ReloadError::Invalid(_))));
        assert!(matches!(
            plan(&current(), &dir.join("missing.yaml"), Some(&host())),
            Err(ReloadError::Invalid(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
