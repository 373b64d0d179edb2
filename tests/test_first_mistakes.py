"""The first mistakes a newcomer makes each get one line: what happened and what to type next; no traceback."""

from __future__ import annotations

import importlib.util
import json
import socket

import pytest

from multimodal_rag.cli import main


def run(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err.strip().splitlines()[-1] if err.strip() else ""


def test_no_catalog_file(capsys, tmp_path):
    assert run(capsys, "ingest", str(tmp_path / "products.jsonl"), "--db", str(tmp_path / "shop.db")) == (
        2, f"mmrag ingest: error: catalog file not found: {tmp_path / 'products.jsonl'}")


def test_a_catalog_with_other_column_names(capsys, tmp_path):
    catalog = tmp_path / "export.jsonl"
    catalog.write_text(json.dumps({"sku": "1", "name": "Blue mug", "cost": 5}) + "\n")
    assert run(capsys, "ingest", str(catalog), "--db", str(tmp_path / "shop.db")) == (
        2, "mmrag ingest: error: export.jsonl has no 'id' or 'title' column (its columns: sku, name, cost); name "
           "yours with --column THEIRS=OURS, e.g. --column sku=id --column name=title")
    assert not (tmp_path / "shop.db").exists()  # refused before the store was opened


def test_a_collection_that_does_not_exist_yet(capsys, tmp_path):
    db = tmp_path / "shop.db"
    assert run(capsys, "search", "mug", "--db", str(db)) == (
        2, "mmrag search: error: collection 'products' does not exist in this store yet; put a catalog in it "
           f"first: mmrag ingest products.jsonl --db {db}")


def test_a_lite_path_without_the_db_suffix(capsys, tmp_path):
    assert run(capsys, "search", "mug", "--db", str(tmp_path / "shop.sqlite")) == (
        2, f"mmrag search: error: store.db '{tmp_path / 'shop.sqlite'}': a Milvus Lite store is a file ending in "
           ".db, for example --db ./shop.db (or a folder name such as ./store, kept as ./store/mmrag.db)")
    # A plain folder name works: the store is the file mmrag.db inside it.
    from multimodal_rag.config import load_config

    assert load_config(store={"db": str(tmp_path / "store")}).store.db == str(tmp_path / "store" / "mmrag.db")


def test_a_model_that_cannot_load_offline(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache: the name is nowhere on this machine
    code, line = run(capsys, "search", "mug", "--db", str(tmp_path / "shop.db"),
                     "--set", 'vectors.text.embedder="sentence-transformers:BAAI/bge-small-en-v1.5"')
    assert (code, line) == (2, (
        "mmrag search: error: cannot load sentence-transformers:BAAI/bge-small-en-v1.5: 'BAAI/bge-small-en-v1.5' "
        "is not a local folder, not in the Hugging Face cache, and the hub cannot be reached from this machine. "
        "Download it where there is internet (`huggingface-cli download BAAI/bge-small-en-v1.5 --local-dir "
        "./models/bge-small-en-v1.5`) and give the folder, e.g. sentence-transformers:./models/bge-small-en-v1.5"))


def test_a_port_in_use(capsys, tmp_path):
    pytest.importorskip("uvicorn")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert run(capsys, "serve", "--db", str(tmp_path / "shop.db"), "--port", str(port)) == (
            2, f"mmrag serve: error: cannot listen on 127.0.0.1:{port} (Address already in use); another program "
               f"uses the port: choose another with --port, e.g. --port {port + 1}")


def test_a_config_file_that_is_not_there_and_a_key_that_is_not_known(capsys, tmp_path):
    assert run(capsys, "search", "mug", "--config", "shop.toml") == (
        2, "mmrag search: error: config file not found: shop.toml")
    assert run(capsys, "search", "mug", "--set", "store.path=./shop.db") == (
        2, "mmrag search: error: store: unknown key(s) ['path']; known: ['collection', 'db', 'db_name', 'index', "
           "'retries', 'timeout_s', 'token', 'uri']")


def test_a_photo_that_is_not_there_and_a_filter_that_is_not_json(capsys, tmp_path):
    db = str(tmp_path / "shop.db")
    assert run(capsys, "search", "--image", "photo.jpg", "--db", db) == (
        2, "mmrag search: error: file not found: photo.jpg")
    assert run(capsys, "search", "mug", "--filter", "{price: 5}", "--db", db) == (
        2, "mmrag search: error: --filter takes a JSON object: Expecting property name enclosed in double quotes: "
           "line 1 column 2 (char 1)")


def test_a_hosted_llm_without_its_package(capsys, tmp_path):
    if importlib.util.find_spec("langchain_openai") is not None:
        pytest.skip("langchain-openai is installed here")
    assert run(capsys, "ask", "hi", "--llm", "openai:gpt-4o", "--db", str(tmp_path / "shop.db")) == (
        2, "mmrag ask: error: --llm openai:gpt-4o needs the langchain-openai package: pip install langchain-openai")
