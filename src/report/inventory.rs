//! The corpus inventory: one row per file.

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, ContentArrangement, Table};

use crate::corpus::{FileEntry, FileStatus};

/// Counts of loaded / skipped / failed files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Totals {
    /// Files that load as traces.
    pub loaded: usize,
    /// Files passed over.
    pub skipped: usize,
    /// Files that should load and do not.
    pub failed: usize,
}

/// The counts of `entries` by status.
pub fn totals(entries: &[FileEntry]) -> Totals {
    let mut t = Totals::default();
    for e in entries {
        match e.status {
            FileStatus::Loaded { .. } => t.loaded += 1,
            FileStatus::Skipped { .. } => t.skipped += 1,
            FileStatus::Failed { .. } => t.failed += 1,
        }
    }
    t
}

/// A terminal table: file, kind, requests/trajectories, steps, status.
pub fn table(entries: &[FileEntry], width: Option<u16>) -> String {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(vec![
            "file",
            "kind",
            "requests/trajectories",
            "steps/events",
            "status",
        ]);
    if let Some(w) = width {
        t.set_width(w);
    }
    for e in entries {
        let path = e.path.display().to_string();
        let (kind, units, steps, status) = match &e.status {
            FileStatus::Loaded { kind, units, steps } => (
                *kind,
                units.to_string(),
                steps.to_string(),
                "loaded".to_string(),
            ),
            FileStatus::Skipped { reason } => (
                "-",
                String::new(),
                String::new(),
                format!("skipped: {reason}"),
            ),
            FileStatus::Failed { error } => (
                "-",
                String::new(),
                String::new(),
                format!("FAILED: {error}"),
            ),
        };
        let row = vec![
            Cell::new(path),
            Cell::new(kind),
            Cell::new(units),
            Cell::new(steps),
            Cell::new(status),
        ];
        t.add_row(row);
    }
    let s = totals(entries);
    format!(
        "{t}\n{} files: {} loaded, {} skipped, {} failed\n",
        entries.len(),
        s.loaded,
        s.skipped,
        s.failed
    )
}
