//! `atif-drift`: the command line. Parses arguments, calls the library, renders.
//! Exit codes: 0 = success / no drift over threshold, 1 = drift over threshold or an
//! invalid file, 2 = error (unreadable input, bad arguments).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use atif_drift::convert::{ist_to_atif, ConvertOptions};
use atif_drift::drift::policy::PolicySource;
use atif_drift::drift::spec::PathSpec;
use atif_drift::loss::Keep;
use atif_drift::trace::{load_file, LoadOptions, Trace};
use atif_drift::{corpus, report, validate};
use clap::{Parser, Subcommand, ValueEnum};

atif_drift::use_jemalloc!();

/// Does moving a NAT profiler from IntermediateStep traces to ATIF change what it says?
///
/// atif-drift runs NVIDIA NeMo Agent Toolkit (NAT)'s profiler on IntermediateStep traces
/// (`all_requests_profiler_traces.json`) exactly as NAT 1.9.0 does, and on ATIF trajectories
/// (v1.0–v1.8) either as NAT's own ATIF-native profiler does or with a faithful mapping;
/// `drift` runs both over a corpus and reports what changed and why. It also converts IST
/// to ATIF as NAT does, ATOF to ATIF as NeMo Relay does (with LLM-span dedupe), traces to
/// mooncake JSONL as Dynamo does, and validates ATIF.
///
/// Typical use: `atif-drift drift corpus/ --policy drift.toml --builder both`.
///
/// Input formats are detected from the content: an IST request list, one ATIF
/// trajectory, a list of trajectories, NAT eval's `workflow_output_atif.json`, JSONL of
/// trajectories, ATOF event streams.
#[derive(Parser)]
#[command(name = "atif-drift", version, about, long_about, max_term_width = 100)]
struct Cli {
    /// Refuse input files larger than this many bytes.
    #[arg(long, global = true, default_value_t = LoadOptions::default().max_file_size, value_name = "BYTES")]
    max_file_size: u64,

    /// Refuse input documents nested deeper than this many arrays/objects (at most 127, the
    /// JSON parser's own limit).
    #[arg(
        long,
        global = true,
        default_value_t = LoadOptions::default().max_depth,
        value_name = "LEVELS",
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=atif_drift::trace::load::MAX_DEPTH as u64)
    )]
    max_depth: usize,

    /// Threads to use (items, outputs and external profilers run side by side); default:
    /// one per core.
    #[arg(long, short = 'j', global = true, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,

    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum ToFormat {
    /// ATIF v1.7, as NAT 1.9.0's IntermediateStepToATIFConverter writes it.
    Atif,
    /// Mooncake JSONL for aiperf replay, as Dynamo's NAT converter writes it (IST or ATIF input).
    Mooncake,
}

/// Options of `--to mooncake` (Dynamo's converter flags).
#[derive(clap::Args)]
#[command(next_help_heading = "Mooncake (--to mooncake)")]
struct MooncakeArgs {
    /// Tokens per hash block.
    #[arg(long, default_value_t = atif_drift::mooncake::DEFAULT_BLOCK_SIZE, value_name = "N")]
    block_size: usize,
    /// A HuggingFace tokenizer.json (e.g. your model's). Default: cl100k_base, built in.
    /// input_length equals Dynamo's only with the tokenizer Dynamo used.
    #[arg(long, value_name = "FILE")]
    tokenizer: Option<PathBuf>,
    /// Milliseconds written as `delay` on every turn of a session after its first.
    #[arg(long, default_value_t = atif_drift::mooncake::DEFAULT_DELAY_MS, value_name = "MS")]
    delay: u64,
    /// Write no `delay` field.
    #[arg(long, conflicts_with = "delay")]
    no_delay: bool,
    /// Skip the first N requests (trajectories).
    #[arg(long, default_value_t = 0, value_name = "N")]
    skip_requests: usize,
    /// Export at most M requests (after --skip-requests).
    #[arg(long, value_name = "M")]
    num_requests: Option<usize>,
}

#[derive(Clone, Copy, ValueEnum)]
enum PathArg {
    /// NAT 1.9.0's profiler on IntermediateSteps.
    Ist,
    /// The analyses on a frame built from ATIF (IST input is converted first).
    Atif,
}

#[derive(Clone, Copy, ValueEnum)]
enum BuilderArg {
    /// NAT's own ATIF-native profiler (PR #1751, nvidia-nat-profiler 1.6.0rc1), its analyses included.
    Pr1751,
    /// Recover the IST frame as closely as ATIF allows; NAT 1.9.0's analyses.
    Faithful,
}

impl From<BuilderArg> for atif_drift::frame::from_atif::Builder {
    fn from(b: BuilderArg) -> Self {
        match b {
            BuilderArg::Pr1751 => atif_drift::frame::from_atif::Builder::Pr1751,
            BuilderArg::Faithful => atif_drift::frame::from_atif::Builder::Faithful,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum DriftBuilderArg {
    Pr1751,
    Faithful,
    Both,
}

impl DriftBuilderArg {
    /// The builders chosen, in report order.
    fn builders(self) -> Vec<atif_drift::frame::from_atif::Builder> {
        use atif_drift::frame::from_atif::Builder;
        match self {
            DriftBuilderArg::Pr1751 => vec![Builder::Pr1751],
            DriftBuilderArg::Faithful => vec![Builder::Faithful],
            DriftBuilderArg::Both => Builder::ALL.to_vec(),
        }
    }
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum FromFormat {
    /// NAT's IntermediateStep trace (detected).
    Ist,
    /// ATIF (detected).
    Atif,
    /// ATOF events (detected).
    Atof,
    /// OpenAI-style telemetry JSONL (`llm_call` events; --to mooncake only, as Dynamo's
    /// convert_telemetry.py). Not detected: say --from telemetry.
    Telemetry,
}

#[derive(Clone, Copy, ValueEnum)]
enum DedupeArg {
    /// NeMo Relay 0.10.4's rule.
    Relay,
    /// The stricter rule: one span per observer per call, deterministic tie-break.
    Strict,
}

impl From<DedupeArg> for atif_drift::atof::dedupe::Mode {
    fn from(d: DedupeArg) -> Self {
        match d {
            DedupeArg::Relay => Self::Relay,
            DedupeArg::Strict => Self::Strict,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum ReportFormat {
    /// The verdict, an overview and the unexpected patterns, fit to the terminal.
    Table,
    /// Summary first, then per item its patterns (a step summary, a PR comment).
    Markdown,
    /// The schema-versioned JSON report, every value whole.
    Json,
    /// One self-contained page: heatmap, request timelines of both paths, patterns.
    Html,
    /// JUnit XML for any CI: a suite per item × builder, a test case per output, a failure
    /// per unexpected pattern.
    Junit,
}

impl From<ReportFormat> for atif_drift::app::ReportFormat {
    fn from(f: ReportFormat) -> Self {
        match f {
            ReportFormat::Table => Self::Table,
            ReportFormat::Markdown => Self::Markdown,
            ReportFormat::Json => Self::Json,
            ReportFormat::Html => Self::Html,
            ReportFormat::Junit => Self::Junit,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum OutFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Cmd {
    /// Convert a trace to another format.
    ///
    /// IST → ATIF follows NAT 1.9.0's converter rule for rule: one trajectory per request
    /// (session id `request-<n>`), written as a JSON list like NAT's `convert_to_atif.py`.
    ///
    /// IST or ATIF → mooncake follows Dynamo's NAT converter: one row per LLM call
    /// (`session_id` conv_<request>, input_length, output_length, hash_ids, delay). From
    /// ATIF without prompt text (NAT's), input_length is the recorded prompt_tokens and
    /// hash_ids is empty. A truncated IST file is recovered request by request.
    ///
    /// ATOF → ATIF follows NeMo Relay 0.10.4's AtifExporter: one trajectory (subagents
    /// nested), LLM spans observed twice merged by --dedupe (relay: Relay's rule; strict:
    /// the stricter one).
    ///
    /// Examples:
    ///   atif-drift convert corpus/react_calculator/all_requests_profiler_traces.json --to atif -o atif.json
    ///   atif-drift convert corpus/react_calculator/all_requests_profiler_traces.json --to mooncake -o trace.jsonl
    ///   atif-drift convert events.json --from atof --to atif --dedupe strict -o trajectory.json
    #[command(verbatim_doc_comment)]
    Convert(ConvertArgs),
    /// Does this binary reproduce the NAT outputs stored beside each trace?
    ///
    /// For every item of the corpus (a `nat eval` output directory: the trace, its config.yml
    /// and the files NAT's profiler wrote), runs our IST path with the item's configuration
    /// and compares each output with NAT's file: byte for byte, else with only the listed
    /// deliberate differences allowed (`atif-drift differences`). Prints the NAT version when
    /// the item records it.
    ///
    /// Exit 0: every stored output reproduced; 1: some output differs (its patterns are
    /// listed); 2: an item could not be profiled, or no NAT output is stored anywhere.
    ///
    /// Example: atif-drift conform path/to/eval_output/
    #[command(verbatim_doc_comment)]
    Conform(ConformArgs),
    /// Validate ATIF files against the ATIF schema of their version and the export checklist.
    ///
    /// Exit 0: every file valid (warnings allowed); 1: some file invalid; 2: some file
    /// unreadable. Every problem is printed with its JSON path.
    ///
    /// Example: atif-drift validate corpus/*/nat_atif.json
    Validate(ValidateArgs),
    /// Run the profiler on a trace and write NAT's output files to a directory.
    ///
    /// `--path ist` is NAT 1.9.0's profiler (every file byte-identical or JSON-equal to NAT's);
    /// `--path atif` builds the frame from ATIF (IST input is converted first) with NAT's own
    /// ATIF-native mapping (`--builder pr1751`) or the faithful one. Files:
    /// all_requests_profiler_traces.json, standardized_data_all.csv,
    /// inference_optimization.json, workflow_profiling_metrics.json,
    /// workflow_profiling_report.txt, prediction_trie.json, forecast.json (as the
    /// configuration asks).
    ///
    /// Example: atif-drift profile corpus/sample/all_requests_profiler_traces.json --path ist -o out/
    Profile(ProfileArgs),
    /// Does the ATIF path say what the IST path says? Run both on every corpus item and
    /// report every difference, classified by the policy.
    ///
    /// An item is a directory with an IST trace (all_requests_profiler_traces.json), its ATIF
    /// (nat_atif.json or workflow_output_atif.json; converted from the IST when absent) and its
    /// NAT config.yml (every analysis on when absent). Exit 0: no drift beyond the policy's
    /// expectations; 1: unexpected drift; 2: an input failed to load or an item failed.
    ///
    /// Without --policy the built-in policy for NAT runs is used (the reviewed drift.toml of
    /// atif-drift's repository: NAT's known ATIF losses, each with its reason; `atif-drift
    /// policy show` prints it); `--policy none` expects nothing.
    ///
    /// Examples:
    ///   atif-drift drift path/to/nat_eval_output/
    ///   atif-drift drift path/to/nat_eval_output/ --out drift-report/
    ///   atif-drift drift corpus/ --policy my-drift.toml --format markdown
    ///
    /// Any two paths (--left, --right): our IST and ATIF paths, the outputs stored in each
    /// item's directory, or an external profiler defined in the policy file:
    ///   atif-drift drift path/to/nat_eval_output/ --left stored:. --right ist --policy none
    ///   atif-drift drift corpus/ --policy nat.toml --left cmd:nat_ist --right cmd:nat_atif
    ///
    /// --out writes report.html (heatmap, request timelines), report.md, report.json and
    /// junit.xml; --format prints one of them.
    #[command(verbatim_doc_comment)]
    Drift(DriftArgs),
    /// Which of ATIF's losses causes which drift, measured.
    ///
    /// Each item's IST trace is converted to ATIF with every loss applied (NAT's converter),
    /// with each loss applied alone, with all but one, and with none (`convert --keep`); the
    /// faithful builder runs on each, and each variant's drift against the IST path is
    /// counted per analysis. The report ranks the losses, splits each analysis's drift by
    /// loss with the interaction remainder (what only losses together cause), checks the
    /// policy's `loss =` labels against the measurement, and splits pr1751's drift into what
    /// ATIF's losses explain and what PR #1751's mapping adds.
    ///
    /// Exit 0: measured, the full-fidelity ATIF drifts nowhere and no label is wrong;
    /// 1: a wrong label or full-fidelity drift (a builder error); 2: an item failed.
    ///
    /// Examples:
    ///   atif-drift attribute corpus/
    ///   atif-drift attribute corpus/ --format markdown --out attribution/
    #[command(verbatim_doc_comment)]
    Attribute(AttributeArgs),
    /// Merge drift reports (JSON) of several partitions into one, and exit as `drift` would.
    MergeReports(MergeReportsArgs),
    /// LLM-span dedupe of an ATOF event stream: which spans are one provider call.
    ///
    /// `--mode relay` applies NeMo Relay 0.10.4's rule (its ATIF exporter's), `--mode strict`
    /// the stricter rule with a deterministic tie-break (see `atif_drift::atof::dedupe`).
    ///
    /// Example: atif-drift dedupe tests/data/relay/d1_equal_fidelity_tie.events.json --mode strict
    Dedupe(DedupeArgs),
    /// Generate agent runs (nested agents, overlapping and repeated LLM calls, parallel and
    /// failing tools, hook + gateway observations) as corpus items.
    ///
    /// Each run goes to DIR/seed-<n>/: all_requests_profiler_traces.json (IST),
    /// atof_events.json (ATOF) and run.json (the ground truth). The same seed gives the same
    /// files on every machine. `--from-json run.json` writes a saved run (e.g. a shrunk
    /// failing property case) instead.
    ///
    /// Example: atif-drift gen --seed 1 --count 3 -o corpus/generated
    Gen(GenArgs),
    /// Print every deliberate difference from NAT, with its reason.
    Differences(DifferencesArgs),
    /// List every file of a corpus: what it is, how big, and whether it loads.
    ///
    /// Exit 2 when a file fails to load (the others are still listed).
    Inventory(InventoryArgs),
    /// The drift policy: `policy show` prints the built-in one.
    #[command(subcommand)]
    Policy(PolicyCmd),
}

/// What `policy` does.
#[derive(Subcommand)]
enum PolicyCmd {
    /// Print the built-in policy (TOML): a starting point for your own `--policy FILE`.
    Show,
    /// Measure a corpus's drift and write a policy whose expectations carry bounds: each
    /// expectation that explained drift gets the largest drift it explained (plus --margin)
    /// as its bounds, and drift nothing explains gets a new bounded expectation whose reason
    /// says it is still to be explained. Comments and hand-written reasons are kept.
    ///
    /// Examples:
    ///   atif-drift policy suggest eval_out/ -o drift.toml
    ///   atif-drift policy suggest corpus/ --update drift.toml -o drift.toml --margin 0.2
    #[command(verbatim_doc_comment)]
    Suggest(SuggestArgs),
}

/// The arguments of `policy suggest`.
#[derive(clap::Args)]
struct SuggestArgs {
    /// Corpus directories.
    #[arg(required = true)]
    corpus: Vec<PathBuf>,
    /// The policy to start from and update; default: the built-in one.
    #[arg(long, value_name = "FILE")]
    update: Option<PathBuf>,
    /// Which ATIF builder(s) to measure.
    #[arg(long, value_enum, default_value = "both")]
    builder: DriftBuilderArg,
    /// How far above the largest drift seen each bound is set (0.1: 10 %).
    #[arg(long, default_value_t = 0.1)]
    margin: f64,
    /// The bounds to measure. `values` grows with a run's size: leave it out of a policy
    /// meant for other runs.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "share,rel,rows"
    )]
    bounds: Vec<BoundArg>,
    /// The policy file to write (it may be the --update file).
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
}

/// A bound `policy suggest` measures.
#[derive(Clone, Copy, ValueEnum)]
enum BoundArg {
    /// max_values: differing values per item × builder.
    Values,
    /// max_share: share of the output's compared values.
    Share,
    /// max_abs: largest numeric difference.
    Abs,
    /// max_rel: largest relative difference.
    Rel,
    /// rows = "same" where no value was on one side only.
    Rows,
}

/// The arguments of `attribute`.
#[derive(clap::Args)]
struct AttributeArgs {
    /// Corpus directories.
    #[arg(required = true)]
    corpus: Vec<PathBuf>,
    /// The policy whose `loss =` labels are checked: a TOML file, `builtin` or `none`.
    #[arg(long, value_name = "FILE|builtin|none", default_value = "builtin", value_parser = parse_policy)]
    policy: PolicySource,
    /// What to print.
    #[arg(long, value_enum, default_value = "table")]
    format: AttributeFormat,
    /// Also write attribution.json and attribution.md into this directory.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Leave out pr1751's split (one drift run per item fewer).
    #[arg(long)]
    no_pr1751: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum AttributeFormat {
    /// Tables fit to the terminal.
    Table,
    /// Markdown (a README section, a PR comment).
    Markdown,
    /// The schema-versioned JSON report.
    Json,
}

/// The arguments of `convert`.
#[derive(clap::Args)]
struct ConvertArgs {
    /// The input trace (IST or ATOF; ATIF, or telemetry JSONL with --from telemetry, for
    /// --to mooncake).
    input: PathBuf,
    /// The input's format. Always detected from the content; when given, it must match.
    #[arg(long, value_enum)]
    from: Option<FromFormat>,
    /// ATOF → ATIF: how LLM spans observed twice are merged.
    #[arg(long, value_enum, default_value = "relay")]
    dedupe: DedupeArg,
    /// ATOF → ATIF: the trajectory's session id (Relay's exporter takes it as an argument).
    #[arg(long, default_value = "atof-session")]
    session_id: String,
    /// ATOF → ATIF: the agent version to write.
    #[arg(long, default_value = "0.0.0")]
    agent_version: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "atif")]
    to: ToFormat,
    /// Where to write the result (`-` for standard output).
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
    /// Agent name to write (default: NAT's, `nat-agent` or the workflow function name).
    #[arg(long)]
    agent_name: Option<String>,
    /// IST → ATIF: the losses to put back, each under `extra` keys named after it on the
    /// step or tool call it describes: `none` (NAT's converter output, byte for byte), `all`
    /// (the full-fidelity projection, from which the faithful builder rebuilds the IST
    /// frame exactly), or a list such as `prompt-text,llm-start-time`. The losses:
    /// prompt-text, streamed-chunks, llm-start-time, tool-start-time, step-uuid,
    /// workflow-times, spans-and-custom, usage-extras, step-parent-id, event-kinds,
    /// event-order (ARCHITECTURE.md, "The full-fidelity ATIF").
    #[arg(long, value_name = "LOSSES", default_value = "none", value_parser = parse_keep)]
    keep: Keep,
    /// Telemetry input: skip a line that is not a JSON object, or an llm_call without
    /// session_id or timestamp, with a warning (default: an error naming the line).
    #[arg(long)]
    skip_bad_lines: bool,
    #[command(flatten)]
    mooncake: MooncakeArgs,
}

/// The arguments of `conform`.
#[derive(clap::Args)]
struct ConformArgs {
    /// Corpus directories (or `nat eval` output directories).
    #[arg(required = true)]
    corpus: Vec<PathBuf>,
}

/// The arguments of `validate`.
#[derive(clap::Args)]
struct ValidateArgs {
    /// ATIF files: one trajectory, a list, NAT eval output, or JSONL.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Treat warnings as errors.
    #[arg(long)]
    deny_warnings: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: OutFormat,
}

/// The arguments of `profile`.
#[derive(clap::Args)]
struct ProfileArgs {
    /// The input trace: IST, or ATIF in any layout (for --path atif).
    input: PathBuf,
    /// Which path to run.
    #[arg(long, value_enum, default_value = "ist")]
    path: PathArg,
    /// How the ATIF path builds its frame.
    #[arg(long, value_enum, default_value = "pr1751")]
    builder: BuilderArg,
    /// Output directory (created if missing). It is written whole: it ends up holding this
    /// run's files and nothing else, or is left untouched on an error. A directory holding
    /// other files is refused (see --force).
    #[arg(short, long, value_name = "DIR")]
    output: PathBuf,
    /// Replace an output directory that holds files this command does not write.
    #[arg(long)]
    force: bool,
    /// A NAT workflow YAML: its `eval.general.profiler` section is the configuration
    /// (NAT defaults for missing keys). Default: every analysis on.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// NAT's `csv_exclude_io_text`: leave the three text columns out of the CSV.
    #[arg(long)]
    csv_exclude_io_text: bool,
    /// NAT's `compute_llm_metrics` off: no NOVA columns.
    #[arg(long)]
    no_llm_metrics: bool,
    /// Also write `gantt_chart.svg`: every call on one time axis, the picture NAT writes as
    /// `gantt_chart.png`.
    #[arg(long)]
    gantt: bool,
}

/// The arguments of `drift`.
#[derive(clap::Args)]
struct DriftArgs {
    /// Corpus directories.
    #[arg(required = true)]
    corpus: Vec<PathBuf>,
    /// The drift policy (tolerances and expected drift with reasons): a TOML file,
    /// `builtin` (NAT's known ATIF losses; `atif-drift policy show` prints it) or `none`.
    #[arg(long, value_name = "FILE|builtin|none", default_value = "builtin", value_parser = parse_policy)]
    policy: PolicySource,
    /// Which ATIF builder(s) to compare with the IST path: shorthand for --right
    /// atif:pr1751 and/or --right atif:faithful.
    #[arg(long, value_enum, default_value = "both")]
    builder: DriftBuilderArg,
    /// The left path: `ist` (our IST path, NAT 1.9.0's profiler), `atif:pr1751`,
    /// `atif:faithful`, `stored:SUBDIR` (outputs already in each item's directory:
    /// `stored:.` = the files NAT wrote beside the trace, `stored:atif_native` = a
    /// subdirectory) or `cmd:NAME` (an external profiler: `[paths.NAME]` of the --policy
    /// file, run once per item).
    #[arg(long, value_name = "SPEC", default_value = "ist")]
    left: PathSpec,
    /// A right path, compared with the left one (repeatable; default: `atif:` each
    /// --builder). The same forms as --left.
    #[arg(long, value_name = "SPEC", conflicts_with = "builder")]
    right: Vec<PathSpec>,
    /// Cache the outputs of `cmd:` paths in this directory, by command, input and
    /// configuration: a rerun on unchanged items does not run the command again.
    #[arg(long, value_name = "DIR")]
    cache: Option<PathBuf>,
    /// Classify the drift of `stored:` and `cmd:` right sides with the policy's
    /// expectations for this builder (a command's own `expect_as` wins); otherwise only
    /// the expectations that name no builder apply to them.
    #[arg(long, value_enum, value_name = "BUILDER")]
    expect_as: Option<BuilderArg>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: ReportFormat,
    /// Also write report.json, report.md, report.html and junit.xml to this directory
    /// (written whole; checked before the run; a directory holding other files is refused,
    /// see --force).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Replace an --out directory that holds files this command does not write.
    #[arg(long, requires = "out")]
    force: bool,
    /// Run only partition K of N (items in path order, round robin), e.g. 2/3; merge the
    /// partitions' JSON reports with `merge-reports`.
    #[arg(long, value_name = "K/N")]
    partition: Option<String>,
    /// Also measure which ATIF losses produce each pattern (`attribute`, about 3× the
    /// time): every pattern of our ATIF paths names them, a `loss =` label the measurement
    /// contradicts is marked, the Markdown report ends with the attribution, and --out also
    /// writes attribution.json and attribution.md.
    #[arg(long, conflicts_with_all = ["left", "right"])]
    explain: bool,
    #[command(flatten)]
    ratchet: BaselineArgs,
    #[command(flatten)]
    verbosity: VerbosityArgs,
}

/// The baseline ratchet's arguments (`drift`, `merge-reports`).
#[derive(clap::Args)]
struct BaselineArgs {
    /// Compare with this earlier JSON report: the run fails (exit 1) when any item ×
    /// builder × pattern's drift grew (more values, a larger difference, a new pattern), not
    /// on the policy's unexpected drift; what shrank is listed.
    #[arg(long, value_name = "REPORT")]
    baseline: Option<PathBuf>,
    /// Write this run's JSON report here, as a later run's baseline (it may be the file
    /// --baseline reads: a renewal).
    #[arg(long, value_name = "FILE")]
    write_baseline: Option<PathBuf>,
}

/// How much the table format shows.
#[derive(clap::Args)]
struct VerbosityArgs {
    /// Print only the verdict (PASS, FAIL or ERROR, with counts).
    #[arg(short, long, conflicts_with = "verbose")]
    quiet: bool,
    /// Also print every output, every pattern with an example, the mooncake replay and the
    /// builders side by side.
    #[arg(short, long)]
    verbose: bool,
}

impl VerbosityArgs {
    fn level(&self) -> atif_drift::report::terminal::Verbosity {
        use atif_drift::report::terminal::Verbosity;
        match (self.quiet, self.verbose) {
            (true, _) => Verbosity::Quiet,
            (_, true) => Verbosity::Verbose,
            _ => Verbosity::Normal,
        }
    }
}

/// The arguments of `mergereports`.
#[derive(clap::Args)]
struct MergeReportsArgs {
    /// JSON reports written by `drift --format json` or `--out`.
    #[arg(required = true)]
    reports: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: ReportFormat,
    #[command(flatten)]
    ratchet: BaselineArgs,
    #[command(flatten)]
    verbosity: VerbosityArgs,
}

/// The arguments of `dedupe`.
#[derive(clap::Args)]
struct DedupeArgs {
    /// ATOF events (a JSON list or JSONL).
    input: PathBuf,
    #[arg(long, value_enum, default_value = "relay")]
    mode: DedupeArg,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: OutFormat,
}

/// The arguments of `gen`.
#[derive(clap::Args)]
struct GenArgs {
    /// First seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Number of runs (seeds seed, seed+1, …).
    #[arg(long, default_value_t = 1)]
    count: u64,
    /// A run.json to write instead of generated runs.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["seed", "count"])]
    from_json: Option<PathBuf>,
    /// Output directory.
    #[arg(short, long)]
    output: PathBuf,
    /// Replace a run's directory that holds files gen does not write.
    #[arg(long)]
    force: bool,
}

/// The arguments of `differences`.
#[derive(clap::Args)]
struct DifferencesArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: OutFormat,
}

/// The arguments of `inventory`.
#[derive(clap::Args)]
struct InventoryArgs {
    /// Corpus directory (or a single file).
    corpus: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: OutFormat,
}

/// Set first thing by the interrupt handler, which then exits 130.
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Interrupted: no temporary file or staging directory is left behind (the final names
    // were never touched), and the exit code says so (128 + SIGINT).
    let _ = ctrlc::set_handler(|| {
        INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
        atif_drift::job::sides::command::kill_running();
        atif_drift::fsio::remove_tracked();
        eprintln!("interrupted: no partial output left behind");
        std::process::exit(130);
    });
    if let Some(n) = cli.jobs {
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(usize::from(n))
            .build_global();
    }
    // A panic is a bug, but still an error of the run: exit 2, never a verdict.
    let result = std::panic::catch_unwind(move || run(cli));
    // Interrupted: the run may have failed because the handler removed its staging
    // directory; the handler's exit (130) is the run's, not that failure's (2).
    if !matches!(result, Ok(Ok(_))) && INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
        loop {
            std::thread::park();
        }
    }
    match result {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
        Err(_) => {
            eprintln!("error: internal error (the message above); please report it");
            ExitCode::from(2)
        }
    }
}

/// Write to standard output (a closed pipe keeps the verdict's exit code).
fn out(text: &str) {
    atif_drift::app::print_stdout(text);
}

/// Write an output file atomically (`-`: standard output).
fn write_output(path: &Path, text: &str) -> anyhow::Result<()> {
    if path.as_os_str() == "-" {
        out(text);
        return Ok(());
    }
    Ok(atif_drift::fsio::write_atomic(path, text.as_bytes())?)
}

/// Refuse to write `output` when it is one of `inputs` (`-o IN` would replace the input).
fn refuse_input_as_output(output: &Path, inputs: &[&Path]) -> anyhow::Result<()> {
    if output.as_os_str() == "-" {
        return Ok(());
    }
    Ok(atif_drift::fsio::refuse_overwriting_inputs(
        output, inputs, false,
    )?)
}

fn suggest_policy(a: SuggestArgs, opts: LoadOptions) -> anyhow::Result<ExitCode> {
    use atif_drift::drift::suggest::Bound;
    let cmd = atif_drift::app::SuggestCommand {
        corpora: a.corpus,
        builders: a.builder.builders(),
        base: a.update,
        bounds: a
            .bounds
            .iter()
            .map(|b| match b {
                BoundArg::Values => Bound::Values,
                BoundArg::Share => Bound::Share,
                BoundArg::Abs => Bound::Abs,
                BoundArg::Rel => Bound::Rel,
                BoundArg::Rows => Bound::Rows,
            })
            .collect(),
        margin: a.margin,
        output: a.output.clone(),
        load: opts,
    };
    if !(a.margin >= 0.0 && a.margin.is_finite()) {
        bail!("--margin {}: expected a share, 0 or more", a.margin);
    }
    let (bounded, added) = atif_drift::app::suggest_policy(&cmd)?;
    eprintln!(
        "wrote {}: {bounded} expectations bounded, {added} added (their reasons are to be written)",
        a.output.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn parse_policy(arg: &str) -> Result<PolicySource, std::convert::Infallible> {
    Ok(PolicySource::parse(std::ffi::OsStr::new(arg)))
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let opts = LoadOptions {
        max_file_size: cli.max_file_size,
        max_depth: cli.max_depth,
    };
    match cli.cmd {
        Cmd::Convert(a) => match a.to {
            ToFormat::Mooncake => convert_mooncake(a, opts),
            ToFormat::Atif => convert_atif(a, opts),
        },
        Cmd::Conform(a) => {
            let items = atif_drift::conform::conform(&a.corpus, &opts)?;
            out(&report::conform::render(&items));
            Ok(ExitCode::from(atif_drift::conform::exit_code(&items)))
        }
        Cmd::Validate(a) => validate(a, opts),
        Cmd::Attribute(a) => attribute(a, opts),
        Cmd::Profile(a) => profile(a, opts),
        Cmd::Drift(a) => drift(a, opts),
        Cmd::MergeReports(a) => merge_reports(a),
        Cmd::Dedupe(a) => dedupe(a, opts),
        Cmd::Gen(a) => gen(a),
        Cmd::Differences(a) => differences(a),
        Cmd::Inventory(a) => inventory(a, opts),
        Cmd::Policy(PolicyCmd::Show) => {
            out(atif_drift::drift::policy::BUILTIN);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Policy(PolicyCmd::Suggest(a)) => suggest_policy(a, opts),
    }
}

fn convert_mooncake(
    ConvertArgs {
        input,
        from,
        output,
        mooncake: m,
        skip_bad_lines,
        ..
    }: ConvertArgs,
    opts: LoadOptions,
) -> anyhow::Result<ExitCode> {
    use atif_drift::mooncake as mc;
    refuse_input_as_output(&output, &[&input])?;
    let tok = match &m.tokenizer {
        Some(p) => mc::Tokenizer::from_file(p)?,
        None => mc::Tokenizer::cl100k(),
    };
    let mopts = mc::Options {
        block_size: m.block_size,
        delay: (!m.no_delay).then_some(m.delay),
        skip_requests: m.skip_requests,
        num_requests: m.num_requests,
    };
    if from == Some(FromFormat::Telemetry) {
        let (rows, warnings) =
            mc::telemetry::convert_file(&input, &tok, m.block_size, skip_bad_lines, &opts)?;
        for w in &warnings {
            eprintln!("warning: {w}");
        }
        write_output(&output, &mc::telemetry::to_jsonl(&rows))?;
        eprintln!(
            "wrote {} mooncake rows from llm_call events ({} tokenizer, block size {}) -> {}",
            rows.len(),
            tok.name(),
            m.block_size,
            output.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let (sessions, mut warnings) = mc::sessions_of_file(&input, &opts)?;
    let export = mc::rows(&sessions, &tok, &mopts)?;
    warnings.extend(export.warnings);
    for w in &warnings {
        eprintln!("warning: {}: {w}", input.display());
    }
    write_output(&output, &mc::to_jsonl(&export.rows))?;
    let without_text = export
        .rows
        .iter()
        .filter(|r| r.source == mc::InputSource::PromptTokens)
        .count();
    eprintln!(
        "wrote {} mooncake rows ({} tokenizer, block size {}) -> {}",
        export.rows.len(),
        tok.name(),
        m.block_size,
        output.display()
    );
    if without_text > 0 {
        eprintln!("note: {without_text} rows have no prompt text in the input: input_length is the recorded prompt_tokens and hash_ids is empty");
    }
    Ok(ExitCode::SUCCESS)
}

fn attribute(a: AttributeArgs, opts: LoadOptions) -> anyhow::Result<ExitCode> {
    use atif_drift::report::attribution as render;
    let r = atif_drift::app::attribute(&atif_drift::app::AttributeCommand {
        corpora: a.corpus,
        policy: a.policy,
        pr1751: !a.no_pr1751,
        load: opts,
    })?;
    let json = format!("{}\n", serde_json::to_string_pretty(&r)?);
    let md = render::markdown(&r);
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir)?;
        atif_drift::fsio::write_atomic(&dir.join("attribution.json"), json.as_bytes())?;
        atif_drift::fsio::write_atomic(&dir.join("attribution.md"), md.as_bytes())?;
    }
    let width =
        atif_drift::app::terminal_style(atif_drift::report::terminal::Verbosity::Normal).width;
    out(&match a.format {
        AttributeFormat::Table => render::table(&r, width.min(u16::MAX as usize) as u16),
        AttributeFormat::Markdown => md,
        AttributeFormat::Json => json,
    });
    let failed = r.items.iter().any(|i| i.error.is_some());
    let builder_error = r
        .items
        .iter()
        .flat_map(|i| &i.analyses)
        .any(|x| x.full_fidelity > 0);
    let wrong = r.patterns.iter().any(|p| p.verdict == "wrong");
    Ok(ExitCode::from(match (failed, builder_error || wrong) {
        (true, _) => 2,
        (false, true) => 1,
        (false, false) => 0,
    }))
}

fn parse_keep(s: &str) -> Result<Keep, String> {
    Keep::parse(s)
}

fn convert_atif(
    ConvertArgs {
        input,
        from,
        output,
        agent_name,
        dedupe,
        session_id,
        agent_version,
        keep,
        ..
    }: ConvertArgs,
    opts: LoadOptions,
) -> anyhow::Result<ExitCode> {
    refuse_input_as_output(&output, &[&input])?;
    if from == Some(FromFormat::Telemetry) {
        bail!(
            "{}: telemetry converts to mooncake rows only (--to mooncake)",
            input.display()
        );
    }
    let trace = load_file(&input, &opts)?;
    let detected = match &trace {
        Trace::Ist(_) => FromFormat::Ist,
        Trace::Atif(_) => FromFormat::Atif,
        Trace::Atof(_) => FromFormat::Atof,
    };
    if from.is_some_and(|f| f != detected) {
        bail!(
            "{}: --from says otherwise, but the file is {}",
            input.display(),
            trace.kind()
        );
    }
    if !keep.is_empty() && !matches!(trace, Trace::Ist(_)) {
        bail!(
            "{}: is {}: --keep puts back what NAT's IST → ATIF conversion loses (IST input)",
            input.display(),
            trace.kind()
        );
    }
    if let Trace::Atof(events) = &trace {
        use atif_drift::atof::export::{export, ExportOptions};
        let eo = ExportOptions {
            session_id,
            agent_name: agent_name.unwrap_or_else(|| "agent".into()),
            agent_version,
            mode: dedupe.into(),
        };
        let t = export(events, &eo);
        write_output(&output, &(serde_json::to_string_pretty(&t)? + "\n"))?;
        eprintln!(
            "wrote 1 ATIF trajectory ({} steps) from {} ATOF events -> {}",
            t["steps"].as_array().map_or(0, Vec::len),
            events.len(),
            output.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let Trace::Ist(ist) = trace else {
        bail!(
            "{}: is {}: ATIF → ATIF is not a conversion (IST or ATOF input)",
            input.display(),
            trace.kind()
        );
    };
    let trajectories = ist_to_atif(&ist, &ConvertOptions { agent_name, keep })
        .map_err(|(n, e)| anyhow::anyhow!("{}: request {n}: {e}", input.display()))?;
    let mut text = serde_json::to_string_pretty(&trajectories)?;
    text.push('\n');
    write_output(&output, &text)?;
    eprintln!(
        "wrote {} ATIF trajectories -> {}",
        trajectories.len(),
        output.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn validate(
    ValidateArgs {
        files,
        deny_warnings,
        format,
    }: ValidateArgs,
    opts: LoadOptions,
) -> anyhow::Result<ExitCode> {
    let mut reports = Vec::new();
    let mut unreadable = false;
    for f in &files {
        match validate::validate_file(f, &opts) {
            Ok(r) => reports.push(r),
            Err(e) => {
                eprintln!("error: {e}");
                unreadable = true;
            }
        }
    }
    match format {
        OutFormat::Text => out(&report::validation::text(&reports)),
        OutFormat::Json => out(&format!("{}\n", serde_json::to_string_pretty(&reports)?)),
    }
    let invalid = reports
        .iter()
        .any(|r| !r.is_valid() || (deny_warnings && r.warnings() > 0));
    Ok(if unreadable {
        ExitCode::from(2)
    } else if invalid {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn profile(
    ProfileArgs {
        input,
        path,
        builder,
        output,
        config,
        csv_exclude_io_text,
        no_llm_metrics,
        force,
        gantt,
    }: ProfileArgs,
    opts: LoadOptions,
) -> anyhow::Result<ExitCode> {
    use atif_drift::config::ProfilerConfig;
    use atif_drift::pipeline::ProfilePath;
    let mut cfg = match &config {
        Some(p) => ProfilerConfig::from_workflow_yaml(p)?,
        None => ProfilerConfig::all_on(),
    };
    for key in cfg.unknown.keys() {
        eprintln!("warning: eval.general.profiler.{key}: unknown to atif-drift, ignored");
    }
    cfg.csv_exclude_io_text |= csv_exclude_io_text;
    cfg.compute_llm_metrics &= !no_llm_metrics;
    let mut inputs = vec![input.as_path()];
    inputs.extend(config.as_deref());
    atif_drift::fsio::refuse_overwriting_inputs(&output, &inputs, true)?;
    let ours = atif_drift::job::profile::output_names(&cfg);
    let dir = atif_drift::fsio::OutputDir::create(&output, &ours, force)?;
    let path = match path {
        PathArg::Ist => ProfilePath::Ist,
        PathArg::Atif => ProfilePath::Atif(builder.into()),
    };
    let staged = atif_drift::job::profile::stage(&input, path, &cfg, gantt, &opts, &dir)
        .with_context(|| format!("{}", input.display()))?;
    dir.commit()?;
    if staged.no_events {
        eprintln!("warning: no events: only the trace dump and the CSV are written (as NAT does)");
    }
    eprintln!("wrote {} files -> {}", staged.written, output.display());
    Ok(ExitCode::SUCCESS)
}

fn drift(
    DriftArgs {
        corpus,
        policy,
        builder,
        left,
        right,
        cache,
        expect_as,
        format,
        out: out_dir,
        force,
        partition,
        explain,
        ratchet: BaselineArgs {
            baseline,
            write_baseline,
        },
        verbosity,
    }: DriftArgs,
    opts: LoadOptions,
) -> anyhow::Result<ExitCode> {
    let mut sides = atif_drift::app::Sides::of_builders(&builder.builders());
    sides.left = left;
    if !right.is_empty() {
        sides.right = right;
    }
    sides.cache = cache;
    sides.base = policy.file().map(|f| {
        f.parent()
            .unwrap_or(std::path::Path::new("."))
            .to_path_buf()
    });
    sides.expect_as = expect_as.map(Into::into);
    let cmd = atif_drift::app::DriftCommand {
        corpora: corpus,
        policy,
        sides,
        format: format.into(),
        verbosity: verbosity.level(),
        out: out_dir,
        force,
        partition,
        baseline,
        write_baseline,
        step_summary: None,
        list_files: false,
        explain,
        load: opts,
    };
    let code = atif_drift::app::drift(&cmd, &mut |t| out(t), &mut |t| eprint!("{t}"))?;
    Ok(ExitCode::from(code))
}

fn merge_reports(
    MergeReportsArgs {
        reports,
        format,
        ratchet: BaselineArgs {
            baseline,
            write_baseline,
        },
        verbosity,
    }: MergeReportsArgs,
) -> anyhow::Result<ExitCode> {
    let mut all = Vec::new();
    for p in &reports {
        all.push((p.display().to_string(), atif_drift::app::read_report(p)?));
    }
    let base = baseline
        .as_deref()
        .map(atif_drift::app::read_report)
        .transpose()?;
    let mut r = atif_drift::job::merge(all)?;
    if let Some(file) = &write_baseline {
        let inputs: Vec<&Path> = reports.iter().map(PathBuf::as_path).collect();
        atif_drift::fsio::refuse_overwriting_inputs(file, &inputs, false)?;
        atif_drift::app::write_baseline(file, &r)?;
    }
    if let (Some(b), Some(p)) = (&base, &baseline) {
        r.baseline = Some(atif_drift::drift::baseline::compare(
            &r,
            b,
            &p.display().to_string(),
        ));
    }
    let style = atif_drift::app::terminal_style(verbosity.level());
    out(&atif_drift::app::render_drift(&r, format.into(), &style));
    for f in &r.failures {
        eprintln!("error: {f}");
    }
    Ok(ExitCode::from(atif_drift::job::exit_code(&[], &r)))
}

fn dedupe(
    DedupeArgs {
        input,
        mode,
        format,
    }: DedupeArgs,
    opts: LoadOptions,
) -> anyhow::Result<ExitCode> {
    use atif_drift::atof::dedupe::{dedupe, Mode};
    let Trace::Atof(events) = load_file(&input, &opts)? else {
        bail!("{}: not an ATOF event stream", input.display());
    };
    let spans = atif_drift::atof::llm_spans(&events);
    let mode: Mode = mode.into();
    let d = dedupe(&spans, mode);
    match format {
        OutFormat::Text => out(&report::dedupe::table(&spans, &d)),
        OutFormat::Json => out(&format!(
            "{}\n",
            serde_json::to_string_pretty(
                &serde_json::json!({"mode": mode, "spans": spans, "dedupe": d})
            )?
        )),
    }
    Ok(ExitCode::SUCCESS)
}

fn gen(
    GenArgs {
        seed,
        count,
        from_json,
        output,
        force,
    }: GenArgs,
) -> anyhow::Result<ExitCode> {
    use atif_drift::gen::run::{generate, write_case_with, RunSpec};
    if let Some(f) = from_json {
        let text = atif_drift::fsio::read_text(&f, atif_drift::fsio::SMALL_FILE_LIMIT)?;
        let run: RunSpec = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a run.json", f.display()))?;
        write_case_with(&run, &output, force)?;
        eprintln!("wrote {}", output.display());
        return Ok(ExitCode::SUCCESS);
    }
    let Some(end) = seed.checked_add(count) else {
        bail!(
            "--seed {seed} --count {count}: the last seed would be past {}",
            u64::MAX
        );
    };
    for s in seed..end {
        write_case_with(&generate(s), &output.join(format!("seed-{s}")), force)?;
    }
    eprintln!("wrote {count} generated runs to {}", output.display());
    Ok(ExitCode::SUCCESS)
}

fn differences(DifferencesArgs { format }: DifferencesArgs) -> anyhow::Result<ExitCode> {
    match format {
        OutFormat::Text => out(&atif_drift::differences::markdown()),
        OutFormat::Json => out(&format!(
            "{}\n",
            serde_json::to_string_pretty(atif_drift::differences::DIFFERENCES)?
        )),
    }
    Ok(ExitCode::SUCCESS)
}

fn inventory(
    InventoryArgs {
        corpus: root,
        format,
    }: InventoryArgs,
    opts: LoadOptions,
) -> anyhow::Result<ExitCode> {
    let entries = corpus::walk(&root, &opts)?;
    for e in entries.iter().filter(|e| e.path.to_str().is_none()) {
        eprintln!(
            "warning: {}: file name is not UTF-8: reported with U+FFFD for its invalid bytes",
            e.path.display()
        );
    }
    match format {
        OutFormat::Text => out(&report::inventory::table(&entries, None)),
        OutFormat::Json => out(&format!("{}\n", serde_json::to_string_pretty(&entries)?)),
    }
    Ok(if entries.iter().any(corpus::FileEntry::is_failed) {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
