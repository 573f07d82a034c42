// SPDX-License-Identifier: GPL-2.0

//! Median and spread of a few repetitions.

/// Order statistics of a sample.
#[derive(Clone, Copy, Debug)]
pub struct Summary {
    /// Number of values.
    pub n: usize,
    pub min: f64,
    /// First quartile (linear interpolation).
    pub q1: f64,
    pub median: f64,
    /// Third quartile.
    pub q3: f64,
    pub max: f64,
}

/// The summary of `values`, or `None` if there are none.
pub fn summarize(values: &[f64]) -> Option<Summary> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let pos = q * (v.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
    };
    Some(Summary {
        n: v.len(),
        min: v[0],
        q1: at(0.25),
        median: at(0.5),
        q3: at(0.75),
        max: v[v.len() - 1],
    })
}
