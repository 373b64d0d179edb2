"""Client-side fusion equals Milvus' own: the same order and scores as ``hybrid_search`` on the same requests, and
a batch of queries equals the same queries one by one."""

import pytest
from pymilvus import AnnSearchRequest, RRFRanker, WeightedRanker

from multimodal_rag.catalog.sample import COLOURS, draw_product, make_sample_catalog
from multimodal_rag.config import load_config
from multimodal_rag.ingestion import ingest
from multimodal_rag.retrieval import ProductQuery, ProductRetriever
from multimodal_rag.store.filters import build_filter
from multimodal_rag.retrieval.searcher import SearchQuery
from tests.conftest import BACKENDS, store_overrides

QUERIES = [
    SearchQuery(text="blue ceramic coffee mug", k=10),
    SearchQuery(text="running sneakers", k=5, expr=build_filter({"price": {"lt": 2300}})),
    SearchQuery(image=draw_product("lamp", COLOURS["red"], size=300, scale=0.8), k=8),
    SearchQuery(text="green backpack", image=draw_product("backpack", COLOURS["green"], size=280), k=12),
    SearchQuery(text="watch", k=6, expr=build_filter({"attributes.Color": {"in": ["Black", "Red"]}})),
]


@pytest.fixture(scope="module", params=BACKENDS)
def retriever(request, tmp_path_factory, default_embedders):
    folder = tmp_path_factory.mktemp("fusion")
    config = load_config(None, store_overrides(request.param, folder, "store.db"))
    ingest(make_sample_catalog(folder / "sample"), config, progress=False, embedders=default_embedders)
    r = ProductRetriever.from_config(config, understand="off")
    yield r
    r.close()


def milvus_hybrid(searcher, query: SearchQuery, ranker):
    vectors = searcher._encode([query])[0]
    requests = searcher.requests(query, vectors)
    depth = max(query.k, searcher.depth)  # each field hands this many candidates to the fusion
    reqs = [AnnSearchRequest(data=[r.data], anns_field=r.anns_field, param={}, limit=depth, expr=r.expr or None)
            for r in requests]
    store = searcher.store
    return [(h["id"], float(h["distance"])) for h in
            store.client.hybrid_search(store.collection, reqs, ranker, limit=query.k, output_fields=["id"])[0]]


@pytest.mark.parametrize("fusion", ["rrf", "weighted"])
def test_client_fusion_equals_hybrid_search(retriever, fusion):
    searcher = retriever.searcher
    searcher.fusion, searcher.weights = fusion, {"text": 0.7, "bm25": 0.2, "image": 1.3}
    try:
        for query in QUERIES:
            ours = [(h.id, h.score) for h in searcher.search_batch([query])[0]]
            names = [r.name for r in searcher.requests(query, searcher._encode([query])[0])]
            if len(names) == 1:
                continue  # one field: no fusion
            ranker = RRFRanker(60) if fusion == "rrf" else WeightedRanker(*[searcher.weights[n] for n in names])
            theirs = milvus_hybrid(searcher, query, ranker)
            assert [pid for pid, _ in ours] == [pid for pid, _ in theirs], query
            assert [s for _, s in ours] == pytest.approx([s for _, s in theirs], abs=1e-6)
    finally:
        searcher.fusion, searcher.weights = "rrf", {}


def test_every_hit_carries_each_fields_score_and_rank_from_one_pass(retriever):
    calls = []
    client = retriever.searcher.store.client
    original = client.search

    def counting(*args, **kwargs):
        calls.append(kwargs["anns_field"])
        return original(*args, **kwargs)

    client.search = counting
    try:
        [doc, *_] = retriever.invoke("Northwind Blue Ceramic Coffee Mug", k=3)
    finally:
        client.search = original
    assert sorted(calls) == ["sparse", "text_vec"]  # each field searched once, no second pass per field
    assert doc.id == "mug-blue" and doc.metadata["ranks"] == {"text": 1, "bm25": 1}


def test_a_batch_equals_the_same_queries_one_by_one(retriever):
    # Six photos: the image model sees them in batches of BATCH_SIZE (4), one by one in batches of one; the
    # vectors, so the scores, must not depend on which photos share a batch.
    photos = [ProductQuery(image=draw_product(kind, COLOURS[colour], size=256), k=5)
              for kind, colour in (("sneaker", "yellow"), ("mug", "red"), ("watch", "black"), ("lamp", "green"),
                                   ("backpack", "blue"), ("sneaker", "purple"))]
    queries = [ProductQuery(text="red mug", k=4), ProductQuery(text="black watch", k=7), *photos,
               ProductQuery(text="lamp", filters={"price": {"gte": 950}}, k=3)]
    one_by_one = [retriever.invoke(q) for q in queries]
    together = retriever.batch(queries)
    assert [[d.id for d in docs] for docs in together] == [[d.id for d in docs] for docs in one_by_one]
    for a, b in zip(together, one_by_one):
        assert [d.metadata["score"] for d in a] == pytest.approx([d.metadata["score"] for d in b], abs=1e-6)
        assert [d.metadata["ranks"] for d in a] == [d.metadata["ranks"] for d in b]

