// SPDX-License-Identifier: GPL-2.0

//! [`Categories`]: a typed set of `PAGE_IS_*` bits, printed and parsed by name.

use crate::uapi;
use core::fmt;
use core::ops::{BitAnd, BitAndAssign, BitOr, BitOrAssign, Not, Sub};
use core::str::FromStr;

/// A set of `PAGE_IS_*` page categories.
///
/// Only the ten defined bits can be set (`GUARD` and `ACCESSED` are Linux
/// 7.3's; an older kernel accepts only [`Categories::V6_12`]). It prints as the names of its
/// members in bit order, joined by `|` (`none` when empty), and parses back
/// from that form, from `all`, or from a number.
///
/// ```
/// use pagemap_scan::Categories;
///
/// let c = Categories::PRESENT | Categories::WRITTEN | Categories::FILE;
/// assert_eq!(c.to_string(), "written|file|present");
/// assert_eq!("present|file|written".parse::<Categories>(), Ok(c));
/// assert_eq!(c.bits(), 0b1110);
/// assert!(c.contains(Categories::FILE));
/// assert_eq!(Categories::EMPTY.to_string(), "none");
/// assert_eq!("soft-dirty".parse::<Categories>(), Ok(Categories::SOFT_DIRTY));
/// assert_eq!("0x28".parse::<Categories>(), Ok(Categories::PRESENT | Categories::PFNZERO));
/// assert_eq!("accessed".parse::<Categories>(), Ok(Categories::ACCESSED));
/// assert_eq!((Categories::SWAPPED | Categories::GUARD).to_string(), "swapped|guard");
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Categories(u64);

impl Categories {
    /// No category.
    pub const EMPTY: Categories = Categories(0);
    /// `PAGE_IS_WPALLOWED`: the VMA has userfaultfd wp-async with markers.
    pub const WPALLOWED: Categories = Categories(uapi::PAGE_IS_WPALLOWED);
    /// `PAGE_IS_WRITTEN`: the page carries no userfaultfd write-protection
    /// (Linux 7.3: only in a VMA registered for it; 6.12: in any VMA).
    pub const WRITTEN: Categories = Categories(uapi::PAGE_IS_WRITTEN);
    /// `PAGE_IS_FILE`: backed by a file or shmem.
    pub const FILE: Categories = Categories(uapi::PAGE_IS_FILE);
    /// `PAGE_IS_PRESENT`: mapped to a page.
    pub const PRESENT: Categories = Categories(uapi::PAGE_IS_PRESENT);
    /// `PAGE_IS_SWAPPED`: a swap, migration, uffd-wp or guard marker entry.
    pub const SWAPPED: Categories = Categories(uapi::PAGE_IS_SWAPPED);
    /// `PAGE_IS_PFNZERO`: maps the zero page.
    pub const PFNZERO: Categories = Categories(uapi::PAGE_IS_PFNZERO);
    /// `PAGE_IS_HUGE`: part of a THP or hugetlb mapping.
    pub const HUGE: Categories = Categories(uapi::PAGE_IS_HUGE);
    /// `PAGE_IS_SOFT_DIRTY`: the entry or its VMA is soft-dirty.
    pub const SOFT_DIRTY: Categories = Categories(uapi::PAGE_IS_SOFT_DIRTY);
    /// `PAGE_IS_GUARD` (Linux 7.3): a guard region's marker
    /// (`MADV_GUARD_INSTALL`); always with [`Categories::SWAPPED`].
    pub const GUARD: Categories = Categories(uapi::PAGE_IS_GUARD);
    /// `PAGE_IS_ACCESSED` (Linux 7.3): in a VMA registered for userfaultfd
    /// read-write protection ([`crate::uffd::Uffd::rwp_async`]), the page
    /// was read or written since it was last protected: it carries no
    /// protection. Never set for an unpopulated page.
    pub const ACCESSED: Categories = Categories(uapi::PAGE_IS_ACCESSED);
    /// Every category.
    pub const ALL: Categories = Categories(uapi::PM_SCAN_CATEGORIES);
    /// The categories of Linux 6.7 to 6.12, all but `GUARD` and `ACCESSED`:
    /// the only ones their validation accepts.
    pub const V6_12: Categories = Categories(uapi::PM_SCAN_CATEGORIES_6_12);

    /// Each category with its name, in bit order.
    pub const NAMED: [(Categories, &'static str); 10] = [
        (Categories::WPALLOWED, "wpallowed"),
        (Categories::WRITTEN, "written"),
        (Categories::FILE, "file"),
        (Categories::PRESENT, "present"),
        (Categories::SWAPPED, "swapped"),
        (Categories::PFNZERO, "pfnzero"),
        (Categories::HUGE, "huge"),
        (Categories::SOFT_DIRTY, "soft-dirty"),
        (Categories::GUARD, "guard"),
        (Categories::ACCESSED, "accessed"),
    ];

    /// The set of `bits`, or `None` if a bit is not a category.
    pub const fn from_bits(bits: u64) -> Option<Categories> {
        if bits & !uapi::PM_SCAN_CATEGORIES == 0 {
            Some(Categories(bits))
        } else {
            None
        }
    }

    /// The set of the category bits of `bits`; other bits are dropped.
    pub const fn from_bits_truncate(bits: u64) -> Categories {
        Categories(bits & uapi::PM_SCAN_CATEGORIES)
    }

    /// The `PAGE_IS_*` bits.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// Whether no category is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every category of `other` is in `self`.
    pub const fn contains(self, other: Categories) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether `self` and `other` have a category in common.
    pub const fn intersects(self, other: Categories) -> bool {
        self.0 & other.0 != 0
    }

    /// The categories of `self` and of `other`.
    pub const fn union(self, other: Categories) -> Categories {
        Categories(self.0 | other.0)
    }

    /// The names of the categories of `self`, in bit order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Categories::NAMED
            .into_iter()
            .filter(move |(c, _)| self.contains(*c))
            .map(|(_, name)| name)
    }
}

impl BitOr for Categories {
    type Output = Categories;
    fn bitor(self, rhs: Categories) -> Categories {
        Categories(self.0 | rhs.0)
    }
}

impl BitOrAssign for Categories {
    fn bitor_assign(&mut self, rhs: Categories) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for Categories {
    type Output = Categories;
    fn bitand(self, rhs: Categories) -> Categories {
        Categories(self.0 & rhs.0)
    }
}

impl BitAndAssign for Categories {
    fn bitand_assign(&mut self, rhs: Categories) {
        self.0 &= rhs.0;
    }
}

impl Sub for Categories {
    type Output = Categories;
    fn sub(self, rhs: Categories) -> Categories {
        Categories(self.0 & !rhs.0)
    }
}

impl Not for Categories {
    type Output = Categories;
    /// The categories not in `self`.
    fn not(self) -> Categories {
        Categories(!self.0 & uapi::PM_SCAN_CATEGORIES)
    }
}

impl fmt::Display for Categories {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        for (i, name) in self.names().enumerate() {
            if i > 0 {
                f.write_str("|")?;
            }
            f.write_str(name)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Categories {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Categories({self})")
    }
}

/// Why a string is not a [`Categories`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseCategoriesError {
    word: String,
}

impl fmt::Display for ParseCategoriesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown page category {:?} (known: ", self.word)?;
        for (_, name) in Categories::NAMED {
            write!(f, "{name}, ")?;
        }
        f.write_str("all, none, or a number of at most 0x3ff)")
    }
}

impl std::error::Error for ParseCategoriesError {}

impl FromStr for Categories {
    type Err = ParseCategoriesError;

    /// Names separated by `|`, `,` or `+` (case-insensitive; `soft_dirty`
    /// and `softdirty` are accepted for `soft-dirty`), `all`, `none`, the
    /// empty string, or a decimal or `0x` hexadecimal number.
    fn from_str(s: &str) -> Result<Categories, ParseCategoriesError> {
        let mut set = Categories::EMPTY;
        for word in s.split(['|', ',', '+']).map(str::trim) {
            let lower = word.to_ascii_lowercase().replace('_', "-");
            let number = match lower.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16).ok(),
                None => lower.parse::<u64>().ok(),
            };
            let found = match (lower.as_str(), number) {
                ("" | "none", _) => Some(Categories::EMPTY),
                ("all", _) => Some(Categories::ALL),
                ("softdirty", _) => Some(Categories::SOFT_DIRTY),
                (_, Some(bits)) => Categories::from_bits(bits),
                (name, None) => Categories::NAMED
                    .into_iter()
                    .find(|(_, n)| *n == name)
                    .map(|(c, _)| c),
            };
            match found {
                Some(c) => set |= c,
                None => {
                    return Err(ParseCategoriesError {
                        word: word.to_string(),
                    })
                }
            }
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for bits in 0..=0x3ff {
            let c = Categories::from_bits(bits).unwrap();
            assert_eq!(c.to_string().parse::<Categories>(), Ok(c), "{bits:#x}");
            assert_eq!(c.names().count(), bits.count_ones() as usize);
        }
    }

    #[test]
    fn display() {
        assert_eq!(
            Categories::ALL.to_string(),
            "wpallowed|written|file|present|swapped|pfnzero|huge|soft-dirty|guard|accessed"
        );
        assert_eq!(
            Categories::V6_12.to_string(),
            "wpallowed|written|file|present|swapped|pfnzero|huge|soft-dirty"
        );
        assert_eq!(Categories::SOFT_DIRTY.to_string(), "soft-dirty");
        assert_eq!(format!("{:?}", Categories::HUGE), "Categories(huge)");
    }

    #[test]
    fn parse_forms() {
        let pw = Categories::PRESENT | Categories::WRITTEN;
        assert_eq!("PRESENT,written".parse(), Ok(pw));
        assert_eq!(" present + written ".parse(), Ok(pw));
        assert_eq!("soft_dirty|softdirty".parse(), Ok(Categories::SOFT_DIRTY));
        assert_eq!("all".parse(), Ok(Categories::ALL));
        assert_eq!("".parse(), Ok(Categories::EMPTY));
        assert_eq!("none".parse(), Ok(Categories::EMPTY));
        assert_eq!("10".parse(), Ok(pw));
        assert_eq!("0xff".parse(), Ok(Categories::V6_12));
        assert_eq!("0x3ff".parse(), Ok(Categories::ALL));
        assert_eq!(
            "Guard|ACCESSED".parse(),
            Ok(Categories::GUARD | Categories::ACCESSED)
        );
        assert!("0x400".parse::<Categories>().is_err());
        let e = "present|dirty".parse::<Categories>().unwrap_err();
        assert!(e.to_string().contains("\"dirty\""), "{e}");
    }

    #[test]
    fn set_operations() {
        let a = Categories::PRESENT | Categories::FILE;
        assert_eq!(a - Categories::FILE, Categories::PRESENT);
        assert_eq!((!a).bits(), 0x3ff & !a.bits());
        assert!(a.intersects(Categories::FILE | Categories::HUGE));
        assert!(!a.contains(Categories::FILE | Categories::HUGE));
        assert_eq!(Categories::from_bits(0x400), None);
        assert_eq!(Categories::from_bits_truncate(0x7ff), Categories::ALL);
        assert_eq!(a & Categories::FILE, Categories::FILE);
        assert_eq!(a.union(Categories::HUGE).bits(), a.bits() | 0x40);
    }
}
