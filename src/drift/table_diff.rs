//! The drift of `standardized_data_all.csv`: both frames' cells compared row by row,
//! datacompy-style.
//!
//! NAT's file is compared as a [`Table`] of cells. The drift of two frames does not write
//! their tables (at 10,000 requests about 150 MB of cells per path, written, renamed and
//! copied again): it reads each cell from its frame as it compares it ([`FrameCells`]),
//! with the UUIDs renamed as the renaming of the table's cells names them. Two cells holding
//! the same number are equal without being written; the others are compared as the text
//! the table would hold. The result is the tables' (checked in the tests below, and by the
//! 10k and corpus reports being unchanged).

use std::borrow::Cow;
use std::sync::OnceLock;

use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde_json::Value;

use super::policy::{Relation, Term};
use super::value_diff::{Change, Tolerance};
use super::{Groups, OutputDrift, Paths, Policy};
use crate::differences::{note_uuid, rename_in, Names};
use crate::frame::csv::{Cell, CsvOptions, FrameCells, Table};
use crate::frame::from_atif::Builder;
use crate::frame::Frame;

const FILE: &str = "standardized_data_all.csv";

/// Left rows per part of the row diff (parts are diffed side by side).
const ROWS_PER_PART: usize = 16 * 1024;

/// A table's cells as the drift compares them: UUIDs renamed in order of appearance.
pub(super) trait Cells: Sync {
    fn header(&self) -> &[String];
    fn len(&self) -> usize;
    /// Cell `c` of row `r` (both in range).
    fn cell(&self, r: usize, c: usize) -> Cell<'_>;
    /// A value of row `r` the table does not write (`cached_tokens`), when it has it.
    fn hidden(&self, _r: usize, _name: &str) -> Option<f64> {
        None
    }
    /// The ATIF tool calls the rows stand for (`Row::call`), as (request, name), sorted;
    /// `timed_only`: only those with a start time. Empty for a table read back.
    fn calls(&self, _timed_only: bool) -> Vec<(usize, &str)> {
        Vec::new()
    }
}

/// A table read back or written whole, its cells already renamed (`Compared`).
impl Cells for Table {
    fn header(&self) -> &[String] {
        &self.header
    }

    fn len(&self) -> usize {
        Table::len(self)
    }

    fn cell(&self, r: usize, c: usize) -> Cell<'_> {
        Cell::Text(self.get(r, c).unwrap_or(""))
    }
}

/// A frame's cells with their UUIDs renamed: the names come from one pass over its text
/// cells in the table's order (row by row, left to right; numbers hold no UUIDs), as
/// renaming the table's cells gives them.
pub(super) struct Renamed<'f> {
    frame: &'f Frame,
    cells: FrameCells<'f>,
    names: Names,
    /// Per column, when it has a cell that is one UUID: per row, the number of that cell's
    /// name ([`NOT_NAMED`] for the others). Read back by `cell` without hashing the UUID
    /// again (at 100,000 requests, seven million lookups per frame in a table of a million
    /// names, most of them cache misses).
    named: Vec<Option<Vec<u32>>>,
    /// Longer text cells holding a UUID, renamed (a cell that is one UUID takes its name).
    texts: FxHashMap<(usize, usize), String>,
    /// The `example_number` column, and each request number as written (the rows' keys
    /// borrow them).
    example_column: Option<usize>,
    examples: Vec<String>,
}

impl<'f> Renamed<'f> {
    pub(super) fn new(frame: &'f Frame, opts: CsvOptions) -> Self {
        let cells = FrameCells::new(frame, opts);
        let text_columns: Vec<usize> = (0..cells.header().len())
            .filter(|&c| cells.is_text(c))
            .collect();
        let mut names = Names::default();
        let mut texts = FxHashMap::default();
        let mut named: Vec<Option<Vec<u32>>> = vec![None; cells.header().len()];
        // Per column, the last UUID cell and its name's number: an id often repeats in the
        // next rows (a function's rows), and is then not looked up again.
        let mut last: Vec<Option<(&str, u32)>> = vec![None; cells.header().len()];
        for r in 0..cells.len() {
            for &c in &text_columns {
                let Cell::Text(s) = cells.cell(r, c) else {
                    continue;
                };
                if s.len() > 36 {
                    if let Cow::Owned(t) = rename_in(s, &mut names) {
                        texts.insert((r, c), t);
                    }
                } else if s.len() == 36 {
                    let number = match last[c] {
                        Some((u, n)) if u == s => Some(n),
                        _ => note_uuid(s, &mut names),
                    };
                    if let Some(n) = number {
                        last[c] = Some((s, n));
                        named[c].get_or_insert_with(|| vec![NOT_NAMED; cells.len()])[r] = n;
                    }
                }
            }
        }
        names.spell_all();
        let examples = frame.rows.iter().map(|r| r.example_number()).max();
        Renamed {
            frame,
            example_column: col(cells.header(), "example_number"),
            examples: (0..examples.map_or(0, |m| m + 1))
                .map(|n| n.to_string())
                .collect(),
            cells,
            names,
            named,
            texts,
        }
    }
}

/// A cell of [`Renamed::named`] that is not one UUID.
const NOT_NAMED: u32 = u32::MAX;

impl Cells for Renamed<'_> {
    fn header(&self) -> &[String] {
        self.cells.header()
    }

    fn len(&self) -> usize {
        self.cells.len()
    }

    fn hidden(&self, r: usize, name: &str) -> Option<f64> {
        match name {
            "cached_tokens" => self.frame.rows.get(r)?.cached_tokens().map(|n| n as f64),
            _ => None,
        }
    }

    fn calls(&self, timed_only: bool) -> Vec<(usize, &str)> {
        let mut calls: Vec<(usize, &str)> = self
            .frame
            .rows
            .iter()
            .filter(|r| !timed_only || r.span_event_timestamp().is_some())
            .filter_map(|r| Some((r.example_number(), r.call.as_deref()?)))
            .collect();
        calls.sort_unstable();
        calls
    }

    fn cell(&self, r: usize, c: usize) -> Cell<'_> {
        // A cell that is one UUID takes its name without its text being read (a pointer to
        // follow into the heap, for three columns of every row).
        if let Some(n) = self.named[c].as_ref().map(|v| v[r]) {
            if n != NOT_NAMED {
                return Cell::Text(self.names.by_number(n));
            }
        }
        match self.cells.cell(r, c) {
            Cell::Text(s) if s.len() > 36 && !self.texts.is_empty() => {
                Cell::Text(self.texts.get(&(r, c)).map_or(s, String::as_str))
            }
            Cell::Int(n) if Some(c) == self.example_column => {
                match usize::try_from(n).ok().and_then(|n| self.examples.get(n)) {
                    Some(e) => Cell::Text(e),
                    None => Cell::Int(n),
                }
            }
            other => other,
        }
    }
}

/// Per builder, the drift of the CSV of the IST frame against that builder's frame.
pub(super) fn drift(paths: &Paths) -> Vec<OutputDrift> {
    let Paths {
        builders,
        cfg,
        policy,
        ..
    } = *paths;
    let opts = CsvOptions {
        exclude_io_text: cfg.csv_exclude_io_text,
    };
    // Each frame renamed and its rows keyed in one task (the three frames on two cores: one
    // wait for the last, not one per step); the tables are kept beside, for the keys borrow
    // their request texts.
    let tables: Vec<OnceLock<Renamed>> = (0..=paths.atif.len()).map(|_| OnceLock::new()).collect();
    let (left_keys, right_keys) = super::both_paths_with(paths, &tables, |f, _, table| {
        table_keys(table.get_or_init(|| Renamed::new(f, opts)))
    });
    fn renamed<'a, 'f>(t: &'a OnceLock<Renamed<'f>>) -> &'a Renamed<'f> {
        t.get().expect("renamed with its keys")
    }
    let mut keyed: Vec<TableKeys> = std::iter::once(left_keys).chain(right_keys).collect();
    let texts = KeyTexts::join(&mut keyed);
    let left = (renamed(&tables[0]), &keyed[0].rows[..]);
    // The builders' diffs side by side: each diffs its rows in parts side by side, then
    // finishes alone (the rows on its side only, the calls); two at once keep both cores busy.
    tables[1..]
        .par_iter()
        .zip(&keyed[1..])
        .zip(builders)
        .with_max_len(1)
        .map(|((table, keys), &b)| {
            let sides = (left, (renamed(table), &keys.rows[..]));
            diff_keyed(FILE, sides, &texts, (policy, Some(b)), ROWS_PER_PART)
        })
        .collect()
}

/// The frame, datacompy-style: rows aligned on (request, event type, ordinal within both);
/// per column, the aligned cells that differ; rows present on one side only.
pub(super) fn diff_csv(
    file: &str,
    a: &impl Cells,
    b: &impl Cells,
    policy: &Policy,
    builder: impl Into<Option<Builder>>,
) -> OutputDrift {
    let builder = builder.into();
    diff_csv_in_parts(file, a, b, policy, builder, ROWS_PER_PART)
}

/// A row's key: (request, event type, ordinal of the pair within both), the two texts by
/// their rank among those of the tables compared ([`KeyTexts`]), so that keys compare as
/// their texts do. With its row, 16 bytes (they were 48: at 100,000 requests a frame has
/// 2.4 million rows, and two frames' keys are held while they are compared).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    example: u32,
    event: u32,
    ordinal: u32,
}

/// The request and event-type texts of the tables compared, each kind sorted: a key's
/// texts, by their rank.
struct KeyTexts<'t> {
    examples: Vec<&'t str>,
    events: Vec<&'t str>,
}

fn col(h: &[String], n: &str) -> Option<usize> {
    h.iter().position(|x| x == n)
}

/// A table's request and event-type columns.
fn key_columns(t: &impl Cells) -> (Option<usize>, Option<usize>) {
    let h = t.header();
    (col(h, "example_number"), col(h, "event_type"))
}

/// Row `i`'s text in column `c` of `t` (`""` without the column).
fn key_text(t: &impl Cells, i: usize, c: Option<usize>) -> &str {
    match c.map(|c| t.cell(i, c)) {
        Some(Cell::Text(s)) => s,
        // Both are text in every table (`Renamed` writes its request numbers).
        _ => "",
    }
}

impl<'t> KeyTexts<'t> {
    /// The texts of every table's keys, each table's keys put in their ranks (sorted, a
    /// table's texts are a subset of them: its keys keep their order and ordinals).
    fn join(tables: &mut [TableKeys<'t>]) -> Self {
        fn union<'t>(lists: impl Iterator<Item = &'t str>) -> Vec<&'t str> {
            let mut texts: Vec<&'t str> = lists.collect();
            texts.sort_unstable();
            texts.dedup();
            texts
        }
        let texts = KeyTexts {
            examples: union(tables.iter().flat_map(|t| t.examples.iter().copied())),
            events: union(tables.iter().flat_map(|t| t.events.iter().copied())),
        };
        tables.par_iter_mut().for_each(|t| {
            let ranks = |own: &[&str], all: &[&str]| -> Vec<u32> {
                let at = |s: &&str| all.binary_search(s).expect("a text of the table");
                own.iter().map(|s| rank_of(at(s))).collect()
            };
            let examples = ranks(&t.examples, &texts.examples);
            let events = ranks(&t.events, &texts.events);
            for (k, _) in &mut t.rows {
                k.example = examples[k.example as usize];
                k.event = events[k.event as usize];
            }
        });
        texts
    }

    fn example(&self, k: &Key) -> &'t str {
        self.examples[k.example as usize]
    }

    fn event(&self, k: &Key) -> &'t str {
        self.events[k.event as usize]
    }
}

/// A rank or a row as a key holds it.
fn rank_of(n: usize) -> u32 {
    u32::try_from(n).expect("fewer than 2^32 rows")
}

/// A table's rows keyed by the ranks of its own key texts, in key order ([`TableKeys`]).
struct TableKeys<'t> {
    /// Its request texts, sorted.
    examples: Vec<&'t str>,
    /// Its event-type texts, sorted.
    events: Vec<&'t str>,
    /// Every row's key with the row, in key order.
    rows: Vec<(Key, u32)>,
}

/// Every row's key with the row, in key order, the texts ranked among the table's own
/// ([`KeyTexts::join`] ranks them among every table's). The ordinals are counted in row
/// order: rows are sorted by (request, event type, row), and numbered along each run.
fn table_keys<T: Cells>(t: &T) -> TableKeys<'_> {
    let (ex, et) = key_columns(t);
    // Each text numbered as it first appears, then the numbers made ranks.
    let (mut examples, mut events) = (FxHashMap::default(), FxHashMap::default());
    let number = |texts: &mut FxHashMap<_, u32>, text| {
        let next = rank_of(texts.len());
        *texts.entry(text).or_insert(next)
    };
    let mut last: Option<(&str, u32)> = None;
    let mut rows: Vec<(Key, u32)> = (0..t.len())
        .map(|i| {
            // A request's rows are together: its text is looked up once.
            let e = key_text(t, i, ex);
            let example = match last {
                Some((text, n)) if text == e => n,
                _ => {
                    let n = number(&mut examples, e);
                    last = Some((e, n));
                    n
                }
            };
            let event = number(&mut events, key_text(t, i, et));
            let key = Key {
                example,
                event,
                ordinal: 0,
            };
            (key, rank_of(i))
        })
        .collect();
    /// The texts sorted, and each number's rank among them.
    fn ranked(texts: FxHashMap<&str, u32>) -> (Vec<&str>, Vec<u32>) {
        let mut sorted: Vec<(&str, u32)> = texts.into_iter().collect();
        sorted.sort_unstable();
        let mut rank = vec![0; sorted.len()];
        for (r, &(_, n)) in sorted.iter().enumerate() {
            rank[n as usize] = rank_of(r);
        }
        (sorted.into_iter().map(|(s, _)| s).collect(), rank)
    }
    let ((examples, example_rank), (events, event_rank)) = (ranked(examples), ranked(events));
    for (k, _) in &mut rows {
        k.example = example_rank[k.example as usize];
        k.event = event_rank[k.event as usize];
    }
    rows.sort_unstable();
    for k in 1..rows.len() {
        let (prev, this) = (rows[k - 1].0, &mut rows[k].0);
        if (prev.example, prev.event) == (this.example, this.event) {
            this.ordinal = prev.ordinal + 1;
        }
    }
    TableKeys {
        examples,
        events,
        rows,
    }
}

/// A row on one side only: all its `cells` differ, under `rows.<event type>`.
fn one_sided_row(
    groups: &mut Groups,
    path: &mut String,
    (k, texts): (&Key, &KeyTexts),
    cells: usize,
    change: fn(Value) -> Change,
) {
    let (example, event) = (texts.example(k), texts.event(k));
    path.clear();
    path.push_str("rows.");
    path.push_str(event);
    groups.add_only(path, cells, || {
        change(Value::String(format!(
            "request {example} {event} #{}",
            k.ordinal
        )))
    });
}

/// The columns of both sides, as [`diff_csv_in_parts`] compares them: per column of the
/// left side, its index, name, index on the right and tolerance.
type Columns<'h> = [(usize, &'h String, usize, Tolerance)];

/// Per event type, the relation (`[[expected]] relation`) each compared column's values
/// keep, looked up once per event type (by its rank in the key texts); `None` when no column
/// has one.
struct Relations<'a> {
    file: &'a str,
    policy: &'a Policy,
    builder: Option<Builder>,
    by_event: Vec<Option<Option<Vec<Option<&'a Relation>>>>>,
}

impl<'a> Relations<'a> {
    fn of(
        &mut self,
        (event, rank): (&str, usize),
        columns: &Columns,
    ) -> Option<&[Option<&'a Relation>]> {
        if self.by_event.len() <= rank {
            self.by_event.resize(rank + 1, None);
        }
        let (file, policy, builder) = (self.file, self.policy, self.builder);
        let rels = self.by_event[rank].get_or_insert_with(|| {
            let rels: Vec<Option<&'a Relation>> = columns
                .iter()
                .map(|(_, name, _, _)| {
                    let pattern = format!("{file}:{event}.{name}");
                    policy.expectation(&pattern, builder)?.relation.as_ref()
                })
                .collect();
            rels.iter().any(Option::is_some).then_some(rels)
        });
        rels.as_deref()
    }
}

/// A cell's number: a number cell, or text that parses as one.
fn number_of(cell: Cell, buf: &mut String) -> Option<f64> {
    match cell.number() {
        Some(n) => n,
        None => cell.text(buf).parse().ok(),
    }
}

/// Column `name` of row `r` of `t` as a number (a hidden value when the table does not
/// write it).
fn column_value(t: &impl Cells, r: usize, name: &str) -> Option<f64> {
    match col(t.header(), name) {
        Some(c) => number_of(t.cell(r, c), &mut String::new()),
        None => t.hidden(r, name),
    }
}

/// The cells of rows of both sides that share a key, column by column.
struct RowDiff<'a, A, B> {
    a: &'a A,
    b: &'a B,
    columns: &'a Columns<'a>,
    relations: Relations<'a>,
    /// Reused buffers: the path, and the two cells' texts.
    path: String,
    bx: String,
    by: String,
}

impl<A: Cells, B: Cells> RowDiff<'_, A, B> {
    /// Left row `i` and right row `j`, both of a key of event type `event` (its text and
    /// rank): returns the cells that differ. A cell's pattern is its event type's and
    /// column's: each is a site of the groups ([`Groups::add_at`]), its group found once.
    fn row(&mut self, groups: &mut Groups, event: (&str, usize), i: usize, j: usize) -> usize {
        let relations = self.relations.of(event, self.columns);
        let sites = event.1 * self.columns.len();
        let (bx, by) = (&mut self.bx, &mut self.by);
        let mut differing = 0;
        for (m, &(ci, name, cj, tol)) in self.columns.iter().enumerate() {
            let (x, y) = (self.a.cell(i, ci), self.b.cell(j, cj));
            // A value the relation of its expectation does not predict, equal or not.
            let broken = relations.and_then(|r| r[m]).is_some_and(|rel| {
                let (Some(left), Some(right)) = (number_of(x, bx), number_of(y, by)) else {
                    return false;
                };
                let predicted = rel.predict(|t| match t {
                    Term::Left => Some(left),
                    Term::LeftColumn(c) => column_value(self.a, i, c),
                    Term::RightColumn(c) => column_value(self.b, j, c),
                });
                predicted.is_some_and(|p| p != right && !tol.close(p, right))
            });
            // Numbers are compared as the text they are written as, without
            // writing them; text as it is.
            let nums = match x.same_text(y) {
                Some(true) if !broken => continue,
                Some(_) => x.number().flatten().zip(y.number().flatten()),
                None => {
                    let (x, y) = (x.text(bx), y.text(by));
                    if x == y && !broken {
                        continue;
                    }
                    x.parse::<f64>().ok().zip(y.parse::<f64>().ok())
                }
            };
            if !broken && nums.is_some_and(|(p, q)| tol.close(p, q)) {
                continue;
            }
            let path = &mut self.path;
            path.clear();
            path.push_str(event.0);
            path.push('.');
            path.push_str(name);
            differing += 1;
            groups.add_at(sites + m, path, nums, || Change::Value {
                left: Value::String(x.text(bx).to_string()),
                right: Value::String(y.text(by).to_string()),
            });
            if broken {
                groups.broke_relation();
            }
        }
        differing
    }
}

/// The tool calls both frames stand for (`Row::call`), matched by request and name
/// (multisets, sorted): a call on one side only is a value under `calls`, whatever rows
/// carry it (a call dropped or renamed hides among rows that drift anyway: pr1751 makes
/// TOOL_END rows of NAT's FUNCTION spans). Returns how many calls are on one side only:
/// values compared and differing (calls both sides have are not CSV values, so a frame
/// whose calls agree drifts exactly as its written table).
fn diff_calls(groups: &mut Groups, a: &[(usize, &str)], b: &[(usize, &str)]) -> usize {
    let (mut i, mut j, mut differing) = (0, 0, 0);
    loop {
        let (x, y) = (a.get(i), b.get(j));
        let left = match (x, y) {
            (None, None) => break,
            (Some(x), Some(y)) if x == y => {
                (i, j) = (i + 1, j + 1);
                continue;
            }
            (Some(x), Some(y)) => x < y,
            (l, _) => l.is_some(),
        };
        let c = if left { x } else { y }.expect("the side that comes first has a call");
        let value = Value::String(format!("request {} {}", c.0, c.1));
        groups.add_only("calls", 1, || {
            if left {
                Change::OnlyLeft { value }
            } else {
                Change::OnlyRight { value }
            }
        });
        if left {
            i += 1;
        } else {
            j += 1;
        }
        differing += 1;
    }
    differing
}

/// The columns of one side only (`columns.NAME`); returns how many.
fn one_sided_columns(groups: &mut Groups, ha: &[String], hb: &[String]) -> usize {
    let mut differing = 0;
    for name in ha.iter().filter(|n| col(hb, n).is_none()) {
        differing += 1;
        groups.add_only(&format!("columns.{name}"), 1, || Change::OnlyLeft {
            value: Value::String(name.clone()),
        });
    }
    for name in hb.iter().filter(|n| col(ha, n).is_none()) {
        differing += 1;
        groups.add_only(&format!("columns.{name}"), 1, || Change::OnlyRight {
            value: Value::String(name.clone()),
        });
    }
    differing
}

/// [`diff_csv`] with `per_part` left rows per part.
/// Kept in one piece: the parallel walk of the left rows in chunks, and the fold that puts
/// the right-only rows and columns after them in document order, share the chunks' key
/// ranges; a row's cells are [`RowDiff::row`].
fn diff_csv_in_parts(
    file: &str,
    a: &impl Cells,
    b: &impl Cells,
    policy: &Policy,
    builder: Option<Builder>,
    per_part: usize,
) -> OutputDrift {
    let (ka, kb) = rayon::join(|| table_keys(a), || table_keys(b));
    let mut keyed = [ka, kb];
    let texts = KeyTexts::join(&mut keyed);
    let [ka, kb] = keyed.map(|k| k.rows);
    diff_keyed(
        file,
        ((a, &ka), (b, &kb)),
        &texts,
        (policy, builder),
        per_part,
    )
}

/// A table with its [`keys`].
type Keyed<'t, T> = (&'t T, &'t [(Key, u32)]);

/// [`diff_csv_in_parts`] of two tables with their [`keys`] (of `texts`).
fn diff_keyed<A: Cells, B: Cells>(
    file: &str,
    ((a, ka), (b, kb)): (Keyed<A>, Keyed<B>),
    texts: &KeyTexts,
    (policy, builder): (&Policy, Option<Builder>),
    per_part: usize,
) -> OutputDrift {
    let (ha, hb) = (a.header(), b.header());
    // Per column of the left side: its index on the right and its tolerance.
    let columns: Vec<(usize, &String, usize, Tolerance)> = ha
        .iter()
        .enumerate()
        .filter_map(|(ci, name)| {
            col(hb, name).map(|cj| (ci, name, cj, policy.tolerance_at(file, name)))
        })
        .collect();
    // The left rows in key order, a few thousand at a time side by side, each chunk walked
    // together with the right rows of its key range: a row of `a` meets its twin in `b` (no
    // lookups); rows only in `b` are kept, in their order, for after `a`'s rows. The
    // chunks' groups fold in order: those of one walk.
    let chunks: Vec<&[(Key, u32)]> = ka.chunks(per_part.max(1)).collect();
    let parts: Vec<((Groups, usize), usize, Vec<&Key>)> = chunks
        .par_iter()
        .enumerate()
        .map(|(c, rows)| {
            // The right rows from this chunk's first key (all of them before the first
            // chunk) to the next chunk's first key.
            let from = if c == 0 {
                0
            } else {
                kb.partition_point(|(rk, _)| *rk < rows[0].0)
            };
            let to = chunks.get(c + 1).map_or(kb.len(), |next| {
                kb.partition_point(|(rk, _)| *rk < next[0].0)
            });
            let mut right = kb[from..to].iter().peekable();
            let mut groups = Groups::new(file, policy, builder);
            let (mut compared, mut differing) = (0, 0);
            let mut path = String::new();
            let mut rows_diff = RowDiff {
                a,
                b,
                columns: &columns,
                relations: Relations {
                    file,
                    policy,
                    builder,
                    by_event: Vec::new(),
                },
                path: String::new(),
                bx: String::new(),
                by: String::new(),
            };
            let mut right_only = Vec::new();
            for (k, i) in rows.iter() {
                while let Some((rk, _)) = right.next_if(|(rk, _)| rk < k) {
                    right_only.push(rk);
                }
                let Some((_, j)) = right.next_if(|(rk, _)| rk == k) else {
                    one_sided_row(&mut groups, &mut path, (k, texts), ha.len(), |value| {
                        Change::OnlyLeft { value }
                    });
                    compared += ha.len();
                    differing += ha.len();
                    continue;
                };
                compared += columns.len();
                let event = (texts.event(k), k.event as usize);
                differing += rows_diff.row(&mut groups, event, *i as usize, *j as usize);
            }
            right_only.extend(right.map(|(rk, _)| rk));
            ((groups, differing), compared, right_only)
        })
        .collect();
    let mut compared = parts.iter().map(|p| p.1).sum::<usize>();
    let mut right_only: Vec<&Key> = Vec::new();
    let mut folded = Vec::with_capacity(parts.len());
    for (g, _, r) in parts {
        folded.push(g);
        right_only.extend(r);
    }
    let (mut groups, mut differing) = Groups::fold(folded).unwrap_or_else(|| {
        // No rows on the left: every right row is on one side only.
        right_only.extend(kb.iter().map(|(k, _)| k));
        (Groups::new(file, policy, builder), 0)
    });
    let mut path = String::new();
    for k in right_only {
        one_sided_row(&mut groups, &mut path, (k, texts), hb.len(), |value| {
            Change::OnlyRight { value }
        });
        compared += hb.len();
        differing += hb.len();
    }
    differing += one_sided_columns(&mut groups, ha, hb);
    let timed_only = builder.is_some_and(|b| !b.keeps_untimed_calls());
    let d = diff_calls(&mut groups, &a.calls(timed_only), &b.calls(false));
    compared += d;
    differing += d;
    OutputDrift {
        file: file.into(),
        compared,
        differing,
        patterns: groups.finish(compared),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys order rows as their texts do (request numbers as text: "10" before "9"), rows of
    /// one request and event type numbered in row order.
    #[test]
    fn keys_order_rows_as_their_texts() {
        let t = Table::from_csv("example_number,event_type,x\n9,B,1\n10,A,2\n9,A,3\n10,A,4\n");
        let other = Table::from_csv("example_number,event_type,x\n11,C,1\n");
        let mut keyed = [table_keys(&t), table_keys(&other)];
        let texts = KeyTexts::join(&mut keyed);
        let got: Vec<(&str, &str, u32, u32)> = keyed[0]
            .rows
            .iter()
            .map(|(k, row)| (texts.example(k), texts.event(k), k.ordinal, *row))
            .collect();
        assert_eq!(
            got,
            [
                ("10", "A", 0, 1),
                ("10", "A", 1, 3),
                ("9", "A", 0, 2),
                ("9", "B", 0, 0)
            ]
        );
    }

    /// Both frames' tool calls match as multisets of (request, name): a call dropped,
    /// renamed or moved to another request is a value under `calls` on each side it is on.
    #[test]
    fn calls_match_by_request_and_name() {
        let policy = Policy::from_toml("").unwrap();
        let run = |b: &[(usize, &str)]| {
            let a = [(0, "agent"), (0, "calc"), (0, "calc"), (1, "calc")];
            let mut g = Groups::new(FILE, &policy, None);
            let d = diff_calls(&mut g, &a, b);
            let p = g.finish(d);
            let seen: Vec<String> = p.iter().map(|p| format!("{:?}", p.example)).collect();
            (d, p.len(), seen.join(""))
        };
        let same = run(&[(0, "agent"), (0, "calc"), (0, "calc"), (1, "calc")]);
        assert_eq!(same, (0, 0, String::new()));
        let dropped = run(&[(0, "agent"), (0, "calc"), (1, "calc")]);
        assert_eq!((dropped.0, dropped.1), (1, 1), "{dropped:?}");
        assert!(dropped.2.contains("OnlyLeft") && dropped.2.contains("request 0 calc"));
        let renamed = run(&[(0, "agent"), (0, "calc"), (0, "calc2"), (1, "calc")]);
        assert_eq!(renamed.0, 2, "{renamed:?}");
        let moved = run(&[(0, "agent"), (0, "calc"), (1, "calc"), (1, "calc")]);
        assert_eq!(moved.0, 2, "{moved:?}");
        let added = run(&[
            (0, "agent"),
            (0, "calc"),
            (0, "calc"),
            (1, "calc"),
            (2, "x"),
        ]);
        assert!(added.2.contains("OnlyRight") && added.2.contains("request 2 x"));
    }

    /// A relation holds value by value on every aligned row, equal cells included: a value
    /// it does not predict is unexpected even where both sides agree.
    #[test]
    fn relations_hold_on_every_aligned_row() {
        let left = Table::from_csv(
            "event_type,example_number,completion_tokens,total_tokens\n\
             LLM_END,0,5,100\nLLM_END,0,7,200\nTOOL_END,0,0,0\n",
        );
        let run = |relation: &str, totals: (i64, i64)| {
            let right = Table::from_csv(&format!(
                "event_type,example_number,completion_tokens,total_tokens\n\
                 LLM_END,0,5,{}\nLLM_END,0,7,{}\nTOOL_END,0,0,0\n",
                totals.0, totals.1
            ));
            let policy = Policy::from_toml(&format!(
                "[[expected]]\npattern = \"{FILE}:LLM_END.total_tokens\"\nreason = \"r\"\n{relation}"
            ))
            .unwrap();
            diff_csv(FILE, &left, &right, &policy, Builder::Pr1751)
        };
        let rel = "relation = \"right == left + left.completion_tokens\"";
        // Both totals as predicted: expected drift.
        let d = run(rel, (105, 207));
        assert_eq!((d.differing, d.unexpected()), (2, 0), "{d:?}");
        // One total off: that value breaks the relation, and the pattern is unexpected.
        let d = run(rel, (105, 208));
        let p = &d.patterns[0];
        assert_eq!((p.values, p.broken, d.unexpected()), (2, 1, 2), "{d:?}");
        assert!(p
            .exceeded
            .as_deref()
            .unwrap()
            .contains("right == left + left.completion_tokens"));
        // Equal cells where the relation says they differ: drift that went missing is caught.
        let d = run(rel, (100, 200));
        assert_eq!((d.differing, d.unexpected()), (2, 2), "{d:?}");
        // Without the relation, that is no drift at all.
        assert_eq!(run("", (100, 200)).differing, 0);
        // A right column may take part too.
        let d = run(
            "relation = \"right == left + right.completion_tokens\"",
            (105, 207),
        );
        assert_eq!(d.unexpected(), 0, "{d:?}");
    }

    #[test]
    fn relations_parse_or_say_what_is_wrong() {
        use crate::drift::policy::Relation;
        for ok in [
            "right == left",
            "right == left.prompt_tokens + left.completion_tokens + left.cached_tokens",
            "right == left - right.cached_tokens",
            "right == left.NOVA-Time-To-Next-Event",
            "right==left+left.x",
        ] {
            assert!(Relation::try_from(ok.to_string()).is_ok(), "{ok}");
        }
        for (bad, says) in [
            ("left == right", "starts with `right ==`"),
            ("right == ", "a term is missing"),
            ("right == left +", "a term is missing"),
            ("right == left left", "expected + or -"),
            ("right == 3", "is not a term"),
            ("right == middle.x", "is not a term"),
        ] {
            let e = Relation::try_from(bad.to_string()).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
        let e = Policy::from_toml(
            "[[expected]]\npattern = \"f.json:x\"\nreason = \"r\"\nrelation = \"right == left\"\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("standardized_data_all.csv"), "{e}");
    }
    use crate::config::ProfilerConfig;
    use crate::drift::{diff_compared, Compared};
    use crate::job::inputs;
    use crate::profile::ProfilePath;
    use crate::profile::{unit, Unit};

    /// The CSV drift of two frames as the written and renamed tables give it.
    fn tables_drift(ist: &Frame, atif: &Frame, b: Builder, cfg: &ProfilerConfig) -> OutputDrift {
        let table = |f: &Frame, p: ProfilePath| Compared::new(unit(f, cfg, p.flavor(), Unit::Csv));
        let mut d = diff_compared(
            &table(ist, ProfilePath::Ist),
            &table(atif, ProfilePath::Atif(b)),
            &Policy::default(),
            b,
        );
        assert_eq!(d.len(), 1, "one file: the CSV");
        d.remove(0)
    }

    #[test]
    fn frames_drift_as_their_written_tables() {
        let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
        let items = crate::job::discover(&corpus, &Default::default()).unwrap();
        assert!(items.len() >= 8, "every corpus item: {}", items.len());
        let builders = [Builder::Pr1751, Builder::Faithful];
        for item in &items {
            let cfg = match &item.config {
                Some(c) => ProfilerConfig::from_workflow_yaml(c).unwrap(),
                None => ProfilerConfig::all_on(),
            };
            let Ok(mut i) = inputs::build(item, &builders, &Default::default()) else {
                panic!("{}: inputs", item.name)
            };
            crate::profile::prepare(&mut i.ist_frame, &cfg);
            i.atif_frames
                .iter_mut()
                .for_each(|f| crate::profile::prepare(f, &cfg));
            let got = drift(&Paths {
                ist: &i.ist_frame,
                atif: &i.atif_frames,
                builders: &builders,
                cfg: &cfg,
                policy: &Policy::default(),
            });
            for ((f, &b), got) in i.atif_frames.iter().zip(&builders).zip(got) {
                let want = tables_drift(&i.ist_frame, f, b, &cfg);
                assert!(want.differing > 0, "{}: a case with drift", item.name);
                assert_eq!(got, want, "{} {b:?}", item.name);
            }
        }
    }

    #[test]
    fn uuids_in_longer_text_are_renamed_in_table_order() {
        let trace = crate::trace::corpus_ist("react_calculator");
        let cfg = ProfilerConfig::all_on();
        let mut ist = crate::frame::from_ist::frame(&trace);
        let trace = crate::trace::Trace::Ist(trace);
        let atif_trace = crate::pipeline::as_atif(&trace).unwrap();
        let mut atif = crate::frame::from_atif::frame(&atif_trace, Builder::Pr1751);
        // A row's UUID quoted in an earlier row's text (named there first), and a UUID
        // seen only in text, on both sides.
        let quoted = ist.rows[3].uuid.clone().unwrap();
        for f in [&mut ist, &mut atif] {
            f.rows[1].llm_text_input =
                Some(format!("call {quoted} then 0123abcd-0000-4000-8000-00000000000f").into());
            crate::profile::prepare(f, &cfg);
        }
        let renamed = Renamed::new(&ist, CsvOptions::default());
        assert_eq!(renamed.texts.len(), 1, "the longer text is renamed once");
        let got = drift(&Paths {
            ist: &ist,
            atif: &[atif.clone()],
            builders: &[Builder::Pr1751],
            cfg: &cfg,
            policy: &Policy::default(),
        });
        assert_eq!(got[0], tables_drift(&ist, &atif, Builder::Pr1751, &cfg));
    }
    #[test]
    fn csv_rows_pair_by_request_event_and_ordinal() {
        // Keys interleave: a row only on the left between shared ones, two rows only on the
        // right (the first is the example), a shared row with a changed cell.
        let a = Table::from_csv("example_number,event_type,x\n0,A,1\n0,B,1\n2,A,1\n2,A,5\n");
        let b = Table::from_csv(
            "example_number,event_type,x\n0,A,1\n1,A,1\n1,A,2\n2,A,1\n2,A,6\n3,C,1\n",
        );
        let d = diff_csv("t.csv", &a, &b, &Policy::default(), Builder::Pr1751);
        let got: Vec<(&str, usize, &str, &Change)> = d
            .patterns
            .iter()
            .map(|p| {
                (
                    p.pattern.as_str(),
                    p.values,
                    p.example_path.as_str(),
                    &p.example,
                )
            })
            .collect();
        let only = |side: &str, row: &str| {
            let value = Value::String(row.into());
            if side == "left" {
                Change::OnlyLeft { value }
            } else {
                Change::OnlyRight { value }
            }
        };
        assert_eq!(
            got,
            [
                (
                    "t.csv:A.x",
                    1,
                    "t.csv:A.x",
                    &Change::Value {
                        left: "5".into(),
                        right: "6".into()
                    }
                ),
                (
                    "t.csv:rows.A",
                    6,
                    "t.csv:rows.A",
                    &only("right", "request 1 A #0")
                ),
                (
                    "t.csv:rows.B",
                    3,
                    "t.csv:rows.B",
                    &only("left", "request 0 B #0")
                ),
                (
                    "t.csv:rows.C",
                    3,
                    "t.csv:rows.C",
                    &only("right", "request 3 C #0")
                ),
            ]
        );
        // Shared rows: 3 × 3 cells; one row only on the left, three only on the right.
        assert_eq!((d.compared, d.differing), (9 + 3 + 9, 1 + 3 + 9));
        // In parts of any size (a part boundary between twins, right-only rows between
        // parts and before the first), and with no left rows at all.
        for per_part in 1..=4 {
            let p = diff_csv_in_parts(
                "t.csv",
                &a,
                &b,
                &Policy::default(),
                Some(Builder::Pr1751),
                per_part,
            );
            assert_eq!(p, d, "{per_part} rows per part");
        }
        let none = Table::from_csv("example_number,event_type,x\n");
        let d = diff_csv("t.csv", &none, &b, &Policy::default(), Builder::Pr1751);
        assert_eq!((d.compared, d.differing), (18, 18));
    }
}
