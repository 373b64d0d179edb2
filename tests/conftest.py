"""Shared fixtures: a made sample catalog, the real Flipkart data, configs on temporary Milvus Lite stores."""

from __future__ import annotations

import json
import logging
import os
import uuid
from pathlib import Path

import pytest

from multimodal_rag.catalog.sample import make_sample_catalog
from multimodal_rag.config import load_config
from multimodal_rag.pipelines.ingest import load_embedders

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FLIPKART = SHARED_DATA / "flipkart_1050"
MYNTRA = SHARED_DATA / "myntra_dev"

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
logging.getLogger("grpc._server").setLevel(logging.CRITICAL)


def require_shared_data() -> None:
    if not FLIPKART.is_dir():
        pytest.fail(f"the shared data is missing: {SHARED_DATA} (CI clones ../shared beside the repo)")


@pytest.fixture
def sample_catalog(tmp_path: Path) -> Path:
    return make_sample_catalog(tmp_path / "sample")


# The server tier: with MMRAG_TEST_MILVUS_URI set (`make test` starts a Milvus Lite server for it), every
# store, ingest and retriever test runs against Milvus Lite in-process and against that server.
SERVER_URI = os.environ.get("MMRAG_TEST_MILVUS_URI")
BACKENDS = ["lite", "server"] if SERVER_URI else ["lite"]


def store_overrides(backend: str, folder: Path, name: str) -> list[str]:
    """Config overrides for a fresh store: a Lite folder, or a collection of its own on the test server."""
    if backend == "lite":
        return [f"store.db={json.dumps(str(folder / name))}"]
    collection = f"t_{name.replace('.', '_')}_{uuid.uuid4().hex[:10]}"
    return [f"store.uri={json.dumps(SERVER_URI)}", f"store.collection={json.dumps(collection)}"]


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def make_config(tmp_path: Path, backend: str):
    """A config on a fresh store (Lite folder or server collection); extra ``key=value`` overrides as arguments."""
    names: dict[str, list[str]] = {}

    def make(*overrides: str, db: str = "store.db"):
        if db not in names:  # the same name gives the same store within a test
            names[db] = store_overrides(backend, tmp_path, db)
        return load_config(None, [*names[db], *overrides])

    return make


@pytest.fixture(scope="session")
def default_embedders():
    return load_embedders(load_config())


def flipkart_subset(folder: Path, n: int, *, start: int = 0) -> Path:
    """The first ``n`` Flipkart products as a catalog in ``folder`` (images referenced by absolute path)."""
    require_shared_data()
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "flipkart.jsonl"
    lines = (FLIPKART / "products.jsonl").read_text(encoding="utf-8").split("\n")[start:start + n]  # U+2028 inside
    rows = []
    for line in lines:
        row = json.loads(line)
        if row.get("image"):
            row["image"] = str(FLIPKART / row["image"])
        rows.append(json.dumps(row))
    out.write_text("\n".join(rows) + "\n")
    return out
