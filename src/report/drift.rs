//! Rendering a [`DriftReport`]: a terminal table, Markdown and JSON — pure functions.

use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};

use crate::drift::{DriftReport, OutputDrift, PatternDrift};

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

fn short(p: &PatternDrift) -> String {
    let mut s = p.pattern.clone();
    if s.chars().count() > 70 {
        s = format!("{}…", s.chars().take(69).collect::<String>());
    }
    s
}

/// The worst pattern of an output: unexpected ones first, then by size.
fn worst(o: &OutputDrift) -> Option<&PatternDrift> {
    o.patterns
        .iter()
        .max_by_key(|p| (p.is_unexpected(), p.values))
}

/// One row per item × builder × output.
pub fn table(r: &DriftReport) -> String {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(vec![
            "item",
            "builder",
            "output",
            "status",
            "differing / compared",
            "unexpected",
            "largest drift",
        ]);
    for i in &r.items {
        if let Some(e) = &i.error {
            t.add_row(vec![
                i.item.as_str(),
                builder_name(i.builder),
                "-",
                "ERROR",
                "",
                "",
                e.as_str(),
            ]);
            continue;
        }
        for o in &i.outputs {
            let w = worst(o)
                .map(|p| format!("{} ({} values)", short(p), p.values))
                .unwrap_or_default();
            t.add_row(vec![
                i.item.clone(),
                builder_name(i.builder).into(),
                o.file.clone(),
                status(o).into(),
                format!("{} / {}", o.differing, o.compared),
                o.unexpected().to_string(),
                w,
            ]);
        }
    }
    let mut s = format!("{t}\n");
    if let Some(m) = mooncake_section(r, false) {
        s.push_str("\nMooncake replay (aiperf), IST rows vs ATIF rows:\n");
        s.push_str(&m);
    }
    if let Some(side) = builders_side_by_side(r) {
        s.push_str("\nNAT's ATIF mapping (pr1751) vs the faithful builder, values differing from the IST path:\n");
        s.push_str(&side);
    }
    s.push_str(&summary_line(r));
    s
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

/// The unexpected patterns, with an example each (at most `limit` lines, then a count).
pub fn details(r: &DriftReport, limit: usize) -> String {
    let mut s = String::new();
    let mut shown = 0;
    let mut hidden = 0;
    for i in &r.items {
        for o in &i.outputs {
            for p in o.patterns.iter().filter(|p| p.is_unexpected()) {
                if shown == limit {
                    hidden += 1;
                    continue;
                }
                shown += 1;
                s.push_str(&format!(
                    "NEW DRIFT {} [{}] {}: {} values, e.g. {} {}\n",
                    i.item,
                    builder_name(i.builder),
                    p.pattern,
                    p.values,
                    p.example_path,
                    serde_json::to_string(&p.example).unwrap_or_default()
                ));
            }
        }
    }
    if hidden > 0 {
        s.push_str(&format!("… and {hidden} more unexpected patterns (the JSON and Markdown reports list them all)\n"));
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
    if let Some(m) = mooncake_section(r, true) {
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
pub(crate) fn mooncake_section(r: &DriftReport, markdown: bool) -> Option<String> {
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
    if rows.is_empty() {
        return None;
    }
    if markdown {
        let mut s = format!("| {} |\n|---|", header.join(" | "));
        s.push_str(&"---:|".repeat(header.len() - 1));
        s.push('\n');
        for row in rows {
            s.push_str(&format!("| {} |\n", row.join(" | ")));
        }
        return Some(s);
    }
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.to_vec());
    for row in rows {
        t.add_row(row);
    }
    Some(format!("{t}\n"))
}

/// The JSON report (schema-versioned; stable order: items, builders and files as run).
pub fn json(r: &DriftReport) -> String {
    serde_json::to_string_pretty(r).expect("the report serialises") + "\n"
}

/// With both builders: per item and output, how many values differ from the IST path with
/// NAT's own ATIF mapping (pr1751) and with the faithful one — how much drift a better
/// mapping removes. `None` when the report does not hold both.
pub(crate) fn builders_side_by_side(r: &DriftReport) -> Option<String> {
    use crate::frame::from_atif::Builder;
    let find = |item: &str, b: Builder| r.items.iter().find(|i| i.item == item && i.builder == b);
    let mut names: Vec<&str> = r.items.iter().map(|i| i.item.as_str()).collect();
    names.dedup();
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(vec![
            "item",
            "output",
            "differing (pr1751)",
            "differing (faithful)",
            "drift removed",
        ]);
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
            t.add_row(vec![
                name.to_string(),
                o.file.clone(),
                o.differing.to_string(),
                fo.differing.to_string(),
                removed(o.differing, fo.differing),
            ]);
        }
        t.add_row(vec![
            name.to_string(),
            "(all)".into(),
            tp.to_string(),
            tf.to_string(),
            removed(tp, tf),
        ]);
    }
    any.then(|| format!("{t}\n"))
}

fn removed(pr: usize, fa: usize) -> String {
    if pr == 0 {
        return "-".into();
    }
    format!("{:.0} %", 100.0 * (pr as f64 - fa as f64) / pr as f64)
}
