"""The OpenAI-compatible oracle path over real HTTP on loopback, with the real ``openai`` client:
our server answering with a knowledge-base oracle, the openai backend's retries against a fault
injecting server, the cache, and the env-level equivalence kb == openai-through-our-server."""

from __future__ import annotations

import http.client
import json
import threading
import time
from http.server import BaseHTTPRequestHandler

import pytest

pytest.importorskip("openai")

from archer_gym.env import StepResult, TextGameEnv  # noqa: E402
from archer_gym.oracles.base import KnowledgeBaseOracle, OracleRequest  # noqa: E402
from archer_gym.oracles.factory import make_oracle  # noqa: E402
from archer_gym.oracles.llm import LLMOracle, OracleError, build_messages  # noqa: E402
from archer_gym.oracles.openai_backend import OpenAIBackend  # noqa: E402
from archer_gym.oracles.server import OracleServer, build_parser  # noqa: E402
from tests.loopback import LoopbackServer  # noqa: E402

FACTS = {"dog": {"alive", "animal", "pet"}, "banana": {"alive", "food", "yellow"}, "car": {"metal", "wheels"}}


def kb_answer(secret: str, question: str) -> str:
    q = question.lower()
    if secret in q:
        return "Yes."
    return "Yes." if any(f in q for f in FACTS[secret]) else "No."


@pytest.fixture
def kb_server():
    kb = KnowledgeBaseOracle(kb_answer)
    with OracleServer(kb, task="twenty_questions") as server:
        yield server


def openai_oracle(server_url: str, cache, **kw) -> LLMOracle:
    return make_oracle("openai", task="twenty_questions", kb_oracle=None, oracle_model="archer-kb-twenty_questions",
                       oracle_base_url=server_url, oracle_cache=cache, **kw)


QUESTIONS = ["Is it alive?", "Is it an animal?", "Is it food?", "Does it have wheels?", "Is it a dog?",
             "Is it yellow?", "", "What colour is it?"]


def test_openai_oracle_through_our_server_equals_kb_and_cache_replays(kb_server, tmp_path):
    reqs = [OracleRequest("twenty_questions", s, q) for s in FACTS for q in QUESTIONS]
    expected = KnowledgeBaseOracle(kb_answer).answer_batch(reqs)
    oracle = openai_oracle(kb_server.url, tmp_path / "c.sqlite")
    assert oracle.answer_batch(reqs) == expected
    assert kb_server.completions_served == len(reqs) and oracle.usage["requests"] == len(reqs)
    assert oracle.usage["prompt_tokens"] > 0 and oracle.usage["completion_tokens"] == len(reqs)
    # rerun with a fresh client on the same cache file: no request reaches the server
    again = openai_oracle(kb_server.url, tmp_path / "c.sqlite")
    assert again.answer_batch(reqs) == expected
    assert kb_server.completions_served == len(reqs)
    assert again.usage == {"prompt_tokens": 0, "completion_tokens": 0, "requests": 0, "cache_hits": len(reqs)}
    oracle.close(), again.close()


def test_models_endpoint_and_bearer_auth(monkeypatch):
    import openai

    with OracleServer(KnowledgeBaseOracle(kb_answer), task="twenty_questions", api_key="s3cret") as server:
        client = openai.OpenAI(base_url=server.url, api_key="s3cret", max_retries=0)
        assert [m.id for m in client.models.list()] == ["archer-kb-twenty_questions"]
        monkeypatch.setenv("ARCHER_ORACLE_API_KEY", "wrong")
        bad = openai_oracle(server.url, None)
        with pytest.raises(OracleError, match=r"HTTP 401 \(not retried\)") as e:
            bad.answer_batch([OracleRequest("twenty_questions", "dog", "Is it alive?")])
        assert e.value.status == 401 and e.value.attempts == 1 and "wrong" not in str(e.value)
        monkeypatch.setenv("ARCHER_ORACLE_API_KEY", "s3cret")
        good = openai_oracle(server.url, None)
        assert good.answer_batch([OracleRequest("twenty_questions", "dog", "Is it alive?")]) == ["Yes."]
        client.close(), bad.close(), good.close()


def _raw(server: OracleServer, method: str, path: str, body: bytes | None = None, headers=None):
    host, port = server.httpd.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=5)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = json.loads(resp.read())
    conn.close()
    return resp.status, data


def test_server_answers_malformed_requests_with_openai_style_errors(kb_server):
    good = {"model": "m", "messages": build_messages(OracleRequest("twenty_questions", "dog", "Is it alive?"))}
    other_task = {"messages": build_messages(OracleRequest("guess_my_city", "Paris", "Is it big?"))}
    no_secret = {"messages": [{"role": "system", "content": "hi"}, {"role": "user", "content": "q"}]}
    unknown_secret = {"messages": build_messages(OracleRequest("twenty_questions", "zebra", "Is it alive?"))}
    cases = [
        ("POST", "/v1/chat/completions", b"{not json", 400, "not valid JSON"),
        ("POST", "/v1/chat/completions", b"[1, 2]", 400, "JSON object"),
        ("POST", "/v1/chat/completions", b"{}", 400, "Missing required parameter: 'messages'"),
        ("POST", "/v1/chat/completions", json.dumps(no_secret).encode(), 400, "no 'Secret"),
        ("POST", "/v1/chat/completions", json.dumps(other_task).encode(), 400, "answers task 'twenty_questions'"),
        ("POST", "/v1/chat/completions", json.dumps(unknown_secret).encode(), 400, "cannot answer"),
        ("POST", "/v1/chat/completions", json.dumps({**good, "stream": True}).encode(), 400, "stream"),
        ("POST", "/v1/chat/completions", json.dumps({**good, "n": 3}).encode(), 400, "n=3"),
        ("POST", "/v1/nope", b"{}", 404, "Unknown path"),
        ("GET", "/v1/chat/completions", None, 405, "use POST"),
        ("DELETE", "/v1/models", None, 405, "use GET"),
    ]
    for method, path, body, status, message in cases:
        got_status, data = _raw(kb_server, method, path, body, {"Content-Type": "application/json"})
        assert got_status == status, (path, body, data)
        assert set(data["error"]) == {"message", "type", "param", "code"} and message in data["error"]["message"]
    status, data = _raw(kb_server, "POST", "/v1/chat/completions", b"x", {"Content-Length": str(10**9)})
    assert status == 413
    # still alive and correct after all that
    status, data = _raw(kb_server, "POST", "/v1/chat/completions", json.dumps(good).encode())
    assert status == 200 and data["choices"][0]["message"]["content"] == "Yes."
    assert data["usage"]["completion_tokens"] == 1 and data["object"] == "chat.completion"
    assert _raw(kb_server, "GET", "/health") == (200, {"status": "ok"})


# --------------------------------------------------------------------------- fault injection
class FaultServer(LoopbackServer):
    """A stdlib server that misbehaves by ``mode``: "500", "429" (Retry-After: 1 twice, then ok),
    "hang" (sleeps past the client's timeout), "malformed" (200 with broken JSON), "400"."""

    def __init__(self, mode: str):
        self.mode, self.hits, self.retry_after = mode, 0, "soon"
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _reply(self, status, body: bytes, headers=()):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                outer.hits += 1
                err = json.dumps({"error": {"message": "injected", "type": "x", "param": None, "code": None}}).encode()
                if outer.mode == "500":
                    self._reply(500, err)
                elif outer.mode == "400":
                    self._reply(400, err)
                elif outer.mode == "429" and outer.hits <= 2:
                    self._reply(429, err, [("Retry-After", "1")])
                elif outer.mode == "hang":
                    time.sleep(1.5)
                    self._reply(500, err)
                elif outer.mode == "429-garbage" and outer.hits <= 1:
                    self._reply(429, err, [("Retry-After", outer.retry_after)])
                elif outer.mode == "drip":  # a valid reply, one byte every 0.1 s
                    ok = json.dumps({"choices": [{"message": {"role": "assistant", "content": "Yes."}}]}).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(ok)))
                    self.end_headers()
                    try:
                        for i in range(len(ok)):
                            self.wfile.write(ok[i:i + 1])
                            self.wfile.flush()
                            time.sleep(0.1)
                    except OSError:
                        pass
                elif outer.mode == "header-drip":  # the status line, then a header byte every 0.1 s
                    try:
                        self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                        for _ in range(60):
                            self.wfile.write(b"X")
                            self.wfile.flush()
                            time.sleep(0.1)
                    except OSError:
                        pass
                    self.close_connection = True
                elif outer.mode == "body-stall":  # headers and the start of the body, then silence
                    ok = json.dumps({"choices": [{"message": {"role": "assistant", "content": "Yes."}}]}).encode()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(ok)))
                    self.end_headers()
                    self.wfile.write(ok[:10])
                    self.wfile.flush()
                    time.sleep(2.0)
                    self.close_connection = True
                elif outer.mode == "malformed":
                    self._reply(200, b'{"choices": [{"message": ')
                else:
                    ok = {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                          "choices": [{"index": 0, "message": {"role": "assistant", "content": "Yes, it is."},
                                       "finish_reason": "stop"}],
                          "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}}
                    self._reply(200, json.dumps(ok).encode())

        self.serve(H)


def _fault_oracle(server: FaultServer, cache, **kw) -> tuple[LLMOracle, list[float]]:
    oracle = make_oracle("openai", task="twenty_questions", kb_oracle=None, oracle_model="m",
                         oracle_base_url=server.url, oracle_cache=cache, oracle_backoff_base=0.01, **kw)
    sleeps: list[float] = []
    oracle.backend._sleep = lambda s: sleeps.append(s)  # record the backoff instead of waiting
    return oracle, sleeps


REQ = OracleRequest("twenty_questions", "dog", "Is it alive?")


@pytest.mark.parametrize("mode, status, detail", [("500", 500, "HTTP 500"), ("malformed", None, "malformed reply"),
                                                  ("hang", None, "timed out")])
def test_faults_are_retried_then_raise_a_clear_error_and_cache_nothing(mode, status, detail, tmp_path):
    with FaultServer(mode) as server:
        oracle, sleeps = _fault_oracle(server, tmp_path / "c.sqlite", oracle_max_attempts=3, oracle_timeout=0.3)
        with pytest.raises(OracleError) as e:
            oracle.answer_batch([REQ])
        assert server.hits == 3 and len(sleeps) == 2
        assert e.value.status == status and e.value.attempts == 3 and e.value.endpoint == server.url
        assert f"oracle endpoint {server.url} failed after 3 attempts" in str(e.value) and detail in str(e.value)
        assert len(oracle.cache) == 0 and oracle.usage["requests"] == 0
        oracle.close()


def test_client_errors_are_not_retried(tmp_path):
    with FaultServer("400") as server:
        oracle, sleeps = _fault_oracle(server, None)
        with pytest.raises(OracleError, match="HTTP 400"):
            oracle.answer_batch([REQ])
        assert server.hits == 1 and sleeps == []
        oracle.close()


def test_429_waits_retry_after_then_succeeds_and_caches(tmp_path):
    with FaultServer("429") as server:
        oracle, sleeps = _fault_oracle(server, tmp_path / "c.sqlite", oracle_max_attempts=4)
        assert oracle.answer_batch([REQ]) == ["Yes."]
        assert server.hits == 3 and len(sleeps) == 2 and all(s >= 1.0 for s in sleeps)
        assert len(oracle.cache) == 1 and oracle.usage["prompt_tokens"] == 5
        oracle.close()


def test_backoff_grows_with_jitter():
    b = OpenAIBackend("m", base_url="http://127.0.0.1:9/v1", backoff_base=1.0, backoff_max=4.0)
    for attempt, cap in [(1, 1.0), (2, 2.0), (3, 4.0), (6, 4.0)]:
        delays = [b._backoff(attempt, None) for _ in range(50)]
        assert all(0 <= d <= cap for d in delays) and len(set(delays)) > 1
    assert b._backoff(1, 3.0) >= 3.0 and b._backoff(1, 1e6) <= 60.0
    b.close()


# --------------------------------------------------------------------------- env level
class MiniTwentyQuestions(TextGameEnv):
    """A three-word Twenty Questions wired as the real tasks are: ``oracle`` is a backend name, the
    ``_make_oracle`` hook forwards the ``oracle_*`` kwargs to :func:`make_oracle`."""

    all_targets = tuple(FACTS)

    def __init__(self, oracle="kb", max_turns=6, **kwargs):
        oracle_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k.startswith("oracle_")}
        super().__init__(max_turns=max_turns, **kwargs)
        self.oracle = self._make_oracle(oracle, **oracle_kwargs)

    def _make_oracle(self, name, **kwargs):
        return make_oracle(name, task="twenty_questions", kb_oracle=KnowledgeBaseOracle(kb_answer), **kwargs)

    def instruction(self):
        return "Guess the object with yes/no questions."

    def _request(self, action):
        return OracleRequest("twenty_questions", self.target, action,
                             history=tuple(zip(self._history[::2], self._history[1::2])))

    def _apply(self, action, reply):
        won = self.target in action.lower()
        return StepResult(reward=0.0 if won else -1.0, terminated=won, success=won, reply=reply,
                          history_lines=[action, reply])


def _play(env, seed):
    obs, _ = env.reset(seed=seed)
    trace = [obs]
    for q in ["Is it alive?", "Is it food?", "Is it an animal?", "Is it a banana?", "Is it a dog?", "Is it a car?"]:
        obs, r, term, trunc, info = env.step(q)
        trace.append((obs, r, term, trunc, info))
        if term or trunc:
            break
    return trace


def test_mini_env_with_openai_oracle_through_our_server_equals_kb(kb_server, tmp_path):
    kb_env = MiniTwentyQuestions()
    llm_env = MiniTwentyQuestions(oracle="openai", oracle_model="archer-kb-twenty_questions",
                                  oracle_base_url=kb_server.url, oracle_cache=tmp_path / "c.sqlite")
    for seed in range(4):
        assert _play(llm_env, seed) == _play(kb_env, seed)
    assert kb_server.completions_served > 0
    llm_env.oracle.close()


TQ_QUESTIONS = ["Is it alive?", "Is it an animal?", "Is it a food?", "Is it bigger than a breadbox?",
                "What is it made of?", "Is it a dog?", "Is it a banana?", "Is it used in sports?", "Is it a football?"]


def _play_questions(env, seed):
    obs, info = env.reset(seed=seed)
    trace = [obs]
    for q in TQ_QUESTIONS:
        step = env.step(q)
        trace.append(step)
        if step[2] or step[3]:
            break
    return trace


def test_twenty_questions_env_with_openai_oracle_equals_kb(tmp_path):
    pytest.importorskip("tasks.twenty_questions.env")
    import gymnasium as gym

    import archer_gym  # noqa: F401
    from archer_gym.oracles.server import kb_oracle_for_task

    with OracleServer(kb_oracle_for_task("twenty_questions"), task="twenty_questions") as server:
        kb_env = gym.make("archer/TwentyQuestionsSubset-v0")
        # the env takes an Oracle object; the oracle_* kwargs path is tested below once the env forwards them
        llm_env = gym.make("archer/TwentyQuestionsSubset-v0", oracle=openai_oracle(server.url, tmp_path / "c.sqlite"))
        for seed in range(4):
            assert _play_questions(llm_env, seed) == _play_questions(kb_env, seed)
        served = server.completions_served
        assert served > 0
        for seed in range(4):  # replay: every answer from the cache, no request reaches the server
            _play_questions(llm_env, seed)
        assert server.completions_served == served
        llm_env.unwrapped.oracle.close()


@pytest.mark.parametrize("env_id", ["archer/TwentyQuestionsSubset-v0"])
def test_twenty_questions_env_forwards_oracle_kwargs(tmp_path, env_id):
    import gymnasium as gym

    from archer_gym.oracles.server import kb_oracle_for_task

    with OracleServer(kb_oracle_for_task("twenty_questions"), task="twenty_questions") as server:
        env = gym.make(env_id, oracle="openai", oracle_model="archer-kb-twenty_questions",
                       oracle_base_url=server.url, oracle_cache=tmp_path / "c.sqlite")
        assert _play_questions(env, 0) == _play_questions(gym.make(env_id), 0)
        assert server.completions_served > 0
        env.unwrapped.oracle.close()


def test_cli_parser():
    args = build_parser().parse_args(["--task", "twenty_questions", "--port", "0"])
    assert (args.task, args.host, args.port, args.oracle) == ("twenty_questions", "127.0.0.1", 0, "kb")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--task", "chess"])


# ----------------------------------------------------------------- crowded and hostile clients (issue 15, items 6-8)
def _sock(server):
    import socket
    host, port = server.httpd.server_address[:2]
    return socket.create_connection((host, port), timeout=5)


@pytest.mark.parametrize("sent", [
    b"",                                                         # connects, sends nothing
    b"POST /v1/chat/completions HTTP/1.1\r\n",                  # the request line only
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n",  # headers, no body
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{\"mod",  # half a body
    "drip",                                                      # a header byte every 0.1 s, forever
])
def test_stalled_clients_are_dropped_after_the_request_timeout_even_with_an_api_key(monkeypatch, sent):
    import archer_gym.oracles.server as server_mod
    monkeypatch.setattr(server_mod, "REQUEST_TIMEOUT", 0.5)
    with OracleServer(KnowledgeBaseOracle(kb_answer), task="twenty_questions", api_key="k") as server:
        s = _sock(server)
        t0 = time.monotonic()
        closed = False
        if sent == "drip":
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\n")
            s.settimeout(0.1)
            while time.monotonic() - t0 < 4 and not closed:
                try:
                    s.sendall(b"X")
                    closed = s.recv(1) == b""
                except OSError as e:  # reset once dropped, or the 0.1 s read timeout while still held
                    closed = not isinstance(e, TimeoutError)
        else:
            s.sendall(sent)
            try:  # the server may answer first (a 401 for a request without the key); it must then close
                while s.recv(4096):
                    pass
                closed = True
            except ConnectionError:
                closed = True
            except TimeoutError:
                closed = False
        s.close()
        assert closed and time.monotonic() - t0 < 4  # held until the 5 s socket timeout before the fix


def test_deeply_nested_json_is_a_400(kb_server):
    for body in ("[" * 100_000 + "]" * 100_000, '{"messages": ' + "[" * 100_000 + "]" * 100_000 + "}"):
        conn = http.client.HTTPConnection(*kb_server.httpd.server_address[:2], timeout=10)
        conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        assert resp.status == 400, resp.read()
        assert "nested" in json.loads(resp.read())["error"]["message"]
        conn.close()


def test_two_hundred_simultaneous_connects_are_all_accepted_at_once(kb_server):
    """With the default listen backlog of 5, connects beyond it waited for a SYN retransmit (1 s and more)."""
    import socket
    host, port = kb_server.httpd.server_address[:2]
    barrier, failures, socks = threading.Barrier(200), [], []

    def connect():
        barrier.wait()
        try:
            socks.append(socket.create_connection((host, port), timeout=0.9))
        except OSError as e:
            failures.append(e)

    threads = [threading.Thread(target=connect) for _ in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in socks:
        s.close()
    assert not failures


def test_a_client_that_disconnects_early_leaves_no_traceback(capfd):
    import socket
    import struct
    body = json.dumps({"model": "m", "messages": build_messages(OracleRequest("twenty_questions", "cat", "Is it alive?"))})
    with OracleServer(KnowledgeBaseOracle(kb_answer), task="twenty_questions") as server:
        for _ in range(30):
            s = _sock(server)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = reset
            s.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                      + body.encode()[: len(body) // 2])
            s.close()
        time.sleep(0.3)
        # still serving
        conn = http.client.HTTPConnection(*server.httpd.server_address[:2], timeout=5)
        conn.request("GET", "/health")
        assert conn.getresponse().status == 200
    assert "Traceback" not in capfd.readouterr().err


def test_a_client_that_leaves_before_its_reply_leaves_no_traceback(capfd):
    """Issue 15, item 8 names a BrokenPipeError: a client that sends its whole request and closes before the reply
    arrives makes the server's write fail, not its read (the test above resets mid-body). The old server printed a
    traceback per client, and tried to send a 500 to the closed connection on top."""

    class SlowLongReply:  # the client is gone before the reply is written, and the reply takes several writes
        def answer_batch(self, requests):
            time.sleep(0.2)
            return ["No. " * 20_000 for _ in requests]

    body = json.dumps({"model": "m", "messages": build_messages(OracleRequest("twenty_questions", "cat", "Is it alive?"))})
    with OracleServer(SlowLongReply(), task="twenty_questions") as server:
        for _ in range(10):
            s = _sock(server)
            s.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n{body}"
                      .encode())
            s.close()
        time.sleep(1.5)  # every handler has tried to write its reply
        conn = http.client.HTTPConnection(*server.httpd.server_address[:2], timeout=5)
        conn.request("GET", "/health")
        assert conn.getresponse().status == 200  # still serving
        assert server.errors_served == 0  # no 500 was attempted for a client that left
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize("value", ["soon", "", "Mon, 99 Foo 2026", "1e999999", "-", "Tue, 01 Jan 1 00:00:00 GMT"])
def test_unparseable_retry_after_is_retried_like_any_429(value, tmp_path):
    """Issue 15, item 11: a Retry-After that is neither seconds nor an HTTP date raised a bare ValueError."""
    with FaultServer("429-garbage") as server:
        server.retry_after = value
        oracle, sleeps = _fault_oracle(server, None, oracle_max_attempts=3)
        assert oracle.answer_batch([REQ]) == ["Yes."]
        assert server.hits == 2 and len(sleeps) == 1 and sleeps[0] <= 60.0
        oracle.close()


def test_timeout_is_a_deadline_for_the_whole_reply_not_per_read(tmp_path):
    """A server dripping a valid reply a byte per 0.1 s (each read well within the timeout) is cut off."""
    with FaultServer("drip") as server:
        oracle, sleeps = _fault_oracle(server, None, oracle_max_attempts=2, oracle_timeout=0.5)
        t0 = time.monotonic()
        with pytest.raises(OracleError, match="timed out"):
            oracle.answer_batch([REQ])
        assert time.monotonic() - t0 < 3.0  # two attempts of 0.5 s (+ a read); the drip alone takes ~6 s each
        oracle.close()


def test_timeout_is_a_deadline_even_for_a_server_dripping_its_headers(tmp_path):
    """The deadline covers the whole attempt, headers included: the fix above checked it between the body's chunks
    only, so a server dripping its header lines a byte per 0.1 s held each 0.5 s attempt for 8 s (the client's
    read timeout is per read)."""
    with FaultServer("header-drip") as server:
        oracle, sleeps = _fault_oracle(server, None, oracle_max_attempts=2, oracle_timeout=0.5)
        t0 = time.monotonic()
        with pytest.raises(OracleError, match="timed out"):
            oracle.answer_batch([REQ])
        assert time.monotonic() - t0 < 3.0 and server.hits == 2  # two attempts of 0.5 s; the drip takes 6 s each
        oracle.close()


def test_a_reply_that_stops_mid_body_is_retried_then_an_oracle_error(tmp_path):
    """A server that sends its headers and part of the body, then nothing: like any timeout it is retried and ends
    in an OracleError. Reading the body chunk by chunk (8a766e9) let the HTTP library's own ReadTimeout out bare,
    after one attempt."""
    with FaultServer("body-stall") as server:
        oracle, sleeps = _fault_oracle(server, None, oracle_max_attempts=2, oracle_timeout=0.5)
        with pytest.raises(OracleError, match="timed out"):
            oracle.answer_batch([REQ])
        assert server.hits == 2 and len(sleeps) == 1
        oracle.close()
