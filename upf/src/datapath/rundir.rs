//! The EAL runtime directory (`/var/run/dpdk/<file-prefix>` as root): DPDK
//! creates it at start-up and never removes it. `upf run` removes it when
//! it stops, and after a failed start-up too, unless it belonged to
//! someone else (another process running with the same `--file-prefix`,
//! whose presence is what made EAL refuse to start).

use std::path::PathBuf;

/// Removes the runtime directory on drop, if it is ours.
#[derive(Debug)]
pub(super) struct RuntimeDir {
    path: PathBuf,
    ours: bool,
}

/// Where EAL 22.11 puts the runtime directory of `prefix`
/// (`eal_create_runtime_dir`): `/var/run` for root, else
/// `$XDG_RUNTIME_DIR` or `/tmp`, then `dpdk/<prefix>`.
fn default_path(prefix: &str) -> PathBuf {
    let base = if is_root() {
        PathBuf::from("/var/run")
    } else {
        std::env::var_os("XDG_RUNTIME_DIR").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from)
    };
    base.join("dpdk").join(prefix)
}

fn is_root() -> bool {
    // The owner of /proc/self is the process's effective uid.
    std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
}

impl RuntimeDir {
    /// Before `rte_eal_init`: the directory it will use, and whether it is
    /// ours to remove should the start fail (it did not exist yet).
    pub(super) fn before_init(prefix: &str) -> Self {
        let path = default_path(prefix);
        let ours = !path.exists();
        Self { path, ours }
    }

    /// EAL started: the directory is ours whatever was there before (a
    /// stale one of a crashed run with the same prefix).
    pub(super) fn initialised(&mut self, path: PathBuf) {
        self.path = path;
        self.ours = true;
    }
}

impl Drop for RuntimeDir {
    fn drop(&mut self) {
        if !self.ours || self.path.as_os_str().is_empty() {
            return;
        }
        match std::fs::remove_dir_all(&self.path) {
            Ok(()) => log::debug!("removed the EAL runtime directory {}", self.path.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => log::warn!(
                "could not remove the EAL runtime directory {}: {e}",
                self.path.display()
            ),
        }
    }
}
