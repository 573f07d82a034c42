// SPDX-License-Identifier: GPL-2.0

//! Kernel tunables (files under /sys and /proc) set for as long as a test or
//! the stress run needs them and put back afterwards: they are global, and
//! the tests after this one expect the boot's values.

use std::path::{Path, PathBuf};

/// A tunable set to a new value; the old value is written back on drop.
///
/// # Invariants
///
/// `old` is what `path` read before this value wrote it.
pub struct Knob {
    path: PathBuf,
    old: String,
}

/// The contents of a tunable, trimmed; the error names the file.
pub fn read(path: impl AsRef<Path>) -> Result<String, String> {
    let path = path.as_ref();
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .map_err(|e| format!("read {}: {e}", path.display()))
}

/// Writes `value` to a tunable; the error names the file and the value.
pub fn write(path: impl AsRef<Path>, value: &str) -> Result<(), String> {
    let path = path.as_ref();
    std::fs::write(path, value).map_err(|e| format!("write {value:?} to {}: {e}", path.display()))
}

/// A tunable read as a number (a /proc/vmstat-style counter file).
pub fn number(path: impl AsRef<Path>) -> Result<u64, String> {
    let s = read(&path)?;
    s.parse()
        .map_err(|e| format!("{}: {s:?}: {e}", path.as_ref().display()))
}

/// A counter of /proc/vmstat (`numa_pte_updates`, say); 0 if absent.
pub fn vmstat(name: &str) -> u64 {
    std::fs::read_to_string("/proc/vmstat")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0)
}

/// Mounts a pseudo filesystem (`debugfs`, `cgroup2`) at `target` unless
/// `marker`, a file it shows, is there already.
pub fn mount(fstype: &std::ffi::CStr, target: &std::ffi::CStr, marker: &str) -> Result<(), String> {
    if Path::new(marker).exists() {
        return Ok(());
    }
    let dir = target.to_string_lossy();
    std::fs::create_dir_all(&*dir).map_err(|e| format!("mkdir {dir}: {e}"))?;
    // SAFETY: NUL-terminated strings and no data, as mount(2) takes them.
    let r = unsafe {
        libc::mount(
            fstype.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if r != 0 {
        let e = std::io::Error::last_os_error();
        return Err(format!("mount {} at {dir}: {e}", fstype.to_string_lossy()));
    }
    Ok(())
}

/// Calls `reached` until it gives `Some`, at most for `limit`: the value,
/// or `None` if it never did. Waits for the kernel's background work (ksmd,
/// NUMA balancing) to get somewhere; the limit only bounds the wait.
pub fn wait_for<T>(
    limit: std::time::Duration,
    mut reached: impl FnMut() -> Result<Option<T>, String>,
) -> Result<Option<T>, String> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(v) = reached()? {
            return Ok(Some(v));
        }
        if std::time::Instant::now() > deadline {
            return Ok(None);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

impl Knob {
    /// Sets `path` to `value`, remembering what it was.
    pub fn set(path: impl Into<PathBuf>, value: &str) -> Result<Knob, String> {
        let path = path.into();
        let old = read(&path)?;
        write(&path, value)?;
        // INVARIANT: `old` was read before the write.
        Ok(Knob { path, old })
    }

    /// The value a selection file (`always [madvise] never`) had: the
    /// bracketed word, else the whole value.
    fn restorable(&self) -> &str {
        match (self.old.find('['), self.old.find(']')) {
            (Some(open), Some(close)) if open < close => &self.old[open + 1..close],
            _ => &self.old,
        }
    }
}

impl Drop for Knob {
    fn drop(&mut self) {
        // Nothing to report to: a failed restore shows in the next test.
        let _ = write(&self.path, self.restorable());
    }
}

#[cfg(test)]
mod tests {
    use super::Knob;

    fn knob(old: &str) -> Knob {
        Knob {
            path: "/nonexistent".into(),
            old: old.into(),
        }
    }

    #[test]
    fn a_selection_is_restored_as_its_chosen_word() {
        assert_eq!(knob("always [madvise] never").restorable(), "madvise");
        assert_eq!(
            knob("[always] inherit madvise never").restorable(),
            "always"
        );
    }

    #[test]
    fn a_plain_value_is_restored_as_it_was() {
        assert_eq!(knob("1").restorable(), "1");
        assert_eq!(knob("Y").restorable(), "Y");
    }
}
