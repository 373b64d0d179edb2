"""How well the embedding fallback of the field resolver names the asked field by itself, with no synonym rule.

    .venv/bin/python benchmarks/qa_paraphrases.py --out /tmp/para
    .venv/bin/python benchmarks/field_fallback.py /tmp/para/tune.jsonl /tmp/para/heldout.jsonl

For each question the words left once its product's name and the stop words are taken out are embedded (each word,
and all together) with the default text embedder and compared with two target sets: the product's field names
only, and the field names plus every built-in synonym phrase (a phrase counts for its concept). Phrases that the
question holds whole are left out of the targets, so the rule table cannot answer for the embedder: the figure is
what the fallback does for a wording no table lists. Prints, per similarity threshold, how often each target set
names a field and how often that field is the one asked.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from multimodal_rag.config import load_config
from multimodal_rag.embedders.base import TextEmbedder
from multimodal_rag.embedders.fields import load_embedders
from multimodal_rag.qa.fields import ATTRIBUTE_NAMES, BUILTIN_SYNONYMS, CORE_FIELDS, FieldResolver
from multimodal_rag.words import is_stopword, tokens

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ROOT.parent / "shared" / "data" / "flipkart_1050" / "products.jsonl"
KIND_CONCEPT = {"colour": "color"}  # question kind -> the concept of BUILTIN_SYNONYMS; others are the same word
THRESHOLDS = (0.4, 0.5, 0.55, 0.6, 0.7)


def concept_of(field: str) -> str:
    """The concept a field name belongs to ("Outer Material" -> "material"), or the name itself."""
    return next((c for c in ATTRIBUTE_NAMES if FieldResolver.stored_names(c, [field])), field)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("questions", nargs="+", help="question sets written by qa_paraphrases.py")
    parser.add_argument("--catalog", default=str(CATALOG))
    args = parser.parse_args()
    with open(args.catalog, encoding="utf-8") as lines:
        products = {p["id"]: p for p in map(json.loads, lines)}
    embedder = next(e for e in load_embedders(load_config(None, [])).values() if isinstance(e, TextEmbedder))
    vectors: dict[str, np.ndarray] = {}

    def embed(texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in vectors]
        if missing:
            vectors.update(zip(missing, embedder.encode_texts(missing, query=True)))
        return np.stack([vectors[t] for t in texts])

    phrases = [(p, c) for c, ps in BUILTIN_SYNONYMS.items() for p in ps]
    rows = []  # (names: best similarity, right), (names + phrases: best similarity, right)
    for path in args.questions:
        for item in map(json.loads, Path(path).read_text().splitlines()):
            product = products[item["product_ids"][0]]
            name = set(tokens(f"{product['title']} {product.get('brand') or ''}"))
            asked = set(tokens(item["question"]))
            left = [w for w in tokens(item["question"]) if w not in name and not is_stopword(w) and not w.isdigit()]
            if not left:
                continue
            queries = embed(left + [" ".join(left)] * (len(left) > 1))
            wanted = KIND_CONCEPT.get(item["kind"], item["kind"])
            names = list(dict.fromkeys([*CORE_FIELDS, *(product.get("attributes") or {})]))
            targets = [(n.lower(), concept_of(n)) for n in names]
            unheld = [(p, c) for p, c in phrases if not set(tokens(p)) <= asked]
            row = []
            for chosen in (targets, targets + unheld):
                similarity = queries @ embed([t for t, _ in chosen]).T
                best = int(np.argmax(similarity.max(axis=0)))
                row.append((float(similarity.max()), chosen[best][1] == wanted))
            rows.append(row)
    print(f"{len(rows)} questions with words left besides the product's name")
    print(f"{'threshold':>9} | {'names: named':>12} {'right':>6} | {'names+phrases: named':>20} {'right':>6}")
    for threshold in THRESHOLDS:
        counts = [(sum(r[k][0] >= threshold for r in rows), sum(r[k][0] >= threshold and r[k][1] for r in rows))
                  for k in (0, 1)]
        print(f"{threshold:>9} | {counts[0][0]:>12} {counts[0][1]:>6} | {counts[1][0]:>20} {counts[1][1]:>6}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
