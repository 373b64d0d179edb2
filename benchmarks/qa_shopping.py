"""Shopping questions about flipkart_1050 (budget, cheapest, most expensive, brand in a category, follow-ups), for
``mmrag eval-qa``, scored strictly: an answer is right when it cites at least one product and every cited product
satisfies the question (and, for "cheapest"/"most expensive", the first cited is the catalog's).

    .venv/bin/python benchmarks/qa_shopping.py --out /tmp/shopping
    .venv/bin/mmrag eval-qa /tmp/shopping/heldout.jsonl --catalog ../shared/data/flipkart_1050/products.jsonl \
        --json shopping.json --answers shopping-answers.jsonl

The wordings are written by hand and alternate between ``tune.jsonl`` (used while building the assistant) and
``heldout.jsonl`` (the figures); the kinds of products (category levels), brands, colours and budgets come from
the catalog (seeded), and every question has at least one product that satisfies it. Follow-ups carry the
questions asked before them in ``history``; "$cited_price" in an expectation is the price of the first product
the previous answer cited.
"""

from __future__ import annotations

import random

PER_WORDING = 5

BUDGET = ["{kind} under {price}", "show me {kind} below Rs {price}", "any {kind} for less than ₹{price}?",
          "I need {kind} within {price} rupees", "{kind} cheaper than {price} please"]
CHEAPEST = ["which {kind} costs the least?", "cheapest {kind}", "what are your least expensive {kind}?",
            "show me the lowest priced {kind}"]
DEAREST = ["most expensive {kind}", "which {kind} is the priciest?"]
BRAND = ["do you have {brand} {kind}?", "any {kind} from {brand}?", "show me {kind} by {brand}",
         "{brand} {kind} please"]


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


def build(catalog: list[dict], seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    by_kind = kinds(catalog)
    names = sorted(by_kind)
    items: list[dict] = []

    def add(question: str, expect: dict, kind: str, history: list[str] | None = None, half: int = 0) -> None:
        items.append({"id": f"shop-{len(items)}", "question": question, "expect": expect, "kind": kind,
                      "half": "tune" if half % 2 == 0 else "heldout", **({"history": history} if history else {})})

    for index, wording in enumerate(BUDGET):
        for kind in rng.sample(names, PER_WORDING):
            prices = sorted(p["price"] for p in by_kind[kind])
            price = round_price(prices[len(prices) // 2])
            add(wording.format(kind=kind.lower(), price=price),
                {"filters": {"category": {"level": kind}, "price": {"lt": price}}}, "budget", half=index)
    for wordings, order in ((CHEAPEST, "asc"), (DEAREST, "desc")):
        for index, wording in enumerate(wordings):
            for kind in rng.sample(names, PER_WORDING):
                add(wording.format(kind=kind.lower()), {"filters": {"category": {"level": kind}}, "order": order},
                    "cheapest" if order == "asc" else "most expensive", half=index)
    pairs = sorted({(p["brand"], kind) for kind in names for p in by_kind[kind] if p.get("brand")})
    pairs = [(b, k) for b, k in pairs if sum(p.get("brand") == b for p in by_kind[k]) >= 2]
    for index, wording in enumerate(BRAND):
        for brand, kind in rng.sample(pairs, min(PER_WORDING, len(pairs))):
            add(wording.format(brand=brand, kind=kind.lower()),
                {"filters": {"category": {"level": kind}, "brand": brand}}, "brand", half=index)
    # Follow-ups: a budget, then "a cheaper one"; a kind, then a colour, then a budget.
    for index, kind in enumerate(rng.sample(names, 2 * PER_WORDING)):
        prices = sorted(p["price"] for p in by_kind[kind])
        price = round_price(prices[-1]) + 100
        first = f"{kind.lower()} under {price}"
        add("a cheaper one", {"filters": {"category": {"level": kind}, "price": {"lt": "$cited_price"}}},
            "follow-up", [first], half=index)
    colours = {k: sorted({(p.get("attributes") or {}).get("Color") for p in by_kind[k]} - {None}) for k in names}
    coloured = [(k, c) for k in names for c in colours[k]
                if sum((p.get("attributes") or {}).get("Color") == c for p in by_kind[k]) >= 2 and len(c.split()) == 1]
    for index, (kind, colour) in enumerate(rng.sample(coloured, min(2 * PER_WORDING, len(coloured)))):
        matching = sorted(p["price"] for p in by_kind[kind] if (p.get("attributes") or {}).get("Color") == colour)
        price = round_price(matching[-1]) + 100
        add(f"under {price}?", {"filters": {"category": {"level": kind}, "attributes.Color": colour,
                                            "price": {"lt": price}}},
            "follow-up", [f"show me {kind.lower()}", f"in {colour.lower()}"], half=index)
    return items


def halves(catalog: list[dict], seed: int) -> dict[str, list[dict]]:
    items = build(catalog, seed)
    return {half: [i for i in items if i["half"] == half] for half in ("tune", "heldout")}


if __name__ == "__main__":
    from qa_paraphrases import write_question_sets  # the same command line (benchmarks/ is the script's path)

    raise SystemExit(write_question_sets(__doc__, halves))
