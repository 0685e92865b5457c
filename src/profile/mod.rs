//! The analyses, one file each; every one takes only the [`Frame`].

pub mod confidence;
pub mod prefixes;
pub mod runtimes;
pub mod uniqueness;

use serde_json::{json, Value};

use crate::config::ProfilerConfig;
use crate::frame::Frame;
use crate::trace::ist::IstTrace;

/// `all_requests_profiler_traces.json`: every request re-numbered in file order, each step
/// as `IntermediateStep.model_dump()` (all fields, `null` for None), as NAT's runner writes it.
pub fn traces_json(trace: &IstTrace) -> Value {
    Value::Array(
        trace
            .requests
            .iter()
            .enumerate()
            .map(|(i, r)| json!({"request_number": i, "intermediate_steps": r.intermediate_steps}))
            .collect(),
    )
}

/// `inference_optimization.json` (`InferenceOptimizationHolder`), key order as NAT's.
pub fn inference_optimization(frame: &Frame, cfg: &ProfilerConfig) -> Value {
    let prefixes = cfg.prompt_caching_prefixes.enable.then(|| {
        prefixes::to_json(&prefixes::common_prefixes(
            frame,
            cfg.prompt_caching_prefixes.min_frequency,
        ))
    });
    let uniqueness = cfg
        .token_uniqueness_forecast
        .then(|| uniqueness::to_json(&uniqueness::token_uniqueness(frame)));
    let runtimes = (cfg.workflow_runtime_forecast || cfg.base_metrics)
        .then(|| runtimes::to_json(&runtimes::workflow_runtimes(frame)));
    json!({
        "confidence_intervals": confidence::to_json(frame),
        "common_prefixes": prefixes,
        "token_uniqueness": uniqueness,
        "workflow_runtimes": runtimes,
        "dynamo_metrics": null,
    })
}
