// SPDX-License-Identifier: GPL-2.0

//! Two threads scanning one mm at once: 512 MiB of written 4 KiB anon
//! pages asked "which pages are present", by one thread ([`Method::Rust`],
//! [`Method::C`]), or by two at once ([`Method::Rust2`], [`Method::C2`]:
//! each its half, with its own fd and vector, both under the one mmap
//! lock), interleaved in each repetition like any methods. The scaling is
//! the ratio of their wall times; only the wall-time boot has two CPUs.

use crate::dense::size;
use crate::method::Method;
use crate::pagemap::Masks;
use crate::scan::scan_all;
use crate::workload::{Tools, Workload, VEC_LEN};
use pagemap_scan_selftests::layout::{Area, Kind};
use pagemap_scan_selftests::mem::PAGE;
use pagemap_scan_selftests::scanner::Scanner;
use pagemap_scan_selftests::uapi::{PageRegion, PAGE_IS_PRESENT};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread::JoinHandle;

/// A range to scan with a method.
type Job = (Method, u64, u64);

/// The second thread: started once, so a run times scans, not thread
/// creation; it ends when its job channel closes.
struct Helper {
    jobs: Option<Sender<Job>>,
    found: Receiver<Result<u64, String>>,
    thread: Option<JoinHandle<()>>,
}

impl Helper {
    fn start() -> Result<Helper, String> {
        let (dev, proc) = Scanner::pair()?;
        let (jobs, job_rx) = channel::<Job>();
        let (found_tx, found) = channel();
        let thread = std::thread::spawn(move || {
            let mut vec = vec![PageRegion::default(); VEC_LEN];
            for (m, start, end) in job_rx {
                let s = if m.is_rust() { &dev } else { &proc };
                if found_tx.send(present(s, start, end, &mut vec)).is_err() {
                    return;
                }
            }
        });
        Ok(Helper {
            jobs: Some(jobs),
            found,
            thread: Some(thread),
        })
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The present pages of `[start, end)` by `s`.
fn present(s: &Scanner, start: u64, end: u64, vec: &mut [PageRegion]) -> Result<u64, String> {
    let a = Masks::only(PAGE_IS_PRESENT).arg(start, end);
    scan_all(s, a, vec, None, |_| Ok(()))
}

/// The memory and the second thread.
pub struct Threads {
    area: Area,
    helper: Helper,
}

impl Threads {
    /// 512 MiB (64 MiB quick) of written anon.
    pub fn new(quick: bool) -> Result<Threads, String> {
        let pages = if quick { 16384 } else { 131072 };
        let area = Area::of(Kind::Anon, pages)?;
        area.write(0, pages)?;
        Ok(Threads {
            area,
            helper: Helper::start()?,
        })
    }
}

impl Workload for Threads {
    fn key(&self) -> &'static str {
        "threads"
    }

    fn describe(&self) -> String {
        format!(
            "anon 4 KiB pages {} written scanned by 1 thread or 2 at once (each half)",
            size(self.area.pages() * PAGE)
        )
    }

    fn units(&self) -> u64 {
        self.area.pages() as u64
    }

    fn methods(&self) -> &'static [Method] {
        &[Method::Rust, Method::C, Method::Rust2, Method::C2]
    }

    fn run(&mut self, m: Method, tools: &mut Tools) -> Result<u64, String> {
        let (start, end) = (self.area.base(), self.area.end());
        let (s, vec) = tools.ioctl(m);
        if matches!(m, Method::Rust | Method::C) {
            return present(s, start, end, vec);
        }
        let h = &self.helper;
        let mid = self.area.page(self.area.pages() / 2);
        h.jobs
            .as_ref()
            .expect("until drop")
            .send((m, mid, end))
            .map_err(|_| "the helper thread is gone".to_string())?;
        let mine = present(s, start, mid, vec);
        let theirs = h
            .found
            .recv()
            .map_err(|_| "the helper thread is gone".to_string())?;
        Ok(mine? + theirs?)
    }
}
