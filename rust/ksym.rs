// SPDX-License-Identifier: GPL-2.0

//! The one place where an address becomes a callable kernel function.
//!
//! Linux 6.12 does not export the mm functions a page-table scan needs
//! (`walk_page_range`, ...). At load, this file finds `kallsyms_lookup_name`
//! through a kprobe, looks up every function in the C side's table
//! (`pms_ksym_slots()` in `helpers.c`), checks that each function may be
//! called indirectly on this CPU and kernel ([`ibt`]), and only then stores it.
//! Any failure refuses the load with a message naming the function.

use crate::ibt::{self, CallPolicy, Unsafe};
use crate::sys;
use kernel::bindings;
use kernel::c_str;
use kernel::ffi::{c_char, c_ulong, c_void};
use kernel::prelude::*;
use kernel::str::CStr;

/// `kallsyms_lookup_name()`.
type LookupFn = unsafe extern "C" fn(name: *const c_char) -> c_ulong;

/// Fills the C side's table of non-exported functions, or explains why not.
pub(crate) fn resolve() -> Result {
    let policy = CallPolicy {
        // SAFETY: both only read CPU feature bits and the kernel configuration.
        ibt_enforced: unsafe { sys::pms_ibt_enforced() },
        // SAFETY: as above.
        kcfi: unsafe { sys::pms_kcfi_enabled() },
    };
    let lookup = kallsyms_lookup_name(&policy)?;

    let mut len = 0;
    // SAFETY: returns a static table of `len` entries.
    let slots = unsafe { sys::pms_ksym_slots(&mut len) };
    // SAFETY: `slots` points to `len` initialised entries that live forever.
    let slots = unsafe { core::slice::from_raw_parts(slots, len) };
    for slot in slots {
        // SAFETY: table names are NUL-terminated string literals.
        let name = unsafe { CStr::from_char_ptr(slot.name) };
        // SAFETY: `lookup` was checked callable; it takes a NUL-terminated name.
        let addr = unsafe { lookup(slot.name) };
        if addr == 0 {
            pr_err!(
                "kernel function {} not found by kallsyms_lookup_name; refusing to load\n",
                name
            );
            return Err(ENOENT);
        }
        if slot.is_function {
            check_callable(&policy, name, addr)?;
        }
        // SAFETY: `slot.addr` is a valid, writable static of the C side; nothing
        // reads it before the device is registered, after this returns.
        unsafe { *slot.addr = addr as *mut c_void };
    }
    Ok(())
}

/// Finds `kallsyms_lookup_name()` by placing (and removing) a kprobe on it.
fn kallsyms_lookup_name(policy: &CallPolicy) -> Result<LookupFn> {
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
    let entry = ibt::entry_from_probe(probe as u64, read_text(probe - 4)?) as c_ulong;
    check_callable(policy, name, entry)?;
    // SAFETY: `entry` is the entry of `kallsyms_lookup_name` and may be called
    // indirectly (checked above); `LookupFn` is its C prototype.
    Ok(unsafe { core::mem::transmute::<usize, LookupFn>(entry as usize) })
}

/// Refuses a function that cannot be called safely, saying why.
fn check_callable(policy: &CallPolicy, name: &CStr, entry: c_ulong) -> Result {
    match policy.check(read_text(entry)?) {
        Ok(()) => Ok(()),
        Err(Unsafe::Kcfi) => {
            pr_err!("{}: the kernel uses kCFI, which checks a type hash on every indirect call to a non-exported function; refusing to load\n", name);
            Err(Error::from_errno(-(bindings::EOPNOTSUPP as i32)))
        }
        Err(Unsafe::NoEndbr) => {
            pr_err!("{}: x86 IBT is enforced and the function has no ENDBR64 (sealed at boot), so calling it would fault; refusing to load (booting with ibt=off lifts this)\n", name);
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
