// SPDX-License-Identifier: GPL-2.0

//! The pure logic of the pagemap_scan module, built for the host.
//!
//! These are the module's own source files (`mod` of the same paths), not
//! copies: what `cargo test` checks is what the kernel runs.

pub mod abi;
pub mod args;
pub mod c_define;
pub mod category;
pub mod features;
pub mod ibt;
pub mod output;
pub mod uapi;
