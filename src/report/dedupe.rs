//! Rendering a dedupe decision: one row per LLM span.

use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};

use crate::atof::dedupe::Dedupe;
use crate::atof::LlmSpan;

fn n(x: Option<u64>) -> String {
    x.map_or_else(|| "-".into(), |v| v.to_string())
}

/// A table of the spans (start order) with their observer, fidelity, fate and metrics after
/// the merge, then one line per merge.
pub fn table(spans: &[LlmSpan], d: &Dedupe) -> String {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(vec![
            "span",
            "parent",
            "observer",
            "model",
            "score",
            "start → end (µs)",
            "kept",
            "prompt",
            "completion",
            "cached",
        ]);
    for s in spans {
        let kept = !d.suppressed.contains(&s.uuid);
        let m = if kept {
            d.merged_metrics(s)
        } else {
            s.metrics.clone()
        };
        let m = m.unwrap_or_default();
        t.add_row(vec![
            s.uuid.clone(),
            s.parent_uuid.clone().unwrap_or_default(),
            format!("{} ({})", s.observer.name, s.observer.class),
            s.model.clone().unwrap_or_else(|| "-".into()),
            s.fidelity.to_string(),
            format!("{} → {}", s.start_us, s.end_us),
            if kept {
                "kept".into()
            } else {
                "suppressed".into()
            },
            n(m.prompt_tokens),
            n(m.completion_tokens),
            n(m.cached_tokens),
        ]);
    }
    let mut s = format!("{t}\n");
    for (win, lose) in &d.merges {
        s.push_str(&format!("merged: {lose} into {win}\n"));
    }
    s.push_str(&format!(
        "{} LLM spans: {} kept, {} suppressed\n",
        spans.len(),
        spans.len() - d.suppressed.len(),
        d.suppressed.len()
    ));
    s
}
