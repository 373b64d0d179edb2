"""Shared fixtures: a made sample catalog, the real Flipkart data, configs on temporary Milvus Lite stores."""

from __future__ import annotations

import json
import logging
import os
import uuid
from pathlib import Path

import pytest

from multimodal_rag.catalog.sample import make_sample_catalog, sample_products
from multimodal_rag.config import load_config
from multimodal_rag.embedders.fields import load_embedders

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FLIPKART = SHARED_DATA / "flipkart_1050"
MYNTRA = SHARED_DATA / "myntra_dev"
GROCERY = SHARED_DATA / "grocery_dev"

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
logging.getLogger("grpc._server").setLevel(logging.CRITICAL)


def require_shared_data() -> None:
    """Skip a test that reads the shared data sets when they are absent (a clone without ../shared beside it);
    under ``MMRAG_REQUIRE_SHARED=1`` (``.ci/run`` sets it) that is a failure instead."""
    missing = [folder.name for folder in (FLIPKART, MYNTRA, GROCERY) if not folder.is_dir()]
    if missing:
        message = f"../shared/data missing: {', '.join(missing)} (looked in {SHARED_DATA})"
        if os.environ.get("MMRAG_REQUIRE_SHARED") == "1":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def sample_catalog(tmp_path: Path) -> Path:
    return make_sample_catalog(tmp_path / "sample")


# The server tier: with MMRAG_TEST_MILVUS_URI set (`make test` starts a Milvus Lite server for it), every
# store, ingest and retriever test runs against Milvus Lite in-process and against that server.
SERVER_URI = os.environ.get("MMRAG_TEST_MILVUS_URI")
BACKENDS = ["lite", "server"] if SERVER_URI else ["lite"]


def store_overrides(backend: str, folder: Path, name: str) -> list[str]:
    """Config overrides for a fresh store: a Lite folder, or a collection of its own on the test server."""
    if backend == "lite":
        return [f"store.db={json.dumps(str(folder / name))}"]
    collection = f"t_{name.replace('.', '_')}_{uuid.uuid4().hex[:10]}"
    return [f"store.uri={json.dumps(SERVER_URI)}", f"store.collection={json.dumps(collection)}"]


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def make_config(tmp_path: Path, backend: str):
    """A config on a fresh store (Lite folder or server collection); extra ``key=value`` overrides as arguments."""
    names: dict[str, list[str]] = {}

    def make(*overrides: str, db: str = "store.db"):
        if db not in names:  # the same name gives the same store within a test
            names[db] = store_overrides(backend, tmp_path, db)
        return load_config(None, [*names[db], *overrides])

    return make


def read_stored(config, ids, fields) -> dict[str, dict]:
    """What the config's collection holds for ``ids`` (the given fields), read through a store opened and closed."""
    from multimodal_rag.store.milvus import open_store

    store = open_store(config, load_embedders(config), create=False)
    try:
        return store.get(ids, fields)
    finally:
        store.close()


@pytest.fixture(scope="session")
def default_embedders():
    return load_embedders(load_config())


def tiny_sentence_model(folder: Path, tokenizer, max_seq_length: int) -> str:
    """A sentence-transformers folder under ``folder``: BERT's real architecture, random weights (seeded), the given
    tokenizer, mean pooling and normalisation."""
    from sentence_transformers import SentenceTransformer
    from transformers import BertConfig, BertModel, set_seed

    set_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=2 * max_seq_length)
    BertModel(config).save_pretrained(folder / "bert")
    tokenizer.save_pretrained(folder / "bert")
    modules = pytest.importorskip("sentence_transformers.sentence_transformer.modules")
    bert = modules.Transformer(str(folder / "bert"), max_seq_length=max_seq_length)
    SentenceTransformer(modules=[bert, modules.Pooling(32), modules.Normalize()]).save(str(folder / "st"))
    return str(folder / "st")


def flipkart_subset(folder: Path, n: int, *, start: int = 0) -> Path:
    """The first ``n`` Flipkart products as a catalog in ``folder`` (images referenced by absolute path)."""
    require_shared_data()
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "flipkart.jsonl"
    lines = (FLIPKART / "products.jsonl").read_text(encoding="utf-8").split("\n")[start:start + n]  # U+2028 inside
    rows = []
    for line in lines:
        row = json.loads(line)
        if row.get("image"):
            row["image"] = str(FLIPKART / row["image"])
        rows.append(json.dumps(row))
    out.write_text("\n".join(rows) + "\n")
    return out


def titles_store(folder: Path, titles: list[str], embedders):
    """A store of products with only a title each (ids ``p0``, ``p1``, ... in order; no price, no facet), ingested
    with the default config into ``folder``: the config pointing at it."""
    folder.mkdir(parents=True, exist_ok=True)
    catalog = folder / "products.jsonl"
    catalog.write_text("".join(json.dumps({"id": f"p{i}", "title": t}) + "\n" for i, t in enumerate(titles)))
    config = load_config(None, [f"store.db={json.dumps(str(folder / 'titles.db'))}"])
    from multimodal_rag.ingestion import ingest

    ingest(catalog, config, progress=False, embedders=embedders)
    return config


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """Folders of tiny random CLIP, SigLIP, ResNet and GME (Qwen2-VL) models with real tokenizers and image
    processors (GME's: a byte-level BPE with Qwen2-VL's special tokens, trained here; Qwen2-VL's processor)."""
    from multimodal_rag.embedders.text import resolve_model_path
    from transformers import (AutoTokenizer, CLIPConfig, CLIPImageProcessor, CLIPModel, ConvNextImageProcessor,
                              ResNetConfig, ResNetModel, SiglipConfig, SiglipImageProcessor, SiglipModel, set_seed)

    set_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path("all-MiniLM-L6-v2"))
    text = dict(vocab_size=tokenizer.vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=2, max_position_embeddings=24, bos_token_id=101, eos_token_id=102, pad_token_id=0)
    vision = dict(image_size=32, patch_size=8, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=2)
    folders = {}
    for family, model, processor in (
        ("clip", CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=24)),
         CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})),
        ("siglip", SiglipModel(SiglipConfig(text_config=text, vision_config=vision)),
         SiglipImageProcessor(size={"height": 32, "width": 32})),
        ("resnet50", ResNetModel(ResNetConfig(embedding_size=16, hidden_sizes=[16, 32, 48, 64], depths=[1, 1, 1, 1]))
         , ConvNextImageProcessor(size={"shortest_edge": 48}, crop_pct=0.875)),
    ):
        folder = tmp_path_factory.mktemp(family)
        model.save_pretrained(folder)
        processor.save_pretrained(folder)
        if family != "resnet50":
            tokenizer.save_pretrained(folder)
        folders[family] = str(folder)
    folders["gme"] = tiny_gme(tmp_path_factory.mktemp("gme"))
    return folders


def tiny_gme(folder: Path) -> str:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import Qwen2TokenizerFast, Qwen2VLConfig, Qwen2VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                "<|image_pad|>", "<|video_pad|>"]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    corpus = [row["title"] + ". " + row["description"] for row in sample_products()]
    bpe.train_from_iterator(corpus + ["system user assistant You are a helpful assistant."], trainers.BpeTrainer(
        vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = Qwen2TokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>", pad_token="<|endoftext|>",
                                   unk_token=None, bos_token=None)
    ids = {t: bpe.token_to_id(t) for t in specials}
    config = Qwen2VLConfig(
        text_config=dict(vocab_size=bpe.get_vocab_size(), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=4096,
                         rope_scaling={"type": "mrope", "mrope_section": [2, 3, 3]}, bos_token_id=None,
                         eos_token_id=ids["<|endoftext|>"], pad_token_id=ids["<|endoftext|>"]),
        vision_config=dict(depth=1, embed_dim=32, hidden_size=32, num_heads=2, mlp_ratio=2, patch_size=14,
                           spatial_merge_size=2, temporal_patch_size=2, in_chans=3),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"])
    Qwen2VLForConditionalGeneration(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    Qwen2VLImageProcessorPil().save_pretrained(folder)
    return str(folder)
