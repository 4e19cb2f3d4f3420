"""A stub OpenAI-compatible chat endpoint on 127.0.0.1 that plays Twenty Questions by a fixed rule, so every figure
of a prompted LLM's evaluation is known by hand: used by tests/test_llm_agent.py (the agent and its CLI) and
tests/test_compare.py (the comparison's prompted reference row)."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler

from tests.loopback import LoopbackServer

#: The stub guesses these in order, one per turn: the target at index j is found with return -j.
WORDS = ["Football", "Dog", "Banana", "Truck", "Pants", "Computer", "Piano", "Chair", "Pen", "Scissors"]


class StubServer(LoopbackServer):
    """Replies to /v1/chat/completions with "Is it a <WORDS[k]>?" where k is the number of assistant messages so far
    (plus a second line the agent must drop). ``fail_first`` requests get HTTP 503 first; ``status`` forces a status."""

    def __init__(self, fail_first: int = 0, status: int = 200, delay: float = 0.02):
        self.requests, self.headers, self.fail_first, self.status, self.delay = [], [], fail_first, status, delay
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
                    fail = outer.fail_first > 0 or outer.status != 200
                    outer.fail_first -= 1
                time.sleep(outer.delay)
                with outer.lock:
                    outer.in_flight -= 1
                if fail:
                    status = 503 if outer.status == 200 else outer.status
                    return self._reply(status, {"error": {"message": "stub fault", "type": "x", "param": None,
                                                          "code": None}})
                k = sum(m["role"] == "assistant" for m in req["messages"])
                text = f"Is it a {WORDS[k % len(WORDS)]}?\nI am reasoning about it."
                self._reply(200, {"id": "x", "object": "chat.completion", "created": 0, "model": req["model"],
                                  "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                               "finish_reason": "stop"}],
                                  "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})

        self.serve(H)
