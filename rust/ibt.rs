// SPDX-License-Identifier: GPL-2.0

//! May the module call a kernel function it found by address?
//!
//! Pure: [`ksym`](crate::ksym) reads the CPU state and the bytes, this decides.
//!
//! An address is accepted only inside the core kernel's text (`_stext` to
//! `_etext`): not a module's, not the freed init text, not a trampoline.
//!
//! The module calls the functions it resolves through static calls, which the
//! kernel patches into direct calls: those need nothing at the target. Where
//! the kernel has no static calls they are indirect calls, and then, with x86
//! IBT enforced, an indirect call must land on an `ENDBR64`. The kernel seals
//! (overwrites with a NOP) the `ENDBR64` of every function whose address is
//! never taken in the kernel image, which is the case for most of the
//! functions this module needs: calling one of those would raise `#CP` and
//! oops. With kCFI, an indirect call checks a type hash the module cannot
//! vouch for.

/// The `endbr64` instruction.
pub const ENDBR64: [u8; 4] = [0xf3, 0x0f, 0x1e, 0xfa];

/// What the kernel writes over an `ENDBR64` it seals (`gen_endbr_poison()`):
/// `nopl -42(%rax)` since 6.15, `osp nopl (%rax)` before (6.12).
pub const ENDBR_POISON: [[u8; 4]; 2] = [[0x0f, 0x1f, 0x40, 0xd6], [0x66, 0x0f, 0x1f, 0x00]];

/// The control-flow protection in force on the running kernel, and where
/// its text is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallPolicy {
    /// Calls to resolved functions are direct (static calls).
    pub direct_calls: bool,
    /// The core kernel text, `[_stext, _etext)`.
    pub text: (u64, u64),
    /// The CPU enforces indirect-branch tracking (`X86_FEATURE_IBT` enabled).
    pub ibt_enforced: bool,
    /// The kernel was built with kCFI (`CONFIG_CFI_CLANG`).
    pub kcfi: bool,
}

/// Why a function must not be called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unsafe {
    /// The address is not in the core kernel's text.
    NotCoreText,
    /// kCFI would check a type hash the module did not compute.
    Kcfi,
    /// IBT is enforced and the function does not start with `ENDBR64`.
    NoEndbr,
}

impl CallPolicy {
    /// Decides whether the function at `addr`, whose first four bytes are
    /// `head`, may be called.
    pub fn check(&self, addr: u64, head: [u8; 4]) -> Result<(), Unsafe> {
        if !(self.text.0..self.text.1).contains(&addr) {
            return Err(Unsafe::NotCoreText);
        }
        if self.direct_calls {
            return Ok(());
        }
        if self.kcfi {
            return Err(Unsafe::Kcfi);
        }
        if self.ibt_enforced && head != ENDBR64 {
            return Err(Unsafe::NoEndbr);
        }
        Ok(())
    }
}

/// The entry of a function given where a kprobe on it landed.
///
/// x86 kprobes skip a leading `ENDBR64` (`arch_adjust_kprobe_addr`), sealed
/// or not (`is_endbr()` accepts the poison), so the entry is four bytes
/// earlier when those bytes are either.
pub fn entry_from_probe(probe_addr: u64, before: [u8; 4]) -> u64 {
    if before == ENDBR64 || ENDBR_POISON.contains(&before) {
        probe_addr - 4
    } else {
        probe_addr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the kernel writes over a sealed `ENDBR64` (`poison_endbr`).
    const SEALED: [u8; 4] = ENDBR_POISON[0];
    const PUSH_RBP: [u8; 4] = [0x55, 0x48, 0x89, 0xe5];
    const TEXT: (u64, u64) = (0xffff_ffff_8100_0000, 0xffff_ffff_8200_0000);
    const IN: u64 = 0xffff_ffff_8123_4560;

    fn policy(direct_calls: bool, ibt_enforced: bool, kcfi: bool) -> CallPolicy {
        CallPolicy {
            direct_calls,
            text: TEXT,
            ibt_enforced,
            kcfi,
        }
    }

    #[test]
    fn without_ibt_anything_goes() {
        let p = policy(false, false, false);
        for head in [ENDBR64, SEALED, PUSH_RBP] {
            assert_eq!(p.check(IN, head), Ok(()));
        }
    }

    #[test]
    fn enforced_ibt_needs_endbr_for_indirect_calls() {
        let p = policy(false, true, false);
        assert_eq!(p.check(IN, ENDBR64), Ok(()));
        assert_eq!(p.check(IN, SEALED), Err(Unsafe::NoEndbr));
        assert_eq!(p.check(IN, PUSH_RBP), Err(Unsafe::NoEndbr));
    }

    #[test]
    fn kcfi_is_refused_for_indirect_calls() {
        for ibt_enforced in [false, true] {
            assert_eq!(
                policy(false, ibt_enforced, true).check(IN, ENDBR64),
                Err(Unsafe::Kcfi)
            );
        }
    }

    #[test]
    fn direct_calls_need_no_endbr() {
        for (ibt_enforced, kcfi) in [(true, false), (true, true), (false, true)] {
            let p = policy(true, ibt_enforced, kcfi);
            for head in [ENDBR64, SEALED, PUSH_RBP] {
                assert_eq!(p.check(IN, head), Ok(()));
            }
        }
    }

    #[test]
    fn only_core_text_is_accepted() {
        for direct in [false, true] {
            let p = policy(direct, false, false);
            assert_eq!(p.check(TEXT.0, ENDBR64), Ok(()));
            assert_eq!(p.check(TEXT.1 - 1, ENDBR64), Ok(()));
            // _etext itself, init text after it, module text far below, 0.
            for addr in [
                TEXT.1,
                TEXT.1 + 0x10_0000,
                0xffff_ffff_a000_0000,
                TEXT.0 - 1,
                0,
            ] {
                assert_eq!(p.check(addr, ENDBR64), Err(Unsafe::NotCoreText));
            }
        }
    }

    #[test]
    fn probe_address_steps_back_over_endbr() {
        assert_eq!(entry_from_probe(0x1004, ENDBR64), 0x1000);
        // A sealed ENDBR is skipped too: kallsyms_lookup_name's on Debian's 7.3.
        for sealed in ENDBR_POISON {
            assert_eq!(entry_from_probe(0x1004, sealed), 0x1000);
        }
        assert_eq!(entry_from_probe(0x1000, PUSH_RBP), 0x1000);
        assert_eq!(entry_from_probe(0x1000, [0xcc; 4]), 0x1000);
    }
}
