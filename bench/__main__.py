"""``python -m bench``: every benchmark at a small size, one table of figures.

Each benchmark also runs alone with its own options (see its docstring).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHES = [
    ("env throughput", ["bench/env_throughput.py", "--steps", "3000"]),
    ("rollout throughput", ["bench/rollout_throughput.py"]),
    ("webshop search", ["bench/webshop_search.py", "--episodes", "50", "--queries", "1000"]),
    ("oracle server", ["bench/oracle_server.py", "--requests", "500"]),
    ("sample efficiency", ["bench/sample_efficiency.py", "--results", "docs/results"]),  # the committed comparison
    ("micro-batches", ["bench/micro_batch.py", "--repeats", "2", "--sizes", "0", "16"]),
    ("critic quality", ["bench/critic_quality.py", "--states", "30", "--rollouts", "2"]),
]


def main() -> int:
    rows = []
    for name, cmd in BENCHES:
        r = subprocess.run([sys.executable, *cmd], cwd=ROOT, capture_output=True, text=True)
        lines = [l for l in r.stdout.splitlines() if l.strip()] or [f"FAILED (exit {r.returncode}): {r.stderr.strip()[-200:]}"]
        rows += [(name, l.strip()) for l in lines]
    width = max(len(n) for n, _ in rows)
    print(f"{'benchmark':<{width}}  figure")
    print("-" * (width + 2) + "-" * 60)
    for n, l in rows:
        print(f"{n:<{width}}  {l}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
