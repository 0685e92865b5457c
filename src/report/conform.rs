//! Rendering `conform`'s result: the verdict first and last, then per item its NAT version
//! and each output's verdict; a differing output lists its patterns with an example.

use std::fmt::Write;

use crate::conform::{ItemConformance, Verdict};

fn counts(items: &[ItemConformance]) -> (usize, usize, usize, usize) {
    let files = || items.iter().flat_map(|i| &i.files).map(|(_, v)| v);
    let identical = files().filter(|v| **v == Verdict::Identical).count();
    let equal = files().filter(|v| matches!(v, Verdict::Equal(_))).count();
    let differs = files().filter(|v| matches!(v, Verdict::Differs(_))).count();
    (identical, equal, differs, identical + equal + differs)
}

/// The verdict line.
pub fn verdict(items: &[ItemConformance]) -> String {
    let (identical, equal, differs, stored) = counts(items);
    let errors = items.iter().filter(|i| i.error.is_some()).count();
    let with = items.iter().filter(|i| i.stored() > 0).count();
    let of = format!("{with} of {} items with stored NAT outputs", items.len());
    if errors > 0 {
        return format!("ERROR: {errors} items could not be profiled ({of})");
    }
    if stored == 0 {
        return format!(
            "ERROR: no NAT output stored beside any trace ({} items): nothing to conform to",
            items.len()
        );
    }
    if differs > 0 {
        return format!("FAIL: {differs} of {stored} stored NAT outputs not reproduced ({of})");
    }
    format!(
        "PASS: {stored} stored NAT outputs reproduced, {identical} byte for byte, {equal} allowing listed differences ({of})"
    )
}

/// The report.
pub fn render(items: &[ItemConformance]) -> String {
    let line = verdict(items);
    let mut s = format!("{line}\n");
    for i in items {
        let version = i
            .nat_version
            .as_deref()
            .map_or("NAT version not recorded".to_string(), |v| {
                format!("NAT {v}")
            });
        let _ = writeln!(s, "\n{} ({version})", i.item);
        if let Some(e) = &i.error {
            let _ = writeln!(s, "  error: {e}");
            continue;
        }
        if i.stored() == 0 {
            let _ = writeln!(s, "  no NAT output stored beside the trace");
            continue;
        }
        let width = i.files.iter().map(|(f, _)| f.len()).max().unwrap_or(0);
        for (file, v) in &i.files {
            let what = match v {
                Verdict::Identical => "identical".to_string(),
                Verdict::Equal(ids) => format!("equal, allowing {}", ids.join(", ")),
                Verdict::NotStored => "not stored".to_string(),
                Verdict::Differs(o) => format!("DIFFERS: {} of {} values", o.differing, o.compared),
            };
            let _ = writeln!(s, "  {file:width$}  {what}");
            if let Verdict::Differs(o) = v {
                for p in o.patterns.iter().take(10) {
                    let _ = writeln!(
                        s,
                        "      {}: {} value{}, e.g. {}: NAT {} → ours {}",
                        super::terminal::local(&p.pattern),
                        p.values,
                        if p.values == 1 { "" } else { "s" },
                        super::terminal::local(&p.example_path),
                        example_side(&p.example, true),
                        example_side(&p.example, false)
                    );
                }
            }
        }
    }
    let _ = writeln!(s, "\n{line}");
    s
}

/// One side of an example difference (`NAT` is the left side), cut to 60 characters.
fn example_side(c: &crate::drift::value_diff::Change, left: bool) -> String {
    use crate::drift::value_diff::Change;
    let absent = || "(absent)".to_string();
    match (c, left) {
        (Change::Value { left: v, .. } | Change::Type { left: v, .. }, true)
        | (Change::Value { right: v, .. } | Change::Type { right: v, .. }, false) => {
            super::terminal::shown(v, 60)
        }
        (Change::OnlyLeft { value }, true) | (Change::OnlyRight { value }, false) => {
            super::terminal::shown(value, 60)
        }
        _ => absent(),
    }
}
