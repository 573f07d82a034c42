// SPDX-License-Identifier: GPL-2.0

//! `kernel::miscdevice` (Linux 6.13 on): a misc device whose open files are
//! served by a [`MiscDevice`]. 6.12's bindings have no `struct miscdevice`,
//! so the C side (`helpers.c` here) keeps the one the module registers and
//! the file operations Rust builds below; one registration per module.

use super::fs::File;
use super::sys;
use core::marker::{PhantomData, PhantomPinned};
use kernel::bindings;
use kernel::error::to_result;
use kernel::ffi::{c_int, c_long, c_uint, c_ulong};
use kernel::prelude::*;
use kernel::types::ForeignOwnable;

/// Options for creating a misc device.
#[derive(Copy, Clone)]
pub(crate) struct MiscDeviceOptions {
    /// The name of the misc device.
    pub(crate) name: &'static CStr,
}

/// A registration of a misc device.
///
/// # Invariants
///
/// The C side's misc device is registered, with this registration's address
/// as its cookie, for the lifetime of this value (it is pinned).
#[pin_data(PinnedDrop)]
pub(crate) struct MiscDeviceRegistration<T> {
    _t: PhantomData<T>,
    #[pin]
    _pin: PhantomPinned,
}

// SAFETY: `misc_deregister` may be called on another thread than `misc_register`.
unsafe impl<T> Send for MiscDeviceRegistration<T> {}
// SAFETY: a shared registration has no methods that change it.
unsafe impl<T> Sync for MiscDeviceRegistration<T> {}

impl<T: MiscDevice> MiscDeviceRegistration<T> {
    /// Registers the misc device.
    pub(crate) fn register(opts: MiscDeviceOptions) -> impl PinInit<Self, Error> {
        let init = move |slot: *mut Self| {
            // SAFETY: `FOPS` is static; the name is static and NUL-terminated;
            // `slot` is pinned and outlives the registration (deregistered in drop).
            to_result(unsafe {
                sys::pms_misc_register(
                    &MiscdeviceVTable::<T>::FOPS,
                    opts.name.as_char_ptr(),
                    slot.cast(),
                )
            })
        };
        // SAFETY: `Self` has no data to initialise; on error nothing was registered.
        unsafe { kernel::init::pin_init_from_closure(init) }
    }
}

#[pinned_drop]
impl<T> PinnedDrop for MiscDeviceRegistration<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: registered (type invariant); deregistered once, here.
        unsafe { sys::pms_misc_deregister() };
    }
}

/// What serves the open files of a misc device.
#[vtable]
pub(crate) trait MiscDevice: Sized {
    /// The pointer kept in `file->private_data`.
    type Ptr: ForeignOwnable + Send + Sync;

    /// `open`: the open file's state.
    fn open(file: &File, misc: &MiscDeviceRegistration<Self>) -> Result<Self::Ptr>;

    /// `release`.
    fn release(device: Self::Ptr, _file: &File) {
        drop(device);
    }

    /// `unlocked_ioctl`.
    fn ioctl(
        device: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        file: &File,
        cmd: u32,
        arg: usize,
    ) -> Result<isize>;

    /// `compat_ioctl`.
    #[cfg(CONFIG_COMPAT)]
    fn compat_ioctl(
        device: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        file: &File,
        cmd: u32,
        arg: usize,
    ) -> Result<isize>;
}

/// The file operations of a [`MiscDevice`].
struct MiscdeviceVTable<T: MiscDevice>(PhantomData<T>);

impl<T: MiscDevice> MiscdeviceVTable<T> {
    /// The C side adds the owner and `noop_llseek`.
    const FOPS: bindings::file_operations = bindings::file_operations {
        open: Some(Self::open),
        release: Some(Self::release),
        unlocked_ioctl: Some(Self::ioctl),
        #[cfg(CONFIG_COMPAT)]
        compat_ioctl: Some(Self::compat_ioctl),
        // SAFETY: all-zero is a valid `file_operations` (no operation).
        ..unsafe { core::mem::MaybeUninit::zeroed().assume_init() }
    };

    /// # Safety
    ///
    /// A file of the registered misc device being opened.
    unsafe extern "C" fn open(_inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
        // SAFETY: the cookie is the pinned registration, alive while the device
        // is registered, which `misc_open()` guarantees during `open`.
        let misc = unsafe { &*sys::pms_misc_cookie().cast::<MiscDeviceRegistration<T>>() };
        // SAFETY: the file is valid for the duration of `open`.
        match T::open(unsafe { File::from_raw_file(file) }, misc) {
            Ok(ptr) => {
                // SAFETY: `open` may set the private data, which from now on holds `T::Ptr`.
                unsafe { (*file).private_data = ptr.into_foreign().cast_mut() };
                0
            }
            Err(e) => e.to_errno(),
        }
    }

    /// # Safety
    ///
    /// A file of the registered misc device being released.
    unsafe extern "C" fn release(_inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
        // SAFETY: `release` owns the private data, set by `open`.
        let ptr = unsafe { T::Ptr::from_foreign((*file).private_data) };
        // SAFETY: the file is valid for the duration of `release`.
        T::release(ptr, unsafe { File::from_raw_file(file) });
        0
    }

    /// # Safety
    ///
    /// An open file of the registered misc device.
    unsafe extern "C" fn ioctl(file: *mut bindings::file, cmd: c_uint, arg: c_ulong) -> c_long {
        // SAFETY: the private data is `open`'s, which `release` cannot free during an ioctl.
        let device = unsafe { T::Ptr::borrow((*file).private_data) };
        // SAFETY: the file is valid for the duration of the ioctl.
        let file = unsafe { File::from_raw_file(file) };
        match T::ioctl(device, file, cmd, arg) {
            Ok(ret) => ret as c_long,
            Err(e) => e.to_errno() as c_long,
        }
    }

    /// # Safety
    ///
    /// An open file of the registered misc device.
    #[cfg(CONFIG_COMPAT)]
    unsafe extern "C" fn compat_ioctl(
        file: *mut bindings::file,
        cmd: c_uint,
        arg: c_ulong,
    ) -> c_long {
        // SAFETY: as in `ioctl`.
        let device = unsafe { T::Ptr::borrow((*file).private_data) };
        // SAFETY: as in `ioctl`.
        let file = unsafe { File::from_raw_file(file) };
        match T::compat_ioctl(device, file, cmd, arg) {
            Ok(ret) => ret as c_long,
            Err(e) => e.to_errno() as c_long,
        }
    }
}
