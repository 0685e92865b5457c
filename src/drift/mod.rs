//! The drift engine: run the IST path and an ATIF path on the same corpus item, diff every
//! output they share, and classify each difference against the policy.
//!
//! A difference is addressed as `file:path` (`inference_optimization.json:confidence_intervals.llm_latency_confidence_intervals.p95`).
//! Differences are grouped by *pattern* — the path with list indices and renamed UUIDs
//! replaced by `*` — so a report says "`nested_stack_analysis.node_metrics.*.duration`:
//! 150 values" rather than listing 150 lines.

pub mod attribution;
pub mod baseline;
mod forecast;
mod lines;
pub mod mooncake;
pub mod policy;
pub mod spec;
pub mod suggest;
mod table_diff;
pub mod timeline;
mod typed;
pub mod value_diff;
mod workflow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::ProfilerConfig;
use crate::differences::{normalize_active_uuids, rename_uuids};
use crate::frame::csv::Table;
use crate::frame::from_atif::Builder;
use crate::frame::Frame;
use crate::profile::Outputs;
use crate::profile::ProfilePath;
use crate::profile::{self, Unit};
use policy::Policy;
use rayon::prelude::*;
use value_diff::{leaf_count, Change, ChangeRef};

/// The version of the JSON report's layout.
pub const REPORT_SCHEMA: &str = "atif-drift/drift-report/v1";

/// One group of differences sharing a path pattern.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatternDrift {
    /// `file:pattern`.
    pub pattern: String,
    /// Differing values under this pattern.
    pub values: usize,
    /// The first difference, as an example.
    pub example_path: String,
    /// The pattern's first difference.
    pub example: Change,
    /// The policy's reason when this drift is expected.
    pub expected: Option<String>,
    /// The ATIF loss the policy attributes it to (`faithful::LOSSES` id), when it names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<String>,
    /// Largest absolute and relative difference among numeric changes under this pattern.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_abs: Option<f64>,
    /// The largest relative difference between two numbers of the pattern.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rel: Option<f64>,
    /// Set when the policy lets this much drift through (`max_values_pct`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within_threshold: Option<String>,
    /// Of the values, those on one side only (a row, key or element the other side lacks).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub one_sided: usize,
    /// Set when the drift is expected but past a bound of its expectation (`max_values`,
    /// `max_share`, `max_abs`, `max_rel`, `rows = "same"`): what was measured against
    /// which bound. Such drift is unexpected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exceeded: Option<String>,
    /// Of the values, those breaking the relation of the expectation covering them
    /// (`relation`), equal cells included: the relation said they should differ.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub broken: usize,
    /// With `drift --explain`: the ATIF losses that measurably produce this pattern (the
    /// faithful builder's drift with each loss applied alone, or needing it; see
    /// [`attribution`]). Empty: none does, so on pr1751 PR #1751's mapping adds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured: Option<Vec<String>>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl PatternDrift {
    /// A group of no values yet of the pattern `file:pattern`, its first difference `example`
    /// at `example_path`: unexpected, nothing measured.
    pub fn new(pattern: String, example_path: String, example: Change) -> Self {
        PatternDrift {
            pattern,
            values: 0,
            example_path,
            example,
            expected: None,
            loss: None,
            max_abs: None,
            max_rel: None,
            within_threshold: None,
            one_sided: 0,
            exceeded: None,
            broken: 0,
            measured: None,
        }
    }

    /// Drift that counts against the run: neither expected (within its expectation's
    /// bounds) nor within a threshold.
    pub fn is_unexpected(&self) -> bool {
        self.exceeded.is_some() || (self.expected.is_none() && self.within_threshold.is_none())
    }

    /// Whether the measurement contradicts the policy's `loss =` label: the pattern was
    /// measured (`drift --explain`) with losses that produce it, none of them a loss the
    /// label names.
    pub fn label_contradicted(&self) -> bool {
        match (&self.loss, &self.measured) {
            (Some(label), Some(m)) if !m.is_empty() => {
                !label.split(',').any(|l| m.iter().any(|x| x == l.trim()))
            }
            _ => false,
        }
    }
}

/// Numeric value of a JSON number or numeric CSV cell.
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// The drift of one output file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputDrift {
    /// The output file (`forecast.json`, `standardized_data_all.csv`…).
    pub file: String,
    /// Values (or CSV cells / text lines) compared.
    pub compared: usize,
    /// How many of the compared values differ.
    pub differing: usize,
    /// The differences grouped by pattern, each classified by the policy.
    pub patterns: Vec<PatternDrift>,
}

impl OutputDrift {
    /// Differing values neither expected nor within a threshold: what fails the gate.
    pub fn unexpected(&self) -> usize {
        self.patterns
            .iter()
            .filter(|p| p.is_unexpected())
            .map(|p| p.values)
            .sum()
    }
}

/// The drift of one corpus item for one builder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemDrift {
    /// The item (its directory, relative to the corpus).
    pub item: String,
    /// The left path's spec ([`spec::PathSpec`]; `ist` unless `--left` says otherwise).
    #[serde(default = "ist_spec")]
    pub left: String,
    /// The right path's spec (`atif:pr1751`, `stored:.`, `cmd:NAME`…). Reports written before
    /// path specs have none; [`DriftReport::with_sides`] fills it from the builder.
    #[serde(default)]
    pub right: String,
    /// The builder whose expectations classify the drift: the right side's (`atif:…`) or a
    /// command's `expect_as`; none for other sides (only the expectations naming no builder
    /// apply).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builder: Option<Builder>,
    /// Per output file, its drift.
    pub outputs: Vec<OutputDrift>,
    /// The mooncake replay's drift (its differences are also the `mooncake.jsonl` output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mooncake: Option<mooncake::MooncakeDrift>,
    /// Set when a path could not run; the item then has no outputs.
    pub error: Option<String>,
    /// A few requests' calls on both paths, matched call by call (the HTML report's
    /// timelines; [`timeline`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timelines: Vec<timeline::RequestTimeline>,
    /// Output files one side did not produce (`stored:. forecast.json`): not compared, and
    /// listed so that a missing file never reads as no drift.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_produced: Vec<String>,
}

fn ist_spec() -> String {
    "ist".into()
}

/// What the engine computes for one item and one builder.
#[derive(Debug, Clone, PartialEq)]
pub struct BuilderDrift {
    /// Per output file, its drift (the mooncake rows last).
    pub outputs: Vec<OutputDrift>,
    /// The mooncake replay's summary.
    pub mooncake: mooncake::MooncakeDrift,
    /// The timelines of a few requests ([`timeline::timelines`]).
    pub timelines: Vec<timeline::RequestTimeline>,
}

impl ItemDrift {
    /// The default pair's drift: our IST path against our ATIF path with `builder`.
    pub fn of_builder(item: String, builder: Builder) -> Self {
        ItemDrift {
            item,
            left: ist_spec(),
            right: spec::PathSpec::Atif(builder).to_string(),
            builder: Some(builder),
            outputs: Vec::new(),
            mooncake: None,
            error: None,
            timelines: Vec::new(),
            not_produced: Vec::new(),
        }
    }

    /// How reports name the comparison: both sides' specs (`ist vs atif:pr1751`,
    /// `stored:. vs cmd:nat`).
    pub fn label(&self) -> String {
        format!("{} vs {}", self.left, self.right)
    }

    /// The comparison's key in a baseline: the builder's name for our default pair (as
    /// baselines written before path specs have it), else [`ItemDrift::label`].
    pub fn key(&self) -> String {
        match self.builder {
            Some(b) if self.left == "ist" && self.right == spec::PathSpec::Atif(b).to_string() => {
                b.name().to_string()
            }
            _ => self.label(),
        }
    }

    /// Its patterns that count against the run ([`PatternDrift::is_unexpected`]), in
    /// output order.
    pub fn unexpected_patterns(&self) -> impl Iterator<Item = &PatternDrift> {
        self.outputs
            .iter()
            .flat_map(|o| o.patterns.iter().filter(|p| p.is_unexpected()))
    }
}

/// The drift of a whole job: every item × builder, and what could not be compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftReport {
    /// The report's schema (`atif-drift/drift-report/N`).
    pub schema: String,
    /// The partition this report covers (`k/n`), when the job ran one (`--partition`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// Per item and builder, in (item, builder) order.
    pub items: Vec<ItemDrift>,
    /// Policy expectations that matched nothing (stale).
    pub unused_expectations: Vec<String>,
    /// Corpus files that failed to load (`path: error`): they fail the run (exit 2) however
    /// the items compare, and a merge of partitions carries them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
    /// The comparison with a baseline report (`drift --baseline`): when set, the verdict is
    /// the ratchet's (drift that grew fails), not the policy's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<baseline::Comparison>,
}

impl DriftReport {
    /// Differing values the policy does not expect.
    pub fn unexpected(&self) -> usize {
        self.items
            .iter()
            .flat_map(|i| &i.outputs)
            .map(OutputDrift::unexpected)
            .sum()
    }
    /// Every unexpected pattern with its item, in report order.
    pub fn unexpected_patterns(&self) -> impl Iterator<Item = (&ItemDrift, &PatternDrift)> {
        self.items
            .iter()
            .flat_map(|i| i.unexpected_patterns().map(move |p| (i, p)))
    }

    /// Whether the drift fails the run: against a baseline, drift that grew; otherwise,
    /// drift the policy does not expect.
    pub fn failing(&self) -> bool {
        match &self.baseline {
            Some(b) => !b.grew.is_empty(),
            None => self.unexpected() > 0,
        }
    }

    /// The report without its timelines (the HTML report's; a baseline or a JSON report
    /// for a program has no use for them).
    pub fn without_timelines(mut self) -> Self {
        for i in &mut self.items {
            i.timelines = Vec::new();
        }
        self
    }

    /// The report with every item's sides named: a report written before path specs
    /// compared `ist` with `atif:` its builder.
    pub fn with_sides(mut self) -> Self {
        for i in &mut self.items {
            if let (true, Some(b)) = (i.right.is_empty(), i.builder) {
                i.right = spec::PathSpec::Atif(b).to_string();
            }
        }
        self
    }

    /// Items that could not run plus corpus files that failed to load.
    pub fn errors(&self) -> usize {
        self.items.iter().filter(|i| i.error.is_some()).count() + self.failures.len()
    }
}

/// The files compared, in report order; the trace dump is not (its two layouts differ by design).
pub const COMPARED: &[&str] = &[
    "standardized_data_all.csv",
    "inference_optimization.json",
    "workflow_profiling_metrics.json",
    "workflow_profiling_report.txt",
    "prediction_trie.json",
    "forecast.json",
];

/// `confidence_intervals.x[3].y` with UUIDs already renamed → `confidence_intervals.x[*].y`;
/// renamed UUIDs (`U12`) in keys → `*`.
pub fn pattern_of(path: &str) -> String {
    let mut out = String::new();
    pattern_into(path, &mut out);
    out
}

/// [`pattern_of`] into `out` (cleared first): no allocation once it has grown (the diff calls
/// it once per differing value, a hundred million times at 100,000 light requests). One pass
/// over the path, a run of bytes between `.` and `[` at a time: every `[…]` (to the next
/// `]`, or to the end) becomes `[*]`, then each `.`-separated part that is a number or a
/// renamed UUID (`U12`) becomes `*`.
fn pattern_into(path: &str, out: &mut String) {
    out.clear();
    // The part being written: where it starts in `out`, whether it holds a `[*]`.
    let (mut start, mut bracket) = (0, false);
    let finish = |out: &mut String, start: usize, bracket: bool| {
        if !bracket && starred(&out[start..]) {
            out.truncate(start);
            out.push('*');
        }
    };
    let mut rest = path;
    loop {
        let next = memchr::memchr2(b'.', b'[', rest.as_bytes());
        let run = &rest[..next.unwrap_or(rest.len())];
        out.push_str(run);
        let Some(at) = next else {
            finish(out, start, bracket);
            return;
        };
        if rest.as_bytes()[at] == b'.' {
            finish(out, start, bracket);
            out.push('.');
            (start, bracket) = (out.len(), false);
            rest = &rest[at + 1..];
        } else {
            out.push_str("[*]");
            bracket = true;
            rest = memchr::memchr(b']', &rest.as_bytes()[at + 1..])
                .map_or("", |j| &rest[at + 1 + j + 1..]);
        }
    }
}

/// Whether `key`, a member of an object or a part of a path without `[…]`, is one part its
/// pattern stars ([`pattern_into`]): a number or a renamed UUID (`U12`).
fn starred(key: &str) -> bool {
    let b = key.as_bytes();
    match b.split_first() {
        Some((&first, rest)) => {
            rest.iter().all(u8::is_ascii_digit)
                && (first.is_ascii_digit() || (first == b'U' && !rest.is_empty()))
        }
        None => false,
    }
}

/// Differences of one file grouped by pattern as they arrive: per difference only its
/// pattern is built (in a reused buffer); the path and values are copied for the first of
/// each pattern, the example. A walk that knows its paths' patterns repeat says so
/// ([`Groups::add_at`]) and skips even that.
struct Groups<'a> {
    file: &'a str,
    policy: &'a Policy,
    /// The builder whose expectations classify the drift (`None`: a side not of ours).
    builder: Option<Builder>,
    /// Pattern (without `file:`) → its group's place in `list`.
    index: rustc_hash::FxHashMap<String, usize>,
    /// The groups, each with its pattern (ordered by pattern when finished).
    list: Vec<(String, PatternDrift)>,
    pattern: String,
    /// The group of the last difference added.
    last: Option<usize>,
    /// Per site of [`Groups::add_at`], its group's place in `list` once known.
    sites: Vec<Option<usize>>,
}

impl<'a> Groups<'a> {
    fn new(file: &'a str, policy: &'a Policy, builder: impl Into<Option<Builder>>) -> Self {
        Groups {
            file,
            policy,
            builder: builder.into(),
            index: Default::default(),
            list: Vec::new(),
            pattern: String::new(),
            last: None,
            sites: Vec::new(),
        }
    }

    /// One difference at `path` covering `n` values; `numbers`: both sides when both are
    /// numeric (for the largest absolute and relative difference).
    fn add(
        &mut self,
        path: &str,
        n: usize,
        numbers: Option<(f64, f64)>,
        change: impl FnOnce() -> Change,
    ) {
        self.add_counted(path, (n, false), numbers, change);
    }

    /// [`Groups::add`] of a difference present on one side only (a row, key or element).
    fn add_only(&mut self, path: &str, n: usize, change: impl FnOnce() -> Change) {
        self.add_counted(path, (n, true), None, change);
    }

    /// [`Groups::add_counted`] of `n` values that differ by `change` (copied when it is its
    /// pattern's example).
    fn add_change(&mut self, path: &str, n: usize, change: &Change) {
        let one_sided = matches!(change, Change::OnlyLeft { .. } | Change::OnlyRight { .. });
        self.add_counted(path, (n, one_sided), numbers(change), || change.clone());
    }

    /// [`Groups::add`] of `n` values, on one side only or not.
    fn add_counted(
        &mut self,
        path: &str,
        (n, one_sided): (usize, bool),
        numbers: Option<(f64, f64)>,
        change: impl FnOnce() -> Change,
    ) {
        pattern_into(path, &mut self.pattern);
        let i = match self.index.get(self.pattern.as_str()) {
            Some(&i) => i,
            None => self.new_group(path, change),
        };
        self.add_to(i, (n, one_sided), numbers);
    }

    /// [`Groups::add`] at `site`: a place of the caller's walk whose paths all have one
    /// pattern (a member of every element of an array), its group found once.
    fn add_at(
        &mut self,
        site: usize,
        path: &str,
        numbers: Option<(f64, f64)>,
        change: impl FnOnce() -> Change,
    ) {
        match self.sites.get(site) {
            Some(&Some(i)) => {
                debug_assert_eq!(self.list[i].0, pattern_of(path), "site {site}: {path}");
                self.add_to(i, (1, false), numbers);
            }
            _ => {
                self.add(path, 1, numbers, change);
                if self.sites.len() <= site {
                    self.sites.resize(site + 1, None);
                }
                self.sites[site] = self.last;
            }
        }
    }

    /// A group for the pattern just built (`self.pattern`), `path` and `change` its example;
    /// returns its place.
    #[cold]
    fn new_group(&mut self, path: &str, change: impl FnOnce() -> Change) -> usize {
        let pattern = format!("{}:{}", self.file, self.pattern);
        let e = self.policy.expectation(&pattern, self.builder);
        let g = PatternDrift {
            expected: e.map(|e| e.reason.clone()),
            loss: e.and_then(|e| e.loss.clone()),
            ..PatternDrift::new(pattern, format!("{}:{path}", self.file), change())
        };
        let i = self.list.len();
        self.index.insert(self.pattern.clone(), i);
        self.list.push((self.pattern.clone(), g));
        i
    }

    /// Count `n` values (on one side only or not) in group `i`, `numbers` both sides.
    fn add_to(&mut self, i: usize, (n, one_sided): (usize, bool), numbers: Option<(f64, f64)>) {
        let (abs, rel) = match numbers {
            Some((a, b)) => {
                let d = (a - b).abs();
                let scale = a.abs().max(b.abs());
                (Some(d), Some(if scale > 0.0 { d / scale } else { 0.0 }))
            }
            None => (None, None),
        };
        let g = &mut self.list[i].1;
        g.values += n;
        if one_sided {
            g.one_sided += n;
        }
        g.max_abs = max_opt(g.max_abs, abs);
        g.max_rel = max_opt(g.max_rel, rel);
        self.last = Some(i);
    }

    /// The value just added (by [`Groups::add`]) breaks its expectation's relation.
    fn broke_relation(&mut self) {
        if let Some(i) = self.last {
            self.list[i].1.broken += 1;
        }
    }

    /// One difference of a JSON walk; returns how many values it covers.
    fn record(&mut self, path: &str, change: ChangeRef) -> usize {
        let n = change.values();
        let nums = match change {
            ChangeRef::Value(l, r) => number(l).zip(number(r)),
            _ => None,
        };
        let one_sided = matches!(change, ChangeRef::OnlyLeft(_) | ChangeRef::OnlyRight(_));
        self.add_counted(path, (n, one_sided), nums, || change.to_owned());
        n
    }

    /// Groups of consecutive parts of a file (with their differing values), folded in
    /// document order; `None` without parts.
    fn fold(parts: impl IntoIterator<Item = (Self, usize)>) -> Option<(Self, usize)> {
        let mut parts = parts.into_iter();
        let (mut groups, mut differing) = parts.next()?;
        for (g, n) in parts {
            groups.absorb(g);
            differing += n;
        }
        // The sites were the first part's walk's: whatever adds to the whole names its own.
        groups.sites.clear();
        Some((groups, differing))
    }

    /// Fold in the groups of the differences that come after these (in document order):
    /// the earlier example of a pattern stays.
    fn absorb(&mut self, later: Groups) {
        for (k, g) in later.list {
            match self.index.get(&k) {
                None => {
                    self.index.insert(k.clone(), self.list.len());
                    self.list.push((k, g));
                }
                Some(&i) => {
                    let e = &mut self.list[i].1;
                    e.values += g.values;
                    e.one_sided += g.one_sided;
                    e.broken += g.broken;
                    e.max_abs = max_opt(e.max_abs, g.max_abs);
                    e.max_rel = max_opt(e.max_rel, g.max_rel);
                }
            }
        }
    }

    /// The groups in pattern order, with the policy's thresholds applied.
    fn finish(self, compared: usize) -> Vec<PatternDrift> {
        let mut by_pattern = self.list;
        by_pattern.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<PatternDrift> = by_pattern.into_iter().map(|(_, g)| g).collect();
        for g in &mut out {
            if g.expected.is_some() {
                let e = self.policy.expectation(&g.pattern, self.builder);
                g.exceeded = e.and_then(|e| e.exceeded(g, compared));
            } else {
                if let Some((pct, rule)) = self.policy.threshold(&g.pattern, self.builder) {
                    let share = 100.0 * g.values as f64 / compared.max(1) as f64;
                    if share <= pct {
                        g.within_threshold = Some(format!(
                            "{share:.3} % of {compared} values <= {pct} % ({rule})"
                        ));
                    }
                }
            }
        }
        out
    }
}

/// Both sides of a value change as numbers, when both are (JSON numbers or numeric cells).
fn numbers(change: &Change) -> Option<(f64, f64)> {
    match change {
        Change::Value { left, right } => number(left).zip(number(right)),
        _ => None,
    }
}

fn group(
    file: &str,
    diffs: Vec<(String, Change, usize)>,
    compared: usize,
    policy: &Policy,
    builder: impl Into<Option<Builder>>,
) -> Vec<PatternDrift> {
    let mut g = Groups::new(file, policy, builder.into());
    for (path, change, n) in &diffs {
        g.add_change(path, *n, change);
    }
    g.finish(compared)
}

fn max_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// One output as the diff compares it: UUIDs renamed in order of appearance, and for JSON
/// `generated_at` dropped and `active_uuids` lists sorted (listed differences).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Normalized {
    /// A JSON output.
    Json(Value),
    /// A CSV output's cells.
    Table(Table),
    /// A text output.
    Text(String),
}

/// A profiler run's compared outputs, normalized once (the IST side is compared with every
/// builder's).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Compared {
    files: Vec<(String, Normalized)>,
}

impl Compared {
    /// The files of [`COMPARED`] among `outputs`; JSON written as text (e.g. read from NAT's
    /// files) is parsed (unparseable JSON compares as `null`).
    pub fn new(outputs: Outputs) -> Self {
        use crate::profile::Content;
        let files = outputs
            .files
            .into_par_iter()
            .filter(|(name, _)| COMPARED.contains(&name.as_str()))
            .map(|(name, content)| {
                let n = if name.ends_with(".json") {
                    let mut v = match content {
                        Content::Json(v) => v,
                        other => serde_json::from_str(&other.text()).unwrap_or(Value::Null),
                    };
                    normalize_json(&mut v);
                    Normalized::Json(v)
                } else if name.ends_with(".csv") {
                    // Cell by cell, in the text's order: the names renaming the CSV text gives
                    // (a UUID never spans cells).
                    let table = match content {
                        Content::Table(t) => t,
                        other => Table::from_csv(&other.text()),
                    };
                    let mut names = Default::default();
                    Normalized::Table(
                        table.map_cells(|c| crate::differences::rename_in(c, &mut names)),
                    )
                } else {
                    Normalized::Text(rename_uuids(&content.text()))
                };
                (name, n)
            })
            .collect();
        Compared { files }
    }

    fn get(&self, name: &str) -> Option<&Normalized> {
        self.files.iter().find(|(n, _)| n == name).map(|(_, c)| c)
    }

    /// The names of its files, in [`COMPARED`] order.
    pub fn names(&self) -> Vec<&'static str> {
        COMPARED
            .iter()
            .copied()
            .filter(|f| self.get(f).is_some())
            .collect()
    }

    /// Only the files named in `keep`.
    pub fn retain(&mut self, keep: &[&str]) {
        self.files.retain(|(n, _)| keep.contains(&n.as_str()));
    }
}

/// A JSON output as the diff compares it: UUIDs renamed in order of appearance,
/// `generated_at` dropped, `active_uuids` lists sorted.
fn normalize_json(v: &mut Value) {
    crate::differences::rename_uuids_value(v);
    crate::differences::drop_generated_at(v);
    normalize_active_uuids(v);
}

fn diff_json(
    file: &str,
    a: &Value,
    b: &Value,
    policy: &Policy,
    builder: impl Into<Option<Builder>>,
) -> OutputDrift {
    let builder = builder.into();
    let ((groups, differing), compared) = rayon::join(
        || json_groups(file, a, b, policy, builder),
        || leaf_count(a).max(leaf_count(b)),
    );
    OutputDrift {
        file: file.into(),
        compared,
        differing,
        patterns: groups.finish(compared),
    }
}

/// The differences of two JSON values, grouped, and how many values differ.
fn json_groups<'a>(
    file: &'a str,
    a: &Value,
    b: &Value,
    policy: &'a Policy,
    builder: impl Into<Option<Builder>>,
) -> (Groups<'a>, usize) {
    let builder = builder.into();
    let tol = policy.tolerances(file);
    // The walk cut into pieces (the members of a metrics file's analyses, spike intervals a
    // few thousand at a time), diffed side by side, each into its own groups, folded in
    // document order: the groups one walk over the whole value makes.
    let pieces = value_diff::split(a, b, 3, 4096);
    let parts: Vec<(Groups, usize)> = pieces
        .par_iter()
        .map(|p| {
            let mut groups = Groups::new(file, policy, builder);
            let mut differing = 0;
            value_diff::visit_part(p, &tol, &mut |path, change| {
                differing += groups.record(path, change);
            });
            (groups, differing)
        })
        .collect();
    Groups::fold(parts).expect("a walk has at least one piece")
}

/// Text reports: changed lines (UUIDs renamed), by `similar`'s line diff.
fn diff_text(
    file: &str,
    a: &str,
    b: &str,
    policy: &Policy,
    builder: impl Into<Option<Builder>>,
) -> OutputDrift {
    diff_lines(file, (a, &lines::Numbered::new(a)), b, policy, builder)
}

/// [`diff_text`] with `a`'s lines numbered (once for every text it is diffed with).
fn diff_lines(
    file: &str,
    (a, lines): (&str, &lines::Numbered),
    b: &str,
    policy: &Policy,
    builder: impl Into<Option<Builder>>,
) -> OutputDrift {
    let builder = builder.into();
    let d = lines.changes(b);
    let mut groups = Groups::new(file, policy, builder);
    let mut differing = 0;
    let mut section = String::from("(start)");
    let mut path = String::new();
    for change in d.iter() {
        let line = change.value().trim_end();
        if line.starts_with("===") || line.starts_with("----") {
            section = line
                .trim_matches(|c| c == '=' || c == '-' || c == ' ')
                .to_string();
        }
        let (left, right) = match change.tag() {
            similar::ChangeTag::Equal => continue,
            similar::ChangeTag::Delete => (Some(line), None),
            similar::ChangeTag::Insert => (None, Some(line)),
        };
        path.clear();
        path.push_str(&section);
        path.push_str(".lines");
        differing += 1;
        let text = |s: Option<&str>| s.map_or(Value::Null, |s| Value::String(s.to_string()));
        groups.add(&path, 1, None, || Change::Value {
            left: text(left),
            right: text(right),
        });
    }
    // Lines of both sides: a changed line is one deletion plus one insertion.
    let compared = a.lines().count() + b.lines().count();
    OutputDrift {
        file: file.into(),
        compared,
        differing,
        patterns: groups.finish(compared),
    }
}

/// Diff two profiler runs' outputs (each normalized first; see [`diff_compared`]).
pub fn diff_outputs(
    ist: &Outputs,
    atif: &Outputs,
    policy: &Policy,
    builder: Builder,
) -> Vec<OutputDrift> {
    diff_compared(
        &Compared::new(ist.clone()),
        &Compared::new(atif.clone()),
        policy,
        builder,
    )
}

/// Diff two profiler runs' normalized outputs, one file at a time.
pub fn diff_compared(
    ist: &Compared,
    atif: &Compared,
    policy: &Policy,
    builder: impl Into<Option<Builder>>,
) -> Vec<OutputDrift> {
    let builder = builder.into();
    COMPARED
        .iter()
        .filter_map(|&file| {
            let drift = match (ist.get(file), atif.get(file)) {
                (None, None) => return None,
                (Some(Normalized::Json(a)), Some(Normalized::Json(b))) => {
                    diff_json(file, a, b, policy, builder)
                }
                (Some(Normalized::Table(a)), Some(Normalized::Table(b))) => {
                    table_diff::diff_csv(file, a, b, policy, builder)
                }
                (Some(Normalized::Text(a)), Some(Normalized::Text(b))) => {
                    diff_text(file, a, b, policy, builder)
                }
                (a, _) => {
                    let change = if a.is_some() {
                        Change::OnlyLeft {
                            value: Value::String("file".into()),
                        }
                    } else {
                        Change::OnlyRight {
                            value: Value::String("file".into()),
                        }
                    };
                    OutputDrift {
                        file: file.into(),
                        compared: 1,
                        differing: 1,
                        patterns: group(file, vec![(String::new(), change, 1)], 1, policy, builder),
                    }
                }
            };
            Some(drift)
        })
        .collect()
}

/// The name the mooncake rows are compared under.
pub(crate) const MOONCAKE: &str = "mooncake.jsonl";

/// Mooncake rows (Dynamo's defaults, cl100k_base) from the IST trace and from each ATIF side
/// (NAT's ATIF, or the IST converted), and per builder their summary and the drift of the
/// `mooncake.jsonl` output. The IST rows are made once, and one ATIF side's rows once however
/// many frames share it; its differences go into each of its builders' groups as they are
/// found (not held as a list).
fn mooncake_drift(
    ist: &[crate::mooncake::Session],
    atif: &[&[crate::mooncake::Session]],
    policy: &Policy,
    builders: &[Builder],
) -> Result<Vec<(mooncake::MooncakeDrift, OutputDrift)>, crate::Error> {
    use crate::mooncake as mc;
    let tok = mc::Tokenizer::cl100k();
    let opts = mc::Options::default();
    let shared = atif.windows(2).all(|w| std::ptr::eq(w[0], w[1]));
    // Each side with the builders that read it.
    let sides: Vec<(&[mc::Session], &[Builder])> = match shared {
        true => atif.first().map(|&s| (s, builders)).into_iter().collect(),
        false => atif
            .iter()
            .zip(builders.chunks(1))
            .map(|(&s, b)| (s, b))
            .collect(),
    };
    let (left, right) = rayon::join(
        || mc::rows(ist, &tok, &opts),
        || {
            sides
                .par_iter()
                .map(|(s, _)| mc::rows(s, &tok, &opts))
                .collect::<Result<Vec<_>, _>>()
        },
    );
    let (left, right) = (left?, right?);
    let mut drifts = Vec::with_capacity(builders.len());
    for (r, (_, readers)) in right.iter().zip(&sides) {
        let mut groups: Vec<Groups> = readers
            .iter()
            .map(|&b| Groups::new(MOONCAKE, policy, b))
            .collect();
        let mut differing = 0;
        let (summary, compared) = mooncake::diff(&left.rows, &r.rows, &mut |path, change| {
            differing += 1;
            for g in &mut groups {
                g.add_change(path, 1, &change);
            }
        });
        drifts.extend(groups.into_iter().map(|g| {
            let output = OutputDrift {
                file: MOONCAKE.into(),
                compared,
                differing,
                patterns: g.finish(compared),
            };
            (summary.clone(), output)
        }));
    }
    Ok(drifts)
}

/// `f` of the IST frame and of each builder's frame (with its path), side by side.
fn both_paths<'f, T: Send>(
    paths: &Paths<'f>,
    f: impl Fn(&'f Frame, ProfilePath) -> T + Sync,
) -> (T, Vec<T>) {
    let states = std::iter::repeat_n((), 1 + paths.atif.len());
    both_paths_with(paths, states, |frame, path, ()| f(frame, path))
}

/// [`both_paths`] with a state per path (the IST path's first), given to `f` by value.
///
/// The paths run largest frame first (rows as the measure of their work; the IST path first
/// on a tie): with three paths on two cores the two largest start together and the smallest
/// follows whichever ends first. Run IST against both builders, the smallest frame (NAT's
/// ATIF-native rows, two thirds of the IST rows) often started second and the largest
/// (`faithful`) last, a third of each analysis's time on one core.
fn both_paths_with<'f, S: Send, T: Send>(
    paths: &Paths<'f>,
    states: impl IntoIterator<Item = S>,
    f: impl Fn(&'f Frame, ProfilePath, S) -> T + Sync,
) -> (T, Vec<T>) {
    let frames = std::iter::once((paths.ist, ProfilePath::Ist)).chain(
        paths
            .atif
            .iter()
            .zip(paths.builders)
            .map(|(frame, &b)| (frame, ProfilePath::Atif(b))),
    );
    let mut jobs: Vec<_> = frames.zip(states).enumerate().collect();
    assert_eq!(jobs.len(), 1 + paths.atif.len(), "a state per path");
    jobs.sort_by_key(|(i, ((frame, _), _))| (std::cmp::Reverse(frame.rows.len()), *i));
    let mut done: Vec<(usize, T)> = jobs
        .into_par_iter()
        .with_max_len(1)
        .map(|(i, ((frame, path), state))| (i, f(frame, path, state)))
        .collect();
    done.sort_unstable_by_key(|(i, _)| *i);
    let mut done = done.into_iter().map(|(_, t)| t);
    let ist = done.next().expect("the IST path");
    (ist, done.collect())
}

/// The drift of one item from its loaded inputs: the IST frame and one frame per builder
/// (without their NOVA columns, which are added here), both sides' mooncake sessions and the
/// item's profiler configuration. Per builder, in order: the drift of every output (the
/// mooncake rows last), the mooncake summary and a few requests' timelines. The sessions are
/// freed once the mooncake rows are compared. Pure: `lap(stage)` is called after each stage,
/// for the job's timings.
#[allow(clippy::too_many_arguments)]
pub fn drift_frames(
    ist_frame: Frame,
    atif_frames: Vec<Frame>,
    ist_sessions: Vec<crate::mooncake::Session>,
    atif_sessions: Vec<crate::mooncake::Session>,
    builders: &[Builder],
    cfg: &ProfilerConfig,
    policy: &Policy,
    lap: &(dyn Fn(&str) + Sync),
) -> Result<Vec<BuilderDrift>, crate::Error> {
    let n = atif_frames.len();
    drift_sides(
        ist_frame,
        atif_frames,
        // The sessions are moved into the mooncake stage, and freed once it is done.
        move || {
            let atif = vec![atif_sessions.as_slice(); n];
            mooncake_drift(&ist_sessions, &atif, policy, builders)
        },
        builders,
        (cfg, policy),
        true,
        lap,
    )
}

/// The drift of one IST frame against several ATIF-side variants of one builder (e.g. the
/// faithful frames of one trace converted with different `--keep` sets), each with its own
/// mooncake sessions: per variant, in order, the drift of every output (the mooncake rows
/// last) and the mooncake summary (no timelines). The IST path's analyses and mooncake rows
/// are computed once.
pub fn drift_variants(
    ist_frame: Frame,
    variants: Vec<(Frame, Vec<crate::mooncake::Session>)>,
    ist_sessions: &[crate::mooncake::Session],
    builder: Builder,
    cfg: &ProfilerConfig,
    policy: &Policy,
) -> Result<Vec<BuilderDrift>, crate::Error> {
    let (frames, sessions): (Vec<Frame>, Vec<Vec<crate::mooncake::Session>>) =
        variants.into_iter().unzip();
    let builders = vec![builder; frames.len()];
    drift_sides(
        ist_frame,
        frames,
        || {
            let atif: Vec<&[crate::mooncake::Session]> =
                sessions.iter().map(Vec::as_slice).collect();
            mooncake_drift(ist_sessions, &atif, policy, &builders)
        },
        &builders,
        (cfg, policy),
        false,
        &|_| {},
    )
}

/// The result of the mooncake stage: per builder, the mooncake summary and the drift of
/// `mooncake.jsonl`.
type MooncakeStage = Result<Vec<(mooncake::MooncakeDrift, OutputDrift)>, crate::Error>;

/// [`drift_frames`] with the `mooncake` stage given (a stage that owns its sessions, as
/// `drift_frames`' does, frees them once it is done), and the timelines when asked for.
fn drift_sides(
    mut ist_frame: Frame,
    mut atif_frames: Vec<Frame>,
    mooncake: impl FnOnce() -> MooncakeStage + Send,
    builders: &[Builder],
    (cfg, policy): (&ProfilerConfig, &Policy),
    with_timelines: bool,
    lap: &(dyn Fn(&str) + Sync),
) -> Result<Vec<BuilderDrift>, crate::Error> {
    // The NOVA columns and the mooncake rows, side by side.
    let (mooncake, ()) = rayon::join(mooncake, || {
        rayon::join(
            || profile::prepare(&mut ist_frame, cfg),
            || {
                atif_frames
                    .par_iter_mut()
                    .for_each(|f| profile::prepare(f, cfg))
            },
        );
    });
    let mooncake = mooncake?;
    lap("NOVA and mooncake");
    // The CSV, the only file that holds the NOVA columns, first; then the columns are freed
    // (at 100,000 light requests about 0.3 GB over the three frames, held through every
    // unit after it otherwise). The inference-optimization analyses next, the last to read
    // the LLM texts; then those are freed (about 0.55 GB there).
    let (csv, rest) = Unit::ALL.split_at(1);
    let texts = rest.iter().take_while(|u| u.reads_llm_texts()).count();
    let (reading_texts, after_texts) = rest.split_at(texts);
    debug_assert_eq!(csv, [Unit::Csv]);
    debug_assert!(!after_texts.iter().any(|u| u.reads_llm_texts()));
    let drift_units = |ist: &Frame, atif: &[Frame], units: &[Unit]| {
        let paths = Paths {
            ist,
            atif,
            builders,
            cfg,
            policy,
        };
        units_drift(&paths, units, lap)
    };
    let mut outputs = drift_units(&ist_frame, &atif_frames, csv);
    for f in std::iter::once(&mut ist_frame).chain(&mut atif_frames) {
        f.nova = None;
    }
    for (out, more) in outputs
        .iter_mut()
        .zip(drift_units(&ist_frame, &atif_frames, reading_texts))
    {
        out.extend(more);
    }
    rayon::join(
        || ist_frame.drop_llm_texts(),
        || atif_frames.par_iter_mut().for_each(Frame::drop_llm_texts),
    );
    // The timelines beside the outputs.
    let (after, timelines) = rayon::join(
        || drift_units(&ist_frame, &atif_frames, after_texts),
        || match with_timelines {
            true => timeline::timelines(&ist_frame, &atif_frames),
            false => vec![Vec::new(); atif_frames.len()],
        },
    );
    // The frames are freed on a thread of their own while the report is made (at 100,000
    // light requests, seven million rows of small strings: about half a second); a process
    // that ends first hands their memory back whole. (When no thread can be started, the
    // closure and the frames it holds are dropped here.)
    let free = move || drop((ist_frame, atif_frames));
    let _ = std::thread::Builder::new()
        .name("free frames".into())
        .spawn(free);
    for (out, after) in outputs.iter_mut().zip(after) {
        out.extend(after);
    }
    Ok(outputs
        .into_iter()
        .zip(timelines)
        .zip(mooncake)
        .map(|((mut outputs, timelines), (summary, mooncake))| {
            outputs.push(mooncake);
            BuilderDrift {
                outputs,
                mooncake: summary,
                timelines,
            }
        })
        .collect())
}

/// The two paths of one item, ready to be diffed: the IST frame, one frame per builder (NOVA
/// columns added), the configuration and the policy. What every diff of an output unit reads.
pub(super) struct Paths<'a> {
    pub ist: &'a Frame,
    pub atif: &'a [Frame],
    pub builders: &'a [Builder],
    pub cfg: &'a ProfilerConfig,
    pub policy: &'a Policy,
}

impl Paths<'_> {
    /// Whether a frame has no row (the typed diffs leave such items to the whole files').
    pub fn any_empty(&self) -> bool {
        self.ist.is_empty() || self.atif.iter().any(Frame::is_empty)
    }
}

/// Per builder, the drift of unit `u`'s files: from the frames and typed results where the
/// unit has a typed diff, otherwise as its written files.
fn unit_drift(paths: &Paths, u: Unit, lap: &(dyn Fn(&str) + Sync)) -> Vec<Vec<OutputDrift>> {
    let Paths {
        builders,
        cfg,
        policy,
        ..
    } = *paths;
    let one_file = |d: Vec<OutputDrift>| d.into_iter().map(|d| vec![d]).collect();
    let typed: Option<Vec<Vec<OutputDrift>>> = match u {
        Unit::Csv => Some(one_file(table_diff::drift(paths))),
        Unit::Forecast => forecast::drift(paths).map(one_file),
        _ => None,
    };
    let drifts = typed.unwrap_or_else(|| {
        let (ist_out, atif_outs) = both_paths(paths, |f, p| {
            Compared::new(profile::unit(f, cfg, p.flavor(), u))
        });
        builders
            .iter()
            .zip(&atif_outs)
            .map(|(&b, atif_out)| diff_compared(&ist_out, atif_out, policy, b))
            .collect()
    });
    lap(&format!("{u:?}"));
    drifts
}

/// Per builder, the drift of the files of `units` (NAT's order), in that order. One output
/// unit at a time, both paths side by side, diffed and dropped before the next: only one
/// unit's outputs are ever held (not every file of both paths), apart from the workflow
/// reports, whose line diff runs beside the units after them.
fn units_drift(
    paths: &Paths,
    units: &[Unit],
    lap: &(dyn Fn(&str) + Sync),
) -> Vec<Vec<OutputDrift>> {
    let Paths {
        builders, policy, ..
    } = *paths;
    let mut outputs: Vec<Vec<OutputDrift>> = builders.iter().map(|_| Vec::new()).collect();
    let add = |outputs: &mut Vec<Vec<OutputDrift>>, drifts: Vec<Vec<OutputDrift>>| {
        for (out, d) in outputs.iter_mut().zip(drifts) {
            out.extend(d);
        }
    };
    for (k, &u) in units.iter().enumerate() {
        if u != Unit::WorkflowProfiling {
            add(&mut outputs, unit_drift(paths, u, lap));
            continue;
        }
        let Some((metrics, reports)) = workflow::drift(paths) else {
            add(&mut outputs, unit_drift(paths, u, lap));
            continue;
        };
        lap("WorkflowProfiling metrics");
        // The report's line diff runs on one thread: it runs beside the units after it.
        let (report, after) = rayon::join(
            || reports.drift(builders, policy),
            || {
                units[k + 1..]
                    .iter()
                    .map(|&u| unit_drift(paths, u, lap))
                    .collect::<Vec<_>>()
            },
        );
        add(&mut outputs, metrics);
        add(&mut outputs, report.into_iter().map(|r| vec![r]).collect());
        for drifts in after {
            add(&mut outputs, drifts);
        }
        break;
    }
    outputs
}

/// What the tests of the typed drifts share.
#[cfg(test)]
pub(super) mod testing {
    use super::*;

    /// Bundled corpus item `item`'s IST frame and each builder's frame (from NAT's
    /// converter), with the NOVA columns `cfg` asks for.
    pub fn corpus_frames(
        item: &str,
        builders: &[Builder],
        cfg: &ProfilerConfig,
    ) -> (Frame, Vec<Frame>) {
        let trace = crate::trace::corpus_ist(item);
        let mut ist = crate::frame::from_ist::frame(&trace);
        let trace = crate::trace::Trace::Ist(trace);
        let atif = crate::pipeline::as_atif(&trace).unwrap();
        let mut frames: Vec<Frame> = builders
            .iter()
            .map(|&b| crate::frame::from_atif::frame(&atif, b))
            .collect();
        for f in std::iter::once(&mut ist).chain(&mut frames) {
            profile::prepare(f, cfg);
        }
        (ist, frames)
    }

    /// The paths of these frames.
    pub fn paths<'a>(
        (ist, atif): (&'a Frame, &'a [Frame]),
        builders: &'a [Builder],
        cfg: &'a ProfilerConfig,
        policy: &'a Policy,
    ) -> Paths<'a> {
        Paths {
            ist,
            atif,
            builders,
            cfg,
            policy,
        }
    }

    /// Per builder, the drift of `unit`'s whole files, written and compared file by file.
    pub fn whole_files_drift(
        (ist, frames): (&Frame, &[Frame]),
        builders: &[Builder],
        cfg: &ProfilerConfig,
        policy: &Policy,
        unit: Unit,
    ) -> Vec<Vec<OutputDrift>> {
        let whole =
            |f: &Frame, p: ProfilePath| Compared::new(profile::unit(f, cfg, p.flavor(), unit));
        let left = whole(ist, ProfilePath::Ist);
        frames
            .iter()
            .zip(builders)
            .map(|(f, &b)| diff_compared(&left, &whole(f, ProfilePath::Atif(b)), policy, b))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The drift frees the LLM texts once the units that read them are diffed: every other
    /// unit, and the timelines, give the same on frames without them.
    #[test]
    fn only_the_units_that_say_so_read_the_llm_texts() {
        let cfg = ProfilerConfig::all_on();
        let builders = [Builder::Pr1751, Builder::Faithful];
        let after: Vec<Unit> = Unit::ALL
            .into_iter()
            .filter(|u| !u.reads_llm_texts())
            .collect();
        assert!(after.len() >= 3, "{after:?}");
        for item in ["nested_trip_planner", "react_calculator", "sample"] {
            let (ist, atif) = testing::corpus_frames(item, &builders, &cfg);
            let paths = std::iter::once((&ist, ProfilePath::Ist))
                .chain(atif.iter().zip(builders.map(ProfilePath::Atif)));
            for (frame, path) in paths {
                let mut without = frame.clone();
                without.drop_llm_texts();
                assert_ne!(&without, frame, "{item} {path:?} has LLM texts");
                for &u in &after {
                    assert_eq!(
                        profile::unit(&without, &cfg, path.flavor(), u),
                        profile::unit(frame, &cfg, path.flavor(), u),
                        "{item} {path:?} {u:?}"
                    );
                }
            }
            let without = |f: &Frame| {
                let mut f = f.clone();
                f.drop_llm_texts();
                f
            };
            let atif_without: Vec<Frame> = atif.iter().map(without).collect();
            assert_eq!(
                timeline::timelines(&without(&ist), &atif_without),
                timeline::timelines(&ist, &atif),
                "{item}"
            );
        }
    }

    /// Each bound of an expectation: the same drift is expected without it and unexpected
    /// past it, with the measured value and the bound in the report; within it, expected.
    #[test]
    fn bounded_expectations_catch_drift_past_their_bound() {
        // 3 values under `a.*` (numeric keys): 10 → 12, 100 → 130, a key on one side only.
        let a = serde_json::json!({"a": {"1": 10, "2": 100, "3": 1}});
        let b = serde_json::json!({"a": {"1": 12, "2": 130}});
        let run = |bound: &str| {
            let policy = Policy::from_toml(&format!(
                "[[expected]]\npattern = \"f.json:a.*\"\nreason = \"r\"\n{bound}"
            ))
            .unwrap();
            let d = diff_json("f.json", &a, &b, &policy, Builder::Pr1751);
            assert_eq!(d.patterns.len(), 1, "{:?}", d.patterns);
            d.patterns[0].clone()
        };
        let free = run("");
        assert!(!free.is_unexpected() && free.exceeded.is_none());
        assert_eq!((free.values, free.one_sided), (3, 1));
        for (bound, within, measured) in [
            ("max_values = 2", "max_values = 3", "3 values, bound 2"),
            (
                "max_share = 0.5",
                "max_share = 1.0",
                "100.000 % of 3 values",
            ),
            (
                "max_abs = 25",
                "max_abs = 30",
                "largest difference 30, bound 25",
            ),
            (
                "max_rel = 0.2",
                "max_rel = 0.25",
                "largest relative difference 23.077 %",
            ),
            ("rows = \"same\"", "", "1 values on one side only"),
        ] {
            let p = run(bound);
            assert!(p.is_unexpected(), "{bound}: {p:?}");
            assert!(
                p.exceeded.as_deref().unwrap().contains(measured),
                "{bound}: {p:?}"
            );
            assert_eq!(p.expected.as_deref(), Some("r"), "the reason is kept");
            assert!(!run(within).is_unexpected(), "{within}");
        }
        for bad in [
            "max_share = 1.5",
            "max_abs = -1.0",
            "max_rel = nan",
            "rows = \"any\"",
        ] {
            let text = format!("[[expected]]\npattern = \"a\"\nreason = \"r\"\n{bad}");
            assert!(Policy::from_toml(&text).is_err(), "{bad}");
        }
    }

    #[test]
    fn root_members_diffed_side_by_side_fold_as_one_walk() {
        // Root keys that fold into one pattern (`*`), examples in both members, a member on
        // one side only: the groups must be those of one walk in document order.
        let a = serde_json::json!({"7": {"x": 1.0, "y": [1, 2]}, "8": {"x": 5.0}, "gone": 1});
        let b = serde_json::json!({"7": {"x": 2.0, "y": [1]}, "8": {"x": 9.0, "y": [3]}, "new": 2});
        let policy = Policy::default();
        let got = diff_json("f.json", &a, &b, &policy, Builder::Pr1751);
        let mut one = Groups::new("f.json", &policy, Builder::Pr1751);
        let mut differing = 0;
        let tol = policy.tolerances("f.json");
        value_diff::visit(&a, &b, &tol, &mut |path, change| {
            differing += one.record(path, change);
        });
        assert_eq!(got.differing, differing);
        assert_eq!(got.patterns, one.finish(got.compared));
        let star_x = got
            .patterns
            .iter()
            .find(|p| p.pattern == "f.json:*.x")
            .unwrap();
        assert_eq!(
            (star_x.values, star_x.example_path.as_str()),
            (2, "f.json:7.x")
        );
        assert_eq!(star_x.max_abs, Some(4.0));
    }

    /// `pattern_of` as first written: brackets folded in one pass, then the parts split.
    fn pattern_by_steps(path: &str) -> String {
        let mut folded = String::new();
        let mut rest = path;
        while let Some(i) = rest.find('[') {
            folded.push_str(&rest[..i]);
            folded.push_str("[*]");
            rest = rest[i + 1..]
                .find(']')
                .map_or("", |j| &rest[i + 1 + j + 1..]);
        }
        folded.push_str(rest);
        let parts: Vec<&str> = folded
            .split('.')
            .map(|seg| {
                let is_uuid = seg.len() > 1
                    && seg.starts_with('U')
                    && seg[1..].bytes().all(|c| c.is_ascii_digit());
                let is_number = !seg.is_empty() && seg.bytes().all(|c| c.is_ascii_digit());
                if is_uuid || is_number {
                    "*"
                } else {
                    seg
                }
            })
            .collect();
        parts.join(".")
    }

    proptest::proptest! {
        /// The one-pass pattern is the pattern by steps, on paths dense in the characters
        /// that matter.
        #[test]
        fn the_pattern_is_made_in_one_pass(path in "[.\\[\\]U0-9ab\u{e9}]{0,24}") {
            proptest::prop_assert_eq!(pattern_of(&path), pattern_by_steps(&path));
        }
    }

    #[test]
    fn patterns_fold_indices_and_uuids() {
        assert_eq!(pattern_of("a.b[3].c"), "a.b[*].c");
        assert_eq!(
            pattern_of("node_metrics.U12.duration"),
            "node_metrics.*.duration"
        );
        assert_eq!(pattern_of("Units.x"), "Units.x");
        assert_eq!(
            pattern_of("predictions_by_call_index.12.mean"),
            "predictions_by_call_index.*.mean"
        );
        // Brackets span dots; an unclosed one runs to the end.
        assert_eq!(pattern_of("a[1.U2].b[x][7]"), "a[*].b[*][*]");
        assert_eq!(pattern_of("a.U3[2.b"), "a.U3[*]");
        assert_eq!(pattern_of("7.a]."), "*.a].");
    }
}
