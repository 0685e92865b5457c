//! Walking a corpus: every file is accounted for — loaded (with its kind and size),
//! skipped (with the reason), or failed (with the error).
//!
//! A corpus *item* is a directory holding one IST trace (NAT's
//! `all_requests_profiler_traces.json`, found by content) plus, optionally, its ATIF
//! (`nat_atif.json`, `workflow_output_atif.json`), NAT's profiler outputs for it (the
//! expected results) and `config.yml`.

use std::path::{Path, PathBuf};

use serde::Serialize;
use walkdir::WalkDir;

use crate::error::Error;
use crate::trace::load::{load_file, LoadOptions, Trace};

/// File names NAT's profilers write: in a corpus they are expected results, not inputs.
pub(crate) const NAT_OUTPUT_FILES: &[&str] = &[
    "standardized_data_all.csv",
    "inference_optimization.json",
    "workflow_profiling_report.txt",
    "workflow_profiling_metrics.json",
    "prediction_trie.json",
    "gantt_chart.png",
    "fitted_model.pkl",
    "forecast_training_data.json",
    "profiler_config.json",
];

/// What became of one file of a corpus.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum FileStatus {
    /// It loads as a trace.
    Loaded {
        /// The kind of trace (`IST`, `ATIF`, `ATOF`…).
        kind: &'static str,
        /// Requests (IST), trajectories (ATIF) or events (ATOF).
        units: usize,
        /// IST steps, ATIF steps or ATOF events.
        steps: usize,
    },
    /// It is not a trace and is passed over.
    Skipped {
        /// Why it is passed over.
        reason: String,
    },
    /// It should be a trace and does not load.
    Failed {
        /// The error, naming the file and where in it.
        error: String,
    },
}

/// One file of a corpus and what became of it.
#[derive(Debug, Clone, Serialize)]
pub struct FileEntry {
    /// Path relative to the corpus root (the file itself when the root is a file). A name
    /// that is not UTF-8 is written with U+FFFD for its invalid bytes.
    #[serde(serialize_with = "lossy_path")]
    pub path: PathBuf,
    /// What became of it.
    #[serde(flatten)]
    pub status: FileStatus,
}

fn lossy_path<S: serde::Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_string_lossy())
}

impl FileEntry {
    /// Whether it failed to load.
    pub fn is_failed(&self) -> bool {
        matches!(self.status, FileStatus::Failed { .. })
    }
}

/// Summarise a loaded trace as (kind, units, steps).
pub(crate) fn describe(trace: &Trace) -> (&'static str, usize, usize) {
    match trace {
        Trace::Ist(t) => (trace.kind(), t.requests.len(), t.step_count()),
        Trace::Atif(a) => (trace.kind(), a.items.len(), a.step_count()),
        Trace::Atof(ev) => (trace.kind(), 1, ev.len()),
    }
}

/// Look at one file and say what it is.
pub fn inspect_file(path: &Path, opts: &LoadOptions) -> FileStatus {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let expected_output = NAT_OUTPUT_FILES.contains(&name);
    let in_atif_native = path.components().any(|c| c.as_os_str() == "atif_native");
    if !matches!(ext.as_str(), "json" | "jsonl") {
        let reason = if expected_output {
            "NAT profiler output (expected result)".to_string()
        } else {
            match ext.as_str() {
                "yml" | "yaml" => "workflow configuration".to_string(),
                "md" | "txt" => "documentation".to_string(),
                "" => "no file extension: not JSON or JSONL".to_string(),
                e => format!("not a trace file (.{e})"),
            }
        };
        return FileStatus::Skipped { reason };
    }
    match load_file(path, opts) {
        Ok(trace) => {
            let (kind, units, steps) = describe(&trace);
            FileStatus::Loaded { kind, units, steps }
        }
        Err(e) => match (skip_reason(expected_output, in_atif_native), e) {
            (Some(reason), Error::NotATrace { .. } | Error::Format { .. }) => {
                FileStatus::Skipped { reason }
            }
            (None, Error::NotATrace { message, .. }) => FileStatus::Skipped { reason: message },
            (_, e) => FileStatus::Failed {
                error: e.to_string(),
            },
        },
    }
}

/// Why a file that does not load as a trace is an expected result, not a failure.
fn skip_reason(expected_output: bool, in_atif_native: bool) -> Option<String> {
    if expected_output {
        Some("NAT profiler output (expected result)".into())
    } else if in_atif_native {
        Some("NAT ATIF-native profiler output (expected result)".into())
    } else {
        None
    }
}

/// Every file under `root` (or `root` itself), sorted by path, each accounted for.
pub fn walk(root: &Path, opts: &LoadOptions) -> Result<Vec<FileEntry>, Error> {
    walk_with(root, opts, &|_| false)
}

/// Whether `bytes` start like NAT's `all_requests_profiler_traces.json`: `[` then `]` or
/// `{"request_number"` / `{"intermediate_steps"` (a sniff of the first bytes, no parse).
pub(crate) fn looks_like_ist(bytes: &[u8]) -> bool {
    let mut it = bytes.iter().copied().filter(|b| !b.is_ascii_whitespace());
    match (it.next(), it.next()) {
        (Some(b'['), Some(b']')) => true,
        (Some(b'['), Some(b'{')) => {
            let rest: Vec<u8> = it.take(20).collect();
            rest.starts_with(b"\"request_number\"") || rest.starts_with(b"\"intermediate_steps\"")
        }
        _ => false,
    }
}

/// [`walk`], except that files for which `defer(path)` holds and whose first bytes look like
/// an IST trace are not parsed: they are entered as loaded IST with 0 units and steps, for
/// the caller to settle once it has loaded them itself (the drift job loads each item's
/// trace once, in the item's run, instead of twice).
pub fn walk_with(
    root: &Path,
    opts: &LoadOptions,
    defer: &dyn Fn(&Path) -> bool,
) -> Result<Vec<FileEntry>, Error> {
    let mut out = Vec::new();
    for entry in WalkDir::new(root).sort_by_file_name().follow_links(true) {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let path = e
                    .path()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| root.to_path_buf());
                if path == root {
                    return Err(Error::Io {
                        path,
                        cause: e
                            .into_io_error()
                            .unwrap_or_else(|| std::io::Error::other("walk failed")),
                    });
                }
                out.push(FileEntry {
                    path: rel(root, &path),
                    status: FileStatus::Failed {
                        error: e.to_string(),
                    },
                });
                continue;
            }
        };
        let ft = entry.file_type();
        if ft.is_dir() {
            continue;
        }
        if !ft.is_file() {
            // A FIFO, device or socket (or a link to one) is never opened: reading it could
            // block forever or never end. It is accounted for, as a failure.
            let kind = crate::fsio::non_regular(entry.path()).unwrap_or("not a regular file");
            out.push(FileEntry {
                path: rel(root, entry.path()),
                status: FileStatus::Failed {
                    error: crate::fsio::not_regular(entry.path(), kind).to_string(),
                },
            });
            continue;
        }
        let sniffed = defer(entry.path())
            && crate::fsio::open_regular(entry.path())
                .ok()
                .and_then(|mut f| {
                    use std::io::Read;
                    let mut head = vec![0u8; 4096];
                    let n = f.read(&mut head).ok()?;
                    head.truncate(n);
                    Some(looks_like_ist(&head))
                })
                .unwrap_or(false);
        let status = if sniffed {
            FileStatus::Loaded {
                kind: "ist",
                units: 0,
                steps: 0,
            }
        } else {
            inspect_file(entry.path(), opts)
        };
        out.push(FileEntry {
            path: rel(root, entry.path()),
            status,
        });
    }
    Ok(out)
}

fn rel(root: &Path, p: &Path) -> PathBuf {
    match p.strip_prefix(root) {
        Ok(r) if !r.as_os_str().is_empty() => r.to_path_buf(),
        _ => p.to_path_buf(),
    }
}
