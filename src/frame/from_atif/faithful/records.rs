//! The kept losses' records (`convert --to atif --keep`, laid out as `convert::fidelity`
//! writes them) applied to the rows the recovery rules made: each record overrides the
//! fields it carries; an event that exists only through a kept loss (a START, a chunk, a
//! SPAN…) becomes a row of its own; `event-order` puts the rows back in IST order.

use serde_json::{Map, Value};

use super::{kept_records, Emit, Meta, Place, Role};
use crate::event::EventType;
use crate::frame::from_ist::Interner;
use crate::frame::{Row, Text};
use crate::trace::atif::Trajectory;

/// The losses through which an event with no step or call of its own exists (its role).
const ORPHAN_LOSSES: [&str; 5] = [
    "llm-start-time",
    "streamed-chunks",
    "tool-start-time",
    "workflow-times",
    "spans-and-custom",
];

fn extra_of(t: &Trajectory, (k, call): Place) -> Option<&Map<String, Value>> {
    let step = t.steps.get(k)?;
    match call {
        None => step.extra.as_ref(),
        Some(c) => step.tool_calls.as_ref()?.get(c)?.extra.as_ref(),
    }
}

/// Apply one event's record to its row; returns the event's name (for the name columns).
fn apply_record(
    names: &mut Interner,
    row: &mut Row,
    meta: &mut Meta,
    rec: &Map<String, Value>,
    name: Option<String>,
) -> Option<String> {
    if let Some(et) = rec
        .get("event_type")
        .and_then(Value::as_str)
        .and_then(EventType::parse)
    {
        row.event_type = et;
    }
    let mut name = name;
    let int = |v: &Value| v.as_i64();
    for (k, v) in rec {
        match k.as_str() {
            "event_timestamp" => {
                if let Some(x) = v.as_f64() {
                    row.event_timestamp = x;
                }
            }
            "span_event_timestamp" => row.set_span_event_timestamp(v.as_f64()),
            "name" => name = v.as_str().map(str::to_string),
            "uuid" => row.uuid = v.as_str().map(|s| names.get(s)),
            "ancestry" => {
                let get = |f: &str| v.get(f).and_then(Value::as_str);
                row.function_id = Some(names.get(get("function_id").unwrap_or("")));
                row.function_name = Some(names.get(get("function_name").unwrap_or("")));
                row.parent_function_id = get("parent_id").map(|s| names.get(s));
                row.parent_function_name = get("parent_name").map(|s| names.get(s));
            }
            "framework" => row.framework = v.as_str().map(|s| names.get(s)),
            "text" => {
                let text = v.as_str().map(Text::from);
                match row.event_type {
                    EventType::LLM_START => row.llm_text_input = text,
                    EventType::LLM_END => row.llm_text_output = text,
                    EventType::LLM_NEW_TOKEN => row.llm_new_token = text,
                    _ => {}
                }
            }
            "prompt_tokens" => row.set_prompt_tokens(int(v)),
            "completion_tokens" => row.set_completion_tokens(int(v)),
            "total_tokens" => row.set_total_tokens(int(v)),
            "cached_tokens" => row.set_cached_tokens(int(v)),
            "seconds_between_calls" => row.seconds_between_calls = int(v).unwrap_or(0),
            "parent_id" => row.parent_id = v.as_str().map(|s| names.get(s)),
            "seq" => meta.seq = v.as_u64(),
            _ => {}
        }
    }
    // NAT's adapter: the LLM name on LLM_START/END rows, the tool name on TOOL_START/END rows.
    let n = name.as_deref().unwrap_or("");
    let llm = matches!(row.event_type, EventType::LLM_START | EventType::LLM_END);
    let tool = matches!(row.event_type, EventType::TOOL_START | EventType::TOOL_END);
    row.llm_name = Some(names.get(if llm { n } else { "" }));
    row.tool_name = Some(names.get(if tool { n } else { "" }));
    name
}

/// A START or chunk of the call `anchor` stands for, before its record: the call's row with
/// no text, no usage and no parent id.
fn owned_base(anchor: &Row, event_type: EventType) -> Row {
    let mut r = anchor.clone();
    r.event_type = event_type;
    r.llm_text_input = Some(Text::new());
    r.llm_text_output = Some(Text::new());
    r.llm_new_token = Some(Text::new());
    r.set_tokens((Some(0), Some(0), Some(0)));
    r.set_cached_tokens(Some(0));
    r.seconds_between_calls = 0;
    r.parent_id = None;
    r.call = None;
    r
}

/// An event with no step or call of its own, before its record.
fn orphan_base(example: usize) -> Row {
    let mut r = super::ancestry_row(example, EventType::SPAN_START, 0.0, &Default::default());
    r.set_tokens((Some(0), Some(0), Some(0)));
    r.set_cached_tokens(Some(0));
    r.parent_function_id = None;
    r.parent_function_name = None;
    r.set_span_event_timestamp(None);
    r
}

/// Apply trajectory `t`'s kept losses to the rows `e` holds.
pub(super) fn apply(e: &mut Emit, t: &Trajectory) {
    let keep = e.keep;
    let mut added: Vec<(Row, Meta)> = Vec::new();
    let mut drop = vec![false; e.rows.len()];
    // The events steps and calls stand for, then their STARTs and chunks.
    for ai in 0..e.rows.len() {
        let Some((place, Role::Anchor)) = e.meta[ai].tag else {
            continue;
        };
        let extra = extra_of(t, place);
        let inherited = match place {
            (k, Some(c)) => t.steps[k]
                .tool_calls
                .as_ref()
                .and_then(|cs| cs.get(c))
                .map(|c| c.function_name.clone()),
            (k, None) => t.steps[k].model_name.clone(),
        };
        let name = match kept_records(extra, keep, "anchor").first() {
            Some(rec) => apply_record(e.names, &mut e.rows[ai], &mut e.meta[ai], rec, inherited),
            None => inherited,
        };
        let anchor = e.rows[ai].clone();
        let (start_type, existence) = match anchor.event_type {
            EventType::LLM_END => (EventType::LLM_START, "llm-start-time"),
            EventType::TOOL_END => (EventType::TOOL_START, "tool-start-time"),
            EventType::FUNCTION_END => (EventType::FUNCTION_START, "tool-start-time"),
            _ => continue,
        };
        let starts = kept_records(extra, keep, "start");
        let made: Vec<usize> = (0..e.rows.len())
            .filter(|&i| e.meta[i].tag == Some((place, Role::Start)))
            .collect();
        if keep.has(existence) {
            for &i in &made {
                drop[i] = true;
            }
            for rec in &starts {
                let (mut row, mut meta) = (owned_base(&anchor, start_type), Meta::default());
                apply_record(e.names, &mut row, &mut meta, rec, name.clone());
                added.push((row, meta));
            }
        } else if let Some(&i) = made.first() {
            // The recovered START is its call's: it shares the call's UUID as kept.
            e.rows[i].uuid = anchor.uuid.clone();
            if let Some(rec) = starts.first() {
                apply_record(e.names, &mut e.rows[i], &mut e.meta[i], rec, name.clone());
            }
        }
        if anchor.event_type == EventType::LLM_END && keep.has("streamed-chunks") {
            for rec in &kept_records(extra, keep, "chunk") {
                let mut row = owned_base(&anchor, EventType::LLM_NEW_TOKEN);
                let mut meta = Meta::default();
                apply_record(e.names, &mut row, &mut meta, rec, name.clone());
                added.push((row, meta));
            }
        }
    }
    // Events with no step or call of their own, on the step current when they happened (or
    // on the trajectory when it has no step).
    let holders = t
        .steps
        .iter()
        .map(|s| s.extra.as_ref())
        .chain(std::iter::once(t.extra.as_ref()));
    for extra in holders {
        for loss in ORPHAN_LOSSES.into_iter().filter(|l| keep.has(l)) {
            for rec in &kept_records(extra, keep, loss) {
                let mut row = orphan_base(e.example);
                let mut meta = Meta::default();
                apply_record(e.names, &mut row, &mut meta, rec, None);
                added.push((row, meta));
            }
        }
    }
    let mut i = 0;
    e.rows.retain(|_| {
        i += 1;
        !drop[i - 1]
    });
    let mut i = 0;
    e.meta.retain(|_| {
        i += 1;
        !drop[i - 1]
    });
    for (row, meta) in added {
        e.rows.push(row);
        e.meta.push(meta);
    }
}

/// The rows' order: by time (stable); with `event-order` kept, the rows that have their IST
/// position in that order, the others merged in by time.
pub(super) fn order(rows: &[Row], meta: &[Meta]) -> Vec<usize> {
    let by_time = |v: &mut Vec<usize>| {
        v.sort_by(|&a, &b| rows[a].event_timestamp.total_cmp(&rows[b].event_timestamp));
    };
    let (mut placed, mut rest): (Vec<usize>, Vec<usize>) =
        (0..rows.len()).partition(|&i| meta[i].seq.is_some());
    by_time(&mut rest);
    if placed.is_empty() {
        return rest;
    }
    placed.sort_by_key(|&i| meta[i].seq);
    let mut out = Vec::with_capacity(rows.len());
    let (mut a, mut b) = (placed.into_iter().peekable(), rest.into_iter().peekable());
    loop {
        let take_rest = match (a.peek(), b.peek()) {
            (Some(&x), Some(&y)) => rows[y].event_timestamp < rows[x].event_timestamp,
            (None, Some(_)) => true,
            (_, None) => false,
        };
        match if take_rest { b.next() } else { a.next() } {
            Some(i) => out.push(i),
            None => break,
        }
    }
    out
}
