"""Ingest on real Milvus Lite with the real offline models."""

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from multimodal_rag.catalog.sample import COLOURS, draw_product
from multimodal_rag.store.milvus import open_store
from multimodal_rag.ingestion import ingest
from multimodal_rag.ingestion.engine import record_vocabulary
from multimodal_rag.store import milvus as milvus_module
from multimodal_rag.store.milvus import StoreError, connect
from multimodal_rag.retrieval.searcher import ProductSearcher
from tests.conftest import flipkart_subset

ROOT = Path(__file__).resolve().parents[1]


def stored(config, embedders, fields):
    with open_store(config, embedders, create=False) as store:
        ids = sorted(store.iter_ids())
        return store.get(ids, fields)


def rewrite(catalog: Path, change) -> None:
    rows = [json.loads(x) for x in catalog.read_text().splitlines()]
    rows = change(rows)
    catalog.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_ingest_is_idempotent_and_reembeds_only_what_changed(sample_catalog, make_config, default_embedders):
    config = make_config()
    first = ingest(sample_catalog, config, progress=False, embedders=default_embedders)
    assert (first.new, first.updated, first.unchanged, first.failed) == (36, 0, 0, 0)
    assert first.embedded == {"text": 36, "image": 36}
    before = stored(config, default_embedders, ["text_vec", "image_vec", "row_hash", "title"])
    assert len(before) == 36

    again = ingest(sample_catalog, config, progress=False, embedders=default_embedders)
    assert (again.new, again.updated, again.unchanged) == (0, 0, 36)
    assert again.embedded == {"text": 0, "image": 0}

    # a changed title re-embeds only the text side of that product
    rewrite(sample_catalog, lambda rows: [dict(r, title="Acme Scarlet Stoneware Mug") if r["id"] == "mug-red" else r
                                          for r in rows])
    # a changed image re-embeds only the image side of its product
    draw_product("watch", COLOURS["green"]).save(sample_catalog.parent / "images" / "lamp-blue.png")
    changed = ingest(sample_catalog, config, progress=False, embedders=default_embedders)
    assert (changed.new, changed.updated, changed.unchanged) == (0, 2, 34)
    assert changed.embedded == {"text": 1, "image": 1}
    after = stored(config, default_embedders, ["text_vec", "image_vec", "row_hash", "title"])
    assert after["mug-red"]["title"] == "Acme Scarlet Stoneware Mug"
    assert not np.allclose(after["mug-red"]["text_vec"], before["mug-red"]["text_vec"])
    assert np.array_equal(after["mug-red"]["image_vec"], before["mug-red"]["image_vec"])
    assert np.array_equal(after["lamp-blue"]["text_vec"], before["lamp-blue"]["text_vec"])
    assert not np.allclose(after["lamp-blue"]["image_vec"], before["lamp-blue"]["image_vec"])
    for pid in set(before) - {"mug-red", "lamp-blue"}:
        assert np.array_equal(after[pid]["text_vec"], before[pid]["text_vec"])
        assert np.array_equal(after[pid]["image_vec"], before[pid]["image_vec"])

    # a price change updates the row without embedding anything
    rewrite(sample_catalog, lambda rows: [dict(r, price=1.0) if r["id"] == "watch-red" else r for r in rows])
    priced = ingest(sample_catalog, config, progress=False, embedders=default_embedders)
    assert (priced.updated, priced.embedded) == (1, {"text": 0, "image": 0})


def test_prune_deletes_only_with_the_flag_and_ids_stay_unique(sample_catalog, make_config, default_embedders):
    config = make_config()
    ingest(sample_catalog, config, progress=False, embedders=default_embedders)
    rewrite(sample_catalog, lambda rows: [r for r in rows if r["id"] not in ("mug-red", "watch-black")]
            + [dict(rows[5], title="A repeated id")])
    kept = ingest(sample_catalog, config, progress=False, embedders=default_embedders)
    assert (kept.deleted, kept.failed) == (0, 1)
    ids = list(stored(config, default_embedders, ["id"]))
    assert len(ids) == len(set(ids)) == 36
    pruned = ingest(sample_catalog, config, prune=True, progress=False, embedders=default_embedders)
    assert pruned.deleted == 2
    assert set(stored(config, default_embedders, ["id"])) == {r for r in ids if r not in ("mug-red", "watch-black")}


def recorded_vocabulary(config, embedders) -> tuple[dict, dict]:
    """The facet vocabulary and word counts the collection records, as plain data."""
    with open_store(config, embedders, create=False) as store:
        return json.loads(store.vocabulary().to_json()), store.word_counts()


def read_back_vocabulary(config, embedders) -> tuple[dict, dict]:
    """The same, recorded again from a read of every stored product."""
    with open_store(config, embedders, create=False) as store:
        record_vocabulary(store)
    return recorded_vocabulary(config, embedders)


def test_the_vocabulary_counted_while_writing_equals_the_one_read_back(tmp_path, make_config, default_embedders):
    config = make_config()
    first_40 = flipkart_subset(tmp_path / "a", 40)
    ingest(first_40, config, progress=False, embedders=default_embedders)
    counted = recorded_vocabulary(config, default_embedders)
    assert counted[0]["products"] == 40 and counted[0]["brands"] and counted[0]["attributes"]
    assert len(counted[1]) > 200
    assert read_back_vocabulary(config, default_embedders) == counted

    # Products 20-59 without pruning: the collection holds 60, more than the run counted, so they are read back.
    ingest(flipkart_subset(tmp_path / "b", 40, start=20), config, progress=False, embedders=default_embedders)
    both = recorded_vocabulary(config, default_embedders)
    assert both[0]["products"] == 60 and len(both[1]) > len(counted[1])
    assert read_back_vocabulary(config, default_embedders) == both

    # Pruned back to the first 40: what the run counted is the collection again.
    ingest(first_40, config, progress=False, embedders=default_embedders, prune=True)
    assert recorded_vocabulary(config, default_embedders) == counted


BAD_ROWS_SETTINGS = ("ingest.image_retries=0", "ingest.image_timeout_s=1.0")


def add_bad_rows(sample_catalog: Path) -> None:
    """Seven bad rows after the sample's 36 (lines 37-43): four broken photos, an empty title, a price that is not
    a number, a repeated id. Ingest them with ``BAD_ROWS_SETTINGS`` (no retries of the unreachable photo)."""
    from PIL import Image

    images = sample_catalog.parent / "images"
    (images / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    Image.new("1", (8000, 8000)).save(images / "bomb.png")
    base = {"category": "Test", "price": 10}
    extra = [
        dict(base, id="corrupt", title="Corrupt picture", image="images/corrupt.png"),
        dict(base, id="missing", title="Missing picture", image="images/nowhere.png"),
        dict(base, id="unreachable", title="Unreachable picture", image="http://127.0.0.1:9/x.png"),
        dict(base, id="bomb", title="Bomb picture", image="images/bomb.png"),
        dict(base, id="untitled", title=""),
        dict(base, id="unpriced", title="Odd price", price="call us"),
        dict(base, id="mug-red", title="Duplicate of the first row"),
    ]
    rewrite(sample_catalog, lambda rows: rows + extra)


def test_bad_rows_are_reported_and_never_stop_the_run(tmp_path, sample_catalog, make_config, default_embedders):
    add_bad_rows(sample_catalog)
    images = sample_catalog.parent / "images"
    config = make_config(*BAD_ROWS_SETTINGS)
    errors = tmp_path / "errors.jsonl"
    summary = ingest(sample_catalog, config, errors_path=errors, progress=False, embedders=default_embedders)
    report = [json.loads(x) for x in errors.read_text().splitlines()]
    # images are fetched in the background, so their entries may come before or after the validation errors
    assert sorted((e["line"], e["id"], e["field"]) for e in report) == [
        (37, "corrupt", "image"), (38, "missing", "image"), (39, "unreachable", "image"), (40, "bomb", "image"),
        (41, "untitled", "title"), (42, "unpriced", "price"), (43, "mug-red", "id")]
    reasons = {e["id"]: e["reason"] for e in report}
    assert "not an image" in reasons["corrupt"] or "corrupt image" in reasons["corrupt"]
    assert "file not found" in reasons["missing"]
    assert "download failed" in reasons["unreachable"]
    assert "pixel limit" in reasons["bomb"]
    assert summary.failed == 7 and summary.new == 40 and summary.errors_path == str(errors)
    rows = stored(config, default_embedders, ["image_hash", "image_vec", "title"])
    assert len(rows) == 40  # 36 + the four products whose image failed, stored with their text
    for pid in ("corrupt", "missing", "unreachable", "bomb"):
        assert rows[pid]["image_hash"] == "" and not np.any(rows[pid]["image_vec"])
    assert rows["mug-red"]["title"] == "Acme Red Ceramic Coffee Mug"

    # products without an image never come back from an image search
    from multimodal_rag.catalog.images import load_image

    with open_store(config, default_embedders, create=False) as store:
        hits = ProductSearcher(store, default_embedders, config.vectors).search(
            image=load_image(images / "mug-red.png"), k=40)
    assert hits[0].id == "mug-red"
    assert {h.id for h in hits}.isdisjoint({"corrupt", "missing", "unreachable", "bomb"})

    # the image side is retried next run: fixed pictures are embedded, nothing else is
    draw_product("mug", COLOURS["red"]).save(images / "corrupt.png")
    draw_product("mug", COLOURS["blue"]).save(images / "nowhere.png")
    rerun = ingest(sample_catalog, config, errors_path=errors, progress=False, embedders=default_embedders)
    assert rerun.embedded == {"text": 0, "image": 2}
    assert (rerun.updated, rerun.failed) == (2, 5)
    rows = stored(config, default_embedders, ["image_hash"])
    assert rows["corrupt"]["image_hash"] and rows["missing"]["image_hash"] and not rows["bomb"]["image_hash"]


CRASH_DRIVER = textwrap.dedent("""
    import json, sys
    from multimodal_rag.config import load_config
    from multimodal_rag.ingestion import ingest
    config = load_config(None, json.loads(sys.argv[2]))
    def report(summary):
        print("CHUNK", summary.new, flush=True)
    ingest(sys.argv[1], config, progress=False, on_chunk=report)
    print("DONE", flush=True)
""")


def test_sigkill_mid_ingest_then_rerun_equals_a_clean_ingest(tmp_path, make_config, default_embedders):
    catalog = flipkart_subset(tmp_path / "cat", 160)
    crashed = make_config("ingest.batch_size=8", db="crashed.db")
    store = crashed.store
    settings = [f"store.{k}={json.dumps(v)}" for k, v in (("db", store.db), ("uri", store.uri),
                                                          ("collection", store.collection)) if v]
    proc = subprocess.Popen([sys.executable, "-c", CRASH_DRIVER, str(catalog), json.dumps(settings + ["ingest.batch_size=8"])],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    line = proc.stdout.readline()
    assert line.startswith("CHUNK"), line
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    with open_store(crashed, default_embedders, create=False) as store:
        stored_before = store.count()
    assert 32 <= stored_before < 160
    rerun = ingest(catalog, crashed, progress=False, embedders=default_embedders)
    assert rerun.unchanged == stored_before and rerun.new == 160 - stored_before
    assert rerun.embedded == {"text": 160 - stored_before, "image": 160 - stored_before}

    clean = make_config(db="clean.db")
    ingest(catalog, clean, progress=False, embedders=default_embedders)
    fields = ["text_vec", "image_vec", "text_hash", "image_hash", "row_hash"]
    a, b = stored(crashed, default_embedders, fields), stored(clean, default_embedders, fields)
    assert sorted(a) == sorted(b) and len(a) == 160
    for pid in a:
        for f in ("text_hash", "image_hash", "row_hash"):
            assert a[pid][f] == b[pid][f]
        np.testing.assert_allclose(a[pid]["text_vec"], b[pid]["text_vec"], atol=1e-5)
        np.testing.assert_allclose(a[pid]["image_vec"], b[pid]["image_vec"], atol=1e-5)


def test_store_misuse_fails_at_once_with_advice(tmp_path, sample_catalog, make_config, default_embedders, backend):
    config = make_config()
    ingest(sample_catalog, config, progress=False, embedders=default_embedders)

    other = make_config('vectors.text.sources=["title"]')
    with pytest.raises(StoreError, match="made with another config.*--collection NAME.*mmrag migrate"):
        ingest(sample_catalog, other, progress=False, embedders=default_embedders)

    with open_store(config, default_embedders, create=False) as store:
        row = store.get(["mug-red"], ["*"])["mug-red"]
        row = {k: v for k, v in row.items() if k != "sparse"}
        row["image_vec"] = row["image_vec"][:512]
        with pytest.raises(StoreError, match="got a 512-d vector, the collection holds 1280-d"):
            store.upsert([row])
        assert store.count() == 36

    if backend != "lite":
        return  # the folder lock is Milvus Lite's own
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom pymilvus import MilvusClient\n"
         "c = MilvusClient(sys.argv[1]); print('open', flush=True); time.sleep(60)", config.store.db],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(StoreError, match="already open in another process.*mmrag db serve"):
            connect(config.store)
    finally:
        holder.kill()
        holder.wait()


def test_cli_ingest_json_and_search_json(sample_catalog, tmp_path, make_config):
    store = make_config(db="cli.db").store
    where = ["--uri", store.uri, "--collection", store.collection] if store.uri else ["--db", store.db]
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false")
    out = subprocess.run([sys.executable, "-m", "multimodal_rag", "ingest", str(sample_catalog), *where,
                          "--json", "--errors", str(tmp_path / "e.jsonl")],
                         capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert {k: summary[k] for k in ("new", "updated", "unchanged", "failed", "deleted")} == \
        {"new": 36, "updated": 0, "unchanged": 0, "failed": 0, "deleted": 0}
    assert summary["seconds"] > 0
    out = subprocess.run([sys.executable, "-m", "multimodal_rag", "search", "Northwind Blue Ceramic Coffee Mug",
                          *where, "-k", "3", "--json"], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    hits = json.loads(out.stdout)
    assert hits[0]["id"] == "mug-blue" and hits[0]["title"] == "Northwind Blue Ceramic Coffee Mug"
    assert hits[0]["price"] == 349.0 and len(hits) == 3
    assert hits[0]["score"] >= hits[1]["score"] >= hits[2]["score"]

    bad = subprocess.run([sys.executable, "-m", "multimodal_rag", "ingest", str(tmp_path / "none.jsonl"),
                          *where], capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode == 2 and "catalog file not found" in bad.stderr


def test_the_auto_index_turns_to_hnsw_at_its_size_and_searches_rank_as_flat(sample_catalog, make_config,
                                                                            default_embedders, monkeypatch):
    """`store.index = "auto"` (the default) creates FLAT and rebuilds the vector indexes as HNSW once the collection
    holds AUTO_HNSW_FROM products (10,000; 30 here, so the 36-product sample crosses it); the store reads the index
    back when opened, and on so few products HNSW ranks as FLAT."""
    monkeypatch.setattr(milvus_module, "AUTO_HNSW_FROM", 30)
    small = sample_catalog.parent / "small.jsonl"
    small.write_text("".join(sample_catalog.read_text().splitlines(keepends=True)[:20]))
    auto = make_config()
    assert auto.store.index == "auto"
    first = ingest(small, auto, progress=False, embedders=default_embedders)
    assert (first.index, first.index_changed) == ("FLAT", False)
    grown = ingest(sample_catalog, auto, progress=False, embedders=default_embedders)
    assert (grown.new, grown.index, grown.index_changed) == (16, "HNSW", True)
    again = ingest(sample_catalog, auto, progress=False, embedders=default_embedders)
    assert (again.index, again.index_changed) == ("HNSW", False)
    flat = make_config("store.index=\"FLAT\"", db="flat.db")
    for catalog in (small, sample_catalog):  # the same history: BM25's statistics follow the writes
        ingest(catalog, flat, progress=False, embedders=default_embedders)
    ranked = {}
    for name, config in (("auto", auto), ("flat", flat)):
        with open_store(config, default_embedders, create=False) as store:
            assert store.index == ("HNSW" if name == "auto" else "FLAT")
            assert store.stored_index() == store.index
            searcher = ProductSearcher(store, default_embedders, config.vectors)
            ranked[name] = [[(h.id, round(h.score, 6)) for h in searcher.search(text, k=8)]
                            for text in ("red mug", "blue desk lamp", "black watch")]
    assert ranked["auto"] == ranked["flat"]
    assert [top[0][0] for top in ranked["auto"]] == ["mug-red", "lamp-blue", "watch-black"]
