"""Test HTTP servers on 127.0.0.1 (a free port) that serve one handler class in threads: the life cycle shared by
the stub endpoints of tests/stub_endpoint.py, tests/test_oracle_server.py and tests/test_car_dealer_llm.py;
:class:`ChatStub`, an OpenAI-compatible chat-completions endpoint whose replies a test scripts; and :func:`free_port`
for the tests that start a server of their own (torch.distributed, accelerate, ``transformers serve``)."""

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for a server a test starts, or one it must not reach)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LoopbackServer:
    """Subclasses build their handler class and call ``self.serve(handler)``; use as a context manager."""

    def serve(self, handler) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


class ChatStub(LoopbackServer):
    """``POST /v1/chat/completions`` answered with ``respond(request_body) -> reply text``.

    Every request body and its headers (lower-cased names) are recorded in ``requests`` and ``headers``, answered
    or not. The next ``fail_first`` requests get HTTP ``fail_status`` (503: retried by our clients); a ``status``
    other than 200 answers every request with it. Each request takes ``delay`` seconds; ``max_in_flight`` counts
    the most served at once. ``fail_first`` may be raised between steps to inject faults mid-episode.
    """

    def __init__(self, respond: Callable[[dict], str], *, fail_first: int = 0, fail_status: int = 503,
                 status: int = 200, delay: float = 0.0):
        self.respond, self.fail_first, self.fail_status, self.status, self.delay = (
            respond, fail_first, fail_status, status, delay)
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.in_flight = self.max_in_flight = 0
        self.lock = threading.Lock()
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _reply(self, status, obj):
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    outer.requests.append(req)
                    outer.headers.append({k.lower(): v for k, v in self.headers.items()})
                    outer.in_flight += 1
                    outer.max_in_flight = max(outer.max_in_flight, outer.in_flight)
                    status = outer.fail_status if outer.fail_first > 0 else outer.status
                    outer.fail_first -= 1
                time.sleep(outer.delay)
                with outer.lock:
                    outer.in_flight -= 1
                if status != 200:
                    return self._reply(status, {"error": {"message": "stub fault", "type": "x", "param": None,
                                                          "code": None}})
                self._reply(200, {"id": "x", "object": "chat.completion", "created": 0, "model": req["model"],
                                  "choices": [{"index": 0, "message": {"role": "assistant",
                                                                       "content": outer.respond(req)},
                                               "finish_reason": "stop"}],
                                  "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})

        self.serve(H)
