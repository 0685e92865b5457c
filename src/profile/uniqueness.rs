//! `token_uniqueness` (`inference_optimization/token_uniqueness.py:compute_inter_query_token_uniqueness_by_llm`):
//! per (llm_name, example), LLM_START inputs in time order; for each call after the first,
//! the number of distinct lower-cased `\w+` words not in the previous call's input.

use std::collections::{BTreeMap, HashSet};
use std::sync::OnceLock;

use regex::Regex;
use serde_json::{json, Map, Value};

use crate::frame::Frame;
use crate::numeric::np_percentile;
use crate::trace::ist::EventType;

fn words(text: Option<&str>) -> HashSet<String> {
    static W: OnceLock<Regex> = OnceLock::new();
    let re = W.get_or_init(|| Regex::new(r"\w+").expect("valid regex"));
    match text {
        Some(t) => re
            .find_iter(&t.to_lowercase())
            .map(|m| m.as_str().to_string())
            .collect(),
        None => HashSet::new(),
    }
}

/// `(llm_name, [p90, p95, p99])` in NAT's output order.
pub fn token_uniqueness(frame: &Frame) -> Vec<(String, [f64; 3])> {
    let mut groups: BTreeMap<(&str, usize), Vec<usize>> = BTreeMap::new();
    for (i, r) in frame.rows.iter().enumerate() {
        if r.event_type == EventType::LLM_START {
            if let Some(name) = r.llm_name.as_deref() {
                groups.entry((name, r.example_number)).or_default().push(i);
            }
        }
    }
    let mut by_llm: Vec<(String, Vec<f64>)> = Vec::new();
    for ((llm, _), mut idx) in groups {
        // NAT sorts with pandas' unstable quicksort; ties keep frame order here (Q22).
        idx.sort_by(|&a, &b| {
            frame.rows[a]
                .event_timestamp
                .total_cmp(&frame.rows[b].event_timestamp)
        });
        let mut counts = Vec::new();
        for w in idx.windows(2) {
            let prev = frame.rows[w[0]].llm_text_input.as_deref();
            // dropna on the shifted input: a call after a None input is not counted (Q7).
            if prev.is_none() {
                continue;
            }
            let cur = words(frame.rows[w[1]].llm_text_input.as_deref());
            let prev = words(prev);
            counts.push(cur.difference(&prev).count() as f64);
        }
        if counts.is_empty() {
            continue;
        }
        match by_llm.iter_mut().find(|(n, _)| n == llm) {
            Some((_, v)) => v.extend(counts),
            None => by_llm.push((llm.to_string(), counts)),
        }
    }
    by_llm
        .into_iter()
        .map(|(n, c)| (n, [90.0, 95.0, 99.0].map(|p| np_percentile(&c, p))))
        .collect()
}

pub fn to_json(u: &[(String, [f64; 3])]) -> Value {
    let mut m = Map::new();
    for (name, p) in u {
        m.insert(name.clone(), json!({"p90": p[0], "p95": p[1], "p99": p[2]}));
    }
    Value::Object(m)
}
