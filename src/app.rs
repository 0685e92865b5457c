//! The application layer of the commands both binaries run: `atif-drift drift` and
//! `cargo xtask drift` call [`drift()`], so that they share one implementation (checks, outputs,
//! exit code) and differ only in their defaults.

use std::path::PathBuf;

use crate::drift::{
    self,
    policy::{Policy, PolicySource},
};
use crate::error::{Error, Result};
use crate::frame::from_atif::Builder;
use crate::fsio::{self, OutputDir};
pub use crate::job::sides::Sides;
use crate::report;
use crate::report::terminal::{Style, Verbosity};
use crate::trace::LoadOptions;

/// The files `drift --out DIR` writes.
pub(crate) const REPORT_FILES: &[&str] = &[
    "report.json",
    "report.md",
    "report.html",
    "junit.xml",
    "attribution.json",
    "attribution.md",
];

/// GitHub's limit on a step summary is 1 MiB; ours stays under it with room for others.
const STEP_SUMMARY_LIMIT: usize = 1_000_000;

/// How to render a drift report on standard output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    /// The verdict, the overview, the unexpected patterns and the verdict again, fit to the
    /// terminal ([`terminal_style`]).
    Table,
    /// The Markdown report.
    Markdown,
    /// The schema-versioned JSON report.
    Json,
    /// The HTML report: one self-contained page with a heatmap and request timelines.
    Html,
    /// JUnit XML: a suite per item × builder, a test case per output, a failure per
    /// unexpected pattern.
    Junit,
}

/// A drift run, as the command line gives it.
#[derive(Debug, Clone)]
pub struct DriftCommand {
    /// Corpus directories (or item trace files).
    pub corpora: Vec<PathBuf>,
    /// The policy: built in, none, or a file.
    pub policy: PolicySource,
    /// The paths compared: the left one with each right one (our default: `ist` with
    /// `atif:` each builder), and where external profilers' outputs are cached.
    pub sides: Sides,
    /// What standard output shows.
    pub format: ReportFormat,
    /// How much the table format shows.
    pub verbosity: Verbosity,
    /// Where to also write report.json, report.md, report.html and junit.xml.
    pub out: Option<PathBuf>,
    /// Replace `out` even when it holds other files.
    pub force: bool,
    /// `k/n`: run only this partition.
    pub partition: Option<String>,
    /// Compare with this earlier JSON report: drift that grew fails, not the policy's
    /// unexpected drift (the ratchet).
    pub baseline: Option<PathBuf>,
    /// Write this run's JSON report here, to be a later run's baseline.
    pub write_baseline: Option<PathBuf>,
    /// Append the Markdown report here (GitHub's `GITHUB_STEP_SUMMARY`).
    pub step_summary: Option<PathBuf>,
    /// List every corpus file's status before the report (the xtask's view).
    pub list_files: bool,
    /// Also measure which ATIF losses produce each pattern ([`attribute`]) and say so in
    /// the report.
    pub explain: bool,
    /// Input limits.
    pub load: LoadOptions,
}

/// Render `r` in `format` (the table in `style`).
pub fn render_drift(r: &drift::DriftReport, format: ReportFormat, style: &Style) -> String {
    match format {
        ReportFormat::Table => report::terminal::render(r, style),
        ReportFormat::Markdown => report::drift::markdown(r),
        ReportFormat::Json => report::drift::json(r),
        ReportFormat::Html => report::html::html(r),
        ReportFormat::Junit => report::junit::junit(r),
    }
}

/// Run `cmd`: everything that can be refused (policy, partition, output directory) is
/// checked before the job runs. `stdout` receives the report, `stderr` the errors. Returns
/// the exit code: 0 no unexpected drift, 1 unexpected drift, 2 a file or item failed.
pub fn drift(
    cmd: &DriftCommand,
    stdout: &mut dyn FnMut(&str),
    stderr: &mut dyn FnMut(&str),
) -> Result<u8> {
    let policy = load_policy(&cmd.policy)?;
    let part = cmd
        .partition
        .as_deref()
        .map(crate::job::parse_partition)
        .transpose()
        .map_err(|e| Error::Other(format!("--partition: {e}")))?;
    // The baseline is not among the inputs: it is read before the run, so it may be renewed
    // in place.
    let mut inputs: Vec<&std::path::Path> = cmd.corpora.iter().map(PathBuf::as_path).collect();
    inputs.extend(cmd.policy.file());
    let out_dir = match &cmd.out {
        Some(dir) => {
            // --force replaces the directory whole: never one holding an input.
            fsio::refuse_overwriting_inputs(dir, &inputs, true)?;
            Some(OutputDir::create(dir, REPORT_FILES, cmd.force)?)
        }
        None => None,
    };
    if let Some(file) = &cmd.write_baseline {
        fsio::refuse_overwriting_inputs(file, &inputs, false)?;
    }
    let baseline = cmd.baseline.as_deref().map(read_report).transpose()?;
    let (entries, mut r) = job_with_progress(&cmd.corpora, &cmd.sides, &policy, &cmd.load, part)?;
    // The built-in policy covers run shapes a given run need not have (every analysis on,
    // parallel tools, subagents): an entry it did not use is no news to its user. A policy
    // file's unused entries are reported: the file is theirs to keep current.
    if cmd.policy == PolicySource::Builtin {
        r.unused_expectations.clear();
    }
    // The timelines are the HTML report's (and stay in report.json beside it, for
    // `merge-reports --format html`).
    if cmd.format != ReportFormat::Html && cmd.out.is_none() {
        r = r.without_timelines();
    }
    let attribution = match cmd.explain {
        true => {
            let mut items = crate::job::corpus_items(&cmd.corpora, &cmd.load)?;
            if let Some((k, n)) = part {
                items = crate::job::partition(items, k, n);
            }
            let pb = progress_bar("explain");
            show_progress(&pb, items.len());
            let a =
                crate::job::attribute::attribute(&items, &policy, &cmd.load, true, &|| pb.inc(1));
            pb.finish_and_clear();
            drift::attribution::annotate(&mut r, &a);
            Some(a)
        }
        false => None,
    };
    if let Some(file) = &cmd.write_baseline {
        write_baseline(file, &r)?;
    }
    if let (Some(b), Some(path)) = (&baseline, &cmd.baseline) {
        r.baseline = Some(drift::baseline::compare(&r, b, &path.display().to_string()));
    }
    if cmd.list_files {
        let t = report::inventory::totals(&entries);
        stdout(&format!(
            "{} files: {} loaded, {} skipped, {} failed\n",
            entries.len(),
            t.loaded,
            t.skipped,
            t.failed
        ));
    }
    let mut text = render_drift(&r, cmd.format, &terminal_style(cmd.verbosity));
    if let Some(a) = &attribution {
        match cmd.format {
            ReportFormat::Markdown => text.push_str(&report::attribution::markdown_section(a)),
            ReportFormat::Table => text.push_str(&report::attribution::summary_line(a)),
            _ => {}
        }
    }
    stdout(&text);
    for f in &r.failures {
        stderr(&format!("error: {f}\n"));
    }
    if let Some(dir) = out_dir {
        dir.write("report.json", report::drift::json(&r).as_bytes())?;
        dir.write("report.md", report::drift::markdown(&r).as_bytes())?;
        dir.write("report.html", report::html::html(&r).as_bytes())?;
        dir.write("junit.xml", report::junit::junit(&r).as_bytes())?;
        if let Some(a) = &attribution {
            let json = format!(
                "{}\n",
                serde_json::to_string_pretty(a).map_err(|e| Error::Other(e.to_string()))?
            );
            dir.write("attribution.json", json.as_bytes())?;
            dir.write(
                "attribution.md",
                report::attribution::markdown(a).as_bytes(),
            )?;
        }
        dir.commit()?;
    }
    if let Some(summary) = &cmd.step_summary {
        append(
            summary,
            &report::drift::markdown_within(&r, STEP_SUMMARY_LIMIT),
        )?;
    }
    Ok(crate::job::exit_code(&entries, &r))
}

/// Write `r` to `file` as a later run's baseline: its JSON without the timelines (the ratchet
/// compares patterns; the timelines are the HTML report's).
pub fn write_baseline(file: &std::path::Path, r: &drift::DriftReport) -> Result<()> {
    let json = if r.items.iter().any(|i| !i.timelines.is_empty()) {
        report::drift::json(&r.clone().without_timelines())
    } else {
        report::drift::json(r)
    };
    fsio::write_atomic(file, json.as_bytes())
}

/// The terminal report's style for standard output: its width is `COLUMNS` when set, else
/// the terminal's, else 100 (a log); colour only on a terminal, off with `NO_COLOR` (any
/// value), `CLICOLOR=0` or `TERM=dumb`, on anywhere with `CLICOLOR_FORCE` (not `0`).
pub fn terminal_style(verbosity: Verbosity) -> Style {
    use std::io::IsTerminal;
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    let tty = std::io::stdout().is_terminal();
    let width = var("COLUMNS")
        .and_then(|v| v.to_str()?.trim().parse::<usize>().ok())
        .filter(|&w| w >= 20)
        .or_else(|| {
            let (terminal_size::Width(w), _) = terminal_size::terminal_size()?;
            tty.then_some(w as usize)
        })
        .unwrap_or(Style::LOG.width);
    let is = |k: &str, v: &str| var(k).is_some_and(|x| x == v);
    let forced = var("CLICOLOR_FORCE").is_some_and(|x| x != "0");
    let color =
        forced || (tty && var("NO_COLOR").is_none() && !is("CLICOLOR", "0") && !is("TERM", "dumb"));
    Style {
        width,
        color,
        verbosity,
    }
}

/// The policy `source` names: its file read and parsed, the built-in one, or none.
pub fn load_policy(source: &PolicySource) -> Result<Policy> {
    match source {
        PolicySource::File(p) => crate::job::load_policy(p),
        PolicySource::None => Ok(Policy::default()),
        PolicySource::Builtin => Policy::from_toml(drift::policy::BUILTIN)
            .map_err(|e| Error::Other(format!("the built-in policy: {e}"))),
    }
}

/// A `policy suggest` run, as the command line gives it.
#[derive(Debug, Clone)]
pub struct SuggestCommand {
    /// Corpus directories.
    pub corpora: Vec<PathBuf>,
    /// The builders whose drift is measured.
    pub builders: Vec<Builder>,
    /// The policy to start from and update (its reasons and comments kept); `None`: the
    /// built-in one.
    pub base: Option<PathBuf>,
    /// The bounds to measure.
    pub bounds: Vec<drift::suggest::Bound>,
    /// How far above the largest drift seen a bound is set (0.1: 10 %).
    pub margin: f64,
    /// The policy file to write.
    pub output: PathBuf,
    /// Input limits.
    pub load: LoadOptions,
}

/// Run `cmd`: measure the corpus's drift under the base policy and write the policy with
/// measured bounds. Returns (expectations bounded, expectations added).
pub fn suggest_policy(cmd: &SuggestCommand) -> Result<(usize, usize)> {
    let text = match &cmd.base {
        Some(p) => fsio::read_text(p, fsio::SMALL_FILE_LIMIT)?,
        None => drift::policy::BUILTIN.to_string(),
    };
    let named = |e: drift::policy::PolicyError| Error::Format {
        path: cmd
            .base
            .clone()
            .unwrap_or_else(|| "(built-in policy)".into()),
        message: e.to_string(),
    };
    let policy = Policy::from_toml(&text).map_err(named)?;
    let inputs: Vec<&std::path::Path> = cmd.corpora.iter().map(PathBuf::as_path).collect();
    fsio::refuse_overwriting_inputs(&cmd.output, &inputs, false)?;
    let sides = Sides::of_builders(&cmd.builders);
    let (_, r) = job_with_progress(&cmd.corpora, &sides, &policy, &cmd.load, None)?;
    if r.errors() > 0 {
        return Err(Error::Other(format!(
            "{} items or files could not be compared (see `drift`): no policy written",
            r.errors()
        )));
    }
    let before = policy.expectations().count();
    let out =
        drift::suggest::suggest(&r, &policy, &text, &cmd.bounds, cmd.margin).map_err(named)?;
    let after = Policy::from_toml(&out).map_err(named)?;
    let bounded = after
        .expectations()
        .take(before)
        .zip(policy.expectations())
        .filter(|(a, b)| a != b)
        .count();
    fsio::write_atomic(&cmd.output, out.as_bytes())?;
    Ok((bounded, after.expectations().count() - before))
}

/// An `attribute` run, as the command line gives it.
#[derive(Debug, Clone)]
pub struct AttributeCommand {
    /// Corpus directories.
    pub corpora: Vec<PathBuf>,
    /// The policy whose `loss =` labels are checked.
    pub policy: PolicySource,
    /// Also split pr1751's drift into ATIF's losses and PR #1751's mapping.
    pub pr1751: bool,
    /// Input limits.
    pub load: LoadOptions,
}

/// Run `cmd`: every item's drift under every ATIF variant, attributed loss by loss.
pub fn attribute(cmd: &AttributeCommand) -> Result<drift::attribution::AttributionReport> {
    let policy = load_policy(&cmd.policy)?;
    let items = crate::job::corpus_items(&cmd.corpora, &cmd.load)?;
    if items.is_empty() {
        return Err(Error::Other(format!(
            "no corpus item (a directory with all_requests_profiler_traces.json) under {}",
            cmd.corpora
                .iter()
                .map(|c| c.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let pb = progress_bar("attribute");
    show_progress(&pb, items.len());
    let r = crate::job::attribute::attribute(&items, &policy, &cmd.load, cmd.pr1751, &|| pb.inc(1));
    pb.finish_and_clear();
    Ok(r)
}

/// A drift report written by `drift --format json`, `--out` or `--write-baseline`.
pub fn read_report(path: &std::path::Path) -> Result<drift::DriftReport> {
    fsio::parse_text_file(path, |text| {
        let r: drift::DriftReport = serde_json::from_str(text).map_err(|e| {
            format!(
                "not a drift report (JSON, schema {}): {e}",
                drift::REPORT_SCHEMA
            )
        })?;
        if r.schema != drift::REPORT_SCHEMA {
            return Err(format!(
                "report schema {:?} is not {:?}",
                r.schema,
                drift::REPORT_SCHEMA
            ));
        }
        Ok(r.with_sides())
    })
}

/// A progress bar on standard error, drawn only when it is a terminal.
pub(crate) fn progress_bar(what: &'static str) -> indicatif::ProgressBar {
    // Hidden until its length is known ([`show_progress`]): a first frame at 0/0 is a full bar.
    let pb =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::hidden());
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {elapsed}")
    {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_prefix(what);
    pb
}

/// Give a [`progress_bar`] its length and start drawing it (on a terminal only).
pub(crate) fn show_progress(pb: &indicatif::ProgressBar, len: usize) {
    pb.set_length(len as u64);
    pb.set_draw_target(indicatif::ProgressDrawTarget::stderr());
}

/// [`crate::job::job_with`] with a progress bar on standard error (drawn only on a terminal).
pub(crate) fn job_with_progress(
    corpora: &[PathBuf],
    sides: &Sides,
    policy: &Policy,
    opts: &LoadOptions,
    partition: Option<(usize, usize)>,
) -> Result<(Vec<crate::corpus::FileEntry>, drift::DriftReport)> {
    let pb = progress_bar("drift");
    let r = crate::job::job_with_sides(
        corpora,
        sides,
        policy,
        opts,
        partition,
        &|n| show_progress(&pb, n),
        &|| pb.inc(1),
    );
    pb.finish_and_clear();
    r
}

/// Set once standard output is closed (`| head`): later output is dropped and the exit code
/// stays the verdict's.
static STDOUT_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Write `text` to standard output, for both binaries. A closed pipe drops the rest quietly
/// (the run goes on to its verdict and exit code: a gate piped into `head` must still fail);
/// any other write error ends the process with exit 2.
pub fn print_stdout(text: &str) {
    use std::io::Write;
    use std::sync::atomic::Ordering;
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
            return;
        }
        eprintln!("error: cannot write to standard output: {e}");
        std::process::exit(2);
    }
}

/// Append `text` to the file `path` (a CI step summary: other steps write it too).
fn append(path: &std::path::Path, text: &str) -> Result<()> {
    use std::io::Write;
    let err = |cause| Error::Write {
        path: path.to_path_buf(),
        cause,
    };
    if path.is_dir() {
        return Err(err(std::io::Error::other("is a directory")));
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(err)
}

#[cfg(test)]
mod tests {
    /// The bar draws nothing until its length is known (its first frame was a full bar at 0/0).
    #[test]
    fn progress_is_hidden_until_its_length_is_known() {
        let pb = super::progress_bar("t");
        assert!(pb.is_hidden());
        assert_eq!(pb.length(), None);
        super::show_progress(&pb, 3);
        assert_eq!(pb.length(), Some(3));
    }
}
