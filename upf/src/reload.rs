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
    NeedsRestart(ConfigDiff),
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
    let config = match String::from_utf8(bytes) {
        Ok(text) => config::parse(&text, &path.display().to_string(), host),
        // `load` words the encoding error with its position.
        Err(_) => config::load(path, host),
    }
    .map_err(ReloadError::Invalid)?;
    let parse_time = t0.elapsed();
    let t1 = Instant::now();
    let diff = current.diff(&config);
    let diff_time = t1.elapsed();
    if !diff.restart_required.is_empty() {
        return Err(ReloadError::NeedsRestart(diff));
    }
    Ok(ReloadPlan {
        config,
        diff,
        parse_time,
        diff_time,
    })
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
