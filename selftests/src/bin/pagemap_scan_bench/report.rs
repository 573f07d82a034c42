// SPDX-License-Identifier: GPL-2.0

//! On the host: merges the CSV of the wall-time boot and the one of the
//! icount boot into a Markdown table, a CSV and an SVG chart.

use crate::method::Method;
use crate::stats::{summarize, Summary};
use crate::svg::{chart, num, Group};
use std::fmt::Write;
use std::path::Path;

/// One timed run, as a boot wrote it.
struct Row {
    workload: String,
    desc: String,
    pages: u64,
    method: Method,
    ns: u64,
    found: u64,
}

/// A workload and method: its measures from both boots.
struct Cell {
    workload: String,
    desc: String,
    pages: u64,
    method: Method,
    found: u64,
    /// Nanoseconds per page.
    wall: Option<Summary>,
    /// Guest instructions per page.
    instr: Option<Summary>,
}

impl Cell {
    /// The wall time reported: the median, robust to a slow repetition.
    fn ns(&self) -> Option<f64> {
        self.wall.map(|w| w.median)
    }

    /// The instruction count reported: the minimum. Counts are exact and
    /// interference only adds to them (a timer tick or deferred kernel work
    /// landing in a run), so the least is the method's own work.
    fn instructions(&self) -> Option<f64> {
        self.instr.map(|i| i.min)
    }
}

/// The rows of `path`, or none if there is no such file.
fn read_csv(path: &Path) -> Result<Vec<Row>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let bad = |line: &str| format!("{}: bad line {line:?}", path.display());
    let mut rows = Vec::new();
    for line in text.lines().skip(1).filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        let [workload, desc, pages, method, _rep, ns, found] = f[..] else {
            return Err(bad(line));
        };
        rows.push(Row {
            workload: workload.to_string(),
            desc: desc.to_string(),
            pages: pages.parse().map_err(|_| bad(line))?,
            method: Method::from_key(method).ok_or_else(|| bad(line))?,
            ns: ns.parse().map_err(|_| bad(line))?,
            found: found.parse().map_err(|_| bad(line))?,
        });
    }
    Ok(rows)
}

/// Per page values of `rows` for one workload and method.
fn per_page(rows: &[Row], workload: &str, m: Method) -> Option<Summary> {
    let v: Vec<f64> = rows
        .iter()
        .filter(|r| r.workload == workload && r.method == m)
        .map(|r| r.ns as f64 / r.pages as f64)
        .collect();
    summarize(&v)
}

fn cells(wall: &[Row], icount: &[Row]) -> Vec<Cell> {
    let mut workloads: Vec<&Row> = Vec::new();
    for r in wall.iter().chain(icount) {
        if !workloads.iter().any(|w| w.workload == r.workload) {
            workloads.push(r);
        }
    }
    let mut cells = Vec::new();
    for w in workloads {
        for m in Method::ALL {
            let (ws, is) = (
                per_page(wall, &w.workload, m),
                per_page(icount, &w.workload, m),
            );
            if ws.is_none() && is.is_none() {
                continue;
            }
            let any = wall
                .iter()
                .chain(icount)
                .find(|r| r.workload == w.workload && r.method == m);
            cells.push(Cell {
                workload: w.workload.clone(),
                desc: w.desc.clone(),
                pages: w.pages,
                method: m,
                found: any.map_or(0, |r| r.found),
                wall: ws,
                instr: is,
            });
        }
    }
    cells
}

/// `of(cell) / of(the cell of method m in the same workload)`.
fn ratio(cells: &[Cell], c: &Cell, m: Method, of: impl Fn(&Cell) -> Option<f64>) -> Option<f64> {
    let other = cells
        .iter()
        .find(|o| o.workload == c.workload && o.method == m)?;
    Some(of(c)? / of(other)?)
}

fn opt(x: Option<f64>, suffix: &str) -> String {
    x.map_or("—".into(), |x| format!("{}{suffix}", num(x)))
}

fn markdown(cells: &[Cell], wall_reps: usize, icount_reps: usize) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# PAGEMAP_SCAN benchmark\n");
    let _ = writeln!(
        s,
        "ns/page: wall time per page of the scanned range, median of {wall_reps} interleaved repetitions \
         (spread: min–max) in an emulated (TCG) guest; instr/page: guest instructions per page, \
         QEMU `-icount shift=0`, 1 vCPU, minimum of {icount_reps} (counts are exact; interference only adds). Compare ratios, not absolute times. \
         Rust/C: Rust ioctl ÷ C ioctl (below 1: the module does less). \
         Speed-up: pagemap read ÷ method (above 1: faster than reading pagemap).\n"
    );
    let _ = writeln!(
        s,
        "| workload | method | ns/page | spread | instr/page | Rust/C (wall) | Rust/C (instr) | speed-up vs read (wall) | speed-up vs read (instr) |"
    );
    let _ = writeln!(
        s,
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    let mut last = "";
    for c in cells {
        let first = c.workload != last;
        last = &c.workload;
        let workload = if first {
            format!("{} ({} pages)", c.desc, c.pages)
        } else {
            String::new()
        };
        let rust = |of: fn(&Cell) -> Option<f64>| {
            (c.method == Method::Rust)
                .then(|| ratio(cells, c, Method::C, of))
                .flatten()
        };
        let _ = writeln!(
            s,
            "| {workload} | {} | {} | {} | {} | {} | {} | {} | {} |",
            c.method.label(),
            opt(c.ns(), ""),
            c.wall
                .map_or("—".into(), |w| format!("{}–{}", num(w.min), num(w.max))),
            opt(c.instructions(), ""),
            opt(rust(Cell::ns), ""),
            opt(rust(Cell::instructions), ""),
            opt(
                ratio(cells, c, Method::Read, Cell::ns).map(|r| 1.0 / r),
                "×"
            ),
            opt(
                ratio(cells, c, Method::Read, Cell::instructions).map(|r| 1.0 / r),
                "×"
            ),
        );
    }
    s
}

fn csv(cells: &[Cell]) -> String {
    let mut s = String::from(
        "workload,description,pages,method,found,wall_reps,ns_per_page_median,ns_per_page_min,\
         ns_per_page_q1,ns_per_page_q3,ns_per_page_max,icount_reps,instr_per_page_median,\
         instr_per_page_min,instr_per_page_max,rust_over_c_wall,rust_over_c_instr,\
         speedup_vs_read_wall,speedup_vs_read_instr\n",
    );
    let f = |x: Option<f64>| x.map_or(String::new(), |x| format!("{x:.4}"));
    for c in cells {
        let rust = |of: fn(&Cell) -> Option<f64>| {
            (c.method == Method::Rust)
                .then(|| ratio(cells, c, Method::C, of))
                .flatten()
        };
        let w = c.wall;
        let i = c.instr;
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            c.workload,
            c.desc,
            c.pages,
            c.method.key(),
            c.found,
            w.map_or(0, |w| w.n),
            f(w.map(|w| w.median)),
            f(w.map(|w| w.min)),
            f(w.map(|w| w.q1)),
            f(w.map(|w| w.q3)),
            f(w.map(|w| w.max)),
            i.map_or(0, |i| i.n),
            f(i.map(|i| i.median)),
            f(i.map(|i| i.min)),
            f(i.map(|i| i.max)),
            f(rust(Cell::ns)),
            f(rust(Cell::instructions)),
            f(ratio(cells, c, Method::Read, Cell::ns).map(|r| 1.0 / r)),
            f(ratio(cells, c, Method::Read, Cell::instructions).map(|r| 1.0 / r)),
        );
    }
    s
}

/// The chart: instructions per page, or ns per page when there was no
/// icount boot.
fn plot(cells: &[Cell]) -> String {
    let instr = cells.iter().any(|c| c.instr.is_some());
    let mut groups: Vec<Group> = Vec::new();
    for c in cells {
        let v = if instr { c.instructions() } else { c.ns() };
        let Some(v) = v else { continue };
        if groups.last().is_none_or(|g| g.label != c.workload) {
            groups.push(Group {
                label: c.workload.clone(),
                bars: Vec::new(),
            });
        }
        groups
            .last_mut()
            .expect("pushed above")
            .bars
            .push((c.method, v));
    }
    if instr {
        chart(
            "PAGEMAP_SCAN: guest instructions per page (QEMU icount)",
            "instructions/page",
            &groups,
        )
    } else {
        chart(
            "PAGEMAP_SCAN: wall time per page (TCG guest)",
            "ns/page",
            &groups,
        )
    }
}

/// Reads `dir/wall.csv` and `dir/icount.csv`, writes `dir/results.md`,
/// `dir/results.csv` and `dir/results.svg`, and prints the table.
pub fn report(dir: &Path) -> Result<(), String> {
    let wall = read_csv(&dir.join("wall.csv"))?;
    let icount = read_csv(&dir.join("icount.csv"))?;
    if wall.is_empty() && icount.is_empty() {
        return Err(format!(
            "no measurements in {}/wall.csv or icount.csv",
            dir.display()
        ));
    }
    let cells = cells(&wall, &icount);
    let reps = |rows: &[Row]| {
        cells
            .iter()
            .filter_map(|c| {
                let n = rows
                    .iter()
                    .filter(|r| r.workload == c.workload && r.method == c.method)
                    .count();
                (n > 0).then_some(n)
            })
            .max()
            .unwrap_or(0)
    };
    let md = markdown(&cells, reps(&wall), reps(&icount));
    let write = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text).map_err(|e| format!("{}/{name}: {e}", dir.display()))
    };
    write("results.md", &md)?;
    write("results.csv", &csv(&cells))?;
    write("results.svg", &plot(&cells))?;
    print!("{md}");
    println!(
        "\nresults: {0}/results.md, {0}/results.csv, {0}/results.svg",
        dir.display()
    );
    Ok(())
}
