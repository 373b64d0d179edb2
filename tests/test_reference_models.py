"""Every model with real weights here, checked against its reference implementation on real inputs.

Two of our own paths agreeing (ONNX and torch, say) proves nothing about either: these tests compare the library
with the packages' own unmodified models.
"""

from pathlib import Path

import numpy as np
import pytest
import torch

from multimodal_rag.catalog.images import load_image
from multimodal_rag.embedders import load_embedder
from multimodal_rag.embedders.image import EfficientNetLite0Embedder, _normalise, load_package_model
from multimodal_rag.embedders.text import resolve_model_path
from tests.conftest import FLIPKART, GROCERY, require_shared_data

GRACE_HOPPER = Path(__import__("matplotlib").get_data_path()) / "sample_data" / "grace_hopper.jpg"
# Real photos whose ImageNet class is unambiguous, and that class (index, name): a portrait shipped with matplotlib,
# two grocery_dev catalog photos and a Flipkart mug. The package's classifier gives each its class with
# probability 0.39, 0.96, 0.98 and 0.92 under the reference scaling.
REFERENCE_PHOTOS = [
    (GRACE_HOPPER, 652, "military uniform"),
    (GROCERY / "images" / "1.jpg", 948, "Granny Smith"),
    (GROCERY / "images" / "6.jpg", 954, "banana"),
    (FLIPKART / "images" / "493d1eb6ad7a48a926092bf994cd0bb0.jpg", 504, "coffee mug"),
]


def reference_input(path: Path) -> torch.Tensor:
    """The Lite models' reference preprocessing: a plain resize to 224 and (x - 127) / 128."""
    pixels = np.asarray(load_image(path).resize((224, 224)), dtype=np.uint8)
    return torch.from_numpy(_normalise([pixels]))


@pytest.fixture(scope="module")
def package_model():
    require_shared_data()
    return load_package_model()


@pytest.mark.parametrize("path, index, name", REFERENCE_PHOTOS, ids=[p[2] for p in REFERENCE_PHOTOS])
def test_the_package_classifier_names_the_photo(package_model, path, index, name):
    with torch.no_grad():
        probabilities = package_model(reference_input(path)).softmax(dim=1)[0]
    assert int(probabilities.argmax()) == index, (name, probabilities.topk(3))


@pytest.mark.parametrize("backend", ["onnx", "torch"])
def test_our_features_are_the_package_models_pooled_features(package_model, backend):
    """Our vectors equal the unmodified package model's pooled features on the same pixels, to 1e-4.

    The package's ``set_swish()`` replaces the Lite network's ReLU6 with Swish everywhere; with it this test
    fails: the vectors differ by up to 0.31 (cosine 0.10-0.12 to the reference's) on these photos.
    """
    emb = load_embedder("efficientnet-lite0") if backend == "onnx" else EfficientNetLite0Embedder("torch")
    images = [load_image(path) for path, _, _ in REFERENCE_PHOTOS]
    prepared = [emb.prepare(img) for img in images]
    with torch.no_grad():
        pixels = torch.from_numpy(_normalise(prepared))
        reference = package_model._avg_pooling(package_model.extract_features(pixels)).flatten(1).numpy()
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)
    np.testing.assert_allclose(emb.encode_images(images), reference, atol=1e-4)


def test_the_packages_network_keeps_its_relu6(package_model):
    assert isinstance(package_model._swish, torch.nn.ReLU6)
    assert all(isinstance(block._swish, torch.nn.ReLU6) for block in package_model._blocks)


def test_minilm_vectors_are_sentence_transformers_own():
    from sentence_transformers import SentenceTransformer

    texts = ["Prestige Deluxe Plus 10 L Pressure Cooker", "navy blue shirts for men",
             "Elegance Polyester Multicolor Abstract Eyelet Door Curtain. Home Furnishing > Curtains"]
    reference = SentenceTransformer(resolve_model_path("all-MiniLM-L6-v2")).encode(texts, normalize_embeddings=True)
    ours = load_embedder("sentence-transformers:all-MiniLM-L6-v2").encode_texts(texts)
    np.testing.assert_allclose(ours, reference, atol=1e-5)
    np.testing.assert_allclose(load_embedder("sentence-transformers:all-MiniLM-L6-v2").encode_texts(texts, query=True),
                               reference, atol=1e-5)  # MiniLM has no query prompt: queries embed the same way
