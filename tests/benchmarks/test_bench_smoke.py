"""The benchmark must not rot: its smoke mode (N=10, one orchestrator) runs and prints its table.
Timings are printed by the benchmark, never asserted here."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def test_benchmark_smoke_run():
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench.py"), "--smoke"],
                          capture_output=True, text=True, cwd=REPO, timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| N flows | orchestrator | mode |" in proc.stdout
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| 10 | argo |")]
    assert {r.split("|")[3].strip() for r in rows} == {"process", "process --jobs 1", "in-process"}
    assert "## `--jobs`" in proc.stdout  # the speed-up of the default --jobs over --jobs 1
    assert "Profile of an N=10 in-process run" in proc.stdout
