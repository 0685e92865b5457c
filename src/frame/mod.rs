//! The standardized frame: NAT's `create_standardized_dataframe` as one typed struct.
//!
//! One [`Row`] per event. The IST path fills it from IntermediateSteps
//! ([`from_ist`]); the ATIF path from trajectories. Analyses see only the frame.

pub mod csv;
pub mod from_atif;
pub mod from_ist;
pub mod nova;

use crate::event::EventType;

/// Shared, immutable text (names repeat on thousands of rows): one pointer (an
/// `Option<Text>` is 8 bytes, half an `Option<Arc<str>>` and a third of an
/// `Option<String>`), and `""` or a literal allocates nothing.
pub type Text = arcstr::ArcStr;

/// One row of NAT's frame (`DataFrameRow`), plus the ATIF-era `span_event_timestamp`.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The event's type.
    pub event_type: EventType,
    /// The event's time, seconds since the epoch.
    pub event_timestamp: f64,
    /// Only the ATIF-native frame has this column.
    pub span_event_timestamp: Option<f64>,
    /// Index of the request (IST) or trajectory (ATIF).
    pub example_number: usize,
    /// `None` is pandas' NaN (the ATIF-native frame leaves tokens empty on non-LLM rows).
    pub prompt_tokens: Option<i64>,
    /// Completion tokens (LLM_END rows).
    pub completion_tokens: Option<i64>,
    /// Total tokens (LLM_END rows).
    pub total_tokens: Option<i64>,
    /// `None` is Python `None` (an empty CSV cell, NaN for pandas), distinct from `""`.
    pub llm_text_input: Option<Text>,
    /// The LLM's output text.
    pub llm_text_output: Option<Text>,
    /// A streamed chunk's text.
    pub llm_new_token: Option<Text>,
    /// The LLM's name (LLM rows).
    pub llm_name: Option<Text>,
    /// The tool's name (TOOL rows).
    pub tool_name: Option<Text>,
    /// The function the event ran in.
    pub function_name: Option<Text>,
    /// That function's id.
    pub function_id: Option<Text>,
    /// Its parent function's name.
    pub parent_function_name: Option<Text>,
    /// Its parent function's id.
    pub parent_function_id: Option<Text>,
    /// The event's UUID (shared by a span's start and end).
    pub uuid: Option<Text>,
    /// The framework that emitted the event.
    pub framework: Option<Text>,
    /// The IST step's `parent_id` (not a CSV column; the prediction trie's sibling map
    /// uses it). `None` on frames built from ATIF.
    pub parent_id: Option<Text>,
    /// `usage_info.seconds_between_calls` (0 without usage; not a CSV column; the
    /// forecasting matrices use it). Lost in ATIF.
    pub seconds_between_calls: i64,
    /// The call's cached prompt tokens (LLM_END rows: IST's `token_usage.cached_tokens`,
    /// ATIF's `metrics.cached_tokens`; not a CSV column: the drift policy's relations use it).
    pub cached_tokens: Option<i64>,
    /// The name of the ATIF tool call this row stands for (not a CSV column; the drift
    /// engine compares both paths' calls by request and name): on an IST frame, the
    /// TOOL_END and FUNCTION_END rows NAT's converter exports as tool calls (all but the
    /// `<workflow>` wrapper); on an ATIF frame, the END row a builder made of a tool call.
    pub call: Option<Text>,
}

/// NAT's six `NOVA-*` columns (`LLMMetrics.compute_profiling_metrics`), one entry per row.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Nova {
    /// `NOVA-Requests-Remaining-In-Event`, per row.
    pub requests_remaining: Vec<f64>,
    /// pandas keeps `NOVA-Requests-Remaining-In-Event` int64 only when no
    /// (example, function) group has an LLM_START (quirk Q8).
    pub requests_remaining_is_int: bool,
    /// `NOVA-Time-To-Next-Event`, per row.
    pub time_to_next: Vec<f64>,
    /// `NOVA-Time-To-Event-End`, per row.
    pub time_to_event_end: Vec<f64>,
    /// NaN where there is no value.
    pub predicted_osl: Vec<f64>,
    /// `NOVA-Time-To-Session-End`, per row.
    pub time_to_session_end: Vec<f64>,
}

/// Which columns a frame writes, in which order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// NAT 1.9.0's IST frame: 17 columns.
    Ist,
    /// NAT's ATIF-native frame (1.6.0rc1): `event_timestamp, example_number, event_type,
    /// span_event_timestamp, …`.
    AtifNative,
}

/// The frame: rows in NAT's order, plus the NOVA columns when computed.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// Which path built the frame (its column order and event order).
    pub layout: Layout,
    /// Number of requests (IST) or trajectories (ATIF), empty ones included.
    pub examples: usize,
    /// The rows, in the order NAT's frame has them.
    pub rows: Vec<Row>,
    /// The LLM metrics columns, once computed.
    pub nova: Option<Nova>,
}

impl Frame {
    /// A frame without LLM metrics.
    pub fn new(layout: Layout, examples: usize, rows: Vec<Row>) -> Self {
        Frame {
            layout,
            examples,
            rows,
            nova: None,
        }
    }

    /// Whether the frame has no row.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// [`Frame::rows_by_example`] with each example's rows in time order (stable: ties keep
    /// frame order).
    pub fn rows_by_example_in_time(&self) -> Vec<(usize, Vec<usize>)> {
        let mut v = self.rows_by_example();
        for (_, idx) in &mut v {
            idx.sort_by(|&a, &b| {
                self.rows[a]
                    .event_timestamp
                    .total_cmp(&self.rows[b].event_timestamp)
            });
        }
        v
    }

    /// Row indices per example, in example order, rows in frame order; examples without
    /// rows are absent (pandas' groupby would not see them either).
    pub fn rows_by_example(&self) -> Vec<(usize, Vec<usize>)> {
        // The usual frame (requests in order) is already grouped: its runs are the groups.
        let rows = &self.rows;
        if rows
            .windows(2)
            .all(|w| w[0].example_number <= w[1].example_number)
        {
            // Each run's indices allocated once, at their number.
            let mut out: Vec<(usize, Vec<usize>)> = Vec::new();
            let mut start = 0;
            for run in rows.chunk_by(|a, b| a.example_number == b.example_number) {
                out.push((run[0].example_number, (start..start + run.len()).collect()));
                start += run.len();
            }
            return out;
        }
        let mut by: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
        for (i, r) in self.rows.iter().enumerate() {
            by.entry(r.example_number).or_default().push(i);
        }
        by.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Row indices per example by a map (the specification of `rows_by_example`).
    fn by_map(f: &Frame) -> Vec<(usize, Vec<usize>)> {
        let mut by: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
        for (i, r) in f.rows.iter().enumerate() {
            by.entry(r.example_number).or_default().push(i);
        }
        by.into_iter().collect()
    }

    #[test]
    fn rows_by_example_in_and_out_of_order() {
        let mut f = from_ist::frame(&crate::trace::corpus_ist("nested_trip_planner"));
        assert!(by_map(&f).len() > 1, "several examples");
        assert_eq!(f.rows_by_example(), by_map(&f));
        // Out of order: the last example's rows first.
        let last = f.rows.last().unwrap().example_number;
        f.rows.sort_by_key(|r| r.example_number != last);
        assert_eq!(f.rows_by_example(), by_map(&f));
    }
}
