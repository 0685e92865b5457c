//! NAT's `NOVA-*` columns (`inference_optimization/llm_metrics.py:LLMMetrics.compute_profiling_metrics`).

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::{Frame, Nova, Row};
use crate::event::EventType;

/// Rows per part computed on a thread, at least (a part ends where an example does).
const PART_ROWS: usize = 1 << 14;

/// Compute the six NOVA columns for `frame` (rows keep their order).
pub fn compute(frame: &Frame) -> Nova {
    compute_in_parts(frame, PART_ROWS)
}

/// [`compute`] a part of at least `part_rows` rows at a time, side by side, when the rows
/// are in example order (a frame's requests in order): each example's rows, the only ones
/// its columns but predicted OSL read, then lie in one part. Otherwise the frame is one part.
fn compute_in_parts(frame: &Frame, part_rows: usize) -> Nova {
    let rows = &frame.rows[..];
    let n = rows.len();
    let mut nova = Nova {
        requests_remaining: vec![-1.0; n],
        requests_remaining_is_int: true,
        time_to_next: vec![-1.0; n],
        time_to_event_end: vec![-1.0; n],
        predicted_osl: vec![f64::NAN; n],
        time_to_session_end: vec![0.0; n],
    };
    let mut parts = Vec::new();
    if frame.in_example_order() {
        let mut start = 0;
        while start < n {
            let mut end = (start + part_rows).min(n);
            let last = rows[end - 1].example_number();
            end += rows[end..].partition_point(|r| r.example_number() == last);
            parts.push(start..end);
            start = end;
        }
    } else if n > 0 {
        parts.push(0..n);
    }
    // Each part's rows and its slices of the columns.
    let mut outs = Vec::with_capacity(parts.len());
    let (mut rr, mut next, mut end, mut osl, mut session) = (
        &mut nova.requests_remaining[..],
        &mut nova.time_to_next[..],
        &mut nova.time_to_event_end[..],
        &mut nova.predicted_osl[..],
        &mut nova.time_to_session_end[..],
    );
    for p in &parts {
        let len = p.len();
        let (a, b, c, d, e);
        (a, rr) = rr.split_at_mut(len);
        (b, next) = next.split_at_mut(len);
        (c, end) = end.split_at_mut(len);
        (d, osl) = osl.split_at_mut(len);
        (e, session) = session.split_at_mut(len);
        outs.push((&rows[p.clone()], [a, b, c, e], d));
    }
    // Predicted OSL: completion tokens of the LLM_END with the same UUID, anywhere in the
    // frame (last one wins): each part's, then merged in frame order.
    let ends: Vec<FxHashMap<&str, f64>> = parts
        .par_iter()
        .map(|p| llm_end_tokens(&rows[p.clone()]))
        .collect();
    let mut all = FxHashMap::default();
    for e in ends {
        all.extend(e);
    }
    let any_start = outs
        .into_par_iter()
        .map(|(rows, columns, osl)| {
            for (r, o) in rows.iter().zip(osl) {
                if r.event_type == EventType::LLM_START {
                    if let Some(v) = r.uuid.as_deref().and_then(|u| all.get(u)) {
                        *o = *v;
                    }
                }
            }
            part(rows, columns)
        })
        .reduce(|| false, |a, b| a | b);
    nova.requests_remaining_is_int = !any_start;
    nova
}

/// Each LLM_END's UUID → its completion tokens (NaN without), the last one of a UUID winning.
fn llm_end_tokens(rows: &[Row]) -> FxHashMap<&str, f64> {
    let mut ends = FxHashMap::default();
    for r in rows {
        if r.event_type == EventType::LLM_END {
            if let Some(u) = r.uuid.as_deref() {
                ends.insert(u, r.completion_tokens().map_or(f64::NAN, |c| c as f64));
            }
        }
    }
    ends
}

/// The columns but predicted OSL of `rows`, whole examples: requests remaining, time to the
/// next event, to the event's end and to the session's end. Returns whether an (example,
/// function) group has an LLM_START.
fn part(rows: &[Row], [remaining, to_next, to_end, to_session]: [&mut [f64]; 4]) -> bool {
    let mut any_start = false;
    // Groups of (example_number, function_name); pandas' groupby drops NaN keys.
    let mut groups: FxHashMap<(usize, &str), Vec<usize>> = FxHashMap::default();
    for (i, r) in rows.iter().enumerate() {
        if let Some(f) = r.function_name.as_deref() {
            groups.entry((r.example_number(), f)).or_default().push(i);
        }
    }
    for idx in groups.values() {
        let mut starts: Vec<f64> = idx
            .iter()
            .filter(|&&i| rows[i].event_type == EventType::LLM_START)
            .map(|&i| rows[i].event_timestamp)
            .collect();
        if starts.is_empty() {
            continue;
        }
        any_start = true;
        starts.sort_by(f64::total_cmp);
        for &i in idx {
            let t = rows[i].event_timestamp;
            // searchsorted(side='right'): number of starts <= t.
            let k = starts.partition_point(|&s| s <= t);
            let left = starts.len() - k;
            remaining[i] = left as f64;
            to_next[i] = if k < starts.len() {
                (starts[k] - t) * 1000.0
            } else {
                -1.0
            };
            let last = starts[starts.len() - 1];
            to_end[i] = if left > 0 && last > t {
                (last - t) * 1000.0
            } else {
                -1.0
            };
        }
    }
    // Time to session end: (max timestamp of the example - timestamp) * 1000.
    let mut max_ts: FxHashMap<usize, f64> = FxHashMap::default();
    for r in rows {
        let m = max_ts
            .entry(r.example_number())
            .or_insert(f64::NEG_INFINITY);
        if r.event_timestamp > *m {
            *m = r.event_timestamp;
        }
    }
    for (i, r) in rows.iter().enumerate() {
        to_session[i] = (max_ts[&r.example_number()] - r.event_timestamp) * 1000.0;
    }
    any_start
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::from_ist;

    fn same(a: &Nova, b: &Nova) -> bool {
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        a.requests_remaining_is_int == b.requests_remaining_is_int
            && [
                (&a.requests_remaining, &b.requests_remaining),
                (&a.time_to_next, &b.time_to_next),
                (&a.time_to_event_end, &b.time_to_event_end),
                (&a.predicted_osl, &b.predicted_osl),
                (&a.time_to_session_end, &b.time_to_session_end),
            ]
            .iter()
            .all(|(x, y)| bits(x) == bits(y))
    }

    /// Parts of any size give the columns of the whole frame as one part, and a frame out of
    /// example order gives each row the columns it has in order.
    #[test]
    fn parts_give_the_columns_of_the_whole_frame() {
        for item in ["nested_trip_planner", "react_calculator", "sample"] {
            let mut f = from_ist::frame(&crate::trace::corpus_ist(item));
            let whole = compute_in_parts(&f, usize::MAX);
            for rows in [1, 7, 100] {
                assert!(same(&compute_in_parts(&f, rows), &whole), "{item}, {rows}");
            }
            // The last example's rows first: one part, each row's columns as before.
            let last = f.rows.last().unwrap().example_number();
            let mut order: Vec<usize> = (0..f.rows.len()).collect();
            order.sort_by_key(|&i| f.rows[i].example_number() != last);
            f.rows = order.iter().map(|&i| f.rows[i].clone()).collect();
            let moved = compute_in_parts(&f, 1);
            let pick = |v: &[f64]| order.iter().map(|&i| v[i]).collect::<Vec<_>>();
            let expected = Nova {
                requests_remaining: pick(&whole.requests_remaining),
                requests_remaining_is_int: whole.requests_remaining_is_int,
                time_to_next: pick(&whole.time_to_next),
                time_to_event_end: pick(&whole.time_to_event_end),
                predicted_osl: pick(&whole.predicted_osl),
                time_to_session_end: pick(&whole.time_to_session_end),
            };
            assert!(same(&moved, &expected), "{item}, out of order");
        }
    }
}
