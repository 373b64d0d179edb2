"""The demo job behind ``make demo``: ingest a catalog, run a text search and an image search, and answer a
shopper's question with the offline LLM.

Without ``--catalog`` it makes the project's own sample catalog (36 products with drawn pictures) and queries it
with a new picture of one product; with ``--catalog`` it ingests that file and queries with its first product.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from multimodal_rag.catalog.loaders import load_catalog
from multimodal_rag.catalog.sample import COLOURS, draw_product, make_sample_catalog
from multimodal_rag.cli import main as cli_main


def demo_queries(catalog: Path, out: Path, made: bool) -> tuple[str, Path, str]:
    """A text query, a query image and a question for the catalog."""
    if made:
        query_image = out / "query-blue-sneaker.png"
        # Not the catalog photo: drawn larger and off-centre, as a shopper's own picture would be.
        draw_product("sneaker", COLOURS["blue"], size=320, scale=0.9, offset=(12, -8)).save(query_image)
        return "red coffee mug", query_image, "How much is the Northwind Blue Ceramic Coffee Mug?"
    first = next(row.product for row in load_catalog(catalog) if row.product and row.product.image)
    return first.title, Path(first.image), f"What is the price of {first.title}?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="demo_out", help="folder for the sample catalog and the store")
    parser.add_argument("--catalog", help="a catalog file to use instead of the made sample")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    made = not args.catalog
    catalog = make_sample_catalog(out / "sample") if made else Path(args.catalog)
    store = ["--db", str(out / "mmrag.db"), "--collection", "sample" if made else "catalog"]
    print(f"== ingest {catalog}")
    code = cli_main(["ingest", str(catalog), *store, "--errors", str(out / "ingest-errors.jsonl")])
    if code:
        return code
    text, image, question = demo_queries(catalog, out, made)
    print(f"\n== search {json.dumps(text)}")
    code = cli_main(["search", text, *store, "-k", "5"])
    if code:
        return code
    print(f"\n== search --image {image}")
    code = cli_main(["search", "--image", str(image), *store, "-k", "5"])
    if code:
        return code
    print(f"\n== ask {json.dumps(question)}")
    code = cli_main(["ask", question, *store])
    if code:
        return code
    print("\n== chat with this catalog in a browser:\n"
          f"   .venv/bin/mmrag serve {' '.join(store)}   # then open http://127.0.0.1:8000/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
