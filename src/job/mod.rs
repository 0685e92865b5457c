//! The application layer of `drift`: find the corpus items, load each item's inputs once
//! ([`inputs`]), run the engine ([`crate::drift`]) on them, account for every corpus file,
//! split into partitions and merge them, and decide the exit code. The file system, the
//! corpus walk and the resource sampling live here; the engine below does no I/O.

pub mod attribute;
pub mod inputs;
pub mod profile;
pub mod sides;

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use crate::config::ProfilerConfig;
use crate::drift::policy::Policy;
use crate::drift::{self, DriftReport, ItemDrift, REPORT_SCHEMA};
use crate::frame::from_atif::Builder;
use crate::trace::LoadOptions;

/// One corpus item: an IST trace, optionally its ATIF and its NAT workflow configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    /// The item's name: its directory relative to the corpus.
    pub name: String,
    /// Its IST trace.
    pub ist: PathBuf,
    /// NAT's ATIF for the same run; `None` → converted from the IST trace.
    pub atif: Option<PathBuf>,
    /// Its NAT workflow configuration, when it has one.
    pub config: Option<PathBuf>,
}

impl Item {
    /// The item's directory (its trace's).
    pub fn dir(&self) -> &Path {
        self.ist.parent().unwrap_or(Path::new("."))
    }

    /// The item's profiler configuration: its config.yml's, or every analysis on.
    pub fn profiler_config(&self) -> Result<ProfilerConfig, crate::Error> {
        match &self.config {
            Some(c) => ProfilerConfig::from_workflow_yaml(c),
            None => Ok(ProfilerConfig::all_on()),
        }
    }
}

/// An item's IST trace by name: `all_requests_profiler_traces.json`, not under `atif_native/`
/// (NAT's ATIF-native profiler writes a file of that name too).
fn is_item_trace(p: &Path) -> bool {
    p.file_name()
        .is_some_and(|n| n == "all_requests_profiler_traces.json")
        && !p.components().any(|c| c.as_os_str() == "atif_native")
}

/// Corpus items: every directory (at any depth, `atif_native/` outputs aside) holding an
/// `all_requests_profiler_traces.json` that loads as IST, in path order.
pub fn discover(corpus: &Path, opts: &LoadOptions) -> Result<Vec<Item>, crate::Error> {
    Ok(items_of(corpus, &crate::corpus::walk(corpus, opts)?))
}

/// The items among `entries`, the result of [`crate::corpus::walk`] over `corpus`: no trace
/// is loaded again.
pub fn items_of(corpus: &Path, entries: &[crate::corpus::FileEntry]) -> Vec<Item> {
    let mut items = Vec::new();
    for e in entries {
        let is_ist = matches!(
            e.status,
            crate::corpus::FileStatus::Loaded { kind: "ist", .. }
        );
        if !is_ist || !is_item_trace(&e.path) {
            continue;
        }
        // Entry paths are relative to the corpus root, except when the root is the file.
        let p = if e.path.is_absolute() || corpus.is_file() {
            e.path.clone()
        } else {
            corpus.join(&e.path)
        };
        let dir = p.parent().unwrap_or(corpus);
        let name = dir
            .strip_prefix(corpus)
            .ok()
            .filter(|r| !r.as_os_str().is_empty())
            .unwrap_or(dir);
        let opt = |f: &str| Some(dir.join(f)).filter(|x| x.exists());
        items.push(Item {
            name: name.display().to_string(),
            ist: p.clone(),
            atif: opt("nat_atif.json").or_else(|| opt("workflow_output_atif.json")),
            config: opt("config.yml"),
        });
    }
    items
}

/// What an item's run found its IST trace to be: the corpus accounting of that file, which
/// the walk left to the run (it loads each item trace once).
#[derive(Debug, Clone, PartialEq)]
pub enum IstOutcome {
    /// Loaded: (requests, steps).
    Loaded(usize, usize),
    /// JSON, but not a trace: the file is skipped and its item leaves the report.
    NotATrace(String),
    /// The trace (or the item's configuration) failed to load.
    Failed(String),
}

/// The policy in the TOML file `path` (see [`crate::drift::policy`]).
pub fn load_policy(path: &Path) -> crate::Result<Policy> {
    crate::fsio::parse_text_file(path, Policy::from_toml)
}

/// Run one item: IST path vs the ATIF path with `builder`.
pub fn run_item(item: &Item, builder: Builder, policy: &Policy, opts: &LoadOptions) -> ItemDrift {
    run_item_builders(item, &[builder], policy, opts, &|| {})
        .0
        .pop()
        .expect("one run per builder")
}

/// Resident memory (Linux's VmRSS) and CPU time of this process so far, for the timings.
fn resources() -> (String, f64) {
    let rss = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(|l| l.trim_start_matches("VmRSS:").trim().to_string())
        })
        .unwrap_or_default();
    // User + system time; Linux clock ticks are 1/100 s.
    let cpu = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let after_name = s.rsplit_once(')')?.1;
            let f: Vec<&str> = after_name.split_whitespace().collect();
            let ticks = |i: usize| f.get(i)?.parse::<f64>().ok();
            Some((ticks(11)? + ticks(12)?) / 100.0)
        })
        .unwrap_or(f64::NAN);
    (rss, cpu)
}

/// Run one item with every builder: the item's configuration and inputs are loaded once
/// ([`inputs::build`]), then the engine ([`drift::drift_frames`]) diffs the IST path with
/// each builder's, and what the IST trace turned out to be. `tick` is called after each
/// builder's run; `ATIF_DRIFT_TIMINGS=1` prints each stage's time, CPU time and resident
/// memory to stderr.
///
/// Kept in one piece: the item's stages in order, each timed (`lap`) and each turning its
/// failure into the item's outcome.
pub(crate) fn run_item_builders(
    item: &Item,
    builders: &[Builder],
    policy: &Policy,
    opts: &LoadOptions,
    tick: &(dyn Fn() + Sync),
) -> (Vec<ItemDrift>, IstOutcome) {
    let timings = std::env::var_os("ATIF_DRIFT_TIMINGS").is_some();
    let t0 = std::time::Instant::now();
    let lap = |what: &str| {
        if timings {
            let (rss, cpu) = resources();
            eprintln!(
                "{}: {what} done at {:.3} s (CPU {cpu:.2} s), RSS {rss}",
                item.name,
                t0.elapsed().as_secs_f64()
            );
        }
    };
    let run = (|| -> Result<_, inputs::Failed> {
        let cfg = item.profiler_config().map_err(|error| inputs::Failed {
            counts: None,
            error,
        })?;
        let inputs::Inputs {
            counts,
            ist_frame,
            atif_frames,
            ist_sessions,
            atif_sessions,
        } = inputs::build(item, builders, opts)?;
        lap("load, convert and frames");
        let drifts = drift::drift_frames(
            ist_frame,
            atif_frames,
            ist_sessions,
            atif_sessions,
            builders,
            &cfg,
            policy,
            &lap,
        )
        .map_err(|error| inputs::Failed {
            counts: Some(counts),
            error,
        })?;
        Ok((counts, drifts))
    })();
    let item_drift = |builder: Builder, outputs, mooncake, timelines, error| ItemDrift {
        outputs,
        mooncake,
        error,
        timelines,
        ..ItemDrift::of_builder(item.name.clone(), builder)
    };
    match run {
        Ok(((requests, steps), drifts)) => {
            let runs = builders
                .iter()
                .zip(drifts)
                .map(|(&b, d)| {
                    tick();
                    item_drift(b, d.outputs, Some(d.mooncake), d.timelines, None)
                })
                .collect();
            (runs, IstOutcome::Loaded(requests, steps))
        }
        Err(inputs::Failed { counts, error }) => {
            let message = error.to_string();
            let runs = builders
                .iter()
                .map(|&b| {
                    tick();
                    item_drift(b, vec![], None, vec![], Some(message.clone()))
                })
                .collect();
            let outcome = match (counts, error) {
                (Some((requests, steps)), _) => IstOutcome::Loaded(requests, steps),
                (None, crate::Error::NotATrace { .. }) => IstOutcome::NotATrace(message),
                (None, _) => IstOutcome::Failed(message),
            };
            (runs, outcome)
        }
    }
}

/// Run every item with every builder, in parallel; the report keeps items in order and
/// builders in the order given, whatever the thread count. `tick` is called after each run.
pub fn run(
    items: &[Item],
    builders: &[Builder],
    policy: &Policy,
    opts: &LoadOptions,
    tick: &(dyn Fn() + Sync),
) -> DriftReport {
    run_with_outcomes(items, builders, policy, opts, tick).0
}

/// [`run`], and each item's [`IstOutcome`] (in the items' order).
pub fn run_with_outcomes(
    items: &[Item],
    builders: &[Builder],
    policy: &Policy,
    opts: &LoadOptions,
    tick: &(dyn Fn() + Sync),
) -> (DriftReport, Vec<IstOutcome>) {
    let runs = run_items(
        items,
        &sides::Sides::of_builders(builders),
        policy,
        opts,
        tick,
    );
    let outcomes = runs.iter().map(|(_, o)| o.clone()).collect();
    (
        report_of(runs.into_iter().map(|(r, _)| r), policy),
        outcomes,
    )
}

/// Every item's runs (one per right side) and its [`IstOutcome`], in the items' order: our
/// default pair by the frame engine, any other by [`sides::run_item`].
fn run_items(
    items: &[Item],
    sides: &sides::Sides,
    policy: &Policy,
    opts: &LoadOptions,
    tick: &(dyn Fn() + Sync),
) -> Vec<(Vec<ItemDrift>, IstOutcome)> {
    let builders = sides.frame_builders();
    items
        .par_iter()
        .map(|item| match &builders {
            Some(b) => run_item_builders(item, b, policy, opts, tick),
            None => sides::run_item(item, sides, policy, opts, tick),
        })
        .collect()
}

/// The report of these runs: their drifts in order, and the policy's expectations none used.
fn report_of(runs: impl Iterator<Item = Vec<ItemDrift>>, policy: &Policy) -> DriftReport {
    let items: Vec<ItemDrift> = runs.flatten().collect();
    let used: Vec<String> = items
        .iter()
        .flat_map(|i| &i.outputs)
        .flat_map(|o| &o.patterns)
        .filter_map(|p| p.expected.clone())
        .collect();
    DriftReport {
        schema: REPORT_SCHEMA.into(),
        partition: None,
        items,
        unused_expectations: policy.unused(&used),
        failures: Vec::new(),
        baseline: None,
    }
}

/// Items of partition `k` of `n` (1-based, like nextest's `--partition count:k/n`): item i
/// (in path order) goes to partition `i mod n + 1`.
pub fn partition(items: Vec<Item>, k: usize, n: usize) -> Vec<Item> {
    items
        .into_iter()
        .enumerate()
        .filter(|(i, _)| n == 0 || i % n + 1 == k)
        .map(|(_, it)| it)
        .collect()
}

/// A `--partition` that is not `k/n` with 1 ≤ k ≤ n.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("partition {given:?}: expected k/n with 1 <= k <= n, e.g. 2/3")]
pub struct PartitionError {
    /// What was given.
    pub given: String,
}

/// Parse `k/n` (1 ≤ k ≤ n).
pub fn parse_partition(s: &str) -> Result<(usize, usize), PartitionError> {
    let err = || PartitionError {
        given: s.to_string(),
    };
    let (k, n) = s.split_once('/').ok_or_else(err)?;
    let (k, n): (usize, usize) = (
        k.trim().parse().map_err(|_| err())?,
        n.trim().parse().map_err(|_| err())?,
    );
    if k == 0 || n == 0 || k > n {
        return Err(err());
    }
    Ok((k, n))
}

/// Merge the reports of several partitions: items sorted by (item, builder), and an
/// expectation is stale only if it was stale in every partition. `reports` are named (by
/// their file) for the messages. Refused: another schema, a partition given twice, a
/// missing partition, partitions of different counts; a report without a partition is the
/// whole job (`1/1`). File failures of every partition are carried.
pub fn merge(reports: Vec<(String, DriftReport)>) -> Result<DriftReport, crate::Error> {
    let refuse = |name: &str, message: String| crate::Error::Format {
        path: PathBuf::from(name),
        message,
    };
    let mut items = Vec::new();
    let mut failures = Vec::new();
    let mut unused: Option<Vec<String>> = None;
    let mut seen: Vec<(usize, usize, String)> = Vec::new();
    for (name, r) in reports {
        if r.schema != REPORT_SCHEMA {
            return Err(refuse(
                &name,
                format!("report schema {:?} is not {REPORT_SCHEMA:?}", r.schema),
            ));
        }
        let (k, n) = match r.partition.as_deref() {
            None => (1, 1),
            Some(p) => parse_partition(p)
                .map_err(|e| refuse(&name, format!("bad partition in the report: {e}")))?,
        };
        if let Some((_, n0, first)) = seen.first() {
            if *n0 != n {
                return Err(refuse(
                    &name,
                    format!("partition {k}/{n} does not belong with {first}'s ({n0} partitions)"),
                ));
            }
        }
        if let Some((_, _, other)) = seen.iter().find(|(k0, _, _)| *k0 == k) {
            return Err(refuse(
                &name,
                format!(
                    "partition {k}/{n} given twice (also {other}): its items would count twice"
                ),
            ));
        }
        seen.push((k, n, name));
        items.extend(r.items);
        failures.extend(r.failures);
        unused = Some(match unused {
            None => r.unused_expectations,
            Some(u) => u
                .into_iter()
                .filter(|x| r.unused_expectations.contains(x))
                .collect(),
        });
    }
    if let Some((_, n, _)) = seen.first() {
        let missing: Vec<String> = (1..=*n)
            .filter(|k| !seen.iter().any(|(k0, _, _)| k0 == k))
            .map(|k| format!("{k}/{n}"))
            .collect();
        if !missing.is_empty() {
            return Err(crate::Error::Other(format!(
                "merge-reports: partition {} missing: a merge of some partitions would pass \
                 items nobody checked",
                missing.join(", ")
            )));
        }
    }
    items.sort_by(|a, b| {
        a.item
            .cmp(&b.item)
            .then(
                a.builder
                    .map(Builder::rank)
                    .cmp(&b.builder.map(Builder::rank)),
            )
            .then(a.left.cmp(&b.left))
            .then(a.right.cmp(&b.right))
    });
    failures.sort();
    failures.dedup();
    Ok(DriftReport {
        schema: REPORT_SCHEMA.into(),
        partition: None,
        items,
        unused_expectations: unused.unwrap_or_default(),
        failures,
        baseline: None,
    })
}

/// The whole drift job on one or more corpora: account for every file, then run every
/// item with every builder.
pub fn job(
    corpora: &[PathBuf],
    builders: &[Builder],
    policy: &Policy,
    opts: &LoadOptions,
) -> Result<(Vec<crate::corpus::FileEntry>, DriftReport), crate::Error> {
    job_with(corpora, builders, policy, opts, None, &|_| {}, &|| {})
}

/// [`job`] restricted to partition `(k, n)`, with progress hooks: `total(runs)` once the
/// runs are known, `tick()` after each.
pub fn job_with(
    corpora: &[PathBuf],
    builders: &[Builder],
    policy: &Policy,
    opts: &LoadOptions,
    partition_kn: Option<(usize, usize)>,
    total: &dyn Fn(usize),
    tick: &(dyn Fn() + Sync),
) -> Result<(Vec<crate::corpus::FileEntry>, DriftReport), crate::Error> {
    let sides = sides::Sides::of_builders(builders);
    job_with_sides(corpora, &sides, policy, opts, partition_kn, total, tick)
}

/// [`job_with`] comparing any paths ([`sides::Sides`]: `--left`, `--right`).
pub fn job_with_sides(
    corpora: &[PathBuf],
    sides: &sides::Sides,
    policy: &Policy,
    opts: &LoadOptions,
    partition_kn: Option<(usize, usize)>,
    total: &dyn Fn(usize),
    tick: &(dyn Fn() + Sync),
) -> Result<(Vec<crate::corpus::FileEntry>, DriftReport), crate::Error> {
    sides.check(policy)?;
    // Item traces are not parsed by the walk: each item's run loads its trace once and
    // settles its entry (`settle`).
    let mut entries = Vec::new();
    let mut items = Vec::new();
    let mut deferred = Vec::new();
    for (c, walked, found) in walk_corpora(corpora, opts)? {
        for (j, e) in walked.iter().enumerate() {
            let full = abs_path(c, &e.path);
            let provisional = matches!(
                e.status,
                crate::corpus::FileStatus::Loaded {
                    kind: "ist",
                    units: 0,
                    steps: 0
                }
            );
            if provisional && is_item_trace(&full) {
                deferred.push((entries.len() + j, full));
            }
        }
        items.extend(found);
        entries.extend(walked);
    }
    sort_distinct(&mut items);
    if let Some((k, n)) = partition_kn {
        items = partition(items, k, n);
    }
    total(items.len() * sides.right.len());
    let runs = run_items(&items, sides, policy, opts, tick);
    let outcomes: Vec<IstOutcome> = runs.iter().map(|(_, o)| o.clone()).collect();
    settle(&mut entries, &deferred, &items, &outcomes, opts);
    // An item whose trace turns out not to be one leaves the report (its file is skipped).
    let kept = runs
        .into_iter()
        .filter(|(_, o)| !matches!(o, IstOutcome::NotATrace(_)))
        .map(|(r, _)| r);
    let mut report = report_of(kept, policy);
    report.partition = partition_kn.map(|(k, n)| format!("{k}/{n}"));
    report.failures = entries
        .iter()
        .filter_map(|e| match &e.status {
            crate::corpus::FileStatus::Failed { error } => {
                Some(format!("{}: {error}", e.path.display()))
            }
            _ => None,
        })
        .collect();
    if sides.frame_builders().is_none() && sides::compared_nothing(&report.items) {
        report.failures.push(format!(
            "no output was compared: {} and {} have no output file in common in any item \
             (a stored: directory without outputs, or a command that writes elsewhere?)",
            sides.left,
            sides
                .right
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok((entries, report))
}

/// Each distinct corpus, walked (item traces recognised by name, not parsed), with its
/// items; a corpus without an item is an error.
#[allow(clippy::type_complexity)]
fn walk_corpora<'c>(
    corpora: &'c [PathBuf],
    opts: &LoadOptions,
) -> Result<Vec<(&'c Path, Vec<crate::corpus::FileEntry>, Vec<Item>)>, crate::Error> {
    distinct_corpora(corpora)
        .into_iter()
        .map(|c| {
            let walked = crate::corpus::walk_with(c, opts, &is_item_trace)?;
            let found = items_of(c, &walked);
            if found.is_empty() {
                return Err(no_item(c, &walked));
            }
            Ok((c, walked, found))
        })
        .collect()
}

/// Items in (name, trace) order, each trace once: the report must not depend on the order
/// the corpora were given in.
fn sort_distinct(items: &mut Vec<Item>) {
    items.sort_by(|a, b| (&a.name, &a.ist).cmp(&(&b.name, &b.ist)));
    items.dedup_by(|a, b| a.ist == b.ist);
}

/// The items of every corpus, as the drift job finds them (a corpus given twice, or inside
/// another, counts once; a corpus without an item is an error). Item traces are not parsed:
/// one that turns out not to be IST fails to load with [`crate::Error::NotATrace`].
pub fn corpus_items(corpora: &[PathBuf], opts: &LoadOptions) -> Result<Vec<Item>, crate::Error> {
    let mut items: Vec<Item> = walk_corpora(corpora, opts)?
        .into_iter()
        .flat_map(|(_, _, found)| found)
        .collect();
    sort_distinct(&mut items);
    Ok(items)
}

/// The corpora once each: the same directory given twice (`corpus`, `./corpus`, its absolute
/// path) or a directory given with one of its subdirectories is walked once, as the outer
/// directory given first. Paths that do not resolve are kept (the walk reports them).
fn distinct_corpora(corpora: &[PathBuf]) -> Vec<&Path> {
    let resolved: Vec<(Option<PathBuf>, &Path)> = corpora
        .iter()
        .map(|c| (c.canonicalize().ok(), c.as_path()))
        .collect();
    let mut out: Vec<&Path> = Vec::new();
    for (i, (canon, path)) in resolved.iter().enumerate() {
        let covered = canon.as_ref().is_some_and(|me| {
            resolved.iter().enumerate().any(|(j, (other, _))| {
                other
                    .as_ref()
                    .is_some_and(|o| (me != o && me.starts_with(o)) || (me == o && j < i))
            })
        });
        if !covered {
            out.push(path);
        }
    }
    out
}

/// The error for a corpus argument without an item: a gate given a mistyped or empty
/// directory must not pass.
fn no_item(corpus: &Path, walked: &[crate::corpus::FileEntry]) -> crate::Error {
    let failed: Vec<String> = walked
        .iter()
        .filter_map(|e| match &e.status {
            crate::corpus::FileStatus::Failed { error } => Some(error.clone()),
            _ => None,
        })
        .collect();
    let mut message = format!(
        "no corpus item here ({} files): an item is a directory holding NAT's \
         all_requests_profiler_traces.json",
        walked.len()
    );
    if !failed.is_empty() {
        message.push_str(&format!(
            "; {} files failed, the first: {}",
            failed.len(),
            failed[0]
        ));
    }
    crate::Error::Format {
        path: corpus.to_path_buf(),
        message,
    }
}

fn abs_path(corpus: &Path, rel: &Path) -> PathBuf {
    if rel.is_absolute() || corpus.is_file() {
        rel.to_path_buf()
    } else {
        corpus.join(rel)
    }
}

/// Give each deferred entry its real status: from the item run that loaded it (requests and
/// steps, or the error), or, for items this job did not run (another partition), by loading
/// it now. A trace that turns out not to be one is skipped with the reason.
fn settle(
    entries: &mut [crate::corpus::FileEntry],
    deferred: &[(usize, PathBuf)],
    items: &[Item],
    outcomes: &[IstOutcome],
    opts: &LoadOptions,
) {
    use crate::corpus::FileStatus;
    for (i, path) in deferred {
        let run = items.iter().position(|it| it.ist == *path);
        entries[*i].status = match run.map(|k| &outcomes[k]) {
            None => crate::corpus::inspect_file(path, opts),
            Some(IstOutcome::Loaded(units, steps)) => FileStatus::Loaded {
                kind: "ist",
                units: *units,
                steps: *steps,
            },
            Some(IstOutcome::NotATrace(reason)) => FileStatus::Skipped {
                reason: reason.clone(),
            },
            Some(IstOutcome::Failed(error)) => FileStatus::Failed {
                error: error.clone(),
            },
        };
    }
}

/// 2 if a file failed to load or an item could not run, 1 if there is drift the policy does
/// not expect, 0 otherwise.
pub fn exit_code(entries: &[crate::corpus::FileEntry], report: &DriftReport) -> u8 {
    if entries.iter().any(crate::corpus::FileEntry::is_failed) || report.errors() > 0 {
        2
    } else if report.failing() {
        1
    } else {
        0
    }
}
