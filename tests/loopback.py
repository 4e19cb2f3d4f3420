"""A test HTTP server on 127.0.0.1 (a free port) that serves one handler class in threads: the life cycle shared by
the stub endpoints of tests/test_llm_agent.py and tests/test_oracle_server.py."""

import threading
from http.server import ThreadingHTTPServer


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
