#!/usr/bin/env python3
"""Randomised LLM-span dedupe mixes, run through the real NeMo Relay 0.10.4 (our own
held-out scenarios, same format as ../shared/fixtures/relay/out).

Each mix puts 6-16 LLM spans under one or two agent scopes: physical calls observed plainly,
by a hook (exact, non-exact, API hook, with or without usage or a request id) and/or by one
or two gateways, with repeated prompts, shared request ids, missing or different models,
overlapping, touching and disjoint intervals. Relay's suppressed/kept spans and token totals
are recorded in manifest.json; tests/dedupe.rs checks ours against them.

    python random_mixes.py --fixtures ../../../../shared/fixtures/relay   # writes here
Needs nemo-relay==0.10.4 (see the fixtures' requirements.txt).
"""

import argparse
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEEDS = range(1, 13)


def build(seed: int):
    import scenarios as s

    rng = random.Random(seed)
    sc = s.Scenario(f"r{seed:02d}_random_mix", f"random mix, seed {seed}",
                    {"relay_agent_steps": None, "truth_agent_steps": 0, "relay_correct": None})
    s._root(sc, 5000)
    parents = ["agent"]
    if rng.random() < 0.4:
        sc.scope("sub", 1, 4900, parent="agent", scope_type="Agent", name="sub")
        parents.append("sub")
    prompts = ["What is 2+2?", "Name a colour.", "Summarise the notes.", "Pick a tool."]
    models = ["test-model", "test-model", "other-model", None]
    t = 10.0
    n = 0
    calls = rng.randint(3, 7)
    for c in range(calls):
        parent = rng.choice(parents)
        prompt = rng.choice(prompts)
        model = rng.choice(models)
        answer = rng.choice(["4", "Blue.", "Done.", ""])
        p, k = rng.randint(5, 900), rng.randint(1, 60)
        dur = rng.randint(20, 120)
        rid = f"req-{seed}-{c}" if rng.random() < 0.4 else None
        observers = rng.choice([["plain"], ["hook_nx", "gw"], ["hook_exact", "gw"],
                                ["hook", "gw"], ["api", "gw"], ["gw", "gw2"],
                                ["hook_nx", "gw", "api"], ["hook_nx"]])
        for o in observers:
            n += 1
            skew = rng.choice([0.0, 1.0, 2.0, -1.0])
            t0, t1 = t + max(skew, 0), t + dur + rng.choice([0.0, 1.0, 2.0])
            req = s.chat_request(prompt, model=model, system=s.SYSTEM)
            full = s.chat_response(answer, usage=s.usage(p, k) if rng.random() < 0.6 else None)
            if o == "plain":
                sc.llm(f"l{n}", t0, t1, parent=parent, request=req, response=full, model=model)
            elif o in ("gw", "gw2"):
                path = "/v1/chat/completions" if o == "gw" else "/edge/v1/chat/completions"
                sc.llm(f"l{n}", t0, t1, parent=parent, request=req, response=full, model=model,
                       meta_start=s.gateway_meta(request_id=rid, path=path),
                       meta_end=s.gateway_meta(request_id=rid, path=path))
            elif o == "hook_nx":
                summary = {"assistant_content_chars": len(answer), "usage": s.usage(p, k)}
                sc.llm(f"l{n}", t0, t1, parent=parent, request=req, response=summary,
                       name="openrouter", model=model,
                       meta_start=s.hook_meta("pre", exact=False, api_call_id=rid),
                       meta_end=s.hook_meta("post", exact=False, api_call_id=rid))
            elif o == "hook_exact":
                sc.llm(f"l{n}", t0, t1, parent=parent, request=req, response=full, model=model,
                       meta_start=s.hook_meta("pre", exact=True),
                       meta_end=s.hook_meta("post", exact=True))
            elif o == "hook":
                sc.llm(f"l{n}", t0, t1, parent=parent, request=req, response=full,
                       name="openrouter", model=model,
                       meta_start=s.hook_meta("pre"), meta_end=s.hook_meta("post"))
            else:  # api hook
                sc.llm(f"l{n}", t0, t1, parent=parent, request=req, response=full,
                       name="openrouter", model=model,
                       meta_start=s.hook_meta("pre", fidelity_source="agent_api_hooks"),
                       meta_end=s.hook_meta("post", fidelity_source="agent_api_hooks"))
        sc.expect["truth_agent_steps"] += 1
        # Next call: overlapping, touching or after a gap.
        t += rng.choice([dur / 2, dur, dur + 1, dur + 30])
    return sc


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fixtures", default=str(HERE / "../../../../shared/fixtures/relay"))
    ap.add_argument("--child")
    ap.add_argument("--runs", type=int, default=1)
    args, rest = ap.parse_known_args()
    sys.path.insert(0, str(Path(args.fixtures).resolve()))
    import scenarios as s

    fns = []
    for seed in SEEDS:
        f = (lambda seed: lambda: build(seed))(seed)
        f.__name__ = f"r{seed:02d}_random_mix"
        fns.append(f)
    argv = ["--runs", str(args.runs)] + (["--child", args.child] if args.child else []) + rest
    return s.main(fns, HERE, Path(__file__).resolve(), argv)


if __name__ == "__main__":
    sys.exit(main())
