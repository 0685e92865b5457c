//! What NAT's ATIF does not carry of an IST trace: the losses, one id each.
//!
//! The catalogue is shared by the converter (`convert --to atif --keep LOSS,…` puts back
//! exactly what a loss stands for, on the ATIF step or tool call it describes), the faithful
//! builder (which reads each kept loss where present and falls back to its recovery rules
//! where absent), the drift policy (`loss =` labels) and `attribute` (drift measured loss by
//! loss).

use serde::Serialize;
use serde_json::{Map, Value};

/// One thing IST has and ATIF (as NAT's converter writes it) does not.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Loss {
    /// Its name (the `--keep` value, and the `extra` key that carries it).
    pub id: &'static str,
    /// What of the IST trace ATIF does not carry.
    pub what: &'static str,
    /// What it changes in the profiler's outputs.
    pub why: &'static str,
    /// Where an ATIF producer could carry it.
    pub place: &'static str,
}

/// The `extra` key of a trajectory that lists the losses it keeps.
pub const KEPT_KEY: &str = "ist_losses_kept";

/// Every loss, in catalogue order (a [`Keep`] bit each).
pub const LOSSES: &[Loss] = &[
    Loss {
        id: "prompt-text",
        what: "the LLM prompt (llm_text_input of LLM_START), and a null LLM output (ATIF writes \"\")",
        why: "NAT's converter keeps only the LLM output",
        place: "the agent step (NeMo Relay keeps the request in extra.llm_request)",
    },
    Loss {
        id: "streamed-chunks",
        what: "LLM_NEW_TOKEN events (streamed chunks, with their times)",
        why: "ATIF has no counterpart",
        place: "the agent step of the call they stream",
    },
    Loss {
        id: "llm-start-time",
        what: "LLM_START events (their time, and whatever differs from their LLM_END), and an LLM_END's exact time when IST recorded no span start",
        why: "ATIF keeps the LLM_END's span start, recorded a little after LLM_START",
        place: "the agent step (NAT's v1.7 export has extra.invocation.start_timestamp)",
    },
    Loss {
        id: "tool-start-time",
        what: "TOOL_START / FUNCTION_START events, and a call's times when IST recorded no span start (NAT functions' own spans)",
        why: "ATIF keeps the END's span start; NAT functions record none",
        place: "the tool call (NAT's v1.7 export has extra.tool_invocations)",
    },
    Loss {
        id: "step-uuid",
        what: "the UUID of the events agent and user steps stand for (LLM calls, workflow start and end)",
        why: "steps carry no id (tool calls keep theirs in tool_call_id)",
        place: "the agent or user step",
    },
    Loss {
        id: "workflow-times",
        what: "exact WORKFLOW_START / WORKFLOW_END times, a WORKFLOW_END no step stands for, and the <workflow> function's span",
        why: "steps keep ISO timestamps (microseconds); the <workflow> calls are suppressed",
        place: "the user step and the final agent step",
    },
    Loss {
        id: "spans-and-custom",
        what: "SPAN_* (@track_function), CUSTOM_*, TASK_* and TTC_* events",
        why: "ATIF has no counterpart",
        place: "the step that was current when they happened",
    },
    Loss {
        id: "usage-extras",
        what: "total_tokens as reported, seconds_between_calls, the cached tokens of a call whose other counts are all 0, token counts on other events",
        why: "ATIF metrics carry prompt, completion and cached tokens only, and none when prompt, completion and total are 0",
        place: "the agent step's metrics.extra",
    },
    Loss {
        id: "step-parent-id",
        what: "each IST step's parent_id (tags and metadata change no output)",
        why: "not converted",
        place: "each step and tool call",
    },
    Loss {
        id: "event-kinds",
        what: "which IST event a step or tool call stands for (an LLM call or the workflow's end; a TOOL or a FUNCTION span), and a call's name when IST recorded none",
        why: "ATIF has agent steps and tool calls only; an unnamed call becomes unknown_tool",
        place: "the agent step and the tool call",
    },
    Loss {
        id: "event-order",
        what: "the order IST recorded its events in",
        why: "NAT's converter sorts by time, and equal times keep no order",
        place: "each step and tool call",
    },
];

/// The index of loss `id` in [`LOSSES`].
pub fn index(id: &str) -> Option<usize> {
    LOSSES.iter().position(|l| l.id == id)
}

/// A set of losses (one bit per [`LOSSES`] entry): those a full-fidelity ATIF keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Keep(u32);

impl Keep {
    /// No loss kept: NAT's converter output.
    pub const NONE: Keep = Keep(0);

    /// Every loss kept: the full-fidelity projection.
    pub fn all() -> Keep {
        Keep((1u32 << LOSSES.len()) - 1)
    }

    /// The set of exactly this loss.
    pub fn only(id: &str) -> Option<Keep> {
        index(id).map(|i| Keep(1 << i))
    }

    /// Whether loss `id` is kept (an unknown id is not).
    pub fn has(self, id: &str) -> bool {
        index(id).is_some_and(|i| self.0 & (1 << i) != 0)
    }

    /// This set with loss `id` added.
    pub fn with(self, id: &str) -> Keep {
        index(id).map_or(self, |i| Keep(self.0 | (1 << i)))
    }

    /// This set without loss `id`.
    pub fn without(self, id: &str) -> Keep {
        index(id).map_or(self, |i| Keep(self.0 & !(1 << i)))
    }

    /// Whether no loss is kept.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The kept losses' ids, in catalogue order.
    pub fn ids(self) -> impl Iterator<Item = &'static str> {
        LOSSES
            .iter()
            .enumerate()
            .filter(move |(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, l)| l.id)
    }

    /// `all`, `none`, or a comma-separated list of loss ids.
    pub fn parse(s: &str) -> Result<Keep, String> {
        match s.trim() {
            "all" => return Ok(Keep::all()),
            "none" | "" => return Ok(Keep::NONE),
            _ => {}
        }
        s.split(',').map(str::trim).try_fold(Keep::NONE, |k, id| {
            index(id).map(|_| k.with(id)).ok_or_else(|| {
                let ids: Vec<&str> = LOSSES.iter().map(|l| l.id).collect();
                format!(
                    "unknown loss `{id}` (all, none, or a list of: {})",
                    ids.join(", ")
                )
            })
        })
    }

    /// The kept losses from a trajectory's `extra.ist_losses_kept` (unknown ids ignored).
    pub fn from_ids<'a>(ids: impl IntoIterator<Item = &'a str>) -> Keep {
        ids.into_iter().fold(Keep::NONE, Keep::with)
    }
}

impl std::fmt::Display for Keep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        if *self == Keep::all() {
            return f.write_str("all");
        }
        f.write_str(&self.ids().collect::<Vec<_>>().join(","))
    }
}

/// The losses a trajectory keeps, from its `extra` ([`KEPT_KEY`]; none for NAT's ATIF).
pub fn kept(trajectory_extra: Option<&Map<String, Value>>) -> Keep {
    let ids = trajectory_extra
        .and_then(|x| x.get(KEPT_KEY))
        .and_then(Value::as_array);
    Keep::from_ids(ids.into_iter().flatten().filter_map(Value::as_str))
}

/// The records of `role` on a step or tool call (its `extra`): every kept loss's part of
/// each event merged, one map per event, in IST order (`convert::fidelity` lays them out).
pub fn records(
    extra: Option<&Map<String, Value>>,
    keep: Keep,
    role: &str,
) -> Vec<Map<String, Value>> {
    let mut out: Vec<Map<String, Value>> = Vec::new();
    let Some(extra) = extra else { return out };
    for loss in keep.ids() {
        let Some(part) = extra.get(loss).and_then(|v| v.get(role)) else {
            continue;
        };
        let list: Vec<&Value> = match part {
            Value::Array(a) => a.iter().collect(),
            other => vec![other],
        };
        if out.len() < list.len() {
            out.resize(list.len(), Map::new());
        }
        for (i, v) in list.into_iter().enumerate() {
            if let Some(m) = v.as_object() {
                out[i].extend(m.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_sets_parse_and_print() {
        assert_eq!(Keep::parse("all").unwrap(), Keep::all());
        assert_eq!(Keep::parse("none").unwrap(), Keep::NONE);
        let k = Keep::parse("prompt-text, event-order").unwrap();
        assert!(k.has("prompt-text") && k.has("event-order") && !k.has("step-uuid"));
        assert_eq!(k.to_string(), "prompt-text,event-order");
        assert_eq!(Keep::parse(&k.to_string()).unwrap(), k);
        assert!(Keep::parse("nope").unwrap_err().contains("prompt-text"));
        assert_eq!(
            Keep::all().without("step-uuid").ids().count(),
            LOSSES.len() - 1
        );
    }

    #[test]
    fn the_command_line_help_lists_every_loss() {
        let main = include_str!("main.rs");
        let help = LOSSES.iter().map(|l| l.id).collect::<Vec<_>>().join(", ");
        let flat: String = main
            .lines()
            .map(|l| l.trim().trim_start_matches("///").trim())
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            flat.contains(&help),
            "main.rs's --keep help should list: {help}"
        );
    }

    #[test]
    fn ids_are_unique() {
        let mut ids: Vec<&str> = LOSSES.iter().map(|l| l.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), LOSSES.len());
    }
}
