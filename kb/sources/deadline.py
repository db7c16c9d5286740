"""A total deadline for each HTTP request, enforced on every socket read and write.

httpx times out per read, so a server that sends one byte a second (in its headers or its body) is never cut off.
This transport wraps httpcore's network backend: each read, write and connect gets the time left before the
request's deadline as its timeout, and none once it has passed, so the request ends as a timeout at the deadline.
The deadline is per thread, set by `request_deadline` around one request.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Any, Iterable, Iterator

import httpcore
import httpx

_local = threading.local()


class DeadlinePassed(httpcore.ReadTimeout):
    """The request's total deadline passed (httpx reports it as a ReadTimeout)."""


def _bounded(timeout: float | None) -> float | None:
    end = getattr(_local, "deadline", None)
    if end is None:
        return timeout
    left = end - time.monotonic()
    if left <= 0:
        raise DeadlinePassed("the request's total deadline passed")
    return left if timeout is None else min(timeout, left)


@contextmanager
def request_deadline(seconds: float) -> Iterator[float]:
    """Within the block, this thread's requests through a deadline transport end `seconds` from now."""
    end = time.monotonic() + seconds
    _local.deadline = end
    try:
        yield end
    finally:
        _local.deadline = None


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, _bounded(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        return _Stream(self._inner.connect_tcp(host, port, _bounded(timeout), local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        return _Stream(self._inner.connect_unix_socket(path, _bounded(timeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def deadline_transport(**kwargs: Any) -> httpx.HTTPTransport:
    """An httpx transport whose connections obey `request_deadline`. httpx offers no public hook for the network
    backend, so the pool's is wrapped; should a later httpx move it, requests keep their per-read timeout only."""
    transport = httpx.HTTPTransport(**kwargs)
    pool = getattr(transport, "_pool", None)
    if pool is not None and hasattr(pool, "_network_backend"):
        pool._network_backend = _Backend(pool._network_backend)
    return transport
