// SPDX-License-Identifier: GPL-2.0

//! The ways of answering "which pages are …" that the benchmark compares.

/// One way of getting the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// PAGEMAP_SCAN on the module's `/dev/pagemap_scan`.
    Rust,
    /// The kernel's own PAGEMAP_SCAN on `/proc/self/pagemap`.
    C,
    /// `pread` of `/proc/self/pagemap` (8 bytes a page) and filtering in
    /// userspace; for dirty tracking the uffd-wp bit, reset by
    /// `UFFDIO_WRITEPROTECT` of each dirty run.
    Read,
    /// Soft-dirty: pagemap read of the soft-dirty bit, then `clear_refs` 4.
    SoftDirty,
    /// The C ioctl without `PM_SCAN_WP_MATCHING` (GET only), then
    /// `UFFDIO_WRITEPROTECT` of each region it returned.
    UffdWp,
    /// [`Method::Rust`] by two threads at once, each on its half.
    Rust2,
    /// [`Method::C`] by two threads at once, each on its half.
    C2,
}

impl Method {
    /// Every method, in table order.
    pub const ALL: [Method; 7] = [
        Method::Rust,
        Method::C,
        Method::Read,
        Method::SoftDirty,
        Method::UffdWp,
        Method::Rust2,
        Method::C2,
    ];

    /// Whether it calls the module's ioctl (else C's, where it calls one).
    pub fn is_rust(self) -> bool {
        matches!(self, Method::Rust | Method::Rust2)
    }

    /// For a method of the module's ioctl, the same with C's: what Rust/C
    /// divides by.
    pub fn c_twin(self) -> Option<Method> {
        match self {
            Method::Rust => Some(Method::C),
            Method::Rust2 => Some(Method::C2),
            _ => None,
        }
    }

    /// Name in the CSV files.
    pub fn key(self) -> &'static str {
        match self {
            Method::Rust => "rust",
            Method::C => "c",
            Method::Read => "read",
            Method::SoftDirty => "soft-dirty",
            Method::UffdWp => "uffdio-wp",
            Method::Rust2 => "rust-2-threads",
            Method::C2 => "c-2-threads",
        }
    }

    /// Name in the table and the plot.
    pub fn label(self) -> &'static str {
        match self {
            Method::Rust => "Rust ioctl (device)",
            Method::C => "C ioctl (/proc)",
            Method::Read => "pagemap read",
            Method::SoftDirty => "soft-dirty",
            Method::UffdWp => "C GET + UFFDIO_WRITEPROTECT",
            Method::Rust2 => "Rust ioctl, 2 threads",
            Method::C2 => "C ioctl, 2 threads",
        }
    }

    /// The method named `key` in a CSV file.
    pub fn from_key(key: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.key() == key)
    }
}
