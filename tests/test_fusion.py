"""``fusion:<dual encoder>``: a product's photo and text in one vector, on the tiny CLIP (conftest ``tiny``)."""

import json

import numpy as np
import pytest
from PIL import Image

from multimodal_rag.config import ConfigError, load_config
from multimodal_rag.embedders import EmbedderError, load_embedder
from multimodal_rag.embedders.base import l2_normalize
from multimodal_rag.embedders.fields import load_embedders
from multimodal_rag.ingestion import ingest
from multimodal_rag.retrieval import ProductQuery, ProductRetriever
from multimodal_rag.store.milvus import StoreError
from tests.conftest import read_stored

TEXTS = ["red running shoes", "a ceramic coffee mug", "steel wrist watch with a leather strap"]


def photos():
    rng = np.random.default_rng(1)
    return [Image.fromarray(rng.integers(0, 255, (40, 30 + 9 * i, 3), dtype=np.uint8)) for i in range(3)]


def fused_field(tiny, weights='{"image": 0.7, "text": 0.3}', sources='["image", "title"]'):
    return [f'vectors.fused.embedder="fusion:clip:{tiny["clip"]}"', f"vectors.fused.sources={sources}",
            f"vectors.fused.weights={weights}", 'search.fields=["fused"]']


def test_a_fused_vector_is_the_weighted_sum_of_the_photo_and_the_text(tiny):
    inner = load_embedder(f"clip:{tiny['clip']}")
    fusion = load_embedder(f"fusion:clip:{tiny['clip']}").with_weights((0.7, 0.3))
    assert fusion.inner is inner and fusion.dimension == inner.dimension == 24
    prepared = [inner.prepare(p) for p in photos()]
    fused = fusion.encode_fused(TEXTS, prepared)
    expected = l2_normalize(0.7 * inner.encode_images(photos()) + 0.3 * inner.encode_texts(TEXTS))
    np.testing.assert_allclose(fused, expected, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(fused, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.concatenate([fusion.encode_fused([t], [p]) for t, p in zip(TEXTS, prepared)]),
                               fused, atol=1e-5)
    # the weights matter: the photo pulls harder at 0.7 than at 0.3
    other = load_embedder(f"fusion:clip:{tiny['clip']}").with_weights((0.3, 0.7)).encode_fused(TEXTS, prepared)
    images = inner.encode_images(photos())
    assert all((fused * images).sum(1) > (other * images).sum(1))
    # a product with one part gets that part alone
    partial = fusion.encode_fused([TEXTS[0], None, ""], [None, prepared[1], prepared[2]])
    np.testing.assert_allclose(partial[0], inner.encode_texts([TEXTS[0]])[0], atol=1e-5)
    np.testing.assert_allclose(partial[1:], images[1:], atol=1e-5)
    with pytest.raises(ValueError, match=r"items \[1\] have neither text nor an image"):
        fusion.encode_fused(["x", None], [None, None])


def test_the_weights_are_part_of_the_identity(tiny):
    base = load_embedder(f"fusion:clip:{tiny['clip']}")
    inner = load_embedder(f"clip:{tiny['clip']}")
    identities = {base.identity, base.with_weights((0.7, 0.3)).identity, base.with_weights((0.3, 0.7)).identity}
    assert len(identities) == 3 and all(i.endswith(inner.identity) for i in identities)


def test_fusion_takes_only_a_dual_encoder():
    with pytest.raises(EmbedderError, match="does not put text and images in one space.*clip:, siglip:, aligned:"):
        load_embedder("fusion:sentence-transformers:all-MiniLM-L6-v2")
    with pytest.raises(EmbedderError, match="fusion needs a dual encoder"):
        load_embedder("fusion")


@pytest.mark.parametrize("overrides, message", [
    (['vectors.image.weights={"image": 1}'], "vectors.image.weights: only a field whose sources mix"),
    (['vectors.x.embedder="fusion:clip:m"', 'vectors.x.sources=["image", "title"]',
      'vectors.x.weights={"image": -1}'], r"vectors.x.weights.image must be at least 0.0, not -1"),
    (['vectors.x.embedder="fusion:clip:m"', 'vectors.x.sources=["image", "title"]',
      'vectors.x.weights={"image": 0, "text": 0}'],
     r"vectors.x.weights: at least one of \['image', 'text'\] must be above 0"),
    (['vectors.x.embedder="fusion:clip:m"', 'vectors.x.sources=["image", "title"]',
      'vectors.x.weights={"photo": 1}'],
     r"vectors.x.weights: unknown key\(s\) \['photo'\]; known: \['image', 'text'\]"),
    (['vectors.x.embedder="fusion:clip:m"', 'vectors.x.sources=["image", "title"]', 'vectors.x.weight=1'],
     r"vectors.x: unknown key\(s\) \['weight'\]"),
])
def test_config_errors_name_the_field(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)


def test_a_fusion_embedder_on_a_photo_only_field_is_refused(tiny):
    config = load_config(None, [f'vectors.image.embedder="fusion:clip:{tiny["clip"]}"'])
    with pytest.raises(EmbedderError, match="vectors.image: fusion:clip:.* combines the photo with text"):
        load_embedders(config)


def test_a_field_mixing_the_photo_and_text_needs_a_fused_embedder(tiny):
    config = load_config(None, [f'vectors.image.embedder="clip:{tiny["clip"]}"',
                                'vectors.image.sources=["image", "title"]'])
    with pytest.raises(EmbedderError, match=r"vectors.image: clip:.* cannot embed a photo and text together "
                                            r"\(sources \['image', 'title'\]\); use fusion:<dual-encoder-spec> "
                                            r"or gme:"):
        load_embedders(config)


def test_ingest_and_search_a_fused_field(tiny, sample_catalog, make_config, tmp_path):
    config = make_config(*fused_field(tiny))
    summary = ingest(sample_catalog, config, progress=False)
    assert summary.new == 36 and summary.embedded["fused"] == 36
    embedders = load_embedders(config)
    fusion = embedders["fused"]
    assert fusion.weights == (0.7, 0.3)
    rows = [json.loads(line) for line in sample_catalog.read_text().split("\n") if line]
    mug = next(r for r in rows if r["id"] == "mug-blue")
    photo = Image.open(sample_catalog.parent / mug["image"]).convert("RGB")
    stored = read_stored(config, ["mug-blue"], ["fused_vec"])["mug-blue"]["fused_vec"]
    np.testing.assert_allclose(stored, fusion.encode_fused([mug["title"]], [fusion.prepare(photo)])[0], atol=1e-5)

    retriever = ProductRetriever.from_config(config, k=5)
    try:
        both = retriever.invoke(ProductQuery(text=mug["title"], image=photo))
        by_photo = retriever.invoke(ProductQuery(image=photo))
        by_text = retriever.invoke(ProductQuery(text=mug["title"]))
    finally:
        retriever.close()
    # the query's title and photo, fused with the field's weights, is the stored vector itself
    assert both[0].id == "mug-blue" and both[0].metadata["score"] == pytest.approx(1.0, abs=1e-4)
    assert both[0].metadata["ranks"] == {"fused": 1}
    assert by_photo[0].metadata["ranks"] == {"fused": 1} and by_text[0].metadata["ranks"] == {"fused": 1}
    assert len(by_photo) == len(by_text) == 5

    # the same store with other weights is another config
    with pytest.raises(StoreError, match="made with another config"):
        ingest(sample_catalog, make_config(*fused_field(tiny, weights='{"image": 0.3, "text": 0.7}')),
                   progress=False)


def test_a_failed_photo_keeps_the_stored_fused_vector_and_a_missing_one_fuses_the_text(tiny, sample_catalog,
                                                                                         make_config, tmp_path):
    config = make_config(*fused_field(tiny))
    ingest(sample_catalog, config, progress=False)
    rows = [json.loads(line) for line in sample_catalog.read_text().split("\n") if line]
    for r in rows:
        if r["id"] == "mug-red":
            (sample_catalog.parent / r["image"]).write_bytes(b"\x89PNG\r\n\x1a\n not really")
        if r["id"] == "watch-blue":
            r["image"] = ""
    sample_catalog.write_text("".join(json.dumps(r) + "\n" for r in rows))
    before = read_stored(config, ["mug-red", "watch-blue"], ["fused_vec", "fused_hash"])

    errors = tmp_path / "errors.jsonl"
    summary = ingest(sample_catalog, config, progress=False, errors_path=errors)
    assert [json.loads(line)["id"] for line in errors.read_text().split("\n") if line] == ["mug-red"]
    assert summary.embedded == {"text": 0, "image": 0, "fused": 1}  # only the product whose photo was removed
    after = read_stored(config, ["mug-red", "watch-blue"], ["fused_vec", "fused_hash", "image"])
    assert after["mug-red"]["fused_hash"] == before["mug-red"]["fused_hash"]
    np.testing.assert_allclose(after["mug-red"]["fused_vec"], before["mug-red"]["fused_vec"])
    watch = next(r for r in rows if r["id"] == "watch-blue")
    np.testing.assert_allclose(after["watch-blue"]["fused_vec"],
                               load_embedders(config)["fused"].inner.encode_texts([watch["title"]])[0], atol=1e-5)
    assert after["watch-blue"]["fused_hash"] != before["watch-blue"]["fused_hash"]


def test_the_fused_parts_come_from_the_cache_so_new_weights_compute_nothing(tiny, sample_catalog, tmp_path,
                                                                             monkeypatch):
    monkeypatch.setenv("MMRAG_CACHE_DIR", str(tmp_path / "cache"))

    def config(collection, weights):
        return load_config(None, [f"store.db={json.dumps(str(tmp_path / 'c.db'))}",
                                  f"store.collection={json.dumps(collection)}", "ingest.embedding_cache=true",
                                  f'vectors.image.embedder="clip:{tiny["clip"]}"',
                                  *fused_field(tiny, weights=weights)])

    first = ingest(sample_catalog, config("first", '{"image": 0.7, "text": 0.3}'), progress=False)
    # the image field of the same dual encoder computed the photos; the fused field read them
    assert first.embedded == {"text": 36, "image": 36, "fused": 36} and first.cache_hits == 36
    other = config("second", '{"image": 0.3, "text": 0.7}')
    second = ingest(sample_catalog, other, progress=False)
    assert second.embedded == {"text": 36, "image": 36, "fused": 36} and second.cache_hits == 36 * 4
    stored = read_stored(other, ["mug-blue"], ["fused_vec"])["mug-blue"]["fused_vec"]
    fusion = load_embedders(other)["fused"]
    assert fusion.weights == (0.3, 0.7)
    row = next(json.loads(line) for line in sample_catalog.read_text().split("\n") if '"mug-blue"' in line)
    photo = Image.open(sample_catalog.parent / row["image"]).convert("RGB")
    np.testing.assert_allclose(stored, fusion.encode_fused([row["title"]], [fusion.prepare(photo)])[0], atol=1e-5)


def test_every_shipped_config_loads_and_the_fused_ones_say_what_they_fuse():
    from pathlib import Path

    configs = {p.name: load_config(p) for p in sorted((Path(__file__).parents[1] / "configs").glob("*.toml"))}
    assert {"default.toml", "fused.toml", "fused-only.toml"} <= set(configs)
    fused = {v.name: v for v in configs["fused.toml"].vectors}["fused"]
    assert (fused.modality, fused.sources, fused.weights) == ("fused", ("image", "title"), (0.5, 0.5))
    assert fused.embedder == "fusion:aligned:./mmrag-aligned"
    assert configs["fused-only.toml"].search.fields == ("fused",)
