// SPDX-License-Identifier: GPL-2.0

//! Shared pieces of the pagemap_scan selftests: the two scanners, memory, TAP.

pub mod cgroup;
pub mod churn;
pub mod knob;
pub mod layout;
pub mod mem;
pub mod numa;
pub mod rng;
pub mod scanner;
pub mod tap;
pub mod uffd;

pub use pagemap_scan_core::uapi;
