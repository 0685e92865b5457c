//! `standardized_data_all.csv` as pandas writes it (`to_csv(index=False)`): header row,
//! comma separator, `\n` line ends, minimal quoting, NaN/None as an empty cell, floats as
//! Python `repr`, a column with any NaN written as floats (`614.0`).

use super::{Frame, Layout, Row};
use crate::pyfmt::float_repr;

/// Options of the CSV output.
#[derive(Debug, Clone, Copy, Default)]
pub struct CsvOptions {
    /// NAT's `csv_exclude_io_text`: drop `llm_text_input`, `llm_text_output`, `llm_new_token`.
    pub exclude_io_text: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum Col {
    EventType,
    EventTimestamp,
    SpanEventTimestamp,
    ExampleNumber,
    PromptTokens,
    CompletionTokens,
    TotalTokens,
    LlmTextInput,
    LlmTextOutput,
    LlmNewToken,
    LlmName,
    ToolName,
    FunctionName,
    FunctionId,
    ParentFunctionName,
    ParentFunctionId,
    Uuid,
    Framework,
    NovaEventId,
    NovaRemaining,
    NovaNext,
    NovaEnd,
    NovaOsl,
    NovaSessionEnd,
}

impl Col {
    fn header(self) -> &'static str {
        use Col::*;
        match self {
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
    }
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

fn float_cell(x: f64) -> String {
    if x.is_nan() {
        String::new()
    } else {
        float_repr(x)
    }
}

fn opt_float(x: Option<f64>) -> String {
    x.map_or_else(String::new, float_cell)
}

/// An integer column with a NaN is float64 in pandas.
fn int_cell(v: Option<i64>, column_is_float: bool) -> String {
    match v {
        None => String::new(),
        Some(i) if column_is_float => float_repr(i as f64),
        Some(i) => i.to_string(),
    }
}

fn text<T: AsRef<str>>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(String::new, |s| s.as_ref().to_string())
}

/// Write the frame as NAT's `standardized_data_all.csv`.
pub fn to_csv(frame: &Frame, opts: CsvOptions) -> String {
    if frame.rows.is_empty() {
        return "\n".into();
    }
    let cols = columns(frame, opts);
    let float_tokens = |f: fn(&Row) -> Option<i64>| frame.rows.iter().any(|r| f(r).is_none());
    let (fp, fc, ft) = (
        float_tokens(|r| r.prompt_tokens),
        float_tokens(|r| r.completion_tokens),
        float_tokens(|r| r.total_tokens),
    );
    let mut w = ::csv::WriterBuilder::new()
        .terminator(::csv::Terminator::Any(b'\n'))
        .quote_style(::csv::QuoteStyle::Necessary)
        .from_writer(Vec::with_capacity(frame.rows.len() * 256));
    w.write_record(cols.iter().map(|c| c.header()))
        .expect("write to memory");
    let mut rec: Vec<String> = Vec::with_capacity(cols.len());
    for (i, r) in frame.rows.iter().enumerate() {
        rec.clear();
        for c in &cols {
            use Col::*;
            let nova = frame.nova.as_ref();
            rec.push(match c {
                EventType => r.event_type.as_str().to_string(),
                EventTimestamp => float_cell(r.event_timestamp),
                SpanEventTimestamp => opt_float(r.span_event_timestamp),
                ExampleNumber => r.example_number.to_string(),
                PromptTokens => int_cell(r.prompt_tokens, fp),
                CompletionTokens => int_cell(r.completion_tokens, fc),
                TotalTokens => int_cell(r.total_tokens, ft),
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
                    let n = nova.expect("NOVA column only with NOVA data");
                    if n.requests_remaining_is_int {
                        (n.requests_remaining[i] as i64).to_string()
                    } else {
                        float_cell(n.requests_remaining[i])
                    }
                }
                NovaNext => float_cell(nova.expect("NOVA").time_to_next[i]),
                NovaEnd => float_cell(nova.expect("NOVA").time_to_event_end[i]),
                NovaOsl => float_cell(nova.expect("NOVA").predicted_osl[i]),
                NovaSessionEnd => float_cell(nova.expect("NOVA").time_to_session_end[i]),
            });
        }
        w.write_record(&rec).expect("write to memory");
    }
    String::from_utf8(w.into_inner().expect("flush to memory")).expect("CSV of UTF-8 text is UTF-8")
}
