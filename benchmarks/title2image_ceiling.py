"""How far can a text -> photo bridge get on myntra_dev title2image by seeing the attributes in a photo?

    .venv/bin/python benchmarks/title2image_ceiling.py [--seeds 20]

title2image asks for the images of the products with exactly the query's title among 15,000 thumbnails. A
ranker that read a set of attributes (gender, colour, article type ...) from every photo without error, and
knew the query product's, would rank the products that share them first, in no particular order. This prints
that ranker's nDCG@10 (averaged over ``--seeds`` random orders within the group) and the median group size, for
a few attribute sets: a ceiling for bridges that see no more than those attributes.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MYNTRA = ROOT.parent / "shared" / "data" / "myntra_dev"
ATTRIBUTE_SETS = (("gender", "articleType"), ("gender", "baseColour", "articleType"),
                  ("gender", "baseColour", "articleType", "usage"),
                  ("gender", "baseColour", "articleType", "usage", "season"))


def ndcg_at_10(ranked: list[str], relevant: dict[str, int]) -> float:
    dcg = sum(relevant.get(pid, 0) / math.log2(i + 2) for i, pid in enumerate(ranked[:10]))
    ideal = sum(g / math.log2(i + 2) for i, g in enumerate(sorted(relevant.values(), reverse=True)[:10]))
    return dcg / ideal


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=20)
    args = parser.parse_args()
    if not MYNTRA.is_dir():
        sys.exit(f"needs {MYNTRA}")
    products = {row["id"]: row for row in map(json.loads, (MYNTRA / "products.jsonl").read_text().splitlines())}
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    for line in (MYNTRA / "tasks" / "title2image" / "qrels.tsv").read_text().splitlines()[1:]:
        query, pid, grade = line.split("\t")
        if int(grade) > 0:
            qrels[query][pid] = int(grade)
    print(f"{len(qrels)} title2image queries, {len(products):,} products\n")
    print("| attributes read from every photo | median products sharing them | nDCG@10 ceiling |\n|---|---|---|")
    for names in ATTRIBUTE_SETS:
        def key(pid: str) -> tuple:
            return tuple(products[pid]["attributes"].get(n) for n in names)

        groups: dict[tuple, list[str]] = defaultdict(list)
        for pid in products:
            groups[key(pid)].append(pid)
        rng = random.Random(0)
        scores, sizes = [], []
        for relevant in qrels.values():
            group = list(groups[key(next(iter(relevant)))])
            sizes.append(len(group))
            draws = []
            for _ in range(args.seeds):
                rng.shuffle(group)
                draws.append(ndcg_at_10(group, relevant))
            scores.append(statistics.mean(draws))
        print(f"| {', '.join(names)} | {statistics.median(sizes):.0f} | {statistics.mean(scores):.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
