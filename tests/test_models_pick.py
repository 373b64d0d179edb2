"""The MTEB model table and `mmrag models pick`."""

import json

from multimodal_rag.cli import main
from multimodal_rag.embedders.mteb import MODELS, TextModel, pick


def names(models):
    return [m.name for m in models]


def test_pick_ranks_by_retrieval_then_size_within_the_budget():
    picked = pick("en", 500)
    assert names(picked)[:3] == ["BAAI/bge-base-en-v1.5", "BAAI/bge-small-en-v1.5", "thenlper/gte-base"]
    assert all(m.memory_mb <= 500 for m in picked)
    assert "BAAI/bge-large-en-v1.5" not in names(picked)  # 1340 MB
    # A multilingual model fits but has no English retrieval score here: after every scored model.
    assert names(picked)[-1] == "intfloat/multilingual-e5-small"
    scores = [m.retrieval["MTEB-en"] for m in picked[:-1]]
    assert scores == sorted(scores, reverse=True)


def test_ties_go_to_the_smaller_model_and_languages_filter():
    big = TextModel("big", 300, 768, 512, ("en",), "MIT", {"MTEB-en": 50.0})
    small = TextModel("small", 30, 384, 512, ("en",), "MIT", {"MTEB-en": 50.0})
    other = TextModel("de-only", 10, 384, 512, ("de",), "MIT", {})
    assert names(pick("en", 10_000, (big, other, small))) == ["small", "big"]
    assert names(pick("zh", 10_000))[:2] == ["BAAI/bge-large-zh-v1.5", "BAAI/bge-base-zh-v1.5"]
    assert names(pick("de", 10_000, (big, other, small))) == ["de-only"]
    assert pick("en", 100) == [m for m in MODELS if m.name == "sentence-transformers/all-MiniLM-L6-v2"]


def test_models_pick_json(capsys):
    assert main(["models", "pick", "--language", "en", "--max-memory-mb", "150", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows][:2] == ["BAAI/bge-small-en-v1.5", "thenlper/gte-small"]
    assert rows[0]["spec"] == "sentence-transformers:BAAI/bge-small-en-v1.5" and rows[0]["memory_mb"] == 134
    assert set(rows[0]) >= {"parameters_m", "dimension", "max_tokens", "languages", "license", "retrieval"}
