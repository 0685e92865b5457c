#!/usr/bin/env python3
"""Regenerate tests/data/validate/invalid/: malformed ATIF cases, each a mutation of a
valid NAT 1.9.0 converter trajectory (valid/nat_converter_sample_request1.json), and
cases.json: for each case the JSON path `atif-drift validate` must name, and Harbor
0.25.0's own verdict (`python -m harbor.utils.trajectory_validator`, see
shared/fixtures/atif/harbor/README.md) when HARBOR_PY points to a Python with harbor.

Usage: HARBOR_PY=/path/to/venv/bin/python python3 make_cases.py
"""
import copy, json, os, subprocess, sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BASE = json.loads((HERE / "valid/nat_converter_sample_request1.json").read_text())

def case(name, path, mutate, note=""):
    t = copy.deepcopy(BASE)
    out = mutate(t)
    return name, path, (t if out is None else out), note

def setp(*keys_and_value):
    *keys, value = keys_and_value
    def f(t):
        node = t
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    return f

def delp(*keys):
    def f(t):
        node = t
        for k in keys[:-1]:
            node = node[k]
        del node[keys[-1]]
    return f

def first_tool_step(t):
    return next(i for i, s in enumerate(t["steps"]) if s.get("tool_calls"))

def llm_step(t):
    return next(i for i, s in enumerate(t["steps"]) if s.get("metrics"))

CASES = [
    case("01_missing_schema_version", "schema_version", delp("schema_version")),
    case("02_unknown_schema_version", "schema_version", setp("schema_version", "ATIF-v2.0")),
    case("03_bare_version_number", "schema_version", setp("schema_version", "1.0")),
    case("04_missing_agent", "agent", delp("agent")),
    case("05_missing_agent_name", "agent.name", delp("agent", "name")),
    case("06_missing_agent_version", "agent.version", delp("agent", "version")),
    case("07_empty_steps", "steps", setp("steps", [])),
    case("08_step_ids_not_sequential", "steps[2].step_id", setp("steps", 2, "step_id", 7)),
    case("09_step_id_string", "steps[0].step_id", setp("steps", 0, "step_id", "1")),
    case("10_bad_timestamp", "steps[1].timestamp", setp("steps", 1, "timestamp", "yesterday at noon")),
    case("11_unknown_source", "steps[0].source", setp("steps", 0, "source", "robot")),
    case("12_metrics_on_user_step", "steps[0].metrics", setp("steps", 0, "metrics", {"prompt_tokens": 1})),
    case("13_negative_prompt_tokens", None, lambda t: t["steps"][llm_step(t)]["metrics"].__setitem__("prompt_tokens", -5)),
    case("14_negative_total_steps", "final_metrics.total_steps", setp("final_metrics", "total_steps", -1)),
    case("15_unexpected_top_level_field", "surprise", setp("surprise", 1)),
    case("16_unexpected_step_field", "steps[1].color", setp("steps", 1, "color", "blue")),
    case("17_tool_call_without_arguments", None, lambda t: (t["steps"][first_tool_step(t)]["tool_calls"][0].pop("arguments"), None)[1]),
    case("18_arguments_not_object", None, lambda t: t["steps"][first_tool_step(t)]["tool_calls"][0].__setitem__("arguments", "x=1")),
    case("19_observation_unknown_call_id", None, lambda t: t["steps"][first_tool_step(t)]["observation"]["results"][0].__setitem__("source_call_id", "call_nobody")),
    case("20_tool_call_without_observation", None, lambda t: (t["steps"][first_tool_step(t)].pop("observation"), None)[1]),
    case("21_message_wrong_type", "steps[0].message", setp("steps", 0, "message", 42)),
    case("22_content_parts_before_v16", "steps[0].message", lambda t: (t.__setitem__("schema_version", "ATIF-v1.5"), t["steps"][0].__setitem__("message", [{"type": "text", "text": "hi"}]))[-1] and None),
    case("23_text_part_without_text", "steps[0].message[0].text", setp("steps", 0, "message", [{"type": "text"}])),
    case("24_image_part_without_source", "steps[0].message[0].source", setp("steps", 0, "message", [{"type": "image"}])),
    case("25_llm_call_count_zero_with_metrics", None, lambda t: t["steps"][llm_step(t)].__setitem__("llm_call_count", 0)),
    case("26_llm_call_count_in_v14", None, lambda t: (t.__setitem__("schema_version", "ATIF-v1.4"), t["steps"][llm_step(t)].__setitem__("llm_call_count", 1))[-1]),
    case("27_session_id_missing_in_v16", "session_id", lambda t: (t.__setitem__("schema_version", "ATIF-v1.6"), t.pop("session_id"))[-1] and None),
    case("28_steps_not_a_list", "steps", setp("steps", {"1": {}})),
    case("29_subagent_without_trajectory_id", "subagent_trajectories[0].trajectory_id", lambda t: t.__setitem__("subagent_trajectories", [copy.deepcopy(BASE)])),
    case("30_reasoning_content_on_user_step", "steps[0].reasoning_content", setp("steps", 0, "reasoning_content", "thinking")),
    case("31_cached_tokens_float", None, lambda t: t["steps"][llm_step(t)]["metrics"].__setitem__("cached_tokens", 1.5)),
    case("32_agent_not_object", "agent", setp("agent", "nat-agent")),
]

def resolve(name, path, t):
    """Cases whose path depends on where the mutation landed."""
    if path is not None:
        return path
    i_tool = first_tool_step(BASE)
    i_llm = llm_step(BASE)
    return {
        "13_negative_prompt_tokens": f"steps[{i_llm}].metrics.prompt_tokens",
        "17_tool_call_without_arguments": f"steps[{i_tool}].tool_calls[0].arguments",
        "18_arguments_not_object": f"steps[{i_tool}].tool_calls[0].arguments",
        "19_observation_unknown_call_id": f"steps[{i_tool}].observation.results[0].source_call_id",
        "20_tool_call_without_observation": f"steps[{i_tool}].tool_calls[0]",
        "25_llm_call_count_zero_with_metrics": f"steps[{i_llm}].metrics",
        "26_llm_call_count_in_v14": f"steps[{i_llm}].llm_call_count",
        "31_cached_tokens_float": f"steps[{i_llm}].metrics.cached_tokens",
    }[name]

# Cases Harbor accepts that `validate` only warns about (valid, with a warning at the path).
WARNINGS = {"20_tool_call_without_observation"}

def harbor_verdict(file):
    py = os.environ.get("HARBOR_PY")
    if not py:
        return None
    r = subprocess.run([py, "-m", "harbor.utils.trajectory_validator", str(file), "--no-validate-images"],
                       capture_output=True, text=True)
    return "accepts" if r.returncode == 0 else "rejects"

def main():
    out = HERE / "invalid"
    out.mkdir(exist_ok=True)
    manifest = {}
    for name, path, t, note in CASES:
        f = out / f"{name}.json"
        f.write_text(json.dumps(t, indent=2) + "\n")
        manifest[name] = {"path": resolve(name, path, t), "harbor": harbor_verdict(f)}
        if name in WARNINGS:
            manifest[name]["severity"] = "warning"
    (out / "cases.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {len(manifest)} cases", file=sys.stderr)

main()
