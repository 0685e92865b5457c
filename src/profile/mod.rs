//! The analyses, one file each; every one takes only the [`Frame`].

pub mod concurrency_spikes;
pub mod confidence;
pub mod forecast;
pub mod nested_stack;
pub mod prefix_span;
pub mod prefixes;
pub mod pyfloat;
pub mod runtimes;
pub mod simple_stack;
pub mod trie;
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

/// `workflow_profiling_report.txt` and `workflow_profiling_metrics.json`, or `None` when no
/// section is enabled (NAT then writes neither file).
pub fn workflow_profiling(frame: &Frame, cfg: &ProfilerConfig) -> Option<(String, Value)> {
    let mut report = String::new();
    let mut metrics = serde_json::Map::new();
    if cfg.bottleneck_analysis.enable_simple_stack {
        let s = simple_stack::simple_stack(frame, simple_stack::EndOnly::Skip);
        report.push_str("\n\n\n");
        report.push_str(&s.summary);
        metrics.insert("simple_stack_analysis".into(), simple_stack::to_json(&s));
    }
    if cfg.bottleneck_analysis.enable_nested_stack {
        let n = nested_stack::nested_stack(frame);
        report.push_str("\n\n\n");
        report.push_str(&n.report);
        metrics.insert("nested_stack_analysis".into(), nested_stack::to_json(&n));
    }
    if cfg.concurrency_spike_analysis.enable {
        let c = concurrency_spikes::concurrency_spikes(
            frame,
            cfg.concurrency_spike_analysis.spike_threshold,
        );
        report.push_str("\n\n\n");
        report.push_str(&c.report);
        metrics.insert(
            "concurrency_spike_analysis".into(),
            concurrency_spikes::to_json(&c),
        );
    }
    if cfg.prefix_span_analysis.enable {
        let p = prefix_span::prefix_span(frame, &cfg.prefix_span_analysis);
        report.push_str("\n\n\n");
        report.push_str(&p.report);
        metrics.insert("prefix_span_analysis".into(), prefix_span::to_json(&p));
    }
    (!metrics.is_empty()).then(|| (report, Value::Object(metrics)))
}
