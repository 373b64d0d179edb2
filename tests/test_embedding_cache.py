"""The embedding cache: vectors computed once per (model, content), reused across collections."""

import json

import numpy as np

from multimodal_rag.config import load_config
from multimodal_rag.embedders.cache import EmbeddingCache
from multimodal_rag.store.milvus import open_store
from multimodal_rag.ingestion import ingest


def test_through_computes_only_what_is_missing_in_order(tmp_path):
    cache = EmbeddingCache(tmp_path / "e.sqlite")
    calls = []

    def compute(positions):
        calls.append(list(positions))
        return np.array([[float(p), 1.0] for p in positions], dtype=np.float32)

    first = cache.through(["a", "b", "c"], compute)
    assert calls == [[0, 1, 2]] and first[:, 0].tolist() == [0.0, 1.0, 2.0]
    second = cache.through(["c", "x", "a"], compute)
    assert calls[-1] == [1] and second[:, 0].tolist() == [2.0, 1.0, 0.0]
    assert (cache.hits, cache.misses) == (2, 4)
    cache.close()
    reopened = EmbeddingCache(tmp_path / "e.sqlite")
    assert sorted(reopened.get(["a", "b", "c", "x", "zzz"])) == ["a", "b", "c", "x"]
    reopened.close()


def test_a_second_collection_reads_every_vector_from_the_cache(sample_catalog, tmp_path, monkeypatch,
                                                               default_embedders):
    monkeypatch.setenv("MMRAG_CACHE_DIR", str(tmp_path / "cache"))
    vectors = {}
    for name in ("first", "second"):
        config = load_config(None, [f"store.db={json.dumps(str(tmp_path / 'c.db'))}",
                                    f"store.collection={json.dumps(name)}", "ingest.embedding_cache=true"])
        summary = ingest(sample_catalog, config, progress=False, embedders=default_embedders)
        assert summary.new == 36 and summary.embedded == {"text": 36, "image": 36}
        assert summary.cache_hits == (0 if name == "first" else 72)
        store = open_store(config, default_embedders, create=False)
        vectors[name] = store.get(["mug-blue"], ["text_vec", "image_vec"])["mug-blue"]
        store.close()
    for field in ("text_vec", "image_vec"):
        assert np.allclose(vectors["first"][field], vectors["second"][field], atol=1e-6)


def test_ingest_without_the_cache_writes_none(sample_catalog, tmp_path, monkeypatch, default_embedders):
    monkeypatch.setenv("MMRAG_CACHE_DIR", str(tmp_path / "cache"))
    config = load_config(None, [f"store.db={json.dumps(str(tmp_path / 'c.db'))}"])
    summary = ingest(sample_catalog, config, progress=False, embedders=default_embedders)
    assert summary.cache_hits == 0 and not (tmp_path / "cache" / "embeddings.sqlite").exists()

