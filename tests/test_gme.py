"""``gme:`` on a tiny random Qwen2-VL saved with a real byte-level BPE tokenizer and Qwen2-VL's image processor
(conftest ``tiny``), checked against GME's reference inference recipe run on the same folder."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from multimodal_rag.embedders import EmbedderError, load_embedder
from multimodal_rag.embedders.gme import DOCUMENT_INSTRUCTION, GMEEmbedder
from multimodal_rag.embedders.fields import load_embedders
from multimodal_rag.ingestion import ingest
from tests.conftest import read_stored

TEXTS = ["Acme Red Running Shoes", "a ceramic coffee mug", "steel wrist watch with a leather strap"]


def photos():
    rng = np.random.default_rng(2)
    return [Image.fromarray(rng.integers(0, 255, (60 + 40 * i, 90, 3), dtype=np.uint8)) for i in range(3)]


def reference(folder, text, image, instruction=DOCUMENT_INSTRUCTION):
    """GME's own recipe (gme_inference.py): the processor expands the image placeholder, image embeddings replace
    the pad tokens, the language model runs on the embeddings, the last token is pooled and normalised."""
    from transformers import AutoImageProcessor, AutoTokenizer, Qwen2VLForConditionalGeneration

    model = Qwen2VLForConditionalGeneration.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    processor = AutoImageProcessor.from_pretrained(folder, min_pixels=256 * 28 * 28, max_pixels=1280 * 28 * 28)
    user = text or ""
    if image is not None:
        pixels = processor(images=image, return_tensors="pt")
        n = int(pixels["image_grid_thw"].prod()) // 4
        user = "<|vision_start|>" + "<|image_pad|>" * n + "<|vision_end|>" + user
    prompt = (f"<|im_start|>system\n{instruction}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n"
              "<|im_start|>assistant\n<|endoftext|>")
    ids = tokenizer([prompt], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        embeds = model.model.get_input_embeddings()(ids)
        if image is not None:
            embeds[ids == model.config.image_token_id] = model.model.visual(
                pixels["pixel_values"], grid_thw=pixels["image_grid_thw"]).pooler_output
        hidden = model.model.language_model(inputs_embeds=embeds).last_hidden_state[0, -1]
    return torch.nn.functional.normalize(hidden, dim=-1).numpy()


@pytest.fixture(scope="module")
def gme(tiny):
    return load_embedder(f"gme:{tiny['gme']}")


def test_dimension_norm_determinism_and_batching(gme):
    assert gme.dimension == 32
    prepared = [gme.prepare(p) for p in photos()]
    texts, images = gme.encode_texts(TEXTS), gme.encode_prepared(prepared)
    fused = gme.encode_fused(TEXTS, prepared)
    mixed = gme.encode_fused([TEXTS[0], None, TEXTS[2]], [None, prepared[1], prepared[2]])
    for block in (texts, images, fused, mixed):
        assert block.shape == (3, 32)
        np.testing.assert_allclose(np.linalg.norm(block, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(gme.encode_fused(TEXTS, prepared), fused)
    # a batch padded to its longest prompt gives each item what it gets alone
    np.testing.assert_allclose(mixed, np.stack([texts[0], images[1], fused[2]]), atol=1e-5)
    np.testing.assert_allclose(gme.encode_fused(TEXTS, prepared, batch_size=1), fused, atol=1e-5)
    with pytest.raises(ValueError, match=r"items \[0\] have neither text nor an image"):
        gme.encode_fused([None], [None])


def test_vectors_match_the_reference_recipe_and_its_similarity(gme, tiny):
    pic = photos()[1]
    text, image, fused = (gme.encode_texts([TEXTS[0]])[0], gme.encode_images([pic])[0],
                          gme.encode_fused([TEXTS[0]], [gme.prepare(pic)])[0])
    ref_text, ref_image = reference(tiny["gme"], TEXTS[0], None), reference(tiny["gme"], None, pic)
    np.testing.assert_allclose(text, ref_text, atol=1e-5)
    np.testing.assert_allclose(image, ref_image, atol=1e-5)
    np.testing.assert_allclose(fused, reference(tiny["gme"], TEXTS[0], pic), atol=1e-5)
    assert float(text @ image) == pytest.approx(float(ref_text @ ref_image), abs=1e-5)


def test_the_query_instruction_applies_to_queries_only(gme, tiny):
    query = gme.encode_texts([TEXTS[0]], query=True)[0]
    document = gme.encode_texts([TEXTS[0]])[0]
    np.testing.assert_allclose(query, reference(tiny["gme"], TEXTS[0], None, gme.query_instruction), atol=1e-5)
    np.testing.assert_allclose(document, reference(tiny["gme"], TEXTS[0], None), atol=1e-5)
    assert float(query @ document) < 0.9999
    # stored vectors do not depend on the query instruction, so changing it re-embeds nothing
    assert gme.identity == GMEEmbedder(tiny["gme"], query_instruction="Find a gift.").identity


def test_over_long_text_is_cut_to_fit_and_counted(tiny):
    gme = GMEEmbedder(tiny["gme"], max_length=64)
    long_text = " ".join(["waterproof hiking boot"] * 100)
    before = gme.truncated
    vectors = gme.encode_fused([long_text, "short", long_text], [None, None, gme.prepare(photos()[0])])
    assert vectors.shape == (3, 32) and np.all(np.isfinite(vectors))
    assert gme.truncated == before + 2


def test_a_photo_and_title_field_in_milvus(tiny, sample_catalog, make_config):
    overrides = [f'vectors.fused.embedder="gme:{tiny["gme"]}"', 'vectors.fused.sources=["image", "title"]',
                 'search.fields=["fused"]']
    config = make_config(*overrides)
    summary = ingest(sample_catalog, config, progress=False)
    assert summary.embedded["fused"] == 36
    embedders = load_embedders(config)
    row = next(json.loads(line) for line in sample_catalog.read_text().split("\n") if '"mug-blue"' in line)
    photo = Image.open(sample_catalog.parent / row["image"]).convert("RGB")
    stored = read_stored(config, ["mug-blue"], ["fused_vec"])["mug-blue"]["fused_vec"]
    gme = embedders["fused"]
    np.testing.assert_allclose(stored, gme.encode_fused([row["title"]], [gme.prepare(photo)])[0], atol=1e-5)

    weighted = make_config(*overrides, 'vectors.fused.weights={"image": 0.5}', db="other")
    with pytest.raises(EmbedderError, match="vectors.fused.weights: gme:.* fuses the photo and text inside the model"):
        load_embedders(weighted)
