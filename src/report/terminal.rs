//! The drift report on a terminal or in a CI log: the verdict first and last, an overview
//! that fits the width (one row per item × builder), each unexpected pattern with its size,
//! its largest difference and an example with both sides labelled, and what to do about a
//! failure. `-v` adds the per-output table, every pattern, the mooncake replay and the
//! builders side by side. Pure: the width, colour and verbosity come from the caller.

use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};

use crate::drift::value_diff::Change;
use crate::drift::{DriftReport, ItemDrift, OutputDrift, PatternDrift};

/// How much the terminal report shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    /// The verdict only.
    Quiet,
    /// The verdict, the overview, the unexpected patterns and what to do.
    Normal,
    /// Also every output, every pattern, the mooncake replay and the builders side by side.
    Verbose,
}

/// Where the report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// Columns to fit (a terminal's width; 100 in a log).
    pub width: usize,
    /// ANSI colours for the verdict and the status.
    pub color: bool,
    /// How much to show.
    pub verbosity: Verbosity,
}

impl Style {
    /// A log's style: 100 columns, no colour, normal verbosity.
    pub const LOG: Style = Style {
        width: 100,
        color: false,
        verbosity: Verbosity::Normal,
    };
}

/// The outcome of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// No unexpected drift, no error.
    Pass,
    /// Unexpected drift.
    Fail,
    /// An item or a file could not be compared.
    Error,
}

impl Outcome {
    /// `PASS`, `FAIL` or `ERROR`: the verdict line's first word.
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Pass => "PASS",
            Outcome::Fail => "FAIL",
            Outcome::Error => "ERROR",
        }
    }
}

/// The verdict: its outcome and its line (`PASS: …`, `FAIL: 3 unexpected patterns in 2
/// items …`, `ERROR: …`).
pub fn verdict(r: &DriftReport) -> (Outcome, String) {
    let outputs: usize = r.items.iter().map(|i| i.outputs.len()).sum();
    let drifting = r
        .items
        .iter()
        .flat_map(|i| &i.outputs)
        .filter(|o| o.differing > 0)
        .count();
    let unexpected: Vec<(&ItemDrift, &PatternDrift)> = r.unexpected_patterns().collect();
    let mut items: Vec<&str> = unexpected.iter().map(|(i, _)| i.item.as_str()).collect();
    items.dedup();
    let fail = format!(
        "{} in {}",
        plural(unexpected.len(), "unexpected pattern"),
        plural(items.len(), "item"),
    );
    let runs = format!(
        "{}, {}",
        plural(r.items.len(), "run"),
        plural(outputs, "output")
    );
    if r.errors() > 0 {
        let also = if unexpected.is_empty() {
            String::new()
        } else {
            format!("; {fail}")
        };
        let what = match r.errors() {
            1 => "1 item or file".to_string(),
            n => format!("{n} items or files"),
        };
        return (
            Outcome::Error,
            format!("ERROR: {what} could not be compared{also} ({runs})"),
        );
    }
    if let Some(b) = &r.baseline {
        let shrank = plural(b.shrank.len(), "pattern");
        if !b.grew.is_empty() {
            let grew = plural(b.grew.len(), "pattern");
            return (
                Outcome::Fail,
                format!("FAIL: {grew} grew against the baseline, {shrank} shrank ({runs})"),
            );
        }
        return (
            Outcome::Pass,
            format!("PASS: no drift grew against the baseline, {shrank} shrank ({runs})"),
        );
    }
    if !unexpected.is_empty() {
        let values = plural(r.unexpected(), "value");
        return (Outcome::Fail, format!("FAIL: {fail} ({values}; {runs})"));
    }
    (
        Outcome::Pass,
        format!("PASS: no unexpected drift ({runs}, {drifting} with expected drift)"),
    )
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

fn paint(s: &str, code: &str, color: bool) -> String {
    if color {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

/// The verdict line, its first word coloured.
fn verdict_line(r: &DriftReport, color: bool) -> String {
    let (outcome, line) = verdict(r);
    let code = match outcome {
        Outcome::Pass => "1;32",
        Outcome::Fail => "1;31",
        Outcome::Error => "1;33",
    };
    match line.split_once(':') {
        Some((word, rest)) => format!("{}:{rest}\n", paint(word, code, color)),
        None => format!("{line}\n"),
    }
}

/// Which end of a cell that is too long is cut.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Cut {
    /// Keep the start (a pattern: `rows.LLM_NEW…`).
    End,
    /// Keep the end (a path: `…generated/seed-2`).
    Start,
}

/// A table of `header` and `rows` that fits `width` columns without breaking a word: when it
/// is too wide, the cells of column `flex` are cut short with `…` (to no fewer than 12
/// columns); when it is still too wide, column `flex` is left out. Header cells may hold
/// line breaks.
pub(crate) fn fit(
    header: &[&str],
    rows: &[Vec<String>],
    width: usize,
    (flex, end): (usize, Cut),
) -> String {
    let len = |s: &str| s.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    let natural: Vec<usize> = (0..header.len())
        .map(|c| {
            rows.iter()
                .map(|r| len(&r[c]))
                .chain([len(header[c])])
                .max()
                .unwrap_or(0)
        })
        .collect();
    // "│ " + " ┆ " between cells + " │".
    let total = |widths: &[usize]| widths.iter().sum::<usize>() + 3 * widths.len() + 1;
    let mut keep: Vec<usize> = (0..header.len()).collect();
    let mut cut = natural[flex];
    if total(&natural) > width {
        let others = total(&natural) - natural[flex];
        // Cut to what is left, down to 8 characters (`…d/seed-2`); narrower, the column goes.
        cut = width.saturating_sub(others).max(len(header[flex]));
        if others + cut > width || cut < 8 {
            keep.retain(|&c| c != flex);
        }
    }
    let cell = |c: usize, text: &str| -> String {
        if c != flex || text.chars().count() <= cut {
            return text.to_string();
        }
        let n = text.chars().count();
        match end {
            Cut::End => text.chars().take(cut - 1).chain(['…']).collect(),
            Cut::Start => ['…']
                .into_iter()
                .chain(text.chars().skip(n + 1 - cut))
                .collect(),
        }
    };
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(keep.iter().map(|&c| header[c]).collect::<Vec<_>>());
    for r in rows {
        t.add_row(keep.iter().map(|&c| cell(c, &r[c])).collect::<Vec<_>>());
    }
    format!("{t}\n")
}

/// `same`, `expected` or `NEW: n values`, from the values differing and those unexpected.
fn status(differing: usize, unexpected: usize) -> String {
    match (differing, unexpected) {
        (0, _) => "same".into(),
        (_, 0) => "expected".into(),
        (_, n) => format!("NEW: {n} values"),
    }
}

/// An item × builder's totals over its outputs.
pub(crate) struct Totals {
    /// Values differing.
    pub differing: usize,
    /// Values compared.
    pub compared: usize,
    /// Outputs with drift.
    pub drifting: usize,
    /// Values the policy does not expect.
    pub unexpected: usize,
}

/// The totals of `i`'s outputs.
pub(crate) fn totals(i: &ItemDrift) -> Totals {
    let (differing, compared) = i
        .outputs
        .iter()
        .fold((0, 0), |(d, c), o| (d + o.differing, c + o.compared));
    Totals {
        differing,
        compared,
        drifting: i.outputs.iter().filter(|o| o.differing > 0).count(),
        unexpected: i.outputs.iter().map(OutputDrift::unexpected).sum(),
    }
}

/// The paths column of a table: `ist vs` over `atif:pr1751` when every row has the same
/// left side (a narrow column), else `paths` over `stored:. vs ist`.
fn paths_column(r: &DriftReport) -> (String, impl Fn(&ItemDrift) -> String) {
    let first = r.items.first().map(|i| i.left.clone());
    let one_left = first
        .as_ref()
        .filter(|l| r.items.iter().all(|i| &i.left == *l));
    let header = match one_left {
        Some(l) => format!("{l} vs"),
        None => "paths".to_string(),
    };
    let one = one_left.is_some();
    let cell = move |i: &ItemDrift| if one { i.right.clone() } else { i.label() };
    (header, cell)
}

/// One row per item × builder: its values differing, its outputs with drift, its status.
fn overview(r: &DriftReport, style: &Style) -> String {
    let (paths, cell) = paths_column(r);
    let header = [
        "item",
        paths.as_str(),
        "differing / compared",
        "outputs",
        "status",
    ];
    let mut rows = Vec::new();
    for i in &r.items {
        let builder = cell(i);
        if i.error.is_some() {
            let dash = || "-".to_string();
            rows.push(vec![
                i.item.clone(),
                builder,
                dash(),
                dash(),
                "ERROR".into(),
            ]);
            continue;
        }
        let t = totals(i);
        let status = if i.outputs.is_empty() && !i.not_produced.is_empty() {
            "not produced".to_string()
        } else {
            status(t.differing, t.unexpected)
        };
        rows.push(vec![
            i.item.clone(),
            builder,
            format!("{} / {}", t.differing, t.compared),
            format!("{} of {}", t.drifting, i.outputs.len()),
            status,
        ]);
    }
    let mut s = fit(&header, &rows, style.width, (0, Cut::Start));
    for e in errors(r) {
        push_wrapped(&mut s, &format!("error: {e}"), style.width, "    ");
    }
    for n in not_produced(r) {
        push_wrapped(&mut s, &format!("not compared: {n}"), style.width, "    ");
    }
    s
}

/// Per item whose sides did not write the same files, what one side did not write
/// (`item [stored:. vs ist]: stored:. did not write forecast.json`): those files are not
/// compared.
pub(crate) fn not_produced(r: &DriftReport) -> impl Iterator<Item = String> + '_ {
    r.items
        .iter()
        .filter(|i| !i.not_produced.is_empty())
        .map(|i| {
            let mut by_side: Vec<(&str, Vec<&str>)> = Vec::new();
            for n in &i.not_produced {
                let (side, file) = n.rsplit_once(": ").unwrap_or(("", n));
                match by_side.iter_mut().find(|(s, _)| *s == side) {
                    Some((_, files)) => files.push(file),
                    None => by_side.push((side, vec![file])),
                }
            }
            let said: Vec<String> = by_side
                .iter()
                .map(|(side, files)| format!("{side} did not write {}", files.join(", ")))
                .collect();
            format!("{} [{}]: {}", i.item, i.label(), said.join("; "))
        })
}

/// The items that could not be compared (`item [builder]: error`), then the files that
/// failed to load.
pub(crate) fn errors(r: &DriftReport) -> impl Iterator<Item = String> + '_ {
    r.items
        .iter()
        .filter_map(|i| {
            let e = i.error.as_ref()?;
            Some(format!("{} [{}]: {e}", i.item, i.label()))
        })
        .chain(r.failures.iter().cloned())
}

/// One row per item × builder × output, with its largest pattern (`-v`).
fn outputs_table(r: &DriftReport, style: &Style) -> String {
    let (paths, cell) = paths_column(r);
    let header = [
        "item",
        paths.as_str(),
        "output",
        "differing\n/ compared",
        "status",
        "largest pattern",
    ];
    let mut rows = Vec::new();
    for i in &r.items {
        for o in &i.outputs {
            let worst = o
                .patterns
                .iter()
                .max_by_key(|p| (p.is_unexpected(), p.values))
                .map(|p| format!("{}: {}", plural(p.values, "value"), local(&p.pattern)))
                .unwrap_or_default();
            rows.push(vec![
                i.item.clone(),
                cell(i),
                o.file.clone(),
                format!("{} / {}", o.differing, o.compared),
                status(o.differing, o.unexpected()),
                worst,
            ]);
        }
    }
    fit(&header, &rows, style.width, (5, Cut::End))
}

/// A `file:path` pattern or path without its file (`rows.TOOL_START` for
/// `standardized_data_all.csv:rows.TOOL_START`).
pub(crate) fn local(at: &str) -> &str {
    at.split_once(':').map_or(at, |(_, rest)| rest)
}

/// `s` cut to `max` characters, the last of them `…` when it is cut.
pub(crate) fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    format!(
        "{}…",
        s.chars().take(max.saturating_sub(1)).collect::<String>()
    )
}

/// A value as an example shows it: JSON, cut to `max` characters.
pub(crate) fn shown(v: &serde_json::Value, max: usize) -> String {
    cut(&serde_json::to_string(v).unwrap_or_default(), max)
}

/// The example of a pattern, both sides labelled, each cut to `max` characters.
pub(crate) fn example(p: &PatternDrift, max: usize, i: &ItemDrift) -> String {
    let (l, r) = (&i.left, &i.right);
    match &p.example {
        Change::Value { left, right } => {
            format!("{l} {} → {r} {}", shown(left, max), shown(right, max))
        }
        Change::Type { left, right } => format!(
            "{l} {} → {r} {} (another type)",
            shown(left, max),
            shown(right, max)
        ),
        Change::OnlyLeft { value } => format!("{l} only: {}", shown(value, max)),
        Change::OnlyRight { value } => format!("{r} only: {}", shown(value, max)),
    }
}

/// The largest numeric difference of a pattern, when it has one: `193 (17.6 %)`.
pub(crate) fn difference(p: &PatternDrift) -> Option<String> {
    let abs = p.max_abs?;
    Some(match p.max_rel {
        Some(rel) if rel < 0.0005 => format!("{} (< 0.1 %)", number(abs)),
        Some(rel) => format!("{} ({:.1} %)", number(abs), 100.0 * rel),
        None => number(abs),
    })
}

fn largest(p: &PatternDrift) -> Option<String> {
    difference(p).map(|d| format!("largest |Δ| {d}"))
}

fn number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        format!("{x:.6}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

/// One pattern as a block of lines wrapped to the width: its head, its size and largest
/// difference, its example, its reason when expected.
fn pattern_block(i: &ItemDrift, p: &PatternDrift, style: &Style) -> String {
    let head = if p.is_unexpected() {
        paint("NEW DRIFT", "1;31", style.color)
    } else {
        "expected".to_string()
    };
    let mut size = plural(p.values, "value");
    if let Some(l) = largest(p) {
        size = format!("{size}, {l}");
    }
    let max = style.width.saturating_sub(30).max(20);
    let (file, pattern) = p.pattern.split_once(':').unwrap_or(("", &p.pattern));
    let at = local(&p.example_path);
    let mut lines = vec![
        format!("{head} {} [{}] {file}", i.item, i.label()),
        format!("  {pattern}: {size}"),
        format!("  e.g. {at}: {}", example(p, max, i)),
    ];
    if let Some(bound) = &p.exceeded {
        lines.push(format!("  bound exceeded: {bound}"));
    }
    if let Some(why) = &p.expected {
        lines.push(format!("  why: {why}"));
    }
    let mut s = String::new();
    for l in lines {
        push_wrapped(&mut s, &l, style.width, "    ");
    }
    s
}

/// `text` as lines of at most `width` columns (the ones after the first indented by
/// `indent`), each ended, after `s`. Wrapped at spaces only: never inside a word, a path or
/// a hyphenated name.
fn push_wrapped(s: &mut String, text: &str, width: usize, indent: &str) {
    let opts = textwrap::Options::new(width.max(20))
        .subsequent_indent(indent)
        .break_words(false)
        .word_separator(textwrap::WordSeparator::AsciiSpace)
        .word_splitter(textwrap::WordSplitter::NoHyphenation);
    for line in textwrap::wrap(text, opts) {
        s.push_str(&line);
        s.push('\n');
    }
}

/// The mooncake replay's measures: per item one paragraph wrapped to `width` (ten columns do
/// not fit a terminal).
fn mooncake_lines(r: &DriftReport, width: usize) -> Option<String> {
    let (header, rows) = super::drift::mooncake_rows(r)?;
    let mut s = String::new();
    for row in rows {
        let measures: Vec<String> = header[1..]
            .iter()
            .zip(&row[1..])
            .map(|(h, v)| format!("{h} {v}"))
            .collect();
        push_wrapped(
            &mut s,
            &format!("{}: {}", row[0], measures.join(", ")),
            width,
            "    ",
        );
    }
    Some(s)
}

/// A baseline change: `item [builder] pattern: 3 → 5 values, largest |Δ| 1 → 2`.
pub(crate) fn baseline_line(c: &crate::drift::baseline::Change) -> String {
    let size = |s: &Option<crate::drift::baseline::Size>| match s {
        None => "none".to_string(),
        Some(s) => match s.max_abs {
            Some(d) => format!("{} (largest |Δ| {})", plural(s.values, "value"), number(d)),
            None => plural(s.values, "value"),
        },
    };
    format!(
        "{} [{}] {}: {} → {}",
        c.item,
        c.builder,
        c.pattern,
        size(&c.before),
        size(&c.after)
    )
}

/// The drift that grew and shrank against the baseline, each list cut at `limit`.
fn baseline_section(r: &DriftReport, style: &Style, limit: usize) -> String {
    let Some(b) = &r.baseline else {
        return String::new();
    };
    let mut s = format!("\nAgainst the baseline {}:\n", b.file);
    for (what, list) in [("grew", &b.grew), ("shrank", &b.shrank)] {
        for c in list.iter().take(limit) {
            let line = format!("  {what}: {}", baseline_line(c));
            push_wrapped(&mut s, &line, style.width, "      ");
        }
        if list.len() > limit {
            s.push_str(&format!(
                "  … and {} more that {what}\n",
                list.len() - limit
            ));
        }
    }
    s
}

/// What to do about a failure or an error.
pub(crate) fn advice(r: &DriftReport) -> &'static str {
    match verdict(r).0 {
        Outcome::Pass => "",
        Outcome::Fail if r.baseline.is_some() => {
            "What to do: drift grew against the baseline: fix what made it grow, or, if the new \
             drift is right, renew the baseline with --write-baseline.\n"
        }
        Outcome::Fail => {
            "What to do: if the ATIF side is wrong, fix the exporter or the builder; if the drift \
             is what moving to ATIF means, accept it with an [[expected]] entry (pattern and \
             reason) in the policy file (`atif-drift policy suggest CORPUS --update POLICY -o \
             POLICY` writes them, bounded, for you to review). --out DIR writes report.html \
             (heatmap, request timelines), report.md and report.json with every pattern.\n"
        }
        Outcome::Error => {
            "What to do: the errors above name each file and what is wrong with it; an item that \
             cannot be compared fails the run whatever the others say.\n"
        }
    }
}

/// The report for a terminal or a log, in `style`.
pub fn render(r: &DriftReport, style: &Style) -> String {
    let verdict = verdict_line(r, style.color);
    if style.verbosity == Verbosity::Quiet {
        return verdict;
    }
    let mut s = verdict.clone();
    s.push('\n');
    s.push_str(&overview(r, style));
    if style.verbosity == Verbosity::Verbose {
        s.push('\n');
        s.push_str(&outputs_table(r, style));
        if let Some(m) = mooncake_lines(r, style.width) {
            s.push_str("\nMooncake replay (aiperf), IST rows vs ATIF rows:\n");
            s.push_str(&m);
        }
        if let Some(side) = super::drift::builders_side_by_side(r, style.width) {
            s.push_str(
                "\nNAT's ATIF mapping (pr1751) vs the faithful builder, values differing from \
                 the IST path:\n",
            );
            s.push_str(&side);
        }
    }
    s.push_str(&baseline_section(r, style, 40));
    let blocks: Vec<String> = r
        .items
        .iter()
        .flat_map(|i| {
            i.outputs
                .iter()
                .flat_map(|o| &o.patterns)
                // Against a baseline the ratchet decides: the policy's view is `-v`'s.
                .filter(|p| {
                    style.verbosity == Verbosity::Verbose
                        || (p.is_unexpected() && r.baseline.is_none())
                })
                .map(move |p| pattern_block(i, p, style))
        })
        .collect();
    const SHOWN: usize = 40;
    let limit = if style.verbosity == Verbosity::Verbose {
        usize::MAX
    } else {
        SHOWN
    };
    if !blocks.is_empty() {
        s.push('\n');
    }
    for b in blocks.iter().take(limit) {
        s.push_str(b);
    }
    if blocks.len() > limit {
        s.push_str(&format!(
            "… and {} more patterns (-v lists them all; so do the JSON and Markdown reports)\n",
            blocks.len() - limit
        ));
    }
    for u in &r.unused_expectations {
        let line = format!("warning: expectation matched nothing: {u}");
        push_wrapped(&mut s, &line, style.width, "    ");
    }
    let advice = advice(r);
    if !advice.is_empty() {
        s.push('\n');
        push_wrapped(&mut s, advice.trim_end(), style.width, "");
    }
    s.push('\n');
    s.push_str(&verdict);
    s
}
