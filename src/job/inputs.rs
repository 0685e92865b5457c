//! A drift item's inputs: the IST frame, one ATIF frame per builder, and both sides'
//! mooncake sessions.
//!
//! An IST request list is mapped (`fsio::map_regular`) and read a batch of requests at a
//! time (the next batch's requests are found while the last is processed;
//! `trace::list_reader`), each batch's pages let go once it is done. Each request is parsed,
//! turned into its frame rows and its mooncake session, converted to ATIF with NAT's
//! converter, turned into each builder's rows and its ATIF session, then dropped; chunks of
//! requests run in parallel. Neither the file, nor the parsed trace, nor its ATIF conversion
//! is ever held whole (at 10,000 requests: 372 MB, about 1.3 GB, and more; the frames take
//! about 0.3 GB). A frame is its requests' rows in order (`from_ist::request_rows`,
//! `from_atif::trajectory_rows`), so the result is the one the whole-trace path below gives
//! (the tests below check it).
//!
//! Any other input, and any IST file this read rejects, takes the whole-trace path: load,
//! convert, build. Its errors, in its order, are the ones reported.

use rayon::prelude::*;

use super::Item;
use crate::convert::{convert_request, ConvertError, ConvertOptions};
use crate::error::Error;
use crate::frame::from_atif::{self, Builder};
use crate::frame::from_ist::{self, Interner};
use crate::frame::{Frame, Layout, Row};
use crate::mooncake::{self as mc, Session};
use crate::trace::list_reader::ListReader;
use crate::trace::load::is_ist_request;
use crate::trace::{load_file, AtifTrace, LoadOptions, Trace};

/// Chunks of requests per batch, worked on in parallel (each chunk interns its own names).
/// The threads wait for a batch's last chunk: with 8 chunks of 64 light requests, about 10 %
/// of the two threads' time went to that wait (at 100,000 light requests the inputs took
/// 7.0 s; with 64 chunks of 8, 6.2 s, and no more memory).
const CHUNKS: usize = 64;
/// Requests per batch (found while the previous batch is processed).
pub(super) const BATCH: usize = 512;
/// At most about this many bytes of requests per batch (real NAT requests, with chat
/// inputs and streamed chunks, are 100–300 KB each: a batch of [`BATCH`] of them kept about
/// 0.3 GB of the input resident whatever its size).
const BATCH_BYTES: usize = 32 << 20;

/// Both paths' inputs of one item.
#[derive(Debug, PartialEq)]
pub struct Inputs {
    /// (requests, steps) of the IST trace.
    pub counts: (usize, usize),
    /// The IST path's frame.
    pub ist_frame: Frame,
    /// One per builder, in the builders' order.
    pub atif_frames: Vec<Frame>,
    /// The IST path's mooncake sessions.
    pub ist_sessions: Vec<Session>,
    /// The ATIF path's mooncake sessions.
    pub atif_sessions: Vec<Session>,
}

/// Why an item's inputs could not be built, with the IST counts when the IST trace loaded.
pub struct Failed {
    /// The requests read before the failure, and of how many (when known).
    pub counts: Option<(usize, usize)>,
    /// What went wrong, naming the file.
    pub error: Error,
}

/// The inputs of `item` for these builders (frames without their NOVA columns).
pub fn build(item: &Item, builders: &[Builder], opts: &LoadOptions) -> Result<Inputs, Failed> {
    match by_request(item, builders, opts) {
        Some(r) => r,
        None => whole(item, builders, opts),
    }
}

fn load_atif(path: &std::path::Path, opts: &LoadOptions) -> Result<AtifTrace, Error> {
    Ok(match load_file(path, opts)? {
        Trace::Atif(a) => a,
        other => crate::pipeline::as_atif(&other)?.into_owned(),
    })
}

/// Frames and sessions of a whole ATIF trace.
fn atif_side(atif: &AtifTrace, builders: &[Builder]) -> (Vec<Frame>, Vec<Session>) {
    rayon::join(
        || {
            builders
                .par_iter()
                .map(|&b| from_atif::frame(atif, b))
                .collect()
        },
        || mc::sessions_from_atif(atif),
    )
}

/// Load the whole IST trace, convert it (or load the ATIF file), then build.
fn whole(item: &Item, builders: &[Builder], opts: &LoadOptions) -> Result<Inputs, Failed> {
    let ist_trace = load_file(&item.ist, opts).map_err(|error| Failed {
        counts: None,
        error,
    })?;
    let counts = match &ist_trace {
        Trace::Ist(t) => Some((t.requests.len(), t.step_count())),
        _ => None,
    };
    let fail = |error| Failed { counts, error };
    let atif = match item.atif.as_deref() {
        Some(p) => std::borrow::Cow::Owned(load_atif(p, opts).map_err(fail)?),
        None => crate::pipeline::as_atif(&ist_trace).map_err(fail)?,
    };
    let Trace::Ist(ist) = &ist_trace else {
        return Err(fail(Error::Other(format!(
            "{}: the IST path needs an IST trace; this is {}",
            item.ist.display(),
            ist_trace.kind()
        ))));
    };
    let ((ist_frame, ist_sessions), (atif_frames, atif_sessions)) = rayon::join(
        || {
            rayon::join(
                || from_ist::frame(ist),
                || mc::sessions_from_ist(&ist.requests),
            )
        },
        || atif_side(&atif, builders),
    );
    Ok(Inputs {
        counts: (ist.requests.len(), ist.step_count()),
        ist_frame,
        atif_frames,
        ist_sessions,
        atif_sessions,
    })
}

/// Each builder's rows and the sessions of converted requests, or the first request (by
/// number) that does not convert.
type Converted = Result<(Vec<Vec<Row>>, Vec<Session>), (usize, ConvertError)>;

/// What one chunk of requests gives.
struct Chunk {
    steps: usize,
    ist_rows: Vec<Row>,
    ist_sessions: Vec<Session>,
    /// When the item has no ATIF file: its requests converted.
    atif: Option<Converted>,
}

/// Requests `first..` of the trace; `None` when one does not parse as an IST request.
fn chunk(first: usize, raws: &[&[u8]], builders: &[Builder], convert: bool) -> Option<Chunk> {
    let mut names = Interner::default();
    let mut c = Chunk {
        steps: 0,
        ist_rows: Vec::new(),
        ist_sessions: Vec::with_capacity(raws.len()),
        atif: convert.then(|| Ok((vec![Vec::new(); builders.len()], Vec::new()))),
    };
    let opts = ConvertOptions::default();
    for (k, raw) in raws.iter().enumerate() {
        let n = first + k;
        let req = crate::trace::ist::parse_listed_request(raw)?;
        let steps = &req.intermediate_steps;
        c.steps += steps.len();
        from_ist::request_rows(steps, n, &mut names, &mut c.ist_rows);
        c.ist_sessions.push(mc::session_from_ist(&req));
        if let Some(Ok((rows, sessions))) = &mut c.atif {
            match convert_request(steps, &format!("request-{n}"), &opts) {
                Ok(t) => {
                    for (&b, rows) in builders.iter().zip(rows.iter_mut()) {
                        from_atif::trajectory_rows(&t, n, b, &mut names, rows);
                    }
                    sessions.push(mc::session_from_atif(n, &t));
                }
                Err(e) => c.atif = Some(Err((n, e))),
            }
        }
    }
    Some(c)
}

/// `n` more elements of the list (fewer at its end, or once they hold [`BATCH_BYTES`]), as
/// parts of the mapped file; `None` when one nests deeper than `max_depth` (counting the
/// list's own level: `too_deep`'s limit on the whole file).
fn read_batch<'a>(
    list: &mut ListReader<&'a [u8]>,
    n: usize,
    max_depth: usize,
) -> Option<Vec<&'a [u8]>> {
    let mut batch = Vec::with_capacity(n);
    let mut bytes = 0;
    while batch.len() < n && bytes < BATCH_BYTES {
        let Some(element) = list.next_slice().ok()? else {
            break;
        };
        if list.depth() > max_depth.saturating_sub(1) {
            return None;
        }
        bytes += element.len();
        batch.push(element);
    }
    Some(batch)
}

/// Read the IST request list `path`, mapped, a batch of requests at a time, `work` on
/// [`CHUNKS`] chunks of requests in parallel (the number of the chunk's first
/// request, the requests' bytes), `take` on the chunks' results in request order, with how
/// far the file is read ([`Read`]: through that chunk's last request). While a
/// batch is processed, the next one is found and the last one's results are taken (at
/// 10,000 real requests, `profile`'s trace dump written a batch at a time after each one
/// held both threads for about 2 s of 12), and the last one's pages are let go. Returns how
/// many requests there were; `None` when the file is not an IST request list as this reader
/// reads one (not a regular file, over the size limit, too deep, not a list, a request that
/// does not parse: `work` says `None`), for the whole-trace path to load it and report why
/// (what `take` was given is then to be discarded).
pub(super) fn for_each_chunk<T: Send>(
    path: &std::path::Path,
    opts: &LoadOptions,
    batch_size: usize,
    work: impl Fn(usize, &[&[u8]]) -> Option<T> + Sync,
    mut take: impl FnMut(T, Read) + Send,
) -> Option<usize> {
    let file = crate::fsio::map_regular(path, opts.max_file_size).ok()?;
    let bytes = file.bytes();
    // Where a request of the file ends.
    let end_of = |raw: &[u8]| raw.as_ptr() as usize + raw.len() - bytes.as_ptr() as usize;
    let mut list = ListReader::new(file.bytes());
    // `work` parses elements no deeper than serde_json parses (`parse_listed_request`).
    let max_depth = opts.max_depth.min(crate::trace::load::MAX_DEPTH);
    let mut batch = read_batch(&mut list, batch_size, max_depth)?;
    if !batch.first().is_some_and(|first| is_ist_request(first)) {
        return None;
    }
    let mut requests = 0;
    // The last batch's results, each with where its chunk ends, taken while the next batch
    // is processed.
    let mut done: Vec<(T, usize)> = Vec::new();
    let mut take = |(t, end)| take(t, (end, bytes.len()));
    while !batch.is_empty() {
        // As many chunks per batch whatever its size (a batch of heavy requests is cut short
        // by its bytes).
        let per_chunk = batch.len().div_ceil(CHUNKS);
        let (results, next) = rayon::join(
            || {
                batch
                    .par_chunks(per_chunk)
                    .enumerate()
                    .map(|(i, raws)| {
                        let end = raws.last().map_or(0, |&r| end_of(r));
                        work(requests + i * per_chunk, raws).map(|t| (t, end))
                    })
                    .collect::<Option<Vec<_>>>()
            },
            || {
                done.drain(..).for_each(&mut take);
                read_batch(&mut list, batch_size, max_depth)
            },
        );
        done = results?;
        requests += batch.len();
        // The batch is done with: its pages need not stay resident.
        if let Some(last) = batch.last() {
            file.release_before(end_of(last) - last.len());
        }
        batch = next?;
    }
    done.into_iter().for_each(take);
    Some(requests)
}

/// An IST request list, a request at a time, read from the file in batches (the next batch
/// is read while the last one is processed); `None` to take the whole-trace path.
fn by_request(
    item: &Item,
    builders: &[Builder],
    opts: &LoadOptions,
) -> Option<Result<Inputs, Failed>> {
    by_request_in_batches(item, builders, opts, BATCH)
}

/// How far a file is read: (its bytes read so far, all its bytes).
pub(super) type Read = (usize, usize);

/// The chunks' results as they are done. Each batch's chunks go into the frames' rows as soon
/// as they are done, so their memory is reused by the next batch (gathered at the end, every
/// chunk's rows were held until then, and copied once more).
#[derive(Default)]
struct Gathered {
    steps: usize,
    ist_rows: Vec<Row>,
    ist_sessions: Vec<Session>,
    /// Per builder.
    atif_rows: Vec<Vec<Row>>,
    atif_sessions: Vec<Session>,
    /// As the whole-trace conversion: the first request that does not convert (reported
    /// once every request is read, since one that does not parse sends the item down the
    /// whole-trace path instead).
    convert_error: Option<(usize, crate::convert::ConvertError)>,
}

impl Gathered {
    fn add(&mut self, c: Chunk, read: Read) {
        self.steps += c.steps;
        extend_ahead(&mut self.ist_rows, c.ist_rows, read);
        extend_ahead(&mut self.ist_sessions, c.ist_sessions, read);
        match c.atif {
            Some(Ok((rows, sessions))) if self.convert_error.is_none() => {
                for (all, rows) in self.atif_rows.iter_mut().zip(rows) {
                    extend_ahead(all, rows, read);
                }
                extend_ahead(&mut self.atif_sessions, sessions, read);
            }
            Some(Err(e)) if self.convert_error.is_none() => self.convert_error = Some(e),
            _ => {}
        }
    }
}

/// `all` extended with `more`. When it has no room left, it is given room for what the whole
/// file is expected to give at the rate of the bytes `read` so far (`(read, of the file)`),
/// and at least half again as much: a vector of a whole frame's rows doubling as it grows was
/// copied whole at each step, and those copies were a quarter of the page faults of a drift of
/// 10,000 light requests. Room not yet written to is not resident memory.
pub(super) fn extend_ahead<T>(all: &mut Vec<T>, more: Vec<T>, (read, total): Read) {
    let need = all.len() + more.len();
    if need > all.capacity() {
        let expected = (need as f64 * (total as f64 / read.max(1) as f64) * 1.05) as usize;
        // A request's bytes give it at most one item per this many bytes (an IST step is
        // more than a hundred), whatever the first requests were like.
        let most = total / 64;
        let target = expected.min(most).max(need + need / 2);
        all.reserve_exact(target - all.len());
    }
    all.extend(more);
}

fn by_request_in_batches(
    item: &Item,
    builders: &[Builder],
    opts: &LoadOptions,
    batch_size: usize,
) -> Option<Result<Inputs, Failed>> {
    let convert = item.atif.as_deref().is_none();
    let mut g = Gathered {
        atif_rows: vec![Vec::new(); builders.len()],
        ..Gathered::default()
    };
    let requests = for_each_chunk(
        &item.ist,
        opts,
        batch_size,
        |first, raws| chunk(first, raws, builders, convert),
        |c, read| g.add(c, read),
    )?;
    let Gathered {
        steps,
        ist_rows,
        ist_sessions,
        atif_rows,
        atif_sessions,
        convert_error,
    } = g;
    let counts = (requests, steps);
    let fail = |error| Failed {
        counts: Some(counts),
        error,
    };
    if let Some((n, e)) = convert_error {
        return Some(Err(fail(crate::convert::request_error(n, e))));
    }
    let ist_frame = Frame::new(Layout::Ist, requests, ist_rows);
    let converted = convert.then(|| {
        builders
            .iter()
            .zip(atif_rows)
            .map(|(&b, rows)| Frame::new(from_atif::layout(b), requests, rows))
            .collect::<Vec<_>>()
    });
    let (atif_frames, atif_sessions) = match item.atif.as_deref() {
        None => (converted.unwrap_or_default(), atif_sessions),
        Some(p) => match load_atif(p, opts) {
            Ok(atif) => atif_side(&atif, builders),
            Err(e) => return Some(Err(fail(e))),
        },
    };
    Some(Ok(Inputs {
        counts,
        ist_frame,
        atif_frames,
        ist_sessions,
        atif_sessions,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const BOTH: &[Builder] = &[Builder::Pr1751, Builder::Faithful];

    fn corpus_items() -> Vec<Item> {
        let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
        let opts = LoadOptions::default();
        let walked = crate::corpus::walk_with(&corpus, &opts, &crate::job::is_item_trace)
            .expect("the corpus walks");
        crate::job::items_of(&corpus, &walked)
    }

    fn outcome(r: Result<Inputs, Failed>) -> Result<Inputs, (Option<(usize, usize)>, String)> {
        r.map_err(|f| (f.counts, f.error.to_string()))
    }

    fn same_both_ways(item: &Item) {
        let opts = LoadOptions::default();
        let by_request = by_request(item, BOTH, &opts).expect("an IST request list");
        assert_eq!(
            outcome(by_request),
            outcome(whole(item, BOTH, &opts)),
            "{}",
            item.name
        );
    }

    #[test]
    fn by_request_equals_whole_trace_on_every_corpus_item() {
        let items = corpus_items();
        assert!(items.len() >= 8, "{} items", items.len());
        for item in &items {
            same_both_ways(item);
            // And converting the IST trace instead of reading NAT's ATIF file.
            if item.atif.is_some() {
                same_both_ways(&Item {
                    atif: None,
                    ..item.clone()
                });
            }
        }
    }

    /// 150 requests (three chunks) replicated from the oracle sample, `edit`ed, as an item in
    /// a temporary directory (removed when dropped).
    fn replicated_item(
        name: &str,
        edit: impl Fn(&mut Vec<crate::trace::ist::IstRequest>),
    ) -> (tempfile::TempDir, Item) {
        let sample = crate::trace::corpus_ist("sample");
        let mut requests = crate::gen::replicate::replicate(&sample, 150).requests;
        edit(&mut requests);
        let dir = crate::fsio::scratch(&format!("inputs-{name}"));
        let path = dir.path().join("all_requests_profiler_traces.json");
        std::fs::write(&path, serde_json::to_vec(&requests).unwrap()).unwrap();
        let item = Item {
            name: name.into(),
            ist: path,
            atif: None,
            config: None,
        };
        (dir, item)
    }

    #[test]
    fn rows_get_room_for_the_whole_file_at_once() {
        // 100 chunks of 10 items from 1,000 bytes each: one allocation holds them all
        // (doubling would have taken eight).
        let total = 100 * 1000;
        let (mut all, mut allocations, mut room) = (Vec::new(), 0, 0);
        for k in 0..100 {
            extend_ahead(&mut all, vec![k; 10], ((k + 1) * 1000, total));
            if all.capacity() != room {
                (allocations, room) = (allocations + 1, all.capacity());
            }
        }
        assert_eq!(all, (0..100).flat_map(|k| [k; 10]).collect::<Vec<_>>());
        assert_eq!(allocations, 1);
        assert!(room < 1100, "{room}");
        // A first chunk unlike the file (1,000 items from 10 of its 6,400 bytes): no room for
        // 640,000 of them, but growth by half at least.
        let mut all = Vec::new();
        extend_ahead(&mut all, vec![0u8; 1000], (10, 6400));
        assert!((1500..2000).contains(&all.capacity()), "{}", all.capacity());
        // An unknown file size: growth by half.
        extend_ahead(&mut all, vec![0u8; 1000], (20, 0));
        assert!((3000..4000).contains(&all.capacity()), "{}", all.capacity());
    }

    #[test]
    fn chunks_join_in_request_order() {
        let (_dir, item) = replicated_item("chunks", |_| {});
        // Batches of 100 (two chunks each, the second short): 150 requests in two batches.
        let got = by_request_in_batches(&item, BOTH, &LoadOptions::default(), 100)
            .unwrap()
            .ok()
            .unwrap();
        assert_eq!(got.counts.0, 150);
        let examples: Vec<usize> = got
            .ist_frame
            .rows
            .iter()
            .map(|r| r.example_number())
            .collect();
        assert!(examples.windows(2).all(|w| w[0] <= w[1]) && examples[examples.len() - 1] == 149);
        assert_eq!(
            got,
            whole(&item, BOTH, &LoadOptions::default()).ok().unwrap()
        );
        same_both_ways(&item);
    }

    #[test]
    fn the_first_request_that_does_not_convert_is_reported_with_the_counts() {
        let (_dir, item) = replicated_item("convert", |requests| {
            for n in [140, 70] {
                requests[n].intermediate_steps[0].payload.event_timestamp = 1e300;
            }
        });
        let r = outcome(by_request(&item, BOTH, &LoadOptions::default()).unwrap());
        let (counts, message) = r.as_ref().expect_err("a conversion error");
        assert_eq!(counts.map(|c| c.0), Some(150));
        assert!(message.starts_with("request 70: "), "{message}");
        same_both_ways(&item);
    }

    #[test]
    fn a_request_deeper_than_the_limit_takes_the_whole_trace_path() {
        let (_dir, item) = replicated_item("depth", |_| {});
        let bytes = std::fs::read(&item.ist).unwrap();
        // How deep the file nests (its list included).
        let deepest = (1..100)
            .find(|&m| crate::trace::load::too_deep(&bytes, m).is_none())
            .unwrap();
        let at = |max_depth| LoadOptions {
            max_depth,
            ..Default::default()
        };
        assert!(matches!(by_request(&item, BOTH, &at(deepest)), Some(Ok(_))));
        assert!(by_request(&item, BOTH, &at(deepest - 1)).is_none());
        let Err(f) = build(&item, BOTH, &at(deepest - 1)) else {
            panic!("one level too deep must fail")
        };
        assert!(
            f.error.to_string().contains("nested deeper than"),
            "{}",
            f.error
        );
    }

    #[test]
    fn a_request_that_does_not_parse_takes_the_whole_trace_path() {
        let (_dir, item) = replicated_item("parse", |requests| {
            requests[100].intermediate_steps[3].payload.uuid = String::new();
        });
        let text = std::fs::read_to_string(&item.ist)
            .unwrap()
            .replacen(r#""UUID": """#, r#""UUID": 7"#, 1)
            .replacen(r#""UUID":"""#, r#""UUID":7"#, 1);
        std::fs::write(&item.ist, text).unwrap();
        assert!(by_request(&item, BOTH, &LoadOptions::default()).is_none());
        let Err(f) = build(&item, BOTH, &LoadOptions::default()) else {
            panic!("the bad request must fail")
        };
        assert_eq!(f.counts, None);
        assert!(f.error.to_string().contains("[100]"), "{}", f.error);
    }
}
