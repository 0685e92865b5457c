//! The analyses, one file each; every one takes only the [`Frame`]. [`run`] computes every
//! output of one profiler run, as the files NAT writes.

pub mod concurrency_spikes;
pub mod confidence;
pub mod forecast;
pub mod gantt;
pub mod nested_stack;
pub mod prefix_span;
pub mod prefixes;
pub mod pyfloat;
pub mod runtimes;
pub mod simple_stack;
pub mod trie;
pub mod uniqueness;

use serde_json::{json, Value};

use serde::Serialize;

use crate::config::ProfilerConfig;
use crate::frame::{csv, nova, Frame};

/// Which NAT's analyses to reproduce where they differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Flavor {
    /// NAT 1.9.0, the IST profiler.
    Nat190,
    /// nvidia-nat-profiler 1.6.0rc1, the ATIF-native profiler (PR #1751 line): throughput
    /// counts examples with rows; END-only tool groups count in the simple stack; the
    /// forecasting matrices come from the frame; the trace dump is the frame's flat rows.
    Nat160rc1,
}

/// One output file: JSON files are kept as values and the CSV as its cells, rendered as NAT
/// writes them (`json.dump` with indent 2, pandas' `to_csv`) only when asked for their
/// text, so that the drift run compares them without printing and re-parsing them.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// A text file.
    Text(String),
    /// A JSON file.
    Json(Value),
    /// A CSV file's cells (`standardized_data_all.csv`).
    Table(csv::Table),
}

impl Content {
    /// The file's text, as NAT writes it.
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Content::Text(t) => std::borrow::Cow::Borrowed(t),
            Content::Json(v) => std::borrow::Cow::Owned(crate::pyjson::dumps(v)),
            Content::Table(t) => std::borrow::Cow::Owned(t.to_csv()),
        }
    }

    /// [`Content::text`] written to `w` (a CSV a row at a time, without its whole text).
    pub fn write_to(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        match self {
            Content::Table(t) => t.write_csv(w),
            other => w.write_all(other.text().as_bytes()),
        }
    }
}

/// Every file of one profiler run, in NAT's write order: (file name, content).
#[derive(Debug, Clone, PartialEq)]
pub struct Outputs {
    /// Each file's name and content, in NAT's order.
    pub files: Vec<(String, Content)>,
}

impl Outputs {
    /// A file's text, as NAT writes it.
    pub fn get(&self, name: &str) -> Option<std::borrow::Cow<'_, str>> {
        self.content(name).map(Content::text)
    }

    /// The content of the file `name`.
    pub fn content(&self, name: &str) -> Option<&Content> {
        self.files.iter().find(|(n, _)| n == name).map(|(_, c)| c)
    }
}

/// A JSON object from owned values, keys in the order given. `json!` passes every value
/// expression through `to_value`, which deep-copies a `Value` subtree: the big outputs
/// (node metrics, spike intervals, forecasts) are assembled with this instead.
pub(crate) fn object<const N: usize>(entries: [(&str, Value); N]) -> Value {
    Value::Object(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

/// A group of output files one analysis pass writes; [`run`] writes them in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// `standardized_data_all.csv`.
    Csv,
    /// `inference_optimization.json`.
    InferenceOptimization,
    /// `workflow_profiling_report.txt` and `workflow_profiling_metrics.json`.
    WorkflowProfiling,
    /// The prediction trie (`prediction_trie.json` by default).
    PredictionTrie,
    /// `forecast.json`.
    Forecast,
}

impl Unit {
    /// Every unit, in NAT's order of its files.
    pub const ALL: [Unit; 5] = [
        Unit::Csv,
        Unit::InferenceOptimization,
        Unit::WorkflowProfiling,
        Unit::PredictionTrie,
        Unit::Forecast,
    ];

    /// Whether the unit reads the LLM text columns (the CSV writes them; the
    /// inference-optimization analyses compare prompts). Those that do come first in
    /// [`Unit::ALL`], so the drift frees the texts after them.
    pub fn reads_llm_texts(self) -> bool {
        matches!(self, Unit::Csv | Unit::InferenceOptimization)
    }
}

/// Add the NOVA columns to `frame` when the configuration asks for them (before any unit).
pub fn prepare(frame: &mut Frame, cfg: &ProfilerConfig) {
    if cfg.compute_llm_metrics && !frame.is_empty() {
        frame.nova = Some(nova::compute(frame));
    }
}

/// The CSV unit's file.
pub const CSV_FILE: &str = "standardized_data_all.csv";

/// How the configuration asks for the CSV to be written.
pub fn csv_options(cfg: &ProfilerConfig) -> csv::CsvOptions {
    csv::CsvOptions {
        exclude_io_text: cfg.csv_exclude_io_text,
    }
}

/// The files of one unit on a [`prepare`]d frame, in NAT's write order; none when NAT would
/// not write them (analysis off; every analysis after the CSV on an empty frame, where
/// NAT's first frame-based analysis raises on a frame without columns).
pub fn unit(frame: &Frame, cfg: &ProfilerConfig, flavor: Flavor, unit: Unit) -> Outputs {
    use Content::{Json, Text};
    let mut files = Vec::new();
    match unit {
        Unit::Csv => files.push((
            CSV_FILE.into(),
            Content::Table(csv::table(frame, csv_options(cfg))),
        )),
        _ if frame.is_empty() => {}
        Unit::InferenceOptimization => files.push((
            "inference_optimization.json".into(),
            Json(inference_optimization(frame, cfg, flavor)),
        )),
        Unit::WorkflowProfiling => {
            if let Some((report, metrics)) = workflow_profiling(frame, cfg, flavor) {
                files.push(("workflow_profiling_report.txt".into(), Text(report)));
                files.push(("workflow_profiling_metrics.json".into(), Json(metrics)));
            }
        }
        Unit::PredictionTrie => {
            if cfg.prediction_trie.enable {
                let t =
                    trie::prediction_trie(frame, &cfg.prediction_trie, &trie::generated_at(frame));
                files.push((cfg.prediction_trie.output_filename.clone(), Json(t)));
            }
        }
        Unit::Forecast => {
            if cfg.token_usage_forecast {
                files.push((
                    "forecast.json".into(),
                    Json(forecast::forecast(frame, flavor)),
                ));
            }
        }
    }
    Outputs { files }
}

/// Which profiler to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProfilePath {
    /// NAT 1.9.0 on IntermediateSteps.
    Ist,
    /// The frame built from ATIF by `Builder`.
    Atif(crate::frame::from_atif::Builder),
}

impl ProfilePath {
    /// The analyses' behaviour: 1.6.0rc1's for `pr1751` (NAT's ATIF-native profiler),
    /// 1.9.0's otherwise.
    pub fn flavor(self) -> Flavor {
        match self {
            ProfilePath::Atif(crate::frame::from_atif::Builder::Pr1751) => Flavor::Nat160rc1,
            _ => Flavor::Nat190,
        }
    }
}

/// Run the profiler on a frame. `traces` is the `all_requests_profiler_traces.json` value
/// (the IST dump, or the frame's flat rows on the ATIF path); `None` leaves that file out.
/// The NOVA columns are added to `frame` when the configuration asks for them; the units
/// only read the frame and run side by side (rayon), files in NAT's order; with `gantt`,
/// `gantt_chart.svg` last.
pub fn run(
    frame: &mut Frame,
    traces: Option<Value>,
    cfg: &ProfilerConfig,
    flavor: Flavor,
    gantt: bool,
) -> Outputs {
    use rayon::prelude::*;
    prepare(frame, cfg);
    let frame = &*frame;
    let units: Vec<Outputs> = Unit::ALL
        .par_iter()
        .map(|&u| unit(frame, cfg, flavor, u))
        .collect();
    let files = traces
        .map(|t| {
            (
                "all_requests_profiler_traces.json".to_string(),
                Content::Json(t),
            )
        })
        .into_iter()
        .chain(units.into_iter().flat_map(|o| o.files))
        .chain(gantt.then(|| {
            let svg = gantt::gantt_svg(frame);
            ("gantt_chart.svg".to_string(), Content::Text(svg))
        }))
        .collect();
    Outputs { files }
}

/// `all_requests_profiler_traces.json` of NAT's ATIF-native profiler
/// (`dataframe_to_profiler_traces`): per example with rows, each frame row as a flat dict.
pub fn flat_traces_json(frame: &Frame) -> Value {
    Value::Array(flat_trace_requests(frame).collect())
}

/// [`flat_traces_json`] written as `pyjson::dumps` writes it, a request at a time (the
/// file is about as large as the input trace; it is never held whole).
pub fn write_flat_traces(frame: &Frame, w: &mut dyn std::io::Write) -> std::io::Result<()> {
    crate::pyjson::write_list(flat_trace_requests(frame), w)
}

/// The elements of [`flat_traces_json`], made one at a time.
fn flat_trace_requests(frame: &Frame) -> impl Iterator<Item = Value> + '_ {
    frame
        .rows_by_example()
        .into_iter()
        .enumerate()
        .map(|(i, (_, idx))| flat_trace_request(frame, i, &idx))
}

/// Request `i` of [`flat_traces_json`]: the rows `idx` of the frame.
fn flat_trace_request(frame: &Frame, i: usize, idx: &[usize]) -> Value {
    let t = |v: &Option<crate::frame::Text>, d: &str| v.as_deref().unwrap_or(d).to_string();
    let steps: Vec<Value> = idx
        .iter()
        .map(|&k| {
            let r = &frame.rows[k];
            let tokens = json!({"prompt_tokens": r.prompt_tokens().unwrap_or(0),
                                "completion_tokens": r.completion_tokens().unwrap_or(0),
                                "total_tokens": r.total_tokens().unwrap_or(0)});
            let (fname, fid) = (t(&r.function_name, "root"), t(&r.function_id, "root"));
            let (pname, pid) = (t(&r.parent_function_name, ""), t(&r.parent_function_id, ""));
            json!({
                "event_timestamp": r.event_timestamp,
                "span_event_timestamp": r.span_event_timestamp(),
                "event_type": r.event_type.as_str(),
                "framework": r.framework.as_deref(),
                "payload": {"UUID": t(&r.uuid, "")},
                "token_usage": tokens,
                "llm_text_input": t(&r.llm_text_input, ""),
                "llm_text_output": t(&r.llm_text_output, ""),
                "llm_text_chunk": t(&r.llm_new_token, ""),
                "llm_name": t(&r.llm_name, ""),
                "tool_name": t(&r.tool_name, ""),
                "function_name": fname,
                "function_id": fid,
                "parent_function_name": pname,
                "parent_function_id": pid,
                "function_ancestry": {"function_name": fname, "function_id": fid,
                                      "parent_name": pname, "parent_id": pid},
                "usage_info": {"token_usage": tokens},
            })
        })
        .collect();
    object([
        ("request_number", json!(i)),
        ("intermediate_steps", Value::Array(steps)),
    ])
}

/// `inference_optimization.json` (`InferenceOptimizationHolder`), key order as NAT's.
pub fn inference_optimization(frame: &Frame, cfg: &ProfilerConfig, flavor: Flavor) -> Value {
    let ((confidence, prefixes), (uniqueness, runtimes)) = rayon::join(
        || {
            rayon::join(
                || confidence::to_json(frame, flavor),
                || {
                    cfg.prompt_caching_prefixes.enable.then(|| {
                        prefixes::to_json(&prefixes::common_prefixes(
                            frame,
                            cfg.prompt_caching_prefixes.min_frequency,
                        ))
                    })
                },
            )
        },
        || {
            rayon::join(
                || {
                    cfg.token_uniqueness_forecast
                        .then(|| uniqueness::to_json(&uniqueness::token_uniqueness(frame)))
                },
                || {
                    (cfg.workflow_runtime_forecast || cfg.base_metrics)
                        .then(|| runtimes::to_json(&runtimes::workflow_runtimes(frame)))
                },
            )
        },
    );
    let opt = |v: Option<Value>| v.unwrap_or(Value::Null);
    object([
        ("confidence_intervals", confidence),
        ("common_prefixes", opt(prefixes)),
        ("token_uniqueness", opt(uniqueness)),
        ("workflow_runtimes", opt(runtimes)),
        ("dynamo_metrics", Value::Null),
    ])
}

/// `workflow_profiling_report.txt` and `workflow_profiling_metrics.json`, or `None` when no
/// section is enabled (NAT then writes neither file).
pub fn workflow_profiling(
    frame: &Frame,
    cfg: &ProfilerConfig,
    flavor: Flavor,
) -> Option<(String, Value)> {
    use rayon::prelude::*;
    let sections: Vec<Option<Analysis>> = (0..WORKFLOW_SECTIONS.len())
        .into_par_iter()
        .map(|k| workflow_analysis(frame, cfg, flavor, k))
        .collect();
    let mut report = String::new();
    let mut metrics = serde_json::Map::new();
    for a in sections.into_iter().flatten() {
        report.push_str("\n\n\n");
        report.push_str(a.report());
        metrics.insert(a.key().into(), a.metrics());
    }
    (!metrics.is_empty()).then(|| (report, Value::Object(metrics)))
}

/// The analyses of the workflow profiling files, in NAT's order: their keys in
/// `workflow_profiling_metrics.json` (each analysis's report is a part of
/// `workflow_profiling_report.txt`, in the same order).
pub const WORKFLOW_SECTIONS: [&str; 4] = [
    "simple_stack_analysis",
    "nested_stack_analysis",
    "concurrency_spike_analysis",
    "prefix_span_analysis",
];

/// One analysis of the workflow profiling files, as computed: its report, its metrics as
/// NAT writes them, and (for the drift) its metrics apart from the members that grow with
/// the calls, which the drift reads typed from the analysis itself.
pub enum Analysis {
    /// The simple-stack bottleneck analysis.
    SimpleStack(simple_stack::SimpleStack),
    /// The nested-stack analysis; `timeline_segments` and `node_metrics` grow with the calls.
    Nested(nested_stack::Nested),
    /// The concurrency-spike analysis; `spike_intervals` grows with the calls.
    Spikes(concurrency_spikes::SpikeAnalysis),
    /// PrefixSpan pattern mining.
    PrefixSpan(prefix_span::PrefixSpanResult),
}

impl Analysis {
    /// Its key in `workflow_profiling_metrics.json`, one of [`WORKFLOW_SECTIONS`].
    pub fn key(&self) -> &'static str {
        WORKFLOW_SECTIONS[match self {
            Analysis::SimpleStack(_) => 0,
            Analysis::Nested(_) => 1,
            Analysis::Spikes(_) => 2,
            Analysis::PrefixSpan(_) => 3,
        }]
    }

    /// Its part of `workflow_profiling_report.txt`.
    pub fn report(&self) -> &str {
        match self {
            Analysis::SimpleStack(s) => &s.summary,
            Analysis::Nested(n) => &n.report,
            Analysis::Spikes(c) => &c.report,
            Analysis::PrefixSpan(p) => &p.report,
        }
    }

    /// Its report, taken out (the analysis then holds an empty one): the drift keeps the
    /// nested-stack analysis for its typed members, not its report.
    pub fn take_report(&mut self) -> String {
        std::mem::take(match self {
            Analysis::SimpleStack(s) => &mut s.summary,
            Analysis::Nested(n) => &mut n.report,
            Analysis::Spikes(c) => &mut c.report,
            Analysis::PrefixSpan(p) => &mut p.report,
        })
    }

    /// Its metrics, as NAT writes them.
    pub fn metrics(&self) -> Value {
        match self {
            Analysis::SimpleStack(s) => simple_stack::to_json(s),
            Analysis::Nested(n) => nested_stack::to_json(n),
            Analysis::Spikes(c) => concurrency_spikes::to_json(c),
            Analysis::PrefixSpan(p) => prefix_span::to_json(p),
        }
    }

    /// [`Analysis::metrics`] without the members that grow with the calls (the whole
    /// metrics for the analyses that have none).
    pub fn fixed_metrics(&self) -> Value {
        match self {
            Analysis::Nested(n) => nested_stack::fixed_json(n),
            Analysis::Spikes(c) => concurrency_spikes::fixed_json(c),
            other => other.metrics(),
        }
    }
}

/// Analysis `k` of [`WORKFLOW_SECTIONS`]; `None` when the configuration turns it off.
pub fn workflow_analysis(
    frame: &Frame,
    cfg: &ProfilerConfig,
    flavor: Flavor,
    k: usize,
) -> Option<Analysis> {
    let b = &cfg.bottleneck_analysis;
    Some(match WORKFLOW_SECTIONS.get(k).copied()? {
        "simple_stack_analysis" if b.enable_simple_stack => {
            Analysis::SimpleStack(simple_stack::simple_stack(
                frame,
                match flavor {
                    Flavor::Nat190 => simple_stack::EndOnly::Skip,
                    Flavor::Nat160rc1 => simple_stack::EndOnly::FromSpanStart,
                },
            ))
        }
        "nested_stack_analysis" if b.enable_nested_stack => {
            Analysis::Nested(nested_stack::nested_stack(frame))
        }
        "concurrency_spike_analysis" if cfg.concurrency_spike_analysis.enable => {
            Analysis::Spikes(concurrency_spikes::concurrency_spikes(
                frame,
                cfg.concurrency_spike_analysis.spike_threshold,
            ))
        }
        "prefix_span_analysis" if cfg.prefix_span_analysis.enable => {
            Analysis::PrefixSpan(prefix_span::prefix_span(frame, &cfg.prefix_span_analysis))
        }
        _ => return None,
    })
}
