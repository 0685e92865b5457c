//! Rendering a [`DriftReport`] as Markdown and JSON, and the tables the terminal report
//! ([`super::terminal`]) shares — pure functions.

use crate::drift::{DriftReport, OutputDrift};

fn builder_name(b: crate::frame::from_atif::Builder) -> &'static str {
    b.name()
}

fn status(o: &OutputDrift) -> &'static str {
    if o.differing == 0 {
        "same"
    } else if o.unexpected() == 0 {
        "expected drift"
    } else {
        "NEW DRIFT"
    }
}

/// The one-line summary of a report (items, outputs, drift, unexpected, errors).
pub(crate) fn summary_line(r: &DriftReport) -> String {
    let outputs: usize = r.items.iter().map(|i| i.outputs.len()).sum();
    let drifting = r
        .items
        .iter()
        .flat_map(|i| &i.outputs)
        .filter(|o| o.differing > 0)
        .count();
    let mut s = format!(
        "{} runs, {outputs} outputs: {drifting} drift, {} unexpected differing values, {} errors\n",
        r.items.len(),
        r.unexpected(),
        r.errors()
    );
    for u in &r.unused_expectations {
        s.push_str(&format!("warning: expectation matched nothing: {u}\n"));
    }
    s
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
}

/// A Markdown report: summary table, then every pattern with its reason.
pub fn markdown(r: &DriftReport) -> String {
    let mut s = String::from("## atif-drift report\n\n| item | builder | output | status | differing / compared | unexpected |\n|---|---|---|---|---:|---:|\n");
    for i in &r.items {
        if let Some(e) = &i.error {
            s.push_str(&format!(
                "| {} | {} | - | ERROR: {} | | |\n",
                i.item,
                builder_name(i.builder),
                md_escape(e)
            ));
        }
        for o in &i.outputs {
            s.push_str(&format!(
                "| {} | {} | `{}` | {} | {} / {} | {} |\n",
                i.item,
                builder_name(i.builder),
                o.file,
                status(o),
                o.differing,
                o.compared,
                o.unexpected()
            ));
        }
    }
    if let Some(m) = mooncake_section(r) {
        s.push_str("\n### Mooncake replay (aiperf)\n\nIST rows (Dynamo's converter, cl100k_base, block size 64) vs rows from the ATIF side.\n\n");
        s.push_str(&m);
    }
    s.push_str(&format!("\n{}\n### Drift by path\n\n| item | builder | pattern | values | why |\n|---|---|---|---:|---|\n", summary_line(r).trim_end()));
    for i in &r.items {
        for o in &i.outputs {
            for p in &o.patterns {
                s.push_str(&format!(
                    "| {} | {} | `{}` | {} | {} |\n",
                    i.item,
                    builder_name(i.builder),
                    md_escape(&p.pattern),
                    p.values,
                    p.expected
                        .as_deref()
                        .map(md_escape)
                        .unwrap_or_else(|| "**not expected**".into())
                ));
            }
        }
    }
    s
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

/// [`mooncake_section`] for a terminal `width` columns wide: per item, its measures as one
/// paragraph wrapped at spaces (ten columns do not fit a terminal).
pub(crate) fn mooncake_lines(r: &DriftReport, width: usize) -> Option<String> {
    let (header, rows) = mooncake_rows(r)?;
    let mut s = String::new();
    for row in rows {
        let measures: Vec<String> = header[1..]
            .iter()
            .zip(&row[1..])
            .map(|(h, v)| format!("{h} {v}"))
            .collect();
        let text = format!("{}: {}", row[0], measures.join(", "));
        let opts = textwrap::Options::new(width.max(20))
            .subsequent_indent("    ")
            .break_words(false)
            .word_separator(textwrap::WordSeparator::AsciiSpace)
            .word_splitter(textwrap::WordSplitter::NoHyphenation);
        for line in textwrap::wrap(&text, opts) {
            s.push_str(&line);
            s.push('\n');
        }
    }
    Some(s)
}

/// The mooncake section's header and one row per item; `None` without mooncake rows.
fn mooncake_rows(r: &DriftReport) -> Option<([&'static str; 10], Vec<Vec<String>>)> {
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
    let find = |item: &str, b: Builder| r.items.iter().find(|i| i.item == item && i.builder == b);
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
