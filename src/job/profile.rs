//! `atif-drift profile` on an IST request list read a request at a time, as `drift` reads
//! it (`inputs::for_each_chunk`): each request is parsed, becomes its frame rows (the IST
//! path's, or a builder's after NAT's conversion) and, on the IST path, its element of the
//! trace dump, rendered in parallel and written in order; then it is dropped (the ATIF
//! path's dump is the frame's rows, written once the frame is built). Memory holds
//! the frame and the outputs, never the parsed trace. The outputs are those of
//! [`pipeline::profile`] on the whole trace (the tests below check it, byte for byte).

use std::io::Write;
use std::path::Path;

use crate::config::ProfilerConfig;
use crate::convert::{convert_request, ConvertError, ConvertOptions};
use crate::error::Error;
use crate::frame::from_atif;
use crate::frame::from_ist::{self, Interner};
use crate::frame::{Frame, Layout, Row};
use crate::fsio::OutputDir;
use crate::pipeline::{self, ProfilePath};
use crate::profile::{self, Outputs};
use crate::trace::{load_file, LoadOptions, Trace};

/// What one chunk of requests gives: its rows and, on the IST path, its part of the dump.
struct Chunk {
    rows: Vec<Row>,
    dump: Vec<u8>,
    /// The first request that does not convert (the ATIF path).
    error: Option<(usize, ConvertError)>,
}

fn chunk(first: usize, raws: &[&[u8]], path: ProfilePath) -> Option<Chunk> {
    let mut names = Interner::default();
    // The dump of a request is about as long as its text (the same `json.dumps` indent when
    // NAT wrote it): reserved once, not grown by copies.
    let dump_len = match path {
        ProfilePath::Ist => raws.iter().map(|r| r.len() + r.len() / 8).sum(),
        ProfilePath::Atif(_) => 0,
    };
    let mut c = Chunk {
        rows: Vec::new(),
        dump: Vec::with_capacity(dump_len),
        error: None,
    };
    let opts = ConvertOptions::default();
    for (k, raw) in raws.iter().enumerate() {
        let n = first + k;
        let req = crate::trace::ist::parse_listed_request(raw)?;
        let steps = &req.intermediate_steps;
        match path {
            ProfilePath::Ist => {
                from_ist::request_rows(steps, n, &mut names, &mut c.rows);
                pipeline::ist_dump_element(n, steps, &mut c.dump);
            }
            ProfilePath::Atif(b) => match convert_request(steps, &format!("request-{n}"), &opts) {
                Ok(t) => from_atif::trajectory_rows(&t, n, b, &mut names, &mut c.rows),
                Err(e) => {
                    c.error = Some((n, e));
                    break;
                }
            },
        }
    }
    Some(c)
}

/// Profile the IST request list `input` on `path` a request at a time; the trace dump
/// (`all_requests_profiler_traces.json`: on the IST path as the input is read, on the ATIF
/// path the frame's rows, as NAT's ATIF-native profiler writes them) goes to `dump` a
/// request at a time, and is not among the returned files. `Err`: the dump could not be
/// written. `Ok(None)`: `input` is not an IST request list this reader reads (the caller
/// then loads it whole, which reports why; what went to `dump` is to be discarded).
/// Otherwise the files, or the error of the first request that does not convert.
pub fn profile_ist_file(
    input: &Path,
    path: ProfilePath,
    cfg: &ProfilerConfig,
    gantt: bool,
    opts: &LoadOptions,
    dump: &mut (dyn Write + Send),
) -> std::io::Result<Option<Result<Outputs, Error>>> {
    let mut rows = Vec::new();
    let mut first_error = None;
    let mut write_error = None;
    let Some(requests) = super::inputs::for_each_chunk(
        input,
        opts,
        super::inputs::BATCH,
        |first, raws| chunk(first, raws, path),
        |c, read| {
            super::inputs::extend_ahead(&mut rows, c.rows, read);
            first_error = first_error.take().or(c.error);
            if write_error.is_none() && !c.dump.is_empty() {
                write_error = dump.write_all(&c.dump).err();
            }
        },
    ) else {
        return Ok(None);
    };
    if let Some(e) = write_error {
        return Err(e);
    }
    if let Some((n, e)) = first_error {
        return Ok(Some(Err(crate::convert::request_error(n, e))));
    }
    let mut frame = match path {
        ProfilePath::Ist => {
            dump.write_all(pipeline::ist_dump_end(requests))?;
            Frame::new(Layout::Ist, requests, rows)
        }
        // NAT's ATIF-native profiler dumps its frame's rows.
        ProfilePath::Atif(b) => {
            let frame = Frame::new(from_atif::layout(b), requests, rows);
            profile::write_flat_traces(&frame, dump)?;
            frame
        }
    };
    let outputs = profile::run(&mut frame, None, cfg, path.flavor(), gantt);
    drop_aside(frame);
    Ok(Some(Ok(outputs)))
}

/// The names `profile` may write in its output directory with `cfg`.
pub fn output_names(cfg: &ProfilerConfig) -> Vec<&str> {
    let mut ours = pipeline::OUTPUT_FILES.to_vec();
    ours.push(&cfg.prediction_trie.output_filename);
    ours.push("gantt_chart.svg");
    ours
}

/// What [`stage`] staged.
#[derive(Debug, Clone, Copy)]
pub struct Staged {
    /// How many files.
    pub written: usize,
    /// The trace had no events: only the trace dump and the CSV were written (as NAT does).
    pub no_events: bool,
}

/// `atif-drift profile`: every output of `path` on `input` staged in `dir` (the caller
/// commits it). An IST request list is read a request at a time ([`profile_ist_file`]);
/// anything else is loaded whole, when the memory that takes (about 10× the input on real
/// NAT traces) is available.
pub fn stage(
    input: &Path,
    path: ProfilePath,
    cfg: &ProfilerConfig,
    gantt: bool,
    opts: &LoadOptions,
    dir: &OutputDir,
) -> Result<Staged, Error> {
    const DUMP: &str = "all_requests_profiler_traces.json";
    let mut written = 0;
    // NAT writes the trace dump first; here, as the input is read (IST) or once the frame
    // is built (ATIF).
    let mut streamed = None;
    dir.write_with(DUMP, |w| {
        streamed = profile_ist_file(input, path, cfg, gantt, opts, w)?;
        Ok(())
    })?;
    let outputs = match streamed {
        Some(outputs) => {
            written += 1;
            outputs?
        }
        None => {
            enough_memory_for(input)?;
            let trace = load_file(input, opts)?;
            let outputs = pipeline::profile_without_ist_dump(&trace, path, cfg, gantt)?;
            if let (ProfilePath::Ist, Trace::Ist(ist)) = (path, &trace) {
                dir.write_with(DUMP, |w| pipeline::write_ist_dump(ist, w))?;
                written += 1;
            }
            outputs
        }
    };
    // Each file is rendered as it is written (the JSON files' text, the CSV's rows), the
    // files side by side; the first error in NAT's order is the one reported.
    use rayon::prelude::*;
    let results: Vec<Result<(), Error>> = outputs
        .files
        .par_iter()
        .with_max_len(1)
        .map(|(name, content)| dir.write_with(name, |w| content.write_to(w)))
        .collect();
    results.into_iter().collect::<Result<(), Error>>()?;
    written += outputs.files.len();
    let no_events = outputs.content("inference_optimization.json").is_none();
    drop_aside(outputs);
    Ok(Staged { written, no_events })
}

/// Drop `value` on a thread of its own: a large run's frame or outputs (millions of small
/// allocations, tenths of a second to free) are freed while the run goes on, and a process
/// that ends first hands their memory back whole. When no thread can be started, `value`
/// is dropped here.
fn drop_aside<T: Send + 'static>(value: T) {
    let _ = std::thread::Builder::new()
        .name("free".into())
        .spawn(move || drop(value));
}

/// Refuse to load `input` whole when the memory that takes is not available.
fn enough_memory_for(input: &Path) -> Result<(), Error> {
    /// What a whole-trace profile holds per input byte at most (the parsed trace and every
    /// output): measured at about 10× on real NAT traces.
    const BYTES_PER_INPUT_BYTE: u64 = 10;
    let Ok(size) = std::fs::metadata(input).map(|m| m.len()) else {
        return Ok(());
    };
    match crate::fsio::available_memory() {
        Some(avail) if size.saturating_mul(BYTES_PER_INPUT_BYTE) > avail => {
            Err(Error::Other(format!(
                "{}: {} MB of input needs about {} MB of memory to profile whole, and {} MB \
                 are available: refused (an IST request list is read a request at a time and \
                 needs far less)",
                input.display(),
                size >> 20,
                size.saturating_mul(BYTES_PER_INPUT_BYTE) >> 20,
                avail >> 20
            )))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::from_atif::Builder;

    /// Read a request at a time, every path gives the files the whole-trace pipeline gives,
    /// the dump byte for byte, on every corpus item and on the empty list.
    #[test]
    fn streamed_profiles_equal_the_whole_trace_pipeline() {
        let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
        let items = crate::job::discover(&corpus, &Default::default()).unwrap();
        assert!(items.len() >= 8, "{} items", items.len());
        let opts = LoadOptions::default();
        for crate::job::Item {
            ist: input, config, ..
        } in &items
        {
            let cfg = match &config {
                Some(c) => ProfilerConfig::from_workflow_yaml(c).unwrap(),
                None => ProfilerConfig::all_on(),
            };
            let trace = load_file(input, &opts).unwrap();
            let Trace::Ist(_) = &trace else { continue };
            for path in [
                ProfilePath::Ist,
                ProfilePath::Atif(Builder::Pr1751),
                ProfilePath::Atif(Builder::Faithful),
            ] {
                let mut dump = Vec::new();
                let got = profile_ist_file(input, path, &cfg, true, &opts, &mut dump)
                    .unwrap()
                    .expect("an IST request list")
                    .unwrap();
                let mut want = pipeline::profile(&trace, path, &cfg, true).unwrap();
                let (name, whole) = want.files.remove(0);
                assert_eq!(name, "all_requests_profiler_traces.json");
                assert!(
                    whole.text() == String::from_utf8(dump).unwrap(),
                    "{} {path:?}: the dump",
                    input.display()
                );
                let texts = |o: &Outputs| -> Vec<(String, String)> {
                    o.files
                        .iter()
                        .map(|(n, c)| (n.clone(), c.text().into_owned()))
                        .collect()
                };
                assert!(texts(&got) == texts(&want), "{} {path:?}", input.display());
            }
        }
    }

    /// The files are written side by side; when several cannot be, the error reported is
    /// the first one's in NAT's order, whatever order the writes end in, and nothing is
    /// left staged.
    #[test]
    fn the_first_file_that_cannot_be_written_is_reported() {
        let input = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("corpus/sample/all_requests_profiler_traces.json");
        let scratch = crate::fsio::scratch("profile-unwritable");
        let target = scratch.path().join("out");
        let cfg = ProfilerConfig::all_on();
        let ours = output_names(&cfg);
        let (first, later) = ("workflow_profiling_report.txt", "forecast.json");
        for _ in 0..4 {
            let dir = OutputDir::create(&target, &ours, false).unwrap();
            // A directory where a file is to go: its write fails.
            for name in [later, first] {
                std::fs::create_dir(dir.staged(name)).unwrap();
            }
            let opts = LoadOptions::default();
            let e = stage(&input, ProfilePath::Ist, &cfg, false, &opts, &dir).unwrap_err();
            assert!(e.to_string().contains(first), "{e}");
            drop(dir);
            assert_eq!(std::fs::read_dir(scratch.path()).unwrap().count(), 0);
        }
    }

    /// A file that is not an IST request list (ATIF, an empty list) is left to the
    /// whole-trace path.
    #[test]
    fn anything_else_is_left_to_the_whole_trace_path() {
        let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
        let dir = crate::fsio::scratch("profile-empty");
        let empty = dir.path().join("empty.json");
        std::fs::write(&empty, "[]").unwrap();
        let (opts, cfg) = (LoadOptions::default(), ProfilerConfig::all_on());
        for input in [corpus.join("react_calculator/nat_atif.json"), empty.clone()] {
            let got = profile_ist_file(
                &input,
                ProfilePath::Ist,
                &cfg,
                false,
                &opts,
                &mut Vec::new(),
            );
            assert!(got.unwrap().is_none(), "{}", input.display());
        }
    }
}
