"""The Ray engine against the local engine on one machine, and the per-product costs behind a scale-out plan.

    .venv/bin/python benchmarks/ingest_ray.py [--set flipkart_1050] [--limit N]

Each engine runs ``mmrag ingest --json`` cold in its own process on a fresh Milvus Lite folder, as a user runs it
(model loading and, for Ray, starting a local Ray are inside the time). Printed: wall seconds, products/s, the
Ray/local ratio, and peak memory: the driver's own and the whole process tree's (Ray's raylet, workers and actors
are children of the driver), sampled every 0.2 s. Then the per-product costs of each step measured alone in this
process (CPU seconds per product): photo fetch + decode + prepare, text encode, image encode, the upsert.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import DATA, footer, limited_catalog  # noqa: E402  (the sibling benchmark's catalog helper)


def run_engine(engine: str, catalog: Path, folder: Path) -> dict:
    cmd = [sys.executable, "-m", "multimodal_rag", "ingest", str(catalog), "--db", str(folder / f"{engine}.db"),
           "--engine", engine, "--json", "--errors", str(folder / f"{engine}-errors.jsonl")]
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false")
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=folder, env=env)
    peak = {"driver": 0, "tree": 0}
    done = threading.Event()

    def sample():
        root = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
                rss = {p.pid: p.memory_info().rss for p in procs if p.is_running()}
            except psutil.Error:
                rss = {}
            peak["driver"] = max(peak["driver"], rss.get(proc.pid, 0))
            peak["tree"] = max(peak["tree"], sum(rss.values()))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    done.set()
    sampler.join()
    if proc.returncode:
        raise SystemExit(f"{engine} ingest failed:\n{err[-3000:]}")
    summary = json.loads(out.strip().splitlines()[-1])
    return {"wall": time.perf_counter() - started, "summary": summary, "driver_mb": peak["driver"] / 2**20,
            "tree_mb": peak["tree"] / 2**20}


def step_costs(catalog: Path, folder: Path) -> dict[str, float]:
    """CPU seconds per product of each step, alone, models loaded before the clock."""
    from multimodal_rag.catalog.images import ImageFetcher, decode_image
    from multimodal_rag.catalog.loaders import load_catalog
    from multimodal_rag.config import load_config
    from multimodal_rag.embedders.fields import load_embedders
    from multimodal_rag.ingestion.steps import build_rows, ChunkPlanner, ErrorReport, chunked, embed_chunk
    from multimodal_rag.store.milvus import open_store

    config = load_config(None, [f'store.db="{folder / "costs.db"}"'])
    embedders = load_embedders(config)
    products = [(r.line, r.product) for r in load_catalog(catalog) if r.product]
    text, image = (embedders[v.name] for v in config.vectors)
    text.encode_texts(["warm up"])
    fetcher = ImageFetcher()
    cpu = time.process_time
    t0 = cpu()
    prepared = []
    for _, p in products:
        try:
            prepared.append(image.prepare(decode_image(fetcher.fetch(p.image))))
        except Exception:
            pass
    t_prepare = cpu() - t0
    image.encode_prepared(prepared[:2])
    t0 = cpu()
    image.encode_prepared(prepared)
    t_image = cpu() - t0
    texts = [p.text(config.vectors[0].sources) for _, p in products]
    t0 = cpu()
    text.encode_texts(texts)
    t_text = cpu() - t0
    # the upsert: rows built from real vectors, timed on their own
    from concurrent.futures import ThreadPoolExecutor

    with open_store(config, embedders) as store, ThreadPoolExecutor(4) as pool:
        planner = ChunkPlanner(config, embedders, store, ErrorReport(None), fetcher, pool)
        t_write = 0.0
        for chunk in chunked(products, 256):
            plans = planner.plan(chunk).products
            rows = build_rows(store, plans, embed_chunk(config, embedders, plans))
            t0 = time.perf_counter()
            store.upsert(rows)
            t_write += time.perf_counter() - t0
    n = len(products)
    return {"photo fetch+decode+prepare": t_prepare / n, "text encode": t_text / n, "image encode": t_image / n,
            "upsert (wall, Lite)": t_write / n}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", default="flipkart_1050")
    parser.add_argument("--limit", type=int)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        catalog = limited_catalog(DATA / args.set / "products.jsonl", args.limit, folder)
        runs = {engine: run_engine(engine, catalog, folder) for engine in ("local", "ray")}
        costs = step_costs(catalog, folder)
    n = runs["local"]["summary"]["new"]
    print(f"| engine | products | wall s | products/s (wall) | products/s (summary) | driver peak RSS | "
          f"process tree peak RSS |")
    print("|---|---|---|---|---|---|---|")
    for engine, r in runs.items():
        print(f"| {engine} | {r['summary']['new']} | {r['wall']:.1f} | {n / r['wall']:.2f} | "
              f"{r['summary']['products_per_s']:.2f} | {r['driver_mb']:.0f} MB | {r['tree_mb']:.0f} MB |")
    ratio = runs["local"]["wall"] / runs["ray"]["wall"]
    print(f"\nray / local throughput (wall): {ratio:.2f}")
    print("\n| step | CPU s per product |\n|---|---|")
    for step, seconds in costs.items():
        print(f"| {step} | {seconds * 1000:.1f} ms |")
    total = sum(v for k, v in costs.items() if "upsert" not in k)
    print(f"\nembedding work per product: {total * 1000:.1f} CPU-ms; 10 million products: "
          f"{total * 1e7 / 3600:.0f} CPU-hours")
    print(footer(__file__))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
