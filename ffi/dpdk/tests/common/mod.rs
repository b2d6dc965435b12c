//! Shared helpers for the integration tests. Each test file is its own
//! process because DPDK's EAL starts once per process.
#![allow(dead_code)]

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::{Path, PathBuf};

use dpdk::Eal;

/// The CPUs this process may run on (from /proc/self/status).
pub fn allowed_cpus() -> Vec<u32> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap_or("0")
        .trim()
        .to_owned();
    let mut cpus = Vec::new();
    for part in list.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().unwrap(), b.parse().unwrap());
                cpus.extend(a..=b);
            }
            None => cpus.push(part.parse().unwrap()),
        }
    }
    cpus
}

/// EAL arguments for a test: no hugepages, no PCI, a unique file prefix,
/// and `lcores` lcores mapped onto the CPUs we may use (lcore 0 = main).
pub fn eal_args(test: &str, lcores: u32) -> Vec<String> {
    let cpus = allowed_cpus();
    let map: Vec<String> = (0..lcores)
        .map(|i| format!("{i}@{}", cpus[(i as usize) % cpus.len()]))
        .collect();
    [
        "--lcores".to_owned(),
        map.join(","),
        "--no-huge".into(),
        "-m".into(),
        "512".into(),
        "--no-pci".into(),
        "--file-prefix".into(),
        format!("ffi-test-{test}-{}", std::process::id()),
    ]
    .into()
}

/// Starts EAL, runs `f`, then drops the EAL (cleanup) and removes its
/// runtime directory, also when `f` panics.
pub fn with_eal(test: &str, lcores: u32, f: impl FnOnce(&Eal)) {
    let eal = Eal::init(&eal_args(test, lcores)).expect("EAL init");
    let dir = eal.runtime_dir();
    let r = catch_unwind(AssertUnwindSafe(|| f(&eal)));
    drop(eal);
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(p) = r {
        resume_unwind(p);
    }
}

/// A scratch directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(test: &str) -> Self {
        let p = std::env::temp_dir().join(format!("ffi-test-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes a classic pcap file (microsecond timestamps, Ethernet).
pub fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes()); // LINKTYPE_ETHERNET
    for (i, f) in frames.iter().enumerate() {
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&u32::try_from(i).unwrap().to_le_bytes());
        let len = u32::try_from(f.len()).unwrap();
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(f);
    }
    std::fs::write(path, out).unwrap();
}

/// Reads the frames of a little-endian pcap file (µs or ns timestamps).
pub fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
    let b = std::fs::read(path).unwrap();
    assert!(b.len() >= 24, "{} is not a pcap file", path.display());
    let magic = u32::from_le_bytes(b[0..4].try_into().unwrap());
    assert!(
        magic == 0xa1b2_c3d4 || magic == 0xa1b2_3c4d,
        "unexpected pcap magic {magic:#x}"
    );
    let mut frames = Vec::new();
    let mut off = 24;
    while off + 16 <= b.len() {
        let incl = u32::from_le_bytes(b[off + 8..off + 12].try_into().unwrap()) as usize;
        off += 16;
        frames.push(b[off..off + incl].to_vec());
        off += incl;
    }
    assert_eq!(off, b.len(), "truncated pcap record");
    frames
}

/// A deterministic Ethernet frame of `len` bytes whose content encodes `seq`.
pub fn test_frame(seq: u32, len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len];
    f[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x02]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    f[12..14].copy_from_slice(&0x88b5u16.to_be_bytes()); // local experimental
    f[14..18].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in f.iter_mut().enumerate().skip(18) {
        *b = (i as u32).wrapping_mul(31).wrapping_add(seq) as u8;
    }
    f
}
