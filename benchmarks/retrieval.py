"""Query latency against its parts, what understanding adds, and batched against one-by-one queries.

    .venv/bin/python benchmarks/retrieval.py [--products 15000] [--texts 40] [--photos 30] [--batch-queries 600]
        [--rounds 3] [--db DIR] [--set search.depth=30 ...]

Catalog: the first N products of ../shared/data/myntra_dev, ingested with the default config into a fresh Milvus
Lite store (the embedding cache makes a rerun quick). Queries: attr2product texts and image2product photos.

Rows (medians over the queries and ``--rounds`` passes, every step timed in turn on each query so that a slow
spell of the shared machine slows them alike; read the ratios):
- the parts: query embedding, one dense search and one BM25 search (its analysed terms) at k, returning the
  products' fields (the store's own calls); photo embedding with the catalog's query-photo adapter and one search;
- ``ProductRetriever.invoke`` for the same queries, with understanding off and on (the default "boost");
- ``understand()`` alone;
- whether the store's calls overlap: two dense searches, two BM25 searches, and the query embedding beside a BM25
  search, each pair on two threads against one after the other (Milvus Lite answers in Python in this process);
- ``ProductRetriever.batch`` over many photo queries against a loop of ``invoke``, with the results compared.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
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


def interleaved_ms(steps: dict, items: list, rounds: int) -> dict[str, float]:
    """Median ms of every step over the items, the steps run in turn on each item, for several rounds: a machine
    that slows down for a while slows every step alike instead of whichever ran then."""
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for item in items:
            for name, fn in steps.items():
                started = time.perf_counter()
                fn(item)
                times[name].append((time.perf_counter() - started) * 1000)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=15000)
    parser.add_argument("--texts", type=int, default=40)
    parser.add_argument("--photos", type=int, default=30)
    parser.add_argument("--batch-queries", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=3, help="passes over the queries, every step in turn")
    parser.add_argument("--db", help="folder for the store (default: a temporary one)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a config override, as `mmrag --set` takes it (e.g. search.depth=30)")
    args = parser.parse_args()
    if not MYNTRA.is_dir():
        sys.exit(f"needs {MYNTRA}")
    sys.path.insert(0, str(ROOT))
    from PIL import Image

    from multimodal_rag import ProductQuery, ProductRetriever, ingest, load_config
    from multimodal_rag.catalog.images import load_image
    from multimodal_rag.store.schema import BM25_FIELD

    folder = Path(args.db or tempfile.mkdtemp(prefix="mmrag-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    config = load_config(None, args.set, store={"db": str(folder / "bench.db"),
                                                "collection": f"myntra{args.products}"}, ingest={"embedding_cache": True})
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
        terms = {t: retriever.keywords(t).terms for t in texts}
        image_vectors = [image_embedder.encode_images([adapt(p)])[0].tolist() for p in photos]

        text = interleaved_ms({
            "embedding": lambda t: text_embedder.encode_texts([t], query=True),
            "dense": lambda t: store.search([vectors[t]], "text_vec", "", 10),
            "bm25": lambda t: store.search([terms[t]], BM25_FIELD, "", 10),
            "off": lambda t: retriever.invoke(ProductQuery(text=t, understand="off")),
            "boost": lambda t: retriever.invoke(ProductQuery(text=t)),
            "understand": lambda t: retriever.understanding.understand(t),
        }, texts, args.rounds)
        pool = ThreadPoolExecutor(max_workers=2)

        def together(first, second):
            """Two calls on two threads, both awaited."""
            return lambda t: [f.result() for f in (pool.submit(first, t), pool.submit(second, t))]

        dense = lambda t: store.search([vectors[t]], "text_vec", "", 10)  # noqa: E731
        bm25 = lambda t: store.search([terms[t]], BM25_FIELD, "", 10)  # noqa: E731
        embed = lambda t: text_embedder.encode_texts([t], query=True)  # noqa: E731
        overlap = interleaved_ms({
            "dense+dense in turn": lambda t: (dense(t), dense(t)), "dense+dense together": together(dense, dense),
            "bm25+bm25 in turn": lambda t: (bm25(t), bm25(t)), "bm25+bm25 together": together(bm25, bm25),
            "embedding+bm25 in turn": lambda t: (embed(t), bm25(t)), "embedding+bm25 together": together(embed, bm25),
        }, texts, args.rounds)
        pool.shutdown()
        photo = interleaved_ms({
            "embedding": lambda i: image_embedder.encode_images([adapt(photos[i])]),
            "search": lambda i: store.search([image_vectors[i]], "image_vec", "", 10),
            "invoke": lambda i: retriever.invoke(ProductQuery(image=photos[i])),
        }, list(range(len(photos))), args.rounds)
        text_parts = text["embedding"] + text["dense"] + text["bm25"]
        photo_parts = photo["embedding"] + photo["search"]
        rows += [("text: query embedding", text["embedding"]), ("text: one dense search", text["dense"]),
                 ("text: one BM25 search", text["bm25"]), ("text: parts, summed", text_parts),
                 ("text: invoke, understanding off", text["off"]),
                 ("text: invoke, understanding boost", text["boost"]),
                 ("text: understand() alone", text["understand"]),
                 ("photo: embedding (with the query-photo adapter)", photo["embedding"]),
                 ("photo: one search", photo["search"]), ("photo: parts, summed", photo_parts),
                 ("photo: invoke", photo["invoke"])]

        many = [ProductQuery(image=str(p)) for p in photo_paths[: args.batch_queries]]
        loop_times, batch_times = [], []
        for _ in range(args.rounds):  # alternated, as above
            started = time.perf_counter()
            one_by_one = [retriever.invoke(q) for q in many]
            loop_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            batched = retriever.batch(many)
            batch_times.append(time.perf_counter() - started)
        loop_s, batch_s = statistics.median(loop_times), statistics.median(batch_times)
        same = all([d.id for d in a] == [d.id for d in b] and all(
            abs(x.metadata["score"] - y.metadata["score"]) <= 1e-6 for x, y in zip(a, b))
            for a, b in zip(one_by_one, batched))
    finally:
        retriever.close()

    settings = f"default config{''.join(f', {s}' for s in args.set)}"
    print(f"\n{args.products:,} products, {settings}, Milvus Lite, k=10; medians over {len(texts)} texts and "
          f"{len(photos)} photos\n")
    print("| step | p50 ms |\n|---|---|")
    for name, ms in rows:
        print(f"| {name} | {ms:.1f} |")
    print("\n| two store calls (text queries) | one after the other, ms | on two threads, ms |\n|---|---|---|")
    for pair in ("dense+dense", "bm25+bm25", "embedding+bm25"):
        print(f"| {pair} | {overlap[pair + ' in turn']:.1f} | {overlap[pair + ' together']:.1f} |")
    print("\n| ratio | value |\n|---|---|")
    print(f"| text invoke (understanding off) / its parts | {text['off'] / text_parts:.2f}x |")
    print(f"| text invoke (boost) / its parts | {text['boost'] / text_parts:.2f}x |")
    print(f"| photo invoke / its parts | {photo['invoke'] / photo_parts:.2f}x |")
    print(f"| {len(many)} photo queries: one by one {loop_s:.1f} s / batched {batch_s:.1f} s | "
          f"{loop_s / batch_s:.1f}x (identical results: {same}) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
