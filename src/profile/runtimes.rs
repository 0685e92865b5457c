//! `workflow_runtimes` (`inference_optimization/workflow_runtimes.py:compute_workflow_runtime_metrics`):
//! numpy percentiles of per-example `max - min` event timestamps.

use serde_json::{json, Value};

use crate::frame::Frame;
use crate::numeric::np_percentile;
use crate::profile::confidence::workflow_run_times;

/// The workflow runtimes' mean, 90th and 95th percentiles.
pub fn workflow_runtimes(frame: &Frame) -> [f64; 3] {
    let rt = workflow_run_times(frame);
    if rt.is_empty() {
        return [0.0; 3];
    }
    [90.0, 95.0, 99.0].map(|p| np_percentile(&rt, p))
}

/// The runtimes as NAT writes them.
pub fn to_json(p: &[f64; 3]) -> Value {
    json!({"p90": p[0], "p95": p[1], "p99": p[2]})
}
