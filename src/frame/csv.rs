//! `standardized_data_all.csv` as pandas writes it (`to_csv(index=False)`): header row,
//! comma separator, `\n` line ends, minimal quoting, NaN/None as an empty cell, floats as
//! Python `repr`, a column with any NaN written as floats (`614.0`).

use super::{Frame, Layout, Row};
use crate::pyfmt::float_repr_into;

/// Options of the CSV output.
#[derive(Debug, Clone, Copy, Default)]
pub struct CsvOptions {
    /// NAT's `csv_exclude_io_text`: drop `llm_text_input`, `llm_text_output`, `llm_new_token`.
    pub exclude_io_text: bool,
}

/// The CSV's columns, each with its header (one list: the enum and its headers cannot part).
macro_rules! columns {
    ($($col:ident => $header:literal,)*) => {
        #[derive(Clone, Copy, PartialEq)]
        enum Col {
            $($col,)*
        }

        impl Col {
            fn header(self) -> &'static str {
                match self {
                    $(Col::$col => $header,)*
                }
            }
        }
    };
}

columns! {
    EventType => "event_type",
    EventTimestamp => "event_timestamp",
    SpanEventTimestamp => "span_event_timestamp",
    ExampleNumber => "example_number",
    PromptTokens => "prompt_tokens",
    CompletionTokens => "completion_tokens",
    TotalTokens => "total_tokens",
    LlmTextInput => "llm_text_input",
    LlmTextOutput => "llm_text_output",
    LlmNewToken => "llm_new_token",
    LlmName => "llm_name",
    ToolName => "tool_name",
    FunctionName => "function_name",
    FunctionId => "function_id",
    ParentFunctionName => "parent_function_name",
    ParentFunctionId => "parent_function_id",
    Uuid => "UUID",
    Framework => "framework",
    NovaEventId => "NOVA-Event-ID",
    NovaRemaining => "NOVA-Requests-Remaining-In-Event",
    NovaNext => "NOVA-Time-To-Next-Event",
    NovaEnd => "NOVA-Time-To-Event-End",
    NovaOsl => "NOVA-Predicted-OSL",
    NovaSessionEnd => "NOVA-Time-To-Session-End",
}

fn columns(frame: &Frame, opts: CsvOptions) -> Vec<Col> {
    use Col::*;
    let mut cols = match frame.layout {
        Layout::Ist => vec![EventType, EventTimestamp, ExampleNumber],
        Layout::AtifNative => vec![EventTimestamp, ExampleNumber, EventType, SpanEventTimestamp],
    };
    cols.extend([PromptTokens, CompletionTokens, TotalTokens]);
    if !opts.exclude_io_text {
        cols.extend([LlmTextInput, LlmTextOutput, LlmNewToken]);
    }
    cols.extend([
        LlmName,
        ToolName,
        FunctionName,
        FunctionId,
        ParentFunctionName,
        ParentFunctionId,
        Uuid,
        Framework,
    ]);
    if frame.nova.is_some() {
        cols.extend([
            NovaEventId,
            NovaRemaining,
            NovaNext,
            NovaEnd,
            NovaOsl,
            NovaSessionEnd,
        ]);
    }
    cols
}

fn float_cell(x: f64, out: &mut String) {
    if !x.is_nan() {
        float_repr_into(x, out);
    }
}

fn int<T: std::fmt::Display>(i: T, out: &mut String) {
    let _ = std::fmt::Write::write_fmt(out, format_args!("{i}"));
}

/// The cells of `standardized_data_all.csv`, before CSV quoting: what the file is written
/// from ([`Table::to_csv`]) and what the drift compares, cell by cell, without writing and
/// reading back the CSV text. All cells are in one buffer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    /// The column names, in order.
    pub header: Vec<String>,
    text: String,
    /// Where each row starts in `text`.
    starts: Vec<usize>,
    /// Each cell's end, from its row's start (row `r`: `ends[r * width..(r + 1) * width]`).
    ends: Vec<u32>,
}

impl Table {
    fn new(header: Vec<String>) -> Self {
        Table {
            header,
            ..Table::default()
        }
    }

    fn width(&self) -> usize {
        self.header.len()
    }

    /// Start a row; then [`Table::cell`] once per column.
    fn start_row(&mut self) {
        self.starts.push(self.text.len());
    }

    fn cell(&mut self, s: &str) {
        self.cell_with(|out| out.push_str(s));
    }

    /// A cell written by `write` (appending to the buffer).
    fn cell_with(&mut self, write: impl FnOnce(&mut String)) {
        write(&mut self.text);
        let start = *self.starts.last().expect("a row was started");
        let end = u32::try_from(self.text.len() - start).expect("a row under 4 GiB");
        self.ends.push(end);
    }

    /// How many rows.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Whether there is no row.
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// Cell `c` of row `r`.
    pub fn get(&self, r: usize, c: usize) -> Option<&str> {
        let w = self.width();
        if r >= self.len() || c >= w {
            return None;
        }
        let base = self.starts[r];
        let from = if c == 0 { 0 } else { self.ends[r * w + c - 1] };
        Some(&self.text[base + from as usize..base + self.ends[r * w + c] as usize])
    }

    /// The cells of row `r`.
    pub fn row(&self, r: usize) -> impl Iterator<Item = &str> + '_ {
        (0..self.width()).filter_map(move |c| self.get(r, c))
    }

    /// The same table with every cell passed through `f`, row by row, left to right (the
    /// order of the CSV text).
    pub fn map_cells<'a>(
        &'a self,
        mut f: impl FnMut(&'a str) -> std::borrow::Cow<'a, str>,
    ) -> Table {
        let mut out = Table::new(self.header.clone());
        out.text.reserve(self.text.len());
        out.ends.reserve(self.ends.len());
        for r in 0..self.len() {
            out.start_row();
            for c in self.row(r) {
                out.cell(&f(c));
            }
        }
        out
    }

    /// A CSV text read back (header row first); records that do not parse are skipped.
    pub fn from_csv(text: &str) -> Table {
        let mut r = ::csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(text.as_bytes());
        let header = r
            .headers()
            .map(|h| h.iter().map(str::to_string).collect())
            .unwrap_or_default();
        let mut t = Table::new(header);
        for rec in r.records().flatten() {
            t.start_row();
            for c in 0..t.width() {
                t.cell(rec.get(c).unwrap_or(""));
            }
        }
        t
    }

    /// The CSV text as pandas writes it: minimal quoting, `\n` line ends; `"\n"` when
    /// there are no rows.
    pub fn to_csv(&self) -> String {
        let mut out = Vec::with_capacity(self.text.len() + self.ends.len() + 1024);
        self.write_csv(&mut out).expect("write to memory");
        String::from_utf8(out).expect("CSV of UTF-8 text is UTF-8")
    }

    /// [`Table::to_csv`] written to `w` a row at a time (the text is as large as the
    /// frame's texts; it is not held a second time).
    pub fn write_csv(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        if self.is_empty() {
            return w.write_all(b"\n");
        }
        let mut w = nat_writer(w);
        w.write_record(&self.header)?;
        for r in 0..self.len() {
            w.write_record(self.row(r))?;
        }
        w.flush()
    }
}

/// A CSV writer of pandas' `to_csv` dialect as NAT writes the file: `\n` after each row,
/// quotes only where a cell needs them.
fn nat_writer(w: &mut dyn std::io::Write) -> ::csv::Writer<&mut dyn std::io::Write> {
    ::csv::WriterBuilder::new()
        .terminator(::csv::Terminator::Any(b'\n'))
        .quote_style(::csv::QuoteStyle::Necessary)
        .from_writer(w)
}

/// Write the frame as NAT's `standardized_data_all.csv`.
pub fn to_csv(frame: &Frame, opts: CsvOptions) -> String {
    let mut out = Vec::new();
    write(frame, opts, &mut out).expect("write to memory");
    String::from_utf8(out).expect("CSV of UTF-8 text is UTF-8")
}

/// [`to_csv`] written to `w` a row at a time, each row's cells read from the frame as it is
/// written: what [`Table::write_csv`] writes of [`table`], without the table (as large as
/// the file).
pub fn write(frame: &Frame, opts: CsvOptions, w: &mut dyn std::io::Write) -> std::io::Result<()> {
    let cells = FrameCells::new(frame, opts);
    if cells.is_empty() {
        return w.write_all(b"\n");
    }
    let mut w = nat_writer(w);
    w.write_record(&cells.header)?;
    // One row's cells one after the other, and where each ends.
    let (mut text, mut ends) = (String::new(), Vec::with_capacity(cells.cols.len()));
    for i in 0..cells.len() {
        text.clear();
        ends.clear();
        for c in 0..cells.cols.len() {
            cells.cell(i, c).write(&mut text);
            ends.push(text.len());
        }
        let starts = std::iter::once(0).chain(ends.iter().copied());
        w.write_record(starts.zip(&ends).map(|(a, &b)| &text.as_bytes()[a..b]))?;
    }
    w.flush()
}

/// A cell as the frame holds it, before it is written: two cells that hold the same number
/// are written alike, so they compare equal without being written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    /// Text, written as it is (quoted where the CSV needs it).
    Text(&'a str),
    /// Written as Python's `repr` (NaN: an empty cell).
    Float(f64),
    /// An integer.
    Int(i64),
}

impl<'a> Cell<'a> {
    /// Append the cell as written to `out`.
    fn write(self, out: &mut String) {
        match self {
            Cell::Text(s) => out.push_str(s),
            Cell::Float(x) => float_cell(x, out),
            Cell::Int(i) => int(i, out),
        }
    }

    /// The cell as written, in `buf` unless it is text.
    pub fn text<'s>(self, buf: &'s mut String) -> &'s str
    where
        'a: 's,
    {
        match self {
            Cell::Text(s) => s,
            number => {
                buf.clear();
                number.write(buf);
                buf
            }
        }
    }

    /// Whether both cells are written alike, when that is known without writing them:
    /// numbers are (a float's `repr` is one of its own; an integer never looks like one).
    pub fn same_text(self, other: Cell) -> Option<bool> {
        match (self, other) {
            (Cell::Float(x), Cell::Float(y)) => {
                Some(x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
            }
            (Cell::Int(x), Cell::Int(y)) => Some(x == y),
            (Cell::Float(x), Cell::Int(_)) | (Cell::Int(_), Cell::Float(x)) => {
                (!x.is_nan()).then_some(false)
            }
            _ => None,
        }
    }

    /// The number the written cell parses as (`str::parse::<f64>`), when that is known
    /// without writing it; `None` for text.
    pub fn number(self) -> Option<Option<f64>> {
        match self {
            Cell::Float(x) => Some((!x.is_nan()).then_some(x)),
            // Both conversions round to the nearest float.
            Cell::Int(i) => Some(Some(i as f64)),
            Cell::Text(_) => None,
        }
    }
}

/// The cells of the frame's `standardized_data_all.csv`, read from the frame one at a time
/// (what [`table`] writes, and what the drift compares without writing the table).
pub struct FrameCells<'f> {
    frame: &'f Frame,
    cols: Vec<Col>,
    header: Vec<String>,
    /// Whether each token column (prompt, completion, total) is float64 (it has a NaN).
    float_tokens: [bool; 3],
}

impl<'f> FrameCells<'f> {
    /// An empty frame has no columns (NAT writes an empty CSV).
    pub fn new(frame: &'f Frame, opts: CsvOptions) -> Self {
        let cols = if frame.rows.is_empty() {
            Vec::new()
        } else {
            columns(frame, opts)
        };
        let float_tokens = |f: fn(&Row) -> Option<i64>| frame.rows.iter().any(|r| f(r).is_none());
        FrameCells {
            frame,
            header: cols.iter().map(|c| c.header().to_string()).collect(),
            cols,
            float_tokens: [
                float_tokens(|r| r.prompt_tokens()),
                float_tokens(|r| r.completion_tokens()),
                float_tokens(|r| r.total_tokens()),
            ],
        }
    }

    /// The column names, in order.
    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// How many rows.
    pub fn len(&self) -> usize {
        self.frame.rows.len()
    }

    /// Whether there is no row.
    pub fn is_empty(&self) -> bool {
        self.frame.rows.is_empty()
    }

    /// Whether column `c` holds text (only text cells can hold a UUID).
    pub fn is_text(&self, c: usize) -> bool {
        use Col::*;
        matches!(
            self.cols[c],
            EventType
                | LlmTextInput
                | LlmTextOutput
                | LlmNewToken
                | LlmName
                | ToolName
                | FunctionName
                | NovaEventId
                | FunctionId
                | ParentFunctionName
                | ParentFunctionId
                | Uuid
                | Framework
        )
    }

    /// Cell `c` of row `i` (`c` below the header's length, `i` below [`Self::len`]).
    pub fn cell(&self, i: usize, c: usize) -> Cell<'f> {
        use Col::*;
        let r = &self.frame.rows[i];
        let nova = || {
            self.frame
                .nova
                .as_ref()
                .expect("NOVA columns only with NOVA data")
        };
        let text = |v: &'f Option<crate::frame::Text>| Cell::Text(v.as_deref().unwrap_or(""));
        let float = |x: Option<f64>| Cell::Float(x.unwrap_or(f64::NAN));
        let tokens = |v: Option<i64>, k: usize| match v {
            None => Cell::Text(""),
            Some(i) if self.float_tokens[k] => Cell::Float(i as f64),
            Some(i) => Cell::Int(i),
        };
        match self.cols[c] {
            EventType => Cell::Text(r.event_type.as_str()),
            EventTimestamp => Cell::Float(r.event_timestamp),
            SpanEventTimestamp => float(r.span_event_timestamp()),
            ExampleNumber => Cell::Int(r.example_number() as i64),
            PromptTokens => tokens(r.prompt_tokens(), 0),
            CompletionTokens => tokens(r.completion_tokens(), 1),
            TotalTokens => tokens(r.total_tokens(), 2),
            LlmTextInput => text(&r.llm_text_input),
            LlmTextOutput => text(&r.llm_text_output),
            LlmNewToken => text(&r.llm_new_token),
            LlmName => text(&r.llm_name),
            ToolName => text(&r.tool_name),
            FunctionName | NovaEventId => text(&r.function_name),
            FunctionId => text(&r.function_id),
            ParentFunctionName => text(&r.parent_function_name),
            ParentFunctionId => text(&r.parent_function_id),
            Uuid => text(&r.uuid),
            Framework => text(&r.framework),
            NovaRemaining => {
                let n = nova();
                if n.requests_remaining_is_int {
                    Cell::Int(n.requests_remaining[i] as i64)
                } else {
                    Cell::Float(n.requests_remaining[i])
                }
            }
            NovaNext => Cell::Float(nova().time_to_next[i]),
            NovaEnd => Cell::Float(nova().time_to_event_end[i]),
            NovaOsl => Cell::Float(nova().predicted_osl[i]),
            NovaSessionEnd => Cell::Float(nova().time_to_session_end[i]),
        }
    }
}

/// The cells of the frame's `standardized_data_all.csv`.
pub fn table(frame: &Frame, opts: CsvOptions) -> Table {
    let cells = FrameCells::new(frame, opts);
    if cells.is_empty() {
        return Table::default();
    }
    let mut t = Table::new(cells.header.clone());
    t.starts.reserve(cells.len());
    t.ends.reserve(cells.len() * cells.cols.len());
    for i in 0..cells.len() {
        t.start_row();
        for c in 0..cells.cols.len() {
            t.cell_with(|out| cells.cell(i, c).write(out));
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The CSV written a row at a time from the frame is the table's, byte for byte: every
    /// path's frame (with its NOVA columns) of corpus items whose texts need quoting, with
    /// and without the LLM texts, and the empty frame.
    #[test]
    fn the_streamed_csv_is_the_tables() {
        use crate::frame::from_atif::Builder;
        let cfg = crate::config::ProfilerConfig::all_on();
        let builders = [Builder::Pr1751, Builder::Faithful];
        let mut quoted = 0;
        for item in ["react_calculator", "tool_calling_parallel", "sample"] {
            let (ist, atif) = crate::drift::testing::corpus_frames(item, &builders, &cfg);
            for frame in std::iter::once(&ist).chain(&atif) {
                for exclude_io_text in [false, true] {
                    let opts = CsvOptions { exclude_io_text };
                    let want = table(frame, opts).to_csv();
                    quoted += usize::from(want.contains('"'));
                    assert!(to_csv(frame, opts) == want, "{item} {:?}", frame.layout);
                }
            }
        }
        assert!(quoted > 0, "some cells need quoting");
        let empty = Frame::new(crate::frame::Layout::Ist, 0, Vec::new());
        assert_eq!(to_csv(&empty, CsvOptions::default()), "\n");
        assert_eq!(table(&empty, CsvOptions::default()).to_csv(), "\n");
    }

    fn table_of(header: &[&str], rows: &[Vec<String>]) -> Table {
        let mut t = Table::new(header.iter().map(|h| h.to_string()).collect());
        for r in rows {
            t.start_row();
            for c in r {
                t.cell(c);
            }
        }
        t
    }

    /// Cells made of what CSV quoting and UUID renaming care about.
    fn cell() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-c ,\"\n\r-]{0,6}",
            Just("0f8fad5b-d9cb-469f-a165-70867728950e".to_string()),
            Just("x7c9e6679-7425-40de-944b-e07fc1f90ae7,\"".to_string()),
            Just(String::new()),
        ]
    }

    fn rows(width: usize) -> impl Strategy<Value = Vec<Vec<String>>> {
        proptest::collection::vec(proptest::collection::vec(cell(), width), 1..6)
    }

    fn any_cell() -> impl Strategy<Value = Cell<'static>> {
        prop_oneof![
            prop_oneof![
                Just(f64::NAN),
                Just(0.0),
                Just(-0.0),
                Just(f64::INFINITY),
                Just(3.0),
                Just(1e16),
                any::<f64>(),
            ]
            .prop_map(Cell::Float),
            prop_oneof![Just(0i64), Just(3), Just(-7), any::<i64>()].prop_map(Cell::Int),
            prop_oneof![Just(""), Just("3"), Just("3.0"), Just("inf"), Just("x")]
                .prop_map(Cell::Text),
        ]
    }

    proptest! {
        /// What the drift knows of two cells without writing them is what their written
        /// text says: whether they are equal, and the numbers they parse as.
        #[test]
        fn cells_compare_as_their_text(x in any_cell(), y in any_cell()) {
            let (mut bx, mut by) = (String::new(), String::new());
            let (tx, ty) = (x.text(&mut bx), y.text(&mut by));
            if let Some(same) = x.same_text(y) {
                prop_assert_eq!(same, tx == ty, "{:?} {:?}", tx, ty);
            }
            for (c, t) in [(x, tx), (y, ty)] {
                if let Some(n) = c.number() {
                    let parsed = t.parse::<f64>().ok();
                    prop_assert_eq!(n.map(f64::to_bits), parsed.map(f64::to_bits), "{:?}", t);
                }
            }
        }

        /// The drift compares cells: they are exactly what reading the written CSV gives.
        #[test]
        fn cells_survive_the_csv_text(rows in rows(3)) {
            let t = table_of(&["a", "b", "c"], &rows);
            prop_assert_eq!(Table::from_csv(&t.to_csv()), t);
        }

        /// Renaming UUIDs cell by cell, left to right, names them as renaming the text does.
        #[test]
        fn renaming_cells_is_renaming_the_text(rows in rows(2)) {
            let t = table_of(&["a", "b"], &rows);
            let mut names = Default::default();
            let renamed = t.map_cells(|c| crate::differences::rename_in(c, &mut names));
            prop_assert_eq!(
                renamed.to_csv(),
                crate::differences::rename_uuids(&t.to_csv())
            );
        }
    }

    #[test]
    fn cells_by_row_and_column() {
        let t = table_of(
            &["a", "b"],
            &[vec!["1".into(), "".into()], vec!["x,y".into(), "z".into()]],
        );
        assert_eq!(
            (t.len(), t.get(0, 0), t.get(0, 1), t.get(1, 0)),
            (2, Some("1"), Some(""), Some("x,y"))
        );
        assert_eq!((t.get(2, 0), t.get(0, 2)), (None, None));
        assert_eq!(t.to_csv(), "a,b\n1,\n\"x,y\",z\n");
        assert_eq!(Table::default().to_csv(), "\n");
    }
}
