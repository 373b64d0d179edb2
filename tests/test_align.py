"""mmrag align and aligned:DIR on real Myntra products with the offline towers (MiniLM, EfficientNet-Lite0)."""

import json
from dataclasses import replace

import numpy as np
import pytest

from multimodal_rag.config import load_config
from multimodal_rag.embedders import EmbedderError
from multimodal_rag.embedders.aligned import AlignedEmbedder
from multimodal_rag.alignment.options import AlignOptions
from multimodal_rag.alignment.train import align, batches, normalise
from multimodal_rag.ingestion import ingest
from multimodal_rag.retrieval import ProductQuery, ProductRetriever
from tests.conftest import MYNTRA, require_shared_data

N_PRODUCTS = 1500
OPTIONS = AlignOptions(dimension=128, epochs=25, batch_size=128, val_fraction=0.1, seed=7)


@pytest.fixture(scope="module")
def myntra_catalog(tmp_path_factory):
    require_shared_data()
    folder = tmp_path_factory.mktemp("align")
    rows = []
    with open(MYNTRA / "products.jsonl", encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            row["image"] = str(MYNTRA / row["image"])
            rows.append(row)
            if len(rows) == N_PRODUCTS:
                break
    path = folder / "products.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path, rows


@pytest.fixture(scope="module")
def cache_folder(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        folder = tmp_path_factory.mktemp("cache")
        patch.setenv("MMRAG_CACHE_DIR", str(folder))
        yield folder


@pytest.fixture(scope="module")
def trained(myntra_catalog, cache_folder, tmp_path_factory):
    path, _ = myntra_catalog
    out = tmp_path_factory.mktemp("adapter")
    return out, align(path, out, OPTIONS, progress=False)


def test_training_learns_far_above_random_heads_and_is_reproducible(trained, myntra_catalog, tmp_path):
    out, summary = trained
    assert summary.products == N_PRODUCTS and summary.train + summary.val == N_PRODUCTS
    assert summary.before["recall@10"] < 0.2
    assert summary.after["recall@10"] > summary.before["recall@10"] + 0.3
    assert summary.after["recall@10"] == max(r["recall@10"] for r in summary.history)
    again = align(myntra_catalog[0], tmp_path / "again", OPTIONS, progress=False)
    assert (tmp_path / "again" / "heads.safetensors").read_bytes() == (out / "heads.safetensors").read_bytes()
    assert again.history == summary.history
    other = align(myntra_catalog[0], tmp_path / "other", replace(OPTIONS, seed=8, epochs=1), progress=False)
    assert (tmp_path / "other" / "heads.safetensors").read_bytes() != (out / "heads.safetensors").read_bytes()
    assert other.val != summary.val or other.history != summary.history


def test_validation_never_shares_a_title_with_training(trained, myntra_catalog):
    out, summary = trained
    config = json.loads((out / "aligned.json").read_text())
    assert config["split"]["train"] == summary.train and config["split"]["val"] == summary.val
    assert config["text_tower"]["spec"] == OPTIONS.text and config["validation"]["best_epoch"] == summary.best_epoch


def test_held_out_task_products_are_never_seen(myntra_catalog, cache_folder, tmp_path):
    path, rows = myntra_catalog
    task = tmp_path / "task"
    task.mkdir()
    (task / "task.json").write_text(json.dumps({"corpus": str(path)}))
    (task / "queries.jsonl").write_text(json.dumps({"id": "q1", "text": rows[0]["title"]}) + "\n")
    held = [r["id"] for r in rows[:40]]
    (task / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(f"q1\t{h}\t1\n" for h in held))
    summary = align(path, tmp_path / "out", replace(OPTIONS, epochs=1, exclude=(str(task),)), progress=False)
    assert summary.excluded == 40 and summary.products == N_PRODUCTS - 40


def test_hard_negative_batches_hold_one_category():
    categories = ["a"] * 10 + ["b"] * 7 + ["c"] * 1
    rng = np.random.default_rng(0)
    out = batches(np.arange(18), categories, replace(OPTIONS, hard_negatives=True, batch_size=4), rng)
    assert sorted(int(i) for b in out for i in b) == list(range(17))  # the lone "c" makes no batch
    assert all(len({categories[i] for i in b}) == 1 and 1 < len(b) <= 4 for b in out)


def test_text_queries_find_photos_through_milvus_as_in_validation(trained, myntra_catalog, tmp_path):
    """The adapter in the product: an image-only collection, searched by text through ProductRetriever, ranks
    validation products exactly as the training run's own validation measured."""
    out, summary = trained
    path, rows = myntra_catalog
    config = json.loads((out / "aligned.json").read_text())
    adapter = AlignedEmbedder(str(out))
    keys = [normalise(r["title"]) for r in rows]
    from multimodal_rag.alignment.train import split_groups

    _, val = split_groups(keys, OPTIONS.val_fraction, OPTIONS.seed)
    val_rows = [rows[i] for i in val]
    images_only = tmp_path / "images.jsonl"
    images_only.write_text("\n".join(json.dumps({"id": r["id"], "image": r["image"]}) for r in val_rows) + "\n")
    cfg = load_config("configs/aligned.toml", [f"vectors.image.embedder=\"aligned:{out}\"",
                                               f"store.db=\"{tmp_path / 'a.db'}\""])
    ingest(images_only, cfg, progress=False)
    retriever = ProductRetriever.from_config(cfg, k=10)
    title_of = {r["id"]: normalise(r["title"]) for r in val_rows}
    try:
        hits = []
        for r in val_rows:
            docs = retriever.invoke(ProductQuery(text=r["title"]))
            assert all(set(d.metadata["ranks"]) == {"image"} for d in docs)  # image-only products: photo field
            hits.append(normalise(r["title"]) in {title_of[d.metadata["id"]] for d in docs})
    finally:
        retriever.close()
    assert abs(np.mean(hits) - summary.after["recall@10"]) < 0.02
    assert adapter.dimension == config["dimension"] == 128


def test_an_adapter_refuses_towers_it_was_not_trained_on(trained, tmp_path):
    out, _ = trained
    moved = tmp_path / "moved"
    moved.mkdir()
    (moved / "heads.safetensors").write_bytes((out / "heads.safetensors").read_bytes())
    config = json.loads((out / "aligned.json").read_text())
    config["image_tower"]["identity"] = "efficientnet-lite0/some-other-preprocessing"
    (moved / "aligned.json").write_text(json.dumps(config))
    with pytest.raises(EmbedderError, match="trained on the image tower 'efficientnet-lite0/some-other-preprocessing'"):
        AlignedEmbedder(str(moved))
    with pytest.raises(EmbedderError, match="not an adapter folder"):
        AlignedEmbedder(str(tmp_path / "nothing"))
