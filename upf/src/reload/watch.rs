//! `reload: { watch: true }`: turns changes of the config file into reload
//! triggers for the control thread's `select!`, beside SIGHUP.
//!
//! The file's *directory* is watched, not the file: editors save by
//! writing a new file and renaming it over the old one (a watch on the old
//! inode would go quiet), and a Kubernetes ConfigMap volume swaps a
//! `..data` symlink to a new directory, so the file name itself may see no
//! event at all. Events are filtered to the file's name (and the target's,
//! when it is a symlink elsewhere) and to `..`-prefixed entries, then
//! debounced: the trigger fires once nothing relevant happened for
//! `reload.debounce`. Whether the content really changed is the caller's
//! check (it compares the bytes it reads). `notify` (inotify on Linux) does
//! the watching on its own thread; events cross to tokio over a channel.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::event::{AccessKind, AccessMode, EventKind};
use notify::{RecursiveMode, Watcher as _};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// A directory watch on the config file, debounced.
pub struct ConfigWatch {
    _watcher: notify::RecommendedWatcher,
    rx: mpsc::UnboundedReceiver<Result<(), String>>,
    debounce: Duration,
    due: Option<Instant>,
    dirs: Vec<PathBuf>,
    closed: bool,
}

impl std::fmt::Debug for ConfigWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigWatch")
            .field("dirs", &self.dirs)
            .field("debounce", &self.debounce)
            .field("due", &self.due)
            .finish_non_exhaustive()
    }
}

/// Whether an event can mean that the file's content changed: writes,
/// creations, renames, removals, attribute changes; not reads or opens.
fn relevant_kind(kind: EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// Whether `path` (from an event in a watched directory) is the config
/// file, its symlink target, or a `..`-prefixed entry (a ConfigMap's
/// `..data` and `..<timestamp>` directories).
fn relevant_name(path: &Path, names: &HashSet<OsString>) -> bool {
    path.file_name()
        .is_some_and(|n| names.contains(n) || n.as_encoded_bytes().starts_with(b".."))
}

fn dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

impl ConfigWatch {
    /// Starts watching the directory of `path` (and of its final target,
    /// when it is a symlink into another directory).
    ///
    /// # Errors
    /// When the watch cannot be set up (no such directory, inotify limits).
    pub fn new(path: &Path, debounce: Duration) -> Result<Self, notify::Error> {
        let mut dirs = vec![dir_of(path)];
        let mut names: HashSet<OsString> =
            path.file_name().map(OsString::from).into_iter().collect();
        if let Ok(target) = std::fs::canonicalize(path) {
            if let Some(n) = target.file_name() {
                names.insert(n.to_owned());
            }
            let tdir = dir_of(&target);
            let same = std::fs::canonicalize(&dirs[0]).is_ok_and(|d| d == tdir);
            if !same {
                dirs.push(tdir);
            }
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let mut watcher =
            notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
                let msg = match res {
                    Ok(ev) => {
                        if !relevant_kind(ev.kind)
                            || !ev.paths.iter().any(|p| relevant_name(p, &names))
                        {
                            return;
                        }
                        Ok(())
                    }
                    Err(e) => Err(e.to_string()),
                };
                // The receiver is gone only while the UPF stops.
                let _ = tx.send(msg);
            })?;
        for d in &dirs {
            watcher.watch(d, RecursiveMode::NonRecursive)?;
        }
        Ok(Self {
            _watcher: watcher,
            rx,
            debounce,
            due: None,
            dirs,
            closed: false,
        })
    }

    /// The quiet time before a trigger.
    #[must_use]
    pub fn debounce(&self) -> Duration {
        self.debounce
    }

    /// The directories watched.
    #[must_use]
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// Resolves once a relevant change was followed by `debounce` of
    /// quiet. Cancel-safe: the pending deadline survives a `select!` that
    /// picked another branch.
    pub async fn changed(&mut self) {
        loop {
            let due = self.due;
            tokio::select! {
                ev = self.rx.recv(), if !self.closed => match ev {
                    Some(Ok(())) => self.due = Some(Instant::now() + self.debounce),
                    Some(Err(e)) => log::warn!("reload.watch: {e}"),
                    None => {
                        log::error!("reload.watch: the watcher stopped; SIGHUP still reloads");
                        self.closed = true;
                    }
                },
                () = async {
                    match due {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                } => {
                    self.due = None;
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> HashSet<OsString> {
        n.iter().map(OsString::from).collect()
    }

    #[test]
    fn names_that_count() {
        let n = names(&["upf.yaml"]);
        assert!(relevant_name(Path::new("/etc/upf/upf.yaml"), &n));
        assert!(relevant_name(Path::new("/etc/upf/..data"), &n));
        assert!(relevant_name(
            Path::new("/etc/upf/..2026_11_26_01_02_03.123"),
            &n
        ));
        assert!(!relevant_name(Path::new("/etc/upf/other.yaml"), &n));
        assert!(!relevant_name(Path::new("/etc/upf/.upf.yaml.swp"), &n));
    }

    #[test]
    fn reads_do_not_count() {
        assert!(!relevant_kind(EventKind::Access(AccessKind::Read)));
        assert!(!relevant_kind(EventKind::Access(AccessKind::Close(
            AccessMode::Read
        ))));
        assert!(relevant_kind(EventKind::Access(AccessKind::Close(
            AccessMode::Write
        ))));
        assert!(relevant_kind(EventKind::Modify(
            notify::event::ModifyKind::Any
        )));
        assert!(relevant_kind(EventKind::Create(
            notify::event::CreateKind::File
        )));
    }

    /// Waits for `w` to fire, with a deadline.
    async fn fires(w: &mut ConfigWatch, within: Duration) -> bool {
        tokio::time::timeout(within, w.changed()).await.is_ok()
    }

    #[tokio::test]
    async fn editor_rename_and_configmap_swap_fire_once_each() {
        let dir = std::env::temp_dir().join(format!("upf-watch-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("upf.yaml");
        std::fs::write(&file, "a").unwrap();
        let mut w = ConfigWatch::new(&file, Duration::from_millis(50)).unwrap();

        // Nothing happened: no trigger.
        assert!(!fires(&mut w, Duration::from_millis(200)).await);

        // An editor's save: write a temporary file, rename it over.
        let tmp = dir.join(".upf.yaml.tmp");
        std::fs::write(&tmp, "b").unwrap();
        std::fs::rename(&tmp, &file).unwrap();
        assert!(fires(&mut w, Duration::from_secs(5)).await);
        // Debounced into one trigger.
        assert!(!fires(&mut w, Duration::from_millis(200)).await);

        // An unrelated file in the same directory: no trigger.
        std::fs::write(dir.join("other.txt"), "x").unwrap();
        assert!(!fires(&mut w, Duration::from_millis(200)).await);

        // A ConfigMap-style swap: ..data -> new dir, file a symlink through it.
        std::fs::remove_file(&file).unwrap();
        let _ = fires(&mut w, Duration::from_millis(200)).await;
        let v1 = dir.join("..v1");
        std::fs::create_dir(&v1).unwrap();
        std::fs::write(v1.join("upf.yaml"), "c").unwrap();
        std::os::unix::fs::symlink("..v1", dir.join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/upf.yaml", &file).unwrap();
        let _ = fires(&mut w, Duration::from_millis(300)).await;
        let v2 = dir.join("..v2");
        std::fs::create_dir(&v2).unwrap();
        std::fs::write(v2.join("upf.yaml"), "d").unwrap();
        std::os::unix::fs::symlink("..v2", dir.join("..data_tmp")).unwrap();
        std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
        assert!(fires(&mut w, Duration::from_secs(5)).await);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "d");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
