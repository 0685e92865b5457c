//! `atif-drift profile` on an IST request list read a request at a time, as `drift` reads
//! it (`inputs::for_each_chunk`): each request is parsed, becomes its frame rows (the IST
//! path's, or a builder's after NAT's conversion) and, on the IST path, its element of the
//! trace dump, rendered in parallel and written in order; then it is dropped (the ATIF
//! path's dump is the frame's rows, written once the frame is built). Then each unit's
//! files are written as soon as the unit is done, the CSV a row at a time from the frame
//! ([`write_units`]). Memory holds the frame and the outputs of the units in progress,
//! never the parsed trace or every output at once. The files are those of
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
use crate::profile;
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

/// The frame of `path` on the IST request list `input`, read a request at a time; the trace
/// dump (`all_requests_profiler_traces.json`: on the IST path as the input is read, on the
/// ATIF path the frame's rows, as NAT's ATIF-native profiler writes them) goes to `dump` a
/// request at a time. `Err`: the dump could not be written. `Ok(None)`: `input` is not an
/// IST request list this reader reads (the caller then loads it whole, which reports why;
/// what went to `dump` is to be discarded). Otherwise the frame (the analyses' input:
/// [`write_units`]), or the error of the first request that does not convert.
pub fn ist_file_frame(
    input: &Path,
    path: ProfilePath,
    opts: &LoadOptions,
    dump: &mut (dyn Write + Send),
) -> std::io::Result<Option<Result<Frame, Error>>> {
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
    let frame = match path {
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
    Ok(Some(Ok(frame)))
}

/// What writes one file's bytes to the writer it is given.
pub type Fill<'a> = dyn FnMut(&mut (dyn Write + Send)) -> std::io::Result<()> + 'a;

/// Where [`write_units`] puts a file: called with its name and what writes its bytes.
pub type Sink<'s> = dyn Fn(&str, &mut Fill<'_>) -> Result<(), Error> + Sync + 's;

/// The order in which [`write_units`] starts its tasks (`None`: the Gantt chart, when asked
/// for). rayon splits the list in halves and each thread starts with the first task of its
/// half, going on with the rest of it (and then with what the other has not started): the
/// workflow analyses (the largest unit) and the CSV start first, with or without the chart,
/// and the small units fill in.
const START: [Option<profile::Unit>; profile::Unit::ALL.len() + 1] = {
    use profile::Unit::*;
    [
        Some(WorkflowProfiling),
        Some(InferenceOptimization),
        None,
        Some(Csv),
        Some(PredictionTrie),
        Some(Forecast),
    ]
};

/// [`write_units`]' tasks in the order they start ([`START`]), each with its place in NAT's
/// file order (the units', then the Gantt chart's).
fn tasks(gantt: bool) -> Vec<(usize, Option<profile::Unit>)> {
    let place = |task: Option<profile::Unit>| match task {
        Some(u) => profile::Unit::ALL
            .iter()
            .position(|&v| v == u)
            .expect("a unit"),
        None => profile::Unit::ALL.len(),
    };
    START
        .into_iter()
        .filter(|task| task.is_some() || gantt)
        .map(|task| (place(task), task))
        .collect()
}

/// Every file of `path`'s analyses on `frame` (the trace dump aside), put into `sink`
/// as each unit is done ([`profile::run`]'s files, byte for byte): the units run side by
/// side, each unit's files are written and dropped before the next unit starts on that
/// thread, and the CSV is written a row at a time from the frame. Memory holds the frame
/// and the outputs of the units in progress, not every output at once. The first error in
/// NAT's file order is the one reported. Returns how many files were written.
pub fn write_units(
    frame: &mut Frame,
    path: ProfilePath,
    cfg: &ProfilerConfig,
    gantt: bool,
    sink: &Sink<'_>,
) -> Result<usize, Error> {
    use rayon::prelude::*;
    profile::prepare(frame, cfg);
    let frame = &*frame;
    let flavor = path.flavor();
    let tasks = tasks(gantt);
    let mut results: Vec<(usize, Result<usize, Error>)> = tasks
        .par_iter()
        .with_max_len(1)
        .map(|&(at, task)| {
            let written = match task {
                Some(profile::Unit::Csv) => {
                    let opts = profile::csv_options(cfg);
                    sink(profile::CSV_FILE, &mut |w| {
                        crate::frame::csv::write(frame, opts, w)
                    })
                    .map(|()| 1)
                }
                Some(unit) => {
                    let outputs = profile::unit(frame, cfg, flavor, unit);
                    outputs
                        .files
                        .iter()
                        .try_for_each(|(name, content)| sink(name, &mut |w| content.write_to(w)))
                        .map(|()| outputs.files.len())
                }
                None => {
                    let svg = profile::gantt::gantt_svg(frame);
                    sink("gantt_chart.svg", &mut |w| w.write_all(svg.as_bytes())).map(|()| 1)
                }
            };
            (at, written)
        })
        .collect();
    results.sort_by_key(|&(at, _)| at);
    results.into_iter().map(|(_, r)| r).sum()
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
/// commits it). An IST request list is read a request at a time ([`ist_file_frame`]);
/// anything else is loaded whole, when the memory that takes (about 10× the input on real
/// NAT traces) is available, and freed once the frame is built. Either way the files are
/// written unit by unit ([`write_units`]).
pub fn stage(
    input: &Path,
    path: ProfilePath,
    cfg: &ProfilerConfig,
    gantt: bool,
    opts: &LoadOptions,
    dir: &OutputDir,
) -> Result<Staged, Error> {
    const DUMP: &str = "all_requests_profiler_traces.json";
    // NAT writes the trace dump first; here, as the input is read (IST) or once the frame
    // is built (ATIF).
    let mut streamed = None;
    dir.write_with(DUMP, |w| {
        streamed = ist_file_frame(input, path, opts, w)?;
        Ok(())
    })?;
    let mut frame = match streamed {
        Some(frame) => frame?,
        None => {
            enough_memory_for(input)?;
            let trace = load_file(input, opts)?;
            let frame = pipeline::frame_of(&trace, path)?;
            dir.write_with(DUMP, |w| match (path, &trace) {
                (ProfilePath::Ist, Trace::Ist(ist)) => pipeline::write_ist_dump(ist, w),
                _ => profile::write_flat_traces(&frame, w),
            })?;
            // The parsed trace is not needed by the analyses.
            drop_aside(trace);
            frame
        }
    };
    let sink = |name: &str, fill: &mut Fill<'_>| dir.write_with(name, fill);
    let written = 1 + write_units(&mut frame, path, cfg, gantt, &sink)?;
    let no_events = frame.is_empty();
    drop_aside(frame);
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

    /// Read a request at a time (IST request lists) or whole (ATIF, the empty list) and
    /// written unit by unit, every path gives the files the whole-trace pipeline gives, byte
    /// for byte, the dump included, on every corpus item's IST and ATIF.
    #[test]
    fn staged_profiles_equal_the_whole_trace_pipeline() {
        let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
        let items = crate::job::discover(&corpus, &Default::default()).unwrap();
        assert!(items.len() >= 8, "{} items", items.len());
        let opts = LoadOptions::default();
        let scratch = crate::fsio::scratch("profile-streamed");
        let target = scratch.path().join("out");
        let empty = scratch.path().join("empty.json");
        std::fs::write(&empty, "[]").unwrap();
        let inputs = items
            .iter()
            .flat_map(|i| {
                let cfg = i.profiler_config().unwrap();
                [Some(&i.ist), i.atif.as_ref()]
                    .into_iter()
                    .flatten()
                    .map(move |input| (input.clone(), cfg.clone()))
            })
            .chain([(empty.clone(), ProfilerConfig::all_on())]);
        let (mut whole, mut atif) = (0, 0);
        for (input, cfg) in inputs {
            let input = &input;
            let trace = load_file(input, &opts).unwrap();
            let mut probe = Vec::new();
            whole += usize::from(
                ist_file_frame(input, ProfilePath::Ist, &opts, &mut probe)
                    .unwrap()
                    .is_none(),
            );
            for path in [
                ProfilePath::Ist,
                ProfilePath::Atif(Builder::Pr1751),
                ProfilePath::Atif(Builder::Faithful),
            ] {
                if let (ProfilePath::Ist, Trace::Atif(_)) = (path, &trace) {
                    continue;
                }
                atif += usize::from(matches!(trace, Trace::Atif(_)));
                let dir = OutputDir::create(&target, &output_names(&cfg), true).unwrap();
                let staged = stage(input, path, &cfg, true, &opts, &dir).unwrap();
                dir.commit().unwrap();
                let mut got: Vec<(String, Vec<u8>)> = std::fs::read_dir(&target)
                    .unwrap()
                    .map(|e| {
                        let e = e.unwrap();
                        let name = e.file_name().into_string().unwrap();
                        (name, std::fs::read(e.path()).unwrap())
                    })
                    .collect();
                got.sort();
                let want = pipeline::profile(&trace, path, &cfg, true).unwrap();
                let mut want: Vec<(String, Vec<u8>)> = want
                    .files
                    .iter()
                    .map(|(n, c)| (n.clone(), c.text().into_owned().into_bytes()))
                    .collect();
                want.sort();
                let names =
                    |v: &[(String, Vec<u8>)]| v.iter().map(|f| f.0.clone()).collect::<Vec<_>>();
                assert_eq!(names(&got), names(&want), "{} {path:?}", input.display());
                for ((name, g), (_, w)) in got.iter().zip(&want) {
                    assert!(g == w, "{} {path:?}: {name}", input.display());
                }
                assert_eq!(staged.written, want.len(), "{} {path:?}", input.display());
            }
        }
        assert!(
            whole >= 4 && atif >= 6,
            "{whole} inputs profiled whole, {atif} ATIF runs"
        );
    }

    /// Every task is started, once, in NAT's order when sorted by its place; the CSV starts
    /// the second half of the list (beside the workflow analyses), with or without the chart.
    #[test]
    fn every_task_starts_once() {
        for gantt in [false, true] {
            let mut tasks = tasks(gantt);
            let n = profile::Unit::ALL.len() + usize::from(gantt);
            assert_eq!(tasks.len(), n);
            assert_eq!(tasks[0].1, Some(profile::Unit::WorkflowProfiling));
            assert_eq!(tasks[n / 2].1, Some(profile::Unit::Csv), "gantt {gantt}");
            tasks.sort_by_key(|&(at, _)| at);
            let units: Vec<_> = profile::Unit::ALL.into_iter().map(Some).collect();
            let want: Vec<_> = units.into_iter().chain(gantt.then_some(None)).collect();
            assert_eq!(tasks.into_iter().map(|t| t.1).collect::<Vec<_>>(), want);
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
        let opts = LoadOptions::default();
        for input in [corpus.join("react_calculator/nat_atif.json"), empty.clone()] {
            let got = ist_file_frame(&input, ProfilePath::Ist, &opts, &mut Vec::new());
            assert!(got.unwrap().is_none(), "{}", input.display());
        }
    }
}
