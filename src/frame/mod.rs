//! The standardized frame: NAT's `create_standardized_dataframe` as one typed struct.
//!
//! One [`Row`] per event. The IST path fills it from IntermediateSteps
//! ([`from_ist`]); the ATIF path from trajectories. Analyses see only the frame.

pub mod csv;
pub mod from_atif;
pub mod from_ist;
pub mod nova;
mod row;

pub use row::Row;

/// Shared, immutable text (names repeat on thousands of rows): one pointer (an
/// `Option<Text>` is 8 bytes, half an `Option<Arc<str>>` and a third of an
/// `Option<String>`), and `""` or a literal allocates nothing.
pub type Text = arcstr::ArcStr;

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
    /// Empty the LLM text columns (`llm_text_input`, `llm_text_output`, `llm_new_token`) of
    /// every row, freeing the texts no other row or frame shares: the drift does once the
    /// units that read them ([`crate::profile::Unit::reads_llm_texts`]) are diffed.
    pub fn drop_llm_texts(&mut self) {
        for r in &mut self.rows {
            r.llm_text_input = None;
            r.llm_text_output = None;
            r.llm_new_token = None;
        }
    }

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

    /// Whether the rows are in example order (a frame of requests in order): each example's
    /// rows are then one run.
    pub fn in_example_order(&self) -> bool {
        self.rows
            .windows(2)
            .all(|w| w[0].example_number() <= w[1].example_number())
    }

    /// Row indices per example, in example order, rows in frame order; examples without
    /// rows are absent (pandas' groupby would not see them either).
    pub fn rows_by_example(&self) -> Vec<(usize, Vec<usize>)> {
        // The usual frame (requests in order) is already grouped: its runs are the groups,
        // found in the one pass that finds it in order (an analysis asks for them several
        // times, and each pass reads the whole frame).
        let mut out: Vec<(usize, Vec<usize>)> = Vec::new();
        let mut start = 0;
        for run in self
            .rows
            .chunk_by(|a, b| a.example_number() == b.example_number())
        {
            let example = run[0].example_number();
            if out.last().is_some_and(|&(last, _)| last > example) {
                return self.rows_by_example_mapped();
            }
            // Each run's indices allocated once, at their number.
            out.push((example, (start..start + run.len()).collect()));
            start += run.len();
        }
        out
    }

    /// [`Frame::rows_by_example`] of a frame out of example order.
    fn rows_by_example_mapped(&self) -> Vec<(usize, Vec<usize>)> {
        let mut by: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
        for (i, r) in self.rows.iter().enumerate() {
            by.entry(r.example_number()).or_default().push(i);
        }
        by.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_by_example_in_and_out_of_order() {
        let mut f = from_ist::frame(&crate::trace::corpus_ist("nested_trip_planner"));
        // The map (the specification of the runs).
        let by_map = |f: &Frame| f.rows_by_example_mapped();
        assert!(by_map(&f).len() > 1, "several examples");
        assert_eq!(f.rows_by_example(), by_map(&f));
        // Out of order: the last example's rows first.
        let last = f.rows.last().unwrap().example_number();
        f.rows.sort_by_key(|r| r.example_number() != last);
        assert_eq!(f.rows_by_example(), by_map(&f));
        // Out of order only at the end: the first example's rows last.
        f.rows.sort_by_key(|r| r.example_number());
        let first = f.rows[0].example_number();
        f.rows.sort_by_key(|r| r.example_number() == first);
        assert_eq!(f.rows_by_example(), by_map(&f));
    }
}
