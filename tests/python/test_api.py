"""The Python wheel, installed in a fresh venv: the API and the pytest helper on the bundled
corpus (it passes) and on a copy with a fault injected into its ATIF (the helper's assertion
names the pattern). Run by `cargo xtask wheel --test` (CI), never by `cargo test`."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

import atif_drift
from atif_drift.pytest import assert_no_unexpected_drift, unexpected_patterns

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "corpus"


def test_the_command_comes_with_the_wheel() -> None:
    exe = Path(atif_drift.binary())
    assert exe.is_file() and "site-packages" not in str(exe)
    done = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True)
    assert done.stdout.startswith("atif-drift ")


def test_the_bundled_corpus_passes() -> None:
    report = assert_no_unexpected_drift(CORPUS, builders=("pr1751", "faithful"))
    assert report["schema"] == "atif-drift/drift-report/v1"
    assert len(report["items"]) == 20
    assert unexpected_patterns(report) == []


def test_a_fault_in_the_atif_fails_naming_its_pattern(tmp_path: Path) -> None:
    item = tmp_path / "react_calculator"
    shutil.copytree(CORPUS / "react_calculator", item)
    path = item / "nat_atif.json"
    trajectories = json.loads(path.read_text())
    for t in trajectories:
        for step in t["steps"]:
            if step.get("metrics"):
                step["metrics"]["completion_tokens"] *= 10
    path.write_text(json.dumps(trajectories))
    with pytest.raises(AssertionError) as failed:
        assert_no_unexpected_drift(item)
    message = str(failed.value)
    assert "unexpected drift patterns" in message
    # The changed counts reach the replay rows and the prediction trie, each named.
    assert "mooncake.jsonl:rows.*.output_length: 30 values (not expected)" in message, message
    assert "ist 29 → atif:pr1751 290" in message, message
    # The API returns the failing report (exit code 1 is not an error).
    report = atif_drift.drift(item)
    assert unexpected_patterns(report)


def test_any_two_paths_name_their_sides() -> None:
    report = atif_drift.drift(CORPUS / "react_calculator", left="stored:.", right="ist", policy="none")
    [item] = report["items"]
    assert (item["left"], item["right"]) == ("stored:.", "ist")
    assert sum(o["differing"] for o in item["outputs"]) == 0
    assert len(item["outputs"]) == 5


def test_an_error_raises_with_the_exit_code(tmp_path: Path) -> None:
    with pytest.raises(atif_drift.AtifDriftError) as failed:
        atif_drift.drift(tmp_path)
    assert failed.value.exit_code == 2
    assert "no item" in failed.value.message or "item" in failed.value.message


def test_profile_and_convert(tmp_path: Path) -> None:
    trace = CORPUS / "sample" / "all_requests_profiler_traces.json"
    out = atif_drift.profile(trace, tmp_path / "profile")
    assert (out / "standardized_data_all.csv").is_file()
    assert (out / "inference_optimization.json").is_file()
    atif = atif_drift.convert(trace, tmp_path / "atif.json")
    assert json.loads(atif.read_text())
    rows = atif_drift.convert(trace, tmp_path / "rows.jsonl", to="mooncake")
    assert rows.read_text().count("\n") > 0


def test_other_formats_return_text(tmp_path: Path) -> None:
    xml = atif_drift.drift(CORPUS / "sample", fmt="junit")
    assert xml.startswith("<?xml")
    atif_drift.drift(CORPUS / "sample", out=tmp_path / "report")
    assert sorted(p.name for p in (tmp_path / "report").iterdir()) == [
        "junit.xml",
        "report.html",
        "report.json",
        "report.md",
    ]


def test_the_pytest_recipe_passes_on_the_bundled_corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    (tmp_path / "eval_output").symlink_to(CORPUS)
    monkeypatch.chdir(tmp_path)
    spec = importlib.util.spec_from_file_location("recipe", ROOT / "tests" / "recipes" / "pytest-gate.py")
    assert spec and spec.loader
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    recipe.test_eval_output_has_no_unexpected_drift()
