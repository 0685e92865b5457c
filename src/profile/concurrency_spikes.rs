//! Concurrency-spike analysis (`experimental/concurrency_spike_analysis.py:concurrency_spike_analysis`).
//!
//! Same per-request call trees as the nested-stack analysis but LLM and TOOL calls only;
//! time spent at each concurrency level, percentiles, spike intervals (segments at or
//! above the threshold) with the calls active in them, token averages over those calls,
//! and mean latency by the concurrency at each call's midpoint.
//!
//! NAT rescans every call for every spike (O(spikes × calls), quirk Q11: 40 minutes at
//! 10,000 requests). Here one sweep keeps the set of open calls: a segment lies between
//! two consecutive event times, so the calls active in it are exactly the ones open
//! during the sweep — O(events · log events + output).

use std::fmt::Write;

use rayon::prelude::*;
use serde_json::{json, Map, Value};

use super::nested_stack::{build, midpoint_level, percentiles, segments, CallForest, Families};
use super::pyfloat::{fixed, fixed_len_bound, int_len_bound, Fixed};
use crate::frame::{Frame, Text};
use crate::numeric::np_mean;

/// An interval in which the concurrency reached the threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Spike {
    /// Its start, seconds since the epoch.
    pub start: f64,
    /// Its end.
    pub end: f64,
    /// The concurrency in it.
    pub concurrency: i64,
    /// Distinct UUIDs of the active calls. NAT lists a Python set (order depends on
    /// PYTHONHASHSEED, Q10); here: order of first appearance in the call trees.
    pub active_uuids: Vec<Text>,
}

/// NAT's concurrency-spike analysis.
#[derive(Debug, Clone, PartialEq)]
pub struct SpikeAnalysis {
    /// LLM and tool calls analysed.
    pub num_calls: usize,
    /// Time per level, in order of first appearance.
    pub distribution: Vec<(i64, f64)>,
    /// The time the distribution covers.
    pub total_time: f64,
    /// The concurrency's 50th, 90th, 95th and 99th percentiles (time-weighted).
    pub p: [f64; 4],
    /// The spike threshold.
    pub threshold: i64,
    /// The spikes, in time order.
    pub spikes: Vec<Spike>,
    /// Mean prompt tokens of the calls in spikes.
    pub avg_prompt_tokens: f64,
    /// Mean total tokens of the calls in spikes.
    pub avg_total_tokens: f64,
    /// Mean latency per midpoint level, in order of first appearance.
    pub latency_by_level: Vec<(i64, f64)>,
    /// The analysis's text report.
    pub report: String,
}

fn level_at(dist: &[(i64, f64)], total: f64, pct: f64) -> f64 {
    if total <= 0.0 {
        return 0.0;
    }
    let mut levels = dist.to_vec();
    levels.sort_by_key(|l| l.0);
    let threshold = pct * 0.01 * total;
    let mut acc = 0.0;
    let mut last = 0;
    for (c, d) in levels {
        acc += d;
        if acc >= threshold {
            return c as f64;
        }
        last = c;
    }
    last as f64
}

fn add_to<K: PartialEq + Copy, V>(
    v: &mut Vec<(K, V)>,
    k: K,
    f: impl FnOnce(&mut V),
    init: impl FnOnce() -> V,
) {
    match v.iter_mut().find(|(x, _)| *x == k) {
        Some((_, val)) => f(val),
        None => {
            let mut val = init();
            f(&mut val);
            v.push((k, val));
        }
    }
}

/// The UUIDs of the calls `active` in a spike (each once, in their order), and the prompt
/// and total tokens of their ends (positive ones) pushed to `tokens`.
fn active_uuids(
    frame: &Frame,
    forest: &CallForest,
    active: &[usize],
    tokens: (&mut Vec<f64>, &mut Vec<f64>),
) -> Vec<Text> {
    let (p_tokens, t_tokens) = tokens;
    let mut uuids: Vec<Text> = Vec::new();
    for &m in active {
        let x = &forest.nodes[m];
        if !uuids.contains(&x.uuid) {
            uuids.push(x.uuid.clone());
        }
        if let Some(r) = x.end_row.map(|r| &frame.rows[r]) {
            if let Some(p) = r.prompt_tokens().filter(|&p| p > 0) {
                p_tokens.push(p as f64);
            }
            if let Some(tt) = r.total_tokens().filter(|&tt| tt > 0) {
                t_tokens.push(tt as f64);
            }
        }
    }
    uuids
}

/// The mean latency of the calls at each concurrency level (a call's level: the one at its
/// midpoint), levels in first-seen order.
fn latency_by_level(forest: &CallForest, order: &[usize]) -> Vec<(i64, f64)> {
    let segs = segments(forest, order);
    let mut by_level: Vec<(i64, Vec<f64>)> = Vec::new();
    for &n in order {
        let x = &forest.nodes[n];
        let mc = midpoint_level(&segs, x.start, x.end, false);
        add_to(&mut by_level, mc as i64, |v| v.push(x.duration), Vec::new);
    }
    by_level
        .into_iter()
        .map(|(c, d)| (c, np_mean(&d)))
        .collect()
}

/// The concurrency sweep's results.
struct Sweep {
    distribution: Vec<(i64, f64)>,
    total_time: f64,
    p: [f64; 4],
    spikes: Vec<Spike>,
    p_tokens: Vec<f64>,
    t_tokens: Vec<f64>,
}

/// Sweep the calls' starts and ends (stable by time): the time per concurrency level, its
/// percentiles, and the intervals at `threshold` or more with their calls' tokens.
fn sweep(frame: &Frame, forest: &CallForest, order: &[usize], threshold: i64) -> Sweep {
    // Each node's place in the depth-first order.
    let mut dfs_pos = vec![0; forest.nodes.len()];
    for (i, &n) in order.iter().enumerate() {
        dfs_pos[n] = i;
    }

    // Events of calls with start <= end, stable by time.
    let mut ev: Vec<(f64, i64, usize)> = Vec::with_capacity(order.len() * 2);
    for &n in order {
        let x = &forest.nodes[n];
        if x.start <= x.end {
            ev.push((x.start, 1, n));
            ev.push((x.end, -1, n));
        }
    }
    ev.sort_by(|a, b| a.0.total_cmp(&b.0));

    let mut distribution: Vec<(i64, f64)> = Vec::new();
    let mut spikes = Vec::new();
    let (mut p_tokens, mut t_tokens) = (Vec::new(), Vec::new());
    // The calls open, in depth-first order: each call is put in its place as it opens and
    // taken out as it ends (a few are open at once), so a spike lists them without a sort.
    // (A call's end comes after its start: start <= end, and the sort is stable.)
    let mut open_list: Vec<usize> = Vec::new();
    if let Some(&(first, _, _)) = ev.first() {
        let mut prev = first;
        let mut cur = 0i64;
        for &(t, d, n) in &ev {
            if t > prev {
                let len = t - prev;
                add_to(&mut distribution, cur, |v| *v += len, || 0.0);
                if cur >= threshold {
                    let tokens = (&mut p_tokens, &mut t_tokens);
                    let uuids = active_uuids(frame, forest, &open_list, tokens);
                    spikes.push(Spike {
                        start: prev,
                        end: t,
                        concurrency: cur,
                        active_uuids: uuids,
                    });
                }
            }
            cur += d;
            let at = open_list.partition_point(|&m| dfs_pos[m] < dfs_pos[n]);
            if d > 0 {
                open_list.insert(at, n);
            } else {
                debug_assert_eq!(
                    open_list.get(at),
                    Some(&n),
                    "a call ends once, after its start"
                );
                open_list.remove(at);
            }
            prev = t;
        }
    }
    // Python's sum(dict.values()), left to right in insertion order.
    let total_time = distribution.iter().fold(0.0, |a, (_, d)| a + d);
    let p = [50.0, 90.0, 95.0, 99.0].map(|pct| level_at(&distribution, total_time, pct));
    Sweep {
        distribution,
        total_time,
        p,
        spikes,
        p_tokens,
        t_tokens,
    }
}

/// The analysis of `frame` with spikes from `threshold`.
pub fn concurrency_spikes(frame: &Frame, threshold: i64) -> SpikeAnalysis {
    let forest: CallForest = build(frame, Families::LlmAndTool);
    let order = forest.dfs();
    // The latencies by level beside the sweep.
    let (sweep, latency_by_level) = rayon::join(
        || sweep(frame, &forest, &order, threshold),
        || latency_by_level(&forest, &order),
    );
    let Sweep {
        distribution,
        total_time,
        p,
        spikes,
        p_tokens,
        t_tokens,
    } = sweep;
    let avg = |v: &[f64]| if v.is_empty() { 0.0 } else { np_mean(v) };
    let mut a = SpikeAnalysis {
        num_calls: order.len(),
        distribution,
        total_time,
        p,
        threshold,
        spikes,
        avg_prompt_tokens: avg(&p_tokens),
        avg_total_tokens: avg(&t_tokens),
        latency_by_level,
        report: String::new(),
    };
    a.report = report(&a);
    a
}

/// The report, written line by line into one string (at 100,000 requests it lists over a
/// million spike intervals: a string per line, then joined, held the report twice over).
fn report(a: &SpikeAnalysis) -> String {
    // Room for every line at once (most of it the interval lines), the rest given back at
    // the end.
    let bound = |(i, s): (usize, &Spike)| {
        SPIKE_LINE
            + int_len_bound(i as i64 + 1)
            + int_len_bound(s.concurrency)
            + int_len_bound(s.active_uuids.len() as i64)
            + fixed_len_bound(&[s.start, s.end, s.end - s.start], 2)
    };
    let room = 4096 + 64 * (a.distribution.len() + a.latency_by_level.len());
    let mut out =
        String::with_capacity(room + a.spikes.iter().enumerate().map(bound).sum::<usize>());
    line(&mut out, format_args!("=== Concurrency Spike Analysis ==="));
    line(
        &mut out,
        format_args!("Total calls in dataset: {}", a.num_calls),
    );
    line(
        &mut out,
        format_args!(
            "Total time observed: {} units (sum of concurrency timeline)",
            fixed(a.total_time, 2)
        ),
    );
    line(&mut out, format_args!("\n-- Concurrency Distribution --"));
    let mut dist = a.distribution.clone();
    dist.sort_by_key(|d| d.0);
    for (c, d) in dist {
        line(
            &mut out,
            format_args!("  concurrency={c}: {} time", fixed(d, 2)),
        );
    }
    line(
        &mut out,
        format_args!("\nPercentiles => {}", percentiles(&a.p)),
    );
    line(
        &mut out,
        format_args!("Spike threshold chosen: {}", a.threshold),
    );
    spike_lines(&mut out, a);
    correlation_lines(&mut out, a);
    out.shrink_to_fit();
    out
}

/// A spike interval line's fixed text: "\n) -, concurrency=, length=, #active_calls=".
const SPIKE_LINE: usize = 48;

/// A line of the report, after the ones before (NAT's `"\n".join(lines)`).
fn line(out: &mut String, args: std::fmt::Arguments) {
    if !out.is_empty() {
        out.push('\n');
    }
    out.write_fmt(args).expect("writing to a String");
}

/// The report's spike intervals.
fn spike_lines(out: &mut String, a: &SpikeAnalysis) {
    line(out, format_args!("\n-- Detected Spike Intervals --"));
    if a.spikes.is_empty() {
        line(
            out,
            format_args!("No intervals exceed concurrency spike threshold."),
        );
    }
    // Written a part at a time side by side (at 100,000 light requests a path has about a
    // million intervals: written alone, they kept one thread busy after the other paths'
    // analyses were done), each part copied in and freed in order.
    let parts: Vec<String> = a
        .spikes
        .par_chunks(SPIKES_PER_PART)
        .enumerate()
        .map(|(p, spikes)| {
            // "{i+1}) {start}-{end}, concurrency={c}, length={end-start}, #active_calls={n}",
            // written piece by piece (the formatting machinery was half of the section's
            // time in its own right).
            let mut part = String::new();
            let mut int = itoa::Buffer::new();
            for (k, s) in spikes.iter().enumerate() {
                part.push('\n');
                let i = p * SPIKES_PER_PART + k;
                part.push_str(int.format(i + 1));
                part.push_str(") ");
                Fixed(s.start, 2).push_to(&mut part);
                part.push('-');
                Fixed(s.end, 2).push_to(&mut part);
                part.push_str(", concurrency=");
                part.push_str(int.format(s.concurrency));
                part.push_str(", length=");
                Fixed(s.end - s.start, 2).push_to(&mut part);
                part.push_str(", #active_calls=");
                part.push_str(int.format(s.active_uuids.len()));
            }
            part
        })
        .collect();
    for part in parts {
        out.push_str(&part);
    }
}

/// Spike intervals per part of the report written side by side.
const SPIKES_PER_PART: usize = 1 << 14;

/// The report's token and latency correlations.
fn correlation_lines(out: &mut String, a: &SpikeAnalysis) {
    line(
        out,
        format_args!("\n-- Correlation Stats for Spiked Calls --"),
    );
    line(
        out,
        format_args!(
            "Avg prompt_tokens in spike calls: {}",
            fixed(a.avg_prompt_tokens, 1)
        ),
    );
    line(
        out,
        format_args!(
            "Avg total_tokens in spike calls : {}",
            fixed(a.avg_total_tokens, 1)
        ),
    );
    line(
        out,
        format_args!("\n-- Average Latency by Midpoint Concurrency --"),
    );
    if a.latency_by_level.is_empty() {
        line(out, format_args!("No calls or no concurrency data."));
    }
    let mut lat = a.latency_by_level.clone();
    lat.sort_by_key(|l| l.0);
    for (c, l) in lat {
        line(
            out,
            format_args!("  concurrency={c} => avg_latency={}", fixed(l, 2)),
        );
    }
}

/// A `spike_intervals` entry.
pub(crate) fn spike_json(s: &Spike) -> Value {
    crate::profile::object([
        ("start_time", json!(s.start)),
        ("end_time", json!(s.end)),
        ("concurrency", json!(s.concurrency)),
        ("active_uuids", json!(s.active_uuids)),
    ])
}

/// The analysis's metrics.
pub fn to_json(a: &SpikeAnalysis) -> Value {
    let mut v = fixed_json(a);
    if let Value::Object(o) = &mut v {
        let spikes = a.spikes.iter().map(spike_json).collect();
        o.shift_insert(6, "spike_intervals".into(), Value::Array(spikes));
    }
    v
}

/// [`to_json`] without `spike_intervals`, which grows with the calls (the drift compares
/// it typed).
pub fn fixed_json(a: &SpikeAnalysis) -> Value {
    let mut dist = Map::new();
    for (c, d) in &a.distribution {
        dist.insert(c.to_string(), json!(d));
    }
    let mut lat = Map::new();
    for (c, l) in &a.latency_by_level {
        lat.insert(c.to_string(), json!(l));
    }
    use crate::profile::object;
    object([
        ("concurrency_distribution", Value::Object(dist)),
        ("p50_concurrency", json!(a.p[0])),
        ("p90_concurrency", json!(a.p[1])),
        ("p95_concurrency", json!(a.p[2])),
        ("p99_concurrency", json!(a.p[3])),
        ("spike_threshold", json!(a.threshold)),
        (
            "correlation_stats",
            json!({"avg_prompt_tokens": a.avg_prompt_tokens, "avg_total_tokens": a.avg_total_tokens}),
        ),
        ("average_latency_by_concurrency", Value::Object(lat)),
    ])
}
