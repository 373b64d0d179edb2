"""`mmrag migrate`: a new version behind the alias, old vectors copied, only new fields embedded, no downtime."""

import threading

import numpy as np
import pytest

from multimodal_rag.catalog.images import load_image
from multimodal_rag.catalog.photos import PhotoProfile
from multimodal_rag.embedders.base import ImageEmbedder, TextEmbedder
from multimodal_rag.embedders.cache import EmbeddingCache
from multimodal_rag.embedders.image import IDENTITY
from multimodal_rag.ingestion.steps import content_hash
from multimodal_rag.store.milvus import open_store
from multimodal_rag.ingestion import ingest
from multimodal_rag.ingestion.migrate import migrate
from multimodal_rag.retrieval import ProductQuery, ProductRetriever
from multimodal_rag.store.milvus import ProductStore, StoreError
from tests.conftest import read_stored


class Counting:
    """Wraps an embedder with the same identity, counting the inputs it encodes."""

    def __init__(self, inner):
        self.inner, self.spec, self.calls = inner, inner.spec, 0

    @property
    def dimension(self):
        return self.inner.dimension

    @property
    def identity(self):
        return self.inner.identity


class CountingText(Counting, TextEmbedder):
    def encode_texts(self, texts, *, query=False, batch_size=None):
        self.calls += len(texts)
        return self.inner.encode_texts(texts, query=query, batch_size=batch_size)


class CountingImage(Counting, ImageEmbedder):
    def prepare(self, image):
        return self.inner.prepare(image)

    def encode_prepared(self, prepared, *, batch_size=None):
        self.calls += len(prepared)
        return self.inner.encode_prepared(prepared, batch_size=batch_size)


def test_adding_a_field_embeds_only_it_and_readers_never_stop(sample_catalog, make_config, default_embedders):
    old = make_config()
    ingest(sample_catalog, old, progress=False, embedders=default_embedders)
    with open_store(old, default_embedders, create=False) as store:
        before = store.get(["mug-red", "lamp-blue"], ["text_vec", "image_vec"])
        assert store.physical_name() == f"{old.store.collection}__v1"

    new = make_config('vectors.title.embedder="sentence-transformers:all-MiniLM-L6-v2"',
                      'vectors.title.sources=["title"]')
    counting = {"text": CountingText(default_embedders["text"]), "image": CountingImage(default_embedders["image"]),
                "title": CountingText(default_embedders["text"])}

    reader = ProductRetriever.from_config(old, k=3)  # bound to the alias, opened before the move
    done, errors, during = threading.Event(), [], []

    def keep_searching():
        while not done.is_set():
            try:
                during.append(reader.invoke(ProductQuery(text="Acme Red Ceramic Coffee Mug"))[0].id)
            except Exception as exc:  # the assertion below reports it
                errors.append(exc)

    thread = threading.Thread(target=keep_searching)
    thread.start()
    try:
        summary = migrate(new, progress=False, embedders=counting)
    finally:
        done.set()
        thread.join()
    after_switch = reader.invoke(ProductQuery(text="Acme Red Ceramic Coffee Mug"))
    reader.close()

    assert errors == [] and len(during) >= 2 and set(during) == {"mug-red"}
    assert after_switch[0].id == "mug-red"
    assert (counting["text"].calls, counting["image"].calls, counting["title"].calls) == (0, 0, 36)
    assert summary.embedded == {"text": 0, "image": 0, "title": 36}
    assert summary.reused == {"text": 36, "image": 36} and summary.products == 36 and summary.failed == 0
    assert (summary.source, summary.target) == (f"{old.store.collection}__v1", f"{old.store.collection}__v2")

    with open_store(new, default_embedders | {"title": default_embedders["text"]}, create=False) as store:
        assert store.physical_name() == summary.target and store.count() == 36
        assert store.photo_profile == PhotoProfile(256, 256, 1.0, 36)  # the photos' profile moves with them
        moved = store.get(["mug-red", "lamp-blue"], ["text_vec", "image_vec", "title_vec"])
    for pid in before:
        assert np.array_equal(moved[pid]["text_vec"], before[pid]["text_vec"])
        assert np.array_equal(moved[pid]["image_vec"], before[pid]["image_vec"])
        assert np.linalg.norm(moved[pid]["title_vec"]) == pytest.approx(1.0, abs=1e-5)

    fresh = ProductRetriever.from_config(new, k=3)
    try:
        [doc, *_] = fresh.invoke("Northwind Blue Ceramic Coffee Mug")
        assert doc.id == "mug-blue" and set(doc.metadata["scores"]) == {"text", "title", "bm25", "understood",
                                                              "understood_relaxed"}  # the facets move too
    finally:
        fresh.close()

    with pytest.raises(StoreError, match="already has this config"):
        migrate(new, progress=False, embedders=counting)


ALTERED_NETWORK = "efficientnet-lite0/pad-square-224-imagenet-norm"  # the identity vectors of the Swish network had


def test_a_collection_of_the_altered_networks_vectors_is_refused_until_migrated(sample_catalog, make_config,
                                                                               default_embedders, tmp_path,
                                                                               monkeypatch):
    """Collections and cached vectors made before the network was fixed are never mixed with the true network's."""
    config = make_config("ingest.embedding_cache=true")
    monkeypatch.setenv("MMRAG_CACHE_DIR", str(tmp_path / "cache"))
    dimensions = {n: e.dimension for n, e in default_embedders.items()}
    identities = {n: e.identity for n, e in default_embedders.items()} | {"image": ALTERED_NETWORK}
    ProductStore.open(config, dimensions, identities).close()  # made by a version with the altered network
    with pytest.raises(StoreError, match=f"image=efficientnet-lite0/pad-square-224-imagenet-norm/1280d.*"
                                         f"image={IDENTITY}/1280d.*mmrag migrate"):
        ingest(sample_catalog, config, progress=False, embedders=default_embedders)

    # Vectors cached under the old identity are never served for the new one: plant a wrong vector under the key
    # the old network's vector of a photo had, and the ingest stores the true network's vector.
    photo = (sample_catalog.parent / "images" / "mug-red.png").read_bytes()
    cache = EmbeddingCache()
    cache.put({content_hash(ALTERED_NETWORK, photo): np.ones(1280, np.float32)})
    cache.close()
    fresh = make_config("ingest.embedding_cache=true", db="fresh.db")
    ingest(sample_catalog, fresh, progress=False, embedders=default_embedders)
    stored = read_stored(fresh, ["mug-red"], ["image_vec"])["mug-red"]["image_vec"]
    expected = default_embedders["image"].encode_images([load_image(sample_catalog.parent / "images" / "mug-red.png")])
    np.testing.assert_allclose(stored, expected[0], atol=1e-5)
