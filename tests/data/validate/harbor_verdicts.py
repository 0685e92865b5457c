"""Harbor 0.25.0's verdict on every mutant in a directory (N.json), in one process:
{"N": {"verdict": "accepts"|"rejects", "errors": [first three messages]}} on stdout.
Used by `cargo xtask mutants`; image paths are not checked (as --no-validate-images)."""
import json
import sys
from pathlib import Path

from harbor.utils.trajectory_validator import TrajectoryValidator

out = {}
for f in sorted(Path(sys.argv[1]).glob("*.json"), key=lambda p: int(p.stem)):
    v = TrajectoryValidator()
    try:
        ok = v.validate(f, validate_images=False)
        errors = v.get_errors()
    except Exception as e:  # the CLI reports these as failures too
        ok, errors = False, [f"exception: {e}"]
    out[f.stem] = {"verdict": "accepts" if ok else "rejects", "errors": errors[:3]}
json.dump(out, sys.stdout)
