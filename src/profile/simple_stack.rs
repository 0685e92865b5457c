//! Simple-stack bottleneck analysis (`bottleneck_analysis/simple_stack_analysis.py:profile_workflow_bottlenecks`).
//!
//! Rows grouped by UUID across all requests (Q16); a group whose earliest row is `LLM_*` /
//! `TOOL_*` with at least one START and one END is one operation from the earliest START
//! to the latest END. Max concurrency per operation *name* (LLMs and tools sharing a name
//! share a count) with a time-only stable sort (Q9).

use serde_json::{json, Map, Value};

use super::pyfloat::fixed;
use crate::event::EventType;
use crate::frame::Frame;
use crate::numeric::{np_mean, np_percentile_sorted};

/// How END-only groups (an END without a START, e.g. NAT's ATIF-native TOOL_END rows) count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EndOnly {
    /// NAT 1.9.0: skipped.
    #[default]
    Skip,
    /// NAT 1.6.0rc1 (ATIF-native): single-row groups count too; without a START the
    /// operation starts at the earliest END `span_event_timestamp`, else at the END itself.
    FromSpanStart,
}

/// One operation (LLM or tool call) as the simple stack sees it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Operation<'f> {
    /// `LLM` or `TOOL`.
    pub op_type: &'static str,
    /// Its name.
    pub name: &'f str,
    /// Its start, seconds since the epoch.
    pub start: f64,
    /// Its end.
    pub end: f64,
    /// Its UUID.
    pub uuid: &'f str,
}

/// The statistics of one operation kind and name.
#[derive(Debug, Clone, PartialEq)]
pub struct OpStats {
    /// `LLM` or `TOOL`.
    pub op_type: &'static str,
    /// The name.
    pub name: String,
    /// How many operations.
    pub usage_count: usize,
    /// Their mean duration.
    pub avg_duration: f64,
    /// Their duration's 95th percentile.
    pub p95_duration: f64,
    /// Their duration's 99th percentile.
    pub p99_duration: f64,
    /// The most of them running at once.
    pub max_concurrency: i64,
    /// NAT's bottleneck score.
    pub bottleneck_score: f64,
}

/// NAT's simple-stack bottleneck analysis.
#[derive(Debug, Clone, PartialEq)]
pub struct SimpleStack {
    /// Keyed `"{type}:{name}"`, in groupby (sorted by type, then name) order.
    pub stats: Vec<(String, OpStats)>,
    /// The analysis's text report.
    pub summary: String,
}

fn op_of(et: EventType) -> Option<&'static str> {
    let s = et.as_str();
    if s.starts_with("LLM_") {
        Some("LLM")
    } else if s.starts_with("TOOL_") {
        Some("TOOL")
    } else {
        None
    }
}

/// The operations, in UUID order.
///
/// Kept in one piece: it follows NAT's `_build_operations` (1.9.0) and `get_events`
/// (1.6.0rc1) branch for branch, which differ only in the rows an END-only UUID gives.
pub(crate) fn operations(frame: &Frame, end_only: EndOnly) -> Vec<Operation<'_>> {
    // Rows by UUID: each UUID numbered as first seen (hashed), its rows in frame order in
    // one flat list (most have two; a list per UUID was a million small allocations at
    // 100,000 requests), then the UUIDs sorted once.
    let mut number: rustc_hash::FxHashMap<&str, u32> = Default::default();
    // A span's START and END share a UUID: room for half the rows at once (grown by
    // doubling, each step hashed every UUID again, reading it from the heap).
    number.reserve(frame.rows.len() / 2);
    let mut uuids: Vec<&str> = Vec::new();
    let groups_of: Vec<Option<u32>> = frame
        .rows
        .iter()
        .map(|r| {
            let u = r.uuid.as_deref()?;
            Some(*number.entry(u).or_insert_with(|| {
                uuids.push(u);
                (uuids.len() - 1) as u32
            }))
        })
        .collect();
    drop(number);
    // Where each UUID's rows start in `flat`, then fill it.
    let mut starts = vec![0usize; uuids.len() + 1];
    for g in groups_of.iter().flatten() {
        starts[*g as usize + 1] += 1;
    }
    for k in 1..starts.len() {
        starts[k] += starts[k - 1];
    }
    let mut flat = vec![0usize; starts[uuids.len()]];
    let mut next = starts.clone();
    for (i, g) in groups_of.iter().enumerate() {
        if let Some(g) = *g {
            flat[next[g as usize]] = i;
            next[g as usize] += 1;
        }
    }
    // Sorted by each UUID's first sixteen bytes kept beside its number, then by the whole
    // UUID on a tie: the order of the strings, without reading each string from the heap
    // at every comparison (at a million UUIDs those reads were most of the sort).
    let mut order: Vec<(u128, u32)> = uuids
        .iter()
        .enumerate()
        .map(|(g, u)| (sort_prefix(u), g as u32))
        .collect();
    order.sort_unstable_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| uuids[a.1 as usize].cmp(uuids[b.1 as usize]))
    });
    let mut ops = Vec::new();
    for (_, g) in order {
        let (g, uuid) = (g as usize, uuids[g as usize]);
        let idx = &mut flat[starts[g]..starts[g + 1]];
        if idx.len() < 2 && end_only == EndOnly::Skip {
            continue;
        }
        idx.sort_by(|&a, &b| {
            frame.rows[a]
                .event_timestamp
                .total_cmp(&frame.rows[b].event_timestamp)
        });
        let Some(op_type) = op_of(frame.rows[idx[0]].event_type) else {
            continue;
        };
        let (start_t, end_t) = if op_type == "LLM" {
            (EventType::LLM_START, EventType::LLM_END)
        } else {
            (EventType::TOOL_START, EventType::TOOL_END)
        };
        let ts = |t: EventType| {
            idx.iter()
                .filter(move |&&i| frame.rows[i].event_type == t)
                .map(|&i| &frame.rows[i])
        };
        let end = ts(end_t)
            .map(|r| r.event_timestamp)
            .fold(f64::NAN, f64::max);
        let start = ts(start_t)
            .map(|r| r.event_timestamp)
            .fold(f64::NAN, f64::min);
        let start = match end_only {
            // 1.6.0rc1: no START → earliest span_event_timestamp of the ENDs, else the END time.
            EndOnly::FromSpanStart if start.is_nan() => {
                let span = ts(end_t)
                    .filter_map(|r| r.span_event_timestamp())
                    .fold(f64::NAN, f64::min);
                if span.is_nan() {
                    end
                } else {
                    span
                }
            }
            _ => start,
        };
        if start.is_nan() || end.is_nan() {
            continue;
        }
        // First non-NaN name in time order ("" counts as a name: Q16).
        let name = idx
            .iter()
            .find_map(|&i| {
                let r = &frame.rows[i];
                if op_type == "LLM" {
                    r.llm_name.as_deref()
                } else {
                    r.tool_name.as_deref()
                }
            })
            .unwrap_or(if op_type == "LLM" {
                "unknown_llm"
            } else {
                "unknown_tool"
            });
        ops.push(Operation {
            op_type,
            name,
            start,
            end,
            uuid,
        });
    }
    ops
}

/// The first sixteen bytes of `s`, big-endian, padded with zeros: ordered as the strings
/// are, apart from ties (a string ordered after another never has a smaller prefix).
fn sort_prefix(s: &str) -> u128 {
    let mut b = [0u8; 16];
    let n = s.len().min(16);
    b[..n].copy_from_slice(&s.as_bytes()[..n]);
    u128::from_be_bytes(b)
}

/// The most operations running at once, overall and per name, from their `(start, +1, name)`
/// and `(end, -1, name)` events (names numbered below `names`). NAT sorts the events by time
/// only (stably) for all operations (the overall max: over the running trace) and again for
/// each name's (the max from 0). A name's events in the sorted whole are its events sorted,
/// so one sort serves all.
fn max_concurrency(mut ev: Vec<(f64, i64, u32)>, names: usize) -> (i64, Vec<i64>) {
    ev.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut running = vec![(0i64, 0i64); names];
    let mut cur = 0;
    let mut overall = i64::MIN;
    for &(_, d, id) in &ev {
        cur += d;
        overall = overall.max(cur);
        let (cur, max) = &mut running[id as usize];
        *cur += d;
        *max = (*max).max(*cur);
    }
    (overall, running.into_iter().map(|(_, max)| max).collect())
}

/// The analysis of `frame`.
///
/// Kept in one piece: it follows NAT's `analyze_bottlenecks` statement by statement (its
/// statistics, score and report in NAT's order).
pub fn simple_stack(frame: &Frame, end_only: EndOnly) -> SimpleStack {
    let ops = operations(frame, end_only);
    if ops.is_empty() {
        return SimpleStack {
            stats: vec![],
            summary: "No operations found to profile.".into(),
        };
    }
    // Each operation's name numbered (names in order of first appearance), and its group
    // (operation type and name).
    let mut name_ids: rustc_hash::FxHashMap<&str, u32> = Default::default();
    let mut group_ids: rustc_hash::FxHashMap<(&str, u32), usize> = Default::default();
    let mut groups: Vec<((&str, &str), u32, Vec<f64>)> = Vec::new();
    let mut ev: Vec<(f64, i64, u32)> = Vec::with_capacity(2 * ops.len());
    for o in &ops {
        let next = name_ids.len() as u32;
        let id = *name_ids.entry(o.name).or_insert(next);
        let g = *group_ids.entry((o.op_type, id)).or_insert_with(|| {
            groups.push(((o.op_type, o.name), id, Vec::new()));
            groups.len() - 1
        });
        groups[g].2.push(o.end - o.start);
        ev.extend([(o.start, 1, id), (o.end, -1, id)]);
    }
    let (overall, per_name) = max_concurrency(ev, name_ids.len());
    // In groupby order: by type, then name.
    groups.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let stats: Vec<(String, OpStats)> = groups
        .into_iter()
        .map(|((t, n), id, mut d)| {
            let avg = np_mean(&d);
            let mc = per_name[id as usize];
            d.sort_by(f64::total_cmp);
            (
                format!("{t}:{n}"),
                OpStats {
                    op_type: t,
                    name: n.to_string(),
                    usage_count: d.len(),
                    avg_duration: avg,
                    p95_duration: np_percentile_sorted(&d, 95.0),
                    p99_duration: np_percentile_sorted(&d, 99.0),
                    max_concurrency: mc,
                    bottleneck_score: avg * mc as f64,
                },
            )
        })
        .collect();
    let mut top: Vec<&OpStats> = stats.iter().map(|(_, s)| s).collect();
    top.sort_by(|a, b| b.bottleneck_score.total_cmp(&a.bottleneck_score));
    let mut lines = vec![
        "---- BOTTLENECK REPORT ----".to_string(),
        format!("Total distinct operations found: {}", stats.len()),
        format!("Overall max concurrency (all ops): {overall}"),
        "Top 3 Bottlenecks by bottleneck_score (avg_duration * max_concurrency):".to_string(),
    ];
    for (i, s) in top.iter().take(3).enumerate() {
        lines.push(format!(
            "{}) {} '{}': score={}, avg_dur={}, max_concurrency={}",
            i + 1,
            s.op_type,
            s.name,
            fixed(s.bottleneck_score, 2),
            fixed(s.avg_duration, 2),
            s.max_concurrency
        ));
    }
    SimpleStack {
        stats,
        summary: lines.join("\n"),
    }
}

/// The analysis as NAT writes it.
pub fn to_json(s: &SimpleStack) -> Value {
    let mut m = Map::new();
    for (k, o) in &s.stats {
        m.insert(
            k.clone(),
            json!({"operation_type": o.op_type, "operation_name": o.name, "usage_count": o.usage_count,
                   "avg_duration": o.avg_duration, "p95_duration": o.p95_duration, "p99_duration": o.p99_duration,
                   "max_concurrency": o.max_concurrency, "bottleneck_score": o.bottleneck_score}),
        );
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// One sort of every operation's events gives the maxima NAT's sorts give: the
        /// overall one over the running trace, and each name's over its own events, sorted
        /// apart, from 0. Times repeat (ties keep the events' order), ends may come before
        /// starts, and some are NaN.
        #[test]
        fn one_sort_gives_each_names_max_concurrency(
            ops in proptest::collection::vec(
                (proptest::sample::select(vec![0.0, 1.0, 2.0, 3.0, -0.0, f64::NAN]),
                 proptest::sample::select(vec![0.0, 1.0, 2.0, 3.0, f64::NAN]),
                 0u32..3),
                1..24,
            ),
        ) {
            let events = |ops: &mut dyn Iterator<Item = &(f64, f64, u32)>| {
                let mut ev: Vec<(f64, i64)> =
                    ops.flat_map(|&(s, e, _)| [(s, 1), (e, -1)]).collect();
                ev.sort_by(|a, b| a.0.total_cmp(&b.0));
                ev.into_iter().map(|(_, d)| d).scan(0, |cur, d| {
                    *cur += d;
                    Some(*cur)
                }).collect::<Vec<i64>>()
            };
            let overall = events(&mut ops.iter()).into_iter().max().unwrap();
            let per_name: Vec<i64> = (0..3)
                .map(|n| {
                    let running = events(&mut ops.iter().filter(|o| o.2 == n));
                    running.into_iter().fold(0, i64::max)
                })
                .collect();
            let ev = ops.iter().flat_map(|&(s, e, n)| [(s, 1, n), (e, -1, n)]).collect();
            proptest::prop_assert_eq!(max_concurrency(ev, 3), (overall, per_name));
        }

        /// Ordering by the prefix, then by the string on a tie, is ordering by the string:
        /// short strings, NULs and long common prefixes included.
        #[test]
        fn the_sort_prefix_orders_as_the_strings(
            a in "(0123456789abcdef-){0,2}[\\x00-\\x02a-c]{0,20}",
            b in "(0123456789abcdef-){0,2}[\\x00-\\x02a-c]{0,20}",
        ) {
            let by_prefix = sort_prefix(&a).cmp(&sort_prefix(&b)).then_with(|| a.cmp(&b));
            proptest::prop_assert_eq!(by_prefix, a.cmp(&b));
        }
    }
}
