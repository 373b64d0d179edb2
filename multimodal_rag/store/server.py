"""``mmrag db serve``: one Milvus Lite folder shared by several processes over gRPC on loopback.

Milvus Lite serves one process per folder; this process owns the folder and every other process (an ingest,
a chat, a test run) connects with ``--uri http://127.0.0.1:PORT``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from pathlib import Path
from typing import Callable, Iterator

from multimodal_rag.store.milvus import StoreError


# pymilvus clients ping every 10 s, idle or not; gRPC's default server policy answers that with GOAWAY
# ("too many pings") and the next call on that channel fails. Milvus Lite's own builder keeps the default.
SERVER_OPTIONS = [
    ("grpc.max_receive_message_length", 256 * 1024 * 1024),
    ("grpc.max_send_message_length", 256 * 1024 * 1024),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 5000),
    ("grpc.http2.max_ping_strikes", 0),
]
MAX_WORKERS = 16


def _start(path: str, host: str, port: int):
    """Milvus Lite's gRPC service on ``host:port`` (0 picks a free port): (server, database, bound port)."""
    from concurrent import futures

    import grpc
    from milvus_lite.adapter.grpc.servicer import MilvusServicer
    from milvus_lite.db import MilvusLite
    from pymilvus.grpc_gen import milvus_pb2_grpc

    handle = MilvusLite(path)  # takes the folder lock, or raises
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=MAX_WORKERS), options=SERVER_OPTIONS)
    milvus_pb2_grpc.add_MilvusServiceServicer_to_server(MilvusServicer(handle), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    server.start()
    return server, handle, bound


@contextlib.contextmanager
def open_server(db: str | Path, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``db`` from this process on ``host:port`` (0 picks a free port) for the duration of a ``with``;
    yields the URI."""
    path = os.path.abspath(Path(db).expanduser())
    try:
        server, handle, bound = _start(path, host, port)
    except Exception as exc:
        text = str(exc)
        if "lock" in text.lower():
            raise StoreError(f"the Milvus Lite store {path} is already open in another process; stop it first "
                             "(only one process may own a Lite folder, the server included)") from None
        raise StoreError(f"cannot serve {path} on {host}:{port}: {text}") from None
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.stop(grace=5).wait()  # let in-flight writes finish before the folder is closed
        handle.close()


def serve(db: str | Path, *, host: str = "127.0.0.1", port: int = 19530,
          ready: Callable[[str], None] | None = None, stop: threading.Event | None = None) -> None:
    """Serve ``db`` until SIGINT/SIGTERM (or ``stop`` is set); ``ready`` gets the URI once it listens."""
    stop = stop or threading.Event()
    previous = {}
    with open_server(db, host=host, port=port) as uri:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, lambda *_: stop.set())
        try:
            if ready is not None:
                ready(uri)
            stop.wait()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
