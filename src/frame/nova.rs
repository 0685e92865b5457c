//! NAT's `NOVA-*` columns (`inference_optimization/llm_metrics.py:LLMMetrics.compute_profiling_metrics`).

use rustc_hash::FxHashMap;

use super::{Frame, Nova};
use crate::event::EventType;

/// Compute the six NOVA columns for `frame` (rows keep their order).
pub fn compute(frame: &Frame) -> Nova {
    let n = frame.rows.len();
    let mut nova = Nova {
        requests_remaining: vec![-1.0; n],
        requests_remaining_is_int: true,
        time_to_next: vec![-1.0; n],
        time_to_event_end: vec![-1.0; n],
        predicted_osl: vec![f64::NAN; n],
        time_to_session_end: vec![0.0; n],
    };
    // Groups of (example_number, function_name); pandas' groupby drops NaN keys.
    let mut groups: FxHashMap<(usize, &str), Vec<usize>> = FxHashMap::default();
    for (i, r) in frame.rows.iter().enumerate() {
        if let Some(f) = r.function_name.as_deref() {
            groups.entry((r.example_number(), f)).or_default().push(i);
        }
    }
    for idx in groups.values() {
        let mut starts: Vec<f64> = idx
            .iter()
            .filter(|&&i| frame.rows[i].event_type == EventType::LLM_START)
            .map(|&i| frame.rows[i].event_timestamp)
            .collect();
        if starts.is_empty() {
            continue;
        }
        nova.requests_remaining_is_int = false;
        starts.sort_by(f64::total_cmp);
        for &i in idx {
            let t = frame.rows[i].event_timestamp;
            // searchsorted(side='right'): number of starts <= t.
            let k = starts.partition_point(|&s| s <= t);
            let remaining = starts.len() - k;
            nova.requests_remaining[i] = remaining as f64;
            nova.time_to_next[i] = if k < starts.len() {
                (starts[k] - t) * 1000.0
            } else {
                -1.0
            };
            let last = starts[starts.len() - 1];
            nova.time_to_event_end[i] = if remaining > 0 && last > t {
                (last - t) * 1000.0
            } else {
                -1.0
            };
        }
    }
    // Predicted OSL: completion tokens of the LLM_END with the same UUID (last one wins).
    let mut ends: FxHashMap<&str, f64> = FxHashMap::default();
    for r in &frame.rows {
        if r.event_type == EventType::LLM_END {
            if let Some(u) = r.uuid.as_deref() {
                ends.insert(u, r.completion_tokens().map_or(f64::NAN, |c| c as f64));
            }
        }
    }
    for (i, r) in frame.rows.iter().enumerate() {
        if r.event_type == EventType::LLM_START {
            if let Some(v) = r.uuid.as_deref().and_then(|u| ends.get(u)) {
                nova.predicted_osl[i] = *v;
            }
        }
    }
    // Time to session end: (max timestamp of the example - timestamp) * 1000.
    let mut max_ts: FxHashMap<usize, f64> = FxHashMap::default();
    for r in &frame.rows {
        let m = max_ts
            .entry(r.example_number())
            .or_insert(f64::NEG_INFINITY);
        if r.event_timestamp > *m {
            *m = r.event_timestamp;
        }
    }
    for (i, r) in frame.rows.iter().enumerate() {
        nova.time_to_session_end[i] = (max_ts[&r.example_number()] - r.event_timestamp) * 1000.0;
    }
    nova
}
