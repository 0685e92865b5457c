//! The attribution report (`atif-drift attribute`) as terminal tables or Markdown: the
//! losses ranked, the drift per analysis split by loss, the policy's `loss =` labels checked,
//! and pr1751's drift split into ATIF's losses and PR #1751's mapping.

use std::collections::BTreeMap;

use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};

use crate::drift::attribution::AttributionReport;

/// One section: a title, a line of prose, a table.
struct Section {
    title: String,
    lead: String,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

fn join(v: &[(String, usize)], n: usize) -> String {
    let mut parts: Vec<String> = v.iter().take(n).map(|(k, x)| format!("{k} {x}")).collect();
    if v.len() > n {
        parts.push(format!("+{} more", v.len() - n));
    }
    parts.join(", ")
}

fn sections(r: &AttributionReport) -> Vec<Section> {
    let measured = r.items.iter().filter(|i| i.error.is_none()).count();
    let all: usize = r
        .items
        .iter()
        .flat_map(|i| &i.analyses)
        .map(|a| a.all)
        .sum();
    let ff: usize = r
        .items
        .iter()
        .flat_map(|i| &i.analyses)
        .map(|a| a.full_fidelity)
        .sum();
    let mut out = vec![Section {
        title: "Losses, ranked".into(),
        lead: format!(
            "{measured} items measured. The faithful builder on NAT's ATIF differs from the IST path in {all} values; on the full-fidelity ATIF (--keep all) in {ff} (the builder's own error). Each loss below is applied alone, every other one kept."
        ),
        header: ["loss", "values alone", "items", "largest analyses", "where ATIF could carry it"]
            .map(String::from)
            .to_vec(),
        rows: r
            .ranking
            .iter()
            .map(|l| {
                vec![
                    l.loss.clone(),
                    l.values.to_string(),
                    l.items.to_string(),
                    join(&l.analyses, 3),
                    l.place.clone(),
                ]
            })
            .collect(),
    }];
    // Per analysis over every item.
    // analysis → (all losses, each loss alone, remainder, full fidelity)
    type Sums<'a> = (usize, BTreeMap<&'a str, usize>, i64, usize);
    let mut per: BTreeMap<&str, Sums> = BTreeMap::new();
    for a in r.items.iter().flat_map(|i| &i.analyses) {
        let e = per.entry(&a.analysis).or_default();
        e.0 += a.all;
        for (l, v) in &a.single {
            *e.1.entry(l).or_default() += v;
        }
        e.2 += a.remainder;
        e.3 += a.full_fidelity;
    }
    out.push(Section {
        title: "Per analysis".into(),
        lead: "Differing values with every loss applied (NAT's ATIF), with each loss alone, what only losses together cause (the remainder: all minus the sum of the single losses; negative where losses overlap), and with none.".into(),
        header: ["analysis", "all losses", "each loss alone", "remainder", "full fidelity"]
            .map(String::from)
            .to_vec(),
        rows: per
            .into_iter()
            .map(|(a, (all, single, rem, ff))| {
                let mut s: Vec<(String, usize)> =
                    single.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
                s.sort_by(|x, y| y.1.cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
                vec![a.to_string(), all.to_string(), join(&s, 4), rem.to_string(), ff.to_string()]
            })
            .collect(),
    });
    out.push(Section {
        title: "Drift patterns and their losses".into(),
        lead: "Every pattern of the faithful builder's drift on NAT's ATIF, the losses whose single-loss drift shows it, and the policy's `loss =` label checked against them (wrong: that loss alone does not produce the pattern).".into(),
        header: ["pattern", "values", "measured losses", "label", "verdict"]
            .map(String::from)
            .to_vec(),
        rows: r
            .patterns
            .iter()
            .map(|p| {
                vec![
                    p.pattern.clone(),
                    p.values.to_string(),
                    match (p.losses.is_empty(), p.needs.is_empty()) {
                        (true, false) => format!("together, needing {}", p.needs.join(", ")),
                        _ => join(&p.losses, 3),
                    },
                    p.label.clone().unwrap_or_default(),
                    p.verdict.clone(),
                ]
            })
            .collect(),
    });
    if !r.pr1751.is_empty() {
        out.push(Section {
            title: "pr1751: ATIF's losses and PR #1751's mapping".into(),
            lead: "pr1751's differing values on NAT's ATIF, what ATIF's losses explain (faithful's on the same ATIF), and what the mapping adds on top (negative where it does better).".into(),
            header: ["analysis", "pr1751", "ATIF's losses", "mapping adds"]
                .map(String::from)
                .to_vec(),
            rows: r
                .pr1751
                .iter()
                .map(|s| {
                    vec![
                        s.analysis.clone(),
                        s.pr1751.to_string(),
                        s.losses.to_string(),
                        s.mapping.to_string(),
                    ]
                })
                .collect(),
        });
    }
    let failed: Vec<Vec<String>> = r
        .items
        .iter()
        .filter_map(|i| i.error.as_ref().map(|e| vec![i.item.clone(), e.clone()]))
        .collect();
    if !failed.is_empty() {
        out.push(Section {
            title: "Not measured".into(),
            lead: "These items could not be measured.".into(),
            header: vec!["item".into(), "error".into()],
            rows: failed,
        });
    }
    out
}

/// Markdown: a heading, a line and a table per section.
pub fn markdown(r: &AttributionReport) -> String {
    let esc = |s: &str| s.replace('|', "\\|");
    let mut out = String::from("# What ATIF loses, measured\n");
    for s in sections(r) {
        out.push_str(&format!("\n## {}\n\n{}\n\n", s.title, s.lead));
        out.push_str(&format!("| {} |\n", s.header.join(" | ")));
        out.push_str(&format!("|{}\n", "---|".repeat(s.header.len())));
        for row in &s.rows {
            let cells: Vec<String> = row.iter().map(|c| esc(c)).collect();
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
    }
    out
}

/// The attribution as a section of the drift report's Markdown (`drift --explain`).
pub fn markdown_section(r: &AttributionReport) -> String {
    markdown(r)
        .replacen(
            "# What ATIF loses, measured",
            "\n## What ATIF loses, measured",
            1,
        )
        .replace("\n## ", "\n### ")
        .replacen("\n### What ATIF", "\n## What ATIF", 1)
}

/// One line for the terminal report (`drift --explain`): what was measured, and where to read it.
pub fn summary_line(r: &AttributionReport) -> String {
    let wrong = r.patterns.iter().filter(|p| p.verdict == "wrong").count();
    let top: Vec<String> = r
        .ranking
        .iter()
        .filter(|l| l.values > 0)
        .take(3)
        .map(|l| format!("{} {}", l.loss, l.values))
        .collect();
    format!(
        "\nATIF losses, measured (each alone, faithful builder): {}; {} of {} patterns' loss labels contradicted. Full tables: --format markdown, or attribution.md with --out.\n",
        top.join(", "),
        wrong,
        r.patterns.iter().filter(|p| p.label.is_some()).count()
    )
}

/// Terminal tables, `width` columns wide.
pub fn table(r: &AttributionReport, width: u16) -> String {
    let mut out = String::new();
    for s in sections(r) {
        out.push_str(&format!("{}\n{}\n", s.title, s.lead));
        let mut t = Table::new();
        t.load_style(UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_width(width)
            .set_header(s.header.clone());
        for row in s.rows {
            t.add_row(row);
        }
        out.push_str(&format!("{t}\n\n"));
    }
    out
}
