// SPDX-License-Identifier: GPL-2.0

//! Bit constants read from a C header at compile time.
//!
//! The module is built without bindgen for its own headers, so where C and
//! Rust share values (`facts.h`: the facts `helpers.c` decodes entries
//! into), the header is their one definition and Rust takes each value from
//! its text (`include_str!`) in a `const`. A name that is missing, defined
//! twice, or not defined as `(1 << N)` fails the build (a panic during const
//! evaluation is a compile error), in the module and in the host build alike.

/// Whether `h[at..]` starts with `pat`.
const fn starts_with(h: &[u8], at: usize, pat: &[u8]) -> bool {
    if at + pat.len() > h.len() {
        return false;
    }
    let mut i = 0;
    while i < pat.len() {
        if h[at + i] != pat[i] {
            return false;
        }
        i += 1;
    }
    true
}

const fn is_blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// The first index from `at` that is not a blank.
const fn skip_blanks(h: &[u8], mut at: usize) -> usize {
    while at < h.len() && is_blank(h[at]) {
        at += 1;
    }
    at
}

/// If the line at `at` defines `name`: `Some(Some(n))` for `(1 << n)`,
/// `Some(None)` for any other value; `None` if it does not define `name`.
const fn define_at(h: &[u8], at: usize, name: &[u8]) -> Option<Option<u32>> {
    const DEFINE: &[u8] = b"#define";
    if !starts_with(h, at, DEFINE) {
        return None;
    }
    let mut i = at + DEFINE.len();
    let after = skip_blanks(h, i);
    if after == i || !starts_with(h, after, name) {
        return None;
    }
    i = after + name.len();
    // The whole name: blanks must follow it.
    let value = skip_blanks(h, i);
    if value == i {
        return None;
    }
    i = value;
    if !starts_with(h, i, b"(1 << ") {
        return Some(None);
    }
    i += b"(1 << ".len();
    let mut shift: u32 = 0;
    let digits = i;
    while i < h.len() && h[i].is_ascii_digit() && i - digits < 2 {
        shift = shift * 10 + (h[i] - b'0') as u32;
        i += 1;
    }
    if i == digits || shift > 31 || i >= h.len() || h[i] != b')' {
        return Some(None);
    }
    // Nothing after the value but blanks and a comment.
    i = skip_blanks(h, i + 1);
    if i < h.len() && h[i] != b'\n' && !starts_with(h, i, b"/*") {
        return Some(None);
    }
    Some(Some(shift))
}

/// The value `1 << N` of the one line `#define NAME (1 << N)` of `header`.
///
/// Meant for `const`s: panics (a compile error there) if `header` does not
/// define `name` exactly once, in that form.
pub const fn bit(header: &str, name: &str) -> u32 {
    let h = header.as_bytes();
    let name = name.as_bytes();
    let mut found = None;
    let mut line = 0;
    while line < h.len() {
        match define_at(h, line, name) {
            Some(Some(shift)) if found.is_none() => found = Some(shift),
            Some(Some(_)) => panic!("the header defines this name twice"),
            Some(None) => panic!("the header's value for this name is not (1 << N)"),
            None => {}
        }
        while line < h.len() && h[line] != b'\n' {
            line += 1;
        }
        line += 1;
    }
    match found {
        Some(shift) => 1 << shift,
        None => panic!("the header does not define this name"),
    }
}

/// [`bit`] for a `u8` (the page-table facts).
pub const fn bit_u8(header: &str, name: &str) -> u8 {
    let b = bit(header, name);
    assert!(b <= u8::MAX as u32, "the header's bit does not fit in a u8");
    b as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "/* c */\n#define A\t\t(1 << 0)\n#define AB (1 << 5)\t/* x */\n\
                     #define BIG (1 << 9)\n#define WORD 4\n#define T (1 << 3)  trailing\n";

    #[test]
    fn reads_bits() {
        assert_eq!(bit(H, "A"), 1);
        assert_eq!(bit(H, "AB"), 32);
        assert_eq!(bit(H, "BIG"), 512);
    }

    fn panics(f: fn()) -> bool {
        std::panic::catch_unwind(f).is_err()
    }

    #[test]
    fn refuses_what_is_not_one_definition_of_a_bit() {
        assert!(panics(|| {
            bit(H, "MISSING");
        }));
        assert!(panics(|| {
            bit(H, "WORD");
        }));
        assert!(panics(|| {
            bit(H, "T");
        }));
        assert!(panics(|| {
            bit_u8(H, "BIG");
        }));
        assert!(panics(|| {
            bit("#define A (1 << 1)\n#define A (1 << 1)\n", "A");
        }));
        // A prefix of a defined name is not defined.
        assert!(panics(|| {
            bit("#define AB (1 << 1)\n", "A");
        }));
    }

    #[test]
    fn facts_h_defines_every_fact_once() {
        use crate::category::FACTS_H;
        for name in [
            "PMS_F_PRESENT",
            "PMS_F_SWAP",
            "PMS_F_UFFD",
            "PMS_F_SOFT_DIRTY",
            "PMS_F_ZERO",
            "PMS_F_FILE",
            "PMS_F_GUARD",
        ] {
            bit_u8(FACTS_H, name);
        }
    }
}
