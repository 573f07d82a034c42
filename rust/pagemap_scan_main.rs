// SPDX-License-Identifier: GPL-2.0

//! pagemap_scan: the `PAGEMAP_SCAN` ioctl of `/proc/PID/pagemap`, in Rust, on
//! the misc device `/dev/pagemap_scan`.
//!
//! An fd is bound at `open` to the opener's mm (as `/proc/self/pagemap` is)
//! and takes the upstream ioctl number and `struct pm_scan_arg`, plus the
//! device's own ioctls (feature discovery, attach by pidfd: `file.rs`).

use kernel::prelude::*;

// The pure modules, shared with the host build (`lib.rs`), are public as there.
pub mod abi;
pub mod args;
pub mod c_define;
pub mod category;
pub mod features;
pub mod ibt;
pub mod output;
pub mod uapi;

mod bounce;
mod compat;
mod file;
mod ksym;
mod pgtable;
mod scan;
mod sys;
mod walk;

use compat::{MiscDeviceOptions, MiscDeviceRegistration};

// The `module!` keys changed with 6.13 (`authors`).
#[cfg(kernel_mm)]
module! {
    type: PagemapScan,
    name: "pagemap_scan",
    authors: ["pagemap_scan developers"],
    description: "PAGEMAP_SCAN on /dev/pagemap_scan, in Rust",
    license: "GPL",
}
#[cfg(not(kernel_mm))]
module! {
    type: PagemapScan,
    name: "pagemap_scan",
    author: "pagemap_scan developers",
    description: "PAGEMAP_SCAN on /dev/pagemap_scan, in Rust",
    license: "GPL",
}

/// The loaded module: `/dev/pagemap_scan` is registered while it lives.
struct PagemapScan {
    _device: Pin<KBox<MiscDeviceRegistration<file::PagemapScanFile>>>,
}

impl kernel::Module for PagemapScan {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // Every non-exported function is resolved before any fd can exist.
        ksym::resolve()?;
        let options = MiscDeviceOptions {
            name: kernel::c_str!("pagemap_scan"),
        };
        Ok(PagemapScan {
            _device: KBox::pin_init(MiscDeviceRegistration::register(options), GFP_KERNEL)?,
        })
    }
}

/// The Rust ABI types are the kernel's C ones, field for field.
mod abi_check {
    // The ABI is all `__u64`; the module converts `unsigned long` to it freely.
    const _: () = assert!(core::mem::size_of::<kernel::ffi::c_ulong>() == 8);

    use crate::uapi::{PageRegion, PmScanArg};
    use core::mem::{offset_of, size_of};
    use kernel::bindings::{page_region, pm_scan_arg};

    macro_rules! same_layout {
        ($ours:ty, $theirs:ty, $($field:ident),*) => {
            const _: () = assert!(size_of::<$ours>() == size_of::<$theirs>());
            $(const _: () = assert!(offset_of!($ours, $field) == offset_of!($theirs, $field));)*
        };
    }

    same_layout!(
        PmScanArg,
        pm_scan_arg,
        size,
        flags,
        start,
        end,
        walk_end,
        vec,
        vec_len,
        max_pages,
        category_inverted,
        category_mask,
        category_anyof_mask,
        return_mask
    );
    same_layout!(PageRegion, page_region, start, end, categories);

    const _: () = assert!(crate::args::PAGE_SIZE == kernel::page::PAGE_SIZE as u64);
    const _: () =
        assert!(crate::uapi::PAGE_IS_SOFT_DIRTY == kernel::bindings::PAGE_IS_SOFT_DIRTY as u64);
    const _: () = assert!(
        crate::uapi::PM_SCAN_CHECK_WPASYNC == kernel::bindings::PM_SCAN_CHECK_WPASYNC as u64
    );
}
