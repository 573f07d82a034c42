// SPDX-License-Identifier: GPL-2.0

//! May the module call a kernel function it found by address?
//!
//! Pure: [`ksym`](crate::ksym) reads the CPU state and the bytes, this decides.
//!
//! With x86 IBT enforced, an indirect call must land on an `ENDBR64`. The kernel
//! seals (overwrites with a NOP) the `ENDBR64` of every function whose address
//! is never taken in the kernel image, which is the case for most of the
//! functions this module needs: calling one of those would raise `#CP` and oops.
//! With kCFI, an indirect call checks a type hash the module cannot vouch for.

/// The `endbr64` instruction.
pub const ENDBR64: [u8; 4] = [0xf3, 0x0f, 0x1e, 0xfa];

/// The control-flow protection in force on the running kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallPolicy {
    /// The CPU enforces indirect-branch tracking (`X86_FEATURE_IBT` enabled).
    pub ibt_enforced: bool,
    /// The kernel was built with kCFI (`CONFIG_CFI_CLANG`).
    pub kcfi: bool,
}

/// Why a function must not be called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unsafe {
    /// kCFI would check a type hash the module did not compute.
    Kcfi,
    /// IBT is enforced and the function does not start with `ENDBR64`.
    NoEndbr,
}

impl CallPolicy {
    /// Decides whether a function whose first four bytes are `head` may be called.
    pub fn check(&self, head: [u8; 4]) -> Result<(), Unsafe> {
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
/// x86 kprobes skip a leading `ENDBR64` (`arch_adjust_kprobe_addr`), so the
/// entry is four bytes earlier when those bytes are one.
pub fn entry_from_probe(probe_addr: u64, before: [u8; 4]) -> u64 {
    if before == ENDBR64 {
        probe_addr - 4
    } else {
        probe_addr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the kernel writes over a sealed `ENDBR64` (`poison_endbr`).
    const SEALED: [u8; 4] = [0x0f, 0x1f, 0x40, 0xd6];
    const PUSH_RBP: [u8; 4] = [0x55, 0x48, 0x89, 0xe5];

    #[test]
    fn without_ibt_anything_goes() {
        let p = CallPolicy {
            ibt_enforced: false,
            kcfi: false,
        };
        for head in [ENDBR64, SEALED, PUSH_RBP] {
            assert_eq!(p.check(head), Ok(()));
        }
    }

    #[test]
    fn enforced_ibt_needs_endbr() {
        let p = CallPolicy {
            ibt_enforced: true,
            kcfi: false,
        };
        assert_eq!(p.check(ENDBR64), Ok(()));
        assert_eq!(p.check(SEALED), Err(Unsafe::NoEndbr));
        assert_eq!(p.check(PUSH_RBP), Err(Unsafe::NoEndbr));
    }

    #[test]
    fn kcfi_is_refused_first() {
        for ibt_enforced in [false, true] {
            let p = CallPolicy {
                ibt_enforced,
                kcfi: true,
            };
            assert_eq!(p.check(ENDBR64), Err(Unsafe::Kcfi));
        }
    }

    #[test]
    fn probe_address_steps_back_over_endbr() {
        assert_eq!(entry_from_probe(0x1004, ENDBR64), 0x1000);
        assert_eq!(entry_from_probe(0x1000, SEALED), 0x1000);
        assert_eq!(entry_from_probe(0x1000, [0xcc; 4]), 0x1000);
    }
}
