// SPDX-License-Identifier: GPL-2.0

//! The one place where an address becomes a callable kernel function.
//!
//! Linux does not export the mm functions a page-table scan needs
//! (`walk_page_range`, ...). At load, this file finds `kallsyms_lookup_name`
//! through a kprobe, looks up every function in the C side's table
//! (`pms_ksym_slots()` in `helpers.c`), checks that each lies in the core
//! kernel text and may be called on this CPU and kernel ([`ibt`]), and only
//! then points the C side's static call at it. Any failure refuses the load
//! with a message naming the function.

use crate::ibt::{self, CallPolicy, Unsafe};
use crate::sys;
use kernel::bindings;
use kernel::c_str;
use kernel::ffi::{c_ulong, c_void};
use kernel::prelude::*;
use kernel::str::CStr;

/// Points the C side's calls at the non-exported functions, or explains why not.
pub(crate) fn resolve() -> Result {
    // Calls go through `kallsyms_lookup_name`, found first, then the text bounds.
    let mut policy = CallPolicy {
        // SAFETY: reads the kernel configuration.
        direct_calls: unsafe { sys::pms_direct_calls() },
        // Filled in below; nothing is accepted before.
        text: (0, 0),
        // SAFETY: reads CPU feature bits.
        ibt_enforced: unsafe { sys::pms_ibt_enforced() },
        // SAFETY: reads the kernel configuration.
        kcfi: unsafe { sys::pms_kcfi_enabled() },
    };
    let (name, lookup) = kallsyms_lookup_name()?;
    // Callable before its text bounds are known (it gives them)...
    let anywhere = CallPolicy {
        text: (0, u64::MAX),
        ..policy
    };
    check_callable(&anywhere, name, lookup)?;
    let stext = lookup_symbol(c_str!("_stext"))?;
    let etext = lookup_symbol(c_str!("_etext"))?;
    policy.text = (stext, etext);
    // ... and in them.
    check_callable(&policy, name, lookup)?;

    let mut len = 0;
    // SAFETY: returns a static table of `len` entries.
    let slots = unsafe { sys::pms_ksym_slots(&mut len) };
    // SAFETY: `slots` points to `len` initialised entries that live forever.
    let slots = unsafe { core::slice::from_raw_parts(slots, len) };
    for slot in slots {
        // SAFETY: table names are NUL-terminated string literals.
        let name = unsafe { CStr::from_char_ptr(slot.name) };
        let addr = lookup_symbol(name)?;
        if slot.is_function {
            check_callable(&policy, name, addr)?;
        }
        // SAFETY: `addr` is the kernel's symbol of this slot's name, checked
        // callable if a function; nothing calls it before the device exists.
        unsafe { (slot.set)(addr as c_ulong) };
    }
    Ok(())
}

/// Finds `kallsyms_lookup_name()` by placing (and removing) a kprobe on it,
/// and points the C side's call at it. Returns its name and entry.
fn kallsyms_lookup_name() -> Result<(&'static CStr, u64)> {
    let name = c_str!("kallsyms_lookup_name");
    // SAFETY: `name` is NUL-terminated.
    let probe = unsafe { sys::pms_kprobe_address(name.as_char_ptr()) };
    if probe == 0 {
        pr_err!(
            "cannot place a kprobe on {} (needs CONFIG_KPROBES); refusing to load\n",
            name
        );
        return Err(ENOENT);
    }
    let entry = ibt::entry_from_probe(probe as u64, read_text(probe - 4)?);
    // SAFETY: `entry` is `kallsyms_lookup_name`; the caller checks it may be
    // called before calling it.
    unsafe { sys::pms_set_kallsyms_lookup(entry as c_ulong) };
    Ok((name, entry))
}

/// The address of the kernel symbol `name`.
fn lookup_symbol(name: &CStr) -> Result<u64> {
    // SAFETY: the lookup was set by `kallsyms_lookup_name`; `name` is NUL-terminated.
    let addr = unsafe { sys::pms_kallsyms_lookup(name.as_char_ptr()) };
    if addr == 0 {
        pr_err!(
            "kernel symbol {} not found by kallsyms_lookup_name (needs CONFIG_KALLSYMS_ALL); refusing to load\n",
            name
        );
        return Err(ENOENT);
    }
    Ok(addr as u64)
}

/// Refuses a function that cannot be called safely, saying why.
fn check_callable(policy: &CallPolicy, name: &CStr, entry: u64) -> Result {
    let head = read_text(entry as c_ulong)?;
    match policy.check(entry, head) {
        Ok(()) => Ok(()),
        Err(Unsafe::NotCoreText) => {
            pr_err!(
                "{}: {:#x} is not in the core kernel text ({:#x}..{:#x}); refusing to load\n",
                name,
                entry,
                policy.text.0,
                policy.text.1
            );
            Err(EINVAL)
        }
        Err(Unsafe::Kcfi) => {
            pr_err!("{}: the kernel uses kCFI and has no static calls, so calling a non-exported function would fail its type check; refusing to load\n", name);
            Err(Error::from_errno(-(bindings::EOPNOTSUPP as i32)))
        }
        Err(Unsafe::NoEndbr) => {
            pr_err!("{}: x86 IBT is enforced, the kernel has no static calls and the function has no ENDBR64 (sealed at boot), so calling it would fault; refusing to load (booting with ibt=off lifts this)\n", name);
            Err(Error::from_errno(-(bindings::EOPNOTSUPP as i32)))
        }
    }
}

/// The first four bytes of kernel text at `addr`.
fn read_text(addr: c_ulong) -> Result<[u8; 4]> {
    let mut head = [0u8; 4];
    // SAFETY: `head` is writable for 4 bytes; the source is only read with
    // fault handling, so a bad address gives an error, not an oops.
    let ret = unsafe {
        bindings::copy_from_kernel_nofault(head.as_mut_ptr().cast(), addr as *const c_void, 4)
    };
    if ret != 0 {
        pr_err!("cannot read kernel text at {:#x}; refusing to load\n", addr);
        return Err(EFAULT);
    }
    Ok(head)
}
