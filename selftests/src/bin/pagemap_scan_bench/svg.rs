// SPDX-License-Identifier: GPL-2.0

//! A grouped bar chart as a standalone SVG, on a log scale (the workloads
//! differ by orders of magnitude), with no plotting dependency.

use crate::method::Method;
use std::fmt::Write;

/// One group of bars: a workload and a value per method.
pub struct Group {
    pub label: String,
    pub bars: Vec<(Method, f64)>,
}

const PLOT_H: f64 = 320.0;
const TOP: f64 = 80.0;
const LEFT: f64 = 70.0;
const BAR_W: f64 = 20.0;
const GAP: f64 = 28.0;

fn color(m: Method) -> &'static str {
    match m {
        Method::Rust => "#d95f02",
        Method::C => "#1b9e77",
        Method::Read => "#7570b3",
        Method::SoftDirty => "#e7298a",
        Method::UffdWp => "#66a61e",
        Method::Rust2 => "#fdae6b",
        Method::C2 => "#a1d99b",
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Short form of a value for a label.
pub fn num(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// The chart of `groups`, titled `title`, values in `unit`.
pub fn chart(title: &str, unit: &str, groups: &[Group]) -> String {
    let values = groups
        .iter()
        .flat_map(|g| g.bars.iter().map(|b| b.1))
        .filter(|v| *v > 0.0);
    let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (lo, mut hi) = if lo > hi {
        (1.0, 10.0)
    } else {
        (
            10f64.powf(lo.log10().floor()),
            10f64.powf(hi.log10().ceil()),
        )
    };
    if hi <= lo {
        hi = lo * 10.0;
    }
    let y = |v: f64| {
        TOP + PLOT_H * (1.0 - (v.max(lo).log10() - lo.log10()) / (hi.log10() - lo.log10()))
    };
    let plot_w: f64 = groups
        .iter()
        .map(|g| g.bars.len() as f64 * BAR_W + GAP)
        .sum::<f64>()
        + GAP;
    let methods: Vec<Method> = Method::ALL
        .into_iter()
        .filter(|&m| groups.iter().any(|g| g.bars.iter().any(|b| b.0 == m)))
        .collect();
    let legend_w = |m: Method| 24.0 + 6.5 * m.label().len() as f64;
    let legend_end = LEFT + methods.iter().map(|&m| legend_w(m)).sum::<f64>();
    let (w, h) = ((LEFT + plot_w).max(legend_end) + 20.0, TOP + PLOT_H + 60.0);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0}" height="{h:.0}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="20" font-size="14" font-weight="bold">{}</text>"#,
        esc(title)
    );
    // Legend: the methods present, in table order.
    let mut x = LEFT;
    for m in methods {
        let _ = writeln!(
            s,
            r#"<rect x="{x}" y="34" width="12" height="12" fill="{}"/>"#,
            color(m)
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="44">{}</text>"#,
            x + 16.0,
            esc(m.label())
        );
        x += legend_w(m);
    }
    // Decades, with light lines at 2 and 5.
    let mut d = lo;
    while d <= hi * 1.0001 {
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{1:.1}" y2="{1:.1}" stroke="#bbb"/>"##,
            LEFT + plot_w,
            y(d)
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 6.0,
            y(d) + 4.0,
            num(d)
        );
        for k in [2.0, 5.0] {
            if d * k < hi {
                let _ = writeln!(
                    s,
                    r##"<line x1="{LEFT}" x2="{:.1}" y1="{1:.1}" y2="{1:.1}" stroke="#eee"/>"##,
                    LEFT + plot_w,
                    y(d * k)
                );
            }
        }
        d *= 10.0;
    }
    let _ = writeln!(
        s,
        r#"<text transform="translate(16,{:.1}) rotate(-90)" text-anchor="middle">{} (log scale)</text>"#,
        TOP + PLOT_H / 2.0,
        esc(unit)
    );
    let mut x = LEFT + GAP;
    for g in groups {
        let gw = g.bars.len() as f64 * BAR_W;
        for (i, &(m, v)) in g.bars.iter().enumerate() {
            let bx = x + i as f64 * BAR_W;
            let top = y(v);
            let _ = writeln!(
                s,
                r#"<rect x="{bx:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}: {}</title></rect>"#,
                BAR_W - 2.0,
                TOP + PLOT_H - top,
                color(m),
                esc(m.label()),
                num(v)
            );
            let _ = writeln!(
                s,
                r#"<text transform="translate({:.1},{:.1}) rotate(-90)" font-size="9">{}</text>"#,
                bx + BAR_W / 2.0 + 3.0,
                top - 3.0,
                num(v)
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            x + gw / 2.0,
            TOP + PLOT_H + 18.0,
            esc(&g.label)
        );
        x += gw + GAP;
    }
    let _ = writeln!(
        s,
        r#"<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{:.1}" stroke="black"/>"#,
        TOP + PLOT_H
    );
    let _ = writeln!(s, "</svg>");
    s
}
