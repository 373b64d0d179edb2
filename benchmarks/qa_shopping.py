"""Shopping questions about flipkart_1050 (budget, cheapest, most expensive, brand in a category, follow-ups), for
``mmrag eval-qa``, scored strictly: an answer is right when it cites at least one product and every cited product
satisfies the question (and, for "cheapest"/"most expensive", the first cited is the catalog's).

    .venv/bin/python benchmarks/qa_shopping.py --out /tmp/shopping
    .venv/bin/mmrag eval-qa /tmp/shopping/heldout.jsonl --catalog ../shared/data/flipkart_1050/products.jsonl \
        --json shopping.json --answers shopping-answers.jsonl

The wordings are written by hand and live in ``benchmarks/data/qa_shopping.jsonl``, one object per set: its name,
the splits (output files) its questions alternate between, and its wordings by kind of question. The first set
(written while the assistant was built) alternates between ``tune.jsonl`` (used while building the assistant) and
``heldout.jsonl`` (scored once, then used for tuning too); ``blind.jsonl`` holds a second set, written and
committed (2026-11-24) before the round that followed and scored once after it; ``next.jsonl`` a third, written
after that round's fixes and before any look at it, and scored once. The kinds of products (category levels),
brands, colours and budgets come from the catalog (seeded), and every question has at least one product that
satisfies it. Follow-ups carry the questions asked before them in ``history``; "$cited_price" in an expectation is
the price of the first product the previous answer cited.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

WORDINGS = Path(__file__).resolve().parent / "data" / "qa_shopping.jsonl"
PER_WORDING = 5


@dataclass(frozen=True)
class Wordings:
    """One hand-written set of wordings; a budget wording carries the comparison it means ("under" is "lt", "or
    less" is "lte"), {kind}, {brand}, {price} and {colour} are filled from the catalog."""
    budget: list[tuple[str, str]]
    cheapest: list[str]
    dearest: list[str]
    brand: list[str]
    cheaper_first: list[str]  # the budget question before "a cheaper one"
    cheaper: list[str]
    colour_first: list[str]  # kind, then colour, then budget
    colour: list[str]
    colour_budget: list[str]


def read_wordings(path: Path = WORDINGS) -> dict[str, tuple[list[str], Wordings]]:
    """The wordings file's sets by name, in file order: the splits each set's questions alternate between, and its
    wordings."""
    sets: dict[str, tuple[list[str], Wordings]] = {}
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            row = json.loads(line)
            try:
                name, splits = row.pop("set"), row.pop("splits")
                budget = [(b["wording"], b["compare"]) for b in row.pop("budget")]
                sets[name] = (splits, Wordings(budget=budget, **row))
            except (KeyError, TypeError) as error:
                raise SystemExit(f"{path}:{number}: not a set of wordings ({error})") from None
    return sets


def levels(product: dict) -> list[str]:
    return [p.strip() for p in (product.get("category") or "").split(">") if p.strip()]


def kinds(catalog: list[dict]) -> dict[str, list[dict]]:
    """Category levels (below the top) that hold at least 8 priced products, by name; a level that is also an
    attribute value ("Ethnic" is a Type too) names two facets, and two right answers, so it is left out."""
    values = {str(v).lower() for p in catalog for v in (p.get("attributes") or {}).values()}
    out: dict[str, list[dict]] = {}
    for p in catalog:
        if p.get("price") is None:
            continue
        for level in levels(p)[1:3]:
            out.setdefault(level, []).append(p)
    return {k: v for k, v in out.items()
            if len(v) >= 8 and len(k.split()) <= 3 and "&" not in k and k.lower() not in values}


def round_price(value: float) -> int:
    step = 50 if value < 1000 else 100
    return int(round(value / step) * step) or step


def build(catalog: list[dict], seed: int, wordings: Wordings, splits: list[str]) -> list[dict]:
    """The questions of one set of wordings; ``half`` alternates between ``splits`` by wording (by kind drawn for
    the follow-ups)."""
    rng = random.Random(seed)
    by_kind = kinds(catalog)
    names = sorted(by_kind)
    items: list[dict] = []

    def add(question: str, expect: dict, kind: str, history: list[str] | None = None, half: int = 0) -> None:
        items.append({"id": f"shop-{len(items)}", "question": question, "expect": expect, "kind": kind,
                      "half": splits[half % len(splits)], **({"history": history} if history else {})})

    def pick(options: list[str], index: int) -> str:
        return options[index % len(options)]

    for index, (wording, op) in enumerate(wordings.budget):
        for kind in rng.sample(names, PER_WORDING):
            prices = sorted(p["price"] for p in by_kind[kind])
            price = round_price(prices[len(prices) // 2])
            add(wording.format(kind=kind.lower(), price=price),
                {"filters": {"category": {"level": kind}, "price": {op: price}}}, "budget", half=index)
    for options, order in ((wordings.cheapest, "asc"), (wordings.dearest, "desc")):
        for index, wording in enumerate(options):
            for kind in rng.sample(names, PER_WORDING):
                add(wording.format(kind=kind.lower()), {"filters": {"category": {"level": kind}}, "order": order},
                    "cheapest" if order == "asc" else "most expensive", half=index)
    pairs = sorted({(p["brand"], kind) for kind in names for p in by_kind[kind] if p.get("brand")})
    pairs = [(b, k) for b, k in pairs if sum(p.get("brand") == b for p in by_kind[k]) >= 2]
    for index, wording in enumerate(wordings.brand):
        for brand, kind in rng.sample(pairs, min(PER_WORDING, len(pairs))):
            add(wording.format(brand=brand, kind=kind.lower()),
                {"filters": {"category": {"level": kind}, "brand": brand}}, "brand", half=index)
    # Follow-ups: a budget, then "a cheaper one"; a kind, then a colour, then a budget.
    for index, kind in enumerate(rng.sample(names, 2 * PER_WORDING)):
        prices = sorted(p["price"] for p in by_kind[kind])
        price = round_price(prices[-1]) + 100
        first = pick(wordings.cheaper_first, index).format(kind=kind.lower(), price=price)
        add(pick(wordings.cheaper, index), {"filters": {"category": {"level": kind}, "price": {"lt": "$cited_price"}}},
            "follow-up", [first], half=index)
    colours = {k: sorted({(p.get("attributes") or {}).get("Color") for p in by_kind[k]} - {None}) for k in names}
    coloured = [(k, c) for k in names for c in colours[k]
                if sum((p.get("attributes") or {}).get("Color") == c for p in by_kind[k]) >= 2 and len(c.split()) == 1]
    for index, (kind, colour) in enumerate(rng.sample(coloured, min(2 * PER_WORDING, len(coloured)))):
        matching = sorted(p["price"] for p in by_kind[kind] if (p.get("attributes") or {}).get("Color") == colour)
        price = round_price(matching[-1]) + 100
        add(pick(wordings.colour_budget, index).format(price=price),
            {"filters": {"category": {"level": kind}, "attributes.Color": colour, "price": {"lt": price}}},
            "follow-up", [pick(wordings.colour_first, index).format(kind=kind.lower()),
                          pick(wordings.colour, index).format(colour=colour.lower())], half=index)
    return items


def question_sets(catalog: list[dict], seed: int) -> dict[str, list[dict]]:
    """The questions by split; each set of wordings draws from its own seed (``seed`` plus its place in the file)."""
    out: dict[str, list[dict]] = {}
    for offset, (splits, wordings) in enumerate(read_wordings().values()):
        items = build(catalog, seed + offset, wordings, splits)
        for split in splits:
            out.setdefault(split, []).extend(i for i in items if i["half"] == split)
    return out


if __name__ == "__main__":
    from qa_paraphrases import write_question_sets  # the same command line (benchmarks/ is the script's path)

    raise SystemExit(write_question_sets(__doc__, question_sets))
