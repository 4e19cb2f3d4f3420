"""An LLM as the agent (issue 16, item 1), offline: a stub OpenAI-compatible server on 127.0.0.1 plays by a fixed rule,
so every figure of the summary is known by hand."""

import json
import re

import pytest

pytest.importorskip("openai")

from archer_gym.__main__ import main  # noqa: E402
from archer_gym.evaluation import evaluate_scripted  # noqa: E402
from archer_gym.llm_agent import FORMAT_HINT, AgentConfig, evaluate_openai  # noqa: E402
from tests.stub_endpoint import WORDS, StubServer  # noqa: E402

ENV_ID = "archer/TwentyQuestionsSubset-v0"


def test_llm_agent_summary_matches_the_hand_computed_figures_and_the_scripted_rows(monkeypatch):
    monkeypatch.setenv("STUB_KEY", "sekret-123")
    with StubServer() as server:
        cfg = AgentConfig(model="stub-model", base_url=server.url, api_key_env="STUB_KEY", concurrency=4,
                          max_tokens=20, temperature=0.0)
        summary, eps = evaluate_openai(ENV_ID, cfg, episodes=20, split="eval", seed=0)
    scripted, scripted_eps = evaluate_scripted(ENV_ID, "expert", episodes=20, split="eval", seed=0)
    assert [e.target for e in eps] == [e.target for e in scripted_eps]  # the same episodes as the scripted rows
    assert set(scripted) <= set(summary)  # the same summary, plus what the LLM row records
    assert summary["per_target"] == {w: -float(WORDS.index(w)) for w in summary["per_target"]}
    assert summary["mean_return"] == pytest.approx(sum(-WORDS.index(e.target) for e in eps) / 20)
    assert summary["success_rate"] == 1.0 and summary["policy"] == "openai:stub-model"
    assert summary["sampling"] == {"model": "stub-model", "base_url": server.url, "temperature": 0.0,
                                   "max_tokens": 20, "seed": None, "timeout": 60.0, "max_attempts": 5,
                                   "concurrency": 4}
    assert summary["usage"]["requests"] == len(server.requests) == sum(e.length for e in eps)
    assert "sekret" not in json.dumps(summary)
    assert all(h.get("authorization") == "Bearer sekret-123" for h in server.headers)
    assert server.max_in_flight >= 2  # episodes ran concurrently
    # the prompt is the env's chat rendering with the format hint on the system message; utterances are one line
    first = [r for r in server.requests if len(r["messages"]) == 1]
    assert len(first) == 20 and first[0]["messages"][0]["content"].endswith("\n\n" + FORMAT_HINT)
    assert all(r["temperature"] == 0.0 and r["max_tokens"] == 20 and r["model"] == "stub-model"
               for r in server.requests)
    longest = max(server.requests, key=lambda r: len(r["messages"]))["messages"]
    assert [m["role"] for m in longest[1:]] == ["assistant", "user"] * ((len(longest) - 1) // 2)
    assert longest[1] == {"role": "assistant", "content": "Is it a Football?"}
    assert longest[2] == {"role": "user", "content": "No."}
    assert all(t.action.startswith("Is it a ") and "\n" not in t.action for e in eps for t in e.transitions)


def test_faults_are_retried_as_the_oracle_client_does():
    with StubServer(fail_first=2) as server:
        cfg = AgentConfig(model="m", base_url=server.url, concurrency=1, timeout=5.0)
        summary, eps = evaluate_openai(ENV_ID, cfg, episodes=1, split="eval", seed=0)
    assert summary["success_rate"] == 1.0
    assert len(server.requests) == eps[0].length + 2  # two 503s, retried


def test_cli_prints_the_summary_as_json(capsys):
    with StubServer() as server:
        code = main(["evaluate", ENV_ID, "--policy", "openai", "--model", "stub", "--base-url", server.url,
                     "--episodes", "10", "--split", "eval", "--json", "--concurrency", "3"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["episodes"] == 10 and summary["success_rate"] == 1.0
    assert summary["mean_return"] == pytest.approx(-4.5)  # 10 episodes walk the 10 targets: mean of 0..-9


def test_cli_endpoint_failure_is_one_line(capsys):
    with StubServer(status=401) as server:
        code = main(["evaluate", ENV_ID, "--policy", "openai", "--model", "stub", "--base-url", server.url,
                     "--episodes", "2", "--json"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1
    assert re.search(r"agent endpoint http://127\.0\.0\.1:\d+/v1 answered HTTP 401 \(not retried\)", err), err


@pytest.mark.parametrize("argv, message", [
    ([], "--policy openai needs --model"),
    (["--model", "m", "--api-key-env", "ARCHER_TEST_UNSET_VAR"], "ARCHER_TEST_UNSET_VAR: that environment variable is not set"),
    (["--model", "m", "--timeout", "0"], "--timeout: .*must be a finite number > 0"),
    (["--model", "m", "--temperature", "-1"], "temperature=-1.0 must be >= 0"),
])
def test_cli_bad_input_is_one_line(argv, message, capsys, monkeypatch):
    monkeypatch.delenv("ARCHER_TEST_UNSET_VAR", raising=False)
    with pytest.raises(SystemExit) as e:
        main(["evaluate", ENV_ID, "--policy", "openai", "--base-url", "http://127.0.0.1:9/v1"] + argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and len(err.strip().splitlines()) == 1
    assert re.search(message, err), err
