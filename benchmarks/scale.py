"""How Milvus Lite holds up as the catalog grows: insert rate, memory and disk, query latency, HNSW recall.

    .venv/bin/python benchmarks/scale.py [--sizes 15000 100000 1000000] [--queries 40] [--db DIR]

The 15,000 real Myntra products are ingested once with the default config (the embedding cache makes a rerun
quick); a collection of N products repeats their rows with new ids and vectors moved by Gaussian noise (a noise
vector of norm ~0.1, then normalised: cosine ~0.995 to the original), so no model runs while it is written. The
noise depends only on the row's position, so every index of one size holds the same vectors and the first 15,000
rows of a bigger collection are the smaller one. Each (size, index) cell runs in a process of its own, so its RSS
is that cell's alone. For each size and index (FLAT, HNSW M=16 efConstruction=200) it reports the insert rate, the
cell process' peak RSS and the store's size on disk, the p50/p95 of text queries (text vector + BM25, RRF), photo
queries and both together through ``ProductRetriever`` (facet understanding off, so only the engine is timed),
and HNSW's recall@10 against FLAT on the text vector.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MYNTRA = ROOT.parent / "shared" / "data" / "myntra_dev"
BATCH = 2000
NOISE_NORM = 0.1


def disk_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 1e6


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentiles(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def prepare(folder: Path) -> None:
    """Ingest the real catalog once and keep its rows (without vectors) and vectors for the cells."""
    from multimodal_rag import ingest, load_config
    from multimodal_rag.embedders.fields import load_embedders
    from multimodal_rag.store.milvus import open_store

    catalog = folder / "myntra.jsonl"
    catalog.write_text("".join(
        json.dumps({**row, "image": str(MYNTRA / row["image"])}) + "\n"
        for row in map(json.loads, (MYNTRA / "products.jsonl").read_text().splitlines())))
    config = load_config(store={"db": str(folder / "base.db"), "collection": "base"},
                         ingest={"embedding_cache": True})
    ingest(catalog, config, progress=False)
    fields = [f"{v.name}_vec" for v in config.vectors]
    with open_store(config, load_embedders(config), create=False) as base:
        iterator = base.client.query_iterator(base.collection, batch_size=1000, output_fields=["*"])
        rows = []
        while batch := iterator.next():
            rows.extend({k: v for k, v in r.items() if k != "sparse"} for r in batch)
        iterator.close()
    np.savez(folder / "base-vectors.npz", **{f: np.array([r.pop(f) for r in rows], dtype=np.float32) for f in fields})
    (folder / "base-rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def noisy(vectors: np.ndarray, start: int) -> np.ndarray:
    """The rows' vectors moved by noise that depends only on the first row's position."""
    rng = np.random.default_rng(start)
    moved = vectors + rng.normal(0, NOISE_NORM / np.sqrt(vectors.shape[1]), vectors.shape).astype(np.float32)
    return moved / np.linalg.norm(moved, axis=1, keepdims=True)


def cell(folder: Path, size: int, index: str, queries: int) -> dict:
    """One collection of ``size`` products on ``index``: written, timed, and its text-vector top-10s kept."""
    from multimodal_rag import ProductQuery, ProductRetriever, load_config
    from multimodal_rag.embedders.fields import load_embedders
    from multimodal_rag.store.milvus import open_store

    rows = [json.loads(x) for x in (folder / "base-rows.jsonl").read_text().splitlines()]
    base = dict(np.load(folder / "base-vectors.npz"))
    texts = [json.loads(x)["text"] for x in (MYNTRA / "tasks/attr2product/queries.jsonl").read_text()
             .splitlines()][:queries]
    task = MYNTRA / "tasks/image2product"
    photos = [str(task / json.loads(x)["image"]) for x in (task / "queries.jsonl").read_text()
              .splitlines()][:queries]
    db = folder / f"scale-{size}-{index.lower()}.db"
    config = load_config(store={"db": str(db), "collection": "scale", "index": index})
    embedders = load_embedders(config)
    started = time.perf_counter()
    with open_store(config, embedders) as store:
        for start in range(0, size, BATCH):
            picks = np.arange(start, min(start + BATCH, size)) % len(rows)
            vectors = {f: noisy(v[picks], start) for f, v in base.items()}
            store.upsert([{**rows[p], "id": f"s{start + j}", **{f: vectors[f][j].tolist() for f in vectors}}
                          for j, p in enumerate(picks)])
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
        vectors = embedders["text"].encode_texts(texts, query=True)
        top = [[h["id"] for h in hits] for hits in
               retriever.searcher.store.search([v.tolist() for v in vectors], "text_vec", "", 10)]
    finally:
        retriever.close()
    return {"size": size, "index": index, "insert_per_s": size / insert_s, "rss_mb": peak_rss_mb(),
            "disk_mb": disk_mb(db), "timings": timings, "top": top}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[15000, 100000, 1000000])
    parser.add_argument("--indexes", nargs="+", default=["FLAT", "HNSW"])
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--db", help="folder for the stores (default: a temporary one)")
    parser.add_argument("--cell", nargs=2, metavar=("SIZE", "INDEX"), help=argparse.SUPPRESS)  # one cell's process
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    folder = Path(args.db or tempfile.mkdtemp(prefix="mmrag-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    if args.cell:
        size, index = int(args.cell[0]), args.cell[1]
        (folder / f"cell-{size}-{index}.json").write_text(json.dumps(cell(folder, size, index, args.queries)))
        return 0
    prepare(folder)
    results = []
    for size in args.sizes:
        flat_top = None
        for index in args.indexes:
            subprocess.run([sys.executable, __file__, "--db", str(folder), "--queries", str(args.queries),
                            "--cell", str(size), index], check=True)
            result = json.loads((folder / f"cell-{size}-{index}.json").read_text())
            if index == "FLAT":
                flat_top = result["top"]
            result["recall"] = (statistics.mean(len(set(a) & set(b)) / 10 for a, b in zip(result["top"], flat_top))
                                if flat_top and index != "FLAT" else None)
            results.append(result)
            print(f"done {size} {index}", file=sys.stderr, flush=True)

    print(f"\nMilvus Lite, default config's fields (MiniLM 384-d, EfficientNet-Lite0 1280-d, BM25), k=10, "
          f"{args.queries} queries each; p50 / p95 ms\n")
    print("| products | index | insert /s | peak RSS MB | disk MB | text p50/p95 | photo p50/p95 | text+photo p50/p95 "
          "| recall@10 vs FLAT |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        cells = " | ".join(f"{r['timings'][m][0]:.0f} / {r['timings'][m][1]:.0f}"
                           for m in ("text", "photo", "text+photo"))
        recall = "-" if r["recall"] is None else f"{r['recall']:.3f}"
        print(f"| {r['size']:,} | {r['index']} | {r['insert_per_s']:,.0f} | {r['rss_mb']:,.0f} | {r['disk_mb']:,.0f} "
              f"| {cells} | {recall} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
