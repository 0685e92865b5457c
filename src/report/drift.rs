//! Rendering a [`DriftReport`] as Markdown and JSON, and the tables the terminal report
//! ([`super::terminal`]) shares — pure functions.

use crate::drift::DriftReport;

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
}

/// A Markdown report, summary first: the verdict, the counts and the unexpected patterns;
/// then one row per item × builder, the mooncake replay, and per item × builder its
/// patterns (collapsed) with their size, largest difference, loss and reason. Each reason
/// is printed once, numbered, and referenced (`R3`); examples are cut to 80 characters
/// (the JSON report holds them whole).
pub fn markdown(r: &DriftReport) -> String {
    use std::fmt::Write;
    let (outcome, line) = super::terminal::verdict(r);
    let mut s = format!("## atif-drift: {}\n\n{line}\n", outcome.word());
    if let Some(b) = &r.baseline {
        let _ = writeln!(s, "\n### Against the baseline `{}`\n", md_escape(&b.file));
        for (what, list) in [("grew", &b.grew), ("shrank", &b.shrank)] {
            for c in list {
                let line = super::terminal::baseline_line(c);
                let _ = writeln!(s, "- {what}: {}", md_escape(&line));
            }
        }
    } else {
        unexpected_section(r, &mut s);
    }
    errors_section(r, &mut s);
    items_section(r, &mut s);
    if let Some(m) = mooncake_section(r) {
        s.push_str("\n### Mooncake replay (aiperf)\n\nIST rows (Dynamo's converter, cl100k_base, block size 64) vs rows from the ATIF side.\n\n");
        s.push_str(&m);
    }
    let reasons = patterns_section(r, &mut s);
    if !reasons.is_empty() {
        s.push_str("\n### Reasons\n\n");
        for (k, why) in reasons.iter().enumerate() {
            let _ = writeln!(s, "- **R{}**: {}", k + 1, md_escape(why));
        }
    }
    if !r.unused_expectations.is_empty() {
        s.push_str("\n### Stale expectations (matched nothing)\n\n");
        for u in &r.unused_expectations {
            let _ = writeln!(s, "- {}", md_escape(u));
        }
    }
    s
}

/// The unexpected patterns, one row each.
fn unexpected_section(r: &DriftReport, s: &mut String) {
    use std::fmt::Write;
    let unexpected: Vec<_> = r.unexpected_patterns().collect();
    if !unexpected.is_empty() {
        s.push_str("\n### Unexpected drift\n\n| item | paths | pattern | values | largest difference | example |\n|---|---|---|---:|---|---|\n");
        for (i, p) in &unexpected {
            let _ = writeln!(
                s,
                "| {} | {} | `{}` | {} | {} | {} |",
                md_escape(&i.item),
                md_escape(&i.label()),
                md_escape(&p.pattern),
                p.values,
                largest(p),
                md_escape(&example(p, i))
            );
        }
    }
}

/// The items that could not be compared and the files that failed.
fn errors_section(r: &DriftReport, s: &mut String) {
    use std::fmt::Write;
    let errors: Vec<String> = super::terminal::errors(r).collect();
    if !errors.is_empty() {
        s.push_str("\n### Errors\n\n");
        for e in errors {
            let _ = writeln!(s, "- {}", md_escape(&e));
        }
    }
    let missing: Vec<String> = super::terminal::not_produced(r).collect();
    if !missing.is_empty() {
        s.push_str("\n### Not compared (written by one side only)\n\n");
        for n in missing {
            let _ = writeln!(s, "- {}", md_escape(&n));
        }
    }
}

/// One row per item × builder.
fn items_section(r: &DriftReport, s: &mut String) {
    use std::fmt::Write;
    s.push_str("\n### Items\n\n| item | paths | differing / compared | outputs with drift | unexpected values |\n|---|---|---:|---:|---:|\n");
    for i in &r.items {
        let t = super::terminal::totals(i);
        let cells = if i.error.is_some() {
            "- | - | ERROR".to_string()
        } else {
            format!(
                "{} / {} | {} of {} | {}",
                t.differing,
                t.compared,
                t.drifting,
                i.outputs.len(),
                t.unexpected
            )
        };
        let _ = writeln!(
            s,
            "| {} | {} | {cells} |",
            md_escape(&i.item),
            md_escape(&i.label())
        );
    }
}

/// Per item × builder its patterns, collapsed; returns the reasons they reference, in order.
fn patterns_section<'r>(r: &'r DriftReport, s: &mut String) -> Vec<&'r str> {
    use std::fmt::Write;
    // Reasons, numbered in order of first use.
    let mut reasons: Vec<&str> = Vec::new();
    s.push_str("\n### Patterns\n");
    for i in r
        .items
        .iter()
        .filter(|i| i.outputs.iter().any(|o| !o.patterns.is_empty()))
    {
        let n: usize = i.outputs.iter().map(|o| o.patterns.len()).sum();
        let _ = write!(
            s,
            "\n<details><summary>{} · {} — {n} patterns</summary>\n\n| output | pattern | values | largest difference | loss | why |\n|---|---|---:|---|---|---|\n",
            md_escape(&i.item),
            md_escape(&i.label())
        );
        for o in &i.outputs {
            for p in &o.patterns {
                let local = super::terminal::local(&p.pattern);
                let why = match (&p.expected, &p.exceeded) {
                    (Some(why), Some(bound)) => format!(
                        "**bound exceeded**: {} ({})",
                        md_escape(bound),
                        reason_ref(&mut reasons, why)
                    ),
                    (Some(why), None) => reason_ref(&mut reasons, why),
                    (None, _) if p.within_threshold.is_some() => "within threshold".into(),
                    (None, _) => "**not expected**".into(),
                };
                let _ = writeln!(
                    s,
                    "| `{}` | `{}` | {} | {} | {} | {why} |",
                    o.file,
                    md_escape(local),
                    p.values,
                    largest(p),
                    loss_cell(p)
                );
            }
        }
        s.push_str("\n</details>\n");
    }
    reasons
}

/// A pattern's loss label, with the losses measured to produce it when measured (`drift
/// --explain`) and a contradicted label marked.
pub fn loss_cell(p: &crate::drift::PatternDrift) -> String {
    let label = p.loss.as_deref().unwrap_or("");
    let Some(m) = &p.measured else {
        return label.to_string();
    };
    let measured = match m.is_empty() {
        true => "measured: none of ATIF's losses (the mapping's own)".to_string(),
        false => format!("measured: {}", m.join(", ")),
    };
    let sep = if label.is_empty() { "" } else { " · " };
    match p.label_contradicted() {
        true => format!("{label}{sep}**wrong label**, {measured}"),
        false => format!("{label}{sep}{measured}"),
    }
}

/// The reference (`R3`) of reason `why`, numbered in order of first use.
fn reason_ref<'a>(reasons: &mut Vec<&'a str>, why: &'a str) -> String {
    let k = match reasons.iter().position(|r| *r == why) {
        Some(k) => k,
        None => {
            reasons.push(why);
            reasons.len() - 1
        }
    };
    format!("R{}", k + 1)
}

/// A pattern's largest numeric difference (`-` when it has none).
fn largest(p: &crate::drift::PatternDrift) -> String {
    super::terminal::difference(p).unwrap_or_else(|| "-".into())
}

/// A pattern's example, both sides labelled, each cut to 80 characters.
fn example(p: &crate::drift::PatternDrift, i: &crate::drift::ItemDrift) -> String {
    let change = super::terminal::example(p, 80, i);
    format!("`{}`: {change}", super::terminal::local(&p.example_path))
}

/// [`markdown`] for GitHub's step summary, which holds at most 1 MiB: cut at a line with a
/// note past `limit` bytes.
pub fn markdown_within(r: &DriftReport, limit: usize) -> String {
    let md = markdown(r);
    if md.len() <= limit {
        return md;
    }
    const NOTE: &str = "\n\n*(cut here to stay within the step summary's size limit: the full report is `report.md` and `report.json` under `--out`)*\n";
    let keep = md[..limit.saturating_sub(NOTE.len())]
        .rfind('\n')
        .unwrap_or(0);
    // An open <details> block is closed so the page renders.
    let mut out = md[..keep].to_string();
    if out.matches("<details>").count() > out.matches("</details>").count() {
        out.push_str("\n\n</details>");
    }
    out.push_str(NOTE);
    out
}

fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), |v| format!("{:.1} %", 100.0 * v))
}

/// The mooncake replay's drift, one row per item (it does not depend on the builder): rows
/// on each side, length differences, how much of the IST replay's prefix blocks the ATIF
/// replay sends too, and the prefix-cache reuse each replay would show.
pub(crate) fn mooncake_section(r: &DriftReport) -> Option<String> {
    let (header, rows) = mooncake_rows(r)?;
    let mut s = format!("| {} |\n|---|", header.join(" | "));
    s.push_str(&"---:|".repeat(header.len() - 1));
    s.push('\n');
    for row in rows {
        s.push_str(&format!("| {} |\n", row.join(" | ")));
    }
    Some(s)
}

/// The mooncake section's header and one row per item; `None` without mooncake rows.
pub(crate) fn mooncake_rows(r: &DriftReport) -> Option<([&'static str; 10], Vec<Vec<String>>)> {
    let header = [
        "item",
        "rows IST / ATIF",
        "only IST / only ATIF",
        "ATIF rows without text",
        "input_length differs",
        "input tokens IST / ATIF",
        "output_length differs",
        "delay differs",
        "hash prefix overlap",
        "block reuse IST / ATIF",
    ];
    let mut rows = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for i in &r.items {
        let Some(m) = &i.mooncake else { continue };
        if !seen.insert(i.item.as_str()) {
            continue;
        }
        rows.push(vec![
            i.item.clone(),
            format!("{} / {}", m.rows_ist, m.rows_atif),
            format!("{} / {}", m.only_ist, m.only_atif),
            m.atif_rows_without_text.to_string(),
            m.input_length_differs.to_string(),
            format!("{} / {}", m.input_tokens_ist, m.input_tokens_atif),
            m.output_length_differs.to_string(),
            m.delay_differs.to_string(),
            pct(Some(m.hash_prefix_overlap)),
            format!("{} / {}", pct(m.block_reuse_ist), pct(m.block_reuse_atif)),
        ]);
    }
    (!rows.is_empty()).then_some((header, rows))
}

/// The JSON report (schema-versioned; stable order: items, builders and files as run).
pub fn json(r: &DriftReport) -> String {
    serde_json::to_string_pretty(r).expect("the report serialises") + "\n"
}

/// With both builders: per item and output, how many values differ from the IST path with
/// NAT's own ATIF mapping (pr1751) and with the faithful one — how much drift a better
/// mapping removes. `None` when the report does not hold both.
pub(crate) fn builders_side_by_side(r: &DriftReport, width: usize) -> Option<String> {
    use crate::frame::from_atif::Builder;
    let find = |item: &str, b: Builder| {
        r.items
            .iter()
            .find(|i| i.item == item && i.key() == b.name())
    };
    let mut names: Vec<&str> = r.items.iter().map(|i| i.item.as_str()).collect();
    names.dedup();
    let header = [
        "item",
        "output",
        "differing\n(pr1751)",
        "differing\n(faithful)",
        "drift\nremoved",
    ];
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut any = false;
    for name in names {
        let (Some(p), Some(f)) = (find(name, Builder::Pr1751), find(name, Builder::Faithful))
        else {
            continue;
        };
        any = true;
        let (mut tp, mut tf) = (0, 0);
        for o in &p.outputs {
            let Some(fo) = f.outputs.iter().find(|x| x.file == o.file) else {
                continue;
            };
            tp += o.differing;
            tf += fo.differing;
            rows.push(vec![
                name.to_string(),
                o.file.clone(),
                o.differing.to_string(),
                fo.differing.to_string(),
                removed(o.differing, fo.differing),
            ]);
        }
        rows.push(vec![
            name.to_string(),
            "(all)".into(),
            tp.to_string(),
            tf.to_string(),
            removed(tp, tf),
        ]);
    }
    any.then(|| super::terminal::fit(&header, &rows, width, (0, super::terminal::Cut::Start)))
}

fn removed(pr: usize, fa: usize) -> String {
    if pr == 0 {
        return "-".into();
    }
    format!("{:.0} %", 100.0 * (pr as f64 - fa as f64) / pr as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The step summary is cut at a line, under the limit, with a note, and every
    /// `<details>` it opens is closed.
    #[test]
    fn the_step_summary_stays_under_its_limit() {
        let item = |n: usize| crate::drift::ItemDrift {
            outputs: vec![crate::drift::OutputDrift {
                file: "forecast.json".into(),
                compared: 10,
                differing: 1,
                patterns: vec![crate::drift::PatternDrift {
                    values: 1,
                    expected: Some("a reason".into()),
                    ..crate::drift::PatternDrift::new(
                        format!("forecast.json:X{n}"),
                        "forecast.json:X".into(),
                        crate::drift::value_diff::Change::OnlyLeft { value: 1.into() },
                    )
                }],
            }],
            ..crate::drift::ItemDrift::of_builder(
                format!("item-{n}"),
                crate::frame::from_atif::Builder::Pr1751,
            )
        };
        let r = DriftReport {
            schema: crate::drift::REPORT_SCHEMA.into(),
            partition: None,
            items: (0..2000).map(item).collect(),
            unused_expectations: vec![],
            failures: vec![],
            baseline: None,
        };
        let whole = markdown(&r);
        assert!(whole.len() > 100_000);
        assert_eq!(markdown_within(&r, whole.len()), whole);
        let cut = markdown_within(&r, 20_000);
        assert!(cut.len() <= 20_000, "{}", cut.len());
        assert!(cut.contains("size limit"));
        assert_eq!(
            cut.matches("<details>").count(),
            cut.matches("</details>").count()
        );
        assert!(cut.starts_with("## atif-drift: PASS"));
    }
}
