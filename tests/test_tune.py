"""`mmrag tune`: queries made from a catalog's own text, a query log's pairs, and a seeded fine-tune."""

import json
import random
from pathlib import Path

import numpy as np
import pytest

from multimodal_rag.alignment.options import TuneOptions
from multimodal_rag.alignment.tune import TuneError, head_words, pseudo_queries, query_log_pairs, tune
from multimodal_rag.catalog.product import Product
from multimodal_rag.catalog.sample import make_sample_catalog
from multimodal_rag.config import load_config
from multimodal_rag.language.analysis import TextAnalyzer

pytest.importorskip("datasets", reason="mmrag tune needs the [tune] extra: pip install 'multimodal-rag[tune]'")

EN = TextAnalyzer("en")


def test_the_head_of_a_title_is_what_the_product_is():
    assert head_words("Whirlpool 1.9 cu. ft. Over the Range Convection Microwave in Stainless Steel", EN) == [
        "range", "convection", "microwave"]
    assert head_words("Delta Vero 1-Handle Shower Only Faucet Trim Kit in Chrome (Valve Not Included)", EN) == [
        "delta", "vero", "1-handle", "shower", "only", "faucet", "trim", "kit"]
    assert head_words("Puma Men Ferrari Black Fleece Jacket", EN) == ["puma", "men", "ferrari", "black", "fleece",
                                                                      "jacket"]


def test_pseudo_queries_come_from_the_products_own_words():
    product = Product(id="p1", title="Orbit 1/2 in. x 100 ft. Eco-Lock Sprinkler Pipe", brand="Orbit",
                      category="Outdoors > Watering > Sprinkler Pipe", attributes={"Color": "Black", "Sold": "No"})
    made = pseudo_queries(product, EN, random.Random(3), limit=10)
    assert made and len(made) == len(set(made))
    words = set(EN.words(product.text(("title", "brand", "category", "attributes"))))
    for query in made:  # every word of every query is the product's own (its unit words included)
        assert set(EN.words(query)) <= words, query
    assert "no" not in " ".join(made).split()  # a yes/no attribute value is no query
    assert pseudo_queries(product, EN, random.Random(3), limit=10) == made  # seeded


def test_a_query_log_gives_pairs_of_queries_and_the_products_they_found(tmp_path):
    task = tmp_path / "log"
    task.mkdir()
    catalog = tmp_path / "products.jsonl"
    catalog.write_text("".join(json.dumps({"id": i, "title": t}) + "\n" for i, t in
                               (("a", "Blue Mug"), ("b", "Red Mug"), ("c", "Lamp"))))
    (task / "task.json").write_text(json.dumps({"corpus": "../products.jsonl"}))
    (task / "queries.jsonl").write_text(json.dumps({"id": "q1", "text": "blue cup"}) + "\n" +
                                        json.dumps({"id": "q2", "text": "lamp"}) + "\n")
    (task / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq1\ta\t2\nq1\tb\t1\nq2\tc\t3\n")
    products = {i: Product(id=i, title=t) for i, t in (("a", "Blue Mug"), ("b", "Red Mug"), ("c", "Lamp"))}
    assert query_log_pairs([task], products, ("title",)) == [("blue cup", "Blue Mug"), ("lamp", "Lamp")]
    assert query_log_pairs([task], products, ("title",), min_grade=1) == [
        ("blue cup", "Blue Mug"), ("blue cup", "Red Mug"), ("lamp", "Lamp")]


@pytest.fixture(scope="module")
def tiny_text_model(tmp_path_factory):
    """A sentence-transformers model of BERT's real architecture with random weights and MiniLM's tokenizer."""
    from transformers import AutoTokenizer

    from multimodal_rag.embedders.text import resolve_model_path
    from tests.conftest import tiny_sentence_model

    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path("all-MiniLM-L6-v2"))
    return tiny_sentence_model(tmp_path_factory.mktemp("tiny-bert"), tokenizer, max_seq_length=32)


def _weights(folder) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(next(p for p in folder.rglob("model.safetensors"))))


def test_tune_writes_a_model_the_config_can_name_and_reproduces_with_its_seed(tmp_path, tiny_text_model):
    from sentence_transformers import SentenceTransformer

    catalog = make_sample_catalog(tmp_path / "sample")
    config = load_config(None, [f"vectors.text.embedder=sentence-transformers:{tiny_text_model}"])
    options = TuneOptions(seed=7, batch_size=8, max_products=30)
    first = tune(catalog, tmp_path / "one", config=config, options=options, progress=False)
    again = tune(catalog, tmp_path / "two", config=config, options=options, progress=False)
    other = tune(catalog, tmp_path / "three", config=config, options=TuneOptions(seed=8, batch_size=8,
                                                                                 max_products=30), progress=False)
    assert first.catalog_pairs == again.catalog_pairs > 30 and first.log_pairs == 0
    one, two, three = (_weights(tmp_path / n) for n in ("one", "two", "three"))
    base = _weights(Path(tiny_text_model))
    assert one.keys() == two.keys() == base.keys()
    assert all(np.array_equal(one[k], two[k]) for k in one)  # the same seed: the same model
    assert any(not np.array_equal(one[k], three[k]) for k in one)  # another seed: another one
    assert any(not np.allclose(one[k], base[k]) for k in one)  # it learned
    recorded = json.loads((tmp_path / "one" / "tune.json").read_text())
    assert recorded["options"]["seed"] == 7 and recorded["catalog_pairs"] == first.catalog_pairs
    vectors = SentenceTransformer(str(tmp_path / "one"), device="cpu").encode(["blue mug"], normalize_embeddings=True)
    assert vectors.shape == (1, 32)


def test_tune_refuses_a_config_without_a_sentence_transformers_text_field(tmp_path):
    catalog = make_sample_catalog(tmp_path / "sample")
    image_only = load_config(None, ["vectors.text.embedder=efficientnet-lite0", "vectors.text.sources=['image']"])
    with pytest.raises(TuneError, match="no text vector field to tune"):
        tune(catalog, tmp_path / "out", config=image_only, progress=False)
