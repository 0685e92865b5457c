//! Per-request timelines of both paths, for the HTML report: the calls (workflow functions,
//! tools, LLM calls, spans) of a request as NAT's nested-stack analysis builds them from each
//! path's frame — the rows of NAT's Gantt chart — matched call by call, so that a call the
//! ATIF path moved, lost or added shows as such.
//!
//! Calls are matched by (type, name, occurrence): the k-th `LLM:gpt-4o` of the IST path with
//! the k-th of the ATIF path. A matched call whose start or end differs by more than
//! [`MOVED_S`] is *moved*; an IST call without a match is *missing*, an ATIF call without one
//! *added*. Only a few requests per item are kept ([`REQUESTS`], chosen among the first
//! [`CANDIDATES`] by most calls not the same), each with at most [`MAX_ROWS`] rows: the report
//! stays small on any corpus.

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::frame::Frame;
use crate::profile::nested_stack::{build_request, CallForest, Families};

/// Requests kept per item and builder.
pub const REQUESTS: usize = 3;
/// The requests (the first by number) among which they are chosen.
pub const CANDIDATES: usize = 64;
/// Rows kept per request (calls beyond are counted, not drawn).
pub const MAX_ROWS: usize = 200;
/// A matched call whose start or end differs by more than this (seconds) is moved: ten
/// microseconds, ten times the precision of an ATIF timestamp.
pub const MOVED_S: f64 = 1e-5;

/// How a call of one path relates to the other path's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// On both paths, with the same times.
    Same,
    /// On both paths, at other times.
    Moved,
    /// On the IST path only.
    Missing,
    /// On the ATIF path only.
    Added,
}

/// One call's times on one path, in seconds from the request's first call (either path).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Times {
    /// Its start.
    pub start: f64,
    /// Its end.
    pub end: f64,
}

/// One row of a request's timeline: a call, its times on each path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// `LLM`, `TOOL` or `FUNCTION` (spans are drawn as functions, as NAT draws them).
    pub kind: String,
    /// The call's name.
    pub name: String,
    /// Its depth in the call tree (0 = top level), on the IST path when it is there.
    pub depth: usize,
    /// Its times on the IST path, when it is there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ist: Option<Times>,
    /// Its times on the ATIF path, when it is there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atif: Option<Times>,
    /// Same, moved, missing or added.
    pub status: Status,
}

/// One request's timeline: its calls on both paths, on one time axis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestTimeline {
    /// The request (NAT's `example_number`).
    pub request: usize,
    /// The time axis' origin, seconds since the epoch: the request's first call on either path.
    pub origin: f64,
    /// The rows, in IST start order, then the calls only the ATIF path has, in its start order.
    pub rows: Vec<Row>,
    /// Rows beyond [`MAX_ROWS`], not kept.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub more: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl RequestTimeline {
    /// Rows whose call is not the same on both paths.
    pub fn changed(&self) -> usize {
        self.rows
            .iter()
            .filter(|r| r.status != Status::Same)
            .count()
    }
}

/// The first [`CANDIDATES`] request numbers of `frame`.
fn candidates(frame: &Frame) -> Vec<usize> {
    let mut numbers: Vec<usize> = frame.rows.iter().map(|r| r.example_number()).collect();
    numbers.sort_unstable();
    numbers.dedup();
    numbers.truncate(CANDIDATES);
    numbers
}

/// The rows of `frame` of each request in `numbers`, in that order.
fn rows_of(frame: &Frame, numbers: &[usize]) -> Vec<Vec<usize>> {
    let slot: FxHashMap<usize, usize> = numbers.iter().enumerate().map(|(i, &n)| (n, i)).collect();
    let mut rows = vec![Vec::new(); numbers.len()];
    for (i, r) in frame.rows.iter().enumerate() {
        if let Some(&k) = slot.get(&r.example_number()) {
            rows[k].push(i);
        }
    }
    rows
}

/// A call forest's calls in start order (ties in the order first seen), each with its key
/// (type, name, occurrence) and depth.
fn calls(forest: &CallForest) -> Vec<((&'static str, String, usize), usize, Times)> {
    let mut order: Vec<usize> = (0..forest.nodes.len()).collect();
    order.sort_by(|&a, &b| {
        forest.nodes[a]
            .start
            .total_cmp(&forest.nodes[b].start)
            .then(a.cmp(&b))
    });
    let mut seen: FxHashMap<(&'static str, &str), usize> = FxHashMap::default();
    order
        .into_iter()
        .map(|i| {
            let n = &forest.nodes[i];
            let k = seen.entry((n.op_type, n.name.as_str())).or_default();
            *k += 1;
            let mut depth = 0;
            let mut p = n.parent;
            while let Some(j) = p {
                depth += 1;
                p = forest.nodes[j].parent;
            }
            let times = Times {
                start: n.start,
                end: n.end,
            };
            ((n.op_type, n.name.to_string(), *k), depth, times)
        })
        .collect()
}

/// Seconds from `origin`, to the microsecond (the report's numbers are stable).
fn rel(t: f64, origin: f64) -> f64 {
    ((t - origin) * 1e6).round() / 1e6
}

/// The timeline of one request from each path's call forest.
pub fn request_timeline(request: usize, ist: &CallForest, atif: &CallForest) -> RequestTimeline {
    let (left, right) = (calls(ist), calls(atif));
    let origin = left
        .iter()
        .chain(&right)
        .map(|c| c.2.start)
        .fold(f64::INFINITY, f64::min);
    let origin = if origin.is_finite() { origin } else { 0.0 };
    let at = |t: Times| Times {
        start: rel(t.start, origin),
        end: rel(t.end, origin),
    };
    let mut on_right: FxHashMap<&(&'static str, String, usize), usize> =
        right.iter().enumerate().map(|(i, c)| (&c.0, i)).collect();
    let mut rows: Vec<Row> = left
        .iter()
        .map(|(key, depth, t)| {
            let other = on_right.remove(key).map(|i| right[i].2);
            let status = match other {
                None => Status::Missing,
                Some(o)
                    if (o.start - t.start).abs() > MOVED_S || (o.end - t.end).abs() > MOVED_S =>
                {
                    Status::Moved
                }
                Some(_) => Status::Same,
            };
            Row {
                kind: key.0.into(),
                name: key.1.clone(),
                depth: *depth,
                ist: Some(at(*t)),
                atif: other.map(at),
                status,
            }
        })
        .collect();
    let mut added: Vec<usize> = on_right.into_values().collect();
    added.sort_unstable();
    rows.extend(added.into_iter().map(|i| {
        let (key, depth, t) = &right[i];
        Row {
            kind: key.0.into(),
            name: key.1.clone(),
            depth: *depth,
            ist: None,
            atif: Some(at(*t)),
            status: Status::Added,
        }
    }));
    let more = rows.len().saturating_sub(MAX_ROWS);
    rows.truncate(MAX_ROWS);
    RequestTimeline {
        request,
        origin,
        rows,
        more,
    }
}

/// Per builder (one ATIF frame each), the timelines of up to [`REQUESTS`] requests: among
/// the first [`CANDIDATES`] requests of the IST frame, those with the most calls not the same
/// (the first by number on ties, and the first request when every call is the same), in
/// request order. Calls are built as the nested-stack analysis builds them.
pub fn timelines(ist: &Frame, atif: &[Frame]) -> Vec<Vec<RequestTimeline>> {
    let numbers = candidates(ist);
    let forests = |frame: &Frame| -> Vec<CallForest> {
        rows_of(frame, &numbers)
            .iter()
            .map(|rows| build_request(frame, rows, Families::All))
            .collect()
    };
    let ist_forests = forests(ist);
    atif.iter()
        .map(|frame| {
            let all: Vec<RequestTimeline> = numbers
                .iter()
                .zip(&ist_forests)
                .zip(forests(frame))
                .map(|((&n, left), right)| request_timeline(n, left, &right))
                .collect();
            // Most changed first (stable: the first by number on ties), then in request order.
            let mut rank: Vec<usize> = (0..all.len()).collect();
            rank.sort_by_key(|&i| std::cmp::Reverse(all[i].changed()));
            rank.truncate(REQUESTS);
            all.into_iter()
                .enumerate()
                .filter(|(i, _)| rank.contains(i))
                .map(|(_, t)| t)
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::nested_stack::CallNode;

    fn forest(calls: &[(&'static str, &str, f64, f64, Option<usize>)]) -> CallForest {
        let mut f = CallForest::default();
        for (i, &(op, name, start, end, parent)) in calls.iter().enumerate() {
            f.nodes.push(CallNode {
                uuid: arcstr::format!("u{i}"),
                op_type: op,
                name: name.into(),
                start,
                end,
                duration: end - start,
                children: vec![],
                parent,
                end_row: None,
            });
            match parent {
                Some(p) => f.nodes[p].children.push(i),
                None => f.roots.push(i),
            }
        }
        f
    }

    #[test]
    fn calls_match_by_type_name_and_occurrence() {
        let ist = forest(&[
            ("FUNCTION", "agent", 100.0, 110.0, None),
            ("LLM", "gpt", 101.0, 102.0, Some(0)),
            ("TOOL", "calc", 103.0, 104.0, Some(0)),
            ("LLM", "gpt", 105.0, 106.0, Some(0)),
        ]);
        // The ATIF path: the first LLM call starts later, the tool is lost, a span is added.
        let atif = forest(&[
            ("FUNCTION", "agent", 100.0, 110.0, None),
            ("LLM", "gpt", 101.5, 102.0, Some(0)),
            ("LLM", "gpt", 105.0, 106.0, Some(0)),
            ("FUNCTION", "span", 107.0, 108.0, Some(0)),
        ]);
        let t = request_timeline(4, &ist, &atif);
        let status: Vec<(&str, Status, usize)> = t
            .rows
            .iter()
            .map(|r| (r.name.as_str(), r.status, r.depth))
            .collect();
        assert_eq!(
            status,
            [
                ("agent", Status::Same, 0),
                ("gpt", Status::Moved, 1),
                ("calc", Status::Missing, 1),
                ("gpt", Status::Same, 1),
                ("span", Status::Added, 1),
            ]
        );
        assert_eq!(t.origin, 100.0);
        assert_eq!(
            t.rows[1].atif,
            Some(Times {
                start: 1.5,
                end: 2.0
            })
        );
        assert_eq!(t.rows[2].atif, None);
        assert_eq!(t.changed(), 3);
    }

    #[test]
    fn a_shift_within_timestamp_precision_is_not_a_move() {
        let ist = forest(&[("LLM", "gpt", 100.0, 101.0, None)]);
        let atif = forest(&[("LLM", "gpt", 100.000_001, 101.0, None)]);
        assert_eq!(
            request_timeline(0, &ist, &atif).rows[0].status,
            Status::Same
        );
    }

    #[test]
    fn the_most_changed_requests_are_kept_in_request_order() {
        let (ist, frames) = crate::drift::testing::corpus_frames(
            "react_calculator",
            &[crate::frame::from_atif::Builder::Pr1751],
            &crate::config::ProfilerConfig::all_on(),
        );
        let t = timelines(&ist, &frames);
        assert_eq!(t.len(), 1);
        let kept = &t[0];
        assert!(!kept.is_empty() && kept.len() <= REQUESTS);
        assert!(kept.windows(2).all(|w| w[0].request < w[1].request));
        assert!(kept.iter().all(|r| !r.rows.is_empty()));
        // No request left out has more changed calls than one kept.
        let least = kept.iter().map(RequestTimeline::changed).min().unwrap();
        let numbers = candidates(&ist);
        let (left, right) = (rows_of(&ist, &numbers), rows_of(&frames[0], &numbers));
        for (k, &n) in numbers.iter().enumerate() {
            if kept.iter().any(|t| t.request == n) {
                continue;
            }
            let a = build_request(&ist, &left[k], Families::All);
            let b = build_request(&frames[0], &right[k], Families::All);
            assert!(request_timeline(n, &a, &b).changed() <= least);
        }
    }
}
