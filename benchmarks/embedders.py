"""Throughput and memory of every embedder family that loads offline here, at two batch sizes.

    .venv/bin/python benchmarks/embedders.py [--texts 512] [--images 256] [--batch-sizes 16 64] [--aligned DIR]
        [--architectures]

``--architectures`` also times ResNet-50 and CLIP ViT-B/32 at their real sizes with random weights (no such
weights exist offline here; speed does not depend on the values), image towers in ONNX Runtime and in torch.

Inputs are Flipkart products (their indexed text: title, category, brand, attributes; their photos, decoded
and prepared before the clock starts). Each family runs in its own process, so the peak RSS printed is that
family's alone (Python, torch and the model included). The median of three timed passes is reported, after one
warm-up pass.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
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
label = sys.argv[6]
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
        rows.append({"spec": label, "input": "product text", "batch": b, "per_s": rate})
if isinstance(embedder, ImageEmbedder):
    fetcher = ImageFetcher()
    prepared = [embedder.prepare(decode_image(fetcher.fetch(p.image))) for p in products if p.image][:n_images]
    for b in batch_sizes:
        rate = timed(lambda items: embedder.encode_prepared(items, batch_size=b), prepared)
        rows.append({"spec": label, "input": "image", "batch": b, "per_s": rate})
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps([{**r, "peak_rss_mb": peak} for r in rows]))
"""


def real_size_models(folder: Path) -> list[tuple[str, str, dict]]:
    """ResNet-50 and CLIP ViT-B/32 with random weights, saved with their processors (and MiniLM's tokenizer)."""
    from transformers import (AutoTokenizer, CLIPConfig, CLIPImageProcessor, CLIPModel, ConvNextImageProcessor,
                              ResNetConfig, ResNetModel)

    from multimodal_rag.embedders.text import resolve_model_path

    resnet, clip = folder / "resnet-50", folder / "clip-vit-b-32"
    ResNetModel(ResNetConfig()).save_pretrained(resnet)  # the default config is ResNet-50
    ConvNextImageProcessor(size={"shortest_edge": 224}, crop_pct=0.875).save_pretrained(resnet)
    CLIPModel(CLIPConfig(vision_config={"patch_size": 32})).save_pretrained(clip)
    CLIPImageProcessor().save_pretrained(clip)
    AutoTokenizer.from_pretrained(resolve_model_path("all-MiniLM-L6-v2")).save_pretrained(clip)
    runs = []
    for family, path, name in (("resnet50", resnet, "ResNet-50"), ("clip", clip, "CLIP ViT-B/32")):
        for backend, onnx in (("onnx", "1"), ("torch", "0")):
            runs.append((f"{family}: {name}, random weights, {backend}", f"{family}:{path}", {"MMRAG_ONNX": onnx}))
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=512)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--aligned", help="an adapter folder from `mmrag align`, to time aligned:DIR too")
    parser.add_argument("--architectures", action="store_true",
                        help="also time ResNet-50 and CLIP ViT-B/32 (random weights) in ONNX Runtime and torch")
    args = parser.parse_args()
    runs = [(spec, spec, {}) for spec in
            ("sentence-transformers:all-MiniLM-L6-v2", "efficientnet-lite0", "efficientnet-lite0:torch")]
    if args.aligned:
        runs.append((f"aligned:{args.aligned}", f"aligned:{args.aligned}", {}))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.architectures:
            runs += real_size_models(Path(tmp))
        for label, spec, env in runs:
            out = subprocess.run([sys.executable, "-c", WORKER, spec, str(FLIPKART), str(args.texts),
                                  str(args.images), ",".join(map(str, args.batch_sizes)), label],
                                 capture_output=True, text=True, cwd=ROOT,
                                 env={**os.environ, "MMRAG_CACHE_DIR": str(Path(tmp) / "cache"), **env}
                                 if env else None)
            if out.returncode != 0:
                print(f"{label}: failed\n{out.stderr[-2000:]}", file=sys.stderr)
                continue
            rows.extend(json.loads(out.stdout.strip().splitlines()[-1]))
    print("| spec | input | batch | per second | peak RSS MB |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['spec']} | {r['input']} | {r['batch']} | {r['per_s']:.1f} | {r['peak_rss_mb']:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
