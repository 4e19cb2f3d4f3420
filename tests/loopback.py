"""A test HTTP server on 127.0.0.1 (a free port) that serves one handler class in threads: the life cycle shared by
the stub endpoints of tests/stub_endpoint.py and tests/test_oracle_server.py; and :func:`free_port` for the tests
that start a server of their own (torch.distributed, accelerate, ``transformers serve``)."""

import socket
import threading
from http.server import ThreadingHTTPServer


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
