// SPDX-License-Identifier: GPL-2.0

//! A memory cgroup (v2) of the calling process's own, as a distribution
//! runs services in: for reclaim (`memory.max`, `memory.reclaim`) that
//! pushes the process's pages to swap or zswap.

use crate::knob;
use crate::skip;
use crate::tap::Failure;
use std::path::{Path, PathBuf};

const ROOT: &str = "/sys/fs/cgroup";

/// A cgroup this process moved into (with all its threads); on drop the
/// process goes back to the root and the cgroup is removed.
///
/// # Invariants
///
/// `dir` is a cgroup directory this value created.
pub struct Cgroup {
    dir: PathBuf,
}

impl Cgroup {
    /// Mounts cgroup v2 if needed, enables the memory controller, makes
    /// `ROOT/name.PID` and moves this process into it. A kernel without
    /// cgroup v2 or the memory controller gives [`Failure::Skip`].
    pub fn join(name: &str) -> Result<Cgroup, Failure> {
        let root = Path::new(ROOT);
        let filesystems = knob::read("/proc/filesystems")?;
        if !filesystems.split_whitespace().any(|f| f == "cgroup2") {
            skip!("no cgroup2 in /proc/filesystems (no CONFIG_CGROUPS)");
        }
        knob::mount(
            c"cgroup2",
            c"/sys/fs/cgroup",
            "/sys/fs/cgroup/cgroup.controllers",
        )
        .map_err(Failure::Skip)?;
        let controllers = knob::read(root.join("cgroup.controllers"))?;
        if !controllers.split_whitespace().any(|c| c == "memory") {
            skip!("no memory controller in {ROOT}/cgroup.controllers");
        }
        knob::write(root.join("cgroup.subtree_control"), "+memory")?;
        let dir = root.join(format!("{name}.{}", std::process::id()));
        std::fs::create_dir(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        // INVARIANT: the directory was just created.
        let cg = Cgroup { dir };
        // "0": the writer, with all its threads.
        cg.set("cgroup.procs", "0")?;
        Ok(cg)
    }

    /// Writes one of its files (`memory.max`, `memory.reclaim`).
    pub fn set(&self, file: &str, value: &str) -> Result<(), String> {
        knob::write(self.dir.join(file), value)
    }

    /// `memory.stat`'s `key`, 0 where the kernel has no such line.
    pub fn stat(&self, key: &str) -> u64 {
        knob::read(self.dir.join("memory.stat"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0)
    }

    /// Proactive reclaim of `bytes` (EAGAIN where less could be reclaimed).
    pub fn reclaim(&self, bytes: usize) -> Result<(), String> {
        self.set("memory.reclaim", &bytes.to_string())
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        // Nothing to report to: a cgroup left behind shows in the next test.
        let _ = knob::write(Path::new(ROOT).join("cgroup.procs"), "0");
        let _ = std::fs::remove_dir(&self.dir);
    }
}
