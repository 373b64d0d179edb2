"""Product questions about flipkart_1050 in many wordings, for ``mmrag eval-qa``.

    .venv/bin/python benchmarks/qa_paraphrases.py --out /tmp/para
    .venv/bin/mmrag eval-qa /tmp/para/fresh.jsonl --catalog ../shared/data/flipkart_1050/products.jsonl \
        --json fresh.json --answers fresh-answers.jsonl

Hand-written wordings for eight question kinds (price, brand, colour, material, type, ideal for, weight, sales
package), with the product's name at the start, in the middle or at the end, each asked about four products that
list the field, with people's habits mixed in (seeded): lower case, no question mark, one typo in a product word,
or a partial name (the brand and the fewest title words that name only that product in the whole catalog).

The wordings live in ``benchmarks/data/qa_paraphrases.jsonl``, one object per wording: its ``set`` (each set
draws its products from its own seed), ``split`` (the output file), ``kind`` and ``wording`` ({X}: the product's
name). The built-with set: ten wordings per kind alternate between ``tune.jsonl`` and ``heldout.jsonl``; the question
understanding was developed on the first, the second was scored once (2026-11-23), its misses were then looked at
and fixed, so it is tuning data now. ``fresh.jsonl`` holds six more wordings per kind, written 2026-11-24 after
that tuning; it was scored once and its misses read, so it is tuning data too. ``unseen.jsonl``: six more per
kind, written before the changes of the next session, scored once (0.870) and its misses read: tuning data now.
``blind.jsonl``: six more per kind, written before the next session's changes, scored once (0.927) and read.
``next.jsonl``: six more per kind, written before the changes that followed; the next held-out figure comes from
it alone.

The catalog stays in ../shared/data.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ROOT.parent / "shared" / "data" / "flipkart_1050" / "products.jsonl"
WORDINGS = Path(__file__).resolve().parent / "data" / "qa_paraphrases.jsonl"
PRODUCTS_PER_WORDING = 4

# kind -> the field of the product that the gold answer comes from
FIELDS = {"price": "price", "brand": "brand", "colour": "Color", "material": "Material", "type": "Type",
          "ideal for": "Ideal For", "weight": "Weight", "sales package": "Sales Package"}
HABITS = {"lowercase": 0.3, "no_question_mark": 0.3, "typo": 0.2, "partial_name": 0.25}
_WORD = re.compile(r"[A-Za-z]+")


def gold(product: dict, field: str) -> list[str] | None:
    if field == "price":
        price = product.get("price")
        return None if price is None else [f"{price:g}"]
    if field == "brand":
        return [product["brand"]] if product.get("brand") else None
    attributes = product.get("attributes") or {}
    value = attributes.get(field)
    if not value:
        return None
    answers = [value]
    if field == "Material" and attributes.get("Fabric"):
        answers.append(attributes["Fabric"])  # "what fabric" may read the product's Fabric
    return answers


def name_words(product: dict) -> set[str]:
    return {w.lower() for w in re.findall(r"\w+", f"{product['title']} {product.get('brand') or ''}")}


def partial_name(product: dict, catalog: list[dict]) -> str | None:
    """The brand (or first title word) and the fewest further title words, in title order, that only this product
    of the catalog holds; None when no short name is unique."""
    words = [w for w in product["title"].split() if _WORD.fullmatch(w) and len(w) > 2]
    if not words:
        return None
    lead = product.get("brand") or words[0]
    rest = [w for w in words if w.lower() not in lead.lower().split()]
    for size in (1, 2):
        for start in range(len(rest) - size + 1):
            chosen = [lead, *rest[start:start + size]]
            wanted = {w.lower() for w in " ".join(chosen).split()}
            if [p["id"] for p in catalog if wanted <= name_words(p)] == [product["id"]]:
                return " ".join(chosen)
    return None


def typo(text: str, rng: random.Random, catalog_words: set[str]) -> str | None:
    """``text`` with one typo (a swap, a dropped or a doubled letter) in one of its longer words."""
    words = [m for m in re.finditer(r"[A-Za-z]{6,}", text)]
    rng.shuffle(words)
    for match in words:
        word = match.group()
        i = rng.randrange(1, len(word) - 2)
        kind = rng.choice(["swap", "drop", "double"])
        changed = {"swap": word[:i] + word[i + 1] + word[i] + word[i + 2:], "drop": word[:i] + word[i + 1:],
                   "double": word[:i] + word[i] + word[i:]}[kind]
        if changed.lower() != word.lower() and changed.lower() not in catalog_words:
            return text[:match.start()] + changed + text[match.end():]
    return None


def ask(product: dict, wording: str, catalog: list[dict], catalog_words: set[str],
        rng: random.Random) -> tuple[str, list[str]]:
    """The question a wording makes about a product, with people's habits drawn from ``rng``."""
    name, habits = " ".join(product["title"].split()), []
    if rng.random() < HABITS["partial_name"]:
        short = partial_name(product, catalog)
        if short:
            name, habits = short, ["partial_name"]
    if rng.random() < HABITS["typo"]:
        changed = typo(name, rng, catalog_words)
        if changed:
            name, habits = changed, [*habits, "typo"]
    question = wording.replace("{X}", name)
    if rng.random() < HABITS["lowercase"]:
        question, habits = question.lower(), [*habits, "lowercase"]
    if rng.random() < HABITS["no_question_mark"] and question.endswith(("?", ".")):
        question, habits = question[:-1], [*habits, "no_question_mark"]
    return question, habits


def read_wordings(path: Path = WORDINGS) -> dict[str, list[tuple[str, str, str]]]:
    """The wordings file by set, in file order: each set's (split, kind, wording) in the order the file gives."""
    sets: dict[str, list[tuple[str, str, str]]] = {}
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            row = json.loads(line)
            missing = [key for key in ("set", "split", "kind", "wording") if key not in row]
            if missing or row["kind"] not in FIELDS:
                raise SystemExit(f"{path}:{number}: " + (f"no {missing[0]!r}" if missing else
                                 f"unknown kind {row['kind']!r}; known: {', '.join(FIELDS)}"))
            sets.setdefault(row["set"], []).append((row["split"], row["kind"], row["wording"]))
    return sets


def build(catalog: list[dict], seed: int = 0) -> dict[str, list[dict]]:
    """The questions by split. Each set of wordings draws its products from its own seed (``seed`` plus the set's
    place in the file), kind by kind, wording by wording; ``wording`` is the wording's place among its set's kind."""
    catalog_words = {w for p in catalog for w in name_words(p)}
    splits: dict[str, list[dict]] = {}
    for offset, wordings in enumerate(read_wordings().values()):
        rng = random.Random(seed + offset)
        for kind in dict.fromkeys(kind for _, kind, _ in wordings):
            having = [p for p in catalog if gold(p, FIELDS[kind])]
            of_kind = [(split, wording) for split, k, wording in wordings if k == kind]
            for index, (split, wording) in enumerate(of_kind):
                items = splits.setdefault(split, [])
                for product in rng.sample(having, PRODUCTS_PER_WORDING):
                    question, habits = ask(product, wording, catalog, catalog_words, rng)
                    items.append({
                        "id": f"{split}-{kind.replace(' ', '_')}-{index}-{len(items)}", "question": question,
                        "answers": gold(product, FIELDS[kind]), "product_ids": [product["id"]], "kind": kind,
                        "wording": index, "habits": habits})
    return splits


def write_question_sets(description: str, build) -> int:
    """The command line of a question-set script: ``build(catalog rows, seed)`` returns {half: items}; each half
    is written to ``--out``/<half>.jsonl."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder for the halves' .jsonl files")
    parser.add_argument("--catalog", default=str(CATALOG))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with open(args.catalog, encoding="utf-8") as lines:  # not splitlines(): U+2028 is inside the texts
        catalog = [json.loads(line) for line in lines if line.strip()]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for half, items in build(catalog, args.seed).items():
        (out / f"{half}.jsonl").write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items))
        print(f"{out / (half + '.jsonl')}: {len(items)} questions")
    return 0


if __name__ == "__main__":
    raise SystemExit(write_question_sets(__doc__, build))
