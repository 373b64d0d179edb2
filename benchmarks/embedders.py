"""Throughput and memory of every embedder family that loads offline here, at two batch sizes.

    .venv/bin/python benchmarks/embedders.py [--texts 512] [--images 256] [--batch-sizes 16 64] [--aligned DIR]

Inputs are Flipkart products (their indexed text: title, category, brand, attributes; their photos, decoded
and prepared before the clock starts). Each family runs in its own process, so the peak RSS printed is that
family's alone (Python, torch and the model included). The median of three timed passes is reported, after one
warm-up pass.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLIPKART = ROOT.parent / "shared" / "data" / "flipkart_1050" / "products.jsonl"

WORKER = """
import json, resource, statistics, sys, time
from multimodal_rag.catalog.images import ImageFetcher, decode_image
from multimodal_rag.catalog.loaders import load_catalog
from multimodal_rag.embedders import ImageEmbedder, TextEmbedder, load_embedder

spec, catalog, n_texts, n_images = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
batch_sizes = [int(b) for b in sys.argv[5].split(",")]
products = [row.product for row in load_catalog(catalog) if row.product is not None]
embedder = load_embedder(spec)
rows = []

def timed(run, items):
    run(items[:8])  # warm-up: weights load, ONNX sessions start
    passes = []
    for _ in range(3):
        start = time.perf_counter()
        run(items)
        passes.append(time.perf_counter() - start)
    return len(items) / statistics.median(passes)

if isinstance(embedder, TextEmbedder):
    texts = [p.text(("title", "category", "brand", "attributes")) for p in products][:n_texts]
    for b in batch_sizes:
        rate = timed(lambda items: embedder.encode_texts(items, batch_size=b), texts)
        rows.append({"spec": spec, "input": "product text", "batch": b, "per_s": rate})
if isinstance(embedder, ImageEmbedder):
    fetcher = ImageFetcher()
    prepared = [embedder.prepare(decode_image(fetcher.fetch(p.image))) for p in products if p.image][:n_images]
    for b in batch_sizes:
        rate = timed(lambda items: embedder.encode_prepared(items, batch_size=b), prepared)
        rows.append({"spec": spec, "input": "image", "batch": b, "per_s": rate})
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps([{**r, "peak_rss_mb": peak} for r in rows]))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=512)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--aligned", help="an adapter folder from `mmrag align`, to time aligned:DIR too")
    args = parser.parse_args()
    specs = ["sentence-transformers:all-MiniLM-L6-v2", "efficientnet-lite0", "efficientnet-lite0:torch"]
    if args.aligned:
        specs.append(f"aligned:{args.aligned}")
    rows = []
    for spec in specs:
        out = subprocess.run([sys.executable, "-c", WORKER, spec, str(FLIPKART), str(args.texts), str(args.images),
                              ",".join(map(str, args.batch_sizes))], capture_output=True, text=True, cwd=ROOT)
        if out.returncode != 0:
            print(f"{spec}: failed\n{out.stderr[-2000:]}", file=sys.stderr)
            continue
        rows.extend(json.loads(out.stdout.strip().splitlines()[-1]))
    print("| spec | input | batch | per second | peak RSS MB |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['spec']} | {r['input']} | {r['batch']} | {r['per_s']:.1f} | {r['peak_rss_mb']:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
