"""ProductReranker: a real (tiny, randomly initialised) cross-encoder, an LLM judge on a fake chat model."""


import pytest
from langchain_classic.retrievers import ContextualCompressionRetriever
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from multimodal_rag.catalog.sample import make_sample_catalog
from multimodal_rag.config import load_config
from tests.conftest import BACKENDS, store_overrides
from multimodal_rag.embedders.base import EmbedderError
from multimodal_rag.embedders.text import resolve_model_path
from multimodal_rag.ingestion import ingest
from multimodal_rag.retrieval import ProductQuery, ProductReranker, ProductRetriever


@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory):
    """A BERT cross-encoder of the real architecture, random weights, MiniLM's real tokenizer."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification, set_seed

    set_seed(0)
    folder = tmp_path_factory.mktemp("cross-encoder")
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path("all-MiniLM-L6-v2"))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, num_labels=1)
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module", params=BACKENDS)
def retriever(request, tmp_path_factory, default_embedders):
    folder = tmp_path_factory.mktemp("rerank")
    catalog = make_sample_catalog(folder / "sample")
    config = load_config(None, store_overrides(request.param, folder, "store.db"))
    ingest(catalog, config, progress=False, embedders=default_embedders)
    r = ProductRetriever.from_config(config, k=12)
    yield r
    r.close()


def test_cross_encoder_reorders_by_its_own_score_and_keeps_every_product(retriever, tiny_cross_encoder):
    from sentence_transformers import CrossEncoder

    docs = retriever.invoke("blue ceramic mug")
    reranker = ProductReranker.from_spec(f"cross-encoder:{tiny_cross_encoder}")
    reranked = reranker.compress_documents(docs, "blue ceramic mug")
    assert sorted(d.id for d in reranked) == sorted(d.id for d in docs) and len(reranked) == 12
    own = CrossEncoder(tiny_cross_encoder).predict([("blue ceramic mug", d.page_content) for d in docs])
    expected = [docs[i].id for i in sorted(range(len(docs)), key=lambda i: -own[i])]
    assert [d.id for d in reranked] == expected
    assert [d.metadata["rerank_score"] for d in reranked] == sorted((float(s) for s in own), reverse=True)
    first = {d.id: (d.metadata["score"], d.metadata["rank"]) for d in docs}
    for rank, d in enumerate(reranked, start=1):
        assert (d.metadata["first_stage_score"], d.metadata["first_stage_rank"]) == first[d.id]
        assert d.metadata["rank"] == rank
    assert [d.id for d in docs] == [d.id for d in retriever.invoke("blue ceramic mug")]  # inputs untouched


def test_llm_judge_grades_parse_and_unreadable_answers_score_zero():
    docs = [Document(page_content=f"Product {i}", metadata={"score": 1.0 - i / 10, "rank": i + 1}, id=f"p{i}")
            for i in range(4)]
    llm = FakeListChatModel(responses=["3", "Relevance: 9/10", "no idea", "7.5"])
    reranker = ProductReranker.llm_judge(llm)
    out = reranker.compress_documents(docs, "anything")
    assert [(d.id, d.metadata["rerank_score"]) for d in out] == [("p1", 9.0), ("p3", 7.5), ("p0", 3.0), ("p2", 0.0)]
    assert reranker.scorer.unreadable == 1


def test_none_keeps_order_and_image_only_queries_are_not_reordered(retriever, tiny_cross_encoder):
    docs = retriever.invoke("lamp")
    assert [d.id for d in ProductReranker.from_spec("none").compress_documents(docs, "lamp")] == [d.id for d in docs]
    reranker = ProductReranker.from_spec(f"cross-encoder:{tiny_cross_encoder}")
    image_only = ProductQuery(image=None, text=None)
    assert [d.id for d in reranker.compress_documents(docs, image_only)] == [d.id for d in docs]
    with pytest.raises(EmbedderError, match="unknown reranker 'colbert:x'"):
        ProductReranker.from_spec("colbert:x")


async def test_contextual_compression_retriever_runs_end_to_end(retriever, tiny_cross_encoder):
    reranker = ProductReranker.from_spec(f"cross-encoder:{tiny_cross_encoder}", top_n=5)
    chain = ContextualCompressionRetriever(base_compressor=reranker, base_retriever=retriever)
    first_stage = {d.id for d in retriever.invoke("red running sneakers")}
    sync = chain.invoke("red running sneakers")
    assert len(sync) == 5 and {d.id for d in sync} <= first_stage
    assert [d.metadata["rerank_score"] for d in sync] == sorted((d.metadata["rerank_score"] for d in sync),
                                                                 reverse=True)
    assert [d.id for d in await chain.ainvoke("red running sneakers")] == [d.id for d in sync]


def test_retriever_with_reranker_returns_k_of_its_candidates(retriever, tiny_cross_encoder):
    reranker = ProductReranker.from_spec(f"cross-encoder:{tiny_cross_encoder}")
    with_rerank = retriever.model_copy(update={"reranker": reranker, "rerank_candidates": 20, "k": 4})
    candidates = retriever.invoke(ProductQuery(text="yellow backpack", k=20))
    expected = reranker.compress_documents(candidates, "yellow backpack")[:4]
    assert [d.id for d in with_rerank.invoke("yellow backpack")] == [d.id for d in expected]
