"""The offline default embedders: real weights, meaningful results, ONNX equal to torch."""

import numpy as np
import pytest
from PIL import Image

from multimodal_rag.catalog.images import load_image
from multimodal_rag.embedders import EmbedderError, load_embedder
from multimodal_rag.embedders.image import EfficientNetLite0Embedder
from tests.conftest import FLIPKART, require_shared_data


def test_minilm_puts_sneakers_nearer_to_running_shoes_than_a_knife():
    emb = load_embedder("sentence-transformers:all-MiniLM-L6-v2")
    assert emb.dimension == 384
    q, sneakers, knife = emb.encode_texts(["running shoes", "sneakers", "kitchen knife"])
    assert float(q @ sneakers) > float(q @ knife) + 0.2
    vectors = emb.encode_texts(["running shoes", "sneakers"], query=True)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_efficientnet_onnx_matches_torch_and_is_normalised():
    images = [Image.new("RGB", (300, 200), c) for c in ((250, 10, 10), (10, 250, 10), (30, 30, 200))]
    onnx, eager = load_embedder("efficientnet-lite0"), EfficientNetLite0Embedder("torch")
    a, b = onnx.encode_images(images), eager.encode_images(images)
    assert a.shape == (3, 1280)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(a, b, atol=1e-4)
    # batching does not change a vector
    np.testing.assert_allclose(onnx.encode_images(images[:1]), a[:1], atol=1e-5)


def test_a_resized_product_photo_finds_its_own_photo_first():
    require_shared_data()
    paths = sorted((FLIPKART / "images").iterdir())[:300]
    emb = load_embedder("efficientnet-lite0")
    corpus = emb.encode_images([load_image(p) for p in paths])
    for i in (0, 57, 123, 299):
        photo = load_image(paths[i])
        query = photo.resize((photo.width * 2 // 3, photo.height * 2 // 3), Image.Resampling.LANCZOS)
        scores = corpus @ emb.encode_images([query])[0]
        assert int(np.argmax(scores)) == i


def test_unknown_family_names_the_known_ones():
    with pytest.raises(EmbedderError, match="unknown embedder 'nope:x'; known families: aligned, clip, "
                                            "efficientnet-lite0, fusion, gme, resnet50, sentence-transformers, siglip"):
        load_embedder("nope:x")
