//! Realistic ATIF exporter faults, for measuring the drift gate's sensitivity (`cargo xtask
//! mutate`): each is what a bug in an exporter would do to a NAT run's ATIF (token counts
//! scaled or off by one, cached tokens lost or moved, an LLM step dropped or duplicated,
//! times shifted, a tool call lost or renamed, a trajectory dropped…). A fault applies to
//! the ATIF document of one item (a list of trajectories, NAT eval's `{item_id,
//! trajectory}` list, or one trajectory) and says whether it found anything to change.
//! Which builders can see a fault is measured by `cargo xtask mutate` (the outputs of the
//! mutant against the clean run's), never declared here.

use serde_json::Value;

/// One exporter fault.
pub struct Fault {
    /// Its name (`prompt-tokens-doubled`).
    pub name: &'static str,
    /// What it does.
    pub what: &'static str,
    /// Apply it to an item's ATIF; `false` when there was nothing to change.
    pub apply: fn(&mut Value) -> bool,
}

/// The trajectories of an ATIF document, mutably.
fn trajectories(doc: &mut Value) -> Vec<&mut Value> {
    match doc {
        Value::Array(items) => items
            .iter_mut()
            .map(
                |t| match t.get("trajectory").is_some() && t.get("steps").is_none() {
                    true => &mut t["trajectory"],
                    false => t,
                },
            )
            .collect(),
        t => vec![t],
    }
}

/// The agent steps with metrics (the LLM steps) of every trajectory.
fn llm_steps(doc: &mut Value) -> Vec<&mut Value> {
    trajectories(doc)
        .into_iter()
        .filter_map(|t| t.get_mut("steps").and_then(Value::as_array_mut))
        .flat_map(|steps| steps.iter_mut())
        .filter(|s| s.get("metrics").is_some_and(Value::is_object))
        .collect()
}

/// Every LLM step's metric `key` changed by `f` (where present and an integer).
fn each_metric(doc: &mut Value, key: &str, f: impl Fn(i64) -> Option<i64>) -> bool {
    let mut any = false;
    for s in llm_steps(doc) {
        let m = &mut s["metrics"];
        if let Some(new) = m.get(key).and_then(Value::as_i64).and_then(&f) {
            m[key] = new.into();
            any = true;
        }
    }
    any
}

/// The first trajectory's steps.
fn first_steps(doc: &mut Value) -> Option<&mut Vec<Value>> {
    trajectories(doc)
        .into_iter()
        .next()?
        .get_mut("steps")?
        .as_array_mut()
}

/// Step ids 1, 2, … again after steps were added or removed.
fn renumber(steps: &mut [Value]) {
    for (i, s) in steps.iter_mut().enumerate() {
        s["step_id"] = (i as i64 + 1).into();
    }
}

/// The first trajectory's steps and the index of its first LLM step.
fn first_llm_step(doc: &mut Value) -> Option<(&mut Vec<Value>, usize)> {
    let steps = first_steps(doc)?;
    let i = first_llm(steps)?;
    Some((steps, i))
}

/// The index of the first LLM step (agent step with metrics) in `steps`.
fn first_llm(steps: &[Value]) -> Option<usize> {
    steps
        .iter()
        .position(|s| s.get("metrics").is_some_and(Value::is_object))
}

fn prompt_doubled(d: &mut Value) -> bool {
    each_metric(d, "prompt_tokens", |n| Some(2 * n))
}
fn prompt_off_by_one(d: &mut Value) -> bool {
    each_metric(d, "prompt_tokens", |n| Some(n + 1))
}
fn completion_doubled(d: &mut Value) -> bool {
    each_metric(d, "completion_tokens", |n| Some(2 * n))
}
fn completion_off_by_one(d: &mut Value) -> bool {
    each_metric(d, "completion_tokens", |n| Some(n + 1))
}
fn cached_dropped(d: &mut Value) -> bool {
    let mut any = false;
    for s in llm_steps(d) {
        if let Some(m) = s["metrics"].as_object_mut() {
            any |= m
                .remove("cached_tokens")
                .is_some_and(|c| c.as_i64() != Some(0));
        }
    }
    any
}
fn cached_moved_into_prompt(d: &mut Value) -> bool {
    let mut any = false;
    for s in llm_steps(d) {
        let m = &mut s["metrics"];
        let cached = m.get("cached_tokens").and_then(Value::as_i64).unwrap_or(0);
        if let (true, Some(p)) = (cached > 0, m.get("prompt_tokens").and_then(Value::as_i64)) {
            m["prompt_tokens"] = (p + cached).into();
            m["cached_tokens"] = 0.into();
            any = true;
        }
    }
    any
}
fn usage_zeroed(d: &mut Value) -> bool {
    let mut any = false;
    for s in llm_steps(d) {
        for k in ["prompt_tokens", "completion_tokens", "cached_tokens"] {
            if s["metrics"].get(k).is_some_and(|v| v.as_i64() != Some(0)) {
                s["metrics"][k] = 0.into();
                any = true;
            }
        }
    }
    any
}
fn llm_step_dropped(d: &mut Value) -> bool {
    let Some((steps, i)) = first_llm_step(d) else {
        return false;
    };
    steps.remove(i);
    renumber(steps);
    true
}
fn llm_step_duplicated(d: &mut Value) -> bool {
    let Some((steps, i)) = first_llm_step(d) else {
        return false;
    };
    let copy = steps[i].clone();
    steps.insert(i + 1, copy);
    renumber(steps);
    true
}
fn step_time_shifted(d: &mut Value) -> bool {
    let Some((steps, i)) = first_llm_step(d) else {
        return false;
    };
    let Some(ts) = steps[i]["timestamp"].as_str() else {
        return false;
    };
    let Some(t) = crate::pyfmt::iso_to_epoch(&ts.replace('Z', "+00:00")) else {
        return false;
    };
    match crate::pyfmt::epoch_to_iso(t + 1.0) {
        Some(iso) => {
            steps[i]["timestamp"] = iso.into();
            true
        }
        None => false,
    }
}
fn invocation_shifted(d: &mut Value) -> bool {
    let mut any = false;
    for s in llm_steps(d) {
        let inv = &mut s["extra"]["invocation"];
        for k in ["start_timestamp", "end_timestamp"] {
            if let Some(t) = inv.get(k).and_then(Value::as_f64) {
                inv[k] = (t + 0.5).into();
                any = true;
            }
        }
    }
    any
}
fn model_renamed(d: &mut Value) -> bool {
    let mut any = false;
    for s in llm_steps(d) {
        if let Some(m) = s.get("model_name").and_then(Value::as_str) {
            s["model_name"] = format!("{m}-renamed").into();
            any = true;
        }
    }
    any
}
/// The first step with a tool call whose result is observed, and that call's index.
fn observed_call(steps: &mut [Value]) -> Option<(usize, usize)> {
    steps.iter().enumerate().find_map(|(i, s)| {
        let results = s["observation"]["results"].as_array()?;
        let calls = s["tool_calls"].as_array()?;
        let j = calls.iter().position(|c| {
            results
                .iter()
                .any(|r| r["source_call_id"] == c["tool_call_id"])
        })?;
        Some((i, j))
    })
}
fn tool_call_dropped(d: &mut Value) -> bool {
    let Some(steps) = first_steps(d) else {
        return false;
    };
    let Some((i, j)) = observed_call(steps) else {
        return false;
    };
    let s = &mut steps[i];
    let id = s["tool_calls"][j]["tool_call_id"].clone();
    s["tool_calls"].as_array_mut().map(|c| c.remove(j));
    if let Some(r) = s["observation"]["results"].as_array_mut() {
        r.retain(|r| r["source_call_id"] != id);
    }
    true
}
fn tool_renamed(d: &mut Value) -> bool {
    let Some(steps) = first_steps(d) else {
        return false;
    };
    let Some((i, j)) = observed_call(steps) else {
        return false;
    };
    let call = &mut steps[i]["tool_calls"][j];
    let name = call["function_name"].as_str().unwrap_or("tool").to_string();
    call["function_name"] = format!("{name}_renamed").into();
    true
}
fn observation_lost(d: &mut Value) -> bool {
    let Some(steps) = first_steps(d) else {
        return false;
    };
    let Some((i, _)) = observed_call(steps) else {
        return false;
    };
    steps[i].as_object_mut().map(|s| s.remove("observation"));
    true
}
fn trajectory_dropped(d: &mut Value) -> bool {
    match d.as_array_mut() {
        Some(items) if items.len() > 1 => {
            items.pop();
            true
        }
        _ => false,
    }
}
fn final_message_lost(d: &mut Value) -> bool {
    let Some(steps) = first_steps(d) else {
        return false;
    };
    let Some(last) = steps.iter_mut().rev().find(|s| s["source"] == "agent") else {
        return false;
    };
    if last["message"].as_str().is_some_and(str::is_empty) {
        return false;
    }
    last["message"] = "".into();
    true
}
fn steps_reordered(d: &mut Value) -> bool {
    let Some((steps, i)) = first_llm_step(d) else {
        return false;
    };
    match steps.get(i + 1) {
        Some(_) => {
            steps.swap(i, i + 1);
            renumber(steps);
            true
        }
        None => false,
    }
}
fn subagent_detached(d: &mut Value) -> bool {
    let mut any = false;
    for t in trajectories(d) {
        if let Some(o) = t.as_object_mut() {
            any |= o.remove("subagent_trajectories").is_some();
        }
    }
    any
}

/// Every fault, in a fixed order.
pub const FAULTS: &[Fault] = &[
    Fault {
        name: "prompt-tokens-doubled",
        what: "every LLM step's prompt_tokens × 2",
        apply: prompt_doubled,
    },
    Fault {
        name: "prompt-tokens-off-by-one",
        what: "every LLM step's prompt_tokens + 1",
        apply: prompt_off_by_one,
    },
    Fault {
        name: "completion-tokens-doubled",
        what: "every LLM step's completion_tokens × 2",
        apply: completion_doubled,
    },
    Fault {
        name: "completion-tokens-off-by-one",
        what: "every LLM step's completion_tokens + 1",
        apply: completion_off_by_one,
    },
    Fault {
        name: "cached-tokens-dropped",
        what: "cached_tokens removed from every LLM step",
        apply: cached_dropped,
    },
    Fault {
        name: "cached-tokens-moved",
        what: "cached_tokens added to prompt_tokens and zeroed",
        apply: cached_moved_into_prompt,
    },
    Fault {
        name: "usage-zeroed",
        what: "every LLM step's token counts 0",
        apply: usage_zeroed,
    },
    Fault {
        name: "llm-step-dropped",
        what: "the first trajectory's first LLM step removed",
        apply: llm_step_dropped,
    },
    Fault {
        name: "llm-step-duplicated",
        what: "the first LLM step twice (a dedupe failure)",
        apply: llm_step_duplicated,
    },
    Fault {
        name: "step-time-shifted",
        what: "the first LLM step's timestamp + 1 s",
        apply: step_time_shifted,
    },
    Fault {
        name: "invocation-times-shifted",
        what: "every LLM step's invocation start and end + 0.5 s",
        apply: invocation_shifted,
    },
    Fault {
        name: "model-renamed",
        what: "every LLM step's model_name changed",
        apply: model_renamed,
    },
    Fault {
        name: "tool-call-dropped",
        what: "the first observed tool call and its result removed",
        apply: tool_call_dropped,
    },
    Fault {
        name: "tool-renamed",
        what: "the first observed tool call's function_name changed",
        apply: tool_renamed,
    },
    Fault {
        name: "observation-lost",
        what: "the first observed step's observation removed",
        apply: observation_lost,
    },
    Fault {
        name: "trajectory-dropped",
        what: "the last trajectory removed",
        apply: trajectory_dropped,
    },
    Fault {
        name: "final-message-lost",
        what: "the first trajectory's last agent message emptied",
        apply: final_message_lost,
    },
    Fault {
        name: "steps-reordered",
        what: "the first LLM step swapped with the step after it",
        apply: steps_reordered,
    },
    Fault {
        name: "subagent-detached",
        what: "embedded subagent trajectories removed",
        apply: subagent_detached,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_fault_changes_a_real_run_or_says_it_cannot() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("corpus/react_calculator/nat_atif.json");
        let clean: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert!(FAULTS.len() >= 15);
        for f in FAULTS {
            let mut d = clean.clone();
            let applied = (f.apply)(&mut d);
            assert_eq!(applied, d != clean, "{}: applied {applied}", f.name);
            if f.name != "subagent-detached" {
                assert!(
                    applied,
                    "{} finds something to change in a real run",
                    f.name
                );
            }
        }
    }
}
