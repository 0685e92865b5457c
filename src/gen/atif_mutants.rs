//! Seeded mutants of valid ATIF trajectories, to hold `validate` against Harbor's reference
//! validator: [`mutant`] applies one mutation, chosen by the seed, anywhere in the document
//! (deletions, type changes, boundary values, version swaps, odd timestamps, array elements,
//! media types, subagent references, tool calls, step ids). The same base and seed give the
//! same mutant on every machine; `cargo xtask mutants` records Harbor's verdict on each and
//! `tests/validate.rs` checks ours against it.

use serde_json::{json, Map, Value};

/// A small deterministic generator (splitmix64): the mutants must not change with a crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
}

/// The mutation kinds, in the order the seed picks them.
pub(crate) const KINDS: &[&str] = &[
    "delete",
    "retype",
    "boundary",
    "version",
    "timestamp",
    "element",
    "media",
    "subagent-ref",
    "unknown-key",
    "tool-call",
    "step-id",
];

/// Values a retyped node takes.
fn odd_values() -> Vec<Value> {
    vec![
        Value::Null,
        json!(true),
        json!(0),
        json!(-1),
        json!(1.5),
        json!("x"),
        json!("1"),
        json!([]),
        json!({}),
        json!([1]),
        json!({"a": 1}),
        // 2^63 and 2^64: past i64 and past u64.
        serde_json::from_str("9223372036854775808").expect("a number"),
        serde_json::from_str("18446744073709551616").unwrap_or(Value::Null),
    ]
}

/// Numbers at the edges of what the schema allows.
fn boundary_values() -> Vec<Value> {
    let mut v = vec![
        json!(-1),
        json!(0),
        json!(1),
        json!(-0.5),
        json!(0.0),
        json!(1e308),
        json!(i64::MAX),
        json!(u64::MAX),
        json!(i64::MIN),
    ];
    v.push(serde_json::from_str("9223372036854775808").expect("a number"));
    v
}

/// Timestamps at and past the edges of Python 3.11's `fromisoformat`.
const TIMESTAMPS: &[&str] = &[
    "2026-01-02T03:04:05z",
    "0000-01-01T00:00:00Z",
    "2026-W01-1",
    "2026-W01-1T12:00",
    "2026-01-02T12:00.5",
    "2026-01-02T12:00:00.1234567891",
    "2026-01-02X12:00:00",
    "2026-01-02 12:00:00",
    "2026-01-02T24:00:00",
    "2026-02-30T00:00:00",
    "2026-01-02T12:00:00+24:00",
    "2026-01-02T12:00:00+23:59",
    "2026-01-02T12:00:00ZZ",
    "20260102T120000",
    "2026-01-02",
    "2026-01-02T",
    "2026-01-02t12:00:00",
    "2026-1-2T12:00:00",
    "",
    "yesterday",
    "2026-01-02T12:00:00.",
    "9999-12-31T23:59:59.999999+00:00",
];

const MEDIA_TYPES: &[&str] = &[
    "image/png",
    "IMAGE/PNG",
    " image/png",
    "image/png ",
    "image/jpg",
    "image/webp",
    "audio/wav",
    "AUDIO/WAV",
    " audio/mp3 ",
    "audio/x-wav",
    "audio/midi",
    "text/plain",
];

/// Versions a mutant may claim: every known one, then three that are not.
fn versions() -> Vec<&'static str> {
    let mut v = crate::trace::atif::KNOWN_VERSIONS.to_vec();
    v.extend(["ATIF-v1.9", "atif-v1.7", "1.7"]);
    v
}

/// Every node of `v` as a path of keys and indices, the root first.
fn paths(v: &Value) -> Vec<Vec<Step>> {
    let mut out = Vec::new();
    fn walk(v: &Value, cur: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
        out.push(cur.clone());
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    cur.push(Step::Key(k.clone()));
                    walk(x, cur, out);
                    cur.pop();
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    cur.push(Step::Index(i));
                    walk(x, cur, out);
                    cur.pop();
                }
            }
            _ => {}
        }
    }
    walk(v, &mut Vec::new(), &mut out);
    out
}

#[derive(Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

fn render(path: &[Step]) -> String {
    let mut s = String::new();
    for p in path {
        match p {
            Step::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Step::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    if s.is_empty() {
        ".".into()
    } else {
        s
    }
}

fn get<'a>(v: &'a Value, path: &[Step]) -> Option<&'a Value> {
    let mut cur = v;
    for p in path {
        cur = match p {
            Step::Key(k) => cur.get(k.as_str())?,
            Step::Index(i) => cur.get(*i)?,
        };
    }
    Some(cur)
}

fn get_mut<'a>(v: &'a mut Value, path: &[Step]) -> Option<&'a mut Value> {
    let mut cur = v;
    for p in path {
        cur = match p {
            Step::Key(k) => cur.get_mut(k.as_str())?,
            Step::Index(i) => cur.get_mut(*i)?,
        };
    }
    Some(cur)
}

/// The paths among `paths` whose node in `base` satisfies `pred`, in order.
fn matching<'p>(
    paths: &'p [Vec<Step>],
    base: &Value,
    pred: impl Fn(&Value) -> bool,
) -> Vec<&'p Vec<Step>> {
    paths
        .iter()
        .filter(|p| get(base, p).is_some_and(&pred))
        .collect()
}

/// One of `paths`, cloned; `None` when there is none.
fn pick_path<P: Clone>(rng: &mut Rng, paths: &[P]) -> Option<P> {
    (!paths.is_empty()).then(|| rng.pick(paths).clone())
}

/// The objects of `v` that are steps (under any `steps` array, subagents included).
fn step_paths(v: &Value) -> Vec<Vec<Step>> {
    paths(v)
        .into_iter()
        .filter(|p| {
            p.len() >= 2
                && matches!(p[p.len() - 1], Step::Index(_))
                && p[p.len() - 2] == Step::Key("steps".into())
        })
        .collect()
}

/// What a mutation works on: the generator, the mutant, its base, and the base's node and
/// step paths.
struct Ctx<'a> {
    rng: &'a mut Rng,
    v: &'a mut Value,
    base: &'a Value,
    all: &'a [Vec<Step>],
    steps: &'a [Vec<Step>],
}

/// Mutant number `seed` of `base`: the mutated trajectory and what was done.
pub fn mutant(base: &Value, seed: u64) -> (Value, String) {
    let mut rng = Rng(seed ^ 0xA71F_D21F_u64.wrapping_mul(seed.wrapping_add(1)));
    let mut v = base.clone();
    let kind = *rng.pick(KINDS);
    let all = paths(&v);
    let steps = step_paths(&v);
    let mut ctx = Ctx {
        rng: &mut rng,
        v: &mut v,
        base,
        all: &all,
        steps: &steps,
    };
    let what = match kind {
        "delete" => mutate_delete(&mut ctx),
        "retype" => mutate_retype(&mut ctx),
        "boundary" => mutate_boundary(&mut ctx),
        "version" => mutate_version(&mut ctx),
        "timestamp" => mutate_timestamp(&mut ctx),
        "element" => mutate_element(&mut ctx),
        "media" => mutate_media(&mut ctx),
        "subagent-ref" => mutate_subagent_ref(&mut ctx),
        "unknown-key" => mutate_unknown_key(&mut ctx),
        "tool-call" => mutate_tool_call(&mut ctx),
        _ => mutate_step_id(&mut ctx),
    };
    match what {
        Some(what) => (v, what),
        None => mutant(base, seed.wrapping_add(1_000_003)),
    }
}

/// The `delete` mutation; `None` when `base` offers nothing to mutate this way.
fn mutate_delete(ctx: &mut Ctx) -> Option<String> {
    let Ctx { rng, v, all, .. } = ctx;
    let members: Vec<&Vec<Step>> = all
        .iter()
        .filter(|p| matches!(p.last(), Some(Step::Key(_))))
        .collect();
    let p = (*rng.pick(&members)).clone();
    let (last, parent) = p.split_last().expect("a member path");
    if let (Step::Key(k), Some(Value::Object(m))) = (last, get_mut(v, parent)) {
        m.shift_remove(k);
    }
    Some(format!("delete {}", render(&p)))
}

/// The `retype` mutation; `None` when `base` offers nothing to mutate this way.
fn mutate_retype(ctx: &mut Ctx) -> Option<String> {
    let Ctx { rng, v, all, .. } = ctx;
    let p = rng.pick(&all[1..]).clone();
    let new = rng.pick(&odd_values()).clone();
    let shown = new.to_string();
    if let Some(x) = get_mut(v, &p) {
        *x = new;
    }
    Some(format!("retype {} = {shown}", render(&p)))
}

/// The `boundary` mutation; `None` when `base` offers nothing to mutate this way.
fn mutate_boundary(ctx: &mut Ctx) -> Option<String> {
    let Ctx {
        rng, v, base, all, ..
    } = ctx;
    let numbers = matching(all, base, |x| x.is_number());
    if numbers.is_empty() {
        return None;
    }
    let p = (*rng.pick(&numbers)).clone();
    let new = rng.pick(&boundary_values()).clone();
    let shown = new.to_string();
    if let Some(x) = get_mut(v, &p) {
        *x = new;
    }
    Some(format!("boundary {} = {shown}", render(&p)))
}

/// The `version` mutation; `None` when `base` offers nothing to mutate this way.
fn mutate_version(ctx: &mut Ctx) -> Option<String> {
    let Ctx { rng, v, all, .. } = ctx;
    let ver = *rng.pick(&versions());
    // The root's, or an embedded subagent's.
    let roots: Vec<&Vec<Step>> = all
        .iter()
        .filter(|p| p.last() == Some(&Step::Key("schema_version".into())))
        .collect();
    let p = if roots.is_empty() {
        vec![Step::Key("schema_version".into())]
    } else {
        (*rng.pick(&roots)).clone()
    };
    let (_, parent) = p.split_last().expect("a member path");
    if let Some(Value::Object(m)) = get_mut(v, parent) {
        m.insert("schema_version".into(), json!(ver));
    }
    Some(format!("version {} = {ver}", render(&p)))
}

/// The `timestamp` mutation; `None` when `base` offers nothing to mutate this way.
fn mutate_timestamp(ctx: &mut Ctx) -> Option<String> {
    let Ctx { rng, v, steps, .. } = ctx;
    let sp = pick_path(rng, steps)?;
    let ts = *rng.pick(TIMESTAMPS);
    if let Some(Value::Object(m)) = get_mut(v, &sp) {
        m.insert("timestamp".into(), json!(ts));
    }
    Some(format!("timestamp {}.timestamp = {ts:?}", render(&sp)))
}

/// The `element` mutation; `None` when `base` offers nothing to mutate this way.
fn mutate_element(ctx: &mut Ctx) -> Option<String> {
    let Ctx {
        rng,
        v,
        base,
        steps,
        ..
    } = ctx;
    // An array field gets (or has an element replaced by) an element of another type.
    let field = *rng.pick(&[
        "prompt_token_ids",
        "completion_token_ids",
        "logprobs",
        "tool_definitions",
    ]);
    let elem = rng.pick(&odd_values()).clone();
    let shown = elem.to_string();
    if field == "tool_definitions" {
        if let Some(Value::Object(a)) = v.get_mut("agent") {
            a.insert(field.into(), json!([{"type": "function"}, elem]));
        }
        Some(format!("element agent.{field} = [{{…}}, {shown}]"))
    } else {
        let agent_steps = matching(steps, base, |s| s.get("metrics").is_some());
        let sp = pick_path(rng, &agent_steps)?.clone();
        let good = if field == "logprobs" {
            json!(-0.5)
        } else {
            json!(7)
        };
        if let Some(Value::Object(m)) = get_mut(v, &sp).and_then(|s| s.get_mut("metrics")) {
            m.insert(field.into(), json!([good, elem]));
        }
        Some(format!(
            "element {}.metrics.{field} = [{good}, {shown}]",
            render(&sp)
        ))
    }
}

/// The `media` mutation; `None` when `base` offers nothing to mutate this way.
fn mutate_media(ctx: &mut Ctx) -> Option<String> {
    let Ctx { rng, v, steps, .. } = ctx;
    let sp = pick_path(rng, steps)?;
    let mt = *rng.pick(MEDIA_TYPES);
    let kind = if rng.below(2) == 0 { "image" } else { "audio" };
    let ver = *rng.pick(&["ATIF-v1.6", "ATIF-v1.8"]);
    v["schema_version"] = json!(ver);
    if let Some(Value::Object(m)) = get_mut(v, &sp) {
        m.insert(
        "message".into(),
        json!([{"type": "text", "text": "see"}, {"type": kind, "source": {"media_type": mt, "path": "media/x.bin"}}]),
    );
    }
    Some(format!(
        "media {}.message = {kind} {mt:?} at {ver}",
        render(&sp)
    ))
}

/// The `subagent-ref` mutation; `None` when `base` offers nothing to mutate this way.
fn mutate_subagent_ref(ctx: &mut Ctx) -> Option<String> {
    let Ctx { rng, v, steps, .. } = ctx;
    let sp = pick_path(rng, steps)?;
    let refs: &[Value] = &[
        json!({"session_id": "s1"}),
        json!({"trajectory_path": "sub.json"}),
        json!({"trajectory_id": "t1"}),
        json!({"session_id": "s1", "trajectory_path": "sub.json"}),
        json!({}),
        json!({"trajectory_id": 5}),
    ];
    let r = rng.pick(refs).clone();
    let ver = *rng.pick(&["ATIF-v1.5", "ATIF-v1.6", "ATIF-v1.7"]);
    v["schema_version"] = json!(ver);
    let shown = r.to_string();
    if let Some(Value::Object(m)) = get_mut(v, &sp) {
        let obs = m
            .entry("observation")
            .or_insert_with(|| json!({"results": []}));
        if let Some(Value::Array(results)) = obs.get_mut("results") {
            results.push(json!({"content": "done", "subagent_trajectory_ref": [r]}));
        } else {
            *obs = json!({"results": [{"content": "done", "subagent_trajectory_ref": [r]}]});
        }
    }
    Some(format!("subagent-ref {} + {shown} at {ver}", render(&sp)))
}

/// The `unknown-key` mutation; `None` when `base` offers nothing to mutate this way.
fn mutate_unknown_key(ctx: &mut Ctx) -> Option<String> {
    let Ctx {
        rng, v, base, all, ..
    } = ctx;
    let objects = matching(all, base, |x| x.is_object());
    let p = (*rng.pick(&objects)).clone();
    let key = *rng.pick(&["surprise", "extra", "Extra", "step_id", "metrics", "notes"]);
    let val = rng.pick(&odd_values()).clone();
    let shown = val.to_string();
    if let Some(Value::Object(m)) = get_mut(v, &p) {
        m.insert(key.into(), val);
    }
    Some(format!("unknown-key {}.{key} = {shown}", render(&p)))
}

/// The `tool-call` mutation; `None` when `base` offers nothing to mutate this way.
fn mutate_tool_call(ctx: &mut Ctx) -> Option<String> {
    let Ctx {
        rng,
        v,
        base,
        steps,
        ..
    } = ctx;
    let with_calls = matching(steps, base, |s| {
        s.get("tool_calls")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
    });
    let sp = pick_path(rng, &with_calls)?.clone();
    let op = rng.below(4);
    let step = get_mut(v, &sp).expect("a step");
    let m: &mut Map<String, Value> = step.as_object_mut().expect("an object");
    let what = match op {
        0 => {
            m.shift_remove("observation");
            "observation removed"
        }
        1 => {
            if let Some(Value::Array(r)) =
                m.get_mut("observation").and_then(|o| o.get_mut("results"))
            {
                for x in r.iter_mut() {
                    x["source_call_id"] = json!("call_elsewhere");
                }
            }
            "source_call_id changed"
        }
        2 => {
            if let Some(Value::Array(c)) = m.get_mut("tool_calls") {
                c.push(
                    json!({"tool_call_id": "call_extra", "function_name": "f", "arguments": {}}),
                );
            }
            "a call without result added"
        }
        _ => {
            if let Some(Value::Array(c)) = m.get_mut("tool_calls") {
                c[0]["arguments"] = json!("a=1");
            }
            "arguments as a string"
        }
    };
    Some(format!("tool-call {}: {what}", render(&sp)))
}

/// The `step-id` mutation; `None` when `base` offers nothing to mutate this way.
fn mutate_step_id(ctx: &mut Ctx) -> Option<String> {
    let Ctx { rng, v, steps, .. } = ctx;
    // step-id
    let sp = pick_path(rng, steps)?;
    let new = rng.pick(&boundary_values()).clone();
    let shown = new.to_string();
    if let Some(Value::Object(m)) = get_mut(v, &sp) {
        m.insert("step_id".into(), new);
    }
    Some(format!("step-id {}.step_id = {shown}", render(&sp)))
}

/// FNV-1a of `text`: the recorded verdicts name the mutant they were made on.
pub fn fingerprint(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutants_are_deterministic_and_differ() {
        let base = json!({"schema_version": "ATIF-v1.6", "session_id": "s", "agent": {"name": "a", "version": "1"},
            "steps": [{"step_id": 1, "source": "user", "message": "hi", "timestamp": "2026-01-02T03:04:05Z"},
                      {"step_id": 2, "source": "agent", "message": "ok", "metrics": {"prompt_tokens": 3},
                       "tool_calls": [{"tool_call_id": "c", "function_name": "f", "arguments": {}}],
                       "observation": {"results": [{"source_call_id": "c", "content": "r"}]}}]});
        let a: Vec<_> = (0..50).map(|s| mutant(&base, s)).collect();
        let b: Vec<_> = (0..50).map(|s| mutant(&base, s)).collect();
        assert_eq!(a, b);
        assert!(a.iter().filter(|(m, _)| *m != base).count() > 40);
    }
}
