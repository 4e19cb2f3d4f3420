"""``python -m archer_gym serve-oracle``: an OpenAI-compatible chat-completions server for our oracles.

Every rollout worker points its ``oracle="openai"`` env at one server::

    python -m archer_gym serve-oracle --task twenty_questions --port 8000
    gym.make("archer/TwentyQuestions-v0", oracle="openai", oracle_model="archer-kb-twenty_questions",
             oracle_base_url="http://127.0.0.1:8000/v1")

Endpoints: ``POST /v1/chat/completions``, ``GET /v1/models``, ``GET /health``. The prompt that
:class:`~archer_gym.oracles.openai_backend.OpenAIBackend` sends carries the secret in its system
message (``Secret:``/``Aliases:``/``Task:`` lines) and the question as the last user message; the server
rebuilds the :class:`OracleRequest` (:func:`archer_gym.oracles.llm.parse_messages`) and answers it
with the task's knowledge-base oracle (``--oracle kb``, the default, taken from
``gym.make(id).unwrapped.oracle``) or a local transformers model (``--oracle hf --model DIR``).

Standard library only (``http.server.ThreadingHTTPServer``, with a listen backlog of ``LISTEN_BACKLOG``,
at most ``MAX_WORKERS`` connections served at once (more wait in the backlog), and a deadline of
``REQUEST_TIMEOUT`` seconds to receive each whole request, so a client that stalls or drips its request,
headers or body is dropped whatever it sends, before any API-key check). Bound to 127.0.0.1 unless ``--host``
says otherwise. With ``--api-key`` (or ``$ARCHER_ORACLE_API_KEY``) every request needs
``Authorization: Bearer <key>``. Bad requests get a 4xx with an OpenAI-style JSON error body
(``{"error": {"message", "type", "param", "code"}}``); the server never dies on bad input.
``usage`` in a KB reply counts whitespace-separated words (the KB oracle has no tokenizer).
"""

from __future__ import annotations

import argparse
import hmac
import io
import json
import os
import socket
import sys
import threading
import time
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from archer_gym.oracles.base import Oracle
from archer_gym.oracles.llm import message_text, parse_messages

#: ``--task`` -> the env id whose oracle the server uses.
TASK_IDS: dict[str, str] = {
    "twenty_questions": "archer/TwentyQuestions-v0",
    "guess_my_city": "archer/GuessMyCity-v0",
}
SERVER_API_KEY_ENV_VAR = "ARCHER_ORACLE_API_KEY"
MAX_BODY_BYTES = 1 << 20
#: Issue 15: with the default backlog of 5, 80 of 200 simultaneous clients timed out at 60 s.
LISTEN_BACKLOG = 1024
#: Connections served at once (one thread each); beyond it, connections wait in the backlog.
MAX_WORKERS = 256
#: Seconds a client has to send one whole request (request line, headers, body), and the longest a
#: keep-alive connection may sit idle; a stalled or dripping client is dropped after it (issue 15: a
#: half-sent request held a thread forever).
REQUEST_TIMEOUT = 10.0


class _DeadlineSocketReader(io.RawIOBase):
    """The handler's socket as a raw stream whose reads share one deadline: each ``recv`` waits at most what is
    left of it, so a client dripping a byte at a time is cut off as surely as one that sends nothing."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.deadline: float | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("request deadline passed")
            self.sock.settimeout(left)
        return self.sock.recv_into(buffer)


class _Server(ThreadingHTTPServer):
    request_queue_size = LISTEN_BACKLOG
    daemon_threads = True

    def __init__(self, address, handler, max_workers: int = MAX_WORKERS):
        self._slots = threading.BoundedSemaphore(max_workers)
        super().__init__(address, handler)

    def process_request(self, request, client_address) -> None:
        self._slots.acquire()  # a bounded pool: at most max_workers connections at once
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request, client_address) -> None:
        # A client that went away (reset, broken pipe) or was dropped for stalling is not the server's
        # error: no traceback (issue 15: an early disconnect printed 30 lines).
        err = sys.exc_info()[1]
        if isinstance(err, (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


def kb_oracle_for_task(task: str) -> Oracle:
    """The task's knowledge-base oracle, as its default env builds it."""
    if task not in TASK_IDS:
        raise ValueError(f"task={task!r} has no oracle server; choose one of {sorted(TASK_IDS)}.")
    import gymnasium as gym

    import archer_gym  # noqa: F401  (registers the ids)

    env = gym.make(TASK_IDS[task])
    try:
        oracle = env.unwrapped.oracle
    finally:
        env.close()
    if oracle is None:
        raise RuntimeError(f"{TASK_IDS[task]} has no oracle to serve.")
    return oracle


class _HTTPError(Exception):
    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param = status, message, type, code, param


def _words(text: str) -> int:
    return len(text.split())


class OracleServer:
    """A chat-completions server answering with ``oracle`` for ``task``; ``port=0`` picks a free port.

    ``start()`` serves from a daemon thread (tests, benchmarks) and returns ``self``; ``url`` is the
    ``base_url`` for the openai client; ``close()`` stops it. ``completions_served`` counts answered
    chat completions (what a cache-hit test checks).
    """

    def __init__(self, oracle: Oracle, *, task: str, host: str = "127.0.0.1", port: int = 0,
                 api_key: str | None = None, model_name: str | None = None, verbose: bool = False):
        self.oracle = oracle
        self.task = task
        self.api_key = api_key or None
        self.model_name = model_name or f"archer-kb-{task}"
        self.verbose = verbose
        self.completions_served = 0
        self.errors_served = 0
        self._count_lock = threading.Lock()
        self.httpd = _Server((host, port), _make_handler(self))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> "OracleServer":
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="archer-oracle-server", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def close(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=5)
        self.httpd.server_close()

    def __enter__(self) -> "OracleServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ request handling
    def _count(self, ok: bool) -> None:
        with self._count_lock:
            if ok:
                self.completions_served += 1
            else:
                self.errors_served += 1

    def check_auth(self, header: str | None) -> None:
        if self.api_key is None:
            return
        given = header[7:].strip() if header and header[:7].lower() == "bearer " else ""
        if not hmac.compare_digest(given.encode(), self.api_key.encode()):
            raise _HTTPError(401, "Incorrect or missing API key: send 'Authorization: Bearer <key>'.",
                             code="invalid_api_key")

    def models(self) -> dict:
        return {"object": "list", "data": [{"id": self.model_name, "object": "model", "created": 0,
                                            "owned_by": "archer-gym"}]}

    def chat_completion(self, body: Any) -> dict:
        if not isinstance(body, dict):
            raise _HTTPError(400, "The request body must be a JSON object.")
        if body.get("stream"):
            raise _HTTPError(400, "stream=true is not supported by this server.", param="stream")
        n = body.get("n", 1)
        if n not in (None, 1):
            raise _HTTPError(400, f"n={n!r} is not supported; this server returns one choice.", param="n")
        if "messages" not in body:
            raise _HTTPError(400, "Missing required parameter: 'messages'.", param="messages")
        try:
            request = parse_messages(body["messages"], default_task=self.task)
        except ValueError as e:
            raise _HTTPError(400, f"Invalid 'messages': {e}.", param="messages") from None
        if request.task != self.task:
            raise _HTTPError(400, f"This server answers task {self.task!r}, the prompt is for {request.task!r}.",
                             param="messages")
        try:
            reply = self.oracle.answer_batch([request])[0]
        except (KeyError, ValueError) as e:
            raise _HTTPError(400, f"The {self.task} oracle cannot answer this request: {type(e).__name__}: {e}",
                             param="messages") from None
        except Exception as e:
            raise _HTTPError(500, f"The oracle failed: {type(e).__name__}: {e}", type="server_error") from None
        prompt_words = sum(_words(message_text(m["content"])) for m in body["messages"])
        completion_words = _words(reply)
        model = body.get("model") if isinstance(body.get("model"), str) else self.model_name
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply},
                         "finish_reason": "stop", "logprobs": None}],
            "usage": {"prompt_tokens": prompt_words, "completion_tokens": completion_words,
                      "total_tokens": prompt_words + completion_words},
        }


def _make_handler(server: OracleServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: the openai client pools connections
        disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall
        server_version = "archer-gym-oracle"

        def setup(self) -> None:
            super().setup()
            self._reader = _DeadlineSocketReader(self.connection)
            self.rfile = io.BufferedReader(self._reader)

        def handle_one_request(self) -> None:
            # The deadline covers waiting for the request and reading all of it; answering is not under it.
            self._reader.deadline = time.monotonic() + REQUEST_TIMEOUT
            try:
                super().handle_one_request()
            except (ConnectionError, TimeoutError):  # gone, or dropped for stalling: nothing to answer
                self.close_connection = True

        def _respond_mode(self) -> None:
            self._reader.deadline = None
            self.connection.settimeout(REQUEST_TIMEOUT)  # a client that stops reading the reply is dropped too

        def log_message(self, format: str, *args: Any) -> None:  # never logs headers (the API key)
            if server.verbose:
                sys.stderr.write(f"{self.address_string()} {format % args}\n")

        def _send(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode("utf-8")
            self._respond_mode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)

        def _error(self, e: _HTTPError) -> None:
            server._count(False)
            self._send(e.status, {"error": {"message": e.message, "type": e.type, "param": e.param,
                                            "code": e.code}})

        def _read_json(self) -> Any:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                self.close_connection = True
                raise _HTTPError(411, "Chunked bodies are not supported; send Content-Length.")
            try:
                length = int(self.headers.get("Content-Length", ""))
            except ValueError:
                self.close_connection = True
                raise _HTTPError(411, "A Content-Length header is required.") from None
            if length < 0 or length > MAX_BODY_BYTES:
                self.close_connection = True
                raise _HTTPError(413, f"The body is {length} bytes; the limit is {MAX_BODY_BYTES}.")
            raw = self.rfile.read(length)
            if len(raw) < length:
                raise ConnectionError("the client closed before sending the whole body")
            self._respond_mode()
            try:
                return json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise _HTTPError(400, f"The body is not valid JSON: {e}.") from None
            except RecursionError:  # issue 15: deeply nested JSON under the size limit was a 500
                raise _HTTPError(400, "The body is nested too deeply.") from None

        def _handle(self, method: str) -> None:
            if self.command != "POST" or "Content-Length" not in self.headers:
                self._respond_mode()  # no body to read: the request is complete
            path = self.path.split("?", 1)[0].rstrip("/")
            try:
                routes = {"/v1/chat/completions": "POST", "/chat/completions": "POST", "/v1/models": "GET",
                          "/models": "GET", "/health": "GET"}
                if path not in routes:
                    self.close_connection = True
                    raise _HTTPError(404, f"Unknown path {path!r}; try POST /v1/chat/completions or GET /v1/models.",
                                     code="not_found")
                if routes[path] != method:
                    self.close_connection = True
                    raise _HTTPError(405, f"{method} is not allowed on {path}; use {routes[path]}.")
                if path == "/health":
                    self._send(200, {"status": "ok"})
                    return
                server.check_auth(self.headers.get("Authorization"))
                if method == "GET":
                    self._send(200, server.models())
                    return
                payload = server.chat_completion(self._read_json())
                server._count(True)
                self._send(200, payload)
            except _HTTPError as e:
                self._error(e)
            except (ConnectionError, TimeoutError):  # the client went away or stalled: no one to answer
                raise
            except RecursionError:  # deeply nested messages: the client's input, not a server fault
                self._error(_HTTPError(400, "The request is nested too deeply.", param="messages"))
            except Exception as e:  # the server never dies on bad input
                self.close_connection = True
                self._error(_HTTPError(500, f"Internal error: {type(e).__name__}", type="server_error"))

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PUT(self) -> None:
            self._handle("PUT")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

    return Handler


def _positive_int(value: str) -> int:
    from archer_gym.cli import positive_int
    return positive_int(value)


def _port(value: str) -> int:
    port = int(value)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port (0-65535; 0 picks a free one)")
    return port


def build_parser() -> argparse.ArgumentParser:
    from archer_gym.cli import ArgumentParser

    p = ArgumentParser(
        prog="python -m archer_gym serve-oracle",
        description="Serve a task's oracle as an OpenAI-compatible chat-completions endpoint.",
    )
    p.add_argument("--task", required=True, choices=sorted(TASK_IDS), help="the game whose oracle answers")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default loopback only)")
    p.add_argument("--port", type=_port, default=8000, help="port (0 picks a free one)")
    p.add_argument("--api-key", default=None,
                   help=f"require 'Authorization: Bearer KEY' (default: ${SERVER_API_KEY_ENV_VAR} if set, else none)")
    p.add_argument("--oracle", default="kb", choices=["kb", "hf"],
                   help="kb: the task's knowledge base (default); hf: a local transformers model (--model)")
    p.add_argument("--model", default=None, help="hf: hub name or local folder of the model")
    p.add_argument("--gguf-file", default=None, help="hf: a GGUF file inside --model")
    p.add_argument("--device", default="cpu", help="hf: torch device")
    p.add_argument("--max-new-tokens", type=_positive_int, default=16, help="hf: tokens per answer")
    p.add_argument("--model-name", default=None, help="the id /v1/models reports (default archer-<oracle>-<task>)")
    p.add_argument("--verbose", action="store_true", help="log one line per request to stderr")
    return p


def build_server(args: argparse.Namespace) -> OracleServer:
    if args.oracle == "kb":
        oracle = kb_oracle_for_task(args.task)
    else:
        from archer_gym.oracles.factory import make_oracle
        if not args.model:
            raise SystemExit("--oracle hf needs --model <hub name or local folder>.")
        opts = {"gguf_file": args.gguf_file} if args.gguf_file else {}
        oracle = make_oracle("hf", task=args.task, kb_oracle=None, model=args.model, device=args.device,  # type: ignore[arg-type]
                             max_new_tokens=args.max_new_tokens, cache=None, **opts)
    api_key = args.api_key if args.api_key is not None else os.environ.get(SERVER_API_KEY_ENV_VAR)
    return OracleServer(oracle, task=args.task, host=args.host, port=args.port, api_key=api_key,
                        model_name=args.model_name or f"archer-{args.oracle}-{args.task}", verbose=args.verbose)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.oracle == "hf" and not args.model:
        parser.error("--oracle hf needs --model <hub name or local folder>")
    try:
        server = build_server(args)
    except OSError as e:  # the address is taken, not ours to bind, or the model does not load
        parser.error(f"cannot serve on {args.host}:{args.port}: {e}")
    print(f"serving the {args.oracle} oracle of {args.task} at {server.url} (model {server.model_name!r}"
          f"{', bearer key required' if server.api_key else ''}); Ctrl-C stops", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
