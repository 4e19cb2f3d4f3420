"""The test session's own settings (tests/conftest.py)."""

import os
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent


def test_torch_runs_on_one_thread_in_this_session():
    """The tiny models cannot keep two threads busy; more threads than free cores made the fast suite 5x slower on
    the shared 2-core machine (issue 15, item 15)."""
    assert torch.get_num_threads() == 1


def test_a_session_asked_for_more_threads_still_runs_torch_on_one():
    """The pin holds whatever the environment asks for: a fresh session with ``OMP_NUM_THREADS=2`` and
    ``MKL_NUM_THREADS=2`` (torch's default is one thread per core, which is what CI and a developer's shell give)
    runs the test above and passes. Without the conftest that session has two threads. The inner session only reads
    the thread count: it computes nothing."""
    env = {**os.environ, "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
         f"{Path(__file__).relative_to(ROOT)}::test_torch_runs_on_one_thread_in_this_session"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "1 passed" in proc.stdout
