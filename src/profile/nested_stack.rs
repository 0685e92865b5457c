//! Nested-stack analysis (`bottleneck_analysis/nested_stack_analysis.py:multi_example_call_profiling`):
//! per request, a stack-built call tree of LLM / TOOL / FUNCTION (and SPAN, as FUNCTION)
//! calls, with NAT's non-LIFO quirk (Q3: an END pops only when its node is on top), the
//! time-weighted concurrency distribution, self and subtree times (Q4) and the text report.
//! The Gantt chart is not drawn (not a comparable artifact).

use rustc_hash::FxHashMap;

use serde_json::{json, Map, Value};

use super::pyfloat::{fixed, fixed_len_bound, Fixed};
use crate::frame::{Frame, Text};

/// A call tree: nodes in an arena, children by index.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CallForest {
    /// Every call, in the order first seen.
    pub nodes: Vec<CallNode>,
    /// Top-level calls in NAT's order.
    pub roots: Vec<usize>,
}

/// A call (LLM, tool or function span) in the call tree.
#[derive(Debug, Clone, PartialEq)]
pub struct CallNode {
    /// Shared with the frame's rows.
    pub uuid: Text,
    /// `LLM`, `TOOL` or `FUNCTION`.
    pub op_type: &'static str,
    /// The call's name.
    pub name: Text,
    /// Its start, seconds since the epoch.
    pub start: f64,
    /// Its end.
    pub end: f64,
    /// `end - start`.
    pub duration: f64,
    /// Its children, by index.
    pub children: Vec<usize>,
    /// Its parent, by index.
    pub parent: Option<usize>,
    /// Frame row of the END that closed the call (tokens for the spike analysis).
    pub end_row: Option<usize>,
}

/// Which event families make nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Families {
    /// LLM, TOOL, FUNCTION and SPAN (the nested-stack analysis).
    All,
    /// LLM and TOOL only (the concurrency-spike analysis).
    LlmAndTool,
}

fn op_type(et: &str, families: Families) -> Option<&'static str> {
    if et.starts_with("LLM_") {
        Some("LLM")
    } else if et.starts_with("TOOL_") {
        Some("TOOL")
    } else if families == Families::All && (et.starts_with("FUNCTION_") || et.starts_with("SPAN_"))
    {
        Some("FUNCTION")
    } else {
        None
    }
}

/// `build_call_tree_per_example`: rows sorted by (example, timestamp) — a stable sort —
/// then one stack walk per example.
pub fn build(frame: &Frame, families: Families) -> CallForest {
    let mut order: Vec<usize> = (0..frame.rows.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (&frame.rows[a], &frame.rows[b]);
        x.example_number()
            .cmp(&y.example_number())
            .then(x.event_timestamp.total_cmp(&y.event_timestamp))
    });
    // One node per START of the families: the arena gets its room once (grown by doubling
    // it was copied at each step and held up to twice the calls).
    let starts = frame
        .rows
        .iter()
        .filter(|r| {
            let et = r.event_type.as_str();
            et.ends_with("_START") && op_type(et, families).is_some()
        })
        .count();
    // The calls started and not yet ended, by UUID: one table for every request.
    let mut partial = FxHashMap::default();
    let mut f = CallForest {
        nodes: Vec::with_capacity(starts),
        roots: Vec::new(),
    };
    let mut i = 0;
    while i < order.len() {
        let ex = frame.rows[order[i]].example_number();
        let mut j = i;
        while j < order.len() && frame.rows[order[j]].example_number() == ex {
            j += 1;
        }
        build_example(frame, &order[i..j], families, &mut f, &mut partial);
        i = j;
    }
    f
}

/// The call tree of one request from its rows (any order; sorted here by timestamp, stably),
/// as [`build`] makes it for each request.
pub fn build_request(frame: &Frame, rows: &[usize], families: Families) -> CallForest {
    let mut order = rows.to_vec();
    order.sort_by(|&a, &b| {
        frame.rows[a]
            .event_timestamp
            .total_cmp(&frame.rows[b].event_timestamp)
    });
    let mut f = CallForest::default();
    build_example(frame, &order, families, &mut f, &mut FxHashMap::default());
    f
}

/// The calls of one request's `rows` (in time order) added to `f`; `partial` is left
/// empty, as it came.
fn build_example<'f>(
    frame: &'f Frame,
    rows: &[usize],
    families: Families,
    f: &mut CallForest,
    partial: &mut FxHashMap<&'f str, usize>,
) {
    let mut stack: Vec<usize> = Vec::new();
    // Python dict semantics: re-assigning a key keeps its first position.
    let mut top_level: Vec<(&str, usize)> = Vec::new();
    for &ri in rows {
        let r = &frame.rows[ri];
        let et = r.event_type.as_str();
        let Some(op) = op_type(et, families) else {
            continue;
        };
        // The UUID is read, not counted up: only a node holds a copy.
        let uuid: &str = r.uuid.as_deref().unwrap_or("None");
        let ts = r.event_timestamp;
        if et.ends_with("_START") {
            let name = match op {
                "LLM" => &r.llm_name,
                "TOOL" => &r.tool_name,
                _ => &r.function_name,
            }
            .as_ref()
            .filter(|n| !n.is_empty())
            .cloned()
            .unwrap_or(match op {
                "LLM" => arcstr::literal!("unknown_llm"),
                "TOOL" => arcstr::literal!("unknown_tool"),
                _ => arcstr::literal!("unknown_function"),
            });
            let n = f.nodes.len();
            f.nodes.push(CallNode {
                uuid: r.uuid.clone().unwrap_or(arcstr::literal!("None")),
                op_type: op,
                name,
                start: ts,
                end: ts,
                duration: 0.0,
                children: vec![],
                parent: None,
                end_row: None,
            });
            if let Some(&parent) = stack.last() {
                f.nodes[n].parent = Some(parent);
                f.nodes[parent].children.push(n);
            } else {
                match top_level.iter_mut().find(|(u, _)| *u == uuid) {
                    Some(slot) => slot.1 = n,
                    None => top_level.push((uuid, n)),
                }
            }
            stack.push(n);
            partial.insert(uuid, n);
        } else if et.ends_with("_END") {
            let Some(n) = partial.remove(uuid) else {
                continue;
            };
            if stack.last().is_some_and(|&t| *f.nodes[t].uuid == *uuid) {
                stack.pop();
            }
            let node = &mut f.nodes[n];
            node.end_row = Some(ri);
            node.end = ts;
            node.duration = (ts - node.start).max(0.0);
        }
    }
    partial.clear();
    f.roots.extend(
        top_level
            .into_iter()
            .map(|(_, n)| n)
            .filter(|&n| f.nodes[n].parent.is_none()),
    );
}

/// The reports' `p50=…, p90=…, p95=…, p99=…` (one decimal each), of the levels at those
/// percentiles.
pub(super) fn percentiles(p: &[f64; 4]) -> String {
    let [p50, p90, p95, p99] = p.map(|x| fixed(x, 1));
    format!("p50={p50}, p90={p90}, p95={p95}, p99={p99}")
}

impl CallForest {
    /// Depth-first pre-order over all roots (iterative: trees can be deep, Q3).
    pub fn dfs(&self) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.nodes.len());
        let mut stack: Vec<usize> = self.roots.iter().rev().copied().collect();
        while let Some(n) = stack.pop() {
            out.push(n);
            stack.extend(self.nodes[n].children.iter().rev());
        }
        out
    }

    /// `CallNode.compute_self_time`: duration minus the merged child intervals (clamped).
    pub fn self_time(&self, n: usize) -> f64 {
        let node = &self.nodes[n];
        if node.children.is_empty() {
            return node.duration;
        }
        let mut iv: Vec<(f64, f64)> = node
            .children
            .iter()
            .map(|&c| (self.nodes[c].start, self.nodes[c].end))
            .collect();
        iv.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut merged = Vec::new();
        let (mut cs, mut ce) = iv[0];
        for &(s, e) in &iv[1..] {
            if s <= ce {
                ce = ce.max(e);
            } else {
                merged.push((cs, ce));
                (cs, ce) = (s, e);
            }
        }
        merged.push((cs, ce));
        let mut covered = 0.0;
        for (s, e) in merged {
            let (s, e) = (s.max(node.start), e.min(node.end));
            if e > s {
                covered += e - s;
            }
        }
        (node.duration - covered).max(0.0)
    }

    /// Self and subtree times of every node (`subtree = self + Σ child subtrees`, in child order).
    pub fn times(&self) -> (Vec<f64>, Vec<f64>) {
        let self_t: Vec<f64> = (0..self.nodes.len()).map(|n| self.self_time(n)).collect();
        let mut sub = vec![0.0; self.nodes.len()];
        for &n in self.dfs().iter().rev() {
            let mut t = self_t[n];
            for &c in &self.nodes[n].children {
                t += sub[c];
            }
            sub[n] = t;
        }
        (self_t, sub)
    }

    /// At least the bytes [`CallForest::render_into`] writes for every root.
    pub fn trees_len_bound(&self) -> usize {
        // The line's fixed text: "\n- ' (uuid=, start=, end=, dur=)" and the quotes.
        const LINE: usize = 40;
        let mut total = 0;
        let mut stack: Vec<(usize, usize)> = self.roots.iter().map(|&r| (r, 0)).collect();
        while let Some((n, level)) = stack.pop() {
            let x = &self.nodes[n];
            total += LINE + 2 * level + x.op_type.len() + x.name.len() + x.uuid.len();
            total += fixed_len_bound(&[x.start, x.end, x.duration], 2);
            stack.extend(x.children.iter().map(|&c| (c, level + 1)));
        }
        total
    }

    /// NAT's `CallNode.__str__` of the tree at `root`, appended to `out` (after a newline
    /// when `out` is not empty), line by line (not a string per line, then joined).
    pub fn render_into(&self, root: usize, out: &mut String) {
        let mut stack = vec![(root, 0usize)];
        while let Some((n, level)) = stack.pop() {
            let x = &self.nodes[n];
            if !out.is_empty() {
                out.push('\n');
            }
            for _ in 0..level {
                out.push_str("  ");
            }
            // "- {op_type} '{name}' (uuid={uuid}, start={start}, end={end}, dur={duration})"
            out.push_str("- ");
            out.push_str(x.op_type);
            out.push_str(" '");
            out.push_str(&x.name);
            out.push_str("' (uuid=");
            out.push_str(&x.uuid);
            out.push_str(", start=");
            Fixed(x.start, 2).push_to(out);
            out.push_str(", end=");
            Fixed(x.end, 2).push_to(out);
            out.push_str(", dur=");
            Fixed(x.duration, 2).push_to(out);
            out.push(')');
            stack.extend(x.children.iter().rev().map(|&c| (c, level + 1)));
        }
    }
}

/// Piecewise-constant concurrency over all nodes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Concurrency {
    /// Intervals of constant concurrency: (start, end, concurrency).
    pub segments: Vec<(f64, f64, i64)>,
    /// The concurrency's 50th, 90th, 95th and 99th percentiles.
    pub p: [f64; 4],
}

/// Sweep `(start,+1),(end,-1)` (stable by time) into `(prev, t, level)` segments.
pub fn segments(forest: &CallForest, order: &[usize]) -> Vec<(f64, f64, i64)> {
    let mut ev: Vec<(f64, i64)> = Vec::with_capacity(order.len() * 2);
    for &n in order {
        let x = &forest.nodes[n];
        if x.start > x.end {
            continue;
        }
        ev.push((x.start, 1));
        ev.push((x.end, -1));
    }
    ev.sort_by(|a, b| a.0.total_cmp(&b.0));
    // At most one segment per event after the first.
    let mut segs = Vec::with_capacity(ev.len().saturating_sub(1));
    let Some(&(mut prev, _)) = ev.first() else {
        return segs;
    };
    let mut cur = 0;
    for (t, d) in ev {
        if t > prev {
            segs.push((prev, t, cur));
        }
        cur += d;
        prev = t;
    }
    segs
}

/// `compute_time_based_concurrency`.
pub fn concurrency(forest: &CallForest, order: &[usize]) -> Concurrency {
    let segs = segments(forest, order);
    let mut total = 0.0;
    let mut levels: std::collections::BTreeMap<i64, f64> = Default::default();
    for &(s, e, c) in &segs {
        let len = e - s;
        if len <= 0.0 {
            continue;
        }
        total += len;
        *levels.entry(c).or_insert(0.0) += len;
    }
    if total <= 0.0 {
        return Concurrency {
            segments: segs,
            p: [0.0; 4],
        };
    }
    let at = |p: f64| {
        let threshold = total * (p / 100.0);
        let mut acc = 0.0;
        let mut last = 0;
        for (&c, &d) in &levels {
            acc += d;
            if acc >= threshold {
                return c as f64;
            }
            last = c;
        }
        last as f64
    };
    Concurrency {
        segments: segs,
        p: [at(50.0), at(90.0), at(95.0), at(99.0)],
    }
}

/// `find_midpoint_concurrency`: level of the segment holding the midpoint (the start for
/// zero-length calls), by binary search; 0.0 when none does.
pub fn midpoint_level(
    segs: &[(f64, f64, i64)],
    start: f64,
    end: f64,
    zero_len_at_start: bool,
) -> f64 {
    let mid = if start >= end {
        if !zero_len_at_start {
            return 0.0;
        }
        start
    } else {
        0.5 * (start + end)
    };
    let (mut lo, mut hi) = (0i64, segs.len() as i64 - 1);
    while lo <= hi {
        let m = (lo + hi) / 2;
        let (s, e, c) = segs[m as usize];
        if s <= mid && mid < e {
            return c as f64;
        }
        if mid < s {
            hi = m - 1;
        } else {
            lo = m + 1;
        }
    }
    0.0
}

/// A call's metrics in the nested-stack analysis.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeMetrics {
    /// The call, by index.
    pub node: usize,
    /// Its time not covered by its children.
    pub self_time: f64,
    /// Its whole duration.
    pub subtree_time: f64,
    /// The concurrency at its midpoint.
    pub concurrency_midpoint: f64,
}

/// NAT's nested-stack analysis.
#[derive(Debug, Clone, PartialEq)]
pub struct Nested {
    /// The call tree.
    pub forest: CallForest,
    /// Its concurrency.
    pub concurrency: Concurrency,
    /// Keyed by UUID (its node's, [`Nested::key`]), first-seen position, last value (Python
    /// dict semantics).
    pub node_metrics: Vec<NodeMetrics>,
    /// The calls with the most self time.
    pub top: Vec<NodeMetrics>,
    /// The analysis's text report.
    pub report: String,
}

impl Nested {
    /// The key of a `node_metrics` entry: its node's UUID.
    pub fn key(&self, m: &NodeMetrics) -> &Text {
        &self.forest.nodes[m.node].uuid
    }
}

/// Room for the report's lines before the trees (the top five calls' names and UUIDs can
/// make them longer: the report then grows once).
const HEAD_ROOM: usize = 4096;

/// How many calls the top bottlenecks list.
const TOP: usize = 5;

/// The [`TOP`] entries with the most subtree time, ties in key order: a stable sort's first
/// ones, kept as they come (not the million entries copied and sorted).
fn top_by_subtree(metrics: &[NodeMetrics]) -> Vec<NodeMetrics> {
    let mut top: Vec<&NodeMetrics> = Vec::with_capacity(TOP + 1);
    for m in metrics {
        let at = top.partition_point(|t| t.subtree_time.total_cmp(&m.subtree_time).is_ge());
        if at < TOP {
            top.insert(at, m);
            top.truncate(TOP);
        }
    }
    top.into_iter().cloned().collect()
}

/// What [`metrics_of`] gives.
type Metrics = (usize, Concurrency, Vec<NodeMetrics>, Vec<NodeMetrics>);

/// How many calls `forest` has (in depth-first order), their concurrency, their metrics keyed by
/// UUID (first-seen position, last value: Python dict semantics) and the five with the
/// most subtree time.
fn metrics_of(forest: &CallForest) -> Metrics {
    let order = forest.dfs();
    let conc = concurrency(forest, &order);
    let (self_t, sub_t) = forest.times();
    // Each entry's key is its node's UUID, not a copy of it (a million shared texts counted
    // up and down at 100,000 requests).
    let mut metrics: Vec<NodeMetrics> = Vec::with_capacity(order.len());
    let mut pos: FxHashMap<&str, usize> = FxHashMap::default();
    pos.reserve(order.len());
    for &n in &order {
        let x = &forest.nodes[n];
        let m = NodeMetrics {
            node: n,
            self_time: self_t[n],
            subtree_time: sub_t[n],
            concurrency_midpoint: midpoint_level(&conc.segments, x.start, x.end, true),
        };
        match pos.get(&*x.uuid) {
            Some(&i) => metrics[i] = m,
            None => {
                pos.insert(&x.uuid, metrics.len());
                metrics.push(m);
            }
        }
    }
    let top = top_by_subtree(&metrics);
    (order.len(), conc, metrics, top)
}

/// The analysis of `frame`.
pub fn nested_stack(frame: &Frame) -> Nested {
    let forest = build(frame, Families::All);
    if forest.roots.is_empty() {
        return Nested {
            forest,
            concurrency: Concurrency::default(),
            node_metrics: vec![],
            top: vec![],
            report: "No calls found.".into(),
        };
    }
    // The trees (most of the report) are written beside the metrics, into the report itself
    // (a string per tree, joined, held the report twice), with room left for the lines
    // before them.
    let (trees, (calls, conc, metrics, top)) = rayon::join(
        || {
            let mut trees = String::with_capacity(HEAD_ROOM + forest.trees_len_bound());
            for &r in &forest.roots {
                forest.render_into(r, &mut trees);
            }
            trees
        },
        || metrics_of(&forest),
    );
    let mut lines = vec![
        "=== Multi-Example Nested Call Profiling Report ===".to_string(),
        format!("Total calls (across all examples): {calls}"),
        "\n-- Concurrency Distribution (all examples) --".to_string(),
        percentiles(&conc.p),
        "\n-- Top 5 Calls by Bottleneck Score (subtree_time) --".to_string(),
    ];
    for (i, m) in top.iter().enumerate() {
        let x = &forest.nodes[m.node];
        lines.push(format!(
            "{}) UUID={}, {} '{}', dur={}, self_time={}, subtree_time={}, concurrency={}, score={}",
            i + 1,
            x.uuid,
            x.op_type,
            x.name,
            fixed(x.duration, 2),
            fixed(m.self_time, 2),
            fixed(m.subtree_time, 2),
            fixed(m.concurrency_midpoint, 1),
            fixed(m.subtree_time, 2)
        ));
    }
    lines.push("\n-- Full Tree(s) (All Examples) --".to_string());
    // Each tree line after the first comes after a newline (`render_into`); the first one
    // after the lines before it.
    lines.push(String::new());
    let mut report = trees;
    report.insert_str(0, &lines.join("\n"));
    // The room not written to (most of it never touched) goes back.
    report.shrink_to_fit();
    Nested {
        forest,
        concurrency: conc,
        node_metrics: metrics,
        top,
        report,
    }
}

fn metrics_json(f: &CallForest, m: &NodeMetrics) -> Value {
    let x = &f.nodes[m.node];
    metrics_json_named(x, m, &x.uuid, &x.name)
}

/// A node's metrics as `node_metrics` and `top_bottlenecks` hold them, with its UUID and
/// name as given (the drift's renamed ones).
pub(crate) fn metrics_json_named(x: &CallNode, m: &NodeMetrics, uuid: &str, name: &str) -> Value {
    // `object`, not `json!` (which grows the map key by key): there is one per call.
    crate::profile::object([
        ("uuid", uuid.into()),
        ("operation_type", x.op_type.into()),
        ("operation_name", name.into()),
        ("start_time", x.start.into()),
        ("end_time", x.end.into()),
        ("duration", x.duration.into()),
        ("self_time", m.self_time.into()),
        ("subtree_time", m.subtree_time.into()),
        ("concurrency_midpoint", m.concurrency_midpoint.into()),
        ("bottleneck_score", m.subtree_time.into()),
    ])
}

/// A `timeline_segments` entry.
pub(crate) fn segment_json(&(s, e, c): &(f64, f64, i64)) -> Value {
    json!([s, e, c])
}

/// The analysis's metrics.
pub fn to_json(n: &Nested) -> Value {
    let mut v = fixed_json(n);
    let segs: Vec<Value> = n.concurrency.segments.iter().map(segment_json).collect();
    let mut nm = Map::with_capacity(n.node_metrics.len());
    for m in &n.node_metrics {
        nm.insert(n.key(m).to_string(), metrics_json(&n.forest, m));
    }
    if let Value::Object(o) = &mut v {
        if let Some(Value::Object(c)) = o.get_mut("concurrency") {
            c.shift_insert(0, "timeline_segments".into(), Value::Array(segs));
        }
        o.shift_insert(1, "node_metrics".into(), Value::Object(nm));
    }
    v
}

/// [`to_json`] without its two members that grow with the calls,
/// `concurrency.timeline_segments` and `node_metrics` (the drift compares them typed).
pub fn fixed_json(n: &Nested) -> Value {
    let p = n.concurrency.p;
    use crate::profile::object;
    object([
        (
            "concurrency",
            object([
                ("p50", json!(p[0])),
                ("p90", json!(p[1])),
                ("p95", json!(p[2])),
                ("p99", json!(p[3])),
            ]),
        ),
        (
            "top_bottlenecks",
            Value::Array(n.top.iter().map(|m| metrics_json(&n.forest, m)).collect()),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The top entries are a stable descending sort's first ones (ties, few distinct
        /// times, keep their order: `node` is each entry's place).
        #[test]
        fn top_by_subtree_is_the_stable_sorts_head(times in prop::collection::vec(0u8..6, 0..40)) {
            let metrics: Vec<NodeMetrics> = times
                .iter()
                .enumerate()
                .map(|(node, &t)| NodeMetrics {
                    node,
                    self_time: 0.0,
                    subtree_time: f64::from(t),
                    concurrency_midpoint: 0.0,
                })
                .collect();
            let mut sorted = metrics.clone();
            sorted.sort_by(|a, b| b.subtree_time.total_cmp(&a.subtree_time));
            sorted.truncate(TOP);
            prop_assert_eq!(top_by_subtree(&metrics), sorted);
        }
    }
}
