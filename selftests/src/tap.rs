// SPDX-License-Identifier: GPL-2.0

//! kselftest-style TAP output: `TAP version 13`, `1..N`, `ok`/`not ok` lines
//! (`# SKIP reason` for a test whose facility is missing), the `# Totals:`
//! line the kselftest runner reads, and kselftest's exit codes.
//!
//! Each test runs in a child process of its own, as `kselftest_harness.h`
//! runs them: a test that crashes or is killed fails alone, and the stream
//! goes on. `PMS_TESTS=word` runs only the tests whose name contains `word`
//! (the others are reported skipped).

use std::io::{Read, Write};
use std::os::fd::FromRawFd;

/// Why a test did not pass.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// It failed: what went wrong.
    Fail(String),
    /// It could not run here: the missing facility.
    Skip(String),
}

/// Any error a test meets (a message, an errno, an API error) fails it.
impl<E: std::fmt::Display> From<E> for Failure {
    fn from(why: E) -> Self {
        Failure::Fail(why.to_string())
    }
}

/// A test's outcome.
pub type Outcome = Result<(), Failure>;

/// A named test: the name printed on its result line, and its body.
pub type Test = (&'static str, fn() -> Outcome);

/// kselftest's exit code when every test was skipped (`KSFT_SKIP`).
pub const KSFT_SKIP: i32 = 4;

/// Fails the current test with a formatted message unless `cond` holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+).into());
        }
    };
}

/// Skips the current test, giving the missing facility.
#[macro_export]
macro_rules! skip {
    ($($msg:tt)+) => {
        return Err($crate::tap::Failure::Skip(format!($($msg)+)))
    };
}

/// Runs `test` in a child process; its outcome comes back through a pipe.
fn isolated(test: fn() -> Outcome) -> Outcome {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("pipe: {}", std::io::Error::last_os_error()).into());
    }
    // SAFETY: both descriptors are new and owned here.
    let (mut rx, mut tx) = unsafe {
        (
            std::fs::File::from_raw_fd(fds[0]),
            std::fs::File::from_raw_fd(fds[1]),
        )
    };
    std::io::stdout().flush().ok();
    // SAFETY: the harness is single-threaded; the child only runs the test and exits.
    match unsafe { libc::fork() } {
        -1 => Err(format!("fork: {}", std::io::Error::last_os_error()).into()),
        0 => {
            drop(rx);
            let (kind, why) = match test() {
                Ok(()) => ('o', String::new()),
                Err(Failure::Fail(why)) => ('f', why),
                Err(Failure::Skip(why)) => ('s', why),
            };
            std::io::stdout().flush().ok();
            let _ = write!(tx, "{kind}{why}");
            drop(tx);
            // SAFETY: ends the child without running the parent's exit handlers.
            unsafe { libc::_exit(0) }
        }
        child => {
            drop(tx);
            let mut report = String::new();
            let read = rx.read_to_string(&mut report);
            let mut status = 0;
            // SAFETY: `child` is our child; `status` is writable.
            unsafe { libc::waitpid(child, &mut status, 0) };
            let mut chars = report.chars();
            match (read, chars.next()) {
                (Ok(_), Some('o')) => Ok(()),
                (Ok(_), Some('s')) => Err(Failure::Skip(chars.collect())),
                (Ok(_), Some('f')) => Err(Failure::Fail(chars.collect())),
                _ if libc::WIFSIGNALED(status) => Err(format!(
                    "the test's process was killed by signal {}",
                    libc::WTERMSIG(status)
                )
                .into()),
                _ => Err(
                    format!("the test's process exited with status {status:#x}, no outcome").into(),
                ),
            }
        }
    }
}

/// Runs `tests` in order, prints TAP, returns kselftest's exit status: 0 all
/// passed (some may have been skipped), 1 one failed, 4 all were skipped.
pub fn run(tests: &[Test]) -> i32 {
    let only = std::env::var("PMS_TESTS").ok().filter(|s| !s.is_empty());
    println!("TAP version 13");
    println!("1..{}", tests.len());
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for (i, (name, test)) in tests.iter().enumerate() {
        let outcome = match &only {
            Some(word) if !name.contains(word.as_str()) => {
                Err(Failure::Skip(format!("not selected (PMS_TESTS={word})")))
            }
            _ => isolated(*test),
        };
        match outcome {
            Ok(()) => {
                passed += 1;
                println!("ok {} {name}", i + 1);
            }
            Err(Failure::Skip(why)) => {
                skipped += 1;
                println!("ok {} {name} # SKIP {why}", i + 1);
            }
            Err(Failure::Fail(why)) => {
                failed += 1;
                for line in why.lines() {
                    println!("# {line}");
                }
                println!("not ok {} {name}", i + 1);
            }
        }
    }
    println!("# Totals: pass:{passed} fail:{failed} xfail:0 xpass:0 skip:{skipped} error:0");
    if failed != 0 {
        1
    } else if passed == 0 && skipped != 0 {
        KSFT_SKIP
    } else {
        0
    }
}
