// SPDX-License-Identifier: GPL-2.0

//! The userspace API crate (`pagemap-scan`) and the `pmscan` CLI, against
//! the kernel's C ioctl: the regions iterator with small vectors and a page
//! budget equals one C call with a vector larger than any result (also with
//! GET+WP, on twin areas), `features()` lists what the module does,
//! `attach_pidfd()` scans another process, and `pmscan --json` prints the
//! regions of a child, the same through the device and through `--proc`.

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::{fork, pipe, read, write, ForkResult, Pid};
use pagemap_scan::uapi::{PageRegion, PmScanArg};
use pagemap_scan::{pidfd_open, uffd, Categories, Query, Region, Scanner};
use pagemap_scan_selftests::ensure;
use pagemap_scan_selftests::layout::{Area, Kind, HUGE_PAGES};
use pagemap_scan_selftests::mem::PAGE;
use pagemap_scan_selftests::rng::{self, Rng};
use pagemap_scan_selftests::scanner;
use pagemap_scan_selftests::tap::Outcome;
use std::os::fd::{AsFd, AsRawFd};
use std::path::PathBuf;

const P: u64 = PAGE as u64;
const VEC_LENS: [usize; 4] = [1, 2, 7, 512];

/// `[start, end)` and categories of C regions, as the iterator gives them.
fn regions(v: &[PageRegion]) -> Vec<Region> {
    v.iter().map(|&r| Region::from(r)).collect()
}

/// One C `PAGEMAP_SCAN` of `a` on `/proc/self/pagemap` with room for every
/// page of the range: what an unbounded vector returns.
fn one_c_call(a: PmScanArg) -> Result<Vec<Region>, String> {
    let proc = scanner::Scanner::proc().map_err(|e| format!("/proc/self/pagemap: {e}"))?;
    let room = ((a.end.saturating_sub(a.start)) / P + 2) as usize;
    let (reply, v) = proc.regions(a, room);
    reply
        .ret
        .map_err(|e| format!("C PAGEMAP_SCAN {a:x?}: {e}"))?;
    Ok(regions(&v))
}

/// The categories of the running kernel's C ioctl.
fn c_categories() -> Categories {
    Categories::from_bits_truncate(scanner::kernel_abi().categories)
}

/// All regions of `q` through the API's iterator.
fn iterate(s: &Scanner, q: &Query, vec_len: usize) -> Result<(Vec<Region>, usize), String> {
    let mut it = s.regions_with_vec(q, vec_len);
    let v = it.by_ref().collect::<Result<Vec<_>, _>>()?;
    Ok((v, it.calls()))
}

/// A random layout of every kind in 2 MiB slots (the first and last stay
/// reserved PROT_NONE), with random page states.
fn random_area(r: &mut Rng) -> Result<Area, String> {
    const SLOTS: usize = 8;
    let mut area = Area::new(SLOTS * HUGE_PAGES)?;
    for slot in 1..SLOTS - 1 {
        let first = slot * HUGE_PAGES;
        let (kind, pages) = Kind::random_fill(r, HUGE_PAGES, 3);
        if area.place(first, kind, pages).is_err() {
            area.place(first, Kind::Anon, pages)?;
        }
        for _ in 0..2 + r.below(10) {
            let start = first + r.below(HUGE_PAGES as u64) as usize;
            let n = 1 + r.below((first + HUGE_PAGES - start) as u64).min(63) as usize;
            // Failures (a hugetlb range cut, PROT_NONE) leave the pages as they were.
            let _ = match r.below(8) {
                0..=3 => area.write(start, n),
                4 => area.read(start, n),
                5 => area.advise(start, n, libc::MADV_DONTNEED),
                6 => area.advise(start, n, libc::MADV_PAGEOUT),
                _ => area.protect(start, n, libc::PROT_READ),
            };
        }
    }
    Ok(area)
}

/// A random query over the area: masks, a reported subset, a page budget.
fn random_query(area: &Area, r: &mut Rng) -> Query {
    let cats = |r: &mut Rng, n: u64| {
        let mut c = Categories::EMPTY;
        for _ in 0..r.below(n) {
            c |= Categories::from_bits_truncate(1 << r.below(8));
        }
        c
    };
    let required = cats(r, 3) - Categories::WPALLOWED;
    let any_of = cats(r, 3);
    let inverted = cats(r, 2);
    let reported = if r.one_in(3) {
        cats(r, 4)
    } else {
        c_categories()
    };
    let first = r.below(area.pages() as u64 / 2) as usize;
    let end = area.page(first + r.below((area.pages() - first) as u64 + 1) as usize);
    let mut q = Query::new(area.page(first)..end)
        .require(required)
        .any_of(any_of)
        .inverted(inverted)
        .report(reported);
    if r.one_in(2) {
        q = q.max_pages(1 + r.below(2 * HUGE_PAGES as u64));
    }
    q
}

/// The iterator over random layouts, with vectors of 1, 2, 7 and 512
/// regions and random page budgets, through the device and through the
/// proc file: the regions of one C call with an unbounded vector.
pub fn iterator_small_vectors() -> Outcome {
    let seed = rng::seed(0xa91);
    let mut r = Rng::new(seed);
    let dev = Scanner::open()?;
    let proc = Scanner::open_proc_self()?;
    let mut refills = 0;
    for layout in 0..6 {
        let area = random_area(&mut r)?;
        for call in 0..25 {
            let q = random_query(&area, &mut r);
            let mut mismatch = None;
            // A page may change under us (reclaim, khugepaged): a mismatch
            // must persist over a second try to count.
            for _ in 0..2 {
                mismatch = None;
                let want = one_c_call(q.arg_for(c_categories()))?;
                for (name, s) in [("device", &dev), ("proc", &proc)] {
                    for vec_len in VEC_LENS {
                        let (got, calls) = iterate(s, &q, vec_len)?;
                        if calls > 1 {
                            refills += 1;
                        }
                        if got != want && mismatch.is_none() {
                            mismatch = Some(format!(
                                "seed {seed:#x} layout {layout} call {call}: {name} vec_len {vec_len} ({calls} calls), {q:x?}\n  \
                                 iterator {got:x?}\n  one call {want:x?}"
                            ));
                        }
                    }
                }
                if mismatch.is_none() {
                    break;
                }
            }
            if let Some(m) = mismatch {
                return Err(m.into());
            }
        }
    }
    ensure!(refills > 0, "no iteration needed a second call");
    Ok(())
}

/// GET+WP through the iterator (vectors of 1, 2, 7 and 512, random page
/// budgets) on one area of a twin, one C call with an unbounded vector on
/// the other: the same regions, and the same write-protection left behind.
pub fn iterator_write_protect() -> Outcome {
    const PAGES: usize = 1024;
    let mut r = Rng::new(rng::seed(0xa92));
    let dev = Scanner::open()?;
    let proc = Scanner::open_proc_self()?;
    let written = Query::new(0..0)
        .require(Categories::WRITTEN)
        .report(Categories::WRITTEN);
    for kind in [Kind::Anon, Kind::Shmem] {
        let uffd = uffd::Uffd::wp_async()?;
        let twin = [Area::of(kind, PAGES)?, Area::of(kind, PAGES)?];
        for a in &twin {
            uffd.register_wp(a.base(), a.end() - a.base())?;
            dev.write_protect(a.base()..a.end())?;
        }
        for round in 0..16 {
            for _ in 0..1 + r.below(12) {
                let first = r.below(PAGES as u64) as usize;
                let n = 1 + r.below((PAGES - first) as u64).min(40) as usize;
                for a in &twin {
                    a.write(first, n)?;
                }
            }
            let mut q = written.write_protect();
            if r.one_in(2) {
                q = q.max_pages(1 + r.below(200));
            }
            let vec_len = VEC_LENS[round % VEC_LENS.len()];
            // Each vector length through each fd.
            let s = if (round / VEC_LENS.len()).is_multiple_of(2) {
                &dev
            } else {
                &proc
            };
            let rel = |v: Vec<Region>, base: u64| -> Vec<(u64, u64, Categories)> {
                v.into_iter()
                    .map(|x| (x.start - base, x.end - base, x.categories))
                    .collect()
            };
            let [a, b] = &twin;
            let want = rel(
                one_c_call(q.with_range(a.base()..a.end()).arg_for(c_categories()))?,
                a.base(),
            );
            let (got, calls) = iterate(s, &q.with_range(b.base()..b.end()), vec_len)?;
            let got = rel(got, b.base());
            ensure!(
                got == want,
                "{kind:?} round {round}, vec_len {vec_len} ({calls} calls), {q:?}:\n  iterator {got:x?}\n  one call {want:x?}"
            );
            // What is still written (not protected) is the same in both.
            let left_a = rel(
                one_c_call(
                    written
                        .with_range(a.base()..a.end())
                        .arg_for(c_categories()),
                )?,
                a.base(),
            );
            let left_b = rel(
                one_c_call(
                    written
                        .with_range(b.base()..b.end())
                        .arg_for(c_categories()),
                )?,
                b.base(),
            );
            ensure!(
                left_a == left_b,
                "{kind:?} round {round}: written after GET+WP:\n  one call {left_a:x?}\n  iterator {left_b:x?}"
            );
        }
    }
    Ok(())
}

/// `features()` through the API: everything the module implements.
pub fn features() -> Outcome {
    let f = Scanner::open()?.features()?;
    let raw = f.raw();
    let categories = scanner::kernel_abi().categories;
    ensure!(
        (raw.size, raw.categories, raw.flags, raw.ioctls) == (32, categories, 3, 7),
        "features: {raw:x?}, want size 32, categories {categories:#x} (the C ioctl's), flags 3, ioctls 7"
    );
    ensure!(
        f.categories().bits() == categories
            && f.attach_pidfd()
            && f.attach_new_fd()
            && f.get_features(),
        "features: {f:?}"
    );
    Ok(())
}

/// A child that maps a known layout, says where, and sleeps until killed:
/// 32 pages in a fresh area; anonymous pages 0-7 (0-3 written), a shared
/// memfd at pages 16-23 (16-17 written), the rest reserved PROT_NONE.
struct Child {
    pid: Pid,
    base: u64,
}

impl Child {
    fn start() -> Result<Child, String> {
        let (rd, wr) = pipe().map_err(|e| format!("pipe: {e}"))?;
        // SAFETY: the test process is single-threaded here; the child only
        // maps memory, writes to the pipe and sleeps.
        match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
            ForkResult::Child => {
                drop(rd);
                let base = (|| -> Result<u64, String> {
                    let mut area = Area::new(32)?;
                    area.place(0, Kind::Anon, 8)?;
                    area.write(0, 4)?;
                    area.place(16, Kind::MemfdShared, 8)?;
                    area.write(16, 2)?;
                    let base = area.base();
                    std::mem::forget(area);
                    Ok(base)
                })()
                .unwrap_or(0);
                let _ = write(&wr, &base.to_ne_bytes());
                loop {
                    // SAFETY: waits for a signal; touches no memory.
                    unsafe { libc::pause() };
                }
            }
            ForkResult::Parent { child } => {
                drop(wr);
                let mut buf = [0u8; 8];
                let n = read(rd.as_raw_fd(), &mut buf).map_err(|e| format!("read: {e}"))?;
                let me = Child {
                    pid: child,
                    base: u64::from_ne_bytes(buf),
                };
                ensure!(n == 8 && me.base != 0, "the child could not map its layout");
                Ok(me)
            }
        }
    }

    fn range(&self) -> std::ops::Range<u64> {
        self.base..self.base + 32 * P
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = kill(self.pid, Signal::SIGKILL);
        let _ = waitpid(self.pid, None);
    }
}

/// `attach_pidfd()`: the new scanner scans the child as its
/// `/proc/PID/pagemap` does; a fd that is not a pidfd is `EBADF`.
pub fn attach_pidfd() -> Outcome {
    let child = Child::start()?;
    let own = Scanner::open()?;
    let pidfd = pidfd_open(child.pid.as_raw())?;
    let dev = own.attach_pidfd(pidfd.as_fd())?;
    let proc = Scanner::open_proc(child.pid.as_raw())?;
    let q = Query::new(child.range());
    for vec_len in VEC_LENS {
        let (d, _) = iterate(&dev, &q, vec_len)?;
        let (c, _) = iterate(&proc, &q, 4096)?;
        ensure!(
            d == c,
            "vec_len {vec_len}:\n  device {d:x?}\n  proc   {c:x?}"
        );
    }
    let present = Query::new(child.range()).require(Categories::PRESENT);
    let (v, _) = iterate(&dev, &present, 2)?;
    let pages: Vec<_> = v
        .iter()
        .map(|r| ((r.start - child.base) / P, (r.end - child.base) / P))
        .collect();
    ensure!(
        pages == [(0, 4), (16, 18)],
        "present pages of the child: {pages:?}"
    );
    let not_a_pidfd = std::fs::File::open("/dev/null").map_err(|e| e.to_string())?;
    match own.attach_pidfd(not_a_pidfd.as_fd()) {
        Err(e) if e.errno() == libc::EBADF => Ok(()),
        other => Err(format!("attach of /dev/null: {other:?}, want EBADF").into()),
    }
}

/// The categories of each of the 32 pages of a child's area (`None`: not
/// reported).
fn per_page(v: &[Region], base: u64) -> Vec<Option<Categories>> {
    let mut pages = vec![None; 32];
    for r in v {
        for page in (r.start - base) / P..(r.end - base) / P {
            pages[page as usize] = Some(r.categories);
        }
    }
    pages
}

/// Where `pmscan` is: next to this binary (target/release), else relative
/// to the repository directory the tests run from.
fn pmscan_path() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("pmscan")))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("target/release/pmscan"))
}

fn run_pmscan(args: &[&str]) -> Result<String, String> {
    let path = pmscan_path();
    let out = std::process::Command::new(&path)
        .args(args)
        .output()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    ensure!(
        out.status.success(),
        "{} {args:?}: {}\n{}",
        path.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).map_err(|e| format!("pmscan output: {e}"))
}

/// `pmscan --json --pid CHILD`: the regions of the child's known layout,
/// equal to what the C ioctl on `/proc/CHILD/pagemap` reports, with their
/// mapping names; and the whole output equals that of `--proc`.
pub fn cli() -> Outcome {
    let child = Child::start()?;
    let pid = child.pid.to_string();
    let text = run_pmscan(&["--json", "--pid", &pid])?;
    let json = json::parse(&text).map_err(|e| format!("pmscan JSON: {e}\n{text}"))?;
    let json::Value::Array(items) = json else {
        return Err(format!("pmscan JSON is not an array:\n{text}").into());
    };
    let mut got = Vec::new();
    let mut mappings = Vec::new();
    for item in &items {
        let field = |name: &str| item.get(name).ok_or(format!("no {name:?} in {item:?}"));
        let hex = |name: &str| -> Result<u64, String> {
            let v = field(name)?
                .as_str()
                .ok_or(format!("{name} not a string"))?;
            u64::from_str_radix(v.trim_start_matches("0x"), 16).map_err(|e| format!("{v}: {e}"))
        };
        let (start, end) = (hex("start")?, hex("end")?);
        let pages = field("pages")?.as_u64().ok_or("pages not a number")?;
        ensure!(pages * P == end - start, "{item:?}: pages do not fit");
        let mut categories = Categories::EMPTY;
        for c in field("categories")?
            .as_array()
            .ok_or("categories not an array")?
        {
            let name = c.as_str().ok_or("a category not a string")?;
            categories |= name.parse::<Categories>().map_err(|e| e.to_string())?;
        }
        let mapping = field("mapping")?.as_str().ok_or("mapping not a string")?;
        if child.range().contains(&start) {
            got.push(Region {
                start,
                end,
                categories,
            });
            mappings.push(((start - child.base) / P, mapping.to_string()));
        }
    }
    let proc = Scanner::open_proc(child.pid.as_raw())?;
    let (want, _) = iterate(&proc, &Query::new(child.range()), 4096)?;
    // pmscan cuts regions at VMA boundaries, one call over the area does
    // not: compare page by page.
    let (got_pages, want_pages) = (per_page(&got, child.base), per_page(&want, child.base));
    ensure!(
        got_pages == want_pages,
        "pmscan regions of the child's area:\n  pmscan {got:x?}\n  C      {want:x?}"
    );
    let present: Vec<_> = got
        .iter()
        .filter(|r| r.categories.contains(Categories::PRESENT))
        .map(|r| ((r.start - child.base) / P, (r.end - child.base) / P))
        .collect();
    ensure!(present == [(0, 4), (16, 18)], "present: {present:?}");
    for (page, mapping) in &mappings {
        let memfd = (16..24).contains(page);
        ensure!(
            mapping.starts_with("/memfd:pagemap_scan") == memfd,
            "page {page}: mapping {mapping:?}"
        );
    }
    let via_proc = run_pmscan(&["--json", "--proc", "--pid", &pid])?;
    ensure!(
        via_proc == text,
        "pmscan --proc differs:\n--- device\n{text}\n--- proc\n{via_proc}"
    );
    Ok(())
}

/// Just enough JSON to read pmscan's output.
mod json {
    /// A JSON value.
    #[derive(Debug, PartialEq)]
    pub enum Value {
        Null,
        Bool(bool),
        Number(f64),
        String(String),
        Array(Vec<Value>),
        Object(Vec<(String, Value)>),
    }

    impl Value {
        pub fn get(&self, key: &str) -> Option<&Value> {
            match self {
                Value::Object(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
                _ => None,
            }
        }

        pub fn as_str(&self) -> Option<&str> {
            match self {
                Value::String(s) => Some(s),
                _ => None,
            }
        }

        pub fn as_u64(&self) -> Option<u64> {
            match self {
                Value::Number(n) if *n >= 0.0 && n.fract() == 0.0 => Some(*n as u64),
                _ => None,
            }
        }

        pub fn as_array(&self) -> Option<&[Value]> {
            match self {
                Value::Array(v) => Some(v),
                _ => None,
            }
        }
    }

    pub fn parse(text: &str) -> Result<Value, String> {
        let mut p = Parser { s: text, i: 0 };
        let v = p.value()?;
        p.ws();
        if p.i != p.s.len() {
            return Err(format!("trailing text at byte {}", p.i));
        }
        Ok(v)
    }

    struct Parser<'a> {
        s: &'a str,
        i: usize,
    }

    impl Parser<'_> {
        fn peek(&self) -> Option<u8> {
            self.s.as_bytes().get(self.i).copied()
        }

        fn ws(&mut self) {
            while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
                self.i += 1;
            }
        }

        fn eat(&mut self, c: u8) -> Result<(), String> {
            self.ws();
            if self.peek() == Some(c) {
                self.i += 1;
                Ok(())
            } else {
                Err(format!("expected {:?} at byte {}", c as char, self.i))
            }
        }

        fn value(&mut self) -> Result<Value, String> {
            self.ws();
            match self.peek() {
                Some(b'[') => {
                    self.i += 1;
                    let mut v = Vec::new();
                    self.ws();
                    if self.peek() == Some(b']') {
                        self.i += 1;
                        return Ok(Value::Array(v));
                    }
                    loop {
                        v.push(self.value()?);
                        self.ws();
                        if self.peek() == Some(b',') {
                            self.i += 1;
                        } else {
                            self.eat(b']')?;
                            return Ok(Value::Array(v));
                        }
                    }
                }
                Some(b'{') => {
                    self.i += 1;
                    let mut fields = Vec::new();
                    self.ws();
                    if self.peek() == Some(b'}') {
                        self.i += 1;
                        return Ok(Value::Object(fields));
                    }
                    loop {
                        self.ws();
                        let key = self.string()?;
                        self.eat(b':')?;
                        fields.push((key, self.value()?));
                        self.ws();
                        if self.peek() == Some(b',') {
                            self.i += 1;
                        } else {
                            self.eat(b'}')?;
                            return Ok(Value::Object(fields));
                        }
                    }
                }
                Some(b'"') => Ok(Value::String(self.string()?)),
                Some(b't') => self.word("true", Value::Bool(true)),
                Some(b'f') => self.word("false", Value::Bool(false)),
                Some(b'n') => self.word("null", Value::Null),
                Some(_) => {
                    let start = self.i;
                    while self.peek().is_some_and(|c| b"+-.eE0123456789".contains(&c)) {
                        self.i += 1;
                    }
                    self.s[start..self.i]
                        .parse()
                        .map(Value::Number)
                        .map_err(|_| format!("bad value at byte {start}"))
                }
                None => Err("unexpected end".into()),
            }
        }

        fn word(&mut self, w: &str, v: Value) -> Result<Value, String> {
            if self.s[self.i..].starts_with(w) {
                self.i += w.len();
                Ok(v)
            } else {
                Err(format!("bad value at byte {}", self.i))
            }
        }

        fn string(&mut self) -> Result<String, String> {
            if self.peek() != Some(b'"') {
                return Err(format!("expected a string at byte {}", self.i));
            }
            self.i += 1;
            let mut out = String::new();
            loop {
                let rest = &self.s[self.i..];
                let mut chars = rest.chars();
                let c = chars.next().ok_or("unterminated string")?;
                self.i += c.len_utf8();
                match c {
                    '"' => return Ok(out),
                    '\\' => {
                        let e = chars.next().ok_or("unterminated escape")?;
                        self.i += 1;
                        match e {
                            'n' => out.push('\n'),
                            't' => out.push('\t'),
                            'r' => out.push('\r'),
                            'b' => out.push('\u{8}'),
                            'f' => out.push('\u{c}'),
                            'u' => {
                                let hex = rest.get(2..6).ok_or("short \\u escape")?;
                                let n = u32::from_str_radix(hex, 16).map_err(|e| e.to_string())?;
                                out.push(char::from_u32(n).unwrap_or('\u{fffd}'));
                                self.i += 4;
                            }
                            c => out.push(c),
                        }
                    }
                    c => out.push(c),
                }
            }
        }
    }
}
