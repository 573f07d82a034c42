// SPDX-License-Identifier: GPL-2.0

//! `pmscan`: the page categories of a process's memory, region by region,
//! from `PAGEMAP_SCAN` on `/dev/pagemap_scan` (attached to the process with
//! a pidfd) or, with `--proc`, on the kernel's `/proc/PID/pagemap`.

use clap::{ArgGroup, CommandFactory, Parser};
use clap_complete::Shell;
use pagemap_scan::{
    pidfd_open, Categories, Error, Op, Query, Region, Scanner, DEFAULT_VEC_LEN, DEVICE,
};
use serde::{Serialize, Serializer};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::os::fd::AsFd;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

const LONG_ABOUT: &str = "\
Prints the regions of every VMA of a process (from /proc/PID/maps) as
PAGEMAP_SCAN reports them: start, end, pages, categories and mapping,
through /dev/pagemap_scan (attached to the process with a pidfd) or, with
--proc, the kernel's /proc/PID/pagemap.

With a COMMAND, starts it (its stdout goes to pmscan's stderr), waits
--wait-ms milliseconds, scans it, then kills it.";

const AFTER_HELP: &str = "\
CATS: names joined by '|' or ',': wpallowed written file present swapped
pfnzero huge soft-dirty guard accessed, or all, none, or a number. guard
and accessed are Linux 7.3's: an older kernel refuses them in a mask, and
\"all\" then reports the others.

Exit status: 0 on success, 1 when the scan fails, 2 for a bad command line.";

/// The command line, as clap parses it.
#[derive(Debug, Parser)]
#[command(
    name = "pmscan",
    version,
    about = "Prints the page categories of a process's memory, region by region",
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP,
    override_usage = "pmscan [OPTIONS] --pid <PID>\n       \
                      pmscan [OPTIONS] [--wait-ms <MS>] [--] <COMMAND> [ARGS]...\n       \
                      pmscan --completions <SHELL>",
    args_override_self = true,
    // Not both; one of them unless --completions (see `Cli::parse_checked`).
    group = ArgGroup::new("target").args(["pid", "command"])
)]
struct Cli {
    /// Scan the running process PID
    #[arg(
        long,
        value_name = "PID",
        value_parser = clap::value_parser!(i32).range(1..),
        allow_negative_numbers = true
    )]
    pid: Option<i32>,

    /// Print a JSON array of objects, one per region:
    /// {"start":"0x..","end":"0x..","pages":N,"categories":[..],"mapping":".."}
    #[arg(long)]
    json: bool,

    /// Report only pages with all of CATS (category_mask)
    #[arg(long, value_name = "CATS", value_parser = categories)]
    require: Vec<Categories>,

    /// Report only pages with one of CATS (category_anyof_mask)
    #[arg(long, value_name = "CATS", value_parser = categories)]
    anyof: Vec<Categories>,

    /// Flip CATS before matching (category_inverted)
    #[arg(long, value_name = "CATS", value_parser = categories)]
    invert: Vec<Categories>,

    /// Report only pages with none of CATS (inverted and required)
    #[arg(long, value_name = "CATS", value_parser = categories)]
    exclude: Vec<Categories>,

    /// Categories shown per region (return_mask) [default: all]
    #[arg(long = "return", value_name = "CATS", value_parser = categories)]
    report: Option<Categories>,

    /// Report at most N pages in all (0: no limit)
    #[arg(long, value_name = "N", default_value_t = 0)]
    max_pages: u64,

    /// Write-protect the written pages reported (PM_SCAN_WP_MATCHING; only
    /// VMAs registered with userfaultfd wp-async are scanned)
    #[arg(long)]
    wp: bool,

    /// Regions per ioctl call
    #[arg(
        long,
        value_name = "N",
        default_value_t = DEFAULT_VEC_LEN as u64,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    vec_len: u64,

    /// Use /proc/PID/pagemap (the kernel's C ioctl) instead of the device
    #[arg(long)]
    proc: bool,

    /// With a COMMAND: how long to let it run before the scan, in milliseconds
    #[arg(long, value_name = "MS", default_value_t = 300)]
    wait_ms: u64,

    /// Print a completion script for SHELL and exit
    #[arg(long, value_name = "SHELL", exclusive = true)]
    completions: Option<Shell>,

    /// The command to start and scan, and its arguments: everything after
    /// `--`, or from the first word that is not an option on
    #[arg(value_name = "COMMAND", trailing_var_arg = true)]
    command: Vec<OsString>,
}

impl Cli {
    /// Parses `args` (the first is the program name): clap's rules, and
    /// --pid or a COMMAND unless --completions.
    fn parse_checked<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let cli = Cli::try_parse_from(args)?;
        if cli.pid.is_none() && cli.command.is_empty() && cli.completions.is_none() {
            return Err(Cli::command().error(
                clap::error::ErrorKind::MissingRequiredArgument,
                "give --pid <PID> or a COMMAND",
            ));
        }
        Ok(cli)
    }
}

/// A `CATS` value.
fn categories(s: &str) -> Result<Categories, String> {
    s.parse()
        .map_err(|e: pagemap_scan::ParseCategoriesError| e.to_string())
}

/// What to do: scan with these options.
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

impl From<Cli> for Options {
    fn from(cli: Cli) -> Options {
        let mut query = Query::new(0..0);
        query = cli.require.into_iter().fold(query, Query::require);
        query = cli.anyof.into_iter().fold(query, Query::any_of);
        query = cli.invert.into_iter().fold(query, Query::inverted);
        query = cli.exclude.into_iter().fold(query, Query::exclude);
        if let Some(report) = cli.report {
            query = query.report(report);
        }
        query = query.max_pages(cli.max_pages);
        if cli.wp {
            query = query.write_protect();
        }
        Options {
            json: cli.json,
            proc: cli.proc,
            pid: cli.pid,
            command: cli.command,
            wait_ms: cli.wait_ms,
            vec_len: usize::try_from(cli.vec_len).unwrap_or(usize::MAX),
            query,
        }
    }
}

/// A failure of the scan, with the exit status (1).
struct Failure(u8, String);

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

/// `0x...`, as the JSON has addresses.
fn hex<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("{v:#x}"))
}

/// A row of `--json`.
#[derive(Serialize)]
struct JsonRegion<'a> {
    #[serde(serialize_with = "hex")]
    start: u64,
    #[serde(serialize_with = "hex")]
    end: u64,
    pages: u64,
    categories: Vec<&'static str>,
    mapping: &'a str,
}

impl<'a> From<&Row<'a>> for JsonRegion<'a> {
    fn from(row: &Row<'a>) -> JsonRegion<'a> {
        let r = &row.region;
        JsonRegion {
            start: r.start,
            end: r.end,
            pages: r.pages(),
            categories: r.categories.names().collect(),
            mapping: &row.vma.name,
        }
    }
}

/// The `--json` output: an array with one compact object per line.
fn print_json(rows: &[Row]) -> String {
    let items: Vec<String> = rows
        .iter()
        .map(|row| {
            serde_json::to_string(&JsonRegion::from(row))
                .expect("strings and numbers always serialize")
        })
        .collect();
    if items.is_empty() {
        "[]\n".to_string()
    } else {
        format!("[\n  {}\n]\n", items.join(",\n  "))
    }
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
    let cli = Cli::parse_checked(std::env::args_os()).unwrap_or_else(|e| e.exit());
    if let Some(shell) = cli.completions {
        clap_complete::generate(shell, &mut Cli::command(), "pmscan", &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    match run(&Options::from(cli)) {
        Ok(out) => {
            print!("{out}");
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

    fn parse(args: &[&str]) -> Result<Options, clap::Error> {
        Cli::parse_checked(std::iter::once("pmscan").chain(args.iter().copied())).map(Options::from)
    }

    #[test]
    fn clap_definition() {
        Cli::command().debug_assert();
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
        let o = parse(&["--proc", "--", "sleep", "--json"]).unwrap();
        assert_eq!(o.command, ["sleep", "--json"]);
        assert!(o.proc && !o.json);
        let o = parse(&["--wait-ms", "5", "sleep", "1"]).unwrap();
        assert_eq!((o.command.len(), o.wait_ms), (2, 5));
        // Options after the command's first word are the command's.
        let o = parse(&["sleep", "--json", "-h"]).unwrap();
        assert_eq!(o.command, ["sleep", "--json", "-h"]);
        assert!(!o.json);
    }

    #[test]
    fn defaults_and_repeats() {
        let o = parse(&["--pid", "7"]).unwrap();
        assert_eq!((o.wait_ms, o.vec_len), (300, DEFAULT_VEC_LEN));
        assert!(!o.json && !o.proc && o.command.is_empty());
        assert_eq!(o.query, Query::new(0..0).max_pages(0));
        // Masks add up; a later single value wins, as before.
        let o = parse(&[
            "--require=present",
            "--require",
            "written",
            "--return=file",
            "--return=huge",
            "--pid=1",
            "--pid=2",
        ])
        .unwrap();
        let a = o.query.arg_for(Categories::ALL);
        assert_eq!((a.category_mask, a.return_mask), (0b1010, 0b100_0000));
        assert_eq!(o.pid, Some(2));
    }

    #[test]
    fn bad_command_lines() {
        use clap::error::ErrorKind;
        let err = |args: &[&str]| parse(args).unwrap_err();
        let text = |args: &[&str]| err(args).render().to_string();
        assert_eq!(err(&[]).kind(), ErrorKind::MissingRequiredArgument);
        assert_eq!(err(&[]).exit_code(), 2);
        assert!(text(&[]).contains("give --pid <PID> or a COMMAND"));
        assert_eq!(
            err(&["--pid", "1", "--", "x"]).kind(),
            ErrorKind::ArgumentConflict
        );
        assert!(text(&["--require", "bogus", "--pid", "1"]).contains("bogus"));
        assert!(text(&["--max-pages"]).contains("a value is required"));
        assert!(text(&["--pid", "-3"]).contains("-3"));
        assert!(text(&["--pid", "0"]).contains("--pid"));
        assert!(text(&["--vec-len=0", "--pid", "1"]).contains("--vec-len"));
        assert_eq!(err(&["--frob"]).kind(), ErrorKind::UnknownArgument);
        assert_eq!(
            err(&["--completions", "bash", "--pid", "1"]).kind(),
            ErrorKind::ArgumentConflict
        );
        assert_eq!(
            err(&["--completions", "nosh"]).kind(),
            ErrorKind::InvalidValue
        );
        assert_eq!(err(&["--help"]).exit_code(), 0);
        assert_eq!(err(&["-h"]).exit_code(), 0);
    }

    #[test]
    fn help() {
        let e = parse(&["--help"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::DisplayHelp);
        let help = e.render().to_string();
        for option in [
            "--pid <PID>",
            "--json",
            "--require <CATS>",
            "--anyof <CATS>",
            "--invert <CATS>",
            "--exclude <CATS>",
            "--return <CATS>",
            "--max-pages <N>",
            "--wp",
            "--vec-len <N>",
            "--proc",
            "--wait-ms <MS>",
            "--completions <SHELL>",
            "[default: 300]",
            "[default: 256]",
            "soft-dirty guard accessed",
            "Usage: pmscan [OPTIONS] --pid <PID>",
        ] {
            assert!(help.contains(option), "{option:?} missing from\n{help}");
        }
    }

    #[test]
    fn completions() {
        let cli = Cli::parse_checked(["pmscan", "--completions", "bash"]).unwrap();
        assert_eq!(cli.completions, Some(Shell::Bash));
        let mut out = Vec::new();
        clap_complete::generate(Shell::Bash, &mut Cli::command(), "pmscan", &mut out);
        let script = String::from_utf8(out).unwrap();
        assert!(script.contains("_pmscan()"), "{script}");
        for option in ["--require", "--return", "--wait-ms", "--completions"] {
            assert!(script.contains(option), "{option} missing");
        }
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
        let table = print_table(&rows, "hdr");
        assert!(table.contains("written|present"), "{table}");
        assert!(table.ends_with("2 regions, 4 pages\n"), "{table}");
        let vma = Vma {
            name: "\u{1}\n".into(),
            ..vma
        };
        let rows = [Row { region, vma: &vma }];
        assert!(print_json(&rows).contains("\"mapping\":\"\\u0001\\n\""));
    }
}
