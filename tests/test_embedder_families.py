"""Every model family on a tiny, randomly initialised model of its real architecture, saved to a folder with a
real tokenizer (MiniLM's WordPiece) and a real image processor; loaded through its spec like a user's model
(the ``tiny`` fixture in conftest)."""

import io
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from multimodal_rag.catalog.images import decode_image
from multimodal_rag.embedders import EmbedderError, load_embedder
from multimodal_rag.embedders.hf import DualEncoderEmbedder, ResNetEmbedder

TEXTS = ["red running shoes", "a ceramic coffee mug", "steel wrist watch with a leather strap"]


def images():
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, (40 + 7 * i, 50, 3), dtype=np.uint8)) for i in range(3)]


@pytest.mark.parametrize("family, dim", [("clip", 24), ("siglip", 32), ("resnet50", 64)])
def test_dimension_norm_determinism_and_batching(tiny, family, dim):
    emb = load_embedder(f"{family}:{tiny[family]}")
    assert emb.dimension == dim
    pics = images()
    batch = emb.encode_images(pics)
    assert batch.shape == (3, dim)
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(emb.encode_images(pics), batch)
    one_by_one = np.concatenate([emb.encode_images([p]) for p in pics])
    np.testing.assert_allclose(one_by_one, batch, atol=1e-5)
    if isinstance(emb, DualEncoderEmbedder):
        texts = emb.encode_texts(TEXTS)
        assert texts.shape == (3, dim)
        np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)
        np.testing.assert_allclose(np.concatenate([emb.encode_texts([t]) for t in TEXTS]), texts, atol=1e-5)


@pytest.mark.parametrize("family", ["clip", "siglip"])
def test_dual_encoder_space_agrees_with_the_models_own_similarity(tiny, family):
    from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

    emb = load_embedder(f"{family}:{tiny[family]}")
    text, image = TEXTS[0], images()[0]
    ours = float(emb.encode_texts([text])[0] @ emb.encode_images([image])[0])
    model = AutoModel.from_pretrained(tiny[family]).eval()
    tokens = AutoTokenizer.from_pretrained(tiny[family])(
        [text], return_tensors="pt", **({"padding": "max_length", "max_length": 24} if family == "siglip" else {}))
    pixels = AutoImageProcessor.from_pretrained(tiny[family])(images=image, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        out = model(input_ids=tokens["input_ids"], pixel_values=pixels,
                    **({} if family == "siglip" else {"attention_mask": tokens["attention_mask"]}))
        logit = float(out.logits_per_text[0, 0])
        if family == "siglip":
            logit -= float(model.logit_bias)
        scale = float(model.logit_scale.exp())
    assert logit / scale == pytest.approx(ours, abs=1e-4)


def _bytes(img, fmt="PNG", **kw):
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def every_kind_of_image():
    rgb = Image.new("RGB", (64, 48), (200, 40, 40))
    exif = Image.Exif()
    exif[0x0112] = 8
    frames = [Image.new("RGB", (20, 20), c) for c in ((0, 0, 255), (0, 255, 0))]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:])
    return {
        "grayscale": _bytes(rgb.convert("L")), "cmyk": _bytes(rgb.convert("CMYK"), "JPEG"),
        "rgba": _bytes(rgb.convert("RGBA")), "palette": _bytes(rgb.convert("P")),
        "16-bit": _bytes(Image.fromarray(np.full((30, 40), 50000, dtype=np.uint16))),
        "exif-rotated": _bytes(rgb, "JPEG", exif=exif.tobytes()), "1x1": _bytes(Image.new("RGB", (1, 1), (9, 9, 9))),
        "very wide": _bytes(Image.new("RGB", (4000, 10), (0, 120, 0))), "animated gif": gif.getvalue(),
    }


@pytest.mark.parametrize("spec", ["efficientnet-lite0", "clip", "resnet50", "gme"])
def test_every_common_kind_of_image_embeds(tiny, spec):
    emb = load_embedder(spec if spec == "efficientnet-lite0" else f"{spec}:{tiny[spec]}")
    kinds = every_kind_of_image()
    vectors = emb.encode_images([decode_image(data) for data in kinds.values()])
    assert vectors.shape == (len(kinds), emb.dimension)
    assert np.all(np.isfinite(vectors))
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_over_long_text_is_truncated_and_counted(tiny):
    long_text = " ".join(["waterproof hiking boot"] * 200)
    for emb in (load_embedder(f"clip:{tiny['clip']}"), load_embedder("sentence-transformers:all-MiniLM-L6-v2")):
        before = emb.truncated
        vectors = emb.encode_texts([long_text, "short"])
        assert vectors.shape[0] == 2 and emb.truncated == before + 1


def test_missing_package_and_missing_model_are_named(tiny, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(EmbedderError, match="needs the package transformers"):
        load_embedder(f"siglip:{tmp_path}/absent").dimension
    monkeypatch.undo()
    with pytest.raises(EmbedderError, match="cannot load clip:"):
        load_embedder(f"clip:{tmp_path}/absent").dimension
    with pytest.raises(EmbedderError, match="clip needs a model"):
        load_embedder("clip")


def test_a_text_query_searches_a_dual_encoder_image_field(tiny, sample_catalog, make_config):
    from multimodal_rag.ingestion import ingest
    from multimodal_rag.retrieval import ProductQuery, ProductRetriever

    config = make_config(f'vectors.image.embedder="clip:{tiny["clip"]}"')
    summary = ingest(sample_catalog, config, progress=False)
    assert summary.embedded == {"text": 36, "image": 36}
    retriever = ProductRetriever.from_config(config, k=36)
    try:
        text_docs = retriever.invoke(ProductQuery(text="blue mug"))
        image_docs = retriever.invoke(ProductQuery(image=sample_catalog.parent / "images" / "mug-red.png", k=1))
    finally:
        retriever.close()
    assert any("image" in d.metadata["scores"] for d in text_docs)  # the text went to the image field too
    # "understood": "blue" and "mug" are the sample catalog's facet values (Color, Type), a list of their own;
    # "understood_relaxed": the colour is soft, so mugs of other colours make a second list
    assert {k for d in text_docs for k in d.metadata["scores"]} == {"text", "bm25", "image", "understood",
                                                                    "understood_relaxed"}
    assert image_docs[0].id == "mug-red" and image_docs[0].metadata["ranks"] == {"image": 1}


def test_models_list_names_every_family_and_what_loads_offline():
    import json
    import subprocess

    out = subprocess.run([sys.executable, "-m", "multimodal_rag", "models", "list", "--json"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    rows = {r["family"]: r["offline"] for r in json.loads(out.stdout)}
    assert rows == {"sentence-transformers": True, "efficientnet-lite0": True, "resnet50": False, "clip": False,
                    "siglip": False, "aligned": True, "fusion": True, "gme": False}


def _fresh(family, folder):
    """A new embedder for the folder (load_embedder keeps one per spec for the process)."""
    if family == "resnet50":
        return ResNetEmbedder(folder)
    return DualEncoderEmbedder(family, folder, "CLIPModel" if family == "clip" else "SiglipModel",
                               pad_to_max_length=family == "siglip")


def test_resnet_runs_in_onnx_runtime_on_cpu_and_vision_transformers_in_torch(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("MMRAG_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("MMRAG_ONNX", raising=False)
    backends = {}
    for family in ("resnet50", "clip", "siglip"):
        emb = _fresh(family, tiny[family])
        emb.encode_images(images()[:1])
        backends[family] = emb.backend
    assert backends == {"resnet50": "onnx", "clip": "torch", "siglip": "torch"}


@pytest.mark.parametrize("family", ["clip", "siglip", "resnet50"])
def test_the_image_tower_in_onnx_runtime_gives_torchs_vectors(tiny, family, tmp_path, monkeypatch):
    monkeypatch.setenv("MMRAG_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("MMRAG_ONNX", "1")
    pics = images() + [decode_image(data) for data in every_kind_of_image().values()]
    onnx = _fresh(family, tiny[family])
    vectors = onnx.encode_images(pics)
    assert onnx.backend == "onnx"
    [exported] = (tmp_path / "onnx").glob(f"{family}-image-*.onnx")
    monkeypatch.setenv("MMRAG_ONNX", "0")
    eager = _fresh(family, tiny[family])
    np.testing.assert_allclose(eager.encode_images(pics), vectors, atol=1e-5)
    assert eager.backend == "torch"
    # exported once: a later process reads the cached file and does not export again
    monkeypatch.setenv("MMRAG_ONNX", "1")
    monkeypatch.setattr(torch.onnx, "export", lambda *a, **k: pytest.fail("exported twice"))
    again = _fresh(family, tiny[family])
    np.testing.assert_allclose(again.encode_images(pics[:2]), vectors[:2], atol=1e-6)
    assert again.backend == "onnx" and list((tmp_path / "onnx").glob("*.onnx")) == [exported]


def test_a_model_that_does_not_export_stays_on_torch_with_a_warning(tiny, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("MMRAG_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("MMRAG_ONNX", raising=False)

    def refuse(*args, **kwargs):
        raise RuntimeError("unsupported operator")

    monkeypatch.setattr(torch.onnx, "export", refuse)
    emb = _fresh("resnet50", tiny["resnet50"])
    with caplog.at_level("WARNING", logger="multimodal_rag.embedders.hf"):
        vectors = emb.encode_images(images())
    assert emb.backend == "torch" and vectors.shape == (3, 64)
    assert "ONNX export of resnet50:" in caplog.text and "unsupported operator" in caplog.text
    assert "stays on torch" in caplog.text
    assert not list((tmp_path / "onnx").glob("*"))  # nothing half-written is left
