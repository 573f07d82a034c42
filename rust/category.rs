// SPDX-License-Identifier: GPL-2.0

//! What a page-table entry is, in `PAGE_IS_*` categories, and whether the
//! caller asked for it.
//!
//! Pure: the C side decodes the architecture's entry format into [`Facts`]
//! (`pms_*_facts()` in `helpers.c`); everything the scan reports is decided
//! here.

use crate::c_define::{bit, bit_u8};
use crate::uapi::*;

/// `facts.h`: the one definition of the `PMS_F_*` and `PMS_VMA_*` bits the
/// C side decodes entries and VMAs into, read here at compile time.
pub const FACTS_H: &str = include_str!("facts.h");

/// A `PMS_VMA_*` bit of [`FACTS_H`] (`VmaFacts` in walk.rs).
pub const fn vma_fact(name: &str) -> u32 {
    bit(FACTS_H, name)
}

/// Whether `bits` are single bits, none shared.
pub const fn distinct_bits(bits: &[u32]) -> bool {
    let mut union = 0;
    let mut i = 0;
    while i < bits.len() {
        if bits[i].count_ones() != 1 || union & bits[i] != 0 {
            return false;
        }
        union |= bits[i];
        i += 1;
    }
    true
}

// The C side tests the facts one by one.
const _: () = assert!(distinct_bits(&[
    Facts::PRESENT as u32,
    Facts::SWAP as u32,
    Facts::UFFD as u32,
    Facts::SOFT_DIRTY as u32,
    Facts::ZERO as u32,
    Facts::FILE as u32,
    Facts::GUARD as u32,
]));

/// Decoded bits of one page-table entry; the `PMS_F_*` of `facts.h`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Facts(pub u8);

impl Facts {
    /// Maps a page (`pte_present`, `pmd_present`).
    pub const PRESENT: u8 = bit_u8(FACTS_H, "PMS_F_PRESENT");
    /// A non-empty entry that is not present: swap, migration, marker.
    pub const SWAP: u8 = bit_u8(FACTS_H, "PMS_F_SWAP");
    /// Carries the uffd bit (write- or, in 7.3, read-write-protected; a
    /// uffd-wp marker counts).
    pub const UFFD: u8 = bit_u8(FACTS_H, "PMS_F_UFFD");
    /// Soft-dirty.
    pub const SOFT_DIRTY: u8 = bit_u8(FACTS_H, "PMS_F_SOFT_DIRTY");
    /// Maps the zero page (or the huge zero page).
    pub const ZERO: u8 = bit_u8(FACTS_H, "PMS_F_ZERO");
    /// Maps (or a migration entry points to) a file-backed page. Only decoded
    /// when the request asks about `PAGE_IS_FILE`, for pte and THP entries.
    pub const FILE: u8 = bit_u8(FACTS_H, "PMS_F_FILE");
    /// A guard-region marker (a swap-like pte). Only decoded when asked.
    pub const GUARD: u8 = bit_u8(FACTS_H, "PMS_F_GUARD");

    /// The facts that decide the categories in `interest`: the C side may
    /// leave the others out, which spares it the costly ones (zero page,
    /// file) and gives longer runs of equal facts. This is for ptes: THP and
    /// hugetlb entries are always decoded with their kind (`PRESENT`, `SWAP`),
    /// which [`Facts::thp_categories`] needs.
    pub fn needed_for(interest: u64) -> u8 {
        // The uffd bit decides WRITTEN and ACCESSED and is always decoded.
        // Whether an entry is present, swapped or empty decides every other
        // category a pte can have (WPALLOWED is the VMA's, HUGE never a
        // pte's), ACCESSED too (an empty pte is never accessed), but not
        // WRITTEN (an empty pte is written where a present one is).
        let mut needed = Self::UFFD;
        if interest & !(PAGE_IS_WRITTEN | PAGE_IS_WPALLOWED | PAGE_IS_HUGE) != 0 {
            needed |= Self::PRESENT | Self::SWAP;
        }
        if interest & PAGE_IS_SOFT_DIRTY != 0 {
            needed |= Self::SOFT_DIRTY;
        }
        if interest & PAGE_IS_PFNZERO != 0 {
            needed |= Self::ZERO;
        }
        if interest & PAGE_IS_FILE != 0 {
            needed |= Self::FILE;
        }
        if interest & PAGE_IS_GUARD != 0 {
            needed |= Self::GUARD;
        }
        needed
    }

    /// The cheapest way to decode ptes that gives the facts `want`
    /// ([`Facts::needed_for`]) in a VMA. In a private anonymous one (no
    /// file, no `vm_ops`) every page a pte maps is anonymous or the zero
    /// page, so a present pte is never `FILE` and its page need not be
    /// looked up (`vm_normal_page()`, the costliest part); a leaf entry's
    /// folio still is (a poisoned page may have lost its mapping).
    pub fn decode_tier(want: u8, anonymous_vma: bool) -> DecodeTier {
        if want == Self::UFFD {
            DecodeTier::Uffd
        } else if want & !(Self::PRESENT | Self::SWAP | Self::UFFD) == 0 {
            DecodeTier::Kind
        } else if anonymous_vma && want & Self::FILE != 0 {
            DecodeTier::FullAnon
        } else {
            DecodeTier::Full
        }
    }

    fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }

    /// Protected by userfaultfd already: neither reported written (or
    /// accessed) nor protected again.
    pub fn is_uffd(self) -> bool {
        self.has(Self::UFFD)
    }

    /// `category` if this entry has `fact`, else 0.
    fn map(self, fact: u8, category: u64) -> u64 {
        if self.has(fact) {
            category
        } else {
            0
        }
    }

    /// The categories both present and swapped entries take from their
    /// bits; `unprotected` are those of a missing uffd bit in the VMA
    /// ([`KernelAbi::unprotected`](crate::abi::KernelAbi::unprotected)).
    fn common(self, unprotected: u64) -> u64 {
        self.map(Self::FILE, PAGE_IS_FILE)
            | self.map(Self::SOFT_DIRTY, PAGE_IS_SOFT_DIRTY)
            | if self.has(Self::UFFD) { 0 } else { unprotected }
    }

    fn present_or_swapped(self, unprotected: u64) -> u64 {
        if self.has(Self::PRESENT) {
            PAGE_IS_PRESENT | self.map(Self::ZERO, PAGE_IS_PFNZERO) | self.common(unprotected)
        } else if self.has(Self::SWAP) {
            PAGE_IS_SWAPPED | self.map(Self::GUARD, PAGE_IS_GUARD) | self.common(unprotected)
        } else {
            0
        }
    }

    /// Categories of a pte in a VMA where a missing uffd bit means
    /// `unprotected`. An empty pte carries no uffd-wp marker, so it is
    /// reported written where written is reported at all, as the C fast
    /// path does, and never accessed. (Facts decoded for `PAGE_IS_WRITTEN`
    /// alone may have `UFFD` without `PRESENT` or `SWAP`.)
    pub fn pte_categories(self, unprotected: u64) -> u64 {
        if self.has(Self::PRESENT | Self::SWAP) {
            self.present_or_swapped(unprotected)
        } else if self.has(Self::UFFD) {
            0
        } else {
            unprotected & PAGE_IS_WRITTEN
        }
    }

    /// Categories of a THP pmd (an empty one is only huge).
    pub fn thp_categories(self, unprotected: u64) -> u64 {
        PAGE_IS_HUGE | self.present_or_swapped(unprotected)
    }

    /// Categories of a hugetlb entry (an empty one is only huge).
    pub fn hugetlb_categories(self, unprotected: u64) -> u64 {
        PAGE_IS_HUGE | self.present_or_swapped(unprotected)
    }
}

/// How the C side decodes a table of ptes (`PMS_DECODE_*` of `facts.h`):
/// policy decided here, by [`Facts::decode_tier`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum DecodeTier {
    /// The uffd bit only: a GET of written (or accessed) pages.
    Uffd = bit(FACTS_H, "PMS_DECODE_UFFD"),
    /// Whether present, a leaf or empty, and the uffd bit.
    Kind = bit(FACTS_H, "PMS_DECODE_KIND"),
    /// Every fact asked for (soft-dirty, zero page, file, guard).
    Full = bit(FACTS_H, "PMS_DECODE_FULL"),
    /// The same, but a present pte is never file-backed (an anonymous VMA).
    FullAnon = bit(FACTS_H, "PMS_DECODE_FULL_ANON"),
}

/// A run of ptes with equal facts as the C side hands it over (`facts.h`):
/// the facts plus `(length - 1) * RUN_LEN`.
pub const RUN_LEN: u16 = bit(FACTS_H, "PMS_RUN_LEN") as u16;
/// The longest run a `u16` holds.
pub const MAX_RUN: usize = (u16::MAX as usize + 1) / RUN_LEN as usize;
/// Runs handed over at most in one call.
pub const RUNS: usize = bit(FACTS_H, "PMS_RUNS") as usize;
/// The flag of the call that hands over a page table's last runs.
const RUNS_LAST: u32 = bit(FACTS_H, "PMS_RUNS_LAST");

// Every fact fits below the length, and a count of runs below the flag.
const _: () = assert!(
    (Facts::PRESENT
        | Facts::SWAP
        | Facts::UFFD
        | Facts::SOFT_DIRTY
        | Facts::ZERO
        | Facts::FILE
        | Facts::GUARD)
        < RUN_LEN as u8
);
const _: () = assert!(RUNS < RUNS_LAST as usize);

/// The facts and length of a run (`facts.h`).
pub fn run(packed: u16) -> (Facts, usize) {
    (
        Facts((packed % RUN_LEN) as u8),
        (packed / RUN_LEN) as usize + 1,
    )
}

/// How many runs a call hands over (`n`, its argument), and whether they
/// are the page table's last.
pub fn handed(n: u32) -> (usize, bool) {
    ((n & !RUNS_LAST) as usize, n & RUNS_LAST != 0)
}

/// Categories of an unpopulated range with no page table under it. In a
/// uffd-wp VMA (not hugetlb) a missing marker means the range was zapped
/// after registration, hence written.
pub fn hole_categories(vma_uffd_wp: bool, vma_hugetlb: bool) -> u64 {
    if vma_uffd_wp && !vma_hugetlb {
        PAGE_IS_WRITTEN
    } else {
        0
    }
}

/// Categories a whole VMA contributes to each of its pages.
pub fn vma_categories(wp_allowed: bool, soft_dirty: bool) -> u64 {
    (if wp_allowed { PAGE_IS_WPALLOWED } else { 0 })
        | (if soft_dirty { PAGE_IS_SOFT_DIRTY } else { 0 })
}

/// The request's matching rule: `category_inverted`, `category_mask`,
/// `category_anyof_mask`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Matcher {
    /// Categories whose sense is flipped first.
    pub inverted: u64,
    /// Categories that must all be set.
    pub required: u64,
    /// Categories of which one must be set (0: no condition).
    pub anyof: u64,
}

impl Matcher {
    /// Does a page of `categories` match?
    pub fn page(&self, categories: u64) -> bool {
        let c = categories ^ self.inverted;
        c & self.required == self.required && (self.anyof == 0 || c & self.anyof != 0)
    }

    /// Can any page of a VMA of `categories` match? Only `PAGE_IS_WPALLOWED`
    /// is a per-VMA property that rules a whole VMA out.
    pub fn vma(&self, categories: u64) -> bool {
        let required = self.required & PAGE_IS_WPALLOWED;
        (categories ^ self.inverted) & required == required
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every run the C side can hand over reads back as it was written.
    #[test]
    fn runs_read_back() {
        let pack = |facts: u8, len: usize| facts as u16 + (len - 1) as u16 * RUN_LEN;
        for facts in 0..RUN_LEN as u8 {
            for len in [1, 2, 7, 8, 9, 255, 256, 511, 512] {
                assert_eq!(run(pack(facts, len)), (Facts(facts), len));
            }
        }
        assert_eq!(handed(RUNS as u32), (RUNS, false));
        assert_eq!(handed(1 | RUNS_LAST), (1, true));
    }

    use crate::abi::{V6_12, V7_3};

    /// What a missing uffd bit means in a plain VMA of 6.12 (and a uffd-wp one of 7.3).
    const WR: u64 = PAGE_IS_WRITTEN;

    #[test]
    fn only_the_facts_asked_about_are_needed() {
        let kind = Facts::PRESENT | Facts::SWAP;
        assert_eq!(Facts::needed_for(PAGE_IS_WRITTEN), Facts::UFFD);
        assert_eq!(
            Facts::needed_for(PAGE_IS_HUGE | PAGE_IS_WPALLOWED | PAGE_IS_WRITTEN),
            Facts::UFFD
        );
        assert_eq!(Facts::needed_for(PAGE_IS_PRESENT), kind | Facts::UFFD);
        assert_eq!(Facts::needed_for(PAGE_IS_ACCESSED), kind | Facts::UFFD);
        assert_eq!(
            Facts::needed_for(PM_SCAN_CATEGORIES),
            kind | Facts::UFFD | Facts::SOFT_DIRTY | Facts::ZERO | Facts::FILE | Facts::GUARD
        );
        // With the facts not needed cleared, the categories asked about stay,
        // for every entry the C side can decode (UFFD only with PRESENT or
        // SWAP, ZERO only with PRESENT, GUARD only with SWAP and without
        // FILE), in every kind of VMA of both kernels.
        let decodable = |f: u8| {
            (f & Facts::UFFD == 0 || f & kind != 0)
                && (f & Facts::ZERO == 0 || f & Facts::PRESENT != 0)
                && (f & Facts::GUARD == 0 || f & Facts::SWAP != 0 && f & Facts::FILE == 0)
                && f & kind != kind
        };
        for abi in [V6_12, V7_3] {
            for (wp, rwp) in [(false, false), (true, false), (false, true)] {
                let unprotected = abi.unprotected(wp, rwp);
                for f in (0..128u8).filter(|&f| decodable(f)) {
                    for interest in (0..=abi.categories).step_by(3) {
                        let lean = Facts(f & Facts::needed_for(interest));
                        assert_eq!(
                            lean.pte_categories(unprotected) & interest,
                            Facts(f).pte_categories(unprotected) & interest,
                            "{abi:?} wp {wp} rwp {rwp}: facts {f:#x}, interest {interest:#x}"
                        );
                    }
                }
            }
        }
    }

    /// Each tier decodes at least the facts it is chosen for, and the
    /// cheaper tiers are chosen whenever they suffice.
    #[test]
    fn decode_tiers_cover_the_facts_asked_for() {
        let lean = Facts::PRESENT | Facts::SWAP | Facts::UFFD;
        for interest in 0..=PM_SCAN_CATEGORIES {
            let want = Facts::needed_for(interest);
            for anonymous in [false, true] {
                let tier = Facts::decode_tier(want, anonymous);
                let decoded = match tier {
                    DecodeTier::Uffd => Facts::UFFD,
                    DecodeTier::Kind => lean,
                    DecodeTier::Full | DecodeTier::FullAnon => 0x7f,
                };
                assert_eq!(want & !decoded, 0, "interest {interest:#x}: {tier:?}");
                if want == Facts::UFFD {
                    assert_eq!(tier, DecodeTier::Uffd);
                } else if want & !lean == 0 {
                    assert_eq!(tier, DecodeTier::Kind);
                }
                // Only an anonymous VMA spares the page lookups, always when asked for FILE.
                let spared = anonymous && want & Facts::FILE != 0;
                assert_eq!(tier == DecodeTier::FullAnon, spared, "{interest:#x}");
            }
        }
        let tier = |interest, anonymous| Facts::decode_tier(Facts::needed_for(interest), anonymous);
        assert_eq!(tier(PAGE_IS_WRITTEN, false), DecodeTier::Uffd);
        assert_eq!(tier(PAGE_IS_PRESENT, true), DecodeTier::Kind);
        assert_eq!(tier(PAGE_IS_FILE, false), DecodeTier::Full);
        assert_eq!(tier(PAGE_IS_FILE, true), DecodeTier::FullAnon);
        assert_eq!(tier(PAGE_IS_SOFT_DIRTY, true), DecodeTier::Full);
    }

    const P: u8 = Facts::PRESENT;
    const S: u8 = Facts::SWAP;
    const W: u8 = Facts::UFFD;
    const G: u8 = Facts::GUARD;
    const D: u8 = Facts::SOFT_DIRTY;
    const Z: u8 = Facts::ZERO;
    const F: u8 = Facts::FILE;

    /// 7.3: written only in uffd-wp VMAs, accessed only in uffd-rwp ones.
    #[test]
    fn pte_7_3() {
        let plain = V7_3.unprotected(false, false);
        let rwp = V7_3.unprotected(false, true);
        let c = |f, u| Facts(f).pte_categories(u);
        assert_eq!(c(0, plain), 0);
        assert_eq!(c(P, plain), PAGE_IS_PRESENT);
        assert_eq!(c(0, rwp), 0);
        assert_eq!(c(P, rwp), PAGE_IS_PRESENT | PAGE_IS_ACCESSED);
        assert_eq!(c(P | W, rwp), PAGE_IS_PRESENT);
        assert_eq!(c(S, rwp), PAGE_IS_SWAPPED | PAGE_IS_ACCESSED);
        assert_eq!(c(S | G, plain), PAGE_IS_SWAPPED | PAGE_IS_GUARD);
        assert_eq!(
            Facts(P).thp_categories(rwp),
            PAGE_IS_HUGE | PAGE_IS_PRESENT | PAGE_IS_ACCESSED
        );
    }

    #[test]
    fn pte() {
        let c = |f| Facts(f).pte_categories(WR);
        assert_eq!(c(0), PAGE_IS_WRITTEN);
        assert_eq!(c(P), PAGE_IS_PRESENT | PAGE_IS_WRITTEN);
        assert_eq!(c(P | W), PAGE_IS_PRESENT);
        assert_eq!(
            c(P | Z),
            PAGE_IS_PRESENT | PAGE_IS_WRITTEN | PAGE_IS_PFNZERO
        );
        assert_eq!(
            c(P | F | D | W),
            PAGE_IS_PRESENT | PAGE_IS_FILE | PAGE_IS_SOFT_DIRTY
        );
        assert_eq!(c(S), PAGE_IS_SWAPPED | PAGE_IS_WRITTEN);
        // A uffd-wp marker: swapped, not written.
        assert_eq!(c(S | W), PAGE_IS_SWAPPED);
        // A zero fact on a swap entry cannot be, and is not reported.
        assert_eq!(
            c(S | Z | D),
            PAGE_IS_SWAPPED | PAGE_IS_WRITTEN | PAGE_IS_SOFT_DIRTY
        );
    }

    #[test]
    fn huge() {
        for c in [Facts::thp_categories, Facts::hugetlb_categories] {
            assert_eq!(c(Facts(0), WR), PAGE_IS_HUGE);
            assert_eq!(
                c(Facts(P), WR),
                PAGE_IS_HUGE | PAGE_IS_PRESENT | PAGE_IS_WRITTEN
            );
            assert_eq!(
                c(Facts(P | W | Z), WR),
                PAGE_IS_HUGE | PAGE_IS_PRESENT | PAGE_IS_PFNZERO
            );
            assert_eq!(c(Facts(S | W), WR), PAGE_IS_HUGE | PAGE_IS_SWAPPED);
        }
    }

    #[test]
    fn holes_and_vmas() {
        assert_eq!(hole_categories(false, false), 0);
        assert_eq!(hole_categories(true, false), PAGE_IS_WRITTEN);
        assert_eq!(hole_categories(true, true), 0);
        assert_eq!(
            vma_categories(true, true),
            PAGE_IS_WPALLOWED | PAGE_IS_SOFT_DIRTY
        );
        assert_eq!(vma_categories(false, false), 0);
    }

    /// The matching rule, by brute force over every category set.
    #[test]
    fn matcher_equals_its_definition() {
        let masks = [
            0,
            PAGE_IS_PRESENT,
            PAGE_IS_PRESENT | PAGE_IS_FILE,
            PAGE_IS_WPALLOWED,
            PAGE_IS_GUARD | PAGE_IS_ACCESSED,
            0x3ff,
        ];
        for inverted in masks {
            for required in masks {
                for anyof in masks {
                    let m = Matcher {
                        inverted,
                        required,
                        anyof,
                    };
                    for cats in 0..=0x3ffu64 {
                        let flipped = cats ^ inverted;
                        let all = required & !flipped == 0;
                        let any = anyof == 0 || (0..10).any(|b| anyof & flipped & (1 << b) != 0);
                        assert_eq!(m.page(cats), all && any, "{m:?} {cats:#x}");
                    }
                }
            }
        }
    }

    #[test]
    fn vma_rule_only_looks_at_wpallowed() {
        let m = Matcher {
            required: PAGE_IS_WPALLOWED | PAGE_IS_PRESENT,
            ..Default::default()
        };
        assert!(m.vma(PAGE_IS_WPALLOWED));
        assert!(!m.vma(PAGE_IS_SOFT_DIRTY));
        let inv = Matcher {
            inverted: PAGE_IS_WPALLOWED,
            ..m
        };
        assert!(inv.vma(0));
        assert!(!inv.vma(PAGE_IS_WPALLOWED));
        assert!(Matcher::default().vma(0));
    }
}
