"""`mmrag serve` under load, on loopback: concurrent searches by text and by photo, and concurrent chats.

    .venv/bin/python benchmarks/serve.py --db DIR/bench.db --collection myntra15000 [--clients 16] [--seconds 30]

Point it at a collection made by ``benchmarks/retrieval.py`` (15,000 Myntra products, default config). It starts
``mmrag serve`` as its own process on a free loopback port, then runs ``--clients`` threads that each send
attr2product texts (then image2product photos, multipart) back to back for ``--seconds``, and ``--chats``
concurrent questions through ``/api/ask`` (server-sent events), timing the first ``answer`` event. Prints requests/s,
p50 and p95 latency and the error count per row.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
MYNTRA = ROOT.parent / "shared" / "data" / "myntra_dev"
QUESTIONS = ["do you have navy blue shirts for men?", "which of your watches costs the least?",
             "red tops for women under 800", "I need black sports shoes"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load(name: str, key: str) -> list:
    task = MYNTRA / "tasks" / name
    items = [json.loads(x)[key] for x in (task / "queries.jsonl").read_text().splitlines()]
    return items if key == "text" else [(task / p).read_bytes() for p in items[:100]]


def hammer(url: str, clients: int, seconds: float, send) -> tuple[float, float, float, int]:
    """``clients`` threads calling ``send(http, i)`` until the time is up: (requests/s, p50 ms, p95 ms, errors)."""
    times: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(n: int) -> None:
        with httpx.Client(base_url=url, timeout=120) as http:
            i = n
            while time.monotonic() < deadline:
                started = time.perf_counter()
                ok = send(http, i).status_code == 200
                with lock:
                    times.append((time.perf_counter() - started) * 1000)
                    errors[0] += not ok
                i += clients

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    ordered = sorted(times)
    return len(times) / elapsed, statistics.median(ordered), ordered[int(0.95 * (len(ordered) - 1))], errors[0]


def first_answer_ms(url: str, question: str) -> float:
    started = time.perf_counter()
    with httpx.Client(base_url=url, timeout=600) as http:
        with http.stream("POST", "/api/ask", json={"question": question}) as response:
            for line in response.iter_lines():
                if line == "event: answer":
                    return (time.perf_counter() - started) * 1000
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True)
    parser.add_argument("--collection", default="products")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--chats", type=int, default=4)
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "multimodal_rag", "serve", "--db", args.db, "--collection",
                               args.collection, "--port", str(port)], stdout=subprocess.PIPE, text=True)
    try:
        assert "serving" in server.stdout.readline()
        deadline = time.monotonic() + 300
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                sys.exit("the server did not start")
            time.sleep(1)
        texts, photos = load("attr2product", "text"), load("image2product", "image")
        httpx.post(f"{url}/api/search", json={"text": texts[0]}, timeout=120)  # warm
        rows = [("text search", hammer(url, args.clients, args.seconds, lambda http, i: http.post(
                    "/api/search", json={"text": texts[i % len(texts)], "k": 10}))),
                ("photo search", hammer(url, args.clients, args.seconds, lambda http, i: http.post(
                    "/api/search", files={"image": ("q.jpg", photos[i % len(photos)], "image/jpeg")})))]
        firsts: list[float] = []
        chats = [threading.Thread(target=lambda q: firsts.append(first_answer_ms(url, q)), args=(q,))
                 for q in (QUESTIONS * args.chats)[: args.chats]]
        for t in chats:
            t.start()
        for t in chats:
            t.join()
    finally:
        server.terminate()
        server.wait(30)
    print(f"\nmmrag serve on loopback, {args.collection}, {args.clients} clients for {args.seconds:g} s\n")
    print("| requests | per second | p50 ms | p95 ms | errors |\n|---|---|---|---|---|")
    for name, (rate, p50, p95, errors) in rows:
        print(f"| {name} | {rate:.1f} | {p50:.0f} | {p95:.0f} | {errors} |")
    print(f"\n{args.chats} concurrent chats: time to the first answer piece p50 {statistics.median(firsts) / 1000:.1f} s "
          f"(max {max(firsts) / 1000:.1f} s; the chat model answers one question at a time)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
