"""Query latency of ProductRetriever, and text queries through langchain-milvus on the same data.

    .venv/bin/pip install -e '.[bench]'       # langchain-milvus, for the comparison
    .venv/bin/python benchmarks/retrieval.py [--sizes 1000 15000] [--queries 50] [--db DIR]

Catalog: the first N products of ../shared/data/myntra_dev, ingested with the default config (Milvus Lite,
MiniLM text + BM25 + EfficientNet-Lite0 image, RRF). Queries: attr2product texts, image2product photos, and the
two together. Each modality runs with no reranker and with a cross-encoder of the real ms-marco-MiniLM-L-6
architecture (6 layers, 384 wide; random weights, since none can be downloaded here: the latency is real, the
ranking is not) over 30 candidates. langchain-milvus' ``Milvus`` store gets the very same text vectors (copied from
our collection) and the same query embedder; its ``similarity_search`` is timed on the same texts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MYNTRA = ROOT.parent / "shared" / "data" / "myntra_dev"


def subset(n: int, folder: Path) -> Path:
    out = folder / f"myntra-{n}.jsonl"
    rows = []
    for line in (MYNTRA / "products.jsonl").read_text().splitlines()[:n]:
        row = json.loads(line)
        row["image"] = str(MYNTRA / row["image"])
        rows.append(json.dumps(row))
    out.write_text("\n".join(rows) + "\n")
    return out


def load_queries(n: int) -> tuple[list[str], list[Path]]:
    texts = [json.loads(x)["text"] for x in (MYNTRA / "tasks/attr2product/queries.jsonl").read_text().splitlines()]
    task = MYNTRA / "tasks/image2product"
    images = [task / json.loads(x)["image"] for x in (task / "queries.jsonl").read_text().splitlines()]
    return texts[:n], images[:n]


def cross_encoder_like_minilm(folder: Path) -> str:
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification, set_seed

    from multimodal_rag.embedders.text import resolve_model_path

    set_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path("all-MiniLM-L6-v2"))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=384, num_hidden_layers=6,
                        num_attention_heads=12, intermediate_size=1536, num_labels=1)
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def timed(fn, items) -> list[float]:
    fn(items[0])  # warm-up
    out = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        out.append((time.perf_counter() - start) * 1000)
    return out


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def langchain_milvus_latencies(retriever, embedder, texts: list[str], folder: Path) -> list[float] | None:
    try:
        from langchain_core.embeddings import Embeddings
        from langchain_milvus import Milvus
    except ImportError:
        print("langchain-milvus is not installed (pip install -e '.[bench]'): comparison skipped", file=sys.stderr)
        return None

    class SameEmbedder(Embeddings):
        def embed_documents(self, docs):
            return embedder.encode_texts(docs).tolist()

        def embed_query(self, text):
            return embedder.encode_texts([text], query=True)[0].tolist()

    folder.mkdir(parents=True, exist_ok=True)
    store = retriever.searcher.store
    it = store.client.query_iterator(store.collection, batch_size=1000, output_fields=["id", "title", "text_vec"])
    ids, titles, vectors = [], [], []
    while batch := it.next():
        for row in batch:
            ids.append(row["id"])
            titles.append(row["title"])
            vectors.append([float(x) for x in row["text_vec"]])
    it.close()
    lc = Milvus(embedding_function=SameEmbedder(), collection_name="lc", connection_args={"uri": str(folder / "lc.db")},
                index_params={"index_type": "FLAT", "metric_type": "IP"}, search_params={"metric_type": "IP"},
                drop_old=True, auto_id=False)
    lc.add_embeddings(titles, vectors, ids=ids)
    return timed(lambda q: lc.similarity_search(q, k=10), texts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", type=int, default=[1000, 15000])
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--db", help="keep the stores in this folder (reruns skip unchanged products)")
    args = parser.parse_args()

    from multimodal_rag.catalog.images import load_image
    from multimodal_rag.config import load_config
    from multimodal_rag.embedders.fields import load_embedders
    from multimodal_rag.ingestion import ingest
    from multimodal_rag.retrieval import ProductQuery, ProductReranker, ProductRetriever

    texts, image_paths = load_queries(args.queries)
    images = [load_image(path) for path in image_paths]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.db) if args.db else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        reranker = ProductReranker.from_spec(f"cross-encoder:{cross_encoder_like_minilm(Path(tmp) / 'ce')}")
        for n in args.sizes:
            config = load_config(None, [f"store.db={json.dumps(str(folder / f'myntra-{n}.db'))}"])
            embedders = load_embedders(config)
            summary = ingest(subset(n, Path(tmp)), config, progress=False, embedders=embedders)
            print(f"ingested {n}: {summary.as_dict()}", file=sys.stderr)
            retriever = ProductRetriever.from_config(config, k=10)
            cases = {
                "text": [ProductQuery(text=t) for t in texts],
                "image": [ProductQuery(image=i) for i in images],
                "text+image": [ProductQuery(text=t, image=i) for t, i in zip(texts, images)],
            }
            for name, queries in cases.items():
                for label, r in (("none", retriever),
                                 ("cross-encoder", retriever.model_copy(update={"reranker": reranker}))):
                    ms = timed(r.invoke, queries)
                    rows.append((n, name, label, statistics.median(ms), p(ms, 95)))
            ours = timed(retriever.invoke, texts)
            bare = timed(retriever.model_copy(update={"explain": False}).invoke, texts)
            lc = langchain_milvus_latencies(retriever, embedders["text"], texts, Path(tmp) / f"lc-{n}")
            if lc is not None:
                rows.append((n, "text via langchain-milvus (dense only)", "none", statistics.median(lc), p(lc, 95)))
                rows.append((n, "ratio ours / langchain-milvus, p50", "", statistics.median(ours) / statistics.median(lc),
                             statistics.median(bare) / statistics.median(lc)))
            retriever.close()
    print("| products | query | reranker | p50 ms | p95 ms |")
    print("|---|---|---|---|---|")
    for n, name, label, p50, p95 in rows:
        if name.startswith("ratio"):
            print(f"| {n} | {name} | | {p50:.2f}x (hybrid + per-field scores) | {p95:.2f}x (hybrid, explain=False) |")
        else:
            print(f"| {n} | {name} | {label} | {p50:.1f} | {p95:.1f} |")
    print(f"\n({time.strftime('%Y-%m-%d')}, {args.queries} queries per row, k=10, "
          f"benchmarks/retrieval.py {' '.join(sys.argv[1:])})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
