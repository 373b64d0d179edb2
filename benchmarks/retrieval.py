"""Query latency against its parts, what understanding adds, and batched against one-by-one queries.

    .venv/bin/python benchmarks/retrieval.py [--products 15000] [--texts 40] [--photos 30] [--batch-queries 600]

Catalog: the first N products of ../shared/data/myntra_dev, ingested with the default config into a fresh Milvus
Lite store (the embedding cache makes a rerun quick). Queries: attr2product texts and image2product photos.

Rows (medians over the queries, one run; the machine is shared, so read the ratios):
- the parts: query embedding, one dense search, one BM25 search (the store's own calls, same filters as the
  retriever uses), photo embedding with the catalog's query-photo adapter;
- ``ProductRetriever.invoke`` for the same queries, with understanding off and on (the default "boost");
- ``understand()`` alone;
- ``ProductRetriever.batch`` over many photo queries against a loop of ``invoke``, with the results compared.
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


def queries(name: str, key: str) -> list:
    task = MYNTRA / "tasks" / name
    items = [json.loads(x)[key] for x in (task / "queries.jsonl").read_text().splitlines()]
    return items if key == "text" else [task / p for p in items]


def median_ms(fn, items) -> float:
    times = []
    for item in items:
        started = time.perf_counter()
        fn(item)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=15000)
    parser.add_argument("--texts", type=int, default=40)
    parser.add_argument("--photos", type=int, default=30)
    parser.add_argument("--batch-queries", type=int, default=600)
    parser.add_argument("--db", help="folder for the store (default: a temporary one)")
    args = parser.parse_args()
    if not MYNTRA.is_dir():
        sys.exit(f"needs {MYNTRA}")
    sys.path.insert(0, str(ROOT))
    from PIL import Image

    from multimodal_rag import ProductQuery, ProductRetriever, ingest, load_config
    from multimodal_rag.catalog.images import load_image
    from multimodal_rag.store.milvus import BM25_FIELD

    folder = Path(args.db or tempfile.mkdtemp(prefix="mmrag-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    config = load_config(store={"db": str(folder / "bench.db"), "collection": f"myntra{args.products}"},
                         ingest={"embedding_cache": True})
    started = time.perf_counter()
    summary = ingest(subset(args.products, folder), config, progress=False)
    print(f"ingest: {summary.new} new, {summary.unchanged} unchanged in {time.perf_counter() - started:.0f} s",
          file=sys.stderr)

    texts = queries("attr2product", "text")[: args.texts]
    photo_paths = queries("image2product", "image")
    photos = [load_image(p) for p in photo_paths[: args.photos]]
    retriever = ProductRetriever.from_config(config, k=10)
    searcher, store = retriever.searcher, retriever.searcher.store
    text_embedder, image_embedder = searcher.embedders["text"], searcher.embedders["image"]
    adapt = searcher.query_photo.adapt
    rows: list[tuple[str, float]] = []
    try:
        # warm every path once
        retriever.invoke(texts[0])
        retriever.invoke(ProductQuery(image=photos[0]))
        vectors = {t: text_embedder.encode_texts([t], query=True)[0].tolist() for t in texts}
        image_vectors = [image_embedder.encode_images([adapt(p)])[0].tolist() for p in photos]

        embed_text = median_ms(lambda t: text_embedder.encode_texts([t], query=True), texts)
        dense = median_ms(lambda t: store.search([vectors[t]], "text_vec", "", 10), texts)
        bm25 = median_ms(lambda t: store.search([t], BM25_FIELD, "", 10), texts)
        text_off = median_ms(lambda t: retriever.invoke(ProductQuery(text=t, understand="off")), texts)
        text_boost = median_ms(lambda t: retriever.invoke(ProductQuery(text=t)), texts)
        understand = median_ms(lambda t: retriever.understanding.understand(t), texts)
        embed_photo = median_ms(lambda p: image_embedder.encode_images([adapt(p)]), photos)
        photo_search = median_ms(lambda v: store.search([v], "image_vec", "", 10), image_vectors)
        photo_query = median_ms(lambda p: retriever.invoke(ProductQuery(image=p)), photos)
        rows += [("text: query embedding", embed_text), ("text: one dense search", dense),
                 ("text: one BM25 search", bm25), ("text: parts, summed", embed_text + dense + bm25),
                 ("text: invoke, understanding off", text_off), ("text: invoke, understanding boost", text_boost),
                 ("text: understand() alone", understand),
                 ("photo: embedding (with the query-photo adapter)", embed_photo),
                 ("photo: one search", photo_search), ("photo: parts, summed", embed_photo + photo_search),
                 ("photo: invoke", photo_query)]

        many = [ProductQuery(image=str(p)) for p in photo_paths[: args.batch_queries]]
        started = time.perf_counter()
        one_by_one = [retriever.invoke(q) for q in many]
        loop_s = time.perf_counter() - started
        started = time.perf_counter()
        batched = retriever.batch(many)
        batch_s = time.perf_counter() - started
        same = all([d.id for d in a] == [d.id for d in b] and all(
            abs(x.metadata["score"] - y.metadata["score"]) <= 1e-6 for x, y in zip(a, b))
            for a, b in zip(one_by_one, batched))
    finally:
        retriever.close()

    print(f"\n{args.products:,} products, default config, Milvus Lite, k=10; medians over {len(texts)} texts and "
          f"{len(photos)} photos\n")
    print("| step | p50 ms |\n|---|---|")
    for name, ms in rows:
        print(f"| {name} | {ms:.1f} |")
    print("\n| ratio | value |\n|---|---|")
    print(f"| text invoke (understanding off) / its parts | {text_off / (embed_text + dense + bm25):.2f}x |")
    print(f"| text invoke (boost) / its parts | {text_boost / (embed_text + dense + bm25):.2f}x |")
    print(f"| photo invoke / its parts | {photo_query / (embed_photo + photo_search):.2f}x |")
    print(f"| {len(many)} photo queries: one by one {loop_s:.1f} s / batched {batch_s:.1f} s | "
          f"{loop_s / batch_s:.1f}x (identical results: {same}) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
