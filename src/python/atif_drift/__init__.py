"""atif-drift from Python: the drift harness, NAT's profiler paths and the converters.

Every function runs the ``atif-drift`` command this package installs (the same binary
``cargo install`` builds), so the API and the command line cannot disagree. A run that fails
(exit code 2: an unreadable input, a bad argument, an item that could not be compared)
raises :class:`AtifDriftError` carrying the exit code and the command's message; a drift
run that finds unexpected drift (exit code 1) is not an error: its report says so.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["AtifDriftError", "binary", "convert", "drift", "profile", "run"]

PathLike = str | os.PathLike[str]


class AtifDriftError(Exception):
    """A run of ``atif-drift`` that failed: its exit code and its message (standard error)."""

    def __init__(self, exit_code: int, message: str, args: Sequence[str]) -> None:
        super().__init__(f"atif-drift exited with {exit_code}: {message.strip()}")
        self.exit_code = exit_code
        self.message = message
        self.command = list(args)


def binary() -> str:
    """The ``atif-drift`` executable: ``$ATIF_DRIFT_BIN``, else the one installed beside this
    Python (the wheel's), else the first on the ``PATH``."""
    env = os.environ.get("ATIF_DRIFT_BIN")
    if env:
        return env
    name = "atif-drift.exe" if sys.platform == "win32" else "atif-drift"
    beside = Path(sysconfig.get_path("scripts")) / name
    if beside.is_file():
        return str(beside)
    found = shutil.which("atif-drift")
    if found:
        return found
    raise AtifDriftError(2, "the atif-drift executable was not found (pip install atif-drift)", [])


def run(args: Sequence[str], ok: Iterable[int] = (0,)) -> subprocess.CompletedProcess[str]:
    """Run ``atif-drift ARGS``; an exit code not in ``ok`` raises :class:`AtifDriftError`."""
    cmd = [binary(), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode not in tuple(ok):
        raise AtifDriftError(done.returncode, done.stderr or done.stdout, cmd)
    return done


def _builder(builders: Sequence[str] | str) -> str:
    chosen = [builders] if isinstance(builders, str) else list(builders)
    if sorted(chosen) == ["faithful", "pr1751"] or chosen == ["both"]:
        return "both"
    if len(chosen) != 1 or chosen[0] not in ("pr1751", "faithful"):
        raise ValueError(f"builders: pr1751, faithful or both, not {builders!r}")
    return chosen[0]


def drift(
    corpus: PathLike | Sequence[PathLike],
    policy: PathLike | None = None,
    builders: Sequence[str] | str = ("pr1751",),
    fmt: str = "json",
    out: PathLike | None = None,
    baseline: PathLike | None = None,
    left: str | None = None,
    right: Sequence[str] | str | None = None,
    cache: PathLike | None = None,
) -> Any:
    """Compare the IST path with the ATIF path(s) on every item of ``corpus``.

    ``policy``: a policy file, ``"builtin"`` (NAT's known ATIF losses) or ``"none"``;
    ``None`` is the built-in policy. ``builders``: ``("pr1751",)``, ``("faithful",)`` or both.
    ``fmt``: ``"json"`` returns the schema-versioned report as a dict; ``"table"``,
    ``"markdown"``, ``"html"`` and ``"junit"`` return the text. ``out``: also write
    report.json, report.md, report.html and junit.xml there. ``baseline``: an earlier JSON
    report to ratchet against. Returns on exit code 0 (no unexpected drift) and 1 (unexpected
    drift); raises :class:`AtifDriftError` on 2.

    Any two paths: ``left`` (default ``"ist"``) and ``right`` (one spec or several, instead of
    ``builders``) take ``ist``, ``atif:pr1751``, ``atif:faithful``, ``stored:SUBDIR`` or
    ``cmd:NAME`` (an external profiler of the policy file); ``cache``: where ``cmd:`` outputs
    are kept between runs.
    """
    corpora = [corpus] if isinstance(corpus, (str, os.PathLike)) else list(corpus)
    args = ["drift", *map(os.fspath, corpora), "--format", fmt]
    if right is None:
        args += ["--builder", _builder(builders)]
    else:
        for spec in [right] if isinstance(right, str) else right:
            args += ["--right", spec]
    if left is not None:
        args += ["--left", left]
    if cache is not None:
        args += ["--cache", os.fspath(cache)]
    if policy is not None:
        args += ["--policy", os.fspath(policy)]
    if out is not None:
        args += ["--out", os.fspath(out), "--force"]
    if baseline is not None:
        args += ["--baseline", os.fspath(baseline)]
    done = run(args, ok=(0, 1))
    return json.loads(done.stdout) if fmt == "json" else done.stdout


def profile(
    trace: PathLike,
    output: PathLike,
    path: str = "ist",
    builder: str = "pr1751",
    config: PathLike | None = None,
    force: bool = False,
) -> Path:
    """Run one profiler path (``"ist"``: NAT 1.9.0's; ``"atif"``: the ATIF-native one with
    ``builder``) on ``trace``, writing NAT's output files to the directory ``output``, which
    is returned. ``config``: the workflow's config.yml (its ``eval.general.profiler``)."""
    args = ["profile", os.fspath(trace), "--path", path, "-o", os.fspath(output)]
    if path == "atif":
        args += ["--builder", builder]
    if config is not None:
        args += ["--config", os.fspath(config)]
    if force:
        args.append("--force")
    run(args)
    return Path(output)


def convert(
    source: PathLike,
    output: PathLike,
    to: str = "atif",
    from_: str | None = None,
    extra: Sequence[str] = (),
) -> Path:
    """Convert ``source`` (IST, ATOF, or with ``to="mooncake"`` also ATIF or telemetry with
    ``from_="telemetry"``) to ATIF or mooncake rows in ``output``, which is returned."""
    args = ["convert", os.fspath(source), "--to", to, "-o", os.fspath(output)]
    if from_ is not None:
        args += ["--from", from_]
    run([*args, *extra])
    return Path(output)
