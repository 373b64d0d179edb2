"""A real ``mmrag serve`` app on a free loopback port, for the API and browser tests, and a reader of its
server-sent events."""

from __future__ import annotations

import json
import socket
import threading
import time
from contextlib import contextmanager

import uvicorn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running(app, port: int | None = None):
    """Serve ``app`` with uvicorn in a thread until the block ends; yields the base URL."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the app did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def read_events(text: str) -> tuple[list[tuple[str, object]], list[str]]:
    """An event stream as the API writes it: blocks ended by a blank line, each one event (an ``event:`` line and
    one ``data:`` line of JSON) or one comment (a keep-alive ping). The events in order, and the comments."""
    assert text.endswith("\n\n") and "\r" not in text, repr(text[-80:])
    events, comments = [], []
    for block in text.removesuffix("\n\n").split("\n\n"):
        lines = block.split("\n")
        if len(lines) == 1 and lines[0].startswith(": "):
            comments.append(lines[0])
            continue
        assert len(lines) == 2 and lines[0].startswith("event: ") and lines[1].startswith("data: "), block
        events.append((lines[0].removeprefix("event: "), json.loads(lines[1].removeprefix("data: "))))
    return events, comments
