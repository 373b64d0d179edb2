"""How Milvus Lite holds up as the catalog grows: insert rate, memory and disk, query latency, HNSW recall.

    .venv/bin/python benchmarks/scale.py [--sizes 15000 100000 1000000] [--queries 40] [--db DIR]

The 15,000 real Myntra products are ingested once with the default config (the embedding cache makes a rerun
quick); a collection of N products repeats their rows with new ids and vectors perturbed by Gaussian noise
(sigma 0.02, then normalised), so no model runs while it is written. For each size and index (FLAT, HNSW M=16
efConstruction=200) it reports the insert rate, the process' RSS and the store's size on disk, the p50/p95 of
text queries (text vector + BM25, RRF), photo queries and both together through ``ProductRetriever`` (facet
understanding off, so only the engine is timed), and HNSW's recall@10 against FLAT on the text vector.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MYNTRA = ROOT.parent / "shared" / "data" / "myntra_dev"
BATCH = 2000
NOISE = 0.02


def disk_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 1e6


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentiles(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[15000, 100000, 1000000])
    parser.add_argument("--indexes", nargs="+", default=["FLAT", "HNSW"])
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--db", help="folder for the stores (default: a temporary one)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from multimodal_rag import ProductQuery, ProductRetriever, ingest, load_config
    from multimodal_rag.embedders.fields import load_embedders
    from multimodal_rag.store.milvus import open_store

    folder = Path(args.db or tempfile.mkdtemp(prefix="mmrag-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    catalog = folder / "myntra.jsonl"
    catalog.write_text("".join(
        json.dumps({**row, "image": str(MYNTRA / row["image"])}) + "\n"
        for row in map(json.loads, (MYNTRA / "products.jsonl").read_text().splitlines())))
    base_config = load_config(store={"db": str(folder / "base.db"), "collection": "base"},
                              ingest={"embedding_cache": True})
    ingest(catalog, base_config, progress=False)
    embedders = load_embedders(base_config)
    with open_store(base_config, embedders, create=False) as base:
        iterator = base.client.query_iterator(base.collection, batch_size=1000, output_fields=["*"])
        rows = []
        while batch := iterator.next():
            rows.extend({k: v for k, v in r.items() if k != "sparse"} for r in batch)
        iterator.close()
    vector_fields = [f"{v.name}_vec" for v in base_config.vectors]
    base_vectors = {f: np.array([r[f] for r in rows], dtype=np.float32) for f in vector_fields}
    texts = [json.loads(x)["text"] for x in (MYNTRA / "tasks/attr2product/queries.jsonl").read_text()
             .splitlines()][: args.queries]
    task = MYNTRA / "tasks/image2product"
    photos = [str(task / json.loads(x)["image"]) for x in (task / "queries.jsonl").read_text()
              .splitlines()][: args.queries]
    rng = np.random.default_rng(0)

    results = []
    for size in args.sizes:
        flat_top: dict[str, list[str]] = {}
        for index in args.indexes:
            db = folder / f"scale-{size}-{index.lower()}.db"
            config = load_config(store={"db": str(db), "collection": "scale", "index": index})
            started = time.perf_counter()
            with open_store(config, embedders) as store:
                for start in range(0, size, BATCH):
                    n = min(BATCH, size - start)
                    picks = np.arange(start, start + n) % len(rows)
                    batch = []
                    noisy = {}
                    for f in vector_fields:
                        v = base_vectors[f][picks] + rng.normal(0, NOISE, (n, base_vectors[f].shape[1])).astype(
                            np.float32)
                        noisy[f] = v / np.linalg.norm(v, axis=1, keepdims=True)
                    for j, p in enumerate(picks):
                        row = dict(rows[p], id=f"s{start + j}")
                        for f in vector_fields:
                            row[f] = noisy[f][j].tolist()
                        batch.append(row)
                    store.upsert(batch)
                insert_s = time.perf_counter() - started
            retriever = ProductRetriever.from_config(config, k=10, understand="off")
            try:
                retriever.invoke(texts[0])
                timings = {}
                for name, make in (("text", lambda i: ProductQuery(text=texts[i])),
                                   ("photo", lambda i: ProductQuery(image=photos[i])),
                                   ("text+photo", lambda i: ProductQuery(text=texts[i], image=photos[i]))):
                    times = []
                    for i in range(len(texts)):
                        t0 = time.perf_counter()
                        retriever.invoke(make(i))
                        times.append((time.perf_counter() - t0) * 1000)
                    timings[name] = percentiles(times)
                encoder = embedders["text"]
                top = {}
                for t in texts:
                    vector = encoder.encode_texts([t], query=True)[0].tolist()
                    hits = retriever.searcher.store.search([vector], "text_vec", "", 10)[0]
                    top[t] = [h["id"] for h in hits]
            finally:
                retriever.close()
            if index == "FLAT":
                flat_top = top
            recall = (statistics.mean(len(set(top[t]) & set(flat_top[t])) / 10 for t in texts)
                      if flat_top else float("nan"))
            results.append((size, index, size / insert_s, rss_mb(), disk_mb(db), timings, recall))
            print(f"done {size} {index}", file=sys.stderr, flush=True)

    print(f"\nMilvus Lite, default config's fields (MiniLM 384-d, EfficientNet-Lite0 1280-d, BM25), k=10, "
          f"{len(texts)} queries each; p50 / p95 ms\n")
    print("| products | index | insert /s | RSS MB | disk MB | text p50/p95 | photo p50/p95 | text+photo p50/p95 "
          "| recall@10 vs FLAT |")
    print("|---|---|---|---|---|---|---|---|---|")
    for size, index, rate, rss, disk, timings, recall in results:
        cells = " | ".join(f"{timings[m][0]:.0f} / {timings[m][1]:.0f}" for m in ("text", "photo", "text+photo"))
        recall_cell = "-" if index == "FLAT" else f"{recall:.3f}"
        print(f"| {size:,} | {index} | {rate:,.0f} | {rss:,.0f} | {disk:,.0f} | {cells} | {recall_cell} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
