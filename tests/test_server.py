"""`mmrag db serve`: several processes on one store, and a server killed mid-ingest."""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from multimodal_rag.config import load_config
from multimodal_rag.store.milvus import open_store
from tests.conftest import flipkart_subset

ENV = dict(os.environ, TOKENIZERS_PARALLELISM="false")


def start_server(folder: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "multimodal_rag", "db", "serve", "--db", str(folder), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    line = proc.stdout.readline()
    started = re.fullmatch(rf"serving {re.escape(str(folder))} on (http://127\.0\.0\.1:\d+); use --uri \1 "
                           r"\(Ctrl-C stops\)\n", line)
    assert started, (line, proc.stderr.read() if proc.poll() is not None else "")
    return proc, started.group(1)


def server_config(uri: str, collection: str = "products"):
    return load_config(None, [f"store.uri={json.dumps(uri)}", f"store.collection={json.dumps(collection)}"])


def test_a_served_folder_refuses_a_second_owner_with_advice(tmp_path):
    server, uri = start_server(tmp_path / "shared.db")
    try:
        other = subprocess.run([sys.executable, "-m", "multimodal_rag", "db", "serve", "--db", str(tmp_path / "shared.db"),
                                "--port", "0"], capture_output=True, text=True, env=ENV, timeout=60)
        assert (other.returncode, other.stderr) == (
            2, f"mmrag db: error: the Milvus Lite store {tmp_path / 'shared.db'} is already open in another process; "
               "stop it first (only one process may own a Lite folder, the server included)\n")
        # Any other command on the folder: one line that says what to do, no traceback (Lite logs one)
        search = subprocess.run([sys.executable, "-m", "multimodal_rag", "search", "mug", "--db",
                                 str(tmp_path / "shared.db")], capture_output=True, text=True, env=ENV, timeout=120)
        assert search.returncode == 2 and len(search.stderr.splitlines()) == 1, search.stderr
        assert "is already open in another process" in search.stderr and "mmrag db serve" in search.stderr
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0


def test_ingest_in_one_process_while_another_searches(tmp_path, default_embedders):
    catalog = flipkart_subset(tmp_path / "cat", 120)
    server, uri = start_server(tmp_path / "shared.db")
    try:
        config = server_config(uri)
        with open_store(config, default_embedders):
            pass  # the collection exists before the searcher starts
        ingest = subprocess.Popen([sys.executable, "-m", "multimodal_rag", "ingest", str(catalog), "--uri", uri,
                                   "--json", "--errors", str(tmp_path / "e.jsonl"), "--set", "ingest.batch_size=8"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
        from multimodal_rag.retrieval import ProductRetriever

        retriever = ProductRetriever.from_config(config, k=5)
        searches, seen_counts = 0, set()
        try:
            while ingest.poll() is None:
                docs = retriever.invoke("stainless steel pressure cooker")  # raises on any error
                seen_counts.add(retriever.searcher.store.count())
                searches += 1
            final = retriever.searcher.store.count()
        finally:
            retriever.close()
        out, err = ingest.communicate()
        assert ingest.returncode == 0, err
        assert json.loads(out)["new"] == 120 and final == 120
        assert searches >= 3 and len(seen_counts) >= 2  # the searcher saw the store grow
        assert len(docs) == 5
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


DRIVER = textwrap.dedent("""
    import json, sys
    from multimodal_rag.config import load_config
    from multimodal_rag.ingestion import ingest
    from multimodal_rag.store.milvus import StoreError
    config = load_config(None, [f"store.uri={json.dumps(sys.argv[2])}", "ingest.batch_size=8",
                                "store.timeout_s=10"])
    try:
        ingest(sys.argv[1], config, progress=False, on_chunk=lambda s: print("CHUNK", flush=True))
    except StoreError as exc:
        print("STORE ERROR", exc, flush=True)
        sys.exit(2)
""")


def test_server_killed_mid_ingest_then_rerun_loses_and_duplicates_nothing(tmp_path, default_embedders):
    catalog = flipkart_subset(tmp_path / "cat", 160)
    folder = tmp_path / "shared.db"
    server, uri = start_server(folder)
    ingest = subprocess.Popen([sys.executable, "-c", DRIVER, str(catalog), uri], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, env=ENV, cwd=Path(__file__).parents[1])
    assert ingest.stdout.readline().strip() == "CHUNK"
    server.kill()
    server.wait(timeout=30)
    started = time.monotonic()
    rest = ingest.communicate(timeout=300)[0]
    assert ingest.returncode == 2, rest
    *chunks, failure = rest.splitlines()
    assert set(chunks) <= {"CHUNK"}, rest
    assert re.fullmatch(r"STORE ERROR writing \d+ products failed: <MilvusException: .+>\. Products already written "
                        r"are complete; once the store is reachable, rerun the same ingest to finish", failure), failure
    assert time.monotonic() - started < 200

    server, uri = start_server(folder)
    try:
        config = server_config(uri)
        with open_store(config, default_embedders, create=False) as store:
            before = store.count()
        assert 32 <= before < 160
        from multimodal_rag.ingestion import ingest

        summary = ingest(catalog, config, progress=False, embedders=default_embedders)
        assert summary.unchanged == before and summary.new == 160 - before
        with open_store(config, default_embedders, create=False) as store:
            ids = list(store.iter_ids())
            assert store.count() == 160
        assert len(ids) == len(set(ids)) == 160
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


@pytest.mark.parametrize("secret", ["s3cr3t-t0ken"])
def test_connection_settings_from_environment_and_secrets_never_printed(monkeypatch, secret):
    monkeypatch.setenv("MMRAG_MILVUS_URI", "http://user:pa55@127.0.0.1:9")
    monkeypatch.setenv("MMRAG_MILVUS_TOKEN", secret)
    config = load_config(None, ["store.timeout_s=2", "store.retries=1"])
    assert config.store.uri == "http://user:pa55@127.0.0.1:9" and config.store.token == secret
    assert secret not in repr(config)
    from multimodal_rag.store.milvus import StoreError, connect

    with pytest.raises(StoreError) as info:
        connect(config.store)
    assert str(info.value).startswith("cannot open the Milvus store at http://***@127.0.0.1:9 (2 attempt(s)): ")
    assert secret not in str(info.value) and "pa55" not in str(info.value)
    assert load_config(None, ['store.uri="http://127.0.0.1:1"']).store.uri == "http://127.0.0.1:1"  # flags win
