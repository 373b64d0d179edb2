"""Ingest throughput and memory: the whole pipeline against the bare embedders on the same inputs.

    .venv/bin/python benchmarks/ingest.py [--limit N] [--sets flipkart_1050 myntra_dev homedepot_dev]

For each catalog: products/s of the bare embedders (text and image encode time only, inputs prepared
beforehand; the mean of a run before and one after the pipeline, and how far the two differ), products/s of
``ingest`` into a fresh Milvus Lite folder (models already loaded), their ratio, and the peak RSS of the
pipeline, which runs in its own process so the figure is its alone.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"

PIPELINE = """
import json, sys, time, resource
from multimodal_rag.config import load_config
from multimodal_rag.embedders.fields import load_embedders
from multimodal_rag.ingestion import ingest
config = load_config(None, [f'store.db="{sys.argv[2]}"'])
embedders = load_embedders(config)
for e in embedders.values():
    e.dimension  # load weights before the clock starts
    getattr(e, "_get_runner", lambda: None)()
summary = ingest(sys.argv[1], config, progress=False, embedders=embedders, errors_path=sys.argv[3])
print(json.dumps({"summary": summary.as_dict(),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def limited_catalog(path: Path, limit: int | None, folder: Path) -> Path:
    if not limit:
        return path
    out = folder / f"{path.parent.name}-{limit}.jsonl"
    rows = []
    for line in path.read_text().splitlines()[:limit]:
        row = json.loads(line)
        if row.get("image") and "://" not in row["image"]:
            row["image"] = str(path.parent / row["image"])
        rows.append(json.dumps(row))
    out.write_text("\n".join(rows) + "\n")
    return out


def bare_embedders(catalog: Path) -> tuple[int, float, float]:
    """(products, text seconds, image seconds) of encode calls alone over the catalog's inputs."""
    from multimodal_rag.catalog.images import ImageFetcher, decode_image
    from multimodal_rag.catalog.loaders import load_catalog
    from multimodal_rag.config import load_config
    from multimodal_rag.ingestion.steps import chunked
    from multimodal_rag.embedders.fields import load_embedders

    config = load_config()
    embedders = load_embedders(config)
    fetcher = ImageFetcher()
    products = [r.product for r in load_catalog(catalog) if r.product]
    t_text = t_image = 0.0
    for v in config.vectors:
        emb = embedders[v.name]
        for chunk in chunked(products, 256):
            if v.modality == "text":
                texts = [p.text(v.sources) for p in chunk]
                start = time.perf_counter()
                emb.encode_texts(texts)
                t_text += time.perf_counter() - start
            else:
                prepared = []
                for p in chunk:
                    try:
                        prepared.append(emb.prepare(decode_image(fetcher.fetch(p.image))))
                    except Exception:
                        pass
                if not prepared:
                    continue
                emb.encode_prepared(prepared[:2])  # first call builds the session
                start = time.perf_counter()
                emb.encode_prepared(prepared)
                t_image += time.perf_counter() - start
    return len(products), t_text, t_image


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="+", default=["flipkart_1050", "myntra_dev"])
    parser.add_argument("--limit", type=int, help="only the first N products of each catalog")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name in args.sets:
            catalog = limited_catalog(DATA / name / "products.jsonl", args.limit, tmp)
            n, t_text, t_image = bare_embedders(catalog)
            out = subprocess.run([sys.executable, "-c", PIPELINE, str(catalog), str(tmp / f"{name}.db"),
                                  str(tmp / f"{name}.errors.jsonl")], capture_output=True, text=True, cwd=ROOT)
            if out.returncode:
                print(out.stderr, file=sys.stderr)
                return 1
            # The bare encoders again after the pipeline: on a shared machine their rate drifts by +-10% between
            # minutes, so the ratio is taken against the mean of the runs either side, and the drift is shown.
            _, t_text_after, t_image_after = bare_embedders(catalog)
            drift = abs((t_text + t_image) - (t_text_after + t_image_after)) / (t_text + t_image)
            t_text, t_image = (t_text + t_text_after) / 2, (t_image + t_image_after) / 2
            bare = n / (t_text + t_image)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            s = result["summary"]
            pipeline = s["products_per_s"]
            rows.append((name, n, _rate(n, t_text), _rate(n, t_image), bare, drift, pipeline, pipeline / bare,
                         result["peak_rss_mb"], s["failed"]))
    print("| catalog | products | bare text/s | bare image/s | bare both/s | bare drift | pipeline/s "
          "| pipeline / bare | pipeline peak RSS | failed rows |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]:.1f} | {r[5]:.0%} | {r[6]:.1f} | {r[7]:.0%} | "
              f"{r[8]:.0f} MB | {r[9]} |")
    print(footer(__file__))
    return 0


def _rate(n: int, seconds: float) -> str:
    """Products per second, or "-" for an encoder with no input (a catalog without photos)."""
    return f"{n / seconds:.0f}" if seconds else "-"


def footer(script: str) -> str:
    """The line under a table: when, where and how it was made."""
    return (f"\n(run on {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, python {sys.version.split()[0]}, "
            f"benchmarks/{Path(script).name} {' '.join(sys.argv[1:])})")


if __name__ == "__main__":
    raise SystemExit(main())
