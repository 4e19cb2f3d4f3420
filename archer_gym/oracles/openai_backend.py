"""An oracle backend on any OpenAI-compatible chat-completions endpoint: OpenAI, vLLM,
``transformers serve``, or archer-gym's own ``serve-oracle`` server.

* API key: the ``api_key`` argument, else ``$ARCHER_ORACLE_API_KEY``, else ``$OPENAI_API_KEY``, else a
  dummy (local servers ignore it). It is never logged or shown in ``repr``.
* A batch is sent concurrently (a thread pool of ``concurrency`` workers).
* Each attempt has a ``timeout`` (seconds): a deadline for the whole exchange, connect to the reply's last
  byte, that every socket read and write of the attempt waits against (so a server dripping its headers or its
  body a byte at a time is cut off at the deadline, not after one read timeout per byte). Timeouts, connection
  errors, HTTP 408/409/429/5xx and
  malformed replies are retried up to ``max_attempts`` attempts in all, with exponential backoff and
  full jitter, waiting at least ``Retry-After`` when the server sends it; then :class:`OracleError`
  names the endpoint, the last status and the attempts. Other 4xx (bad key, unknown model) fail at
  once. The ``openai`` client's own retries are off (``max_retries=0``) so that ours are the ones
  counted.
"""

from __future__ import annotations

import email.utils
import json
import os
import random
import sys
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

from archer_gym.oracles.llm import Completion, Messages, OracleError

API_KEY_ENV_VARS = ("ARCHER_ORACLE_API_KEY", "OPENAI_API_KEY")
#: Sent when no key is configured: local servers (vLLM, transformers serve, ours) accept anything.
DUMMY_API_KEY = "EMPTY"
RETRY_STATUSES = frozenset({408, 409, 429}) | frozenset(range(500, 600))


def resolve_api_key(api_key: str | None = None) -> str:
    if api_key:
        return api_key
    for var in API_KEY_ENV_VARS:
        if os.environ.get(var):
            return os.environ[var]
    return DUMMY_API_KEY


def retry_after_seconds(headers: Any) -> float | None:
    """Seconds a ``Retry-After`` (or ``retry-after-ms``) header asks to wait, or ``None``."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:  # an HTTP date; anything else (issue 15: "soon" raised a bare ValueError) asks for nothing
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return None if parsed is None else max(0.0, parsed.timestamp() - time.time())
    except (ValueError, TypeError, IndexError, OverflowError):
        return None


#: The calling thread's attempt: ``deadline`` (``time.monotonic()``) by which its whole reply must be in, or None.
_ATTEMPT = threading.local()


def _bounded(timeout: float | None, expired: type[Exception]) -> float | None:
    """A socket operation's timeout cut to what is left of the calling thread's attempt deadline; ``expired`` (the
    connection library's own timeout error, which the HTTP client maps to its timeout) once nothing is left."""
    deadline = getattr(_ATTEMPT, "deadline", None)
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise expired("the attempt's deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream:
    """A network stream of the HTTP client whose reads, writes and TLS handshake each wait at most what is left of
    the attempt's deadline (issue 15, item 11: the client's timeout was per read, so a server dripping its headers
    a byte per 0.1 s held a 0.5 s attempt for 8 s)."""

    def __init__(self, inner: Any, errors: Any):
        self._inner, self._errors = inner, errors

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout, self._errors.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout, self._errors.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None):
        stream = self._inner.start_tls(ssl_context, server_hostname, _bounded(timeout, self._errors.ConnectTimeout))
        return _DeadlineStream(stream, self._errors)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend:
    """The connection pool's network backend, its streams wrapped in :class:`_DeadlineStream`."""

    def __init__(self, inner: Any, errors: Any):
        self._inner, self._errors = inner, errors

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        stream = self._inner.connect_tcp(host, port, _bounded(timeout, self._errors.ConnectTimeout),
                                         local_address, socket_options)
        return _DeadlineStream(stream, self._errors)

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        stream = self._inner.connect_unix_socket(path, _bounded(timeout, self._errors.ConnectTimeout), socket_options)
        return _DeadlineStream(stream, self._errors)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _install_deadline(client: Any) -> bool:
    """Wrap the network backend of every connection pool of ``client`` (an ``openai.OpenAI``) in
    :class:`_DeadlineBackend`; whether any was found. This reaches into the HTTP client's internals
    (``Client._transport`` / ``_mounts`` -> ``HTTPTransport._pool`` -> ``ConnectionPool._network_backend``, the
    same in httpx 0.2x and httpx2), since httpx offers a per-read timeout only."""
    http = getattr(client, "_client", None)
    found = False
    for transport in [getattr(http, "_transport", None), *(getattr(http, "_mounts", None) or {}).values()]:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if backend is None:
            continue
        found = True
        if not isinstance(backend, _DeadlineBackend):
            errors = sys.modules[type(pool).__module__.split(".")[0]]  # httpcore: its timeout errors, mapped by httpx
            pool._network_backend = _DeadlineBackend(backend, errors)
    return found


def _http_errors(client: Any) -> tuple[type[Exception], type[Exception]]:
    """(TimeoutException, TransportError) of the HTTP library under ``client``: what reading a streamed body
    raises, which the ``openai`` client maps to its own errors only while the request is being sent."""
    for cls in type(getattr(client, "_client", None)).__mro__:  # openai's wrapper subclasses httpx.Client
        module = sys.modules.get(cls.__module__.split(".")[0])
        if hasattr(module, "TimeoutException") and hasattr(module, "TransportError"):
            return module.TimeoutException, module.TransportError
    return TimeoutError, OSError


class _DeadlinePassed(Exception):
    """An attempt that has not received its whole reply within ``timeout`` seconds of starting."""


class OpenAIBackend:
    """Chat completions from ``model`` at ``base_url`` (``None``: the ``openai`` client's default,
    i.e. ``$OPENAI_BASE_URL`` or api.openai.com). Greedy by default (``temperature=0``).

    Arguments: ``model``, ``base_url``, ``api_key``, ``timeout`` (s: a deadline for each attempt's whole
    request, connect to the reply's last byte: every socket read and write of the attempt waits at most what is
    left of it, so headers or a body dripping in are cut at the deadline), ``max_attempts``
    (attempts per request, first included), ``backoff_base`` / ``backoff_max`` (s), ``max_retry_after``
    (s: longest ``Retry-After`` honoured), ``concurrency`` (requests in flight per batch),
    ``max_tokens``, ``temperature``, ``seed`` (sent when not ``None``), ``label`` (how errors name the endpoint).

    Worst case for one request before ``OracleError``: ``max_attempts * timeout`` of attempts plus
    ``(max_attempts - 1) * max(backoff_max, max_retry_after)`` of waits; with the defaults 5 * 30 + 4 * 60 =
    390 s, typically far less (a refused connection fails at once). Lower ``oracle_timeout`` and
    ``oracle_max_attempts`` for a tighter bound per env step. (Should the HTTP client's connection pool not be
    found, a warning says so and the deadline is checked between the body's chunks only.)
    """

    name = "openai"

    def __init__(self, model: str, *, base_url: str | None = None, api_key: str | None = None,
                 timeout: float = 30.0, max_attempts: int = 5, backoff_base: float = 0.5,
                 backoff_max: float = 30.0, max_retry_after: float = 60.0, concurrency: int = 8,
                 max_tokens: int = 32, temperature: float = 0.0, seed: int | None = None,
                 label: str = "oracle endpoint"):
        try:
            import openai
        except ImportError as e:  # pragma: no cover - depends on the install
            raise ImportError("oracle='openai' needs the openai client: pip install 'archer-gym[oracles]'") from e
        if not model:
            raise ValueError("oracle='openai' needs oracle_model=<model name the endpoint serves>.")
        if max_attempts < 1 or concurrency < 1:
            raise ValueError(f"max_attempts={max_attempts} and concurrency={concurrency} must be >= 1.")
        self._openai = openai
        self.model = model
        self.timeout = float(timeout)
        self.max_attempts = int(max_attempts)
        self.backoff_base = float(backoff_base)
        self.backoff_max = float(backoff_max)
        self.max_retry_after = float(max_retry_after)
        self.concurrency = int(concurrency)
        self.max_tokens = int(max_tokens)
        self.temperature = float(temperature)
        self.seed = seed
        self.label = label  # how errors name the endpoint: the LLM agent (archer_gym.llm_agent) is not an oracle
        self.client = openai.OpenAI(base_url=base_url, api_key=resolve_api_key(api_key),
                                    timeout=self.timeout, max_retries=0)
        self.endpoint = str(self.client.base_url).rstrip("/")
        if not _install_deadline(self.client):
            warnings.warn("oracle_timeout: this httpx's connection pool was not found, so the timeout bounds each "
                          "socket read and the gaps between the reply's chunks, not the whole attempt", stacklevel=2)
        self._http_timeout, self._http_transport_error = _http_errors(self.client)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._sleep = time.sleep  # tests swap it to record the waits

    def params(self) -> dict[str, Any]:
        return {"max_tokens": self.max_tokens, "temperature": self.temperature, "seed": self.seed}

    def __repr__(self) -> str:
        return f"OpenAIBackend(model={self.model!r}, base_url={self.endpoint!r})"

    # sockets, locks and threads do not pickle: an env holding this oracle pickles its settings.
    def __getstate__(self) -> dict:
        raise TypeError("OpenAIBackend holds a network client and cannot be pickled; build it in each process.")

    def complete(self, prompts: Sequence[Messages]) -> list[Completion]:
        if len(prompts) <= 1 or self.concurrency == 1:
            return [self.complete_one(p) for p in prompts]
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="archer-oracle")
        return list(self._pool.map(self.complete_one, prompts))

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """Full jitter on an exponential cap (attempt 1 -> up to base, 2 -> 2*base, ...), never less
        than the server's ``Retry-After``."""
        delay = random.uniform(0.0, min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1)))
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_retry_after))
        return delay

    def complete_one(self, messages: Messages) -> Completion:
        openai = self._openai
        kwargs: dict[str, Any] = {"model": self.model, "messages": messages, "max_tokens": self.max_tokens,
                                  "temperature": self.temperature}
        if self.seed is not None:
            kwargs["seed"] = self.seed
        status: int | None = None
        detail = ""
        for attempt in range(1, self.max_attempts + 1):
            retry_after = None
            try:
                # One deadline for the whole attempt (issue 15: the client's timeout is per read, so a server
                # dripping its body held a step for 8 s with timeout=1): every socket operation of this thread
                # waits against it (_DeadlineStream), and the body is also checked chunk by chunk.
                deadline = time.monotonic() + self.timeout
                _ATTEMPT.deadline = deadline
                with self.client.chat.completions.with_streaming_response.create(**kwargs) as raw:
                    body = bytearray()
                    try:
                        for chunk in raw.iter_bytes():
                            body += chunk
                            if time.monotonic() > deadline:
                                raise _DeadlinePassed
                    except self._http_timeout:  # raised while reading the body, past the openai client's mapping
                        raise _DeadlinePassed from None
                    except self._http_transport_error as e:
                        raise openai.APIConnectionError(request=raw.http_request) from e
                resp = json.loads(bytes(body))
                choices = resp.get("choices") if isinstance(resp, dict) else None
                text = choices[0]["message"]["content"] if choices else None
                if not isinstance(text, str):
                    raise ValueError(f"no message content in the reply: {bytes(body)[:200]!r}")
                usage = resp.get("usage") or {}
                return Completion(text, int(usage.get("prompt_tokens", 0) or 0),
                                  int(usage.get("completion_tokens", 0) or 0))
            except _DeadlinePassed:
                status, detail = None, f"timed out: no complete reply within {self.timeout:g} s"
            except openai.APIStatusError as e:
                status, detail = e.status_code, str(e.message)[:300]
                if status not in RETRY_STATUSES:
                    raise OracleError(f"{self.label} {self.endpoint} answered HTTP {status} (not retried): "
                                      f"{detail}", endpoint=self.endpoint, status=status, attempts=attempt) from e
                retry_after = retry_after_seconds(e.response.headers)
            except openai.APITimeoutError:
                status, detail = None, f"timed out after {self.timeout:g} s"
            except openai.APIConnectionError as e:
                status, detail = None, f"connection error: {e.__cause__ or e}"
            except (openai.APIResponseValidationError, ValueError, AttributeError, IndexError, KeyError,
                    TypeError) as e:
                # A 200 whose body is not a chat completion (malformed JSON, missing fields).
                status, detail = None, f"malformed reply: {type(e).__name__}: {str(e)[:200]}"
            finally:
                _ATTEMPT.deadline = None
            if attempt < self.max_attempts:
                self._sleep(self._backoff(attempt, retry_after))
        raise OracleError(
            f"{self.label} {self.endpoint} failed after {self.max_attempts} attempts "
            f"(last: {'HTTP ' + str(status) if status else 'no status'}, {detail})",
            endpoint=self.endpoint, status=status, attempts=self.max_attempts,
        )

    def close(self) -> None:
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False)
                self._pool = None
        self.client.close()
