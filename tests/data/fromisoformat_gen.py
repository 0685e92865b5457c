"""Python 3.11's datetime.fromisoformat verdicts on generated strings, for
tests/validate.rs (our validator follows Harbor, which checks timestamps with it).

    python3.11 tests/data/fromisoformat_gen.py > tests/data/fromisoformat.json
"""
import json
import random
import sys
from datetime import datetime

assert sys.version_info[:2] == (3, 11), "the verdicts are Python 3.11's"

rng = random.Random(20261202)
dates = ["2026-01-02", "20260102", "2026-W01", "2026W01", "2026-W01-3", "2026W013", "2026-W53-1",
         "2020-W53-7", "2026-02-29", "2024-02-29", "0000-01-01", "0001-01-01", "9999-12-31",
         "2026-13-01", "2026-00-10", "2026-1-02", "2026-01-2", "2026/01/02", "2026-01", "2026-W00-1",
         "2026-W01-8", "2026-W01-0", "9999-W52-7", "0001-W01-1", "2026-W1", "26-01-02"]
seps = ["T", "t", " ", "_", "X", "é", "\u2003", "--", "", "1"]
times = ["12", "12:30", "12:30:45", "123045", "1230", "12:30:45.5", "12:30:45.123456",
         "12:30:45.1234567", "12:30:45.123456789012", "12:30:45,5", "12:00.5", "12.5", "24:00",
         "23:59:60", "12:60", "1:30", "12:30:45.", "12:3045", "1230:45", "12:30:45:5", "12:30:45x",
         "", "12:30:45.12a", "99", "12:30:45.-1"]
zones = ["", "Z", "z", "+00:00", "-05:00", "+0530", "+05", "+05:30:15", "+05:30:15.123",
         "+24:00", "+23:59", "-23:59:59.999999", "+05:99", "Z+01:00", "+5", "+05:3", "UTC", "+05:30Z",
         "-00:00", "+99:00"]

def verdict(s):
    try:
        datetime.fromisoformat(s)
        return True
    except (ValueError, TypeError):
        return False

cases = set()
for d in dates:
    cases.add(d)
    for sep in seps:
        for t in times:
            for z in zones:
                if rng.random() < 0.12:
                    cases.add(d + sep + t + z)
for _ in range(3000):
    s = rng.choice(dates) + rng.choice(seps) + rng.choice(times) + rng.choice(zones)
    # Random single-character edits.
    for _ in range(rng.randint(0, 2)):
        if not s:
            break
        i = rng.randrange(len(s))
        op = rng.random()
        c = rng.choice("0123456789-:+.TZW ,z")
        s = s[:i] + c + s[i + 1:] if op < 0.4 else (s[:i] + s[i + 1:] if op < 0.7 else s[:i] + c + s[i:])
    cases.add(s)
out = [{"s": s, "ok": verdict(s)} for s in sorted(cases)]
json.dump(out, sys.stdout, ensure_ascii=False, indent=0)
sys.stdout.write("\n")
