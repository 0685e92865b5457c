//! The full-fidelity ATIF projection (`convert --to atif --keep LOSS,…`): NAT's converter
//! output plus, for each kept loss, exactly the IST information that loss stands for,
//! placed on the step or tool call it describes.
//!
//! Every IST event of a request has a place:
//! - the event a step or tool call stands for (its **anchor**: WORKFLOW_START → user step,
//!   LLM_END → agent step, TOOL_END / FUNCTION_END → tool call, WORKFLOW_END → final step);
//! - an LLM_START or LLM_NEW_TOKEN of an LLM call with a step (roles `start`, `chunk` on that
//!   step), a TOOL_START / FUNCTION_START of a call with a tool call (role `start` on it);
//! - any other event (SPAN, CUSTOM, the `<workflow>` span, a WORKFLOW_END no step stands
//!   for, a START whose END is missing): the step that was current when it happened, under
//!   a role named after the loss it belongs to.
//!
//! On a step or tool call, `extra[<loss id>]` maps a role to the loss's part of that event:
//! an object for `anchor`, a list (one entry per event, in IST order) for the others. An event
//! that has no step of its own exists only through its loss (`existence`), and all of it
//! sits under that loss: removing another loss never touches a row NAT's ATIF lacks. The
//! other fields of a START (prompt text, usage, parent id, order) sit under their own
//! losses, aligned by position: the builder recovers a START without its loss. The trajectory's `extra.ist_losses_kept` lists the kept losses, so a reader
//! knows an absent record means "no such event" rather than "not kept".
//!
//! Fields of an event that equal its call's END (name, ancestry, framework, UUID) are left
//! out: the reader takes them from the step or tool call.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

use super::ist_to_atif::{ancestry, f64_value, Provenance};
use crate::loss::{Keep, KEPT_KEY};
use crate::trace::atif::Trajectory;
use crate::trace::ist::{EventType, IntermediateStep};

/// Where an event goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Place {
    /// Step `k` (or the trajectory when it has no step).
    Step(usize),
    /// Tool call `c` of step `k`.
    Call(usize, usize),
}

/// The loss an event without a step or tool call of its own exists through.
pub fn existence(step: &IntermediateStep) -> &'static str {
    match step.event_type() {
        EventType::LLM_START | EventType::LLM_END => "llm-start-time",
        EventType::LLM_NEW_TOKEN => "streamed-chunks",
        EventType::TOOL_START | EventType::FUNCTION_START if step.name() != Some("<workflow>") => {
            "tool-start-time"
        }
        EventType::TOOL_START
        | EventType::FUNCTION_START
        | EventType::TOOL_END
        | EventType::FUNCTION_END
        | EventType::WORKFLOW_START
        | EventType::WORKFLOW_END => "workflow-times",
        _ => "spans-and-custom",
    }
}

/// The frame text of an event of a type that has one (LLM_START's input, LLM_END's output,
/// LLM_NEW_TOKEN's chunk): `""` without data, null for a null or missing field.
fn text(step: &IntermediateStep) -> Option<Value> {
    let et = step.event_type();
    if !matches!(
        et,
        EventType::LLM_START | EventType::LLM_END | EventType::LLM_NEW_TOKEN
    ) {
        return None;
    }
    Some(match &step.payload.data {
        None => Value::String(String::new()),
        Some(d) => match match et {
            EventType::LLM_START => d.input.as_ref(),
            EventType::LLM_END => d.output.as_ref(),
            _ => d.chunk.as_ref(),
        } {
            None => Value::Null,
            Some(v) => Value::String(v.py_str()),
        },
    })
}

fn opt_f64(x: Option<f64>) -> Value {
    x.map_or(Value::Null, f64_value)
}

fn opt_str(x: Option<&str>) -> Value {
    x.map_or(Value::Null, |s| Value::String(s.to_string()))
}

/// The usage fields an event's frame row has.
fn usage(step: &IntermediateStep) -> [(&'static str, i64); 5] {
    let tu = step.token_usage();
    let sbc = step
        .payload
        .usage_info
        .as_ref()
        .map_or(0, |u| u.seconds_between_calls);
    [
        ("prompt_tokens", tu.prompt_tokens),
        ("completion_tokens", tu.completion_tokens),
        ("total_tokens", tu.total_tokens),
        ("cached_tokens", tu.cached_tokens),
        ("seconds_between_calls", sbc),
    ]
}

/// One event's parts, by loss.
#[derive(Default)]
struct Parts(BTreeMap<&'static str, Map<String, Value>>);

impl Parts {
    fn put(&mut self, loss: &'static str, field: &str, v: Value) {
        self.0.entry(loss).or_default().insert(field.to_string(), v);
    }
}

/// The parts of the event a step or tool call stands for: what NAT's converter did not write.
fn anchor_parts(s: &IntermediateStep, p: &mut Parts) {
    let et = s.event_type();
    let no_span = s.payload.span_event_timestamp.is_none();
    match et {
        EventType::WORKFLOW_START | EventType::WORKFLOW_END => {
            p.put("workflow-times", "event_timestamp", f64_value(s.ts()));
            p.put("step-uuid", "uuid", s.uuid().into());
        }
        EventType::LLM_END => {
            p.put("step-uuid", "uuid", s.uuid().into());
            if no_span {
                p.put("llm-start-time", "event_timestamp", f64_value(s.ts()));
                p.put("llm-start-time", "span_event_timestamp", Value::Null);
            }
            if text(s) == Some(Value::Null) {
                p.put("prompt-text", "text", Value::Null);
            }
        }
        _ => {
            // A tool call.
            if no_span {
                p.put("tool-start-time", "event_timestamp", f64_value(s.ts()));
                p.put("tool-start-time", "span_event_timestamp", Value::Null);
            }
            if s.name().is_none_or(str::is_empty) {
                p.put("event-kinds", "name", opt_str(s.name()));
            }
        }
    }
    if et != EventType::WORKFLOW_START {
        p.put("event-kinds", "event_type", et.as_str().into());
    }
    let u = usage(s);
    if et == EventType::LLM_END {
        for (k, v) in &u[2..] {
            p.put("usage-extras", k, (*v).into());
        }
    } else if u.iter().any(|(_, v)| *v != 0) {
        for (k, v) in u {
            p.put("usage-extras", k, v.into());
        }
    }
}

/// The parts of an LLM_START, LLM_NEW_TOKEN or TOOL/FUNCTION_START of a call with a step or
/// tool call (`owner`: the call's END): its time, and whatever differs from the END.
fn owned_parts(s: &IntermediateStep, owner: &IntermediateStep, p: &mut Parts) {
    let e = existence(s);
    p.put(e, "event_timestamp", f64_value(s.ts()));
    let expected = match owner.event_type() {
        EventType::LLM_END if s.event_type() == EventType::LLM_NEW_TOKEN => {
            EventType::LLM_NEW_TOKEN
        }
        EventType::LLM_END => EventType::LLM_START,
        EventType::TOOL_END => EventType::TOOL_START,
        _ => EventType::FUNCTION_START,
    };
    if s.event_type() != expected {
        p.put(e, "event_type", s.event_type().as_str().into());
    }
    if s.name() != owner.name() {
        p.put(e, "name", opt_str(s.name()));
    }
    if s.function_ancestry != owner.function_ancestry {
        p.put(e, "ancestry", ancestry(s));
    }
    if s.payload.framework != owner.payload.framework {
        p.put(e, "framework", opt_str(s.payload.framework.as_deref()));
    }
    if s.payload.span_event_timestamp != owner.payload.span_event_timestamp {
        p.put(
            e,
            "span_event_timestamp",
            opt_f64(s.payload.span_event_timestamp),
        );
    }
    if let Some(t) = text(s) {
        let loss = if s.event_type() == EventType::LLM_START {
            "prompt-text"
        } else {
            e
        };
        p.put(loss, "text", t);
    }
    if s.event_type() == EventType::LLM_START {
        // The prompt's messages (what a mooncake replay tokenizes).
        if let Some(m) = s
            .payload
            .metadata
            .as_ref()
            .and_then(|m| m.get("chat_inputs"))
        {
            p.put("prompt-text", "chat_inputs", m);
        }
    }
    // A chunk exists only through its loss: all of it is that loss's. A START is recovered
    // without its loss, so its usage is usage-extras'.
    let usage_loss = if s.event_type() == EventType::LLM_NEW_TOKEN {
        e
    } else {
        "usage-extras"
    };
    let u = usage(s);
    if u.iter().any(|(_, v)| *v != 0) {
        for (k, v) in u {
            p.put(usage_loss, k, v.into());
        }
    }
}

/// The parts of an event with no step or tool call of its own: all of it.
fn orphan_parts(s: &IntermediateStep, p: &mut Parts) {
    let e = existence(s);
    p.put(e, "event_type", s.event_type().as_str().into());
    p.put(e, "event_timestamp", f64_value(s.ts()));
    p.put(
        e,
        "span_event_timestamp",
        opt_f64(s.payload.span_event_timestamp),
    );
    p.put(e, "name", opt_str(s.name()));
    p.put(e, "uuid", s.uuid().into());
    p.put(e, "ancestry", ancestry(s));
    p.put(e, "framework", opt_str(s.payload.framework.as_deref()));
    if let Some(t) = text(s) {
        p.put(e, "text", t);
    }
    let u = usage(s);
    if u.iter().any(|(_, v)| *v != 0) {
        for (k, v) in u {
            p.put(e, k, v.into());
        }
    }
}

/// Put `keep`'s losses back into `traj`, which NAT's converter made of `steps` (`prov`: which
/// step and call each event became).
pub(super) fn keep(
    traj: &mut Trajectory,
    steps: &[IntermediateStep],
    prov: &Provenance,
    keep: Keep,
) {
    // Each event's place and role.
    let mut placed: Vec<Option<(Place, &'static str)>> = vec![None; steps.len()];
    let mut llm_owner: HashMap<&str, (usize, usize)> = HashMap::new();
    let mut call_owner: HashMap<&str, (usize, usize, usize)> = HashMap::new();
    for (k, sp) in prov.steps.iter().enumerate() {
        if let Some(a) = sp.anchor {
            placed[a] = Some((Place::Step(k), "anchor"));
            if steps[a].event_type() == EventType::LLM_END {
                llm_owner.entry(steps[a].uuid()).or_insert((k, a));
            }
        }
        for (c, &i) in sp.calls.iter().enumerate() {
            placed[i] = Some((Place::Call(k, c), "anchor"));
            call_owner.entry(steps[i].uuid()).or_insert((k, c, i));
        }
    }
    let mut current: Vec<usize> = vec![0; steps.len()];
    for (k, sp) in prov.steps.iter().enumerate() {
        for &i in &sp.orphans {
            current[i] = k;
        }
    }
    let mut owner_of: Vec<Option<usize>> = vec![None; steps.len()];
    for (i, s) in steps.iter().enumerate() {
        if placed[i].is_some() {
            continue;
        }
        let owned = match s.event_type() {
            EventType::LLM_START | EventType::LLM_NEW_TOKEN => {
                llm_owner.get(s.uuid()).map(|&(k, a)| (Place::Step(k), a))
            }
            EventType::TOOL_START | EventType::FUNCTION_START => call_owner
                .get(s.uuid())
                .map(|&(k, c, a)| (Place::Call(k, c), a)),
            _ => None,
        };
        placed[i] = Some(match owned {
            Some((place, a)) => {
                owner_of[i] = Some(a);
                let role = if s.event_type() == EventType::LLM_NEW_TOKEN {
                    "chunk"
                } else {
                    "start"
                };
                (place, role)
            }
            None => (Place::Step(current[i]), existence(s)),
        });
    }

    // Each place's records: loss → role → the role's events' parts, in IST order.
    type Records = BTreeMap<&'static str, BTreeMap<&'static str, Vec<Map<String, Value>>>>;
    let mut by_place: BTreeMap<Place, Records> = BTreeMap::new();
    // How many events of each role a place has (every loss's list is that long).
    let mut counts: BTreeMap<(Place, &'static str), usize> = BTreeMap::new();
    for (i, s) in steps.iter().enumerate() {
        let (place, role) = placed[i].expect("every event placed");
        let mut p = Parts::default();
        match (role, owner_of[i]) {
            ("anchor", _) => anchor_parts(s, &mut p),
            (_, Some(a)) => owned_parts(s, &steps[a], &mut p),
            _ => orphan_parts(s, &mut p),
        }
        // An event that exists only through its loss (a chunk, a SPAN…) is wholly that
        // loss's: removing another loss never touches a row NAT's ATIF does not have.
        let (order, parent) = match role {
            "anchor" | "start" => ("event-order", "step-parent-id"),
            "chunk" => ("streamed-chunks", "streamed-chunks"),
            other => (other, other),
        };
        p.put(order, "seq", i.into());
        p.put(parent, "parent_id", s.parent_id.clone().into());
        // An event that exists only through its loss is written only when that loss is kept.
        let exists_through = match role {
            "anchor" | "start" => None,
            "chunk" => Some("streamed-chunks"),
            other => Some(other),
        };
        if exists_through.is_some_and(|e| !keep.has(e)) {
            continue;
        }
        let n = counts.entry((place, role)).or_default();
        let ordinal = *n;
        *n += 1;
        let recs = by_place.entry(place).or_default();
        for (loss, fields) in p.0 {
            if !keep.has(loss) {
                continue;
            }
            let list = recs.entry(loss).or_default().entry(role).or_default();
            list.resize(ordinal, Map::new());
            list.push(fields);
        }
    }

    // Write them.
    for (place, recs) in by_place {
        let mut out = Map::new();
        for (loss, roles) in recs {
            let mut m = Map::new();
            for (role, mut list) in roles {
                if role == "anchor" {
                    m.insert(role.into(), Value::Object(list.pop().unwrap_or_default()));
                } else {
                    list.resize(counts[&(place, role)], Map::new());
                    m.insert(
                        role.into(),
                        Value::Array(list.into_iter().map(Value::Object).collect()),
                    );
                }
            }
            out.insert(loss.into(), Value::Object(m));
        }
        let extra = match place {
            Place::Step(k) if k < traj.steps.len() => {
                traj.steps[k].extra.get_or_insert_with(Map::new)
            }
            Place::Step(_) => traj.extra.get_or_insert_with(Map::new),
            Place::Call(k, c) => traj.steps[k]
                .tool_calls
                .as_mut()
                .and_then(|calls| calls.get_mut(c))
                .expect("a converted call")
                .extra
                .get_or_insert_with(Map::new),
        };
        extra.extend(out);
    }
    traj.extra.get_or_insert_with(Map::new).insert(
        KEPT_KEY.into(),
        Value::Array(keep.ids().map(Value::from).collect()),
    );
}
