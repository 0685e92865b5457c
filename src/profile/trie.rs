//! `prediction_trie.json` (`nat/profiler/prediction_trie/`: `PredictionTrieBuilder`,
//! `MetricsAccumulator`, `save_prediction_trie`), built from the frame.
//!
//! Per request, every LLM_END is one call with a two-level path (`[parent_name,]
//! function_name`), a call index per function id, the calls remaining, the time to the
//! next LLM_START, its output tokens and (with auto-sensitivity) a latency-sensitivity
//! score; samples accumulate at the root and at each path prefix.

use rustc_hash::FxHashMap;

use serde_json::{json, Map, Value};

use crate::config::PredictionTrie as TrieConfig;
use crate::event::EventType;
use crate::frame::{Frame, Row};

/// Samples of one metric (`MetricsAccumulator`).
#[derive(Debug, Clone, Default, PartialEq)]
struct Acc(Vec<f64>);

impl Acc {
    fn add(&mut self, v: f64) {
        self.0.push(v);
    }
    /// `PredictionMetrics`: naive left-to-right mean, NAT's percentile (`len == 1 → x[0]`).
    fn metrics(&self) -> Value {
        if self.0.is_empty() {
            return json!({"sample_count": 0, "mean": 0.0, "p50": 0.0, "p90": 0.0, "p95": 0.0});
        }
        let n = self.0.len();
        let mean = self.0.iter().fold(0.0, |a, b| a + b) / n as f64;
        let mut s = self.0.clone();
        s.sort_by(f64::total_cmp);
        let p = |pct: f64| {
            if n == 1 {
                return s[0];
            }
            crate::numeric::nat_percentile(&s, pct)
        };
        json!({"sample_count": n, "mean": mean, "p50": p(50.0), "p90": p(90.0), "p95": p(95.0)})
    }
    fn mean(&self) -> f64 {
        self.0.iter().fold(0.0, |a, b| a + b) / self.0.len() as f64
    }
}

#[derive(Debug, Default)]
struct NodeAccs {
    /// Per call index, in first-touched order.
    remaining: Vec<(usize, Acc)>,
    interarrival: Vec<(usize, Acc)>,
    output: Vec<(usize, Acc)>,
    sensitivity: Vec<(usize, Acc)>,
    all_remaining: Acc,
    all_interarrival: Acc,
    all_output: Acc,
    all_sensitivity: Acc,
}

fn slot(v: &mut Vec<(usize, Acc)>, k: usize) -> &mut Acc {
    if let Some(i) = v.iter().position(|(x, _)| *x == k) {
        return &mut v[i].1;
    }
    v.push((k, Acc::default()));
    &mut v.last_mut().expect("just pushed").1
}

fn get(v: &[(usize, Acc)], k: usize) -> Option<&Acc> {
    v.iter().find(|(x, _)| *x == k).map(|(_, a)| a)
}

struct Call<'f> {
    /// `[parent_name,] function_name`, borrowed from the frame.
    path: Vec<&'f str>,
    call_index: usize,
    remaining: usize,
    time_to_next_ms: Option<f64>,
    output_tokens: i64,
    call_duration: f64,
    workflow_duration: f64,
    slack: f64,
    span_start: f64,
    span_end: f64,
    sensitivity: f64,
}

fn text(t: &Option<crate::frame::Text>) -> &str {
    t.as_deref().unwrap_or("")
}

/// The calls of one request (`_extract_llm_contexts`); `rows` in frame (= trace) order.
fn calls<'f>(frame: &'f Frame, rows: &[usize], cfg: &TrieConfig) -> Vec<Call<'f>> {
    let mut sorted: Vec<&Row> = rows.iter().map(|&i| &frame.rows[i]).collect();
    sorted.sort_by(|a, b| a.event_timestamp.total_cmp(&b.event_timestamp));
    let wf = if sorted.len() >= 2 {
        sorted[sorted.len() - 1].event_timestamp - sorted[0].event_timestamp
    } else {
        0.0
    };
    let ends: Vec<&Row> = sorted
        .iter()
        .copied()
        .filter(|r| r.event_type == EventType::LLM_END)
        .collect();
    let starts: Vec<f64> = sorted
        .iter()
        .filter(|r| r.event_type == EventType::LLM_START)
        .map(|r| r.event_timestamp)
        .collect();
    let siblings = if cfg.auto_sensitivity && cfg.w_parallel > 0.0 {
        sibling_map(frame, rows)
    } else {
        FxHashMap::default()
    };
    let mut counts: FxHashMap<&str, usize> = FxHashMap::default();
    let mut out = Vec::new();
    for (i, e) in ends.iter().enumerate() {
        let mut path = Vec::new();
        if let Some(p) = e.parent_function_name.as_deref().filter(|p| !p.is_empty()) {
            path.push(p);
        }
        path.push(text(&e.function_name));
        let c = counts.entry(text(&e.function_id)).or_insert(0);
        *c += 1;
        let end = e.event_timestamp;
        let time_to_next_ms = starts
            .iter()
            .find(|&&s| s > end)
            .map(|&s| (s - end) * 1000.0);
        let span = e.span_event_timestamp();
        let mut slack = 0.0;
        if !siblings.is_empty() {
            if let Some(span) = span {
                let by_function = e
                    .parent_function_id
                    .as_deref()
                    .filter(|p| !p.is_empty())
                    .and_then(|p| siblings.get(p));
                let sibs = match by_function {
                    Some(s) if !s.is_empty() => Some(s),
                    _ => e.parent_id.as_deref().and_then(|p| siblings.get(p)),
                };
                if let Some(sibs) = sibs {
                    slack = parallel_slack(text(&e.uuid), span, end, sibs);
                }
            }
        }
        out.push(Call {
            path,
            call_index: *c,
            remaining: ends.len() - i - 1,
            time_to_next_ms,
            output_tokens: e.completion_tokens().unwrap_or(0),
            call_duration: span.map_or(0.0, |s| end - s),
            workflow_duration: wf,
            slack,
            span_start: span.unwrap_or(0.0),
            span_end: end,
            sensitivity: 0.0,
        });
    }
    out
}

struct Sibling {
    uuid: String,
    start: f64,
    end: f64,
}

/// `_build_sibling_map`: completed LLM/TOOL/FUNCTION/SPAN spans grouped by the START's `parent_id`.
fn sibling_map(frame: &Frame, rows: &[usize]) -> FxHashMap<String, Vec<Sibling>> {
    use EventType::*;
    let mut starts: Vec<(String, f64, String)> = Vec::new();
    let mut ends: FxHashMap<String, f64> = FxHashMap::default();
    for &i in rows {
        let r = &frame.rows[i];
        let paired = matches!(
            r.event_type,
            LLM_START
                | LLM_END
                | TOOL_START
                | TOOL_END
                | FUNCTION_START
                | FUNCTION_END
                | SPAN_START
                | SPAN_END
        );
        if !paired {
            continue;
        }
        let uuid = text(&r.uuid).to_string();
        if r.event_type.as_str().ends_with("_START") {
            let parent = text(&r.parent_id).to_string();
            match starts.iter_mut().find(|s| s.0 == uuid) {
                Some(s) => (s.1, s.2) = (r.event_timestamp, parent),
                None => starts.push((uuid, r.event_timestamp, parent)),
            }
        } else {
            ends.insert(uuid, r.event_timestamp);
        }
    }
    let mut map: FxHashMap<String, Vec<Sibling>> = FxHashMap::default();
    for (uuid, start, parent) in starts {
        if let Some(&end) = ends.get(&uuid) {
            map.entry(parent)
                .or_default()
                .push(Sibling { uuid, start, end });
        }
    }
    map
}

fn parallel_slack(uuid: &str, start: f64, end: f64, sibs: &[Sibling]) -> f64 {
    let dur = end - start;
    if dur <= 0.0 {
        return 0.0;
    }
    let mut max_sib: f64 = 0.0;
    for s in sibs {
        if s.uuid == uuid {
            continue;
        }
        if start.max(s.start) < end.min(s.end) {
            max_sib = max_sib.max(s.end - s.start);
        }
    }
    if max_sib <= 0.0 {
        return 0.0;
    }
    (1.0 - dur / max_sib).max(0.0)
}

/// `_compute_sensitivity_scores` (min-max normalised within the request).
fn sensitivity(calls: &mut [Call<'_>], cfg: &TrieConfig) {
    if calls.is_empty() {
        return;
    }
    let n = calls.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| calls[a].span_start.total_cmp(&calls[b].span_start));
    let mut pos = vec![0usize; n];
    let mut group = 0;
    let mut group_end = calls[order[0]].span_end;
    for &k in &order[1..] {
        if calls[k].span_start < group_end {
            pos[k] = group;
            group_end = group_end.max(calls[k].span_end);
        } else {
            group += 1;
            pos[k] = group;
            group_end = calls[k].span_end;
        }
    }
    let steps = pos.iter().max().map_or(1, |m| m + 1);
    let max_rem = steps - 1;
    let mut sizes: FxHashMap<usize, usize> = FxHashMap::default();
    for &p in &pos {
        *sizes.entry(p).or_insert(0) += 1;
    }
    let raw: Vec<f64> = calls
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let lpos = pos[i];
            let critical = if c.workflow_duration > 0.0 {
                (c.call_duration / c.workflow_duration).min(1.0)
            } else {
                1.0
            };
            let fanout = if max_rem > 0 {
                (max_rem - lpos) as f64 / max_rem as f64
            } else {
                0.0
            };
            let position = if steps > 1 {
                let np = lpos as f64 / (steps - 1) as f64;
                (1.0 - np).max(np)
            } else {
                1.0
            };
            let mut penalty = c.slack;
            let gs = sizes[&lpos];
            if gs > 1 {
                penalty = (penalty + (gs - 1) as f64 / gs as f64) / 2.0;
            }
            cfg.w_critical * critical + cfg.w_fanout * fanout + cfg.w_position * position
                - cfg.w_parallel * penalty
        })
        .collect();
    let min = raw.iter().copied().fold(f64::INFINITY, f64::min);
    let max = raw.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let range = max - min;
    for (c, r) in calls.iter_mut().zip(raw) {
        c.sensitivity = if range > 0.0 { (r - min) / range } else { 0.5 };
    }
}

fn to_sensitivity(acc: Option<&Acc>, cfg: &TrieConfig) -> Value {
    match acc {
        Some(a) if cfg.auto_sensitivity && !a.0.is_empty() => {
            let scale = cfg.sensitivity_scale;
            json!(
                (crate::numeric::py_round(a.mean() * (scale - 1) as f64) as i64 + 1)
                    .min(scale)
                    .max(1)
            )
        }
        _ => Value::Null,
    }
}

/// NAT writes the wall clock here; we write the time of the trace's last event, so the
/// file is a function of its input (listed difference `profile.trie-generated-at`).
pub fn generated_at(frame: &Frame) -> String {
    let last = frame
        .rows
        .iter()
        .map(|r| r.event_timestamp)
        .fold(f64::NEG_INFINITY, f64::max);
    crate::pyfmt::epoch_to_iso(last).unwrap_or_else(|| "1970-01-01T00:00:00+00:00".into())
}

impl NodeAccs {
    /// One call through this node.
    fn add(&mut self, c: &Call<'_>, cfg: &TrieConfig) {
        slot(&mut self.remaining, c.call_index).add(c.remaining as f64);
        slot(&mut self.output, c.call_index).add(c.output_tokens as f64);
        if let Some(t) = c.time_to_next_ms {
            slot(&mut self.interarrival, c.call_index).add(t);
        }
        self.all_remaining.add(c.remaining as f64);
        self.all_output.add(c.output_tokens as f64);
        if let Some(t) = c.time_to_next_ms {
            self.all_interarrival.add(t);
        }
        if cfg.auto_sensitivity {
            slot(&mut self.sensitivity, c.call_index).add(c.sensitivity);
            self.all_sensitivity.add(c.sensitivity);
        }
    }

    /// `predictions_by_call_index`: per call index, ascending (NAT's
    /// `set(remaining) | set(interarrival) | set(output)` of these small ints).
    fn by_index(&self, cfg: &TrieConfig) -> Map<String, Value> {
        let mut idx: Vec<usize> = self
            .remaining
            .iter()
            .chain(&self.interarrival)
            .chain(&self.output)
            .map(|(k, _)| *k)
            .collect();
        idx.sort_unstable();
        idx.dedup();
        let empty = Acc::default();
        idx.into_iter()
            .map(|k| {
                let prediction = json!({
                    "remaining_calls": get(&self.remaining, k).unwrap_or(&empty).metrics(),
                    "interarrival_ms": get(&self.interarrival, k).unwrap_or(&empty).metrics(),
                    "output_tokens": get(&self.output, k).unwrap_or(&empty).metrics(),
                    "latency_sensitivity": to_sensitivity(get(&self.sensitivity, k), cfg),
                });
                (k.to_string(), prediction)
            })
            .collect()
    }

    /// `predictions_any_index` (null when no call passed the node).
    fn any(&self, cfg: &TrieConfig) -> Value {
        if self.all_remaining.0.is_empty() {
            return Value::Null;
        }
        json!({
            "remaining_calls": self.all_remaining.metrics(),
            "interarrival_ms": self.all_interarrival.metrics(),
            "output_tokens": self.all_output.metrics(),
            "latency_sensitivity": to_sensitivity(Some(&self.all_sensitivity), cfg),
        })
    }
}

/// Every node's accumulators, by path from the root, in first-touched order.
fn node_accs<'f>(frame: &'f Frame, cfg: &TrieConfig) -> Vec<(Vec<&'f str>, NodeAccs)> {
    let mut accs: Vec<(Vec<&'f str>, NodeAccs)> = Vec::new();
    for (_, rows) in frame.rows_by_example() {
        let mut cs = calls(frame, &rows, cfg);
        if cfg.auto_sensitivity {
            sensitivity(&mut cs, cfg);
        }
        for c in &cs {
            for depth in 0..=c.path.len() {
                // Compared, copied only when new (the names are the frame's).
                let key = &c.path[..depth];
                let i = match accs.iter().position(|(k, _)| k[..] == *key) {
                    Some(i) => i,
                    None => {
                        accs.push((key.to_vec(), NodeAccs::default()));
                        accs.len() - 1
                    }
                };
                accs[i].1.add(c, cfg);
            }
        }
    }
    accs
}

/// A node of the trie as it is written.
struct Node {
    by_index: Map<String, Value>,
    any: Value,
    children: Vec<(String, Node)>,
}

impl Node {
    fn new() -> Node {
        Node {
            by_index: Map::new(),
            any: Value::Null,
            children: Vec::new(),
        }
    }

    /// The child `name`, made if new (children in first-touched order).
    fn child(&mut self, name: &str) -> &mut Node {
        let i = match self.children.iter().position(|(n, _)| n == name) {
            Some(i) => i,
            None => {
                self.children.push((name.to_string(), Node::new()));
                self.children.len() - 1
            }
        };
        &mut self.children[i].1
    }

    fn to_json(&self, name: &str) -> Value {
        let mut children = Map::new();
        for (k, c) in &self.children {
            children.insert(k.clone(), c.to_json(k));
        }
        json!({"name": name, "predictions_by_call_index": self.by_index,
               "predictions_any_index": self.any, "children": children})
    }
}

/// The trie as NAT serialises it, `generated_at` given by the caller.
pub fn prediction_trie(frame: &Frame, cfg: &TrieConfig, generated_at: &str) -> Value {
    let mut root = Node::new();
    for (key, a) in &node_accs(frame, cfg) {
        let node = key.iter().fold(&mut root, |node, name| node.child(name));
        node.by_index = a.by_index(cfg);
        if !a.all_remaining.0.is_empty() {
            node.any = a.any(cfg);
        }
    }
    json!({"version": "1.0", "generated_at": generated_at, "workflow_name": "profiled_workflow",
           "root": root.to_json("root")})
}
