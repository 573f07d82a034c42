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
    /// What the measure is divided by, and how many of it a run covers.
    unit: String,
    units: u64,
    method: Method,
    ns: u64,
    found: u64,
}

/// A workload and method: its measures from both boots.
struct Cell {
    workload: String,
    desc: String,
    unit: String,
    units: u64,
    method: Method,
    found: u64,
    /// Nanoseconds per unit.
    wall: Option<Summary>,
    /// Guest instructions per unit.
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
        let [workload, desc, unit, units, method, _rep, ns, found] = f[..] else {
            return Err(bad(line));
        };
        rows.push(Row {
            workload: workload.to_string(),
            desc: desc.to_string(),
            unit: unit.to_string(),
            units: units.parse().map_err(|_| bad(line))?,
            method: Method::from_key(method).ok_or_else(|| bad(line))?,
            ns: ns.parse().map_err(|_| bad(line))?,
            found: found.parse().map_err(|_| bad(line))?,
        });
    }
    Ok(rows)
}

/// Per unit values of `rows` for one workload and method.
fn per_unit(rows: &[Row], workload: &str, m: Method) -> Option<Summary> {
    let v: Vec<f64> = rows
        .iter()
        .filter(|r| r.workload == workload && r.method == m)
        .map(|r| r.ns as f64 / r.units as f64)
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
                per_unit(wall, &w.workload, m),
                per_unit(icount, &w.workload, m),
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
                unit: w.unit.clone(),
                units: w.units,
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

fn markdown(cells: &[Cell], kernel: &str, wall_reps: usize, icount_reps: usize) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# PAGEMAP_SCAN benchmark{kernel}\n");
    let _ = writeln!(
        s,
        "ns/unit: wall time per unit (the page of the scanned range, the call or the VMA: column `per`), median of {wall_reps} interleaved repetitions \
         (spread: min–max) in an emulated (TCG) guest; instr/unit: guest instructions per unit, \
         QEMU `-icount shift=0`, 1 vCPU, minimum of {icount_reps} (counts are exact; interference only adds). Compare ratios, not absolute times. \
         Rust/C: Rust ioctl ÷ C ioctl (below 1: the module does less). \
         Speed-up: pagemap read ÷ method (above 1: faster than reading pagemap).\n"
    );
    let _ = writeln!(
        s,
        "| workload | method | per | ns/unit | spread | instr/unit | Rust/C (wall) | Rust/C (instr) | speed-up vs read (wall) | speed-up vs read (instr) |"
    );
    let _ = writeln!(
        s,
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    let mut last = "";
    for c in cells {
        let first = c.workload != last;
        last = &c.workload;
        let workload = if first {
            format!("{} ({} {}s)", c.desc, c.units, c.unit)
        } else {
            String::new()
        };
        let rust = |of: fn(&Cell) -> Option<f64>| ratio(cells, c, c.method.c_twin()?, of);
        let _ = writeln!(
            s,
            "| {workload} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            c.method.label(),
            c.unit,
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
    s.push_str(&against_c(cells));
    s.push_str(&scaling(cells));
    s
}

/// The module against C alone, one row a workload.
fn against_c(cells: &[Cell]) -> String {
    let mut s = String::from(
        "\n## Module against C\n\n\
         | workload | per | module instr | C instr | module/C (instr) | module/C (wall) |\n\
         | --- | --- | ---: | ---: | ---: | ---: |\n",
    );
    for c in cells {
        let Some(twin) = c.method.c_twin() else {
            continue;
        };
        let other = cells
            .iter()
            .find(|o| o.workload == c.workload && o.method == twin);
        let paired = |m: Method| {
            cells
                .iter()
                .any(|o| o.workload == c.workload && o.method == m)
        };
        let threads = match c.method {
            Method::Rust2 => " (2 threads)",
            _ if paired(Method::Rust2) => " (1 thread)",
            _ => "",
        };
        let _ = writeln!(
            s,
            "| {}{threads} | {} | {} | {} | **{}** | {} |",
            c.desc,
            c.unit,
            opt(c.instructions(), ""),
            opt(other.and_then(Cell::instructions), ""),
            opt(ratio(cells, c, twin, Cell::instructions), ""),
            opt(ratio(cells, c, twin, Cell::ns), ""),
        );
    }
    s
}

/// Wall-time scaling from one thread to two, per method: the one-thread
/// time per page over the two-thread time per page (2.00: perfect).
fn scaling(cells: &[Cell]) -> String {
    let per = |m: Method| {
        cells
            .iter()
            .find(|c| c.workload == "threads" && c.method == m)
            .and_then(Cell::ns)
    };
    let mut rows = String::new();
    for (m, m2) in [(Method::Rust, Method::Rust2), (Method::C, Method::C2)] {
        if let (Some(one), Some(two)) = (per(m), per(m2)) {
            let _ = writeln!(
                rows,
                "| {} | {} | {} | {} |",
                m.label(),
                num(one),
                num(two),
                num(one / two)
            );
        }
    }
    if rows.is_empty() {
        return rows;
    }
    format!(
        "\n## Scaling, 1 → 2 threads scanning one mm\n\n\
         From the wall-time boot only (2 vCPUs; the icount boot has one CPU, \
         where two threads can only take turns). Scaling: 1-thread ÷ 2-thread \
         ns/page (2.00 would be perfect).\n\n\
         | method | 1 thread ns/page | 2 threads ns/page | scaling |\n\
         | --- | ---: | ---: | ---: |\n{rows}"
    )
}

fn csv(cells: &[Cell]) -> String {
    let mut s = String::from(
        "workload,description,unit,units,method,found,wall_reps,ns_per_unit_median,ns_per_unit_min,\
         ns_per_unit_q1,ns_per_unit_q3,ns_per_unit_max,icount_reps,instr_per_unit_median,\
         instr_per_unit_min,instr_per_unit_max,rust_over_c_wall,rust_over_c_instr,\
         speedup_vs_read_wall,speedup_vs_read_instr\n",
    );
    let f = |x: Option<f64>| x.map_or(String::new(), |x| format!("{x:.4}"));
    for c in cells {
        let rust = |of: fn(&Cell) -> Option<f64>| ratio(cells, c, c.method.c_twin()?, of);
        let w = c.wall;
        let i = c.instr;
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            c.workload,
            c.desc,
            c.unit,
            c.units,
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

/// The chart: instructions per unit, or ns per unit when there was no
/// icount boot.
fn plot(cells: &[Cell]) -> String {
    let instr = cells.iter().any(|c| c.instr.is_some());
    let mut groups: Vec<Group> = Vec::new();
    for c in cells {
        let v = if instr { c.instructions() } else { c.ns() };
        let Some(v) = v else { continue };
        if groups
            .last()
            .is_none_or(|g| !g.label.starts_with(&format!("{} ", c.workload)))
        {
            groups.push(Group {
                label: format!("{} (/{})", c.workload, c.unit),
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
            "PAGEMAP_SCAN: guest instructions per unit (QEMU icount)",
            "instructions/unit",
            &groups,
        )
    } else {
        chart(
            "PAGEMAP_SCAN: wall time per unit (TCG guest)",
            "ns/unit",
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
    // The kernel's release, as scripts/vm-run.sh wrote it beside the CSVs.
    let kernel = std::fs::read_to_string(dir.join("kernel"))
        .map(|k| format!(" on {}", k.trim()))
        .unwrap_or_default();
    let md = markdown(&cells, &kernel, reps(&wall), reps(&icount));
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
