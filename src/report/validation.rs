//! Rendering `validate` verdicts.

use crate::validate::{FileReport, Severity};

/// Human-readable lines: one per problem, then a verdict per file.
pub fn text(reports: &[FileReport]) -> String {
    let mut out = String::new();
    for r in reports {
        for p in &r.problems {
            let sev = match p.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            out.push_str(&format!(
                "{}: {sev}: {}: {}\n",
                r.file.display(),
                p.path,
                p.message
            ));
        }
        let verdict = if r.is_valid() { "valid" } else { "INVALID" };
        out.push_str(&format!(
            "{}: {verdict} ({} trajectories, {} errors, {} warnings)\n",
            r.file.display(),
            r.trajectories,
            r.errors(),
            r.warnings()
        ));
    }
    out
}
