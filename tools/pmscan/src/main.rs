// SPDX-License-Identifier: GPL-2.0

//! `pmscan`: the page categories of a process's memory, region by region,
//! from `PAGEMAP_SCAN` on `/dev/pagemap_scan` (attached to the process with
//! a pidfd) or, with `--proc`, on the kernel's `/proc/PID/pagemap`.

use pagemap_scan::{pidfd_open, Categories, Error, Op, Query, Region, Scanner, DEVICE};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::os::fd::AsFd;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

const USAGE: &str = "\
usage: pmscan [OPTIONS] --pid PID
       pmscan [OPTIONS] [--wait-ms N] -- COMMAND [ARGS...]

Prints the regions of every VMA of a process (from /proc/PID/maps) as
PAGEMAP_SCAN reports them: start, end, pages, categories and mapping.
With a COMMAND, starts it (its stdout goes to pmscan's stderr), waits
--wait-ms (default 300) milliseconds, scans it, then kills it.

Options:
  --pid PID          scan the running process PID
  --json             print a JSON array of objects
                     {\"start\":\"0x..\",\"end\":\"0x..\",\"pages\":N,\"categories\":[..],\"mapping\":\"..\"}
  --require CATS     report only pages with all of CATS       (category_mask)
  --anyof CATS       report only pages with one of CATS       (category_anyof_mask)
  --invert CATS      flip CATS before matching               (category_inverted)
  --exclude CATS     report only pages with none of CATS  (inverted and required)
  --return CATS      categories shown per region (default all) (return_mask)
  --max-pages N      report at most N pages in all
  --wp               write-protect the written pages reported (PM_SCAN_WP_MATCHING;
                     only VMAs registered with userfaultfd wp-async are scanned)
  --vec-len N        regions per ioctl call (default 256)
  --proc             use /proc/PID/pagemap (the kernel's C ioctl) instead of the device
  --wait-ms N        with a COMMAND: how long to let it run before the scan
  -h, --help         this text

CATS: names joined by '|' or ',': wpallowed written file present swapped
pfnzero huge soft-dirty guard accessed, or all, none, or a number. guard
and accessed are Linux 7.3's: an older kernel refuses them in a mask, and
\"all\" then reports the others.";

/// The command line.
#[derive(Debug)]
struct Options {
    json: bool,
    proc: bool,
    pid: Option<i32>,
    command: Vec<OsString>,
    wait_ms: u64,
    vec_len: usize,
    query: Query,
}

/// A failure, with the exit status: 2 for usage errors, 1 otherwise.
struct Failure(u8, String);

fn usage(msg: impl Into<String>) -> Failure {
    Failure(2, format!("{}\n\n{USAGE}", msg.into()))
}

fn parse_args(mut args: impl Iterator<Item = OsString>) -> Result<Options, Failure> {
    let mut o = Options {
        json: false,
        proc: false,
        pid: None,
        command: Vec::new(),
        wait_ms: 300,
        vec_len: pagemap_scan::DEFAULT_VEC_LEN,
        query: Query::new(0..0),
    };
    let mut query = Query::new(0..0);
    while let Some(arg) = args.next() {
        let Some(s) = arg.to_str() else {
            o.command.push(arg);
            o.command.extend(args);
            break;
        };
        let (name, inline) = match s.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (s, None),
        };
        let mut value = |what: &str| -> Result<String, Failure> {
            inline
                .clone()
                .or_else(|| args.next().and_then(|v| v.into_string().ok()))
                .ok_or_else(|| usage(format!("{name} needs {what}")))
        };
        let cats = |v: String| -> Result<Categories, Failure> {
            v.parse().map_err(|e| usage(format!("{name}: {e}")))
        };
        let number = |v: String| -> Result<u64, Failure> {
            v.parse()
                .map_err(|_| usage(format!("{name}: not a number: {v:?}")))
        };
        match name {
            "-h" | "--help" => return Err(Failure(0, USAGE.to_string())),
            "--json" => o.json = true,
            "--proc" => o.proc = true,
            "--wp" => query = query.write_protect(),
            "--require" => query = query.require(cats(value("categories")?)?),
            "--anyof" => query = query.any_of(cats(value("categories")?)?),
            "--invert" => query = query.inverted(cats(value("categories")?)?),
            "--exclude" => query = query.exclude(cats(value("categories")?)?),
            "--return" => query = query.report(cats(value("categories")?)?),
            "--max-pages" => query = query.max_pages(number(value("a number")?)?),
            "--vec-len" => match number(value("a number")?)? {
                0 => return Err(usage("--vec-len must be at least 1")),
                n => o.vec_len = n as usize,
            },
            "--wait-ms" => o.wait_ms = number(value("a number")?)?,
            "--pid" => {
                let v = value("a pid")?;
                match v.parse::<i32>() {
                    Ok(pid) if pid > 0 => o.pid = Some(pid),
                    _ => return Err(usage(format!("--pid: not a pid: {v:?}"))),
                }
            }
            "--" => {
                o.command.extend(args);
                break;
            }
            _ if s.starts_with('-') => return Err(usage(format!("unknown option {s}"))),
            _ => {
                o.command.push(arg);
                o.command.extend(args);
                break;
            }
        }
    }
    match (o.pid, o.command.is_empty()) {
        (Some(_), false) => return Err(usage("give either --pid or a COMMAND, not both")),
        (None, true) => return Err(usage("give --pid PID or -- COMMAND")),
        _ => {}
    }
    o.query = query;
    Ok(o)
}

/// A line of `/proc/PID/maps`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Vma {
    start: u64,
    end: u64,
    name: String,
}

/// The VMAs of `maps` (the text of `/proc/PID/maps`).
fn parse_maps(maps: &str) -> Vec<Vma> {
    maps.lines()
        .filter_map(|line| {
            let mut fields = line.splitn(6, ' ');
            let (start, end) = fields.next()?.split_once('-')?;
            let start = u64::from_str_radix(start, 16).ok()?;
            let end = u64::from_str_radix(end, 16).ok()?;
            let name = fields.nth(4).unwrap_or("").trim_start().to_string();
            Some(Vma { start, end, name })
        })
        .collect()
}

/// Above any user address (the vsyscall page lives there): not scannable.
const USER_TOP: u64 = 1 << 57;

/// One output line.
struct Row<'a> {
    region: Region,
    vma: &'a Vma,
}

/// A JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn print_json(rows: &[Row]) -> String {
    let mut out = String::from("[");
    for (i, row) in rows.iter().enumerate() {
        let r = &row.region;
        let cats: Vec<String> = r.categories.names().map(json_string).collect();
        let _ = write!(
            out,
            "{}\n  {{\"start\":\"{:#x}\",\"end\":\"{:#x}\",\"pages\":{},\"categories\":[{}],\"mapping\":{}}}",
            if i == 0 { "" } else { "," },
            r.start,
            r.end,
            r.pages(),
            cats.join(","),
            json_string(&row.vma.name)
        );
    }
    out.push_str(if rows.is_empty() { "]\n" } else { "\n]\n" });
    out
}

fn print_table(rows: &[Row], header: &str) -> String {
    let cats: Vec<String> = rows
        .iter()
        .map(|r| r.region.categories.to_string())
        .collect();
    let width = cats.iter().map(String::len).max().unwrap_or(0).max(10);
    let mut out = format!("{header}\n");
    let _ = writeln!(
        out,
        "{:<16} {:<16} {:>8}  {:<width$}  mapping",
        "start", "end", "pages", "categories"
    );
    let mut pages = 0;
    for (row, cats) in rows.iter().zip(&cats) {
        let r = &row.region;
        pages += r.pages();
        let name = if row.vma.name.is_empty() {
            "[anon]"
        } else {
            &row.vma.name
        };
        let _ = writeln!(
            out,
            "{:016x} {:016x} {:>8}  {cats:<width$}  {name}",
            r.start,
            r.end,
            r.pages()
        );
    }
    let _ = writeln!(out, "{} regions, {pages} pages", rows.len());
    out
}

/// The scanner for `pid`, with messages that say what to do.
fn scanner_for(pid: i32, proc: bool) -> Result<Scanner, Failure> {
    let denied = || {
        Failure(
            1,
            format!(
                "not allowed to scan process {pid}: ptrace-read permission on it is needed \
                 (the same user and a dumpable process, or CAP_SYS_PTRACE; \
                 see also /proc/sys/kernel/yama/ptrace_scope)"
            ),
        )
    };
    if proc {
        return Scanner::open_proc(pid).map_err(|e| match e.errno() {
            libc::EACCES | libc::EPERM => denied(),
            libc::ENOENT => Failure(1, format!("no process {pid}")),
            _ => Failure(1, e.to_string()),
        });
    }
    let scanner = Scanner::open().map_err(|e| match e.errno() {
        libc::ENOENT | libc::ENXIO | libc::ENODEV => Failure(
            1,
            format!(
                "{DEVICE} is missing: load the module first (insmod pagemap_scan.ko), \
                 or use --proc for the kernel's /proc/PID/pagemap"
            ),
        ),
        _ => Failure(1, e.to_string()),
    })?;
    let pidfd = pidfd_open(pid).map_err(|e| match e.errno() {
        libc::ESRCH => Failure(1, format!("no process {pid}")),
        _ => Failure(1, e.to_string()),
    })?;
    scanner
        .attach_pidfd(pidfd.as_fd())
        .map_err(|e| match e.errno() {
            libc::EACCES | libc::EPERM => denied(),
            libc::ESRCH => Failure(1, format!("process {pid} has exited or has no memory")),
            libc::ENOTTY | libc::EOPNOTSUPP => Failure(
                1,
                format!(
                    "the loaded module does not implement PMS_IOC_ATTACH_PIDFD returning a new \
                 fd: load a newer pagemap_scan.ko, or use --proc: {e}"
                ),
            ),
            _ => Failure(1, e.to_string()),
        })
}

fn scan_error(pid: i32, e: Error) -> Failure {
    match (e.op(), e.errno()) {
        (Op::Scan, libc::ESRCH) => Failure(1, format!("process {pid} exited during the scan")),
        _ => Failure(1, e.to_string()),
    }
}

/// Scans every VMA of `pid`; the rows and the header line.
fn scan(o: &Options, pid: i32) -> Result<String, Failure> {
    let scanner = scanner_for(pid, o.proc)?;
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .map_err(|e| Failure(1, format!("/proc/{pid}/maps: {e}")))?;
    let vmas = parse_maps(&maps);
    let mut rows = Vec::new();
    let mut budget = o.query.page_limit();
    for vma in vmas.iter().filter(|v| v.end <= USER_TOP) {
        let mut query = o.query.with_range(vma.start..vma.end);
        if o.query.page_limit() != 0 {
            if budget == 0 {
                break;
            }
            query = query.max_pages(budget);
        }
        for region in scanner.regions_with_vec(&query, o.vec_len) {
            let region = region.map_err(|e| scan_error(pid, e))?;
            budget = budget.saturating_sub(region.pages());
            rows.push(Row { region, vma });
        }
    }
    if o.json {
        return Ok(print_json(&rows));
    }
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    let via = if o.proc {
        format!("/proc/{pid}/pagemap")
    } else {
        DEVICE.to_string()
    };
    let header = format!("pid {pid} ({}) via {via}", comm.trim());
    Ok(print_table(&rows, &header))
}

/// Starts the command, its stdout sent to our stderr.
fn start(o: &Options) -> Result<Child, Failure> {
    let program = &o.command[0];
    let stdout = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| Failure(1, format!("dup stderr: {e}")))?;
    Command::new(program)
        .args(&o.command[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::from(stdout))
        .spawn()
        .map_err(|e| Failure(1, format!("cannot run {}: {e}", program.to_string_lossy())))
}

fn run(o: &Options) -> Result<String, Failure> {
    if let Some(pid) = o.pid {
        return scan(o, pid);
    }
    let mut child = start(o)?;
    std::thread::sleep(Duration::from_millis(o.wait_ms));
    let pid = child.id() as i32;
    let result = match child.try_wait() {
        Ok(Some(status)) => Err(Failure(
            1,
            format!(
                "{} exited ({status}) before the scan: give a command that keeps running, \
                 or a smaller --wait-ms",
                o.command[0].to_string_lossy()
            ),
        )),
        _ => scan(o, pid),
    };
    let _ = child.kill();
    let _ = child.wait();
    result
}

fn main() -> ExitCode {
    let result = parse_args(std::env::args_os().skip(1)).and_then(|o| run(&o));
    match result {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(Failure(0, text)) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(Failure(status, msg)) => {
            eprintln!("pmscan: {msg}");
            ExitCode::from(status)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, Failure> {
        parse_args(args.iter().map(OsString::from))
    }

    #[test]
    fn options() {
        let o = parse(&[
            "--json",
            "--wp",
            "--require",
            "present|written",
            "--anyof=file",
            "--invert",
            "pfnzero",
            "--exclude",
            "huge",
            "--return",
            "present",
            "--max-pages",
            "10",
            "--vec-len=3",
            "--pid",
            "42",
        ])
        .ok()
        .unwrap();
        assert!(o.json && !o.proc);
        assert_eq!(o.pid, Some(42));
        assert_eq!(o.vec_len, 3);
        let a = o.query.arg_for(pagemap_scan::Categories::ALL);
        assert_eq!(a.flags, pagemap_scan::uapi::PM_SCAN_WP_MATCHING);
        assert_eq!(a.category_mask, 0b100_1010);
        assert_eq!(a.category_anyof_mask, 0b100);
        assert_eq!(a.category_inverted, 0b110_0000);
        assert_eq!(a.return_mask, 0b1000);
        assert_eq!(a.max_pages, 10);
    }

    #[test]
    fn linux_7_3_categories() {
        let o = parse(&["--require", "accessed", "--exclude=guard", "--pid", "1"])
            .ok()
            .unwrap();
        let a = o.query.arg_for(pagemap_scan::Categories::ALL);
        assert_eq!(a.category_mask, 0x300);
        assert_eq!(a.category_inverted, 0x100);
        assert_eq!(a.return_mask, 0x3ff);
        let vma = Vma {
            start: 0,
            end: 0x1000,
            name: String::new(),
        };
        let region = Region {
            start: 0,
            end: 0x1000,
            categories: Categories::SWAPPED | Categories::GUARD | Categories::ACCESSED,
        };
        let rows = [Row { region, vma: &vma }];
        assert!(print_json(&rows).contains("[\"swapped\",\"guard\",\"accessed\"]"));
        assert!(print_table(&rows, "").contains("swapped|guard|accessed"));
    }

    #[test]
    fn command_after_dashes_or_first_word() {
        let o = parse(&["--proc", "--", "sleep", "--json"]).ok().unwrap();
        assert_eq!(o.command, ["sleep", "--json"]);
        assert!(o.proc && !o.json);
        let o = parse(&["--wait-ms", "5", "sleep", "1"]).ok().unwrap();
        assert_eq!((o.command.len(), o.wait_ms), (2, 5));
    }

    #[test]
    fn bad_command_lines() {
        let status = |args: &[&str]| parse(args).err().map(|Failure(s, m)| (s, m));
        assert_eq!(status(&[]).unwrap().0, 2);
        assert_eq!(status(&["--pid", "1", "--", "x"]).unwrap().0, 2);
        assert!(status(&["--require", "bogus", "--pid", "1"])
            .unwrap()
            .1
            .contains("bogus"));
        assert!(status(&["--max-pages"]).unwrap().1.contains("needs"));
        assert!(status(&["--pid", "-3"]).unwrap().1.contains("not a pid"));
        assert!(status(&["--frob"]).unwrap().1.contains("unknown option"));
        assert_eq!(status(&["--help"]).unwrap().0, 0);
    }

    #[test]
    fn maps_lines() {
        let maps = "\
55d0c0a00000-55d0c0a02000 r--p 00000000 08:01 1234                       /usr/bin/sleep
7ffd1e9c0000-7ffd1e9e1000 rw-p 00000000 00:00 0                          [stack]
7f0000000000-7f0000001000 rw-s 00000000 00:01 7                          /memfd:a b (deleted)
7f0000001000-7f0000002000 rw-p 00000000 00:00 0 
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
";
        let v = parse_maps(maps);
        assert_eq!(v.len(), 5);
        assert_eq!(v[0].name, "/usr/bin/sleep");
        assert_eq!((v[0].start, v[0].end), (0x55d0_c0a0_0000, 0x55d0_c0a0_2000));
        assert_eq!(v[1].name, "[stack]");
        assert_eq!(v[2].name, "/memfd:a b (deleted)");
        assert_eq!(v[3].name, "");
        assert!(v[4].end > USER_TOP);
    }

    #[test]
    fn json_output() {
        let vma = Vma {
            start: 0x1000,
            end: 0x3000,
            name: "a\"b\\c".into(),
        };
        let region = Region {
            start: 0x1000,
            end: 0x3000,
            categories: Categories::PRESENT | Categories::WRITTEN,
        };
        let rows = [Row { region, vma: &vma }, Row { region, vma: &vma }];
        let out = print_json(&rows);
        let line = "{\"start\":\"0x1000\",\"end\":\"0x3000\",\"pages\":2,\"categories\":[\"written\",\"present\"],\"mapping\":\"a\\\"b\\\\c\"}";
        assert_eq!(out, format!("[\n  {line},\n  {line}\n]\n"));
        assert_eq!(print_json(&[]), "[]\n");
        assert_eq!(json_string("\u{1}"), "\"\\u0001\"");
        let table = print_table(&rows, "hdr");
        assert!(table.contains("written|present"), "{table}");
        assert!(table.ends_with("2 regions, 4 pages\n"), "{table}");
    }
}
