//! Config reload, the decision part: read and validate the file exactly as
//! `upf check` does, diff it against the running config, and decide
//! whether it may be applied. Applying (publishing session tables, PFCP
//! settings) is the caller's job; this stays free of I/O beyond reading
//! the file so that it is testable.
//!
//! Policy: a reload that changes a restart-only setting (devices, cores,
//! EAL arguments, node ID, listen addresses, dataplane sizing) is refused
//! as a whole, naming those settings; nothing changes. All-or-nothing keeps
//! the running config equal to a file that `upf check` accepts.

use std::path::Path;

use crate::config::{self, Config, ConfigDiff, ConfigError, HostInfo};

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
}

/// Reads `path`, validates it and diffs it against `current`.
///
/// # Errors
/// [`ReloadError::Invalid`] for a bad file, [`ReloadError::NeedsRestart`]
/// for a change that cannot be applied live.
pub fn plan(
    current: &Config,
    path: &Path,
    host: Option<&HostInfo>,
) -> Result<ReloadPlan, ReloadError> {
    let config = config::load(path, host).map_err(ReloadError::Invalid)?;
    let diff = current.diff(&config);
    if !diff.restart_required.is_empty() {
        return Err(ReloadError::NeedsRestart(diff));
    }
    Ok(ReloadPlan { config, diff })
}
