"""A pytest helper: fail a test when a corpus drifts where the policy does not expect it.

    from atif_drift.pytest import assert_no_unexpected_drift

    def test_our_exporter_keeps_nat_profiles():
        assert_no_unexpected_drift("eval_output/")
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from . import PathLike, drift


def _change(c: dict[str, Any], left: str, right: str) -> str:
    """A difference as the terminal report shows it, both sides named by their path specs."""
    show = lambda v: json.dumps(v)[:120]  # noqa: E731
    match c.get("kind"):
        case "value" | "type":
            return f"{left} {show(c['left'])} → {right} {show(c['right'])}"
        case "only_left":
            return f"{left} only: {show(c['value'])}"
        case "only_right":
            return f"{right} only: {show(c['value'])}"
    return show(c)


def unexpected_patterns(report: dict[str, Any]) -> list[str]:
    """Each unexpected pattern of a JSON report: ``item [left vs right] file:pattern: N values
    (…)``."""
    lines = []
    for item in report.get("items", []):
        left = item.get("left", "ist")
        right = item.get("right") or f"atif:{item.get('builder')}"
        for output in item.get("outputs", []):
            for p in output.get("patterns", []):
                unexpected = p.get("exceeded") is not None or (
                    p.get("expected") is None and p.get("within_threshold") is None
                )
                if not unexpected:
                    continue
                why = f"bound exceeded: {p['exceeded']}" if p.get("exceeded") else "not expected"
                lines.append(
                    f"{item['item']} [{left} vs {right}] {p['pattern']}: {p['values']} values "
                    f"({why}), e.g. {p['example_path']}: {_change(p['example'], left, right)}"
                )
    return lines


def assert_no_unexpected_drift(
    corpus: PathLike | Sequence[PathLike],
    policy: PathLike | None = None,
    builders: Sequence[str] | str = ("pr1751",),
) -> dict[str, Any]:
    """Run the drift on ``corpus`` and fail (``AssertionError``) listing every unexpected
    pattern; return the report when it passes. An item or file that cannot be compared
    raises ``AtifDriftError`` (exit code 2) with the command's message."""
    report = drift(corpus, policy=policy, builders=builders)
    found = unexpected_patterns(report)
    if found:
        lines = [f"{len(found)} unexpected drift patterns:"]
        lines += [f"  {line}" for line in found]
        raise AssertionError("\n".join(lines))
    return report
