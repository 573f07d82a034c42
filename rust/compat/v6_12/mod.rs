// SPDX-License-Identifier: GPL-2.0

//! Adapters for Linux 6.12, whose kernel crate lacks what the module uses
//! from later ones. Each file is a reduced copy of the shape of the upstream
//! file it is named after (the subset the module calls), over C helpers in
//! `helpers.c` next to it where 6.12's bindings cannot reach.

pub(crate) mod fs;
pub(crate) mod miscdevice;
pub(crate) mod mm;
mod sys;
pub(crate) mod uaccess;
pub(crate) mod virt;

/// `PTRACE_MODE_READ_FSCREDS`, absent from 6.12's bindings (checked against
/// the kernel's by `helpers.c`).
pub(crate) const PTRACE_MODE_READ_FSCREDS: kernel::ffi::c_uint = 0x01 | 0x08;
