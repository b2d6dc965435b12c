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

use crate::config::{self, Config, ConfigDiff, ConfigError, HostInfo};

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
