"""Shopping questions about flipkart_1050 (budget, cheapest, most expensive, brand in a category, follow-ups), for
``mmrag eval-qa``, scored strictly: an answer is right when it cites at least one product and every cited product
satisfies the question (and, for "cheapest"/"most expensive", the first cited is the catalog's).

    .venv/bin/python benchmarks/qa_shopping.py --out /tmp/shopping
    .venv/bin/mmrag eval-qa /tmp/shopping/heldout.jsonl --catalog ../shared/data/flipkart_1050/products.jsonl \
        --json shopping.json --answers shopping-answers.jsonl

The wordings are written by hand. The first set alternates between ``tune.jsonl`` (used while building the
assistant) and ``heldout.jsonl`` (scored once, then used for tuning too); ``blind.jsonl`` holds a second set,
written before the round that followed and scored once after it; ``next.jsonl`` a third, written after that
round's fixes and scored once. The kinds of products (category levels), brands, colours and budgets come from
the catalog (seeded), and every question has at least one product that satisfies it. Follow-ups carry the
questions asked before them in ``history``; "$cited_price" in an expectation is the price of the first product
the previous answer cited.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

PER_WORDING = 5


@dataclass(frozen=True)
class Wordings:
    """One hand-written set of wordings; a budget wording carries the comparison it means ("under" is "lt", "or
    less" is "lte")."""
    budget: list[tuple[str, str]]
    cheapest: list[str]
    dearest: list[str]
    brand: list[str]
    cheaper_first: list[str]  # the budget question before "a cheaper one"
    cheaper: list[str]
    colour_first: list[str]  # kind, then colour, then budget
    colour: list[str]
    colour_budget: list[str]


# Written while the assistant was built; the halves alternate between tune and held-out.
BUILT_WITH = Wordings(
    budget=[("{kind} under {price}", "lt"), ("show me {kind} below Rs {price}", "lt"),
            ("any {kind} for less than ₹{price}?", "lt"), ("I need {kind} within {price} rupees", "lte"),
            ("{kind} cheaper than {price} please", "lt")],
    cheapest=["which {kind} costs the least?", "cheapest {kind}", "what are your least expensive {kind}?",
              "show me the lowest priced {kind}"],
    dearest=["most expensive {kind}", "which {kind} is the priciest?"],
    brand=["do you have {brand} {kind}?", "any {kind} from {brand}?", "show me {kind} by {brand}",
           "{brand} {kind} please"],
    cheaper_first=["{kind} under {price}"], cheaper=["a cheaper one"],
    colour_first=["show me {kind}"], colour=["in {colour}"], colour_budget=["under {price}?"])

# Written and committed (2026-11-24) before the round of shopping work that followed the held-out figure, and scored
# once after it: other wordings, and a draw of kinds and brands from another seed.
BLIND = Wordings(
    budget=[("{kind} for under {price} rupees?", "lt"), ("what {kind} can I get for {price} or less", "lte"),
            ("looking for {kind}, my budget is {price}", "lte"), ("{kind} not more than Rs. {price}", "lte"),
            ("I can spend at most ₹{price:,} on {kind}", "lte"), ("{kind} upto {price}/-", "lte")],
    cheapest=["what's the cheapest {kind} you sell?", "lowest price {kind}", "{kind} with the lowest price",
              "your most affordable {kind}?", "which of the {kind} is least costly"],
    dearest=["what's your costliest {kind}?", "highest priced {kind}", "which {kind} costs the most"],
    brand=["does your shop carry {brand} {kind}?", "I'm looking for {kind} made by {brand}", "got any {brand} {kind}",
           "what {brand} {kind} do you stock?", "{kind} from the brand {brand}"],
    cheaper_first=["{kind} below {price}", "show me {kind} under Rs {price}"],
    cheaper=["anything less expensive?", "something cheaper?", "show me a cheaper option",
             "is there a lower priced one?"],
    colour_first=["i want {kind}", "do you have {kind}"],
    colour=["do you have it in {colour}?", "{colour} ones?", "only {colour} please"],
    colour_budget=["and below {price}?", "what about under Rs {price}", "under {price} rupees"])

# Written and committed (2026-11-24) after the fixes that followed the blind set's run and before any look at
# these; scored once: another shopper's wordings, and another seed.
NEXT = Wordings(
    budget=[("{kind} that cost less than {price}", "lt"), ("anything under ₹{price} in {kind}?", "lt"),
            ("{kind} priced below {price} INR", "lt"), ("show {kind} which are within Rs.{price}", "lte"),
            ("can you suggest {kind} not exceeding {price}", "lte"), ("{kind} for {price} rupees or under", "lte")],
    cheapest=["{kind}: which one is cheapest?", "show the {kind} with the lowest cost",
              "i want the least expensive of your {kind}", "cheapest option in {kind}",
              "what is the most affordable among {kind}"],
    dearest=["the most expensive {kind} in your store", "{kind}, highest price first", "show me your priciest {kind}"],
    brand=["are there any {brand} {kind}?", "list {kind} from {brand}", "which {kind} do you have by {brand}?",
           "{brand} brand {kind}", "is {brand} available in {kind}?"],
    cheaper_first=["{kind} under Rs. {price}", "any {kind} below {price}?"],
    cheaper=["do you have a cheaper one?", "anything more affordable?", "show cheaper alternatives",
             "one that costs less?"],
    colour_first=["show {kind}", "I'm shopping for {kind}"],
    colour=["what about {colour}?", "any in {colour}?", "I prefer {colour}"],
    colour_budget=["below {price} please", "under ₹{price}?", "within {price}?"])


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


def build(catalog: list[dict], seed: int = 0, wordings: Wordings = BUILT_WITH) -> list[dict]:
    """The questions of one set of wordings; ``half`` alternates between "tune" and "heldout" by wording."""
    rng = random.Random(seed)
    by_kind = kinds(catalog)
    names = sorted(by_kind)
    items: list[dict] = []

    def add(question: str, expect: dict, kind: str, history: list[str] | None = None, half: int = 0) -> None:
        items.append({"id": f"shop-{len(items)}", "question": question, "expect": expect, "kind": kind,
                      "half": "tune" if half % 2 == 0 else "heldout", **({"history": history} if history else {})})

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
    """The built-with wordings in their two halves, and the blind and next sets whole (each with its own seed)."""
    items = build(catalog, seed)
    sets = {half: [i for i in items if i["half"] == half] for half in ("tune", "heldout")}
    sets["blind"] = [{**i, "half": "blind"} for i in build(catalog, seed + 1, BLIND)]
    sets["next"] = [{**i, "half": "next"} for i in build(catalog, seed + 2, NEXT)]
    return sets


if __name__ == "__main__":
    from qa_paraphrases import write_question_sets  # the same command line (benchmarks/ is the script's path)

    raise SystemExit(write_question_sets(__doc__, question_sets))
