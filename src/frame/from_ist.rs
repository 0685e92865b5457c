//! IST → frame: NAT 1.9.0's `create_standardized_dataframe` with the
//! `IntermediatePropertyAdaptor` properties (`plugins/profiler/intermediate_property_adapter.py`).

use super::{Frame, Layout, Row, Text};
use crate::trace::ist::{EventType, IntermediateStep, IstTrace, RawJson};

/// Interns repeated names so each distinct string is stored once (as the set's own key:
/// one allocation per distinct string).
#[derive(Default)]
pub struct Interner(rustc_hash::FxHashSet<Text>);

impl Interner {
    /// The shared text of `s` (one allocation per distinct string).
    pub fn get(&mut self, s: &str) -> Text {
        // The commonest name (a row's empty columns): the empty text, without a lookup.
        if s.is_empty() {
            return Text::new();
        }
        if let Some(t) = self.0.get(s) {
            return t.clone();
        }
        let t: Text = s.into();
        self.0.insert(t.clone());
        t
    }
}

/// `DataFrameRow.cast_to_str`: `None` stays None, anything else `str(v)`.
fn text_of(v: Option<&RawJson>) -> Option<String> {
    v.map(RawJson::py_str)
}

/// The adapter's `llm_text_input` / `llm_text_output` / `llm_text_chunk`: the data field
/// for its own event type, `""` for every other type or when `data` is absent.
fn adapter_text(
    step: &IntermediateStep,
    want: EventType,
    pick: fn(&crate::trace::ist::StreamEventData) -> Option<&RawJson>,
) -> Option<Text> {
    if step.event_type() != want {
        return Some(Text::new());
    }
    match &step.payload.data {
        None => Some(Text::new()),
        Some(d) => text_of(pick(d)).map(Text::from),
    }
}

/// One frame row from one step (`example_number` = request index).
pub fn row(step: &IntermediateStep, example_number: usize, names: &mut Interner) -> Row {
    let et = step.event_type();
    let tu = step.payload.usage_info.as_ref().map(|u| &u.token_usage);
    let name = step.name().filter(|n| !n.is_empty());
    let llm_name = match et {
        EventType::LLM_START | EventType::LLM_END => name.unwrap_or(""),
        _ => "",
    };
    let tool_name = match et {
        EventType::TOOL_START | EventType::TOOL_END => name.unwrap_or(""),
        _ => "",
    };
    let a = &step.function_ancestry;
    let mut r = Row::new(et, step.ts(), example_number);
    r.set_span_event_timestamp(step.payload.span_event_timestamp);
    r.set_tokens((
        Some(tu.map_or(0, |t| t.prompt_tokens)),
        Some(tu.map_or(0, |t| t.completion_tokens)),
        Some(tu.map_or(0, |t| t.total_tokens)),
    ));
    r.set_cached_tokens(Some(tu.map_or(0, |t| t.cached_tokens)));
    r.llm_text_input = adapter_text(step, EventType::LLM_START, |d| d.input.as_ref());
    r.llm_text_output = adapter_text(step, EventType::LLM_END, |d| d.output.as_ref());
    r.llm_new_token = adapter_text(step, EventType::LLM_NEW_TOKEN, |d| d.chunk.as_ref());
    r.llm_name = Some(names.get(llm_name));
    r.tool_name = Some(names.get(tool_name));
    r.function_name = Some(names.get(&a.function_name));
    r.function_id = Some(names.get(&a.function_id));
    r.parent_function_name = a.parent_name.as_deref().map(|s| names.get(s));
    r.parent_function_id = a.parent_id.as_deref().map(|s| names.get(s));
    r.uuid = Some(names.get(step.uuid()));
    r.framework = step.payload.framework.as_deref().map(|s| names.get(s));
    r.parent_id = Some(names.get(&step.parent_id));
    r.seconds_between_calls = step
        .payload
        .usage_info
        .as_ref()
        .map_or(0, |u| u.seconds_between_calls);
    r.call = step.atif_call_name().map(|n| names.get(n));
    r
}

/// The frame of a whole trace: requests in file order, steps in file order (not sorted).
pub fn frame(trace: &IstTrace) -> Frame {
    let mut names = Interner::default();
    let mut rows = Vec::with_capacity(trace.step_count());
    for (i, r) in trace.requests.iter().enumerate() {
        request_rows(&r.intermediate_steps, i, &mut names, &mut rows);
    }
    Frame::new(Layout::Ist, trace.requests.len(), rows)
}

/// The rows of request number `example` (one per step, in file order), appended to `rows`:
/// a frame is its requests' rows in order, so it can be built a request at a time.
pub fn request_rows(
    steps: &[IntermediateStep],
    example: usize,
    names: &mut Interner,
    rows: &mut Vec<Row>,
) {
    rows.extend(steps.iter().map(|s| row(s, example, names)));
}
