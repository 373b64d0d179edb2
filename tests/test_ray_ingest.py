"""The Ray engine (a local Ray on this machine's CPUs) held to the local engine: real Milvus Lite, real models.

Ray's workers reach a Milvus Lite folder through the loopback server the engine starts for the job, so these
tests use Lite folders only (the server tier adds nothing the engine does not already go through).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from multimodal_rag.catalog.images import load_image
from multimodal_rag.config import load_config
from multimodal_rag.ingestion import ingest
from multimodal_rag.store.milvus import StoreError, open_store
from multimodal_rag.retrieval.searcher import ProductSearcher
from tests.conftest import FLIPKART, flipkart_subset
from tests.test_ingest import BAD_ROWS_SETTINGS, add_bad_rows, rewrite

pytest.importorskip("ray", reason="the Ray engine needs the [ray] extra: pip install -e '.[ray]'")

ROOT = Path(__file__).resolve().parents[1]
STORED = ["id", "title", "description", "category", "brand", "price", "list_price", "currency", "rating", "url",
          "image", "attributes", "row_hash", "text_hash", "image_hash", "bm25_text", "text_vec", "image_vec"]


@pytest.fixture(scope="module")
def local_ray():
    import ray

    ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {"TOKENIZERS_PARALLELISM": "false"}})
    yield
    ray.shutdown()


def lite(folder: Path, name: str, *overrides: str):
    return load_config(None, [f"store.db={json.dumps(str(folder / name))}", *overrides])


def stored(config, embedders) -> dict[str, dict]:
    with open_store(config, embedders, create=False) as store:
        return store.get(sorted(store.iter_ids()), STORED)


def assert_same_collection(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for pid in a:
        for field in STORED:
            if field.endswith("_vec"):
                np.testing.assert_allclose(a[pid][field], b[pid][field], atol=1e-5, err_msg=f"{pid} {field}")
            else:
                assert a[pid][field] == b[pid][field], (pid, field)


def counts(summary) -> tuple:
    return summary.new, summary.updated, summary.unchanged, summary.failed, summary.embedded


def test_ray_ingest_of_flipkart_equals_the_local_ingest(tmp_path, local_ray, default_embedders):
    catalog = flipkart_subset(tmp_path / "cat", 1050)
    local, distributed = lite(tmp_path, "local.db"), lite(tmp_path, "ray.db")
    by_local = ingest(catalog, local, progress=False, embedders=default_embedders,
                      errors_path=tmp_path / "local-errors.jsonl")
    by_ray = ingest(catalog, distributed, engine="ray", progress=False, errors_path=tmp_path / "ray-errors.jsonl")
    assert counts(by_ray) == counts(by_local) == (1050, 0, 0, 0, {"text": 1050, "image": 1047})  # 3 have no photo
    assert_same_collection(stored(distributed, default_embedders), stored(local, default_embedders))

    photos = [load_image(FLIPKART / "images" / name) for name in sorted(os.listdir(FLIPKART / "images"))[:40:13]]
    texts = ["stainless steel water bottle", "men's analog watch with leather strap", "cotton double bedsheet",
             "baby girl party dress"]
    results = []
    for config in (local, distributed):
        with open_store(config, default_embedders, create=False) as store:
            searcher = ProductSearcher(store, default_embedders, config.vectors)
            results.append([[(h.id, round(h.score, 4)) for h in searcher.search(text=t, k=10)] for t in texts]
                           + [[(h.id, round(h.score, 4)) for h in searcher.search(image=p, k=10)] for p in photos])
    assert results[0] == results[1] and all(len(r) == 10 for r in results[0])

    again = ingest(catalog, distributed, engine="ray", progress=False)
    assert counts(again) == (0, 0, 1050, 0, {"text": 0, "image": 0})

    rows = [json.loads(x) for x in catalog.read_text().splitlines()]
    shutil.copy(FLIPKART / "images" / sorted(os.listdir(FLIPKART / "images"))[-1], tmp_path / "new-photo.jpg")
    rewrite(catalog, lambda rows: [dict(r, title="Steel Vacuum Flask, 1 Litre") if i == 0 else
                                   dict(r, image=str(tmp_path / "new-photo.jpg")) if i == 1 else r
                                   for i, r in enumerate(rows)])
    changed = ingest(catalog, distributed, engine="ray", progress=False)
    assert counts(changed) == (0, 2, 1048, 0, {"text": 1, "image": 1})
    after = stored(distributed, default_embedders)
    assert after[rows[0]["id"]]["title"] == "Steel Vacuum Flask, 1 Litre"
    assert after[rows[1]["id"]]["image_hash"] != stored(local, default_embedders)[rows[1]["id"]]["image_hash"]


def test_the_bad_rows_catalog_gives_the_same_report_and_store(tmp_path, sample_catalog, local_ray,
                                                             default_embedders):
    add_bad_rows(sample_catalog)
    with sample_catalog.open("a") as f:
        f.write("{not json\n")
    catalog = sample_catalog
    local, distributed = lite(tmp_path, "local.db", *BAD_ROWS_SETTINGS), lite(tmp_path, "ray.db", *BAD_ROWS_SETTINGS)
    reports = []
    summaries = []
    for config, engine in ((local, "local"), (distributed, "ray")):
        errors = tmp_path / f"{engine}.jsonl"
        summaries.append(ingest(catalog, config, engine=engine, errors_path=errors, progress=False,
                                **({"embedders": default_embedders} if engine == "local" else {})))
        reports.append(sorted((json.dumps(json.loads(x), sort_keys=True) for x in errors.read_text().splitlines())))
    assert reports[0] == reports[1]
    assert sorted((json.loads(e)["line"], json.loads(e)["field"]) for e in reports[1]) == [
        (37, "image"), (38, "image"), (39, "image"), (40, "image"), (41, "title"), (42, "price"), (43, "id"),
        (44, "json")]
    assert counts(summaries[1]) == counts(summaries[0]) == (40, 0, 0, 8, {"text": 40, "image": 36})
    assert_same_collection(stored(distributed, default_embedders), stored(local, default_embedders))


def test_a_folder_of_shards_and_a_glob_read_as_one_catalog(tmp_path, sample_catalog, local_ray, default_embedders):
    rows = [json.loads(x) for x in sample_catalog.read_text().splitlines()]
    for row in rows:
        row["image"] = str(sample_catalog.parent / row["image"])
    shards = tmp_path / "shards"
    shards.mkdir()
    (shards / "part-1.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:20]))
    (shards / "part-2.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[20:] + [rows[3]]))
    (shards / "notes.txt").write_text("not a catalog")
    config = lite(tmp_path, "shards.db")
    errors = tmp_path / "errors.jsonl"
    first = ingest(shards, config, engine="ray", errors_path=errors, progress=False)
    assert counts(first) == (36, 0, 0, 1, {"text": 36, "image": 36})
    assert [json.loads(x) for x in errors.read_text().splitlines()] == [
        {"file": str(shards / "part-2.jsonl"), "line": 17, "id": rows[3]["id"], "field": "id",
         "reason": f"duplicate id (first on line 4 of {shards / 'part-1.jsonl'}); this row is skipped"}]
    assert sorted(stored(config, default_embedders)) == sorted(r["id"] for r in rows)

    again = ingest(f"{shards}/part-*.jsonl", config, engine="ray", progress=False, prune=True)
    assert counts(again)[:3] == (0, 0, 36) and again.deleted == 0
    with pytest.raises(Exception, match="no catalog file matches"):
        ingest(f"{shards}/none-*.jsonl", config, engine="ray", progress=False)


def embed_actor_pids() -> list[int]:
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if "_EmbedField" in " ".join(proc.info["cmdline"] or []):
            found.append(proc.info["pid"])
    return found


@pytest.fixture(scope="module")
def clean_160(tmp_path_factory, default_embedders):
    """160 Flipkart products ingested by the local engine: what every faulted run must end equal to."""
    folder = tmp_path_factory.mktemp("clean")
    catalog = flipkart_subset(folder / "cat", 160)
    config = lite(folder, "clean.db")
    ingest(catalog, config, progress=False, embedders=default_embedders)
    return catalog, stored(config, default_embedders)


def test_an_embedding_actor_killed_mid_job_is_restarted_and_the_job_completes(tmp_path, local_ray, clean_160,
                                                                              default_embedders):
    catalog, clean = clean_160
    config = lite(tmp_path, "faulted.db", "ingest.batch_size=8")
    killed = []

    def kill_one_actor(summary):
        if not killed and summary.new >= 8:
            pids = embed_actor_pids()
            assert pids, "no embedding actor to kill"
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

    summary = ingest(catalog, config, engine="ray", progress=False, on_chunk=kill_one_actor)
    assert killed and not psutil.pid_exists(killed[0])
    assert counts(summary) == (160, 0, 0, 0, {"text": 160, "image": 160})
    assert_same_collection(stored(config, default_embedders), clean)


CRASH_DRIVER = textwrap.dedent("""
    import json, sys
    from multimodal_rag.config import load_config
    from multimodal_rag.ingestion import ingest
    def report(summary):
        print("CHUNK", summary.new, flush=True)
    ingest(sys.argv[1], load_config(None, json.loads(sys.argv[2])), engine="ray", progress=False, on_chunk=report)
    print("DONE", flush=True)
""")


def test_the_whole_job_killed_then_rerun_equals_a_clean_ingest(tmp_path, local_ray, clean_160, default_embedders):
    catalog, clean = clean_160
    config = lite(tmp_path, "crashed.db", "ingest.batch_size=8")
    overrides = [f"store.db={json.dumps(config.store.db)}", "ingest.batch_size=8"]
    job = subprocess.Popen([sys.executable, "-c", CRASH_DRIVER, str(catalog), json.dumps(overrides)], cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        line = job.stdout.readline()
        assert line.startswith("CHUNK"), line
    finally:
        family = [job.pid] + [p.pid for p in psutil.Process(job.pid).children(recursive=True)]
        os.killpg(job.pid, signal.SIGKILL)  # the driver and the local Ray it started: its raylet, workers, actors
        for pid in family:
            if psutil.pid_exists(pid):
                psutil.Process(pid).kill()
        job.wait(timeout=30)
    deadline = time.monotonic() + 30
    while any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in family):
        assert time.monotonic() < deadline, "the killed job's processes did not exit"
        time.sleep(0.2)

    with open_store(config, default_embedders, create=False) as store:
        before = store.count()
    assert 8 <= before < 160
    rerun = ingest(catalog, config, engine="ray", progress=False)
    assert counts(rerun) == (160 - before, 0, before, 0, {"text": 160 - before, "image": 160 - before})
    assert_same_collection(stored(config, default_embedders), clean)


def test_bulk_files_follow_the_collection_schema(tmp_path, sample_catalog, local_ray, default_embedders):
    pytest.importorskip("pymilvus.bulk_writer", reason="bulk files need the [bulk] extra: pip install -e '.[bulk]'")
    import pyarrow.parquet as pq
    from pymilvus import DataType

    config = lite(tmp_path, "bulk.db")
    files = tmp_path / "bulk"
    summary = ingest(sample_catalog, config, engine="ray", progress=False, bulk=str(files))
    assert summary.new == 36 and summary.bulk_files and all(Path(f).is_file() for f in summary.bulk_files)
    table = pq.read_table(summary.bulk_files) if len(summary.bulk_files) > 1 else pq.read_table(summary.bulk_files[0])
    with open_store(config, default_embedders, create=False) as store:
        schema = store.schema()[0]
        assert store.count() == 0  # new products went to the files, not the collection
    arrow = {"VARCHAR": "string", "DOUBLE": "double", "JSON": "string", "FLOAT_VECTOR": "list<element: float>"}
    expected = {f.name: arrow[f.dtype.name] for f in schema.fields if f.dtype != DataType.SPARSE_FLOAT_VECTOR}
    assert {f.name: str(f.type) for f in table.schema} == expected
    assert table.num_rows == 36
    ids = [json.loads(x)["id"] for x in sample_catalog.read_text().splitlines()]
    assert sorted(table.column("id").to_pylist()) == sorted(ids)
    assert {len(v) for v in table.column("image_vec").to_pylist()} == {1280}
    assert {len(v) for v in table.column("text_vec").to_pylist()} == {384}


def test_misuse_fails_before_any_work(tmp_path, sample_catalog):
    config = lite(tmp_path, "x.db")
    with pytest.raises(StoreError, match="Milvus Lite has neither.*--uri"):
        ingest(sample_catalog, config, engine="ray", bulk="s3://bucket/prefix")
    with pytest.raises(ValueError, match="written by the Ray engine"):
        ingest(sample_catalog, config, bulk=str(tmp_path / "files"))
    out = subprocess.run([sys.executable, "-m", "multimodal_rag", "ingest", str(sample_catalog), "--db",
                          str(tmp_path / "y.db"), "--bulk", str(tmp_path / "files")], capture_output=True, text=True)
    assert out.returncode == 2 and "--bulk go with --engine ray" in out.stderr and "Traceback" not in out.stderr
    out = subprocess.run([sys.executable, "-m", "multimodal_rag", "ingest", str(tmp_path / "nowhere"), "--db",
                          str(tmp_path / "y.db"), "--engine", "ray"], capture_output=True, text=True)
    assert out.returncode == 2 and "catalog file not found" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "y.db").exists()
