"""A Chinese and a Korean shop on the default config: the language read from the catalog, its words segmented,
and the English text model left out of text queries with a note naming the models to download instead.

The catalogs are the repository's own dev stores (benchmarks/data/cjk, written by benchmarks/cjk_sets.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from multimodal_rag import ProductRetriever, ingest
from multimodal_rag.embedders.mteb import language_gap

CJK = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "cjk"


def test_a_text_model_is_checked_against_the_catalog_language():
    gap = language_gap("sentence-transformers:all-MiniLM-L6-v2", "ko")
    assert gap.startswith("sentence-transformers/all-MiniLM-L6-v2 is a model for en, not ko")
    assert "(intfloat/multilingual-e5-small, intfloat/multilingual-e5-base)" in gap  # C-MTEB/Ko scores, best first
    assert language_gap("sentence-transformers:all-MiniLM-L6-v2", "en") is None
    assert language_gap("sentence-transformers:intfloat/multilingual-e5-small", "ko") is None
    assert language_gap("/models/my-korean-model", "ko") is None  # a folder: nothing says it does not speak it


@pytest.mark.parametrize("language, package, query, item, model", [
    ("zh", "jieba", "我想买一个马克杯", "马克杯", "BAAI/bge-large-zh-v1.5"),
    ("ko", "kiwipiepy", "머그컵을 찾고 있어요", "머그컵", "intfloat/multilingual-e5-small"),
])
def test_a_shop_in_its_own_language_searches_bm25_without_an_english_model(
        make_config, default_embedders, language, package, query, item, model):
    pytest.importorskip(package, reason=f"{language} needs the [lang] extra: pip install -e '.[lang]'")
    config = make_config()
    summary = ingest(CJK / language / "products.jsonl", config, progress=False, embedders=default_embedders)
    assert summary.language == language
    assert [n.split(":", 1)[0] for n in summary.notes] == ["vectors.text"]
    assert f"({model}, " in summary.notes[0]
    retriever = ProductRetriever.from_config(config, k=5)
    try:
        assert "text" not in retriever.searcher.fields and "bm25" in retriever.searcher.fields
        titles = [d.metadata["title"] for d in retriever.invoke(query)]
    finally:
        retriever.close()
    assert len(titles) == 5 and all(item in t for t in titles), titles
