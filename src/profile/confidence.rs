//! The three "simple metrics" of `inference_optimization.json:confidence_intervals`
//! (`profile_runner.py`: `_compute_workflow_run_time_confidence_intervals`,
//! `_compute_llm_latency_confidence_intervals`, `_compute_throughput_estimates`,
//! `_compute_confidence_intervals`).

use serde_json::{json, Value};

use super::Flavor;
use crate::event::EventType;
use crate::frame::Frame;
use crate::numeric::{nat_percentile, py_mean, py_pstdev};

const Z: [f64; 3] = [1.645, 1.96, 2.576];

/// NAT's `InferenceMetricsModel`, with its unvalidated integer defaults.
#[derive(Debug, Clone, PartialEq)]
pub enum Ci {
    /// No data: every field the int `0` (`"p90": 0`, `[0, 0]`).
    Empty,
    /// Data: n, mean, the three (lower, upper) intervals and percentiles.
    Values {
        /// How many values.
        n: usize,
        /// Their mean.
        mean: f64,
        /// The 90 %, 95 % and 99 % confidence intervals.
        intervals: [(f64, f64); 3],
        /// `None` for the throughput estimate, whose percentiles stay the int `0`.
        percentiles: Option<[f64; 3]>,
    },
}

impl Ci {
    /// The metric as NAT writes it.
    pub fn to_json(&self) -> Value {
        match self {
            Ci::Empty => {
                json!({"n": 0, "mean": 0, "ninetieth_interval": [0, 0], "ninety_fifth_interval": [0, 0],
                                "ninety_ninth_interval": [0, 0], "p90": 0, "p95": 0, "p99": 0})
            }
            Ci::Values {
                n,
                mean,
                intervals,
                percentiles,
            } => {
                let p = |i: usize| percentiles.map_or(json!(0), |p| json!(p[i]));
                json!({
                    "n": n, "mean": mean,
                    "ninetieth_interval": [intervals[0].0, intervals[0].1],
                    "ninety_fifth_interval": [intervals[1].0, intervals[1].1],
                    "ninety_ninth_interval": [intervals[2].0, intervals[2].1],
                    "p90": p(0), "p95": p(1), "p99": p(2),
                })
            }
        }
    }
}

/// `_compute_confidence_intervals`: exact mean and population stdev, z-intervals, NAT's percentiles.
pub fn confidence_intervals(data: &[f64]) -> Ci {
    let Some(mean) = py_mean(data) else {
        return Ci::Empty;
    };
    let n = data.len();
    if n <= 1 {
        return Ci::Values {
            n,
            mean,
            intervals: [(mean, mean); 3],
            percentiles: Some([mean; 3]),
        };
    }
    let se = py_pstdev(data).expect("non-empty") / (n as f64).sqrt();
    let intervals = Z.map(|z| {
        let margin = z * se;
        (mean - margin, mean + margin)
    });
    let mut sorted = data.to_vec();
    sorted.sort_by(f64::total_cmp);
    let percentiles = Some([90.0, 95.0, 99.0].map(|p| nat_percentile(&sorted, p)));
    Ci::Values {
        n,
        mean,
        intervals,
        percentiles,
    }
}

/// Per request (requests without events skipped): last minus first event timestamp.
pub fn workflow_run_times(frame: &Frame) -> Vec<f64> {
    frame
        .rows_by_example()
        .into_iter()
        .map(|(_, idx)| {
            let ts = idx.iter().map(|&i| frame.rows[i].event_timestamp);
            let max = ts.clone().fold(f64::NEG_INFINITY, f64::max);
            let min = ts.fold(f64::INFINITY, f64::min);
            max - min
        })
        .collect()
}

/// Per request, events in time order (stable): each LLM_END after an LLM_START gives
/// `end - most recent start` (no UUID matching: quirk Q1).
pub(crate) fn llm_latencies(frame: &Frame) -> Vec<f64> {
    let mut out = Vec::new();
    for (_, idx) in frame.rows_by_example_in_time() {
        let mut prev: Option<f64> = None;
        for i in idx {
            let r = &frame.rows[i];
            match r.event_type {
                EventType::LLM_START => prev = Some(r.event_timestamp),
                EventType::LLM_END => {
                    if let Some(p) = prev.take() {
                        out.push(r.event_timestamp - p);
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// `_compute_throughput_estimates`: requests per second of the whole time window;
/// percentiles stay 0 (quirk Q23). NAT 1.9.0 counts every request (empty ones included);
/// 1.6.0rc1 counts the examples that have rows.
pub fn throughput(frame: &Frame, flavor: Flavor) -> Ci {
    if frame.rows.is_empty() {
        return Ci::Empty;
    }
    let ts = frame.rows.iter().map(|r| r.event_timestamp);
    let total = ts.clone().fold(f64::NEG_INFINITY, f64::max) - ts.fold(f64::INFINITY, f64::min);
    let n = match flavor {
        Flavor::Nat190 => frame.examples,
        Flavor::Nat160rc1 => frame.rows_by_example().len(),
    };
    if total <= 0.0 || n <= 1 {
        return Ci::Empty;
    }
    let thr = n as f64 / total;
    let se = thr / (n as f64).sqrt();
    let intervals = Z.map(|z| ((thr - z * se).max(0.0), thr + z * se));
    Ci::Values {
        n,
        mean: thr,
        intervals,
        percentiles: None,
    }
}

/// The `confidence_intervals` object.
pub fn to_json(frame: &Frame, flavor: Flavor) -> Value {
    json!({
        "workflow_run_time_confidence_intervals": confidence_intervals(&workflow_run_times(frame)).to_json(),
        "llm_latency_confidence_intervals": confidence_intervals(&llm_latencies(frame)).to_json(),
        "throughput_estimate_confidence_interval": throughput(frame, flavor).to_json(),
    })
}
